/* test-search-plan.c: the host side of the GPU exact search, which runs
 * without a GPU: chunk and group planning, top-k scratch sizing, the merge
 * of per-chunk candidates, and the fallback answers of a build or machine
 * without CUDA. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "device.h"
#include "search_cuda.h"

Test(search_plan, rejects_what_the_gpu_path_does_not_take)
{
	struct rag_gpu_dense_plan p;

	cr_expect_eq(rag_gpu_dense_plan(100, 8, 0, 1, 0, 0, 0, &p), -1, "k 0");
	cr_expect_eq(rag_gpu_dense_plan(100, 8, 0, 1, 1025, 0, 0, &p), -1, "k 1025");
	cr_expect_eq(rag_gpu_dense_plan(100, 8, 2, 1, 10, 0, 0, &p), -1, "int8 storage");
	cr_expect_eq(rag_gpu_dense_plan(0, 8, 0, 1, 10, 0, 0, &p), -1, "no rows");
	cr_expect_eq(rag_gpu_dense_plan(100, 0, 0, 1, 10, 0, 0, &p), -1, "no dim");
	cr_expect_eq(rag_gpu_dense_plan(100, 8, 0, 0, 10, 0, 0, &p), -1, "no queries");
	cr_expect_eq(rag_gpu_dense_plan(100, 8, 1, 1, 1024, 0, 0, &p), 0, "k 1024 is fine");
}

Test(search_plan, chunks_cover_the_rows_within_the_byte_limit)
{
	struct {
		int64_t n, dim;
		int storage;
		int64_t m;
		size_t k, chunk_bytes, score_bytes;
		int scan;                             /* the one-pass scan expected */
	} c[] = {
		{ 1000000, 384, 1, 1, 10, 0, 0, 1 },
		{ 1000, 24, 1, 1, 16, 0, 0, 1 },      /* k at the scan's edge, 3 vectors a row */
		{ 1000000, 384, 0, 1, 17, 0, 0, 0 },  /* k past the scan's */
		{ 1000000, 384, 1, 2, 10, 0, 0, 0 },  /* more than one query */
		{ 300000, 1000, 1, 1, 10, 0, 0, 0 },  /* a row the scan does not take (125 vectors) */
		{ 1000000, 768, 0, 1000, 1000, 0, 0, 0 },
		{ 5, 4, 0, 3, 10, 0, 0, 0 },
		{ 100000, 1024, 0, 50, 100, (size_t)16 << 20, (size_t)8 << 20, 0 },
		{ 7, 100000, 1, 9, 1, 1000, 100, 0 }, /* a row larger than the chunk limit: one row per chunk */
	};

	for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
		struct rag_gpu_dense_plan p;
		size_t esz = c[i].storage ? 2 : 4, chunk = c[i].chunk_bytes ? c[i].chunk_bytes : (size_t)1 << 30;
		size_t sb = c[i].score_bytes ? c[i].score_bytes : (size_t)512 << 20;
		cr_assert_eq(rag_gpu_dense_plan(c[i].n, c[i].dim, c[i].storage, c[i].m, c[i].k, c[i].chunk_bytes,
						c[i].score_bytes, &p), 0);
		cr_expect_geq(p.chunk_rows, 1);
		cr_expect_leq(p.chunk_rows, c[i].n);
		cr_expect(p.chunk_rows == 1 || (size_t)p.chunk_rows * (size_t)c[i].dim * esz <= chunk, "case %zu", i);
		cr_expect_eq(p.n_chunks, (c[i].n + p.chunk_rows - 1) / p.chunk_rows);
		cr_expect_geq(p.chunk_rows * p.n_chunks, c[i].n);
		cr_expect_lt(p.chunk_rows * (p.n_chunks - 1), c[i].n, "no empty chunk");
		cr_expect_geq(p.group, 1);
		cr_expect_leq(p.group, c[i].m);
		cr_expect_eq(p.small, c[i].m <= 8);
		if (!p.small && p.group > 1)
			cr_expect_leq(p.scores_bytes + p.scratch_bytes, sb, "case %zu: group fits the score budget", i);
		cr_expect_eq(p.scan, c[i].scan, "case %zu", i);
		if (p.scan) {
			cr_expect_eq(p.scores_bytes, 0, "case %zu: the scan writes no scores", i);
			cr_expect_eq(p.scratch_bytes, rag_cuda_scan_scratch((int64_t)c[i].k));
		} else {
			cr_expect_eq(p.scores_bytes, (size_t)p.group * (size_t)p.chunk_rows * 4);
			cr_expect_eq(p.scratch_bytes, rag_cuda_topk_scratch(p.group, p.chunk_rows, (int64_t)c[i].k));
		}
	}
}

