#!/bin/sh
# bench/generate.sh [DIR]: ragkit's decoder vs llama.cpp (llama-cpp-python, built
# from PyPI here) on the CPU, side by side on the same GGUF files: random weights
# of the Qwen2.5-0.5B shape in F16, Q8_0 and Q4_K_M, prefill of PREFILL token ids
# and DECODE decode steps, best of REPS.  Prints tokens/s by wall clock and by
# process CPU time (with THREADS=1 the CPU-time rate does not depend on how busy
# the machine is) and the ratio ragkit/llama.cpp.
# Environment: PREFILL (512), DECODE (32), REPS (2), THREADS (1), PY (python3).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-${TMPDIR:-/tmp}/ragkit-bench}
PREFILL=${PREFILL:-512} DECODE=${DECODE:-32} REPS=${REPS:-2} THREADS=${THREADS:-1}
PY=${PY:-python3}
mkdir -p "$dir"

# peers: a venv with gguf (to write the files) and llama-cpp-python (CPU build;
# without AMX: its native build dies with SIGILL on Q8_0/Q4_K in this VM)
if [ ! -x "$dir/venv/bin/python" ]; then
	$PY -m venv "$dir/venv"
fi
"$dir/venv/bin/python" -m pip install --quiet gguf numpy
"$dir/venv/bin/python" -c 'import llama_cpp' 2>/dev/null ||
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" \
		"$dir/venv/bin/python" -m pip install --quiet llama-cpp-python

# the files
cd "$top"
for t in F16 Q8_0; do
	f=$dir/qwen05-$(echo $t | tr A-Z a-z).gguf
	[ -s "$f" ] || "$dir/venv/bin/python" -P bench/generate-make-gguf.py "$f" $t
done
[ -s "$dir/qwen05-q4_k_m.gguf" ] || "$dir/venv/bin/python" -P -c "
import llama_cpp, sys
p = llama_cpp.llama_model_quantize_default_params()
p.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
rc = llama_cpp.llama_model_quantize(b'$dir/qwen05-f16.gguf', b'$dir/qwen05-q4_k_m.gguf', p)
sys.exit(rc)"

# ragkit's driver, linked against the built library
build=${BUILD:-$top/build}
cc -O2 -march=native -I"$top/lib" -I"$top/kernels" -I"$build" "$top/bench/generate-bench.c" \
	-o "$dir/generate-bench" "$build/lib/.libs/librag.so" -Wl,-rpath,"$build/lib/.libs"

# OpenBLAS (DYNAMIC_ARCH) falls back to its Prescott (SSE3) kernels on CPUs it
# does not know, which makes prefill 2.5x slower; name the right core unless told.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
	if grep -qw avx512f /proc/cpuinfo; then OPENBLAS_CORETYPE=SkylakeX
	elif grep -qw avx2 /proc/cpuinfo; then OPENBLAS_CORETYPE=Haswell; fi
	export OPENBLAS_CORETYPE
fi
echo "OpenBLAS core: ${OPENBLAS_CORETYPE:-auto}; threads $THREADS; prefill $PREFILL, decode $DECODE, best of $REPS"

get() { sed -n "s/^$1 //p" "$2"; }
printf '%-7s %-8s %12s %12s %8s | %12s %12s %8s\n' type side prefill/s decode/s "" prefill/s decode/s ""
printf '%-7s %-8s %12s %12s %8s | %12s %12s %8s\n' "" "" "(wall)" "(wall)" "" "(cpu)" "(cpu)" ""
for t in f16 q8_0 q4_k_m; do
	f=$dir/qwen05-$t.gguf
	"$dir/generate-bench" "$f" $PREFILL $DECODE $REPS $THREADS >"$dir/rk.$t"
	"$dir/venv/bin/python" -P bench/generate-peer.py "$f" $PREFILL $DECODE $REPS $THREADS >"$dir/lc.$t" ||
		{ echo "$t: llama.cpp failed (exit $?)"; printf 'prefill_tps nan\ndecode_tps nan\nprefill_tps_cpu nan\ndecode_tps_cpu nan\n' >"$dir/lc.$t"; }
	for side in rk lc; do
		printf '%-7s %-8s %12s %12s %8s | %12s %12s\n' $t $([ $side = rk ] && echo ragkit || echo llama.cpp) \
			$(get prefill_tps "$dir/$side.$t") $(get decode_tps "$dir/$side.$t") "" \
			$(get prefill_tps_cpu "$dir/$side.$t") $(get decode_tps_cpu "$dir/$side.$t")
	done
	awk -v t=$t 'FNR==NR { a[$1]=$2; next } { b[$1]=$2 }
		END { printf "%-7s %-8s %12.2fx %11.2fx %8s | %11.2fx %11.2fx\n", t, "ratio",
			a["prefill_tps"]/b["prefill_tps"], a["decode_tps"]/b["decode_tps"], "",
			a["prefill_tps_cpu"]/b["prefill_tps_cpu"], a["decode_tps_cpu"]/b["decode_tps_cpu"] }' \
		"$dir/rk.$t" "$dir/lc.$t"
done
