/* matvec.cu: GPU twin of kernels/cpu/matvec.c: y = W x for one float32
 * activation vector, reading the stored weight blocks directly (decode).
 *
 * W warps per weight row (4 / W rows per block of 4 warps: W = 1 for short
 * rows, 4 for long rows or few of them, so that enough loads are in flight).
 * The nt = 32 W threads of a row walk it together so that each load
 * instruction of a warp covers a contiguous stretch of the row: F16/BF16
 * rows 16 bytes per thread, 32-element blocks (Q8_0, Q4_0, Q5_0) four threads
 * per block, K-quant super-blocks (Q4_K, Q6_K) one warp per super-block.  Block scales are applied
 * once per (sub-)block to the lane's integer-times-x partial sum; partial
 * sums meet by shuffles.  x (float32) is read through the read-only cache,
 * where all rows share it. */
#include <stdint.h>
#include <string.h>

#include <cuda_fp16.h>

#include "common.cuh"

#define MV_WARPS 4

__device__ static inline float mv_half(const uint8_t *p)
{
	return __half2float(__ushort_as_half(*(const unsigned short *)p));
}

__device__ static inline uint32_t mv_u32_2(const uint8_t *p)  /* 4 bytes at a 2-aligned address */
{
	const unsigned short *s = (const unsigned short *)p;
	return (uint32_t)s[0] | ((uint32_t)s[1] << 16);
}

/* Four activations x[i..i+3] (i a multiple of 4): one 16-byte load when x is
 * 16-byte aligned, else four; the values, and so the sums, are the same either
 * way.  One load instead of four per weight word is what keeps a row's weight
 * loads from queueing behind the activations'. */
__device__ static inline float4 ldx4(const float *__restrict__ x, int64_t i)
{
	if (((uintptr_t)x & 15) == 0)
		return __ldg((const float4 *)(x + i));
	return make_float4(__ldg(x + i), __ldg(x + i + 1), __ldg(x + i + 2), __ldg(x + i + 3));
}

__device__ static inline float f4at(float4 v, int j) { return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w; }

/* ---- per-type partials: thread t's share (of nt) of row . x ------------- */

__device__ static float mv_f32(const uint8_t *row, const float *__restrict__ x, int64_t k, int t, int nt)
{
	const float *r = (const float *)row;
	float s = 0.0f;
	if ((k & 3) == 0) {
		#pragma unroll 4
		for (int64_t i = (int64_t)t * 4; i < k; i += 4 * nt) {
			float4 w = *(const float4 *)(r + i);
			float4 xv = ldx4(x, i);
			s = fmaf(w.x, xv.x, s);
			s = fmaf(w.y, xv.y, s);
			s = fmaf(w.z, xv.z, s);
			s = fmaf(w.w, xv.w, s);
		}
	} else {
		for (int64_t i = t; i < k; i += nt)
			s = fmaf(r[i], __ldg(x + i), s);
	}
	return s;
}

template <int BF16>
__device__ static inline float mv_h2f(unsigned short h)
{
	return BF16 ? __uint_as_float((uint32_t)h << 16) : __half2float(__ushort_as_half(h));
}

/* F16 and BF16: 8 elements (one 16-byte load) per thread and step when rows allow it. */
template <int BF16>
__device__ static float mv_16(const uint8_t *row, const float *__restrict__ x, int64_t k, int t, int nt)
{
	const unsigned short *r = (const unsigned short *)row;
	float s = 0.0f;
	if ((k & 7) == 0) {
		#pragma unroll 4
		for (int64_t i = (int64_t)t * 8; i < k; i += 8 * nt) {
			uint4 w = *(const uint4 *)(r + i);
			uint32_t u[4] = { w.x, w.y, w.z, w.w };
			float4 xv[2] = { ldx4(x, i), ldx4(x, i + 4) };
			#pragma unroll
			for (int j = 0; j < 4; j++) {
				s = fmaf(mv_h2f<BF16>((unsigned short)(u[j] & 0xFFFF)), f4at(xv[j >> 1], (2 * j) & 3), s);
				s = fmaf(mv_h2f<BF16>((unsigned short)(u[j] >> 16)), f4at(xv[j >> 1], (2 * j + 1) & 3), s);
			}
		}
	} else {
		for (int64_t i = t; i < k; i += nt)
			s = fmaf(mv_h2f<BF16>(r[i]), __ldg(x + i), s);
	}
	return s;
}

