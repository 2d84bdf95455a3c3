/* embed_pipe.c: the rag-embed pipeline: parallel parse and tokenize, the encoder in its own thread, ordered output. */
#include "config.h"

#include <stddef.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "alloc.h"
#include "arena.h"
#include "blockpipe.h"
#include "buf.h"
#include "embed_pipe.h"
#include "json.h"
#include "jsonl.h"
#include "options.h"

/* What the parallel pass found for one input line. */
enum { REC_OK, REC_BAD, REC_FATAL, REC_OTHER_SHARD };

struct rec {
	const struct rag_json *json; /* parsed (in one of the block's arenas) */
	int status;
	struct rag_error *err;       /* REC_BAD / REC_FATAL: the error (allocated) */
};

/* A good record on its way to the encoder and the output. */
struct good {
	size_t rec;                  /* index in recs */
	size_t row;                  /* its first row in vec */
};

struct block {
	struct rag_blockpipe_block bp; /* the lines, their input name, the encoder's status */
	struct rec *recs;            /* per line */
	size_t rec_cap;
	struct rag_embed_seq *seqs;  /* per rec (ids owned, reused across blocks) */
	size_t seq_cap;
	struct good *good;
	struct rag_embed_seq *run;   /* shallow copies of the good records' seqs */
	size_t n_good, good_cap, n_rows;
	float *vec;
	size_t vec_cap;
	struct rag_arena *arenas;    /* one per host thread: parse trees */
};

#define BLOCK(bb) ((struct block *)((char *)(bb) - offsetof(struct block, bp)))

struct rag_embed_pipe {
	struct rag_embedder *m;
	struct rag_embed_opts eo;
	struct rag_embed_pipe_opts po;
	int threads;
	int64_t dim;
	enum rag_pooling pool;
	struct rag_embed_scratch *scratch; /* per host thread */
	struct rag_buf *outb;        /* per host thread: formatted records */
	struct block blk[2];
	struct rag_blockpipe bp;     /* reading, the encoder thread, ordered delivery */
	uint64_t n_written, rows;
	size_t n_bad;
};

void rag_embed_pipe_opts_init(struct rag_embed_pipe_opts *po)
{
	memset(po, 0, sizeof *po);
}

/* On the encoder thread. */
static int block_run(void *ctx, struct rag_blockpipe_block *bb, struct rag_error *err)
{
	struct rag_embed_pipe *p = ctx;
	struct block *b = BLOCK(bb);

	return rag_embed_run(p->m, b->run, b->n_good, &p->eo, b->vec, err);
}

static void block_clear_errors(struct block *b)
{
	for (size_t i = 0; i < b->bp.n && b->recs; i++) {
		rag_free(b->recs[i].err);
		b->recs[i].err = NULL;
	}
}

static void block_release(struct block *b, int threads)
{
	block_clear_errors(b);
	for (size_t i = 0; i < b->seq_cap; i++)
		rag_embed_seq_free(&b->seqs[i]);
	rag_free(b->seqs);
	rag_free(b->recs);
	rag_free(b->good);
	rag_free(b->run);
	rag_free(b->vec);
	for (int t = 0; b->arenas && t < threads; t++)
		rag_arena_free(&b->arenas[t]);
	rag_free(b->arenas);
	memset(b, 0, sizeof *b);
}

/* The blockpipe's reset: b is about to be refilled. */
static void block_reset(void *ctx, struct rag_blockpipe_block *bb)
{
	struct rag_embed_pipe *p = ctx;
	struct block *b = BLOCK(bb);

	block_clear_errors(b);
	b->n_good = b->n_rows = 0;
	for (int t = 0; t < p->threads; t++)
		rag_arena_reset(&b->arenas[t]);
}

