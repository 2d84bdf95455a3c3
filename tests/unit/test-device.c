/* test-device.c: --device auto/cpu/cuda resolution on whatever machine runs the test. */
#include <criterion/criterion.h>
#include <string.h>

#include "device.h"

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
