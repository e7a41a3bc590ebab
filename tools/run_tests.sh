#!/usr/bin/env bash
# The README's test command: set up .venv, lint (ruff, rules in ruff.toml),
# then run the fast test suite. Extra arguments go to pytest (e.g. `-m slow`
# for the end-to-end runs). Lint errors fail the run; the tests still run,
# so one run reports both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
# shellcheck disable=SC1091
. .venv/bin/activate
lint=0
ruff check . || lint=$?
[ "$lint" -eq 0 ] || echo "[run_tests] ruff check found lint errors (above)" >&2
python -m pytest "$@" || exit $?
exit "$lint"
