#!/bin/sh
# embed-cpu.sh: CPU embedding throughput of rag-embed vs llama.cpp (llama-cpp-python)
# and sentence-transformers on random-weight GGUFs of real shapes (MiniLM-L6,
# bge-base), 128- and 512-token texts.  Prints texts/s and the ratios and
# appends them to bench/results/embed-cpu.md.
#
#   bench/embed-cpu.sh [BUILD_DIR] [WORKDIR]
#   env: TEXTS (per run at 128 tokens, default 64), REPS (3), THREADS (2),
#        SHAPES (minilm,bge-base), LENGTHS (128,512), PEERS (llama,st),
#        PYTHON (python3; the peers are pip-installed into it unless NO_PIP is set)
# Not part of make check.  Timings on a shared machine are noisy: best of REPS.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
work=${2:-/tmp/ragkit-embed-bench}
py=${PYTHON:-python3}
mkdir -p "$work"
if [ -z "${NO_PIP:-}" ]; then
	"$py" -m pip install --quiet numpy gguf
	case ${PEERS:-llama,st} in *llama*) "$py" -m pip install --quiet llama-cpp-python || echo "llama-cpp-python could not be installed" >&2 ;; esac
	case ${PEERS:-llama,st} in *st*) "$py" -m pip install --quiet sentence-transformers || echo "sentence-transformers could not be installed" >&2 ;; esac
fi
for s in $(echo "${SHAPES:-minilm,bge-base}" | tr , ' '); do
	[ -f "$work/$s-f16.gguf" ] || "$py" "$top/bench/make-random-gguf.py" --shape "$s" --type f16 "$work/$s-f16.gguf"
done
tok=$top/../shared/fixtures/tokenizers/bert
[ -d "$tok" ] || tok=/work/shared/fixtures/tokenizers/bert
exec "$py" "$top/bench/embed-cpu.py" --rag-embed "$build/cmd/rag-embed" --workdir "$work" --tokenizer "$tok" \
	--shapes "${SHAPES:-minilm,bge-base}" --lengths "${LENGTHS:-128,512}" --texts "${TEXTS:-64}" \
	--reps "${REPS:-3}" --threads "${THREADS:-2}" --peers "${PEERS:-llama,st}" \
	--results "$top/bench/results/embed-cpu.md"
