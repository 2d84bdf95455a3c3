/* rag-rerank: hits in, the same hits re-scored by a cross-encoder and re-ranked per query. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "cli.h"
#include "cpu-tune.h"
#include "embed.h"
#include "json.h"
#include "jsonl.h"
#include "rerank.h"
#include "rerank_pipe.h"

static const char usage[] =
	"Usage: rag-rerank --model FILE [OPTIONS] [FILE...]\n"
	"Re-score retrieval hits (JSON Lines, the hits of one query on consecutive\n"
	"lines) with a cross-encoder and write them re-ranked.\n"
	"\n"
	"Options:\n"
	"      --model FILE        the cross-encoder (GGUF, BERT with a classifier\n"
	"                          head); or RAG_MODEL\n"
	"      --field NAME        the field holding the passage (default: text)\n"
	"      --queries FILE      query texts by qid (JSON Lines with qid and text),\n"
	"                          for hits without a query field\n"
	"      --top-k N           keep the N best hits of each query (default: all)\n"
	"      --score KIND        raw (the logit, default) or sigmoid\n"
	"      --max-tokens N      limit of a (query, passage) pair in tokens\n"
	"                          (default: the model's context length)\n"
	"      --window N          score long passages in windows of N tokens\n"
	"      --stride N          start a window every N tokens (default: N/2)\n"
	"      --aggregate HOW     max (default) or mean of the window scores\n"
	"      --batch-tokens N    tokens per forward pass (default: 2048 on the CPU,\n"
	"                          65536 on a GPU)\n"
	"      --threads N         CPU threads (default: all cores); or RAG_THREADS\n"
	"      --device DEV        auto, cpu or cuda (default: auto); or RAG_DEVICE\n"
	"      --skip-bad          skip bad hits instead of stopping (counted)\n"
	"      --shard I/N         keep only the hits of shard I of N (by qid; RAG_SHARD)\n"
	"  -v, --verbose           more messages\n"
	"  -q, --quiet             fewer messages\n"
	"  -h, --help              show this help and exit\n"
	"      --version           show the version and exit\n"
	"\n"
	"Each hit is written back byte for byte with \"scores\".\"rerank\", \"score\"\n"
	"and \"rank\" (1-based) set; hits with equal scores keep their input order.\n"
	"Exit status: 0 ok, 64 usage error, 65 bad record, 66 cannot open input,\n"
	"69 device unavailable, 74 write error, 78 not a cross-encoder.\n";

enum {
	OPT_FIELD = RAG_OPT_FIRST_PROGRAM,
	OPT_QUERIES,
	OPT_TOP_K,
	OPT_SCORE,
	OPT_MAX_TOKENS,
	OPT_WINDOW,
	OPT_STRIDE,
	OPT_AGGREGATE,
	OPT_BATCH_TOKENS,
};

static const struct option longopts[] = {
	RAG_LONGOPT_MODEL,
	{ "field", required_argument, NULL, OPT_FIELD },
	{ "queries", required_argument, NULL, OPT_QUERIES },
	{ "top-k", required_argument, NULL, OPT_TOP_K },
	{ "score", required_argument, NULL, OPT_SCORE },
	{ "max-tokens", required_argument, NULL, OPT_MAX_TOKENS },
	{ "window", required_argument, NULL, OPT_WINDOW },
	{ "stride", required_argument, NULL, OPT_STRIDE },
	{ "aggregate", required_argument, NULL, OPT_AGGREGATE },
	{ "batch-tokens", required_argument, NULL, OPT_BATCH_TOKENS },
	RAG_LONGOPT_THREADS,
	RAG_LONGOPT_DEVICE,
	RAG_LONGOPT_SKIP_BAD,
	RAG_LONGOPT_SHARD,
	RAG_LONGOPTS_BASIC,
	{ NULL, 0, NULL, 0 },
};

/* A query text from --queries, keyed by its qid. */
struct query {
	char *qid;
	char *text;
	size_t len;
};

struct job {
	struct rag_reranker *r;
	struct rag_rerank_opts ro;
	struct rag_opts *o;
	const char *field;
	long top_k;
	int sigmoid;
	struct query *queries;
	size_t n_queries;
	struct rag_progress prog; /* records written */
};

/* Default --batch-tokens: a GPU wants many tokens per forward pass. */
#define BATCH_TOKENS_CPU 2048
#define BATCH_TOKENS_GPU 65536

/* A qid as a string key: a string's contents, or the raw JSON of a number. */
static void qid_key(const struct rag_json *v, struct rag_buf *b)
{
	rag_buf_reset(b);
	if (v->type == RAG_JSON_STRING)
		rag_buf_add(b, v->u.str.s, v->u.str.len);
	else
		rag_buf_add(b, v->raw, v->raw_len);
	rag_buf_addc(b, '\0');
}

