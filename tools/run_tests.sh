#!/usr/bin/env bash
# The README's test command: set up .venv, then run the fast test suite.
# Extra arguments go to pytest (e.g. `-m slow` for the end-to-end runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
# shellcheck disable=SC1091
. .venv/bin/activate
exec python -m pytest "$@"
