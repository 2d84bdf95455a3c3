/* decoder_ops.cu: GPU twins of the row-wise and element-wise decoder ops
 * (RMSNorm, RoPE, SwiGLU, bias add) of kernels/cpu/{rmsnorm,rope,swiglu}.c.
 * Products and sums use the _rn intrinsics so nvcc cannot contract them
 * into FMAs the CPU build (-ffp-contract=off) does not make. */
#include <math.h>
#include <stdint.h>

#include <cuda_fp16.h>

#include "common.cuh"

/* One block per row: the mean of squares in double, as the CPU twin. */
template <typename T> __global__ static void rmsnorm_kernel(T *y, const float *x, const float *w, int64_t n, float eps)
{
	__shared__ double sh[32];
	const float *xr = x + (int64_t)blockIdx.x * n;
	T *yr = y + (int64_t)blockIdx.x * n;
	double ss = 0.0;
	float s;

	for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
		ss += (double)xr[i] * (double)xr[i];
	ss = rag_block_sum(ss, sh);
	s = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
	/* every thread has read its own elements above and writes only those */
	for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
		store1(yr + i, w ? __fmul_rn(__fmul_rn(xr[i], s), w[i]) : __fmul_rn(xr[i], s));
}

template <typename T>
static int rmsnorm_launch(T *dy, const float *dx, const float *dw, int64_t rows, int64_t n, float eps, void *stream)
{
	int threads;

	if (rows <= 0 || n <= 0)
		return 0;
	if (rows > 0x7fffffff) {
		rag_cuda_set_error("rag_cuda_rmsnorm(rows)", __FILE__, __LINE__, "more than 2^31-1 rows");
		return -1;
	}
	threads = n >= 256 ? 256 : (int)((n + 31) / 32 * 32);
	rmsnorm_kernel<T><<<(unsigned)rows, threads, 0, (cudaStream_t)stream>>>(dy, dx, dw, n, eps);
	RAG_CUDA_TRY_LAUNCH("rmsnorm");
	return 0;
}

extern "C" int rag_cuda_rmsnorm(float *dy, const float *dx, const float *dw, int64_t rows, int64_t n, float eps,
				void *stream)
{
	return rmsnorm_launch(dy, dx, dw, rows, n, eps, stream);
}

extern "C" int rag_cuda_rmsnorm_h(uint16_t *dy16, const float *dx, const float *dw, int64_t rows, int64_t n,
				  float eps, void *stream)
{
	return rmsnorm_launch((__half *)dy16, dx, dw, rows, n, eps, stream);
}

/* The rotation of pair i at position p, its angle in double exactly as the CPU
 * twin computes it. */
__device__ static inline void rope_angle(int32_t p, int i, int n_rot, float freq_base, float freq_scale,
					 const float *factors, float *cs, float *sn)
{
	double inv = pow((double)freq_base, -2.0 * (double)i / (double)n_rot);
	double a = (double)p * (double)freq_scale * inv;
	if (factors)
		a /= (double)factors[i];
	*cs = (float)cos(a);
	*sn = (float)sin(a);
}

/* The dims of pair i: (i, i + n_rot/2) in the NeoX layout, (2i, 2i + 1) otherwise. */
__device__ static inline void rope_pair(int i, int half, int neox, int *ia, int *ib)
{
	*ia = neox ? i : 2 * i;
	*ib = neox ? i + half : 2 * i + 1;
}

/* y[ia], y[ib] = x[ia], x[ib] rotated by (cs, sn), in rag_rope's order of operations. */
__device__ static inline void rope_rotate(float *y, const float *x, int ia, int ib, float cs, float sn)
{
	float x0 = x[ia], x1 = x[ib];
	y[ia] = __fsub_rn(__fmul_rn(x0, cs), __fmul_rn(x1, sn));
	y[ib] = __fadd_rn(__fmul_rn(x0, sn), __fmul_rn(x1, cs));
}

