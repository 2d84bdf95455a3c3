/* arena.c: bump allocator. */
#include "config.h"

#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "arena.h"

struct rag_arena_block {
	struct rag_arena_block *next;
	size_t size, used;
	alignas(max_align_t) unsigned char data[];
};

void rag_arena_init(struct rag_arena *a)
{
	a->head = NULL;
	a->block_size = 0;
}

void *rag_arena_alloc(struct rag_arena *a, size_t n)
{
	const size_t align = alignof(max_align_t);
	struct rag_arena_block *b = a->head;
	size_t off, size;

	if (b) {
		off = (b->used + align - 1) & ~(align - 1);
		if (off <= b->size && n <= b->size - off) {
			b->used = off + n;
			return b->data + off;
		}
	}
	size = a->block_size ? a->block_size : 16384;
	while (size < n) {
		if (size > SIZE_MAX / 4)
			return NULL;
		size *= 2;
	}
	if (size > SIZE_MAX - sizeof *b)
		return NULL;
	b = rag_malloc(sizeof *b + size);
	if (!b)
		return NULL;
	b->size = size;
	b->used = n;
	b->next = a->head;
	a->head = b;
	if (size > a->block_size)
		a->block_size = size;
	return b->data;
}

char *rag_arena_strndup(struct rag_arena *a, const char *s, size_t n)
{
	char *d;

	if (n == SIZE_MAX)
		return NULL;
	d = rag_arena_alloc(a, n + 1);
	if (!d)
		return NULL;
	if (n)
		memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

void rag_arena_reset(struct rag_arena *a)
{
	struct rag_arena_block *b = a->head, *keep = NULL, *next;

	/* Keep the biggest block (the newest is biggest: sizes only grow). */
	for (; b; b = next) {
		next = b->next;
		if (!keep)
			keep = b;
		else
			rag_free(b);
	}
	if (keep) {
		keep->next = NULL;
		keep->used = 0;
	}
	a->head = keep;
}

void rag_arena_free(struct rag_arena *a)
{
	struct rag_arena_block *b = a->head, *next;

	for (; b; b = next) {
		next = b->next;
		rag_free(b);
	}
	rag_arena_init(a);
}
