/* rag-eval: evaluate retrieval runs against qrels with trec_eval's measures; compare runs; gate on minimums. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "cli.h"
#include "cpu-tune.h"
#include "device.h"
#include "json.h"
#include "metrics.h"
#include "eval-answers.h"
#include "qrels.h"
#include "stats.h"
#include "trecrun.h"

static const char usage[] =
	"Usage: rag-eval --qrels QRELS [OPTIONS] RUN...\n"
	"   or: rag-eval --answers FILE --judge MODEL [--embed MODEL] [OPTIONS]\n"
	"Evaluate retrieval runs with trec_eval's measures and semantics; compare runs\n"
	"with paired significance tests; fail when a figure falls below a minimum.\n"
	"\n"
	"Input:\n"
	"      --qrels FILE        TREC qrels (qid iter docid rel); '-' reads stdin\n"
	"      --format FMT        run format: auto (default), trec or jsonl (hit records)\n"
	"      --id-field NAME     JSON Lines: the field naming the document (default id)\n"
	"      --skip-bad          skip malformed lines (counted, warned with -v)\n"
	"\n"
	"Measures:\n"
	"  -m, --measure NAME      a trec_eval measure: map ndcg ndcg_cut_K P_K recall_K\n"
	"                          success_K recip_rank Rprec bpref num_q num_ret num_rel\n"
	"                          num_rel_ret; also P.5,10 forms, 'all', 'default'\n"
	"  -l, --rel-level N       lowest grade that counts as relevant (default 1)\n"
	"  -c, --complete          average over every qrels query (missing ones score 0)\n"
	"\n"
	"Output:\n"
	"  -q, --per-query         also give each query's values\n"
	"      --json              JSON (per-query values as JSON Lines before it)\n"
	"      --permutations N    randomization test trials (default 10000; 0 = none)\n"
	"      --seed N            seed of the randomization test (default 0)\n"
	"      --min NAME=VALUE    exit 1 when a run's NAME is below VALUE (repeatable)\n"
	"  -v, --verbose           more messages (queries ignored, lines skipped)\n"
	"  -h, --help              show this help and exit\n"
	"      --version           show the version and exit\n"
	"\n"
	"Answer metrics (RAGAS-style, with a local judge):\n"
	"      --answers FILE      answer records (question, answer, contexts, reference)\n"
	"      --judge MODEL       decoder GGUF that gives the verdicts\n"
	"      --embed MODEL       embedding GGUF for answer_relevancy\n"
	"      --cache FILE        SQLite verdict cache (reruns are instant and identical)\n"
	"      --prompts DIR       judge prompts DIR/NAME.txt replacing the built-in ones\n"
	"      --max-tokens N      tokens per judge list answer (default 192)\n"
	"      --device DEV        where the judge runs: auto, cpu or cuda (default: auto)\n"
	"                          -m: faithfulness answer_relevancy context_precision\n"
	"                          context_recall factual_correctness (default: all)\n"
	"\n"
	"Exit status: 0 ok, 1 a --min gate failed, 64 usage error, 65 bad input line,\n"
	"66 cannot open an input, 69 device unavailable, 74 write error,\n"
	"78 bad judge/embedding model or cache.\n";

enum {
	OPT_QRELS = RAG_OPT_FIRST_PROGRAM,
	OPT_FORMAT,
	OPT_ID_FIELD,
	OPT_JSON,
	OPT_PERMUTATIONS,
	OPT_MIN,
	OPT_ANSWERS, OPT_JUDGE, OPT_EMBED, OPT_CACHE, OPT_PROMPTS, OPT_MAX_TOKENS,  /* answers mode */
};

