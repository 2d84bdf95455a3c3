/* dtype.c: element type traits and scalar float conversions (f16, bf16). */
#include "config.h"

#include <string.h>

#include "kernels.h"

static const struct rag_dtype_info infos[RAG_DT_COUNT] = {
	[RAG_DT_F32] = { "F32", 1, 4, 1 },
	[RAG_DT_F16] = { "F16", 1, 2, 1 },
	[RAG_DT_Q4_0] = { "Q4_0", 32, 18, 1 },
	[RAG_DT_Q4_1] = { "Q4_1", 32, 20, 1 },
	[RAG_DT_Q5_0] = { "Q5_0", 32, 22, 1 },
	[RAG_DT_Q5_1] = { "Q5_1", 32, 24, 1 },
	[RAG_DT_Q8_0] = { "Q8_0", 32, 34, 1 },
	[RAG_DT_Q8_1] = { "Q8_1", 32, 36, 0 },
	[RAG_DT_Q2_K] = { "Q2_K", 256, 84, 1 },
	[RAG_DT_Q3_K] = { "Q3_K", 256, 110, 1 },
	[RAG_DT_Q4_K] = { "Q4_K", 256, 144, 1 },
	[RAG_DT_Q5_K] = { "Q5_K", 256, 176, 1 },
	[RAG_DT_Q6_K] = { "Q6_K", 256, 210, 1 },
	[RAG_DT_Q8_K] = { "Q8_K", 256, 292, 0 },
	[RAG_DT_IQ2_XXS] = { "IQ2_XXS", 256, 66, 0 },
	[RAG_DT_IQ2_XS] = { "IQ2_XS", 256, 74, 0 },
	[RAG_DT_IQ3_XXS] = { "IQ3_XXS", 256, 98, 0 },
	[RAG_DT_IQ1_S] = { "IQ1_S", 256, 50, 0 },
	[RAG_DT_IQ4_NL] = { "IQ4_NL", 32, 18, 1 },
	[RAG_DT_IQ3_S] = { "IQ3_S", 256, 110, 0 },
	[RAG_DT_IQ2_S] = { "IQ2_S", 256, 82, 0 },
	[RAG_DT_IQ4_XS] = { "IQ4_XS", 256, 136, 1 },
	[RAG_DT_I8] = { "I8", 1, 1, 0 },
	[RAG_DT_I16] = { "I16", 1, 2, 0 },
	[RAG_DT_I32] = { "I32", 1, 4, 0 },
	[RAG_DT_I64] = { "I64", 1, 8, 0 },
	[RAG_DT_F64] = { "F64", 1, 8, 0 },
	[RAG_DT_IQ1_M] = { "IQ1_M", 256, 56, 0 },
	[RAG_DT_BF16] = { "BF16", 1, 2, 1 },
	[RAG_DT_TQ1_0] = { "TQ1_0", 256, 54, 0 },
	[RAG_DT_TQ2_0] = { "TQ2_0", 256, 66, 0 },
	[RAG_DT_MXFP4] = { "MXFP4", 32, 17, 0 },
};

const struct rag_dtype_info *rag_dtype_info(uint32_t type)
{
	if (type >= RAG_DT_COUNT || !infos[type].name)
		return NULL;
	return &infos[type];
}

size_t rag_dtype_row_size(uint32_t type, int64_t n)
{
	const struct rag_dtype_info *t = rag_dtype_info(type);

	if (!t || n < 0 || n % t->block)
		return 0;
	return (size_t)(n / t->block) * t->size;
}

static uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static float bits_f32(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

float rag_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1F;
	uint32_t man = h & 0x3FF;

	if (exp == 0) {
		if (man == 0)
			return bits_f32(sign);
		/* subnormal: value = man * 2^-24, exact in float */
		return sign ? -(float)man * 0x1p-24f : (float)man * 0x1p-24f;
	}
	if (exp == 31)   /* infinity; a NaN keeps its payload and comes out quiet, as IEEE conversion (and F16C) does */
		return bits_f32(sign | 0x7F800000u | (man << 13) | (man ? 0x00400000u : 0));
	return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t rag_f32_to_f16(float f)
{
	uint32_t u = f32_bits(f);
	uint32_t sign = (u >> 16) & 0x8000;
	uint32_t a = u & 0x7FFFFFFFu;

	if (a >= 0x7F800000u)  /* inf or nan */
		return (uint16_t)(sign | 0x7C00 | (a > 0x7F800000u ? 0x200 | ((a >> 13) & 0x3FF) : 0));
	if (a >= 0x477FF000u)  /* rounds to >= 65520: overflow to inf */
		return (uint16_t)(sign | 0x7C00);
	if (a < 0x38800000u) {  /* below the smallest normal half: subnormal or zero */
		/* add 0.5 (as float) to align the mantissa, the FPU rounds to nearest even */
		float t = bits_f32(a) + 0.5f;
		return (uint16_t)(sign | (f32_bits(t) - 0x3F000000u));
	}
	{
		uint32_t mant_odd = (a >> 13) & 1;
		a += 0xC8000FFFu + mant_odd;  /* rebias exponent (-112 << 23) and round */
		return (uint16_t)(sign | (a >> 13));
	}
}

float rag_bf16_to_f32(uint16_t h)
{
	return bits_f32((uint32_t)h << 16);
}

uint16_t rag_f32_to_bf16(float f)
{
	uint32_t u = f32_bits(f);

	if ((u & 0x7FFFFFFFu) > 0x7F800000u)
		return (uint16_t)((u >> 16) | 0x40);
	u += 0x7FFF + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}
