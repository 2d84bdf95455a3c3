/* test-embed-decoder.c: decoder embedding models (Qwen3-Embedding style: last-token
 * pooling, EOS appended, instruction prompt for queries) against Hugging Face
 * (tests/data/embed-decoder/golden.json, made by make-golden.py there), on the
 * tiny Qwen2 fixture re-labelled as an embedding model with the GGUF builder. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "buf.h"
#include "device.h"
#include "embed.h"
#include "gguf.h"
#include "gguf_write.h"
#include "json.h"
#include "testutil.h"

static char tmpdir[64];

/* src with every key and tensor, plus qwen2.pooling_type (when >= 0), EOS
 * appended by the tokenizer, a Qwen3-Embedding name; written to tmpdir/name. */
static const char *make_model(const char *src, int pooling, const char *name)
{
	static char path[128];
	char rel[128];
	struct rag_gguf *g, *out;
	struct rag_gguf_builder *b;
	struct rag_error err;

	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof tmpdir, "/tmp/test-embed-decoder.XXXXXX");
		cr_assert_not_null(mkdtemp(tmpdir));
	}
	snprintf(rel, sizeof rel, "models/%s", src);
	cr_assert_eq(rag_gguf_open(fixture(rel), &g, &err), 0, "%s", err.msg);
	b = rag_gguf_builder_new();
	cr_assert_not_null(b);
	for (size_t i = 0; i < rag_gguf_n_kv(g); i++)
		rag_gguf_builder_copy_kv(b, rag_gguf_kv_at(g, i));
	rag_gguf_builder_set_str(b, "general.name", "Tiny Qwen3-Embedding (test)");
	if (pooling >= 0)
		rag_gguf_builder_set_u32(b, "qwen2.pooling_type", (uint32_t)pooling);
	rag_gguf_builder_set_bool(b, "tokenizer.ggml.add_eos_token", 1);
	for (size_t i = 0; i < rag_gguf_n_tensors(g); i++) {
		const struct rag_gguf_tensor *t = rag_gguf_tensor_at(g, i);
		rag_gguf_builder_add_tensor(b, t->name, t->n_dims, t->ne, t->type, t->data);
	}
	cr_assert_eq(rag_gguf_builder_finish(b, "embed", &out, &err), 0, "%s", err.msg);
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	cr_assert_eq(rag_gguf_write(out, path, &err), 0, "%s", err.msg);
	rag_gguf_close(out);
	rag_gguf_close(g);
	return path;
}

static void cleanup(void)
{
	char cmd[128];
	if (!tmpdir[0])
		return;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	cr_expect_eq(system(cmd), 0);
	tmpdir[0] = 0;
}

TestSuite(embed_decoder, .fini = cleanup);

static const struct rag_json *load_golden(struct rag_buf *buf, struct rag_arena *a)
{
	struct rag_error err;
	struct rag_json *j;

	rag_buf_init(buf);
	rag_arena_init(a);
	cr_assert_eq(rag_buf_read_file(buf, testdata("embed-decoder/golden.json"), &err), 0, "%s", err.msg);
	cr_assert_eq(rag_json_parse(a, buf->data, buf->len, &j, &err), 0, "%s", err.msg);
	return rag_json_get(j, "rows");
}

static double cosine(const float *a, const struct rag_json *b, int64_t n)
{
	double ab = 0, aa = 0, bb = 0;
	for (int64_t i = 0; i < n; i++) {
		double y = b->u.arr.items[i].u.num;
		ab += a[i] * y;
		aa += (double)a[i] * a[i];
		bb += y * y;
	}
	return ab / sqrt(aa * bb);
}