/* Q8_0: 34-byte blocks (f16 scale, 32 int8); four threads per block, 8 codes each. */
__device__ static float mv_q8_0(const uint8_t *row, const float *__restrict__ x, int64_t k, int t, int nt)
{
	int64_t nb = k / 32;
	int part = t & 3;
	float s = 0.0f;
	#pragma unroll 4
	for (int64_t b = t >> 2; b < nb; b += nt >> 2) {
		const uint8_t *bp = row + b * 34;
		int64_t xi = b * 32 + part * 8;
		uint32_t q0 = mv_u32_2(bp + 2 + part * 8), q1 = mv_u32_2(bp + 6 + part * 8);
		float4 x0 = ldx4(x, xi), x1 = ldx4(x, xi + 4);
		float d = mv_half(bp), a = 0.0f;
		#pragma unroll
		for (int j = 0; j < 4; j++) {
			a = fmaf((float)(int8_t)(q0 >> (8 * j)), f4at(x0, j), a);
			a = fmaf((float)(int8_t)(q1 >> (8 * j)), f4at(x1, j), a);
		}
		s = fmaf(d, a, s);
	}
	return s;
}

/* Q4_0 (18-byte blocks) and Q5_0 (22-byte blocks with 32 high bits): each
 * thread takes 4 bytes of nibbles, elements j..j+3 (low) and j+16..j+19 (high). */
template <int Q5>
__device__ static float mv_q4_5_0(const uint8_t *row, const float *__restrict__ x, int64_t k, int t, int nt)
{
	const int bs = Q5 ? 22 : 18, qoff = Q5 ? 6 : 2;
	int64_t nb = k / 32;
	int part = t & 3, j0 = part * 4;
	float s = 0.0f;
	#pragma unroll 4
	for (int64_t b = t >> 2; b < nb; b += nt >> 2) {
		const uint8_t *bp = row + b * bs;
		uint32_t q = mv_u32_2(bp + qoff + j0), qh = Q5 ? mv_u32_2(bp + 2) : 0;
		float4 xl = ldx4(x, b * 32 + j0), xh = ldx4(x, b * 32 + j0 + 16);
		float d = mv_half(bp), a = 0.0f;
		#pragma unroll
		for (int j = 0; j < 4; j++) {
			int lo = (int)((q >> (8 * j)) & 0xF), hi = (int)((q >> (8 * j + 4)) & 0xF);
			if (Q5) {
				lo |= (int)((qh >> (j0 + j)) & 1) << 4;
				hi |= (int)((qh >> (j0 + j + 16)) & 1) << 4;
			}
			a = fmaf((float)(lo - (Q5 ? 16 : 8)), f4at(xl, j), a);
			a = fmaf((float)(hi - (Q5 ? 16 : 8)), f4at(xh, j), a);
		}
		s = fmaf(d, a, s);
	}
	return s;
}

__device__ static inline void mv_scale_min_k4(int j, const uint8_t *q, int *d, int *m)
{
	if (j < 4) {
		*d = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
		*m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
	}
}

/* Q4_K: 144-byte super-blocks of 256; lane = (group of 64 g = lane/8, 4 bytes
 * at l0 = (lane%8)*4): elements g*64+l0.. (low nibbles, sub-block 2g) and
 * g*64+32+l0.. (high nibbles, sub-block 2g+1).  w = d*sc*q - dmin*m. */
