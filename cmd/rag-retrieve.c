/* rag-retrieve: queries in, ranked hits out (BM25, dense, hybrid; filters and ACL). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "index.h"
#include "index_search.h"
#include "jsonl.h"

static const char usage[] =
	"Usage: rag-retrieve [OPTIONS] INDEX... [< queries.jsonl]\n"
	"Read query records (qid, text and/or embedding, principals) and write the best\n"
	"chunks of the INDEX files (shards searched as one) as hit records.\n"
	"\n"
	"Options:\n"
	"  -k N                 hits per query (default 10)\n"
	"      --mode M         bm25, dense, hybrid or auto (default auto: hybrid when the\n"
	"                       query has text and embedding, else the leg it can run)\n"
	"      --hybrid         the same as --mode hybrid\n"
	"      --fusion F       rrf or norm (min-max normalized scores; default rrf)\n"
	"      --rrf-k C        RRF constant (default 60)\n"
	"      --bm25-weight W  weight of the BM25 leg in fusion (default 1)\n"
	"      --dense-weight W weight of the dense leg in fusion (default 1)\n"
	"      --depth N        hits per leg before fusion (default max(k, 100))\n"
	"      --ann            dense leg through the index's HNSW graph (exact without one)\n"
	"      --ef-search N    HNSW search breadth (default: the graph's, 64)\n"
	"      --k1 X           BM25 k1 (default 1.5)\n"
	"      --b X            BM25 b, every field (default 0.75)\n"
	"      --title-weight W BM25F weight of the title field (default 2)\n"
	"      --text-weight W  BM25F weight of the text field (default 1)\n"
	"      --filter EXPR    metadata predicate, e.g. 'lang = \"en\" AND year >= 2020'\n"
	"      --acl-from FIELD query field holding the principals (default principals)\n"
	"      --exclude-self   never return the chunk whose id equals the query's qid\n"
	"      --format F       jsonl, trec or text (default jsonl)\n"
	"      --run-tag TAG    run name in trec output (default ragkit)\n"
	"      --skip-bad       skip bad query records instead of stopping\n"
	"      --threads N      threads for dense search (default: all cores)\n"
	"  -v, --verbose        more messages\n"
	"  -q, --quiet          fewer messages (no note about short result lists)\n"
	"  -h, --help           show this help and exit\n"
	"      --version        show the version and exit\n"
	"\n"
	"Exit status: 0 ok, 64 usage error, 65 bad query record, 66 cannot open an index,\n"
	"74 write error, 78 not a ragkit index or corrupted.\n";

enum {
	OPT_MODE = RAG_OPT_FIRST_PROGRAM, OPT_FUSION, OPT_RRF_K, OPT_WB, OPT_WD, OPT_DEPTH, OPT_K1, OPT_B,
	OPT_WTITLE, OPT_WTEXT,
	OPT_FILTER, OPT_ACL_FROM, OPT_EXCLUDE_SELF, OPT_FORMAT, OPT_RUN_TAG, OPT_ANN, OPT_EF, OPT_HYBRID,
};

static const struct option longopts[] = {
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "hybrid", no_argument, NULL, OPT_HYBRID },
	{ "fusion", required_argument, NULL, OPT_FUSION },
	{ "rrf-k", required_argument, NULL, OPT_RRF_K },
	{ "bm25-weight", required_argument, NULL, OPT_WB },
	{ "dense-weight", required_argument, NULL, OPT_WD },
	{ "depth", required_argument, NULL, OPT_DEPTH },
	{ "ann", no_argument, NULL, OPT_ANN },
	{ "ef-search", required_argument, NULL, OPT_EF },
	{ "k1", required_argument, NULL, OPT_K1 },
	{ "b", required_argument, NULL, OPT_B },
	{ "title-weight", required_argument, NULL, OPT_WTITLE },
	{ "text-weight", required_argument, NULL, OPT_WTEXT },
	{ "filter", required_argument, NULL, OPT_FILTER },
	{ "acl-from", required_argument, NULL, OPT_ACL_FROM },
	{ "exclude-self", no_argument, NULL, OPT_EXCLUDE_SELF },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "run-tag", required_argument, NULL, OPT_RUN_TAG },
	RAG_LONGOPT_SKIP_BAD,
	RAG_LONGOPT_THREADS,
	RAG_LONGOPTS_BASIC,
	{ NULL, 0, NULL, 0 },
};

enum fmt { FMT_JSONL, FMT_TREC, FMT_TEXT };

struct ctx {
	struct rag_index **ix;
	size_t n_ix;
	struct rag_search_opts so;
	enum fmt fmt;
	const char *run_tag;
	const char *acl_from;
	int exclude_self;
	struct rag_opts *o;
	struct rag_result *res;
	struct rag_buf out, id, doc_id, rec, qid;
	struct rag_arena arena;
	float *vec;
	size_t vec_cap;
	const char **princ;
	size_t princ_cap;
};

static void write_leg(struct rag_buf *b, struct rag_objw *w, const char *name, float score, size_t rank)
{
	struct rag_objw l;
	rag_objw_key(w, name);
	rag_objw_begin(&l, b);
	rag_objw_key(&l, "score");
	rag_json_write_float(b, score);
	rag_objw_key(&l, "rank");
	rag_json_write_num(b, (double)rank);
	rag_objw_end(&l);
}

/* One hit in the chosen format, appended to c->out. */
static int emit(struct ctx *c, const struct rag_json *qrec, const char *text, size_t text_len,
		const struct rag_result *r, size_t rank, enum rag_search_mode mode, struct rag_error *err)
{
	static const char *const drop[] = { "id", "doc_id", "text", "meta", "qid", "query", "rank", "score",
					    "scores", "embedding", NULL };
	struct rag_buf *b = &c->out;
	int has_doc, rc;

	if (c->fmt == FMT_TREC) {
		if ((rc = rag_index_chunk_id(c->ix[r->shard], r->key, &c->id, err)))
			return rc;
		rag_buf_printf(b, "%s Q0 %s %zu %.6f %s\n", c->qid.data, c->id.data, rank, r->score, c->run_tag);
		return RAG_OK;
	}
	if ((rc = rag_index_chunk(c->ix[r->shard], r->key, &c->id, &c->doc_id, &has_doc, &c->rec, err)))
		return rc;
	{
		struct rag_json *rec = NULL;
		const struct rag_json *v;
		rag_arena_reset(&c->arena);
		if (rag_json_parse(&c->arena, c->rec.data, c->rec.len, &rec, err) || rec->type != RAG_JSON_OBJECT)
			return rag_error_set(err, RAG_EMODEL, "stored record of chunk '%s' is not a JSON object", c->id.data);
		if (c->fmt == FMT_TEXT) {
			size_t n;
			const char *t = rag_json_get_str(rec, "text", &n);
			rag_buf_printf(b, "%s\t%zu\t%.4f\t%s\t", c->qid.data, rank, r->score, c->id.data);
			if (t) {
				size_t i, lim = n < 100 ? n : 100;
				while (lim < n && ((unsigned char)t[lim] & 0xc0) == 0x80)
					lim--;
				for (i = 0; i < lim; i++)
					rag_buf_addc(b, t[i] == '\n' || t[i] == '\t' ? ' ' : t[i]);
			}
			rag_buf_addc(b, '\n');
			return RAG_OK;
		}
		struct rag_objw w, s;
		const struct rag_json *qid = qrec ? rag_json_get(qrec, "qid") : NULL;
		if (!qid && qrec)
			qid = rag_json_get(qrec, "_id");
		rag_objw_begin(&w, b);
		rag_objw_key(&w, "qid");
		if (qid)
			rag_buf_add(b, qid->raw, qid->raw_len);
		else  /* no qid or _id: the line number, as the man page says */
			rag_json_write_str(b, c->qid.data, c->qid.len);
		rag_objw_key(&w, "query");
		if (text)
			rag_json_write_str(b, text, text_len);
		else
			rag_buf_adds(b, "null");
		rag_objw_key(&w, "id");
		rag_json_write_str(b, c->id.data, c->id.len);
		if (has_doc) {
			rag_objw_key(&w, "doc_id");
			rag_json_write_str(b, c->doc_id.data, c->doc_id.len);
		}
		rag_objw_key(&w, "rank");
		rag_json_write_num(b, (double)rank);
		rag_objw_key(&w, "score");
		rag_json_write_float(b, r->score);
		if ((v = rag_json_get(rec, "text"))) {
			rag_objw_key(&w, "text");
			rag_buf_add(b, v->raw, v->raw_len);
		}
		if ((v = rag_json_get(rec, "meta"))) {
			rag_objw_key(&w, "meta");
			rag_buf_add(b, v->raw, v->raw_len);
		}
		rag_objw_copy(&w, rec, drop);
		rag_objw_key(&w, "scores");
		rag_objw_begin(&s, b);
		if (r->bm25_rank)
			write_leg(b, &s, "bm25", r->bm25_score, r->bm25_rank);
		if (r->dense_rank)
			write_leg(b, &s, "dense", r->dense_score, r->dense_rank);
		if (mode == RAG_SEARCH_HYBRID)
			write_leg(b, &s, "fused", r->score, r->fused_rank);
		rag_objw_end(&s);
		rag_objw_end(&w);
		rag_buf_addc(b, '\n');
	}
	return RAG_OK;
}

