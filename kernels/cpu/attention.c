/* attention.c: non-causal multi-head attention over packed variable-length sequences.
 *
 * For one (sequence, head) pair of L tokens: K is transposed into kt[d][L16]
 * (L16 = L rounded up to 16, zero-filled) so that scores are computed for 4
 * query rows x 32 keys at a time with the accumulators in registers and one
 * load of kt per 4 multiply-adds (the inner loops are contiguous and
 * vectorize), each row's maximum taken on the way; then the exponentials;
 * then o = P V, 4 rows x 32 columns of the head at a time, scaled by the
 * softmax's 1/sum.  Work is spread over threads by (head, sequence,
 * block of 256 query rows). */
#include "config.h"

#include <stdlib.h>

#include "kernels.h"
#include "vmath.h"

#define QBLOCK 256
#define RB 4    /* query rows per register block */
#define CB 16   /* keys (or head columns) per register block */

/* 16 floats as one vector (GCC vector extension: one AVX-512 register, or two
 * AVX2 ones), so that the 4 x 16 accumulators stay in registers. */
typedef float v16 __attribute__((vector_size(CB * sizeof(float))));

/* Macros, not functions: a function taking or returning a 64-byte vector has
 * an ABI that depends on whether AVX-512 is enabled (GCC's -Wpsabi). */
#define load16(p) ({ v16 v16_; __builtin_memcpy(&v16_, (p), sizeof v16_); v16_; })
#define store16(p, v) __builtin_memcpy((p), &(v), sizeof(v16))

/* The sum of n floats (n a multiple of 16), 16 lanes at a time. */
static float sum16(const float *x, int64_t n)
{
	v16 acc = { 0 };
	float s = 0.0f;

	for (int64_t j = 0; j < n; j += CB)
		acc += load16(x + j);
	for (int l = 0; l < CB; l++)
		s += acc[l];
	return s;
}

/* Scores of RB query rows (pointers q[r], already scaled) against the keys in
 * kt (hd rows of len16); mx[r] gets each row's maximum over its first len
 * keys.  Two blocks of 16 keys at a time where they exist: 8 independent
 * accumulators keep both FMA ports busy (4 would wait on the FMA latency).
 * The build keeps -ffp-contract=off for bit-exact dequantization; here fused
 * multiply-adds are wanted. */
