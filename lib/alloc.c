/* alloc.c: allocation wrappers; the counter lets tests fail the Nth call. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

/* Atomic: threads allocate at the same time (lib/embed_pipe.c, OpenMP loops). */
static unsigned long alloc_count;  /* allocations since the last rag_alloc_fail_after */
static unsigned long alloc_fail_at; /* 0: never fail */

static int should_fail(void)
{
	unsigned long n = __atomic_add_fetch(&alloc_count, 1, __ATOMIC_RELAXED);
	unsigned long at = __atomic_load_n(&alloc_fail_at, __ATOMIC_RELAXED);
	return at && n >= at;
}

unsigned long rag_alloc_fail_after(unsigned long nth)
{
	unsigned long n = __atomic_exchange_n(&alloc_count, 0, __ATOMIC_RELAXED);

	__atomic_store_n(&alloc_fail_at, nth, __ATOMIC_RELAXED);
	return n;
}

void *rag_malloc(size_t n)
{
	if (should_fail())
		return NULL;
	return malloc(n ? n : 1);
}

void *rag_calloc(size_t nmemb, size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(nmemb ? nmemb : 1, size ? size : 1);
}

void *rag_realloc(void *p, size_t n)
{
	if (should_fail())
		return NULL;
	return realloc(p, n ? n : 1);
}

void *rag_reallocarray(void *p, size_t nmemb, size_t size)
{
	if (size && nmemb > SIZE_MAX / size)
		return NULL;
	return rag_realloc(p, nmemb * size);
}

char *rag_strndup(const char *s, size_t n)
{
	char *d = rag_malloc(n + 1);

	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *rag_strdup(const char *s)
{
	return rag_strndup(s, strlen(s));
}

void rag_free(void *p)
{
	free(p);
}
