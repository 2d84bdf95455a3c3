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

/* ---- encoder ops -----------------------------------------------------------
 * Buffer-only ops of the BERT-family forward pass (kernels/cpu/<op>.c; the
 * CUDA twins take the same arguments with device pointers).  Activations are
 * float32, row-major, one row per token; a batch is packed: the tokens of
 * sequence s are rows off[s] .. off[s+1]-1 (off has n_seq + 1 entries, off[0]
 * = 0), no padding.  Unless said otherwise y may equal x (in place). */

/* How token vectors become one vector per sequence (values as in GGUF's
 * <arch>.pooling_type). */
enum rag_pooling {
	RAG_POOL_NONE = 0,  /* per-token vectors */
	RAG_POOL_MEAN = 1,
	RAG_POOL_CLS = 2,   /* the first token */
	RAG_POOL_LAST = 3,  /* the last token */
	RAG_POOL_RANK = 4,  /* a classifier head on the first token (cross-encoders) */
};

/*
 * Embedding gather: row r of y (dim floats) = dequantized row ids[r] of the
 * table (rows of dim elements of type ttype, packed as in GGUF), for r < n;
 * added to y instead when accumulate is set (position and token-type
 * embeddings).  Ids must be in range (the caller checks them).
 */
void rag_embed_rows(float *y, const void *table, enum rag_dtype ttype, int64_t dim,
		    const int32_t *ids, int64_t n, int accumulate);

/*
 * Layer norm over each of rows rows of n floats: y = (z - mean) / sqrt(var + eps)
 * * g + b where z = x + r (r, the residual, may be NULL).  g and b may be NULL
 * (1 and 0).  Variance is the biased one, as in PyTorch.  y may equal x or r.
 */
void rag_layernorm(float *y, const float *x, const float *r, const float *g, const float *b,
		   int64_t rows, int64_t n, float eps);

/* y[i] = x[i] * Phi(x[i]) = 0.5 x (1 + erf(x / sqrt 2)), the exact GELU BERT uses. */
void rag_gelu(float *y, const float *x, int64_t n);

/* y[i] = tanh(x[i]) (the BERT pooler's activation). */
void rag_tanh(float *y, const float *x, int64_t n);

/* Softmax of each of rows rows of n floats, in place, max-subtracted. */
void rag_softmax(float *x, int64_t rows, int64_t n);

/*
 * Non-causal multi-head attention over packed variable-length sequences.
 * q, k and v hold one row per token with leading dimension ld (floats); head h
 * of a token is the head_dim floats at column h * head_dim.  For each sequence
 * s and head h: o = softmax(scale * Q K^T) V over the tokens of s only.  o has
 * one row per token of n_head * head_dim floats (head h at column h * head_dim)
 * and must not alias q, k or v.  Returns 0, or -1 when scratch memory cannot be
 * allocated.
 */
int rag_attention(float *o, const float *q, const float *k, const float *v, int64_t ld,
		  const int32_t *off, int64_t n_seq, int64_t n_head, int64_t head_dim, float scale);

/*
 * Pooling: y (n_seq rows of dim floats) from x (packed token rows of dim
 * floats) by mode MEAN, CLS or LAST (RANK pools like CLS).  Sequences must be
 * non-empty.  mode NONE is not accepted (the token rows are the output).
 */
void rag_pool(float *y, const float *x, const int32_t *off, int64_t n_seq, int64_t dim,
	      enum rag_pooling mode);

/* Scale each of rows rows of n floats to unit L2 norm (a zero row stays zero). */
void rag_l2_normalize(float *x, int64_t rows, int64_t n);
/* ---- cuda ops (kernels/cuda/ *.cu, built when configure finds CUDA) ---------
 * GPU twins of the encoder ops above: the same arguments with device
 * pointers (d*), plus a stream (a cudaStream_t, NULL for the default one).
 * Each enqueues its work and returns 0, or -1 with rag_cuda_last_error()
 * naming the failed call; nothing waits for the stream.  Half-precision
 * buffers are uint16_t IEEE binary16 bits. */
int rag_cuda_embed_rows(float *dy, const void *dtable, enum rag_dtype ttype, int64_t dim,
			const int32_t *dids, int64_t n, int accumulate, void *stream);
