#!/usr/bin/env bash
# Fine-tune a detector of configs/benchmarks/detection from an exported
# backbone (tools/model_converters/extract_backbone.py), on GPUS processes of
# this machine (default 1; several go through torchrun).
#   tools/benchmarks/mmdetection/train.sh CONFIG BACKBONE_CKPT [GPUS] [train.py options]
# Needs mmdet with compiled mmcv ops: tools/setup_det_env.sh, then
# `. .venv-det/bin/activate` (or PYTHON=.venv-det/bin/python).
# Several machines: run it on each with NNODES, NODE_RANK and MASTER_ADDR set.
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG BACKBONE_CKPT [GPUS] [train.py options]" >&2
    exit 2
fi
CONFIG=$1
BACKBONE=$2
shift 2
GPUS=1
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
    GPUS=$1
    shift
fi
if [ ! -f "$BACKBONE" ]; then
    echo "$0: backbone checkpoint '$BACKBONE' does not exist; write one" \
         "with tools/model_converters/extract_backbone.py" >&2
    exit 1
fi
TOOLS=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=check_mmdet.sh
. "$TOOLS/benchmarks/mmdetection/check_mmdet.sh"

export BACKBONE
export PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}"
if [ "$GPUS" -eq 1 ] && [ "${NNODES:-1}" -eq 1 ]; then
    exec "$PYTHON" "$TOOLS/train.py" "$CONFIG" "$@"
fi
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" \
    --nproc_per_node="$GPUS" \
    "$TOOLS/train.py" "$CONFIG" --launcher pytorch "$@"
