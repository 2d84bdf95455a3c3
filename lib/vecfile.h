/* vecfile.h: the index's vector file: a checksummed, mmap-able matrix of embeddings. */
#ifndef RAG_VECFILE_H
#define RAG_VECFILE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/*
 * Layout (all integers little-endian; version 1):
 *
 *   offset  size  field
 *   0       8     magic "RAGVEC1\0"
 *   8       4     version (1)
 *   12      4     storage: 0 f32, 1 f16, 2 int8
 *   16      4     metric: 0 cosine, 1 inner product, 2 L2
 *   20      4     dim
 *   24      8     n (rows)
 *   32      8     ids_off: n int64 row keys (the chunk's rowid in the database)
 *   40      8     scales_off: n float32 per-row scales (int8 only, else 0)
 *   48      8     data_off: n rows of dim elements of the storage type
 *   56      8     file size in bytes
 *   64      4     crc32 (zlib) of bytes [128, file size)
 *   68      60    zero
 *   128     ...   sections, each starting at a multiple of 64
 *
 * int8 rows hold round(x / s) with s = max|x| / 127 per row (scales[i] = s).
 * Cosine vectors are stored normalized (unit length), so cosine is the inner
 * product.  A reader checks magic, version, sizes and the checksum.
 */
#define RAG_VEC_MAGIC "RAGVEC1"
#define RAG_VEC_VERSION 1
#define RAG_VEC_HEADER 128

enum rag_vec_storage { RAG_VEC_F32 = 0, RAG_VEC_F16 = 1, RAG_VEC_I8 = 2 };
enum rag_vec_metric { RAG_METRIC_COSINE = 0, RAG_METRIC_IP = 1, RAG_METRIC_L2 = 2 };

const char *rag_vec_storage_name(int s);
const char *rag_vec_metric_name(int m);
/* Parse "f32|f16|int8" / "cosine|ip|l2"; 0 on success, -1 for an unknown name. */
int rag_vec_storage_parse(const char *s, int *out);
int rag_vec_metric_parse(const char *s, int *out);
/* Bytes per row of the storage type. */
size_t rag_vec_row_bytes(int storage, uint32_t dim);

/* A vector file opened read-only and mmap'd.  Fields are valid until close. */
struct rag_vecfile {
	uint32_t storage, metric, dim;
	uint64_t n;
	const int64_t *ids;
	const float *scales;   /* int8 only, else NULL */
	const void *data;
	void *map;
	size_t map_len;
};

/*
 * Open and verify path.  RAG_ENOINPUT when it does not exist (errno ENOENT
 * kept for the caller's retry), RAG_EMODEL for a foreign, truncated or
 * corrupted file (bad checksum), RAG_EIO on a read error.  *out is owned by
 * the caller: rag_vecfile_close.
 */
int rag_vecfile_open(const char *path, struct rag_vecfile **out, struct rag_error *err);
void rag_vecfile_close(struct rag_vecfile *v);
/* Row i converted to float32 in out[dim]. */
void rag_vecfile_row(const struct rag_vecfile *v, uint64_t i, float *out);

/*
 * Writer: rows are appended one at a time and the file is written to path
 * (the caller passes a temporary name and renames it), fsync'd on finish.
 * rag_vecw_add normalizes the row for cosine and converts it to the storage
 * type.  Errors: RAG_EIO (ENOSPC included) naming the path, RAG_EINTERNAL.
 * rag_vecw_abort removes the partial file.
 */
struct rag_vecw;
int rag_vecw_begin(const char *path, int storage, int metric, uint32_t dim, uint64_t n_hint,
		   struct rag_vecw **out, struct rag_error *err);
int rag_vecw_add(struct rag_vecw *w, int64_t id, const float *row, struct rag_error *err);
/* Add a row already in the file's storage type (copied from another file of the
 * same storage, metric and dim); scale is the int8 row scale, else ignored. */
int rag_vecw_add_raw(struct rag_vecw *w, int64_t id, const void *row, float scale,
		     struct rag_error *err);
int rag_vecw_finish(struct rag_vecw *w, struct rag_error *err);
void rag_vecw_abort(struct rag_vecw *w);

/* Normalize v[dim] to unit length in place (left alone when all zero). */
void rag_vec_normalize(float *v, uint32_t dim);

#endif
