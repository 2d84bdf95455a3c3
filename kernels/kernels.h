/* kernels.h: the op set.  One declaration per op; kernels/cpu/<op>.c is the
 * reference implementation, kernels/cuda/<op>.cu its GPU twin.  Kernels are
 * math on buffers: they know nothing of records, files or models. */
#ifndef RAG_KERNELS_H
#define RAG_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- element types (values are GGML's, as stored in GGUF files) ---------- */
enum rag_dtype {
	RAG_DT_F32 = 0,
	RAG_DT_F16 = 1,
	RAG_DT_Q4_0 = 2,
	RAG_DT_Q4_1 = 3,
	RAG_DT_Q5_0 = 6,
	RAG_DT_Q5_1 = 7,
	RAG_DT_Q8_0 = 8,
	RAG_DT_Q8_1 = 9,
	RAG_DT_Q2_K = 10,
	RAG_DT_Q3_K = 11,
	RAG_DT_Q4_K = 12,
	RAG_DT_Q5_K = 13,
	RAG_DT_Q6_K = 14,
	RAG_DT_Q8_K = 15,
	RAG_DT_IQ2_XXS = 16,
	RAG_DT_IQ2_XS = 17,
	RAG_DT_IQ3_XXS = 18,
	RAG_DT_IQ1_S = 19,
	RAG_DT_IQ4_NL = 20,
	RAG_DT_IQ3_S = 21,
	RAG_DT_IQ2_S = 22,
	RAG_DT_IQ4_XS = 23,
	RAG_DT_I8 = 24,
	RAG_DT_I16 = 25,
	RAG_DT_I32 = 26,
	RAG_DT_I64 = 27,
	RAG_DT_F64 = 28,
	RAG_DT_IQ1_M = 29,
	RAG_DT_BF16 = 30,
	RAG_DT_TQ1_0 = 34,
	RAG_DT_TQ2_0 = 35,
	RAG_DT_MXFP4 = 39,
	RAG_DT_COUNT = 40,
};

struct rag_dtype_info {
	const char *name;   /* "Q4_K" */
	uint32_t block;     /* elements per block */
	uint32_t size;      /* bytes per block */
	int dequant;        /* 1 when rag_dequant_row handles it */
};

/* Traits of a type, or NULL for a value that names no known type. */
const struct rag_dtype_info *rag_dtype_info(uint32_t type);
/* Bytes of a row of n elements (n a multiple of the block), or 0 when invalid. */
size_t rag_dtype_row_size(uint32_t type, int64_t n);

/* ---- scalar conversions ---------------------------------------------------- */
float rag_f16_to_f32(uint16_t h);
uint16_t rag_f32_to_f16(float f);   /* round to nearest even */
float rag_bf16_to_f32(uint16_t h);
uint16_t rag_f32_to_bf16(float f);  /* round to nearest even, NaN kept quiet */

/*
 * Dequantize n elements (a multiple of the type's block) from src (packed
 * blocks, layout as in ggml) to dst.  Bit-exact with gguf-py's reference.
 * Types without rag_dtype_info()->dequant must not be passed.
 */
void rag_dequant_row(enum rag_dtype type, const void *src, float *dst, int64_t n);

/* ---- matrix products ------------------------------------------------------ */

/*
 * y[m][n] = x[m][k] . w[n][k]^T, plus bias[n] on every row when bias is not NULL.
 * w holds n rows of k elements of type wtype, each row packed as in GGUF (ne0 = k,
 * ne1 = n); k must be a multiple of the type's block.  x and y are float32,
 * row-major, with leading dimensions k and n; y must not alias x.  Runs on the
 * thread count set by rag_set_threads.  Any type with a dequantizer is accepted.
 * Returns 0, or -1 when scratch memory cannot be allocated (y is then undefined).
 */
int rag_matmul(float *y, const float *x, const void *w, enum rag_dtype wtype, const float *bias,
		int64_t m, int64_t n, int64_t k);

/* ---- CUDA runtime and GPU twins (built when configure finds CUDA) ---------
 * Every GPU op returns 0, or -1 with rag_cuda_last_error() describing the
 * failed call ("cudaMalloc(...) failed at file.cu:42: out of memory").
 * Pointers named d* are device memory. */
