/* blockpipe.c: two blocks of input lines, one prepared on the calling thread's side while the worker thread runs the other. */
#include "config.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "alloc.h"
#include "blockpipe.h"
#include "jsonl.h"
#include "options.h"

static void *worker_main(void *arg)
{
	struct rag_blockpipe *bp = arg;

#ifdef _OPENMP
	/* a new thread starts with the default team size, not rag_set_threads' */
	omp_set_num_threads(rag_get_threads());
#endif
	pthread_mutex_lock(&bp->mu);
	for (;;) {
		struct rag_blockpipe_block *b;
		while (!bp->job && !bp->quit)
			pthread_cond_wait(&bp->cv, &bp->mu);
		if (!bp->job)
			break;
		b = bp->job;
		pthread_mutex_unlock(&bp->mu);
		rag_error_clear(&b->err);
		b->rc = bp->ops->run(bp->ctx, b, &b->err);
		pthread_mutex_lock(&bp->mu);
		bp->job = NULL;
		pthread_cond_broadcast(&bp->cv);
	}
	pthread_mutex_unlock(&bp->mu);
	return NULL;
}

static void worker_start(struct rag_blockpipe *bp, struct rag_blockpipe_block *b)
{
	pthread_mutex_lock(&bp->mu);
	bp->job = b;
	pthread_cond_broadcast(&bp->cv);
	pthread_mutex_unlock(&bp->mu);
}

static void worker_wait(struct rag_blockpipe *bp)
{
	pthread_mutex_lock(&bp->mu);
	while (bp->job)
		pthread_cond_wait(&bp->cv, &bp->mu);
	pthread_mutex_unlock(&bp->mu);
}

int rag_blockpipe_defaults(size_t *block_bytes, size_t *block_records, size_t batch_tokens, int threads)
{
	if (!*block_bytes)
		*block_bytes = 64 * (batch_tokens ? batch_tokens : 2048);
	if (!*block_records)
		*block_records = 16384;
	if (threads <= 0)
		threads = rag_get_threads();
	return threads < 1 ? 1 : threads;
}

int rag_blockpipe_init(struct rag_blockpipe *bp, const struct rag_blockpipe_ops *ops, void *ctx,
		       struct rag_blockpipe_block *b0, struct rag_blockpipe_block *b1, size_t block_bytes,
		       size_t block_records, struct rag_error *err)
{
	memset(bp, 0, sizeof *bp);
	bp->ops = ops;
	bp->ctx = ctx;
	bp->block_bytes = block_bytes;
	bp->block_records = block_records;
	bp->ramp = RAG_BLOCKPIPE_RAMP;
	bp->blk[0] = b0;
	bp->blk[1] = b1;
	rag_buf_init(&b0->lines);
	rag_buf_init(&b1->lines);
	pthread_mutex_init(&bp->mu, NULL);
	pthread_cond_init(&bp->cv, NULL);
	if (pthread_create(&bp->th, NULL, worker_main, bp) != 0)
		return rag_error_set(err, RAG_EINTERNAL, "cannot start the encoder thread");
	bp->th_started = 1;
	return RAG_OK;
}

void rag_blockpipe_release(struct rag_blockpipe *bp)
{
	if (!bp->ops)
		return;   /* never initialized */
	if (bp->th_started) {
		pthread_mutex_lock(&bp->mu);
		bp->quit = 1;
		pthread_cond_broadcast(&bp->cv);
		pthread_mutex_unlock(&bp->mu);
		pthread_join(bp->th, NULL);
		bp->th_started = 0;
	}
	for (int i = 0; i < 2; i++) {
		struct rag_blockpipe_block *b = bp->blk[i];
		rag_buf_free(&b->lines);
		rag_free(b->line);
		rag_free(b->name);
		b->line = NULL;
		b->name = NULL;
		b->cap = 0;   /* n stays: the caller's release may still need it */
	}
	pthread_mutex_destroy(&bp->mu);
	pthread_cond_destroy(&bp->cv);
	bp->ops = NULL;
}

static int blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

/* Read lines into b until it is full (the limits >> bp->ramp, at least one
 * line; the ramp then steps down) or the input ends (*eof).  On a read error
 * the lines read so far stay in b. */
