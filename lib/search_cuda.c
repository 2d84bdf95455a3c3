/* search_cuda.c: exact dense search on the GPU: planning, upload, score passes, top-k merge. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "kernels.h"
#include "search_cuda.h"

size_t rag_cuda_topk_scratch(int64_t m, int64_t n, int64_t k)
{
	int64_t segs = (n + RAG_CUDA_TOPK_SEG - 1) / RAG_CUDA_TOPK_SEG;

	if (m <= 0 || k <= 0 || segs <= 1)
		return 0;
	return (size_t)m * (size_t)segs * (size_t)k * (sizeof(int64_t) + sizeof(float));
}

int rag_gpu_dense_plan(int64_t n, int64_t dim, int storage, int64_t m, size_t k, size_t chunk_bytes,
		       size_t score_bytes, struct rag_gpu_dense_plan *p)
{
	size_t esz = storage == 1 ? 2 : 4, per_q;
	int64_t rows;

	memset(p, 0, sizeof *p);
	if (n <= 0 || dim <= 0 || m <= 0 || k == 0 || k > 1024 || (storage != 0 && storage != 1))
		return -1;
	if (!chunk_bytes)
		chunk_bytes = (size_t)1 << 30;
	if (!score_bytes)
		score_bytes = (size_t)512 << 20;
	rows = (int64_t)(chunk_bytes / ((size_t)dim * esz));
	if (rows < 1)
		rows = 1;
	if (rows > n)
		rows = n;
	p->chunk_rows = rows;
	p->n_chunks = (n + rows - 1) / rows;
	/* per query: a row of scores plus its share of the top-k scratch */
	per_q = (size_t)rows * sizeof(float) + rag_cuda_topk_scratch(1, rows, (int64_t)k);
	p->group = (int64_t)(score_bytes / per_q);
	if (p->group < 1)
		p->group = 1;
	if (p->group > m)
		p->group = m;
	if (p->group > 65535)
		p->group = 65535;
	p->small = m <= RAG_GPU_DENSE_SMALL_M;
	if (p->small)
		p->group = m;
	p->scan = m == 1 && k <= RAG_CUDA_SCAN_K && rag_cuda_scan_fits(dim, storage == 1, NULL);
	if (p->scan) {
		p->scores_bytes = 0;
		p->scratch_bytes = rag_cuda_scan_scratch((int64_t)k);
	} else {
		p->scores_bytes = (size_t)p->group * (size_t)rows * sizeof(float);
		p->scratch_bytes = rag_cuda_topk_scratch(p->group, rows, (int64_t)k);
	}
	return 0;
}

size_t rag_gpu_dense_run(const uint8_t *const *masks, size_t i, size_t m, size_t cap)
{
	size_t n = 1;

	if (i >= m)
		return 0;
	if (masks && masks[i])
		return 1;
	while (i + n < m && n < cap && !(masks && masks[i + n]))
		n++;
	return n;
}

size_t rag_gpu_dense_run_cap(int64_t dim, int storage, size_t k, int64_t small_max)
{
	if (k <= RAG_CUDA_SCAN_K && rag_cuda_scan_fits(dim, storage == 1, NULL))
		return 1;
	if (small_max < 1)
		return 1;
	return small_max < RAG_GPU_DENSE_SMALL_M ? (size_t)small_max : RAG_GPU_DENSE_SMALL_M;
}

void rag_gpu_topk_merge(struct rag_hit *heap, size_t *nh, size_t k, const float *val, const int64_t *idx,
			int32_t count, const int64_t *ids, int64_t base)
{
	for (int32_t i = 0; i < count; i++) {
		int64_t key;
		if (idx[i] < 0)
			continue;
		key = ids ? ids[base + idx[i]] : base + idx[i];
		if (*nh == k && val[i] < heap[0].score)
			continue;
		rag_topk_push(heap, nh, k, key, val[i]);
	}
}

_Static_assert(RAG_GPU_SEARCH_MIN_ELEMS == 4194304, "rag_gpu_dense_reason names the threshold");

const char *rag_gpu_dense_reason(enum rag_device dev, int gpu, int64_t n, int64_t dim)
{
	if (dev == RAG_DEVICE_CPU)
		return "as asked (--device cpu or RAG_DEVICE=cpu)";
	if (gpu <= 0)
		return "no usable GPU";
	if (dev == RAG_DEVICE_CUDA)
		return NULL;
	if (n * dim < RAG_GPU_SEARCH_MIN_ELEMS)
		return "fewer than 4194304 stored numbers (vectors x dimension): the upload would cost more than the GPU saves";
	return NULL;
}