/* Room for n records' sequences, good list and run copies. */
static int block_reserve(struct block *b)
{
	size_t n = b->bp.n;

	if (n > b->rec_cap) {
		struct rec *r = rag_reallocarray(b->recs, n, sizeof *r);
		if (!r)
			return -1;
		b->recs = r;
		b->rec_cap = n;
	}
	if (n)
		memset(b->recs, 0, n * sizeof *b->recs);
	if (n > b->seq_cap) {
		struct rag_embed_seq *s = rag_reallocarray(b->seqs, n, sizeof *s);
		if (!s)
			return -1;
		memset(s + b->seq_cap, 0, (n - b->seq_cap) * sizeof *s);
		b->seqs = s;
		b->seq_cap = n;
	}
	if (n > b->good_cap) {
		struct good *g = rag_reallocarray(b->good, n, sizeof *g);
		struct rag_embed_seq *run;
		if (!g)
			return -1;
		b->good = g;
		if (!(run = rag_reallocarray(b->run, n, sizeof *run)))
			return -1;
		b->run = run;
		b->good_cap = n;
	}
	return 0;
}

/* Keep e as record i's error. */
static void rec_fail(struct rec *rc, int status, const struct rag_error *e)
{
	rc->status = status;
	rc->err = rag_malloc(sizeof *rc->err);
	if (rc->err)
		*rc->err = *e;
	else
		rc->status = REC_FATAL; /* reported as out of memory */
}

/* Parse, check and tokenize record i (any thread; t is its index). */
static void prepare_one(struct rag_embed_pipe *p, struct block *b, size_t i, int t)
{
	struct rec *rc = &b->recs[i];
	const struct rag_blockpipe_line *ln = &b->bp.line[i];
	const char *line = b->bp.lines.data + ln->off;
	struct rag_json *v;
	const struct rag_json *f;
	struct rag_error e;
	int st;

	rag_error_clear(&e);
	st = rag_json_parse(&b->arenas[t], line, ln->len, &v, &e);
	if (st == RAG_EINTERNAL) {
		rec_fail(rc, REC_FATAL, &e);
		return;
	}
	if (!rag_shard_keeps_record(&p->po.shard, st == RAG_OK ? v : NULL, rag_shard_doc_keys, ln->lineno)) {
		rc->status = REC_OTHER_SHARD;
		return;
	}
	if (st == RAG_OK && v->type != RAG_JSON_OBJECT) {
		rag_error_set(&e, RAG_EDATA, "not a JSON object");
		st = RAG_EDATA;
	}
	if (st) {
		rag_error_prefix(&e, "%s: line %zu: ", b->bp.name, ln->lineno);
		rec_fail(rc, REC_BAD, &e);
		return;
	}
	rc->json = v;
	f = rag_json_get(v, p->po.field);
	if (!f || f->type != RAG_JSON_STRING) {
		rag_error_set(&e, RAG_EDATA, f ? "%s: line %zu: field '%s' is not a string" : "%s: line %zu: no field '%s'",
			      b->bp.name, ln->lineno, p->po.field);
		rec_fail(rc, REC_BAD, &e);
		return;
	}
	st = rag_embed_prepare_r(p->m, f->u.str.s, f->u.str.len, &p->eo, &p->scratch[t], &b->seqs[i], &e);
	if (st == RAG_EDATA) {
		struct rag_error e2;
		rag_error_set(&e2, RAG_EDATA, "%s: line %zu: %s", b->bp.name, ln->lineno, e.msg);
		rec_fail(rc, REC_BAD, &e2);
	} else if (st) {
		rec_fail(rc, REC_FATAL, &e);
	}
}

/* The parallel pass, then the serial one in input order.  Returns the first
 * fatal error (the block then ends before that record). */
static int prepare_records(struct rag_embed_pipe *p, struct block *b, struct rag_error *err)
{
	size_t row = 0;

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
				prepare_one(p, b, i, t);
		}
	} else {
		for (size_t i = 0; i < b->bp.n; i++)
			prepare_one(p, b, i, 0);
	}
	b->n_good = 0;
	for (size_t i = 0; i < b->bp.n; i++) {
		struct rec *rc = &b->recs[i];
		if (rc->status == REC_OK) {
			size_t nr = p->pool == RAG_POOL_NONE ? b->seqs[i].n : 1;
			b->good[b->n_good].rec = i;
			b->good[b->n_good].row = row;
			b->run[b->n_good] = b->seqs[i];
			b->n_good++;
			row += nr;
			continue;
		}
		if (rc->status == REC_OTHER_SHARD)
			continue;
		if (!rc->err) {
			b->n_rows = row;
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		}
		if (rc->status == REC_BAD && p->po.skip_bad) {
			p->n_bad++;
			if (p->po.on_bad)
				p->po.on_bad(p->po.on_bad_ctx, rc->err);
			continue;
		}
		*err = *rc->err;
		b->n_rows = row;
		return err->code ? err->code : RAG_EDATA;
	}
	b->n_rows = row;
	return RAG_OK;
}

