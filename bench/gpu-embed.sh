#!/bin/sh
# gpu-embed.sh: rag-embed --device cuda vs sentence-transformers fp16 on the GPU
# machine (MiniLM-L6 and bge-base shapes, 128- and 512-token texts, random
# weights); prints texts/s for both and the ratio.  Run on the device machine
# after building with CUDA (`make -j16` in BUILD_DIR):
#
#   bench/gpu-embed.sh [BUILD_DIR] [WORKDIR]
#   env: TEXTS (20000), REPS (3), SHAPES (minilm,bge-base), LENGTHS (128,512),
#        BATCH_TOKENS (65536), LLAMA_EMBEDDING (a llama-embedding binary, optional),
#        ENCODER_DRIVER (bench/gpu-encoder-driver.c built against librag: forward pass alone)
# Not part of make check.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
work=${2:-/tmp/ragkit-gpu-bench}
tok=$top/../shared/fixtures/tokenizers/bert
[ -d "$tok" ] || tok=/work/shared/fixtures/tokenizers/bert
exec "${PYTHON:-python3}" "$top/bench/gpu-embed.py" --mode "${MODE:-embed}" --build "$build" --workdir "$work" \
	--tokenizer "$tok" --shapes "${SHAPES:-minilm,bge-base}" --lengths "${LENGTHS:-128,512}" \
	--texts "${TEXTS:-20000}" --reps "${REPS:-3}" --batch-tokens "${BATCH_TOKENS:-65536}"
