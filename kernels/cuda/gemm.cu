/* gemm.cu: matrix products on tensor cores through cuBLASLt (half inputs,
 * float32 accumulation and output, bias fused in the epilogue), and the
 * weight preparation (GPU dequantization, then rounding to half). */
#include <stdint.h>
#include <stdlib.h>

#include <cublasLt.h>
#include <cuda_fp16.h>

#include "common.cuh"

#define WORKSPACE_BYTES ((size_t)32 << 20)

struct rag_cuda_blas {
	cublasLtHandle_t lt;
	void *workspace;
	size_t workspace_bytes;
};

extern "C" void rag_cuda_blas_free(struct rag_cuda_blas *h)
{
	if (!h)
		return;
	if (h->lt)
		cublasLtDestroy(h->lt);
	if (h->workspace)
		cudaFree(h->workspace);
	free(h);
}

static int blas_init(struct rag_cuda_blas *h)
{
	RAG_CUBLAS_TRY(cublasLtCreate(&h->lt));
	RAG_CUDA_TRY(cudaMalloc(&h->workspace, WORKSPACE_BYTES));
	h->workspace_bytes = WORKSPACE_BYTES;
	return 0;
}

extern "C" int rag_cuda_blas_create(struct rag_cuda_blas **out)
{
	struct rag_cuda_blas *h = (struct rag_cuda_blas *)calloc(1, sizeof *h);

	*out = NULL;
	if (!h) {
		rag_cuda_set_error("calloc(rag_cuda_blas)", __FILE__, __LINE__, "out of memory");
		return -1;
	}
	if (blas_init(h)) {
		rag_cuda_blas_free(h);
		return -1;
	}
	*out = h;
	return 0;
}

/* The descriptors of one product; released whatever happens. */
struct lt_plan {
	cublasLtMatmulDesc_t op;
	cublasLtMatrixLayout_t a, b, c;
	cublasLtMatmulPreference_t pref;
};

static void plan_release(struct lt_plan *p)
{
	if (p->pref)
		cublasLtMatmulPreferenceDestroy(p->pref);
	if (p->c)
		cublasLtMatrixLayoutDestroy(p->c);
	if (p->b)
		cublasLtMatrixLayoutDestroy(p->b);
	if (p->a)
		cublasLtMatrixLayoutDestroy(p->a);
	if (p->op)
		cublasLtMatmulDescDestroy(p->op);
}

/* Largest power of two (at most 256) dividing the address. */
static uint32_t ptr_align(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	uint32_t al = 256;

	while (al > 1 && (a % al))
		al >>= 1;
	return al;
}

/*
 * Row-major y[m][n] = x[m][k] . w[n][k]^T is, column-major, Y' (n x m) =
 * W'^T X' with W' = w seen as k x n (ld k), X' = x seen as k x m (ld k):
 * A = W' transposed, B = X' as is, C = Y' (ld n).  The bias then runs along
 * the rows of C, which is what CUBLASLT_EPILOGUE_BIAS adds.
 */
