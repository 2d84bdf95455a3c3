/* device.h: choosing where computation runs (--device auto|cpu|cuda). */
#ifndef RAG_DEVICE_H
#define RAG_DEVICE_H

#include <stddef.h>

#include "error.h"
#include "options.h"

/* Was this build made with the CUDA kernels? */
int rag_cuda_built(void);

/*
 * Number of GPUs that work right now (0 without a CUDA build, driver or
 * device); when name is given it receives a description of the first.
 */
int rag_gpu_count(char *name, size_t name_len);

/*
 * Resolve a requested device: auto becomes cuda when a GPU works and cpu
 * otherwise; cuda without a working GPU is RAG_EUNAVAILABLE with the reason
 * ("this ragkit was built without CUDA", "no CUDA device: ...").  *got is the
 * device to use; desc (may be NULL) receives a line for -v ("cpu (no GPU
 * found)", "cuda: NVIDIA H100 ...").
 */
int rag_device_resolve(enum rag_device want, enum rag_device *got, char *desc, size_t desc_len,
		       struct rag_error *err);

#endif
