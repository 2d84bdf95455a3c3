/* vmath.h: inline float exp and erf that GCC can vectorize in `omp simd` loops
 * (glibc's expf/erff are scalar calls there without -ffast-math). */
#ifndef RAG_VMATH_H
#define RAG_VMATH_H

#include <stdint.h>

/* exp(x) within 2 ulp for x in [-87, 88] (x is clamped to that range).
 * Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, then a degree-7 Taylor
 * polynomial, then scaling by 2^n through the exponent bits. */
static inline float rag_vexpf(float x)
{
	const float log2e = 1.44269504088896341f;
	const float ln2_hi = 0.693145751953125f, ln2_lo = 1.428606765330187e-06f;
	float n, r, p;
	union { int32_t i; float f; } s;

	x = x < -87.0f ? -87.0f : x;
	x = x > 88.0f ? 88.0f : x;
	/* round to nearest by adding and removing 1.5 * 2^23 (floorf does not vectorize) */
	n = x * log2e + 12582912.0f;
	n = n - 12582912.0f;
	r = x - n * ln2_hi;
	r = r - n * ln2_lo;
	p = 1.0f / 5040.0f;
	p = p * r + 1.0f / 720.0f;
	p = p * r + 1.0f / 120.0f;
	p = p * r + 1.0f / 24.0f;
	p = p * r + 1.0f / 6.0f;
	p = p * r + 0.5f;
	p = p * r + 1.0f;
	p = p * r + 1.0f;
	s.i = ((int32_t)n + 127) << 23;
	return p * s.f;
}

/* erf(x) within 4e-7 absolute: the rational approximation used by Eigen and
 * XLA (odd degree-13 numerator over degree-8 denominator on [-4, 4]). */
static inline float rag_verff(float x)
{
	float x2, p, q;

	x = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x);
	x2 = x * x;
	p = -2.72614225801306e-10f;
	p = p * x2 + 2.77068142495902e-08f;
	p = p * x2 + -2.10102402082508e-06f;
	p = p * x2 + -5.69250639462346e-05f;
	p = p * x2 + -7.34990630326855e-04f;
	p = p * x2 + -2.95459980854025e-03f;
	p = p * x2 + -1.60960333262415e-02f;
	p = p * x;
	q = -1.45660718464996e-05f;
	q = q * x2 + -2.13374055278905e-04f;
	q = q * x2 + -1.68282697438203e-03f;
	q = q * x2 + -7.37332916720468e-03f;
	q = q * x2 + -1.42647390514189e-02f;
	return p / q;
}

#endif
