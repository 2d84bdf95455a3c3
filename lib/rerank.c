/* rerank.c: cross-encoder scores of (query, passage) pairs, whole or in windows. */
#include "config.h"

#include <string.h>

#include "alloc.h"
#include "gguf.h"
#include "hfmodel.h"
#include "rerank.h"

struct rag_reranker {
	struct rag_gguf *g;
	struct rag_tokenizer *tok;
	struct rag_encoder *enc;
	struct rag_rerank_pairs pp;  /* rag_rerank_score's pairs */
	struct rag_enc_seq *seqs;
	float *logits;
};

int rag_reranker_open(const char *path, const struct rag_encoder_opts *opts, struct rag_reranker **out,
		      struct rag_error *err)
{
	struct rag_reranker *r;
	int rc;

	*out = NULL;
	if (!(r = rag_calloc(1, sizeof *r)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	rag_rerank_pairs_init(&r->pp);
	if ((rc = rag_model_open(path, &r->g, err)))
		goto fail;
	if ((rc = rag_encoder_load(r->g, opts, &r->enc, err)))
		goto fail;
	if (!rag_encoder_is_reranker(r->enc)) {
		rc = rag_error_set(err, RAG_EMODEL, "'%s' is an embedding model, not a cross-encoder (reranker)", path);
		goto fail;
	}
	if ((rc = rag_tokenizer_from_gguf(r->g, &r->tok, err))) {
		rag_error_prefix(err, "'%s': ", path);
		goto fail;
	}
	*out = r;
	return RAG_OK;
fail:
	rag_reranker_free(r);
	return rc;
}

void rag_reranker_free(struct rag_reranker *r)
{
	if (!r)
		return;
	rag_encoder_free(r->enc);
	rag_tokenizer_free(r->tok);
	rag_gguf_close(r->g);
	rag_rerank_pairs_release(&r->pp);
	rag_free(r->seqs);
	rag_free(r->logits);
	rag_free(r);
}

struct rag_encoder *rag_reranker_encoder(struct rag_reranker *r) { return r->enc; }

void rag_rerank_pairs_init(struct rag_rerank_pairs *pp)
{
	memset(pp, 0, sizeof *pp);
	rag_tokens_init(&pp->q);
	rag_tokens_init(&pp->p);
	rag_tokens_init(&pp->pair);
}

void rag_rerank_pairs_reset(struct rag_rerank_pairs *pp)
{
	pp->len = 0;
	pp->n_seq = 0;
}

void rag_rerank_pairs_release(struct rag_rerank_pairs *pp)
{
	if (!pp)
		return;
	rag_tokens_free(&pp->q);
	rag_tokens_free(&pp->p);
	rag_tokens_free(&pp->pair);
	rag_free(pp->ids);
	rag_free(pp->types);
	rag_free(pp->seq_off);
	rag_free(pp->seq_doc);
	memset(pp, 0, sizeof *pp);
}

/* Append one pair (ids/types, n tokens) for doc d. */
static int add_pair(struct rag_rerank_pairs *r, const int32_t *ids, const uint8_t *types, size_t n, size_t d)
{
	if (r->len + n > r->cap) {
		size_t cap = (r->len + n) * 2;
		int32_t *ni = rag_realloc(r->ids, cap * sizeof *ni);
		uint8_t *nt;
		if (!ni)
			return -1;
		r->ids = ni;
		if (!(nt = rag_realloc(r->types, cap)))
			return -1;
		r->types = nt;
		r->cap = cap;
	}
	if (r->n_seq == r->seq_cap) {
		size_t cap = r->seq_cap ? r->seq_cap * 2 : 64;
		size_t *no = rag_reallocarray(r->seq_off, cap, sizeof *no), *nd;
		if (!no)
			return -1;
		r->seq_off = no;
		if (!(nd = rag_reallocarray(r->seq_doc, cap, sizeof *nd)))
			return -1;
		r->seq_doc = nd;
		r->seq_cap = cap;
	}
	memcpy(r->ids + r->len, ids, n * sizeof *ids);
	memcpy(r->types + r->len, types, n);
	r->seq_off[r->n_seq] = r->len;
	r->seq_doc[r->n_seq] = d;
	r->n_seq++;
	r->len += n;
	return 0;
}

/* Windows of one passage: [CLS] q [SEP] p[s..s+w) [SEP]. */
static int add_windows(const struct rag_tokenizer *tok, struct rag_rerank_pairs *r, size_t limit,
		       const struct rag_rerank_opts *o, struct rag_rerank_doc *doc, size_t d, struct rag_error *err)
{
	int32_t cls = rag_tokenizer_special(tok, RAG_TOK_CLS), sep = rag_tokenizer_special(tok, RAG_TOK_SEP);
	size_t w = (size_t)o->window, stride = o->stride > 0 ? (size_t)o->stride : (w / 2 ? w / 2 : 1);
	size_t nq = r->q.n, np = r->p.n, start = 0, n;
	int32_t *ids;
	uint8_t *types;

	if (cls < 0 || sep < 0)
		return rag_error_set(err, RAG_EMODEL, "the model's tokenizer has no [CLS]/[SEP] for windows");
	if (w + 3 > limit)
		w = limit > 4 ? limit - 4 : 1;
	if (nq + w + 3 > limit)
		nq = limit - 3 - w;   /* cut the query so a whole window fits */
	if (!(ids = rag_malloc((nq + w + 3) * sizeof *ids)) || !(types = rag_malloc(nq + w + 3))) {
		rag_free(ids);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	doc->n_windows = 0;
	doc->truncated = nq < r->q.n;
	for (;;) {
		size_t len = np - start < w ? np - start : w;
		n = 0;
		ids[n] = cls, types[n++] = 0;
		for (size_t i = 0; i < nq; i++)
			ids[n] = r->q.ids[i], types[n++] = 0;
		ids[n] = sep, types[n++] = 0;
		for (size_t i = 0; i < len; i++)
			ids[n] = r->p.ids[start + i], types[n++] = 1;
		ids[n] = sep, types[n++] = 1;
		if (add_pair(r, ids, types, n, d)) {
			rag_free(ids);
			rag_free(types);
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		}
		doc->n_windows++;
		if (start + w >= np)
			break;
		start += stride;
		if (start + w > np)
			start = np - w;   /* the last window ends at the end */
	}
	rag_free(ids);
	rag_free(types);
	return RAG_OK;
}

static size_t pair_limit(const struct rag_reranker *r, const struct rag_rerank_opts *o)
{
	size_t limit = o->max_tokens > 0 ? (size_t)o->max_tokens : (size_t)rag_encoder_n_ctx(r->enc);
	if (limit > (size_t)rag_encoder_n_ctx(r->enc))
		limit = (size_t)rag_encoder_n_ctx(r->enc);
	return limit;
}

int rag_rerank_pairs_add(const struct rag_reranker *r, const char *query, size_t qlen, struct rag_rerank_doc *doc,
			 size_t d, const struct rag_rerank_opts *o, struct rag_rerank_pairs *pp, struct rag_error *err)
{
	size_t limit = pair_limit(r, o);
	int rc;

	if (o->window > 0) {
		if ((rc = rag_tokenize(r->tok, query, qlen, 0, &pp->q, err)) ||
		    (rc = rag_tokenize(r->tok, doc->text, doc->len, 0, &pp->p, err)))
			return rc;
		return add_windows(r->tok, pp, limit, o, doc, d, err);
	}
	if ((rc = rag_tokenize_pair(r->tok, query, qlen, doc->text, doc->len, RAG_TOK_ADD_SPECIAL | RAG_TOK_OFFSETS,
				    &pp->pair, err)))
		return rc;
	doc->truncated = rag_tokens_truncate(r->tok, &pp->pair, limit, 0);
	doc->n_windows = 1;
	if (add_pair(pp, pp->pair.ids, pp->pair.type_ids, pp->pair.n, d))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	return RAG_OK;
}

void rag_rerank_pairs_seqs(const struct rag_rerank_pairs *pp, struct rag_enc_seq *seqs)
{
	for (size_t i = 0; i < pp->n_seq; i++) {
		size_t end = i + 1 < pp->n_seq ? pp->seq_off[i + 1] : pp->len;
		seqs[i].ids = pp->ids + pp->seq_off[i];
		seqs[i].types = pp->types + pp->seq_off[i];
		seqs[i].n = end - pp->seq_off[i];
	}
}

void rag_rerank_aggregate(const size_t *seq_doc, const float *logits, size_t n_seq, int64_t n_labels,
			  const struct rag_rerank_doc *docs, int mean, float *scores)
{
	for (size_t i = 0; i < n_seq; i++)
		scores[seq_doc[i]] = 0.0f;
	for (size_t i = 0; i < n_seq; i++) {
		size_t d = seq_doc[i];
		float v = logits[i * (size_t)n_labels];
		if (mean)
			scores[d] += v / (float)docs[d].n_windows;
		else if (i == 0 || seq_doc[i - 1] != d || v > scores[d])
			scores[d] = v;
	}
}

int rag_rerank_score(struct rag_reranker *r, const char *query, size_t qlen, struct rag_rerank_doc *docs,
		     size_t n, const struct rag_rerank_opts *o, float *scores, struct rag_error *err)
{
	int64_t nl = rag_encoder_n_labels(r->enc);
	struct rag_rerank_pairs *pp = &r->pp;
	int rc;

	rag_rerank_pairs_reset(pp);
	if (n == 0)
		return RAG_OK;
	for (size_t d = 0; d < n; d++)
		if ((rc = rag_rerank_pairs_add(r, query, qlen, &docs[d], d, o, pp, err)))
			return rc;
	{
		struct rag_enc_seq *s = rag_reallocarray(r->seqs, pp->n_seq, sizeof *s);
		float *lg = rag_reallocarray(r->logits, pp->n_seq * (size_t)nl, sizeof *lg);
		if (s)
			r->seqs = s;
		if (lg)
			r->logits = lg;
		if (!s || !lg)
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	rag_rerank_pairs_seqs(pp, r->seqs);
	if ((rc = rag_encoder_run(r->enc, r->seqs, pp->n_seq, o->batch_tokens, RAG_POOL_RANK, 0, r->logits, err)))
		return rc;
	for (size_t d = 0; d < n; d++)
		scores[d] = 0.0f;
	rag_rerank_aggregate(pp->seq_doc, r->logits, pp->n_seq, nl, docs, o->aggregate_mean, scores);
	return RAG_OK;
}
