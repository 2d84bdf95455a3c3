/* generate-matvec.c: the decode products on one 4864x1792 weight matrix of each
 * type: rag_matvec (float32 activation), rag_matvec_q8 (int8 activation,
 * quantization included) and rag_matmul's small-m path (m = 1); single thread,
 * process CPU time (best of 5), GB/s of weights.  Built and run by hand:
 *   cc -O2 -march=native -Ilib -Ikernels -Ibuild bench/generate-matvec.c build/lib/.libs/librag.so */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kernels.h"
#include "options.h"

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	static const enum rag_dtype types[] = { RAG_DT_F16, RAG_DT_BF16, RAG_DT_Q8_0, RAG_DT_Q4_0,
						RAG_DT_Q5_0, RAG_DT_Q4_K, RAG_DT_Q6_K };
	/* k a multiple of 256 for the K-quants; n from argv[1] (e.g. 155648 for a matrix
	 * larger than the last-level cache) */
	const int64_t n = argc > 1 ? atoll(argv[1]) : 4864, k = 896 * 2;
	float *x = malloc((size_t)k * 4), *y = malloc((size_t)n * 4);

	rag_set_threads(1);
	for (int64_t i = 0; i < k; i++)
		x[i] = (float)((i * 37) % 17) / 17.0f - 0.5f;
	printf("%-6s %14s %14s %14s %8s\n", "type", "matvec GB/s", "matvec_q8 GB/s", "matmul GB/s",
	       "q8/f32");
	for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
		size_t rb = rag_dtype_row_size(types[t], k), bytes = rb * (size_t)n;
		uint8_t *w = malloc(bytes);
		double bv = 1e30, bm = 1e30, bq = 1e30;
		enum rag_qact f = rag_qact_for(types[t], k);
		void *xq = malloc(rag_qact_size(f, k) + 1);
		for (size_t i = 0; i < bytes; i++)
			w[i] = (uint8_t)(i * 2654435761u >> 13);
		for (int64_t j = 0; j < n; j++) /* keep f16 scales finite: zero the top byte pattern risk */
			for (size_t i = 1; i < rb; i += 2)
				if ((w[j * rb + i] & 0x7C) == 0x7C)
					w[j * rb + i] &= 0x3F;
		for (int r = 0; r < (n < 4864 ? 200 : 5); r++) {
			double c0 = cpu_now();
			rag_matvec(y, x, w, types[t], NULL, n, k);
			double c1 = cpu_now();
			rag_matmul(y, x, w, types[t], NULL, 1, n, k);
			double c2 = cpu_now();
			if (f != RAG_QACT_NONE) {
				rag_qact_quantize(f, x, k, xq);
				rag_matvec_q8(y, xq, w, types[t], NULL, n, k);
			}
			double c3 = cpu_now();
			if (c1 - c0 < bv) bv = c1 - c0;
			if (c2 - c1 < bm) bm = c2 - c1;
			if (c3 - c2 < bq) bq = c3 - c2;
		}
		if (f == RAG_QACT_NONE)
			bq = 1e30;
		printf("%-6s %14.2f %14.2f %14.2f %7.2fx\n", rag_dtype_info(types[t])->name,
		       bytes / bv / 1e9, bytes / bq / 1e9, bytes / bm / 1e9, bv / bq);
		free(w);
		free(xq);
	}
	free(x);
	free(y);
	return 0;
}