static int gemm_run(struct rag_cuda_blas *h, struct lt_plan *p, void *dy, cudaDataType_t out_type, const void *dx16,
		    const void *dw16, cudaDataType_t in_type, const void *dbias, int64_t m, int64_t n,
		    int64_t k, cudaStream_t stream)
{
	cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
	cublasLtEpilogue_t epi = dbias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
	cublasLtMatmulHeuristicResult_t heur;
	int found = 0;
	float one = 1.0f, zero = 0.0f;
	size_t ws = h->workspace_bytes;

	RAG_CUBLAS_TRY(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
	RAG_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
	RAG_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
	RAG_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
	if (dbias) {
		cudaDataType_t bt = out_type;   /* the bias has the output's type */
		RAG_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &dbias,
							      sizeof dbias));
		RAG_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt,
							      sizeof bt));
	}
	RAG_CUBLAS_TRY(cublasLtMatrixLayoutCreate(&p->a, in_type, (uint64_t)k, (uint64_t)n, k));
	RAG_CUBLAS_TRY(cublasLtMatrixLayoutCreate(&p->b, in_type, (uint64_t)k, (uint64_t)m, k));
	RAG_CUBLAS_TRY(cublasLtMatrixLayoutCreate(&p->c, out_type, (uint64_t)n, (uint64_t)m, n));
	RAG_CUBLAS_TRY(cublasLtMatmulPreferenceCreate(&p->pref));
	RAG_CUBLAS_TRY(cublasLtMatmulPreferenceSetAttribute(p->pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
							    &ws, sizeof ws));
	/* the heuristic assumes 256-byte aligned pointers unless told otherwise;
	 * sub-matrices (a group of queries, one of Q/K/V) are less aligned */
	{
		uint32_t aa = ptr_align(dw16), ab = ptr_align(dx16), ac = ptr_align(dy);
		RAG_CUBLAS_TRY(cublasLtMatmulPreferenceSetAttribute(p->pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
								    &aa, sizeof aa));
		RAG_CUBLAS_TRY(cublasLtMatmulPreferenceSetAttribute(p->pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
								    &ab, sizeof ab));
		RAG_CUBLAS_TRY(cublasLtMatmulPreferenceSetAttribute(p->pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
								    &ac, sizeof ac));
		RAG_CUBLAS_TRY(cublasLtMatmulPreferenceSetAttribute(p->pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
								    &ac, sizeof ac));
	}
	RAG_CUBLAS_TRY(cublasLtMatmulAlgoGetHeuristic(h->lt, p->op, p->a, p->b, p->c, p->c, p->pref, 1, &heur,
						      &found));
	if (found < 1) {
		rag_cuda_set_error("cublasLtMatmulAlgoGetHeuristic", __FILE__, __LINE__, "no algorithm for this shape");
		return -1;
	}
	RAG_CUBLAS_TRY(cublasLtMatmul(h->lt, p->op, &one, dw16, p->a, dx16, p->b, &zero, dy, p->c, dy, p->c,
				      &heur.algo, h->workspace, h->workspace_bytes, stream));
	return 0;
}

extern "C" int rag_cuda_gemm(struct rag_cuda_blas *h, float *dy, const void *dx, const void *dw, int is_f16,
			     const float *dbias, int64_t m, int64_t n, int64_t k, void *stream)
{
	struct lt_plan p = {};
	int rc;

	if (m <= 0 || n <= 0 || k <= 0)
		return 0;
	rc = gemm_run(h, &p, dy, CUDA_R_32F, dx, dw, is_f16 ? CUDA_R_16F : CUDA_R_32F, dbias, m, n, k,
		      (cudaStream_t)stream);
	plan_release(&p);
	return rc;
}

extern "C" int rag_cuda_gemm_f16(struct rag_cuda_blas *h, float *dy, const uint16_t *dx16, const uint16_t *dw16,
				 const float *dbias, int64_t m, int64_t n, int64_t k, void *stream)
{
	return rag_cuda_gemm(h, dy, dx16, dw16, 1, dbias, m, n, k, stream);
}

extern "C" int rag_cuda_gemm_h(struct rag_cuda_blas *h, uint16_t *dy16, const uint16_t *dx16, const uint16_t *dw16,
			       const uint16_t *dbias16, int64_t m, int64_t n, int64_t k, void *stream)
{
	struct lt_plan p = {};
	int rc;

	if (m <= 0 || n <= 0 || k <= 0)
		return 0;
	rc = gemm_run(h, &p, dy16, CUDA_R_16F, dx16, dw16, CUDA_R_16F, dbias16, m, n, k, (cudaStream_t)stream);
	plan_release(&p);
	return rc;
}

extern "C" int rag_cuda_weight_f16(uint16_t *dw16, const void *dsrc, enum rag_dtype t, int64_t rows, int64_t k,
				   float *dscratch, void *stream)
{
	if (t == RAG_DT_F32)
		return rag_cuda_f32_to_f16(dw16, (const float *)dsrc, rows * k, stream);
	if (t == RAG_DT_F16) {
		RAG_CUDA_TRY(cudaMemcpyAsync(dw16, dsrc, (size_t)(rows * k) * 2, cudaMemcpyDeviceToDevice,
					     (cudaStream_t)stream));
		return 0;
	}
	if (rag_cuda_dequant(t, dsrc, dscratch, rows, k, stream))
		return -1;
	return rag_cuda_f32_to_f16(dw16, dscratch, rows * k, stream);
}
