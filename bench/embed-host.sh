#!/bin/sh
# embed-host.sh: the host side of rag-embed alone: read, JSON parse, prefix,
# tokenize, format and write, timed with the tiny fixture model (hidden size
# 32, 2 layers) on SciFact passages truncated to MAXTOK tokens, so that the
# forward pass costs little and the records/s shows the ceiling the host
# pipeline puts on any device.  Tokenization still reads every whole text.
# There is no outside peer (sentence-transformers' end-to-end figures are in
# bench/results/embed-cpu.md and gpu.md); with BASE set, an older rag-embed
# runs side by side and the ratio is printed.
#
#   bench/embed-host.sh [BUILD_DIR] [CORPUS.jsonl]
#   env: REPS (3), THREADS ("1 2"), RECORDS (20000), MAXTOK (16),
#        BIN (the rag-embed to time; default BUILD_DIR/cmd/rag-embed),
#        BASE (a second rag-embed to compare with, e.g. a build of main)
# Not part of make check.  Shared machine: best of REPS; wall and CPU time.
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

# best wall and CPU seconds of REPS runs: time_it BINARY THREADS MODE
time_it() {
	best=
	for r in $(seq "${REPS:-3}"); do
		if [ "$3" = npy ]; then
			/usr/bin/time -f "%e %U %S" -o "$work/t" "$1" --model "$model" --device cpu --threads "$2" \
				--max-tokens "${MAXTOK:-16}" -o "$work/v.npy" "$work/in.jsonl"
		else
			/usr/bin/time -f "%e %U %S" -o "$work/t" "$1" --model "$model" --device cpu --threads "$2" \
				--max-tokens "${MAXTOK:-16}" "$work/in.jsonl" >"$work/out.jsonl"
		fi
		best=$(echo "$(tail -n 1 "$work/t") ${best:-0 0}" | awk '{ c = $2 + $3;
			w = ($4 == 0 || $1 < $4) ? $1 : $4; cc = ($5 == 0 || c < $5) ? c : $5; print w, cc }')
	done
	echo "$best"
}
for t in ${THREADS:-1 2}; do
	for mode in jsonl npy; do
		new=$(time_it "$bin" "$t" "$mode")
		echo "$n $t $mode $new" | awk '{ printf "rag-embed host: %s records, --threads %d, %-5s: %.0f records/s (%.2f s), %.0f records per CPU second\n", $1, $2, $3, $1 / $4, $4, $1 / $5 }'
		if [ -n "${BASE:-}" ]; then
			old=$(time_it "$BASE" "$t" "$mode")
			echo "$n $t $mode $old $new" | awk '{ printf "  before:       %s records, --threads %d, %-5s: %.0f records/s (%.2f s), %.0f records per CPU second; speed-up %.2fx\n", $1, $2, $3, $1 / $4, $4, $1 / $5, $4 / $6 }'
		fi
	done
done
