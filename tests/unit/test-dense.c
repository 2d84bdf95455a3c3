/* test-dense.c: fused exact dense top-k (rag_dense_topk, rag_index_dense_batch) against a double reference. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "bm25.h"
#include "index.h"
#include "json.h"
#include "kernels.h"
#include "options.h"

TestSuite(dense);

struct data {
	int64_t n, dim;
	float *x;      /* decoded rows (what the storage holds), for the reference */
	float *raw;    /* f32 storage */
	uint16_t *h;   /* f16 storage */
	int8_t *c;     /* int8 storage */
	float *sc;     /* int8 scales */
	int64_t *keys;
};

static float frand(unsigned *s) { return (float)(rand_r(s) % 20001 - 10000) / 10000.0f; }

/* n rows; every 7th row duplicates the previous one so that equal scores occur */
static void make(struct data *dt, int64_t n, int64_t dim, int storage, unsigned seed)
{
	int64_t i, d;
	dt->n = n;
	dt->dim = dim;
	dt->x = calloc((size_t)(n * dim + 1), sizeof *dt->x);
	dt->raw = calloc((size_t)(n * dim + 1), sizeof *dt->raw);
	dt->h = calloc((size_t)(n * dim + 1), sizeof *dt->h);
	dt->c = calloc((size_t)(n * dim + 1), 1);
	dt->sc = calloc((size_t)(n + 1), sizeof *dt->sc);
	dt->keys = calloc((size_t)(n + 1), sizeof *dt->keys);
	cr_assert(dt->x && dt->raw && dt->h && dt->c && dt->sc && dt->keys);
	for (i = 0; i < n * dim; i++)
		dt->raw[i] = (i / dim) % 7 == 6 ? dt->raw[i - dim] : frand(&seed);
	for (i = 0; i < n; i++) {
		float mx = 1e-6f;
		for (d = 0; d < dim; d++)
			mx = fmaxf(mx, fabsf(dt->raw[i * dim + d]));
		dt->sc[i] = mx / 127;
		for (d = 0; d < dim; d++) {
			float v = dt->raw[i * dim + d];
			dt->h[i * dim + d] = rag_f32_to_f16(v);
			dt->c[i * dim + d] = (int8_t)lrintf(v / dt->sc[i]);
			dt->x[i * dim + d] = storage == 0 ? v : storage == 1 ? rag_f16_to_f32(dt->h[i * dim + d])
								       : dt->sc[i] * dt->c[i * dim + d];
		}
		/* keys scattered, not in row order, so the tie rule is checked on keys */
		dt->keys[i] = (i * 37 + 11) % (n + 5);
	}
}

static void unmake(struct data *dt)
{
	free(dt->x);
	free(dt->raw);
	free(dt->h);
	free(dt->c);
	free(dt->sc);
	free(dt->keys);
}

static const void *base_of(const struct data *dt, int st)
{
	return st == 0 ? (const void *)dt->raw : st == 1 ? (const void *)dt->h : (const void *)dt->c;
}

static double ref_score(const struct data *dt, const float *q, int64_t j, int l2)
{
	double s = 0;
	for (int64_t d = 0; d < dt->dim; d++) {
		double xv = dt->x[j * dt->dim + d], qv = q[d];
		s += l2 ? -(qv - xv) * (qv - xv) : qv * xv;
	}
	return s;
}

