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
	struct rag_tokens q, p, pair;
	/* pairs of the current call, packed */
	int32_t *ids;
	uint8_t *types;
	size_t cap, len;
	struct rag_enc_seq *seqs;
	size_t *seq_off;       /* offset of each pair in ids */
	size_t *seq_doc;       /* which doc each pair belongs to */
	size_t seq_cap, n_seq;
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
	rag_tokens_init(&r->q);
	rag_tokens_init(&r->p);
	rag_tokens_init(&r->pair);
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
	rag_tokens_free(&r->q);
	rag_tokens_free(&r->p);
	rag_tokens_free(&r->pair);
	rag_free(r->ids);
	rag_free(r->types);
	rag_free(r->seqs);
	rag_free(r->seq_off);
	rag_free(r->seq_doc);
	rag_free(r->logits);
	rag_free(r);
}

struct rag_encoder *rag_reranker_encoder(struct rag_reranker *r) { return r->enc; }

/* Append one pair (ids/types, n tokens) for doc d. */
static int add_pair(struct rag_reranker *r, const int32_t *ids, const uint8_t *types, size_t n, size_t d)
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
static int add_windows(struct rag_reranker *r, size_t limit, const struct rag_rerank_opts *o,
		       struct rag_rerank_doc *doc, size_t d, struct rag_error *err)
{
	int32_t cls = rag_tokenizer_special(r->tok, RAG_TOK_CLS), sep = rag_tokenizer_special(r->tok, RAG_TOK_SEP);
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

int rag_rerank_score(struct rag_reranker *r, const char *query, size_t qlen, struct rag_rerank_doc *docs,
		     size_t n, const struct rag_rerank_opts *o, float *scores, struct rag_error *err)
{
	size_t limit = o->max_tokens > 0 ? (size_t)o->max_tokens : (size_t)rag_encoder_n_ctx(r->enc);
	int64_t nl = rag_encoder_n_labels(r->enc);
	int rc;

	if (limit > (size_t)rag_encoder_n_ctx(r->enc))
		limit = (size_t)rag_encoder_n_ctx(r->enc);
	r->len = 0;
	r->n_seq = 0;
	if (n == 0)
		return RAG_OK;
	if (o->window > 0 && (rc = rag_tokenize(r->tok, query, qlen, 0, &r->q, err)))
		return rc;
	for (size_t d = 0; d < n; d++) {
		if (o->window > 0) {
			if ((rc = rag_tokenize(r->tok, docs[d].text, docs[d].len, 0, &r->p, err)) ||
			    (rc = add_windows(r, limit, o, &docs[d], d, err)))
				return rc;
			continue;
		}
		if ((rc = rag_tokenize_pair(r->tok, query, qlen, docs[d].text, docs[d].len,
					    RAG_TOK_ADD_SPECIAL | RAG_TOK_OFFSETS, &r->pair, err)))
			return rc;
		docs[d].truncated = rag_tokens_truncate(r->tok, &r->pair, limit, 0);
		docs[d].n_windows = 1;
		if (add_pair(r, r->pair.ids, r->pair.type_ids, r->pair.n, d))
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	{
		struct rag_enc_seq *s = rag_reallocarray(r->seqs, r->n_seq, sizeof *s);
		float *lg = rag_reallocarray(r->logits, r->n_seq * (size_t)nl, sizeof *lg);
		if (s)
			r->seqs = s;
		if (lg)
			r->logits = lg;
		if (!s || !lg)
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	for (size_t i = 0; i < r->n_seq; i++) {
		size_t end = i + 1 < r->n_seq ? r->seq_off[i + 1] : r->len;
		r->seqs[i].ids = r->ids + r->seq_off[i];
		r->seqs[i].types = r->types + r->seq_off[i];
		r->seqs[i].n = end - r->seq_off[i];
	}
	if ((rc = rag_encoder_run(r->enc, r->seqs, r->n_seq, o->batch_tokens, RAG_POOL_RANK, 0, r->logits, err)))
		return rc;
	for (size_t d = 0; d < n; d++)
		scores[d] = 0.0f;
	for (size_t i = 0; i < r->n_seq; i++) {
		size_t d = r->seq_doc[i];
		float v = r->logits[i * (size_t)nl];
		if (o->aggregate_mean)
			scores[d] += v / (float)docs[d].n_windows;
		else if (i == 0 || r->seq_doc[i - 1] != d || v > scores[d])
			scores[d] = v;
	}
	return RAG_OK;
}
