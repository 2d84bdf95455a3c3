/* test-cuda-search.c: GPU exact search (rag_gpu_dense_search and the
 * rag_cuda_topk kernel) against the CPU exact search (rag_dense_scores, then
 * a full sort) on random vectors: f32 and f16 storage, inner product and L2,
 * 1 query (memory-bound kernel) and 20 (GEMM), k from 1 to 1000, rows below
 * and above one selection segment, with and without a key mask; the
 * one-pass scan for every way it spreads a row over a warp, across chunks,
 * and with NaN rows; runs of queries scoring as each query alone.  Exits 77
 * without a GPU. */
#include "gpu-skip.h"
#include "cuda-twin.h"
#include "search_cuda.h"

struct sc { float s; int64_t key; };

static int by_score(const void *a, const void *b)
{
	const struct sc *x = a, *y = b;
	if (x->s != y->s)
		return x->s > y->s ? -1 : 1;
	return x->key < y->key ? -1 : x->key > y->key;
}

/* One search on the GPU against the CPU, the rows in device allocations of
 * at most chunk bytes (0: the default 1 GiB). */
static void search_chunked(int64_t n, int64_t dim, int storage, int l2, int64_t m, size_t k, int masked,
			   size_t chunk)
{
	float *base32 = rnd((size_t)(n * dim), 1.0f), *q = rnd((size_t)(m * dim), 1.0f);
	uint16_t *base16 = malloc((size_t)(n * dim) * 2);
	int64_t *ids = malloc((size_t)n * 8), max_key = n + 17;
	uint8_t *mask = malloc((size_t)max_key);
	float *scores = malloc((size_t)(m * n) * 4);
	struct rag_hit *got = malloc((size_t)m * k * sizeof *got);
	size_t *n_got = malloc((size_t)m * sizeof *n_got);
	struct sc *all = malloc((size_t)n * sizeof *all);
	struct rag_gpu_dense *g = NULL;
	struct rag_error err = { 0 };
	const void *base = storage ? (const void *)base16 : (const void *)base32;

	for (int64_t i = 0; i < n * dim; i++)
		base16[i] = rag_f32_to_f16(base32[i]);
	for (int64_t j = 0; j < n; j++)
		ids[j] = (j * 7919) % n + 3;  /* keys: a permutation, shifted */
	for (int64_t key = 0; key < max_key; key++)
		mask[key] = !masked || (key % 3 != 0);
	cr_assert_eq(rag_dense_scores(scores, q, m, base, storage, NULL, n, dim, l2), 0);
	cr_assert_eq(rag_gpu_dense_open_chunked(base, storage, ids, n, dim, l2, chunk, &g, &err), 0, "%s", err.msg);
	cr_assert_eq(rag_gpu_dense_search(g, q, m, masked ? mask : NULL, max_key, k, got, n_got, &err), 0, "%s",
		     err.msg);
	for (int64_t i = 0; i < m; i++) {
		size_t na = 0, want;
		for (int64_t j = 0; j < n; j++)
			if (mask[ids[j]]) {
				all[na].s = scores[i * n + j];
				all[na++].key = ids[j];
			}
		qsort(all, na, sizeof *all, by_score);
		want = na < k ? na : k;
		cr_assert_eq(n_got[i], want, "query %lld: %zu hits, want %zu", (long long)i, n_got[i], want);
		for (size_t r = 0; r < want; r++) {
			struct rag_hit *h = &got[(size_t)i * k + r];
			float tol = storage && m > 8 ? 2e-3f * (float)dim / 64.0f : 1e-4f * (float)dim / 64.0f;
			cr_assert(!masked || (h->doc >= 0 && h->doc < max_key && mask[h->doc]), "a masked key came back");
			/* same rank, same score within rounding (f16 queries on the GEMM path) */
			cr_assert(fabsf(h->score - all[r].s) <= tol * (1.0f + fabsf(all[r].s)),
				  "n %lld dim %lld storage %d l2 %d m %lld k %zu: query %lld rank %zu score %g, cpu %g",
				  (long long)n, (long long)dim, storage, l2, (long long)m, k, (long long)i, r,
				  (double)h->score, (double)all[r].s);
			if (h->doc != all[r].key) {
				/* a different key only where the CPU scores tie within the tolerance */
				int found = 0;
				for (size_t t = 0; t < na && !found; t++)
					found = all[t].key == h->doc &&
						fabsf(all[t].s - all[r].s) <= tol * (1.0f + fabsf(all[r].s));
				cr_assert(found, "query %lld rank %zu: key %lld not near the CPU's %lld", (long long)i, r,
					  (long long)h->doc, (long long)all[r].key);
			}
		}
	}
	rag_gpu_dense_free(g);
	free(base32); free(q); free(base16); free(ids); free(mask); free(scores); free(got); free(n_got); free(all);
}