__device__ static float mv_q4_k(const uint8_t *row, const float *__restrict__ x, int64_t k, int t, int nt)
{
	int64_t nsb = k / 256;
	int lane = t & 31, g = lane >> 3, l0 = (lane & 7) * 4;
	float s = 0.0f;
	#pragma unroll 2
	for (int64_t b = t >> 5; b < nsb; b += nt >> 5) {
		const uint8_t *bp = row + b * 144;
		int64_t xi = b * 256 + g * 64 + l0;
		float4 xl = ldx4(x, xi), xh = ldx4(x, xi + 32);
		uint32_t q = *(const uint32_t *)(bp + 16 + g * 32 + l0);
		int sc0, m0, sc1, m1;
		float dl = 0.0f, dh = 0.0f, sl = 0.0f, sh = 0.0f;
		mv_scale_min_k4(2 * g, bp + 4, &sc0, &m0);
		mv_scale_min_k4(2 * g + 1, bp + 4, &sc1, &m1);
		#pragma unroll
		for (int j = 0; j < 4; j++) {
			float a = f4at(xl, j), c = f4at(xh, j);
			dl = fmaf((float)((q >> (8 * j)) & 0xF), a, dl);
			dh = fmaf((float)((q >> (8 * j + 4)) & 0xF), c, dh);
			sl += a;
			sh += c;
		}
		{
			float d = mv_half(bp), dmin = mv_half(bp + 2);
			s = fmaf(d * (float)sc0, dl, s);
			s = fmaf(d * (float)sc1, dh, s);
			s = fmaf(-dmin * (float)m0, sl, s);
			s = fmaf(-dmin * (float)m1, sh, s);
		}
	}
	return s;
}

/* Q6_K: 210-byte super-blocks of 256 (ql[128], qh[64], int8 scales[16], f16 d).
 * Lane = (half n = lane/16, two positions l0 = (lane%16)*2, l0+1), all four
 * quarters: element n*128 + qq*32 + l. */
__device__ static float mv_q6_k(const uint8_t *row, const float *__restrict__ x, int64_t k, int t, int nt)
{
	int64_t nsb = k / 256;
	int lane = t & 31, n = lane >> 4, l0 = (lane & 15) * 2;
	float s = 0.0f;
	#pragma unroll 2
	for (int64_t b = t >> 5; b < nsb; b += nt >> 5) {
		const uint8_t *bp = row + b * 210;
		const uint8_t *ql = bp + n * 64, *qh = bp + 128 + n * 32;
		const int8_t *sc = (const int8_t *)(bp + 192 + n * 8) + l0 / 16;
		uint32_t a = *(const unsigned short *)(ql + l0), c = *(const unsigned short *)(ql + l0 + 32);
		uint32_t h = *(const unsigned short *)(qh + l0);
		const float *xb = x + b * 256 + n * 128 + l0;
		float acc = 0.0f;
		#pragma unroll
		for (int qq = 0; qq < 4; qq++) {
			float u = 0.0f;
			#pragma unroll
			for (int e = 0; e < 2; e++) {
				uint32_t lowsrc = (qq & 1) ? (c >> (8 * e)) : (a >> (8 * e));
				int low = qq >= 2 ? (int)((lowsrc >> 4) & 0xF) : (int)(lowsrc & 0xF);
				int hb = (int)((h >> (8 * e + 2 * qq)) & 3);
				u = fmaf((float)((low | (hb << 4)) - 32), __ldg(xb + qq * 32 + e), u);
			}
			acc = fmaf((float)sc[2 * qq], u, acc);
		}
		s = fmaf(mv_half(bp + 208), acc, s);
	}
	return s;
}

