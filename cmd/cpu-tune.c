/* cpu-tune.c: re-execute with OPENBLAS_CORETYPE set when OpenBLAS misdetects the CPU (see cpu-tune.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cpu-tune.h"

char *openblas_get_corename(void);

void cli_cpu_tune(char **argv)
{
	static const char *const good512[] = { "skylakex", "cooperlake", "sapphirerapids", NULL };
	static const char *const good256[] = { "haswell", "zen", "skylakex", "cooperlake", "sapphirerapids", NULL };
	const char *const *good = NULL;
	const char *core, *want = NULL;

	if (getenv("OPENBLAS_CORETYPE") || getenv("RAG_NO_CPU_TUNE"))
		return;
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f")) {
		want = "SkylakeX";
		good = good512;
	} else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
		want = "Haswell";
		good = good256;
	} else {
		return;
	}
#else
	return;
#endif
	core = openblas_get_corename();
	if (!core)
		return;
	for (size_t i = 0; good[i]; i++)
		if (strcasecmp(core, good[i]) == 0)
			return;
	if (setenv("OPENBLAS_CORETYPE", want, 1) == 0)
		execv("/proc/self/exe", argv);
	unsetenv("OPENBLAS_CORETYPE");   /* exec failed: carry on with what we have */
}
