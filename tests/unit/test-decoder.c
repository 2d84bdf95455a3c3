/* test-decoder.c: the decoder against golden/tiny-qwen2.json (Hugging Face fp32
 * logits) for F16, BF16 and Q8_0 weights, plus cache consistency (prefill vs
 * step-by-step, trim) and the bad-input paths. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "arena.h"
#include "buf.h"
#include "decoder.h"
#include "gguf.h"
#include "json.h"
#include "options.h"
#include "testutil.h"
#include "decoder-golden.h"

static void open_model_p(const char *file, const struct rag_decoder_params *p,
			 struct rag_gguf **g, struct rag_decoder **d)
{
	struct rag_error err;
	char rel[128];

	snprintf(rel, sizeof rel, "models/%s", file);
	cr_assert_eq(rag_gguf_open(fixture(rel), g, &err), 0, "%s", err.msg);
	cr_assert_eq(rag_decoder_load(*g, p, d, &err), 0, "%s", err.msg);
}

static void open_model(const char *file, struct rag_gguf **g, struct rag_decoder **d)
{
	open_model_p(file, NULL, g, d);
}

/* Compare every recorded position of every prompt; fill the figures. */
static void run_golden_p(const char *file, const struct rag_decoder_params *p, struct figures *f)
{
	struct rag_gguf *g;
	struct rag_decoder *d;

	open_model_p(file, p, &g, &d);
	decoder_golden(d, fixture("golden/tiny-qwen2.json"), file, p && p->exact_act, f);
	rag_decoder_free(d);
	rag_gguf_close(g);
}

static void run_golden(const char *file, struct figures *f)
{
	run_golden_p(file, NULL, f);
}

Test(decoder, golden_f16)
{
	struct figures f;
	run_golden("tiny-qwen2-f16.gguf", &f);
	golden_expect_exact(&f, "tiny-qwen2-f16");
	cr_expect_eq(f.greedy_rows_identical, f.rows);
}

Test(decoder, golden_bf16)
{
	struct figures f;
	run_golden("tiny-qwen2-bf16.gguf", &f);
	golden_expect_bf16(&f, "tiny-qwen2-bf16");
}

Test(decoder, golden_q8_0)
{
	struct figures f;
	run_golden("tiny-qwen2-q8_0.gguf", &f);
	/* the decode path quantizes activations to int8 (rag_matvec_q8) */
	golden_expect_q8_0(&f, "tiny-qwen2-q8_0");
}

/* The same with float32 activations in decode (rag_decoder_params.exact_act). */
Test(decoder, golden_q8_0_exact_activations)
{
	struct rag_decoder_params p = { .exact_act = 1 };
	struct figures f;
	run_golden_p("tiny-qwen2-q8_0.gguf", &p, &f);
	golden_expect_q8_0(&f, "tiny-qwen2-q8_0 exact");
}

/* Prefill of n tokens equals n single steps, and trim + re-eval reproduces logits. */
Test(decoder, prefill_matches_steps_and_trim)
{
	struct rag_gguf *g;
	struct rag_decoder *d;
	struct rag_error err;
	int32_t ids[20];
	float *a, *b;
	int64_t nv;

	/* float32 activations in the steps, so both paths compute the same products */
	struct rag_decoder_params p = { .exact_act = 1 };
	open_model_p("tiny-qwen2-q8_0.gguf", &p, &g, &d);
	nv = rag_decoder_info(d)->n_vocab;
	for (int i = 0; i < 20; i++)
		ids[i] = (int32_t)((i * 7919 + 13) % nv);
	a = malloc(20 * (size_t)nv * sizeof *a);
	b = malloc((size_t)nv * sizeof *b);
	cr_assert_eq(rag_decoder_eval(d, ids, 20, 1, a, &err), 0);
	cr_assert_eq(rag_decoder_n_past(d), 20);
	rag_decoder_reset(d);
	for (int i = 0; i < 20; i++) {
		cr_assert_eq(rag_decoder_step(d, ids[i], b, &err), 0);
		for (int64_t v = 0; v < nv; v += 97)
			cr_assert_float_eq(b[v], a[i * nv + v], 1e-4, "pos %d vocab %lld", i, (long long)v);
	}
	rag_decoder_trim(d, 12);
	cr_assert_eq(rag_decoder_n_past(d), 12);
	cr_assert_eq(rag_decoder_eval(d, ids + 12, 8, 0, b, &err), 0);
	for (int64_t v = 0; v < nv; v += 97)
		cr_assert_float_eq(b[v], a[19 * nv + v], 1e-4);
	free(a);
	free(b);
	rag_decoder_free(d);
	rag_gguf_close(g);
}

