/* gpu-encoder-driver.c: time the encoder's forward pass alone (rag_encoder_run
 * on random token ids, no reading, tokenizing or writing), so that bench/gpu-embed.py
 * can set it beside PyTorch's forward pass and beside rag-embed end to end.
 * Usage: gpu-encoder-driver MODEL.gguf cpu|cuda N_TEXTS LEN BATCH_TOKENS REPS
 * Prints one line: "forward texts=.. len=.. best_s=.. texts_per_s=.. tokens_per_s=..". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "encoder.h"
#include "error.h"
#include "gguf.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	struct rag_error err = { 0 };
	struct rag_gguf *g = NULL;
	struct rag_encoder *e = NULL;
	struct rag_encoder_opts o = { 0 };
	struct rag_enc_seq *seqs;
	int32_t *ids;
	float *out;
	long n, len, bt, reps;
	double best = 1e30;
	uint64_t x = 88172645463325252ull;

	if (argc != 7) {
		fprintf(stderr, "usage: gpu-encoder-driver MODEL cpu|cuda N_TEXTS LEN BATCH_TOKENS REPS\n");
		return 64;
	}
	n = atol(argv[3]);
	len = atol(argv[4]);
	bt = atol(argv[5]);
	reps = atol(argv[6]);
	o.cuda = strcmp(argv[2], "cuda") == 0;
	if (n <= 0 || len < 2 || bt <= 0 || reps <= 0) {
		fprintf(stderr, "gpu-encoder-driver: bad sizes\n");
		return 64;
	}
	if (rag_gguf_open(argv[1], &g, &err) || rag_encoder_load(g, &o, &e, &err)) {
		fprintf(stderr, "gpu-encoder-driver: %s\n", err.msg);
		return 1;
	}
	seqs = calloc((size_t)n, sizeof *seqs);
	ids = malloc((size_t)(n * len) * sizeof *ids);
	out = malloc((size_t)n * (size_t)rag_encoder_dim(e) * sizeof *out);
	if (!seqs || !ids || !out)
		return 1;
	for (long i = 0; i < n * len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ids[i] = (int32_t)(1000 + x % 20000);   /* inside BERT's 30522-entry vocabulary */
	}
	for (long i = 0; i < n; i++) {
		ids[i * len] = 101;                     /* [CLS] ... [SEP] */
		ids[i * len + len - 1] = 102;
		seqs[i].ids = ids + i * len;
		seqs[i].n = (size_t)len;
	}
	for (long r = 0; r <= reps; r++) {          /* the first run warms up */
		double t0 = now(), dt;
		if (rag_encoder_run(e, seqs, (size_t)n, (size_t)bt, RAG_POOL_MEAN, 1, out, &err)) {
			fprintf(stderr, "gpu-encoder-driver: %s\n", err.msg);
			return 1;
		}
		dt = now() - t0;
		if (r && dt < best)
			best = dt;
	}
	printf("forward texts=%ld len=%ld best_s=%.4f texts_per_s=%.0f tokens_per_s=%.0f\n", n, len, best,
	       (double)n / best, (double)(n * len) / best);
	rag_encoder_free(e);
	rag_gguf_close(g);
	free(seqs);
	free(ids);
	free(out);
	return 0;
}
