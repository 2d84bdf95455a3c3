/* softmax.c: row-wise softmax, max-subtracted, in place. */
#include "config.h"

#include "kernels.h"
#include "vmath.h"

void rag_softmax(float *x, int64_t rows, int64_t n)
{
	#pragma omp parallel for schedule(static) if (rows * n > 65536)
	for (int64_t i = 0; i < rows; i++) {
		float *xi = x + i * n;
		float mx = xi[0], sum = 0.0f, inv;
		#pragma omp simd reduction(max:mx)
		for (int64_t j = 0; j < n; j++)
			mx = xi[j] > mx ? xi[j] : mx;
		#pragma omp simd reduction(+:sum)
		for (int64_t j = 0; j < n; j++) {
			xi[j] = rag_vexpf(xi[j] - mx);
			sum += xi[j];
		}
		inv = 1.0f / sum;
		#pragma omp simd
		for (int64_t j = 0; j < n; j++)
			xi[j] *= inv;
	}
}