/*
 * One thread per (token, head, pair): every rotation is independent, so a
 * short prefill or a single token still spreads over the whole device (a
 * thread per pair looping over the heads waited on each head's loads in turn).
 */
__global__ static void rope_kernel(float *x, int64_t n_tok, int64_t stride, int n_head, int64_t head_dim,
				   const int32_t *pos, int n_rot, float freq_base, float freq_scale,
				   const float *factors, int neox)
{
	int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
	int half = n_rot / 2, i = (int)(idx % half), h = (int)(idx / half % n_head), ia, ib;
	int64_t t = idx / half / n_head;
	float cs, sn, *v;

	if (t >= n_tok)
		return;
	rope_angle(pos[t], i, n_rot, freq_base, freq_scale, factors, &cs, &sn);
	rope_pair(i, half, neox, &ia, &ib);
	v = x + t * stride + (int64_t)h * head_dim;
	rope_rotate(v, v, ia, ib, cs, sn);
}

extern "C" int rag_cuda_rope(float *dx, int64_t n_tok, int64_t stride, int64_t n_head, int64_t head_dim,
			     const int32_t *dpos, int64_t n_rot, float freq_base, float freq_scale,
			     const float *dfactors, int neox, void *stream)
{
	int64_t total;

	if (n_tok <= 0 || n_head <= 0 || n_rot < 2)
		return 0;
	if (n_rot > head_dim || n_rot % 2 || n_rot > 1024 || n_head > 65535) {
		rag_cuda_set_error("rag_cuda_rope(shape)", __FILE__, __LINE__,
				   "n_rot must be even, at most head_dim and 1024");
		return -1;
	}
	total = n_tok * n_head * (n_rot / 2);
	rope_kernel<<<rag_cuda_blocks(total, 128), 128, 0, (cudaStream_t)stream>>>(
		dx, n_tok, stride, (int)n_head, head_dim, dpos, (int)n_rot, freq_base, freq_scale, dfactors, neox);
	RAG_CUDA_TRY_LAUNCH("rope");
	return 0;
}

/* y = silu(g) * u with silu(g) = g / (1 + exp(-g)), in the CPU's order. */
template <typename T> __global__ static void swiglu_kernel(T *y, const float *g, const float *u, int64_t n)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
		float gv = g[i];
		store1(y + i, __fmul_rn(__fdiv_rn(gv, __fadd_rn(1.0f, expf(-gv))), u[i]));
	}
}

static unsigned dec_ew_blocks(int64_t n)
{
	int64_t b = (n + 255) / 256;
	return (unsigned)(b > 262140 ? 262140 : b);
}

extern "C" int rag_cuda_swiglu(float *dy, const float *dgate, const float *dup, int64_t n, void *stream)
{
	if (n <= 0)
		return 0;
	swiglu_kernel<float><<<dec_ew_blocks(n), 256, 0, (cudaStream_t)stream>>>(dy, dgate, dup, n);
	RAG_CUDA_TRY_LAUNCH("swiglu");
	return 0;
}

extern "C" int rag_cuda_swiglu_h(uint16_t *dy16, const float *dgate, const float *dup, int64_t n, void *stream)
{
	if (n <= 0)
		return 0;
	swiglu_kernel<__half><<<dec_ew_blocks(n), 256, 0, (cudaStream_t)stream>>>((__half *)dy16, dgate, dup, n);
	RAG_CUDA_TRY_LAUNCH("swiglu_h");
	return 0;
}

__global__ static void add_bias_kernel(float *y, const float *b, int64_t rows, int64_t n)
{
	int64_t total = rows * n;
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
	     i += (int64_t)gridDim.x * blockDim.x)
		y[i] = __fadd_rn(y[i], b[i % n]);
}

