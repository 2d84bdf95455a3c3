/* embed.c: embedding gather (token, position and token-type tables) with dequantization. */
#include "config.h"

#include "kernels.h"

void rag_embed_rows(float *y, const void *table, enum rag_dtype ttype, int64_t dim,
		    const int32_t *ids, int64_t n, int accumulate)
{
	size_t rb = rag_dtype_row_size((uint32_t)ttype, dim);
	const uint8_t *t = table;

	#pragma omp parallel for schedule(static) if (n * dim > 65536)
	for (int64_t r = 0; r < n; r++) {
		float *yr = y + r * dim;
		const uint8_t *src = t + (size_t)ids[r] * rb;
		if (!accumulate && ttype == RAG_DT_F32) {
			const float *s = (const float *)(const void *)src;
			for (int64_t i = 0; i < dim; i++)
				yr[i] = s[i];
		} else if (!accumulate) {
			rag_dequant_row(ttype, src, yr, dim);
		} else if (ttype == RAG_DT_F32) {
			const float *s = (const float *)(const void *)src;
			#pragma omp simd
			for (int64_t i = 0; i < dim; i++)
				yr[i] += s[i];
		} else {
			/* dequantize in pieces so no heap scratch is needed */
			float tmp[256];
			int64_t blk = rag_dtype_info((uint32_t)ttype)->block;
			int64_t step = 256 / blk * blk;
			for (int64_t i0 = 0; i0 < dim; i0 += step) {
				int64_t m = dim - i0 < step ? dim - i0 : step;
				rag_dequant_row(ttype, src + rag_dtype_row_size((uint32_t)ttype, i0), tmp, m);
				#pragma omp simd
				for (int64_t i = 0; i < m; i++)
					yr[i0 + i] += tmp[i];
			}
		}
	}
}
