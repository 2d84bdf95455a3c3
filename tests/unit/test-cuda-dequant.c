/* test-cuda-dequant.c: GPU twin test: rag_cuda_dequant against rag_dequant_row on
 * the golden blocks and on random blocks of every type, bit for bit, with guard
 * bands around the output to catch overruns.  Exits 77 without a GPU. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gpu-skip.h"
#include "kernels.h"

#define GUARD 64

static void twin(enum rag_dtype t, const uint8_t *raw, int64_t rows, int64_t k)
{
	size_t rb = rag_dtype_row_size((uint32_t)t, k), nb = rb * (size_t)rows;
	int64_t total = rows * k;
	float *cpu = malloc((size_t)total * 4), *gpu = malloc((size_t)(total + 2 * GUARD) * 4);
	void *dsrc = NULL;
	float *ddst = NULL;
	const float sentinel = -31337.0f;

	for (int64_t r = 0; r < rows; r++)
		rag_dequant_row(t, raw + (size_t)r * rb, cpu + r * k, k);
	for (int64_t i = 0; i < total + 2 * GUARD; i++)
		gpu[i] = sentinel;
	cr_assert_eq(rag_cuda_malloc(&dsrc, nb), 0, "%s", rag_cuda_last_error());
	cr_assert_eq(rag_cuda_malloc((void **)&ddst, (size_t)(total + 2 * GUARD) * 4), 0);
	cr_assert_eq(rag_cuda_upload(dsrc, raw, nb), 0);
	cr_assert_eq(rag_cuda_upload(ddst, gpu, (size_t)(total + 2 * GUARD) * 4), 0);
	cr_assert_eq(rag_cuda_dequant(t, dsrc, ddst + GUARD, rows, k, NULL), 0, "%s", rag_cuda_last_error());
	cr_assert_eq(rag_cuda_sync(), 0, "%s", rag_cuda_last_error());
	cr_assert_eq(rag_cuda_download(gpu, ddst, (size_t)(total + 2 * GUARD) * 4), 0);
	for (int64_t i = 0; i < GUARD; i++) {
		cr_assert_eq(gpu[i], sentinel, "%s: wrote before the output", rag_dtype_info(t)->name);
		cr_assert_eq(gpu[GUARD + total + i], sentinel, "%s: wrote past the output", rag_dtype_info(t)->name);
	}
	for (int64_t i = 0; i < total; i++) {
		/* a NaN out of arithmetic (a NaN scale times a quant) is the GPU's canonical NaN,
		 * the CPU's keeps the operand's payload: only conversions are compared bit for bit */
		if (t != RAG_DT_F32 && t != RAG_DT_F16 && t != RAG_DT_BF16 && isnan(cpu[i]) && isnan(gpu[GUARD + i]))
			continue;
		cr_assert(memcmp(&cpu[i], &gpu[GUARD + i], 4) == 0, "%s element %lld: cpu %.9g gpu %.9g",
			  rag_dtype_info(t)->name, (long long)i, (double)cpu[i], (double)gpu[GUARD + i]);
	}
	rag_cuda_free(dsrc);
	rag_cuda_free(ddst);
	free(cpu);
	free(gpu);
}

Test(cuda_dequant, random_blocks_every_type)
{
	enum rag_dtype types[] = { RAG_DT_F32, RAG_DT_F16, RAG_DT_BF16, RAG_DT_Q8_0, RAG_DT_Q4_0,
				   RAG_DT_Q4_1, RAG_DT_Q5_0, RAG_DT_Q5_1, RAG_DT_IQ4_NL, RAG_DT_Q2_K,
				   RAG_DT_Q3_K, RAG_DT_Q4_K, RAG_DT_Q5_K, RAG_DT_Q6_K, RAG_DT_IQ4_XS };
	unsigned s = 1;

	for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
		const struct rag_dtype_info *ti = rag_dtype_info(types[i]);
		int64_t k = 512, rows = 7;
		size_t nb = rag_dtype_row_size(types[i], k) * (size_t)rows;
		uint8_t *raw = malloc(nb);
		for (size_t j = 0; j < nb; j++) {
			s = s * 1103515245u + 12345u;
			raw[j] = (uint8_t)(s >> 16);
		}
		/* keep the f16/bf16 scales finite: random bytes may make NaN/inf, which
		 * still must match but make the comparison less informative */
		if (ti->block > 1)
			for (size_t b = 0; b < nb / ti->size; b++) {
				uint8_t *blk = raw + b * ti->size;
				size_t at = (types[i] == RAG_DT_Q2_K) ? 80 : (types[i] == RAG_DT_Q3_K) ? 108 :
					    (types[i] == RAG_DT_Q6_K) ? 208 : 0;
				blk[at + 1] &= 0x3B;
			}
		twin(types[i], raw, rows, k);
		free(raw);
	}
}
