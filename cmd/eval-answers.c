/* eval-answers.c: rag-eval --answers: read answer records, score them with lib/ragas, print, gate. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "cli.h"
#include "json.h"
#include "jsonl.h"
#include "eval-answers.h"

int answers_is_metric(const char *name)
{
	return rag_ragas_metric_parse(name) >= 0;
}

/* The first present field of names (aliases: DESIGN.md's, then RAGAS's). */
static const struct rag_json *field(const struct rag_json *rec, const char *a, const char *b)
{
	const struct rag_json *v = rag_json_get(rec, a);
	return v ? v : b ? rag_json_get(rec, b) : NULL;
}

struct unscored {
	int metric;
	size_t line;
	char *qid;
	enum rag_ragas_state state;
	char why[RAG_RAGAS_WHY_MAX];
};

struct tally {
	double sum[RAG_RAGAS_N];
	size_t scored[RAG_RAGAS_N];
	size_t records;
	struct unscored *u;
	size_t n_u, cap_u;
};

static const char *state_name(enum rag_ragas_state s)
{
	return s == RAG_RAGAS_JUDGE_FAILED ? "judge_failed" : "not_computable";
}

static int add_unscored(struct tally *t, int m, size_t line, const char *qid, const struct rag_ragas_score *s)
{
	struct unscored *u;

	if (t->n_u == t->cap_u) {
		size_t cap = t->cap_u ? 2 * t->cap_u : 16;
		u = rag_realloc(t->u, cap * sizeof *u);
		if (!u)
			return -1;
		t->u = u;
		t->cap_u = cap;
	}
	u = &t->u[t->n_u];
	u->qid = rag_malloc(strlen(qid) + 1);
	if (!u->qid)
		return -1;
	memcpy(u->qid, qid, strlen(qid) + 1);
	u->metric = m;
	u->line = line;
	u->state = s->state[m];
	memcpy(u->why, s->why[m], sizeof u->why);
	t->n_u++;
	return 0;
}

static void write_record_json(struct rag_buf *b, const char *qid, size_t line, unsigned metrics,
			      const struct rag_ragas_score *s)
{
	struct rag_objw w, un, one;
	int m, any = 0;

	rag_objw_begin(&w, b);
	rag_objw_key(&w, "qid");
	rag_json_write_str(b, qid, strlen(qid));
	rag_objw_key(&w, "line");
	rag_json_write_num(b, (double)line);
	for (m = 0; m < RAG_RAGAS_N; m++)
		if (metrics & (1u << m)) {
			rag_objw_key(&w, rag_ragas_metric_name(m));
			rag_json_write_num(b, s->value[m]);
		}
	if (s->state[RAG_RAGAS_FACTUAL_CORRECTNESS] == RAG_RAGAS_OK) {
		rag_objw_key(&w, "factual_correctness_precision");
		rag_json_write_num(b, s->fc_precision);
		rag_objw_key(&w, "factual_correctness_recall");
		rag_json_write_num(b, s->fc_recall);
	}
	for (m = 0; m < RAG_RAGAS_N; m++) {
		if (!(metrics & (1u << m)) || s->state[m] == RAG_RAGAS_OK)
			continue;
		if (!any) {
			rag_objw_key(&w, "unscored");
			rag_objw_begin(&un, b);
			any = 1;
		}
		rag_objw_key(&un, rag_ragas_metric_name(m));
		rag_objw_begin(&one, b);
		rag_objw_key(&one, "kind");
		rag_json_write_str(b, state_name(s->state[m]), strlen(state_name(s->state[m])));
		rag_objw_key(&one, "why");
		rag_json_write_str(b, s->why[m], strlen(s->why[m]));
		rag_objw_end(&one);
	}
	if (any)
		rag_objw_end(&un);
	rag_objw_end(&w);
	rag_buf_addc(b, '\n');
}

