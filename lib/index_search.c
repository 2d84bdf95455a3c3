/* index_search.c: run the legs of a query over shards, merge them and fuse. */
#include "index_search.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"

void rag_search_opts_init(struct rag_search_opts *o)
{
	memset(o, 0, sizeof *o);
	o->mode = RAG_SEARCH_AUTO;
	o->fusion = RAG_FUSE_RRF;
	o->rrf_k = RAG_RRF_K;
	o->w_bm25 = 1;
	o->w_dense = 1;
	o->k = 10;
	rag_bm25_params_init(&o->bm25);
	o->check_acl = 1;
}

/* Shard s and key k in one 64-bit doc number, so hits of all shards sort together. */
#define SHARD_SHIFT 44
static int64_t pack(size_t s, int64_t k) { return ((int64_t)s << SHARD_SHIFT) | k; }

static int cmp_best(const void *a, const void *b)
{
	const struct rag_hit *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->doc < y->doc ? -1 : x->doc > y->doc;
}

/* One leg over all shards: top `depth` of each, merged, best `depth` kept. */
static int run_leg(struct rag_index *const *ix, size_t n, int dense, const struct rag_search_opts *o,
		   const struct rag_search_query *q, uint8_t *const *masks, size_t depth,
		   struct rag_hit **out, size_t *n_out, struct rag_error *err)
{
	struct rag_hit *all = rag_malloc((n * depth + 1) * sizeof *all), *tmp = rag_malloc((depth + 1) * sizeof *tmp);
	size_t s, na = 0, i;
	int rc = RAG_OK;

