/* rerank_pipe.c: the rag-rerank pipeline: parallel checks and pair tokenization, the cross-encoder in its own thread, groups re-ranked in order. */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "alloc.h"
#include "arena.h"
#include "blockpipe.h"
#include "buf.h"
#include "embed.h"
#include "json.h"
#include "jsonl.h"
#include "options.h"
#include "rerank_pipe.h"

/* HIT_OTHER: another shard's hit, bad or without a qid; HIT_OTHER_GOOD:
 * another shard's good hit (it ends the open group, nothing more) */
enum { HIT_OK, HIT_BAD, HIT_FATAL, HIT_OTHER, HIT_OTHER_GOOD };

struct hit {
	int status;
	int other;                   /* its qid is another shard's */
	int starts;                  /* a good hit that starts a new group */
	struct rag_error *err;       /* HIT_BAD / HIT_FATAL (allocated) */
	const char *text;            /* passage (decoded, in an arena) */
	size_t tlen;
	const char *qtext;           /* this hit's own query */
	size_t qlen;
	const char *key;             /* qid as a string key (in an arena) */
	/* the output record up to the rerank score, rendered by the checking
	 * thread: block.render[rt] from roff, rlen bytes */
	int rt;
	size_t roff, rlen;
};

struct block {
	struct rag_blockpipe_block bp; /* the lines, their input name, the encoder's status */
	struct hit *hits;            /* per line */
	size_t hit_cap;
	struct rag_arena *arenas;    /* per host thread */
	struct rag_buf *render;      /* per host thread: rendered record prefixes */
	/* good hits, in order */
	size_t *good;                /* index in hits */
	const char **gq;             /* the query each is scored with */
	size_t *gqlen;
	struct rag_rerank_doc *docs;
	float *scores;
	size_t n_good, good_cap;
	struct rag_buf carry;        /* the query of the group open when the block began */
	/* pairs, per host thread, and all of them for the encoder */
	struct rag_rerank_pairs *pairs;
	struct rag_enc_seq *seqs;
	size_t *seq_doc;
	float *logits;
	size_t n_seq, seq_cap;
};

#define BLOCK(bb) ((struct block *)((char *)(bb) - offsetof(struct block, bp)))

/* The group being assembled for output. */
struct group {
	struct rag_buf raw;          /* hits' rendered prefixes (struct hit), back to back */
	size_t *raw_off;             /* n + 1 offsets */
	float *scores;
	struct order { float s; size_t i; } *order;
	size_t n, cap;
	struct rag_buf out;
};

struct rag_rerank_pipe {
	struct rag_reranker *r;
	struct rag_rerank_opts ro;
	struct rag_rerank_pipe_opts po;
	int threads;
	int64_t n_labels;
	struct block blk[2];
	struct rag_blockpipe bp;     /* reading, the encoder thread, ordered delivery */
	struct rag_buf rd_key, rd_query; /* the open group as the reader sees it */
	int rd_open;
	struct group g;
	uint64_t n_written;
	size_t n_bad;
};

void rag_rerank_pipe_opts_init(struct rag_rerank_pipe_opts *po)
{
	memset(po, 0, sizeof *po);
}

/* On the encoder thread. */
static int block_run(void *ctx, struct rag_blockpipe_block *bb, struct rag_error *err)
{
	struct rag_rerank_pipe *p = ctx;
	struct block *b = BLOCK(bb);

	return rag_encoder_run(rag_reranker_encoder(p->r), b->seqs, b->n_seq, p->ro.batch_tokens, RAG_POOL_RANK, 0,
			       b->logits, err);
}

static void block_clear_errors(struct block *b)
{
	for (size_t i = 0; i < b->bp.n && b->hits; i++) {
		rag_free(b->hits[i].err);
		b->hits[i].err = NULL;
	}
}

static void block_release(struct block *b, int threads)
{
	block_clear_errors(b);
	rag_buf_free(&b->carry);
	rag_free(b->hits);
	for (int t = 0; b->arenas && t < threads; t++)
		rag_arena_free(&b->arenas[t]);
	rag_free(b->arenas);
	for (int t = 0; b->render && t < threads; t++)
		rag_buf_free(&b->render[t]);
	rag_free(b->render);
	for (int t = 0; b->pairs && t < threads; t++)
		rag_rerank_pairs_release(&b->pairs[t]);
	rag_free(b->pairs);
	rag_free(b->good);
	rag_free(b->gq);
	rag_free(b->gqlen);
	rag_free(b->docs);
	rag_free(b->scores);
	rag_free(b->seqs);
	rag_free(b->seq_doc);
	rag_free(b->logits);
	memset(b, 0, sizeof *b);
}