/* The blockpipe's prepare: a bad record stops the input after the good
 * ones before it. */
static int block_prepare(void *ctx, struct rag_blockpipe_block *bb, int *stop_rc, struct rag_error *stop_err,
			 struct rag_error *err)
{
	(void)err;
	*stop_rc = prepare_records(ctx, BLOCK(bb), stop_err);
	return RAG_OK;
}

/* Format one good record into out. */
static void format_one(struct rag_embed_pipe *p, const struct block *b, size_t k, struct rag_buf *out)
{
	static const char *const drop[] = { "embedding", "n_tokens", "truncated", NULL };
	const struct good *g = &b->good[k];
	const struct rag_embed_seq *s = &b->seqs[g->rec];
	const float *v = b->vec + g->row * (size_t)p->dim;
	size_t nr = p->pool == RAG_POOL_NONE ? s->n : 1;
	struct rag_objw w;

	rag_objw_begin(&w, out);
	rag_objw_copy(&w, b->recs[g->rec].json, drop);
	if (p->po.npy) {
		rag_objw_key(&w, "row");
		rag_json_write_num(out, (double)(p->rows + g->row));
	} else {
		rag_objw_key(&w, "embedding");
		if (p->pool == RAG_POOL_NONE) {
			rag_buf_addc(out, '[');
			for (size_t t = 0; t < nr; t++) {
				if (t)
					rag_buf_addc(out, ',');
				rag_json_write_floats(out, v + t * (size_t)p->dim, (size_t)p->dim);
			}
			rag_buf_addc(out, ']');
		} else {
			rag_json_write_floats(out, v, (size_t)p->dim);
		}
	}
	rag_objw_key(&w, "n_tokens");
	rag_json_write_num(out, (double)s->n);
	rag_objw_key(&w, "truncated");
	rag_buf_adds(out, s->truncated ? "true" : "false");
	rag_objw_end(&w);
	rag_buf_addc(out, '\n');
}

/* Format b's records on the host threads (contiguous shares, so that
 * writing the buffers in thread order keeps input order) and write them. */
static int block_write(void *ctx, struct rag_blockpipe_block *bb, struct rag_error *err)
{
	struct rag_embed_pipe *p = ctx;
	struct block *b = BLOCK(bb);
	int T = p->threads;
	int rc;

	if (b->n_good == 0)
		return RAG_OK;
	if ((size_t)T > b->n_good)
		T = (int)b->n_good;
	#pragma omp parallel num_threads(T) if (T > 1)
	{
		int t = 0, nt = 1;
#ifdef _OPENMP
		t = omp_get_thread_num();
		nt = omp_get_num_threads();
#endif
		size_t k0 = b->n_good * (size_t)t / (size_t)nt, k1 = b->n_good * (size_t)(t + 1) / (size_t)nt;
		rag_buf_reset(&p->outb[t]);
		for (size_t k = k0; k < k1; k++)
			format_one(p, b, k, &p->outb[t]);
		if (t == 0)
			for (int u = nt; u < T; u++)
				rag_buf_reset(&p->outb[u]); /* fewer threads than asked: nothing there */
	}
	for (int t = 0; t < T; t++)
		if (rag_buf_failed(&p->outb[t]))
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	if (p->po.npy && b->n_rows &&
	    fwrite(b->vec, sizeof(float) * (size_t)p->dim, b->n_rows, p->po.npy) != b->n_rows)
		return rag_error_errno(err, RAG_EIO, "cannot write '%s'", p->po.npy_name);
	for (int t = 0; t < T; t++)
		if (p->outb[t].len && (rc = rag_buf_write(&p->outb[t], p->po.out, p->po.out_name, err)))
			return rc;
	p->rows += b->n_rows;
	p->n_written += b->n_good;
	if (p->po.on_written)
		p->po.on_written(p->po.on_written_ctx, p->n_written);
	return RAG_OK;
}

