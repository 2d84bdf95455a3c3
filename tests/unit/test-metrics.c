/* test-metrics.c: qrels and run readers, trec_eval's measures on hand-computed cases, significance tests. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "metrics.h"
#include "qrels.h"
#include "stats.h"
#include "trecrun.h"

/* Write s to a fresh temporary file; the caller unlinks it. */
static char *tmpfile_with(const char *s)
{
	static char names[8][64];
	static int next;
	char *name = names[next++ % 8];
	int fd;

	snprintf(name, 64, "/tmp/test-metrics.XXXXXX");
	fd = mkstemp(name);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	close(fd);
	return name;
}

/* ---- measure names -------------------------------------------------------- */

struct spec_case {
	const char *spec;
	int rc;
	size_t n;           /* measures added */
	const char *first;  /* name of the first */
};

static const struct spec_case spec_cases[] = {
	{ "map", RAG_OK, 1, "map" },
	{ "P_10", RAG_OK, 1, "P_10" },
	{ "ndcg_cut_3", RAG_OK, 1, "ndcg_cut_3" },
	{ "ndcg_cut.5,10", RAG_OK, 2, "ndcg_cut_5" },
	{ "P", RAG_OK, 9, "P_5" },
	{ "success", RAG_OK, 3, "success_1" },
	{ "recall.100", RAG_OK, 1, "recall_100" },
	{ "all", RAG_OK, 9 + 3 * 9 + 3, "num_q" },
	{ "default", RAG_OK, 13, "num_q" },
	{ "P_0", RAG_EUSAGE, 0, NULL },
	{ "P_x", RAG_EUSAGE, 0, NULL },
	{ "P_", RAG_EUSAGE, 0, NULL },
	{ "map_10", RAG_EUSAGE, 0, NULL },
	{ "map.10", RAG_EUSAGE, 0, NULL },
	{ "P.5,,10", RAG_EUSAGE, 0, NULL },
	{ "MAP", RAG_EUSAGE, 0, NULL },
	{ "ndcg_cut_-1", RAG_EUSAGE, 0, NULL },
};

Test(metrics, measure_names)
{
	size_t i;

	for (i = 0; i < sizeof spec_cases / sizeof *spec_cases; i++) {
		const struct spec_case *c = &spec_cases[i];
		struct rag_measure_set s = { 0 };
		struct rag_error err;
		int rc = rag_measures_add(&s, c->spec, &err);

		cr_assert_eq(rc, c->rc, "%s: rc %d", c->spec, rc);
		if (rc == RAG_OK) {
			cr_assert_eq(s.n, c->n, "%s: %zu measures", c->spec, s.n);
			cr_assert_str_eq(s.m[0].name, c->first);
		}
		rag_measures_release(&s);
	}
}

Test(metrics, measure_set_has_no_duplicates)
{
	struct rag_measure_set s = { 0 };
	struct rag_error err;

	cr_assert_eq(rag_measures_add(&s, "P_10", &err), RAG_OK);
	cr_assert_eq(rag_measures_add(&s, "P.5,10", &err), RAG_OK);
	cr_assert_eq(rag_measures_add(&s, "map", &err), RAG_OK);
	cr_assert_eq(rag_measures_add(&s, "map", &err), RAG_OK);
	cr_assert_eq(s.n, 3);
	cr_assert_eq(rag_measures_find(&s, "P_5"), 1);
	cr_assert_eq(rag_measures_find(&s, "P_7"), -1);
	rag_measures_release(&s);
	rag_measures_release(NULL);
}

/* ---- measures on a hand-computed query ------------------------------------ */

/*
 * q1: judged d1 (1), d2 (0), d3 (2), d4 (1, never retrieved), n (-1, in pool
 * unjudged).  Run: d3 3.0, x 2.0, d1 2.0, n 1.5, d2 1.0 (rank column
 * scrambled).  trec_eval order: d3, x (tie with d1, "x" > "d1"), d1, n, d2;
 * grades [2, -1(not judged), 1, -2, 0]; 3 relevant (d1 d3 d4), 1 non-relevant.
 */