int rag_cuda_layernorm(float *dy, const float *dx, const float *dr, const float *dg, const float *db,
		       int64_t rows, int64_t n, float eps, void *stream);
int rag_cuda_gelu(float *dy, const float *dx, int64_t n, void *stream);
/* As rag_cuda_layernorm, also writing the result rounded to half at dy16 (when not NULL). */
int rag_cuda_layernorm_h(float *dy, uint16_t *dy16, const float *dx, const float *dr, const float *dg,
			 const float *db, int64_t rows, int64_t n, float eps, void *stream);
/* GELU (erf form) on n half values computed in float32; n even, 4-byte aligned; in place allowed. */
int rag_cuda_gelu_h(uint16_t *dy, const uint16_t *dx, int64_t n, void *stream);
int rag_cuda_tanh(float *dy, const float *dx, int64_t n, void *stream);
int rag_cuda_softmax(float *dx, int64_t rows, int64_t n, void *stream);
/* dy[i] = dx[i] + dr[i] (residual add for ops that need one without a norm). */
int rag_cuda_add(float *dy, const float *dx, const float *dr, int64_t n, void *stream);
int rag_cuda_pool(float *dy, const float *dx, const int32_t *doff, int64_t n_seq, int64_t dim,
		  enum rag_pooling mode, void *stream);
int rag_cuda_l2_normalize(float *dx, int64_t rows, int64_t n, void *stream);
/*
 * Twin of rag_attention, fused flash-style: per (sequence, head, tile of 64
 * query rows) one thread block streams tiles of K and V through shared memory
 * with an online softmax; no score matrix is stored and no padding exists.
 * doff lives on the device; max_len (the longest sequence) sizes the grid.
 * head_dim at most 128 (-1 otherwise).
 */
int rag_cuda_attention(float *dout, const float *dq, const float *dk, const float *dv, int64_t ld,
		       const int32_t *doff, int64_t n_seq, int64_t max_len, int64_t n_head,
		       int64_t head_dim, float scale, void *stream);
/*
 * The same attention on tensor cores: q, k, v and the output in half (float32
 * scores, softmax and accumulation; the probabilities are rounded to half
 * before P V).  Tiles of 64 query rows (one warp per 16) against tiles of 64
 * keys.  head_dim a multiple of 8 up to 128, ld a multiple of 8 and q, k, v
 * 16-byte aligned (-1 otherwise: use rag_cuda_attention).
 */
int rag_cuda_attention_h(uint16_t *dout, const uint16_t *dq, const uint16_t *dk, const uint16_t *dv, int64_t ld,
			 const int32_t *doff, int64_t n_seq, int64_t max_len, int64_t n_head,
			 int64_t head_dim, float scale, void *stream);
/* Round n floats to half (round to nearest even, as rag_f32_to_f16). */
int rag_cuda_f32_to_f16(uint16_t *dy, const float *dx, int64_t n, void *stream);

/* Matrix products on tensor cores through cuBLASLt: one handle and workspace. */
struct rag_cuda_blas;
/*
 * Load cuBLASLt (dlopen of libcublasLt.so.<major>, once per process,
 * thread-safe).  ragkit does not link it, so a process that never multiplies
 * on the GPU never maps it; rag_cuda_blas_create calls this.  0 when every
 * entry point resolved, -1 otherwise (rag_cuda_last_error() names the
 * library and dlerror's reason).
 */
int rag_cuda_blas_load(void);
/* Create a handle (workspace included); -1 on failure. Free with rag_cuda_blas_free (NULL safe). */
int rag_cuda_blas_create(struct rag_cuda_blas **out);
void rag_cuda_blas_free(struct rag_cuda_blas *h);
/* y (half, m x n) = x (half, m x k) . w (half, n x k)^T + bias (half, n; may be NULL), float32 accumulation. */
int rag_cuda_gemm_h(struct rag_cuda_blas *h, uint16_t *dy16, const uint16_t *dx16, const uint16_t *dw16,
		    const uint16_t *dbias16, int64_t m, int64_t n, int64_t k, void *stream);
