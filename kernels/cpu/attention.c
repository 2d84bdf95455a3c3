/* attention.c: non-causal multi-head attention over packed variable-length sequences.
 *
 * For one (sequence, head) pair of L tokens: K is transposed into kt[d][L] so
 * that the scores of a query row, s[j] = scale * sum_t q[t] kt[t][j], are
 * computed with the inner loop running over j (contiguous, vectorizable, no
 * horizontal sums); then softmax over j; then o = sum_j p[j] v[j][.], again
 * with a contiguous inner loop over the head's columns.  Work is spread over
 * threads by (sequence, head, block of query rows). */
#include "config.h"

#include <stdlib.h>

#include "kernels.h"
#include "vmath.h"

#define QBLOCK 64

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
		float *kt = malloc((size_t)(head_dim * max_len + max_len) * sizeof *kt);
		float *sc = kt ? kt + head_dim * max_len : NULL;
		if (!kt) {
			#pragma omp atomic write
			failed = 1;
		}
		#pragma omp for schedule(dynamic, 1) collapse(2)
		for (int64_t h = 0; h < n_head; h++)
			for (int64_t it = 0; it < n_items; it++) {
				int64_t s = item_seq[2 * it], r0 = item_seq[2 * it + 1];
				int64_t a = off[s], len = off[s + 1] - a;
				int64_t r1 = r0 + QBLOCK < a + len ? r0 + QBLOCK : a + len;
				int64_t c = h * head_dim;
				if (!kt)
					continue;
				for (int64_t j = 0; j < len; j++) {
					const float *kj = k + (a + j) * ld + c;
					for (int64_t t = 0; t < head_dim; t++)
						kt[t * len + j] = kj[t];
				}
				for (int64_t i = r0; i < r1; i++) {
					const float *qi = q + i * ld + c;
					float *oi = o + i * (n_head * head_dim) + c;
					float mx, sum = 0.0f, inv;
					for (int64_t j = 0; j < len; j++)
						sc[j] = 0.0f;
					for (int64_t t = 0; t < head_dim; t++) {
						const float qt = qi[t] * scale;
						const float *kr = kt + t * len;
						#pragma omp simd
						for (int64_t j = 0; j < len; j++)
							sc[j] += qt * kr[j];
					}
					mx = sc[0];
					#pragma omp simd reduction(max:mx)
					for (int64_t j = 0; j < len; j++)
						mx = sc[j] > mx ? sc[j] : mx;
					#pragma omp simd reduction(+:sum)
					for (int64_t j = 0; j < len; j++) {
						sc[j] = rag_vexpf(sc[j] - mx);
						sum += sc[j];
					}
					inv = 1.0f / sum;
					for (int64_t t = 0; t < head_dim; t++)
						oi[t] = 0.0f;
					for (int64_t j = 0; j < len; j++) {
						const float p = sc[j] * inv;
						const float *vj = v + (a + j) * ld + c;
						#pragma omp simd
						for (int64_t t = 0; t < head_dim; t++)
							oi[t] += p * vj[t];
					}
				}
			}
		free(kt);
	}
	free(item_seq);
	return failed ? -1 : 0;
}