static int block_fill(struct rag_blockpipe *bp, struct rag_blockpipe_block *b, struct rag_jsonl_reader *r,
		      int *eof, struct rag_error *err)
{
	const char *line;
	size_t len, max_n = bp->block_records >> bp->ramp, max_bytes = bp->block_bytes >> bp->ramp;
	int rc;

	*eof = 0;
	if (!max_n)
		max_n = 1;
	if (!max_bytes)
		max_bytes = 1;
	if (bp->ramp)
		bp->ramp--;
	while (b->n < max_n && b->lines.len < max_bytes) {
		if ((rc = rag_jsonl_next_line(r, &line, &len, err)))
			return rc;
		if (!line) {
			*eof = 1;
			break;
		}
		if (blank(line, len))
			continue;
		if (b->n == b->cap) {
			size_t cap = b->cap ? 2 * b->cap : 256;
			struct rag_blockpipe_line *nl = rag_reallocarray(b->line, cap, sizeof *nl);
			if (!nl)
				return rag_error_set(err, RAG_EINTERNAL, "out of memory");
			b->line = nl;
			b->cap = cap;
		}
		b->line[b->n].off = b->lines.len;
		b->line[b->n].len = len;
		b->line[b->n].lineno = r->lineno;
		rag_buf_add(&b->lines, line, len);
		rag_buf_addc(&b->lines, '\0');
		if (rag_buf_failed(&b->lines))
			return rag_error_set(err, RAG_EINTERNAL, "out of memory reading '%s'", r->name);
		b->n++;
	}
	return RAG_OK;
}

int rag_blockpipe_set_broken(struct rag_blockpipe *bp, int rc, const struct rag_error *err)
{
	bp->broken = rc;
	bp->broken_err = *err;
	return rc;
}

/* Wait for the block at the worker; then hand b over (if any, and if it has
 * work) and deliver the finished one meanwhile. */
static int submit(struct rag_blockpipe *bp, struct rag_blockpipe_block *b, struct rag_error *err)
{
	struct rag_blockpipe_block *prev = bp->inflight;
	int rc, go = 0;

	if (prev) {
		worker_wait(bp);
		bp->inflight = NULL;
		if (prev->rc) {
			*err = prev->err;
			return rag_blockpipe_set_broken(bp, prev->rc, err);
		}
	}
	if (b && (rc = bp->ops->start(bp->ctx, b, &go, err)))
		return rag_blockpipe_set_broken(bp, rc, err);
	if (go) {
		bp->inflight = b;
		worker_start(bp, b);
	}
	if (prev && (rc = bp->ops->deliver(bp->ctx, prev, err)))
		return rag_blockpipe_set_broken(bp, rc, err);
	return RAG_OK;
}

int rag_blockpipe_file(struct rag_blockpipe *bp, const char *path, struct rag_error *err)
{
	struct rag_jsonl_reader r;
	int rc, eof = 0;

	if (bp->broken) {
		*err = bp->broken_err;
		return bp->broken;
	}
	if ((rc = rag_jsonl_open(&r, path, err))) {
		bp->input_failed = 1;
		return rc;
	}
	while (!eof) {
		struct rag_blockpipe_block *b = bp->blk[bp->cur];
		struct rag_error rerr, serr;
		int rrc, src = 0;
		if (b == bp->inflight) { /* cannot happen: the other block is the one in flight */
			rc = rag_error_set(err, RAG_EINTERNAL, "pipeline state");
			break;
		}
		bp->ops->reset(bp->ctx, b);
		rag_buf_reset(&b->lines);
		b->n = 0;
		rag_free(b->name);
		if (!(b->name = rag_strdup(r.name))) {
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			break;
		}
		rag_error_clear(&rerr);
		rag_error_clear(&serr);
		rrc = block_fill(bp, b, &r, &eof, &rerr);
		if ((rc = bp->ops->prepare(bp->ctx, b, &src, &serr, err))) {
			rag_blockpipe_set_broken(bp, rc, err);
			break;
		}
		/* the good records before a bad one still go out; an earlier
		 * block's worker or delivery error comes first, then a bad
		 * record, then a read error after it (the order a serial reader
		 * meets them) */
		rc = submit(bp, b, err);
		bp->cur ^= 1;
		if (rc)
			break;
		if (src) {
			*err = serr;
			rc = src;
			break;
		}
		if (rrc) {
			*err = rerr;
			rc = rrc;
			break;
		}
	}
	rag_jsonl_release(&r);
	if (rc && !bp->broken)
		bp->input_failed = 1;
	return rc;
}

int rag_blockpipe_finish(struct rag_blockpipe *bp, struct rag_error *err)
{
	if (bp->broken) {
		worker_wait(bp);
		bp->inflight = NULL;
		*err = bp->broken_err;
		return bp->broken;
	}
	return submit(bp, NULL, err);
}
