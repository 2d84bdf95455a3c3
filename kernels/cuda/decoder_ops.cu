/* decoder_ops.cu: GPU twins of the row-wise and element-wise decoder ops
 * (RMSNorm, RoPE, SwiGLU, bias add) of kernels/cpu/{rmsnorm,rope,swiglu}.c.
 * Products and sums use the _rn intrinsics so nvcc cannot contract them
 * into FMAs the CPU build (-ffp-contract=off) does not make. */
#include <math.h>
#include <stdint.h>

#include "common.cuh"

/* One block per row: the mean of squares in double, as the CPU twin. */
__global__ static void rmsnorm_kernel(float *y, const float *x, const float *w, int64_t n, float eps)
{
	__shared__ double sh[32];
	const float *xr = x + (int64_t)blockIdx.x * n;
	float *yr = y + (int64_t)blockIdx.x * n;
	double ss = 0.0;
	float s;

	for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
		ss += (double)xr[i] * (double)xr[i];
	ss = rag_block_sum(ss, sh);
	s = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
	/* every thread has read its own elements above and writes only those */
	for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
		yr[i] = w ? __fmul_rn(__fmul_rn(xr[i], s), w[i]) : __fmul_rn(xr[i], s);
}

extern "C" int rag_cuda_rmsnorm(float *dy, const float *dx, const float *dw, int64_t rows, int64_t n,
				float eps, void *stream)
{
	int threads;

	if (rows <= 0 || n <= 0)
		return 0;
	if (rows > 0x7fffffff) {
		rag_cuda_set_error("rag_cuda_rmsnorm(rows)", __FILE__, __LINE__, "more than 2^31-1 rows");
		return -1;
	}
	threads = n >= 256 ? 256 : (int)((n + 31) / 32 * 32);
	rmsnorm_kernel<<<(unsigned)rows, threads, 0, (cudaStream_t)stream>>>(dy, dx, dw, n, eps);
	RAG_CUDA_TRY_LAUNCH("rmsnorm");
	return 0;
}

/*
 * One thread per (token, pair): the angle in double exactly as the CPU twin
 * computes it, then the rotation of that pair in every head.
 */
__global__ static void rope_kernel(float *x, int64_t n_tok, int64_t stride, int n_head, int64_t head_dim,
				   const int32_t *pos, int n_rot, float freq_base, float freq_scale,
				   const float *factors, int neox)
{
	int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
	int half = n_rot / 2;
	int64_t t = idx / half;
	int i = (int)(idx % half);
	double inv, a;
	float cs, sn;

	if (t >= n_tok)
		return;
	inv = pow((double)freq_base, -2.0 * (double)i / (double)n_rot);
	a = (double)pos[t] * (double)freq_scale * inv;
	if (factors)
		a /= (double)factors[i];
	cs = (float)cos(a);
	sn = (float)sin(a);
	for (int h = 0; h < n_head; h++) {
		float *v = x + t * stride + (int64_t)h * head_dim;
		int ia = neox ? i : 2 * i, ib = neox ? i + half : 2 * i + 1;
		float x0 = v[ia], x1 = v[ib];
		v[ia] = __fsub_rn(__fmul_rn(x0, cs), __fmul_rn(x1, sn));
		v[ib] = __fadd_rn(__fmul_rn(x0, sn), __fmul_rn(x1, cs));
	}
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
	total = n_tok * (n_rot / 2);
	rope_kernel<<<rag_cuda_blocks(total, 128), 128, 0, (cudaStream_t)stream>>>(
		dx, n_tok, stride, (int)n_head, head_dim, dpos, (int)n_rot, freq_base, freq_scale, dfactors, neox);
	RAG_CUDA_TRY_LAUNCH("rope");
	return 0;
}

