/* matvec.c: y = W x for one activation vector, reading quantized weight blocks directly (decode).
 *
 * Each weight row is dotted with x block by block: the block's integers are
 * converted and multiplied with x in registers, and the block scale applied
 * once per block (or per sub-block for the K-quants), so no row is ever
 * dequantized into memory and x stays in float32 (no activation quantization:
 * the result equals rag_matmul's up to summation order).  Types without a
 * direct dot product fall back to dequantizing one row at a time. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#if defined(__F16C__) && defined(__FMA__) && defined(__AVX2__)
#include <immintrin.h>
#define HAVE_F16C_FMA 1
#elif defined(__F16C__)
#include <immintrin.h>
#endif

#include "kernels.h"
#include "qbits.h"

#ifdef HAVE_F16C_FMA
static inline float hsum256(__m256 a)
{
	__m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
	h = _mm_add_ps(h, _mm_movehl_ps(h, h));
	h = _mm_add_ss(h, _mm_movehdup_ps(h));
	return _mm_cvtss_f32(h);
}

/* 8 int8 at q, widened to float. */
static inline __m256 i8x8(const int8_t *q)
{
	return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)q)));
}

/* sum_i v[i] * x[i] for 32 int8 values in v, as 8 partial sums. */
static inline __m256 dot_i8x32(__m256i v, const float *x, __m256 acc)
{
	__m128i lo = _mm256_castsi256_si128(v), hi = _mm256_extracti128_si256(v, 1);
	acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), _mm256_loadu_ps(x), acc);
	acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))),
			      _mm256_loadu_ps(x + 8), acc);
	acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), _mm256_loadu_ps(x + 16), acc);
	acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))),
			      _mm256_loadu_ps(x + 24), acc);
	return acc;
}

#endif

static float dot_f32(const void *w, const float *x, int64_t k)
{
	const float *r = w;
	float s = 0.0f;
	#pragma omp simd reduction(+:s)
	for (int64_t i = 0; i < k; i++)
		s += r[i] * x[i];
	return s;
}

static float dot_f16(const void *w, const float *x, int64_t k)
{
	const uint16_t *r = w;
	int64_t i = 0;
	float s = 0.0f;
#if defined(__AVX512F__)
	__m512 z0 = _mm512_setzero_ps(), z1 = _mm512_setzero_ps();
	for (; i + 32 <= k; i += 32) {
		/* prefetch: see kernels/cpu/qdot.c (DRAM reads overlap the work) */
		_mm_prefetch((const char *)(r + i) + 4096, _MM_HINT_T0);
		__m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(r + i)));
		__m512 w1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(r + i + 16)));
		z0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + i), z0);
		z1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + i + 16), z1);
	}
	s = _mm512_reduce_add_ps(_mm512_add_ps(z0, z1));
#endif
#ifdef HAVE_F16C_FMA
	__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
	for (; i + 16 <= k; i += 16) {
		__m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r + i)));
		__m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r + i + 8)));
		a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), a0);
		a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), a1);
	}
	a0 = _mm256_add_ps(a0, a1);
	{
		__m128 h = _mm_add_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
		h = _mm_add_ps(h, _mm_movehl_ps(h, h));
		h = _mm_add_ss(h, _mm_movehdup_ps(h));
		s += _mm_cvtss_f32(h);
	}
#endif
	for (; i < k; i++)
		s += rag_f16_to_f32(r[i]) * x[i];
	return s;
}

static float dot_bf16(const void *w, const float *x, int64_t k)
{
	const uint16_t *r = w;
	float s = 0.0f;
	int64_t i0 = 0;
#ifdef HAVE_F16C_FMA
	__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
	for (; i0 + 16 <= k; i0 += 16) {
		__m256i u0 = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(r + i0)));
		__m256i u1 = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(r + i0 + 8)));
		a0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(u0, 16)), _mm256_loadu_ps(x + i0), a0);
		a1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(u1, 16)), _mm256_loadu_ps(x + i0 + 8), a1);
	}
	s = hsum256(_mm256_add_ps(a0, a1));