/*
 * dy[m][n] (float32) = dx16[m][k] . dw16[n][k]^T (+ dbias[n] fused in the
 * cuBLASLt epilogue when dbias is not NULL): half inputs, float32
 * accumulation (CUBLAS_COMPUTE_32F), row-major, leading dimensions k and n.
 */
int rag_cuda_gemm_f16(struct rag_cuda_blas *h, float *dy, const uint16_t *dx16, const uint16_t *dw16,
		      const float *dbias, int64_t m, int64_t n, int64_t k, void *stream);
/* As rag_cuda_gemm_f16, added to what dy holds (beta 1: a residual connection
 * without its own pass over the rows). */
int rag_cuda_gemm_f16_acc(struct rag_cuda_blas *h, float *dy, const uint16_t *dx16, const uint16_t *dw16,
			  const float *dbias, int64_t m, int64_t n, int64_t k, void *stream);
/* As rag_cuda_gemm_f16 with half = 0: float32 inputs (CUBLAS_COMPUTE_32F, no TF32). */
int rag_cuda_gemm(struct rag_cuda_blas *h, float *dy, const void *dx, const void *dw, int half,
		  const float *dbias, int64_t m, int64_t n, int64_t k, void *stream);
/*
 * Weights for rag_cuda_gemm_f16: rows x k elements of type t (packed as in
 * GGUF, already on the device at dsrc) dequantized on the GPU
 * (rag_cuda_dequant) into dscratch (rows*k floats) and rounded to half into
 * dw16.  Any type rag_cuda_dequant handles.
 */
int rag_cuda_weight_f16(uint16_t *dw16, const void *dsrc, enum rag_dtype t, int64_t rows, int64_t k,
			float *dscratch, void *stream);

/*
 * Exact-search scores for few queries (m <= 8), float32 arithmetic as
 * rag_dense_scores: dout[i*n + j] = <q_i, x_j> or -||q_i - x_j||^2
 * (metric_l2), x_j row j of dbase (f32, or f16 when half).  Memory-bound:
 * each stored row is read once, 16 bytes per load when dim allows.
 */
int rag_cuda_scores_small(float *dout, const float *dq, int64_t m, const void *dbase, int half, int64_t n,
			  int64_t dim, int metric_l2, void *stream);
/* The most queries (1, 2, 4 or 8) rag_cuda_scores_small scores for rows of
 * dim with the same arithmetic, query by query, as it scores one: where the
 * queries do not fit a block's shared memory on this device, more of them
 * go through a kernel that sums in another order. */
int64_t rag_cuda_scores_small_max_m(int64_t dim);
/* dnorm[j] = ||x_j||^2 for n rows of dim elements (f32, or f16 when half). */
int rag_cuda_sqnorms(float *dnorm, const void *dbase, int half, int64_t n, int64_t dim, void *stream);
/*
 * Top-k of each of m rows of scores (row i at dscores + i*ld, n of them),
 * largest first in no particular order: dval/didx get k entries per row
 * (didx = column j; slots past the row's count hold index -1), dcount the
 * count (min(k, unmasked columns)).  Before selection a column j is dropped
 * when dmask is given and dids[j] is outside [0, max_key) or dmask[dids[j]]
 * is 0 (the same rule as rag_index_dense); with dxnorm (L2 through a GEMM of
 * inner products) the score becomes 2 s - dxnorm[j] - dqnorm[i].  k <= 1024.
 * Work space: rag_cuda_topk_scratch(m, n, k) bytes at dscratch.
 */
int rag_cuda_topk(const float *dscores, int64_t m, int64_t n, int64_t ld, const float *dxnorm,
		  const float *dqnorm, const int64_t *dids, const uint8_t *dmask, int64_t max_key, int64_t k,
		  float *dval, int64_t *didx, int32_t *dcount, void *dscratch, void *stream);
/* Columns per block in the first selection stage; rows longer than this go
 * through a second stage over the blocks' candidates. */
#define RAG_CUDA_TOPK_SEG 8192
/* Scratch bytes rag_cuda_topk needs (0 when n <= RAG_CUDA_TOPK_SEG); a host
 * function (lib/search_cuda.c), built with or without CUDA. */
size_t rag_cuda_topk_scratch(int64_t m, int64_t n, int64_t k);

