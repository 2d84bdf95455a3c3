/* l2norm.c: scale rows to unit Euclidean length. */
#include "config.h"

#include <math.h>

#include "kernels.h"

void rag_l2_normalize(float *x, int64_t rows, int64_t n)
{
	for (int64_t i = 0; i < rows; i++) {
		float *xi = x + i * n;
		double ss = 0.0;
		for (int64_t j = 0; j < n; j++)
			ss += (double)xi[j] * xi[j];
		if (ss > 0.0) {
			float inv = (float)(1.0 / sqrt(ss));
			for (int64_t j = 0; j < n; j++)
				xi[j] *= inv;
		}
	}
}