/* y = silu(g) * u with silu(g) = g / (1 + exp(-g)), in the CPU's order. */
__global__ static void swiglu_kernel(float *y, const float *g, const float *u, int64_t n)
{
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
		float gv = g[i];
		y[i] = __fmul_rn(__fdiv_rn(gv, __fadd_rn(1.0f, expf(-gv))), u[i]);
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
	swiglu_kernel<<<dec_ew_blocks(n), 256, 0, (cudaStream_t)stream>>>(dy, dgate, dup, n);
	RAG_CUDA_TRY_LAUNCH("swiglu");
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
 * (token, dim j of a head) computes the angle of j's pair once (in double, as
 * rag_rope) and writes, for every head, the rotated q to qo and the rotated k
 * and the unchanged v to cache row pos[t].  Each output element is computed
 * from the two inputs of its pair, in rag_rope's order, so nothing is written
 * in place.
 */
__global__ static void rope_store_kernel(float *qo, const float *q, int64_t q_stride, int n_head, float *kc,
					 float *vc, const float *k, const float *v, int n_head_kv, int hd,
					 const int32_t *pos, int64_t n_tok, int n_rot, float freq_base,
					 float freq_scale, const float *factors, int neox)
{
	int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, t = idx / hd;
	int j = (int)(idx % hd), half = n_rot / 2, rot = j < n_rot, first = 1, p = j;
	int64_t kvd = (int64_t)n_head_kv * hd, row;
	float cs = 1.0f, sn = 0.0f;

	if (t >= n_tok)
		return;
	row = (int64_t)pos[t] * kvd;
	if (rot) {
		int i = neox ? j % half : j / 2;
		double inv = pow((double)freq_base, -2.0 * (double)i / (double)n_rot);
		double a = (double)pos[t] * (double)freq_scale * inv;
		if (factors)
			a /= (double)factors[i];
		cs = (float)cos(a);
		sn = (float)sin(a);
		first = neox ? j < half : !(j & 1);
		p = neox ? (first ? j + half : j - half) : (j ^ 1);
	}
#define ROT(src)                                                                                    \
	(!rot ? (src)[j]                                                                            \
	      : first ? __fsub_rn(__fmul_rn((src)[j], cs), __fmul_rn((src)[p], sn))                 \
		      : __fadd_rn(__fmul_rn((src)[p], sn), __fmul_rn((src)[j], cs)))
	for (int h = 0; h < n_head; h++) {
		const float *src = q + t * q_stride + (int64_t)h * hd;
		qo[t * q_stride + (int64_t)h * hd + j] = ROT(src);
	}
	for (int g = 0; g < n_head_kv; g++) {
		const float *src = k + t * kvd + (int64_t)g * hd;
		kc[row + (int64_t)g * hd + j] = ROT(src);
		vc[row + (int64_t)g * hd + j] = v[t * kvd + (int64_t)g * hd + j];
	}
#undef ROT
}

extern "C" int rag_cuda_rope_store(float *dqo, const float *dq, int64_t q_stride, int64_t n_head, float *dkc,
				   float *dvc, const float *dk, const float *dv, int64_t n_head_kv, int64_t head_dim,
				   const int32_t *dpos, int64_t n_tok, int64_t n_rot, float freq_base,
				   float freq_scale, const float *dfactors, int neox, void *stream)
{
	if (n_tok <= 0 || head_dim <= 0)
		return 0;
	if (n_rot > head_dim || n_rot % 2 || n_rot > 1024 || head_dim > 65536 || n_head > 65535 ||
	    n_head_kv > 65535 || dqo == dq) {
		rag_cuda_set_error("rag_cuda_rope_store(shape)", __FILE__, __LINE__,
				   "n_rot must be even and at most head_dim; qo must not be q");
		return -1;
	}
	rope_store_kernel<<<rag_cuda_blocks(n_tok * head_dim, 128), 128, 0, (cudaStream_t)stream>>>(
		dqo, dq, q_stride, (int)n_head, dkc, dvc, dk, dv, (int)n_head_kv, (int)head_dim, dpos, n_tok,
		(int)n_rot, freq_base, freq_scale, dfactors, neox);
	RAG_CUDA_TRY_LAUNCH("rope_store");
	return 0;
}
