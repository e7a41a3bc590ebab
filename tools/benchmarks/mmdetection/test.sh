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
TOOLS=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=common.sh
. "$TOOLS/benchmarks/mmdetection/common.sh"

launch "$TOOLS/test.py" 2 "$@"
