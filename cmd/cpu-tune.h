/* cpu-tune.h: make OpenBLAS use the kernels the CPU supports when its own detection fails. */
#ifndef RAG_CPU_TUNE_H
#define RAG_CPU_TUNE_H

/*
 * OpenBLAS (DYNAMIC_ARCH builds such as Debian's) picks its kernels from the
 * CPU model at load time and falls back to generic SSE3 ("Prescott", 4-5x
 * slower) on CPUs it does not recognise, e.g. virtual machines reporting a
 * generic model.  The choice can only be changed through OPENBLAS_CORETYPE
 * before the library loads, so when the detected core is weaker than what
 * the CPU supports (AVX-512: SkylakeX, AVX2+FMA: Haswell) and the variable is
 * not set, this sets it and re-executes the program with the same arguments.
 * Call first thing in main.  Returns (without re-executing) when nothing needs
 * doing, when RAG_NO_CPU_TUNE is set, or when the re-execution fails.
 */
void cli_cpu_tune(char **argv);

#endif
