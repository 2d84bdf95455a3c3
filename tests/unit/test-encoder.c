/* test-encoder.c: the BERT forward pass against Hugging Face's reference outputs
 * (tiny-embed-mean in F32/F16/BF16/Q8_0, tiny-rerank in F16/Q8_0), batch
 * independence, and refusal of files that are not encoders. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "encoder.h"
#include "json.h"
#include "testutil.h"

struct golden {
	struct rag_buf file;
	struct rag_arena a;
	struct rag_json *doc;
	const struct rag_json *rows;
};

static void golden_load(struct golden *gd, const char *rel)
{
	struct rag_error err;
	rag_buf_init(&gd->file);
	rag_arena_init(&gd->a);
	cr_assert_eq(rag_buf_read_file(&gd->file, fixture(rel), &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_json_parse(&gd->a, gd->file.data, gd->file.len, &gd->doc, &err), RAG_OK, "%s", err.msg);
	gd->rows = rag_json_get(gd->doc, "rows");
	cr_assert(gd->rows && gd->rows->type == RAG_JSON_ARRAY && gd->rows->u.arr.n > 0);
}

static void golden_free(struct golden *gd)
{
	rag_arena_free(&gd->a);
	rag_buf_free(&gd->file);
}

/* A JSON array of numbers as new int32/uint8/float arrays. */
static int32_t *json_ids(const struct rag_json *arr, size_t *n)
{
	int32_t *v = rag_malloc(arr->u.arr.n * sizeof *v);
	cr_assert(v);
	for (size_t i = 0; i < arr->u.arr.n; i++)
		v[i] = (int32_t)arr->u.arr.items[i].u.num;
	*n = arr->u.arr.n;
	return v;
}

static uint8_t *json_types(const struct rag_json *arr)
{
	uint8_t *v = rag_malloc(arr->u.arr.n);
	cr_assert(v);
	for (size_t i = 0; i < arr->u.arr.n; i++)
		v[i] = (uint8_t)arr->u.arr.items[i].u.num;
	return v;
}

static double cosine(const float *a, const struct rag_json *ref, size_t n)
{
	double ab = 0, aa = 0, bb = 0;
	cr_assert_eq(ref->u.arr.n, n);
	for (size_t i = 0; i < n; i++) {
		double b = ref->u.arr.items[i].u.num;
		ab += a[i] * b;
		aa += (double)a[i] * a[i];
		bb += b * b;
	}
	return ab / sqrt(aa * bb);
}

