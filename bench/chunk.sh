#!/bin/sh
# bench/chunk.sh: rag-chunk against LangChain's RecursiveCharacterTextSplitter with a
# Hugging Face tokenizer as its length function, on the same documents with the same
# token cap and overlap.  Prints both throughputs (MB of document text per second,
# single thread) and the ratio; also how many chunks of each exceed the cap when
# re-tokenized by the Hugging Face tokenizer (special tokens included).
#
#   bench/chunk.sh [CORPUS.jsonl] [MAX_TOKENS] [OVERLAP] [REPEATS]
# Defaults: the SciFact corpus (../shared/datasets/scifact/corpus.jsonl), 128, 16, 3.
# Needs a built tree (RAG_CHUNK=path/to/rag-chunk, default build/cmd/rag-chunk).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
corpus=${1:-$top/../shared/datasets/scifact/corpus.jsonl}
max=${2:-128}
overlap=${3:-16}
reps=${4:-3}
model=${RAG_CHUNK_MODEL:-$top/tests/data/fixtures/models/tiny-embed-mean-f16.gguf}
hf=${RAG_CHUNK_HF_TOKENIZER:-$top/../shared/fixtures/tokenizers/bert/tokenizer.json}
prog=${RAG_CHUNK:-$top/build/cmd/rag-chunk}
python3 -m pip install --quiet langchain-text-splitters tokenizers >/dev/null 2>&1 || true
exec python3 "$top/bench/chunk-peer.py" --corpus "$corpus" --max "$max" --overlap "$overlap" \
	--reps "$reps" --model "$model" --hf-tokenizer "$hf" --rag-chunk "$prog"