/* How the scan spreads a row over a warp: groups of G lanes (a power of two
 * dividing the row's 16-byte vectors, at most 32), V vectors a lane, V <= 8. */
Test(search_plan, scan_shapes)
{
	static const struct { int64_t dim; int half, v, glog; } c[] = {
		{ 384, 1, 3, 4 }, { 384, 0, 3, 5 }, { 768, 1, 3, 5 }, { 768, 0, 6, 5 }, { 1024, 1, 4, 5 },
		{ 2048, 1, 8, 5 }, { 8, 1, 1, 0 }, { 24, 1, 3, 0 }, { 4, 0, 1, 0 }, { 128, 1, 1, 4 },
		{ 4096, 1, 0, 0 }, { 2048, 0, 0, 0 }, { 1000, 1, 0, 0 }, { 12, 1, 0, 0 }, { 6, 0, 0, 0 }, { 0, 1, 0, 0 },
	};
	for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
		int glog = -1, v = rag_cuda_scan_fits(c[i].dim, c[i].half, &glog);
		cr_expect_eq(v, c[i].v, "dim %lld half %d: V %d", (long long)c[i].dim, c[i].half, v);
		if (v)
			cr_expect_eq(glog, c[i].glog, "dim %lld half %d: G 2^%d", (long long)c[i].dim, c[i].half, glog);
	}
	cr_expect_eq(rag_cuda_scan_scratch(0), 0);
	cr_expect_eq(rag_cuda_scan_scratch(10), RAG_CUDA_SCAN_MAX_BLOCKS * 10 * 12);
}

Test(search_plan, topk_scratch_size)
{
	cr_expect_eq(rag_cuda_topk_scratch(1, RAG_CUDA_TOPK_SEG, 1000), 0, "one segment needs none");
	cr_expect_eq(rag_cuda_topk_scratch(1, RAG_CUDA_TOPK_SEG + 1, 10), 2 * 10 * 12);
	cr_expect_eq(rag_cuda_topk_scratch(3, 5 * RAG_CUDA_TOPK_SEG, 7), 3 * 5 * 7 * 12);
	cr_expect_eq(rag_cuda_topk_scratch(0, 100000, 7), 0);
	cr_expect_eq(rag_cuda_topk_scratch(2, 100000, 0), 0);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 32);
}

/* Merging chunk candidates (with empty -1 slots, keys through ids) gives the
 * same hits as pushing every row. */
Test(search_plan, merge_equals_one_heap_over_all_rows)
{
	enum { N = 5000, CH = 700, K = 25 };
	static float score[N];
	static int64_t ids[N];
	struct rag_hit a[K], b[K];
	size_t na = 0, nb = 0;

	for (int j = 0; j < N; j++) {
		score[j] = (float)(next() % 100000) / 1000.0f;   /* ties happen */
		ids[j] = (int64_t)((j * 31) % N) + 100;
		rag_topk_push(a, &na, K, ids[j], score[j]);
	}
	for (int c0 = 0; c0 < N; c0 += CH) {
		int rows = N - c0 < CH ? N - c0 : CH;
		float val[CH + 3];
		int64_t idx[CH + 3];
		int32_t cnt = 0;
		/* a chunk's candidates: every row in a scrambled order, plus empty slots */
		for (int r = 0; r < rows; r++) {
			int rr = (r * 13) % rows;
			val[cnt] = score[c0 + rr];
			idx[cnt++] = rr;
		}
		for (int e = 0; e < 3; e++) {
			val[cnt] = 1e9f;
			idx[cnt++] = -1;
		}
		rag_gpu_topk_merge(b, &nb, K, val, idx, cnt, ids, c0);
	}
	rag_topk_sort(a, na);
	rag_topk_sort(b, nb);
	cr_assert_eq(na, nb);
	for (size_t i = 0; i < na; i++) {
		cr_expect_eq(a[i].score, b[i].score, "rank %zu", i);
		cr_expect_eq(a[i].doc, b[i].doc, "rank %zu", i);
	}
	/* without ids, the key is base + row */
	nb = 0;
	{
		float v[2] = { 1.0f, 2.0f };
		int64_t ix[2] = { 4, 9 };
		rag_gpu_topk_merge(b, &nb, 1, v, ix, 2, NULL, 1000);
		cr_expect_eq(nb, 1);
		cr_expect_eq(b[0].doc, 1009);
	}
}

