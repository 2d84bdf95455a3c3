/* matmul.c: y = x . w^T for weights of any GGUF type.
 *
 * F32 weights go straight to BLAS sgemm.  Other types: with few rows of x
 * (decoding, m < 16) each weight row is dequantized once into a small buffer and
 * dotted with every row of x, in parallel over weight rows, so the weights are
 * read exactly once; with many rows, blocks of 128 weight rows are dequantized
 * to float32 and multiplied with sgemm, which is compute-bound and amortizes the
 * conversion over m.  Dequantization is exact, so both paths compute the same
 * products up to summation order. */
#include "config.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#define SMALL_M 16
#define BLOCK_ROWS 128

static void add_bias(float *y, const float *bias, int64_t m, int64_t n)
{
	if (!bias)
		return;
	#pragma omp parallel for schedule(static) if (m * n > 65536)
	for (int64_t i = 0; i < m; i++) {
		float *yi = y + i * n;
		#pragma omp simd
		for (int64_t j = 0; j < n; j++)
			yi[j] += bias[j];
	}
}

static size_t row_bytes(enum rag_dtype t, int64_t k)
{
	return rag_dtype_row_size((uint32_t)t, k);
}

int rag_matmul(float *y, const float *x, const void *w, enum rag_dtype wtype, const float *bias,
		int64_t m, int64_t n, int64_t k)
{
	const uint8_t *wb = w;
	size_t rb = row_bytes(wtype, k);

	if (m <= 0 || n <= 0)
		return 0;
	if (wtype == RAG_DT_F32) {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, x,
			    (int)k, (const float *)w, (int)k, 0.0f, y, (int)n);
		add_bias(y, bias, m, n);
		return 0;
	}
	if (m < SMALL_M) {
		int failed = 0;
		#pragma omp parallel
		{
			float *row = malloc((size_t)k * sizeof *row);
			if (!row) {
				#pragma omp atomic write
				failed = 1;
			}
			#pragma omp for schedule(static)
			for (int64_t j = 0; j < n; j++) {
				if (!row)
					continue;
				rag_dequant_row(wtype, wb + (size_t)j * rb, row, k);
				for (int64_t i = 0; i < m; i++) {
					const float *xi = x + i * k;
					float s = 0.0f;
					#pragma omp simd reduction(+:s)
					for (int64_t t = 0; t < k; t++)
						s += xi[t] * row[t];
					y[i * n + j] = s + (bias ? bias[j] : 0.0f);
				}
			}
			free(row);
		}
		return failed ? -1 : 0;
	}
	{
		float *tile = malloc((size_t)BLOCK_ROWS * (size_t)k * sizeof *tile);
		if (!tile)
			return -1;
		for (int64_t j0 = 0; j0 < n; j0 += BLOCK_ROWS) {
			int64_t nb = n - j0 < BLOCK_ROWS ? n - j0 : BLOCK_ROWS;
			#pragma omp parallel for schedule(static)
			for (int64_t j = 0; j < nb; j++)
				rag_dequant_row(wtype, wb + (size_t)(j0 + j) * rb, tile + j * k, k);
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nb, (int)k, 1.0f,
				    x, (int)k, tile, (int)k, 0.0f, y + j0, (int)n);
		}
		free(tile);
		add_bias(y, bias, m, n);
	}
	return 0;
}