static void search_case(int64_t n, int64_t dim, int storage, int l2, int64_t m, size_t k, int masked)
{
	search_chunked(n, dim, storage, l2, m, k, masked, 0);
}

Test(cuda_search, small_batches_exact_kernel)
{
	for (int storage = 0; storage <= 1; storage++)
		for (int l2 = 0; l2 <= 1; l2++) {
			search_case(1000, 64, storage, l2, 1, 10, 0);
			search_case(20000, 96, storage, l2, 3, 100, 1);   /* 3 segments, 96 % 8 == 0 */
			search_case(9000, 37, storage, l2, 1, 1000, 1);   /* scalar loads */
			search_case(3000, 384, storage, l2, 2, 10, 0);    /* the specialized kernels: 2, 4, 8 rows */
			search_case(3000, 384, storage, l2, 4, 10, 1);
			search_case(2000, 512, storage, l2, 6, 50, 0);
		}
}

/* Batch 1 at size: enough rows for several top-k segments, k up to 256, masks, both metrics. */
Test(cuda_search, batch1_large)
{
	for (int storage = 0; storage <= 1; storage++)
		for (int l2 = 0; l2 <= 1; l2++) {
			search_case(200000, 64, storage, l2, 1, 10, 0);
			search_case(100000, 384, storage, l2, 1, 256, 1);
			search_case(50, 8, storage, l2, 1, 100, 0);      /* fewer rows than k */
			/* k <= 16 takes the one-pass select: masked across segments, at its
			 * edge (16) and one past it (17, the radix select) */
			search_case(200000, 64, storage, l2, 1, 10, 1);
			search_case(50000, 64, storage, l2, 2, 16, 1);
			search_case(50000, 64, storage, l2, 2, 17, 0);
		}
}

Test(cuda_search, gemm_batches)
{
	for (int storage = 0; storage <= 1; storage++)
		for (int l2 = 0; l2 <= 1; l2++) {
			search_case(5000, 128, storage, l2, 20, 1, 0);
			search_case(30000, 64, storage, l2, 20, 1000, 1);
		}
}

Test(cuda_search, fewer_rows_than_k)
{
	search_case(10, 16, 0, 0, 1, 50, 0);
	search_case(7, 16, 0, 0, 1, 10, 0);  /* the one-pass select with fewer rows than k */
	search_case(10, 16, 0, 1, 12, 50, 1);
}

/* The kernel alone: every column dropped by the mask gives count 0 and -1 slots. */
Test(cuda_search, topk_all_masked)
{
	int64_t n = 20000, k = 5;
	float *s = rnd((size_t)n, 1.0f);
	int64_t *ids = malloc((size_t)n * 8), idx[5];
	uint8_t zero[4] = { 0, 0, 0, 0 };
	int32_t cnt = -7;
	float val[5];

	for (int64_t j = 0; j < n; j++)
		ids[j] = j % 4;
	{
		float *ds = dput(s, (size_t)n * 4), *dval = dput(NULL, 20);
		int64_t *dids = dput(ids, (size_t)n * 8), *didx = dput(NULL, 40);
		uint8_t *dmask = dput(zero, 4);
		int32_t *dcnt = dput(NULL, 4);
		void *scr = dput(NULL, rag_cuda_topk_scratch(1, n, k));
		cr_assert_eq(rag_cuda_topk(ds, 1, n, n, NULL, NULL, dids, dmask, 4, k, dval, didx, dcnt, scr, NULL), 0,
			     "%s", rag_cuda_last_error());
		dget(&cnt, dcnt, 4, "count");
		dget(idx, didx, 40, "idx");
		dget(val, dval, 20, "val");
		cr_expect_eq(cnt, 0);
		for (int i = 0; i < 5; i++)
			cr_expect_eq(idx[i], -1);
		cr_expect_neq(rag_cuda_topk(ds, 1, n, n, NULL, NULL, NULL, NULL, 0, 1025, dval, didx, dcnt, scr, NULL), 0,
			      "k above 1024 refused");
		dfree(ds); dfree(dval); dfree(dids); dfree(didx); dfree(dmask); dfree(dcnt); dfree(scr);
	}
	free(s); free(ids);
}

