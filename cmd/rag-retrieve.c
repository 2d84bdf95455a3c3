/* rag-retrieve: queries in, ranked hits out (BM25, dense, hybrid; filters and ACL). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "device.h"
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
	"      --device DEV     where exact dense search runs: auto (the GPU for an index of\n"
	"                       4M+ numbers), cpu or cuda (default auto); or RAG_DEVICE\n"
	"      --batch N        queries read and searched together (default 64; exact dense\n"
	"                       queries share one pass over the vectors); output order is kept\n"
	"  -v, --verbose        more messages (where the dense leg runs)\n"
	"  -q, --quiet          fewer messages (no note about short result lists)\n"
	"  -h, --help           show this help and exit\n"
	"      --version        show the version and exit\n"
	"\n"
	"Exit status: 0 ok, 64 usage error, 65 bad query record, 66 cannot open an index,\n"
	"69 --device cuda and no usable GPU, 74 write error, 78 not a ragkit index or\n"
	"corrupted.\n";

enum {
	OPT_MODE = RAG_OPT_FIRST_PROGRAM, OPT_FUSION, OPT_RRF_K, OPT_WB, OPT_WD, OPT_DEPTH, OPT_K1, OPT_B,
	OPT_WTITLE, OPT_WTEXT, OPT_BATCH,
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
	{ "batch", required_argument, NULL, OPT_BATCH },
	RAG_LONGOPT_SKIP_BAD,
	RAG_LONGOPT_THREADS,
	RAG_LONGOPT_DEVICE,
	RAG_LONGOPTS_BASIC,
	{ NULL, 0, NULL, 0 },
};

enum fmt { FMT_JSONL, FMT_TREC, FMT_TEXT };

/* A query record read and checked, waiting for its batch (copies: the reader's record is gone). */
struct pq {
	size_t lineno;
	struct rag_buf qid;        /* qid, _id or the line number, NUL-terminated */
	struct rag_buf qraw;       /* raw JSON of qid or _id */
	int has_qraw;
	struct rag_buf text;
	int has_text;
	float *vec;
	size_t vec_cap;
	uint32_t dim;
	struct rag_buf pbuf;       /* principals, each NUL-terminated */
	const char **princ;
	size_t princ_cap, n_princ;
};

struct ctx {
	struct pq *pq;             /* the batch being read */
	size_t n_pq, batch;
	struct rag_search_query *sq;
	size_t *n_res;
	enum rag_search_mode *modes;
	struct rag_index **ix;
	char **ix_path;
	int *said;                 /* per index: 1 where its dense leg runs was said, 2 a GPU failure too */
	size_t n_ix;
	struct rag_search_opts so;
	enum fmt fmt;
	const char *run_tag;
	const char *acl_from;
	int exclude_self;
	struct rag_opts *o;
	struct rag_result *res;
	struct rag_buf out, id, doc_id, rec;
	struct rag_arena arena;
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

/* Append v as printf's "%.6f" would, without printf (a TREC run has 100 of them a query).
 * float * 1e6 is exact in a double, and nearbyint rounds half to even as printf does. */
static void add_fixed6(struct rag_buf *b, float v)
{
	double r = nearbyint((double)v * 1e6);
	char tmp[32];
	unsigned long long u, ip, fp;
	int n = 0, i;

	if (!(fabs(r) < 1e18)) {
		rag_buf_printf(b, "%.6f", v);
		return;
	}
	if (signbit(r))
		rag_buf_addc(b, '-');
	u = (unsigned long long)fabs(r);
	ip = u / 1000000u;
	fp = u % 1000000u;
	for (i = 0; i < 6; i++, fp /= 10)
		tmp[n++] = (char)('0' + fp % 10);
	tmp[n++] = '.';
	do {
		tmp[n++] = (char)('0' + ip % 10);
		ip /= 10;
	} while (ip);
	while (n > 0)
		rag_buf_addc(b, tmp[--n]);
}

static void add_uint(struct rag_buf *b, size_t v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n > 0)
		rag_buf_addc(b, tmp[--n]);
}