/* Every golden row through prepare (prompt by mode, EOS by the tokenizer) and run. */
static void check_golden(const char *src, int cuda, double min_cos, double max_abs)
{
	struct rag_encoder_opts eo = { .cuda = cuda };
	const char *path = make_model(src, 3, src);
	struct rag_buf buf;
	struct rag_arena a;
	const struct rag_json *rows = load_golden(&buf, &a);
	struct rag_embedder *m;
	struct rag_error err;
	double worst = 1.0, worst_abs = 0.0, worst_mean = 0.0;

	cr_assert_eq(rag_embedder_open(path, &eo, &m, &err), 0, "%s", err.msg);
	cr_assert_null(rag_embedder_encoder(m));
	cr_assert_not_null(rag_embedder_decoder(m));
	cr_assert_eq(rag_embedder_dim(m), 64);
	for (size_t r = 0; r < rows->u.arr.n; r++) {
		const struct rag_json *row = &rows->u.arr.items[r];
		const char *text = rag_json_get(row, "text")->u.str.s;
		int query = rag_json_get(row, "prompt")->u.str.len > 0;
		const struct rag_json *ids = rag_json_get(row, "ids");
		struct rag_embed_opts o;
		struct rag_embed_seq s = { 0 };
		float v[64];

		rag_embed_opts_init(&o);
		o.mode = query ? RAG_EMBED_QUERY : RAG_EMBED_DOCUMENT;
		cr_assert_eq(rag_embed_check_pooling(m, &o, &err), 0, "%s", err.msg);
		cr_assert_eq(rag_embed_pooling(m, &o), RAG_POOL_LAST);
		cr_assert_eq(rag_embed_prepare(m, text, strlen(text), &o, &s, &err), 0, "%s", err.msg);
		cr_assert_eq(s.n, ids->u.arr.n, "row %zu: %zu ids, golden %zu", r, s.n, ids->u.arr.n);
		for (size_t i = 0; i < s.n; i++)
			cr_assert_eq(s.ids[i], (int32_t)ids->u.arr.items[i].u.num, "row %zu id %zu", r, i);
		cr_assert_eq(rag_embed_run(m, &s, 1, &o, v, &err), 0, "%s", err.msg);
		worst = fmin(worst, cosine(v, rag_json_get(row, "embedding"), 64));
		o.no_normalize = 1;
		cr_assert_eq(rag_embed_run(m, &s, 1, &o, v, &err), 0, "%s", err.msg);
		for (int i = 0; i < 64; i++)
			worst_abs = fmax(worst_abs, fabs(v[i] - rag_json_get(row, "last_hidden")->u.arr.items[i].u.num));
		o.pooling = RAG_POOL_MEAN;
		cr_assert_eq(rag_embed_run(m, &s, 1, &o, v, &err), 0, "%s", err.msg);
		for (int i = 0; i < 64; i++)
			worst_mean = fmax(worst_mean, fabs(v[i] - rag_json_get(row, "mean_hidden")->u.arr.items[i].u.num));
		rag_embed_seq_free(&s);
	}
	fprintf(stderr, "decoder embedding %s%s: min cosine %.7f, max |last hidden err| %.3g, "
		"max |mean hidden err| %.3g over %zu texts\n", src, cuda ? " on the GPU" : "", worst, worst_abs, worst_mean, rows->u.arr.n);
	cr_expect_geq(worst, min_cos);
	cr_expect_leq(worst_abs, max_abs);
	cr_expect_leq(worst_mean, max_abs);
	rag_embedder_free(m);
	rag_arena_free(&a);
	rag_buf_free(&buf);
}

/* README tolerances: F16 weights, float32 arithmetic: cosine >= 0.99999. */
Test(embed_decoder, golden_f16)
{
	check_golden("tiny-qwen2-f16.gguf", 0, 0.99999, 1e-3);
}

/* Q8_0: cosine >= 0.999 (hidden states of size ~1: loose absolute bound). */
Test(embed_decoder, golden_q8_0)
{
	check_golden("tiny-qwen2-q8_0.gguf", 0, 0.999, 0.25);
}

/* On the GPU (lib/decoder_cuda.c: half products, float32 accumulation): the
 * README's GPU bound for embeddings, cosine >= 0.999, for both files. */
Test(embed_decoder, golden_gpu)
{
	if (rag_gpu_count(NULL, 0) <= 0)
		cr_skip_test("no GPU");
	check_golden("tiny-qwen2-f16.gguf", 1, 0.999, 0.05);
	check_golden("tiny-qwen2-q8_0.gguf", 1, 0.999, 0.25);
}