/*
 * Exact search for one query and a small k in one pass over the stored
 * rows: rag_cuda_scores_small and rag_cuda_topk fused, so that no score is
 * written.  Same arguments, outputs, mask rule and ties as rag_cuda_topk
 * over rag_cuda_scores_small's scores of the n rows at dbase for m = 1
 * (didx: the row j, dids[j] its key), for k <= RAG_CUDA_SCAN_K and the
 * shapes where rag_cuda_scan_fits() is nonzero.  Work space:
 * rag_cuda_scan_scratch(k) bytes at dscratch, and RAG_CUDA_SCAN_CTL
 * counters at dctl that must be zero before the first call (each call
 * leaves them zero for the next on the same stream).
 */
#define RAG_CUDA_SCAN_K 16
/* Most blocks one scan launches (each leaves at most k candidates). */
#define RAG_CUDA_SCAN_MAX_BLOCKS 1024
#define RAG_CUDA_SCAN_CTL 3
int rag_cuda_scan_topk(const float *dq, const void *dbase, int half, int64_t n, int64_t dim, int metric_l2,
		       const int64_t *dids, const uint8_t *dmask, int64_t max_key, int64_t k, float *dval,
		       int64_t *didx, int32_t *dcount, void *dscratch, unsigned *dctl, void *stream);
/* Scratch bytes rag_cuda_scan_topk needs for k: the blocks' candidate rows and values. */
static inline size_t rag_cuda_scan_scratch(int64_t k)
{
	return k > 0 ? RAG_CUDA_SCAN_MAX_BLOCKS * (size_t)k * (sizeof(int64_t) + sizeof(float)) : 0;
}

/*
 * How the scan spreads a row of dim elements (2-byte when half, else 4)
 * over a warp: a row is C 16-byte vectors, read by a group of G lanes (the
 * largest power of two dividing C, at most 32), V = C / G each.  Returns V
 * (1..8) and sets *g_log2, or 0 for a row the scan does not take (dim not a
 * whole number of vectors, or more than 8 vectors a lane).
 */
static inline int rag_cuda_scan_fits(int64_t dim, int half, int *g_log2)
{
	int64_t e = half ? 8 : 4, c, v;
	int gl = 0;

	if (dim <= 0 || dim % e != 0)
		return 0;
	c = dim / e;
	while (gl < 5 && c % ((int64_t)2 << gl) == 0)
		gl++;
	v = c >> gl;
	if (v > 8)
		return 0;
	if (g_log2)
		*g_log2 = gl;
	return (int)v;
}

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

/* ---- decoder ops (branch gen: kernels/cpu/{rmsnorm,rope,swiglu,get_rows,
 *      attn_causal,attn_decode,matvec}.c) ------------------------------------ */

/* y[r][i] = x[r][i] / sqrt(mean(x[r]^2) + eps) * w[i] for rows rows of n floats;
 * w NULL means no scale.  y may alias x. */
void rag_rmsnorm(float *y, const float *x, const float *w, int64_t rows, int64_t n, float eps);

/*
 * Rotary position embedding, in place.  x: n_tok rows of `stride` floats, head h
 * at h*head_dim; the first n_rot dims of each head are rotated by the angle
 * pos[t] * freq_scale * freq_base^(-2i/n_rot) / factors[i] (factors NULL = 1)
 * for pair i.  neox != 0: pairs (i, i + n_rot/2) (NeoX/qwen layout); else pairs
 * (2i, 2i+1) (llama layout as llama.cpp's converter stores it).  n_rot <= 1024.
 */
void rag_rope(float *x, int64_t n_tok, int64_t stride, int64_t n_head, int64_t head_dim,
	      const int32_t *pos, int64_t n_rot, float freq_base, float freq_scale,
	      const float *factors, int neox);

/* y[i] = silu(gate[i]) * up[i]; y may alias gate or up. */
void rag_swiglu(float *y, const float *gate, const float *up, int64_t n);

/*
 * Embedding lookup: out[t][0..n) = row ids[t] of a table of n_rows rows of n
 * elements of type `type` (any type with a dequantizer).  Returns 0, or -1 when
 * an id lies outside [0, n_rows) (out is then partly written).
 */
