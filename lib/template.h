/* template.h: the subset of Jinja2 that models' chat templates (tokenizer.chat_template) use. */
#ifndef RAG_TEMPLATE_H
#define RAG_TEMPLATE_H

#include <stddef.h>

#include "buf.h"
#include "error.h"
#include "json.h"

/*
 * Supported, with Hugging Face's settings (trim_blocks, lstrip_blocks, loop
 * controls): {{ }}, {% %}, {# #} with -/+ whitespace control; if/elif/else,
 * for (with `if` filter, tuple unpacking, else, loop.index/index0/first/last/
 * length/revindex/revindex0/previtem/nextitem, break/continue), set (names and
 * namespace attributes); literals (strings, numbers, true/false/none, lists,
 * dicts); operators + - * / // % ** ~, comparisons, in / not in, and/or/not,
 * `x if c else y`, subscripts, slices [a:b:c], attributes; filters trim,
 * length/count, tojson(indent 0 to 64), string, lower, upper, capitalize, title, first,
 * last, join, default/d, items, list, reverse, replace, int, float, abs, safe,
 * select/reject; tests defined, undefined, none, true, false, boolean, string,
 * number, integer, float, mapping, iterable, sequence, even, odd, equalto/eq,
 * ne; string methods startswith, endswith, split, strip, lstrip, rstrip, upper,
 * lower, replace, title, capitalize; dict methods items, keys, values, get;
 * globals raise_exception, namespace, range, strftime_now.  Anything else
 * (macros, blocks, includes, other filters/tests/methods) is an error that
 * names the feature.
 */
struct rag_template;

/* Parse src[0..len).  RAG_EDATA with "line N: ..." for syntax errors and
 * unsupported statements.  Free with rag_template_free. */
int rag_template_parse(const char *src, size_t len, struct rag_template **out,
		       struct rag_error *err);
void rag_template_free(struct rag_template *t);

/*
 * Render with the variables messages (a JSON array of message objects),
 * add_generation_prompt, bos_token, eos_token (NULL = undefined), and every
 * member of extra (a JSON object, may be NULL; e.g. {"enable_thinking": false}).
 * Appends to out.  RAG_EDATA for a runtime error ("template error: ...", or the
 * text of raise_exception), RAG_EINTERNAL when memory runs out.
 */
int rag_template_render(const struct rag_template *t, const struct rag_json *messages,
			int add_generation_prompt, const char *bos_token, const char *eos_token,
			const struct rag_json *extra, struct rag_buf *out, struct rag_error *err);

#endif