static void group_release(struct group *g)
{
	rag_buf_free(&g->raw);
	rag_buf_free(&g->out);
	rag_free(g->raw_off);
	rag_free(g->scores);
	rag_free(g->order);
}

uint64_t rag_rerank_pipe_n_written(const struct rag_rerank_pipe *p) { return p->n_written; }
size_t rag_rerank_pipe_n_bad(const struct rag_rerank_pipe *p) { return p->n_bad; }

/* The blockpipe's reset: b is about to be refilled. */
static void block_reset(void *ctx, struct rag_blockpipe_block *bb)
{
	struct rag_rerank_pipe *p = ctx;
	struct block *b = BLOCK(bb);

	block_clear_errors(b);
	b->n_good = b->n_seq = 0;
	for (int t = 0; t < p->threads; t++) {
		rag_arena_reset(&b->arenas[t]);
		rag_rerank_pairs_reset(&b->pairs[t]);
		rag_buf_reset(&b->render[t]);
	}
}

static void hit_fail(struct hit *h, int status, const struct rag_error *e)
{
	h->status = status;
	h->err = rag_malloc(sizeof *h->err);
	if (h->err)
		*h->err = *e;
	else
		h->status = HIT_FATAL;
}

/* Hit h is bad for a reason found here: "NAME: line N: reason" (as rag_jsonl_reject). */
static void reject(const struct block *b, struct hit *h, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reject(const struct block *b, struct hit *h, const char *fmt, ...)
{
	char reason[RAG_ERROR_MSG_MAX];
	struct rag_error e;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	rag_error_set(&e, RAG_EDATA, "%s: line %zu: %s", b->bp.name, b->bp.line[h - b->hits].lineno, reason);
	hit_fail(h, HIT_BAD, &e);
}

/*
 * The output record as far as the rerank score, while the parsed hit is at
 * hand: every field but score, rank and scores, then "scores" opened with
 * the earlier legs' entries and the "rerank" key.  group_flush appends the
 * rest once the group is sorted, so no line is parsed twice.
 */
static void render_prefix(struct block *b, struct hit *h, const struct rag_json *v, int t)
{
	static const char *const drop[] = { "score", "rank", "scores", NULL };
	static const char *const drop_rerank[] = { "rerank", NULL };
	struct rag_buf *rb = &b->render[t];
	const struct rag_json *old = rag_json_get(v, "scores");
	struct rag_objw w, s;
	struct rag_error e;

	h->rt = t;
	h->roff = rb->len;
	rag_objw_begin(&w, rb);
	rag_objw_copy(&w, v, drop);
	rag_objw_key(&w, "scores");
	rag_objw_begin(&s, rb);
	if (old && old->type == RAG_JSON_OBJECT)
		rag_objw_copy(&s, old, drop_rerank);
	rag_objw_key(&s, "rerank");
	h->rlen = rb->len - h->roff;
	if (rag_buf_failed(rb)) {
		rag_error_set(&e, RAG_EINTERNAL, "out of memory");
		hit_fail(h, HIT_FATAL, &e);
	}
}

/* Parse and check hit i (any thread), as rag-rerank always has, in the same order. */
static void check_hit(struct rag_rerank_pipe *p, struct block *b, size_t i, int t)
{
	struct hit *h = &b->hits[i];
	const struct rag_blockpipe_line *ln = &b->bp.line[i];
	struct rag_arena *a = &b->arenas[t];
	struct rag_json *v;
	const struct rag_json *text, *query;
	struct rag_error e, e2;
	const char *sk;
	size_t sklen;
	int st;

	rag_error_clear(&e);
	h->status = HIT_OK;
	st = rag_json_parse(a, b->bp.lines.data + ln->off, ln->len, &v, &e);
	if (st == RAG_EINTERNAL) {
		hit_fail(h, HIT_FATAL, &e);
		return;
	}
	/* another shard's qid: checked on (never reported) only to learn whether
	 * it is a good hit, which would end the open group */
	sk = st == RAG_OK ? rag_shard_json_key(rag_json_get(v, "qid"), &sklen) : NULL;
	h->other = !rag_shard_keeps_key(&p->po.shard, sk, sklen, ln->lineno);
	if (h->other && !sk) {
		h->status = HIT_OTHER;
		return;
	}
	if (st == RAG_OK && v->type != RAG_JSON_OBJECT) {
		rag_error_set(&e, RAG_EDATA, "not a JSON object");
		st = RAG_EDATA;
	}
	if (st) {
		rag_error_prefix(&e, "%s: line %zu: ", b->bp.name, ln->lineno);
		hit_fail(h, HIT_BAD, &e);
		return;
	}
#define REJECT(...)                                     \
	do {                                            \
		reject(b, h, __VA_ARGS__);              \
		return;                                 \
	} while (0)
	text = rag_json_get(v, p->po.field);
	if (!sk)
		REJECT("a hit needs a qid (string or number)");
	if (!text || text->type != RAG_JSON_STRING)
		REJECT(text ? "field '%s' is not a string" : "no field '%s'", p->po.field);
	if (rag_text_check(text->u.str.s, text->u.str.len, &e2))
		REJECT("passage: %s", e2.msg);
	h->text = text->u.str.s;
	h->tlen = text->u.str.len;
	if (!(h->key = rag_arena_strndup(a, sk, sklen))) {
		rag_error_set(&e, RAG_EINTERNAL, "out of memory");
		hit_fail(h, HIT_FATAL, &e);
		return;
	}
	query = rag_json_get(v, "query");
	if (p->po.lookup) {
		h->qtext = p->po.lookup(p->po.lookup_ctx, h->key, &h->qlen);
	} else {
		h->qtext = query && query->type == RAG_JSON_STRING ? query->u.str.s : NULL;
		h->qlen = h->qtext ? query->u.str.len : 0;
	}
	if (!h->qtext) {
		if (p->po.lookup)
			REJECT("qid '%s' is not in the queries file", h->key);
		REJECT("no query text (a string field 'query', or --queries)");
	}
	if (rag_text_check(h->qtext, h->qlen, &e2))
		REJECT("query: %s", e2.msg);
#undef REJECT
	if (h->other) {
		h->status = HIT_OTHER_GOOD;
		return;
	}
	render_prefix(b, h, v, t);
}

static void check_one(struct rag_rerank_pipe *p, struct block *b, size_t i, int t)
{
	struct hit *h = &b->hits[i];

	check_hit(p, b, i, t);
	if (h->other && h->status == HIT_BAD) {
		rag_free(h->err);  /* another shard reports it */
		h->err = NULL;
		h->status = HIT_OTHER;
	}
}

static int block_reserve(struct block *b)
{
	size_t n = b->bp.n;

	if (n > b->hit_cap) {
		struct hit *h = rag_reallocarray(b->hits, n, sizeof *h);
		if (!h)
			return -1;
		b->hits = h;
		b->hit_cap = n;
	}
	if (n)
		memset(b->hits, 0, n * sizeof *b->hits);
	if (n > b->good_cap) {
		size_t *g = rag_reallocarray(b->good, n, sizeof *g);
		if (g)
			b->good = g;
		const char **gq = rag_reallocarray(b->gq, n, sizeof *gq);
		if (gq)
			b->gq = gq;
		size_t *gl = rag_reallocarray(b->gqlen, n, sizeof *gl);
		if (gl)
			b->gqlen = gl;
		struct rag_rerank_doc *d = rag_reallocarray(b->docs, n, sizeof *d);
		if (d)
			b->docs = d;
		float *s = rag_reallocarray(b->scores, n, sizeof *s);
		if (s)
			b->scores = s;
		if (!g || !gq || !gl || !d || !s)
			return -1;
		b->good_cap = n;
	}
	return 0;
}

/* Check in parallel, then decide in input order: bad hits, groups and the
 * query each good hit is scored with.  Returns the first fatal error. */
static int block_check(struct rag_rerank_pipe *p, struct block *b, struct rag_error *err)
{
	const char *cq;
	size_t cqlen;

	if (block_reserve(b))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	if (b->bp.n > 1 && p->threads > 1) {
		#pragma omp parallel num_threads(p->threads)
		{
			int t = 0;
#ifdef _OPENMP
			t = omp_get_thread_num();
#endif
			#pragma omp for schedule(dynamic, 8)
			for (size_t i = 0; i < b->bp.n; i++)
				check_one(p, b, i, t);
		}
	} else {
		for (size_t i = 0; i < b->bp.n; i++)
			check_one(p, b, i, 0);
	}
	rag_buf_reset(&b->carry);
	rag_buf_add(&b->carry, p->rd_query.data ? p->rd_query.data : "", p->rd_query.len);
	if (rag_buf_reserve(&b->carry, 0))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	cq = b->carry.data;
	cqlen = b->carry.len;
	b->n_good = 0;
	for (size_t i = 0; i < b->bp.n && !err->code; i++) {
		struct hit *h = &b->hits[i];
		if (h->status == HIT_OTHER)
			continue;
		if (h->status == HIT_OTHER_GOOD) {
			p->rd_open = 0;  /* its own group ends ours, as unsharded */
			continue;
		}
		if (h->status != HIT_OK) {
			if (!h->err) {
				rag_error_set(err, RAG_EINTERNAL, "out of memory");
			} else if (h->status == HIT_BAD && p->po.skip_bad) {
				p->n_bad++;
				if (p->po.on_bad)
					p->po.on_bad(p->po.on_bad_ctx, h->err);
			} else {
				*err = *h->err;
			}
			continue;
		}
		/* a new qid starts a new group, scored with its first hit's query */
		if (!p->rd_open || strcmp(p->rd_key.data, h->key) != 0) {
			rag_buf_reset(&p->rd_key);
			rag_buf_adds(&p->rd_key, h->key);
			p->rd_open = 1;
			cq = h->qtext;
			cqlen = h->qlen;
			h->starts = 1;
		}
		b->good[b->n_good] = i;
		b->gq[b->n_good] = cq;
		b->gqlen[b->n_good] = cqlen;
		b->docs[b->n_good].text = h->text;
		b->docs[b->n_good].len = h->tlen;
		b->n_good++;
	}
	rag_buf_reset(&p->rd_query);
	rag_buf_add(&p->rd_query, cq, cqlen);
	if (rag_buf_failed(&p->rd_key) || rag_buf_failed(&p->rd_query))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	return err->code;
}

/* Tokenize the good hits' pairs: thread t takes a contiguous share, so the
 * shares joined in thread order are in input order. */
static int block_tokenize(struct rag_rerank_pipe *p, struct block *b, struct rag_error *err)
{
	int T = p->threads, failed = 0;
	size_t n_seq = 0;

	if (b->n_good == 0)
		return RAG_OK;
	if ((size_t)T > b->n_good)
		T = (int)b->n_good;
	for (int t = 0; t < p->threads; t++)
		rag_rerank_pairs_reset(&b->pairs[t]);
	#pragma omp parallel num_threads(T) if (T > 1) reduction(|| : failed)
	{
		int t = 0, nt = 1;
		struct rag_error e;
#ifdef _OPENMP
		t = omp_get_thread_num();
		nt = omp_get_num_threads();
#endif
		size_t k0 = b->n_good * (size_t)t / (size_t)nt, k1 = b->n_good * (size_t)(t + 1) / (size_t)nt;
		for (size_t k = k0; k < k1 && !failed; k++)
			if (rag_rerank_pairs_add(p->r, b->gq[k], b->gqlen[k], &b->docs[k], k, &p->ro, &b->pairs[t], &e)) {
				failed = 1;
				#pragma omp critical(rerank_pipe_err)
				if (!err->code)
					*err = e;
			}
	}
	if (failed)
		return err->code ? err->code : rag_error_set(err, RAG_EINTERNAL, "tokenization failed");
	for (int t = 0; t < p->threads; t++)
		n_seq += b->pairs[t].n_seq;
	if (n_seq > b->seq_cap) {
		struct rag_enc_seq *s = rag_reallocarray(b->seqs, n_seq, sizeof *s);
		size_t *sd;
		float *lg;
		if (s)
			b->seqs = s;
		sd = rag_reallocarray(b->seq_doc, n_seq, sizeof *sd);
		if (sd)
			b->seq_doc = sd;
		lg = rag_reallocarray(b->logits, n_seq * (size_t)p->n_labels, sizeof *lg);
		if (lg)
			b->logits = lg;
		if (!s || !sd || !lg)
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		b->seq_cap = n_seq;
	}
	b->n_seq = 0;
	for (int t = 0; t < p->threads; t++) {
		if (!b->pairs[t].n_seq)
			continue;   /* a thread without pairs has no arrays either */
		rag_rerank_pairs_seqs(&b->pairs[t], b->seqs + b->n_seq);
		memcpy(b->seq_doc + b->n_seq, b->pairs[t].seq_doc, b->pairs[t].n_seq * sizeof *b->seq_doc);
		b->n_seq += b->pairs[t].n_seq;
	}
	return RAG_OK;
}

static int cmp_order(const void *a, const void *b)
{
	const struct order *x = a, *y = b;
	if (x->s != y->s)
		return x->s > y->s ? -1 : 1;
	return x->i < y->i ? -1 : (x->i > y->i);
}

/* Sort, cut and write the assembled group: each hit's rendered prefix, then
 * its rerank entry, score and rank. */
static int group_flush(struct rag_rerank_pipe *p, struct rag_error *err)
{
	struct group *g = &p->g;
	size_t keep;
	int rc;

	if (g->n == 0)
		return RAG_OK;
	for (size_t i = 0; i < g->n; i++) {
		if (p->po.sigmoid)
			g->scores[i] = 1.0f / (1.0f + expf(-g->scores[i]));
		g->order[i].s = g->scores[i];
		g->order[i].i = i;
	}
	qsort(g->order, g->n, sizeof *g->order, cmp_order);
	keep = p->po.top_k > 0 && (size_t)p->po.top_k < g->n ? (size_t)p->po.top_k : g->n;
	rag_buf_reset(&g->out);
	for (size_t k = 0; k < keep; k++) {
		size_t i = g->order[k].i;
		rag_buf_add(&g->out, g->raw.data + g->raw_off[i], g->raw_off[i + 1] - g->raw_off[i]);
		/* same shape as rag-retrieve's legs */
		rag_buf_adds(&g->out, "{\"score\":");
		rag_json_write_float(&g->out, g->scores[i]);
		rag_buf_adds(&g->out, ",\"rank\":");
		rag_json_write_num(&g->out, (double)(k + 1));
		rag_buf_adds(&g->out, "}},\"score\":");
		rag_json_write_float(&g->out, g->scores[i]);
		rag_buf_adds(&g->out, ",\"rank\":");
		rag_json_write_num(&g->out, (double)(k + 1));
		rag_buf_adds(&g->out, "}\n");
	}
	if (rag_buf_failed(&g->out))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	if ((rc = rag_buf_write(&g->out, p->po.out, p->po.out_name, err)))
		return rc;
	p->n_written += keep;
	if (p->po.on_written)
		p->po.on_written(p->po.on_written_ctx, p->n_written);
	g->n = 0;
	rag_buf_reset(&g->raw);
	return RAG_OK;
}

static int group_add(struct group *g, const char *prefix, size_t len, float score)
{
	if (g->n + 1 >= g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 64;
		size_t *ro = rag_reallocarray(g->raw_off, cap, sizeof *ro);
		float *sc;
		struct order *o;
		if (!ro)
			return -1;
		g->raw_off = ro;
		if (!(sc = rag_reallocarray(g->scores, cap, sizeof *sc)))
			return -1;
		g->scores = sc;
		if (!(o = rag_reallocarray(g->order, cap, sizeof *o)))
			return -1;
		g->order = o;
		g->cap = cap;
	}
	g->raw_off[g->n] = g->raw.len;
	g->scores[g->n] = score;
	rag_buf_add(&g->raw, prefix, len);
	if (rag_buf_failed(&g->raw))
		return -1;
	g->n++;
	g->raw_off[g->n] = g->raw.len;
	return 0;
}

/* The scored block's hits into groups, in order; finished groups written. */
static int block_deliver(void *ctx, struct rag_blockpipe_block *bb, struct rag_error *err)
{
	struct rag_rerank_pipe *p = ctx;
	struct block *b = BLOCK(bb);
	struct group *g = &p->g;
	int rc;

	rag_rerank_aggregate(b->seq_doc, b->logits, b->n_seq, p->n_labels, b->docs, p->ro.aggregate_mean, b->scores);
	for (size_t k = 0; k < b->n_good; k++) {
		const struct hit *h = &b->hits[b->good[k]];
		/* block_check marks each hit that starts a group (a new qid, or
		 * the first after another shard's good hit) */
		if (g->n && h->starts && (rc = group_flush(p, err)))
			return rc;
		if (group_add(g, b->render[h->rt].data + h->roff, h->rlen, b->scores[k]))
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	return RAG_OK;
}

/* The blockpipe's prepare: the checks (a bad hit stops the input after the
 * good ones before it), then the pairs' tokens (a failure there stops all). */
static int block_prepare(void *ctx, struct rag_blockpipe_block *bb, int *stop_rc, struct rag_error *stop_err,
			 struct rag_error *err)
{
	struct rag_rerank_pipe *p = ctx;
	struct block *b = BLOCK(bb);

	/* the good hits before a bad one still go through: the groups they
	 * finish are written, the one the bad hit interrupts is not */
	*stop_rc = block_check(p, b, stop_err);
	return block_tokenize(p, b, err);
}

static int block_start(void *ctx, struct rag_blockpipe_block *bb, int *go, struct rag_error *err)
{
	(void)ctx;
	(void)err;
	*go = BLOCK(bb)->n_seq > 0;
	return RAG_OK;
}

static const struct rag_blockpipe_ops block_ops = {
	.reset = block_reset,
	.prepare = block_prepare,
	.start = block_start,
	.run = block_run,
	.deliver = block_deliver,
};

int rag_rerank_pipe_file(struct rag_rerank_pipe *p, const char *path, struct rag_error *err)
{
	return rag_blockpipe_file(&p->bp, path, err);
}

int rag_rerank_pipe_finish(struct rag_rerank_pipe *p, struct rag_error *err)
{
	int rc;

	if ((rc = rag_blockpipe_finish(&p->bp, err)))
		return rc;
	/* the last group, unless an input failed in the middle of it */
	if (!p->bp.input_failed && (rc = group_flush(p, err)))
		return rag_blockpipe_set_broken(&p->bp, rc, err);
	return RAG_OK;
}

int rag_rerank_pipe_new(struct rag_reranker *r, const struct rag_rerank_opts *ro,
			const struct rag_rerank_pipe_opts *po, struct rag_rerank_pipe **out, struct rag_error *err)
{
	struct rag_rerank_pipe *p;
	int rc;

	*out = NULL;
	if (!(p = rag_calloc(1, sizeof *p)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	p->r = r;
	p->ro = *ro;
	p->po = *po;
	if (!p->po.field)
		p->po.field = "text";
	if (!p->po.out_name)
		p->po.out_name = "standard output";
	p->threads = rag_blockpipe_defaults(&p->po.block_bytes, &p->po.block_records, p->ro.batch_tokens, po->threads);
	p->n_labels = rag_encoder_n_labels(rag_reranker_encoder(r));
	rag_buf_init(&p->rd_key);
	rag_buf_init(&p->rd_query);
	rag_buf_init(&p->g.raw);
	rag_buf_init(&p->g.out);
	for (int i = 0; i < 2; i++) {
		struct block *b = &p->blk[i];
		rag_buf_init(&b->carry);
		b->arenas = rag_calloc((size_t)p->threads, sizeof *b->arenas);
		b->pairs = rag_calloc((size_t)p->threads, sizeof *b->pairs);
		b->render = rag_calloc((size_t)p->threads, sizeof *b->render);
		if (!b->arenas || !b->pairs || !b->render) {
			rag_rerank_pipe_free(p);
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		}
		for (int t = 0; t < p->threads; t++) {
			rag_arena_init(&b->arenas[t]);
			rag_rerank_pairs_init(&b->pairs[t]);
			rag_buf_init(&b->render[t]);
		}
	}
	if ((rc = rag_blockpipe_init(&p->bp, &block_ops, p, &p->blk[0].bp, &p->blk[1].bp, p->po.block_bytes,
				     p->po.block_records, err))) {
		rag_rerank_pipe_free(p);
		return rc;
	}
	*out = p;
	return RAG_OK;
}

void rag_rerank_pipe_free(struct rag_rerank_pipe *p)
{
	if (!p)
		return;
	rag_blockpipe_release(&p->bp);  /* the encoder thread stops first */
	for (int i = 0; i < 2; i++)
		block_release(&p->blk[i], p->threads);
	group_release(&p->g);
	rag_buf_free(&p->rd_key);
	rag_buf_free(&p->rd_query);
	rag_free(p);
}
