/* qdot.c: decode matrix-vector products with the activation quantized to int8 (Q8_0/Q8_K blocks) and integer dot products.
 *
 * The activation vector x is quantized once per product (per 32 values for
 * Q8_0/Q4_0/Q5_0 weights, per 256 for the K-quants, as llama.cpp's Q8_0/Q8_K),
 * then each weight block is dotted with it in integers: u8 x s8 multiply-adds
 * (AVX-512 VNNI / AVX-VNNI vpdpbusd, or AVX2 vpmaddubsw) with one float
 * multiply per block (per super-block for the K-quants).  The scalar code is the
 * reference: the SIMD paths compute the same integer sums and differ from it
 * only in the order of the float accumulation. */
#include "config.h"

#include <math.h>
#include <string.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define QD_SIMD 1
#elif defined(__F16C__)
#include <immintrin.h>
#endif

#include "kernels.h"
#include "qbits.h"

/* Activation blocks (host layout, never stored). */
struct qa32 {
	float d;      /* x ~ d * q */
	int32_t sum;  /* sum of q */
	int8_t q[32];
};

struct qa256 {
	float d;
	int16_t bsum[16]; /* sums of q per 16 */
	int8_t q[256];
};

enum rag_qact rag_qact_for(enum rag_dtype wtype, int64_t k)
{
	switch (wtype) {
	case RAG_DT_Q8_0: case RAG_DT_Q4_0: case RAG_DT_Q5_0:
		return k > 0 && k % 32 == 0 ? RAG_QACT_Q8_0 : RAG_QACT_NONE;
	case RAG_DT_Q4_K: case RAG_DT_Q5_K: case RAG_DT_Q6_K:
		return k > 0 && k % 256 == 0 ? RAG_QACT_Q8_K : RAG_QACT_NONE;
	default:
		return RAG_QACT_NONE;
	}
}

size_t rag_qact_size(enum rag_qact f, int64_t k)
{
	switch (f) {
	case RAG_QACT_Q8_0: return (size_t)(k / 32) * sizeof(struct qa32);
	case RAG_QACT_Q8_K: return (size_t)(k / 256) * sizeof(struct qa256);
	default: return 0;
	}
}

/* n values of x to q with the symmetric scale amax/127; returns the scale. */
static float quant_block(const float *x, int8_t *q, int n)
{
	float amax = 0.0f, d, id;

	for (int i = 0; i < n; i++) {
		float a = fabsf(x[i]);
		amax = a > amax ? a : amax;
	}
	d = amax / 127.0f;
	id = amax > 0.0f ? 127.0f / amax : 0.0f;
	for (int i = 0; i < n; i++) {
		float v = nearbyintf(x[i] * id);
		v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
		q[i] = (int8_t)(v == v ? (int)v : 0);  /* a NaN becomes 0: no UB in the cast */
	}
	return d;
}

void rag_qact_quantize(enum rag_qact f, const float *x, int64_t k, void *xq)
{
	if (f == RAG_QACT_Q8_0) {
		struct qa32 *b = xq;
		for (int64_t j = 0; j < k / 32; j++, b++) {
			int32_t s = 0;
			b->d = quant_block(x + j * 32, b->q, 32);
			for (int i = 0; i < 32; i++)
				s += b->q[i];
			b->sum = s;
		}
	} else if (f == RAG_QACT_Q8_K) {
		struct qa256 *b = xq;
		for (int64_t j = 0; j < k / 256; j++, b++) {
			b->d = quant_block(x + j * 256, b->q, 256);
			for (int g = 0; g < 16; g++) {
				int s = 0;
				for (int i = 0; i < 16; i++)
					s += b->q[16 * g + i];
				b->bsum[g] = (int16_t)s;
			}
		}
	}
}

