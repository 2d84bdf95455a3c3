/* gemm.cu: matrix products on tensor cores through cuBLASLt (half inputs,
 * float32 accumulation and output, bias fused in the epilogue), and the
 * weight preparation (GPU dequantization, then rounding to half). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cublasLt.h>
#include <cuda_fp16.h>

#include "common.cuh"

/*
 * cuBLASLt is loaded when the first handle is made, not linked: mapping it
 * costs about 0.07 s and 200 MB of address space at every process start
 * (measured on rag-retrieve --version), which BM25 queries, tokenization and
 * every CPU run would otherwise pay.  The entry points have the header's own
 * types (decltype), so a signature mismatch does not compile.
 */
#define RAG_STR_(x) #x
#define RAG_STR(x) RAG_STR_(x)
#define CUBLASLT_SONAME "libcublasLt.so." RAG_STR(CUBLAS_VER_MAJOR)

#define LT_FUNCS(X)                                                                     \
	X(cublasLtCreate) X(cublasLtDestroy) X(cublasLtGetStatusString) X(cublasLtMatmul) \
	X(cublasLtMatmulAlgoGetHeuristic) X(cublasLtMatmulDescCreate)                     \
	X(cublasLtMatmulDescDestroy) X(cublasLtMatmulDescSetAttribute)                    \
	X(cublasLtMatmulPreferenceCreate) X(cublasLtMatmulPreferenceDestroy)              \
	X(cublasLtMatmulPreferenceSetAttribute) X(cublasLtMatrixLayoutCreate)             \
	X(cublasLtMatrixLayoutDestroy)

static struct {
#define LT_MEMBER(f) decltype(&::f) f;
	LT_FUNCS(LT_MEMBER)
#undef LT_MEMBER
} lt_api;
static pthread_once_t lt_once = PTHREAD_ONCE_INIT;
static char lt_failure[512];   /* empty when loaded */

