/* porter.h: the Porter (1980) stemming algorithm for lowercase English words. */
#ifndef RAG_PORTER_H
#define RAG_PORTER_H

#include <stddef.h>

/*
 * Stem the lowercase ASCII word w[0..n) in place, following M.F. Porter, "An
 * algorithm for suffix stripping" (1980), as in his reference implementation.
 * Words of one or two letters, and words holding any byte outside a-z, are left
 * unchanged.  Returns the new length (<= n).  Cannot fail; allocates nothing.
 */
size_t rag_porter_stem(char *w, size_t n);

#endif
