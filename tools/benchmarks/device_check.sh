#!/usr/bin/env bash
# Speed, time to accuracy and the launcher on this machine's accelerator,
# within a wall-clock budget (default 6 minutes): see device_check.py.
#   bash tools/benchmarks/device_check.sh [--minutes N] [--out DIR] [--compile]
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHONUNBUFFERED=1 exec "${PYTHON:-python3}" tools/benchmarks/device_check.py "$@"