Test(search_plan, no_gpu_here_means_no_gpu_path)
{
	struct rag_gpu_dense *g = (struct rag_gpu_dense *)1;
	struct rag_error err = { 0 };
	float v[4] = { 1, 0, 0, 0 };
	int64_t ids[1] = { 0 };
	char name[64];

	if (rag_cuda_built() && rag_gpu_count(name, sizeof name) > 0) {
		cr_skip_test("a GPU is present: the twin tests cover it");
		return;
	}
	cr_expect_not_null(rag_gpu_dense_why_cpu(RAG_DEVICE_AUTO, 1 << 20, 1024));
	cr_expect_not_null(rag_gpu_dense_why_cpu(RAG_DEVICE_CUDA, 1 << 20, 1024));
	cr_expect_str_eq(rag_gpu_dense_why_cpu(RAG_DEVICE_CPU, 1 << 20, 1024),
			 "as asked (--device cpu or RAG_DEVICE=cpu)");
	cr_expect_eq(rag_gpu_dense_open(v, 0, ids, 1, 4, 0, &g, &err), RAG_EUNAVAILABLE);
	cr_expect_null(g);
	rag_gpu_dense_free(NULL);
}

Test(search_plan, when_the_gpu_runs_the_dense_leg)
{
	int64_t big = RAG_GPU_SEARCH_MIN_ELEMS / 384 + 1;

	cr_expect_null(rag_gpu_dense_reason(RAG_DEVICE_AUTO, 1, big, 384), "auto, large: GPU");
	cr_expect_not_null(rag_gpu_dense_reason(RAG_DEVICE_AUTO, 1, 1000, 384), "auto, small: CPU");
	cr_expect_null(rag_gpu_dense_reason(RAG_DEVICE_CUDA, 1, 10, 3), "cuda: always");
	cr_expect_not_null(rag_gpu_dense_reason(RAG_DEVICE_CPU, 1, big, 384), "cpu: never");
	cr_expect_not_null(rag_gpu_dense_reason(RAG_DEVICE_CUDA, 0, big, 384), "no GPU: never");
	cr_expect_not_null(rag_gpu_dense_reason(RAG_DEVICE_AUTO, 0, big, 384));
	/* the reasons -v gives */
	cr_expect_str_eq(rag_gpu_dense_reason(RAG_DEVICE_CUDA, 0, big, 384), "no usable GPU");
	cr_expect_str_eq(rag_gpu_dense_reason(RAG_DEVICE_AUTO, 0, big, 384), "no usable GPU");
	cr_expect_str_eq(rag_gpu_dense_reason(RAG_DEVICE_CPU, 1, big, 384), "as asked (--device cpu or RAG_DEVICE=cpu)");
	cr_expect(strncmp(rag_gpu_dense_reason(RAG_DEVICE_AUTO, 1, RAG_GPU_SEARCH_MIN_ELEMS / 384, 384),
			  "fewer than 4194304 stored numbers", 33) == 0);
	cr_expect_null(rag_gpu_dense_reason(RAG_DEVICE_AUTO, 1, RAG_GPU_SEARCH_MIN_ELEMS / 384 + 1, 384));
}

