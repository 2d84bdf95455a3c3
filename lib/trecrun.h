/* trecrun.h: retrieval runs (TREC run files or ragkit hit records), ordered as trec_eval orders them. */
#ifndef RAG_TRECRUN_H
#define RAG_TRECRUN_H

#include <stddef.h>

#include "arena.h"
#include "error.h"
#include "qrels.h"

enum rag_run_format {
	RAG_RUN_AUTO,   /* JSON Lines when the first non-blank line starts with '{', else TREC */
	RAG_RUN_TREC,   /* qid Q0 docid rank score tag [ignored...] */
	RAG_RUN_JSONL,  /* hit records: qid, id (or id_field), score (or rank) */
};

struct rag_run_doc {
	const char *docid;
	double score;
	size_t lineno;
};

/*
 * One query's retrieved documents in trec_eval's order: by score descending,
 * ties broken by docid descending (strcmp), whatever the rank column says.
 */
struct rag_run_query {
	const char *qid;
	struct rag_run_doc *docs;
	size_t n;
};

struct rag_run {
	char *name;                 /* the path as given ("<stdin>" for "-") */
	const char *tag;            /* TREC: the tag of the last line (trec_eval's runid); NULL for JSONL */
	enum rag_run_format format; /* the format read (never AUTO after a load) */
	struct rag_run_query *q;    /* sorted by qid (strcmp) */
	size_t nq;
	size_t n_docs;
	struct rag_arena arena;
};

struct rag_run_opts {
	enum rag_run_format format;
	const char *id_field;   /* JSONL: the field naming the document (default "id") */
	struct rag_read_opts read;
};

/*
 * Read a run (path "-" = standard input) into run; release it with
 * rag_run_release (also after a failure).
 *
 * TREC lines have at least six whitespace-separated fields; the second (Q0)
 * and fourth (rank) are ignored as trec_eval ignores them, fields after the
 * sixth too.  JSON Lines records need `qid` (string or number), the document
 * field (string or number) and `score` (number); a record without `score`
 * but with `rank` gets score = -rank, so the rank gives the order.  Blank
 * lines and (TREC) '#' lines are skipped.
 *
 * Errors: RAG_ENOINPUT, RAG_EIO; RAG_EDATA for a malformed line (named with
 * its line number), a score that is not a finite number, or a document
 * listed twice for one query ("run.txt: line 9: document 'd3' listed twice
 * for query '1' (first on line 4)"): trec_eval stops with "duplicate docs"
 * on such a run, and any choice of which copy counts would change figures;
 * RAG_EINTERNAL out of memory.
 */
int rag_run_load(struct rag_run *run, const char *path, struct rag_run_opts *opts,
		 struct rag_error *err);
void rag_run_release(struct rag_run *run);

/* The query with this qid, or NULL (binary search). */
const struct rag_run_query *rag_run_find(const struct rag_run *run, const char *qid);

/* "trec" or "jsonl" (and "auto"); rag_run_format_parse returns 0 or -1. */
const char *rag_run_format_name(enum rag_run_format f);
int rag_run_format_parse(const char *s, enum rag_run_format *out);

#endif