/* The one-pass scan (one query, k <= 16): each way a row spreads over a
 * warp (groups of 1 to 32 lanes, 1 to 8 loads a lane, each compiled on its
 * own), k at 1 and at its edge, masks, both metrics, grids of one block and
 * of many. */
Test(cuda_search, one_pass_scan_shapes)
{
	static const struct { int64_t dim; int storage; } shape[] = {
		{ 8, 1 }, { 24, 1 }, { 128, 1 }, { 384, 1 }, { 512, 1 }, { 640, 1 }, { 896, 1 }, { 1536, 1 },
		{ 2048, 1 },                                                 /* f16: V 1, 3, 1, 3, 2, 5, 7, 6, 8 */
		{ 12, 0 }, { 160, 0 }, { 384, 0 }, { 768, 0 }, { 1024, 0 }, /* f32: V 3, 5, 3, 6, 8 */
	};
	for (size_t i = 0; i < sizeof shape / sizeof *shape; i++) {
		int64_t dim = shape[i].dim, n = 4000000 / dim + 77;
		int st = shape[i].storage;
		cr_assert(rag_cuda_scan_fits(dim, st, NULL), "dim %lld fits the scan", (long long)dim);
		search_case(n, dim, st, 0, 1, 10, 0);
		search_case(n, dim, st, 1, 1, 16, 1);
		search_case(n / 7 + 1, dim, st, 0, 1, 1, 1);
		search_case(n / 3, dim, st, 1, 1, 7, 0);
		search_case(9, dim, st, 0, 1, 16, 0);   /* fewer rows than k */
	}
	cr_expect_eq(rag_cuda_scan_fits(1000, 1, NULL), 0, "125 vectors a row: not a scan shape");
	search_case(20000, 1000, 1, 0, 1, 10, 0);  /* so the two-kernel path */
}

/* Several device allocations: each chunk's top k comes back and merges. */
Test(cuda_search, one_pass_scan_chunks)
{
	struct rag_gpu_dense_plan p;

	/* 12.8 MB of f16 rows in allocations of 512 KiB, 25.6 MB of f32 in 1 MiB: 25 chunks each */
	cr_assert_eq(rag_gpu_dense_plan(100003, 64, 1, 1, 10, (size_t)1 << 19, 0, &p), 0);
	cr_assert_eq(p.n_chunks, 25);
	cr_assert_eq(rag_gpu_dense_plan(100003, 64, 0, 1, 16, (size_t)1 << 20, 0, &p), 0);
	cr_assert_eq(p.n_chunks, 25);
	search_chunked(100003, 64, 1, 0, 1, 10, 1, (size_t)1 << 19);
	search_chunked(100003, 64, 0, 1, 1, 16, 0, (size_t)1 << 20);
	search_chunked(100003, 64, 0, 1, 3, 10, 1, (size_t)1 << 20);  /* the two-kernel path, the same way */
}

