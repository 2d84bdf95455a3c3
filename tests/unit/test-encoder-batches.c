/* test-encoder-batches.c: the GPU encoder's host side that runs anywhere: the
 * token-budget batch plan, and loading with opts.cuda where no GPU is there. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "device.h"
#include "encoder.h"
#include "encoder_cuda.h"
#include "gguf.h"
#include "testutil.h"

/* Check a plan: consecutive, complete, within budget unless alone, within max_seqs, greedy. */
static void check_plan(const size_t *len, size_t n, size_t budget, size_t max_seqs)
{
	size_t *start = malloc((n + 1) * sizeof *start), nb;

	nb = rag_encoder_batches(len, n, budget, max_seqs, start);
	if (!budget)
		budget = 16384;   /* the documented default */
	cr_assert_geq(nb, n ? 1 : 0);
	cr_assert_eq(start[0], 0);
	cr_assert_eq(start[nb], n);
	for (size_t b = 0; b < nb; b++) {
		size_t t = 0, cnt = start[b + 1] - start[b];
		cr_assert_gt(start[b + 1], start[b], "batch %zu is empty", b);
		for (size_t s = start[b]; s < start[b + 1]; s++)
			t += len[s];
		cr_expect(cnt == 1 || t <= budget, "batch %zu: %zu tokens over %zu", b, t, budget);
		cr_expect(!max_seqs || cnt <= max_seqs, "batch %zu: %zu sequences", b, cnt);
		/* greedy: the next sequence would not have fitted */
		if (b + 1 < nb)
			cr_expect((max_seqs && cnt == max_seqs) || t + len[start[b + 1]] > budget,
				  "batch %zu closed early", b);
	}
	free(start);
}

Test(encoder_batches, plans)
{
	size_t a[] = { 5, 5, 5, 5 }, b[] = { 100, 1, 1, 100, 3, 200, 2 }, c[] = { 7 };
	size_t start[9];
	size_t *big = malloc(1000 * sizeof *big);

	check_plan(a, 4, 10, 0);
	check_plan(a, 4, 9, 0);      /* every sequence alone */
	check_plan(b, 7, 101, 0);
	check_plan(b, 7, 150, 2);
	check_plan(c, 1, 1, 0);      /* longer than the budget: alone */
	for (size_t i = 0; i < 1000; i++)
		big[i] = 1 + (i * 7919) % 512;
	check_plan(big, 1000, 16384, 0);
	check_plan(big, 1000, 2048, 3);
	check_plan(big, 1000, 0, 0); /* 0: the default budget */
	cr_expect_eq(rag_encoder_batches(a, 4, 10, 0, start), 2);
	cr_expect_eq(start[1], 2);
	cr_expect_eq(rag_encoder_batches(a, 4, 100, 3, start), 2);
	cr_expect_eq(start[1], 3);
	cr_expect_eq(rag_encoder_batches(a, 0, 10, 0, start), 0);
	cr_expect_eq(start[0], 0);
	free(big);
}

/* Without a GPU, asking for one at load is RAG_EUNAVAILABLE (69), not a crash. */
Test(encoder_batches, cuda_load_without_gpu_is_unavailable)
{
	struct rag_gguf *g;
	struct rag_encoder *e = (struct rag_encoder *)1;
	struct rag_encoder_opts o = { .cuda = 1 };
	struct rag_error err = { 0 };

	if (rag_gpu_count(NULL, 0) > 0) {
		cr_skip_test("a GPU is present: test-cuda-encoder covers it");
		return;
	}
	cr_assert_eq(rag_gguf_open(fixture("models/tiny-embed-mean-f16.gguf"), &g, &err), RAG_OK, "%s", err.msg);
	cr_expect_eq(rag_encoder_load(g, &o, &e, &err), RAG_EUNAVAILABLE);
	cr_expect_null(e);
	cr_expect_neq(err.msg[0], 0);
	rag_gguf_close(g);
}
