/* cuda_check.h: checked CUDA calls for lib/'s GPU backends (internal).
 *
 * In a function with `int rc`, `struct rag_error *err` and an `out:` label:
 * RAG_GPU_CU(who, stmt) runs a CUDA runtime call and RAG_GPU_OP(who, expr) a
 * kernels/cuda op (nonzero on failure); on failure rc becomes
 * RAG_EUNAVAILABLE with a message naming `who` ("GPU encoder", ...), the call
 * and the CUDA reason, and control goes to out.  The includer provides
 * <cuda_runtime_api.h>, error.h and kernels.h. */
#ifndef RAG_CUDA_CHECK_H
#define RAG_CUDA_CHECK_H

#define RAG_GPU_CU(who, stmt)                                                                      \
	do {                                                                                       \
		cudaError_t e_ = (stmt);                                                           \
		if (e_ != cudaSuccess) {                                                           \
			rc = rag_error_set(err, RAG_EUNAVAILABLE, who ": %s failed at %s:%d: %s",  \
					   #stmt, __FILE__, __LINE__, cudaGetErrorString(e_));     \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)

#define RAG_GPU_OP(who, expr)                                                                      \
	do {                                                                                       \
		if (expr) {                                                                        \
			rc = rag_error_set(err, RAG_EUNAVAILABLE, who ": %s", rag_cuda_last_error()); \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)

#endif
