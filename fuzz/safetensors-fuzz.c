/* safetensors-fuzz.c: libFuzzer harness for the safetensors reader (see fuzz/README).
 * Whatever the header says, every tensor the reader accepts must lie inside
 * the buffer: the harness reads each one's bytes, so ASan catches any that
 * does not. */
#include <stddef.h>
#include <stdint.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rag_safetensors *st;
	struct rag_error err;
	volatile uint8_t sink = 0;

	if (rag_safetensors_open_mem(data, size, "fuzz.safetensors", &st, &err) != RAG_OK)
		return 0;
	for (size_t i = 0; i < rag_safetensors_n_tensors(st); i++) {
		const struct rag_st_tensor *t = rag_safetensors_tensor_at(st, i);
		const uint8_t *p = t->data;
		if (!t->loadable)
			continue;
		if (rag_safetensors_find(st, t->name) != t)
			__builtin_trap();   /* names are unique and searchable */
		for (uint64_t b = 0; b < t->nbytes; b++)
			sink ^= p[b];
	}
	(void)sink;
	rag_safetensors_close(st);
	return 0;
}
