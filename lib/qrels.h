/* qrels.h: TREC relevance judgements (qrels files), read as trec_eval reads them. */
#ifndef RAG_QRELS_H
#define RAG_QRELS_H

#include <stddef.h>

#include "arena.h"
#include "error.h"

/*
 * A qrels file has one judgement per line: `qid iter docid rel`, four fields
 * separated by whitespace (iter is ignored).  rel is an integer: 0 and up are
 * judged relevance grades; a negative value marks a document that is in the
 * pool but unjudged (trec_eval's RELVALUE_UNJUDGED): it is neither relevant
 * nor non-relevant, and counts in no grade.  Blank lines and lines starting
 * with '#' are skipped.
 *
 * Queries are kept sorted by qid and each query's judgements by docid, both
 * by byte comparison (strcmp), which is the order trec_eval evaluates in.
 */
struct rag_qrel {
	const char *docid;
	long rel;
};

struct rag_qrels_query {
	const char *qid;
	struct rag_qrel *j;     /* sorted by docid, no duplicates */
	size_t n;
	long max_rel;           /* highest grade (-1 when no judgement is >= 0) */
};

struct rag_qrels {
	struct rag_qrels_query *q;  /* sorted by qid */
	size_t nq;
	size_t n_judgements;
	struct rag_arena arena;     /* strings and arrays */
};

/* How a reader treats bad lines (shared by the qrels and run readers). */
struct rag_read_opts {
	int skip_bad;                                           /* skip and count bad lines */
	void (*on_bad)(void *ctx, const struct rag_error *err); /* told of each skipped line */
	void *on_bad_ctx;
	size_t n_bad;                                           /* out: lines skipped */
};

/*
 * Read a qrels file (path "-" = standard input) into qr, which the caller
 * releases with rag_qrels_release (also after a failure).  Errors:
 * RAG_ENOINPUT cannot open; RAG_EIO read error; RAG_EDATA a malformed line
 * ("qrels.tsv: line 7: expected 4 fields (qid iter docid rel), found 3"), a
 * relevance that is not an integer, or a document judged twice for one
 * query (trec_eval refuses such files too); RAG_EINTERNAL out of memory.
 * opts may be NULL (stop at the first bad line).
 */
int rag_qrels_load(struct rag_qrels *qr, const char *path, struct rag_read_opts *opts,
		   struct rag_error *err);
void rag_qrels_release(struct rag_qrels *qr);

/* The query with this qid, or NULL (binary search). */
const struct rag_qrels_query *rag_qrels_find(const struct rag_qrels *qr, const char *qid);

/* The grade of docid for query q: -1 when q has no judgement for it
 * (trec_eval's RELVALUE_NONPOOL), -2 when its judgement is negative (in the
 * pool but unjudged, RELVALUE_UNJUDGED), else the grade (0 and up). */
long rag_qrels_rel(const struct rag_qrels_query *q, const char *docid);

/*
 * Split a line into whitespace-separated fields (in place: separators become
 * NUL).  Stores at most max pointers in f and returns the number of fields
 * found (which may exceed max).  Used by the qrels and TREC run readers.
 */
size_t rag_split_fields(char *line, char **f, size_t max);

#endif
