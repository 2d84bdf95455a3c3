#!/bin/sh
# gpu-rerank.sh: rag-rerank --device cuda vs sentence-transformers CrossEncoder
# fp16 (same shapes and lengths as gpu-embed.sh; one query, 100 passages per
# qid); prints pairs/s for both and the ratio.
#
#   bench/gpu-rerank.sh [BUILD_DIR] [WORKDIR]     (env as gpu-embed.sh)
set -eu
MODE=rerank exec "$(dirname "$0")/gpu-embed.sh" "$@"
