/* hnsw.h: an HNSW approximate nearest-neighbour index over labelled vectors,
 * with deletes, filtered search and a versioned file searched in place by mmap. */
#ifndef RAG_HNSW_H
#define RAG_HNSW_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/*
 * Overview
 *
 * An index holds vectors of one dimension, each under a caller-chosen int64
 * label (a chunk's row id, say).  It is built in memory with rag_hnsw_new +
 * rag_hnsw_add/rag_hnsw_add_batch, written with rag_hnsw_save, and opened with
 * rag_hnsw_load, which maps the file read-only and searches the mapped graph
 * without copying it.
 *
 * Distances (smaller is nearer; what rag_hnsw_search reports):
 *   RAG_HNSW_COSINE  1 - cos(q, v).  Vectors and queries are normalized to unit
 *                    length (vectors on insertion, so what is stored is unit).
 *   RAG_HNSW_IP      1 - q.v (inner product, vectors stored as given).
 *   RAG_HNSW_L2      |q - v|^2 (squared Euclidean).
 * These are hnswlib's conventions ("cosine", "ip", "l2").
 *
 * Storage of the vectors (the graph is the same for all):
 *   RAG_HNSW_F32   4 bytes an element.
 *   RAG_HNSW_F16   IEEE half, 2 bytes an element (round to nearest even).
 *   RAG_HNSW_I8    int8 with one float scale per vector: v[i] ~ scale * c[i],
 *                  scale = max|v[i]| / 127, c[i] = round(v[i] / scale).  A
 *                  per-vector scale (not a global one) keeps the relative error
 *                  the same for every vector whatever its norm, and needs no
 *                  training pass over the data.  1 byte an element + 4 a vector.
 * Queries stay float32; distances are computed between the float query and the
 * decoded stored vector.  During construction a new vector is linked using its
 * stored (encoded) form, so the graph matches what is searched.
 *
 * Levels are drawn from a hash of (seed, node number), so they do not depend on
 * threads.  A build with one thread is deterministic: the same seed, vectors and
 * insertion order give a byte-identical file.  With several threads the links
 * depend on scheduling (recall is the same in expectation, not bit for bit).
 *
 * Parallel build: rows are validated, encoded, numbered and given their levels
 * serially; then threads link them concurrently, each node's link lists
 * guarded by one of 1024 striped mutexes (a thread holds one at a time), and
 * a global lock held while a node that raises the top level is linked (as in
 * hnswlib).
 *
 * Thread safety: concurrent rag_hnsw_search (and rag_hnsw_stats/get) calls on
 * one index are safe, in memory or loaded.  Mutations (add, add_batch, delete,
 * compact, set_ef) must not run concurrently with anything else on the same
 * index; rag_hnsw_add_batch parallelizes internally (per-node locks).
 *
 * A loaded index can be mutated: the first mutation copies the mapped arrays
 * into memory (O(file size)) and unmaps the file.  Writers never modify a
 * mapped file: rag_hnsw_save writes a new file and renames it into place, so a
 * reader keeps a consistent view until it reloads.
 *
 * Errors: RAG_EUSAGE for bad parameters, RAG_EDATA for bad vectors (NaN/inf,
 * dimension mismatch), RAG_EINTERNAL for out-of-memory, RAG_EIO for I/O errors,
 * RAG_ENOINPUT when a file cannot be opened, RAG_EMODEL for a corrupt, truncated,
 * foreign or unsupported index file.  Every function taking err fills it on
 * failure (err may be NULL).
 */

enum rag_hnsw_metric {
	RAG_HNSW_COSINE = 0,
	RAG_HNSW_IP = 1,
	RAG_HNSW_L2 = 2,
};

enum rag_hnsw_storage {
	RAG_HNSW_F32 = 0,
	RAG_HNSW_F16 = 1,
	RAG_HNSW_I8 = 2,
};

#define RAG_HNSW_MAX_M 256      /* largest M accepted (level-0 lists hold 2*M) */
#define RAG_HNSW_MAX_LEVEL 30   /* levels are capped here */

struct rag_hnsw;

/* Construction parameters; rag_hnsw_params_init fills the defaults shown. */
struct rag_hnsw_params {
	uint32_t dim;                   /* required, 1 .. 65536 */
	enum rag_hnsw_metric metric;    /* RAG_HNSW_COSINE */
	enum rag_hnsw_storage storage;  /* RAG_HNSW_F32 */
	uint32_t M;                     /* 16: links per node above level 0, 2*M at level 0 */
	uint32_t ef_construction;       /* 200 */
	uint32_t ef_search;             /* 64: default ef of a search (saved in the file) */
	uint64_t seed;                  /* 100: level generation */
};

void rag_hnsw_params_init(struct rag_hnsw_params *p, uint32_t dim);

/*
 * Create an empty in-memory index.  *out receives it (free with
 * rag_hnsw_free).  RAG_EUSAGE when a parameter is out of range (M 2..256,
 * ef_construction >= 1, dim 1..65536, unknown metric/storage).
 */
int rag_hnsw_new(const struct rag_hnsw_params *p, struct rag_hnsw **out, struct rag_error *err);

/* Shorthand for rag_hnsw_new with the other parameters at their defaults. */
int rag_hnsw_create(uint32_t dim, enum rag_hnsw_metric metric, enum rag_hnsw_storage storage,
		    uint32_t M, uint32_t ef_construction, uint64_t seed, struct rag_hnsw **out,
		    struct rag_error *err);

/* Release everything (unmaps a loaded file).  NULL is a no-op. */
void rag_hnsw_free(struct rag_hnsw *h);

/*
 * Insert one vector v (dim floats, copied) under label.  If a live vector
 * already has this label it is deleted first (upsert), so a label maps to at
 * most one live vector.  RAG_EDATA for a non-finite element (or, for cosine,
 * a zero vector is accepted and stays zero).  RAG_EINTERNAL when out of
 * memory: the index is then unchanged.
 */
int rag_hnsw_add(struct rag_hnsw *h, int64_t label, const float *v, struct rag_error *err);

/*
 * Insert n vectors (row-major, n*dim floats) with labels[i], in parallel on
 * `threads` threads (<= 0: the count set by rag_set_threads, or OpenMP's).
 * Node numbers, levels and labels are assigned in input order.  A label
 * repeated within the batch: the last row wins.  Validation happens before any
 * change (RAG_EDATA names the row).  RAG_EINTERNAL when out of memory: before
 * insertion starts the index is unchanged; if memory runs out during insertion
 * the rows not fully linked are left deleted (the graph stays valid).
 */
int rag_hnsw_add_batch(struct rag_hnsw *h, size_t n, const int64_t *labels, const float *vectors,
		       int threads, struct rag_error *err);

/*
 * Delete the live vector with this label: it becomes a tombstone, never
 * returned by a search but still used as a waypoint of the graph until
 * rag_hnsw_compact.  *found (may be NULL) is set to 1 when a vector was
 * deleted, 0 when no live vector had the label (not an error).
 */
int rag_hnsw_delete(struct rag_hnsw *h, int64_t label, int *found, struct rag_error *err);

/*
 * Rebuild the graph from the live vectors only (stored rows are copied as they
 * are, not re-quantized), on `threads` threads, dropping tombstones; labels and
 * parameters are kept.  On failure (RAG_EINTERNAL) the index is unchanged.
 */
int rag_hnsw_compact(struct rag_hnsw *h, int threads, struct rag_error *err);

/* Change the default ef of searches (ef == 0 in rag_hnsw_search). */
void rag_hnsw_set_ef(struct rag_hnsw *h, uint32_t ef);

/*
 * Filter callback: return nonzero to accept the vector with this label.  It
 * is called from the searching thread, possibly many times per search, and
 * must be thread-safe if searches run concurrently.
 */
typedef int (*rag_hnsw_filter_fn)(int64_t label, void *ctx);

/*
 * The k nearest live vectors to q (dim floats; normalized internally for
 * cosine) that pass filter (NULL: all).  labels[k] and dists[k] (dists may be
 * NULL) receive them nearest first; *n_out the number found.  ef is the
 * search breadth (0: the index's default; raised to k when smaller).
 *
 * Filter and tombstone policy: rejected and deleted vectors are still
 * traversed, so they guide the search, but never enter the results; while
 * fewer than ef results are accepted the search keeps expanding.  If after
 * computing max(64*ef, count/10) distances it has fewer than k accepted
 * results (a very selective filter), or the graph search ends with fewer than
 * k without having seen every vector, the search falls back to an exact scan
 * of all vectors with the filter.  Hence *n_out < k only when fewer than k
 * live vectors pass the filter.
 *
 * Safe to call concurrently with other searches.  RAG_EDATA for a non-finite
 * query, RAG_EINTERNAL when out of memory.
 */
int rag_hnsw_search(const struct rag_hnsw *h, const float *q, size_t k, uint32_t ef,
		    rag_hnsw_filter_fn filter, void *ctx, int64_t *labels, float *dists,
		    size_t *n_out, struct rag_error *err);

/*
 * Exact search (a scan of every live vector with the same distances and the
 * same filter): the reference recall is measured against.  Same contract as
 * rag_hnsw_search.
 */
int rag_hnsw_search_exact(const struct rag_hnsw *h, const float *q, size_t k,
			  rag_hnsw_filter_fn filter, void *ctx, int64_t *labels, float *dists,
			  size_t *n_out, struct rag_error *err);

/*
 * Decode the stored vector of a live label into out (dim floats): what the
 * index compares against (normalized for cosine, rounded for f16/i8).
 * *found = 0 (out untouched) when no live vector has the label.  O(1) once
 * the label table exists (after any add or delete in this process); on a
 * freshly loaded index a linear scan of the labels.
 */
int rag_hnsw_get(const struct rag_hnsw *h, int64_t label, float *out, int *found,
		 struct rag_error *err);

struct rag_hnsw_stats {
	uint32_t dim, M, ef_construction, ef_search;
	enum rag_hnsw_metric metric;
	enum rag_hnsw_storage storage;
	uint64_t seed;
	uint64_t count;         /* nodes in the graph, tombstones included */
	uint64_t deleted;       /* tombstones */
	uint64_t live;          /* count - deleted */
	int max_level;          /* -1 when empty */
	uint64_t memory_bytes;  /* heap bytes held, plus the mapped file size */
	uint64_t mapped_bytes;  /* size of the mapped file, 0 when in memory */
};

void rag_hnsw_stats(const struct rag_hnsw *h, struct rag_hnsw_stats *st);

/* Names for reports and option parsing: "cosine" "ip" "l2"; "f32" "f16" "i8". */
const char *rag_hnsw_metric_name(enum rag_hnsw_metric m);
const char *rag_hnsw_storage_name(enum rag_hnsw_storage s);
/* Parse a name back; RAG_EUSAGE "unknown metric 'x'" when it names none. */
int rag_hnsw_metric_parse(const char *s, enum rag_hnsw_metric *m, struct rag_error *err);
int rag_hnsw_storage_parse(const char *s, enum rag_hnsw_storage *st, struct rag_error *err);

/*
 * File format, version 1 (all integers little-endian, sized):
 *
 *   header, 512 bytes:
 *     0   char[8] magic "RAGHNSW\0"
 *     8   u32 version (1)            12  u32 header size (512)
 *     16  u32 dim                    20  u32 metric (enum value)
 *     24  u32 storage (enum value)   28  u32 M
 *     32  u32 M0 (= 2*M)             36  u32 ef_construction
 *     40  u32 ef_search              44  i32 max_level (-1 when empty)
 *     48  u64 seed                   56  u64 count (nodes)
 *     64  u64 deleted                72  u64 entry node (0 when empty)
 *     80  u64 row bytes              88  u64 upper pool length (u32 units)
 *     96  u32 section count (8)      100 u32 0
 *     104 8 sections of 24 bytes: u64 offset, u64 length in bytes, u32 crc32
 *         (zlib) of the section's bytes, u32 0
 *     296 zeros
 *     508 u32 crc32 of bytes 0..507
 *   sections, each at a 64-byte aligned offset, in this order:
 *     0 labels     i64[count]
 *     1 levels     u8[count]     top level of each node
 *     2 flags      u8[count]     bit 0: deleted
 *     3 upper_off  u64[count]    where node i's levels 1..L start in the pool
 *     4 pool       u32[pool len] per node, per level 1..L: a list of 1+M u32
 *     5 links0     u32[count*(1+M0)]  level-0 lists
 *     6 vectors    count * row bytes (f32, f16 or i8 elements)
 *     7 scales     f32[count] for i8 storage, empty otherwise
 *   A link list is u32 n followed by n neighbour node numbers (capacity
 *   slots after them are zero); a list of level l names only nodes whose
 *   level is >= l.  upper_off of a level-0 node is where its lists would
 *   start (unused).  Node numbers are insertion order; labels are the
 *   caller's.  The file ends at the end of the last section
 *   rounded up to 64 bytes.
 */

/* Load flags. */
#define RAG_HNSW_LOAD_NOVERIFY 1u  /* skip the section crc32s (structure is still checked) */

/*
 * Write the index to path atomically: to a temporary file in the same
 * directory, fsync'd, renamed over path, and the directory fsync'd.  On
 * failure the temporary is removed and path is untouched (RAG_EIO).
 */
int rag_hnsw_save(const struct rag_hnsw *h, const char *path, struct rag_error *err);

/* Write the file image to an open file descriptor at offsets 0.. (pwrite);
 * no fsync.  For callers managing their own temporary files. */
int rag_hnsw_write_fd(const struct rag_hnsw *h, int fd, struct rag_error *err);

/*
 * Open an index file: map it read-only and check it (header, section bounds,
 * crc32s unless RAG_HNSW_LOAD_NOVERIFY, and the graph structure: every link a
 * valid node, every count within capacity), so that no file, however broken,
 * makes a search read outside the mapping.  RAG_ENOINPUT when it cannot be
 * opened; RAG_EMODEL with a message saying what is wrong otherwise.  The file
 * must not be truncated or rewritten in place while mapped (replace it by
 * rename, as rag_hnsw_save does).
 */
int rag_hnsw_load(const char *path, unsigned flags, struct rag_hnsw **out, struct rag_error *err);

#endif
