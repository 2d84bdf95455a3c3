/* hf-skip.h: a main() for tests that need the Hugging Face fixture directories;
 * exits 77 (skip) when the shared fixture set is not beside the checkout. */
#ifndef RAG_HF_SKIP_H
#define RAG_HF_SKIP_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <unistd.h>

#include "testutil.h"

int main(int argc, char *argv[])
{
	struct criterion_test_set *tests;
	char probe[4200];
	int ok;

	snprintf(probe, sizeof probe, "%s/config.json", testdata("hf/tiny-embed-mean"));
	if (access(probe, R_OK) != 0) {
		printf("no Hugging Face fixture directories at %s: skipping (exit 77)\n", testdata("hf/"));
		return 77;
	}
	tests = criterion_initialize();
	ok = criterion_handle_args(argc, argv, true) ? criterion_run_all_tests(tests) : 0;
	criterion_finalize(tests);
	return ok ? 0 : 1;
}

#endif
