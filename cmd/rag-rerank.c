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
	"      --batch-tokens N    tokens per forward pass (default: 2048)\n"
	"      --threads N         CPU threads (default: all cores); or RAG_THREADS\n"
	"      --device DEV        auto, cpu or cuda (default: auto); or RAG_DEVICE\n"
	"      --skip-bad          skip bad hits instead of stopping (counted)\n"
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
	/* the current group (one qid) */
	struct rag_buf qid;            /* its key */
	struct rag_buf query;          /* its query text */
	struct rag_buf raw;            /* the hits' lines, NUL-separated */
	size_t *raw_off;
	size_t *text_off, *text_len;   /* passage text (decoded, in texts) */
	struct rag_buf texts;
	size_t n, cap;
	struct rag_rerank_doc *docs;
	float *scores;
	size_t *order;
	struct rag_arena arena;
	struct rag_buf out;
	size_t n_bad;
	struct rag_progress prog; /* records written */
	uint64_t n_done;
};

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

/* Order of the group: by score, descending; equal scores keep input order. */
static const float *sort_scores;
static int cmp_order(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	if (sort_scores[x] != sort_scores[y])
		return sort_scores[x] > sort_scores[y] ? -1 : 1;
	return x < y ? -1 : (x > y);
}

static int flush_group(struct job *j, struct rag_error *err)
{
	static const char *const drop[] = { "score", "rank", "scores", NULL };
	size_t keep;
	int rc;

	if (j->n == 0)
		return RAG_OK;
	for (size_t i = 0; i < j->n; i++) {
		j->docs[i].text = j->texts.data + j->text_off[i];
		j->docs[i].len = j->text_len[i];
		j->order[i] = i;
	}
	if ((rc = rag_rerank_score(j->r, j->query.data, j->query.len, j->docs, j->n, &j->ro, j->scores, err)))
		return rc;
	if (j->sigmoid)
		for (size_t i = 0; i < j->n; i++)
			j->scores[i] = 1.0f / (1.0f + expf(-j->scores[i]));
	sort_scores = j->scores;
	qsort(j->order, j->n, sizeof *j->order, cmp_order);
	keep = j->top_k > 0 && (size_t)j->top_k < j->n ? (size_t)j->top_k : j->n;
	rag_buf_reset(&j->out);
	for (size_t k = 0; k < keep; k++) {
		size_t i = j->order[k];
		struct rag_json *rec;
		const struct rag_json *old;
		struct rag_objw w, s;
		static const char *const drop_rerank[] = { "rerank", NULL };
		rag_arena_reset(&j->arena);
		if ((rc = rag_json_parse(&j->arena, j->raw.data + j->raw_off[i], strlen(j->raw.data + j->raw_off[i]),
					 &rec, err)))
			return rc;
		rag_objw_begin(&w, &j->out);
		rag_objw_copy(&w, rec, drop);
		rag_objw_key(&w, "scores");
		rag_objw_begin(&s, &j->out);
		old = rag_json_get(rec, "scores");
		if (old && old->type == RAG_JSON_OBJECT)
			rag_objw_copy(&s, old, drop_rerank);
		rag_objw_key(&s, "rerank"); /* same shape as rag-retrieve's legs */
		rag_buf_adds(&j->out, "{\"score\":");
		rag_json_write_float(&j->out, j->scores[i]);
		rag_buf_adds(&j->out, ",\"rank\":");
		rag_json_write_num(&j->out, (double)(k + 1));
		rag_buf_addc(&j->out, '}');
		rag_objw_end(&s);
		rag_objw_key(&w, "score");
		rag_json_write_float(&j->out, j->scores[i]);
		rag_objw_key(&w, "rank");
		rag_json_write_num(&j->out, (double)(k + 1));
		rag_objw_end(&w);
		rag_buf_addc(&j->out, '\n');
	}
	if (rag_buf_failed(&j->out))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	if ((rc = rag_buf_write(&j->out, stdout, "standard output", err)))
		return rc;
	j->n_done += keep;
	rag_progress_update(&j->prog, j->n_done);
	j->n = 0;
	rag_buf_reset(&j->raw);
	rag_buf_reset(&j->texts);
	return RAG_OK;
}

static int grow(struct job *j)
{
	size_t cap = j->cap ? j->cap * 2 : 64;
	size_t *a = rag_reallocarray(j->raw_off, cap, sizeof *a);
	if (!a)
		return -1;
	j->raw_off = a;
	if (!(a = rag_reallocarray(j->text_off, cap, sizeof *a)))
		return -1;
	j->text_off = a;
	if (!(a = rag_reallocarray(j->text_len, cap, sizeof *a)))
		return -1;
	j->text_len = a;
	if (!(a = rag_reallocarray(j->order, cap, sizeof *a)))
		return -1;
	j->order = a;
	{
		struct rag_rerank_doc *d = rag_reallocarray(j->docs, cap, sizeof *d);
		float *s;
		if (!d)
			return -1;
		j->docs = d;
		if (!(s = rag_reallocarray(j->scores, cap, sizeof *s)))
			return -1;
		j->scores = s;
	}
	j->cap = cap;
	return 0;
}

