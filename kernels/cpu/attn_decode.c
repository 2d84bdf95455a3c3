/* attn_decode.c: attention of one new token's query heads over the whole KV cache (decode). */
#include "config.h"

#include <stdlib.h>

#include "kernels.h"

/*
 * q: n_head heads of head_dim floats; k, v: n_kv cache rows of kv_stride floats
 * (KV head g at g*head_dim), the last row being the new token's.  out: n_head
 * heads.  Parallel over heads.  Returns 0, or -1 when scratch cannot be allocated.
 */
int rag_attn_decode(float *out, const float *q, const float *k, const float *v, int64_t n_kv,
		    int64_t n_head, int64_t n_head_kv, int64_t head_dim, int64_t kv_stride,
		    float scale)
{
	int64_t group = n_head / n_head_kv;
	int failed = 0;

	#pragma omp parallel
	{
		float *s = malloc((size_t)n_kv * sizeof *s);
		if (!s) {
			#pragma omp atomic write
			failed = 1;
		}
		#pragma omp for schedule(static)
		for (int64_t h = 0; h < n_head; h++) {
			int64_t g = h / group;
			if (!s)
				continue;
			rag_attn_head(out + h * head_dim, q + h * head_dim, k + g * head_dim,
				      v + g * head_dim, n_kv, head_dim, kv_stride, scale, s);
		}
		free(s);
	}
	return failed ? -1 : 0;
}