int rag_get_rows(float *out, const void *table, enum rag_dtype type, int64_t n_rows, int64_t n,
		 const int32_t *ids, int64_t n_ids);

/*
 * Attention of one query head: out[head_dim] = softmax(scale * K q) V over the
 * first n_kv rows of k and v (rows kv_stride floats apart).  s: n_kv floats of
 * scratch.  The building block of the two kernels below.
 */
void rag_attn_head(float *out, const float *q, const float *k, const float *v, int64_t n_kv,
		   int64_t head_dim, int64_t kv_stride, float scale, float *s);

/*
 * Causal grouped-query attention for a block of n_q queries (prefill).  q: n_q
 * rows of q_stride floats, query head h at h*head_dim; row i is at absolute
 * position pos0+i and attends to cache rows 0..pos0+i of k and v (rows of
 * kv_stride floats, KV head g at g*head_dim, the block's own keys already
 * stored).  Query head h reads KV head h / (n_head / n_head_kv).  out: n_q rows
 * of n_head*head_dim floats.  Returns 0, or -1 when scratch cannot be allocated.
 */
int rag_attn_causal(float *out, const float *q, const float *k, const float *v, int64_t n_q,
		    int64_t pos0, int64_t n_head, int64_t n_head_kv, int64_t head_dim,
		    int64_t q_stride, int64_t kv_stride, float scale);

/*
 * Decode attention: the n_head query heads of one token (q, contiguous) over
 * the n_kv cache rows of k and v (the token's own row last).  out: n_head*head_dim
 * floats.  Returns 0, or -1 when scratch cannot be allocated.
 */
int rag_attn_decode(float *out, const float *q, const float *k, const float *v, int64_t n_kv,
		    int64_t n_head, int64_t n_head_kv, int64_t head_dim, int64_t kv_stride,
		    float scale);

/*
 * Matrix-vector product for decoding: y[n] = w[n][k] . x[k] (+ bias[n] when not
 * NULL), w packed as in GGUF (n rows of k elements).  F32, F16, BF16, Q8_0, Q4_0,
 * Q5_0, Q4_K, Q5_K and Q6_K rows are dotted block by block without dequantizing rows
 * (rag_matvec_has_direct); other types with a dequantizer go row by row through
 * scratch.  x stays float32.  Runs on rag_set_threads threads.  Returns 0, or -1
 * when scratch cannot be allocated.
 */
int rag_matvec(float *y, const float *x, const void *w, enum rag_dtype wtype, const float *bias,
	       int64_t n, int64_t k);
int rag_matvec_has_direct(enum rag_dtype wtype);


/* ---- decoder GPU twins (branch cudadec: kernels/cuda/{decoder_ops,matvec,
 *      attn_causal}.cu) -------------------------------------------------------
 * The decoder ops above with device pointers (d*) and a stream (NULL: the
 * default one); each enqueues its work and returns 0, or -1 with
 * rag_cuda_last_error() naming the failed call.  Built only with CUDA. */
int rag_cuda_rmsnorm(float *dy, const float *dx, const float *dw, int64_t rows, int64_t n, float eps,
		     void *stream);
/* The same, each result rounded to half (the input of a half product). */
int rag_cuda_rmsnorm_h(uint16_t *dy16, const float *dx, const float *dw, int64_t rows, int64_t n, float eps,
		       void *stream);
/* dpos: n_tok positions on the device; dfactors may be NULL. */
int rag_cuda_rope(float *dx, int64_t n_tok, int64_t stride, int64_t n_head, int64_t head_dim,
		  const int32_t *dpos, int64_t n_rot, float freq_base, float freq_scale,
		  const float *dfactors, int neox, void *stream);
int rag_cuda_swiglu(float *dy, const float *dgate, const float *dup, int64_t n, void *stream);
int rag_cuda_swiglu_h(uint16_t *dy16, const float *dgate, const float *dup, int64_t n, void *stream);
/* dy[r][i] += dbias[i] for rows rows of n floats. */
int rag_cuda_add_bias(float *dy, const float *dbias, int64_t rows, int64_t n, void *stream);
/* Twin of rag_attn_causal, fused flash-style (no score matrix); head_dim <= 256. */
int rag_cuda_attn_causal(float *dout, const float *dq, const float *dk, const float *dv, int64_t n_q,
			 int64_t pos0, int64_t n_head, int64_t n_head_kv, int64_t head_dim,
			 int64_t q_stride, int64_t kv_stride, float scale, void *stream);
