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

struct figures {
	double max_err, max_lse_err;
	int positions, top1_checked, top1_agree, greedy_rows_identical, rows;
	/* the decode path (one token at a time, as rag-generate runs): top-5 logit
	 * error while the greedy continuation follows the golden one, and the
	 * largest golden top-1 margin at a position where it left it */
	double max_dec_err, max_div_margin;
};

static struct rag_buf golden_buf;
static struct rag_arena golden_arena;
static const struct rag_json *golden;

static void load_golden(void)
{
	struct rag_error err;
	struct rag_json *j;

	rag_buf_init(&golden_buf);
	rag_arena_init(&golden_arena);
	cr_assert_eq(rag_buf_read_file(&golden_buf, fixture("golden/tiny-qwen2.json"), &err), 0, "%s",
		     err.msg);
	cr_assert_eq(rag_json_parse(&golden_arena, golden_buf.data, golden_buf.len, &j, &err), 0,
		     "%s", err.msg);
	golden = j;
}

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

static int argmax(const float *v, int64_t n)
{
	int best = 0;
	for (int64_t i = 1; i < n; i++)
		if (v[i] > v[best])
			best = (int)i;
	return best;
}

/* Compare every recorded position of every prompt; fill the figures. */
static void run_golden_p(const char *file, const struct rag_decoder_params *p, struct figures *f)
{
	struct rag_gguf *g;
	struct rag_decoder *d;
	struct rag_error err;
	const struct rag_json *rows;

	memset(f, 0, sizeof *f);
	load_golden();
	open_model_p(file, p, &g, &d);
	rows = rag_json_get(golden, "rows");
	cr_assert(rows && rows->type == RAG_JSON_ARRAY);
	int64_t nv = rag_decoder_info(d)->n_vocab;
	for (size_t r = 0; r < rows->u.arr.n; r++) {
		const struct rag_json *row = &rows->u.arr.items[r];
		const struct rag_json *pid = rag_json_get(row, "prompt_ids");
		const struct rag_json *gid = rag_json_get(row, "greedy_ids");
		const struct rag_json *t5i = rag_json_get(row, "top5_ids");
		const struct rag_json *t5l = rag_json_get(row, "top5_logits");
		const struct rag_json *lse = rag_json_get(row, "logsumexp");
		const struct rag_json *mar = rag_json_get(row, "top1_margin");
		size_t np = pid->u.arr.n, ng = gid->u.arr.n, n = np + ng;
		int32_t *ids = malloc(n * sizeof *ids);
		float *logits = malloc(n * (size_t)nv * sizeof *logits);
		int greedy_same = 1;

		cr_assert_eq(t5i->u.arr.n, n);
		for (size_t i = 0; i < np; i++)
			ids[i] = (int32_t)pid->u.arr.items[i].u.num;
		for (size_t i = 0; i < ng; i++)
			ids[np + i] = (int32_t)gid->u.arr.items[i].u.num;
		rag_decoder_reset(d);
		cr_assert_eq(rag_decoder_eval(d, ids, (int64_t)n, 1, logits, &err), 0, "%s", err.msg);
		for (size_t i = 0; i < n; i++) {
			const float *lg = logits + i * (size_t)nv;
			double m = -INFINITY, s = 0.0;
			for (int64_t v = 0; v < nv; v++)
				m = fmax(m, lg[v]);
			for (int64_t v = 0; v < nv; v++)
				s += exp(lg[v] - m);
			f->max_lse_err = fmax(f->max_lse_err,
					      fabs(m + log(s) - lse->u.arr.items[i].u.num));
			for (int j = 0; j < 5; j++) {
				int id = (int)t5i->u.arr.items[i].u.arr.items[j].u.num;
				double ref = t5l->u.arr.items[i].u.arr.items[j].u.num;
				f->max_err = fmax(f->max_err, fabs(lg[id] - ref));
			}
			f->positions++;
			if (mar->u.arr.items[i].u.num > 1e-3) {
				f->top1_checked++;
				if (argmax(lg, nv) == (int)t5i->u.arr.items[i].u.arr.items[0].u.num)
					f->top1_agree++;
			}
		}
		/* free-running greedy continuation from the prompt, through the decode path */
		rag_decoder_reset(d);
		cr_assert_eq(rag_decoder_eval(d, ids, (int64_t)np, 0, logits, &err), 0, "%s", err.msg);
		for (size_t i = 0; i < ng; i++) {
			int32_t t = argmax(logits, nv);
			size_t pos = np - 1 + i;
			for (int j = 0; j < 5; j++) {
				int id = (int)t5i->u.arr.items[pos].u.arr.items[j].u.num;
				double ref = t5l->u.arr.items[pos].u.arr.items[j].u.num;
				f->max_dec_err = fmax(f->max_dec_err, fabs(logits[id] - ref));
			}
			if (t != ids[np + i]) {
				f->max_div_margin = fmax(f->max_div_margin, mar->u.arr.items[pos].u.num);
				greedy_same = 0;
				break;
			}
			cr_assert_eq(rag_decoder_step(d, t, logits, &err), 0, "%s", err.msg);
		}
		f->greedy_rows_identical += greedy_same;
		f->rows++;
		free(ids);
		free(logits);
	}
	fprintf(stderr,
		"decoder %s: max |logit err| %.3g, max |logsumexp err| %.3g over %d positions; "
		"top-1 agrees at %d/%d positions with margin > 1e-3; greedy identical in %d/%d rows; "
		"decode path (%s activations): max |logit err| %.3g, left the golden greedy path at "
		"margins <= %.3g\n",
		file, f->max_err, f->max_lse_err, f->positions, f->top1_agree, f->top1_checked,
		f->greedy_rows_identical, f->rows, p && p->exact_act ? "float32" : "default",
		f->max_dec_err, f->max_div_margin);
	rag_decoder_free(d);
	rag_gguf_close(g);
	rag_arena_free(&golden_arena);
	rag_buf_free(&golden_buf);
}

