/* pool.c: mean, first-token (CLS) or last-token pooling of packed sequences. */
#include "config.h"

#include <assert.h>

#include "kernels.h"

void rag_pool(float *y, const float *x, const int32_t *off, int64_t n_seq, int64_t dim,
	      enum rag_pooling mode)
{
	assert(mode != RAG_POOL_NONE);
	#pragma omp parallel for schedule(static) if (n_seq > 16)
	for (int64_t s = 0; s < n_seq; s++) {
		float *ys = y + s * dim;
		int64_t a = off[s], e = off[s + 1];
		if (mode == RAG_POOL_MEAN) {
			float inv = 1.0f / (float)(e - a);
			for (int64_t j = 0; j < dim; j++)
				ys[j] = 0.0f;
			for (int64_t t = a; t < e; t++) {
				const float *xt = x + t * dim;
				#pragma omp simd
				for (int64_t j = 0; j < dim; j++)
					ys[j] += xt[j];
			}
			for (int64_t j = 0; j < dim; j++)
				ys[j] *= inv;
		} else {
			const float *xt = x + (mode == RAG_POOL_LAST ? e - 1 : a) * dim;
			for (int64_t j = 0; j < dim; j++)
				ys[j] = xt[j];
		}
	}
}