/* Rows whose scores are NaN never come back; the others rank as on the CPU. */
Test(cuda_search, one_pass_scan_skips_nan)
{
	int64_t n = 30000, dim = 64;
	size_t k = 10;
	float *base = rnd((size_t)(n * dim), 1.0f), *q = rnd((size_t)dim, 1.0f), *s = malloc((size_t)n * 4);
	int64_t *ids = malloc((size_t)n * 8);
	struct sc *all = malloc((size_t)n * sizeof *all);
	struct rag_hit got[10];
	size_t ng = 0, na = 0;
	struct rag_gpu_dense *g = NULL;
	struct rag_error err = { 0 };

	for (int64_t j = 0; j < n; j++) {
		ids[j] = j;
		if (j % 5 == 0)
			base[j * dim + j % dim] = NAN;
	}
	cr_assert_eq(rag_dense_scores(s, q, 1, base, 0, NULL, n, dim, 0), 0);
	cr_assert_eq(rag_gpu_dense_open(base, 0, ids, n, dim, 0, &g, &err), 0, "%s", err.msg);
	cr_assert_eq(rag_gpu_dense_search(g, q, 1, NULL, n, k, got, &ng, &err), 0, "%s", err.msg);
	cr_assert_eq(ng, k);
	for (int64_t j = 0; j < n; j++)
		if (j % 5 != 0) {
			all[na].s = s[j];
			all[na++].key = j;
		}
	qsort(all, na, sizeof *all, by_score);
	for (size_t r = 0; r < k; r++) {
		float tol = 1e-4f * (1.0f + fabsf(all[r].s));
		cr_assert(got[r].doc % 5 != 0, "rank %zu: row %lld has a NaN score", r, (long long)got[r].doc);
		cr_assert(fabsf(got[r].score - s[got[r].doc]) <= tol, "rank %zu: score %g, the row's own %g", r,
			  (double)got[r].score, (double)s[got[r].doc]);
		cr_assert(fabsf(got[r].score - all[r].s) <= tol, "rank %zu: score %g, the CPU's %g", r,
			  (double)got[r].score, (double)all[r].s);
		for (size_t t = 0; t < r; t++)
			cr_assert_neq(got[t].doc, got[r].doc, "row %lld twice", (long long)got[r].doc);
	}
	rag_gpu_dense_free(g);
	free(base); free(q); free(s); free(ids); free(all);
}

/* The scan kernel alone: a mask that drops every row gives count 0 and -1
 * slots, its counters are zero again after each call, and a second call on
 * the same counters finds the same top k as the first. */
Test(cuda_search, scan_kernel_mask_and_counters)
{
	int64_t n = 50000, dim = 64, k = 16;
	float *x = rnd((size_t)(n * dim), 1.0f), *q = rnd((size_t)dim, 1.0f), val[16], val2[16];
	int64_t *ids = malloc((size_t)n * 8), idx[16], idx2[16];
	uint8_t zero[4] = { 0, 0, 0, 0 }, ones[4] = { 1, 1, 1, 1 };
	unsigned ctl[RAG_CUDA_SCAN_CTL] = { 0 };
	int32_t cnt = -7;

	for (int64_t j = 0; j < n; j++)
		ids[j] = j % 4;
	{
		float *dx = dput(x, (size_t)(n * dim) * 4), *dq = dput(q, (size_t)dim * 4), *dval = dput(NULL, 64);
		int64_t *dids = dput(ids, (size_t)n * 8), *didx = dput(NULL, 128);
		uint8_t *dzero = dput(zero, 4), *dones = dput(ones, 4);
		unsigned *dctl = dput(ctl, sizeof ctl);
		int32_t *dcnt = dput(NULL, 4);
		void *scr = dput(NULL, rag_cuda_scan_scratch(k));

		cr_assert_eq(rag_cuda_scan_topk(dq, dx, 0, n, dim, 0, dids, dzero, 4, k, dval, didx, dcnt, scr, dctl, NULL),
			     0, "%s", rag_cuda_last_error());
		dget(&cnt, dcnt, 4, "count");
		dget(idx, didx, 128, "idx");
		cr_expect_eq(cnt, 0, "every row masked");
		for (int i = 0; i < 16; i++)
			cr_expect_eq(idx[i], -1);
		dget(ctl, dctl, sizeof ctl, "counters");
		for (int i = 0; i < RAG_CUDA_SCAN_CTL; i++)
			cr_expect_eq(ctl[i], 0, "counter %d left at %u", i, ctl[i]);

		for (int r = 0; r < 2; r++) {
			cr_assert_eq(rag_cuda_scan_topk(dq, dx, 0, n, dim, 0, dids, dones, 4, k, dval, didx, dcnt, scr, dctl,
							NULL), 0, "%s", rag_cuda_last_error());
			dget(&cnt, dcnt, 4, "count");
			dget(r ? idx2 : idx, didx, 128, "idx");
			dget(r ? val2 : val, dval, 64, "val");
			cr_expect_eq(cnt, 16);
		}
		for (int i = 0; i < 16; i++)
			cr_expect(idx[i] == idx2[i] && val[i] == val2[i], "slot %d differs between two calls", i);
		dget(ctl, dctl, sizeof ctl, "counters");
		for (int i = 0; i < RAG_CUDA_SCAN_CTL; i++)
			cr_expect_eq(ctl[i], 0, "counter %d left at %u", i, ctl[i]);
		cr_expect_neq(rag_cuda_scan_topk(dq, dx, 0, n, dim, 0, NULL, NULL, 0, 17, dval, didx, dcnt, scr, dctl, NULL),
			      0, "k above 16 refused");
		cr_expect_neq(rag_cuda_scan_topk(dq, dx, 0, n, 1000, 0, NULL, NULL, 0, 10, dval, didx, dcnt, scr, dctl, NULL),
			      0, "a row shape the scan does not take refused");
		dfree(dx); dfree(dq); dfree(dval); dfree(dids); dfree(didx); dfree(dzero); dfree(dones); dfree(dctl);
		dfree(dcnt); dfree(scr);
	}
	free(x); free(q); free(ids);
}

