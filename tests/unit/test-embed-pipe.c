/* test-embed-pipe.c: the rag-embed pipeline: input order across block boundaries, bad records in later
 * blocks (reported or skipped as a serial reader would), the same bytes for every thread count and block
 * size, .npy rows; and one tokenizer shared by many threads giving the serial results. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "embed.h"
#include "embed_pipe.h"
#include "json.h"
#include "options.h"
#include "testutil.h"

#define MODEL "models/tiny-embed-mean-f16.gguf"

/* Write text to a new temporary file; returns its path (static per slot). */
static const char *tmp_input(const char *text)
{
	static char path[64];
	int fd;
	snprintf(path, sizeof path, "/tmp/test-embed-pipe-XXXXXX");
	fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* n records {"id":i,"text":"..."} of varied lengths; bad_line (1-based line
 * number, 0 = none) is replaced by bad; a blank line after every 10th record. */
static char *make_input(int n, int bad_line, const char *bad)
{
	static const char *const words[] = { "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta" };
	struct rag_buf b;
	int line = 0;
	rag_buf_init(&b);
	for (int i = 0; i < n; i++) {
		line++;
		if (line == bad_line) {
			rag_buf_printf(&b, "%s\n", bad);
		} else {
			rag_buf_printf(&b, "{\"id\":%d,\"text\":\"", i);
			for (int w = 0; w <= i % 13; w++)
				rag_buf_printf(&b, "%s%s", w ? " " : "", words[(i + w) % 8]);
			rag_buf_adds(&b, "\",\"x\": [1, 2]}\n");
		}
		if (i % 10 == 9) {
			rag_buf_adds(&b, "  \n");
			line++;
		}
	}
	cr_assert(!rag_buf_failed(&b));
	return rag_buf_detach(&b, NULL);
}

struct run {
	char *out;
	size_t out_len;
	char *npy;
	size_t npy_len;
	int rc;
	struct rag_error err;
	size_t n_bad, n_on_bad;
	uint64_t n_written, n_rows;
	char first_bad[RAG_ERROR_MSG_MAX];
};

static void on_bad(void *ctx, const struct rag_error *e)
{
	struct run *r = ctx;
	if (r->n_on_bad++ == 0)
		snprintf(r->first_bad, sizeof r->first_bad, "%s", e->msg);
}

static struct rag_embedder *open_model(void)
{
	struct rag_embedder *m;
	struct rag_error err;
	cr_assert_eq(rag_embedder_open(fixture(MODEL), NULL, &m, &err), RAG_OK, "%s", err.msg);
	return m;
}

/* Run path through a pipeline with these settings. */
static void run_pipe(struct rag_embedder *m, const char *path, int threads, size_t block_records,
		     size_t block_bytes, int skip_bad, int npy, struct run *r)
{
	struct rag_embed_opts eo;
	struct rag_embed_pipe_opts po;
	struct rag_embed_pipe *p;
	struct rag_error e2;
	FILE *out, *vf = NULL;
	int rc2;

	memset(r, 0, sizeof *r);
	rag_embed_opts_init(&eo);
	eo.batch_tokens = 1; /* every text alone: vectors cannot depend on the blocks */
	out = open_memstream(&r->out, &r->out_len);
	cr_assert(out);
	if (npy) {
		vf = open_memstream(&r->npy, &r->npy_len);
		cr_assert(vf);
	}
	rag_embed_pipe_opts_init(&po);
	po.out = out;
	po.npy = vf;
	po.threads = threads;
	po.block_records = block_records;
	po.block_bytes = block_bytes;
	po.skip_bad = skip_bad;
	po.on_bad = on_bad;
	po.on_bad_ctx = r;
	cr_assert_eq(rag_embed_pipe_new(m, &eo, &po, &p, &r->err), RAG_OK, "%s", r->err.msg);
	r->rc = rag_embed_pipe_file(p, path, &r->err);
	rc2 = rag_embed_pipe_finish(p, r->rc ? &e2 : &r->err);
	if (!r->rc)
		r->rc = rc2;
	r->n_bad = rag_embed_pipe_n_bad(p);
	r->n_written = rag_embed_pipe_n_written(p);
	r->n_rows = rag_embed_pipe_n_rows(p);
	rag_embed_pipe_free(p);
	fclose(out);
	if (vf)
		fclose(vf);
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->npy);
}

