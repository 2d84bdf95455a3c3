/* testutil.h: helpers shared by the unit tests (fixture paths, file loading). */
#ifndef RAG_TESTUTIL_H
#define RAG_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>

#include "buf.h"

/* Path of a file under the fixture directory ($RAG_FIXTURES, set by make check). */
static inline const char *fixture(const char *rel)
{
	static char path[4096];
	const char *dir = getenv("RAG_FIXTURES");

	snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/data/fixtures", rel);
	return path;
}

/* Path under tests/data ($RAG_TESTDATA). */
static inline const char *testdata(const char *rel)
{
	static char path[4096];
	const char *dir = getenv("RAG_TESTDATA");

	snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/data", rel);
	return path;
}

#endif