Test(embed_decoder, a_plain_decoder_needs_a_pooling)
{
	struct rag_embedder *m;
	struct rag_embed_opts o;
	struct rag_error err;

	cr_assert_eq(rag_embedder_open(fixture("models/tiny-qwen2-f16.gguf"), NULL, &m, &err), 0, "%s", err.msg);
	rag_embed_opts_init(&o);
	cr_assert_eq(rag_embed_check_pooling(m, &o, &err), RAG_EMODEL);
	cr_assert(strstr(err.msg, "without qwen2.pooling_type"), "%s", err.msg);
	o.pooling = RAG_POOL_LAST;
	cr_assert_eq(rag_embed_check_pooling(m, &o, &err), 0);
	o.pooling = RAG_POOL_NONE;
	cr_assert_eq(rag_embed_check_pooling(m, &o, &err), RAG_EUSAGE);
	cr_assert(strstr(err.msg, "'none'"), "%s", err.msg);
	rag_embedder_free(m);
}

Test(embed_decoder, cls_is_the_first_token_alone_and_truncation_keeps_eos)
{
	const char *path = make_model("tiny-qwen2-f16.gguf", 2, "cls.gguf");
	struct rag_embedder *m;
	struct rag_embed_opts o;
	struct rag_embed_seq s = { 0 }, one = { 0 };
	struct rag_error err;
	float a[64], b[64];

	cr_assert_eq(rag_embedder_open(path, NULL, &m, &err), 0, "%s", err.msg);
	rag_embed_opts_init(&o);
	cr_assert_eq(rag_embed_pooling(m, &o), RAG_POOL_CLS);
	cr_assert_eq(rag_embed_prepare(m, "The capital of France", 21, &o, &s, &err), 0, "%s", err.msg);
	cr_assert_eq(rag_embed_prepare(m, "The", 3, &o, &one, &err), 0, "%s", err.msg);
	cr_assert_eq(one.ids[0], s.ids[0]);
	cr_assert_eq(rag_embed_run(m, &s, 1, &o, a, &err), 0, "%s", err.msg);
	o.pooling = RAG_POOL_LAST;
	one.n = 1;   /* "The" without its EOS: the first token alone */
	cr_assert_eq(rag_embed_run(m, &one, 1, &o, b, &err), 0, "%s", err.msg);
	for (int i = 0; i < 64; i++)
		cr_assert_float_eq(a[i], b[i], 1e-6);
	o.max_tokens = 3;
	cr_assert_eq(rag_embed_prepare(m, "The capital of France", 21, &o, &s, &err), 0, "%s", err.msg);
	cr_assert_eq(s.n, 3);
	cr_assert(s.truncated);
	cr_assert_eq(s.ids[2], 50256, "the EOS stays last");
	o.no_truncate = 1;
	cr_assert_eq(rag_embed_prepare(m, "The capital of France", 21, &o, &s, &err), RAG_EDATA);
	rag_embed_seq_free(&s);
	rag_embed_seq_free(&one);
	rag_embedder_free(m);
}

Test(embed_decoder, rank_pooling_is_refused)
{
	const char *path = make_model("tiny-qwen2-f16.gguf", 4, "rank.gguf");
	struct rag_embedder *m;
	struct rag_error err;

	cr_assert_eq(rag_embedder_open(path, NULL, &m, &err), RAG_EMODEL);
	cr_assert(strstr(err.msg, "reranker"), "%s", err.msg);
	cr_assert_null(m);
	path = make_model("tiny-qwen2-f16.gguf", 7, "bad.gguf");
	cr_assert_eq(rag_embedder_open(path, NULL, &m, &err), RAG_EMODEL);
}

/* Without a GPU, asking for one is RAG_EUNAVAILABLE (the GPU results are
 * checked in test-cuda-decoder.c, which runs where there is one). */
Test(embed_decoder, gpu_without_a_gpu_is_unavailable)
{
	const char *path = make_model("tiny-qwen2-f16.gguf", 3, "last.gguf");
	struct rag_encoder_opts eo = { .cuda = 1 };
	struct rag_embedder *m = NULL;
	struct rag_error err;

	if (rag_gpu_count(NULL, 0) > 0)
		cr_skip_test("a GPU is present: golden_gpu checks the GPU path instead");
	cr_assert_eq(rag_embedder_open(path, &eo, &m, &err), RAG_EUNAVAILABLE);
	cr_assert_null(m);
}