#endif
	#pragma omp simd reduction(+:s)
	for (int64_t i = i0; i < k; i++) {
		union { uint32_t u; float f; } c = { .u = (uint32_t)r[i] << 16 };
		s += c.f * x[i];
	}
	return s;
}

/* Q8_0: 34-byte blocks of an f16 scale and 32 int8. */
static float dot_q8_0(const void *w, const float *x, int64_t k)
{
	const uint8_t *b = w;
	float s = 0.0f;
#ifdef HAVE_F16C_FMA
	__m256 acc = _mm256_setzero_ps();
	for (int64_t j = 0; j < k; j += 32, b += 34) {
		const int8_t *q = (const int8_t *)(b + 2);
		const float *xb = x + j;
		__m256 a = _mm256_mul_ps(i8x8(q), _mm256_loadu_ps(xb));
		a = _mm256_fmadd_ps(i8x8(q + 8), _mm256_loadu_ps(xb + 8), a);
		a = _mm256_fmadd_ps(i8x8(q + 16), _mm256_loadu_ps(xb + 16), a);
		a = _mm256_fmadd_ps(i8x8(q + 24), _mm256_loadu_ps(xb + 24), a);
		acc = _mm256_fmadd_ps(_mm256_set1_ps(half_at(b)), a, acc);
	}
	return hsum256(acc);
#endif
	for (int64_t j = 0; j < k; j += 32, b += 34) {
		const int8_t *q = (const int8_t *)(b + 2);
		float a = 0.0f;
		#pragma omp simd reduction(+:a)
		for (int i = 0; i < 32; i++)
			a += (float)q[i] * x[j + i];
		s += half_at(b) * a;
	}
	return s;
}

/* Q4_0: 18-byte blocks of an f16 scale and 32 nibbles (low nibbles first), value q-8. */
static float dot_q4_0(const void *w, const float *x, int64_t k)
{
	const uint8_t *b = w;
	float s = 0.0f;
#ifdef HAVE_F16C_FMA
	__m256 acc = _mm256_setzero_ps();
	for (int64_t j = 0; j < k; j += 32, b += 18) {
		__m256i v = _mm256_sub_epi8(nibbles32(b + 2), _mm256_set1_epi8(8));
		__m256 a = dot_i8x32(v, x + j, _mm256_setzero_ps());
		acc = _mm256_fmadd_ps(_mm256_set1_ps(half_at(b)), a, acc);
	}
	return hsum256(acc);
#endif
	for (int64_t j = 0; j < k; j += 32, b += 18) {
		const uint8_t *q = b + 2;
		float a = 0.0f;
		#pragma omp simd reduction(+:a)
		for (int i = 0; i < 16; i++)
			a += (float)((q[i] & 0xF) - 8) * x[j + i] + (float)((q[i] >> 4) - 8) * x[j + i + 16];
		s += half_at(b) * a;
	}
	return s;
}

/* Q5_0: 22-byte blocks: f16 scale, 32 high bits (little-endian), 16 bytes of
 * nibbles; value ((nibble | high << 4) - 16). */
static float dot_q5_0(const void *w, const float *x, int64_t k)
{
	const uint8_t *b = w;
	float s = 0.0f;
#ifdef HAVE_F16C_FMA
	__m256 acc = _mm256_setzero_ps();
	for (int64_t j = 0; j < k; j += 32, b += 22) {
		uint32_t qh = (uint32_t)b[2] | (uint32_t)b[3] << 8 | (uint32_t)b[4] << 16 |
			      (uint32_t)b[5] << 24;
		__m256i hb = _mm256_and_si256(bits32(qh), _mm256_set1_epi8(0x10));
		__m256i v = _mm256_sub_epi8(_mm256_or_si256(nibbles32(b + 6), hb), _mm256_set1_epi8(16));
		__m256 a = dot_i8x32(v, x + j, _mm256_setzero_ps());
		acc = _mm256_fmadd_ps(_mm256_set1_ps(half_at(b)), a, acc);
	}
	return hsum256(acc);
#endif
	for (int64_t j = 0; j < k; j += 32, b += 22) {
		uint32_t qh = (uint32_t)b[2] | (uint32_t)b[3] << 8 | (uint32_t)b[4] << 16 |
			      (uint32_t)b[5] << 24;
		const uint8_t *q = b + 6;
		float a = 0.0f;
		#pragma omp simd reduction(+:a)
		for (int i = 0; i < 16; i++) {
			int lo = (int)((q[i] & 0xF) | (((qh >> i) << 4) & 0x10)) - 16;
			int hi = (int)((q[i] >> 4) | ((qh >> (i + 12)) & 0x10)) - 16;
			a += (float)lo * x[j + i] + (float)hi * x[j + i + 16];
		}
		s += half_at(b) * a;
	}
	return s;
}