static void write_summary_json(struct rag_buf *b, const struct answers_cfg *a, const struct tally *t,
			       const double *mean, struct rag_ragas *r)
{
	struct rag_objw top, w, c;
	const char *emb = a->ro.embed;
	size_t i, g;
	int m, first = 1;

	rag_objw_begin(&top, b);
	rag_objw_key(&top, "answers");
	rag_json_write_str(b, a->file, strlen(a->file));
	rag_objw_key(&top, "judge");
	rag_json_write_str(b, a->ro.judge, strlen(a->ro.judge));
	rag_objw_key(&top, "judge_hash");
	rag_json_write_str(b, rag_ragas_judge_hash(r), strlen(rag_ragas_judge_hash(r)));
	if (emb) {
		rag_objw_key(&top, "embed");
		rag_json_write_str(b, emb, strlen(emb));
	}
	rag_objw_key(&top, "records");
	rag_json_write_num(b, (double)t->records);
	rag_objw_key(&top, "measures");
	rag_objw_begin(&w, b);
	for (m = 0; m < RAG_RAGAS_N; m++)
		if (a->ro.metrics & (1u << m)) {
			rag_objw_key(&w, rag_ragas_metric_name(m));
			rag_json_write_num(b, mean[m]);
		}
	rag_objw_end(&w);
	rag_objw_key(&top, "scored");
	rag_objw_begin(&w, b);
	for (m = 0; m < RAG_RAGAS_N; m++)
		if (a->ro.metrics & (1u << m)) {
			rag_objw_key(&w, rag_ragas_metric_name(m));
			rag_json_write_num(b, (double)t->scored[m]);
		}
	rag_objw_end(&w);
	rag_objw_key(&top, "unscored");
	rag_buf_addc(b, '[');
	for (i = 0; i < t->n_u; i++) {
		const char *mn = rag_ragas_metric_name(t->u[i].metric), *k = state_name(t->u[i].state);
		if (i)
			rag_buf_addc(b, ',');
		rag_objw_begin(&w, b);
		rag_objw_key(&w, "metric");
		rag_json_write_str(b, mn, strlen(mn));
		rag_objw_key(&w, "qid");
		rag_json_write_str(b, t->u[i].qid, strlen(t->u[i].qid));
		rag_objw_key(&w, "line");
		rag_json_write_num(b, (double)t->u[i].line);
		rag_objw_key(&w, "kind");
		rag_json_write_str(b, k, strlen(k));
		rag_objw_key(&w, "why");
		rag_json_write_str(b, t->u[i].why, strlen(t->u[i].why));
		rag_objw_end(&w);
	}
	rag_buf_addc(b, ']');
	rag_objw_key(&top, "cache");
	rag_objw_begin(&c, b);
	if (a->ro.cache) {
		rag_objw_key(&c, "file");
		rag_json_write_str(b, a->ro.cache, strlen(a->ro.cache));
	}
	rag_objw_key(&c, "hits");
	rag_json_write_num(b, (double)rag_ragas_cache_hits(r));
	rag_objw_key(&c, "misses");
	rag_json_write_num(b, (double)rag_ragas_cache_misses(r));
	rag_objw_key(&c, "judge_calls");
	rag_json_write_num(b, (double)rag_ragas_judge_calls(r));
	rag_objw_end(&c);
	if (a->n_gates) {
		rag_objw_key(&top, "gates");
		rag_buf_addc(b, '[');
		for (g = 0; g < a->n_gates; g++) {
			double v = mean[rag_ragas_metric_parse(a->gates[g].name)];
			if (!first)
				rag_buf_addc(b, ',');
			first = 0;
			rag_objw_begin(&w, b);
			rag_objw_key(&w, "measure");
			rag_json_write_str(b, a->gates[g].name, strlen(a->gates[g].name));
			rag_objw_key(&w, "min");
			rag_json_write_num(b, a->gates[g].min);
			rag_objw_key(&w, "run");
			rag_json_write_str(b, a->file, strlen(a->file));
			rag_objw_key(&w, "value");
			rag_json_write_num(b, v);
			rag_objw_key(&w, "pass");
			rag_buf_adds(b, v >= a->gates[g].min ? "true" : "false");
			rag_objw_end(&w);
		}
		rag_buf_addc(b, ']');
	}
	rag_objw_end(&top);
	rag_buf_addc(b, '\n');
}

static void write_value(struct rag_buf *b, double v)
{
	if (isnan(v))
		rag_buf_adds(b, "-");
	else
		rag_buf_printf(b, "%.4f", v);
}

