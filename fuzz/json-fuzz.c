/* json-fuzz.c: libFuzzer harness for the JSON parser and writer (see fuzz/README). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rag_arena a;
	struct rag_json *v;
	struct rag_error err;
	struct rag_buf b;

	rag_arena_init(&a);
	rag_buf_init(&b);
	if (rag_json_parse(&a, (const char *)data, size, &v, &err) == RAG_OK) {
		struct rag_objw w;
		/* Copying an object verbatim must give JSON that parses again. */
		if (v->type == RAG_JSON_OBJECT) {
			struct rag_json *again;
			rag_objw_begin(&w, &b);
			rag_objw_copy(&w, v, NULL);
			rag_objw_end(&w);
			if (rag_json_parse(&a, b.data, b.len, &again, &err) != RAG_OK ||
			    again->u.obj.n != v->u.obj.n)
				__builtin_trap();
		} else if (v->type == RAG_JSON_STRING) {
			struct rag_json *again;
			rag_json_write_str(&b, v->u.str.s, v->u.str.len);
			if (rag_json_parse(&a, b.data, b.len, &again, &err) != RAG_OK ||
			    again->u.str.len != v->u.str.len || memcmp(again->u.str.s, v->u.str.s, v->u.str.len))
				__builtin_trap();
		}
	}
	rag_buf_free(&b);
	rag_arena_free(&a);
	return 0;
}
