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
			/* the next tile is on its way while this one is scored */
			if (j1 < hi)
				__builtin_prefetch((const char *)base + (size_t)j1 * row_bytes, 0, 0);
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
