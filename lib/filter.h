/* filter.h: the metadata predicate language of rag-retrieve --filter. */
#ifndef RAG_FILTER_H
#define RAG_FILTER_H

#include "error.h"
#include "json.h"

/*
 * Grammar (keywords case-insensitive):
 *
 *   expr    := and { OR and }
 *   and     := unary { AND unary }
 *   unary   := NOT unary | '(' expr ')' | EXISTS field
 *            | field op value | field [NOT] IN '(' value { ',' value } ')'
 *   op      := '=' | '==' | '!=' | '<>' | '<' | '<=' | '>' | '>='
 *   value   := "string" | 'string' | number | true | false | null
 *   field   := name { '.' name }    name: letters, digits, '_', '-'
 *
 * A field names a member of the chunk's `meta` object (a dotted path goes into
 * nested objects).  A comparison is false when the field is missing or its
 * type differs from the value's (numbers compare as numbers, strings
 * bytewise); when the field is an array, the comparison holds if it holds for
 * any element (so `tag = "a"` matches "tag": ["a", "b"]).
 */
struct rag_filter;

/* Parse src.  RAG_EUSAGE with "filter: ... at offset N" for a syntax error.
 * *out is owned by the caller (rag_filter_free). */
int rag_filter_parse(const char *src, struct rag_filter **out, struct rag_error *err);
/* Does meta (an object, or NULL when the chunk has none) satisfy f?  1 or 0. */
int rag_filter_eval(const struct rag_filter *f, const struct rag_json *meta);
void rag_filter_free(struct rag_filter *f);

#endif