/*
 * The same on tensor cores (flash_h.cuh): q, k and v rounded to half as they
 * are staged, float32 scores, softmax and accumulation, the probabilities
 * rounded to half before P V, the output in half (the input of the output
 * projection).  For the shapes rag_cuda_attn_causal_h_fits accepts (head_dim
 * a multiple of 8 up to 128, strides multiples of 4) and 16-byte aligned
 * buffers; -1 otherwise (use rag_cuda_attn_causal).  dscratch (NULL, or
 * rag_cuda_attn_causal_h_scratch(n_q, n_head, head_dim) bytes) lets a short
 * block split its keys over more multiprocessors.
 */
int rag_cuda_attn_causal_h(uint16_t *dout16, const float *dq, const float *dk, const float *dv, int64_t n_q,
			   int64_t pos0, int64_t n_head, int64_t n_head_kv, int64_t head_dim,
			   int64_t q_stride, int64_t kv_stride, float scale, float *dscratch, void *stream);
int rag_cuda_attn_causal_h_fits(int64_t n_head, int64_t n_head_kv, int64_t head_dim, int64_t q_stride,
				int64_t kv_stride);
size_t rag_cuda_attn_causal_h_scratch(int64_t n_q, int64_t n_head, int64_t head_dim);
/* Twin of rag_attn_decode, split over chunks of the cache and merged; head_dim
 * <= 256; dscratch: rag_cuda_attn_decode_scratch(n_kv, n_head, head_dim) bytes,
 * zeroed once by rag_cuda_attn_decode_scratch_init before its first use (it
 * starts with a count of finished chunks per head, which every call leaves 0,
 * so calls with any n_kv up to the one it was sized for can share it). */
int rag_cuda_attn_decode(float *dout, const float *dq, const float *dk, const float *dv, int64_t n_kv,
			 int64_t n_head, int64_t n_head_kv, int64_t head_dim, int64_t kv_stride,
			 float scale, float *dscratch, void *stream);
size_t rag_cuda_attn_decode_scratch(int64_t n_kv, int64_t n_head, int64_t head_dim);
int rag_cuda_attn_decode_scratch_init(float *dscratch, int64_t n_kv, int64_t n_head, int64_t head_dim,
				      void *stream);
/* rag_cuda_attn_decode with n_kv = dpos[0] + 1 read on the device (so that one
 * captured CUDA graph serves every decode step); n_kv <= max_kv, which sizes
 * the grid and the scratch. */
int rag_cuda_attn_decode_pos(float *dout, const float *dq, const float *dk, const float *dv,
			     const int32_t *dpos, int64_t max_kv, int64_t n_head, int64_t n_head_kv,
			     int64_t head_dim, int64_t kv_stride, float scale, float *dscratch, void *stream);
/*
 * A decode step's rope and cache append in one launch: dqo = rope(dq) (n_tok
 * rows of q_stride floats, n_head heads; dqo must not be dq), and cache rows
 * dpos[t] of dkc and dvc (n_head_kv * head_dim floats) = rope(row t of dk) and
 * row t of dv.  Angles and rounding as rag_rope.
 */
int rag_cuda_rope_store(float *dqo, const float *dq, int64_t q_stride, int64_t n_head, float *dkc, float *dvc,
			const float *dk, const float *dv, int64_t n_head_kv, int64_t head_dim, const int32_t *dpos,
			int64_t n_tok, int64_t n_rot, float freq_base, float freq_scale, const float *dfactors,
			int neox, void *stream);
/* y[r] = silu(wg[r] . x) * (wu[r] . x) for n rows: the gated FFN's two
 * products and rag_swiglu in one launch (both matrices of type wtype, a type
 * rag_cuda_matvec_has_direct). */
int rag_cuda_matvec_glu(float *dy, const float *dx, const void *dwg, const void *dwu, enum rag_dtype wtype,
			int64_t n, int64_t k, void *stream);
