#!/usr/bin/env bash
# Set up .venv-det, the environment for detection transfer with MMDetection
# (configs/benchmarks/detection, tools/benchmarks/mmdetection). Safe to run
# again: each step is skipped when its result is already there.
#
# mmdet 3.3.0 needs the full mmcv with compiled ops (mmcv._ext: RoIAlign,
# NMS), which PyPI serves only as a source archive. Full mmcv and the
# project's mmcv-lite install into one `mmcv` folder, so they live in
# separate environments: .venv (mmcv-lite) and .venv-det (mmcv + mmdet).
#
# Steps:
#   1. torch, torchvision, mmengine, mmpretrain, timm, numpy (and the test
#      tools) at the versions of requirements/constraints.txt, no mmcv-lite;
#   2. mmcv 2.1.0 built from the PyPI sdist with its CPU ops (and its CUDA
#      ops where torch sees a GPU), with `-std=c++17` changed to
#      `-std=c++20` in its setup.py because torch >= 2.14 headers need
#      C++20. 21 minutes on 2 cores (CPU ops); the built wheel is kept in
#      $DET_WHEEL_CACHE and reused;
#   3. mmdet 3.3.0 from requirements/det.txt (its `mmcv<2.2.0` cap accepts
#      2.1.0);
#   4. the project itself (`pip install --no-deps -e .`).
# transformers is kept out: with pycocotools it breaks `import
# mmpretrain.models` (shared/design/stack.md, item 5).
#
# Environment: PYTHON (default python3), MAX_JOBS (compile jobs, default:
# number of cores), DET_WHEEL_CACHE (default ~/.cache/mmssl_kd/det-wheels).
set -euo pipefail
cd "$(dirname "$0")/.."

MMCV_VERSION=2.1.0
PYTHON=${PYTHON:-python3}
CONSTRAINTS=requirements/constraints.txt
VENV=.venv-det

log() { echo "[setup-det] $*"; }
die() { echo "[setup-det] ERROR: $*" >&2; exit 1; }

pin() {  # the `name==version` line of requirements/constraints.txt
    grep -E "^$1==" "$CONSTRAINTS" || die "no pin for $1 in $CONSTRAINTS"
}

if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi
PY="$PWD/$VENV/bin/python"
PIP=("$PY" -m pip)

# 1. the base stack (no mmcv-lite)
BASE=("$(pin torch)" "$(pin torchvision)" "$(pin mmengine)"
      "$(pin mmpretrain)" "$(pin timm)" "$(pin numpy)")
if "$PY" - "${BASE[@]}" <<'EOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
for req in sys.argv[1:]:
    name, want = req.split('==')
    assert version(name) == want, req
import setuptools, ninja, wheel, pytest, sklearn, matplotlib  # noqa
assert int(setuptools.__version__.split('.')[0]) < 80
EOF
then
    log "step 1/4: base stack already installed (${BASE[*]})"
else
    log "step 1/4: installing ${BASE[*]}, build tools and test tools" \
        "(a few minutes: torch is a large download)"
    "${PIP[@]}" install --quiet -c "$CONSTRAINTS" "${BASE[@]}" \
        "setuptools<80" ninja wheel matplotlib -r requirements/tests.txt
fi
if "$PY" -c "import sys, torch; sys.exit('+cpu' not in torch.__version__)"; then
    die "$VENV has a CPU-only torch build, which breaks torchvision;" \
        "remove $VENV and run again (see README, Installation)"
fi

# 2. mmcv with compiled ops
if "$PY" -c "import mmcv, sys; from mmcv import _ext; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" >/dev/null 2>&1; then
    log "step 2/4: mmcv $MMCV_VERSION with compiled ops already installed"
