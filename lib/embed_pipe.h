/* embed_pipe.h: rag-embed's record pipeline: blocks of JSON Lines parsed and tokenized on all threads while the encoder runs the previous block in a thread of its own, written in input order. */
#ifndef RAG_EMBED_PIPE_H
#define RAG_EMBED_PIPE_H

#include <stdint.h>
#include <stdio.h>

#include "embed.h"
#include "error.h"
#include "shard.h"

/*
 * The pipeline, per block of input lines (a block ends at block_bytes of
 * input, block_records records or the end of a file; the first blocks are
 * smaller, so that the encoder starts early: RAG_BLOCKPIPE_RAMP):
 *   1. the calling thread reads the block's lines;
 *   2. the host threads parse them, put the prefix in front of the text and
 *      tokenize (rag_embed_prepare_r, one scratch per thread);
 *   3. the calling thread goes through the results in input order: bad
 *      records are reported or skipped exactly as a serial reader would;
 *   4. the block goes to the encoder thread (rag_embed_run), and while it
 *      runs, the calling thread formats and writes the previous block (the
 *      formatting spread over the host threads, the writing in order) and
 *      reads and prepares the next one.
 * Output is byte for byte the same whatever the thread count or block size.
 *
 * Errors stop the pipeline where a serial reader would stop: every good
 * record before a fatal bad record (or an input that cannot be opened or
 * read) is still written by rag_embed_pipe_finish; nothing after it is.  A
 * write or encoder error stops all output at once.
 */
struct rag_embed_pipe_opts {
	const char *field;     /* the field holding the text; NULL: "text" */
	int skip_bad;          /* count and skip bad records instead of stopping */
	struct rag_shard shard; /* keep only this shard's records, keyed by "doc_id",
				 * else "id", else the line number (shard.h); the
				 * others are dropped unchecked and uncounted */
	void (*on_bad)(void *ctx, const struct rag_error *err); /* each skipped record */
	void *on_bad_ctx;
	FILE *out;             /* where the records go (required) */
	const char *out_name;  /* for messages; NULL: "standard output" */
	FILE *npy;             /* NULL: "embedding" in the records; else the float32
				* rows are appended here and records get "row" */
	const char *npy_name;  /* for messages */
	size_t block_bytes;    /* input bytes per block; 0: 64 * the batch tokens */
	size_t block_records;  /* records per block at most; 0: 16384 */
	int threads;           /* host threads; 0: rag_get_threads() */
	void (*on_written)(void *ctx, uint64_t n_records); /* after each block: records written so far */
	void *on_written_ctx;
};

void rag_embed_pipe_opts_init(struct rag_embed_pipe_opts *po);

struct rag_embed_pipe;

/*
 * Start a pipeline on m (which must outlive it and not be used by anyone
 * else until rag_embed_pipe_free) with eo (copied; its strings must outlive
 * the pipeline) and po (copied).  Starts the encoder thread.  RAG_EINTERNAL
 * when out of memory or no thread can be started.  Release with
 * rag_embed_pipe_free.
 */
int rag_embed_pipe_new(struct rag_embedder *m, const struct rag_embed_opts *eo,
		       const struct rag_embed_pipe_opts *po, struct rag_embed_pipe **out, struct rag_error *err);

/*
 * Feed one input ("-" = standard input) through the pipeline.  Records may
 * still be in flight when it returns; rag_embed_pipe_finish writes them.
 * Errors: RAG_ENOINPUT (cannot open), RAG_EDATA (a bad record, "NAME: line N:
 * ..."; never with skip_bad), RAG_EIO (read or write error), RAG_EINTERNAL,
 * or the encoder's error.  After an error, call rag_embed_pipe_finish
 * (it writes the records before an input error) and stop.
 */
int rag_embed_pipe_file(struct rag_embed_pipe *p, const char *path, struct rag_error *err);

/* Wait for the encoder and write everything still pending.  Errors: RAG_EIO
 * (write), the encoder's; after an earlier write or encoder error it writes
 * nothing and returns that error again. */
int rag_embed_pipe_finish(struct rag_embed_pipe *p, struct rag_error *err);

uint64_t rag_embed_pipe_n_written(const struct rag_embed_pipe *p); /* records written */
uint64_t rag_embed_pipe_n_rows(const struct rag_embed_pipe *p);    /* .npy rows written */
size_t rag_embed_pipe_n_bad(const struct rag_embed_pipe *p);       /* bad records skipped */

/* Stop the encoder thread and release everything; NULL is fine. */
void rag_embed_pipe_free(struct rag_embed_pipe *p);

#endif
