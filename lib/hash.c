/* hash.c: 64-bit FNV-1a and its hex form. */
#include "config.h"

#include "hash.h"

uint64_t rag_fnv1a64_update(uint64_t h, const void *p, size_t n)
{
	const unsigned char *u = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= u[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

void rag_hash_hex(uint64_t h, char out[17])
{
	static const char hexd[] = "0123456789abcdef";
	int i;

	for (i = 15; i >= 0; i--) {
		out[i] = hexd[h & 15];
		h >>= 4;
	}
	out[16] = '\0';
}