template <int T>
__device__ static inline float mv_dot(const uint8_t *row, const float *__restrict__ x, int64_t k, int t, int nt)
{
	switch (T) {
	case RAG_DT_F32: return mv_f32(row, x, k, t, nt);
	case RAG_DT_F16: return mv_16<0>(row, x, k, t, nt);
	case RAG_DT_BF16: return mv_16<1>(row, x, k, t, nt);
	case RAG_DT_Q8_0: return mv_q8_0(row, x, k, t, nt);
	case RAG_DT_Q4_0: return mv_q4_5_0<0>(row, x, k, t, nt);
	case RAG_DT_Q5_0: return mv_q4_5_0<1>(row, x, k, t, nt);
	case RAG_DT_Q4_K: return mv_q4_k(row, x, k, t, nt);
	case RAG_DT_Q6_K: return mv_q6_k(row, x, k, t, nt);
	default: return 0.0f;
	}
}

/* GLU: y = silu(w . x) * (w2 . x) (rag_swiglu's formula); else y (+)= w . x + bias. */
template <int T, int W, int GLU>
__global__ static void __launch_bounds__(MV_WARPS * 32) matvec_kernel(float *y, const float *__restrict__ x,
								     const uint8_t *__restrict__ w,
								     const uint8_t *__restrict__ w2, size_t row_bytes,
								     const float *bias, int64_t n, int64_t k,
								     int accumulate)
{
	__shared__ float red[2][MV_WARPS];
	int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
	int64_t r = (int64_t)blockIdx.x * (MV_WARPS / W) + warp / W;
	int t = (warp % W) * 32 + lane, nt = 32 * W;
	size_t off;
	float s, s2 = 0.0f;

	if (W == 1 && r >= n)
		return;  /* a whole warp: no shuffle below is left half-joined */
	off = (size_t)(r < n ? r : 0) * row_bytes;
	s = mv_dot<T>(w + off, x, k, t, nt);
	if (GLU)
		s2 = mv_dot<T>(w2 + off, x, k, t, nt);
	for (int o = 16; o > 0; o >>= 1) {
		s += __shfl_xor_sync(0xffffffffu, s, o);
		if (GLU)
			s2 += __shfl_xor_sync(0xffffffffu, s2, o);
	}
	if (W > 1) {
		/* W == MV_WARPS: the block's warps share one row */
		if (lane == 0) {
			red[0][warp] = s;
			red[1][warp] = s2;
		}
		__syncthreads();
		if (threadIdx.x != 0)
			return;
		s = s2 = 0.0f;
		for (int i = 0; i < W; i++) {
			s += red[0][i];
			s2 += red[1][i];
		}
	} else if (lane != 0) {
		return;
	}
	if (r < n) {
		if (GLU) {
			y[r] = __fmul_rn(__fdiv_rn(s, __fadd_rn(1.0f, expf(-s))), s2);
		} else {
			if (bias)
				s += bias[r];
			y[r] = accumulate ? y[r] + s : s;
		}
	}
}

extern "C" int rag_cuda_matvec_has_direct(enum rag_dtype t)
{
	switch (t) {
	case RAG_DT_F32: case RAG_DT_F16: case RAG_DT_BF16: case RAG_DT_Q8_0: case RAG_DT_Q4_0:
	case RAG_DT_Q5_0: case RAG_DT_Q4_K: case RAG_DT_Q6_K:
		return 1;
	default:
		return 0;
	}
}

