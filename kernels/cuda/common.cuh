/* common.cuh: checked CUDA/cuBLAS calls for the GPU kernels.  Kernels never
 * print: a failed call records "statement failed at file:line: reason" for
 * rag_cuda_last_error() and the op returns -1. */
#ifndef RAG_CUDA_COMMON_CUH
#define RAG_CUDA_COMMON_CUH

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "kernels.h"

void rag_cuda_set_error(const char *stmt, const char *file, int line, const char *reason);
/* cuBLASLt's text for a status (gemm.cu: the library is loaded at run time). */
const char *rag_cublas_status_string(int s);

/* Run a CUDA runtime call; on failure record it and return -1 from the caller. */
#define RAG_CUDA_TRY(stmt)                                                              \
	do {                                                                            \
		cudaError_t rag_e_ = (stmt);                                            \
		if (rag_e_ != cudaSuccess) {                                            \
			rag_cuda_set_error(#stmt, __FILE__, __LINE__, cudaGetErrorString(rag_e_)); \
			return -1;                                                      \
		}                                                                       \
	} while (0)

/* After a kernel launch: launch-configuration errors surface here (reads and
 * clears the error, so the launch's own failure is what gets recorded). */
#define RAG_CUDA_TRY_LAUNCH(what) RAG_CUDA_TRY(cudaGetLastError())

/* Run a cuBLASLt call; on failure record it and return -1. */
#define RAG_CUBLAS_TRY(stmt)                                                            \
	do {                                                                            \
		cublasStatus_t rag_s_ = (stmt);                                         \
		if (rag_s_ != CUBLAS_STATUS_SUCCESS) {                                  \
			rag_cuda_set_error(#stmt, __FILE__, __LINE__, rag_cublas_status_string((int)rag_s_)); \
			return -1;                                                      \
		}                                                                       \
	} while (0)

/* The current device's multiprocessors (1 if it cannot be read); the runtime
 * answers from its own table, so asking at every launch costs nothing. */
static inline int rag_cuda_multiprocessors(void)
{
	int dev, n = 0;

	if (cudaGetDevice(&dev) != cudaSuccess ||
	    cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n <= 0)
		return 1;
	return n;
}

/* A result in the output's type: float32, or half (rounded to nearest) for
 * the input of a half-precision product; one value or an adjacent pair. */
__device__ static inline void store1(float *p, float a) { *p = a; }
__device__ static inline void store1(__half *p, float a) { *p = __float2half_rn(a); }
__device__ static inline void store2(float *p, float a, float b) { *(float2 *)p = make_float2(a, b); }
__device__ static inline void store2(__half *p, float a, float b) { *(__half2 *)p = __floats2half2_rn(a, b); }

/* Blocks of `threads` threads covering n items (n > 0; callers keep n below 2^31 * threads). */
static inline unsigned rag_cuda_blocks(int64_t n, int threads)
{
	return (unsigned)((n + threads - 1) / threads);
}

/* Sum over the block (blockDim.x a multiple of 32, at most 1024), every thread
 * gets it; sh holds 32 values.  Shuffles within each warp, then the warps'
 * partial sums in order, so the result does not depend on scheduling. */
template <typename T> __device__ static inline T rag_block_sum(T v, T *sh)
{
	int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;

	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	__syncthreads();  /* sh may still be read by a previous reduction */
	if (lane == 0)
		sh[w] = v;
	__syncthreads();
	v = 0;
	for (int i = 0; i < nw; i++)
		v += sh[i];
	return v;
}

/* Maximum over the block, as rag_block_sum. */
__device__ static inline float rag_block_max(float v, float *sh)
{
	int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;

	for (int o = 16; o > 0; o >>= 1)
		v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	__syncthreads();
	if (lane == 0)
		sh[w] = v;
	__syncthreads();
	v = sh[0];
	for (int i = 1; i < nw; i++)
		v = fmaxf(v, sh[i]);
	return v;
}

#endif