static struct rag_encoder *open_model(const char *rel, struct rag_gguf **g, const struct rag_encoder_opts *o)
{
	struct rag_error err;
	struct rag_encoder *e = NULL;
	cr_assert_eq(rag_gguf_open(fixture(rel), g, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_encoder_load(*g, o, &e, &err), RAG_OK, "%s", err.msg);
	return e;
}

/* Run every golden text through the model as one packed batch (and also one by
 * one) and return the worst cosine of embedding, pooled and token0_hidden. */
static void check_embed(const char *model, double min_cos, int no_cache)
{
	struct golden gd;
	struct rag_gguf *g;
	struct rag_error err;
	struct rag_encoder_opts o = { .no_f32_cache = no_cache };
	struct rag_encoder *e;
	size_t n = 0, n_tok = 0;
	struct rag_enc_seq *seqs;
	float *emb, *pooled, *tokens;
	double worst[3] = { 1, 1, 1 };
	int64_t d;

	golden_load(&gd, "golden/tiny-embed-mean.json");
	e = open_model(model, &g, &o);
	d = rag_encoder_dim(e);
	cr_assert_eq(d, 32);
	cr_assert_eq(rag_encoder_pooling(e), RAG_POOL_MEAN);
	cr_assert_not(rag_encoder_is_reranker(e));
	n = gd.rows->u.arr.n;
	seqs = rag_calloc(n, sizeof *seqs);
	for (size_t i = 0; i < n; i++) {
		seqs[i].ids = json_ids(rag_json_get(&gd.rows->u.arr.items[i], "ids"), &seqs[i].n);
		n_tok += seqs[i].n;
	}
	emb = rag_malloc(n * (size_t)d * sizeof *emb);
	pooled = rag_malloc(n * (size_t)d * sizeof *pooled);
	tokens = rag_malloc(n_tok * (size_t)d * sizeof *tokens);
	cr_assert_eq(rag_encoder_run(e, seqs, n, 0, RAG_POOL_MEAN, 1, emb, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_encoder_run(e, seqs, n, 40, RAG_POOL_MEAN, 0, pooled, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_encoder_run(e, seqs, n, 1, RAG_POOL_NONE, 0, tokens, &err), RAG_OK, "%s", err.msg);
	n_tok = 0;
	for (size_t i = 0; i < n; i++) {
		const struct rag_json *r = &gd.rows->u.arr.items[i];
		double c[3] = {
			cosine(emb + i * d, rag_json_get(r, "embedding"), (size_t)d),
			cosine(pooled + i * d, rag_json_get(r, "pooled"), (size_t)d),
			cosine(tokens + n_tok * d, rag_json_get(r, "token0_hidden"), (size_t)d),
		};
		for (int k = 0; k < 3; k++)
			if (c[k] < worst[k])
				worst[k] = c[k];
		n_tok += seqs[i].n;
		rag_free((void *)seqs[i].ids);
	}
	fprintf(stderr, "%s%s: worst cosine embedding %.7f pooled %.7f token0_hidden %.7f\n", model,
		no_cache ? " (no cache)" : "", worst[0], worst[1], worst[2]);
	for (int k = 0; k < 3; k++)
		cr_expect_geq(worst[k], min_cos, "%s: cosine %d = %.7f < %.7f", model, k, worst[k], min_cos);
	rag_free(seqs);
	rag_free(emb);
	rag_free(pooled);
	rag_free(tokens);
	rag_encoder_free(e);
	rag_gguf_close(g);
	golden_free(&gd);
}

Test(encoder, embed_f32) { check_embed("models/tiny-embed-mean-f32.gguf", 0.99999, 0); }
Test(encoder, embed_f16) { check_embed("models/tiny-embed-mean-f16.gguf", 0.99999, 0); }
Test(encoder, embed_f16_uncached) { check_embed("models/tiny-embed-mean-f16.gguf", 0.99999, 1); }
Test(encoder, embed_bf16) { check_embed("models/tiny-embed-mean-bf16.gguf", 0.9999, 0); }
Test(encoder, embed_q8_0) { check_embed("models/tiny-embed-mean-q8_0.gguf", 0.999, 0); }
Test(encoder, embed_q8_0_uncached) { check_embed("models/tiny-embed-mean-q8_0.gguf", 0.999, 1); }

static void check_rerank(const char *model, double max_err)
{
	struct golden gd;
	struct rag_gguf *g;
	struct rag_error err;
	struct rag_encoder *e;
	struct rag_enc_seq *seqs;
	float *logit;
	double worst = 0;
	size_t n;

	golden_load(&gd, "golden/tiny-rerank.json");
	e = open_model(model, &g, NULL);
	cr_assert(rag_encoder_is_reranker(e));
	cr_assert_eq(rag_encoder_n_labels(e), 1);
	cr_assert_eq(rag_encoder_pooling(e), RAG_POOL_RANK);
	n = gd.rows->u.arr.n;
	seqs = rag_calloc(n, sizeof *seqs);
	logit = rag_malloc(n * sizeof *logit);
	for (size_t i = 0; i < n; i++) {
		const struct rag_json *r = &gd.rows->u.arr.items[i];
		seqs[i].ids = json_ids(rag_json_get(r, "ids"), &seqs[i].n);
		seqs[i].types = json_types(rag_json_get(r, "token_type_ids"));
	}
	cr_assert_eq(rag_encoder_run(e, seqs, n, 0, RAG_POOL_RANK, 0, logit, &err), RAG_OK, "%s", err.msg);
	for (size_t i = 0; i < n; i++) {
		const struct rag_json *r = &gd.rows->u.arr.items[i];
		double ref, er;
		cr_assert(rag_json_get_num(r, "logit", &ref));
		er = fabs(logit[i] - ref);
		if (er > worst)
			worst = er;
	}
	/* the ranking of the passages of every query is Hugging Face's */
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			const struct rag_json *ri = &gd.rows->u.arr.items[i], *rj = &gd.rows->u.arr.items[j];
			double li, lj;
			if (i == j || strcmp(rag_json_get_str(ri, "query", NULL), rag_json_get_str(rj, "query", NULL)))
				continue;
			rag_json_get_num(ri, "logit", &li);
			rag_json_get_num(rj, "logit", &lj);
			if (li > lj)
				cr_expect_gt(logit[i], logit[j], "%s: rows %zu and %zu ranked differently", model, i, j);
		}
	fprintf(stderr, "%s: worst logit abs error %.2e\n", model, worst);
	cr_expect_leq(worst, max_err, "%s: logit error %.3g", model, worst);
	
	for (size_t i = 0; i < n; i++) {
		rag_free((void *)seqs[i].ids);
		rag_free((void *)seqs[i].types);
	}
	rag_free(seqs);
	rag_free(logit);
	rag_encoder_free(e);
	rag_gguf_close(g);
	golden_free(&gd);
}

Test(encoder, rerank_f16) { check_rerank("models/tiny-rerank-f16.gguf", 1e-4); }
Test(encoder, rerank_q8_0) { check_rerank("models/tiny-rerank-q8_0.gguf", 0.02); }

/* A text's vector must not depend on which texts share its batch. */
Test(encoder, batch_independent)
{
	struct golden gd;
	struct rag_gguf *g;
	struct rag_error err;
	struct rag_encoder *e;
	struct rag_enc_seq seqs[17], one;
	float alone[32], *all;
	size_t n;

	golden_load(&gd, "golden/tiny-embed-mean.json");
	e = open_model("models/tiny-embed-mean-q8_0.gguf", &g, NULL);
	n = gd.rows->u.arr.n;
	cr_assert_leq(n, 17);
	for (size_t i = 0; i < n; i++)
		seqs[i].ids = json_ids(rag_json_get(&gd.rows->u.arr.items[i], "ids"), &seqs[i].n), seqs[i].types = NULL;
	all = rag_malloc(n * 32 * sizeof *all);
	for (size_t budget = 1; budget <= 512; budget *= 8) {
		cr_assert_eq(rag_encoder_run(e, seqs, n, budget, RAG_POOL_MEAN, 1, all, &err), RAG_OK, "%s", err.msg);
		for (size_t i = 0; i < n; i++) {
			one = seqs[i];
			cr_assert_eq(rag_encoder_run(e, &one, 1, 0, RAG_POOL_MEAN, 1, alone, &err), RAG_OK);
			for (int j = 0; j < 32; j++)
				cr_assert_float_eq(alone[j], all[i * 32 + j], 1e-6,
						   "text %zu, budget %zu, dim %d: %g alone vs %g in a batch", i, budget,
						   j, alone[j], all[i * 32 + j]);
		}
	}
	for (size_t i = 0; i < n; i++)
		rag_free((void *)seqs[i].ids);
	rag_free(all);
	rag_encoder_free(e);
	rag_gguf_close(g);
	golden_free(&gd);
}

Test(encoder, bad_sequences)
{
	struct rag_gguf *g;
	struct rag_error err;
	struct rag_encoder *e = open_model("models/tiny-embed-mean-f16.gguf", &g, NULL);
	int32_t ids[200] = { 101, 50000, 102 };
	uint8_t types[3] = { 0, 7, 0 };
	struct rag_enc_seq s = { ids, NULL, 3 };
	float out[32 * 200];

	cr_assert_eq(rag_encoder_run(e, &s, 1, 0, RAG_POOL_MEAN, 1, out, &err), RAG_EDATA);
	cr_assert(strstr(err.msg, "vocabulary"), "%s", err.msg);
	ids[1] = 2000;
	s.types = types;
	cr_assert_eq(rag_encoder_run(e, &s, 1, 0, RAG_POOL_MEAN, 1, out, &err), RAG_EDATA);
	cr_assert(strstr(err.msg, "type"), "%s", err.msg);
	s.types = NULL;
	s.n = 0;
	cr_assert_eq(rag_encoder_run(e, &s, 1, 0, RAG_POOL_MEAN, 1, out, &err), RAG_EDATA);
	s.n = 200;
	cr_assert_eq(rag_encoder_run(e, &s, 1, 0, RAG_POOL_MEAN, 1, out, &err), RAG_EDATA);
	cr_assert(strstr(err.msg, "128"), "%s", err.msg);
	s.n = 3;
	cr_assert_eq(rag_encoder_run(e, &s, 1, 0, RAG_POOL_RANK, 1, out, &err), RAG_EUSAGE);
	rag_encoder_free(e);
	rag_gguf_close(g);
}

Test(encoder, refuses_decoders_and_vocab_files)
{
	static const char *const files[] = { "models/tiny-qwen2-f16.gguf", "vocab/ggml-vocab-bert-bge.gguf" };
	for (size_t i = 0; i < 2; i++) {
		struct rag_gguf *g;
		struct rag_error err;
		struct rag_encoder *e = (void *)1;
		cr_assert_eq(rag_gguf_open(fixture(files[i]), &g, &err), RAG_OK, "%s", err.msg);
		cr_assert_eq(rag_encoder_load(g, NULL, &e, &err), RAG_EMODEL, "%s", files[i]);
		cr_assert_null(e);
		cr_assert(i == 0 ? strstr(err.msg, "'qwen2'") != NULL : strstr(err.msg, "missing") != NULL, "%s", err.msg);
		rag_gguf_close(g);
	}
}

Test(encoder, pooling_names)
{
	enum rag_pooling p;
	struct rag_error err;
	cr_assert_eq(rag_pooling_parse("mean", &p, &err), RAG_OK);
	cr_assert_eq(p, RAG_POOL_MEAN);
	cr_assert_str_eq(rag_pooling_name(RAG_POOL_LAST), "last");
	cr_assert_eq(rag_pooling_parse("avg", &p, &err), RAG_EUSAGE);
}
