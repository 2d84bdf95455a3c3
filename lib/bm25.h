/* bm25.h: BM25 scoring with MaxScore dynamic pruning over in-memory posting lists. */
#ifndef RAG_BM25_H
#define RAG_BM25_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/*
 * Score of document d for query terms t (Lucene's BM25, without the constant
 * (k1+1) factor, which does not change the ranking):
 *
 *   sum_t  qtf(t) * idf(t) * tf / (tf + k1 * (1 - b + b * dl(d) / avgdl))
 *   idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))
 *
 * Defaults k1 = 1.2, b = 0.75: better than Anserini's 0.9/0.4 on all four
 * collections measured (bench/results/retrieve.md).
 */
#define RAG_BM25_K1 1.2
#define RAG_BM25_B 0.75

struct rag_bm25_params {
	double k1, b;
};

/* One query term's posting list: docs ascending, tfs parallel; weight = qtf * idf.
 * max_tw: max over the list of tf / (tf + norm[doc]) when known (the caller may
 * cache it per list and parameters), or a negative value to have it computed. */
struct rag_bm25_list {
	const uint32_t *docs;
	const uint32_t *tfs;
	size_t n;
	float weight;
	float max_tw;
};

/* max over the list of tf / (tf + norm[doc]) (the list's score bound per unit weight). */
float rag_bm25_max_tw(const struct rag_bm25_list *l, const float *norm);

/* A scored document (doc: the key the posting lists use). */
struct rag_hit {
	int64_t doc;
	float score;
};

double rag_bm25_idf(uint64_t n_docs, uint64_t df);

/* norm[d] = k1 * (1 - b + b * doclen[d] / avgdl) for d < n. */
void rag_bm25_norms(const struct rag_bm25_params *p, const uint32_t *doclen, size_t n,
		    double avgdl, float *norm);

/*
 * Top k documents of the lists' union by BM25 (ties: smaller doc first),
 * written to out[0..*n_out) best first.  norm is indexed by doc (every doc in
 * the lists must be < the norm array's length); allowed, when not NULL, is a
 * byte per doc and documents with 0 are never scored nor returned.  Uses
 * MaxScore: lists whose score bound cannot lift a document into the top k
 * are only probed (binary search), never walked.  The order of lists is
 * changed.  RAG_EINTERNAL when out of memory.
 */
int rag_bm25_topk(struct rag_bm25_list *lists, size_t n_lists, const float *norm,
		  const uint8_t *allowed, size_t k, struct rag_hit *out, size_t *n_out,
		  struct rag_error *err);

/* Min-heap helpers for top-k selection (worst hit at [0]); used by the dense leg too. */
void rag_topk_push(struct rag_hit *heap, size_t *n, size_t k, int64_t doc, float score);
/* Sort a heap's hits best first (score descending, doc ascending). */
void rag_topk_sort(struct rag_hit *heap, size_t n);

#endif
