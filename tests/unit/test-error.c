/* test-error.c: the error record, status names, allocation failure injection. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "arena.h"
#include "buf.h"
#include "error.h"

Test(error, set_returns_code_and_formats)
{
	struct rag_error err;

	rag_error_clear(&err);
	cr_assert_eq(rag_error_set(&err, RAG_EDATA, "line %d: bad", 3), RAG_EDATA);
	cr_assert_eq(err.code, 65);
	cr_assert_str_eq(err.msg, "line 3: bad");
}

Test(error, null_error_is_allowed)
{
	cr_assert_eq(rag_error_set(NULL, RAG_EIO, "x"), RAG_EIO);
}

Test(error, errno_appends_strerror)
{
	struct rag_error err;

	errno = ENOENT;
	rag_error_errno(&err, RAG_ENOINPUT, "cannot open '%s'", "x");
	cr_assert_str_eq(err.msg, "cannot open 'x': No such file or directory");
}

Test(error, prefix_keeps_code)
{
	struct rag_error err;

	rag_error_set(&err, RAG_EMODEL, "bad magic");
	cr_assert_eq(rag_error_prefix(&err, "'%s': ", "m.gguf"), RAG_EMODEL);
	cr_assert_str_eq(err.msg, "'m.gguf': bad magic");
}

Test(error, long_messages_truncate_safely)
{
	struct rag_error err;
	char big[4000];

	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	rag_error_set(&err, RAG_EDATA, "%s", big);
	cr_assert_eq(strlen(err.msg), RAG_ERROR_MSG_MAX - 1);
}

Test(error, sysexits_values)
{
	cr_assert_eq(RAG_EUSAGE, 64);
	cr_assert_eq(RAG_ENOINPUT, 66);
	cr_assert_eq(RAG_EUNAVAILABLE, 69);
	cr_assert_eq(RAG_EINTERNAL, 70);
	cr_assert_eq(RAG_EIO, 74);
	cr_assert_eq(RAG_EMODEL, 78);
	cr_assert_str_eq(rag_status_name(RAG_EDATA), "bad input");
}

Test(alloc, nth_allocation_fails)
{
	void *a, *b, *c;

	rag_alloc_fail_after(2);
	a = rag_malloc(8);
	b = rag_malloc(8);
	c = rag_malloc(8);
	rag_alloc_fail_after(0);
	cr_assert_not_null(a);
	cr_assert_null(b);
	cr_assert_null(c);
	rag_free(a);
	rag_free(NULL);
}

Test(alloc, reallocarray_overflow)
{
	cr_assert_null(rag_reallocarray(NULL, (size_t)-1, 16));
}

Test(buf, append_printf_and_failure_sticks)
{
	struct rag_buf b;
	unsigned long n, i;

	rag_buf_init(&b);
	rag_buf_adds(&b, "ab");
	rag_buf_printf(&b, "%d-%s", 42, "x");
	cr_assert_str_eq(b.data, "ab42-x");
	rag_buf_free(&b);

	/* Count the allocations of a job, then fail each in turn: no crash, failure reported. */
	rag_alloc_fail_after(0);
	rag_buf_init(&b);
	for (i = 0; i < 1000; i++)
		rag_buf_adds(&b, "0123456789");
	rag_buf_free(&b);
	n = rag_alloc_fail_after(0);
	cr_assert_gt(n, 1);
	for (i = 1; i <= n; i++) {
		unsigned long k;
		rag_buf_init(&b);
		rag_alloc_fail_after(i);
		for (k = 0; k < 1000; k++)
			rag_buf_adds(&b, "0123456789");
		rag_alloc_fail_after(0);
		cr_assert(rag_buf_failed(&b), "allocation %lu failed silently", i);
		rag_buf_free(&b);
	}
}

Test(arena, alignment_and_large_blocks)
{
	struct rag_arena a;
	char *p, *q;
	double *d;

	rag_arena_init(&a);
	p = rag_arena_alloc(&a, 3);
	d = rag_arena_alloc(&a, sizeof *d);
	cr_assert_not_null(p);
	cr_assert_eq((uintptr_t)d % _Alignof(double), 0);
	q = rag_arena_alloc(&a, 1 << 20);
	cr_assert_not_null(q);
	memset(q, 1, 1 << 20);
	rag_arena_reset(&a);
	cr_assert_not_null(rag_arena_strndup(&a, "hello", 5));
	rag_arena_free(&a);
}