int rag_gpu_dense_open(const void *data, int storage, const int64_t *ids, int64_t n, int64_t dim, int metric_l2,
		       struct rag_gpu_dense **out, struct rag_error *err)
{
	return rag_gpu_dense_open_chunked(data, storage, ids, n, dim, metric_l2, 0, out, err);
}

#ifndef RAG_HAVE_CUDA

const char *rag_gpu_dense_why_cpu(enum rag_device dev, int64_t n, int64_t dim)
{
	return dev == RAG_DEVICE_CPU ? rag_gpu_dense_reason(dev, 0, n, dim) : "this ragkit was built without CUDA";
}

int rag_gpu_dense_open_chunked(const void *data, int storage, const int64_t *ids, int64_t n, int64_t dim,
			       int metric_l2, size_t chunk_bytes, struct rag_gpu_dense **out, struct rag_error *err)
{
	(void)data; (void)storage; (void)ids; (void)n; (void)dim; (void)metric_l2; (void)chunk_bytes;
	*out = NULL;
	return rag_error_set(err, RAG_EUNAVAILABLE, "ragkit was built without CUDA");
}

void rag_gpu_dense_free(struct rag_gpu_dense *g) { (void)g; }

size_t rag_gpu_dense_max_run(const struct rag_gpu_dense *g, size_t k)
{
	(void)g; (void)k;
	return 1;
}

int rag_gpu_dense_search(struct rag_gpu_dense *g, const float *q, int64_t m, const uint8_t *mask,
			 int64_t max_key, size_t k, struct rag_hit *out, size_t *n_out, struct rag_error *err)
{
	(void)g; (void)q; (void)m; (void)mask; (void)max_key; (void)k; (void)out; (void)n_out;
	return rag_error_set(err, RAG_EUNAVAILABLE, "ragkit was built without CUDA");
}

#else

#include <cuda_runtime_api.h>

#include "cuda_check.h"
#include "device.h"
#include "options.h"

struct rag_gpu_dense {
	int storage, metric_l2;
	int64_t n, dim;
	int64_t chunk_rows, n_chunks;
	void **dvec;            /* n_chunks allocations */
	float **dxnorm;         /* L2 only: squared norms per chunk */
	int64_t *dids;          /* n keys */
	const int64_t *ids;     /* host keys (the caller's mapping, which outlives g) */
	struct rag_cuda_blas *blas;
	/* per-search buffers, grown on demand */
	float *dq, *dqnorm, *dscores, *dval;
	uint16_t *dq16;
	int64_t *didx;          /* didx, dval and dcount share dout */
	int32_t *dcount;
	void *dout, *dscratch;
	uint8_t *dmask;
	size_t cap_q, cap_q16, cap_qnorm, cap_scores, cap_out, cap_scratch, cap_mask;
	void *st;              /* the one-pass search's stream (cudaStream_t), created on first use */
	unsigned *dctl;        /* its counters (RAG_CUDA_SCAN_CTL) */
	void *pin;             /* its pinned buffer: queries, then the chunks' results */
	size_t cap_pin;
	void *hbuf;            /* host copy of dout: one download per chunk */
	float *hval;           /* within hbuf, laid out as didx, dval, dcount */
	int64_t *hidx;
	int32_t *hcount;
	size_t cap_h;
};

const char *rag_gpu_dense_why_cpu(enum rag_device dev, int64_t n, int64_t dim)
{
	static int gpus = -1;

	if (dev == RAG_DEVICE_CPU)
		return rag_gpu_dense_reason(dev, 0, n, dim);  /* without looking for a GPU */
	if (gpus < 0)
		gpus = rag_gpu_count(NULL, 0);
	return rag_gpu_dense_reason(dev, gpus, n, dim);
}

void rag_gpu_dense_free(struct rag_gpu_dense *g)
{
	if (!g)
		return;
	for (int64_t c = 0; c < g->n_chunks; c++) {
		if (g->dvec)
			rag_cuda_free(g->dvec[c]);
		if (g->dxnorm)
			rag_cuda_free(g->dxnorm[c]);
	}
	rag_free(g->dvec);
	rag_free(g->dxnorm);
	rag_cuda_free(g->dids);
	rag_cuda_free(g->dq);
	rag_cuda_free(g->dq16);
	rag_cuda_free(g->dqnorm);
	rag_cuda_free(g->dscores);
	rag_cuda_free(g->dout);
	rag_cuda_free(g->dscratch);
	rag_cuda_free(g->dmask);
	rag_cuda_blas_free(g->blas);
	if (g->st)
		cudaStreamDestroy((cudaStream_t)g->st);
	rag_cuda_free(g->dctl);
	if (g->pin)
		cudaFreeHost(g->pin);
	rag_free(g->hbuf);
	rag_free(g);
}

