/* encoder_cuda.h: the BERT-family encoder on the GPU (weights on the device
 * once, fp16 tensor-core GEMMs, fused varlen attention, double-buffered
 * batches).  lib/encoder.c hands over to it when rag_encoder_opts.cuda is set. */
#ifndef RAG_ENCODER_CUDA_H
#define RAG_ENCODER_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "encoder.h"
#include "error.h"
#include "gguf.h"

/* The shape the CPU loader read and checked. */
struct rag_encoder_shape {
	int64_t d, n_head, n_layer, n_ff, n_ctx, n_vocab, n_types, n_labels;
	float eps;
};

struct rag_encoder_cuda;

/*
 * Upload the weights of g (already validated by rag_encoder_load) to the GPU:
 * matrices dequantized on the device and kept in half precision (Q, K and V
 * fused), the classifier head kept in float32, embedding tables in their file
 * type.  RAG_EUNAVAILABLE when there is no CUDA build or GPU, or the GPU
 * fails or lacks memory (message from the CUDA layer); RAG_EINTERNAL when out
 * of host memory.  Free with rag_encoder_cuda_free (NULL safe).
 */
int rag_encoder_cuda_load(const struct rag_gguf *g, const struct rag_encoder_shape *shape,
			  struct rag_encoder_cuda **out, struct rag_error *err);
void rag_encoder_cuda_free(struct rag_encoder_cuda *c);

/*
 * rag_encoder_run on the GPU, with the same contract (the caller has checked
 * the sequences): batches of at most batch_tokens tokens (0: 16384), packed
 * without padding, outputs in input order.  While the GPU runs batch b the
 * host packs batch b+1 into a pinned buffer and copies batch b-1's results out.
 * RAG_EUNAVAILABLE on a GPU failure.
 */
int rag_encoder_cuda_run(struct rag_encoder_cuda *c, const struct rag_enc_seq *seqs, size_t n_seq,
			 size_t batch_tokens, enum rag_pooling pool, int normalize, float *out,
			 struct rag_error *err);

/*
 * Batch plan (host only, no GPU needed): split n sequences of lengths len[]
 * into consecutive batches of at most budget tokens (a longer sequence alone)
 * and at most max_seqs sequences (0: no limit).  start[] gets the first
 * sequence of every batch and start[nb] = n; start needs room for n + 1
 * entries.  Returns the number of batches nb.
 */
size_t rag_encoder_batches(const size_t *len, size_t n, size_t budget, size_t max_seqs, size_t *start);

#endif
