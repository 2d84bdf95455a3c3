#!/bin/sh
# ann.sh: ANN benchmark: ragkit's HNSW (f32, f16, i8 storage) against hnswlib and
# FAISS IndexHNSWFlat with the same M/efConstruction/efSearch on random unit
# vectors, and on real embeddings when given (skipped when absent).
#
#   bench/ann.sh [N] [EMBEDDINGS [QUERIES]]      (after make; any directory)
#   EMBEDDINGS, QUERIES: .npy rows or rag-embed output (JSON Lines with
#   `embedding`), e.g. SciFact's corpus and queries embedded by bench/real-quality.sh
#   (its WORK_DIR/scifact/emb.jsonl and q.jsonl); without QUERIES some
#   embeddings are held out as queries.
#   N: base vectors (default 100000; the issue asks for 1000000: run it as
#   `nice -n 15 bench/ann.sh 1000000 2>rows.jsonl >table.md &`; each system's
#   rows go to stderr as JSON lines as soon as it finishes).  Env: ANN_BUILD (build dir, default build),
#   ANN_THREADS (build threads, 2), ANN_EF (ef sweep), ANN_NQ (queries, 500),
#   ANN_SCIFACT (SciFact folder: its LSA vectors are a real-text stand-in for
#   embeddings), ANN_ARGS (more ann.py options, e.g. --storages f32 --reps 5).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${ANN_BUILD:-$top/build}
n=${1:-100000}
emb=${2:-$top/../shared/datasets/scifact/embeddings.npy}
queries=${3:-}
scifact=${ANN_SCIFACT:-$top/../shared/datasets/scifact}
work=$(mktemp -d "${TMPDIR:-/tmp}/ann.XXXXXX")
trap 'rm -rf "$work"' EXIT

test -f "$build/lib/.libs/librag.so" || { echo "ann.sh: build ragkit first (no $build/lib/.libs/librag.so)" >&2; exit 66; }
python3 -m pip install --quiet numpy hnswlib faiss-cpu scikit-learn >&2

cc -O3 -march=native -std=gnu11 -I"$top/lib" -I"$top/kernels" -I"$build" \
	-o "$work/ann-driver" "$top/bench/ann-driver.c" \
	-L"$build/lib/.libs" -lrag -Wl,-rpath,"$build/lib/.libs" -lm

python3 -P "$top/bench/ann.py" --driver "$work/ann-driver" --workdir "$work" --n "$n" \
	--threads "${ANN_THREADS:-2}" --ef "${ANN_EF:-10,20,40,80,160,320,640,1280}" \
	--nq "${ANN_NQ:-500}" --embeddings "$emb" ${queries:+--queries "$queries"} --scifact "$scifact" ${ANN_ARGS:-}