extern "C" int rag_cuda_add_bias(float *dy, const float *dbias, int64_t rows, int64_t n, void *stream)
{
	if (rows <= 0 || n <= 0)
		return 0;
	add_bias_kernel<<<dec_ew_blocks(rows * n), 256, 0, (cudaStream_t)stream>>>(dy, dbias, rows, n);
	RAG_CUDA_TRY_LAUNCH("add_bias");
	return 0;
}

/*
 * Decode-step fusion of rope(q), rope(k) and the cache append: one thread per
 * (token, head slot, pair of dims), the slots being the n_head query heads
 * then the n_head_kv key heads.  Thread i < n_rot/2 rotates pair i (its
 * angle in double, as rag_rope) into qo, or into cache row pos[t] for a key
 * head; a thread past the rotated pairs copies two of the dims past n_rot.
 * Key-head threads also copy dims 2i and 2i+1 of v to the cache.  Every
 * output is computed from the two inputs of its pair, in rag_rope's order;
 * nothing is written in place.
 */
__global__ static void rope_store_kernel(float *qo, const float *q, int64_t q_stride, int n_head, float *kc,
					 float *vc, const float *k, const float *v, int n_head_kv, int hd,
					 const int32_t *pos, int64_t n_tok, int n_rot, float freq_base,
					 float freq_scale, const float *factors, int neox)
{
	int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
	int pairs = hd / 2, slots = n_head + n_head_kv, half = n_rot / 2, ia, ib;
	int i = (int)(idx % pairs), sl = (int)(idx / pairs % slots);
	int64_t t = idx / pairs / slots, kvd = (int64_t)n_head_kv * hd, row;
	const float *src;
	float *dst, cs = 1.0f, sn = 0.0f;

	if (t >= n_tok)
		return;
	row = (int64_t)pos[t] * kvd;
	if (sl < n_head) {
		src = q + t * q_stride + (int64_t)sl * hd;
		dst = qo + t * q_stride + (int64_t)sl * hd;
	} else {
		int64_t g = (int64_t)(sl - n_head) * hd;
		src = k + t * kvd + g;
		dst = kc + row + g;
		vc[row + g + 2 * i] = v[t * kvd + g + 2 * i];
		vc[row + g + 2 * i + 1] = v[t * kvd + g + 2 * i + 1];
	}
	if (i < half) {
		rope_angle(pos[t], i, n_rot, freq_base, freq_scale, factors, &cs, &sn);
		rope_pair(i, half, neox, &ia, &ib);
		rope_rotate(dst, src, ia, ib, cs, sn);
	} else {
		int j = n_rot + 2 * (i - half);
		dst[j] = src[j];
		dst[j + 1] = src[j + 1];
	}
}

extern "C" int rag_cuda_rope_store(float *dqo, const float *dq, int64_t q_stride, int64_t n_head, float *dkc,
				   float *dvc, const float *dk, const float *dv, int64_t n_head_kv, int64_t head_dim,
				   const int32_t *dpos, int64_t n_tok, int64_t n_rot, float freq_base,
				   float freq_scale, const float *dfactors, int neox, void *stream)
{
	if (n_tok <= 0 || head_dim <= 0)
		return 0;
	if (n_rot > head_dim || n_rot % 2 || head_dim % 2 || n_rot > 1024 || head_dim > 65536 || n_head > 65535 ||
	    n_head_kv > 65535 || dqo == dq) {
		rag_cuda_set_error("rag_cuda_rope_store(shape)", __FILE__, __LINE__,
				   "n_rot and head_dim must be even, n_rot at most head_dim; qo must not be q");
		return -1;
	}
	rope_store_kernel<<<rag_cuda_blocks(n_tok * (n_head + n_head_kv) * (head_dim / 2), 128), 128, 0, (cudaStream_t)stream>>>(
		dqo, dq, q_stride, (int)n_head, dkc, dvc, dk, dv, (int)n_head_kv, (int)head_dim, dpos, n_tok,
		(int)n_rot, freq_base, freq_scale, dfactors, neox);
	RAG_CUDA_TRY_LAUNCH("rope_store");
	return 0;
}
