/* decoder_cuda.h: the llama/qwen2/qwen3 decoder on the GPU (weights on the
 * device once, the KV cache in device memory, cuBLASLt fp16 GEMMs for prefill,
 * direct quantized matrix-vector products for decode).  lib/decoder.c hands
 * over to it when rag_decoder_params.cuda is set. */
#ifndef RAG_DECODER_CUDA_H
#define RAG_DECODER_CUDA_H

#include <stdint.h>

#include "decoder.h"
#include "error.h"
#include "gguf.h"

struct rag_decoder_cuda;

/*
 * Upload the weights of g (already validated by rag_decoder_load, whose
 * shape info is passed in) to the GPU and allocate a KV cache of info->n_ctx
 * positions and scratch for n_batch tokens.  Each matrix keeps its stored
 * bytes for the decode matrix-vector products and, for prefill, a half
 * precision copy dequantized on the GPU (F16 matrices are used as they are;
 * types without a direct GPU product are decoded from the half copy).
 * Norms, biases and RoPE factors are float32.  RAG_EUNAVAILABLE when there
 * is no CUDA build or GPU, the head size exceeds 256, or the GPU fails or
 * lacks memory (the message says which); RAG_EINTERNAL when host memory runs
 * out.  Free with rag_decoder_cuda_free (NULL safe).
 */
int rag_decoder_cuda_load(const struct rag_gguf *g, const struct rag_decoder_info *info, int64_t n_batch,
			  struct rag_decoder_cuda **out, struct rag_error *err);
void rag_decoder_cuda_free(struct rag_decoder_cuda *c);

/*
 * rag_decoder_eval on the GPU for ids[0..n) at positions n_past.. (the caller
 * has checked ids and the context): logits as rag_decoder_eval lays them out
 * (all = 0: the last position's n_vocab floats; all = 1: one row per
 * position; NULL: cache only).  RAG_EUNAVAILABLE on a GPU failure (the cache
 * then holds an unspecified prefix).
 */
int rag_decoder_cuda_eval(struct rag_decoder_cuda *c, const int32_t *ids, int64_t n, int64_t n_past, int all,
			  float *logits, struct rag_error *err);

/*
 * rag_decoder_hidden on the GPU: run ids[0..n) from position 0 and write the
 * final-normed hidden state pooled by pool (n_embd floats) to out.
 */
int rag_decoder_cuda_hidden(struct rag_decoder_cuda *c, const int32_t *ids, int64_t n,
			    enum rag_decoder_pool pool, float *out, struct rag_error *err);

#endif
