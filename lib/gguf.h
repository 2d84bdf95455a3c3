/* gguf.h: read-only, bounds-checked access to GGUF model files (versions 2 and 3). */
#ifndef RAG_GGUF_H
#define RAG_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "kernels.h"

/* Metadata value types, as numbered in the GGUF specification. */
enum rag_gguf_vtype {
	RAG_GGUF_UINT8 = 0,
	RAG_GGUF_INT8 = 1,
	RAG_GGUF_UINT16 = 2,
	RAG_GGUF_INT16 = 3,
	RAG_GGUF_UINT32 = 4,
	RAG_GGUF_INT32 = 5,
	RAG_GGUF_FLOAT32 = 6,
	RAG_GGUF_BOOL = 7,
	RAG_GGUF_STRING = 8,
	RAG_GGUF_ARRAY = 9,
	RAG_GGUF_UINT64 = 10,
	RAG_GGUF_INT64 = 11,
	RAG_GGUF_FLOAT64 = 12,
	RAG_GGUF_VTYPE_COUNT
};

/* A string inside the mapped file: not NUL-terminated. */
struct rag_gguf_str {
	const char *s;
	uint64_t len;
};

/*
 * One metadata entry.  For scalars, p points at the value bytes in the file
 * (possibly unaligned: read through the accessors).  Strings: str is a
 * NUL-terminated copy owned by the file object.  Arrays: elem and n; p points
 * at the first element (for arrays of strings or arrays, use the accessors).
 */
struct rag_gguf_kv {
	char *key;
	enum rag_gguf_vtype type;
	const uint8_t *p;
	uint64_t size;           /* bytes of the whole value in the file */
	char *str;               /* STRING only */
	uint64_t str_len;
	enum rag_gguf_vtype elem; /* ARRAY only */
	uint64_t n;              /* ARRAY only */
	struct rag_gguf_str *strs; /* ARRAY of STRING: index built on first use */
};

struct rag_gguf_tensor {
	char *name;
	uint32_t n_dims;
	int64_t ne[4];           /* ne[0] varies fastest (GGML order); unused dims are 1 */
	enum rag_dtype type;
	uint64_t offset;         /* from the start of the data section */
	uint64_t nbytes;
	const void *data;        /* in the read-only mapping */
};

struct rag_gguf;

/*
 * Map and validate a GGUF file: magic, version (2 or 3), every key/value
 * (nested arrays included), every tensor (known type, dims, size, alignment,
 * inside the file, no overlaps).  On failure returns RAG_ENOINPUT (cannot
 * open) or RAG_EMODEL ("'x.gguf': truncated in metadata entry 12 ...").  The
 * result is released with rag_gguf_close.
 */
int rag_gguf_open(const char *path, struct rag_gguf **out, struct rag_error *err);
/* The same over a caller-owned buffer (fuzzing, tests); buf must outlive the object. */
int rag_gguf_open_mem(const void *buf, size_t len, const char *name, struct rag_gguf **out,
		      struct rag_error *err);
void rag_gguf_close(struct rag_gguf *g);

/*
 * Assemble an object that was never a file (lib/gguf_write.h's builder, Hugging
 * Face directories): meta is a rag_malloc'd GGUF image holding the header and
 * metadata with a tensor count of 0 (ownership passes to the object, even on
 * failure); tensors[] give name, n_dims, ne and type of each tensor and data
 * pointing at caller memory (offset and nbytes are computed: offsets as a
 * writer lays them out at the image's alignment).  release(arg), when not NULL,
 * runs when the object is closed (or at once on failure) to free what data
 * points into.  The metadata is validated as rag_gguf_open does.  Errors:
 * RAG_EMODEL (bad metadata, duplicate tensor), RAG_EINTERNAL (bad type or
 * shape, out of memory).
 */
int rag_gguf_assemble(void *meta, size_t len, const char *name, const struct rag_gguf_tensor *tensors,
		      size_t n_tensors, void (*release)(void *), void *arg, struct rag_gguf **out,
		      struct rag_error *err);

const char *rag_gguf_path(const struct rag_gguf *g);
uint32_t rag_gguf_version(const struct rag_gguf *g);
uint32_t rag_gguf_alignment(const struct rag_gguf *g);
uint64_t rag_gguf_file_size(const struct rag_gguf *g);

size_t rag_gguf_n_kv(const struct rag_gguf *g);
const struct rag_gguf_kv *rag_gguf_kv_at(const struct rag_gguf *g, size_t i);
const struct rag_gguf_kv *rag_gguf_find(const struct rag_gguf *g, const char *key);

/*
 * Typed getters.  Return 1 when the key exists and converts, 0 when it is
 * absent, -1 when it exists with an incompatible type.  get_int takes any
 * integer or bool; get_float any number; get_str returns the NUL-terminated
 * copy (owned by g).
 */
int rag_gguf_get_int(const struct rag_gguf *g, const char *key, int64_t *out);
int rag_gguf_get_float(const struct rag_gguf *g, const char *key, double *out);
int rag_gguf_get_bool(const struct rag_gguf *g, const char *key, int *out);
int rag_gguf_get_str(const struct rag_gguf *g, const char *key, const char **out);

/* Bytes of one value of a scalar type, 0 for STRING/ARRAY. */
size_t rag_gguf_vtype_size(enum rag_gguf_vtype t);
const char *rag_gguf_vtype_name(enum rag_gguf_vtype t);

/* Element i of a numeric (or bool) array, converted.  kv must be an ARRAY of a
 * numeric type and i < kv->n. */
int64_t rag_gguf_arr_int(const struct rag_gguf_kv *kv, uint64_t i);
double rag_gguf_arr_float(const struct rag_gguf_kv *kv, uint64_t i);
/*
 * The strings of an array of strings, kv->n of them (pointing into the
 * mapping, not NUL-terminated).  NULL when kv is not such an array or memory
 * runs out.  The index is built once and owned by g.
 */
const struct rag_gguf_str *rag_gguf_arr_strs(const struct rag_gguf *g, const struct rag_gguf_kv *kv);

size_t rag_gguf_n_tensors(const struct rag_gguf *g);
const struct rag_gguf_tensor *rag_gguf_tensor_at(const struct rag_gguf *g, size_t i);
const struct rag_gguf_tensor *rag_gguf_find_tensor(const struct rag_gguf *g, const char *name);
/* Elements of a tensor (product of ne). */
int64_t rag_gguf_tensor_nelements(const struct rag_gguf_tensor *t);

#endif
