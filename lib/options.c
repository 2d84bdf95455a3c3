/* options.c: shared option handling and strict number parsing. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "options.h"

/* OpenBLAS's own call; declared here to avoid depending on its header layout. */
void openblas_set_num_threads(int n);

static int n_threads = 1;

const char *rag_device_name(enum rag_device d)
{
	switch (d) {
	case RAG_DEVICE_CPU: return "cpu";
	case RAG_DEVICE_CUDA: return "cuda";
	default: return "auto";
	}
}

int rag_device_parse(const char *s, enum rag_device *out)
{
	if (strcmp(s, "auto") == 0)
		*out = RAG_DEVICE_AUTO;
	else if (strcmp(s, "cpu") == 0)
		*out = RAG_DEVICE_CPU;
	else if (strcmp(s, "cuda") == 0 || strcmp(s, "gpu") == 0)
		*out = RAG_DEVICE_CUDA;
	else
		return -1;
	return 0;
}

int rag_parse_long(const char *s, long min, long max, long *out, const char *what,
		   struct rag_error *err)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno == ERANGE)
		return rag_error_set(err, RAG_EUSAGE, "invalid value '%s' for %s: not an integer", s, what);
	if (v < min || v > max)
		return rag_error_set(err, RAG_EUSAGE, "invalid value '%s' for %s: must be between %ld and %ld",
				     s, what, min, max);
	*out = v;
	return RAG_OK;
}

int rag_parse_u64(const char *s, uint64_t *out, const char *what, struct rag_error *err)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (!*s || *s == '-')
		return rag_error_set(err, RAG_EUSAGE, "invalid value '%s' for %s: not a non-negative integer", s, what);
	v = strtoull(s, &end, 10);
	if (*end || errno == ERANGE)
		return rag_error_set(err, RAG_EUSAGE, "invalid value '%s' for %s: not a non-negative integer", s, what);
	*out = (uint64_t)v;
	return RAG_OK;
}

int rag_parse_double(const char *s, double min, double max, double *out, const char *what,
		     struct rag_error *err)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *end || errno == ERANGE || isnan(v))
		return rag_error_set(err, RAG_EUSAGE, "invalid value '%s' for %s: not a number", s, what);
	if (v < min || v > max)
		return rag_error_set(err, RAG_EUSAGE, "invalid value '%s' for %s: must be between %g and %g",
				     s, what, min, max);
	*out = v;
	return RAG_OK;
}

enum rag_device rag_device_env(void)
{
	const char *e = getenv("RAG_DEVICE");
	enum rag_device d = RAG_DEVICE_AUTO;

	if (e && *e && rag_device_parse(e, &d))
		d = RAG_DEVICE_AUTO;
	return d;
}

int rag_opts_init(struct rag_opts *o, struct rag_error *err)
{
	const char *e;
	long n;

	memset(o, 0, sizeof *o);
	o->device = RAG_DEVICE_AUTO;
	if ((e = getenv("RAG_MODEL")) && *e)
		o->model = e;
	if ((e = getenv("RAG_DEVICE")) && *e && rag_device_parse(e, &o->device))
		return rag_error_set(err, RAG_EUSAGE,
				     "invalid RAG_DEVICE '%s' (expected auto, cpu or cuda)", e);
	if ((e = getenv("RAG_THREADS")) && *e) {
		if (rag_parse_long(e, 0, 4096, &n, "RAG_THREADS", err))
			return RAG_EUSAGE;
		o->threads = (int)n;
	}
	if ((e = getenv("RAG_SHARD")) && *e && rag_shard_parse(e, &o->shard, "RAG_SHARD", err))
		return RAG_EUSAGE;
	return RAG_OK;
}

int rag_opts_handle(struct rag_opts *o, int c, const char *arg, struct rag_error *err)
{
	long n;

	switch (c) {
	case RAG_OPT_MODEL:
		if (!*arg)
			return rag_error_set(err, RAG_EUSAGE, "--model needs a file or directory");
		o->model = arg;
		return RAG_OK;
	case RAG_OPT_DEVICE:
		if (rag_device_parse(arg, &o->device))
			return rag_error_set(err, RAG_EUSAGE,
					     "invalid value '%s' for --device (expected auto, cpu or cuda)", arg);
		return RAG_OK;
	case RAG_OPT_THREADS:
		if (rag_parse_long(arg, 0, 4096, &n, "--threads", err))
			return RAG_EUSAGE;
		o->threads = (int)n;
		return RAG_OK;
	case RAG_OPT_SEED:
		if (rag_parse_u64(arg, &o->seed, "--seed", err))
			return RAG_EUSAGE;
		o->seed_set = 1;
		return RAG_OK;
	case 'o':
		if (!*arg)
			return rag_error_set(err, RAG_EUSAGE, "-o needs a file name");
		o->output = arg;
		return RAG_OK;
	case 'v':
		o->verbose = o->verbose < 0 ? 1 : o->verbose + 1;
		return RAG_OK;
	case 'q':
		o->verbose = -1;
		return RAG_OK;
	case RAG_OPT_SKIP_BAD:
		o->skip_bad = 1;
		return RAG_OK;
	case RAG_OPT_SHARD:
		if (rag_shard_parse(arg, &o->shard, "--shard", err))
			return RAG_EUSAGE;
		o->shard_flag = 1;
		return RAG_OK;
	case 'h':
		o->help = 1;
		return RAG_OK;
	case RAG_OPT_VERSION:
		o->version = 1;
		return RAG_OK;
	default:
		return RAG_OPT_UNHANDLED;
	}
}

int rag_set_threads(int n)
{
	if (n <= 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		n = c > 0 ? (int)c : 1;
	}
	n_threads = n;
#ifdef _OPENMP
	omp_set_num_threads(n);
#endif
	openblas_set_num_threads(n);
	return n;
}

int rag_get_threads(void)
{
	return n_threads;
}