/* One product of rag_cuda_matvec_multi: dy[n] = dw . x (+ dbias). */
struct rag_cuda_mv {
	float *dy;
	const void *dw;
	enum rag_dtype wtype;
	const float *dbias;
	int64_t n;
};
#define RAG_CUDA_MV_MAX 4
/* n_mv (1..RAG_CUDA_MV_MAX) products of the same x (k floats) in one launch,
 * each as rag_cuda_matvec without accumulate (the q, k, v projections of a
 * decode step); the matrices may differ in type and rows. */
int rag_cuda_matvec_multi(const struct rag_cuda_mv *mv, int n_mv, const float *dx, int64_t k, void *stream);
/* KV cache append: rows dpos[t] of dkc and dvc (kvd floats) = rows t of dk and dv, t < m. */
int rag_cuda_kv_store(float *dkc, float *dvc, const float *dk, const float *dv, const int32_t *dpos,
		      int64_t m, int64_t kvd, void *stream);
/*
 * Twin of rag_matvec reading the stored blocks directly for the types where
 * rag_cuda_matvec_has_direct (F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q6_K;
 * -1 for others).  dw 16-byte aligned.  accumulate: dy[r] += result instead
 * of dy[r] = result (a residual add for free).  dy must not alias dx.
 */
int rag_cuda_matvec(float *dy, const float *dx, const void *dw, enum rag_dtype wtype,
		    const float *dbias, int64_t n, int64_t k, int accumulate, void *stream);
int rag_cuda_matvec_has_direct(enum rag_dtype wtype);
/* ---- int8-activation matrix-vector products (branch dec: kernels/cpu/qdot.c) ----
 * Decode with the activation quantized to 8 bits, as llama.cpp does: x is
 * quantized once (rag_qact_quantize: per 32 values for Q8_0/Q4_0/Q5_0 weights,
 * per 256 for Q4_K/Q5_K/Q6_K; symmetric scale max|x|/127, round to nearest) and
 * each weight block is dotted with it in integer arithmetic (AVX-512 VNNI /
 * AVX-VNNI / AVX2 when built for them, scalar otherwise), one float multiply
 * per block.  The result is W . x' where x' is the dequantized activation, so
 * |y - W.x| <= sum over blocks of (d_block / 2) * sum |w| in that block, with
 * d_block = max|x in block| / 127 (plus float rounding). */
enum rag_qact {
	RAG_QACT_NONE,  /* no int8 path for this type/size */
	RAG_QACT_Q8_0,  /* blocks of 32: float scale, int sum, 32 int8 */
	RAG_QACT_Q8_K,  /* blocks of 256: float scale, 16 int16 sums of 16, 256 int8 */
};
/* The activation format rag_matvec_q8 needs for weights of wtype with rows of
 * k elements; RAG_QACT_NONE when there is no int8 path (use rag_matvec). */
enum rag_qact rag_qact_for(enum rag_dtype wtype, int64_t k);
/* Bytes of a quantized activation of k elements in format f (0 for NONE). */
size_t rag_qact_size(enum rag_qact f, int64_t k);
/* Quantize x[k] into xq (rag_qact_size bytes, any alignment); k a multiple of
 * the format's block. */
void rag_qact_quantize(enum rag_qact f, const float *x, int64_t k, void *xq);
/* The values xq stands for, back to float32 (for tests and error bounds). */
void rag_qact_dequantize(enum rag_qact f, const void *xq, int64_t k, float *x);
/* One row of wtype dotted with xq (format rag_qact_for(wtype, k)): the SIMD
 * path (rag_qdot) and the scalar reference (rag_qdot_ref).  Both compute the
 * same integer block sums; they differ only in float summation order. */
float rag_qdot(enum rag_dtype wtype, const void *w, const void *xq, int64_t k);
float rag_qdot_ref(enum rag_dtype wtype, const void *w, const void *xq, int64_t k);
/* y[n] = w[n][k] . x' (+ bias), x' the activation quantized in xq; parallel over
 * rows (rag_set_threads).  Returns 0, or -1 when rag_qact_for(wtype, k) is NONE. */
int rag_matvec_q8(float *y, const void *xq, const void *w, enum rag_dtype wtype,
		  const float *bias, int64_t n, int64_t k);

#ifdef __cplusplus
}
#endif

#endif
