/* dequant.cu: GPU twin of kernels/cpu/dequant.c.  One thread per output element
 * for the 32-element block types and one warp-sized group per 32 elements of the
 * K-quant super-blocks; every product and difference uses the _rn intrinsics so
 * nvcc cannot fuse them, which keeps the results bit-identical to the CPU. */
#include <stdint.h>

#include <cuda_fp16.h>

#include "common.cuh"

__device__ static float half_at(const uint8_t *p)
{
	uint32_t h = (uint32_t)(p[0] | (p[1] << 8));
	/* infinities and NaNs bit by bit: sign and payload kept, a NaN made quiet,
	 * as rag_f16_to_f32 and F16C do (__half2float returns one canonical NaN) */
	if ((h & 0x7C00u) == 0x7C00u)
		return __uint_as_float(((h & 0x8000u) << 16) | 0x7F800000u | ((h & 0x3FFu) << 13) |
				       ((h & 0x3FFu) ? 0x00400000u : 0u));
	return __half2float(__ushort_as_half((unsigned short)h));
}

__device__ static const int8_t iq4nl_values[16] = {
	-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
};

__device__ static void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
	if (j < 4) {
		*d = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
		*m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
	}
}

/* Element i of a row of type t starting at b. */
__device__ static float dequant_one(int t, const uint8_t *b, int64_t i)
{
	switch (t) {
	case RAG_DT_F32: { float f; memcpy(&f, b + 4 * i, 4); return f; }
	case RAG_DT_F16: return half_at(b + 2 * i);
	case RAG_DT_BF16: return __uint_as_float((uint32_t)(b[2 * i] | (b[2 * i + 1] << 8)) << 16);
	case RAG_DT_Q8_0: {
		const uint8_t *blk = b + (i / 32) * 34;
		return __fmul_rn(half_at(blk), (float)(int8_t)blk[2 + i % 32]);
	}
	case RAG_DT_Q4_0: case RAG_DT_Q4_1: case RAG_DT_IQ4_NL: {
		int bs = t == RAG_DT_Q4_1 ? 20 : 18, j = (int)(i % 32);
		const uint8_t *blk = b + (i / 32) * bs, *q = blk + (t == RAG_DT_Q4_1 ? 4 : 2);
		int v = j < 16 ? (q[j] & 0xF) : (q[j - 16] >> 4);
		float d = half_at(blk);
		if (t == RAG_DT_Q4_0)
			return __fmul_rn(d, (float)(v - 8));
		if (t == RAG_DT_IQ4_NL)
			return __fmul_rn(d, (float)iq4nl_values[v]);
		return __fadd_rn(__fmul_rn(d, (float)v), half_at(blk + 2));
	}
	case RAG_DT_Q5_0: case RAG_DT_Q5_1: {
		int bs = t == RAG_DT_Q5_1 ? 24 : 22, j = (int)(i % 32), off = t == RAG_DT_Q5_1 ? 4 : 2;
		const uint8_t *blk = b + (i / 32) * bs;
		uint32_t qh = (uint32_t)blk[off] | ((uint32_t)blk[off + 1] << 8) |
			      ((uint32_t)blk[off + 2] << 16) | ((uint32_t)blk[off + 3] << 24);
		const uint8_t *q = blk + off + 4;
		int v = j < 16 ? (q[j] & 0xF) : (q[j - 16] >> 4);
		v |= (int)((qh >> j) & 1) << 4;
		if (t == RAG_DT_Q5_0)
			return __fmul_rn(half_at(blk), (float)(v - 16));
		return __fadd_rn(__fmul_rn(half_at(blk), (float)v), half_at(blk + 2));
	}
	case RAG_DT_Q2_K: {
		const uint8_t *blk = b + (i / 256) * 84;
		int e = (int)(i % 256), n = e / 128, r = e % 128, shift = (r / 32) * 2, l = r % 32;
		uint8_t s = blk[e / 16];
		float dl = __fmul_rn(half_at(blk + 80), (float)(s & 0xF));
		float ml = __fmul_rn(half_at(blk + 82), (float)(s >> 4));
		int q = (blk[16 + n * 32 + l] >> shift) & 3;
		return __fsub_rn(__fmul_rn(dl, (float)q), ml);
	}
	case RAG_DT_Q3_K: {
		const uint8_t *blk = b + (i / 256) * 110, *sc = blk + 96;
		int e = (int)(i % 256), n = e / 128, r = e % 128, shift = (r / 32) * 2, l = r % 32;
		int is = e / 16, sv;
		/* 6-bit scale is: low 4 bits from sc[is % 8] (nibble is / 8), high 2 from sc[8 + is % 4] */
		int lo = is < 8 ? (sc[is] & 0xF) : (sc[is - 8] >> 4);
		int hi = (sc[8 + (is % 4)] >> (2 * (is / 4))) & 3;
		sv = (lo | (hi << 4)) - 32;
		int m = 1 << (n * 4 + r / 32);
		int v = ((blk[32 + n * 32 + l] >> shift) & 3) - ((blk[l] & m) ? 0 : 4);
		return __fmul_rn(__fmul_rn(half_at(blk + 108), (float)sv), (float)v);
	}
	case RAG_DT_Q4_K: case RAG_DT_Q5_K: {
		int bs = t == RAG_DT_Q4_K ? 144 : 176;
		const uint8_t *blk = b + (i / 256) * bs;
		int e = (int)(i % 256), g = e / 64, hi = (e % 64) / 32, l = e % 32;
		uint8_t s, m;
		scale_min_k4(2 * g + hi, blk + 4, &s, &m);
		float d1 = __fmul_rn(half_at(blk), (float)s), m1 = __fmul_rn(half_at(blk + 2), (float)m);
		const uint8_t *ql = blk + (t == RAG_DT_Q4_K ? 16 : 48) + g * 32;
		int q = hi ? (ql[l] >> 4) : (ql[l] & 0xF);
		if (t == RAG_DT_Q5_K)
			q += (blk[16 + l] >> (2 * g + hi)) & 1 ? 16 : 0;
		return __fsub_rn(__fmul_rn(d1, (float)q), m1);
	}
	case RAG_DT_Q6_K: {
		const uint8_t *blk = b + (i / 256) * 210;
		int e = (int)(i % 256), n = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
		const uint8_t *ql = blk + n * 64, *qh = blk + 128 + n * 32;
		const int8_t *sc = (const int8_t *)(blk + 192 + n * 8);
		int lowq = quarter & 1 ? ql[l + 32] : ql[l];
		lowq = quarter >= 2 ? lowq >> 4 : lowq & 0xF;
		int q = (lowq | (((qh[l] >> (2 * quarter)) & 3) << 4)) - 32;
		return __fmul_rn(__fmul_rn(half_at(blk + 208), (float)sc[l / 16 + 2 * quarter]), (float)q);
	}
	case RAG_DT_IQ4_XS: {
		const uint8_t *blk = b + (i / 256) * 136;
		int e = (int)(i % 256), ib = e / 32, j = e % 32;
		uint16_t sh = (uint16_t)(blk[2] | (blk[3] << 8));
		int ls = ((blk[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) | (((sh >> (2 * ib)) & 3) << 4);
		const uint8_t *q = blk + 8 + ib * 16;
		int v = j < 16 ? (q[j] & 0xF) : (q[j - 16] >> 4);
		return __fmul_rn(__fmul_rn(half_at(blk), (float)(ls - 32)), (float)iq4nl_values[v]);
	}
	}
	return 0.0f;
}

__global__ static void dequant_kernel(int t, const uint8_t *src, size_t row_bytes, int64_t k,
				      float *dst, int64_t total)
{
	int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;

	if (idx >= total)
		return;
	dst[idx] = dequant_one(t, src + (size_t)(idx / k) * row_bytes, idx % k);
}

/*
 * Dequantize rows x k elements (rows packed, k a multiple of the block) from
 * device memory src to device memory dst on the given stream (NULL: default).
 * Returns 0, or -1 with rag_cuda_last_error() set.
 */
extern "C" int rag_cuda_dequant(enum rag_dtype t, const void *src, float *dst, int64_t rows, int64_t k,
				void *stream)
{
	int64_t total = rows * k;
	size_t rb = rag_dtype_row_size((uint32_t)t, k);
	const int threads = 256;

	if (total <= 0)
		return 0;
	dequant_kernel<<<(unsigned)((total + threads - 1) / threads), threads, 0, (cudaStream_t)stream>>>(
		(int)t, (const uint8_t *)src, rb, k, dst, total);
	RAG_CUDA_TRY(cudaGetLastError());
	return 0;
}

/* Embedding gather (twin of rag_embed_rows): element i of row r comes from
 * element i of table row ids[r], dequantized by dequant_one, added with
 * __fadd_rn when accumulating so the result is bit-identical to the CPU. */
__global__ static void embed_kernel(float *y, int t, const uint8_t *table, size_t row_bytes, int64_t dim,
				    const int32_t *ids, int64_t total, int accumulate)
{
	for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
	     idx += (int64_t)gridDim.x * blockDim.x) {
		int64_t r = idx / dim, i = idx % dim;
		float v = dequant_one(t, table + (size_t)ids[r] * row_bytes, i);
		y[idx] = accumulate ? __fadd_rn(y[idx], v) : v;
	}
}

extern "C" int rag_cuda_embed_rows(float *dy, const void *dtable, enum rag_dtype ttype, int64_t dim,
				   const int32_t *dids, int64_t n, int accumulate, void *stream)
{
	int64_t total = n * dim, blocks = (total + 255) / 256;
	size_t rb = rag_dtype_row_size((uint32_t)ttype, dim);

	if (total <= 0)
		return 0;
	if (!rb) {
		rag_cuda_set_error("rag_dtype_row_size(ttype, dim)", __FILE__, __LINE__, "bad type or dimension");
		return -1;
	}
	embed_kernel<<<(unsigned)(blocks > 262140 ? 262140 : blocks), 256, 0, (cudaStream_t)stream>>>(
		dy, (int)ttype, (const uint8_t *)dtable, rb, dim, dids, total, accumulate);
	RAG_CUDA_TRY(cudaGetLastError());
	return 0;
}
