/* test-sampler.c: greedy, seeded draws, top-k/top-p/min-p filters and the penalties. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "sampler.h"

static struct rag_sampler *make(struct rag_sampler_params *p, int64_t nv)
{
	struct rag_sampler *s;
	struct rag_error err;
	cr_assert_eq(rag_sampler_new(p, nv, &s, &err), 0, "%s", err.msg);
	return s;
}

Test(sampler, greedy_is_argmax_lowest_id_on_ties)
{
	struct rag_sampler_params p;
	float l[5] = { 1, 3, 3, -2, 0 };
	rag_sampler_params_init(&p);
	struct rag_sampler *s = make(&p, 5);
	cr_assert_eq(rag_sampler_sample(s, l), 1);
	rag_sampler_free(s);
	rag_sampler_free(NULL);
}

static void draw(struct rag_sampler_params *p, int n, int32_t *out)
{
	struct rag_sampler *s = make(p, 8);
	for (int i = 0; i < n; i++) {
		float l[8] = { 0.5f, 0.4f, 0.3f, 0.2f, 0.1f, 0.0f, -0.1f, -0.2f };
		out[i] = rag_sampler_sample(s, l);
	}
	rag_sampler_free(s);
}

Test(sampler, same_seed_same_tokens)
{
	struct rag_sampler_params p;
	int32_t a[200], b[200], c[200];
	rag_sampler_params_init(&p);
	p.temperature = 1.0f;
	p.seed = 7;
	draw(&p, 200, a);
	draw(&p, 200, b);
	p.seed = 8;
	draw(&p, 200, c);
	cr_assert_arr_eq(a, b, sizeof a);
	cr_assert(memcmp(a, c, sizeof a) != 0);
	/* every token drawn at least once: the distribution is nearly flat */
	int seen[8] = { 0 };
	for (int i = 0; i < 200; i++)
		seen[a[i]] = 1;
	for (int i = 0; i < 8; i++)
		cr_assert(seen[i], "token %d never drawn", i);
}

Test(sampler, top_k_top_p_min_p_restrict)
{
	struct rag_sampler_params p;
	int32_t a[300];
	rag_sampler_params_init(&p);
	p.temperature = 1.0f;
	p.top_k = 3;
	draw(&p, 300, a);
	for (int i = 0; i < 300; i++)
		cr_assert_lt(a[i], 3);
	/* probabilities of 8 logits 0.5..-0.2: the first three hold about 0.45 */
	p.top_k = 0;
	p.top_p = 0.3f;
	draw(&p, 300, a);
	for (int i = 0; i < 300; i++)
		cr_assert_lt(a[i], 3);
	p.top_p = 1.0f;
	p.min_p = 0.8f;  /* keep p >= 0.8 p_max: exp(-0.2) = 0.82, exp(-0.3) = 0.74 */
	draw(&p, 300, a);
	int seen2 = 0;
	for (int i = 0; i < 300; i++) {
		cr_assert_lt(a[i], 3);
		seen2 |= a[i] == 2;
	}
	cr_assert(seen2);
	/* low temperature concentrates on the best */
	p.min_p = 0.0f;
	p.temperature = 0.01f;
	draw(&p, 50, a);
	for (int i = 0; i < 50; i++)
		cr_assert_eq(a[i], 0);
}

Test(sampler, penalties)
{
	struct rag_sampler_params p;
	struct rag_sampler *s;
	float l[4];

	rag_sampler_params_init(&p);
	p.repeat_penalty = 2.0f;
	s = make(&p, 4);
	rag_sampler_accept(s, 0);
	rag_sampler_accept(s, 3);
	float a[4] = { 4, 3, 0, -1 };
	memcpy(l, a, sizeof l);
	cr_assert_eq(rag_sampler_sample(s, l), 1);
	cr_assert_float_eq(l[0], 2.0f, 1e-6);
	cr_assert_float_eq(l[3], -2.0f, 1e-6);
	rag_sampler_reset(s);
	memcpy(l, a, sizeof l);
	cr_assert_eq(rag_sampler_sample(s, l), 0);
	rag_sampler_free(s);

	rag_sampler_params_init(&p);
	p.frequency_penalty = 0.5f;
	p.presence_penalty = 0.25f;
	p.penalty_last_n = 2;
	s = make(&p, 4);
	rag_sampler_accept(s, 2);
	rag_sampler_accept(s, 1);
	rag_sampler_accept(s, 1);  /* the window of 2 now holds 1, 1 */
	memcpy(l, a, sizeof l);
	rag_sampler_sample(s, l);
	cr_assert_float_eq(l[1], 3 - 2 * 0.5f - 0.25f, 1e-6);
	cr_assert_float_eq(l[2], 0.0f, 1e-6);
	rag_sampler_free(s);
}

Test(sampler, bad_settings)
{
	struct rag_sampler_params p;
	struct rag_sampler *s;
	struct rag_error err;
	rag_sampler_params_init(&p);
	p.top_p = 0.0f;
	cr_assert_eq(rag_sampler_new(&p, 4, &s, &err), RAG_EUSAGE);
	rag_sampler_params_init(&p);
	p.min_p = 2.0f;
	cr_assert_eq(rag_sampler_new(&p, 4, &s, &err), RAG_EUSAGE);
	cr_assert_null(s);
}
