/* fusion.h: combining ranked lists (BM25, dense) into one: RRF or normalized scores. */
#ifndef RAG_FUSION_H
#define RAG_FUSION_H

#include <stddef.h>

#include "bm25.h"
#include "error.h"

enum rag_fusion { RAG_FUSE_RRF, RAG_FUSE_NORM };

#define RAG_RRF_K 60.0

/* One leg's hits, best first (rank i+1 for hits[i]); weight scales its share. */
struct rag_fuse_leg {
	const struct rag_hit *hits;
	size_t n;
	double weight;
};

/*
 * Fuse the legs into out[0..*n_out) (at most k, best first; ties: smaller
 * doc first).  RRF: sum over legs of weight / (rrf_k + rank).  NORM: each
 * leg's scores min-max scaled to [0, 1] (all equal -> 1), weighted sum; a
 * document missing from a leg gets 0 from it.  out must hold k hits.
 * RAG_EINTERNAL when out of memory.
 */
int rag_fuse(enum rag_fusion method, double rrf_k, const struct rag_fuse_leg *legs, size_t n_legs,
	     size_t k, struct rag_hit *out, size_t *n_out, struct rag_error *err);

#endif
