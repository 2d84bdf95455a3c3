/* hash.h: 64-bit FNV-1a, the hash behind chunk ids and content hashes. */
#ifndef RAG_HASH_H
#define RAG_HASH_H

#include <stddef.h>
#include <stdint.h>

/*
 * FNV-1a, 64-bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3), over
 * bytes as given.  Not cryptographic: it detects changed text and spreads ids;
 * it does not resist an adversary who wants two texts with one hash.
 * Continue a running hash with rag_fnv1a64_update(h, ...), starting from
 * RAG_FNV1A64_INIT.
 */
#define RAG_FNV1A64_INIT UINT64_C(0xcbf29ce484222325)
uint64_t rag_fnv1a64_update(uint64_t h, const void *p, size_t n);
static inline uint64_t rag_fnv1a64(const void *p, size_t n)
{
	return rag_fnv1a64_update(RAG_FNV1A64_INIT, p, n);
}

/* Write h as 16 lowercase hex digits and a NUL into out[17]. */
void rag_hash_hex(uint64_t h, char out[17]);

#endif
