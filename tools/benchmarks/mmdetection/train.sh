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
BACKBONE=$2
if [ ! -f "$BACKBONE" ]; then
    echo "$0: backbone checkpoint '$BACKBONE' does not exist; write one" \
         "with tools/model_converters/extract_backbone.py" >&2
    exit 1
fi
TOOLS=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=common.sh
. "$TOOLS/benchmarks/mmdetection/common.sh"

export BACKBONE
launch "$TOOLS/train.py" 1 "$1" "${@:3}"
