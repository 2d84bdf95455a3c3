/* dense.c: exact inner-product / L2 scores of queries against stored rows (f32, f16, int8). */
#include "kernels.h"

int rag_dense_scores(float *out, const float *q, int64_t m, const void *base, int storage,
		     const float *scales, int64_t n, int64_t dim, int metric_l2)
{
	int64_t j;

	/* the distance ops (kernels/cpu/distance.c) are the SIMD inner loops */
#pragma omp parallel for schedule(static)
	for (j = 0; j < n; j++) {
		int64_t i;
		size_t d = (size_t)dim;
		for (i = 0; i < m; i++) {
			const float *qi = q + i * dim;
			float s;
			if (storage == 0) {
				const float *x = (const float *)base + j * dim;
				s = metric_l2 ? -rag_vec_l2sq_f32(qi, x, d) : rag_vec_dot_f32(qi, x, d);
			} else if (storage == 1) {
				const uint16_t *x = (const uint16_t *)base + j * dim;
				s = metric_l2 ? -rag_vec_l2sq_f16(qi, x, d) : rag_vec_dot_f16(qi, x, d);
			} else {
				const int8_t *x = (const int8_t *)base + j * dim;
				s = metric_l2 ? -rag_vec_l2sq_i8(qi, x, scales[j], d) : scales[j] * rag_vec_dot_i8(qi, x, d);
			}
			out[i * n + j] = s;
		}
	}
	return 0;
}

/* ---- fused score + top-k (one pass over the rows, per-thread heaps) ---------- */
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

struct dhit {
	float s;
	int64_t key;
};

/* a ranks below b: lower score, or equal score and larger key (lib/bm25.c's order) */
static inline int dworse(float as, int64_t ak, float bs, int64_t bk)
{
	return as < bs || (as == bs && ak > bk);
}

static void dheap_push(struct dhit *h, int64_t *n, int64_t k, int64_t key, float s)
{
	int64_t i;
	if (*n < k) {
		i = (*n)++;
		while (i > 0) {
			int64_t p = (i - 1) / 2;
			if (!dworse(s, key, h[p].s, h[p].key))
				break;
			h[i] = h[p];
			i = p;
		}
		h[i].s = s;
		h[i].key = key;
		return;
	}
	if (!dworse(h[0].s, h[0].key, s, key))
		return;
	i = 0;
	for (;;) {
		int64_t l = 2 * i + 1, r = l + 1, m = i;
		float ms = s;
		int64_t mk = key;
		if (l < *n && dworse(h[l].s, h[l].key, ms, mk)) { m = l; ms = h[l].s; mk = h[l].key; }
		if (r < *n && dworse(h[r].s, h[r].key, ms, mk))
			m = r;
		if (m == i)
			break;
		h[i] = h[m];
		i = m;
	}
	h[i].s = s;
	h[i].key = key;
}

static int dhit_best(const void *a, const void *b)
{
	const struct dhit *x = a, *y = b;
	if (x->s != y->s)
		return x->s > y->s ? -1 : 1;
	return x->key < y->key ? -1 : x->key > y->key;
}

static inline float score_row(const float *qi, const void *base, int storage, const float *scales,
			      int64_t j, size_t d, int metric_l2)
{
	if (storage == 0) {
		const float *x = (const float *)base + (size_t)j * d;
		return metric_l2 ? -rag_vec_l2sq_f32(qi, x, d) : rag_vec_dot_f32(qi, x, d);
	} else if (storage == 1) {
		const uint16_t *x = (const uint16_t *)base + (size_t)j * d;
		return metric_l2 ? -rag_vec_l2sq_f16(qi, x, d) : rag_vec_dot_f16(qi, x, d);
	} else {
		const int8_t *x = (const int8_t *)base + (size_t)j * d;
		return metric_l2 ? -rag_vec_l2sq_i8(qi, x, scales[j], d) : scales[j] * rag_vec_dot_i8(qi, x, d);
	}
}

/* Rows per tile: every query of the block is scored against a tile while it is in L1/L2. */
#define DENSE_TILE 16

