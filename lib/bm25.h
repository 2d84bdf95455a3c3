/* bm25.h: field-aware BM25 (BM25F) scoring with MaxScore dynamic pruning over in-memory posting lists. */
#ifndef RAG_BM25_H
#define RAG_BM25_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/*
 * Field-aware BM25 (BM25F) over two fields, title and text.  Each field f of
 * document d has its term frequency tf_f and its length len_f (tokens);
 * avglen_f is the mean length over the documents where the field is not
 * empty.  The field frequencies are normalized and weighted, then saturated
 * once (without the constant (k1+1) factor, which does not change the ranking):
 *
 *   tt(t, d) = sum_f  w_f * tf_f / (1 - b + b * len_f(d) / avglen_f)
 *   score(d) = sum_t  qtf(t) * idf(t) * tt / (tt + k1)
 *   idf(t)   = ln(1 + (N - df + 0.5) / (df + 0.5))      (df: docs with t in any field)
 *
 * Documents without a title score exactly as plain BM25 on their text (with
 * w_text = 1).  Defaults k1 = 1.5, b = 0.75, title weight 2, text weight 1:
 * chosen on SciFact, NFCorpus, ArguAna and Cranfield together, one setting for
 * all (bench/results/retrieve.md); every k1 measured from 1.4 to 2.0 met every
 * target there and was at or above k1 1.2 on all four (but SciFact at 1.6, -0.0001).
 */
#define RAG_BM25_K1 1.5
#define RAG_BM25_B 0.75
#define RAG_BM25_W_TITLE 2.0
#define RAG_BM25_W_TEXT 1.0

struct rag_bm25_params {
	double k1, b;            /* saturation; length normalization (every field) */
	double w_title, w_text;  /* field weights (>= 0) */
};

/* The defaults above. */
void rag_bm25_params_init(struct rag_bm25_params *p);

/*
 * Per-document field factors: a_title[d] = w_title / (1 - b + b * tlen[d] /
 * avg_title) and a_text[d] likewise with xlen (avg_*: mean over documents with
 * a non-empty field; 1 when there are none), for d < n.
 */
void rag_bm25f_factors(const struct rag_bm25_params *p, const uint32_t *tlen, const uint32_t *xlen,
		       size_t n, float *a_title, float *a_text);

/* One posting's impact tt / (tt + k1), tt = tf_title * a_title + tf_text * a_text: in [0, 1). */
static inline float rag_bm25f_impact(uint32_t tf_title, uint32_t tf_text, float a_title, float a_text,
				     float k1)
{
	float tt = (float)tf_title * a_title + (float)tf_text * a_text;
	return tt > 0 ? tt / (tt + k1) : 0.0f;
}

/* One query term's posting list: docs ascending, imp parallel (each posting's
 * impact, see rag_bm25f_impact); weight = qtf * idf; max_imp: the largest imp
 * of the list when known (the caller may cache it), or negative to have it computed. */
struct rag_bm25_list {
	const uint32_t *docs;
	const float *imp;
	size_t n;
	float weight;
	float max_imp;
};

/* max over the list of imp (the list's score bound per unit weight). */
float rag_bm25_max_imp(const struct rag_bm25_list *l);

/* A scored document (doc: the key the posting lists use). */
struct rag_hit {
	int64_t doc;
	float score;
};

double rag_bm25_idf(uint64_t n_docs, uint64_t df);

/*
 * Top k documents of the lists' union by BM25 (ties: smaller doc first; a
 * document whose score is 0, e.g. matched only in a field of weight 0, is not returned),
 * written to out[0..*n_out) best first; a document's score is the sum over
 * the lists holding it of weight * imp.  allowed, when not NULL, is a byte per
 * doc (every doc in the lists must be below its length) and documents with 0
 * are never scored nor returned.  Uses
 * MaxScore: lists whose score bound cannot lift a document into the top k
 * are only probed (binary search), never walked.  The order of lists is
 * changed.  RAG_EINTERNAL when out of memory.
 */
int rag_bm25_topk(struct rag_bm25_list *lists, size_t n_lists, const uint8_t *allowed, size_t k, struct rag_hit *out, size_t *n_out,
		  struct rag_error *err);

/* Min-heap helpers for top-k selection (worst hit at [0]); used by the dense leg too. */
void rag_topk_push(struct rag_hit *heap, size_t *n, size_t k, int64_t doc, float score);
/* Sort a heap's hits best first (score descending, doc ascending). */
void rag_topk_sort(struct rag_hit *heap, size_t n);

#endif
