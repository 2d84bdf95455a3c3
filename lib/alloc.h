/* alloc.h: the one place lib/ allocates memory, with failure injection for tests. */
#ifndef RAG_ALLOC_H
#define RAG_ALLOC_H

#include <stddef.h>

/*
 * Drop-in replacements for malloc/calloc/realloc/strdup/free.  They return NULL
 * on failure exactly like the libc calls (callers turn that into RAG_EINTERNAL
 * with "out of memory").  rag_free(NULL) is a no-op.  Memory from these is
 * released with rag_free.
 */
void *rag_malloc(size_t n);
void *rag_calloc(size_t nmemb, size_t size);
void *rag_realloc(void *p, size_t n);
/* Grows an array: realloc to nmemb*size bytes, NULL on overflow or failure. */
void *rag_reallocarray(void *p, size_t nmemb, size_t size);
char *rag_strdup(const char *s);
char *rag_strndup(const char *s, size_t n);
void rag_free(void *p);

/*
 * Test hook: make the nth allocation from now on (1 = the next one) and every
 * one after it fail; 0 switches injection off.  Returns the number of
 * allocations made since the last call, so a test can first count the calls a
 * job makes and then fail each of them in turn.
 */
unsigned long rag_alloc_fail_after(unsigned long nth);

#endif
