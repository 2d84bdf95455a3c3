/* tanh.c: y = tanh(x) elementwise (the BERT pooler's activation). */
#include "config.h"

#include <math.h>

#include "kernels.h"

void rag_tanh(float *y, const float *x, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		y[i] = tanhf(x[i]);
}
