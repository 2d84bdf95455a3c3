/* embed.h: text to vectors with an encoder GGUF (or a decoder embedding model): instruction prefixes, tokenization, truncation, batching. */
#ifndef RAG_EMBED_H
#define RAG_EMBED_H

#include <stddef.h>
#include <stdint.h>

#include "decoder.h"
#include "encoder.h"
#include "error.h"
#include "options.h"
#include "tokenizer.h"

/* Which side of retrieval a text is on (chooses the instruction prefix). */
enum rag_embed_mode {
	RAG_EMBED_PLAIN = 0,   /* no prefix */
	RAG_EMBED_QUERY,
	RAG_EMBED_DOCUMENT,
};

struct rag_embed_opts {
	int pooling;           /* an enum rag_pooling, or -1 for the model's */
	int no_normalize;      /* leave vectors unnormalized */
	enum rag_embed_mode mode;
	const char *prefix;    /* put in front of every text; NULL: the mode's prefix for this model */
	long max_tokens;       /* truncate to this many tokens (specials included); 0: the model's context */
	int no_truncate;       /* a longer text is an error instead */
	size_t batch_tokens;   /* tokens per forward pass; 0: 2048 */
};

void rag_embed_opts_init(struct rag_embed_opts *o);

/* A model opened for embedding: file, tokenizer and encoder. */
struct rag_embedder;

/*
 * Open path as an embedding model: a BERT-family encoder, or a decoder
 * (llama/qwen2/qwen3, Qwen3-Embedding style) whose hidden states are pooled as
 * its <arch>.pooling_type says (3 = last token; llama.cpp's enum), run on the
 * CPU with a KV cache of min(context length, ragkit.max_length or 2048)
 * positions.  RAG_ENOINPUT when it cannot be opened; RAG_EMODEL when it is not
 * a GGUF file, not a model ragkit runs (the message names the architecture), a
 * cross-encoder ("... is a cross-encoder (reranker), not an embedding model"),
 * a decoder with pooling_type rank, or has no usable tokenizer;
 * RAG_EUNAVAILABLE for a decoder with opts->cuda set.  opts may be NULL.
 * Release with rag_embedder_free.
 */
int rag_embedder_open(const char *path, const struct rag_encoder_opts *opts, struct rag_embedder **out,
		      struct rag_error *err);
void rag_embedder_free(struct rag_embedder *m);

/* The model behind it: the encoder (NULL for a decoder model) or the decoder
 * (NULL for an encoder). */
struct rag_encoder *rag_embedder_encoder(struct rag_embedder *m);
struct rag_decoder *rag_embedder_decoder(struct rag_embedder *m);
/* The width of its vectors (hidden size). */
int64_t rag_embedder_dim(const struct rag_embedder *m);
const struct rag_tokenizer *rag_embedder_tokenizer(const struct rag_embedder *m);

/*
 * The instruction prefix a model wants for mode, chosen by its name
 * (general.name / general.basename, case-insensitive): e5 "query: " and
 * "passage: "; nomic "search_query: " and "search_document: "; bge (English)
 * "Represent this sentence for searching relevant passages: " for queries and
 * nothing for documents; Qwen3-Embedding "Instruct: Given a web search query,
 * retrieve relevant passages that answer the query\nQuery:" for queries and
 * nothing for documents; "" otherwise and for RAG_EMBED_PLAIN.  The model's own
 * sentence-transformers prompts (ragkit.prompt.*) win.  Static string.
 */
const char *rag_embed_model_prefix(const struct rag_embedder *m, enum rag_embed_mode mode);

/* RAG_EDATA "empty text" or "text is only whitespace" (ASCII white space), else RAG_OK. */
int rag_text_check(const char *text, size_t len, struct rag_error *err);

/* One text, tokenized.  ids are owned (rag_embed_seq_free). */
struct rag_embed_seq {
	int32_t *ids;
	size_t n;
	size_t n_text;         /* tokens before truncation */
	int truncated;
};

void rag_embed_seq_free(struct rag_embed_seq *s);

/*
 * Check and tokenize one text: prefix (o->prefix, else the mode's), special
 * tokens, truncation to o->max_tokens or the model's context.  RAG_EDATA for
 * an empty text ("empty text"), a text of only whitespace ("text is only
 * whitespace"), or with o->no_truncate a text longer than the limit ("text
 * has N tokens, more than the limit of M").  Replaces s's contents (s zeroed
 * or from an earlier call).
 */
int rag_embed_prepare(struct rag_embedder *m, const char *text, size_t len,
		      const struct rag_embed_opts *o, struct rag_embed_seq *s, struct rag_error *err);

/* Working memory of rag_embed_prepare_r: one per thread.  Zero it (or
 * rag_embed_scratch_init), release with rag_embed_scratch_release. */
struct rag_embed_scratch {
	struct rag_tokens t;
	struct rag_buf text;   /* prefix + text */
};

void rag_embed_scratch_init(struct rag_embed_scratch *sc);
void rag_embed_scratch_release(struct rag_embed_scratch *sc);

/*
 * rag_embed_prepare with the caller's scratch instead of the embedder's: any
 * number of threads may call it at once on one embedder, each with its own sc
 * and s.  Same results and errors.
 */
int rag_embed_prepare_r(const struct rag_embedder *m, const char *text, size_t len,
			const struct rag_embed_opts *o, struct rag_embed_scratch *sc, struct rag_embed_seq *s,
			struct rag_error *err);

/*
 * Vectors of n prepared texts, batched by o->batch_tokens.  out receives one
 * row of rag_embedder_dim floats per text, or with pooling none one row per
 * token of every text (in order); it is caller-owned.  Errors as
 * rag_encoder_run; for decoders also those of rag_embed_check_pooling and
 * rag_decoder_hidden.  Decoder models run each text from an empty cache
 * (tokens as prepared: the EOS the tokenizer appends per
 * tokenizer.ggml.add_eos_token is the last token pooled).
 */
int rag_embed_run(struct rag_embedder *m, const struct rag_embed_seq *seqs, size_t n,
		  const struct rag_embed_opts *o, float *out, struct rag_error *err);

/* The pooling o asks for on this model (o->pooling, or the model's own; last
 * for a decoder that declares none). */
enum rag_pooling rag_embed_pooling(const struct rag_embedder *m, const struct rag_embed_opts *o);

/*
 * Can this model embed with o's pooling?  Always for encoders.  A decoder
 * needs a pooling from its file or from o (RAG_EMODEL "... is a decoder without
 * <arch>.pooling_type (a text generator, not an embedding model) ..."), and one
 * of last, mean or cls (RAG_EUSAGE for none/rank).
 */
int rag_embed_check_pooling(const struct rag_embedder *m, const struct rag_embed_opts *o,
			    struct rag_error *err);

/*
 * Which device runs the encoders.  auto: the GPU when ragkit was built with
 * CUDA and one works, else the CPU; cpu: the CPU; cuda: RAG_EUNAVAILABLE
 * ("ragkit was built without CUDA" or "no CUDA device: ...") without a
 * working GPU (rag_device_resolve).  *got is the device chosen; open the
 * model with rag_encoder_opts.cuda set when it is RAG_DEVICE_CUDA.
 */
int rag_encoder_device(enum rag_device want, enum rag_device *got, struct rag_error *err);

#endif