/* Turn one query record into a search and its hits. */
static int one_query(struct ctx *c, struct rag_jsonl_reader *r, const struct rag_json *qr, struct rag_error *err)
{
	struct rag_search_query q;
	struct rag_error e2;
	const struct rag_json *v;
	enum rag_search_mode mode;
	size_t n = 0, i;
	int rc;

	memset(&q, 0, sizeof q);
	rag_buf_reset(&c->qid);
	v = rag_json_get(qr, "qid");
	if (!v)
		v = rag_json_get(qr, "_id");
	if (v && v->type == RAG_JSON_STRING)
		rag_buf_add(&c->qid, v->u.str.s, v->u.str.len);
	else if (v && v->type == RAG_JSON_NUMBER)
		rag_buf_add(&c->qid, v->raw, v->raw_len);
	else if (v)
		return rag_jsonl_reject(r, err, "'qid' must be a string or a number");
	else
		rag_buf_printf(&c->qid, "%zu", r->lineno);
	rag_buf_addc(&c->qid, 0);
	c->qid.len--;
	if ((v = rag_json_get(qr, "text"))) {
		if (v->type != RAG_JSON_STRING)
			return rag_jsonl_reject(r, err, "'text' must be a string");
		q.text = v->u.str.s;
		q.len = v->u.str.len;
	}
	if ((v = rag_json_get(qr, "embedding"))) {
		if (v->type != RAG_JSON_ARRAY || v->u.arr.n == 0)
			return rag_jsonl_reject(r, err, "'embedding' must be a non-empty array of numbers");
		if (v->u.arr.n > c->vec_cap) {
			float *nv = realloc(c->vec, v->u.arr.n * sizeof *nv);
			if (!nv)
				return rag_error_set(err, RAG_EINTERNAL, "out of memory");
			c->vec = nv;
			c->vec_cap = v->u.arr.n;
		}
		for (i = 0; i < v->u.arr.n; i++) {
			if (v->u.arr.items[i].type != RAG_JSON_NUMBER)
				return rag_jsonl_reject(r, err, "'embedding' must be a non-empty array of numbers");
			c->vec[i] = (float)v->u.arr.items[i].u.num;
		}
		q.vec = c->vec;
		q.dim = (uint32_t)v->u.arr.n;
	}
	if ((v = rag_json_get(qr, c->acl_from))) {
		if (v->type != RAG_JSON_ARRAY)
			return rag_jsonl_reject(r, err, "'%s' must be an array of strings", c->acl_from);
		if (v->u.arr.n > c->princ_cap) {
			const char **np = realloc(c->princ, v->u.arr.n * sizeof *np);
			if (!np)
				return rag_error_set(err, RAG_EINTERNAL, "out of memory");
			c->princ = np;
			c->princ_cap = v->u.arr.n;
		}
		for (i = 0; i < v->u.arr.n; i++) {
			if (v->u.arr.items[i].type != RAG_JSON_STRING)
				return rag_jsonl_reject(r, err, "'%s' must be an array of strings", c->acl_from);
			c->princ[i] = v->u.arr.items[i].u.str.s;
		}
		q.principals = c->princ;
		q.n_principals = v->u.arr.n;
	}
	if (c->exclude_self) {
		q.exclude_id = c->qid.data;
		q.exclude_len = c->qid.len;
	}
	rag_error_clear(&e2);
	rc = rag_search(c->ix, c->n_ix, &c->so, &q, c->res, &n, &mode, &e2);
	if (rc == RAG_EDATA)
		return rag_jsonl_reject(r, err, "%s", e2.msg);
	if (rc) {
		*err = e2;
		return rc;
	}
	if (n < c->so.k && c->o->verbose >= 0)
		cli_warn("query '%s': only %zu of %zu hits (no more chunks match%s)", c->qid.data, n, c->so.k,
			 c->so.filter || q.n_principals ? " the filter and ACL" : "");
	rag_buf_reset(&c->out);
	for (i = 0; i < n; i++)
		if ((rc = emit(c, qr, q.text, q.len, &c->res[i], i + 1, mode, err)))
			return rc;
	if (rag_buf_failed(&c->out))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	return rag_buf_write(&c->out, stdout, "standard output", err);
}