/* One hit in the chosen format, appended to c->out. */
static int emit(struct ctx *c, const struct pq *p, const char *text, size_t text_len,
		const struct rag_result *r, size_t rank, enum rag_search_mode mode, struct rag_error *err)
{
	static const char *const drop[] = { "id", "doc_id", "text", "meta", "qid", "query", "rank", "score",
					    "scores", "embedding", NULL };
	struct rag_buf *b = &c->out;
	int has_doc, rc;

	if (c->fmt == FMT_TREC) {
		if ((rc = rag_index_chunk_id(c->ix[r->shard], r->key, &c->id, err)))
			return rc;
		/* "%s Q0 %s %zu %.6f %s\n" */
		rag_buf_add(b, p->qid.data, p->qid.len);
		rag_buf_add(b, " Q0 ", 4);
		rag_buf_add(b, c->id.data, c->id.len);
		rag_buf_addc(b, ' ');
		add_uint(b, rank);
		rag_buf_addc(b, ' ');
		add_fixed6(b, r->score);
		rag_buf_addc(b, ' ');
		rag_buf_adds(b, c->run_tag);
		rag_buf_addc(b, '\n');
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
			rag_buf_printf(b, "%s\t%zu\t%.4f\t%s\t", p->qid.data, rank, r->score, c->id.data);
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
		rag_objw_begin(&w, b);
		rag_objw_key(&w, "qid");
		if (p->has_qraw)
			rag_buf_add(b, p->qraw.data, p->qraw.len);
		else  /* no qid or _id: the line number, as the man page says */
			rag_json_write_str(b, p->qid.data, p->qid.len);
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

/* Copy n bytes into b, NUL-terminated (len excludes the NUL). */
static void buf_set(struct rag_buf *b, const char *s, size_t n)
{
	rag_buf_reset(b);
	rag_buf_add(b, s, n);
	rag_buf_addc(b, 0);
	b->len--;
}

/* The search query of a waiting record (pointers into it). */
static void pq_query(const struct ctx *c, const struct pq *p, struct rag_search_query *q)
{
	memset(q, 0, sizeof *q);
	if (p->has_text) {
		q->text = p->text.data ? p->text.data : "";
		q->len = p->text.len;
	}
	if (p->dim) {
		q->vec = p->vec;
		q->dim = p->dim;
	}
	q->principals = p->princ;
	q->n_principals = p->n_princ;
	if (c->exclude_self) {
		q->exclude_id = p->qid.data;
		q->exclude_len = p->qid.len;
	}
}

/*
 * Read one query record into the next batch slot and check it.  *ok = 1 when
 * it joined the batch, 0 when it was bad and skipped (--skip-bad).
 */
static int read_query(struct ctx *c, struct rag_jsonl_reader *r, const struct rag_json *qr, int *ok,
		      struct rag_error *err)
{
	struct pq *p = &c->pq[c->n_pq];
	struct rag_search_query q;
	struct rag_error e2;
	const struct rag_json *v;
	enum rag_search_mode mode;
	size_t i;

	*ok = 0;
	p->lineno = r->lineno;
	p->has_qraw = p->has_text = 0;
	p->dim = 0;
	p->n_princ = 0;
	v = rag_json_get(qr, "qid");
	if (!v)
		v = rag_json_get(qr, "_id");
	if (v && v->type == RAG_JSON_STRING)
		buf_set(&p->qid, v->u.str.s, v->u.str.len);
	else if (v && v->type == RAG_JSON_NUMBER)
		buf_set(&p->qid, v->raw, v->raw_len);
	else if (v)
		return rag_jsonl_reject(r, err, "'qid' must be a string or a number");
	else {
		rag_buf_reset(&p->qid);
		rag_buf_printf(&p->qid, "%zu", r->lineno);
		rag_buf_addc(&p->qid, 0);
		p->qid.len--;
	}
	if (v) {
		buf_set(&p->qraw, v->raw, v->raw_len);
		p->has_qraw = 1;
	}
	if ((v = rag_json_get(qr, "text"))) {
		if (v->type != RAG_JSON_STRING)
			return rag_jsonl_reject(r, err, "'text' must be a string");
		buf_set(&p->text, v->u.str.s, v->u.str.len);
		p->has_text = 1;
	}
	if ((v = rag_json_get(qr, "embedding"))) {
		if (v->type != RAG_JSON_ARRAY || v->u.arr.n == 0)
			return rag_jsonl_reject(r, err, "'embedding' must be a non-empty array of numbers");
		if (v->u.arr.n > p->vec_cap) {
			float *nv = realloc(p->vec, v->u.arr.n * sizeof *nv);
			if (!nv)
				return rag_error_set(err, RAG_EINTERNAL, "out of memory");
			p->vec = nv;
			p->vec_cap = v->u.arr.n;
		}
		for (i = 0; i < v->u.arr.n; i++) {
			if (v->u.arr.items[i].type != RAG_JSON_NUMBER)
				return rag_jsonl_reject(r, err, "'embedding' must be a non-empty array of numbers");
			p->vec[i] = (float)v->u.arr.items[i].u.num;
		}
		p->dim = (uint32_t)v->u.arr.n;
	}
	if ((v = rag_json_get(qr, c->acl_from))) {
		size_t off = 0;
		if (v->type != RAG_JSON_ARRAY)
			return rag_jsonl_reject(r, err, "'%s' must be an array of strings", c->acl_from);
		if (v->u.arr.n > p->princ_cap) {
			const char **np = realloc(p->princ, v->u.arr.n * sizeof *np);
			if (!np)
				return rag_error_set(err, RAG_EINTERNAL, "out of memory");
			p->princ = np;
			p->princ_cap = v->u.arr.n;
		}
		rag_buf_reset(&p->pbuf);
		for (i = 0; i < v->u.arr.n; i++) {
			if (v->u.arr.items[i].type != RAG_JSON_STRING)
				return rag_jsonl_reject(r, err, "'%s' must be an array of strings", c->acl_from);
			rag_buf_add(&p->pbuf, v->u.arr.items[i].u.str.s, v->u.arr.items[i].u.str.len);
			rag_buf_addc(&p->pbuf, 0);
		}
		if (rag_buf_failed(&p->pbuf))
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		for (i = 0; i < v->u.arr.n; i++) {  /* the buffer is final now: point into it */
			p->princ[i] = p->pbuf.data + off;
			off += strlen(p->princ[i]) + 1;
		}
		p->n_princ = v->u.arr.n;
	}
	if (rag_buf_failed(&p->qid) || rag_buf_failed(&p->qraw) || rag_buf_failed(&p->text))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	/* what the search would refuse (no text for bm25, a wrong dimension): this line's error */
	pq_query(c, p, &q);
	rag_error_clear(&e2);
	if (rag_search_check(c->ix, c->n_ix, &c->so, &q, &mode, &e2))
		return rag_jsonl_reject(r, err, "%s", e2.msg);
	c->n_pq++;
	*ok = 1;
	return RAG_OK;
}

/* Write query i's hits (res[0..n)). */
static int write_hits(struct ctx *c, size_t i, const struct rag_result *res, size_t n, enum rag_search_mode mode,
		      struct rag_error *err)
{
	const struct pq *p = &c->pq[i];
	const struct rag_search_query *q = &c->sq[i];
	size_t j;
	int rc;

	if (n < c->so.k && c->o->verbose >= 0)
		cli_warn("query '%s': only %zu of %zu hits (no more chunks match%s)", p->qid.data, n, c->so.k,
			 c->so.filter || q->n_principals ? " the filter and ACL" : "");
	rag_buf_reset(&c->out);
	for (j = 0; j < n; j++)
		if ((rc = emit(c, p, q->text, q->len, &res[j], j + 1, mode, err)))
			return rc;
	if (rag_buf_failed(&c->out))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	return rag_buf_write(&c->out, stdout, "standard output", err);
}

/* Where each index's exact dense leg runs, once it has: with -v, and a
 * GPU failure (the CPU took over) as a warning unless -q. */
static void say_devices(struct ctx *c)
{
	for (size_t i = 0; i < c->n_ix; i++) {
		int failed;
		const char *where = rag_index_dense_where(c->ix[i], &failed);
		if (!where || c->said[i] == 2 || (c->said[i] == 1 && !failed))
			continue;
		if (failed && c->o->verbose >= 0)
			cli_warn("%s: exact dense search on %s", c->ix_path[i], where);
		else if (!failed && c->o->verbose > 0)
			fprintf(stderr, "%s: %s: exact dense search on %s\n", cli_prog(), c->ix_path[i], where);
		c->said[i] = failed ? 2 : 1;
	}
}

/*
 * Search the waiting queries and write their hits in input order.  When the
 * batch fails as a whole, the queries run one at a time, so that hits before
 * the failing query are written and its error names its own line.
 */
static int flush(struct ctx *c, struct rag_jsonl_reader *r, struct rag_error *err)
{
	struct rag_error e2;
	size_t i, k = c->so.k, m = c->n_pq;
	int rc;

	c->n_pq = 0;
	if (m == 0)
		return RAG_OK;
	for (i = 0; i < m; i++)
		pq_query(c, &c->pq[i], &c->sq[i]);
	rag_error_clear(&e2);
	if (rag_search_batch(c->ix, c->n_ix, &c->so, c->sq, m, c->res, c->n_res, c->modes, &e2) == RAG_OK) {
		say_devices(c);
		for (i = 0; i < m; i++)
			if ((rc = write_hits(c, i, c->res + i * k, c->n_res[i], c->modes[i], err)))
				return rc;
		return RAG_OK;
	}
	for (i = 0; i < m; i++) {
		size_t n = 0;
		rag_error_clear(&e2);
		rc = rag_search(c->ix, c->n_ix, &c->so, &c->sq[i], c->res, &n, &c->modes[i], &e2);
		say_devices(c);
		if (rc == RAG_EDATA) {
			size_t cur = r->lineno;
			r->lineno = c->pq[i].lineno;  /* the error names the query's own line */
			rc = rag_jsonl_reject(r, err, "%s", e2.msg);
			r->lineno = cur;
			if (rc)
				return rc;
			continue;
		}
		if (rc) {
			*err = e2;
			return rc;
		}
		if ((rc = write_hits(c, i, c->res, n, c->modes[i], err)))
			return rc;
	}
	return RAG_OK;
}

static void ctx_free_batch(struct ctx *c)
{
	size_t i;

	for (i = 0; c->pq && i < c->batch; i++) {
		struct pq *p = &c->pq[i];
		rag_buf_free(&p->qid);
		rag_buf_free(&p->qraw);
		rag_buf_free(&p->text);
		rag_buf_free(&p->pbuf);
		free(p->vec);
		free(p->princ);
	}
	free(c->pq);
	free(c->sq);
	free(c->n_res);
	free(c->modes);
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
	c.batch = 64;
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
		case OPT_BATCH:
			if (rag_parse_long(optarg, 1, 4096, &l, "--batch", &err)) {
				rc = cli_usage("%s", err.msg);
				goto out;
			}
			c.batch = (size_t)l;
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
		default:
			if (cli_option(&o, ch, optarg, argv, longopts)) {
				rc = RAG_EUSAGE;
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
	if (c.batch > 1 && c.batch * c.so.k > ((size_t)1 << 20))
		c.batch = ((size_t)1 << 20) / c.so.k > 1 ? ((size_t)1 << 20) / c.so.k : 1;  /* bound the result buffer */
	c.so.filter = filter;
	c.n_ix = (size_t)(argc - optind);
	c.ix_path = argv + optind;
	if (!(c.ix = calloc(c.n_ix, sizeof *c.ix)) || !(c.said = calloc(c.n_ix, sizeof *c.said)) ||
	    !(c.res = calloc(c.batch * c.so.k, sizeof *c.res)) || !(c.pq = calloc(c.batch, sizeof *c.pq)) || !(c.sq = calloc(c.batch, sizeof *c.sq)) ||
	    !(c.n_res = calloc(c.batch, sizeof *c.n_res)) || !(c.modes = calloc(c.batch, sizeof *c.modes))) {
		rc = rag_error_set(&err, RAG_EINTERNAL, "out of memory");
		rc = cli_report(&err);
		goto out;
	}
	if (o.device == RAG_DEVICE_CUDA) {
		/* asked for the GPU: none that works is an error, as in the other programs */
		enum rag_device got;
		if ((rc = rag_device_resolve(RAG_DEVICE_CUDA, &got, NULL, 0, &err))) {
			rc = cli_report(&err);
			goto out;
		}
	}
	for (i = optind; i < argc; i++) {
		if ((rc = rag_index_open(argv[i], &c.ix[i - optind], &err))) {
			rc = cli_report(&err);
			goto out;
		}
		rag_index_set_device(c.ix[i - optind], o.device);
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
		int ok;
		if ((rc = rag_jsonl_next(&r, &qr, &err)) || !qr)
			break;
		if ((rc = read_query(&c, &r, qr, &ok, &err)))
			break;
		if (c.n_pq == c.batch && (rc = flush(&c, &r, &err)))
			break;
	}
	{
		/* the queries before a bad record still get their hits, then the error */
		struct rag_error e3;
		int rc2;
		rag_error_clear(&e3);
		if ((rc2 = flush(&c, &r, &e3))) {
			rc = rc2;  /* it concerns an earlier line than a read error would */
			err = e3;
		}
	}
	if (rc)
		rc = cli_report(&err);
out:
	if (reader_open)
		rag_jsonl_release(&r);
	for (i = 0; c.ix && (size_t)i < c.n_ix; i++)
		rag_index_close(c.ix[i]);
	free(c.ix);
	free(c.said);
	free(c.res);
	ctx_free_batch(&c);
	rag_filter_free(filter);
	rag_buf_free(&c.out);
	rag_buf_free(&c.id);
	rag_buf_free(&c.doc_id);
	rag_buf_free(&c.rec);
	rag_arena_free(&c.arena);
	return cli_exit(rc);
}
