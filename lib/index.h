/* index.h: the ragkit index: an SQLite database plus a vector file beside it. */
#ifndef RAG_INDEX_H
#define RAG_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "analyzer.h"
#include "bm25.h"
#include "buf.h"
#include "error.h"
#include "filter.h"
#include "json.h"
#include "options.h"

/*
 * On-disk layout, format 2 (see also man/rag-index.1, FILES):
 *
 *   PATH            SQLite database (WAL journal), tables:
 *     meta(key TEXT PRIMARY KEY, value TEXT)
 *         magic = "ragkit-index", format = "2", dim (0 = no vectors yet),
 *         model, metric (cosine|ip|l2), storage (f32|f16|int8),
 *         stem (none|porter), stopwords (none|english), vec_gen (integer)
 *     chunks(rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, doc_id TEXT,
 *            hash TEXT NOT NULL, len INTEGER (tokens, title and text),
 *            tlen INTEGER (tokens of the title), has_vec INTEGER,
 *            has_acl INTEGER, record TEXT NOT NULL (the chunk record without `embedding`))
 *     terms(tid INTEGER PRIMARY KEY, term TEXT UNIQUE NOT NULL, df INTEGER,
 *           postings BLOB: df triples of little-endian uint32 (rowid, tf in title and
 *           text, tf in the title), rowid ascending; format 1 had pairs (rowid, tf))
 *   PATH.vec.GEN    the vectors of generation GEN (see vecfile.h), GEN = meta.vec_gen;
 *                   absent while vec_gen is 0
 *   PATH.ann.GEN    the HNSW graph of the same vectors (see hnsw.h), when meta.ann
 *                   is "hnsw" (meta ann_m, ann_efc: its M and efConstruction)
 *
 * A writer holds SQLite's write lock for its whole run, writes the next
 * generation's vector file under a temporary name, fsyncs and renames it,
 * then commits the database change that names it; only then is the previous
 * generation removed.  A reader takes one read transaction (a snapshot) for its
 * whole life and maps the generation that snapshot names, so it never sees a
 * half-applied update.  A killed writer leaves an unreferenced file at most,
 * which the next writer removes.
 */
#define RAG_INDEX_MAGIC "ragkit-index"
#define RAG_INDEX_FORMAT 2

/* Settings fixed when an index is created (later runs must agree). */
struct rag_index_opts {
	int storage;               /* RAG_VEC_* */
	int metric;                /* RAG_METRIC_* */
	const char *model;         /* embedding model name, or NULL */
	struct rag_analyzer an;
	int storage_set, metric_set, an_set;  /* given explicitly: checked against the index */
	int ann;                   /* keep an HNSW graph of the vectors (can be switched on later) */
	uint32_t ann_m, ann_ef_construction;  /* its M (16) and efConstruction (200) */
};
void rag_index_opts_init(struct rag_index_opts *o);

/* ---- writing ------------------------------------------------------------- */
struct rag_index_writer;

struct rag_index_counts {
	size_t added, updated, unchanged, deleted;
};

/*
 * Open PATH for writing (created when missing), taking the write lock (waits
 * up to 60 s for another writer).  Settings in o that were set explicitly must
 * match an existing index (RAG_EDATA otherwise).  Errors: RAG_EMODEL for a file
 * that is not a ragkit index (or a newer format), RAG_EIO, RAG_EINTERNAL.
 */
int rag_index_writer_open(const char *path, const struct rag_index_opts *o,
			  struct rag_index_writer **out, struct rag_error *err);

/*
 * Add or replace the chunk record rec (an object with string `id`; optional
 * `doc_id`, `text`, `title`, `hash`, `embedding`, `meta`, `acl`).  vec, when
 * not NULL, is used instead of rec's `embedding` (dim floats).  A record whose
 * `hash` (or, when absent, a hash of the record without `embedding`) equals
 * the stored one is skipped.  RAG_EDATA for a bad record (message without a
 * line number: the caller adds it): missing id, an embedding that is not an
 * array of numbers, a dimension or model different from the index's.
 */
int rag_index_writer_upsert(struct rag_index_writer *w, const struct rag_json *rec,
			    const float *vec, uint32_t vec_dim, struct rag_error *err);
/* Delete the chunk with this id / every chunk of this doc_id (count added to counts). */
int rag_index_writer_delete_id(struct rag_index_writer *w, const char *id, struct rag_error *err);
int rag_index_writer_delete_doc(struct rag_index_writer *w, const char *doc_id, struct rag_error *err);
/*
 * Delete every stored chunk whose doc_id is one of doc_ids and whose id is
 * not one of keep_ids (count added to counts): with keep_ids the ids upserted
 * in this run, a changed document is replaced in the same transaction.
 * Errors: RAG_EIO, RAG_EINTERNAL.
 */
int rag_index_writer_delete_docs_except(struct rag_index_writer *w, const char *const *doc_ids, size_t n_docs,
					const char *const *keep_ids, size_t n_keep, struct rag_error *err);
/* What the writer has done so far. */
const struct rag_index_counts *rag_index_writer_counts(const struct rag_index_writer *w);
/*
 * Apply everything atomically: postings, the next vector file, commit.  On
 * failure nothing changes (RAG_EIO for a full disk).  The writer must still
 * be freed.
 */
int rag_index_writer_commit(struct rag_index_writer *w, struct rag_error *err);
/* Release; rolls back anything not committed.  NULL is fine. */
void rag_index_writer_free(struct rag_index_writer *w);