/* Read one record's fields; RAG_OK with *ok = 0 when the record was skipped. */
static int read_record(struct rag_jsonl_reader *jr, const struct rag_json *rec, struct rag_ragas_input *in,
		       const char ***ctx, size_t *cap, struct rag_error *err)
{
	static const char *const names[3][2] = {
		{ "question", "user_input" }, { "answer", "response" }, { "reference", "ground_truth" },
	};
	const char **dst[3];
	const struct rag_json *v;
	size_t i;
	int k;

	memset(in, 0, sizeof *in);
	dst[0] = &in->question;
	dst[1] = &in->answer;
	dst[2] = &in->reference;
	for (k = 0; k < 3; k++) {
		v = field(rec, names[k][0], names[k][1]);
		if (!v || v->type == RAG_JSON_NULL)
			continue;
		if (v->type != RAG_JSON_STRING)
			return rag_jsonl_reject(jr, err, "field '%s' is not a string", names[k][0]) ? RAG_EDATA : 1;
		*dst[k] = v->u.str.s;
	}
	v = field(rec, "contexts", "retrieved_contexts");
	if (v && v->type != RAG_JSON_NULL) {
		if (v->type != RAG_JSON_ARRAY)
			return rag_jsonl_reject(jr, err, "field 'contexts' is not an array") ? RAG_EDATA : 1;
		if (v->u.arr.n > *cap) {
			const char **p = rag_realloc(*ctx, v->u.arr.n * sizeof *p);
			if (!p)
				return rag_error_set(err, RAG_EINTERNAL, "out of memory");
			*ctx = p;
			*cap = v->u.arr.n;
		}
		for (i = 0; i < v->u.arr.n; i++) {
			const struct rag_json *it = &v->u.arr.items[i], *t = it;
			if (it->type == RAG_JSON_OBJECT)
				t = rag_json_get(it, "text");
			if (!t || t->type != RAG_JSON_STRING)
				return rag_jsonl_reject(jr, err,
							"contexts[%zu] is neither a string nor an object with a 'text' string",
							i) ? RAG_EDATA : 1;
			(*ctx)[i] = t->u.str.s;
		}
		in->contexts = *ctx;
		in->n_contexts = v->u.arr.n;
	}
	return RAG_OK;
}

