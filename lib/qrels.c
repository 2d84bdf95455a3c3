/* qrels.c: reading TREC qrels files into per-query sorted judgement lists. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "jsonl.h"
#include "qrels.h"

/* One judgement while reading, before grouping by query. */
struct qline {
	const char *qid;
	const char *docid;
	long rel;
	size_t lineno;
};

static int is_sep(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '\n';
}

size_t rag_split_fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *p = line;

	for (;;) {
		while (*p && is_sep(*p))
			p++;
		if (!*p)
			break;
		if (n < max)
			f[n] = p;
		n++;
		while (*p && !is_sep(*p))
			p++;
		if (!*p)
			break;
		*p++ = '\0';
	}
	return n;
}

/* Blank, or a '#' comment (trec_eval skips both). */
static int skippable(const char *s)
{
	while (*s && is_sep(*s))
		s++;
	return *s == '\0' || *s == '#';
}

static int cmp_qline(const void *a, const void *b)
{
	const struct qline *x = a, *y = b;
	int c;

	if (x->qid != y->qid && (c = strcmp(x->qid, y->qid)))
		return c;
	c = strcmp(x->docid, y->docid);
	if (c)
		return c;
	return x->lineno < y->lineno ? -1 : x->lineno > y->lineno;
}

static int parse_rel(const char *s, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end || errno)
		return -1;
	*out = v;
	return 0;
}

int rag_qrels_load(struct rag_qrels *qr, const char *path, struct rag_read_opts *opts,
		   struct rag_error *err)
{
	struct rag_jsonl_reader r;
	struct rag_buf copy;
	struct qline *lines = NULL;
	size_t n = 0, cap = 0, i, nq;
	int rc;

	memset(qr, 0, sizeof *qr);
	rag_arena_init(&qr->arena);
	rag_buf_init(&copy);
	if ((rc = rag_jsonl_open(&r, path, err)))
		return rc;
	if (opts) {
		r.skip_bad = opts->skip_bad;
		r.on_bad = opts->on_bad;
		r.on_bad_ctx = opts->on_bad_ctx;
	}
	for (;;) {
		const char *line;
		size_t len;
		char *f[5];
		size_t nf;
		long rel;

		if ((rc = rag_jsonl_next_line(&r, &line, &len, err)))
			goto out;
		if (!line)
			break;
		rag_buf_reset(&copy);
		rag_buf_add(&copy, line, len);
		rag_buf_addc(&copy, '\0');
		if (rag_buf_failed(&copy)) {
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			goto out;
		}
		if (memchr(line, '\0', len)) {
			if ((rc = rag_jsonl_reject(&r, err, "NUL byte in line")))
				goto out;
			continue;
		}
		if (skippable(copy.data))
			continue;
		nf = rag_split_fields(copy.data, f, 5);
		if (nf != 4) {
			if ((rc = rag_jsonl_reject(&r, err,
					"expected 4 fields (qid iter docid rel), found %zu", nf)))
				goto out;
			continue;
		}
		if (parse_rel(f[3], &rel)) {
			if ((rc = rag_jsonl_reject(&r, err, "relevance '%s' is not an integer", f[3])))
				goto out;
			continue;
		}
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 1024;
			struct qline *nl = rag_reallocarray(lines, nc, sizeof *nl);
			if (!nl) {
				rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
				goto out;
			}
			lines = nl;
			cap = nc;
		}
		lines[n].qid = n && strcmp(lines[n - 1].qid, f[0]) == 0 ? lines[n - 1].qid
			: rag_arena_strndup(&qr->arena, f[0], strlen(f[0]));
		lines[n].docid = rag_arena_strndup(&qr->arena, f[2], strlen(f[2]));
		lines[n].rel = rel;
		lines[n].lineno = r.lineno;
		if (!lines[n].qid || !lines[n].docid) {
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			goto out;
		}
		n++;
	}
	if (opts)
		opts->n_bad = r.n_bad;
	if (n)
		qsort(lines, n, sizeof *lines, cmp_qline);
	nq = 0;
	for (i = 0; i < n; i++) {
		if (i == 0 || strcmp(lines[i].qid, lines[i - 1].qid))
			nq++;
		else if (strcmp(lines[i].docid, lines[i - 1].docid) == 0) {
			rc = rag_error_set(err, RAG_EDATA,
				"%s: line %zu: document '%s' judged twice for query '%s' (first on line %zu)",
				r.name, lines[i].lineno, lines[i].docid, lines[i].qid, lines[i - 1].lineno);
			goto out;
		}
	}
	qr->q = rag_arena_alloc(&qr->arena, (nq ? nq : 1) * sizeof *qr->q);
	qr->n_judgements = n;
	if (!qr->q) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
	{
		struct rag_qrel *all = rag_arena_alloc(&qr->arena, (n ? n : 1) * sizeof *all);
		struct rag_qrels_query *cur = NULL;
		if (!all) {
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			goto out;
		}
		for (i = 0; i < n; i++) {
			if (i == 0 || strcmp(lines[i].qid, lines[i - 1].qid)) {
				cur = &qr->q[qr->nq++];
				cur->qid = lines[i].qid;
				cur->j = &all[i];
				cur->n = 0;
				cur->max_rel = -1;
			}
			all[i].docid = lines[i].docid;
			all[i].rel = lines[i].rel;
			if (lines[i].rel > cur->max_rel)
				cur->max_rel = lines[i].rel;
			cur->n++;
		}
	}
	rc = RAG_OK;
out:
	rag_free(lines);
	rag_buf_free(&copy);
	rag_jsonl_release(&r);
	return rc;
}

void rag_qrels_release(struct rag_qrels *qr)
{
	if (!qr)
		return;
	rag_arena_free(&qr->arena);
	memset(qr, 0, sizeof *qr);
}

const struct rag_qrels_query *rag_qrels_find(const struct rag_qrels *qr, const char *qid)
{
	size_t lo = 0, hi = qr->nq;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(qr->q[mid].qid, qid);
		if (c == 0)
			return &qr->q[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

long rag_qrels_rel(const struct rag_qrels_query *q, const char *docid)
{
	size_t lo = 0, hi = q->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(q->j[mid].docid, docid);
		if (c == 0)
			return q->j[mid].rel < 0 ? -2 : q->j[mid].rel;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}