static int run_file(struct job *j, const char *path, struct rag_error *err)
{
	struct rag_jsonl_reader r;
	const struct rag_json *rec;
	struct rag_buf key;
	struct rag_error e2;
	int rc;

	if ((rc = rag_jsonl_open(&r, path, err)))
		return rc;
	rag_buf_init(&key);
	r.skip_bad = j->o->skip_bad;
	r.on_bad = cli_on_bad;
	r.on_bad_ctx = j->o;
	for (;;) {
		const struct rag_json *qid, *text, *query;
		const char *qtext;
		size_t qlen;
		if ((rc = rag_jsonl_next(&r, &rec, err)) || !rec)
			break;
		qid = rag_json_get(rec, "qid");
		text = rag_json_get(rec, j->field);
		if (!qid || (qid->type != RAG_JSON_STRING && qid->type != RAG_JSON_NUMBER)) {
			if ((rc = rag_jsonl_reject(&r, err, "a hit needs a qid (string or number)")))
				break;
			continue;
		}
		if (!text || text->type != RAG_JSON_STRING) {
			if ((rc = rag_jsonl_reject(&r, err, text ? "field '%s' is not a string" : "no field '%s'", j->field)))
				break;
			continue;
		}
		if (rag_text_check(text->u.str.s, text->u.str.len, &e2)) {
			if ((rc = rag_jsonl_reject(&r, err, "passage: %s", e2.msg)))
				break;
			continue;
		}
		qid_key(qid, &key);
		if (rag_buf_failed(&key)) {
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			break;
		}
		query = rag_json_get(rec, "query");
		if (j->queries) {
			const struct query *q = find_query(j, key.data);
			qtext = q ? q->text : NULL;
			qlen = q ? q->len : 0;
		} else {
			qtext = query && query->type == RAG_JSON_STRING ? query->u.str.s : NULL;
			qlen = qtext ? query->u.str.len : 0;
		}
		if (!qtext) {
			if ((rc = rag_jsonl_reject(&r, err, j->queries ? "qid '%s' is not in the queries file"
								       : "no query text (a string field 'query', or --queries)",
						   key.data)))
				break;
			continue;
		}
		if (rag_text_check(qtext, qlen, &e2)) {
			if ((rc = rag_jsonl_reject(&r, err, "query: %s", e2.msg)))
				break;
			continue;
		}
		/* a new qid starts a new group */
		if (j->n && strcmp(j->qid.data, key.data) != 0 && (rc = flush_group(j, err)))
			break;
		if (j->n == 0) {
			rag_buf_reset(&j->qid);
			rag_buf_adds(&j->qid, key.data);
			rag_buf_reset(&j->query);
			rag_buf_add(&j->query, qtext, qlen);
		}
		if (j->n == j->cap && grow(j)) {
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			break;
		}
		j->raw_off[j->n] = j->raw.len;
		rag_buf_add(&j->raw, rec->raw, rec->raw_len);
		rag_buf_addc(&j->raw, '\0');
		j->text_off[j->n] = j->texts.len;
		j->text_len[j->n] = text->u.str.len;
		rag_buf_add(&j->texts, text->u.str.s, text->u.str.len);
		rag_buf_addc(&j->texts, '\0');
		if (rag_buf_failed(&j->raw) || rag_buf_failed(&j->texts) || rag_buf_failed(&j->qid) ||
		    rag_buf_failed(&j->query)) {
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			break;
		}
		j->n++;
	}
	j->n_bad += r.n_bad;
	rag_buf_free(&key);
	rag_jsonl_release(&r);
	return rc;
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
	rag_buf_init(&j.qid);
	rag_buf_init(&j.query);
	rag_buf_init(&j.raw);
	rag_buf_init(&j.texts);
	rag_buf_init(&j.out);
	rag_arena_init(&j.arena);
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
	if (optind >= argc)
		rc = run_file(&j, "-", &err);
	for (int i = optind; i < argc && !rc; i++)
		rc = run_file(&j, argv[i], &err);
	if (!rc)
		rc = flush_group(&j, &err);
	if (!rc)
		rag_progress_finish(&j.prog);
	if (!rc && j.n_bad && o.verbose >= 0)
		cli_warn("skipped %zu bad record%s", j.n_bad, j.n_bad == 1 ? "" : "s");
out:
	if (rc)
		rc = cli_report(&err);
	for (size_t i = 0; i < j.n_queries; i++) {
		rag_free(j.queries[i].qid);
		rag_free(j.queries[i].text);
	}
	rag_free(j.queries);
	rag_free(j.raw_off);
	rag_free(j.text_off);
	rag_free(j.text_len);
	rag_free(j.order);
	rag_free(j.docs);
	rag_free(j.scores);
	rag_buf_free(&j.qid);
	rag_buf_free(&j.query);
	rag_buf_free(&j.raw);
	rag_buf_free(&j.texts);
	rag_buf_free(&j.out);
	rag_arena_free(&j.arena);
	rag_reranker_free(j.r);
	return cli_exit(rc);
}
