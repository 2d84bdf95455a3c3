/* check.h: the fuzz harnesses' invariant check: on failure, say what broke
 * and where, and trap so that libFuzzer keeps the input. */
#ifndef RAG_FUZZ_CHECK_H
#define RAG_FUZZ_CHECK_H

#include <stdio.h>

#define CHECK(cond, what)                                                              \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, what);      \
			__builtin_trap();                                              \
		}                                                                      \
	} while (0)

#endif