static int cmp_query(const void *a, const void *b)
{
	return strcmp(((const struct query *)a)->qid, ((const struct query *)b)->qid);
}

static int load_queries(struct job *j, const char *path, struct rag_error *err)
{
	struct rag_jsonl_reader r;
	const struct rag_json *rec;
	struct rag_buf key;
	size_t cap = 0;
	int rc;

	if ((rc = rag_jsonl_open(&r, path, err)))
		return rc;
	rag_buf_init(&key);
	for (;;) {
		const struct rag_json *q, *t;
		if ((rc = rag_jsonl_next(&r, &rec, err)) || !rec)
			break;
		q = rag_json_get(rec, "qid");
		t = rag_json_get(rec, "text");
		if (!q || (q->type != RAG_JSON_STRING && q->type != RAG_JSON_NUMBER) || !t || t->type != RAG_JSON_STRING) {
			rc = rag_jsonl_reject(&r, err, "a query needs a qid and a string text");
			if (rc)
				break;
			continue;
		}
		if (j->n_queries == cap) {
			struct query *nq = rag_reallocarray(j->queries, cap ? cap * 2 : 64, sizeof *nq);
			if (!nq) {
				rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
				break;
			}
			j->queries = nq;
			cap = cap ? cap * 2 : 64;
		}
		qid_key(q, &key);
		j->queries[j->n_queries].qid = rag_strdup(key.data ? key.data : "");
		j->queries[j->n_queries].text = rag_strndup(t->u.str.s, t->u.str.len);
		j->queries[j->n_queries].len = t->u.str.len;
		if (!j->queries[j->n_queries].qid || !j->queries[j->n_queries].text) {
			rag_free(j->queries[j->n_queries].qid);
			rag_free(j->queries[j->n_queries].text);
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			break;
		}
		j->n_queries++;
	}
	rag_buf_free(&key);
	rag_jsonl_release(&r);
	if (!rc && j->queries)
		qsort(j->queries, j->n_queries, sizeof *j->queries, cmp_query);
	return rc;
}

static const struct query *find_query(const struct job *j, const char *qid)
{
	struct query k = { (char *)qid, NULL, 0 };
	return j->n_queries ? bsearch(&k, j->queries, j->n_queries, sizeof k, cmp_query) : NULL;
}

/* rag_rerank_pipe's lookup: the query text of a qid (read-only, any thread). */
static const char *lookup(void *ctx, const char *qid, size_t *len)
{
	const struct query *q = find_query(ctx, qid);
	*len = q ? q->len : 0;
	return q ? q->text : NULL;
}

static void on_written(void *ctx, uint64_t n)
{
	rag_progress_update(ctx, n);
}

static int parse_count(const char *arg, const char *what, long *out)
{
	struct rag_error err;
	if (rag_parse_long(arg, 1, 1L << 24, out, what, &err))
		return cli_usage("%s", err.msg);
	return 0;
}

