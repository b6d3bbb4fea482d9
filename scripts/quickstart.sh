#!/usr/bin/env bash
# The main job on a fresh machine: set up, run the quickstart study, export its best
# trick config and train it once more. About 5 minutes on two CPU cores once installed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
tricksearch run quickstart "$@"
tricksearch export --storage sqlite:///tricksearch.db --study quickstart --output best.toml
tricksearch train best.toml --output runs/best
echo "browse the study: tricksearch dashboard   (then open http://127.0.0.1:8080/dashboard/)"