/* Check one query's hits against the double-precision reference. */
static void check_query(const struct data *dt, const float *q, int l2, const uint8_t *mask, int64_t mlen,
			int64_t k, const int64_t *keys, const float *sc, int64_t got)
{
	int64_t j, r, cand = 0;
	double tol = 1e-3 * (double)dt->dim;
	double kth;
	uint8_t *seen = calloc((size_t)(dt->n + 6), 1);

	cr_assert(seen);
	for (j = 0; j < dt->n; j++) {
		int64_t key = dt->keys[j];
		if (!mask || (key < mlen && mask[key]))
			cand++;
	}
	cr_assert_eq(got, k < cand ? k : cand, "hits %ld, expected min(%ld, %ld)", (long)got, (long)k, (long)cand);
	for (r = 0; r < got; r++) {
		/* find the row of this key */
		for (j = 0; j < dt->n && dt->keys[j] != keys[r]; j++)
			;
		cr_assert_lt(j, dt->n, "unknown key %ld", (long)keys[r]);
		cr_assert(!mask || mask[keys[r]], "masked key %ld returned", (long)keys[r]);
		cr_assert(!seen[keys[r]], "key %ld twice", (long)keys[r]);
		seen[keys[r]] = 1;
		cr_expect(fabs(sc[r] - ref_score(dt, q, j, l2)) < tol, "score %g vs %g", sc[r], ref_score(dt, q, j, l2));
		if (r > 0) {
			cr_assert(sc[r - 1] > sc[r] || (sc[r - 1] == sc[r] && keys[r - 1] < keys[r]),
				  "order at rank %ld", (long)r);
		}
	}
	/* nothing left out scores clearly above the last hit */
	kth = got ? sc[got - 1] : -INFINITY;
	for (j = 0; j < dt->n; j++) {
		int64_t key = dt->keys[j];
		if ((mask && !(key < mlen && mask[key])) || seen[key])
			continue;
		cr_expect(ref_score(dt, q, j, l2) <= kth + tol, "key %ld (%g) missed, kth %g", (long)key,
			  ref_score(dt, q, j, l2), kth);
	}
	free(seen);
}

/* The reference path of before: full score array, then rag_topk-style selection (exact same floats). */
static void via_scores(const struct data *dt, int st, const float *q, int l2, const uint8_t *mask,
		       int64_t mlen, int64_t k, int64_t *keys, float *sc, int64_t *got)
{
	float *s = malloc((size_t)(dt->n + 1) * sizeof *s);
	int64_t j, r, c = 0;
	cr_assert(s);
	cr_assert_eq(rag_dense_scores(s, q, 1, base_of(dt, st), st, st == 2 ? dt->sc : NULL, dt->n, dt->dim, l2), 0);
	/* selection sort of the candidates, best first; equal scores: smaller key first */
	uint8_t *taken = calloc((size_t)(dt->n + 1), 1);
	cr_assert(taken);
	for (r = 0; r < k; r++) {
		int64_t b = -1;
		for (j = 0; j < dt->n; j++) {
			int64_t key = dt->keys[j];
			if (taken[j] || (mask && !(key < mlen && mask[key])))
				continue;
			if (b < 0 || s[j] > s[b] || (s[j] == s[b] && key < dt->keys[b]))
				b = j;
		}
		if (b < 0)
			break;
		taken[b] = 1;
		keys[c] = dt->keys[b];
		sc[c++] = s[b];
	}
	*got = c;
	free(taken);
	free(s);
}