static const struct option longopts[] = {
	{ "qrels", required_argument, NULL, OPT_QRELS },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "id-field", required_argument, NULL, OPT_ID_FIELD },
	RAG_LONGOPT_SKIP_BAD,
	{ "measure", required_argument, NULL, 'm' },
	{ "rel-level", required_argument, NULL, 'l' },
	{ "complete", no_argument, NULL, 'c' },
	{ "per-query", no_argument, NULL, 'q' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "permutations", required_argument, NULL, OPT_PERMUTATIONS },
	RAG_LONGOPT_SEED,
	{ "min", required_argument, NULL, OPT_MIN },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, RAG_OPT_VERSION },
	{ "answers", required_argument, NULL, OPT_ANSWERS },
	{ "judge", required_argument, NULL, OPT_JUDGE },
	{ "embed", required_argument, NULL, OPT_EMBED },
	{ "cache", required_argument, NULL, OPT_CACHE },
	{ "prompts", required_argument, NULL, OPT_PROMPTS },
	{ "max-tokens", required_argument, NULL, OPT_MAX_TOKENS },
	RAG_LONGOPT_DEVICE,
	{ NULL, 0, NULL, 0 },
};

/*
 * Everything the command line asks for.  Each kind of input is a mode with
 * its own function: retrieval runs against --qrels (eval_retrieval) today;
 * answer records (--answers, RAGAS-style metrics) are meant to be a second
 * mode beside it, sharing the measure list, the output forms (table, --json,
 * -q as JSON Lines) and the gates (check_gates, json_gates).
 */
struct eval_cfg {
	struct rag_opts o;
	const char *qrels;
	struct rag_run_opts run_opts;
	struct rag_measure_set ms;
	struct rag_eval_params params;
	int per_query;
	int json;
	uint64_t permutations;
	struct rag_gate *gates;
	size_t n_gates;
	char **inputs;
	int n_inputs;
};

/*
 * A figure to hold against the gates: every mode (retrieval now, answer
 * metrics later) reports its summary values through this.  Returns 1 when
 * some gate failed (after naming each failure on stderr).
 */
static int check_gates(const struct eval_cfg *cfg, const char *source, const char *const *names,
		       const double *values, size_t n)
{
	size_t g, i;
	int failed = 0;

	for (g = 0; g < cfg->n_gates; g++)
		for (i = 0; i < n; i++)
			if (strcmp(names[i], cfg->gates[g].name) == 0 && !(values[i] >= cfg->gates[g].min)) {
				cli_error("gate failed: %s of '%s' is %.4f, below %g", names[i], source,
					  values[i], cfg->gates[g].min);
				failed = 1;
			}
	return failed;
}

static void json_gates(struct rag_objw *top, const struct eval_cfg *cfg, const char *const *sources,
		       const double *const *values, size_t n_sources)
{
	struct rag_buf *b = top->b;
	size_t g, r;
	int first = 1;

	rag_objw_key(top, "gates");
	rag_buf_addc(b, '[');
	for (g = 0; g < cfg->n_gates; g++) {
		long mi = rag_measures_find(&cfg->ms, cfg->gates[g].name);
		for (r = 0; r < n_sources && mi >= 0; r++) {
			struct rag_objw w;
			double v = values[r][mi];
			if (!first)
				rag_buf_addc(b, ',');
			first = 0;
			rag_objw_begin(&w, b);
			rag_objw_key(&w, "measure");
			rag_json_write_str(b, cfg->gates[g].name, strlen(cfg->gates[g].name));
			rag_objw_key(&w, "min");
			rag_json_write_num(b, cfg->gates[g].min);
			rag_objw_key(&w, "run");
			rag_json_write_str(b, sources[r], strlen(sources[r]));
			rag_objw_key(&w, "value");
			rag_json_write_num(b, v);
			rag_objw_key(&w, "pass");
			rag_buf_adds(b, v >= cfg->gates[g].min ? "true" : "false");
			rag_objw_end(&w);
		}
	}
	rag_buf_addc(b, ']');
}

/* ---- retrieval mode ------------------------------------------------------ */

struct run_eval {
	struct rag_run run;
	struct rag_eval_result res;
};

/* Paired values of measure j for the queries both results evaluated. */
static size_t pair_values(const struct rag_eval_result *a, const struct rag_eval_result *b,
			  size_t j, double *va, double *vb)
{
	size_t i, n = 0;

	for (i = 0; i < a->nq; i++) {
		long k = rag_eval_result_find(b, a->qids[i]);
		if (k < 0)
			continue;
		va[n] = a->per_query[i * a->n_measures + j];
		vb[n] = b->per_query[(size_t)k * b->n_measures + j];
		n++;
	}
	return n;
}