/* The blockpipe's start: room for the block's vectors; anything to run? */
static int block_start(void *ctx, struct rag_blockpipe_block *bb, int *go, struct rag_error *err)
{
	struct rag_embed_pipe *p = ctx;
	struct block *b = BLOCK(bb);
	size_t n = b->n_rows * (size_t)p->dim;

	*go = b->n_good > 0;
	if (*go && n > b->vec_cap) {
		float *v = rag_realloc(b->vec, n * sizeof *v);
		if (!v)
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		b->vec = v;
		b->vec_cap = n;
	}
	return RAG_OK;
}

static const struct rag_blockpipe_ops block_ops = {
	.reset = block_reset,
	.prepare = block_prepare,
	.start = block_start,
	.run = block_run,
	.deliver = block_write,
};

int rag_embed_pipe_file(struct rag_embed_pipe *p, const char *path, struct rag_error *err)
{
	return rag_blockpipe_file(&p->bp, path, err);
}

int rag_embed_pipe_finish(struct rag_embed_pipe *p, struct rag_error *err)
{
	return rag_blockpipe_finish(&p->bp, err);
}

int rag_embed_pipe_new(struct rag_embedder *m, const struct rag_embed_opts *eo,
		       const struct rag_embed_pipe_opts *po, struct rag_embed_pipe **out, struct rag_error *err)
{
	struct rag_embed_pipe *p;
	int rc;

	*out = NULL;
	if (!(p = rag_calloc(1, sizeof *p)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	p->m = m;
	p->eo = *eo;
	p->po = *po;
	if (!p->po.field)
		p->po.field = "text";
	if (!p->po.out_name)
		p->po.out_name = "standard output";
	if (!p->po.npy_name)
		p->po.npy_name = "the vectors file";
	p->threads = rag_blockpipe_defaults(&p->po.block_bytes, &p->po.block_records, p->eo.batch_tokens, po->threads);
	p->dim = rag_embedder_dim(m);  /* an encoder or a decoder */
	p->pool = rag_embed_pooling(m, eo);
	p->scratch = rag_calloc((size_t)p->threads, sizeof *p->scratch);
	p->outb = rag_calloc((size_t)p->threads, sizeof *p->outb);
	for (int i = 0; i < 2; i++)
		p->blk[i].arenas = rag_calloc((size_t)p->threads, sizeof *p->blk[i].arenas);
	if (!p->scratch || !p->outb || !p->blk[0].arenas || !p->blk[1].arenas) {
		rag_embed_pipe_free(p);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	for (int t = 0; t < p->threads; t++) {
		rag_embed_scratch_init(&p->scratch[t]);
		rag_buf_init(&p->outb[t]);
		rag_arena_init(&p->blk[0].arenas[t]);
		rag_arena_init(&p->blk[1].arenas[t]);
	}
	if ((rc = rag_blockpipe_init(&p->bp, &block_ops, p, &p->blk[0].bp, &p->blk[1].bp, p->po.block_bytes,
				     p->po.block_records, err))) {
		rag_embed_pipe_free(p);
		return rc;
	}
	*out = p;
	return RAG_OK;
}

void rag_embed_pipe_free(struct rag_embed_pipe *p)
{
	if (!p)
		return;
	rag_blockpipe_release(&p->bp);  /* the encoder thread stops first */
	for (int i = 0; i < 2; i++)
		block_release(&p->blk[i], p->threads);
	for (int t = 0; p->scratch && t < p->threads; t++)
		rag_embed_scratch_release(&p->scratch[t]);
	for (int t = 0; p->outb && t < p->threads; t++)
		rag_buf_free(&p->outb[t]);
	rag_free(p->scratch);
	rag_free(p->outb);
	rag_free(p);
}

uint64_t rag_embed_pipe_n_written(const struct rag_embed_pipe *p) { return p->n_written; }
uint64_t rag_embed_pipe_n_rows(const struct rag_embed_pipe *p) { return p->rows; }
size_t rag_embed_pipe_n_bad(const struct rag_embed_pipe *p) { return p->n_bad; }