void rag_qact_dequantize(enum rag_qact f, const void *xq, int64_t k, float *x)
{
	if (f == RAG_QACT_Q8_0) {
		const struct qa32 *b = xq;
		for (int64_t j = 0; j < k / 32; j++, b++)
			for (int i = 0; i < 32; i++)
				x[j * 32 + i] = b->d * (float)b->q[i];
	} else if (f == RAG_QACT_Q8_K) {
		const struct qa256 *b = xq;
		for (int64_t j = 0; j < k / 256; j++, b++)
			for (int i = 0; i < 256; i++)
				x[j * 256 + i] = b->d * (float)b->q[i];
	}
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

/* ---- scalar reference ------------------------------------------------------ */

static float ref_q8_0(const uint8_t *b, const struct qa32 *x, int64_t k)
{
	float s = 0.0f;
	for (int64_t j = 0; j < k / 32; j++, b += 34, x++) {
		const int8_t *q = (const int8_t *)(b + 2);
		int32_t is = 0;
		for (int i = 0; i < 32; i++)
			is += q[i] * x->q[i];
		s += half_at(b) * x->d * (float)is;
	}
	return s;
}

static float ref_q4_0(const uint8_t *b, const struct qa32 *x, int64_t k)
{
	float s = 0.0f;
	for (int64_t j = 0; j < k / 32; j++, b += 18, x++) {
		const uint8_t *q = b + 2;
		int32_t is = 0;
		for (int i = 0; i < 16; i++)
			is += ((q[i] & 0xF) - 8) * x->q[i] + ((q[i] >> 4) - 8) * x->q[i + 16];
		s += half_at(b) * x->d * (float)is;
	}
	return s;
}

static float ref_q5_0(const uint8_t *b, const struct qa32 *x, int64_t k)
{
	float s = 0.0f;
	for (int64_t j = 0; j < k / 32; j++, b += 22, x++) {
		uint32_t qh = (uint32_t)b[2] | (uint32_t)b[3] << 8 | (uint32_t)b[4] << 16 |
			      (uint32_t)b[5] << 24;
		const uint8_t *q = b + 6;
		int32_t is = 0;
		for (int i = 0; i < 16; i++) {
			int lo = (int)((q[i] & 0xF) | (((qh >> i) << 4) & 0x10)) - 16;
			int hi = (int)((q[i] >> 4) | ((qh >> (i + 12)) & 0x10)) - 16;
			is += lo * x->q[i] + hi * x->q[i + 16];
		}
		s += half_at(b) * x->d * (float)is;
	}
	return s;
}

/* Q4_K/Q5_K: sum d*sc*q - dmin*m over groups of 32; qh NULL for Q4_K. */
static float ref_qk45(const uint8_t *b, const struct qa256 *x, int64_t k, int five)
{
	size_t bs = five ? 176 : 144;
	float s = 0.0f;
	for (int64_t j = 0; j < k / 256; j++, b += bs, x++) {
		const uint8_t *sc = b + 4, *qh = b + 16, *q = b + (five ? 48 : 16);
		int32_t is = 0, ms = 0;
		for (int g = 0; g < 4; g++, q += 32) {
			uint8_t s1, m1, s2, m2;
			int32_t a1 = 0, a2 = 0;
			scale_min_k4(2 * g, sc, &s1, &m1);
			scale_min_k4(2 * g + 1, sc, &s2, &m2);
			for (int l = 0; l < 32; l++) {
				int v1 = q[l] & 0xF, v2 = q[l] >> 4;
				if (five) {
					v1 += (qh[l] >> (2 * g) & 1) << 4;
					v2 += (qh[l] >> (2 * g + 1) & 1) << 4;
				}
				a1 += v1 * x->q[64 * g + l];
				a2 += v2 * x->q[64 * g + 32 + l];
			}
			is += s1 * a1 + s2 * a2;
			ms += m1 * (x->bsum[4 * g] + x->bsum[4 * g + 1]) +
			      m2 * (x->bsum[4 * g + 2] + x->bsum[4 * g + 3]);
		}
		s += half_at(b) * x->d * (float)is - half_at(b + 2) * x->d * (float)ms;
	}
	return s;
}

static float ref_q6_k(const uint8_t *b, const struct qa256 *x, int64_t k)
{
	float s = 0.0f;
	for (int64_t j = 0; j < k / 256; j++, b += 210, x++) {
		const uint8_t *ql = b, *qh = b + 128;
		const int8_t *sc = (const int8_t *)(b + 192);
		const int8_t *xq = x->q;
		int32_t is = 0;
		for (int n = 0; n < 2; n++, ql += 64, qh += 32, sc += 8, xq += 128) {
			int32_t a[8] = { 0 };
			for (int l = 0; l < 32; l++) {
				int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
				int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
				int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
				int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
				int h = l / 16;
				a[0 + h] += q1 * xq[l];
				a[2 + h] += q2 * xq[l + 32];
				a[4 + h] += q3 * xq[l + 64];
				a[6 + h] += q4 * xq[l + 96];
			}
			for (int i = 0; i < 8; i++)
				is += sc[i] * a[i];
		}
		s += half_at(b + 208) * x->d * (float)is;
	}
	return s;
}

float rag_qdot_ref(enum rag_dtype wtype, const void *w, const void *xq, int64_t k)
{
	switch (wtype) {
	case RAG_DT_Q8_0: return ref_q8_0(w, xq, k);
	case RAG_DT_Q4_0: return ref_q4_0(w, xq, k);
	case RAG_DT_Q5_0: return ref_q5_0(w, xq, k);
	case RAG_DT_Q4_K: return ref_qk45(w, xq, k, 0);
	case RAG_DT_Q5_K: return ref_qk45(w, xq, k, 1);
	case RAG_DT_Q6_K: return ref_q6_k(w, xq, k);
	default: return 0.0f;
	}
}

/* ---- SIMD ------------------------------------------------------------------ */
#ifdef QD_SIMD
/* Software prefetch distance in bytes of weights: the rows are one sequential
 * stream, but the hardware prefetcher alone leaves DRAM reads and the integer
 * work serialized (measured: Q5_0 5.9 -> 9.2 GB/s, Q8_0 7.7 -> 10.3 GB/s on a
 * matrix larger than the last-level cache). */
#ifndef QD_PF
#define QD_PF 4096
#endif
#define PF(p) _mm_prefetch((const char *)(p) + QD_PF, _MM_HINT_T0)
static inline float hsum256(__m256 a)
{
	__m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
	h = _mm_add_ps(h, _mm_movehl_ps(h, h));
	h = _mm_add_ss(h, _mm_movehdup_ps(h));
	return _mm_cvtss_f32(h);
}

/* sum of u[i]*s[i] over each 4 bytes (u unsigned, s signed) into 8 int32 lanes. */
static inline __m256i dot_us8(__m256i u, __m256i s)
{
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
	return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#elif defined(__AVXVNNI__)
	return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s);
#else
	return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

/* signed w (in -128..127) times signed x (in -127..127), 8 int32 partial sums. */
static inline __m256i dot_ss8(__m256i w, __m256i x)
{
	return dot_us8(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
}

static float simd_q8_0(const uint8_t *b, const struct qa32 *x, int64_t k)
{
	__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
	int64_t nb = k / 32, j = 0;
	for (; j + 2 <= nb; j += 2, b += 68, x += 2) {
		PF(b);
		PF(b + 64);
		__m256i p0 = dot_ss8(_mm256_loadu_si256((const __m256i *)(b + 2)),
				     _mm256_loadu_si256((const __m256i *)x[0].q));
		__m256i p1 = dot_ss8(_mm256_loadu_si256((const __m256i *)(b + 36)),
				     _mm256_loadu_si256((const __m256i *)x[1].q));
		a0 = _mm256_fmadd_ps(_mm256_set1_ps(half_at(b) * x[0].d), _mm256_cvtepi32_ps(p0), a0);
		a1 = _mm256_fmadd_ps(_mm256_set1_ps(half_at(b + 34) * x[1].d), _mm256_cvtepi32_ps(p1), a1);
	}
	for (; j < nb; j++, b += 34, x++) {
		__m256i p0 = dot_ss8(_mm256_loadu_si256((const __m256i *)(b + 2)),
				     _mm256_loadu_si256((const __m256i *)x->q));
		a0 = _mm256_fmadd_ps(_mm256_set1_ps(half_at(b) * x->d), _mm256_cvtepi32_ps(p0), a0);
	}
	return hsum256(_mm256_add_ps(a0, a1));
}

/* sum u[i]*s[i] + 8*init over 32 bytes into 8 int32 lanes: init folds a per-block
 * offset correction into the accumulator (u unsigned, s signed). */
static inline __m256i dot_us8_init(int32_t init, __m256i u, __m256i s)
{
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
	return _mm256_dpbusd_epi32(_mm256_set1_epi32(init), u, s);
#elif defined(__AVXVNNI__)
	return _mm256_dpbusd_avx_epi32(_mm256_set1_epi32(init), u, s);
#else
	return _mm256_add_epi32(_mm256_set1_epi32(init), dot_us8(u, s));
#endif
}

/* Q4_0: the nibbles (0..15) as unsigned bytes against x, minus 8 * sum(x) folded
 * into the accumulator's 8 lanes as -sum each. */
static float simd_q4_0(const uint8_t *b, const struct qa32 *x, int64_t k)
{
	__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
	int64_t nb = k / 32, j = 0;
	for (; j + 2 <= nb; j += 2, b += 36, x += 2) {
		PF(b);
		__m256i p0 = dot_us8_init(-x[0].sum, nibbles32(b + 2), _mm256_loadu_si256((const __m256i *)x[0].q));
		__m256i p1 = dot_us8_init(-x[1].sum, nibbles32(b + 20), _mm256_loadu_si256((const __m256i *)x[1].q));
		a0 = _mm256_fmadd_ps(_mm256_set1_ps(half_at(b) * x[0].d), _mm256_cvtepi32_ps(p0), a0);
		a1 = _mm256_fmadd_ps(_mm256_set1_ps(half_at(b + 18) * x[1].d), _mm256_cvtepi32_ps(p1), a1);
	}
	for (; j < nb; j++, b += 18, x++) {
		__m256i p = dot_us8_init(-x->sum, nibbles32(b + 2), _mm256_loadu_si256((const __m256i *)x->q));
		a0 = _mm256_fmadd_ps(_mm256_set1_ps(half_at(b) * x->d), _mm256_cvtepi32_ps(p), a0);
	}
	return hsum256(_mm256_add_ps(a0, a1));
}

/* Q5_0: nibble | high bit << 4 (0..31) unsigned, minus 16 * sum(x) folded in as
 * -2 * sum per lane. */
static inline __m256i q5_0_bytes(const uint8_t *b)
{
	uint32_t qh;
	memcpy(&qh, b + 2, 4);
	return _mm256_or_si256(nibbles32(b + 6), _mm256_and_si256(bits32(qh), _mm256_set1_epi8(0x10)));
}

static float simd_q5_0(const uint8_t *b, const struct qa32 *x, int64_t k)
{
	__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
	int64_t nb = k / 32, j = 0;
	for (; j + 2 <= nb; j += 2, b += 44, x += 2) {
		PF(b);
		__m256i p0 = dot_us8_init(-2 * x[0].sum, q5_0_bytes(b), _mm256_loadu_si256((const __m256i *)x[0].q));
		__m256i p1 = dot_us8_init(-2 * x[1].sum, q5_0_bytes(b + 22), _mm256_loadu_si256((const __m256i *)x[1].q));
		a0 = _mm256_fmadd_ps(_mm256_set1_ps(half_at(b) * x[0].d), _mm256_cvtepi32_ps(p0), a0);
		a1 = _mm256_fmadd_ps(_mm256_set1_ps(half_at(b + 22) * x[1].d), _mm256_cvtepi32_ps(p1), a1);
	}
	for (; j < nb; j++, b += 22, x++) {
		__m256i p = dot_us8_init(-2 * x->sum, q5_0_bytes(b), _mm256_loadu_si256((const __m256i *)x->q));
		a0 = _mm256_fmadd_ps(_mm256_set1_ps(half_at(b) * x->d), _mm256_cvtepi32_ps(p), a0);
	}
	return hsum256(_mm256_add_ps(a0, a1));
}

/* u8 (0..63) times s8 pairs into int16, then times an int16 scale per lane into int32. */
static inline __m256i mad_scaled(__m256i u, __m256i s, __m256i scale16)
{
	return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scale16);
}

static float simd_qk45(const uint8_t *b, const struct qa256 *x, int64_t k, int five)
{
	size_t bs = five ? 176 : 144;
	const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
	__m256 acc = _mm256_setzero_ps();
	float smin = 0.0f;
	for (int64_t j = 0; j < k / 256; j++, b += bs, x++) {
		const uint8_t *sc = b + 4, *q = b + (five ? 48 : 16);
		__m256i isum = _mm256_setzero_si256();
		__m256i hb = five ? _mm256_loadu_si256((const __m256i *)(b + 16)) : _mm256_setzero_si256();
		int32_t ms = 0;
		PF(b);
		PF(b + 64);
		PF(b + 128);
		for (int g = 0; g < 4; g++, q += 32) {
			uint8_t s1, m1, s2, m2;
			__m256i v = _mm256_loadu_si256((const __m256i *)q);
			__m256i lo = _mm256_and_si256(v, m4);
			__m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
			scale_min_k4(2 * g, sc, &s1, &m1);
			scale_min_k4(2 * g + 1, sc, &s2, &m2);
			if (five) {
				__m256i h1 = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * g), one);
				__m256i h2 = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * g + 1), one);
				lo = _mm256_or_si256(lo, _mm256_slli_epi16(h1, 4));
				hi = _mm256_or_si256(hi, _mm256_slli_epi16(h2, 4));
			}
			isum = _mm256_add_epi32(isum, mad_scaled(lo, _mm256_loadu_si256((const __m256i *)(x->q + 64 * g)),
								 _mm256_set1_epi16(s1)));
			isum = _mm256_add_epi32(isum, mad_scaled(hi, _mm256_loadu_si256((const __m256i *)(x->q + 64 * g + 32)),
								 _mm256_set1_epi16(s2)));
			ms += m1 * (x->bsum[4 * g] + x->bsum[4 * g + 1]) +
			      m2 * (x->bsum[4 * g + 2] + x->bsum[4 * g + 3]);
		}
		acc = _mm256_fmadd_ps(_mm256_set1_ps(half_at(b) * x->d), _mm256_cvtepi32_ps(isum), acc);
		smin += half_at(b + 2) * x->d * (float)ms;
	}
	return hsum256(acc) - smin;
}