/* The output's records have ids want[0..n) in that order, each with an embedding (or row k). */
static void check_ids(const struct run *r, const int *want, size_t n, int npy)
{
	const char *s = r->out;
	size_t k = 0;
	struct rag_arena a;
	rag_arena_init(&a);
	while (s && *s) {
		const char *nl = strchr(s, '\n');
		struct rag_json *v;
		const struct rag_json *id, *f;
		struct rag_error err;
		cr_assert(nl);
		rag_arena_reset(&a);
		cr_assert_eq(rag_json_parse(&a, s, (size_t)(nl - s), &v, &err), RAG_OK, "%s", err.msg);
		cr_assert_lt(k, n, "more records than expected");
		id = rag_json_get(v, "id");
		cr_assert(id && id->type == RAG_JSON_NUMBER);
		cr_assert_eq((int)id->u.num, want[k], "record %zu: id %d, want %d", k, (int)id->u.num, want[k]);
		if (npy) {
			f = rag_json_get(v, "row");
			cr_assert(f && f->type == RAG_JSON_NUMBER && (size_t)f->u.num == k);
		} else {
			f = rag_json_get(v, "embedding");
			cr_assert(f && f->type == RAG_JSON_ARRAY && f->u.arr.n == 32);
		}
		cr_assert(rag_json_get(v, "x"), "other fields pass through");
		k++;
		s = nl + 1;
	}
	cr_assert_eq(k, n, "%zu records, want %zu", k, n);
	rag_arena_free(&a);
}

TestSuite(embed_pipe);

Test(embed_pipe, order_and_bytes_across_blocks_and_threads)
{
	struct rag_embedder *m = open_model();
	char *in = make_input(300, 0, NULL);
	const char *path = tmp_input(in);
	static const struct { int threads; size_t records, bytes; } cfg[] = {
		{ 1, 1, 0 }, { 1, 7, 0 }, { 2, 3, 0 }, { 4, 64, 0 }, { 3, 0, 200 }, { 8, 0, 0 }, { 2, 0, 1 },
	};
	struct run ref;
	int want[300];

	for (int i = 0; i < 300; i++)
		want[i] = i;
	run_pipe(m, path, 1, 0, 0, 0, 0, &ref);
	cr_assert_eq(ref.rc, RAG_OK, "%s", ref.err.msg);
	check_ids(&ref, want, 300, 0);
	cr_assert_eq(ref.n_written, 300);
	for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
		struct run r;
		run_pipe(m, path, cfg[c].threads, cfg[c].records, cfg[c].bytes, 0, 0, &r);
		cr_assert_eq(r.rc, RAG_OK, "%s", r.err.msg);
		cr_assert_eq(r.out_len, ref.out_len, "config %zu", c);
		cr_assert(memcmp(r.out, ref.out, ref.out_len) == 0, "config %zu: other bytes", c);
		run_free(&r);
	}
	run_free(&ref);
	unlink(path);
	rag_free(in);
	rag_embedder_free(m);
}

Test(embed_pipe, npy_rows_in_order)
{
	struct rag_embedder *m = open_model();
	char *in = make_input(100, 0, NULL);
	const char *path = tmp_input(in);
	struct run a, b;
	int want[100];

	for (int i = 0; i < 100; i++)
		want[i] = i;
	run_pipe(m, path, 1, 1000, 0, 0, 1, &a);
	run_pipe(m, path, 4, 5, 0, 0, 1, &b);
	cr_assert_eq(a.rc, RAG_OK, "%s", a.err.msg);
	cr_assert_eq(b.rc, RAG_OK, "%s", b.err.msg);
	check_ids(&b, want, 100, 1);
	cr_assert_eq(b.n_rows, 100);
	cr_assert_eq(b.npy_len, 100 * 32 * sizeof(float));
	cr_assert(a.npy_len == b.npy_len && memcmp(a.npy, b.npy, a.npy_len) == 0);
	cr_assert(a.out_len == b.out_len && memcmp(a.out, b.out, a.out_len) == 0);
	run_free(&a);
	run_free(&b);
	unlink(path);
	rag_free(in);
	rag_embedder_free(m);
}

