/* modelinfo.h: what a GGUF model holds, summarised for people and scripts. */
#ifndef RAG_MODELINFO_H
#define RAG_MODELINFO_H

#include "buf.h"
#include "gguf.h"

/* What ragkit makes of a model file. */
enum rag_model_kind {
	RAG_MODEL_UNKNOWN,
	RAG_MODEL_ENCODER,        /* BERT-family embedder */
	RAG_MODEL_CROSS_ENCODER,  /* BERT with a classification head (reranker) */
	RAG_MODEL_DECODER,        /* llama/qwen2/qwen3 */
	RAG_MODEL_VOCAB_ONLY,     /* tokenizer only, no tensors */
};

const char *rag_model_kind_name(enum rag_model_kind k);
enum rag_model_kind rag_model_kind_of(const struct rag_gguf *g);

/*
 * Can ragkit run this file?  Returns 1, or 0 with a reason in why (an
 * architecture or tensor type it does not support).
 */
int rag_model_supported(const struct rag_gguf *g, char *why, size_t why_len);

/* Append a human-readable report (text) or one JSON object (json) to out. */
void rag_model_describe(const struct rag_gguf *g, int json, struct rag_buf *out);

#endif
