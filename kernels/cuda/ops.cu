/* ops.cu: GPU twins of the element-wise and row-wise encoder ops (layer norm,
 * GELU, tanh, softmax, residual add, pooling, L2 normalization, f32 -> f16).
 * Row ops run one block per row with a shared-memory reduction; each element
 * is touched by one thread only, so in-place calls (y == x or y == r) are safe. */
#include <math.h>
#include <stdint.h>

#include <cuda_fp16.h>

#include "common.cuh"

#define ROW_THREADS 256

__global__ static void layernorm_kernel(float *y, __half *y16, const float *x, const float *r, const float *g,
					const float *b, int64_t n, float eps)
{
	__shared__ float sh[32];
	int64_t row = blockIdx.x;
	const float *xi = x + row * n, *ri = r ? r + row * n : NULL;
	float *yi = y + row * n;
	float sum = 0.0f, var = 0.0f, mean, inv;

	for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
		float z = ri ? __fadd_rn(xi[j], ri[j]) : xi[j];
		yi[j] = z;
		sum += z;
	}
	mean = rag_block_sum(sum, sh) / (float)n;
	for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
		float d = __fsub_rn(yi[j], mean);
		var = __fmaf_rn(d, d, var);
	}
	inv = 1.0f / sqrtf(rag_block_sum(var, sh) / (float)n + eps);
	for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
		float v = __fmul_rn(__fsub_rn(yi[j], mean), inv);
		if (g)
			v = __fmul_rn(v, g[j]);
		if (b)
			v = __fadd_rn(v, b[j]);
		yi[j] = v;
		if (y16)
			y16[row * n + j] = __float2half_rn(v);
	}
}

extern "C" int rag_cuda_layernorm(float *dy, const float *dx, const float *dr, const float *dg,
				  const float *db, int64_t rows, int64_t n, float eps, void *stream)
{
	if (rows <= 0 || n <= 0)
		return 0;
	layernorm_kernel<<<(unsigned)rows, ROW_THREADS, 0, (cudaStream_t)stream>>>(dy, NULL, dx, dr, dg, db, n, eps);
	RAG_CUDA_TRY_LAUNCH("layernorm");
	return 0;
}

/*
 * Rows of at most LN_VPT * 128 elements: one block of 128 threads per row with
 * the row in registers, so x and r are read once and y (and y16) written once
 * (the general kernel above reads y back twice).  Same arithmetic, same order
 * of the per-thread partial sums as the general kernel run with 128 threads.
 */
#define LN_VPT 8
__global__ static void __launch_bounds__(128) layernorm_reg_kernel(float *y, __half *y16, const float *x,
								   const float *r, const float *g, const float *b,
								   int64_t n, float eps)
{
	__shared__ float sh[32];
	int64_t row = blockIdx.x;
	const float *xi = x + row * n, *ri = r ? r + row * n : NULL;
	float z[LN_VPT], sum = 0.0f, var = 0.0f, mean, inv;

	#pragma unroll
	for (int i = 0; i < LN_VPT; i++) {
		int64_t j = threadIdx.x + (int64_t)i * 128;
		z[i] = 0.0f;
		if (j < n) {
			z[i] = ri ? __fadd_rn(xi[j], ri[j]) : xi[j];
			sum += z[i];
		}
	}
	mean = rag_block_sum(sum, sh) / (float)n;
	#pragma unroll
	for (int i = 0; i < LN_VPT; i++)
		if (threadIdx.x + (int64_t)i * 128 < n) {
			float d = __fsub_rn(z[i], mean);
			var = __fmaf_rn(d, d, var);
		}
	inv = 1.0f / sqrtf(rag_block_sum(var, sh) / (float)n + eps);
	#pragma unroll
	for (int i = 0; i < LN_VPT; i++) {
		int64_t j = threadIdx.x + (int64_t)i * 128;
		if (j < n) {
			float v = __fmul_rn(__fsub_rn(z[i], mean), inv);
			if (g)
				v = __fmul_rn(v, g[j]);
			if (b)
				v = __fadd_rn(v, b[j]);
			y[row * n + j] = v;
			if (y16)
				y16[row * n + j] = __float2half_rn(v);
		}
	}
}

