#!/bin/sh
# dense.sh: exact dense search: ragkit's kernels (the old score-array path, the fused
# top-k one query at a time, and blocks of queries in one pass) against NumPy
# (OpenBLAS matmul + argpartition) and FAISS IndexFlatIP, on the same random unit
# vectors; plus the machine's streaming read bandwidth (1 and 2 threads).
#
#   bench/dense.sh [SIZES]     (after make; SIZES default "200000x384 100000x768")
#   Env: DENSE_BUILD (build dir, default build), DENSE_THREADS (2), DENSE_NQ1 (queries
#   one at a time, 32), DENSE_NQB (queries batched, 256), DENSE_BLOCK (64), DENSE_REPS (3),
#   DENSE_STORAGES ("0 1 2" = f32 f16 int8).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${DENSE_BUILD:-$top/build}
work=$(mktemp -d "${TMPDIR:-/tmp}/dense.XXXXXX")
trap 'rm -rf "$work"' EXIT

test -f "$build/lib/.libs/librag.so" || { echo "dense.sh: build ragkit first (no $build/lib/.libs/librag.so)" >&2; exit 66; }
python3 -c 'import numpy' 2>/dev/null || python3 -m pip install --quiet numpy >&2
python3 -c 'import faiss' 2>/dev/null || python3 -m pip install --quiet faiss-cpu >&2 || true

cc -O3 -march=native -std=gnu11 -fopenmp -I"$top/lib" -I"$top/kernels" -I"$build" \
	-o "$work/dense-driver" "$top/bench/dense-driver.c" \
	-L"$build/lib/.libs" -lrag -Wl,-rpath,"$build/lib/.libs" -lm

python3 -P "$top/bench/dense.py" --driver "$work/dense-driver" --workdir "$work" \
	--sizes "${1:-200000x384 100000x768}" --threads "${DENSE_THREADS:-2}" \
	--nq1 "${DENSE_NQ1:-32}" --nqb "${DENSE_NQB:-256}" --block "${DENSE_BLOCK:-64}" \
	--reps "${DENSE_REPS:-3}" --storages "${DENSE_STORAGES:-0 1 2}"
