/* rope.c: rotary position embedding, in place, in the two pair layouts GGUF models use. */
#include "config.h"

#include <math.h>

#include "kernels.h"

/*
 * x holds n_tok rows of `stride` floats; each row has n_head heads of head_dim
 * floats starting at h*head_dim.  The first n_rot dims of each head rotate by
 * angle pos[t] * freq_scale * base^(-2i/n_rot) / (factors ? factors[i] : 1) for
 * pair i.  Pairs are (2i, 2i+1) in the normal style (llama) and (i, i+n_rot/2) in
 * the NeoX style (qwen2, qwen3).  Angles are computed in double.
 */
void rag_rope(float *x, int64_t n_tok, int64_t stride, int64_t n_head, int64_t head_dim,
	      const int32_t *pos, int64_t n_rot, float freq_base, float freq_scale,
	      const float *factors, int neox)
{
	int64_t half = n_rot / 2;

	for (int64_t t = 0; t < n_tok; t++) {
		float cs[512], sn[512];
		for (int64_t i = 0; i < half && i < 512; i++) {
			double inv = pow((double)freq_base, -2.0 * (double)i / (double)n_rot);
			double a = (double)pos[t] * (double)freq_scale * inv;
			if (factors)
				a /= (double)factors[i];
			cs[i] = (float)cos(a);
			sn[i] = (float)sin(a);
		}
		for (int64_t h = 0; h < n_head; h++) {
			float *v = x + t * stride + h * head_dim;
			for (int64_t i = 0; i < half; i++) {
				int64_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
				float x0 = v[a], x1 = v[b];
				v[a] = x0 * cs[i] - x1 * sn[i];
				v[b] = x0 * sn[i] + x1 * cs[i];
			}
		}
	}
}