/* What rag-retrieve relies on when it sends unmasked queries in runs
 * (rag_gpu_dense_max_run): each query of a run gets exactly the hits and
 * scores it gets alone, on this device, for rows as wide as 4096 (whose
 * eight query rows outgrow the shared memory of many GPUs). */
Test(cuda_search, runs_score_as_queries_alone)
{
	static const int64_t shape[][2] = { { 384, 50 }, { 768, 10 }, { 100, 10 }, { 4096, 20 } };

	for (size_t si = 0; si < sizeof shape / sizeof shape[0]; si++)
		for (int storage = 0; storage <= 1; storage++)
			for (int l2 = 0; l2 <= 1; l2++) {
				int64_t n = 3000, dim = shape[si][0], m;
				size_t k = (size_t)shape[si][1];
				float *base32 = rnd((size_t)(n * dim), 1.0f), *q = rnd((size_t)(8 * dim), 1.0f);
				uint16_t *base16 = malloc((size_t)(n * dim) * 2);
				int64_t *ids = malloc((size_t)n * sizeof *ids);
				struct rag_hit *run = malloc(8 * k * sizeof *run), *one = malloc(k * sizeof *one);
				size_t n_run[8], n_one;
				struct rag_gpu_dense *g = NULL;
				struct rag_error err = { 0 };

				for (int64_t i = 0; i < n * dim; i++)
					base16[i] = rag_f32_to_f16(base32[i]);
				for (int64_t j = 0; j < n; j++)
					ids[j] = j;
				cr_assert_eq(rag_gpu_dense_open(storage ? (const void *)base16 : (const void *)base32,
								storage, ids, n, dim, l2, &g, &err), 0, "%s", err.msg);
				m = (int64_t)rag_gpu_dense_max_run(g, k);
				cr_assert(m >= 1 && m <= RAG_GPU_DENSE_SMALL_M);
				cr_assert_eq(rag_gpu_dense_search(g, q, m, NULL, n, k, run, n_run, &err), 0, "%s", err.msg);
				for (int64_t i = 0; i < m; i++) {
					cr_assert_eq(rag_gpu_dense_search(g, q + i * dim, 1, NULL, n, k, one, &n_one, &err), 0,
						     "%s", err.msg);
					cr_assert_eq(n_run[i], n_one);
					for (size_t r = 0; r < n_one; r++)
						cr_expect(run[(size_t)i * k + r].doc == one[r].doc &&
							  run[(size_t)i * k + r].score == one[r].score,
							  "dim %lld storage %d l2 %d run of %lld: query %lld rank %zu differs",
							  (long long)dim, storage, l2, (long long)m, (long long)i, r);
				}
				rag_gpu_dense_free(g);
				free(base32); free(q); free(base16); free(ids); free(run); free(one);
			}
}
