/* rerank.h: scoring (query, passage) pairs with a BERT cross-encoder GGUF, with optional passage windows. */
#ifndef RAG_RERANK_H
#define RAG_RERANK_H

#include <stddef.h>

#include "encoder.h"
#include "error.h"
#include "tokenizer.h"

struct rag_rerank_opts {
	long max_tokens;       /* pair length limit (specials included); 0: the model's context */
	long window;           /* > 0: split passages into windows of this many passage tokens */
	long stride;           /* window start step; 0: window / 2 */
	int aggregate_mean;    /* windows: mean of their logits instead of the max */
	size_t batch_tokens;   /* tokens per forward pass; 0: 2048 */
};

struct rag_reranker;

/*
 * Open path as a cross-encoder (BERT with the `cls`/`cls.output` head).
 * RAG_ENOINPUT when it cannot be opened; RAG_EMODEL when it is not a GGUF
 * file, not an encoder ragkit runs, an embedding model without a classifier
 * ("... is an embedding model, not a cross-encoder (reranker)"), or has no
 * usable tokenizer.  Release with rag_reranker_free.
 */
int rag_reranker_open(const char *path, const struct rag_encoder_opts *opts, struct rag_reranker **out,
		      struct rag_error *err);
void rag_reranker_free(struct rag_reranker *r);
struct rag_encoder *rag_reranker_encoder(struct rag_reranker *r);

/* A passage to score. */
struct rag_rerank_doc {
	const char *text;
	size_t len;
	int truncated;         /* out: the pair was cut to fit (without windows) */
	size_t n_windows;      /* out: windows scored (1 without windows) */
};

/*
 * Raw logits (label 0 of the classifier) of (query, docs[i]) for i < n, into
 * scores[n].  Each pair is "[CLS] query [SEP] passage [SEP]" with token type 0
 * on the first segment and 1 on the second, as Hugging Face builds it.
 * Without windows a pair longer than the limit is truncated longest-first
 * (Hugging Face's default).  With o->window, the passage is cut into windows
 * of o->window tokens starting every o->stride tokens (the last one reaching
 * the end), each scored with the query, and the passage's score is the max
 * (or mean) over its windows; the query is cut when query + window does not
 * fit.  Texts must be non-empty (see rag_text_check).  Errors: RAG_EDATA
 * (tokenizer), RAG_EINTERNAL (memory).
 */
int rag_rerank_score(struct rag_reranker *r, const char *query, size_t qlen, struct rag_rerank_doc *docs,
		     size_t n, const struct rag_rerank_opts *o, float *scores, struct rag_error *err);

/*
 * The parts of rag_rerank_score, for callers that batch many queries' pairs
 * into one encoder run (lib/rerank_pipe.c).  A rag_rerank_pairs holds
 * tokenized pairs, packed, and the tokenizer's scratch: one per thread.
 */
struct rag_rerank_pairs {
	int32_t *ids;
	uint8_t *types;
	size_t cap, len;
	size_t *seq_off;       /* offset of each pair in ids */
	size_t *seq_doc;       /* the d each pair was added with */
	size_t seq_cap, n_seq;
	struct rag_tokens q, p, pair; /* scratch */
};

void rag_rerank_pairs_init(struct rag_rerank_pairs *pp);
void rag_rerank_pairs_reset(struct rag_rerank_pairs *pp);   /* empty, keeping memory */
void rag_rerank_pairs_release(struct rag_rerank_pairs *pp);

/*
 * Tokenize (query, doc) as rag_rerank_score does (whole and truncated, or in
 * windows; sets doc->truncated and doc->n_windows) and append its pair(s) to
 * pp, tagged d.  Any number of threads may call it on one reranker at once,
 * each with its own pp.  Errors as rag_rerank_score's tokenization.
 */
int rag_rerank_pairs_add(const struct rag_reranker *r, const char *query, size_t qlen, struct rag_rerank_doc *doc,
			 size_t d, const struct rag_rerank_opts *o, struct rag_rerank_pairs *pp, struct rag_error *err);

/* pp's pairs as encoder sequences (pointing into pp): seqs[pp->n_seq]. */
void rag_rerank_pairs_seqs(const struct rag_rerank_pairs *pp, struct rag_enc_seq *seqs);

/*
 * A passage's score from its pairs' logits (label 0 of n_labels per pair):
 * the max over its windows, or with mean their mean.  seq_doc[i] is pair i's
 * doc (a doc's pairs adjacent); docs gives n_windows; scores[doc] written.
 */
void rag_rerank_aggregate(const size_t *seq_doc, const float *logits, size_t n_seq, int64_t n_labels,
			  const struct rag_rerank_doc *docs, int mean, float *scores);

#endif
