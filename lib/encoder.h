/* encoder.h: BERT-family encoders (embedders and cross-encoders) from GGUF, forward pass on packed batches. */
#ifndef RAG_ENCODER_H
#define RAG_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "gguf.h"
#include "kernels.h"

struct rag_encoder;

/* Load-time choices; zero-initialise for the defaults. */
struct rag_encoder_opts {
	/* Keep layer weights in their file type and dequantize inside every
	 * product, instead of dequantizing them once to float32 at load (the
	 * default, faster for batches; costs 4 bytes per weight). */
	int no_f32_cache;
	/* Run on the GPU (lib/encoder_cuda.c): weights uploaded at load, which
	 * then fails with RAG_EUNAVAILABLE when no GPU can take the model. */
	int cuda;
};

/*
 * Build an encoder from a GGUF file: general.architecture "bert" (absolute
 * position embeddings, token-type embeddings, post-LN blocks, erf GELU), any
 * hidden size, head count, depth and feed-forward size the file declares;
 * tensors of any type with a dequantizer (F32, F16, BF16, Q8_0, Q4/Q5, K-quants,
 * IQ4).  A file with `cls.output.weight` is a cross-encoder: its head is the
 * pooler (`cls.weight`/`cls.bias`, dense + tanh on the first token) and the
 * classifier (`cls.output.weight`/`cls.output.bias`).
 *
 * g must stay open while the encoder lives (weights not cached point into its
 * mapping).  Errors: RAG_EMODEL naming the architecture, tensor, type or shape
 * that is not supported or is missing ("'m.gguf': architecture 'qwen2' is not
 * a supported encoder (bert)"); RAG_EINTERNAL when out of memory.  The result
 * is released with rag_encoder_free.
 */
int rag_encoder_load(const struct rag_gguf *g, const struct rag_encoder_opts *opts,
		     struct rag_encoder **out, struct rag_error *err);
void rag_encoder_free(struct rag_encoder *e);

/* Shape and kind. */
int64_t rag_encoder_dim(const struct rag_encoder *e);        /* hidden size */
int64_t rag_encoder_n_ctx(const struct rag_encoder *e);      /* max tokens per sequence */
int64_t rag_encoder_n_vocab(const struct rag_encoder *e);
int64_t rag_encoder_n_types(const struct rag_encoder *e);    /* token types (segments) */
int rag_encoder_is_reranker(const struct rag_encoder *e);   /* has a classifier head */
int64_t rag_encoder_n_labels(const struct rag_encoder *e);   /* classifier outputs, 0 for embedders */
/* The file's <arch>.pooling_type (RAG_POOL_CLS when absent; RAG_POOL_RANK for
 * cross-encoders). */
enum rag_pooling rag_encoder_pooling(const struct rag_encoder *e);

/* One input sequence: ids[n] (special tokens included), types[n] token types
 * (NULL = all 0). */
struct rag_enc_seq {
	const int32_t *ids;
	const uint8_t *types;
	size_t n;
};

/*
 * Run the encoder on n_seq sequences, packing them into batches of at most
 * batch_tokens tokens (0 = 2048; a longer sequence runs alone) with no padding.
 * Each sequence's result is independent of the others in its batch.
 *
 * Output, by pool:
 *   RAG_POOL_MEAN/CLS/LAST: n_seq rows of rag_encoder_dim floats (L2-normalized
 *     when normalize is set);
 *   RAG_POOL_NONE: one row per token of every sequence, in order (sum of n
 *     rows), each normalized when normalize is set;
 *   RAG_POOL_RANK: n_seq rows of rag_encoder_n_labels raw logits (normalize is
 *     ignored); only for cross-encoders.
 * out is caller-owned and must have room for that.
 *
 * Errors: RAG_EDATA for an empty sequence, one longer than rag_encoder_n_ctx,
 * an id outside the vocabulary or a type outside the model's ("sequence 3:
 * ..."); RAG_EUSAGE for RAG_POOL_RANK on an embedder; RAG_EINTERNAL when out of
 * memory.  One call at a time per encoder (it keeps its scratch buffers);
 * the ops inside run on rag_set_threads' threads.
 */
int rag_encoder_run(struct rag_encoder *e, const struct rag_enc_seq *seqs, size_t n_seq,
		    size_t batch_tokens, enum rag_pooling pool, int normalize, float *out,
		    struct rag_error *err);

/* "none", "mean", "cls", "last", "rank"; and the reverse (RAG_EUSAGE for other names). */
const char *rag_pooling_name(enum rag_pooling p);
int rag_pooling_parse(const char *s, enum rag_pooling *out, struct rag_error *err);

#endif
