/* rerank_pipe.h: rag-rerank's hit pipeline: blocks of hits checked and tokenized on all threads while the cross-encoder scores the previous block in a thread of its own; groups (one qid) re-ranked and written in input order. */
#ifndef RAG_RERANK_PIPE_H
#define RAG_RERANK_PIPE_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "shard.h"
#include "rerank.h"

/*
 * Hits are JSON Lines records with a qid (string or number), the passage in
 * a string field and the query in a string field "query" (or, with lookup,
 * the query of their qid).  Consecutive hits with the same qid form a group,
 * also across inputs; every hit of a group is scored with the query of the
 * group's first hit.  A finished group is sorted by score (descending, equal
 * scores in input order), cut to top_k, and each hit is written byte for
 * byte with "scores"."rerank" {"score","rank"}, "score" and "rank" set.
 *
 * Per block of lines (block_bytes of input, block_records hits, or the end
 * of an input; the first blocks smaller, RAG_BLOCKPIPE_RAMP): the host threads parse and check the hits, the calling
 * thread decides the groups in input order (reporting or skipping bad hits
 * as a serial reader would), the host threads tokenize the pairs, and the
 * block goes to the encoder thread while the calling thread writes the
 * groups the previous block finished and reads the next block.  Output is
 * the same for any thread count and block size.  After an input error the
 * groups finished before it are written, the group it interrupted is not.
 */
struct rag_rerank_pipe_opts {
	const char *field;     /* the passage field; NULL: "text" */
	int skip_bad;          /* count and skip bad hits instead of stopping */
	struct rag_shard shard; /* keep only the hits of this shard's qids (a hit
				 * without a qid: its line number's; shard.h); a
				 * good hit of another qid still ends the open group,
				 * so the shards' groups are the unsharded ones */
	void (*on_bad)(void *ctx, const struct rag_error *err);
	void *on_bad_ctx;
	/* The query text of a qid (NULL when unknown), instead of the hits'
	 * "query" field; called from many threads at once. */
	const char *(*lookup)(void *ctx, const char *qid, size_t *len);
	void *lookup_ctx;
	long top_k;            /* > 0: keep the best top_k hits of each group */
	int sigmoid;           /* scores through the logistic function */
	FILE *out;             /* required */
	const char *out_name;  /* NULL: "standard output" */
	size_t block_bytes;    /* input bytes per block; 0: 64 * the batch tokens */
	size_t block_records;  /* hits per block at most; 0: 16384 */
	int threads;           /* host threads; 0: rag_get_threads() */
	void (*on_written)(void *ctx, uint64_t n_records); /* after each group: hits written so far */
	void *on_written_ctx;
};

void rag_rerank_pipe_opts_init(struct rag_rerank_pipe_opts *po);

struct rag_rerank_pipe;

/* Start a pipeline on r (which must outlive it, used by no one else
 * meanwhile) with ro and po (copied).  RAG_EINTERNAL when out of memory or no
 * thread can be started.  Release with rag_rerank_pipe_free. */
int rag_rerank_pipe_new(struct rag_reranker *r, const struct rag_rerank_opts *ro,
			const struct rag_rerank_pipe_opts *po, struct rag_rerank_pipe **out, struct rag_error *err);

/* Feed one input ("-" = standard input).  Errors: RAG_ENOINPUT, RAG_EDATA (a
 * bad hit, "NAME: line N: ..."; never with skip_bad), RAG_EIO, RAG_EINTERNAL,
 * the encoder's.  After an error call rag_rerank_pipe_finish and stop. */
int rag_rerank_pipe_file(struct rag_rerank_pipe *p, const char *path, struct rag_error *err);

/* Score and write everything pending, the last group included unless an
 * input error came first.  Errors: RAG_EIO, the encoder's; after an earlier
 * write or encoder error it writes nothing and returns that error again. */
int rag_rerank_pipe_finish(struct rag_rerank_pipe *p, struct rag_error *err);

uint64_t rag_rerank_pipe_n_written(const struct rag_rerank_pipe *p);
size_t rag_rerank_pipe_n_bad(const struct rag_rerank_pipe *p);

/* Stop the encoder thread and release everything; NULL is fine. */
void rag_rerank_pipe_free(struct rag_rerank_pipe *p);

#endif