/* Checks and launch of both forms (dw2 != NULL: GLU). */
static int matvec_launch(float *dy, const float *dx, const void *dw, const void *dw2, enum rag_dtype wtype,
			 const float *dbias, int64_t n, int64_t k, int accumulate, cudaStream_t st)
{
	size_t rb = rag_dtype_row_size((uint32_t)wtype, k);
	unsigned grid;
	int wide;
	const uint8_t *w = (const uint8_t *)dw, *w2 = (const uint8_t *)dw2;

	if (n <= 0 || k <= 0)
		return 0;
	if (!rag_cuda_matvec_has_direct(wtype) || !rb) {
		rag_cuda_set_error("rag_cuda_matvec(wtype, k)", __FILE__, __LINE__,
				   "no direct GPU matrix-vector product for this type, or k not a multiple of its block");
		return -1;
	}
	if (((uintptr_t)dw & 15) || ((uintptr_t)dw2 & 15)) {
		rag_cuda_set_error("rag_cuda_matvec(dw)", __FILE__, __LINE__, "weights must be 16-byte aligned");
		return -1;
	}
	if (n > 0x7fffffff) {
		rag_cuda_set_error("rag_cuda_matvec(n)", __FILE__, __LINE__, "too many rows");
		return -1;
	}
	/* long rows, or too few rows to fill the GPU: a block of warps per row */
	wide = k >= 2048 || n < 1024;
	grid = (unsigned)(wide ? n : (n + MV_WARPS - 1) / MV_WARPS);
#define MV_GO(T, W, G) matvec_kernel<T, W, G><<<grid, MV_WARPS * 32, 0, st>>>(dy, dx, w, w2, rb, dbias, n, k, accumulate)
#define MV_LAUNCH(T)                                                                                 \
	do {                                                                                         \
		if (w2) {                                                                            \
			if (wide)                                                                    \
				MV_GO(T, MV_WARPS, 1);                                               \
			else                                                                         \
				MV_GO(T, 1, 1);                                                      \
		} else if (wide) {                                                                   \
			MV_GO(T, MV_WARPS, 0);                                                       \
		} else {                                                                             \
			MV_GO(T, 1, 0);                                                              \
		}                                                                                    \
	} while (0)
	switch (wtype) {
	case RAG_DT_F32: MV_LAUNCH(RAG_DT_F32); break;
	case RAG_DT_F16: MV_LAUNCH(RAG_DT_F16); break;
	case RAG_DT_BF16: MV_LAUNCH(RAG_DT_BF16); break;
	case RAG_DT_Q8_0: MV_LAUNCH(RAG_DT_Q8_0); break;
	case RAG_DT_Q4_0: MV_LAUNCH(RAG_DT_Q4_0); break;
	case RAG_DT_Q5_0: MV_LAUNCH(RAG_DT_Q5_0); break;
	case RAG_DT_Q4_K: MV_LAUNCH(RAG_DT_Q4_K); break;
	case RAG_DT_Q6_K: MV_LAUNCH(RAG_DT_Q6_K); break;
	default: break;
	}
#undef MV_LAUNCH
#undef MV_GO
	RAG_CUDA_TRY_LAUNCH("matvec");
	return 0;
}

extern "C" int rag_cuda_matvec(float *dy, const float *dx, const void *dw, enum rag_dtype wtype,
			       const float *dbias, int64_t n, int64_t k, int accumulate, void *stream)
{
	return matvec_launch(dy, dx, dw, NULL, wtype, dbias, n, k, accumulate, (cudaStream_t)stream);
}

extern "C" int rag_cuda_matvec_glu(float *dy, const float *dx, const void *dwg, const void *dwu, enum rag_dtype wtype,
				   int64_t n, int64_t k, void *stream)
{
	if (!dwu) {
		rag_cuda_set_error("rag_cuda_matvec_glu(dwu)", __FILE__, __LINE__, "no up matrix");
		return -1;
	}
	return matvec_launch(dy, dx, dwg, dwu, wtype, NULL, n, k, 0, (cudaStream_t)stream);
}

/* ---- several products of one x in one launch ------------------------------ */

struct mv_segs {
	const uint8_t *w[RAG_CUDA_MV_MAX];
	const float *bias[RAG_CUDA_MV_MAX];
	float *y[RAG_CUDA_MV_MAX];
	int64_t end[RAG_CUDA_MV_MAX];   /* cumulative row counts */
	size_t rb[RAG_CUDA_MV_MAX];
	int type[RAG_CUDA_MV_MAX];
	int n;
};

/* One warp per row of the stacked matrices; the row's segment picks the
 * weights, type, bias and output. */
