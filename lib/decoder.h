/* decoder.h: decoder-only transformer LLMs (llama, qwen2, qwen3) from GGUF, with a KV cache. */
#ifndef RAG_DECODER_H
#define RAG_DECODER_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "gguf.h"

struct rag_decoder;

struct rag_decoder_params {
	int64_t n_ctx;    /* KV cache positions; 0 = the model's context_length, at most 4096 */
	int64_t n_batch;  /* tokens per forward chunk in rag_decoder_eval; 0 = 512 */
	int cuda;         /* run on the GPU (lib/decoder_cuda.c): weights and KV cache in
			   * device memory; rag_decoder_load then fails with
			   * RAG_EUNAVAILABLE when the GPU cannot take the model */
	int exact_act;    /* 1: decode steps keep the activations in float32 for
			   * quantized weights; 0 (default): quantize them to int8
			   * and use integer dot products (faster, as llama.cpp;
			   * see rag_matvec_q8 for the error bound) */
};

/* The shape the model file declares (after defaults). */
struct rag_decoder_info {
	const char *arch;      /* "llama", "qwen2", "qwen3" (static string) */
	int64_t n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
	int64_t n_ctx_train;   /* <arch>.context_length (0 when absent) */
	int64_t n_ctx;         /* the KV cache size in use */
	int64_t n_rot;
	float rms_eps, rope_base, rope_scale;
	int rope_neox;         /* 1: NeoX pair layout; 0: llama's */
	int tied_output;       /* output projection is token_embd.weight */
};

/* Is arch (general.architecture) one this module runs?  RAG_DECODER_ARCHS
 * names them, for messages. */
int rag_decoder_supports_arch(const char *arch);
#define RAG_DECODER_ARCHS "llama, qwen2, qwen3"
/* The largest head dimension the decoder takes (config.json's head_dim is
 * held to it before it becomes an integer). */
#define RAG_DECODER_MAX_HEAD_DIM 1024
/* The RoPE scaling g declares for arch (<arch>.rope.scaling.type; *type NULL
 * when absent): 0 when rag_decoder_load runs it (none, linear; llama3's comes
 * as rope_freqs.weight), -1 when not.  RAG_DECODER_ROPE_SCALINGS names those
 * it runs, for messages. */
int rag_decoder_rope_scaling(const struct rag_gguf *g, const char *arch, const char **type);
#define RAG_DECODER_ROPE_SCALINGS "none, linear, llama3"

/*
 * Build a decoder over g's tensors.  Weights stay in g's read-only mapping, so g
 * must outlive the decoder; small tensors (norms, biases) are converted to
 * float32 copies.  Errors: RAG_EMODEL when the architecture is not a supported
 * decoder ("architecture 'bert' is not a decoder ..."), a key or tensor is
 * missing, or a tensor has the wrong shape or a type without a dequantizer (the
 * message names it), <arch>.rope.scaling.type is other than none or linear
 * ("RoPE scaling 'yarn' is not supported ..."; llama3's scaling comes as
 * rope_freqs.weight), or the feed-forward layers have biases; RAG_EINTERNAL when memory runs out.  p may be NULL
 * (defaults).  Free with rag_decoder_free.
 */
int rag_decoder_load(const struct rag_gguf *g, const struct rag_decoder_params *p,
		     struct rag_decoder **out, struct rag_error *err);
void rag_decoder_free(struct rag_decoder *d);

const struct rag_decoder_info *rag_decoder_info(const struct rag_decoder *d);
/* Positions currently held in the KV cache (the position the next token gets). */
int64_t rag_decoder_n_past(const struct rag_decoder *d);

/*
 * Run ids[0..n) at positions n_past..n_past+n-1, appending them to the KV cache
 * (prefill when n > 1, a decode step when n == 1).  logits: when all is 0, the
 * n_vocab logits of the last position; when all is 1, n * n_vocab logits, one row
 * per position (position i predicts token i+1).  logits may be NULL to only fill
 * the cache.  Errors: RAG_EDATA when the cache would overflow n_ctx ("context
 * full: ...") or an id is outside the vocabulary (nothing is evaluated then);
 * RAG_EINTERNAL when memory runs out (the cache then holds an unspecified prefix:
 * trim or reset it).  Runs on rag_set_threads threads.
 */
int rag_decoder_eval(struct rag_decoder *d, const int32_t *ids, int64_t n, int all, float *logits,
		     struct rag_error *err);
/* One decode step: rag_decoder_eval(d, &id, 1, 0, logits, err). */
int rag_decoder_step(struct rag_decoder *d, int32_t id, float *logits, struct rag_error *err);

/* Forget every cached position. */
void rag_decoder_reset(struct rag_decoder *d);
/* Keep the first n_keep positions of the cache (n_keep >= n_past is a no-op). */
void rag_decoder_trim(struct rag_decoder *d, int64_t n_keep);

enum rag_decoder_pool {
	RAG_DECODER_POOL_LAST,  /* the last token's hidden state (Qwen3-Embedding) */
	RAG_DECODER_POOL_MEAN,  /* the mean over all tokens */
};

/*
 * Hidden states for embedding models: reset the cache, run ids[0..n) from
 * position 0, and write to out (n_embd floats) the final-normed hidden state
 * pooled as asked (not L2-normalized).  The cache is left reset.  Errors as
 * rag_decoder_eval; RAG_EDATA for n == 0.
 */
int rag_decoder_hidden(struct rag_decoder *d, const int32_t *ids, int64_t n,
		       enum rag_decoder_pool pool, float *out, struct rag_error *err);

#endif
