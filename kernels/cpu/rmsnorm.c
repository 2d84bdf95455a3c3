/* rmsnorm.c: root-mean-square normalization of rows, optionally scaled by a weight. */
#include "config.h"

#include <math.h>

#include "kernels.h"

/* y[r][i] = x[r][i] / sqrt(mean_i(x[r]^2) + eps) * (w ? w[i] : 1).  The mean is
 * accumulated in double so long rows lose nothing to the order of summation. */
void rag_rmsnorm(float *y, const float *x, const float *w, int64_t rows, int64_t n, float eps)
{
	for (int64_t r = 0; r < rows; r++) {
		const float *xr = x + r * n;
		float *yr = y + r * n;
		double ss = 0.0;
		#pragma omp simd reduction(+:ss)
		for (int64_t i = 0; i < n; i++)
			ss += (double)xr[i] * (double)xr[i];
		float s = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
		if (w) {
			#pragma omp simd
			for (int64_t i = 0; i < n; i++)
				yr[i] = xr[i] * s * w[i];
		} else {
			#pragma omp simd
			for (int64_t i = 0; i < n; i++)
				yr[i] = xr[i] * s;
		}
	}
}
