#!/usr/bin/env bash
# Evaluate a detector checkpoint of a configs/benchmarks/detection config on
# its test set (COCO mAP), on GPUS processes (default 1; several go through
# torchrun).
#   tools/benchmarks/mmdetection/test.sh CONFIG CHECKPOINT [GPUS] [test.py options]
# Needs mmdet with compiled mmcv ops: tools/setup_det_env.sh, then
# `. .venv-det/bin/activate` (or PYTHON=.venv-det/bin/python).
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG CHECKPOINT [GPUS] [test.py options]" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
shift 2
GPUS=1
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
    GPUS=$1
    shift
fi
TOOLS=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=check_mmdet.sh
. "$TOOLS/benchmarks/mmdetection/check_mmdet.sh"

export PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}"
if [ "$GPUS" -eq 1 ] && [ "${NNODES:-1}" -eq 1 ]; then
    exec "$PYTHON" "$TOOLS/test.py" "$CONFIG" "$CHECKPOINT" "$@"
fi
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" \
    --nproc_per_node="$GPUS" \
    "$TOOLS/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
