/* shard.h: --shard I/N: which records a job keeps, by a stable hash of each record's key. */
#ifndef RAG_SHARD_H
#define RAG_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "json.h"

/*
 * Shard index of count (0 <= index < count).  count 0 means "not sharded":
 * every record is kept.  A zeroed struct is the unsharded one.
 *
 * A record's shard is rag_shard_hash(key) mod count, where the key is the
 * value of the record's key field (which field depends on the program: see
 * rag(7) SHARDS) taken as bytes: a string by its decoded UTF-8 bytes
 * (without quotes or escapes), a number by its JSON text as written.  A
 * record without a usable key (no such field, not a string or number, or
 * a line that is not a JSON object) is keyed by its line number in its
 * input, as decimal digits ("17"), so that exactly one shard sees it (and
 * reports it, if it is bad).  The shards of an input are disjoint and
 * together hold every record; they depend neither on record order nor on
 * which file a record is in (except for records keyed by line number).
 */
struct rag_shard {
	uint64_t index;
	uint64_t count;
};

/*
 * Parse "I/N": two unsigned decimal integers, 1 <= N <= 2^32 and I < N, no
 * blanks or signs.  RAG_EUSAGE with "invalid value 'S' for WHAT: ..." (what
 * names the option, e.g. "--shard" or "RAG_SHARD") otherwise; *out is left
 * alone then.
 */
int rag_shard_parse(const char *s, struct rag_shard *out, const char *what, struct rag_error *err);

/* 1 when s shards (count > 0), else 0 (s may be NULL). */
int rag_shard_active(const struct rag_shard *s);

/*
 * The shard hash: 64-bit FNV-1a (offset basis 0xcbf29ce484222325, prime
 * 0x100000001b3) over the key's bytes.
 */
uint64_t rag_shard_hash(const void *key, size_t len);

/* Does shard s keep the record with this key?  Always 1 when s is inactive. */
int rag_shard_keeps(const struct rag_shard *s, const void *key, size_t len);

/* Does s keep a record keyed by its (1-based) line number? */
int rag_shard_keeps_line(const struct rag_shard *s, size_t lineno);

/* Does s keep a record keyed by key (len bytes), or by its line number when
 * key is NULL (a record without one)? */
int rag_shard_keeps_key(const struct rag_shard *s, const void *key, size_t len, size_t lineno);

/*
 * The key bytes of a JSON value: a string's decoded bytes, a number's JSON
 * text; NULL for any other value (or v NULL).  Points into v (not owned).
 */
const char *rag_shard_json_key(const struct rag_json *v, size_t *len);

/*
 * The key fields of a document's records (chunks and their vectors), in
 * order: doc_id, then id (rag-tokenize, rag-embed, rag-index add).
 */
extern const char *const rag_shard_doc_keys[];

/*
 * Does s keep rec, keyed by the first field named in keys (a NULL-terminated
 * list) whose value is a string or a number, or else by lineno?  rec may be
 * NULL (a line that is not a JSON object): keyed by lineno.
 */
int rag_shard_keeps_record(const struct rag_shard *s, const struct rag_json *rec,
			   const char *const *keys, size_t lineno);

#endif
