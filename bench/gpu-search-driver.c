/* gpu-search-driver.c: time rag_gpu_dense_search (the GPU exact search behind
 * rag-retrieve's dense leg) on random unit vectors; built and run by
 * bench/gpu-search.py.  Usage: gpu-search-driver N DIM f16|f32 M K REPS ip|l2
 * Prints one line: "ragkit n=.. dim=.. storage=.. m=.. k=.. best_ms=.. qps=.. gbps=..". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bm25.h"
#include "kernels.h"
#include "search_cuda.h"

static uint64_t s = 88172645463325252ull;

static float urand(void)
{
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	int64_t n, dim, m;
	int f16, l2, reps;
	size_t k, esz;
	void *base;
	float *q, *row;
	int64_t *ids;
	struct rag_hit *hits;
	size_t *nh;
	struct rag_gpu_dense *g;
	struct rag_error err = { 0 };
	double best = 1e30;

	if (argc != 8) {
		fprintf(stderr, "usage: gpu-search-driver N DIM f16|f32 M K REPS ip|l2\n");
		return 64;
	}
	n = strtoll(argv[1], NULL, 10);
	dim = strtoll(argv[2], NULL, 10);
	f16 = strcmp(argv[3], "f16") == 0;
	m = strtoll(argv[4], NULL, 10);
	k = (size_t)strtoull(argv[5], NULL, 10);
	reps = (int)strtol(argv[6], NULL, 10);
	l2 = strcmp(argv[7], "l2") == 0;
	esz = f16 ? 2 : 4;
	base = malloc((size_t)n * (size_t)dim * esz);
	row = malloc((size_t)dim * sizeof *row);
	q = malloc((size_t)m * (size_t)dim * sizeof *q);
	ids = malloc((size_t)n * sizeof *ids);
	hits = malloc((size_t)m * k * sizeof *hits);
	nh = malloc((size_t)m * sizeof *nh);
	if (!base || !row || !q || !ids || !hits || !nh)
		return 70;
	for (int64_t j = 0; j < n; j++) {
		for (int64_t t = 0; t < dim; t++)
			row[t] = urand();
		rag_l2_normalize(row, 1, dim);
		for (int64_t t = 0; t < dim; t++) {
			if (f16)
				((uint16_t *)base)[j * dim + t] = rag_f32_to_f16(row[t]);
			else
				((float *)base)[j * dim + t] = row[t];
		}
		ids[j] = j;
	}
	for (int64_t i = 0; i < m * dim; i++)
		q[i] = urand();
	rag_l2_normalize(q, m, dim);
	if (rag_gpu_dense_open(base, f16, ids, n, dim, l2, &g, &err)) {
		fprintf(stderr, "gpu-search-driver: %s\n", err.msg);
		return 69;
	}
	for (int r = 0; r < reps + 1; r++) {
		double t0 = now(), dt;
		if (rag_gpu_dense_search(g, q, m, NULL, n, k, hits, nh, &err)) {
			fprintf(stderr, "gpu-search-driver: %s\n", err.msg);
			return 69;
		}
		dt = now() - t0;
		if (r > 0 && dt < best)
			best = dt;
	}
	printf("ragkit n=%lld dim=%lld storage=%s m=%lld k=%zu best_ms=%.3f qps=%.1f gbps=%.1f top1=%lld\n",
	       (long long)n, (long long)dim, f16 ? "f16" : "f32", (long long)m, k, best * 1e3, (double)m / best,
	       (double)n * (double)dim * (double)esz / best / 1e9, (long long)hits[0].doc);
	rag_gpu_dense_free(g);
	free(base); free(row); free(q); free(ids); free(hits); free(nh);
	return 0;
}