const char *rag_cuda_last_error(void);
/* Number of usable GPUs (0 when there is no driver or device); name gets the first one's. */
int rag_cuda_device_count(char *name, size_t name_len);
int rag_cuda_malloc(void **p, size_t n);
void rag_cuda_free(void *p);
int rag_cuda_upload(void *dst, const void *src, size_t n);
int rag_cuda_download(void *dst, const void *src, size_t n);
int rag_cuda_sync(void);
/* Twin of rag_dequant_row over rows x k elements, bit-identical to it. */
int rag_cuda_dequant(enum rag_dtype t, const void *dsrc, float *ddst, int64_t rows, int64_t k, void *stream);
/* ---- dense exact search (index/retrieve) ----------------------------------- */

/*
 * Score m queries against n stored rows: out[i*n + j] = <q_i, x_j> (metric_l2
 * = 0) or -||q_i - x_j||^2 (metric_l2 = 1), so that higher is always better.
 * q: m rows of dim float32.  base: n rows of dim elements of storage 0 (f32),
 * 1 (f16) or 2 (int8, row j scaled by scales[j]; scales NULL otherwise).
 * Each stored row is read once for all m queries; rows are split across the
 * threads set by rag_set_threads.  Returns 0, or -1 when scratch memory
 * cannot be allocated (out is then undefined).
 */
int rag_dense_scores(float *out, const float *q, int64_t m, const void *base, int storage,
		     const float *scales, int64_t n, int64_t dim, int metric_l2);

/*
 * Fused exact search (perf): the top k rows for each of m queries in one pass
 * over the n stored rows, without a score array.  Scores are exactly those of
 * rag_dense_scores (same per-row ops); rows are split across threads
 * (rag_set_threads), each keeping per-query heaps that are merged at the end.
 * The key of row j is keys[j] (keys NULL: j).  Row j is a candidate for query
 * i when masks is NULL, masks[i] is NULL, or 0 <= key < mask_len and
 * masks[i][key] != 0.  Output for query i: n_out[i] = min(k, candidates) hits
 * in out_keys[i*k ..] / out_scores[i*k ..], best first; equal scores rank the
 * smaller key first (the order of lib/bm25.c's rag_topk_*).  k may exceed n.
 * Returns 0, or -1 when scratch memory cannot be allocated.
 */
int rag_dense_topk(const float *q, int64_t m, const void *base, int storage, const float *scales,
		   int64_t n, int64_t dim, int metric_l2, const int64_t *keys,
		   const uint8_t *const *masks, int64_t mask_len, int64_t k,
		   int64_t *out_keys, float *out_scores, int64_t *n_out);

/* ---- vector distance ops ------------------------------------------------------
 * a is a float32 vector, b a stored vector of n elements: float32, IEEE half
 * (uint16 bits) or int8 codes.  Sums are float32 (AVX-512/AVX2 with FMA when
 * built for them, a plain loop otherwise; the order of summation differs, so
 * results agree to rounding, not bit for bit, across builds).
 *   dot:  sum a[i]*b[i]            (int8: the codes as they are, unscaled)
 *   l2sq: sum (a[i]-b[i])^2        (int8: sum (a[i] - scale*b[i])^2)
 * Any n >= 0; no alignment required. */
float rag_vec_dot_f32(const float *a, const float *b, size_t n);
float rag_vec_l2sq_f32(const float *a, const float *b, size_t n);
float rag_vec_dot_f16(const float *a, const uint16_t *b, size_t n);
float rag_vec_l2sq_f16(const float *a, const uint16_t *b, size_t n);
float rag_vec_dot_i8(const float *a, const int8_t *b, size_t n);
float rag_vec_l2sq_i8(const float *a, const int8_t *b, float scale, size_t n);
/* Decode a stored row to float32: half bits, or int8 codes times scale. */
void rag_vec_f16_to_f32(float *dst, const uint16_t *src, size_t n);
void rag_vec_i8_to_f32(float *dst, const int8_t *src, float scale, size_t n);

#ifdef __cplusplus
}
#endif

#endif