/* A bad record on line 60 (record 54: blank lines after every 10th), in a later block. */
static const struct {
	const char *bad, *msg;
} bads[] = {
	{ "{nope", "line 60: invalid JSON" },
	{ "[1,2]", "line 60: not a JSON object" },
	{ "{\"id\":54}", "line 60: no field 'text'" },
	{ "{\"id\":54,\"text\":7}", "line 60: field 'text' is not a string" },
	{ "{\"id\":54,\"text\":\" \"}", "line 60: text is only whitespace" },
	{ "{\"id\":54,\"text\":\"\"}", "line 60: empty text" },
};

Test(embed_pipe, bad_record_in_a_later_block_stops_after_the_records_before_it)
{
	struct rag_embedder *m = open_model();
	int want[120];

	for (int i = 0; i < 120; i++)
		want[i] = i;
	for (size_t k = 0; k < sizeof bads / sizeof *bads; k++) {
		char *in = make_input(120, 60, bads[k].bad);
		const char *path = tmp_input(in);
		for (int threads = 1; threads <= 4; threads += 3) {
			struct run r;
			run_pipe(m, path, threads, 8, 0, 0, 0, &r);
			cr_assert_eq(r.rc, RAG_EDATA, "%s", r.err.msg);
			cr_assert(strstr(r.err.msg, bads[k].msg), "'%s' lacks '%s'", r.err.msg, bads[k].msg);
			cr_assert(strncmp(r.err.msg, path, strlen(path)) == 0, "names the input: %s", r.err.msg);
			/* lines 1..59 hold records 0..53 (5 blank lines): all written, nothing after */
			check_ids(&r, want, 54, 0);
			cr_assert_eq(r.n_on_bad, 0);
			run_free(&r);
		}
		unlink(path);
		rag_free(in);
	}
	rag_embedder_free(m);
}

Test(embed_pipe, skip_bad_counts_reports_in_order_and_keeps_the_rest)
{
	struct rag_embedder *m = open_model();
	int want[120];
	size_t n = 0;

	for (int i = 0; i < 120; i++)
		if (i != 54)
			want[n++] = i;
	for (size_t k = 0; k < sizeof bads / sizeof *bads; k++) {
		char *in = make_input(120, 60, bads[k].bad);
		const char *path = tmp_input(in);
		struct run r;
		run_pipe(m, path, 4, 8, 0, 1, 0, &r);
		cr_assert_eq(r.rc, RAG_OK, "%s", r.err.msg);
		cr_assert_eq(r.n_bad, 1);
		cr_assert_eq(r.n_on_bad, 1);
		cr_assert(strstr(r.first_bad, bads[k].msg), "'%s' lacks '%s'", r.first_bad, bads[k].msg);
		check_ids(&r, want, n, 0);
		run_free(&r);
		unlink(path);
		rag_free(in);
	}
	rag_embedder_free(m);
}