int main(int argc, char **argv)
{
	struct rag_opts o;
	struct rag_error err;
	struct ctx c;
	struct rag_filter *filter = NULL;
	struct rag_jsonl_reader r;
	int reader_open = 0, ch, rc = RAG_OK, i;
	double d;
	long l;

	cli_init(argv[0]);
	rag_error_clear(&err);
	memset(&c, 0, sizeof c);
	rag_search_opts_init(&c.so);
	c.run_tag = "ragkit";
	c.acl_from = "principals";
	c.o = &o;
	rag_arena_init(&c.arena);
	if (rag_opts_init(&o, &err))
		return cli_usage("%s", err.msg);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, RAG_SHORTOPTS_BASIC "k:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			if (rag_parse_long(optarg, 1, 100000, &l, "-k", &err)) {
				rc = cli_usage("%s", err.msg);
				goto out;
			}
			c.so.k = (size_t)l;
			break;
		case OPT_DEPTH:
			if (rag_parse_long(optarg, 1, 100000, &l, "--depth", &err)) {
				rc = cli_usage("%s", err.msg);
				goto out;
			}
			c.so.depth = (size_t)l;
			break;
		case OPT_ANN: c.so.ann = 1; break;
		case OPT_HYBRID: c.so.mode = RAG_SEARCH_HYBRID; break;
		case OPT_EF:
			if (rag_parse_long(optarg, 1, 1000000, &l, "--ef-search", &err)) {
				rc = cli_usage("%s", err.msg);
				goto out;
			}
			c.so.ef_search = (uint32_t)l;
			break;
		case OPT_MODE:
			if (!strcmp(optarg, "bm25")) c.so.mode = RAG_SEARCH_BM25;
			else if (!strcmp(optarg, "dense")) c.so.mode = RAG_SEARCH_DENSE;
			else if (!strcmp(optarg, "hybrid")) c.so.mode = RAG_SEARCH_HYBRID;
			else if (!strcmp(optarg, "auto")) c.so.mode = RAG_SEARCH_AUTO;
			else {
				rc = cli_usage("invalid value '%s' for --mode (bm25, dense, hybrid, auto)", optarg);
				goto out;
			}
			break;
		case OPT_FUSION:
			if (!strcmp(optarg, "rrf")) c.so.fusion = RAG_FUSE_RRF;
			else if (!strcmp(optarg, "norm")) c.so.fusion = RAG_FUSE_NORM;
			else {
				rc = cli_usage("invalid value '%s' for --fusion (rrf, norm)", optarg);
				goto out;
			}
			break;
		case OPT_RRF_K:
		case OPT_WB:
		case OPT_WD:
		case OPT_K1:
		case OPT_B:
		case OPT_WTITLE:
		case OPT_WTEXT:
			if (rag_parse_double(optarg, 0, ch == OPT_B ? 1 : 1e9, &d, "option", &err)) {
				rc = cli_usage("%s", err.msg);
				goto out;
			}
			if (ch == OPT_RRF_K) c.so.rrf_k = d;
			else if (ch == OPT_WB) c.so.w_bm25 = d;
			else if (ch == OPT_WD) c.so.w_dense = d;
			else if (ch == OPT_K1) c.so.bm25.k1 = d;
			else if (ch == OPT_WTITLE) c.so.bm25.w_title = d;
			else if (ch == OPT_WTEXT) c.so.bm25.w_text = d;
			else c.so.bm25.b = d;
			break;
		case OPT_FILTER:
			rag_filter_free(filter);
			if (rag_filter_parse(optarg, &filter, &err)) {
				rc = cli_usage("%s", err.msg);
				goto out;
			}
			break;
		case OPT_ACL_FROM: c.acl_from = optarg; break;
		case OPT_EXCLUDE_SELF: c.exclude_self = 1; break;
		case OPT_FORMAT:
			if (!strcmp(optarg, "jsonl")) c.fmt = FMT_JSONL;
			else if (!strcmp(optarg, "trec")) c.fmt = FMT_TREC;
			else if (!strcmp(optarg, "text")) c.fmt = FMT_TEXT;
			else {
				rc = cli_usage("invalid value '%s' for --format (jsonl, trec, text)", optarg);
				goto out;
			}
			break;
		case OPT_RUN_TAG: c.run_tag = optarg; break;
		case '?':
		case ':':
			rc = cli_bad_option(argv, longopts);
			goto out;
		default:
			if (rag_opts_handle(&o, ch, optarg, &err) == RAG_EUSAGE) {
				rc = cli_usage("%s", err.msg);
				goto out;
			}
		}
	}
	if (o.help) {
		fputs(usage, stdout);
		goto out;
	}
	if (o.version) {
		cli_version();
		goto out;
	}
	if (optind >= argc) {
		rc = cli_usage("missing INDEX");
		goto out;
	}
	if (c.so.bm25.w_title <= 0 && c.so.bm25.w_text <= 0) {
		rc = cli_usage("--title-weight and --text-weight cannot both be 0");
		goto out;
	}
	rag_set_threads(o.threads);
	c.so.filter = filter;
	c.n_ix = (size_t)(argc - optind);
	if (!(c.ix = calloc(c.n_ix, sizeof *c.ix)) || !(c.res = calloc(c.so.k, sizeof *c.res))) {
		rc = rag_error_set(&err, RAG_EINTERNAL, "out of memory");
		rc = cli_report(&err);
		goto out;
	}
	for (i = optind; i < argc; i++)
		if ((rc = rag_index_open(argv[i], &c.ix[i - optind], &err))) {
			rc = cli_report(&err);
			goto out;
		}
	if ((rc = rag_jsonl_init(&r, stdin, "<stdin>", &err))) {
		rc = cli_report(&err);
		goto out;
	}
	reader_open = 1;
	r.skip_bad = o.skip_bad;
	r.on_bad = cli_on_bad;
	r.on_bad_ctx = &o;
	for (;;) {
		const struct rag_json *qr;
		if ((rc = rag_jsonl_next(&r, &qr, &err)) || !qr)
			break;
		if ((rc = one_query(&c, &r, qr, &err)))
			break;
	}
	if (rc)
		rc = cli_report(&err);
out:
	if (reader_open)
		rag_jsonl_release(&r);
	for (i = 0; c.ix && (size_t)i < c.n_ix; i++)
		rag_index_close(c.ix[i]);
	free(c.ix);
	free(c.res);
	free(c.vec);
	free(c.princ);
	rag_filter_free(filter);
	rag_buf_free(&c.out);
	rag_buf_free(&c.id);
	rag_buf_free(&c.doc_id);
	rag_buf_free(&c.rec);
	rag_buf_free(&c.qid);
	rag_arena_free(&c.arena);
	return cli_exit(rc);
}