static void lt_load_once(void)
{
	void *lib = dlopen(CUBLASLT_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!lib) {
		snprintf(lt_failure, sizeof lt_failure, "%s", dlerror());
		return;
	}
#define LT_RESOLVE(f)                                                                   \
	if (!lt_failure[0] && !(lt_api.f = (decltype(&::f))dlsym(lib, #f)))             \
		snprintf(lt_failure, sizeof lt_failure, "%s: no symbol %s", CUBLASLT_SONAME, #f);
	LT_FUNCS(LT_RESOLVE)
#undef LT_RESOLVE
	/* the library stays loaded for the life of the process */
}

extern "C" int rag_cuda_blas_load(void)
{
	pthread_once(&lt_once, lt_load_once);
	if (lt_failure[0]) {
		rag_cuda_set_error("dlopen(\"" CUBLASLT_SONAME "\")", __FILE__, __LINE__, lt_failure);
		return -1;
	}
	return 0;
}

/* Status text for RAG_CUBLAS_TRY (only reached after a loaded entry point ran). */
const char *rag_cublas_status_string(int s)
{
	return lt_api.cublasLtGetStatusString ? lt_api.cublasLtGetStatusString((cublasStatus_t)s)
					      : "cuBLASLt status";
}

/* From here on every cuBLASLt call goes through the loaded table. */
#define cublasLtCreate lt_api.cublasLtCreate
#define cublasLtDestroy lt_api.cublasLtDestroy
#define cublasLtMatmul lt_api.cublasLtMatmul
#define cublasLtMatmulAlgoGetHeuristic lt_api.cublasLtMatmulAlgoGetHeuristic
#define cublasLtMatmulDescCreate lt_api.cublasLtMatmulDescCreate
#define cublasLtMatmulDescDestroy lt_api.cublasLtMatmulDescDestroy
#define cublasLtMatmulDescSetAttribute lt_api.cublasLtMatmulDescSetAttribute
#define cublasLtMatmulPreferenceCreate lt_api.cublasLtMatmulPreferenceCreate
#define cublasLtMatmulPreferenceDestroy lt_api.cublasLtMatmulPreferenceDestroy
#define cublasLtMatmulPreferenceSetAttribute lt_api.cublasLtMatmulPreferenceSetAttribute
#define cublasLtMatrixLayoutCreate lt_api.cublasLtMatrixLayoutCreate
#define cublasLtMatrixLayoutDestroy lt_api.cublasLtMatrixLayoutDestroy

#define WORKSPACE_BYTES ((size_t)32 << 20)
#define ALGO_CACHE 64

/* The heuristic's choice for one product shape (the query costs tens of
 * microseconds of host time, as much as a small product takes on the GPU:
 * a decoder's prefill asks for the same few shapes hundreds of times). */
struct algo_entry {
	int64_t m, n, k;
	int in_type, bias;
	uint32_t aa, ab, ac;
	cublasLtMatmulAlgo_t algo;
};

struct rag_cuda_blas {
	cublasLtHandle_t lt;
	void *workspace;
	size_t workspace_bytes;
	struct algo_entry algos[ALGO_CACHE];
	int n_algos, next_algo;
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
	if (rag_cuda_blas_load())
		return -1;
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
		    int64_t k, float beta, cudaStream_t stream)
{
	cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
	cublasLtEpilogue_t epi = dbias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
	cublasLtMatmulHeuristicResult_t heur;
	int found = 0;
	float one = 1.0f;
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
	uint32_t aa = ptr_align(dw16), ab = ptr_align(dx16), ac = ptr_align(dy);
	for (int i = 0; i < h->n_algos; i++) {
		const struct algo_entry *a = &h->algos[i];
		if (a->m == m && a->n == n && a->k == k && a->in_type == (int)in_type && a->bias == (dbias != NULL) &&
		    a->aa == aa && a->ab == ab && a->ac == ac) {
			RAG_CUBLAS_TRY(cublasLtMatmul(h->lt, p->op, &one, dw16, p->a, dx16, p->b, &beta, dy, p->c, dy,
						      p->c, &a->algo, h->workspace, h->workspace_bytes, stream));
			return 0;
		}
	}
	{
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
	{
		struct algo_entry *a = &h->algos[h->n_algos < ALGO_CACHE ? h->n_algos++ : h->next_algo++ % ALGO_CACHE];
		a->m = m; a->n = n; a->k = k; a->in_type = (int)in_type; a->bias = dbias != NULL;
		a->aa = aa; a->ab = ab; a->ac = ac;
		a->algo = heur.algo;
	}
	RAG_CUBLAS_TRY(cublasLtMatmul(h->lt, p->op, &one, dw16, p->a, dx16, p->b, &beta, dy, p->c, dy, p->c,
				      &heur.algo, h->workspace, h->workspace_bytes, stream));
	return 0;
}

/* One product with its descriptors made and released around it. */
static int gemm_once(struct rag_cuda_blas *h, void *dy, cudaDataType_t out_type, const void *dx, const void *dw,
		     cudaDataType_t in_type, const void *dbias, int64_t m, int64_t n, int64_t k, float beta,
		     void *stream)
{
	struct lt_plan p = {};
	int rc;

	if (m <= 0 || n <= 0 || k <= 0)
		return 0;
	rc = gemm_run(h, &p, dy, out_type, dx, dw, in_type, dbias, m, n, k, beta, (cudaStream_t)stream);
	plan_release(&p);
	return rc;
}

extern "C" int rag_cuda_gemm(struct rag_cuda_blas *h, float *dy, const void *dx, const void *dw, int is_f16,
			     const float *dbias, int64_t m, int64_t n, int64_t k, void *stream)
{
	return gemm_once(h, dy, CUDA_R_32F, dx, dw, is_f16 ? CUDA_R_16F : CUDA_R_32F, dbias, m, n, k, 0.0f, stream);
}

extern "C" int rag_cuda_gemm_f16(struct rag_cuda_blas *h, float *dy, const uint16_t *dx16, const uint16_t *dw16,
				 const float *dbias, int64_t m, int64_t n, int64_t k, void *stream)
{
	return gemm_once(h, dy, CUDA_R_32F, dx16, dw16, CUDA_R_16F, dbias, m, n, k, 0.0f, stream);
}

extern "C" int rag_cuda_gemm_f16_acc(struct rag_cuda_blas *h, float *dy, const uint16_t *dx16,
				     const uint16_t *dw16, const float *dbias, int64_t m, int64_t n, int64_t k,
				     void *stream)
{
	return gemm_once(h, dy, CUDA_R_32F, dx16, dw16, CUDA_R_16F, dbias, m, n, k, 1.0f, stream);
}

extern "C" int rag_cuda_gemm_h(struct rag_cuda_blas *h, uint16_t *dy16, const uint16_t *dx16, const uint16_t *dw16,
			       const uint16_t *dbias16, int64_t m, int64_t n, int64_t k, void *stream)
{
	return gemm_once(h, dy16, CUDA_R_16F, dx16, dw16, CUDA_R_16F, dbias16, m, n, k, 0.0f, stream);
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
