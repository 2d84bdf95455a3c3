#!/bin/sh
# embed-host.sh: the host side of rag-embed alone: read, JSON parse, prefix,
# tokenize, format and write, measured with the tiny fixture model (hidden
# size 32, 2 layers) whose forward pass is nearly free, on SciFact passages.
# The records/s it prints is the ceiling the host pipeline puts on any device.
# There is no peer: sentence-transformers has no host pipeline to compare
# (its end-to-end figures are in bench/results/embed-cpu.md and gpu.md).
#
#   bench/embed-host.sh [BUILD_DIR] [CORPUS.jsonl]
#   env: REPS (3), THREADS ("1 2"), RECORDS (20000), MAXTOK (16: the forward pass stays small, tokenization still reads whole texts),
#        BIN (a rag-embed binary to time instead of BUILD_DIR's)
# Not part of make check.  Shared machine: best of REPS.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
corpus=${2:-$top/../shared/datasets/scifact/corpus.jsonl}
[ -f "$corpus" ] || corpus=/work/shared/datasets/scifact/corpus.jsonl
bin=${BIN:-$build/cmd/rag-embed}
model=$top/tests/data/fixtures/models/tiny-embed-mean-f16.gguf
n=${RECORDS:-20000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# SciFact has 5183 passages: repeat them up to n records
: >"$work/in.jsonl"
while [ "$(wc -l <"$work/in.jsonl")" -lt "$n" ]; do cat "$corpus" >>"$work/in.jsonl"; done
head -n "$n" "$work/in.jsonl" >"$work/in" && mv "$work/in" "$work/in.jsonl"
now() { date +%s.%N; }
for t in ${THREADS:-1 2}; do
	for mode in jsonl npy; do
		best=
		for r in $(seq "${REPS:-3}"); do
			s=$(now)
			if [ $mode = npy ]; then
				"$bin" --model "$model" --device cpu --threads "$t" --max-tokens "${MAXTOK:-16}" -o "$work/v.npy" "$work/in.jsonl"
			else
				"$bin" --model "$model" --device cpu --threads "$t" --max-tokens "${MAXTOK:-16}" "$work/in.jsonl" >"$work/out.jsonl"
			fi
			e=$(now)
			best=$(echo "$s $e ${best:-0}" | awk '{ d = $2 - $1; if ($3 == 0 || d < $3) print d; else print $3 }')
		done
		echo "$n $best $t $mode" | awk '{ printf "rag-embed host pipeline: %s records, --threads %d, output %s: %.3f s, %.0f records/s\n", $1, $3, $4, $2, $1 / $2 }'
	done
done
