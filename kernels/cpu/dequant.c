/* dequant.c: GGUF block formats to float32.  Layouts as in ggml (little-endian,
 * packed); each formula is the one gguf-py uses, evaluated in float32 in the
 * same order so the results are bit-identical. */
#include "config.h"

#include <assert.h>
#include <string.h>

#include "kernels.h"
#include "qbits.h"
#ifdef __F16C__
#include <immintrin.h>
#endif

/* Q8_0: d (f16), 32 x int8.  x = d * q */
static void dq_q8_0(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += 34, y += 32) {
		float d = half_at(b);
		const int8_t *q = (const int8_t *)(b + 2);
		for (int j = 0; j < 32; j++)
			y[j] = d * (float)q[j];
	}
}

/* Q4_0: d, 16 bytes of nibbles (low nibbles = elements 0..15).  x = d * (q - 8) */
static void dq_q4_0(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += 18, y += 32) {
		float d = half_at(b);
		const uint8_t *q = b + 2;
		for (int j = 0; j < 16; j++) {
			y[j] = d * (float)((q[j] & 0xF) - 8);
			y[j + 16] = d * (float)((q[j] >> 4) - 8);
		}
	}
}

/* Q4_1: d, m, nibbles.  x = d * q + m */
static void dq_q4_1(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += 20, y += 32) {
		float d = half_at(b), m = half_at(b + 2);
		const uint8_t *q = b + 4;
		for (int j = 0; j < 16; j++) {
			y[j] = d * (float)(q[j] & 0xF) + m;
			y[j + 16] = d * (float)(q[j] >> 4) + m;
		}
	}
}

/* Q5_0: d, 32 high bits (u32), nibbles.  x = d * (q5 - 16) */
static void dq_q5_0(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += 22, y += 32) {
		float d = half_at(b);
		uint32_t qh = (uint32_t)b[2] | ((uint32_t)b[3] << 8) | ((uint32_t)b[4] << 16) | ((uint32_t)b[5] << 24);
		const uint8_t *q = b + 6;
		for (int j = 0; j < 16; j++) {
			int h0 = (int)((qh >> j) & 1) << 4;
			int h1 = (int)((qh >> (j + 16)) & 1) << 4;
			y[j] = d * (float)(((q[j] & 0xF) | h0) - 16);
			y[j + 16] = d * (float)(((q[j] >> 4) | h1) - 16);
		}
	}
}

/* Q5_1: d, m, high bits, nibbles.  x = d * q5 + m */
static void dq_q5_1(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += 24, y += 32) {
		float d = half_at(b), m = half_at(b + 2);
		uint32_t qh = (uint32_t)b[4] | ((uint32_t)b[5] << 8) | ((uint32_t)b[6] << 16) | ((uint32_t)b[7] << 24);
		const uint8_t *q = b + 8;
		for (int j = 0; j < 16; j++) {
			int h0 = (int)((qh >> j) & 1) << 4;
			int h1 = (int)((qh >> (j + 16)) & 1) << 4;
			y[j] = d * (float)((q[j] & 0xF) | h0) + m;
			y[j + 16] = d * (float)((q[j] >> 4) | h1) + m;
		}
	}
}

static const int8_t iq4nl_values[16] = {
	-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
};

/* IQ4_NL: d, nibbles indexing a non-linear table.  x = d * table[q] */
static void dq_iq4_nl(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += 18, y += 32) {
		float d = half_at(b);
		const uint8_t *q = b + 2;
		for (int j = 0; j < 16; j++) {
			y[j] = d * (float)iq4nl_values[q[j] & 0xF];
			y[j + 16] = d * (float)iq4nl_values[q[j] >> 4];
		}
	}
}

/* IQ4_XS: d, scales_h (u16), scales_l[4], 128 bytes of nibbles; 8 sub-blocks of 32
 * with 6-bit scales.  x = d * (scale - 32) * table[q] */
static void dq_iq4_xs(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += 136) {
		float d = half_at(b);
		uint16_t sh = (uint16_t)(b[2] | (b[3] << 8));
		const uint8_t *sl = b + 4, *q = b + 8;
		for (int ib = 0; ib < 8; ib++, q += 16, y += 32) {
			int ls = ((sl[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((sh >> (2 * ib)) & 3) << 4);
			float dl = d * (float)(ls - 32);
			for (int j = 0; j < 16; j++) {
				y[j] = dl * (float)iq4nl_values[q[j] & 0xF];
				y[j + 16] = dl * (float)iq4nl_values[q[j] >> 4];
			}
		}
	}
}

/* Q2_K: scales[16] (4-bit scale | 4-bit min), qs[64] (2-bit), d, dmin.
 * 16 groups of 16: x = d*sc * q - dmin*m */
static void dq_q2_k(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += 84) {
		const uint8_t *sc = b, *q = b + 16;
		float d = half_at(b + 80), dmin = half_at(b + 82);
		int is = 0;
		for (int n = 0; n < 256; n += 128, q += 32) {
			for (int shift = 0; shift < 8; shift += 2) {
				for (int half_ = 0; half_ < 2; half_++) {
					uint8_t s = sc[is++];
					float dl = d * (float)(s & 0xF), ml = dmin * (float)(s >> 4);
					for (int l = 0; l < 16; l++)
						*y++ = dl * (float)((q[l + 16 * half_] >> shift) & 3) - ml;
				}
			}
		}
	}
}

/* Q3_K: hmask[32], qs[64] (low 2 bits), scales[12] (16 x 6-bit), d.
 * x = d * (scale - 32) * (q - (hbit ? 0 : 4)) */