/* Rewrite the database (VACUUM) and the vector file into a fresh generation. */
int rag_index_compact(const char *path, struct rag_error *err);
/* Write stats of PATH to out: text lines "key: value", or one JSON object. */
int rag_index_stats(const char *path, int json, struct rag_buf *out, struct rag_error *err);
/*
 * Join the chunks of the indexes in[0..n) into out (created or updated), later
 * inputs winning on duplicate ids.  Inputs must agree on dimension, model,
 * metric and analyzer (RAG_EDATA otherwise).
 */
int rag_index_merge(const char *out, const char *const *in, size_t n, struct rag_error *err);

/* ---- reading ------------------------------------------------------------- */
struct rag_index;

/*
 * Open PATH for searching: a consistent snapshot until rag_index_close.
 * RAG_ENOINPUT when missing, RAG_EMODEL for a foreign, corrupted or newer file.
 */
int rag_index_open(const char *path, struct rag_index **out, struct rag_error *err);
void rag_index_close(struct rag_index *ix);

uint32_t rag_index_dim(const struct rag_index *ix);
int rag_index_metric(const struct rag_index *ix);
uint64_t rag_index_size(const struct rag_index *ix);  /* number of chunks */
/* Exclusive upper bound of chunk keys (rowids) in this index. */
int64_t rag_index_max_key(const struct rag_index *ix);

/*
 * Which chunks a query may see: mask[key] = 1 when the chunk passes the filter
 * f (NULL = no filter) and its acl shares a principal with principals[0..np)
 * (a chunk without acl is public).  With check_acl 0 the ACL is ignored.
 * *mask (rag_free) is NULL when every chunk passes.
 */
int rag_index_mask(struct rag_index *ix, const struct rag_filter *f, int check_acl,
		   const char *const *principals, size_t np, uint8_t **mask, struct rag_error *err);

/* Top k chunks for text by BM25 (the index's analyzer); mask may be NULL. */
int rag_index_bm25(struct rag_index *ix, const char *text, size_t len,
		   const struct rag_bm25_params *p, const uint8_t *mask, size_t k,
		   struct rag_hit *out, size_t *n_out, struct rag_error *err);

/*
 * As rag_index_dense, through the HNSW graph with search breadth ef (0: the
 * graph's default) when the index has one, else exactly.  Scores are the
 * same as the exact search's (cosine/ip: similarity; l2: minus the distance).
 */
int rag_index_ann(struct rag_index *ix, const float *q, uint32_t dim, const uint8_t *mask,
		  size_t k, uint32_t ef, struct rag_hit *out, size_t *n_out, struct rag_error *err);
/* Does the index have an ANN graph? */
int rag_index_has_ann(const struct rag_index *ix);

/*
 * Top k chunks for the query vector q[dim] by exact search (cosine: q is
 * normalized here; L2: score is minus the squared distance).  RAG_EDATA when
 * dim differs from the index's.
 */
int rag_index_dense(struct rag_index *ix, const float *q, uint32_t dim, const uint8_t *mask,
		    size_t k, struct rag_hit *out, size_t *n_out, struct rag_error *err);

/*
 * rag_index_dense for m queries at once (q: m rows of dim floats), scored in
 * one pass over the stored vectors.  masks: NULL, or m entries each NULL or a
 * mask as rag_index_mask makes.  Query i's hits go to out[i*k ..] (out holds
 * m*k hits), their count to n_out[i]; ranking and scores are those of m calls
 * of rag_index_dense.  RAG_EDATA when dim differs from the index's.
 */
int rag_index_dense_batch(struct rag_index *ix, const float *q, size_t m, uint32_t dim,
			  const uint8_t *const *masks, size_t k, struct rag_hit *out, size_t *n_out,
			  struct rag_error *err);

/*
 * Where this index's exact dense searches have run, as a phrase for
 * messages: "the GPU (NAME)", "the CPU: WHY" (as asked, no usable GPU, an
 * index below the GPU's threshold, ...), or "the CPU after the GPU
 * failed: MESSAGE" (then *gpu_failed is 1: the batch it hit was searched
 * again on the CPU, and every later one ran there).  NULL before the first
 * exact dense search.
 */
const char *rag_index_dense_where(const struct rag_index *ix, int *gpu_failed);

/* Where this index's exact dense searches may run: auto (the GPU for an
 * index large enough, see rag_gpu_dense_why_cpu), cpu or cuda; the default
 * is RAG_DEVICE's at rag_index_open (auto when unset or not a device). */
void rag_index_set_device(struct rag_index *ix, enum rag_device dev);

/* The id of chunk key, copied into the caller's buffer (reset first); cheaper than rag_index_chunk. */
int rag_index_chunk_id(struct rag_index *ix, int64_t key, struct rag_buf *id, struct rag_error *err);

/* The key of the chunk with this id, or -1 in *key when there is none. */
int rag_index_key_of(struct rag_index *ix, const char *id, size_t len, int64_t *key, struct rag_error *err);

/*
 * The stored chunk key: its id, doc_id (NULL when absent) and record (JSON
 * object text without `embedding`), copied into the caller's buffers (reset first).
 */
int rag_index_chunk(struct rag_index *ix, int64_t key, struct rag_buf *id, struct rag_buf *doc_id,
		    int *has_doc_id, struct rag_buf *record, struct rag_error *err);

#endif