Test(dense, topk_matches_reference_all_storages_metrics)
{
	static const struct { int64_t n, dim, k; } cases[] = {
		{ 1, 3, 1 }, { 50, 19, 5 }, { 300, 32, 10 }, { 257, 384, 7 }, { 40, 17, 100 }, { 2000, 48, 20 },
	};
	for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++)
		for (int st = 0; st < 3; st++)
			for (int l2 = 0; l2 < 2; l2++) {
				struct data dt;
				int64_t n = cases[ci].n, dim = cases[ci].dim, k = cases[ci].k, m = 5, i;
				unsigned seed = (unsigned)(ci * 10 + (size_t)st * 2 + (size_t)l2 + 1);
				float *q = malloc((size_t)(m * dim) * sizeof *q);
				int64_t *keys = malloc((size_t)(m * k) * sizeof *keys), *got = malloc((size_t)m * sizeof *got);
				float *sc = malloc((size_t)(m * k) * sizeof *sc);
				int64_t rk[128], rg;
				float rs[128];
				int64_t mlen = n + 5;
				uint8_t *mk = malloc((size_t)mlen);
				const uint8_t *masks[5];

				make(&dt, n, dim, st, seed);
				cr_assert(q && keys && got && sc && mk);
				for (i = 0; i < m * dim; i++)
					q[i] = frand(&seed);
				for (i = 0; i < mlen; i++)
					mk[i] = (uint8_t)(rand_r(&seed) % 3 != 0);
				/* query 1 and 3 filtered, query 4 sees nothing */
				uint8_t *none = calloc((size_t)mlen, 1);
				cr_assert(none);
				masks[0] = NULL; masks[1] = mk; masks[2] = NULL; masks[3] = mk; masks[4] = none;
				cr_assert_eq(rag_dense_topk(q, m, base_of(&dt, st), st, st == 2 ? dt.sc : NULL, n, dim, l2,
							    dt.keys, masks, mlen, k, keys, sc, got), 0);
				for (i = 0; i < m; i++) {
					const uint8_t *mi = i == 4 ? NULL : masks[i];
					if (i == 4) {
						cr_expect_eq(got[i], 0, "empty mask gave %ld hits", (long)got[i]);
						continue;
					}
					check_query(&dt, q + i * dim, l2, mi, mlen, k, keys + i * k, sc + i * k, got[i]);
					/* the batched pass equals a single-query pass equals the score-array path, exactly */
					{
						int64_t sk[128], sg;
						float ss[128];
						const uint8_t *one[1] = { mi };
						cr_assert_eq(rag_dense_topk(q + i * dim, 1, base_of(&dt, st), st,
									    st == 2 ? dt.sc : NULL, n, dim, l2, dt.keys,
									    mi ? one : NULL, mlen, k, sk, ss, &sg), 0);
						via_scores(&dt, st, q + i * dim, l2, mi, mlen, k, rk, rs, &rg);
						cr_assert_eq(sg, got[i]);
						cr_assert_eq(rg, got[i]);
						for (int64_t r = 0; r < sg; r++) {
							cr_expect_eq(sk[r], keys[i * k + r], "batch vs single key at %ld", (long)r);
							cr_expect_eq(ss[r], sc[i * k + r], "batch vs single score at %ld", (long)r);
							cr_expect_eq(rk[r], sk[r], "score-array path key at %ld", (long)r);
							cr_expect_eq(rs[r], ss[r], "score-array path score at %ld", (long)r);
						}
					}
				}
				unmake(&dt);
				free(q);
				free(keys);
				free(got);
				free(sc);
				free(mk);
				free(none);
			}
}

Test(dense, ties_rank_smaller_key_first)
{
	/* four identical rows: every score ties; keys decide */
	float x[4 * 2] = { 1, 0, 1, 0, 1, 0, 1, 0 }, q[2] = { 0.5f, 0.5f }, sc[3];
	int64_t keys[4] = { 9, 2, 7, 4 }, out[3], got;
	cr_assert_eq(rag_dense_topk(q, 1, x, 0, NULL, 4, 2, 0, keys, NULL, 0, 3, out, sc, &got), 0);
	cr_assert_eq(got, 3);
	cr_expect_eq(out[0], 2);
	cr_expect_eq(out[1], 4);
	cr_expect_eq(out[2], 7);
}

Test(dense, empty_and_zero_k)
{
	float q[4] = { 1, 2, 3, 4 }, sc[2];
	int64_t out[2], got[2] = { 7, 7 };
	cr_assert_eq(rag_dense_topk(q, 2, NULL, 0, NULL, 0, 2, 0, NULL, NULL, 0, 1, out, sc, got), 0);
	cr_expect_eq(got[0], 0);
	cr_expect_eq(got[1], 0);
	float x[2] = { 1, 1 };
	got[0] = got[1] = 7;
	cr_assert_eq(rag_dense_topk(q, 2, x, 0, NULL, 1, 2, 1, NULL, NULL, 0, 0, out, sc, got), 0);
	cr_expect_eq(got[0], 0);
	cr_expect_eq(got[1], 0);
}

Test(dense, threads_do_not_change_results)
{
	struct data dt;
	int64_t n = 30000, dim = 40, k = 25, a[25], b[25], ga, gb;
	float q[40], sa[25], sb[25];
	unsigned seed = 99;

	make(&dt, n, dim, 1, 5);
	for (int i = 0; i < dim; i++)
		q[i] = frand(&seed);
	rag_set_threads(1);
	cr_assert_eq(rag_dense_topk(q, 1, dt.h, 1, NULL, n, dim, 0, dt.keys, NULL, 0, k, a, sa, &ga), 0);
	rag_set_threads(4);
	cr_assert_eq(rag_dense_topk(q, 1, dt.h, 1, NULL, n, dim, 0, dt.keys, NULL, 0, k, b, sb, &gb), 0);
	cr_assert_eq(ga, gb);
	for (int64_t r = 0; r < ga; r++) {
		cr_expect_eq(a[r], b[r]);
		cr_expect_eq(sa[r], sb[r]);
	}
	check_query(&dt, q, 0, NULL, 0, k, b, sb, gb);
	unmake(&dt);
}

