/* layernorm.c: y = LayerNorm(x + r) * g + b per row (post-LN residual blocks). */
#include "config.h"

#include <math.h>

#include "kernels.h"

void rag_layernorm(float *y, const float *x, const float *r, const float *g, const float *b,
		   int64_t rows, int64_t n, float eps)
{
	#pragma omp parallel for schedule(static) if (rows * n > 32768)
	for (int64_t i = 0; i < rows; i++) {
		const float *xi = x + i * n, *ri = r ? r + i * n : NULL;
		float *yi = y + i * n;
		float sum = 0.0f, var = 0.0f, mean, inv;

		if (ri) {
			#pragma omp simd
			for (int64_t j = 0; j < n; j++)
				yi[j] = xi[j] + ri[j];
		} else if (yi != xi) {
			for (int64_t j = 0; j < n; j++)
				yi[j] = xi[j];
		}
		#pragma omp simd reduction(+:sum)
		for (int64_t j = 0; j < n; j++)
			sum += yi[j];
		mean = sum / (float)n;
		#pragma omp simd reduction(+:var)
		for (int64_t j = 0; j < n; j++) {
			float d = yi[j] - mean;
			var += d * d;
		}
		inv = 1.0f / sqrtf(var / (float)n + eps);
		#pragma omp simd
		for (int64_t j = 0; j < n; j++) {
			float v = (yi[j] - mean) * inv;
			if (g)
				v *= g[j];
			if (b)
				v += b[j];
			yi[j] = v;
		}
	}
}