__global__ static void __launch_bounds__(MV_WARPS * 32) matvec_multi_kernel(struct mv_segs sg, const float *__restrict__ x,
									   int64_t k)
{
	int lane = threadIdx.x & 31;
	int64_t r = (int64_t)blockIdx.x * MV_WARPS + (threadIdx.x >> 5), r0 = 0;
	int sgi = 0;
	const uint8_t *row;
	float s;

	if (r >= sg.end[sg.n - 1])
		return;  /* a whole warp */
	while (r >= sg.end[sgi]) {
		r0 = sg.end[sgi];
		sgi++;
	}
	r -= r0;
	row = sg.w[sgi] + (size_t)r * sg.rb[sgi];
	switch (sg.type[sgi]) {
	case RAG_DT_F32: s = mv_dot<RAG_DT_F32>(row, x, k, lane, 32); break;
	case RAG_DT_F16: s = mv_dot<RAG_DT_F16>(row, x, k, lane, 32); break;
	case RAG_DT_BF16: s = mv_dot<RAG_DT_BF16>(row, x, k, lane, 32); break;
	case RAG_DT_Q8_0: s = mv_dot<RAG_DT_Q8_0>(row, x, k, lane, 32); break;
	case RAG_DT_Q4_0: s = mv_dot<RAG_DT_Q4_0>(row, x, k, lane, 32); break;
	case RAG_DT_Q5_0: s = mv_dot<RAG_DT_Q5_0>(row, x, k, lane, 32); break;
	case RAG_DT_Q4_K: s = mv_dot<RAG_DT_Q4_K>(row, x, k, lane, 32); break;
	case RAG_DT_Q6_K: s = mv_dot<RAG_DT_Q6_K>(row, x, k, lane, 32); break;
	default: s = 0.0f;
	}
	for (int o = 16; o > 0; o >>= 1)
		s += __shfl_xor_sync(0xffffffffu, s, o);
	if (lane == 0)
		sg.y[sgi][r] = sg.bias[sgi] ? s + sg.bias[sgi][r] : s;
}

extern "C" int rag_cuda_matvec_multi(const struct rag_cuda_mv *mv, int n_mv, const float *dx, int64_t k, void *stream)
{
	struct mv_segs sg;
	int64_t rows = 0;

	memset(&sg, 0, sizeof sg);
	if (n_mv < 1 || n_mv > RAG_CUDA_MV_MAX || k <= 0) {
		rag_cuda_set_error("rag_cuda_matvec_multi(n_mv)", __FILE__, __LINE__, "1 to RAG_CUDA_MV_MAX products");
		return -1;
	}
	for (int i = 0; i < n_mv; i++) {
		size_t rb = rag_dtype_row_size((uint32_t)mv[i].wtype, k);
		if (!rag_cuda_matvec_has_direct(mv[i].wtype) || !rb || ((uintptr_t)mv[i].dw & 15) || mv[i].n <= 0) {
			rag_cuda_set_error("rag_cuda_matvec_multi(product)", __FILE__, __LINE__,
					   "a type without a direct product, k not a multiple of its block, "
					   "unaligned weights or no rows");
			return -1;
		}
		rows += mv[i].n;
		sg.w[i] = (const uint8_t *)mv[i].dw;
		sg.bias[i] = mv[i].dbias;
		sg.y[i] = mv[i].dy;
		sg.end[i] = rows;
		sg.rb[i] = rb;
		sg.type[i] = (int)mv[i].wtype;
	}
	sg.n = n_mv;
	if ((rows + MV_WARPS - 1) / MV_WARPS > 0x7fffffff) {
		rag_cuda_set_error("rag_cuda_matvec_multi(rows)", __FILE__, __LINE__, "too many rows");
		return -1;
	}
	matvec_multi_kernel<<<(unsigned)((rows + MV_WARPS - 1) / MV_WARPS), MV_WARPS * 32, 0, (cudaStream_t)stream>>>(
		sg, dx, k);
	RAG_CUDA_TRY_LAUNCH("matvec_multi");
	return 0;
}