size_t rag_gpu_dense_max_run(const struct rag_gpu_dense *g, size_t k)
{
	return rag_gpu_dense_run_cap(g->dim, g->storage, k, rag_cuda_scores_small_max_m(g->dim));
}

static int gpu_fail(struct rag_error *err, const char *what)
{
	return rag_error_set(err, RAG_EUNAVAILABLE, "GPU search: %s: %s", what, rag_cuda_last_error());
}

int rag_gpu_dense_open_chunked(const void *data, int storage, const int64_t *ids, int64_t n, int64_t dim,
			       int metric_l2, size_t chunk_bytes, struct rag_gpu_dense **out, struct rag_error *err)
{
	struct rag_gpu_dense_plan p;
	struct rag_gpu_dense *g;
	size_t esz = storage == 1 ? 2 : 4;

	*out = NULL;
	if (rag_gpu_dense_plan(n, dim, storage, 1, 1, chunk_bytes, 0, &p))
		return rag_error_set(err, RAG_EUNAVAILABLE, "GPU search: storage or shape not supported");
	if (!(g = rag_calloc(1, sizeof *g)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	g->storage = storage;
	g->metric_l2 = metric_l2;
	g->n = n;
	g->dim = dim;
	g->ids = ids;
	g->chunk_rows = p.chunk_rows;
	g->n_chunks = p.n_chunks;
	if (!(g->dvec = rag_calloc((size_t)p.n_chunks, sizeof *g->dvec)) ||
	    !(g->dxnorm = rag_calloc((size_t)p.n_chunks, sizeof *g->dxnorm))) {
		rag_gpu_dense_free(g);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	for (int64_t c = 0; c < p.n_chunks; c++) {
		int64_t r0 = c * p.chunk_rows, rows = n - r0 < p.chunk_rows ? n - r0 : p.chunk_rows;
		size_t bytes = (size_t)rows * (size_t)dim * esz;
		if (rag_cuda_malloc(&g->dvec[c], bytes) ||
		    rag_cuda_upload(g->dvec[c], (const char *)data + (size_t)r0 * (size_t)dim * esz, bytes)) {
			rag_gpu_dense_free(g);
			return gpu_fail(err, "uploading vectors");
		}
		if (metric_l2 && (rag_cuda_malloc((void **)&g->dxnorm[c], (size_t)rows * sizeof(float)) ||
				  rag_cuda_sqnorms(g->dxnorm[c], g->dvec[c], storage == 1, rows, dim, NULL))) {
			rag_gpu_dense_free(g);
			return gpu_fail(err, "norms");
		}
	}
	if (rag_cuda_malloc((void **)&g->dids, (size_t)n * sizeof(int64_t)) ||
	    rag_cuda_upload(g->dids, ids, (size_t)n * sizeof(int64_t)) || rag_cuda_blas_create(&g->blas) ||
	    rag_cuda_sync()) {
		rag_gpu_dense_free(g);
		return gpu_fail(err, "setup");
	}
	*out = g;
	return RAG_OK;
}

/* Grow a device buffer to at least n bytes (contents not kept). */
static int dgrow(void **p, size_t *cap, size_t n)
{
	if (n <= *cap)
		return 0;
	rag_cuda_free(*p);
	*p = NULL;
	*cap = 0;
	if (rag_cuda_malloc(p, n))
		return -1;
	*cap = n;
	return 0;
}

#define CU(stmt) RAG_GPU_CU("GPU search", stmt)
#define OP(expr) RAG_GPU_OP("GPU search", expr)

/*
 * The one-pass search (plan->scan: one query, k <= 16): the query goes up
 * and every chunk's top k comes back through one pinned buffer, on the
 * search's own stream, with one synchronization in all.
 */
static int scan_search(struct rag_gpu_dense *g, const struct rag_gpu_dense_plan *p, const float *q,
		       const uint8_t *mask, int64_t max_key, size_t k, struct rag_hit *out, size_t *n_out,
		       struct rag_error *err)
{
	size_t qb = (size_t)g->dim * sizeof(float);
	/* per chunk: rows (k int64), values (k float), the count (int32), 8-byte aligned */
	size_t per = (k * (sizeof(int64_t) + sizeof(float)) + sizeof(int32_t) + 7) & ~(size_t)7;
	size_t rb = per * (size_t)g->n_chunks;
	char *hres;
	int rc = RAG_OK;

	if (!g->st)
		CU(cudaStreamCreateWithFlags((cudaStream_t *)&g->st, cudaStreamNonBlocking));
	if (!g->dctl) {
		/* the scan's counters start at zero and every scan leaves them so */
		OP(rag_cuda_malloc((void **)&g->dctl, RAG_CUDA_SCAN_CTL * sizeof *g->dctl));
		CU(cudaMemset(g->dctl, 0, RAG_CUDA_SCAN_CTL * sizeof *g->dctl));
	}
	if (qb + rb > g->cap_pin) {
		if (g->pin)
			cudaFreeHost(g->pin);
		g->pin = NULL;
		g->cap_pin = 0;
		CU(cudaMallocHost(&g->pin, qb + rb));
		g->cap_pin = qb + rb;
	}
	if (dgrow((void **)&g->dq, &g->cap_q, qb) || dgrow(&g->dscratch, &g->cap_scratch, p->scratch_bytes) ||
	    dgrow(&g->dout, &g->cap_out, rb))
		return gpu_fail(err, "search buffers");
	if (mask) {
		/* on the stream: a pageable copy on the legacy stream may still be
		 * in flight when it returns, unordered with this stream's kernels */
		if (dgrow((void **)&g->dmask, &g->cap_mask, (size_t)(max_key > 0 ? max_key : 1)))
			return gpu_fail(err, "mask");
		if (max_key > 0)
			CU(cudaMemcpyAsync(g->dmask, mask, (size_t)max_key, cudaMemcpyHostToDevice, (cudaStream_t)g->st));
	}
	memcpy(g->pin, q, qb);
	CU(cudaMemcpyAsync(g->dq, g->pin, qb, cudaMemcpyHostToDevice, (cudaStream_t)g->st));
	for (int64_t c = 0; c < g->n_chunks; c++) {
		int64_t r0 = c * g->chunk_rows, rows = g->n - r0 < g->chunk_rows ? g->n - r0 : g->chunk_rows;
		int64_t *didx = (int64_t *)(void *)((char *)g->dout + (size_t)c * per);
		float *dval = (float *)(void *)(didx + k);
		OP(rag_cuda_scan_topk(g->dq, g->dvec[c], g->storage == 1, rows, g->dim, g->metric_l2,
				      mask ? g->dids + r0 : NULL, mask ? g->dmask : NULL, max_key, (int64_t)k, dval,
				      didx, (int32_t *)(void *)(dval + k), g->dscratch, g->dctl, g->st));
	}
	hres = (char *)g->pin + qb;
	CU(cudaMemcpyAsync(hres, g->dout, rb, cudaMemcpyDeviceToHost, (cudaStream_t)g->st));
	CU(cudaStreamSynchronize((cudaStream_t)g->st));
	for (int64_t c = 0; c < g->n_chunks; c++) {
		const int64_t *idx = (const int64_t *)(const void *)(hres + (size_t)c * per);
		const float *val = (const float *)(const void *)(idx + k);
		rag_gpu_topk_merge(out, n_out, k, val, idx, *(const int32_t *)(const void *)(val + k), g->ids,
				   c * g->chunk_rows);
	}
	rag_topk_sort(out, *n_out);
out:
	if (rc != RAG_OK && g->st)
		cudaStreamSynchronize((cudaStream_t)g->st);  /* nothing of this search still running */
	return rc;
}

int rag_gpu_dense_search(struct rag_gpu_dense *g, const float *q, int64_t m, const uint8_t *mask,
			 int64_t max_key, size_t k, struct rag_hit *out, size_t *n_out, struct rag_error *err)
{
	struct rag_gpu_dense_plan p;
	int64_t kk;
	size_t need_h;

	for (int64_t i = 0; i < m; i++)
		n_out[i] = 0;
	if (m <= 0 || k == 0)
		return RAG_OK;
	if (rag_gpu_dense_plan(g->n, g->dim, g->storage, m, k, (size_t)g->chunk_rows * (size_t)g->dim *
			       (g->storage == 1 ? 2 : 4), 0, &p))
		return rag_error_set(err, RAG_EUNAVAILABLE, "GPU search: k %zu not supported", k);
	if (p.scan)
		return scan_search(g, &p, q, mask, max_key, k, out, n_out, err);
	kk = (int64_t)k;
	/* device buffers for one group */
	if (dgrow((void **)&g->dq, &g->cap_q, (size_t)m * (size_t)g->dim * sizeof(float)))
		return gpu_fail(err, "query buffer");
	if (g->storage == 1 && !p.small && dgrow((void **)&g->dq16, &g->cap_q16, (size_t)m * (size_t)g->dim * 2))
		return gpu_fail(err, "query buffer");
	if (dgrow((void **)&g->dscores, &g->cap_scores, p.scores_bytes) ||
	    dgrow(&g->dscratch, &g->cap_scratch, p.scratch_bytes ? p.scratch_bytes : 1) ||
	    dgrow(&g->dout, &g->cap_out, (size_t)p.group * (k * (sizeof(int64_t) + sizeof(float)) + sizeof(int32_t))))
		return gpu_fail(err, "score buffers");
	g->didx = (int64_t *)g->dout;
	g->dval = (float *)(void *)(g->didx + (size_t)p.group * k);
	g->dcount = (int32_t *)(void *)(g->dval + (size_t)p.group * k);
	if (mask) {
		if (dgrow((void **)&g->dmask, &g->cap_mask, (size_t)(max_key > 0 ? max_key : 1)) ||
		    (max_key > 0 && rag_cuda_upload(g->dmask, mask, (size_t)max_key)))
			return gpu_fail(err, "mask");
	}
	if (g->metric_l2 && !p.small &&
	    dgrow((void **)&g->dqnorm, &g->cap_qnorm, (size_t)m * sizeof(float)))
		return gpu_fail(err, "query norms");
	need_h = (size_t)p.group * (k * (sizeof(int64_t) + sizeof(float)) + sizeof(int32_t));
	if (need_h > g->cap_h) {
		rag_free(g->hbuf);
		if (!(g->hbuf = rag_malloc(need_h))) {
			g->cap_h = 0;
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		}
		g->cap_h = need_h;
	}
	g->hidx = (int64_t *)g->hbuf;
	g->hval = (float *)(void *)(g->hidx + (size_t)p.group * k);
	g->hcount = (int32_t *)(void *)(g->hval + (size_t)p.group * k);
	if (rag_cuda_upload(g->dq, q, (size_t)m * (size_t)g->dim * sizeof(float)))
		return gpu_fail(err, "queries");
	if (g->metric_l2 && !p.small) {
		float *qn = rag_malloc((size_t)m * sizeof *qn);
		if (!qn)
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		for (int64_t i = 0; i < m; i++)
			qn[i] = rag_vec_dot_f32(q + i * g->dim, q + i * g->dim, (size_t)g->dim);
		if (rag_cuda_upload(g->dqnorm, qn, (size_t)m * sizeof *qn)) {
			rag_free(qn);
			return gpu_fail(err, "query norms");
		}
		rag_free(qn);
	}
	if (g->storage == 1 && !p.small && rag_cuda_f32_to_f16(g->dq16, g->dq, m * g->dim, NULL))
		return gpu_fail(err, "query conversion");
	for (int64_t q0 = 0; q0 < m; q0 += p.group) {
		int64_t mg = m - q0 < p.group ? m - q0 : p.group;
		for (int64_t c = 0; c < g->n_chunks; c++) {
			int64_t r0 = c * g->chunk_rows, rows = g->n - r0 < g->chunk_rows ? g->n - r0 : g->chunk_rows;
			int rc;
			if (p.small)
				rc = rag_cuda_scores_small(g->dscores, g->dq + q0 * g->dim, mg, g->dvec[c], g->storage == 1,
							   rows, g->dim, g->metric_l2, NULL);
			else if (g->storage == 1)
				rc = rag_cuda_gemm(g->blas, g->dscores, g->dq16 + q0 * g->dim, g->dvec[c], 1, NULL, mg,
						   rows, g->dim, NULL);
			else
				rc = rag_cuda_gemm(g->blas, g->dscores, g->dq + q0 * g->dim, g->dvec[c], 0, NULL, mg, rows,
						   g->dim, NULL);
			if (rc)
				return gpu_fail(err, "scores");
			if (rag_cuda_topk(g->dscores, mg, rows, rows,
					  g->metric_l2 && !p.small ? g->dxnorm[c] : NULL,
					  g->metric_l2 && !p.small ? g->dqnorm + q0 : NULL,
					  mask ? g->dids + r0 : NULL, mask ? g->dmask : NULL, max_key, kk, g->dval,
					  g->didx, g->dcount, g->dscratch, NULL) ||
			    rag_cuda_download(g->hbuf, g->dout, need_h))
				return gpu_fail(err, "top-k");
			for (int64_t i = 0; i < mg; i++)
				rag_gpu_topk_merge(out + (size_t)(q0 + i) * k, &n_out[q0 + i], k, g->hval + (size_t)i * k,
						   g->hidx + (size_t)i * k, g->hcount[i], g->ids, r0);
		}
	}
	for (int64_t i = 0; i < m; i++)
		rag_topk_sort(out + (size_t)i * k, n_out[i]);
	return RAG_OK;
}

#endif
