/* test-options.c: shared options, environment defaults, strict number parsing. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

Test(options, environment_then_flags)
{
	struct rag_opts o;
	struct rag_error err;

	setenv("RAG_MODEL", "env.gguf", 1);
	setenv("RAG_DEVICE", "cpu", 1);
	setenv("RAG_THREADS", "3", 1);
	cr_assert_eq(rag_opts_init(&o, &err), RAG_OK);
	cr_assert_str_eq(o.model, "env.gguf");
	cr_assert_eq(o.device, RAG_DEVICE_CPU);
	cr_assert_eq(o.threads, 3);
	cr_assert_eq(rag_opts_handle(&o, RAG_OPT_MODEL, "flag.gguf", &err), RAG_OK);
	cr_assert_eq(rag_opts_handle(&o, RAG_OPT_DEVICE, "cuda", &err), RAG_OK);
	cr_assert_str_eq(o.model, "flag.gguf");
	cr_assert_eq(o.device, RAG_DEVICE_CUDA);
	unsetenv("RAG_MODEL");
	unsetenv("RAG_DEVICE");
	unsetenv("RAG_THREADS");
}

Test(options, bad_environment_is_usage_error)
{
	struct rag_opts o;
	struct rag_error err;

	setenv("RAG_DEVICE", "tpu", 1);
	cr_assert_eq(rag_opts_init(&o, &err), RAG_EUSAGE);
	cr_assert(strstr(err.msg, "RAG_DEVICE 'tpu'"));
	unsetenv("RAG_DEVICE");
}

Test(options, bad_values)
{
	struct rag_opts o;
	struct rag_error err;

	rag_opts_init(&o, &err);
	cr_assert_eq(rag_opts_handle(&o, RAG_OPT_DEVICE, "gpu0", &err), RAG_EUSAGE);
	cr_assert_eq(rag_opts_handle(&o, RAG_OPT_THREADS, "-1", &err), RAG_EUSAGE);
	cr_assert_eq(rag_opts_handle(&o, RAG_OPT_THREADS, "4x", &err), RAG_EUSAGE);
	cr_assert_str_eq(err.msg, "invalid value '4x' for --threads: not an integer");
	cr_assert_eq(rag_opts_handle(&o, RAG_OPT_SEED, "-5", &err), RAG_EUSAGE);
	cr_assert_eq(rag_opts_handle(&o, RAG_OPT_SEED, "18446744073709551615", &err), RAG_OK);
	cr_assert_eq(o.seed, UINT64_MAX);
	cr_assert_eq(rag_opts_handle(&o, 'x', NULL, &err), RAG_OPT_UNHANDLED);
}

Test(options, verbosity)
{
	struct rag_opts o;
	struct rag_error err;

	rag_opts_init(&o, &err);
	rag_opts_handle(&o, 'v', NULL, &err);
	rag_opts_handle(&o, 'v', NULL, &err);
	cr_assert_eq(o.verbose, 2);
	rag_opts_handle(&o, 'q', NULL, &err);
	cr_assert_eq(o.verbose, -1);
}

Test(options, numbers)
{
	struct rag_error err;
	long l;
	double d;

	cr_assert_eq(rag_parse_long("10", 1, 100, &l, "-k", &err), RAG_OK);
	cr_assert_eq(l, 10);
	cr_assert_eq(rag_parse_long("0", 1, 100, &l, "-k", &err), RAG_EUSAGE);
	cr_assert_eq(rag_parse_long("", 1, 100, &l, "-k", &err), RAG_EUSAGE);
	cr_assert_eq(rag_parse_long("99999999999999999999", 1, 100, &l, "-k", &err), RAG_EUSAGE);
	cr_assert_eq(rag_parse_double("0.5", 0, 1, &d, "--top-p", &err), RAG_OK);
	cr_assert_eq(rag_parse_double("nan", 0, 1, &d, "--top-p", &err), RAG_EUSAGE);
	cr_assert_eq(rag_parse_double("1.5", 0, 1, &d, "--top-p", &err), RAG_EUSAGE);
}

Test(options, threads)
{
	cr_assert_eq(rag_set_threads(2), 2);
	cr_assert_eq(rag_get_threads(), 2);
	cr_assert_geq(rag_set_threads(0), 1);
}
