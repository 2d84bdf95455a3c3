/* test-device.c: --device auto/cpu/cuda resolution on whatever machine runs the test. */
#include "config.h"

#include <criterion/criterion.h>
#include <link.h>
#include <string.h>

#include "device.h"
#include "kernels.h"

Test(device, cpu_is_always_cpu)
{
	enum rag_device got;
	char desc[128];
	struct rag_error err;

	cr_assert_eq(rag_device_resolve(RAG_DEVICE_CPU, &got, desc, sizeof desc, &err), RAG_OK);
	cr_assert_eq(got, RAG_DEVICE_CPU);
}

Test(device, auto_and_cuda_follow_the_hardware)
{
	enum rag_device got;
	char desc[512];
	struct rag_error err;
	int gpus = rag_gpu_count(NULL, 0);

	cr_assert_eq(rag_device_resolve(RAG_DEVICE_AUTO, &got, desc, sizeof desc, &err), RAG_OK);
	if (gpus > 0) {
		cr_assert_eq(got, RAG_DEVICE_CUDA);
		cr_assert(strncmp(desc, "cuda: ", 6) == 0, "%s", desc);
		cr_assert_eq(rag_device_resolve(RAG_DEVICE_CUDA, &got, NULL, 0, &err), RAG_OK);
	} else {
		cr_assert_eq(got, RAG_DEVICE_CPU, "auto falls back to the CPU without a GPU");
		cr_assert(strncmp(desc, "cpu (", 5) == 0, "%s", desc);
		cr_assert_eq(rag_device_resolve(RAG_DEVICE_CUDA, &got, NULL, 0, &err), RAG_EUNAVAILABLE);
		cr_assert(strstr(err.msg, "cannot use --device cuda") != NULL, "%s", err.msg);
	}
}

static int find_cublaslt(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	if (info->dlpi_name && strstr(info->dlpi_name, "libcublasLt"))
		*(int *)data = 1;
	return 0;
}

/* Whether libcublasLt is mapped into this process. */
static int cublaslt_mapped(void)
{
	int found = 0;

	dl_iterate_phdr(find_cublaslt, &found);
	return found;
}

/* cuBLASLt is loaded on first use, never at start-up (it costs every process
 * about 0.07 s and 200 MB of mappings), and only where a GPU could use it. */
Test(device, cublaslt_is_loaded_only_when_needed)
{
	enum rag_device got;
	struct rag_error err;
	int gpus = rag_gpu_count(NULL, 0);

	cr_assert_not(cublaslt_mapped(), "librag must not link cuBLASLt");
	cr_assert_eq(rag_device_resolve(RAG_DEVICE_CPU, &got, NULL, 0, &err), RAG_OK);
	cr_assert_eq(rag_device_resolve(RAG_DEVICE_AUTO, &got, NULL, 0, &err), RAG_OK);
	cr_assert_eq(cublaslt_mapped(), gpus > 0, "resolving the device loads cuBLASLt only with a GPU");
#ifdef RAG_HAVE_CUDA
	/* loading needs no GPU: every entry point resolves where the toolkit is installed */
	cr_assert_eq(rag_cuda_blas_load(), 0, "%s", rag_cuda_last_error());
	cr_assert(cublaslt_mapped());
	cr_assert_eq(rag_cuda_blas_load(), 0, "a second load is a no-op");
#endif
}
