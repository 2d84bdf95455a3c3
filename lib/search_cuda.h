/* search_cuda.h: exact dense search on the GPU (rag-retrieve's dense leg when a GPU works). */
#ifndef RAG_SEARCH_CUDA_H
#define RAG_SEARCH_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "bm25.h"
#include "error.h"
#include "options.h"

/* ---- host-side planning and merging (built with or without CUDA) --------- */

/* How a search over n stored rows runs on the GPU. */
struct rag_gpu_dense_plan {
	int64_t chunk_rows;     /* stored rows per device allocation (and per score pass) */
	int64_t n_chunks;
	int64_t group;          /* queries scored together (<= RAG_GPU_DENSE_SMALL_M: the memory-bound kernel) */
	int small;              /* 1: rag_cuda_scores_small, 0: a GEMM */
	int scan;               /* 1: one query, and k and dim fit rag_cuda_scan_topk (no scores written) */
	size_t scores_bytes;    /* device scores buffer: group * chunk_rows floats (0 with scan) */
	size_t scratch_bytes;   /* top-k scratch for one group and chunk */
};

/* Queries up to which a search scores them with float queries on CUDA cores
 * (rag_cuda_scores_small, or the one-pass scan for one); above it a GEMM
 * scores them, with f16 storage on f16-rounded queries. */
#define RAG_GPU_DENSE_SMALL_M 8

/*
 * Plan a search of m queries over n rows of dim elements (storage 0 f32, 1
 * f16) for the top k: rows go in chunks of at most chunk_bytes (0: 1 GiB),
 * queries in groups whose scores and top-k scratch fit score_bytes (0: 512
 * MiB).  Returns 0, or -1 for arguments the GPU path does not take (k 0 or
 * above 1024, storage not 0/1, n, dim or m not positive).
 */
int rag_gpu_dense_plan(int64_t n, int64_t dim, int storage, int64_t m, size_t k, size_t chunk_bytes,
		       size_t score_bytes, struct rag_gpu_dense_plan *p);

/*
 * How many of the queries i, i+1, .. m-1 go to the GPU in one search: the
 * run of queries without a mask (masks NULL, or masks[j] NULL) starting at i,
 * at most cap (see rag_gpu_dense_run_cap); a query with a mask goes alone (a
 * search takes one mask).  0 when i >= m.
 */
size_t rag_gpu_dense_run(const uint8_t *const *masks, size_t i, size_t m, size_t cap);

/*
 * The longest run of queries that score exactly as each would alone, for
 * rows of dim (storage 0 f32, 1 f16) and top k: 1 where one query alone
 * takes the one-pass scan (k and dim fit it: its sums run in another order
 * than the many-query kernel's), else small_max (what
 * rag_cuda_scores_small_max_m gives for dim) up to RAG_GPU_DENSE_SMALL_M.
 * So a query's scores never depend on the queries sent with it.
 */
size_t rag_gpu_dense_run_cap(int64_t dim, int storage, size_t k, int64_t small_max);

/*
 * Merge one chunk's candidates into a top-k min-heap (rag_topk_push order):
 * count entries of val/idx, idx a row within the chunk (negative: empty),
 * key = ids[base + idx] (the row itself when ids is NULL).
 */
void rag_gpu_topk_merge(struct rag_hit *heap, size_t *nh, size_t k, const float *val, const int64_t *idx,
			int32_t count, const int64_t *ids, int64_t base);

/* ---- the GPU index (RAG_EUNAVAILABLE without a CUDA build or GPU) ----------- */

struct rag_gpu_dense;

/* Stored elements (rows x dim) from which auto uses the GPU: below it the
 * upload costs more than the CPU's scan (and small indexes stay bit-stable). */
#define RAG_GPU_SEARCH_MIN_ELEMS ((int64_t)4 << 20)

/*
 * Why the dense leg over n rows of dim stays on the CPU for device dev, a
 * phrase for messages ("RAG_DEVICE=cpu", "no usable GPU", ...), or NULL for
 * the GPU: a CUDA build and a working GPU (looked for once per process), and
 * dev cuda, or dev auto with n * dim >= RAG_GPU_SEARCH_MIN_ELEMS; dev cpu
 * never.
 */
const char *rag_gpu_dense_why_cpu(enum rag_device dev, int64_t n, int64_t dim);
/* The reason of rag_gpu_dense_why_cpu from its inputs (host logic,
 * testable): gpu is the working GPU count. */
const char *rag_gpu_dense_reason(enum rag_device dev, int gpu, int64_t n, int64_t dim);

/*
 * Upload n rows of dim elements (storage 0 f32 or 1 f16, row-major, as in a
 * vector file) and their keys (ids, n of them) to the GPU, in chunks.
 * metric_l2 selects -||q - x||^2 scores, else inner products (cosine: the
 * caller normalizes queries; stored rows are normalized at index time).
 * RAG_EUNAVAILABLE when the GPU cannot take it (the caller falls back to the
 * CPU), RAG_EINTERNAL when out of host memory.  Free with rag_gpu_dense_free.
 */
int rag_gpu_dense_open(const void *data, int storage, const int64_t *ids, int64_t n, int64_t dim, int metric_l2,
		       struct rag_gpu_dense **out, struct rag_error *err);
/* The same with the rows split into device allocations of at most
 * chunk_bytes (0: 1 GiB, what rag_gpu_dense_open uses). */
int rag_gpu_dense_open_chunked(const void *data, int storage, const int64_t *ids, int64_t n, int64_t dim,
			       int metric_l2, size_t chunk_bytes, struct rag_gpu_dense **out, struct rag_error *err);
void rag_gpu_dense_free(struct rag_gpu_dense *g);
/* rag_gpu_dense_run_cap for g's rows on this device (1 without CUDA). */
size_t rag_gpu_dense_max_run(const struct rag_gpu_dense *g, size_t k);

/*
 * Top k (<= 1024) of each of m queries (m rows of dim floats): out[i*k ..]
 * gets n_out[i] hits, best first (score descending, key ascending: the order
 * of rag_topk_sort), scores as rag_dense_scores defines them.  mask (may be
 * NULL) is indexed by key, max_key entries; a key outside it or with mask 0
 * is never returned.  RAG_EUNAVAILABLE on a GPU failure (message from the
 * CUDA layer), RAG_EINTERNAL when out of memory.
 */
int rag_gpu_dense_search(struct rag_gpu_dense *g, const float *q, int64_t m, const uint8_t *mask,
			 int64_t max_key, size_t k, struct rag_hit *out, size_t *n_out, struct rag_error *err);

#endif
