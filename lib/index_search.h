/* index_search.h: one query against one or more index shards: BM25, dense, hybrid. */
#ifndef RAG_INDEX_SEARCH_H
#define RAG_INDEX_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "bm25.h"
#include "error.h"
#include "filter.h"
#include "fusion.h"
#include "index.h"

enum rag_search_mode { RAG_SEARCH_AUTO, RAG_SEARCH_BM25, RAG_SEARCH_DENSE, RAG_SEARCH_HYBRID };

struct rag_search_opts {
	enum rag_search_mode mode;      /* AUTO: hybrid with text and embedding, else the one given */
	enum rag_fusion fusion;
	double rrf_k;                   /* RRF constant (default 60) */
	double w_bm25, w_dense;         /* leg weights in fusion (default 1) */
	size_t k;                       /* hits wanted */
	size_t depth;                   /* hits per leg before fusion (0: max(k, 100)) */
	struct rag_bm25_params bm25;
	const struct rag_filter *filter;/* NULL: none */
	int check_acl;                  /* enforce chunk acl against principals */
	int ann;                        /* dense leg through the HNSW graph when the index has one */
	uint32_t ef_search;             /* its search breadth (0: the graph's default) */
};
void rag_search_opts_init(struct rag_search_opts *o);

struct rag_search_query {
	const char *text;               /* NULL when absent */
	size_t len;
	const float *vec;               /* NULL when absent */
	uint32_t dim;
	const char *const *principals;
	size_t n_principals;
	const char *exclude_id;         /* never return the chunk with this id (NULL: none) */
	size_t exclude_len;
};

/* One hit: shard (index into the array of indexes), chunk key, final score,
 * and each leg's score and 1-based rank (0 when the leg did not return it). */
struct rag_result {
	size_t shard;
	int64_t key;
	float score;
	float bm25_score, dense_score;
	size_t bm25_rank, dense_rank;
	size_t fused_rank;              /* hybrid only */
};

/*
 * Search the shards ix[0..n) as one index: each leg takes its top `depth` (k
 * when it is the only leg) from every shard, merged by score; hybrid fuses the
 * legs.  Filter and ACL restrict every leg before its top-k.  out must hold
 * o->k results; *n_out < k when fewer chunks qualify.  *mode_used tells which
 * mode ran.  RAG_EDATA when the query lacks what the mode needs (text for
 * bm25, embedding for dense) or its dimension differs from an index's.
 */
int rag_search(struct rag_index *const *ix, size_t n, const struct rag_search_opts *o,
	       const struct rag_search_query *q, struct rag_result *out, size_t *n_out,
	       enum rag_search_mode *mode_used, struct rag_error *err);

/*
 * The checks rag_search makes before searching: the mode the query resolves to
 * (in *mode_used), and RAG_EDATA when the query lacks what that mode needs or
 * its embedding's dimension differs from an index's (the messages rag_search
 * would give).  Lets a caller reject a bad query before it joins a batch.
 */
int rag_search_check(struct rag_index *const *ix, size_t n, const struct rag_search_opts *o,
		     const struct rag_search_query *q, enum rag_search_mode *mode_used, struct rag_error *err);

/*
 * rag_search for the m queries q[0..m): results of query i go to
 * out[i * o->k ..] (out holds m * o->k results), their count to n_out[i],
 * the mode used to modes[i].  Exact dense-only queries (mode dense without
 * o->ann) of the first such query's dimension are scored together in one
 * pass over each shard's vectors (rag_index_dense_batch); every other query
 * runs as rag_search.  Results are identical to m calls of rag_search.
 * Every query is checked (rag_search_check) before any runs; on any error
 * (RAG_EDATA for a bad query, which the caller may then locate by running the
 * queries one by one) the whole batch's results are invalid.
 */
int rag_search_batch(struct rag_index *const *ix, size_t n, const struct rag_search_opts *o,
		     const struct rag_search_query *q, size_t m, struct rag_result *out, size_t *n_out,
		     enum rag_search_mode *modes, struct rag_error *err);

#endif
