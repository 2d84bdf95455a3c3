/* qbits.h: reading quantized GGUF blocks, shared by the float (matvec.c)
 * and the int8 (qdot.c) matrix-vector kernels: the blocks' half-precision
 * scales, and with AVX2 the unpacking of 4- and 5-bit values. */
#ifndef RAG_KERNELS_QBITS_H
#define RAG_KERNELS_QBITS_H

#include <stdint.h>
#if defined(__F16C__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "kernels.h"

/* The little-endian half at p (a block's scale) as a float. */
static inline float half_at(const uint8_t *p)
{
#ifdef __F16C__
	return _cvtsh_ss((unsigned short)(p[0] | (p[1] << 8)));
#else
	return rag_f16_to_f32((uint16_t)(p[0] | (p[1] << 8)));
#endif
}

#ifdef __AVX2__
/* 16 bytes of nibbles as 32 values: low nibbles first, then high nibbles. */
static inline __m256i nibbles32(const uint8_t *q)
{
	__m128i b = _mm_loadu_si128((const __m128i *)q), m = _mm_set1_epi8(0x0F);
	return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

/* 0xFF in byte i where bit i of x is set. */
static inline __m256i bits32(uint32_t x)
{
	const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
					       0x0101010101010101, 0x0000000000000000);
	__m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), shuf);
	bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
	return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
}
#endif

#endif
