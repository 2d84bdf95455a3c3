/* attn_causal.c: causal grouped-query attention of a block of queries over a KV cache (prefill). */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "kernels.h"

/* One query head against keys 0..n_kv-1: out = softmax(scale * K q) V, with
 * the scores in s (n_kv floats).  Exposed to the decode kernel too. */
void rag_attn_head(float *out, const float *q, const float *k, const float *v, int64_t n_kv,
		   int64_t head_dim, int64_t kv_stride, float scale, float *s)
{
	float mx = -INFINITY, sum = 0.0f;

	for (int64_t j = 0; j < n_kv; j++) {
		const float *kj = k + j * kv_stride;
		float d = 0.0f;
		#pragma omp simd reduction(+:d)
		for (int64_t i = 0; i < head_dim; i++)
			d += q[i] * kj[i];
		s[j] = d * scale;
		if (s[j] > mx)
			mx = s[j];
	}
	for (int64_t j = 0; j < n_kv; j++) {
		s[j] = expf(s[j] - mx);
		sum += s[j];
	}
	for (int64_t i = 0; i < head_dim; i++)
		out[i] = 0.0f;
	for (int64_t j = 0; j < n_kv; j++) {
		const float *vj = v + j * kv_stride;
		float p = s[j] / sum;
		#pragma omp simd
		for (int64_t i = 0; i < head_dim; i++)
			out[i] += p * vj[i];
	}
}

/*
 * q: n_q rows of q_stride floats, query head h at h*head_dim; row i sits at
 * absolute position pos0+i and sees cache rows 0..pos0+i.  k, v: cache rows of
 * kv_stride floats, KV head g at g*head_dim; query head h reads KV head
 * h / (n_head / n_head_kv).  out: n_q rows of n_head*head_dim floats.
 * Parallel over (row, head).  Returns 0, or -1 when scratch cannot be allocated.
 */
int rag_attn_causal(float *out, const float *q, const float *k, const float *v, int64_t n_q,
		    int64_t pos0, int64_t n_head, int64_t n_head_kv, int64_t head_dim,
		    int64_t q_stride, int64_t kv_stride, float scale)
{
	int64_t group = n_head / n_head_kv;
	int failed = 0;

	#pragma omp parallel
	{
		float *s = malloc((size_t)(pos0 + n_q) * sizeof *s);
		if (!s) {
			#pragma omp atomic write
			failed = 1;
		}
		#pragma omp for schedule(dynamic, 4)
		for (int64_t t = 0; t < n_q * n_head; t++) {
			int64_t i = t / n_head, h = t % n_head, g = h / group;
			if (!s)
				continue;
			rag_attn_head(out + i * n_head * head_dim + h * head_dim,
				      q + i * q_stride + h * head_dim, k + g * head_dim,
				      v + g * head_dim, pos0 + i + 1, head_dim, kv_stride, scale, s);
		}
		free(s);
	}
	return failed ? -1 : 0;
}
