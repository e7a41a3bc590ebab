# Sourced by train.sh and test.sh: set PYTHON (default: python on PATH) and
# stop with a clear message unless it imports mmdet and mmcv's compiled ops.
PYTHON=${PYTHON:-python}
if ! "$PYTHON" -c "import mmdet; from mmcv.ops import nms" >/dev/null 2>&1; then
    echo "mmdet with compiled mmcv ops is not importable by $PYTHON" \
         "($(command -v "$PYTHON" || echo 'not found')). Build the detection" \
         "environment with tools/setup_det_env.sh, then run" \
         "'. .venv-det/bin/activate' (or set PYTHON=.venv-det/bin/python)." >&2
    exit 1
fi
