/* runtime.cu: GPU discovery, device memory and the error record shared by the CUDA ops. */
#include <stdio.h>
#include <string.h>

#include "common.cuh"

static thread_local char last_error[512];

void rag_cuda_set_error(const char *stmt, const char *file, int line, const char *reason)
{
	const char *base = strrchr(file, '/');

	snprintf(last_error, sizeof last_error, "%s failed at %s:%d: %s", stmt,
		 base ? base + 1 : file, line, reason);
}

extern "C" const char *rag_cuda_last_error(void)
{
	return last_error[0] ? last_error : "no CUDA error recorded";
}

extern "C" int rag_cuda_device_count(char *name, size_t name_len)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);

	if (e != cudaSuccess) {
		/* No driver or no device: not an error, just no GPU. */
		rag_cuda_set_error("cudaGetDeviceCount(&n)", __FILE__, __LINE__, cudaGetErrorString(e));
		cudaGetLastError();
		return 0;
	}
	if (n > 0 && name && name_len) {
		cudaDeviceProp p;
		if (cudaGetDeviceProperties(&p, 0) == cudaSuccess)
			snprintf(name, name_len, "%s (sm_%d%d, %.1f GiB)", p.name, p.major, p.minor,
				 (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
	}
	return n;
}

extern "C" int rag_cuda_malloc(void **p, size_t n)
{
	RAG_CUDA_TRY(cudaMalloc(p, n ? n : 1));
	return 0;
}

extern "C" void rag_cuda_free(void *p)
{
	if (p)
		cudaFree(p);
}

extern "C" int rag_cuda_upload(void *dst, const void *src, size_t n)
{
	RAG_CUDA_TRY(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice));
	return 0;
}

extern "C" int rag_cuda_download(void *dst, const void *src, size_t n)
{
	RAG_CUDA_TRY(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost));
	return 0;
}

extern "C" int rag_cuda_sync(void)
{
	RAG_CUDA_TRY(cudaDeviceSynchronize());
	return 0;
}
