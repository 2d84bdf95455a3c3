/* safetensors.h: read-only, bounds-checked access to Hugging Face safetensors files (single or sharded). */
#ifndef RAG_SAFETENSORS_H
#define RAG_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "kernels.h"

#define RAG_ST_MAX_DIMS 4

/*
 * One tensor.  shape is in safetensors (PyTorch) order: shape[0] is the
 * outermost dimension, shape[n_dims-1] varies fastest, so a [out, in] weight
 * is GGUF ne = {in, out}.  loadable is 1 for F32/F16/BF16 (type says which);
 * other dtypes (I64 buffers such as position_ids, F64, F8...) are listed with
 * loadable 0, data NULL and dtype naming them, so a caller may skip them and
 * refuse only when it needs one.  data points into the read-only mapping and
 * may be aligned only to 8 bytes (what the safetensors writer guarantees).
 */
struct rag_st_tensor {
	char *name;
	char dtype[16];          /* as written in the header: "F32", "I64", ... */
	int loadable;
	enum rag_dtype type;     /* valid when loadable */
	uint32_t n_dims;         /* 0 for a scalar */
	int64_t shape[RAG_ST_MAX_DIMS];
	uint64_t nbytes;
	const void *data;
	const char *file;        /* the shard holding it (owned by the set) */
};

struct rag_safetensors;

/*
 * Open safetensors weights.  path may be a .safetensors file, a
 * model.safetensors.index.json (sharded weights: every shard named in its
 * weight_map is mapped and every tensor must be in the shard the map names),
 * or a directory holding model.safetensors or model.safetensors.index.json.
 * Every file is mmap'd read-only and its header validated: 8-byte length,
 * JSON object, dtype/shape/data_offsets of each tensor consistent and inside
 * the file, no overlaps, no duplicate names.  Errors: RAG_ENOINPUT when a file
 * cannot be opened, RAG_EMODEL naming the file for anything malformed
 * ("'m.safetensors': tensor 'x' data_offsets [0, 99999] exceed the data (1234 bytes)").
 * Tensors are listed sorted by name.  Release with rag_safetensors_close.
 */
int rag_safetensors_open(const char *path, struct rag_safetensors **out, struct rag_error *err);
/* The same over a caller-owned buffer holding one safetensors file (tests, fuzzing). */
int rag_safetensors_open_mem(const void *buf, size_t len, const char *name, struct rag_safetensors **out,
			     struct rag_error *err);
void rag_safetensors_close(struct rag_safetensors *st);

size_t rag_safetensors_n_tensors(const struct rag_safetensors *st);
const struct rag_st_tensor *rag_safetensors_tensor_at(const struct rag_safetensors *st, size_t i);
/* By exact name, or NULL (binary search). */
const struct rag_st_tensor *rag_safetensors_find(const struct rag_safetensors *st, const char *name);
/* Number of files mapped (1, or the shard count). */
size_t rag_safetensors_n_files(const struct rag_safetensors *st);
/* Elements of a tensor (product of its shape; 1 for a scalar). */
int64_t rag_st_tensor_nelements(const struct rag_st_tensor *t);

#endif