extern "C" int rag_cuda_layernorm_h(float *dy, uint16_t *dy16, const float *dx, const float *dr, const float *dg,
				    const float *db, int64_t rows, int64_t n, float eps, void *stream)
{
	if (rows <= 0 || n <= 0)
		return 0;
	if (n <= LN_VPT * 128)
		layernorm_reg_kernel<<<(unsigned)rows, 128, 0, (cudaStream_t)stream>>>(dy, (__half *)dy16, dx, dr, dg, db,
										      n, eps);
	else
		layernorm_kernel<<<(unsigned)rows, ROW_THREADS, 0, (cudaStream_t)stream>>>(dy, (__half *)dy16, dx, dr,
											   dg, db, n, eps);
	RAG_CUDA_TRY_LAUNCH("layernorm_h");
	return 0;
}

__global__ static void gelu_kernel(float *y, const float *x, int64_t n)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
		float v = x[i];
		y[i] = __fmul_rn(__fmul_rn(0.5f, v), __fadd_rn(1.0f, erff(__fmul_rn(v, 0.70710678118654752f))));
	}
}

/* GELU on half values, two at a time (n even), computed in float32. */
__global__ static void gelu_h_kernel(__half2 *y, const __half2 *x, int64_t n2)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n2; i += (int64_t)gridDim.x * blockDim.x) {
		float2 v = __half22float2(x[i]);
		v.x = __fmul_rn(__fmul_rn(0.5f, v.x), __fadd_rn(1.0f, erff(__fmul_rn(v.x, 0.70710678118654752f))));
		v.y = __fmul_rn(__fmul_rn(0.5f, v.y), __fadd_rn(1.0f, erff(__fmul_rn(v.y, 0.70710678118654752f))));
		y[i] = __float22half2_rn(v);
	}
}

__global__ static void tanh_kernel(float *y, const float *x, int64_t n)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
		y[i] = tanhf(x[i]);
}

__global__ static void add_kernel(float *y, const float *x, const float *r, int64_t n)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
		y[i] = __fadd_rn(x[i], r[i]);
}

__global__ static void f32_to_f16_kernel(__half *y, const float *x, int64_t n)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
		y[i] = __float2half_rn(x[i]);
}

/* Grid for an element-wise kernel: grid-stride loops, at most 65535 * 4 blocks. */
static unsigned ew_blocks(int64_t n)
{
	int64_t b = (n + 255) / 256;
	return (unsigned)(b > 262140 ? 262140 : b);
}

extern "C" int rag_cuda_gelu(float *dy, const float *dx, int64_t n, void *stream)
{
	if (n <= 0)
		return 0;
	gelu_kernel<<<ew_blocks(n), 256, 0, (cudaStream_t)stream>>>(dy, dx, n);
	RAG_CUDA_TRY_LAUNCH("gelu");
	return 0;
}

extern "C" int rag_cuda_gelu_h(uint16_t *dy, const uint16_t *dx, int64_t n, void *stream)
{
	if (n <= 0)
		return 0;
	if (n % 2 || (uintptr_t)dy % 4 || (uintptr_t)dx % 4) {
		rag_cuda_set_error("rag_cuda_gelu_h(shape)", __FILE__, __LINE__, "n must be even, buffers 4-byte aligned");
		return -1;
	}
	gelu_h_kernel<<<ew_blocks(n / 2), 256, 0, (cudaStream_t)stream>>>((__half2 *)dy, (const __half2 *)dx, n / 2);
	RAG_CUDA_TRY_LAUNCH("gelu_h");
	return 0;
}

extern "C" int rag_cuda_tanh(float *dy, const float *dx, int64_t n, void *stream)
{
	if (n <= 0)
		return 0;
	tanh_kernel<<<ew_blocks(n), 256, 0, (cudaStream_t)stream>>>(dy, dx, n);
	RAG_CUDA_TRY_LAUNCH("tanh");
	return 0;
}

extern "C" int rag_cuda_add(float *dy, const float *dx, const float *dr, int64_t n, void *stream)
{
	if (n <= 0)
		return 0;
	add_kernel<<<ew_blocks(n), 256, 0, (cudaStream_t)stream>>>(dy, dx, dr, n);
	RAG_CUDA_TRY_LAUNCH("add");
	return 0;
}

