/* device.c: GPU discovery and the auto/cpu/cuda choice. */
#include "config.h"

#include <stdio.h>

#include "device.h"
#include "kernels.h"

int rag_cuda_built(void)
{
#ifdef RAG_HAVE_CUDA
	return 1;
#else
	return 0;
#endif
}

int rag_gpu_count(char *name, size_t name_len)
{
	if (name && name_len)
		name[0] = '\0';
#ifdef RAG_HAVE_CUDA
	return rag_cuda_device_count(name, name_len);
#else
	return 0;
#endif
}

int rag_device_resolve(enum rag_device want, enum rag_device *got, char *desc, size_t desc_len,
		       struct rag_error *err)
{
	char name[256];
	int n;

	if (want == RAG_DEVICE_CPU) {
		*got = RAG_DEVICE_CPU;
		if (desc)
			snprintf(desc, desc_len, "cpu (as asked)");
		return RAG_OK;
	}
	if (!rag_cuda_built()) {
		if (want == RAG_DEVICE_CUDA)
			return rag_error_set(err, RAG_EUNAVAILABLE,
					     "cannot use --device cuda: this ragkit was built without CUDA");
		*got = RAG_DEVICE_CPU;
		if (desc)
			snprintf(desc, desc_len, "cpu (built without CUDA)");
		return RAG_OK;
	}
	n = rag_gpu_count(name, sizeof name);
	if (n <= 0) {
		if (want == RAG_DEVICE_CUDA)
#ifdef RAG_HAVE_CUDA
			return rag_error_set(err, RAG_EUNAVAILABLE, "cannot use --device cuda: no CUDA device (%s)",
					     rag_cuda_last_error());
#else
			return RAG_EINTERNAL;
#endif
		*got = RAG_DEVICE_CPU;
		if (desc)
			snprintf(desc, desc_len, "cpu (no GPU found)");
		return RAG_OK;
	}
#ifdef RAG_HAVE_CUDA
	/* a GPU is only usable with cuBLASLt, which is loaded here, not linked */
	if (rag_cuda_blas_load()) {
		if (want == RAG_DEVICE_CUDA)
			return rag_error_set(err, RAG_EUNAVAILABLE, "cannot use --device cuda: %s",
					     rag_cuda_last_error());
		*got = RAG_DEVICE_CPU;
		if (desc)
			snprintf(desc, desc_len, "cpu (GPU found, but %s)", rag_cuda_last_error());
		return RAG_OK;
	}
#endif
	*got = RAG_DEVICE_CUDA;
	if (desc)
		snprintf(desc, desc_len, "cuda: %s", name);
	return RAG_OK;
}
