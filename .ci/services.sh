#!/usr/bin/env bash
# PostgreSQL (multi-worker tests) and Chromium (dashboard screenshot), from Debian.
set -euo pipefail
pkgs=()
command -v pg_ctlcluster >/dev/null || pkgs+=(postgresql)
command -v chromium >/dev/null || pkgs+=(chromium)
if [ ${#pkgs[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
version=$(ls /etc/postgresql | sort -n | tail -1)
pg_ctlcluster "$version" main start 2>/dev/null || true
for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
su postgres -c "psql -qtAc \"select 1 from pg_roles where rolname='tricksearch'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"create role tricksearch login password 'tricksearch' createdb\""
su postgres -c "psql -qtAc \"select 1 from pg_database where datname='tricksearch_test'\"" | grep -q 1 ||
  su postgres -c "psql -qc 'create database tricksearch_test owner tricksearch'"
echo "services: PostgreSQL $version on 127.0.0.1:5432, chromium $(command -v chromium)"
