/* trecrun.c: reading runs (TREC or JSON Lines) and ordering each query's documents like trec_eval. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "json.h"
#include "jsonl.h"
#include "trecrun.h"

struct rline {
	const char *qid;
	const char *docid;
	double score;
	size_t lineno;
};

/* Group by qid, then docid (to find duplicates), then line. */
static int cmp_qid_docid(const void *a, const void *b)
{
	const struct rline *x = a, *y = b;
	int c;

	/* Lines of one query usually share one interned qid: skip the strcmp. */
	if (x->qid != y->qid && (c = strcmp(x->qid, y->qid)))
		return c;
	c = strcmp(x->docid, y->docid);
	if (c)
		return c;
	return x->lineno < y->lineno ? -1 : x->lineno > y->lineno;
}

/* trec_eval's comp_sim_docno: score descending, then docid descending. */
static int cmp_trec_order(const void *a, const void *b)
{
	const struct rag_run_doc *x = a, *y = b;
	if (x->score > y->score)
		return -1;
	if (x->score < y->score)
		return 1;
	return strcmp(y->docid, x->docid);
}

static int parse_score(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

static int first_significant(const char *s, size_t len)
{
	size_t i;
	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\v' && s[i] != '\f')
			return (unsigned char)s[i];
	return 0;
}

/* A JSON string or number field as text (numbers keep their source spelling). */
static const char *field_text(struct rag_arena *a, const struct rag_json *rec, const char *key,
			      int *found)
{
	const struct rag_json *v = rag_json_get(rec, key);

	*found = v != NULL;
	if (!v)
		return NULL;
	if (v->type == RAG_JSON_STRING)
		return rag_arena_strndup(a, v->u.str.s, v->u.str.len);
	if (v->type == RAG_JSON_NUMBER)
		return rag_arena_strndup(a, v->raw, v->raw_len);
	return NULL;
}

int rag_run_load(struct rag_run *run, const char *path, struct rag_run_opts *opts,
		 struct rag_error *err)
{
	struct rag_jsonl_reader r;
	struct rag_buf copy, last_tag;
	struct rag_arena rec_arena;
	struct rline *lines = NULL;
	size_t n = 0, cap = 0, i, nq;
	enum rag_run_format fmt = opts ? opts->format : RAG_RUN_AUTO;
	const char *id_field = opts && opts->id_field ? opts->id_field : "id";
	int rc;

	memset(run, 0, sizeof *run);
	rag_arena_init(&run->arena);
	rag_arena_init(&rec_arena);
	rag_buf_init(&copy);
	rag_buf_init(&last_tag);
	if ((rc = rag_jsonl_open(&r, path, err)))
		return rc;
	if (opts) {
		r.skip_bad = opts->read.skip_bad;
		r.on_bad = opts->read.on_bad;
		r.on_bad_ctx = opts->read.on_bad_ctx;
	}
	run->name = rag_strdup(r.name);
	if (!run->name) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
	for (;;) {
		const char *line, *qid = NULL, *docid = NULL;
		size_t len;
		double score = 0;
		int c;

		if ((rc = rag_jsonl_next_line(&r, &line, &len, err)))
			goto out;
		if (!line)
			break;
		c = first_significant(line, len);
		if (c == 0)
			continue;
		if (fmt == RAG_RUN_AUTO)
			fmt = c == '{' ? RAG_RUN_JSONL : RAG_RUN_TREC;
		if (fmt == RAG_RUN_TREC) {
			char *f[6];
			size_t nf;

			if (c == '#')
				continue;
			if (memchr(line, '\0', len)) {
				if ((rc = rag_jsonl_reject(&r, err, "NUL byte in line")))
					goto out;
				continue;
			}
			rag_buf_reset(&copy);
			rag_buf_add(&copy, line, len);
			rag_buf_addc(&copy, '\0');
			if (rag_buf_failed(&copy)) {
				rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
				goto out;
			}
			nf = rag_split_fields(copy.data, f, 6);
			if (nf < 6) {
				if ((rc = rag_jsonl_reject(&r, err,
						"expected 6 fields (qid Q0 docid rank score tag), found %zu", nf)))
					goto out;
				continue;
			}
			if (parse_score(f[4], &score)) {
				if ((rc = rag_jsonl_reject(&r, err, "score '%s' is not a finite number", f[4])))
					goto out;
				continue;
			}
			qid = n && strcmp(lines[n - 1].qid, f[0]) == 0 ? lines[n - 1].qid
				: rag_arena_strndup(&run->arena, f[0], strlen(f[0]));
			docid = rag_arena_strndup(&run->arena, f[2], strlen(f[2]));
			rag_buf_reset(&last_tag);
			rag_buf_adds(&last_tag, f[5]);
		} else {
			struct rag_json *rec;
			struct rag_error perr;
			double rank;
			int found;

			rag_arena_reset(&rec_arena);
			if (rag_json_parse(&rec_arena, line, len, &rec, &perr)) {
				if ((rc = rag_jsonl_reject(&r, err, "%s", perr.msg)))
					goto out;
				continue;
			}
			if (rec->type != RAG_JSON_OBJECT) {
				if ((rc = rag_jsonl_reject(&r, err, "not a JSON object")))
					goto out;
				continue;
			}
			qid = field_text(&run->arena, rec, "qid", &found);
			if (qid && n && strcmp(lines[n - 1].qid, qid) == 0)
				qid = lines[n - 1].qid;  /* interned (the copy stays in the arena) */
			if (!qid) {
				if ((rc = rag_jsonl_reject(&r, err, found ? "'qid' is not a string or number"
								   : "no 'qid' field")))
					goto out;
				continue;
			}
			docid = field_text(&run->arena, rec, id_field, &found);
			if (!docid) {
				if ((rc = rag_jsonl_reject(&r, err, found ? "'%s' is not a string or number"
								   : "no '%s' field", id_field)))
					goto out;
				continue;
			}
			if (rag_json_get_num(rec, "score", &score))
				;
			else if (rag_json_get(rec, "score")) {
				if ((rc = rag_jsonl_reject(&r, err, "'score' is not a number")))
					goto out;
				continue;
			} else if (rag_json_get_num(rec, "rank", &rank))
				score = -rank;
			else {
				if ((rc = rag_jsonl_reject(&r, err, "no 'score' (or 'rank') field")))
					goto out;
				continue;
			}
		}
		if (!qid || !docid) {
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			goto out;
		}
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 1024;
			struct rline *nl = rag_reallocarray(lines, nc, sizeof *nl);
			if (!nl) {
				rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
				goto out;
			}
			lines = nl;
			cap = nc;
		}
		lines[n].qid = qid;
		lines[n].docid = docid;
		lines[n].score = score;
		lines[n].lineno = r.lineno;
		n++;
	}
	if (opts)
		opts->read.n_bad = r.n_bad;
	run->format = fmt == RAG_RUN_AUTO ? RAG_RUN_TREC : fmt;
	if (rag_buf_failed(&last_tag)) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
	if (fmt == RAG_RUN_TREC && last_tag.len &&
	    !(run->tag = rag_arena_strndup(&run->arena, last_tag.data, last_tag.len))) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
	if (n)
		qsort(lines, n, sizeof *lines, cmp_qid_docid);
	nq = 0;
	for (i = 0; i < n; i++) {
		if (i == 0 || strcmp(lines[i].qid, lines[i - 1].qid))
			nq++;
		else if (strcmp(lines[i].docid, lines[i - 1].docid) == 0) {
			rc = rag_error_set(err, RAG_EDATA,
				"%s: line %zu: document '%s' listed twice for query '%s' (first on line %zu)",
				r.name, lines[i].lineno, lines[i].docid, lines[i].qid, lines[i - 1].lineno);
			goto out;
		}
	}
	run->q = rag_arena_alloc(&run->arena, (nq ? nq : 1) * sizeof *run->q);
	{
		struct rag_run_doc *all = rag_arena_alloc(&run->arena, (n ? n : 1) * sizeof *all);
		struct rag_run_query *cur = NULL;

		if (!run->q || !all) {
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			goto out;
		}
		for (i = 0; i < n; i++) {
			if (i == 0 || strcmp(lines[i].qid, lines[i - 1].qid)) {
				cur = &run->q[run->nq++];
				cur->qid = lines[i].qid;
				cur->docs = &all[i];
				cur->n = 0;
			}
			all[i].docid = lines[i].docid;
			all[i].score = lines[i].score;
			all[i].lineno = lines[i].lineno;
			cur->n++;
		}
		for (i = 0; i < run->nq; i++)
			qsort(run->q[i].docs, run->q[i].n, sizeof *all, cmp_trec_order);
	}
	run->n_docs = n;
	rc = RAG_OK;
out:
	rag_free(lines);
	rag_buf_free(&copy);
	rag_buf_free(&last_tag);
	rag_arena_free(&rec_arena);
	rag_jsonl_release(&r);
	return rc;
}

void rag_run_release(struct rag_run *run)
{
	if (!run)
		return;
	rag_free(run->name);
	rag_arena_free(&run->arena);
	memset(run, 0, sizeof *run);
}

const struct rag_run_query *rag_run_find(const struct rag_run *run, const char *qid)
{
	size_t lo = 0, hi = run->nq;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(run->q[mid].qid, qid);
		if (c == 0)
			return &run->q[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *rag_run_format_name(enum rag_run_format f)
{
	switch (f) {
	case RAG_RUN_TREC: return "trec";
	case RAG_RUN_JSONL: return "jsonl";
	default: return "auto";
	}
}

int rag_run_format_parse(const char *s, enum rag_run_format *out)
{
	if (strcmp(s, "trec") == 0)
		*out = RAG_RUN_TREC;
	else if (strcmp(s, "jsonl") == 0)
		*out = RAG_RUN_JSONL;
	else if (strcmp(s, "auto") == 0)
		*out = RAG_RUN_AUTO;
	else
		return -1;
	return 0;
}
