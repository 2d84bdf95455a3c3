/* dense-driver.c: bench driver for exact dense search kernels (bench/dense.sh): read
 * bandwidth, rag_dense_scores + selection (the path before the fused kernel),
 * rag_dense_topk one query at a time and in blocks.
 *
 *   dense-driver bw MiB THREADS
 *   dense-driver search BASE.f32 QUERIES.f32 N NQ DIM STORAGE(0|1|2) MODE(scores|topk|batch)
 *                BLOCK K THREADS REPS OUT.ids
 * Prints one JSON line: queries/s, bytes of stored vectors read per query,
 * GB/s (10^9), wall and CPU seconds of the best repetition. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <omp.h>

#include "kernels.h"
#include "options.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static double cpu(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *readf(const char *path, size_t n)
{
	FILE *f = fopen(path, "rb");
	float *p = malloc(n * sizeof *p);
	if (!f || !p || fread(p, sizeof *p, n, f) != n) {
		fprintf(stderr, "dense-driver: cannot read %s\n", path);
		exit(66);
	}
	fclose(f);
	return p;
}

static int bw(size_t mib, int threads)
{
	size_t n = mib << 18, i;	/* floats */
	float *a = malloc(n * sizeof *a);
	double best = 1e30, s = 0;
	if (!a)
		return 1;
#pragma omp parallel for num_threads(threads)
	for (i = 0; i < n; i++)
		a[i] = (float)(i & 7);
	for (int r = 0; r < 5; r++) {
		double t0 = now(), t;
		float tot = 0;
#pragma omp parallel for num_threads(threads) reduction(+:tot) schedule(static)
		for (size_t b = 0; b < n; b += 4096) {
			float acc = 0;
			size_t e = b + 4096 < n ? b + 4096 : n;
#pragma omp simd reduction(+:acc)
			for (size_t j = b; j < e; j++)
				acc += a[j];
			tot += acc;
		}
		t = now() - t0;
		s += tot;
		if (t < best)
			best = t;
	}
	printf("{\"mode\":\"bw\",\"threads\":%d,\"mib\":%zu,\"gbs\":%.2f,\"check\":%g}\n", threads, mib,
	       (double)n * 4 / best / 1e9, s);
	free(a);
	return 0;
}

struct hit { float s; int64_t key; };

/* the old rag_index_dense: score array, then a bounded selection */
static void select_topk(const float *s, int64_t n, int64_t k, int64_t *keys, float *sc, int64_t *got)
{
	/* simple: keep k best in an insertion-sorted array (k small) */
	int64_t c = 0;
	for (int64_t j = 0; j < n; j++) {
		if (c == k && s[j] <= sc[c - 1])
			continue;
		int64_t p = c < k ? c++ : k - 1;
		while (p > 0 && sc[p - 1] < s[j]) {
			sc[p] = sc[p - 1];
			keys[p] = keys[p - 1];
			p--;
		}
		sc[p] = s[j];
		keys[p] = j;
	}
	*got = c;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "bw"))
		return bw((size_t)atol(argv[2]), atoi(argv[3]));
	if (argc != 14 || strcmp(argv[1], "search")) {
		fprintf(stderr, "usage: see bench/dense-driver.c\n");
		return 64;
	}
	int64_t n = atol(argv[4]), nq = atol(argv[5]), dim = atol(argv[6]);
	int st = atoi(argv[7]);
	const char *mode = argv[8];
	int64_t block = atol(argv[9]), k = atol(argv[10]);
	int threads = atoi(argv[11]), reps = atoi(argv[12]);
	float *x = readf(argv[2], (size_t)(n * dim)), *q = readf(argv[3], (size_t)(nq * dim));
	void *base = x;
	float *scales = NULL;
	size_t rowb = (size_t)dim * (st == 0 ? 4 : st == 1 ? 2 : 1);

	if (st == 1) {
		uint16_t *h = malloc((size_t)(n * dim) * 2);
		for (int64_t i = 0; i < n * dim; i++)
			h[i] = rag_f32_to_f16(x[i]);
		base = h;
	} else if (st == 2) {
		int8_t *c = malloc((size_t)(n * dim));
		scales = malloc((size_t)n * sizeof *scales);
		for (int64_t i = 0; i < n; i++) {
			float mx = 1e-12f;
			for (int64_t d = 0; d < dim; d++)
				mx = fmaxf(mx, fabsf(x[i * dim + d]));
			scales[i] = mx / 127;
			for (int64_t d = 0; d < dim; d++)
				c[i * dim + d] = (int8_t)lrintf(x[i * dim + d] / scales[i]);
		}
		base = c;
	}
	omp_set_num_threads(threads);
	rag_set_threads(threads);
	int64_t *keys = malloc((size_t)(nq * k) * sizeof *keys), *got = malloc((size_t)nq * sizeof *got);
	float *sc = malloc((size_t)(nq * k) * sizeof *sc), *s = malloc((size_t)n * sizeof *s);
	double best = 1e30, bestc = 0;
	for (int r = 0; r < reps; r++) {
		double t0 = now(), c0 = cpu(), t;
		if (!strcmp(mode, "scores")) {
			for (int64_t i = 0; i < nq; i++) {
				rag_dense_scores(s, q + i * dim, 1, base, st, scales, n, dim, 0);
				select_topk(s, n, k, keys + i * k, sc + i * k, &got[i]);
			}
		} else {
			int64_t b = !strcmp(mode, "batch") ? block : 1;
			for (int64_t i = 0; i < nq; i += b) {
				int64_t m = i + b <= nq ? b : nq - i;
				if (rag_dense_topk(q + i * dim, m, base, st, scales, n, dim, 0, NULL, NULL, 0, k,
						   keys + i * k, sc + i * k, got + i))
					return 70;
			}
		}
		t = now() - t0;
		if (t < best) {
			best = t;
			bestc = cpu() - c0;
		}
	}
	FILE *f = fopen(argv[13], "w");
	for (int64_t i = 0; f && i < nq; i++) {
		for (int64_t r = 0; r < got[i]; r++)
			fprintf(f, "%s%lld", r ? " " : "", (long long)keys[i * k + r]);
		fputc('\n', f);
	}
	if (f)
		fclose(f);
	printf("{\"mode\":\"%s\",\"storage\":%d,\"n\":%lld,\"dim\":%lld,\"nq\":%lld,\"block\":%lld,\"threads\":%d,"
	       "\"qps\":%.2f,\"bytes_per_query\":%zu,\"gbs\":%.2f,\"wall\":%.3f,\"cpu\":%.3f}\n",
	       mode, st, (long long)n, (long long)dim, (long long)nq, (long long)block, threads, nq / best,
	       (size_t)n * rowb, strcmp(mode, "batch") ? (double)n * rowb * nq / best / 1e9
						       : (double)n * rowb * ((nq + block - 1) / block) / best / 1e9,
	       best, bestc);
	return 0;
}