static float simd_q6_k(const uint8_t *b, const struct qa256 *x, int64_t k)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
	__m256 acc = _mm256_setzero_ps();
	float scorr = 0.0f;
	for (int64_t j = 0; j < k / 256; j++, b += 210, x++) {
		const uint8_t *ql = b, *qh = b + 128;
		const int8_t *sc = (const int8_t *)(b + 192);
		const int8_t *xq = x->q;
		__m256i isum = _mm256_setzero_si256();
		int32_t corr = 0;
		PF(b);
		PF(b + 64);
		PF(b + 128);
		PF(b + 192);
		for (int g = 0; g < 16; g++)
			corr += sc[g] * x->bsum[g];
		for (int n = 0; n < 2; n++, ql += 64, qh += 32, sc += 8, xq += 128) {
			__m256i la = _mm256_loadu_si256((const __m256i *)ql);
			__m256i lb = _mm256_loadu_si256((const __m256i *)(ql + 32));
			__m256i h = _mm256_loadu_si256((const __m256i *)qh);
			__m256i q1 = _mm256_or_si256(_mm256_and_si256(la, m4),
						     _mm256_slli_epi16(_mm256_and_si256(h, m2), 4));
			__m256i q2 = _mm256_or_si256(_mm256_and_si256(lb, m4),
						     _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m2), 4));
			__m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(la, 4), m4),
						     _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m2), 4));
			__m256i q4 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lb, 4), m4),
						     _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m2), 4));
