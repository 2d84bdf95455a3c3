/* gpu-skip.h: a main() for GPU twin tests that exits 77 (skip) without a GPU. */
#ifndef RAG_GPU_SKIP_H
#define RAG_GPU_SKIP_H

#include <criterion/criterion.h>
#include <stdio.h>

#include "device.h"

int main(int argc, char *argv[])
{
	struct criterion_test_set *tests;
	char name[256];
	int ok;

	if (rag_gpu_count(name, sizeof name) <= 0) {
		printf("no GPU: skipping (exit 77)\n");
		return 77;
	}
	printf("GPU: %s\n", name);
	tests = criterion_initialize();
	ok = criterion_handle_args(argc, argv, true) ? criterion_run_all_tests(tests) : 0;
	criterion_finalize(tests);
	return ok ? 0 : 1;
}

#endif
