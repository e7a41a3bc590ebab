#!/usr/bin/env bash
# The README's main job: set up .venv, then on data/cifar10 (about ten
# minutes on a 2-core CPU)
#   1. distil a CIFAR ResNet-20 from the frozen supervised ResNet-56 with
#      SEED for one epoch,
#   2. train the same ResNet-20 without a teacher (MoCo v3) for the same
#      195 iterations,
#   3. measure the teacher's own kNN,
# and print the three kNN top-1 accuracies side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
# shellcheck disable=SC1091
. .venv/bin/activate

SEED_CONFIG=configs/seed/seed_resnet20-cifar_resnet56-cifar-sup_1xb256-coslr-1e_cifar10-demo.py
BASELINE_CONFIG=configs/selfsup/mocov3_resnet20-cifar_1xb256-coslr-1e_cifar10-demo.py
RUN=work_dirs/main_job_$(date +%Y%m%d_%H%M%S)  # never reuse a run

python tools/train.py "$SEED_CONFIG" --work-dir "$RUN/seed_student"
python tools/train.py "$BASELINE_CONFIG" --work-dir "$RUN/mocov3_student"
python tools/benchmarks/knn.py "$SEED_CONFIG" "$RUN/seed_student/epoch_1.pth" \
    --part teacher --work-dir "$RUN/resnet56_teacher"
python tools/analysis_tools/knn_summary.py \
    "$RUN/seed_student" "$RUN/mocov3_student" "$RUN/resnet56_teacher"
