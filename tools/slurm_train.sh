#!/usr/bin/env bash
# Train on a Slurm cluster, one task per GPU.
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
# Env: GPUS (total, default 8), GPUS_PER_NODE (default 8), CPUS_PER_TASK
# (default 5), SRUN_ARGS (extra srun options, e.g. "--quotatype=auto").
set -euo pipefail

if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
shift 4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
TOOLS=$(dirname "$0")

# SRUN_ARGS is split into words on purpose
# shellcheck disable=SC2086
PYTHONPATH="$TOOLS/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    python -u "$TOOLS/train.py" "$CONFIG" --work-dir="$WORK_DIR" \
    --launcher slurm "$@"
