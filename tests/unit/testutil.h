/* testutil.h: helpers shared by the unit tests (fixture paths, file loading). */
#ifndef RAG_TESTUTIL_H
#define RAG_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* Path of a file under the fixture directory ($RAG_FIXTURES, set by make check). */
static inline const char *fixture(const char *rel)
{
	static char path[4096];
	const char *dir = getenv("RAG_FIXTURES");

	snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/data/fixtures", rel);
	return path;
}

/* Path under tests/data ($RAG_TESTDATA).  "hf/..." names the Hugging Face
 * fixture directories, which are read from the shared fixture set beside the
 * checkout ($RAG_HFDATA, set by make check) rather than copied into it. */
static inline const char *testdata(const char *rel)
{
	static char path[4096];
	const char *dir = getenv("RAG_TESTDATA");
	const char *hf = getenv("RAG_HFDATA");

	if (strncmp(rel, "hf/", 3) == 0)
		snprintf(path, sizeof path, "%s/%s", hf ? hf : "../shared/fixtures/hf", rel + 3);
	else
		snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/data", rel);
	return path;
}

#endif
