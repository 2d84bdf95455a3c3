#!/bin/sh
# bench/gpu-generate.sh [DIR [BASELINES]]: ragkit's decoder on the GPU (the
# engine of rag-generate --device cuda) on random-weight GGUFs of the
# Qwen2.5-0.5B shape in F16, Q8_0 and Q4_K_M: prefill of 512 and 2048 token
# ids and batch-1 decode (DECODE steps from an empty cache, as llama-bench's
# tg128, and after a 512-token prompt), best of REPS.
#
# The peer is llama.cpp (092b66d01, CUDA, flash attention) on an H100, whose
# figures this machine cannot reproduce (no llama.cpp, no network): they are
# read from BASELINES/README.md (default $top/../shared/baselines), printed
# as "llama.cpp (recorded)" and divided into ragkit's figures.  Compare the
# ratio only when this runs on an H100 80GB HBM3 too (the device is printed).
#
# The GGUF files are written by bench/gpu-generate.c with ragkit's own GGUF
# writer (no Python packages); DIR keeps them (about 2.2 GB) between runs.
# Environment: REPS (3), DECODE (128), BUILD (build dir, default $top/build),
# CC (cc), DEVICE (cuda; cpu runs the same driver on the CPU).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-${TMPDIR:-/tmp}/ragkit-gpu-bench}
baselines=${2:-$top/../shared/baselines}
REPS=${REPS:-3} DECODE=${DECODE:-128} DEVICE=${DEVICE:-cuda} CC=${CC:-cc}
build=${BUILD:-$top/build}
mkdir -p "$dir"

[ -f "$build/lib/.libs/librag.so" ] || { echo "gpu-generate: no $build/lib/.libs/librag.so (build ragkit first, or set BUILD)" >&2; exit 66; }
$CC -O2 -I"$top/lib" -I"$top/kernels" -I"$build" "$top/bench/gpu-generate.c" -o "$dir/gpu-generate" \
	"$build/lib/.libs/librag.so" -Wl,-rpath,"$build/lib/.libs"

for t in F16 Q8_0 Q4_K_M; do
	f=$dir/qwen05-$(echo $t | tr A-Z a-z).gguf
	[ -s "$f" ] || "$dir/gpu-generate" make "$f" $t
done

# llama.cpp's recorded H100 figures: "| llama.cpp F16 GGUF, flash attention | 66,182 tok/s | ..."
peer() {  # peer TYPE COLUMN (1 prefill 512, 2 prefill 2048, 3 decode)
	[ -r "$baselines/README.md" ] || { echo nan; return; }
	awk -F'|' -v t="$1" -v c="$2" '
		/^### Generation/ { gen = 1; next }
		/^### / { gen = 0 }
		gen && $2 ~ "^ *llama.cpp " t "[ ,]" {
			v = $(c + 2); gsub(/[^0-9.]/, "", v); print v; found = 1; exit }
		END { if (!found) print "nan" }' "$baselines/README.md"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.2fx", a / b; else print "n/a" }'; }

if command -v nvidia-smi >/dev/null 2>&1; then
	echo "device: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -n 1)"
fi
echo "ragkit $DEVICE, best of $REPS; decode $DECODE steps; peer: llama.cpp figures recorded on an H100 80GB HBM3 ($baselines/README.md)"
printf '%-7s %-22s %14s %14s %14s %18s\n' type side "prefill 512" "prefill 2048" "decode" "decode after 512"
for t in f16 q8_0 q4_k_m; do
	T=$(echo $t | tr a-z A-Z)
	"$dir/gpu-generate" run "$dir/qwen05-$t.gguf" "$DEVICE" "$REPS" "$DECODE" >"$dir/rk.$t" ||
		{ echo "$t: ragkit failed (exit $?)"; continue; }
	get() { sed -n "s/^$1 //p" "$dir/rk.$t"; }
	p512=$(get prefill512_tps) p2048=$(get prefill2048_tps) dec=$(get decode_tps) dec512=$(get decode_after512_tps)
	l512=$(peer "$T" 1) l2048=$(peer "$T" 2) ldec=$(peer "$T" 3)
	printf '%-7s %-22s %14s %14s %14s %18s\n' $t "ragkit ($DEVICE)" "$p512" "$p2048" "$dec" "$dec512"
	printf '%-7s %-22s %14s %14s %14s %18s\n' $t "llama.cpp (recorded)" "$l512" "$l2048" "$ldec" "-"
	printf '%-7s %-22s %14s %14s %14s %18s\n' $t "ratio ragkit/llama" "$(ratio "$p512" "$l512")" \
		"$(ratio "$p2048" "$l2048")" "$(ratio "$dec" "$ldec")" "-"
done
echo "tokens/s; prefill includes the last position's logits, each decode step downloads its logits"