/* ---- the index level: rag_index_dense_batch == m calls of rag_index_dense ---- */
static char tmpdir[64];

static void mkscratch(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test-dense.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void rmscratch(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	cr_expect_eq(system(cmd), 0);
}

Test(dense, index_batch_equals_single, .init = mkscratch, .fini = rmscratch)
{
	enum { N = 60, D = 16, M = 6, K = 8 };
	char path[128], rec[1024];
	struct rag_index_writer *w;
	struct rag_index *ix;
	struct rag_error err;
	struct rag_hit hb[M * K], hs[K];
	size_t nb[M], ns, i, r;
	float q[M * D];
	unsigned seed = 17;
	uint8_t *mk;
	const uint8_t *masks[M];

	snprintf(path, sizeof path, "%s/x.rag", tmpdir);
	cr_assert_eq(rag_index_writer_open(path, NULL, &w, &err), RAG_OK, "%s", err.msg);
	for (i = 0; i < N; i++) {
		struct rag_arena a;
		struct rag_json *j;
		size_t len = (size_t)snprintf(rec, sizeof rec, "{\"id\":\"c%zu\",\"text\":\"t\",\"embedding\":[", i);
		for (int d = 0; d < D; d++)
			len += (size_t)snprintf(rec + len, sizeof rec - len, "%s%.4f", d ? "," : "", frand(&seed));
		snprintf(rec + len, sizeof rec - len, "]}");
		rag_arena_init(&a);
		cr_assert_eq(rag_json_parse(&a, rec, strlen(rec), &j, &err), RAG_OK, "%s", err.msg);
		cr_assert_eq(rag_index_writer_upsert(w, j, NULL, 0, &err), RAG_OK, "%s", err.msg);
		rag_arena_free(&a);
	}
	cr_assert_eq(rag_index_writer_commit(w, &err), RAG_OK, "%s", err.msg);
	rag_index_writer_free(w);
	cr_assert_eq(rag_index_open(path, &ix, &err), RAG_OK, "%s", err.msg);
	mk = calloc((size_t)rag_index_max_key(ix) + 1, 1);
	cr_assert(mk);
	for (i = 0; i < (size_t)rag_index_max_key(ix) + 1; i++)
		mk[i] = (uint8_t)(i % 3 != 0);
	for (i = 0; i < M * D; i++)
		q[i] = frand(&seed);
	for (i = 0; i < M; i++)
		masks[i] = i % 2 ? mk : NULL;
	cr_assert_eq(rag_index_dense_batch(ix, q, M, D, masks, K, hb, nb, &err), RAG_OK, "%s", err.msg);
	for (i = 0; i < M; i++) {
		cr_assert_eq(rag_index_dense(ix, q + i * D, D, masks[i], K, hs, &ns, &err), RAG_OK, "%s", err.msg);
		cr_assert_eq(nb[i], ns);
		cr_expect_eq(ns, (size_t)K);
		for (r = 0; r < ns; r++) {
			cr_expect_eq(hb[i * K + r].doc, hs[r].doc);
			cr_expect_eq(hb[i * K + r].score, hs[r].score);
			cr_expect(!masks[i] || mk[hs[r].doc], "masked key returned");
		}
	}
	/* k beyond the index size: every chunk once */
	{
		struct rag_hit big[2 * (N + 10)];
		size_t nbig[2];
		cr_assert_eq(rag_index_dense_batch(ix, q, 2, D, NULL, N + 10, big, nbig, &err), RAG_OK);
		cr_expect_eq(nbig[0], (size_t)N);
		cr_expect_eq(nbig[1], (size_t)N);
	}
	cr_expect_eq(rag_index_dense_batch(ix, q, 2, D - 1, NULL, K, hb, nb, &err), RAG_EDATA);
	rag_index_close(ix);
	free(mk);
}