#define SC2(i) _mm256_set_m128i(_mm_set1_epi16(sc[(i) + 1]), _mm_set1_epi16(sc[i]))
			isum = _mm256_add_epi32(isum, mad_scaled(q1, _mm256_loadu_si256((const __m256i *)xq), SC2(0)));
			isum = _mm256_add_epi32(isum, mad_scaled(q2, _mm256_loadu_si256((const __m256i *)(xq + 32)), SC2(2)));
			isum = _mm256_add_epi32(isum, mad_scaled(q3, _mm256_loadu_si256((const __m256i *)(xq + 64)), SC2(4)));
			isum = _mm256_add_epi32(isum, mad_scaled(q4, _mm256_loadu_si256((const __m256i *)(xq + 96)), SC2(6)));
#undef SC2
		}
		{
			float dd = half_at(b + 208) * x->d;
			acc = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(isum), acc);
			scorr += dd * (float)(32 * corr);
		}
	}
	return hsum256(acc) - scorr;
}
#endif

typedef float (*qdot_fn)(const uint8_t *w, const void *xq, int64_t k);

static float d_q8_0(const uint8_t *w, const void *x, int64_t k)
{
#ifdef QD_SIMD
	return simd_q8_0(w, x, k);
#else
	return ref_q8_0(w, x, k);
#endif
}

