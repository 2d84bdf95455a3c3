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