	*out = NULL;
	*n_out = 0;
	if (!all || !tmp) {
		rag_free(all);
		rag_free(tmp);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	for (s = 0; s < n; s++) {
		size_t nh = 0;
		if (dense && o->ann)
			rc = rag_index_ann(ix[s], q->vec, q->dim, masks[s], depth, o->ef_search, tmp, &nh, err);
		else if (dense)
			rc = rag_index_dense(ix[s], q->vec, q->dim, masks[s], depth, tmp, &nh, err);
		else
			rc = rag_index_bm25(ix[s], q->text, q->len, &o->bm25, masks[s], depth, tmp, &nh, err);
		if (rc)
			break;
		for (i = 0; i < nh; i++) {
			all[na].doc = pack(s, tmp[i].doc);
			all[na].score = tmp[i].score;
			na++;
		}
	}
	rag_free(tmp);
	if (rc) {
		rag_free(all);
		return rc;
	}
	qsort(all, na, sizeof *all, cmp_best);
	*out = all;
	*n_out = na < depth ? na : depth;
	return RAG_OK;
}

static size_t rank_in(const struct rag_hit *h, size_t n, int64_t doc, float *score)
{
	size_t i;
	for (i = 0; i < n; i++)
		if (h[i].doc == doc) {
			*score = h[i].score;
			return i + 1;
		}
	return 0;
}

int rag_search_check(struct rag_index *const *ix, size_t n, const struct rag_search_opts *o,
		     const struct rag_search_query *q, enum rag_search_mode *mode_used, struct rag_error *err)
{
	enum rag_search_mode mode = o->mode;
	size_t s;

	if (mode == RAG_SEARCH_AUTO)
		mode = q->text && q->vec ? RAG_SEARCH_HYBRID : q->vec ? RAG_SEARCH_DENSE : RAG_SEARCH_BM25;
	*mode_used = mode;
	if ((mode == RAG_SEARCH_BM25 || mode == RAG_SEARCH_HYBRID) && !q->text)
		return rag_error_set(err, RAG_EDATA, "query has no 'text' for BM25");
	if ((mode == RAG_SEARCH_DENSE || mode == RAG_SEARCH_HYBRID) && !q->vec)
		return rag_error_set(err, RAG_EDATA, "query has no 'embedding' for dense search");
	if (mode != RAG_SEARCH_BM25 && o->k > 0)
		for (s = 0; s < n; s++)
			if (rag_index_dim(ix[s]) && q->dim != rag_index_dim(ix[s]))
				return rag_error_set(err, RAG_EDATA, "query embedding has %u dimensions; the index has %u",
						     q->dim, rag_index_dim(ix[s]));
	return RAG_OK;
}

static void masks_free(uint8_t **masks, size_t n)
{
	size_t s;

	if (!masks)
		return;
	for (s = 0; s < n; s++)
		rag_free(masks[s]);
	rag_free(masks);
}

/* The query's mask for each shard (filter, ACL, its own id excluded); NULL entries: all pass. */
static int make_masks(struct rag_index *const *ix, size_t n, const struct rag_search_opts *o,
		      const struct rag_search_query *q, uint8_t ***out, struct rag_error *err)
{
	uint8_t **masks;
	size_t s;
	int rc;

	*out = NULL;
	if (!(masks = rag_calloc(n ? n : 1, sizeof *masks)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	for (s = 0; s < n; s++) {
		if ((rc = rag_index_mask(ix[s], o->filter, o->check_acl, q->principals, q->n_principals, &masks[s], err)))
			goto out;
		if (q->exclude_id) {
			int64_t key;
			if ((rc = rag_index_key_of(ix[s], q->exclude_id, q->exclude_len, &key, err)))
				goto out;
			if (key >= 0) {
				if (!masks[s]) {
					if (!(masks[s] = rag_malloc((size_t)rag_index_max_key(ix[s]) + 1))) {
						rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
						goto out;
					}
					memset(masks[s], 1, (size_t)rag_index_max_key(ix[s]) + 1);
				}
				masks[s][key] = 0;
			}
		}
	}
	*out = masks;
	return RAG_OK;
out:
	masks_free(masks, n);
	return rc;
}

int rag_search(struct rag_index *const *ix, size_t n, const struct rag_search_opts *o,
	       const struct rag_search_query *q, struct rag_result *out, size_t *n_out,
	       enum rag_search_mode *mode_used, struct rag_error *err)
{
	enum rag_search_mode mode;
	uint8_t **masks = NULL;
	struct rag_hit *hb = NULL, *hd = NULL, *hf = NULL;
	size_t nb = 0, nd = 0, nf = 0, depth, i;
	int rc;

	*n_out = 0;
	if ((rc = rag_search_check(ix, n, o, q, mode_used, err)))
		return rc;
	mode = *mode_used;
	if (o->k == 0)
		return RAG_OK;
	if ((rc = make_masks(ix, n, o, q, &masks, err)))
		return rc;
	depth = mode == RAG_SEARCH_HYBRID ? (o->depth ? o->depth : (o->k > 100 ? o->k : 100)) : o->k;
	if (depth < o->k)
		depth = o->k;
	if (mode != RAG_SEARCH_DENSE && (rc = run_leg(ix, n, 0, o, q, masks, depth, &hb, &nb, err)))
		goto out;
	if (mode != RAG_SEARCH_BM25 && (rc = run_leg(ix, n, 1, o, q, masks, depth, &hd, &nd, err)))
		goto out;
	if (mode == RAG_SEARCH_HYBRID) {
		struct rag_fuse_leg legs[2] = { { hb, nb, o->w_bm25 }, { hd, nd, o->w_dense } };
		if (!(hf = rag_malloc((o->k + 1) * sizeof *hf))) {
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			goto out;
		}
		if ((rc = rag_fuse(o->fusion, o->rrf_k, legs, 2, o->k, hf, &nf, err)))
			goto out;
	}
	{
		const struct rag_hit *fin = mode == RAG_SEARCH_HYBRID ? hf : mode == RAG_SEARCH_DENSE ? hd : hb;
		size_t nfin = mode == RAG_SEARCH_HYBRID ? nf : mode == RAG_SEARCH_DENSE ? nd : nb;
		if (nfin > o->k)
			nfin = o->k;
		for (i = 0; i < nfin; i++) {
			struct rag_result *r = &out[i];
			memset(r, 0, sizeof *r);
			r->shard = (size_t)(fin[i].doc >> SHARD_SHIFT);
			r->key = fin[i].doc & (((int64_t)1 << SHARD_SHIFT) - 1);
			r->score = fin[i].score;
			r->bm25_rank = hb ? rank_in(hb, nb, fin[i].doc, &r->bm25_score) : 0;
			r->dense_rank = hd ? rank_in(hd, nd, fin[i].doc, &r->dense_score) : 0;
			r->fused_rank = mode == RAG_SEARCH_HYBRID ? i + 1 : 0;
		}
		*n_out = nfin;
	}
out:
	masks_free(masks, n);
	rag_free(hb);
	rag_free(hd);
	rag_free(hf);
	return rc;
}

/* Fill results from a dense-only merged hit list (as rag_search does for mode dense). */
static void dense_results(const struct rag_hit *h, size_t nh, size_t k, struct rag_result *out, size_t *n_out)
{
	size_t i;

	if (nh > k)
		nh = k;
	for (i = 0; i < nh; i++) {
		struct rag_result *r = &out[i];
		memset(r, 0, sizeof *r);
		r->shard = (size_t)(h[i].doc >> SHARD_SHIFT);
		r->key = h[i].doc & (((int64_t)1 << SHARD_SHIFT) - 1);
		r->score = h[i].score;
		r->dense_score = h[i].score;
		r->dense_rank = i + 1;
	}
	*n_out = nh;
}

int rag_search_batch(struct rag_index *const *ix, size_t n, const struct rag_search_opts *o,
		     const struct rag_search_query *q, size_t m, struct rag_result *out, size_t *n_out,
		     enum rag_search_mode *modes, struct rag_error *err)
{
	size_t *sel = NULL, ns = 0, i, j, s, k = o->k;
	uint8_t ***qmasks = NULL;
	const uint8_t **shard_masks = NULL;
	float *qv = NULL;
	struct rag_hit *hits = NULL, *merged = NULL;
	size_t *nh = NULL, *nm = NULL;
	uint32_t dim = 0;
	int rc = RAG_OK;

	for (i = 0; i < m; i++)
		n_out[i] = 0;
	if (!(sel = rag_calloc(m ? m : 1, sizeof *sel)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	/* every query checked first: the batch fails as a whole before anything ran */
	for (i = 0; i < m; i++)
		if ((rc = rag_search_check(ix, n, o, &q[i], &modes[i], err)))
			goto out;
	for (i = 0; i < m; i++) {
		/* exact dense-only queries of one dimension go into one pass; the rest run alone */
		if (k > 0 && modes[i] == RAG_SEARCH_DENSE && !o->ann && (ns == 0 || q[i].dim == dim)) {
			dim = q[i].dim;
			sel[ns++] = i;
		} else if ((rc = rag_search(ix, n, o, &q[i], out + i * k, &n_out[i], &modes[i], err))) {
			goto out;
		}
	}
	if (ns == 0)
		goto out;
	qv = rag_malloc(ns * (size_t)dim * sizeof *qv);
	qmasks = rag_calloc(ns, sizeof *qmasks);
	shard_masks = rag_calloc(ns, sizeof *shard_masks);
	hits = rag_malloc((ns * k + 1) * sizeof *hits);
	merged = rag_malloc((ns * n * k + 1) * sizeof *merged);
	nh = rag_calloc(ns, sizeof *nh);
	nm = rag_calloc(ns, sizeof *nm);
	if (!qv || !qmasks || !shard_masks || !hits || !merged || !nh || !nm) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
	for (j = 0; j < ns; j++) {
		memcpy(qv + j * dim, q[sel[j]].vec, (size_t)dim * sizeof *qv);
		if ((rc = make_masks(ix, n, o, &q[sel[j]], &qmasks[j], err)))
			goto out;
	}
	for (s = 0; s < n; s++) {
		int any = 0;
		for (j = 0; j < ns; j++) {
			shard_masks[j] = qmasks[j][s];
			any |= shard_masks[j] != NULL;
		}
		if ((rc = rag_index_dense_batch(ix[s], qv, ns, dim, any ? shard_masks : NULL, k, hits, nh, err)))
			goto out;
		for (j = 0; j < ns; j++)
			for (i = 0; i < nh[j]; i++) {
				struct rag_hit *h = &merged[j * n * k + nm[j]++];
				h->doc = pack(s, hits[j * k + i].doc);
				h->score = hits[j * k + i].score;
			}
	}
	for (j = 0; j < ns; j++) {
		qsort(merged + j * n * k, nm[j], sizeof *merged, cmp_best);
		dense_results(merged + j * n * k, nm[j], k, out + sel[j] * k, &n_out[sel[j]]);
	}
out:
	if (qmasks)
		for (j = 0; j < ns; j++)
			masks_free(qmasks[j], n);
	rag_free(qmasks);
	rag_free(shard_masks);
	rag_free(qv);
	rag_free(hits);
	rag_free(merged);
	rag_free(nh);
	rag_free(nm);
	rag_free(sel);
	return rc;
}