static void run_golden(const char *file, struct figures *f)
{
	run_golden_p(file, NULL, f);
}

Test(decoder, golden_f16)
{
	struct figures f;
	run_golden("tiny-qwen2-f16.gguf", &f);
	cr_expect_leq(f.max_err, 1e-3);
	cr_expect_leq(f.max_lse_err, 1e-3);
	cr_expect_eq(f.top1_agree, f.top1_checked);
	cr_expect_eq(f.greedy_rows_identical, f.rows);
}

Test(decoder, golden_bf16)
{
	struct figures f;
	run_golden("tiny-qwen2-bf16.gguf", &f);
	/* BF16 rounds the reference weights: no README bound; guard against gross errors */
	cr_expect_leq(f.max_err, 0.1);
	cr_expect_geq(f.top1_agree, f.top1_checked * 9 / 10);
}

Test(decoder, golden_q8_0)
{
	struct figures f;
	run_golden("tiny-qwen2-q8_0.gguf", &f);
	/* no README bound on logits for Q8_0; measured 0.11 on top-5 logits of 4 to 6 */
	cr_expect_leq(f.max_err, 0.25);
	cr_expect_geq(f.top1_agree, f.top1_checked * 9 / 10);
	/* the decode path quantizes activations to int8 (rag_matvec_q8): its logits
	 * stay within the same bound, and a greedy continuation may only leave the
	 * golden one where a logit error that size can flip the top-1 (README:
	 * "greedy tokens may diverge after a low-margin position") */
	cr_expect_leq(f.max_dec_err, 0.25);
	cr_expect_leq(f.max_div_margin, 2 * f.max_dec_err);
}

/* The same with float32 activations in decode (rag_decoder_params.exact_act). */
Test(decoder, golden_q8_0_exact_activations)
{
	struct rag_decoder_params p = { .exact_act = 1 };
	struct figures f;
	run_golden_p("tiny-qwen2-q8_0.gguf", &p, &f);
	cr_expect_leq(f.max_err, 0.25);
	cr_expect_leq(f.max_dec_err, 0.25);
	cr_expect_leq(f.max_div_margin, 2 * f.max_dec_err);
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