static void json_num_or_null(struct rag_buf *b, double v)
{
	rag_json_write_num(b, v);  /* NaN and infinities become null */
}

static int write_tests(struct rag_buf *b, const struct eval_cfg *cfg, struct run_eval *re, int n_runs,
		       int json, struct rag_error *err)
{
	size_t maxq = re[0].res.nq, j;
	double *va, *vb;
	int r, first = 1;

	va = rag_calloc(maxq ? maxq : 1, sizeof *va);
	vb = rag_calloc(maxq ? maxq : 1, sizeof *vb);
	if (!va || !vb) {
		rag_free(va);
		rag_free(vb);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	if (!json) {
		rag_buf_printf(b, "\npaired tests against %s (two-sided; randomization: %llu permutations, seed %llu):\n",
			       re[0].run.name, (unsigned long long)cfg->permutations,
			       (unsigned long long)cfg->o.seed);
		rag_buf_printf(b, "%-22s %-22s %6s %9s %8s %8s %8s\n", "run", "measure", "n", "diff", "t",
			       "p(t)", "p(rand)");
	}
	for (r = 1; r < n_runs; r++)
		for (j = 0; j < cfg->ms.n; j++) {
			struct rag_paired_test t;
			size_t n;

			if (rag_measure_is_count(&cfg->ms.m[j]))
				continue;
			n = pair_values(&re[0].res, &re[r].res, j, va, vb);
			rag_paired_test(va, vb, n, cfg->permutations, cfg->o.seed, &t);
			if (json) {
				struct rag_objw w;
				if (!first)
					rag_buf_addc(b, ',');
				first = 0;
				rag_objw_begin(&w, b);
				rag_objw_key(&w, "baseline");
				rag_json_write_str(b, re[0].run.name, strlen(re[0].run.name));
				rag_objw_key(&w, "run");
				rag_json_write_str(b, re[r].run.name, strlen(re[r].run.name));
				rag_objw_key(&w, "measure");
				rag_json_write_str(b, cfg->ms.m[j].name, strlen(cfg->ms.m[j].name));
				rag_objw_key(&w, "n");
				rag_json_write_num(b, (double)t.n);
				rag_objw_key(&w, "mean_baseline");
				rag_json_write_num(b, t.mean_a);
				rag_objw_key(&w, "mean_run");
				rag_json_write_num(b, t.mean_b);
				rag_objw_key(&w, "diff");
				rag_json_write_num(b, t.mean_diff);
				rag_objw_key(&w, "t");
				json_num_or_null(b, t.t);
				rag_objw_key(&w, "p_t");
				json_num_or_null(b, t.p_t);
				rag_objw_key(&w, "p_randomization");
				json_num_or_null(b, t.p_rand);
				rag_objw_end(&w);
			} else {
				rag_buf_printf(b, "%-22s %-22s %6zu %+9.4f %8.3f %8.4f ", re[r].run.name,
					       cfg->ms.m[j].name, t.n, t.mean_diff, t.t, t.p_t);
				if (isnan(t.p_rand))
					rag_buf_printf(b, "%8s\n", "-");
				else
					rag_buf_printf(b, "%8.4f\n", t.p_rand);
			}
		}
	rag_free(va);
	rag_free(vb);
	return RAG_OK;
}

/* trec_eval's own layout for one run: "measure<TAB>qid<TAB>value". */
static void write_trec_table(struct rag_buf *b, const struct eval_cfg *cfg, const struct run_eval *re)
{
	size_t i, j;

	if (cfg->per_query)
		for (i = 0; i < re->res.nq; i++)
			for (j = 0; j < cfg->ms.n; j++) {
				if (cfg->ms.m[j].kind == RAG_M_NUM_Q)
					continue;
				rag_buf_printf(b, "%-22s\t%s\t", cfg->ms.m[j].name, re->res.qids[i]);
				rag_measure_format(b, &cfg->ms.m[j], re->res.per_query[i * cfg->ms.n + j]);
				rag_buf_addc(b, '\n');
			}
	if (re->run.tag)
		rag_buf_printf(b, "%-22s\tall\t%s\n", "runid", re->run.tag);
	for (j = 0; j < cfg->ms.n; j++) {
		rag_buf_printf(b, "%-22s\tall\t", cfg->ms.m[j].name);
		rag_measure_format(b, &cfg->ms.m[j], re->res.summary[j]);
		rag_buf_addc(b, '\n');
	}
}

/* Several runs side by side. */
static void write_side_by_side(struct rag_buf *b, const struct eval_cfg *cfg, const struct run_eval *re,
			       int n_runs)
{
	int r;
	size_t i, j, width = 10;
	struct rag_buf cell;

	rag_buf_init(&cell);
	for (r = 0; r < n_runs; r++)
		if (strlen(re[r].run.name) > width)
			width = strlen(re[r].run.name);
	rag_buf_printf(b, "%-22s %-10s", "measure", "qid");
	for (r = 0; r < n_runs; r++)
		rag_buf_printf(b, " %*s", (int)width, re[r].run.name);
	rag_buf_addc(b, '\n');
	if (cfg->per_query) {
		/* every query any run evaluated, in the first run's order, then the others' */
		for (r = 0; r < n_runs; r++)
			for (i = 0; i < re[r].res.nq; i++) {
				const char *qid = re[r].res.qids[i];
				int seen = 0, s;
				for (s = 0; s < r && !seen; s++)
					seen = rag_eval_result_find(&re[s].res, qid) >= 0;
				if (seen)
					continue;
				for (j = 0; j < cfg->ms.n; j++) {
					if (cfg->ms.m[j].kind == RAG_M_NUM_Q)
						continue;
					rag_buf_printf(b, "%-22s %-10s", cfg->ms.m[j].name, qid);
					for (s = 0; s < n_runs; s++) {
						long k = rag_eval_result_find(&re[s].res, qid);
						rag_buf_reset(&cell);
						if (k < 0)
							rag_buf_adds(&cell, "-");
						else
							rag_measure_format(&cell, &cfg->ms.m[j],
									   re[s].res.per_query[(size_t)k * cfg->ms.n + j]);
						rag_buf_printf(b, " %*s", (int)width, cell.data ? cell.data : "");
					}
					rag_buf_addc(b, '\n');
				}
			}
	}
	for (j = 0; j < cfg->ms.n; j++) {
		rag_buf_printf(b, "%-22s %-10s", cfg->ms.m[j].name, "all");
		for (r = 0; r < n_runs; r++) {
			rag_buf_reset(&cell);
			rag_measure_format(&cell, &cfg->ms.m[j], re[r].res.summary[j]);
			rag_buf_printf(b, " %*s", (int)width, cell.data ? cell.data : "");
		}
		rag_buf_addc(b, '\n');
	}
	rag_buf_free(&cell);
}

static void write_json_per_query(struct rag_buf *b, const struct eval_cfg *cfg, const struct run_eval *re)
{
	size_t i, j;

	for (i = 0; i < re->res.nq; i++) {
		struct rag_objw w;
		rag_objw_begin(&w, b);
		rag_objw_key(&w, "run");
		rag_json_write_str(b, re->run.name, strlen(re->run.name));
		rag_objw_key(&w, "qid");
		rag_json_write_str(b, re->res.qids[i], strlen(re->res.qids[i]));
		for (j = 0; j < cfg->ms.n; j++) {
			rag_objw_key(&w, cfg->ms.m[j].name);
			rag_json_write_num(b, re->res.per_query[i * cfg->ms.n + j]);
		}
		rag_objw_end(&w);
		rag_buf_addc(b, '\n');
	}
}

static int write_json_summary(struct rag_buf *b, const struct eval_cfg *cfg, struct run_eval *re,
			      int n_runs, struct rag_error *err)
{
	struct rag_objw top;
	const char **names = NULL;
	const double **values = NULL;
	size_t j;
	int r, rc = RAG_OK;

	rag_objw_begin(&top, b);
	rag_objw_key(&top, "qrels");
	rag_json_write_str(b, cfg->qrels, strlen(cfg->qrels));
	rag_objw_key(&top, "rel_level");
	rag_json_write_num(b, (double)cfg->params.rel_level);
	rag_objw_key(&top, "complete");
	rag_buf_adds(b, cfg->params.complete ? "true" : "false");
	rag_objw_key(&top, "runs");
	rag_buf_addc(b, '[');
	for (r = 0; r < n_runs; r++) {
		struct rag_objw w, m;
		if (r)
			rag_buf_addc(b, ',');
		rag_objw_begin(&w, b);
		rag_objw_key(&w, "run");
		rag_json_write_str(b, re[r].run.name, strlen(re[r].run.name));
		rag_objw_key(&w, "format");
		rag_buf_printf(b, "\"%s\"", rag_run_format_name(re[r].run.format));
		if (re[r].run.tag) {
			rag_objw_key(&w, "tag");
			rag_json_write_str(b, re[r].run.tag, strlen(re[r].run.tag));
		}
		rag_objw_key(&w, "queries_not_in_qrels");
		rag_json_write_num(b, (double)re[r].res.n_run_only);
		rag_objw_key(&w, "qrels_queries_not_in_run");
		rag_json_write_num(b, (double)re[r].res.n_missing);
		rag_objw_key(&w, "measures");
		rag_objw_begin(&m, b);
		for (j = 0; j < cfg->ms.n; j++) {
			rag_objw_key(&m, cfg->ms.m[j].name);
			rag_json_write_num(b, re[r].res.summary[j]);
		}
		rag_objw_end(&m);
		rag_objw_end(&w);
	}
	rag_buf_addc(b, ']');
	if (n_runs > 1) {
		rag_objw_key(&top, "tests");
		rag_buf_addc(b, '[');
		if ((rc = write_tests(b, cfg, re, n_runs, 1, err)))
			return rc;
		rag_buf_addc(b, ']');
	}
	if (cfg->n_gates) {
		names = rag_calloc((size_t)n_runs, sizeof *names);
		values = rag_calloc((size_t)n_runs, sizeof *values);
		if (!names || !values) {
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			goto out;
		}
		for (r = 0; r < n_runs; r++) {
			names[r] = re[r].run.name;
			values[r] = re[r].res.summary;
		}
		json_gates(&top, cfg, names, values, (size_t)n_runs);
	}
	rag_objw_end(&top);
	rag_buf_addc(b, '\n');
out:
	rag_free(names);
	rag_free(values);
	return rc;
}

static int eval_retrieval(struct eval_cfg *cfg, struct rag_error *err)
{
	struct rag_qrels qr;
	struct run_eval *re;
	struct rag_buf b;
	const char **names = NULL;
	int r, rc, failed = 0;
	size_t j;

	rag_buf_init(&b);
	re = rag_calloc((size_t)cfg->n_inputs, sizeof *re);
	names = rag_calloc(cfg->ms.n ? cfg->ms.n : 1, sizeof *names);
	if (!re || !names) {
		rag_free(re);
		rag_free(names);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	for (j = 0; j < cfg->ms.n; j++)
		names[j] = cfg->ms.m[j].name;
	rc = rag_qrels_load(&qr, cfg->qrels, &cfg->run_opts.read, err);
	if (rc)
		goto out;
	for (r = 0; r < cfg->n_inputs; r++) {
		if ((rc = rag_run_load(&re[r].run, cfg->inputs[r], &cfg->run_opts, err)))
			goto out;
		if ((rc = rag_eval_run(&qr, &re[r].run, &cfg->params, &cfg->ms, &re[r].res, err)))
			goto out;
		if (cfg->o.verbose > 0 && re[r].res.n_run_only)
			cli_warn("%s: %zu %s not in the qrels ignored (first: '%s')", re[r].run.name,
				 re[r].res.n_run_only, re[r].res.n_run_only == 1 ? "query" : "queries",
				 re[r].res.first_run_only);
		if (cfg->o.verbose > 0 && re[r].res.n_missing)
			cli_warn("%s: %zu qrels %s without results %s", re[r].run.name, re[r].res.n_missing,
				 re[r].res.n_missing == 1 ? "query" : "queries",
				 cfg->params.complete ? "scored 0 (-c)" : "skipped (use -c to count them as 0)");
	}
	if (cfg->json) {
		if (cfg->per_query)
			for (r = 0; r < cfg->n_inputs; r++)
				write_json_per_query(&b, cfg, &re[r]);
		if ((rc = write_json_summary(&b, cfg, re, cfg->n_inputs, err)))
			goto out;
	} else if (cfg->n_inputs == 1) {
		write_trec_table(&b, cfg, &re[0]);
	} else {
		write_side_by_side(&b, cfg, re, cfg->n_inputs);
		if ((rc = write_tests(&b, cfg, re, cfg->n_inputs, 0, err)))
			goto out;
	}
	if (rag_buf_failed(&b)) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
	if ((rc = rag_buf_write(&b, stdout, "standard output", err)))
		goto out;
	fflush(stdout);
	for (r = 0; r < cfg->n_inputs; r++)
		failed |= check_gates(cfg, re[r].run.name, names, re[r].res.summary, cfg->ms.n);
	rc = failed ? RAG_EFAIL : RAG_OK;
out:
	for (r = 0; r < cfg->n_inputs; r++) {
		rag_eval_result_release(&re[r].res);
		rag_run_release(&re[r].run);
	}
	rag_free(re);
	rag_free(names);
	rag_qrels_release(&qr);
	rag_buf_free(&b);
	return rc;
}

int main(int argc, char **argv)
{
	struct eval_cfg cfg;
	struct answers_cfg ans;
	struct rag_error err;
	int c, rc = RAG_OK, any_measure = 0;
	long l;
	size_t g;

	cli_cpu_tune(argv);
	cli_init(argv[0]);
	rag_error_clear(&err);
	memset(&cfg, 0, sizeof cfg);
	memset(&ans, 0, sizeof ans);
	rag_ragas_opts_init(&ans.ro);
	cfg.params.rel_level = 1;
	cfg.permutations = 10000;
	cfg.run_opts.format = RAG_RUN_AUTO;
	cfg.run_opts.id_field = "id";
	if (rag_opts_init(&cfg.o, &err))
		return cli_usage("%s", err.msg);
	cfg.gates = rag_calloc((size_t)argc, sizeof *cfg.gates);
	if (!cfg.gates) {
		cli_error("out of memory");
		return RAG_EINTERNAL;
	}
	opterr = 0;
	while ((c = getopt_long(argc, argv, RAG_SHORTOPTS_BASIC "m:l:c", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_QRELS: cfg.qrels = optarg; break;
		case OPT_FORMAT:
			if (rag_run_format_parse(optarg, &cfg.run_opts.format)) {
				rc = cli_usage("invalid value '%s' for --format (auto, trec or jsonl)", optarg);
				goto out;
			}
			break;
		case OPT_ID_FIELD: cfg.run_opts.id_field = optarg; break;
		case 'm':
			if (answers_is_metric(optarg)) {
				ans.asked |= 1u << rag_ragas_metric_parse(optarg);
				break;
			}
			if ((rc = rag_measures_add(&cfg.ms, optarg, &err))) {
				rc = rc == RAG_EUSAGE ? cli_usage("%s", err.msg) : cli_report(&err);
				goto out;
			}
			any_measure = 1;
			break;
		case 'l':
			if (rag_parse_long(optarg, 0, 1000000, &l, "--rel-level", &err)) {
				rc = cli_usage("%s", err.msg);
				goto out;
			}
			cfg.params.rel_level = l;
			break;
		case 'c': cfg.params.complete = 1; break;
		case 'q': cfg.per_query = 1; break;
		case OPT_JSON: cfg.json = 1; break;
		case OPT_PERMUTATIONS:
			if (rag_parse_long(optarg, 0, 100000000, &l, "--permutations", &err)) {
				rc = cli_usage("%s", err.msg);
				goto out;
			}
			cfg.permutations = (uint64_t)l;
			break;
		case OPT_MIN:
			if (rag_gate_parse(optarg, &cfg.gates[cfg.n_gates], &err)) {
				rc = cli_usage("%s", err.msg);
				goto out;
			}
			cfg.n_gates++;
			break;
		case OPT_ANSWERS: ans.file = optarg; break;
		case OPT_JUDGE: ans.ro.judge = optarg; break;
		case OPT_EMBED: ans.ro.embed = optarg; break;
		case OPT_CACHE: ans.ro.cache = optarg; break;
		case OPT_PROMPTS: ans.ro.prompts_dir = optarg; break;
		case OPT_MAX_TOKENS:
			if (rag_parse_long(optarg, 1, 4096, &l, "--max-tokens", &err)) {
				rc = cli_usage("%s", err.msg);
				goto out;
			}
			ans.ro.judge_opts.max_tokens = l;
			break;
		default:
			if (cli_option(&cfg.o, c, optarg, argv, longopts)) {
				rc = RAG_EUSAGE;
				goto out;
			}
		}
	}
	if (cfg.o.help) {
		fputs(usage, stdout);
		rc = cli_exit(RAG_OK);
		goto out;
	}
	if (cfg.o.version) {
		cli_version();
		rc = cli_exit(RAG_OK);
		goto out;
	}
	cfg.run_opts.read.skip_bad = cfg.o.skip_bad;
	cfg.run_opts.read.on_bad = cli_on_bad;
	cfg.run_opts.read.on_bad_ctx = &cfg.o;
	if (ans.file) {
		if (cfg.qrels || any_measure || optind < argc) {
			rc = cli_usage("--answers takes no --qrels, RUN files or retrieval measures");
			goto out;
		}
		ans.per_record = cfg.per_query;
		ans.json = cfg.json;
		ans.o = &cfg.o;
		ans.ro.judge_opts.seed = cfg.o.seed;
		{
			/* the judge on the GPU when asked or (auto) when one works */
			enum rag_device dev;
			char desc[300];
			if ((rc = rag_device_resolve(cfg.o.device, &dev, desc, sizeof desc, &err))) {
				rc = cli_exit(cli_report(&err));
				goto out;
			}
			ans.ro.judge_opts.cuda = dev == RAG_DEVICE_CUDA;
			ans.ro.judge_opts.cpu_fallback = cfg.o.device == RAG_DEVICE_AUTO;
			if (cfg.o.verbose > 0)
				fprintf(stderr, "rag-eval: judge on %s%s\n", desc,
					ans.ro.judge_opts.cuda && ans.ro.judge_opts.cpu_fallback
						? " (the CPU if the GPU cannot take the model)" : "");
		}
		ans.gates = cfg.gates;
		ans.n_gates = cfg.n_gates;
		rc = cli_exit(eval_answers(&ans));
		goto out;
	}
	if (ans.asked) {
		rc = cli_usage("answer metrics (-m) need --answers FILE");
		goto out;
	}
	if (!cfg.qrels) {
		rc = cli_usage("missing --qrels FILE");
		goto out;
	}
	if (optind >= argc) {
		rc = cli_usage("missing RUN file");
		goto out;
	}
	cfg.inputs = argv + optind;
	cfg.n_inputs = argc - optind;
	if (!any_measure && (rc = rag_measures_add(&cfg.ms, "default", &err))) {
		rc = cli_report(&err);
		goto out;
	}
	/* A gate's measure is computed even when -m did not ask for it. */
	for (g = 0; g < cfg.n_gates; g++) {
		if (rag_measures_find(&cfg.ms, cfg.gates[g].name) >= 0)
			continue;
		if ((rc = rag_measures_add(&cfg.ms, cfg.gates[g].name, &err)) ||
		    rag_measures_find(&cfg.ms, cfg.gates[g].name) < 0) {
			rc = cli_usage("--min: '%s' is not a single measure", cfg.gates[g].name);
			goto out;
		}
	}
	/* The only mode so far (see struct eval_cfg). */
	rc = eval_retrieval(&cfg, &err);
	if (rc != RAG_OK && rc != RAG_EFAIL)
		cli_report(&err);
	rc = cli_exit(rc);
out:
	rag_measures_release(&cfg.ms);
	rag_free(cfg.gates);
	return rc;
}