static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
	if (j < 4) {
		*d = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
		*m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
	}
}

/* Q4_K: 144-byte super-blocks of 256: d, dmin, 12 bytes of 6-bit scales/mins,
 * 128 bytes of nibbles; value = d*sc*q - dmin*m per group of 32. */
static float dot_q4_k(const void *w, const float *x, int64_t k)
{
	const uint8_t *b = w;
	float s = 0.0f;
	for (int64_t j = 0; j < k; j += 256, b += 144) {
		float d = half_at(b), dmin = half_at(b + 2);
		const uint8_t *sc = b + 4, *q = b + 16;
		const float *xb = x + j;
		for (int g = 0; g < 4; g++, q += 32, xb += 64) {
			uint8_t s1, m1, s2, m2;
			float a1 = 0.0f, a2 = 0.0f, x1 = 0.0f, x2 = 0.0f;
			scale_min_k4(2 * g, sc, &s1, &m1);
			scale_min_k4(2 * g + 1, sc, &s2, &m2);
#ifdef HAVE_F16C_FMA
			{
				__m256i b32 = _mm256_loadu_si256((const __m256i *)q), m = _mm256_set1_epi8(0x0F);
				__m256 z = _mm256_setzero_ps(), xs1, xs2;
				a1 = hsum256(dot_i8x32(_mm256_and_si256(b32, m), xb, z));
				a2 = hsum256(dot_i8x32(_mm256_and_si256(_mm256_srli_epi16(b32, 4), m), xb + 32, z));
				xs1 = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(xb), _mm256_loadu_ps(xb + 8)),
						    _mm256_add_ps(_mm256_loadu_ps(xb + 16), _mm256_loadu_ps(xb + 24)));
				xs2 = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(xb + 32), _mm256_loadu_ps(xb + 40)),
						    _mm256_add_ps(_mm256_loadu_ps(xb + 48), _mm256_loadu_ps(xb + 56)));
				x1 = hsum256(xs1);
				x2 = hsum256(xs2);
			}
#else
			#pragma omp simd reduction(+:a1, a2, x1, x2)
			for (int l = 0; l < 32; l++) {
				a1 += (float)(q[l] & 0xF) * xb[l];
				a2 += (float)(q[l] >> 4) * xb[l + 32];
				x1 += xb[l];
				x2 += xb[l + 32];
			}
#endif
			s += d * (float)s1 * a1 - dmin * (float)m1 * x1 + d * (float)s2 * a2 -
			     dmin * (float)m2 * x2;
		}
	}
	return s;
}

