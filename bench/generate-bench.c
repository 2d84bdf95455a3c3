/* generate-bench.c: ragkit's decoder speed on a GGUF: prefill of N token ids and
 * decode steps, best of R repetitions (built and run by bench/generate.sh). */
#include <stdio.h>
#include <time.h>
#include <stdlib.h>

#include "decoder.h"
#include "gguf.h"
#include "options.h"
#include "progress.h"

/* Process CPU seconds: with one thread, a load-independent measure of the work. */
static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct rag_gguf *g;
	struct rag_decoder *d;
	struct rag_decoder_params p = { 0 };
	struct rag_error err;
	int n_prefill = argc > 2 ? atoi(argv[2]) : 512, n_decode = argc > 3 ? atoi(argv[3]) : 64;
	int reps = argc > 4 ? atoi(argv[4]) : 3, threads = argc > 5 ? atoi(argv[5]) : 0;
	double best_pf = 1e30, best_dec = 1e30, cbest_pf = 1e30, cbest_dec = 1e30;
	int32_t *ids;
	float *logits;

	if (argc < 2) {
		fprintf(stderr, "usage: generate-bench MODEL [PREFILL DECODE REPS THREADS]\n");
		return 64;
	}
	rag_set_threads(threads);
	p.n_ctx = n_prefill + n_decode + 8;
	if (rag_gguf_open(argv[1], &g, &err) || rag_decoder_load(g, &p, &d, &err)) {
		fprintf(stderr, "generate-bench: %s\n", err.msg);
		return 78;
	}
	ids = malloc((size_t)n_prefill * sizeof *ids);
	logits = malloc((size_t)rag_decoder_info(d)->n_vocab * sizeof *logits);
	for (int i = 0; i < n_prefill; i++)
		ids[i] = (int32_t)((i * 7919 + 11) % 50000);
	for (int r = 0; r < reps; r++) {
		double t0, t1, t2, c0, c1, c2;
		int32_t tok = 42;
		rag_decoder_reset(d);
		c0 = cpu_now();
		t0 = rag_now();
		if (rag_decoder_eval(d, ids, n_prefill, 0, logits, &err))
			return 70;
		t1 = rag_now();
		c1 = cpu_now();
		for (int i = 0; i < n_decode; i++)
			if (rag_decoder_step(d, tok, logits, &err))
				return 70;
		t2 = rag_now();
		c2 = cpu_now();
		if (c1 - c0 < cbest_pf)
			cbest_pf = c1 - c0;
		if (c2 - c1 < cbest_dec)
			cbest_dec = c2 - c1;
		if (t1 - t0 < best_pf)
			best_pf = t1 - t0;
		if (t2 - t1 < best_dec)
			best_dec = t2 - t1;
	}
	printf("prefill_tps %.2f\ndecode_tps %.2f\nprefill_tps_cpu %.2f\ndecode_tps_cpu %.2f\n",
	       n_prefill / best_pf, n_decode / best_dec, n_prefill / cbest_pf, n_decode / cbest_dec);
	rag_decoder_free(d);
	rag_gguf_close(g);
	free(ids);
	free(logits);
	return 0;
}
