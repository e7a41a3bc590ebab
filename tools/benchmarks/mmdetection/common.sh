# Sourced by train.sh and test.sh. Sets PYTHON (default: python on PATH) and
# stops with a clear message unless it imports mmdet and mmcv's compiled
# ops; defines `launch`.
PYTHON=${PYTHON:-python}
if ! "$PYTHON" -c "import mmdet; from mmcv.ops import nms" >/dev/null 2>&1; then
    echo "mmdet with compiled mmcv ops is not importable by $PYTHON" \
         "($(command -v "$PYTHON" || echo 'not found')). Build the detection" \
         "environment with tools/setup_det_env.sh, then run" \
         "'. .venv-det/bin/activate' (or set PYTHON=.venv-det/bin/python)." >&2
    exit 1
fi

# launch TOOL N ARGS...: run the Python TOOL with its N positional
# arguments, then ARGS, in one process; or, when ARGS starts with a number
# GPUS, through torchrun on GPUS processes per machine (NNODES, NODE_RANK,
# MASTER_ADDR and PORT as in tools/dist_train.sh).
launch() {
    local tool=$1 npos=$2 gpus=1
    shift 2
    local positional=("${@:1:$npos}")
    shift "$npos"
    if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
        gpus=$1
        shift
    fi
    export PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}"
    if [ "$gpus" -eq 1 ] && [ "${NNODES:-1}" -eq 1 ]; then
        exec "$PYTHON" "$tool" "${positional[@]}" "$@"
    fi
    exec "$PYTHON" -m torch.distributed.run \
        --nnodes="${NNODES:-1}" \
        --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" \
        --master_port="${PORT:-29500}" \
        --nproc_per_node="$gpus" \
        "$tool" "${positional[@]}" --launcher pytorch "$@"
}
