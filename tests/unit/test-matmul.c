/* test-matmul.c: rag_matmul against a plain double-precision reference, for
 * F32, F16, BF16 and a block type, on both the small-m and the blocked path. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "options.h"

static float frand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

/* Quantize a row to Q8_0 the way ggml does (d = amax/127, round to nearest). */
static void q8_0_row(const float *x, uint8_t *out, int64_t k)
{
	for (int64_t b = 0; b < k / 32; b++, out += 34) {
		float amax = 0, d, id;
		uint16_t h;
		for (int j = 0; j < 32; j++)
			amax = fmaxf(amax, fabsf(x[b * 32 + j]));
		d = amax / 127.0f;
		id = d ? 1.0f / d : 0.0f;
		h = rag_f32_to_f16(d);
		memcpy(out, &h, 2);
		for (int j = 0; j < 32; j++)
			out[2 + j] = (uint8_t)(int8_t)roundf(x[b * 32 + j] * id);
	}
}

static void check(enum rag_dtype t, int64_t m, int64_t n, int64_t k, int with_bias)
{
	unsigned seed = 42u + (unsigned)(m * 7 + n);
	float *x = malloc((size_t)(m * k) * 4), *wf = malloc((size_t)(n * k) * 4);
	float *y = malloc((size_t)(m * n + 1) * 4), *bias = malloc((size_t)n * 4), *wd = malloc((size_t)k * 4);
	size_t rb = rag_dtype_row_size(t, k);
	uint8_t *w = malloc(rb * (size_t)n);

	for (int64_t i = 0; i < m * k; i++)
		x[i] = frand(&seed);
	for (int64_t i = 0; i < n * k; i++)
		wf[i] = frand(&seed);
	for (int64_t i = 0; i < n; i++)
		bias[i] = frand(&seed);
	for (int64_t j = 0; j < n; j++) {
		uint8_t *row = w + (size_t)j * rb;
		for (int64_t i = 0; i < k; i++) {
			float v = wf[j * k + i];
			uint16_t h;
			switch (t) {
			case RAG_DT_F32: memcpy(row + 4 * i, &v, 4); break;
			case RAG_DT_F16: h = rag_f32_to_f16(v); memcpy(row + 2 * i, &h, 2); break;
			case RAG_DT_BF16: h = rag_f32_to_bf16(v); memcpy(row + 2 * i, &h, 2); break;
			default: break;
			}
		}
		if (t == RAG_DT_Q8_0)
			q8_0_row(wf + j * k, row, k);
	}
	y[m * n] = 777.0f;
	cr_assert_eq(rag_matmul(y, x, w, t, with_bias ? bias : NULL, m, n, k), 0);
	cr_assert_eq(y[m * n], 777.0f, "wrote past the end");
	for (int64_t j = 0; j < n; j++) {
		rag_dequant_row(t, w + (size_t)j * rb, wd, k);
		for (int64_t i = 0; i < m; i++) {
			double ref = with_bias ? bias[j] : 0.0;
			for (int64_t q = 0; q < k; q++)
				ref += (double)x[i * k + q] * wd[q];
			cr_assert(fabs(ref - y[i * n + j]) <= 1e-4 * (1 + fabs(ref)),
				  "%s m=%lld (%lld,%lld): %g vs %g", rag_dtype_info(t)->name, (long long)m,
				  (long long)i, (long long)j, (double)y[i * n + j], ref);
		}
	}
	free(x); free(wf); free(y); free(bias); free(wd); free(w);
}

Test(matmul, all_types_both_paths)
{
	enum rag_dtype types[] = { RAG_DT_F32, RAG_DT_F16, RAG_DT_BF16, RAG_DT_Q8_0 };
	int64_t ms[] = { 1, 3, 17, 64 };

	rag_set_threads(2);
	for (size_t t = 0; t < 4; t++)
		for (size_t i = 0; i < 4; i++) {
			check(types[t], ms[i], 300, 96, 0);
			check(types[t], ms[i], 129, 64, 1);
		}
}
