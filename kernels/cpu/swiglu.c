/* swiglu.c: the SiLU-gated linear unit of LLaMA-style feed-forward blocks. */
#include "config.h"

#include <math.h>

#include "kernels.h"

/* y[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)).  y may alias gate or up. */
void rag_swiglu(float *y, const float *gate, const float *up, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		float g = gate[i];
		y[i] = g / (1.0f + expf(-g)) * up[i];
	}
}
