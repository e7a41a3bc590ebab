#!/usr/bin/env bash
# Set up a working environment in .venv and link data/ (safe to run again).
#
# Used by the README's two commands. Installs the pinned, tested versions of
# requirements/constraints.txt. The ordinary PyPI torch wheel (CUDA build)
# is required: a '+cpu' torch breaks torchvision, see README, "Installation".
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate

if ! python -c "import importlib.metadata as m; m.version('mmssl_kd'); import torchvision, pytest, ruff, sphinx, myst_parser" >/dev/null 2>&1; then
    echo "[setup] installing mmssl_kd and its dependencies (a few minutes)"
    pip install --quiet -c requirements/constraints.txt -e ".[tests]"
fi
if python -c "import sys, torch; sys.exit('+cpu' not in torch.__version__)"; then
    echo "[setup] replacing the CPU-only torch build, which breaks torchvision"
    pip install --quiet --force-reinstall --no-deps \
        "$(grep '^torch==' requirements/constraints.txt)"
fi
python -c "import torchvision, mmssl_kd" || {
    echo "[setup] the environment in .venv does not import; remove .venv and run again" >&2
    exit 1
}

if [ ! -e data ]; then
    if [ -d ../shared/data ]; then
        ln -s ../shared/data data
        echo "[setup] linked data -> ../shared/data"
    else
        echo "[setup] no data/ folder and no ../shared/data to link;" \
             "put datasets under data/ (see the README, section Data)" >&2
    fi
fi