static float d_q4_0(const uint8_t *w, const void *x, int64_t k)
{
#ifdef QD_SIMD
	return simd_q4_0(w, x, k);
#else
	return ref_q4_0(w, x, k);
#endif
}

static float d_q5_0(const uint8_t *w, const void *x, int64_t k)
{
#ifdef QD_SIMD
	return simd_q5_0(w, x, k);
#else
	return ref_q5_0(w, x, k);
#endif
}

static float d_q4_k(const uint8_t *w, const void *x, int64_t k)
{
#ifdef QD_SIMD
	return simd_qk45(w, x, k, 0);
#else
	return ref_qk45(w, x, k, 0);
#endif
}

static float d_q5_k(const uint8_t *w, const void *x, int64_t k)
{
#ifdef QD_SIMD
	return simd_qk45(w, x, k, 1);
#else
	return ref_qk45(w, x, k, 1);
#endif
}

static float d_q6_k(const uint8_t *w, const void *x, int64_t k)
{
#ifdef QD_SIMD
	return simd_q6_k(w, x, k);
#else
	return ref_q6_k(w, x, k);
#endif
}

static qdot_fn qdot_for(enum rag_dtype t)
{
	switch (t) {
	case RAG_DT_Q8_0: return d_q8_0;
	case RAG_DT_Q4_0: return d_q4_0;
	case RAG_DT_Q5_0: return d_q5_0;
	case RAG_DT_Q4_K: return d_q4_k;
	case RAG_DT_Q5_K: return d_q5_k;
	case RAG_DT_Q6_K: return d_q6_k;
	default: return NULL;
	}
}

float rag_qdot(enum rag_dtype wtype, const void *w, const void *xq, int64_t k)
{
	qdot_fn f = qdot_for(wtype);
	return f ? f(w, xq, k) : 0.0f;
}

int rag_matvec_q8(float *y, const void *xq, const void *w, enum rag_dtype wtype,
		  const float *bias, int64_t n, int64_t k)
{
	const uint8_t *wb = w;
	size_t rb = rag_dtype_row_size((uint32_t)wtype, k);
	qdot_fn dot = qdot_for(wtype);

	if (!dot || rag_qact_for(wtype, k) == RAG_QACT_NONE)
		return -1;
	#pragma omp parallel for schedule(static)
	for (int64_t j = 0; j < n; j++)
		y[j] = dot(wb + (size_t)j * rb, xq, k) + (bias ? bias[j] : 0.0f);
	return 0;
}
