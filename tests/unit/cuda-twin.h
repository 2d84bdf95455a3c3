/* cuda-twin.h: helpers for the GPU twin tests: random inputs, device buffers
 * with guard bands (sentinels before and after the data, checked on every
 * download), and a normalized error measure. */
#ifndef RAG_CUDA_TWIN_H
#define RAG_CUDA_TWIN_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#define GUARD 64
#define SENTINEL (-31337.0f)

static uint64_t twin_rng = 88172645463325252ull;

static inline float urand(void)   /* uniform in [-1, 1) */
{
	twin_rng ^= twin_rng << 13;
	twin_rng ^= twin_rng >> 7;
	twin_rng ^= twin_rng << 17;
	return (float)((double)(twin_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static inline float *rnd(size_t n, float scale)
{
	float *v = malloc((n ? n : 1) * sizeof *v);
	cr_assert(v);
	for (size_t i = 0; i < n; i++)
		v[i] = urand() * scale;
	return v;
}

/* Device copy of n bytes of host (NULL: sentinels only) between guard bands of
 * GUARD floats; returns the pointer to the data. */
static inline void *dput(const void *host, size_t bytes)
{
	size_t nf = (bytes + 3) / 4 + 2 * GUARD;
	float *h = malloc(nf * 4), *d = NULL;
	cr_assert(h);
	for (size_t i = 0; i < nf; i++)
		h[i] = SENTINEL;
	if (host)
		memcpy(h + GUARD, host, bytes);
	cr_assert_eq(rag_cuda_malloc((void **)&d, nf * 4), 0, "%s", rag_cuda_last_error());
	cr_assert_eq(rag_cuda_upload(d, h, nf * 4), 0, "%s", rag_cuda_last_error());
	free(h);
	return d + GUARD;
}

/* Wait for the GPU, copy bytes back into host, and check both guard bands. */
static inline void dget(void *host, const void *d, size_t bytes, const char *what)
{
	size_t nd = (bytes + 3) / 4, nf = nd + 2 * GUARD;
	float *h = malloc(nf * 4);
	cr_assert(h);
	cr_assert_eq(rag_cuda_sync(), 0, "%s: %s", what, rag_cuda_last_error());
	cr_assert_eq(rag_cuda_download(h, (const float *)d - GUARD, nf * 4), 0, "%s", rag_cuda_last_error());
	for (size_t i = 0; i < GUARD; i++) {
		cr_assert_eq(h[i], SENTINEL, "%s: wrote before its output", what);
		cr_assert_eq(h[GUARD + nd + i], SENTINEL, "%s: wrote past its output", what);
	}
	memcpy(host, h + GUARD, bytes);
	free(h);
}

static inline void dfree(void *d)
{
	if (d)
		rag_cuda_free((float *)d - GUARD);
}

/* Largest |a - b| / (1 + |b|) (NaN propagates). */
static inline double nerr(const float *a, const float *b, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++) {
		double e = fabs((double)a[i] - (double)b[i]) / (1.0 + fabs((double)b[i]));
		if (!(e <= m))
			m = e;
	}
	return m;
}

#endif