static const char qrels_text[] =
	"# comment\n"
	"q1 0 d1 1\n"
	"q1 0 d2 0\n"
	"q1 0 d3 2\n"
	"q1 0 d4 1\n"
	"q1 0 n -1\n"
	"\n"
	"q2 0 z 0\n";
static const char run_text[] =
	"q1 Q0 d1 1 2.0 r\n"
	"q1 Q0 x 2 2 r\n"
	"q1 Q0 d3 3 3.0 r\n"
	"q1 Q0 n 4 1.5 r\n"
	"q1 Q0 d2 5 1e0 r extra fields ignored\n"
	"q2 Q0 z 1 1 r\n"
	"q9 Q0 a 1 1 r\n";

struct want {
	const char *name;
	double v;
};

Test(metrics, hand_computed_query)
{
	struct rag_qrels qr;
	struct rag_run run;
	struct rag_measure_set s = { 0 };
	struct rag_eval_params p = { 1, 0 };
	struct rag_eval_result res;
	struct rag_error err;
	char *qf = tmpfile_with(qrels_text), *rf = tmpfile_with(run_text);
	const double l2 = 1.0 / log2(3.0), l4 = 0.5;
	const struct want w[] = {
		{ "num_q", 2 }, { "num_ret", 6 }, { "num_rel", 3 }, { "num_rel_ret", 2 },
		/* q1: rel at 1 and 3 -> (1/1 + 2/3) / 3 */
		{ "map", ((1.0 + 2.0 / 3.0) / 3.0) / 2 },
		/* R = 3: top 3 hold 2 relevant */
		{ "Rprec", (2.0 / 3.0) / 2 },
		/* judged order: d3 (rel, no nonrel before: 1), d1 (rel: 1), d2 nonrel; /3 */
		{ "bpref", (2.0 / 3.0) / 2 },
		{ "recip_rank", 1.0 / 2 },
		{ "P_1", 1.0 / 2 },
		{ "P_2", 0.5 / 2 },
		{ "P_10", 0.2 / 2 },
		{ "recall_3", (2.0 / 3.0) / 2 },
		{ "success_1", 1.0 / 2 },
		/* dcg = 2 + 1/log2(4); ideal = 2 + 1/log2(3) + 1/log2(4) */
		{ "ndcg", ((2 + l4) / (2 + l2 + l4)) / 2 },
		{ "ndcg_cut_1", 1.0 / 2 },
		{ "ndcg_cut_2", (2 / (2 + l2)) / 2 },
	};
	size_t i;

	cr_assert_eq(rag_qrels_load(&qr, qf, NULL, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(qr.nq, 2);
	cr_assert_eq(rag_qrels_rel(rag_qrels_find(&qr, "q1"), "n"), -2);
	cr_assert_eq(rag_qrels_rel(rag_qrels_find(&qr, "q1"), "nope"), -1);
	cr_assert_eq(rag_qrels_rel(rag_qrels_find(&qr, "q1"), "d3"), 2);
	cr_assert_eq(rag_run_load(&run, rf, NULL, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(run.format, RAG_RUN_TREC);
	cr_assert_str_eq(run.tag, "r");
	cr_assert_str_eq(run.q[0].docs[1].docid, "x");
	cr_assert_str_eq(run.q[0].docs[2].docid, "d1");
	for (i = 0; i < sizeof w / sizeof *w; i++)
		cr_assert_eq(rag_measures_add(&s, w[i].name, &err), RAG_OK);
	cr_assert_eq(rag_eval_run(&qr, &run, &p, &s, &res, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(res.nq, 2);
	cr_assert_eq(res.n_run_only, 1);
	cr_assert_str_eq(res.first_run_only, "q9");
	for (i = 0; i < sizeof w / sizeof *w; i++)
		cr_assert(fabs(res.summary[i] - w[i].v) < 1e-12, "%s = %.17g, want %.17g", w[i].name,
			  res.summary[i], w[i].v);
	rag_eval_result_release(&res);

	/* -l 2: only d3 is relevant (nDCG gains are unchanged) */
	p.rel_level = 2;
	cr_assert_eq(rag_eval_run(&qr, &run, &p, &s, &res, &err), RAG_OK);
	cr_assert(fabs(res.summary[rag_measures_find(&s, "map")] - 0.5) < 1e-12);
	cr_assert(fabs(res.summary[rag_measures_find(&s, "num_rel")] - 1) < 1e-12);
	cr_assert(fabs(res.summary[rag_measures_find(&s, "ndcg")] - ((2 + l4) / (2 + l2 + l4)) / 2) < 1e-12);
	rag_eval_result_release(&res);
	rag_eval_result_release(NULL);

	rag_measures_release(&s);
	rag_run_release(&run);
	rag_qrels_release(&qr);
	unlink(qf);
	unlink(rf);
}

Test(metrics, complete_counts_missing_queries_as_zero)
{
	struct rag_qrels qr;
	struct rag_run run;
	struct rag_measure_set s = { 0 };
	struct rag_eval_params p = { 1, 1 };
	struct rag_eval_result res;
	struct rag_error err;
	char *qf = tmpfile_with("a 0 d 1\nb 0 e 1\n"), *rf = tmpfile_with("a Q0 d 1 1 t\n");

	cr_assert_eq(rag_qrels_load(&qr, qf, NULL, &err), RAG_OK);
	cr_assert_eq(rag_run_load(&run, rf, NULL, &err), RAG_OK);
	cr_assert_eq(rag_measures_add(&s, "default", &err), RAG_OK);
	cr_assert_eq(rag_eval_run(&qr, &run, &p, &s, &res, &err), RAG_OK);
	cr_assert_eq(res.nq, 2);
	cr_assert_eq(res.n_missing, 1);
	cr_assert_eq(res.summary[rag_measures_find(&s, "map")], 0.5);
	cr_assert_eq(res.summary[rag_measures_find(&s, "num_ret")], 1);
	cr_assert_eq(res.summary[rag_measures_find(&s, "num_rel")], 2);
	rag_eval_result_release(&res);
	p.complete = 0;
	cr_assert_eq(rag_eval_run(&qr, &run, &p, &s, &res, &err), RAG_OK);
	cr_assert_eq(res.nq, 1);
	cr_assert_eq(res.summary[rag_measures_find(&s, "map")], 1);
	rag_eval_result_release(&res);
	rag_measures_release(&s);
	rag_run_release(&run);
	rag_qrels_release(&qr);
	unlink(qf);
	unlink(rf);
}

/* ---- bad input ------------------------------------------------------------ */

struct bad_case {
	int qrels;          /* 1: a qrels file, 0: a run */
	const char *text;
	const char *msg;    /* part of the message */
};

static const struct bad_case bad_cases[] = {
	{ 1, "q 0 d 1\nq 0 e\n", "line 2: expected 4 fields" },
	{ 1, "q 0 d 1 x\n", "line 1: expected 4 fields" },
	{ 1, "q 0 d 1.5\n", "line 1: relevance '1.5' is not an integer" },
	{ 1, "q 0 d 1\nq 0 d 0\n", "line 2: document 'd' judged twice for query 'q' (first on line 1)" },
	{ 0, "q Q0 d 1 1 t\nq Q0 e 2\n", "line 2: expected 6 fields" },
	{ 0, "q Q0 d 1 abc t\n", "line 1: score 'abc' is not a finite number" },
	{ 0, "q Q0 d 1 nan t\n", "score 'nan' is not a finite number" },
	{ 0, "q Q0 d 1 1 t\n\nq Q0 d 2 0.5 t\n", "line 3: document 'd' listed twice for query 'q' (first on line 1)" },
	{ 0, "{\"qid\":\"q\",\"id\":\"d\",\"score\":1}\n{\"qid\":\"q\",\"score\":1}\n", "line 2: no 'id' field" },
	{ 0, "{\"qid\":\"q\",\"id\":\"d\"}\n", "line 1: no 'score' (or 'rank') field" },
	{ 0, "{\"qid\":\"q\",\"id\":\"d\",\"score\":\"1\"}\n", "'score' is not a number" },
	{ 0, "{\"qid\":[1],\"id\":\"d\",\"score\":1}\n", "'qid' is not a string or number" },
	{ 0, "{\"qid\":\"q\",\"id\":\"d\",\"score\":1\n", "line 1: invalid JSON" },
	{ 0, "{\"qid\":\"q\",\"id\":\"d\",\"score\":1}\n[1]\n", "line 2: not a JSON object" },
};

Test(metrics, bad_input_names_the_line)
{
	size_t i;

	for (i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
		const struct bad_case *c = &bad_cases[i];
		char *f = tmpfile_with(c->text);
		struct rag_error err;
		int rc;

		rag_error_clear(&err);
		if (c->qrels) {
			struct rag_qrels qr;
			rc = rag_qrels_load(&qr, f, NULL, &err);
			rag_qrels_release(&qr);
		} else {
			struct rag_run run;
			rc = rag_run_load(&run, f, NULL, &err);
			rag_run_release(&run);
		}
		cr_assert_eq(rc, RAG_EDATA, "case %zu: rc %d", i, rc);
		cr_assert(strstr(err.msg, c->msg), "case %zu: message '%s' lacks '%s'", i, err.msg, c->msg);
		cr_assert(strstr(err.msg, f), "case %zu: message '%s' does not name the file", i, err.msg);
		unlink(f);
	}
}

Test(metrics, skip_bad_counts_lines)
{
	struct rag_run run;
	struct rag_run_opts o = { RAG_RUN_TREC, NULL, { 1, NULL, NULL, 0 } };
	struct rag_error err;
	char *f = tmpfile_with("q Q0 d 1 1 t\nbroken\nq Q0 e 1 x t\nq Q0 f 1 0 t\n");

	cr_assert_eq(rag_run_load(&run, f, &o, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(o.read.n_bad, 2);
	cr_assert_eq(run.n_docs, 2);
	rag_run_release(&run);
	unlink(f);
}

Test(metrics, missing_files_are_enoinput)
{
	struct rag_qrels qr;
	struct rag_run run;
	struct rag_error err;

	cr_assert_eq(rag_qrels_load(&qr, "/nonexistent/qrels", NULL, &err), RAG_ENOINPUT);
	rag_qrels_release(&qr);
	cr_assert_eq(rag_run_load(&run, "/nonexistent/run", NULL, &err), RAG_ENOINPUT);
	rag_run_release(&run);
}

Test(metrics, jsonl_hits_detected_and_ordered)
{
	struct rag_run run;
	struct rag_run_opts o = { RAG_RUN_AUTO, "doc_id", { 0, NULL, NULL, 0 } };
	struct rag_error err;
	char *f = tmpfile_with(
		"\n{\"qid\":7,\"doc_id\":\"b\",\"rank\":2}\n"
		"{\"qid\":7,\"doc_id\":\"a\",\"rank\":1,\"text\":\"x\"}\n"
		"{\"qid\":7,\"doc_id\":12,\"rank\":3}\n");

	cr_assert_eq(rag_run_load(&run, f, &o, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(run.format, RAG_RUN_JSONL);
	cr_assert_eq(run.nq, 1);
	cr_assert_str_eq(run.q[0].qid, "7");
	cr_assert_eq(run.q[0].n, 3);
	cr_assert_str_eq(run.q[0].docs[0].docid, "a");
	cr_assert_str_eq(run.q[0].docs[1].docid, "b");
	cr_assert_str_eq(run.q[0].docs[2].docid, "12");
	rag_run_release(&run);
	unlink(f);
}

Test(metrics, no_query_in_common_is_an_error)
{
	struct rag_qrels qr;
	struct rag_run run;
	struct rag_measure_set s = { 0 };
	struct rag_eval_params p = { 1, 0 };
	struct rag_eval_result res;
	struct rag_error err;
	char *qf = tmpfile_with("a 0 d 1\n"), *rf = tmpfile_with("b Q0 d 1 1 t\n");

	cr_assert_eq(rag_qrels_load(&qr, qf, NULL, &err), RAG_OK);
	cr_assert_eq(rag_run_load(&run, rf, NULL, &err), RAG_OK);
	cr_assert_eq(rag_measures_add(&s, "map", &err), RAG_OK);
	cr_assert_eq(rag_eval_run(&qr, &run, &p, &s, &res, &err), RAG_EDATA);
	cr_assert(strstr(err.msg, "no query of"), "%s", err.msg);
	rag_eval_result_release(&res);
	rag_measures_release(&s);
	rag_run_release(&run);
	rag_qrels_release(&qr);
	unlink(qf);
	unlink(rf);
}

/* Fail every allocation of load + evaluate in turn: an error, never a crash or leak. */
Test(metrics, allocation_failures_are_reported)
{
	char *qf = tmpfile_with(qrels_text), *rf = tmpfile_with(run_text);
	unsigned long n, total = 0, i;

	for (i = 0; i == 0 || i <= total; i++) {
		struct rag_qrels qr;
		struct rag_run run;
		struct rag_measure_set s = { 0 };
		struct rag_eval_params p = { 1, 1 };
		struct rag_eval_result res;
		struct rag_error err;
		int rc;

		memset(&res, 0, sizeof res);
		memset(&run, 0, sizeof run);
		rag_alloc_fail_after(i);
		rc = rag_qrels_load(&qr, qf, NULL, &err);
		if (!rc)
			rc = rag_run_load(&run, rf, NULL, &err);
		if (!rc)
			rc = rag_measures_add(&s, "all", &err);
		if (!rc)
			rc = rag_eval_run(&qr, &run, &p, &s, &res, &err);
		n = rag_alloc_fail_after(0);
		rag_eval_result_release(&res);
		rag_measures_release(&s);
		rag_run_release(&run);
		rag_qrels_release(&qr);
		if (i == 0) {
			cr_assert_eq(rc, RAG_OK);
			total = n;
			cr_assert_gt(total, 5);
			continue;
		}
		cr_assert_eq(rc, RAG_EINTERNAL, "allocation %lu of %lu: rc %d", i, total, rc);
	}
	unlink(qf);
	unlink(rf);
}

Test(metrics, gates)
{
	struct rag_gate g;
	struct rag_error err;

	cr_assert_eq(rag_gate_parse("ndcg_cut_10=0.6", &g, &err), RAG_OK);
	cr_assert_str_eq(g.name, "ndcg_cut_10");
	cr_assert_eq(g.min, 0.6);
	cr_assert_eq(rag_gate_parse("map", &g, &err), RAG_EUSAGE);
	cr_assert_eq(rag_gate_parse("=1", &g, &err), RAG_EUSAGE);
	cr_assert_eq(rag_gate_parse("map=", &g, &err), RAG_EUSAGE);
	cr_assert_eq(rag_gate_parse("map=0.5x", &g, &err), RAG_EUSAGE);
	cr_assert_eq(rag_gate_parse("map=inf", &g, &err), RAG_EUSAGE);
}

/* ---- statistics ----------------------------------------------------------- */

Test(stats, incomplete_beta_identities)
{
	double x;

	cr_assert(fabs(rag_betainc(3, 3, 0.5) - 0.5) < 1e-14);
	cr_assert(fabs(rag_betainc(0.5, 0.5, 0.5) - 0.5) < 1e-14);
	for (x = 0.05; x < 1; x += 0.1) {
		cr_assert(fabs(rag_betainc(1, 1, x) - x) < 1e-14);
		cr_assert(fabs(rag_betainc(2.5, 1, x) - pow(x, 2.5)) < 1e-13);
		cr_assert(fabs(rag_betainc(1, 4, x) - (1 - pow(1 - x, 4))) < 1e-13);
		/* symmetry I_x(a,b) = 1 - I_{1-x}(b,a) */
		cr_assert(fabs(rag_betainc(7.5, 0.5, x) - (1 - rag_betainc(0.5, 7.5, 1 - x))) < 1e-13);
	}
	cr_assert_eq(rag_betainc(2, 3, 0), 0);
	cr_assert_eq(rag_betainc(2, 3, 1), 1);
	cr_assert(isnan(rag_betainc(-1, 3, 0.5)));
	cr_assert(isnan(rag_betainc(2, 3, 1.5)));
}

Test(stats, t_pvalues)
{
	double t;

	/* df = 1 is the Cauchy distribution: p = 1 - 2 atan(|t|) / pi */
	for (t = 0.1; t < 20; t *= 1.7)
		cr_assert(fabs(rag_t_pvalue(t, 1) - (1 - 2 * atan(t) / M_PI)) < 1e-13, "t %g", t);
	/* df = 2: p = 1 - |t| / sqrt(2 + t^2) */
	for (t = 0.1; t < 20; t *= 1.7)
		cr_assert(fabs(rag_t_pvalue(-t, 2) - (1 - t / sqrt(2 + t * t))) < 1e-13, "t %g", t);
	/* tables: t(0.975, 10) = 2.228138852, t(0.995, 29) = 2.756385904 */
	cr_assert(fabs(rag_t_pvalue(2.228138852, 10) - 0.05) < 1e-8);
	cr_assert(fabs(rag_t_pvalue(2.756385904, 29) - 0.01) < 1e-8);
	cr_assert_eq(rag_t_pvalue(0, 5), 1);
	cr_assert_eq(rag_t_pvalue(INFINITY, 5), 0);
}

Test(stats, paired_tests)
{
	double a[20], b[20];
	struct rag_paired_test t1, t2;
	size_t i;

	for (i = 0; i < 20; i++) {
		a[i] = 0.5 + 0.01 * (double)(i % 7);
		b[i] = a[i] + 0.1 + 0.001 * (double)(i % 3);
	}
	rag_paired_test(a, b, 20, 2000, 42, &t1);
	cr_assert_eq(t1.n, 20);
	cr_assert(t1.t > 50);
	cr_assert(t1.p_t < 1e-10);
	/* every difference positive: only the all-flipped trials reach it */
	cr_assert(t1.p_rand < 0.002, "%g", t1.p_rand);
	rag_paired_test(a, b, 20, 2000, 42, &t2);
	cr_assert_eq(t1.p_rand, t2.p_rand);

	/* no difference at all */
	rag_paired_test(a, a, 20, 1000, 1, &t1);
	cr_assert_eq(t1.t, 0);
	cr_assert_eq(t1.p_t, 1);
	cr_assert_eq(t1.p_rand, 1);

	/* mixed signs, symmetric: nothing to see */
	for (i = 0; i < 20; i++)
		b[i] = a[i] + ((i & 1) ? 0.05 : -0.05);
	rag_paired_test(a, b, 20, 5000, 7, &t1);
	cr_assert(t1.p_t > 0.99);
	cr_assert(t1.p_rand > 0.9);
	rag_paired_test(a, b, 20, 0, 7, &t1);
	cr_assert(isnan(t1.p_rand));
	rag_paired_test(a, b, 0, 10, 7, &t1);
	cr_assert_eq(t1.n, 0);
	cr_assert_eq(t1.p_t, 1);
}