extern "C" int rag_cuda_f32_to_f16(uint16_t *dy, const float *dx, int64_t n, void *stream)
{
	if (n <= 0)
		return 0;
	f32_to_f16_kernel<<<ew_blocks(n), 256, 0, (cudaStream_t)stream>>>((__half *)dy, dx, n);
	RAG_CUDA_TRY_LAUNCH("f32_to_f16");
	return 0;
}

__global__ static void softmax_kernel(float *x, int64_t n)
{
	__shared__ float sh[32];
	float *xi = x + (int64_t)blockIdx.x * n;
	float mx = -INFINITY, sum = 0.0f, inv;

	for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
		mx = fmaxf(mx, xi[j]);
	mx = rag_block_max(mx, sh);
	for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
		float e = expf(__fsub_rn(xi[j], mx));
		xi[j] = e;
		sum += e;
	}
	inv = 1.0f / rag_block_sum(sum, sh);
	for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
		xi[j] = __fmul_rn(xi[j], inv);
}

extern "C" int rag_cuda_softmax(float *dx, int64_t rows, int64_t n, void *stream)
{
	if (rows <= 0 || n <= 0)
		return 0;
	softmax_kernel<<<(unsigned)rows, ROW_THREADS, 0, (cudaStream_t)stream>>>(dx, n);
	RAG_CUDA_TRY_LAUNCH("softmax");
	return 0;
}

/* One thread per (sequence, column): the same summation order as the CPU twin. */
__global__ static void pool_kernel(float *y, const float *x, const int32_t *off, int64_t dim, int mode)
{
	int64_t s = blockIdx.y, j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
	int64_t a = off[s], e = off[s + 1];

	if (j >= dim)
		return;
	if (mode == RAG_POOL_MEAN) {
		float acc = 0.0f, inv = 1.0f / (float)(e - a);
		for (int64_t t = a; t < e; t++)
			acc = __fadd_rn(acc, x[t * dim + j]);
		y[s * dim + j] = __fmul_rn(acc, inv);
	} else {
		y[s * dim + j] = x[(mode == RAG_POOL_LAST ? e - 1 : a) * dim + j];
	}
}

extern "C" int rag_cuda_pool(float *dy, const float *dx, const int32_t *doff, int64_t n_seq, int64_t dim,
			     enum rag_pooling mode, void *stream)
{
	if (mode == RAG_POOL_NONE) {
		rag_cuda_set_error("rag_cuda_pool(mode NONE)", __FILE__, __LINE__, "pooling mode NONE is not accepted");
		return -1;
	}
	if (n_seq <= 0 || dim <= 0)
		return 0;
	if (n_seq > 65535) {
		rag_cuda_set_error("rag_cuda_pool(n_seq)", __FILE__, __LINE__, "more than 65535 sequences in one call");
		return -1;
	}
	pool_kernel<<<dim3(rag_cuda_blocks(dim, 128), (unsigned)n_seq), 128, 0, (cudaStream_t)stream>>>(
		dy, dx, doff, dim, (int)mode);
	RAG_CUDA_TRY_LAUNCH("pool");
	return 0;
}

__global__ static void l2norm_kernel(float *x, int64_t n)
{
	__shared__ double sh[32];
	float *xi = x + (int64_t)blockIdx.x * n;
	double ss = 0.0;

	for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
		ss += (double)xi[j] * (double)xi[j];
	ss = rag_block_sum(ss, sh);
	if (ss > 0.0) {
		float inv = (float)(1.0 / sqrt(ss));
		for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
			xi[j] = __fmul_rn(xi[j], inv);
	}
}

extern "C" int rag_cuda_l2_normalize(float *dx, int64_t rows, int64_t n, void *stream)
{
	if (rows <= 0 || n <= 0)
		return 0;
	l2norm_kernel<<<(unsigned)rows, ROW_THREADS, 0, (cudaStream_t)stream>>>(dx, n);
	RAG_CUDA_TRY_LAUNCH("l2_normalize");
	return 0;
}
