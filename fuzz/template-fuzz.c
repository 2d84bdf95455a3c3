/* template-fuzz.c: libFuzzer harness for the chat-template engine (see fuzz/README).
 * A model file's tokenizer.chat_template is untrusted input: parsing and
 * rendering it must end, within memory, with a result or an error. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "json.h"
#include "template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char messages_json[] =
	"[{\"role\":\"system\",\"content\":\"Answer briefly.\"},"
	"{\"role\":\"user\",\"content\":\"What is a pipe?\"},"
	"{\"role\":\"assistant\",\"content\":\"A byte stream between two programs.\"},"
	"{\"role\":\"user\",\"content\":\"And a named one?\"}]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rag_arena a;
	struct rag_json *messages;
	struct rag_template *t;
	struct rag_error err;
	struct rag_buf out;

	rag_arena_init(&a);
	rag_buf_init(&out);
	if (rag_json_parse(&a, messages_json, strlen(messages_json), &messages, &err) != RAG_OK)
		__builtin_trap();
	if (rag_template_parse((const char *)data, size, &t, &err) == RAG_OK) {
		(void)rag_template_render(t, messages, 1, "<s>", "</s>", NULL, &out, &err);
		rag_template_free(t);
	}
	rag_buf_free(&out);
	rag_arena_free(&a);
	return 0;
}
