/* arena.h: bump allocator for per-record data (parsed JSON), freed all at once. */
#ifndef RAG_ARENA_H
#define RAG_ARENA_H

#include <stddef.h>

struct rag_arena_block;

/* Zero-initialise or rag_arena_init; rag_arena_free releases everything. */
struct rag_arena {
	struct rag_arena_block *head;  /* current block; older blocks chained behind */
	size_t block_size;             /* minimum size of a new block */
};

void rag_arena_init(struct rag_arena *a);
/* Memory aligned for any type, or NULL when out of memory.  Valid until reset/free. */
void *rag_arena_alloc(struct rag_arena *a, size_t n);
/* Copy of s[0..n) with a NUL after it. */
char *rag_arena_strndup(struct rag_arena *a, const char *s, size_t n);
/* Forget all allocations; keeps the largest block for reuse. */
void rag_arena_reset(struct rag_arena *a);
void rag_arena_free(struct rag_arena *a);

#endif