#if defined(__AVX512F__)
#include <immintrin.h>
/*
 * Register-blocked scoring: R rows x Q queries per call, each stored chunk loaded
 * (and converted) once for all Q queries.  Per (row, query) pair the operations
 * are exactly those of kernels/cpu/distance.c's AVX-512 loop (chunk pairs into two
 * accumulators, a last 16-chunk into the first, _mm512_reduce_add_ps of their
 * sum), so the scores are bit-identical to rag_vec_*'s.  Needs dim % 16 == 0
 * (otherwise distance.c's scalar tail decides the order and the caller falls back).
 */
static inline __attribute__((always_inline)) __m512 dld(const void *base, int st, size_t off)
{
	if (st == 0)
		return _mm512_loadu_ps((const float *)base + off);
	if (st == 1)
		return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)((const uint16_t *)base + off)));
	return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)((const int8_t *)base + off))));
}

#define DBLK(NAME, R, Q)                                                                          \
static inline __attribute__((always_inline)) void NAME(const float *const *qp, const void *base, int st, \
	const float *scales, int64_t j, size_t d, int l2, float out[R][Q])                         \
{                                                                                                 \
	__m512 a0[R][Q], a1[R][Q], vs[R];                                                         \
	size_t i = 0;                                                                             \
	int r, c;                                                                                 \
	for (r = 0; r < R; r++) {                                                                 \
		vs[r] = _mm512_set1_ps(st == 2 ? scales[j + r] : 1.0f);                            \
		for (c = 0; c < Q; c++)                                                           \
			a0[r][c] = a1[r][c] = _mm512_setzero_ps();                                \
	}                                                                                         \
	for (; i + 32 <= d; i += 32) {                                                            \
		__m512 x0[R], x1[R];                                                              \
		for (r = 0; r < R; r++) {                                                         \
			x0[r] = dld(base, st, (size_t)(j + r) * d + i);                           \
			x1[r] = dld(base, st, (size_t)(j + r) * d + i + 16);                      \
			if (l2 && st == 2) {                                                      \
				x0[r] = _mm512_mul_ps(x0[r], vs[r]);                              \
				x1[r] = _mm512_mul_ps(x1[r], vs[r]);                              \
			}                                                                         \
		}                                                                                 \
		for (c = 0; c < Q; c++) {                                                         \
			__m512 qa = _mm512_loadu_ps(qp[c] + i), qb = _mm512_loadu_ps(qp[c] + i + 16); \
			for (r = 0; r < R; r++) {                                                 \
				if (l2) {                                                         \
					__m512 d0 = _mm512_sub_ps(qa, x0[r]), d1 = _mm512_sub_ps(qb, x1[r]); \
					a0[r][c] = _mm512_fmadd_ps(d0, d0, a0[r][c]);             \
					a1[r][c] = _mm512_fmadd_ps(d1, d1, a1[r][c]);             \
				} else {                                                          \
					a0[r][c] = _mm512_fmadd_ps(qa, x0[r], a0[r][c]);          \
					a1[r][c] = _mm512_fmadd_ps(qb, x1[r], a1[r][c]);          \
				}                                                                 \
			}                                                                         \
		}                                                                                 \
	}                                                                                         \
	for (; i + 16 <= d; i += 16) {                                                            \
		for (r = 0; r < R; r++) {                                                         \
			__m512 x0 = dld(base, st, (size_t)(j + r) * d + i);                       \
			if (l2 && st == 2)                                                        \
				x0 = _mm512_mul_ps(x0, vs[r]);                                    \
			for (c = 0; c < Q; c++) {                                                 \
				__m512 qa = _mm512_loadu_ps(qp[c] + i);                           \
				if (l2) {                                                         \
					__m512 d0 = _mm512_sub_ps(qa, x0);                        \
					a0[r][c] = _mm512_fmadd_ps(d0, d0, a0[r][c]);             \
				} else {                                                          \
					a0[r][c] = _mm512_fmadd_ps(qa, x0, a0[r][c]);             \
				}                                                                 \
			}                                                                         \
		}                                                                                 \
	}                                                                                         \
	for (r = 0; r < R; r++)                                                                   \
		for (c = 0; c < Q; c++) {                                                         \
			float sum = _mm512_reduce_add_ps(_mm512_add_ps(a0[r][c], a1[r][c])) + 0.0f; \
			out[r][c] = l2 ? -sum : st == 2 ? scales[j + r] * sum : sum;              \
		}                                                                                 \
}
DBLK(blk_4x1, 4, 1)
DBLK(blk_2x4, 2, 4)

