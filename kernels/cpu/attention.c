/* attention.c: non-causal multi-head attention over packed variable-length sequences.
 *
 * For one (sequence, head) pair of L tokens: K is transposed into kt[d][Lv]
 * (Lv = L rounded up to the vector width CB, zero-filled) so that scores are
 * computed for RB query rows x 2 vectors of keys at a time with the
 * accumulators in registers and one load of kt per RB multiply-adds (the inner
 * loops are contiguous and vectorize), then each row's maximum over its
 * keys; then the exponentials and their sum; then o = P V, RB rows x 2
 * vectors of head columns at a time, scaled by the softmax's 1/sum.  Work is spread over threads by
 * (head, sequence, block of 256 query rows). */
#include "config.h"

#include <stdlib.h>

#include "kernels.h"
#include "vmath.h"

#define QBLOCK 256

/*
 * Register blocking by the vector unit: CB floats per vector (one register),
 * RB query rows per block, 2 x RB accumulators.  AVX-512's 32 registers hold
 * 8 rows x 2 vectors of 16 (8 rows measured 13-18% faster than 4, 6 or 12);
 * AVX2's and SSE's 16 hold 4 rows x 2 vectors of 8 or 4.
 */
#if defined(__AVX512F__)
#define CB 16
#define RB 8
#elif defined(__AVX__)
#define CB 8
#define RB 4
#else
#define CB 4
#define RB 4
#endif

/* CB floats as one vector (GCC vector extension: one register), so that the
 * RB x 2 accumulators stay in registers. */
typedef float vec __attribute__((vector_size(CB * sizeof(float))));

/* Macros, not functions: a function taking or returning a wide vector has an
 * ABI that depends on the instruction set enabled (GCC's -Wpsabi). */
#define loadv(p) ({ vec vv_; __builtin_memcpy(&vv_, (p), sizeof vv_); vv_; })
#define storev(p, v) __builtin_memcpy((p), &(v), sizeof(vec))

/* Scores of RB query rows (pointers q[r], already scaled) against the keys in
 * kt (hd rows of lenv); mx[r] gets each row's maximum over its first len
 * keys.  Two vectors of keys at a time where they exist: 2 x RB independent
 * accumulators keep both FMA ports busy, and each load of kt serves RB rows.
 * The build keeps -ffp-contract=off for bit-exact dequantization; here fused
 * multiply-adds are wanted. */
__attribute__((optimize("fp-contract=fast")))
static void scores_rb(float *sc, int64_t ldsc, const float *const q[RB], const float *kt, int64_t len,
		    int64_t lenv, int64_t hd, float mx[RB])
{
	int64_t j0 = 0;
	for (; j0 + 2 * CB <= lenv; j0 += 2 * CB) {
		vec a[RB], b[RB];
		#pragma GCC unroll 16
		for (int r = 0; r < RB; r++) { a[r] = (vec){ 0 }; b[r] = (vec){ 0 }; }
		for (int64_t t = 0; t < hd; t++) {
			vec k0 = loadv(kt + t * lenv + j0), k1 = loadv(kt + t * lenv + j0 + CB);
			#pragma GCC unroll 16
			for (int r = 0; r < RB; r++) {
				a[r] += q[r][t] * k0;
				b[r] += q[r][t] * k1;
			}
		}
		#pragma GCC unroll 16
		for (int r = 0; r < RB; r++) {
			storev(sc + r * ldsc + j0, a[r]);
			storev(sc + r * ldsc + j0 + CB, b[r]);
		}
	}
	for (; j0 < lenv; j0 += CB) {
		vec a[RB];
		#pragma GCC unroll 16
		for (int r = 0; r < RB; r++) a[r] = (vec){ 0 };
		for (int64_t t = 0; t < hd; t++) {
			vec kr = loadv(kt + t * lenv + j0);
			#pragma GCC unroll 16
			for (int r = 0; r < RB; r++)
				a[r] += q[r][t] * kr;
		}
		#pragma GCC unroll 16
		for (int r = 0; r < RB; r++)
			storev(sc + r * ldsc + j0, a[r]);
	}
	for (int r = 0; r < RB; r++) {
		const float *row = sc + r * ldsc;
		float m = row[0];
		#pragma omp simd reduction(max:m)
		for (int64_t j = 0; j < len; j++)
			m = row[j] > m ? row[j] : m;
		mx[r] = m;
	}
}

/* o[r] = w[r] * sum_j p[r][j] v[j] for RB rows (w: the softmax's 1/sum,
 * applied once per output instead of to every probability): 2 x CB columns
 * of the head at a time (2 x RB accumulators), then CB, then the remainder
 * column by column. */
