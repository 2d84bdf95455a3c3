/* dense.c: exact inner-product / L2 scores of queries against stored rows (f32, f16, int8). */
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

static float dot(const float *a, const float *b, int64_t d)
{
	float s = 0;
	int64_t i;
#pragma omp simd reduction(+:s)
	for (i = 0; i < d; i++)
		s += a[i] * b[i];
	return s;
}

static float negl2(const float *a, const float *b, int64_t d)
{
	float s = 0;
	int64_t i;
#pragma omp simd reduction(+:s)
	for (i = 0; i < d; i++) {
		float t = a[i] - b[i];
		s += t * t;
	}
	return -s;
}

int rag_dense_scores(float *out, const float *q, int64_t m, const void *base, int storage,
		     const float *scales, int64_t n, int64_t dim, int metric_l2)
{
	int failed = 0;

#pragma omp parallel
	{
		float *row = storage == 0 ? NULL : malloc(sizeof(float) * (size_t)dim);
		int64_t j, i, d;

		if (storage != 0 && !row) {
#pragma omp atomic write
			failed = 1;
		}
#pragma omp for schedule(static)
		for (j = 0; j < n; j++) {
			const float *x;
			if (storage != 0 && !row)
				continue;
			if (storage == 0) {
				x = (const float *)base + j * dim;
			} else if (storage == 1) {
				const uint16_t *h = (const uint16_t *)base + j * dim;
				for (d = 0; d < dim; d++)
					row[d] = rag_f16_to_f32(h[d]);
				x = row;
			} else {
				const int8_t *c = (const int8_t *)base + j * dim;
				float s = scales[j];
#pragma omp simd
				for (d = 0; d < dim; d++)
					row[d] = s * (float)c[d];
				x = row;
			}
			for (i = 0; i < m; i++)
				out[i * n + j] = metric_l2 ? negl2(q + i * dim, x, dim) : dot(q + i * dim, x, dim);
		}
		free(row);
	}
	return failed ? -1 : 0;
}