static void dq_q3_k(const uint8_t *b, float *y, int64_t nb)
{
	const uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;

	for (int64_t i = 0; i < nb; i++, b += 110) {
		const uint8_t *hm = b, *q = b + 32;
		float d = half_at(b + 108);
		uint32_t aux[4], tmp;
		int8_t scales[16];
		uint8_t m = 1;
		int is = 0;

		memcpy(aux, b + 96, 12);
		tmp = aux[2];
		aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
		aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
		aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
		aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
		memcpy(scales, aux, 16);
		for (int n = 0; n < 256; n += 128, q += 32) {
			for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
				for (int half_ = 0; half_ < 2; half_++) {
					float dl = d * (float)(scales[is++] - 32);
					for (int l = 0; l < 16; l++) {
						int k = l + 16 * half_;
						int v = ((q[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4);
						*y++ = dl * (float)v;
					}
				}
			}
		}
	}
}

/* 6-bit scale and min j of the 12-byte K-quant scale block. */
static void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
	if (j < 4) {
		*d = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
		*m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
	}
}

/* Q4_K: d, dmin, scales[12], qs[128]; 8 groups of 32: x = d*sc * q - dmin*m */
static void dq_q4_k(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += 144) {
		float d = half_at(b), dmin = half_at(b + 2);
		const uint8_t *sc = b + 4, *q = b + 16;
		for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
			uint8_t s, m;
			float d1, m1, d2, m2;
			scale_min_k4(is, sc, &s, &m);
			d1 = d * (float)s;
			m1 = dmin * (float)m;
			scale_min_k4(is + 1, sc, &s, &m);
			d2 = d * (float)s;
			m2 = dmin * (float)m;
			for (int l = 0; l < 32; l++)
				*y++ = d1 * (float)(q[l] & 0xF) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * (float)(q[l] >> 4) - m2;
		}
	}
}

/* Q5_K: d, dmin, scales[12], qh[32], qs[128].  x = d*sc * (q + 16*hbit) - dmin*m */
static void dq_q5_k(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += 176) {
		float d = half_at(b), dmin = half_at(b + 2);
		const uint8_t *sc = b + 4, *qh = b + 16, *ql = b + 48;
		uint8_t u1 = 1, u2 = 2;
		for (int j = 0, is = 0; j < 256; j += 64, is += 2, ql += 32) {
			uint8_t s, m;
			float d1, m1, d2, m2;
			scale_min_k4(is, sc, &s, &m);
			d1 = d * (float)s;
			m1 = dmin * (float)m;
			scale_min_k4(is + 1, sc, &s, &m);
			d2 = d * (float)s;
			m2 = dmin * (float)m;
			for (int l = 0; l < 32; l++)
				*y++ = d1 * (float)((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * (float)((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
			u1 <<= 2;
			u2 <<= 2;
		}
	}
}

/* Q6_K: ql[128], qh[64], scales[16] (int8), d.  x = d * sc * (q6 - 32) */
static void dq_q6_k(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += 210) {
		const uint8_t *ql = b, *qh = b + 128;
		const int8_t *sc = (const int8_t *)(b + 192);
		float d = half_at(b + 208);
		for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
			for (int l = 0; l < 32; l++) {
				int is = l / 16;
				int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
				int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
				int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
				int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
				y[l] = d * (float)sc[is + 0] * (float)q1;
				y[l + 32] = d * (float)sc[is + 2] * (float)q2;
				y[l + 64] = d * (float)sc[is + 4] * (float)q3;
				y[l + 96] = d * (float)sc[is + 6] * (float)q4;
			}
		}
	}
}

void rag_dequant_row(enum rag_dtype type, const void *src, float *dst, int64_t n)
{
	const uint8_t *b = src;
	const struct rag_dtype_info *t = rag_dtype_info(type);

	assert(t && t->dequant && n % t->block == 0);
	switch (type) {
	case RAG_DT_F32:
		memcpy(dst, src, (size_t)n * 4);
		break;
	case RAG_DT_F16: {
		int64_t i = 0;
#ifdef __F16C__
		/* the hardware conversion is exact, 8 at a time (prefill dequantizes whole matrices) */
		for (; i + 8 <= n; i += 8)
			_mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + 2 * i))));
#endif
		for (; i < n; i++)
			dst[i] = half_at(b + 2 * i);
		break;
	}
	case RAG_DT_BF16:
		for (int64_t i = 0; i < n; i++)
			dst[i] = rag_bf16_to_f32((uint16_t)(b[2 * i] | (b[2 * i + 1] << 8)));
		break;
	case RAG_DT_Q8_0: dq_q8_0(b, dst, n / 32); break;
	case RAG_DT_Q4_0: dq_q4_0(b, dst, n / 32); break;
	case RAG_DT_Q4_1: dq_q4_1(b, dst, n / 32); break;
	case RAG_DT_Q5_0: dq_q5_0(b, dst, n / 32); break;
	case RAG_DT_Q5_1: dq_q5_1(b, dst, n / 32); break;
	case RAG_DT_IQ4_NL: dq_iq4_nl(b, dst, n / 32); break;
	case RAG_DT_IQ4_XS: dq_iq4_xs(b, dst, n / 256); break;
	case RAG_DT_Q2_K: dq_q2_k(b, dst, n / 256); break;
	case RAG_DT_Q3_K: dq_q3_k(b, dst, n / 256); break;
	case RAG_DT_Q4_K: dq_q4_k(b, dst, n / 256); break;
	case RAG_DT_Q5_K: dq_q5_k(b, dst, n / 256); break;
	case RAG_DT_Q6_K: dq_q6_k(b, dst, n / 256); break;
	default:
		assert(!"dequant: unsupported type");
	}
}
