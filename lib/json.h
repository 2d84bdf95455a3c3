/* json.h: strict JSON parsing into an arena, and JSON writing into a rag_buf. */
#ifndef RAG_JSON_H
#define RAG_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "error.h"

enum rag_json_type {
	RAG_JSON_NULL,
	RAG_JSON_FALSE,
	RAG_JSON_TRUE,
	RAG_JSON_NUMBER,
	RAG_JSON_STRING,
	RAG_JSON_ARRAY,
	RAG_JSON_OBJECT,
};

struct rag_json_member;

/*
 * A parsed value.  raw/raw_len are the exact source bytes of the value (they
 * point into the caller's input buffer, which must outlive the tree), so that
 * fields a program does not understand can be passed on byte for byte.
 * Everything else lives in the arena given to rag_json_parse.
 */
struct rag_json {
	enum rag_json_type type;
	const char *raw;
	size_t raw_len;
	union {
		double num;                                   /* NUMBER */
		struct { const char *s; size_t len; } str;    /* STRING: decoded UTF-8, NUL-terminated */
		struct { struct rag_json *items; size_t n; } arr;
		struct { struct rag_json_member *members; size_t n; } obj;
	} u;
};

struct rag_json_member {
	const char *key;      /* decoded, NUL-terminated */
	size_t key_len;
	const char *raw;      /* source bytes of `"key": value` */
	size_t raw_len;
	struct rag_json value;
};

/*
 * Parse exactly one JSON value from buf[0..len) (surrounding whitespace allowed).
 * Strict RFC 8259: no trailing commas, no comments, no NaN; strings must be valid
 * UTF-8 with no raw control characters and no unpaired surrogate escapes; nesting
 * is limited to 512 levels.  On success *out points into the arena.  On failure
 * returns RAG_EDATA with a message such as "invalid JSON at byte 17: expected ':'".
 */
int rag_json_parse(struct rag_arena *a, const char *buf, size_t len,
		   struct rag_json **out, struct rag_error *err);

/* Object member lookup (the first member with that key), or NULL. */
const struct rag_json *rag_json_get(const struct rag_json *obj, const char *key);
/* The member's string, or NULL when absent or not a string. */
const char *rag_json_get_str(const struct rag_json *obj, const char *key, size_t *len);
/* 1 and *out when the member is a number; 0 otherwise. */
int rag_json_get_num(const struct rag_json *obj, const char *key, double *out);

/* Is s[0..n) valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF)?  Returns the
 * offset of the first bad byte, or n when all is valid. */
size_t rag_utf8_check(const char *s, size_t n);

/* ---- writing -------------------------------------------------------------
 * All writers append to b and follow rag_buf's failure rule (check
 * rag_buf_failed once at the end).
 */
/* A JSON string literal; invalid UTF-8 bytes become U+FFFD. */
void rag_json_write_str(struct rag_buf *b, const char *s, size_t len);
/* A number: integers exactly, others with 17 significant digits; NaN/inf as null. */
void rag_json_write_num(struct rag_buf *b, double v);
/* A float32 with enough digits to round-trip (at most 9); NaN/inf as null. */
void rag_json_write_float(struct rag_buf *b, float v);
void rag_json_write_floats(struct rag_buf *b, const float *v, size_t n);

/*
 * Object writer: rag_objw_begin writes "{", rag_objw_key writes the separator
 * and "key":, after which the caller writes the value; rag_objw_copy copies the
 * members of an existing object verbatim, leaving out the keys in drop
 * (NULL-terminated list, may be NULL); rag_objw_end writes "}".
 */
struct rag_objw {
	struct rag_buf *b;
	size_t n;  /* members written */
};
void rag_objw_begin(struct rag_objw *w, struct rag_buf *b);
void rag_objw_key(struct rag_objw *w, const char *key);
void rag_objw_copy(struct rag_objw *w, const struct rag_json *obj, const char *const *drop);
void rag_objw_end(struct rag_objw *w);

#endif
