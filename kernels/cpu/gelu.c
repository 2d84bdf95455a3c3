/* gelu.c: the exact (erf) GELU, 0.5 x (1 + erf(x / sqrt 2)), as BERT uses it. */
#include "config.h"

#include "kernels.h"
#include "vmath.h"

void rag_gelu(float *y, const float *x, int64_t n)
{
	#pragma omp parallel for simd schedule(static) if (n > 65536)
	for (int64_t i = 0; i < n; i++) {
		float v = x[i];
		y[i] = 0.5f * v * (1.0f + rag_verff(v * 0.70710678118654752f));
	}
}
