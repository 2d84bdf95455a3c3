/* verdict_cache.h: judge verdicts and model hashes kept in an SQLite file, so reruns are instant and identical. */
#ifndef RAG_VERDICT_CACHE_H
#define RAG_VERDICT_CACHE_H

#include <stddef.h>

#include "buf.h"
#include "error.h"

/*
 * A verdict cache.  Each entry is keyed by (task, prompt text, judge model
 * hash): task names the metric and the step ("faithfulness.verdict"), the
 * prompt is the exact text the judge saw, so a changed answer, context,
 * prompt file or model misses and everything else hits.  The file is in WAL
 * mode: each put outside rag_vcache_begin/commit is its own transaction, so a
 * killed run keeps every verdict it stored and leaves a usable file, and
 * several processes can share one cache.
 */
struct rag_vcache;

/*
 * Open (creating when absent) the cache at path; path NULL keeps it in memory
 * for this process only.  RAG_ENOINPUT when the file cannot be opened or
 * created, RAG_EMODEL when it is not a ragkit verdict cache ("... is not an
 * SQLite file" / "has no verdicts table of the expected layout").  Free with
 * rag_vcache_free.
 */
int rag_vcache_open(const char *path, struct rag_vcache **out, struct rag_error *err);
void rag_vcache_free(struct rag_vcache *c);

/* Look up an entry: 1 and the value appended to out on a hit, 0 on a miss,
 * a negative rag_status (err set) on a database error.  Counts hits and misses. */
int rag_vcache_get(struct rag_vcache *c, const char *task, const char *model, const char *prompt,
		   size_t prompt_len, struct rag_buf *out, struct rag_error *err);
/* Store (or replace) an entry.  RAG_EIO on a database error. */
int rag_vcache_put(struct rag_vcache *c, const char *task, const char *model, const char *prompt,
		   size_t prompt_len, const char *value, size_t len, struct rag_error *err);

/* Group writes: begin/commit one transaction (nesting is not supported). */
int rag_vcache_begin(struct rag_vcache *c, struct rag_error *err);
int rag_vcache_commit(struct rag_vcache *c, struct rag_error *err);

/*
 * The hash of a model file's bytes (64-bit FNV-1a, 16 hex digits, plus the
 * size: "fnv1a64:<hex>:<size>"), written to out (at least 64 bytes).  Kept in
 * the cache by (path, size, mtime): an unchanged file is not read again.
 * RAG_ENOINPUT when the file cannot be read.
 */
#define RAG_VCACHE_HASH_MAX 64
int rag_vcache_model_hash(struct rag_vcache *c, const char *path, char *out, struct rag_error *err);

/* Lookups answered from the cache and missed since open. */
size_t rag_vcache_hits(const struct rag_vcache *c);
size_t rag_vcache_misses(const struct rag_vcache *c);

#endif
