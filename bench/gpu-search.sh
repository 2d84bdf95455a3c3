#!/bin/sh
# gpu-search.sh: GPU exact search, ragkit vs PyTorch matmul+topk, 1M vectors,
# batch 1 and 1000, f16/f32; prints times, the ratio and the achieved GB/s
# against the H100's ~3.35 TB/s.  Run on the device machine after a CUDA build.
#
#   bench/gpu-search.sh [BUILD_DIR]      env: N (1000000), DIM (384), K (10), REPS (5), PEAK_GBPS (3350)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
exec "${PYTHON:-python3}" "$top/bench/gpu-search.py" "${1:-$top/build}"