Test(search_plan, runs_of_unmasked_queries)
{
	static const uint8_t m1[1] = { 1 };
	/* 20 queries: 0-9 unmasked, 10 masked, 11-12 unmasked, 13 masked, 14-19 unmasked */
	const uint8_t *masks[20] = { 0 };
	static const size_t want[] = { 8, 2, 1, 2, 1, 6 };
	size_t i = 0, r, n = 0;

	masks[10] = m1;
	masks[13] = m1;
	for (; (r = rag_gpu_dense_run(masks, i, 20, RAG_GPU_DENSE_SMALL_M)) > 0; i += r) {
		cr_assert_lt(n, sizeof want / sizeof want[0], "more runs than expected");
		cr_expect_eq(r, want[n], "run %zu at query %zu: %zu queries", n, i, r);
		n++;
	}
	cr_expect_eq(i, 20);
	cr_expect_eq(n, 6);
	/* no masks at all: runs of RAG_GPU_DENSE_SMALL_M, the rest last */
	cr_expect_eq(rag_gpu_dense_run(NULL, 0, 20, RAG_GPU_DENSE_SMALL_M), RAG_GPU_DENSE_SMALL_M);
	cr_expect_eq(rag_gpu_dense_run(NULL, 16, 20, RAG_GPU_DENSE_SMALL_M), 4);
	cr_expect_eq(rag_gpu_dense_run(NULL, 19, 20, RAG_GPU_DENSE_SMALL_M), 1);
	cr_expect_eq(rag_gpu_dense_run(NULL, 20, 20, RAG_GPU_DENSE_SMALL_M), 0);
	/* a run keeps the float-query path: the plan for it is small */
	{
		struct rag_gpu_dense_plan p;
		cr_assert_eq(rag_gpu_dense_plan(1000000, 384, 1, RAG_GPU_DENSE_SMALL_M, 10, 0, 0, &p), 0);
		cr_expect_eq(p.small, 1);
		cr_assert_eq(rag_gpu_dense_plan(1000000, 384, 1, RAG_GPU_DENSE_SMALL_M + 1, 10, 0, 0, &p), 0);
		cr_expect_eq(p.small, 0);
	}
	/* a smaller cap: runs of at most cap, masked queries still alone */
	cr_expect_eq(rag_gpu_dense_run(NULL, 0, 20, 4), 4);
	cr_expect_eq(rag_gpu_dense_run(NULL, 0, 20, 1), 1);
	cr_expect_eq(rag_gpu_dense_run(masks, 11, 20, 1), 1);
	cr_expect_eq(rag_gpu_dense_run(masks, 10, 20, 4), 1);
}

/* A query scores the same whatever queries go with it: where one query
 * alone would take the one-pass scan, queries go alone. */
Test(search_plan, run_cap_keeps_scores_independent_of_the_batch)
{
	struct rag_gpu_dense_plan p;

	/* k 10 over 384 f16 or f32: the scan takes one query alone */
	cr_assert_eq(rag_gpu_dense_plan(1000000, 384, 1, 1, 10, 0, 0, &p), 0);
	cr_expect_eq(p.scan, 1);
	cr_expect_eq(rag_gpu_dense_run_cap(384, 1, 10, 8), 1);
	cr_expect_eq(rag_gpu_dense_run_cap(384, 0, RAG_CUDA_SCAN_K, 8), 1);
	/* k above the scan's: one query alone takes the many-query kernel, so runs */
	cr_assert_eq(rag_gpu_dense_plan(1000000, 384, 1, 1, 50, 0, 0, &p), 0);
	cr_expect_eq(p.scan, 0);
	cr_expect_eq(rag_gpu_dense_run_cap(384, 1, 50, 8), RAG_GPU_DENSE_SMALL_M);
	cr_expect_eq(rag_gpu_dense_run_cap(384, 1, RAG_CUDA_SCAN_K + 1, 8), RAG_GPU_DENSE_SMALL_M);
	/* a row the scan does not take (not whole 16-byte vectors): runs at any k */
	cr_expect_eq(rag_cuda_scan_fits(100, 1, NULL), 0);
	cr_expect_eq(rag_gpu_dense_run_cap(100, 1, 10, 8), RAG_GPU_DENSE_SMALL_M);
	/* the device's shared memory holds fewer query rows: the run is that long */
	cr_expect_eq(rag_gpu_dense_run_cap(4096, 0, 100, 2), 2);
	cr_expect_eq(rag_gpu_dense_run_cap(4096, 0, 100, 1), 1);
	cr_expect_eq(rag_gpu_dense_run_cap(4096, 0, 100, 0), 1);
	cr_expect_eq(rag_gpu_dense_run_cap(4096, 0, 100, 64), RAG_GPU_DENSE_SMALL_M);
}
