/* blockpipe.h: the skeleton of ragkit's record pipelines (rag-embed's and rag-rerank's): input lines read in blocks, each block prepared on the host threads while a worker thread runs the model on the previous one, results delivered in input order. */
#ifndef RAG_BLOCKPIPE_H
#define RAG_BLOCKPIPE_H

#include <pthread.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"

/*
 * Two blocks alternate.  For each block of input lines (it ends at
 * block_bytes of input, block_records lines or the end of a file; the first
 * blocks are smaller, see RAG_BLOCKPIPE_RAMP):
 *   1. the calling thread reads the lines (whitespace-only lines are not
 *      records, as in rag_jsonl_next);
 *   2. ops.prepare parses, checks and tokenizes them (on the host threads,
 *      as the pipeline likes) and reports bad records in input order;
 *   3. the block goes to the worker thread (ops.run), and while it runs the
 *      calling thread delivers the previous block (ops.deliver) and reads
 *      and prepares the next one.
 *
 * Errors stop where a serial reader would stop: the good records before a
 * bad record or a read error are still run and delivered, nothing after
 * them; a worker or delivery error ("broken") stops everything at once.
 */

/*
 * The first block is 1/2^RAG_BLOCKPIPE_RAMP of the limits and each block after
 * it twice the one before, up to the limits: the worker gets its first work
 * after a small block is read and prepared, not after a full one, and the
 * host threads keep ahead of it from then on.
 */
#define RAG_BLOCKPIPE_RAMP 5

/* One input line of a block: lines.data + off, len bytes (NUL-terminated). */
struct rag_blockpipe_line {
	size_t off, len;
	size_t lineno;               /* in its input, from 1 */
};

/* A block: the pipeline's part of the caller's own block structure (the
 * callbacks get this and find theirs around it). */
struct rag_blockpipe_block {
	struct rag_buf lines;
	struct rag_blockpipe_line *line;
	size_t n, cap;
	char *name;                  /* input name, for messages */
	int rc;                      /* the worker's result */
	struct rag_error err;
};

struct rag_blockpipe_ops {
	/* b is about to be refilled: release what the last round left (b->n
	 * still counts the old lines). */
	void (*reset)(void *ctx, struct rag_blockpipe_block *b);
	/* After b is read: prepare its b->n lines.  A bad record (or anything
	 * that must stop the input after the good records before it) goes in
	 * *stop_err with its status in *stop_rc, and everything after it is
	 * dropped; the return value is an error that stops the pipeline now. */
	int (*prepare)(void *ctx, struct rag_blockpipe_block *b, int *stop_rc, struct rag_error *stop_err,
		       struct rag_error *err);
	/* Just before b goes to the worker: *go = 0 when there is nothing to
	 * run (b is then not delivered either).  Errors stop the pipeline. */
	int (*start)(void *ctx, struct rag_blockpipe_block *b, int *go, struct rag_error *err);
	/* On the worker thread: run the model over b; the status goes to b->rc
	 * and b->err. */
	int (*run)(void *ctx, struct rag_blockpipe_block *b, struct rag_error *err);
	/* On the calling thread, in input order: write b's results. */
	int (*deliver)(void *ctx, struct rag_blockpipe_block *b, struct rag_error *err);
};

struct rag_blockpipe {
	const struct rag_blockpipe_ops *ops;
	void *ctx;
	size_t block_bytes, block_records;
	unsigned ramp;               /* the next block's limits are the above >> ramp */
	struct rag_blockpipe_block *blk[2];
	int cur;                     /* the block being filled */
	struct rag_blockpipe_block *inflight; /* at the worker, not yet delivered */
	int broken;                  /* a worker or delivery error: deliver nothing more */
	struct rag_error broken_err;
	int input_failed;            /* an input could not be opened, read or parsed */
	pthread_t th;
	int th_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rag_blockpipe_block *job; /* handed to the worker, not yet finished */
	int quit;
};

/*
 * The pipelines' shared defaults: a zero *block_bytes becomes 64 forward
 * passes of batch_tokens (2048 when 0), a zero *block_records 16384.
 * Returns the host thread count: threads when > 0, else rag_get_threads(),
 * at least 1.
 */
int rag_blockpipe_defaults(size_t *block_bytes, size_t *block_records, size_t batch_tokens, int threads);

/*
 * Set bp up over the caller's two blocks (zeroed by the caller; bp
 * initializes their lines) and start the worker thread, whose OpenMP team
 * is rag_get_threads() wide.  RAG_EINTERNAL when no thread can be started.
 * Release with rag_blockpipe_release (also after a failed init).
 */
int rag_blockpipe_init(struct rag_blockpipe *bp, const struct rag_blockpipe_ops *ops, void *ctx,
		       struct rag_blockpipe_block *b0, struct rag_blockpipe_block *b1, size_t block_bytes,
		       size_t block_records, struct rag_error *err);
/* Stop the worker (after it finishes its block) and free the blocks' lines;
 * each block's n is left as it was, for the caller's own release. */
void rag_blockpipe_release(struct rag_blockpipe *bp);

/*
 * Feed one input ("-" = standard input) through.  Blocks may still be in
 * flight when it returns; rag_blockpipe_finish delivers them.  Errors:
 * RAG_ENOINPUT, RAG_EIO, RAG_EINTERNAL, a stop_rc from ops.prepare, or a
 * worker or delivery error (then the pipeline is broken, and stays so).
 */
int rag_blockpipe_file(struct rag_blockpipe *bp, const char *path, struct rag_error *err);
/* Wait for the worker and deliver the last block.  After a broken pipeline
 * it delivers nothing and returns the error that broke it. */
int rag_blockpipe_finish(struct rag_blockpipe *bp, struct rag_error *err);
/* Mark bp broken with rc and err (for the caller's own final writes); returns rc. */
int rag_blockpipe_set_broken(struct rag_blockpipe *bp, int rc, const struct rag_error *err);

#endif