__attribute__((optimize("fp-contract=fast")))
static void pv_rb(float *const o[RB], const float *p, int64_t ldp, const float *v, int64_t ld,
		int64_t len, int64_t hd, const float w[RB])
{
	int64_t t0 = 0;
	for (; t0 + 2 * CB <= hd; t0 += 2 * CB) {
		vec a[RB], b[RB];
		#pragma GCC unroll 16
		for (int r = 0; r < RB; r++) { a[r] = (vec){ 0 }; b[r] = (vec){ 0 }; }
		for (int64_t j = 0; j < len; j++) {
			vec v0 = loadv(v + j * ld + t0), v1 = loadv(v + j * ld + t0 + CB);
			#pragma GCC unroll 16
			for (int r = 0; r < RB; r++) {
				float pr = p[r * ldp + j];
				a[r] += pr * v0;
				b[r] += pr * v1;
			}
		}
		#pragma GCC unroll 16
		for (int r = 0; r < RB; r++) {
			a[r] *= w[r]; b[r] *= w[r];
			storev(o[r] + t0, a[r]);
			storev(o[r] + t0 + CB, b[r]);
		}
	}
	for (; t0 + CB <= hd; t0 += CB) {
		vec a[RB];
		#pragma GCC unroll 16
		for (int r = 0; r < RB; r++) a[r] = (vec){ 0 };
		for (int64_t j = 0; j < len; j++) {
			vec vj = loadv(v + j * ld + t0);
			#pragma GCC unroll 16
			for (int r = 0; r < RB; r++)
				a[r] += p[r * ldp + j] * vj;
		}
		#pragma GCC unroll 16
		for (int r = 0; r < RB; r++) {
			a[r] *= w[r];
			storev(o[r] + t0, a[r]);
		}
	}
	for (; t0 < hd; t0++)
		for (int r = 0; r < RB; r++) {
			float acc = 0.0f;
			for (int64_t j = 0; j < len; j++)
				acc += p[r * ldp + j] * v[j * ld + t0];
			o[r][t0] = acc * w[r];
		}
}

int rag_attention(float *o, const float *q, const float *k, const float *v, int64_t ld,
		  const int32_t *off, int64_t n_seq, int64_t n_head, int64_t head_dim, float scale)
{
	int64_t max_len = 0, n_items = 0;
	int64_t *item_seq;
	int failed = 0;

	for (int64_t s = 0; s < n_seq; s++) {
		int64_t len = off[s + 1] - off[s];
		if (len > max_len)
			max_len = len;
		n_items += (len + QBLOCK - 1) / QBLOCK;
	}
	if (n_items == 0)
		return 0;
	/* item i: sequence item_seq[2i], first query row item_seq[2i+1] */
	item_seq = malloc((size_t)n_items * 2 * sizeof *item_seq);
	if (!item_seq)
		return -1;
	{
		int64_t i = 0;
		for (int64_t s = 0; s < n_seq; s++)
			for (int64_t r = off[s]; r < off[s + 1]; r += QBLOCK) {
				item_seq[2 * i] = s;
				item_seq[2 * i + 1] = r;
				i++;
			}
	}

	#pragma omp parallel
	{
		int64_t capv = (max_len + CB - 1) / CB * CB;
		float *kt = malloc((size_t)(head_dim * capv + RB * capv + 2 * RB * head_dim) * sizeof *kt);
		float *sc = kt ? kt + head_dim * capv : NULL;
		float *qs = kt ? sc + RB * capv : NULL;
		float *dump = kt ? qs + RB * head_dim : NULL;  /* output of rows past the block */
		if (!kt) {
			#pragma omp atomic write
			failed = 1;
		}
		#pragma omp for schedule(dynamic, 1) collapse(2)
		for (int64_t h = 0; h < n_head; h++)
			for (int64_t it = 0; it < n_items; it++) {
				int64_t s = item_seq[2 * it], r0 = item_seq[2 * it + 1];
				int64_t a = off[s], len = off[s + 1] - a, lenv = (len + CB - 1) / CB * CB;
				int64_t r1 = r0 + QBLOCK < a + len ? r0 + QBLOCK : a + len;
				int64_t c = h * head_dim;
				if (!kt)
					continue;
				/* row by row: each key's head slice is read contiguously,
				 * the head_dim rows of kt being written stay in L1 */
				for (int64_t j = 0; j < len; j++) {
					const float *kj = k + (a + j) * ld + c;
					for (int64_t t = 0; t < head_dim; t++)
						kt[t * lenv + j] = kj[t];
				}
				for (int64_t t = 0; t < head_dim; t++)
					for (int64_t j = len; j < lenv; j++)
						kt[t * lenv + j] = 0.0f;
				for (int64_t i = r0; i < r1; i += RB) {
					const float *qp[RB];
					float *op[RB], mx[RB], inv[RB];
					/* rows past r1 repeat the last row and are not stored */
					for (int r = 0; r < RB; r++) {
						int64_t row = i + r < r1 ? i + r : r1 - 1;
						const float *qi = q + row * ld + c;
						for (int64_t t = 0; t < head_dim; t++)
							qs[r * head_dim + t] = qi[t] * scale;
						qp[r] = qs + r * head_dim;
					}
					scores_rb(sc, lenv, qp, kt, len, lenv, head_dim, mx);
					for (int r = 0; r < RB; r++) {
						float *row = sc + r * lenv, m = mx[r], sum = 0.0f;
						#pragma omp simd
						for (int64_t j = 0; j < len; j++)
							row[j] = rag_vexpf(row[j] - m);
						#pragma omp simd reduction(+:sum)
						for (int64_t j = 0; j < len; j++)
							sum += row[j];
						inv[r] = 1.0f / sum;  /* pv_rb reads the first len only */
					}
					for (int r = 0; r < RB; r++)
						op[r] = i + r < r1 ? o + (i + r) * (n_head * head_dim) + c : dump + r * head_dim;
					pv_rb(op, sc, lenv, v + a * ld + c, ld, len, head_dim, inv);
				}
			}
		free(kt);
	}
	free(item_seq);
	return failed ? -1 : 0;
}
