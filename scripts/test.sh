#!/usr/bin/env bash
# Set up (`scripts/setup.sh test`: everything the tests need), lint, type-check, run the
# core tests on every other supported Python (scripts/test-pythons.sh), then the whole test
# suite; arguments go to that last pytest. This is the README's test command and what
# .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
.venv/bin/ruff check .
.venv/bin/mypy
scripts/test-pythons.sh
.venv/bin/python -m pytest "$@"
