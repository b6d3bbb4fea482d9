#!/usr/bin/env bash
# The test suite: set up what is missing, then pytest. By default the fast tests (about
# 2 minutes on two cores); `bash scripts/test.sh -m slow` runs the slow end-to-end ones
# (real studies, workers, kills, ablations), `-m ""` everything. Other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q -m "not slow" "$@"
