/* test-jsonl.c: the JSON Lines reader: long lines, line numbers, skip-bad, CRLF. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "jsonl.h"

static FILE *mem(const char *s, size_t n)
{
	FILE *f = tmpfile();

	cr_assert_not_null(f);
	fwrite(s, 1, n, f);
	rewind(f);
	return f;
}

Test(jsonl, reads_records_skips_blank_lines_and_crlf)
{
	const char in[] = "{\"a\":1}\r\n\n   \n{\"a\":2}";
	FILE *f = mem(in, sizeof in - 1);
	struct rag_jsonl_reader r;
	struct rag_error err;
	const struct rag_json *rec;
	double a;

	cr_assert_eq(rag_jsonl_init(&r, f, "<test>", &err), RAG_OK);
	cr_assert_eq(rag_jsonl_next(&r, &rec, &err), RAG_OK);
	cr_assert(rag_json_get_num(rec, "a", &a) && a == 1);
	cr_assert_eq(r.lineno, 1);
	cr_assert_eq(rag_jsonl_next(&r, &rec, &err), RAG_OK);
	cr_assert(rag_json_get_num(rec, "a", &a) && a == 2);
	cr_assert_eq(r.lineno, 4);
	cr_assert_eq(rag_jsonl_next(&r, &rec, &err), RAG_OK);
	cr_assert_null(rec);
	cr_assert_eq(r.n_records, 2);
	rag_jsonl_release(&r);
	fclose(f);
}

Test(jsonl, record_of_any_length)
{
	size_t n = 5u << 20, i;
	char *in = rag_malloc(n + 64);
	FILE *f;
	struct rag_jsonl_reader r;
	struct rag_error err;
	const struct rag_json *rec;
	size_t len;

	memcpy(in, "{\"text\":\"", 9);
	for (i = 9; i < n; i++)
		in[i] = 'a' + (char)(i % 26);
	memcpy(in + n, "\"}\n", 3);
	f = mem(in, n + 3);
	cr_assert_eq(rag_jsonl_init(&r, f, "<test>", &err), RAG_OK);
	cr_assert_eq(rag_jsonl_next(&r, &rec, &err), RAG_OK, "%s", err.msg);
	cr_assert_not_null(rag_json_get_str(rec, "text", &len));
	cr_assert_eq(len, n - 9);
	rag_jsonl_release(&r);
	fclose(f);
	rag_free(in);
}

Test(jsonl, bad_record_names_line)
{
	const char in[] = "{\"a\":1}\n{\"a\":\n[1]\n";
	FILE *f = mem(in, sizeof in - 1);
	struct rag_jsonl_reader r;
	struct rag_error err;
	const struct rag_json *rec;

	rag_jsonl_init(&r, f, "in.jsonl", &err);
	cr_assert_eq(rag_jsonl_next(&r, &rec, &err), RAG_OK);
	cr_assert_eq(rag_jsonl_next(&r, &rec, &err), RAG_EDATA);
	cr_assert(strncmp(err.msg, "in.jsonl: line 2: invalid JSON", 30) == 0, "%s", err.msg);
	cr_assert_eq(rag_jsonl_next(&r, &rec, &err), RAG_EDATA);
	cr_assert_str_eq(err.msg, "in.jsonl: line 3: not a JSON object");
	rag_jsonl_release(&r);
	fclose(f);
}

Test(jsonl, invalid_utf8_is_bad_input)
{
	const char in[] = "{\"text\":\"ok\"}\n{\"text\":\"\xff\xfe\"}\n";
	FILE *f = mem(in, sizeof in - 1);
	struct rag_jsonl_reader r;
	struct rag_error err;
	const struct rag_json *rec;

	rag_jsonl_init(&r, f, "<stdin>", &err);
	cr_assert_eq(rag_jsonl_next(&r, &rec, &err), RAG_OK);
	cr_assert_eq(rag_jsonl_next(&r, &rec, &err), RAG_EDATA);
	cr_assert(strstr(err.msg, "line 2") && strstr(err.msg, "invalid UTF-8"), "%s", err.msg);
	rag_jsonl_release(&r);
	fclose(f);
}

static int warned;
static void count_warn(void *ctx, const struct rag_error *err)
{
	(void)ctx;
	(void)err;
	warned++;
}

Test(jsonl, skip_bad_counts_and_continues)
{
	const char in[] = "{\"a\":1}\nnope\n{\"b\":2}\n{\"a\":3}\n";
	FILE *f = mem(in, sizeof in - 1);
	struct rag_jsonl_reader r;
	struct rag_error err;
	const struct rag_json *rec;
	int good = 0;

	rag_jsonl_init(&r, f, "<stdin>", &err);
	r.skip_bad = 1;
	r.on_bad = count_warn;
	for (;;) {
		cr_assert_eq(rag_jsonl_next(&r, &rec, &err), RAG_OK);
		if (!rec)
			break;
		if (!rag_json_get(rec, "a")) {
			cr_assert_eq(rag_jsonl_reject(&r, &err, "no field 'a'"), RAG_OK);
			cr_assert_str_eq(err.msg, "<stdin>: line 3: no field 'a'");
			continue;
		}
		good++;
	}
	cr_assert_eq(good, 2);
	cr_assert_eq(r.n_bad, 2);
	cr_assert_eq(r.n_records, 2);
	cr_assert_eq(warned, 2);
	rag_jsonl_release(&r);
	fclose(f);
}

/* on_bad for the shard test: count the reports of each line ("NAME: line N: ..."). */
static void count_line(void *ctx, const struct rag_error *err)
{
	int *reported = ctx;
	const char *p = strstr(err->msg, ": line ");
	long line = p ? strtol(p + 7, NULL, 10) : 0;

	cr_assert(line >= 1 && line <= 4, "report without a line: %s", err->msg);
	reported[line]++;
}

/* --shard: a line that is not a record is reported by one shard only, the
 * shard of its line number; the records themselves are all returned. */
Test(jsonl, shard_reports_bad_line_once)
{
	const char in[] = "{\"a\":1}\nnope\n[3]\n{\"a\":4}\n";
	int reported[5] = { 0 };

	for (uint64_t i = 0; i < 3; i++) {
		struct rag_shard s = { i, 3 };
		FILE *f = mem(in, sizeof in - 1);
		struct rag_jsonl_reader r;
		struct rag_error err;
		const struct rag_json *rec;
		int good = 0, rc;

		rag_jsonl_init(&r, f, "<stdin>", &err);
		r.shard = &s;
		r.skip_bad = 1;
		r.on_bad = count_line;
		r.on_bad_ctx = reported;
		while ((rc = rag_jsonl_next(&r, &rec, &err)) == RAG_OK && rec)
			good++;
		cr_assert_eq(rc, RAG_OK);
		cr_assert_eq(good, 2);
		cr_assert_eq(r.n_bad, (size_t)(rag_shard_keeps_line(&s, 2) + rag_shard_keeps_line(&s, 3)));
		rag_jsonl_release(&r);
		fclose(f);
	}
	cr_assert(reported[1] == 0 && reported[4] == 0, "a record reported as bad");
	cr_assert(reported[2] == 1 && reported[3] == 1,
		  "the readers of the three shards report each bad line once in all: %d and %d", reported[2],
		  reported[3]);
}

Test(jsonl, missing_file)
{
	struct rag_jsonl_reader r;
	struct rag_error err;

	cr_assert_eq(rag_jsonl_open(&r, "/nonexistent/x.jsonl", &err), RAG_ENOINPUT);
	cr_assert_str_eq(err.msg, "cannot open '/nonexistent/x.jsonl': No such file or directory");
}
