/* fusion.c: reciprocal rank fusion and min-max normalized score fusion. */
#include "fusion.h"

#include <stdlib.h>

#include "alloc.h"

static int cmp_doc(const void *a, const void *b)
{
	const struct rag_hit *x = a, *y = b;
	return x->doc < y->doc ? -1 : x->doc > y->doc;
}

int rag_fuse(enum rag_fusion method, double rrf_k, const struct rag_fuse_leg *legs, size_t n_legs,
	     size_t k, struct rag_hit *out, size_t *n_out, struct rag_error *err)
{
	struct rag_hit *all;
	size_t total = 0, i, j, n = 0, nh = 0;

	*n_out = 0;
	for (i = 0; i < n_legs; i++)
		total += legs[i].n;
	if (total == 0 || k == 0)
		return RAG_OK;
	all = rag_malloc(total * sizeof *all);
	if (!all)
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	for (i = 0; i < n_legs; i++) {
		float mn = 0, mx = 0;
		if (legs[i].n) {
			mn = mx = legs[i].hits[0].score;
			for (j = 1; j < legs[i].n; j++) {
				if (legs[i].hits[j].score < mn) mn = legs[i].hits[j].score;
				if (legs[i].hits[j].score > mx) mx = legs[i].hits[j].score;
			}
		}
		for (j = 0; j < legs[i].n; j++) {
			double s;
			if (method == RAG_FUSE_RRF)
				s = legs[i].weight / (rrf_k + (double)(j + 1));
			else
				s = legs[i].weight * (mx > mn ? (legs[i].hits[j].score - mn) / (double)(mx - mn) : 1.0);
			all[n].doc = legs[i].hits[j].doc;
			all[n].score = (float)s;
			n++;
		}
	}
	qsort(all, n, sizeof *all, cmp_doc);
	for (i = 0; i < n;) {
		double s = 0;
		for (j = i; j < n && all[j].doc == all[i].doc; j++)
			s += all[j].score;
		rag_topk_push(out, &nh, k, all[i].doc, (float)s);
		i = j;
	}
	rag_topk_sort(out, nh);
	*n_out = nh;
	rag_free(all);
	return RAG_OK;
}
