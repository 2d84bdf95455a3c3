/* shard.c: --shard I/N parsing and the record-to-shard hash. */
#include "config.h"

#include <stdio.h>

#include "hash.h"
#include "shard.h"

#define SHARD_MAX_COUNT UINT64_C(4294967296)

const char *const rag_shard_doc_keys[] = { "doc_id", "id", NULL };

/* An unsigned decimal number filling [s, end); -1 when it is not one. */
static int parse_uint(const char *s, const char *end, uint64_t *out)
{
	uint64_t v = 0;

	if (s == end)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

int rag_shard_parse(const char *s, struct rag_shard *out, const char *what, struct rag_error *err)
{
	const char *slash = s, *end;
	uint64_t i, n;

	while (*slash && *slash != '/')
		slash++;
	for (end = slash; *end; end++)
		;
	if (!*slash || parse_uint(s, slash, &i) || parse_uint(slash + 1, end, &n))
		return rag_error_set(err, RAG_EUSAGE, "invalid value '%s' for %s: expected I/N, two whole numbers", s,
				     what);
	if (n < 1 || n > SHARD_MAX_COUNT)
		return rag_error_set(err, RAG_EUSAGE, "invalid value '%s' for %s: N must be between 1 and %llu", s,
				     what, (unsigned long long)SHARD_MAX_COUNT);
	if (i >= n)
		return rag_error_set(err, RAG_EUSAGE, "invalid value '%s' for %s: I must be less than N", s, what);
	out->index = i;
	out->count = n;
	return RAG_OK;
}

int rag_shard_active(const struct rag_shard *s)
{
	return s && s->count > 0;
}

uint64_t rag_shard_hash(const void *key, size_t len)
{
	return rag_fnv1a64(key, len);
}

int rag_shard_keeps(const struct rag_shard *s, const void *key, size_t len)
{
	if (!rag_shard_active(s))
		return 1;
	return rag_shard_hash(key, len) % s->count == s->index;
}

int rag_shard_keeps_line(const struct rag_shard *s, size_t lineno)
{
	char buf[32];
	int n;

	if (!rag_shard_active(s))
		return 1;
	n = snprintf(buf, sizeof buf, "%zu", lineno);
	return rag_shard_keeps(s, buf, (size_t)n);
}

const char *rag_shard_json_key(const struct rag_json *v, size_t *len)
{
	if (v && v->type == RAG_JSON_STRING) {
		*len = v->u.str.len;
		return v->u.str.s;
	}
	if (v && v->type == RAG_JSON_NUMBER) {
		*len = v->raw_len;
		return v->raw;
	}
	*len = 0;
	return NULL;
}

int rag_shard_keeps_key(const struct rag_shard *s, const void *key, size_t len, size_t lineno)
{
	return key ? rag_shard_keeps(s, key, len) : rag_shard_keeps_line(s, lineno);
}

int rag_shard_keeps_record(const struct rag_shard *s, const struct rag_json *rec,
			   const char *const *keys, size_t lineno)
{
	const char *k = NULL;
	size_t len = 0;

	if (!rag_shard_active(s))
		return 1;
	if (rec && rec->type == RAG_JSON_OBJECT)
		for (; *keys && !k; keys++)
			k = rag_shard_json_key(rag_json_get(rec, *keys), &len);
	return rag_shard_keeps_key(s, k, len, lineno);
}
