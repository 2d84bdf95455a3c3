/* distance.c: vector distance ops (dot, squared L2) of a float32 vector against
 * float32, half and int8 rows.
 *
 * Math: dot = sum a[i]*b[i]; l2sq = sum (a[i]-b[i])^2, with b decoded from its
 * storage (half -> float exactly; int8 code c -> scale*c).  Memory: both
 * vectors contiguous, n elements, any alignment.  With AVX-512 the loop runs
 * 16 lanes (two accumulators), with AVX2+FMA+F16C 8 lanes, otherwise a plain
 * loop the compiler vectorizes (omp simd reduction). */
#include "config.h"

#include <stdint.h>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__) && defined(__F16C__))
#include <immintrin.h>
#endif

#include "kernels.h"

#if defined(__AVX512F__)
#define DIST_AVX512 1
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define DIST_AVX2 1
#endif

#ifdef DIST_AVX2
static inline float hsum256(__m256 v)
{
	__m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
	lo = _mm_add_ps(lo, hi);
	lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
	lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
	return _mm_cvtss_f32(lo);
}
#endif

/* ---- loads that turn 16 (or 8) stored elements into floats ---- */
#ifdef DIST_AVX512
static inline __m512 ld_f32(const float *p) { return _mm512_loadu_ps(p); }
static inline __m512 ld_f16(const uint16_t *p)
{
	return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
}
static inline __m512 ld_i8(const int8_t *p)
{
	return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)p)));
}
#define DOT_BODY(LD)                                                              \
	__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();                  \
	size_t i = 0;                                                              \
	for (; i + 32 <= n; i += 32) {                                             \
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), LD(b + i), s0);        \
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), LD(b + i + 16), s1); \
	}                                                                          \
	for (; i + 16 <= n; i += 16)                                               \
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), LD(b + i), s0);        \
	float s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
#define L2_BODY(LD, SC)                                                           \
	__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();                  \
	size_t i = 0;                                                              \
	for (; i + 32 <= n; i += 32) {                                             \
		__m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), SC(LD(b + i)));     \
		__m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), SC(LD(b + i + 16))); \
		s0 = _mm512_fmadd_ps(d0, d0, s0);                                   \
		s1 = _mm512_fmadd_ps(d1, d1, s1);                                   \
	}                                                                          \
	for (; i + 16 <= n; i += 16) {                                             \
		__m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), SC(LD(b + i)));     \
		s0 = _mm512_fmadd_ps(d0, d0, s0);                                   \
	}                                                                          \
	float s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
#elif defined(DIST_AVX2)
static inline __m256 ld_f32(const float *p) { return _mm256_loadu_ps(p); }
static inline __m256 ld_f16(const uint16_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
}
static inline __m256 ld_i8(const int8_t *p)
{
	return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p)));
}
#define DOT_BODY(LD)                                                              \
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();                  \
	size_t i = 0;                                                              \
	for (; i + 16 <= n; i += 16) {                                             \
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), LD(b + i), s0);        \
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), LD(b + i + 8), s1); \
	}                                                                          \
	for (; i + 8 <= n; i += 8)                                                 \
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), LD(b + i), s0);        \
	float s = hsum256(_mm256_add_ps(s0, s1));
#define L2_BODY(LD, SC)                                                           \
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();                  \
	size_t i = 0;                                                              \
	for (; i + 16 <= n; i += 16) {                                             \
		__m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), SC(LD(b + i)));     \
		__m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), SC(LD(b + i + 8))); \
		s0 = _mm256_fmadd_ps(d0, d0, s0);                                   \
		s1 = _mm256_fmadd_ps(d1, d1, s1);                                   \
	}                                                                          \
	for (; i + 8 <= n; i += 8) {                                               \
		__m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), SC(LD(b + i)));     \
		s0 = _mm256_fmadd_ps(d0, d0, s0);                                   \
	}                                                                          \
	float s = hsum256(_mm256_add_ps(s0, s1));
#else
#define DOT_BODY(LD)  float s = 0.0f; size_t i = 0;
#define L2_BODY(LD, SC) float s = 0.0f; size_t i = 0;
#endif

#define NOSCALE(x) (x)

/* The tails (and the whole vector without SIMD) run through these loops. */
float rag_vec_dot_f32(const float *a, const float *b, size_t n)
{
	DOT_BODY(ld_f32)
	float t = 0.0f;
	#pragma omp simd reduction(+:t)
	for (size_t j = i; j < n; j++)
		t += a[j] * b[j];
	return s + t;
}

float rag_vec_l2sq_f32(const float *a, const float *b, size_t n)
{
	L2_BODY(ld_f32, NOSCALE)
	float t = 0.0f;
	#pragma omp simd reduction(+:t)
	for (size_t j = i; j < n; j++) {
		float d = a[j] - b[j];
		t += d * d;
	}
	return s + t;
}

float rag_vec_dot_f16(const float *a, const uint16_t *b, size_t n)
{
	DOT_BODY(ld_f16)
	float t = 0.0f;
	for (size_t j = i; j < n; j++)
		t += a[j] * rag_f16_to_f32(b[j]);
	return s + t;
}

float rag_vec_l2sq_f16(const float *a, const uint16_t *b, size_t n)
{
	L2_BODY(ld_f16, NOSCALE)
	float t = 0.0f;
	for (size_t j = i; j < n; j++) {
		float d = a[j] - rag_f16_to_f32(b[j]);
		t += d * d;
	}
	return s + t;
}

float rag_vec_dot_i8(const float *a, const int8_t *b, size_t n)
{
	DOT_BODY(ld_i8)
	float t = 0.0f;
	#pragma omp simd reduction(+:t)
	for (size_t j = i; j < n; j++)
		t += a[j] * (float)b[j];
	return s + t;
}

float rag_vec_l2sq_i8(const float *a, const int8_t *b, float scale, size_t n)
{
#ifdef DIST_AVX512
	const __m512 vs = _mm512_set1_ps(scale);
#define SCALE(x) _mm512_mul_ps((x), vs)
#elif defined(DIST_AVX2)
	const __m256 vs = _mm256_set1_ps(scale);
#define SCALE(x) _mm256_mul_ps((x), vs)
#else
#define SCALE(x) (x)
#endif
	L2_BODY(ld_i8, SCALE)
#undef SCALE
	float t = 0.0f;
	#pragma omp simd reduction(+:t)
	for (size_t j = i; j < n; j++) {
		float d = a[j] - scale * (float)b[j];
		t += d * d;
	}
	return s + t;
}

void rag_vec_f16_to_f32(float *dst, const uint16_t *src, size_t n)
{
	size_t i = 0;
#ifdef DIST_AVX512
	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(dst + i, ld_f16(src + i));
#elif defined(DIST_AVX2)
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(dst + i, ld_f16(src + i));
#endif
	for (; i < n; i++)
		dst[i] = rag_f16_to_f32(src[i]);
}

void rag_vec_i8_to_f32(float *dst, const int8_t *src, float scale, size_t n)
{
	#pragma omp simd
	for (size_t i = 0; i < n; i++)
		dst[i] = scale * (float)src[i];
}
