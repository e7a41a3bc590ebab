#!/usr/bin/env bash
# The README's main job: set up .venv, then pretrain a CIFAR ResNet-20 with
# MoCo v3 on data/cifar10 (about ten minutes on a 2-core CPU) and print its
# kNN top-1 before and after training (the online KNNHook measures both).
# Extra arguments go to tools/train.py (e.g. --cfg-options ...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
# shellcheck disable=SC1091
. .venv/bin/activate

CONFIG=configs/selfsup/mocov3_resnet20-cifar_1xb256-coslr-2e_cifar10-demo.py
WORK_DIR=work_dirs/main_job_$(date +%Y%m%d_%H%M%S)  # never reuse a run
python tools/train.py "$CONFIG" --work-dir "$WORK_DIR" "$@"
python tools/analysis_tools/knn_summary.py "$WORK_DIR"