Test(decoder, threads_do_not_change_results)
{
	struct rag_gguf *g;
	struct rag_decoder *d;
	struct rag_error err;
	int32_t ids[9] = { 464, 3139, 286, 4881, 318, 1, 2, 3, 4 };
	float *a, *b;
	int64_t nv;

	open_model("tiny-qwen2-f16.gguf", &g, &d);
	nv = rag_decoder_info(d)->n_vocab;
	a = malloc((size_t)nv * sizeof *a);
	b = malloc((size_t)nv * sizeof *b);
	rag_set_threads(1);
	cr_assert_eq(rag_decoder_eval(d, ids, 9, 0, a, &err), 0);
	rag_decoder_reset(d);
	rag_set_threads(2);
	cr_assert_eq(rag_decoder_eval(d, ids, 9, 0, b, &err), 0);
	for (int64_t v = 0; v < nv; v++)
		cr_assert_float_eq(a[v], b[v], 1e-5);
	free(a);
	free(b);
	rag_decoder_free(d);
	rag_gguf_close(g);
}

Test(decoder, context_overflow_and_bad_ids)
{
	struct rag_gguf *g;
	struct rag_decoder *d;
	struct rag_decoder_params p = { .n_ctx = 8 };
	struct rag_error err;
	int32_t ids[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, bad = 999999;

	cr_assert_eq(rag_gguf_open(fixture("models/tiny-qwen2-f16.gguf"), &g, &err), 0);
	cr_assert_eq(rag_decoder_load(g, &p, &d, &err), 0, "%s", err.msg);
	cr_assert_eq(rag_decoder_info(d)->n_ctx, 8);
	cr_assert_eq(rag_decoder_eval(d, ids, 9, 0, NULL, &err), RAG_EDATA);
	cr_assert(strstr(err.msg, "context full"), "%s", err.msg);
	cr_assert_eq(rag_decoder_n_past(d), 0);
	cr_assert_eq(rag_decoder_eval(d, &bad, 1, 0, NULL, &err), RAG_EDATA);
	cr_assert_eq(rag_decoder_eval(d, ids, 8, 0, NULL, &err), 0);
	cr_assert_eq(rag_decoder_step(d, 1, NULL, &err), RAG_EDATA);
	rag_decoder_free(d);
	rag_gguf_close(g);
}

Test(decoder, non_decoder_model_is_rejected)
{
	struct rag_gguf *g;
	struct rag_decoder *d;
	struct rag_error err;

	cr_assert_eq(rag_gguf_open(fixture("models/tiny-embed-mean-f16.gguf"), &g, &err), 0);
	cr_assert_eq(rag_decoder_load(g, NULL, &d, &err), RAG_EMODEL);
	cr_assert(strstr(err.msg, "'bert'"), "%s", err.msg);
	cr_assert_null(d);
	rag_gguf_close(g);
}

Test(decoder, hidden_pooling)
{
	struct rag_gguf *g;
	struct rag_decoder *d;
	struct rag_error err;
	int32_t ids[5] = { 464, 3139, 286, 4881, 318 };
	float last[64], mean[64], again[64];

	open_model("tiny-qwen2-f16.gguf", &g, &d);
	cr_assert_eq(rag_decoder_info(d)->n_embd, 64);
	cr_assert_eq(rag_decoder_hidden(d, ids, 5, RAG_DECODER_POOL_LAST, last, &err), 0);
	cr_assert_eq(rag_decoder_n_past(d), 0);
	cr_assert_eq(rag_decoder_hidden(d, ids, 5, RAG_DECODER_POOL_MEAN, mean, &err), 0);
	cr_assert_eq(rag_decoder_hidden(d, ids, 5, RAG_DECODER_POOL_LAST, again, &err), 0);
	cr_assert_arr_eq(last, again, sizeof last);
	cr_assert_eq(rag_decoder_hidden(d, ids, 0, RAG_DECODER_POOL_LAST, again, &err), RAG_EDATA);
	rag_decoder_free(d);
	rag_gguf_close(g);
}
