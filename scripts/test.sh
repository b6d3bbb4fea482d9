#!/usr/bin/env bash
# The test suite: set up what is missing, then pytest. Extra arguments go to pytest
# (e.g. `bash scripts/test.sh -m "not slow"`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q "$@"