else
    if "$PY" -m pip show --quiet mmcv-lite >/dev/null 2>&1; then
        log "removing mmcv-lite (it shares the mmcv folder with full mmcv)"
        "${PIP[@]}" uninstall --yes --quiet mmcv-lite
    fi
    TORCH_VERSION=$("$PY" -c "import torch; print(torch.__version__)")
    CACHE=${DET_WHEEL_CACHE:-$HOME/.cache/mmssl_kd/det-wheels}/torch-$TORCH_VERSION
    mkdir -p "$CACHE"
    WHEEL=$(find "$CACHE" -maxdepth 1 -name "mmcv-$MMCV_VERSION-*.whl" | head -n 1)
    if [ -n "$WHEEL" ]; then
        log "step 2/4: installing the mmcv wheel built before: $WHEEL"
    else
        SRC=$(mktemp -d)
        log "step 2/4: building mmcv $MMCV_VERSION with ops against torch" \
            "$TORCH_VERSION in $SRC (20-40 minutes on 2 cores)"
        "${PIP[@]}" download --quiet --no-deps --no-binary :all: \
            --no-build-isolation -d "$SRC" "mmcv==$MMCV_VERSION"
        tar -xzf "$SRC/mmcv-$MMCV_VERSION.tar.gz" -C "$SRC"
        SETUP="$SRC/mmcv-$MMCV_VERSION/setup.py"
        grep -q -- '-std=c++17' "$SETUP" \
            || die "no -std=c++17 in $SETUP to raise to C++20; mmcv's setup.py changed"
        sed -i 's/-std=c++17/-std=c++20/g' "$SETUP"
        START=$(date +%s)
        MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} "${PIP[@]}" wheel \
            --no-deps --no-build-isolation -w "$CACHE" \
            "$SRC/mmcv-$MMCV_VERSION" \
            || die "building mmcv $MMCV_VERSION failed; the compiler's" \
                   "message is above (sources in $SRC)"
        log "mmcv built in $(( ($(date +%s) - START) / 60 )) minutes"
        rm -rf "$SRC"
        WHEEL=$(find "$CACHE" -maxdepth 1 -name "mmcv-$MMCV_VERSION-*.whl" | head -n 1)
    fi
    "${PIP[@]}" install --quiet -c "$CONSTRAINTS" "$WHEEL"
    "$PY" -c "from mmcv.ops import nms" \
        || die "mmcv $MMCV_VERSION is installed but its ops do not import"
fi

# 3. mmdet (requirements/det.txt, the `det` extra)
MMDET=$(grep -E '^mmdet==' requirements/det.txt) \
    || die "no mmdet==VERSION line in requirements/det.txt"
if "$PY" -c "import mmdet, sys; sys.exit(mmdet.__version__ != '${MMDET#mmdet==}')" >/dev/null 2>&1; then
    log "step 3/4: $MMDET already installed"
else
    log "step 3/4: installing $MMDET (requirements/det.txt)"
    "${PIP[@]}" install --quiet -c "$CONSTRAINTS" -r requirements/det.txt
fi
if "$PY" -m pip show --quiet transformers >/dev/null 2>&1; then
    die "transformers is installed in $VENV; it breaks import" \
        "mmpretrain.models beside pycocotools: pip uninstall transformers"
fi

# 4. the project
# checked from / so that the source tree in the working directory (and its
# mmssl_kd.egg-info) does not count as installed
if (cd / && "$PY" -c "import mmssl_kd") >/dev/null 2>&1; then
    log "step 4/4: mmssl_kd already installed"
else
    log "step 4/4: installing mmssl_kd (editable, no dependencies)"
    "${PIP[@]}" install --quiet --no-deps -e .
fi

(cd / && "$PY" -c "import mmssl_kd, mmdet.models, mmpretrain.models; from mmcv.ops import nms, RoIAlign") \
    || die "$VENV does not import mmdet with mmcv ops; remove $VENV and run again"
log "done: $("$PY" -c "import torch, mmcv, mmdet; print(f'torch {torch.__version__}, mmcv {mmcv.__version__}, mmdet {mmdet.__version__}')")"
log "use it with: . $VENV/bin/activate"