/* specialize on storage and metric so the branches above fold away */
#define DSPEC(FN, R, Q)                                                                           \
static void FN##_any(const float *const *qp, const void *base, int st, const float *scales,      \
		     int64_t j, size_t d, int l2, float out[R][Q])                                 \
{                                                                                                 \
	switch (st * 2 + l2) {                                                                    \
	case 0: FN(qp, base, 0, scales, j, d, 0, out); break;                                     \
	case 1: FN(qp, base, 0, scales, j, d, 1, out); break;                                     \
	case 2: FN(qp, base, 1, scales, j, d, 0, out); break;                                     \
	case 3: FN(qp, base, 1, scales, j, d, 1, out); break;                                     \
	case 4: FN(qp, base, 2, scales, j, d, 0, out); break;                                     \
	default: FN(qp, base, 2, scales, j, d, 1, out); break;                                    \
	}                                                                                         \
}
DSPEC(blk_4x1, 4, 1)
DSPEC(blk_2x4, 2, 4)
#define DENSE_BLOCKED 1
#endif

int rag_dense_topk(const float *q, int64_t m, const void *base, int storage, const float *scales,
		   int64_t n, int64_t dim, int metric_l2, const int64_t *keys,
		   const uint8_t *const *masks, int64_t mask_len, int64_t k,
		   int64_t *out_keys, float *out_scores, int64_t *n_out)
{
	int nt = 1;
	int64_t kk = k < n ? k : n, i;
	struct dhit *heaps;
	int64_t *hn;
	size_t row_bytes = (size_t)dim * (storage == 0 ? 4 : storage == 1 ? 2 : 1);

	for (i = 0; i < m; i++)
		n_out[i] = 0;
	if (m <= 0 || kk <= 0)
		return 0;
#ifdef _OPENMP
	/* a thread per ~1 MiB of rows at least, so tiny indexes do not pay for a team */
	nt = omp_get_max_threads();
	if ((double)n * (double)row_bytes < (double)nt * (1 << 20)) {
		int64_t want = (int64_t)((double)n * (double)row_bytes / (1 << 20));
		nt = want < 1 ? 1 : (int)want;
	}
#endif
	heaps = malloc((size_t)nt * (size_t)m * (size_t)kk * sizeof *heaps);
	hn = calloc((size_t)nt * (size_t)m, sizeof *hn);
	if (!heaps || !hn) {
		free(heaps);
		free(hn);
		return -1;
	}
#pragma omp parallel num_threads(nt)
	{
		int t = 0, tn = 1;
#ifdef _OPENMP
		t = omp_get_thread_num();
		tn = omp_get_num_threads();
#endif
		int64_t lo = n * t / tn, hi = n * (t + 1) / tn, j0, j, qi;
		struct dhit *th = heaps + (size_t)t * (size_t)m * (size_t)kk;
		int64_t *tc = hn + (size_t)t * (size_t)m;
		size_t d = (size_t)dim;

		for (j0 = lo; j0 < hi; j0 += DENSE_TILE) {
			int64_t j1 = j0 + DENSE_TILE < hi ? j0 + DENSE_TILE : hi;
			qi = 0;
#ifdef DENSE_BLOCKED
			if (d % 16 == 0) {
				/* 4 queries x 2 rows at a time while 4 queries are left */
				for (; qi + 4 <= m; qi += 4) {
					const float *qp[4];
					int c;
					for (c = 0; c < 4; c++)
						qp[c] = q + (size_t)(qi + c) * d;
					for (j = j0; j < j1; j += 2) {
						float o[2][4];
						int nr = j + 2 <= j1 ? 2 : 1, r;
						if (nr == 2) {
							blk_2x4_any(qp, base, storage, scales, j, d, metric_l2, o);
						} else {
							for (c = 0; c < 4; c++)
								o[0][c] = score_row(qp[c], base, storage, scales, j, d, metric_l2);
						}
						for (r = 0; r < nr; r++) {
							int64_t key = keys ? keys[j + r] : j + r;
							for (c = 0; c < 4; c++) {
								const uint8_t *mk = masks ? masks[qi + c] : NULL;
								struct dhit *h = th + (size_t)(qi + c) * (size_t)kk;
								int64_t *hc = &tc[qi + c];
								if (mk && (key < 0 || key >= mask_len || !mk[key]))
									continue;
								if (*hc == kk && o[r][c] < h[0].s)
									continue;
								dheap_push(h, hc, kk, key, o[r][c]);
							}
						}
					}
				}
				/* the rest one query at a time.  One query reuses no load, so
				 * blocking rows only overlaps per-row work (int8 conversions,
				 * the horizontal sums), and its interleaved reads of 4 rows
				 * cost more than that wherever the rows are wide.  Measured
				 * (AMD EPYC, 1-2 threads, queries/s, row by row vs 4 rows):
				 * f32 and f16 at dims 96-768 1.2-3.5x faster row by row (f32
				 * 384: 86 vs 29; f16 384: 145 vs 41); int8 faster in blocks
				 * of 4 up to 512-byte rows (dim 96: 132 vs 42; 384: 116-134
				 * vs 97-98) and row by row above (768: 137 vs 62).  Same sums
				 * either way (rag_vec_*), so the same scores. */
				for (; qi < m; qi++) {
					const float *qp[1] = { q + (size_t)qi * d };
					const uint8_t *mk = masks ? masks[qi] : NULL;
					struct dhit *h = th + (size_t)qi * (size_t)kk;
					int64_t *hc = &tc[qi];
					for (j = j0; j < j1; j += 4) {
						float o[4][1];
						int nr = j + 4 <= j1 ? 4 : (int)(j1 - j), r;
						if (mk) {
							/* skip the scoring when no row of the group may be returned */
							int any = 0;
							for (r = 0; r < nr; r++) {
								int64_t key = keys ? keys[j + r] : j + r;
								any |= key >= 0 && key < mask_len && mk[key];
							}
							if (!any)
								continue;
						}
						if (nr == 4 && storage == 2 && d <= 512)
							blk_4x1_any(qp, base, storage, scales, j, d, metric_l2, o);
						else
							for (r = 0; r < nr; r++)
								o[r][0] = score_row(qp[0], base, storage, scales, j + r, d, metric_l2);
						for (r = 0; r < nr; r++) {
							int64_t key = keys ? keys[j + r] : j + r;
							if (mk && (key < 0 || key >= mask_len || !mk[key]))
								continue;
							if (*hc == kk && o[r][0] < h[0].s)
								continue;
							dheap_push(h, hc, kk, key, o[r][0]);
						}
					}
				}
				continue;
			}
#endif
			for (qi = 0; qi < m; qi++) {
				const float *qv = q + (size_t)qi * d;
				const uint8_t *mk = masks ? masks[qi] : NULL;
				struct dhit *h = th + (size_t)qi * (size_t)kk;
				int64_t *hc = &tc[qi];
				for (j = j0; j < j1; j++) {
					int64_t key = keys ? keys[j] : j;
					float s;
					if (mk && (key < 0 || key >= mask_len || !mk[key]))
						continue;
					s = score_row(qv, base, storage, scales, j, d, metric_l2);
					if (*hc == kk && s < h[0].s)
						continue;
					dheap_push(h, hc, kk, key, s);
				}
			}
		}
	}
	/* merge: thread 0's heap takes the others' entries, then sorts best first */
	for (i = 0; i < m; i++) {
		struct dhit *h0 = heaps + (size_t)i * (size_t)kk;
		int64_t c = hn[i], r;
		int t;
		for (t = 1; t < nt; t++) {
			const struct dhit *ht = heaps + ((size_t)t * (size_t)m + (size_t)i) * (size_t)kk;
			int64_t ct = hn[(size_t)t * (size_t)m + (size_t)i];
			for (r = 0; r < ct; r++)
				dheap_push(h0, &c, kk, ht[r].key, ht[r].s);
		}
		qsort(h0, (size_t)c, sizeof *h0, dhit_best);
		for (r = 0; r < c; r++) {
			out_keys[i * k + r] = h0[r].key;
			out_scores[i * k + r] = h0[r].s;
		}
		n_out[i] = c;
	}
	free(heaps);
	free(hn);
	return 0;
}