int main(int argc, char **argv)
{
	struct rag_opts o;
	struct rag_error err;
	struct job j;
	enum rag_device dev;
	struct rag_encoder_opts eo_dev = { 0 };
	const char *queries = NULL;
	struct rag_rerank_pipe_opts po;
	struct rag_rerank_pipe *pipe = NULL;
	size_t n_bad = 0;
	int c, rc = RAG_OK;
	long v;

	cli_cpu_tune(argv);
	cli_init(argv[0]);
	rag_error_clear(&err);
	memset(&j, 0, sizeof j);
	j.field = "text";
	j.o = &o;
	if (rag_opts_init(&o, &err))
		return cli_usage("%s", err.msg);
	opterr = 0;
	while ((c = getopt_long(argc, argv, RAG_SHORTOPTS_BASIC, longopts, NULL)) != -1) {
		switch (c) {
		case OPT_FIELD: j.field = optarg; break;
		case OPT_QUERIES: queries = optarg; break;
		case OPT_TOP_K:
			if (parse_count(optarg, "--top-k", &j.top_k))
				return RAG_EUSAGE;
			break;
		case OPT_SCORE:
			if (strcmp(optarg, "raw") == 0)
				j.sigmoid = 0;
			else if (strcmp(optarg, "sigmoid") == 0)
				j.sigmoid = 1;
			else
				return cli_usage("invalid value '%s' for --score (raw or sigmoid)", optarg);
			break;
		case OPT_MAX_TOKENS:
			if (parse_count(optarg, "--max-tokens", &j.ro.max_tokens))
				return RAG_EUSAGE;
			break;
		case OPT_WINDOW:
			if (parse_count(optarg, "--window", &j.ro.window))
				return RAG_EUSAGE;
			break;
		case OPT_STRIDE:
			if (parse_count(optarg, "--stride", &j.ro.stride))
				return RAG_EUSAGE;
			break;
		case OPT_AGGREGATE:
			if (strcmp(optarg, "max") == 0)
				j.ro.aggregate_mean = 0;
			else if (strcmp(optarg, "mean") == 0)
				j.ro.aggregate_mean = 1;
			else
				return cli_usage("invalid value '%s' for --aggregate (max or mean)", optarg);
			break;
		case OPT_BATCH_TOKENS:
			if (parse_count(optarg, "--batch-tokens", &v))
				return RAG_EUSAGE;
			j.ro.batch_tokens = (size_t)v;
			break;
		default:
			if (cli_option(&o, c, optarg, argv, longopts))
				return RAG_EUSAGE;
		}
	}
	if (cli_help_or_version(&o, usage))
		return cli_exit(RAG_OK);
	if (!o.model)
		return cli_usage("no model: give --model FILE or set RAG_MODEL");
	if ((j.ro.stride || j.ro.aggregate_mean) && !j.ro.window)
		return cli_usage("--stride and --aggregate go with --window");
	if (j.ro.stride > j.ro.window)
		return cli_usage("--stride %ld is larger than --window %ld: text would be skipped", j.ro.stride, j.ro.window);
	if ((rc = rag_encoder_device(o.device, &dev, &err)))
		goto out;
	rag_set_threads(o.threads);
	eo_dev.cuda = dev == RAG_DEVICE_CUDA;
	rc = rag_reranker_open(o.model, &eo_dev, &j.r, &err);
	if (rc == RAG_EUNAVAILABLE && o.device == RAG_DEVICE_AUTO) {
		/* auto: a GPU that cannot take this model means the CPU */
		if (o.verbose > 0)
			fprintf(stderr, "%s: %s; using the CPU\n", cli_prog(), err.msg);
		dev = RAG_DEVICE_CPU;
		eo_dev.cuda = 0;
		rc = rag_reranker_open(o.model, &eo_dev, &j.r, &err);
	}
	if (rc)
		goto out;
	if (o.verbose > 0)
		fprintf(stderr, "rag-rerank: %s on %s, %d threads\n", o.model, rag_device_name(dev), rag_get_threads());
	if (queries && (rc = load_queries(&j, queries, &err)))
		goto out;
	cli_progress_start(&j.prog, &o, "records", 0);
	if (o.verbose > 0)
		j.prog.drawn = 1; /* -v: always end with the summary line */
	if (!j.ro.batch_tokens)
		j.ro.batch_tokens = dev == RAG_DEVICE_CUDA ? BATCH_TOKENS_GPU : BATCH_TOKENS_CPU;
	rag_rerank_pipe_opts_init(&po);
	po.field = j.field;
	po.skip_bad = o.skip_bad;
	po.shard = o.shard;
	po.on_bad = cli_on_bad;
	po.on_bad_ctx = &o;
	if (j.queries) {
		po.lookup = lookup;
		po.lookup_ctx = &j;
	}
	po.top_k = j.top_k;
	po.sigmoid = j.sigmoid;
	po.out = stdout;
	po.on_written = on_written;
	po.on_written_ctx = &j.prog;
	if ((rc = rag_rerank_pipe_new(j.r, &j.ro, &po, &pipe, &err)))
		goto out;
	if (optind >= argc)
		rc = rag_rerank_pipe_file(pipe, "-", &err);
	for (int i = optind; i < argc && !rc; i++)
		rc = rag_rerank_pipe_file(pipe, argv[i], &err);
	{
		/* the groups finished before an input error are still written */
		struct rag_error e2;
		int rc2 = rag_rerank_pipe_finish(pipe, rc ? &e2 : &err);
		if (!rc)
			rc = rc2;
	}
	n_bad = rag_rerank_pipe_n_bad(pipe);
	if (!rc)
		rag_progress_finish(&j.prog);
	if (!rc && n_bad && o.verbose >= 0)
		cli_warn("skipped %zu bad record%s", n_bad, n_bad == 1 ? "" : "s");
out:
	if (rc)
		rc = cli_report(&err);
	for (size_t i = 0; i < j.n_queries; i++) {
		rag_free(j.queries[i].qid);
		rag_free(j.queries[i].text);
	}
	rag_rerank_pipe_free(pipe);
	rag_free(j.queries);
	rag_reranker_free(j.r);
	return cli_exit(rc);
}