/* Q5_K: 176-byte super-blocks: d, dmin, scales[12], qh[32], qs[128]. */
static float dot_q5_k(const void *w, const float *x, int64_t k)
{
	const uint8_t *b = w;
	float s = 0.0f;
	for (int64_t j = 0; j < k; j += 256, b += 176) {
		float d = half_at(b), dmin = half_at(b + 2);
		const uint8_t *sc = b + 4, *qh = b + 16, *q = b + 48;
		const float *xb = x + j;
		for (int g = 0; g < 4; g++, q += 32, xb += 64) {
			uint8_t s1, m1, s2, m2;
			int u1 = 1 << (2 * g), u2 = 2 << (2 * g);
			float a1 = 0.0f, a2 = 0.0f, x1 = 0.0f, x2 = 0.0f;
			scale_min_k4(2 * g, sc, &s1, &m1);
			scale_min_k4(2 * g + 1, sc, &s2, &m2);
			#pragma omp simd reduction(+:a1, a2, x1, x2)
			for (int l = 0; l < 32; l++) {
				a1 += (float)((q[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) * xb[l];
				a2 += (float)((q[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) * xb[l + 32];
				x1 += xb[l];
				x2 += xb[l + 32];
			}
			s += d * (float)s1 * a1 - dmin * (float)m1 * x1 + d * (float)s2 * a2 -
			     dmin * (float)m2 * x2;
		}
	}
	return s;
}

/* Q6_K: 210-byte super-blocks: ql[128], qh[64], int8 scales[16], d; value
 * d*sc*(q-32) with one scale per 16 values. */
static float dot_q6_k(const void *w, const float *x, int64_t k)
{
	const uint8_t *b = w;
	float s = 0.0f;
	for (int64_t j = 0; j < k; j += 256, b += 210) {
		const uint8_t *ql = b, *qh = b + 128;
		const int8_t *sc = (const int8_t *)(b + 192);
		float d = half_at(b + 208);
		const float *xb = x + j;
		for (int n = 0; n < 2; n++, xb += 128, ql += 64, qh += 32, sc += 8) {
			for (int hh = 0; hh < 2; hh++) {
				float a1 = 0.0f, a2 = 0.0f, a3 = 0.0f, a4 = 0.0f;
				int o = 16 * hh;
				#pragma omp simd reduction(+:a1, a2, a3, a4)
				for (int l = o; l < o + 16; l++) {
					int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
					int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
					int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
					int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
					a1 += (float)q1 * xb[l];
					a2 += (float)q2 * xb[l + 32];
					a3 += (float)q3 * xb[l + 64];
					a4 += (float)q4 * xb[l + 96];
				}
				s += d * ((float)sc[hh] * a1 + (float)sc[hh + 2] * a2 +
					  (float)sc[hh + 4] * a3 + (float)sc[hh + 6] * a4);
			}
		}
	}
	return s;
}

typedef float (*dot_fn)(const void *w, const float *x, int64_t k);

static dot_fn dot_for(enum rag_dtype t)
{
	switch (t) {
	case RAG_DT_F32: return dot_f32;
	case RAG_DT_F16: return dot_f16;
	case RAG_DT_BF16: return dot_bf16;
	case RAG_DT_Q8_0: return dot_q8_0;
	case RAG_DT_Q4_0: return dot_q4_0;
	case RAG_DT_Q5_0: return dot_q5_0;
	case RAG_DT_Q4_K: return dot_q4_k;
	case RAG_DT_Q5_K: return dot_q5_k;
	case RAG_DT_Q6_K: return dot_q6_k;
	default: return NULL;
	}
}

int rag_matvec_has_direct(enum rag_dtype wtype)
{
	return dot_for(wtype) != NULL;
}

/*
 * y[n] = w[n][k] . x[k] (+ bias).  Rows packed as in GGUF; any type with a
 * dequantizer works, those with rag_matvec_has_direct without scratch.
 * Parallel over rows.  Returns 0, or -1 when scratch cannot be allocated.
 */
int rag_matvec(float *y, const float *x, const void *w, enum rag_dtype wtype, const float *bias,
	       int64_t n, int64_t k)
{
	const uint8_t *wb = w;
	size_t rb = rag_dtype_row_size((uint32_t)wtype, k);
	dot_fn dot = dot_for(wtype);
	int failed = 0;

	if (dot) {
		#pragma omp parallel for schedule(static)
		for (int64_t j = 0; j < n; j++)
			y[j] = dot(wb + (size_t)j * rb, x, k) + (bias ? bias[j] : 0.0f);
		return 0;
	}
	#pragma omp parallel
	{
		float *row = malloc((size_t)k * sizeof *row);
		if (!row) {
			#pragma omp atomic write
			failed = 1;
		}
		#pragma omp for schedule(static)
		for (int64_t j = 0; j < n; j++) {
			if (!row)
				continue;
			rag_dequant_row(wtype, wb + (size_t)j * rb, row, k);
			y[j] = dot_f32(row, x, k) + (bias ? bias[j] : 0.0f);
		}
		free(row);
	}
	return failed ? -1 : 0;
}
