/* gguf-fuzz.c: libFuzzer harness for the GGUF reader (see fuzz/README). */
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rag_gguf *g = NULL;
	struct rag_error err;
	size_t i;

	if (rag_gguf_open_mem(data, size, "fuzz.gguf", &g, &err) == RAG_OK) {
		/* Touch what a loader would: every string array and every tensor byte range. */
		for (i = 0; i < rag_gguf_n_kv(g); i++) {
			const struct rag_gguf_kv *kv = rag_gguf_kv_at(g, i);
			const struct rag_gguf_str *s = rag_gguf_arr_strs(g, kv);
			uint64_t j;
			for (j = 0; s && j < kv->n; j++)
				if (s[j].len)
					(void)*(volatile const char *)(s[j].s + s[j].len - 1);
		}
		for (i = 0; i < rag_gguf_n_tensors(g); i++) {
			const struct rag_gguf_tensor *t = rag_gguf_tensor_at(g, i);
			if (t->nbytes)
				(void)*(volatile const uint8_t *)((const uint8_t *)t->data + t->nbytes - 1);
		}
		rag_gguf_close(g);
	}
	return 0;
}
