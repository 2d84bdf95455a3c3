/* gguf_write.h: building GGUF objects in memory and writing them as GGUF v3 files. */
#ifndef RAG_GGUF_WRITE_H
#define RAG_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "gguf.h"

/*
 * A builder collects metadata and tensors and turns them into the same
 * struct rag_gguf the reader produces (every accessor works on it).  Keys keep
 * the order of their first setting; setting a key again replaces its value in
 * place.  Setters never fail visibly: like rag_buf, a failure (out of memory)
 * is remembered and reported by rag_gguf_builder_finish.  Tensor data is not
 * copied: it must stay valid until the finished object is closed (use
 * rag_gguf_builder_on_close to tie its lifetime to the object).
 */
struct rag_gguf_builder;

/* A new, empty builder (NULL when out of memory). */
struct rag_gguf_builder *rag_gguf_builder_new(void);
/* Release a builder that was not finished (NULL is fine); runs its on_close hook. */
void rag_gguf_builder_free(struct rag_gguf_builder *b);

void rag_gguf_builder_set_u32(struct rag_gguf_builder *b, const char *key, uint32_t v);
void rag_gguf_builder_set_i32(struct rag_gguf_builder *b, const char *key, int32_t v);
void rag_gguf_builder_set_u64(struct rag_gguf_builder *b, const char *key, uint64_t v);
void rag_gguf_builder_set_f32(struct rag_gguf_builder *b, const char *key, float v);
void rag_gguf_builder_set_bool(struct rag_gguf_builder *b, const char *key, int v);
void rag_gguf_builder_set_str(struct rag_gguf_builder *b, const char *key, const char *s);
/* A scalar of any numeric type (or bool); v points at one value in host order. */
void rag_gguf_builder_set_scalar(struct rag_gguf_builder *b, const char *key, enum rag_gguf_vtype t, const void *v);
/* An array of n numeric (or bool) values of type elem, packed in host order. */
void rag_gguf_builder_set_arr(struct rag_gguf_builder *b, const char *key, enum rag_gguf_vtype elem,
			      const void *v, uint64_t n);
/* An array of n strings; lens may be NULL (then each is NUL-terminated). */
void rag_gguf_builder_set_arr_str(struct rag_gguf_builder *b, const char *key, const char *const *s,
				  const size_t *lens, uint64_t n);
/* Copy one entry of an existing object, any type (nested arrays too), under its key. */
void rag_gguf_builder_copy_kv(struct rag_gguf_builder *b, const struct rag_gguf_kv *kv);
/* Remove a key (no-op when absent). */
void rag_gguf_builder_remove(struct rag_gguf_builder *b, const char *key);
/* 1 when key has been set. */
int rag_gguf_builder_has(const struct rag_gguf_builder *b, const char *key);
/*
 * Add a tensor: ne[0] varies fastest (GGML order), n_dims 1..4, type any GGUF
 * type with ne[0] a multiple of its block; data holds the packed bytes.
 */
void rag_gguf_builder_add_tensor(struct rag_gguf_builder *b, const char *name, uint32_t n_dims,
				 const int64_t *ne, enum rag_dtype type, const void *data);
/* Run fn(arg) when the finished object is closed (or the builder freed): one hook. */
void rag_gguf_builder_on_close(struct rag_gguf_builder *b, void (*fn)(void *), void *arg);

/*
 * Turn the builder into an object named name (what rag_gguf_path returns).
 * Always consumes b.  Errors: RAG_EINTERNAL (out of memory, a bad tensor
 * shape or type), RAG_EMODEL (a duplicate tensor name).  Release the result
 * with rag_gguf_close.
 */
int rag_gguf_builder_finish(struct rag_gguf_builder *b, const char *name, struct rag_gguf **out,
			    struct rag_error *err);

/*
 * Write g as a GGUF v3 file at path: header, metadata in g's order, tensor
 * infos in g's order with offsets laid out at rag_gguf_alignment(g) (32 unless
 * general.alignment says otherwise), then the tensor data, each tensor
 * followed by zero padding to the alignment -- the layout of ggml's and
 * gguf-py's writers, so rewriting a llama.cpp file reproduces it byte for
 * byte.  The file is written under a temporary name in the same directory,
 * fsync'd and renamed into place; on failure nothing is left at path.
 * Errors: RAG_EIO (naming the file), RAG_EINTERNAL (out of memory).
 */
int rag_gguf_write(const struct rag_gguf *g, const char *path, struct rag_error *err);

/*
 * A copy of src with its tensors converted to type (RAG_DT_F32, F16, BF16 or
 * Q8_0), following llama.cpp's convert_hf_to_gguf.py: 1-D tensors, tensors
 * whose name does not end in ".weight", position_embd and token_types stay
 * F32; for Q8_0 a tensor whose rows are not a multiple of 32 falls back to
 * F16.  general.file_type is set (0, 1, 32, 7).  Source tensors must be F32,
 * F16 or BF16 (RAG_EMODEL otherwise).  Q8_0 rounds as ggml's
 * quantize_row_q8_0_ref does.  The converted data is owned by the result; src
 * must stay open while the result is used (unconverted tensors point into it).
 * tokenizer.huggingface.json is dropped where llama.cpp's vocabulary keys say
 * the same (uncased BERT WordPiece with BertPreTokenizer; byte-level BPE with a
 * named pre-tokenizer, no normalizer, no prefix space, no RoBERTa template):
 * the result is then the file llama.cpp's converter writes; elsewhere it is
 * kept, so that the converted file tokenizes as the directory does.
 */
int rag_gguf_retype(const struct rag_gguf *src, enum rag_dtype type, struct rag_gguf **out,
		    struct rag_error *err);

/* Quantize n floats (a multiple of 32) to Q8_0 blocks, as ggml's quantize_row_q8_0_ref. */
void rag_quantize_q8_0(const float *x, void *dst, int64_t n);

#endif