Test(embed_pipe, missing_input_is_enoinput_and_earlier_output_stays)
{
	struct rag_embedder *m = open_model();
	struct rag_embed_opts eo;
	struct rag_embed_pipe_opts po;
	struct rag_embed_pipe *p;
	struct rag_error err;
	char *buf = NULL, *in = make_input(30, 0, NULL);
	const char *path = tmp_input(in);
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	int want[30];

	for (int i = 0; i < 30; i++)
		want[i] = i;
	rag_embed_opts_init(&eo);
	rag_embed_pipe_opts_init(&po);
	po.out = out;
	po.block_records = 4;
	cr_assert_eq(rag_embed_pipe_new(m, &eo, &po, &p, &err), RAG_OK);
	cr_assert_eq(rag_embed_pipe_file(p, path, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_embed_pipe_file(p, "/nonexistent/in.jsonl", &err), RAG_ENOINPUT);
	cr_assert_eq(rag_embed_pipe_finish(p, &err), RAG_OK, "%s", err.msg);
	rag_embed_pipe_free(p);
	fclose(out);
	{
		struct run r = { .out = buf, .out_len = len };
		check_ids(&r, want, 30, 0);
	}
	free(buf);
	unlink(path);
	rag_free(in);
	rag_embedder_free(m);
}

Test(embed_pipe, write_error_is_eio_and_stops)
{
	struct rag_embedder *m = open_model();
	struct rag_embed_opts eo;
	struct rag_embed_pipe_opts po;
	struct rag_embed_pipe *p;
	struct rag_error err;
	char *in = make_input(50, 0, NULL);
	const char *path = tmp_input(in);
	FILE *full = fopen("/dev/full", "w");
	int rc;

	if (!full)
		cr_skip_test("no /dev/full");
	setvbuf(full, NULL, _IONBF, 0);
	rag_embed_opts_init(&eo);
	rag_embed_pipe_opts_init(&po);
	po.out = full;
	po.block_records = 4;
	cr_assert_eq(rag_embed_pipe_new(m, &eo, &po, &p, &err), RAG_OK);
	rc = rag_embed_pipe_file(p, path, &err);
	if (rc == RAG_OK)
		rc = rag_embed_pipe_finish(p, &err);
	cr_assert_eq(rc, RAG_EIO, "%d %s", rc, err.msg);
	cr_assert(strstr(err.msg, "standard output"), "%s", err.msg);
	cr_assert_eq(rag_embed_pipe_finish(p, &err), RAG_EIO, "stays broken");
	rag_embed_pipe_free(p);
	fclose(full);
	unlink(path);
	rag_free(in);
	rag_embedder_free(m);
}

/* ---- one tokenizer, many threads ---- */

struct tok_job {
	const struct rag_tokenizer *t;
	char **texts;
	size_t n;
	struct rag_tokens *want;
	int bad;
};

static void *tok_thread(void *arg)
{
	struct tok_job *j = arg;
	struct rag_tokens t;
	struct rag_error err;
	rag_tokens_init(&t);
	for (int rep = 0; rep < 3; rep++)
		for (size_t i = 0; i < j->n; i++) {
			if (rag_tokenize(j->t, j->texts[i], strlen(j->texts[i]), RAG_TOK_ADD_SPECIAL | RAG_TOK_OFFSETS, &t,
					 &err) ||
			    t.n != j->want[i].n || memcmp(t.ids, j->want[i].ids, t.n * sizeof *t.ids) ||
			    memcmp(t.start, j->want[i].start, t.n * sizeof *t.start))
				j->bad++;
		}
	rag_tokens_free(&t);
	return NULL;
}

static void tokenize_concurrently(const char *model)
{
	struct rag_gguf *g;
	struct rag_tokenizer *tok;
	struct rag_error err;
	enum { N = 200, T = 4 };
	char *texts[N];
	struct rag_tokens want[N];
	struct tok_job jobs[T];
	pthread_t th[T];

	cr_assert_eq(rag_gguf_open(fixture(model), &g, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_tokenizer_from_gguf(g, &tok, &err), RAG_OK, "%s", err.msg);
	for (int i = 0; i < N; i++) {
		struct rag_buf b;
		rag_buf_init(&b);
		/* repeated words (BPE word cache hits) and new ones (misses, evictions) */
		for (int w = 0; w < 20; w++)
			rag_buf_printf(&b, "%sword%d caf\xc3\xa9 running%d ", w ? "" : "Hello, ", (i * 7 + w * 13) % 97, i % 5);
		texts[i] = rag_buf_detach(&b, NULL);
		rag_tokens_init(&want[i]);
		cr_assert_eq(rag_tokenize(tok, texts[i], strlen(texts[i]), RAG_TOK_ADD_SPECIAL | RAG_TOK_OFFSETS, &want[i],
					  &err), RAG_OK);
	}
	for (int k = 0; k < T; k++) {
		jobs[k] = (struct tok_job){ tok, texts, N, want, 0 };
		cr_assert_eq(pthread_create(&th[k], NULL, tok_thread, &jobs[k]), 0);
	}
	for (int k = 0; k < T; k++) {
		pthread_join(th[k], NULL);
		cr_assert_eq(jobs[k].bad, 0, "thread %d: %d tokenizations differ from the serial ones", k, jobs[k].bad);
	}
	for (int i = 0; i < N; i++) {
		rag_tokens_free(&want[i]);
		rag_free(texts[i]);
	}
	rag_tokenizer_free(tok);
	rag_gguf_close(g);
}

Test(embed_pipe, one_wordpiece_tokenizer_many_threads)
{
	tokenize_concurrently(MODEL);
}

Test(embed_pipe, one_bpe_tokenizer_many_threads)
{
	tokenize_concurrently("vocab/ggml-vocab-gpt-2.gguf");
}