int eval_answers(struct answers_cfg *a)
{
	struct rag_progress prog;
	struct rag_jsonl_reader jr;
	struct rag_error err;
	struct rag_ragas *r = NULL;
	struct rag_ragas_score *s = NULL;
	struct rag_buf b, qid;
	struct tally t;
	const char **ctx = NULL;
	size_t cap = 0, i, g;
	double mean[RAG_RAGAS_N];
	int rc, m, failed = 0, jr_open = 0;

	rag_error_clear(&err);
	rag_buf_init(&b);
	rag_buf_init(&qid);
	memset(&t, 0, sizeof t);
	a->ro.metrics = a->asked ? a->asked : (1u << RAG_RAGAS_N) - 1;
	for (g = 0; g < a->n_gates; g++) {
		m = rag_ragas_metric_parse(a->gates[g].name);
		if (m < 0) {
			rc = cli_usage("--min: '%s' is not an answer metric", a->gates[g].name);
			goto out;
		}
		a->ro.metrics |= 1u << m;
	}
	/* Without --embed and without -m, answer_relevancy is left out (named). */
	if (!a->asked && !a->ro.embed) {
		int gated = 0;
		for (g = 0; g < a->n_gates; g++)
			gated |= rag_ragas_metric_parse(a->gates[g].name) == RAG_RAGAS_ANSWER_RELEVANCY;
		if (!gated) {
			a->ro.metrics &= ~(1u << RAG_RAGAS_ANSWER_RELEVANCY);
			if (a->o->verbose >= 0)
				cli_warn("answer_relevancy left out: no --embed MODEL");
		}
	}
	if (!a->ro.judge) {
		rc = cli_usage("--answers needs --judge MODEL");
		goto out;
	}
	s = rag_malloc(sizeof *s);
	if (!s) {
		rc = rag_error_set(&err, RAG_EINTERNAL, "out of memory");
		goto report;
	}
	if ((rc = rag_jsonl_open(&jr, a->file, &err)))
		goto report;
	jr_open = 1;
	jr.skip_bad = a->o->skip_bad;
	jr.on_bad = cli_on_bad;
	jr.on_bad_ctx = (void *)a->o;
	if ((rc = rag_ragas_open(&a->ro, &r, &err))) {
		if (rc == RAG_EUSAGE) {
			rc = cli_usage("%s", err.msg);
			goto out;
		}
		goto report;
	}
	cli_progress_start(&prog, a->o, "records", 0);
	if (a->o->verbose > 0)
		prog.drawn = 1;  /* -v: always end with the summary line */
	for (;;) {
		const struct rag_json *rec, *q;
		struct rag_ragas_input in;
		int k;

		if ((rc = rag_jsonl_next(&jr, &rec, &err)))
			goto report;
		if (!rec)
			break;
		k = read_record(&jr, rec, &in, &ctx, &cap, &err);
		if (k == 1)
			continue;  /* skipped (--skip-bad) */
		if ((rc = k))
			goto report;
		rag_buf_reset(&qid);
		q = rag_json_get(rec, "qid");
		if (q && q->type == RAG_JSON_STRING)
			rag_buf_adds(&qid, q->u.str.s);
		else if (q && q->type == RAG_JSON_NUMBER)
			rag_buf_add(&qid, q->raw, q->raw_len);
		else
			rag_buf_printf(&qid, "line %zu", jr.lineno);
		rag_buf_addc(&qid, '\0');
		if (rag_buf_failed(&qid)) {
			rc = rag_error_set(&err, RAG_EINTERNAL, "out of memory");
			goto report;
		}
		if ((rc = rag_ragas_eval(r, &in, s, &err)))
			goto report;
		t.records++;
		rag_progress_update(&prog, t.records);
		for (m = 0; m < RAG_RAGAS_N; m++) {
			if (!(a->ro.metrics & (1u << m)))
				continue;
			if (s->state[m] == RAG_RAGAS_OK) {
				t.sum[m] += s->value[m];
				t.scored[m]++;
				continue;
			}
			if (add_unscored(&t, m, jr.lineno, qid.data, s)) {
				rc = rag_error_set(&err, RAG_EINTERNAL, "out of memory");
				goto report;
			}
			if (a->o->verbose >= 0)
				cli_warn("%s: line %zu (%s): %s %s: %s", jr.name, jr.lineno, qid.data,
					 rag_ragas_metric_name(m),
					 s->state[m] == RAG_RAGAS_JUDGE_FAILED ? "judge failed" : "not computable",
					 s->why[m]);
		}
		if (a->per_record) {
			if (a->json) {
				write_record_json(&b, qid.data, jr.lineno, a->ro.metrics, s);
			} else {
				for (m = 0; m < RAG_RAGAS_N; m++)
					if (a->ro.metrics & (1u << m)) {
						rag_buf_printf(&b, "%-22s\t%s\t", rag_ragas_metric_name(m), qid.data);
						write_value(&b, s->value[m]);
						rag_buf_addc(&b, '\n');
					}
			}
		}
	}
	rag_progress_finish(&prog);
	for (m = 0; m < RAG_RAGAS_N; m++)
		mean[m] = t.scored[m] ? t.sum[m] / (double)t.scored[m] : NAN;
	if (a->o->verbose > 0)
		cli_warn("cache: %zu hits, %zu misses; %zu judge calls", rag_ragas_cache_hits(r),
			 rag_ragas_cache_misses(r), rag_ragas_judge_calls(r));
	if (a->json) {
		write_summary_json(&b, a, &t, mean, r);
	} else {
		for (m = 0; m < RAG_RAGAS_N; m++)
			if (a->ro.metrics & (1u << m)) {
				rag_buf_printf(&b, "%-22s\tall\t", rag_ragas_metric_name(m));
				write_value(&b, mean[m]);
				rag_buf_addc(&b, '\n');
			}
		rag_buf_printf(&b, "%-22s\tall\t%zu\n", "num_records", t.records);
		for (m = 0; m < RAG_RAGAS_N; m++)
			if (a->ro.metrics & (1u << m))
				rag_buf_printf(&b, "unscored_%-13s\tall\t%zu\n", rag_ragas_metric_name(m),
					       t.records - t.scored[m]);
	}
	if (rag_buf_failed(&b)) {
		rc = rag_error_set(&err, RAG_EINTERNAL, "out of memory");
		goto report;
	}
	if ((rc = rag_buf_write(&b, stdout, "standard output", &err)))
		goto report;
	fflush(stdout);
	for (g = 0; g < a->n_gates; g++) {
		double v = mean[rag_ragas_metric_parse(a->gates[g].name)];
		if (!(v >= a->gates[g].min)) {
			if (isnan(v))
				cli_error("gate failed: %s of '%s' is undefined (no record scored), below %g",
					  a->gates[g].name, a->file, a->gates[g].min);
			else
				cli_error("gate failed: %s of '%s' is %.4f, below %g", a->gates[g].name, a->file, v,
					  a->gates[g].min);
			failed = 1;
		}
	}
	rc = failed ? RAG_EFAIL : RAG_OK;
	goto out;
report:
	cli_report(&err);
out:
	for (i = 0; i < t.n_u; i++)
		rag_free(t.u[i].qid);
	rag_free(t.u);
	rag_free(ctx);
	rag_free(s);
	rag_ragas_free(r);
	if (jr_open)
		rag_jsonl_release(&jr);
	rag_buf_free(&b);
	rag_buf_free(&qid);
	return rc;
}