__attribute__((optimize("fp-contract=fast")))
static void scores4(float *sc, int64_t ldsc, const float *const q[RB], const float *kt, int64_t len,
		    int64_t len16, int64_t hd, float mx[RB])
{
	int64_t j0 = 0;
	for (; j0 + 2 * CB <= len16; j0 += 2 * CB) {
		v16 a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
		v16 b0 = { 0 }, b1 = { 0 }, b2 = { 0 }, b3 = { 0 };
		for (int64_t t = 0; t < hd; t++) {
			v16 k0 = load16(kt + t * len16 + j0), k1 = load16(kt + t * len16 + j0 + CB);
			a0 += q[0][t] * k0;
			b0 += q[0][t] * k1;
			a1 += q[1][t] * k0;
			b1 += q[1][t] * k1;
			a2 += q[2][t] * k0;
			b2 += q[2][t] * k1;
			a3 += q[3][t] * k0;
			b3 += q[3][t] * k1;
		}
		store16(sc + 0 * ldsc + j0, a0);
		store16(sc + 0 * ldsc + j0 + CB, b0);
		store16(sc + 1 * ldsc + j0, a1);
		store16(sc + 1 * ldsc + j0 + CB, b1);
		store16(sc + 2 * ldsc + j0, a2);
		store16(sc + 2 * ldsc + j0 + CB, b2);
		store16(sc + 3 * ldsc + j0, a3);
		store16(sc + 3 * ldsc + j0 + CB, b3);
	}
	for (; j0 < len16; j0 += CB) {
		v16 a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
		for (int64_t t = 0; t < hd; t++) {
			v16 kr = load16(kt + t * len16 + j0);
			a0 += q[0][t] * kr;
			a1 += q[1][t] * kr;
			a2 += q[2][t] * kr;
			a3 += q[3][t] * kr;
		}
		store16(sc + 0 * ldsc + j0, a0);
		store16(sc + 1 * ldsc + j0, a1);
		store16(sc + 2 * ldsc + j0, a2);
		store16(sc + 3 * ldsc + j0, a3);
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
 * applied once per output instead of to every probability): 32 columns of
 * the head at a time (8 accumulators), then 16, then the remainder column
 * by column. */
__attribute__((optimize("fp-contract=fast")))
static void pv4(float *const o[RB], const float *p, int64_t ldp, const float *v, int64_t ld,
		int64_t len, int64_t hd, const float w[RB])
{
	int64_t t0 = 0;
	for (; t0 + 2 * CB <= hd; t0 += 2 * CB) {
		v16 a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
		v16 b0 = { 0 }, b1 = { 0 }, b2 = { 0 }, b3 = { 0 };
		for (int64_t j = 0; j < len; j++) {
			v16 v0 = load16(v + j * ld + t0), v1 = load16(v + j * ld + t0 + CB);
			float p0 = p[0 * ldp + j], p1 = p[1 * ldp + j], p2 = p[2 * ldp + j], p3 = p[3 * ldp + j];
			a0 += p0 * v0;
			b0 += p0 * v1;
			a1 += p1 * v0;
			b1 += p1 * v1;
			a2 += p2 * v0;
			b2 += p2 * v1;
			a3 += p3 * v0;
			b3 += p3 * v1;
		}
		a0 *= w[0]; b0 *= w[0]; a1 *= w[1]; b1 *= w[1];
		a2 *= w[2]; b2 *= w[2]; a3 *= w[3]; b3 *= w[3];
		store16(o[0] + t0, a0);
		store16(o[0] + t0 + CB, b0);
		store16(o[1] + t0, a1);
		store16(o[1] + t0 + CB, b1);
		store16(o[2] + t0, a2);
		store16(o[2] + t0 + CB, b2);
		store16(o[3] + t0, a3);
		store16(o[3] + t0 + CB, b3);
	}
	for (; t0 + CB <= hd; t0 += CB) {
		v16 a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
		for (int64_t j = 0; j < len; j++) {
			v16 vj = load16(v + j * ld + t0);
			a0 += p[0 * ldp + j] * vj;
			a1 += p[1 * ldp + j] * vj;
			a2 += p[2 * ldp + j] * vj;
			a3 += p[3 * ldp + j] * vj;
		}
		a0 *= w[0]; a1 *= w[1]; a2 *= w[2]; a3 *= w[3];
		store16(o[0] + t0, a0);
		store16(o[1] + t0, a1);
		store16(o[2] + t0, a2);
		store16(o[3] + t0, a3);
	}
	for (; t0 < hd; t0++)
		for (int r = 0; r < RB; r++) {
			float a = 0.0f;
			for (int64_t j = 0; j < len; j++)
				a += p[r * ldp + j] * v[j * ld + t0];
			o[r][t0] = a * w[r];
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
		int64_t cap16 = (max_len + CB - 1) / CB * CB;
		float *kt = malloc((size_t)(head_dim * cap16 + RB * cap16 + 2 * RB * head_dim) * sizeof *kt);
		float *sc = kt ? kt + head_dim * cap16 : NULL;
		float *qs = kt ? sc + RB * cap16 : NULL;
		float *dump = kt ? qs + RB * head_dim : NULL;  /* output of rows past the block */
		if (!kt) {
			#pragma omp atomic write
			failed = 1;
		}
		#pragma omp for schedule(dynamic, 1) collapse(2)
		for (int64_t h = 0; h < n_head; h++)
			for (int64_t it = 0; it < n_items; it++) {
				int64_t s = item_seq[2 * it], r0 = item_seq[2 * it + 1];
				int64_t a = off[s], len = off[s + 1] - a, len16 = (len + CB - 1) / CB * CB;
				int64_t r1 = r0 + QBLOCK < a + len ? r0 + QBLOCK : a + len;
				int64_t c = h * head_dim;
				if (!kt)
					continue;
				/* row by row: each key's head slice is read contiguously,
				 * the head_dim rows of kt being written stay in L1 */
				for (int64_t j = 0; j < len; j++) {
					const float *kj = k + (a + j) * ld + c;
					for (int64_t t = 0; t < head_dim; t++)
						kt[t * len16 + j] = kj[t];
				}
				for (int64_t t = 0; t < head_dim; t++)
					for (int64_t j = len; j < len16; j++)
						kt[t * len16 + j] = 0.0f;
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
					scores4(sc, len16, qp, kt, len, len16, head_dim, mx);
					for (int r = 0; r < RB; r++) {
						float *row = sc + r * len16, m = mx[r];
						#pragma omp simd
						for (int64_t j = 0; j < len; j++)
							row[j] = rag_vexpf(row[j] - m);
						for (int64_t j = len; j < len16; j++)
							row[j] = 0.0f;
						inv[r] = 1.0f / sum16(row, len16);
					}
					for (int r = 0; r < RB; r++)
						op[r] = i + r < r1 ? o + (i + r) * (n_head * head_dim) + c : dump + r * head_dim;
					pv4(op, sc, len16, v + a * ld + c, ld, len, head_dim, inv);
				}
			}
		free(kt);
	}
	free(item_seq);
	return failed ? -1 : 0;
}
