/* test-json.c: strict parsing, spans for passthrough, string escaping, numbers. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "json.h"

static struct rag_arena arena;

static void setup(void) { rag_arena_init(&arena); }
static void teardown(void) { rag_arena_free(&arena); }

static int parse(const char *s, struct rag_json **v, struct rag_error *err)
{
	return rag_json_parse(&arena, s, strlen(s), v, err);
}

TestSuite(json, .init = setup, .fini = teardown);

Test(json, object_members_and_raw_spans)
{
	struct rag_json *v;
	struct rag_error err;
	const char *src = "{\"id\": \"a\\u00e9\" , \"n\":-1.5e2,\"x\":[1,{\"y\":null}],\"t\":true}";
	size_t len;

	cr_assert_eq(parse(src, &v, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(v->type, RAG_JSON_OBJECT);
	cr_assert_eq(v->u.obj.n, 4);
	cr_assert_str_eq(rag_json_get_str(v, "id", &len), "a\xc3\xa9");
	cr_assert_eq(len, 3);
	cr_assert_float_eq(rag_json_get(v, "n")->u.num, -150.0, 1e-12);
	cr_assert_eq(rag_json_get(v, "x")->u.arr.n, 2);
	/* raw spans are the exact source bytes */
	cr_assert_eq(strncmp(v->u.obj.members[0].raw, "\"id\": \"a\\u00e9\"", v->u.obj.members[0].raw_len), 0);
	cr_assert_eq(v->u.obj.members[0].raw_len, strlen("\"id\": \"a\\u00e9\""));
	cr_assert_eq(strncmp(rag_json_get(v, "x")->raw, "[1,{\"y\":null}]", 14), 0);
	cr_assert_null(rag_json_get(v, "missing"));
}

Test(json, rejects_malformed)
{
	static const char *bad[] = {
		"", "{", "{\"a\":}", "{\"a\":1,}", "[1,]", "{a:1}", "nul", "01", "1.", "-", ".5",
		"1e", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "{\"a\":1} x",
		"\"tab\there\"", "'single'", "NaN", "[1 2]", "{\"a\" 1}", "\xef\xbb\xbf{}",
		"\"\xc3\x28\"", "\"\xed\xa0\x80\"", "\"\xc0\xaf\"", "\"\xf4\x90\x80\x80\"",
		NULL,
	};
	struct rag_json *v;
	struct rag_error err;
	int i;

	for (i = 0; bad[i]; i++) {
		rag_arena_reset(&arena);
		cr_assert_eq(parse(bad[i], &v, &err), RAG_EDATA, "accepted: %s", bad[i]);
		cr_assert(strstr(err.msg, "invalid JSON at byte") != NULL, "%s", err.msg);
	}
}

Test(json, accepts_valid_edge_cases)
{
	static const char *good[] = {
		"0", "-0", "1e5", "1E+5", "1.25e-3", "\"\"", "[]", "{}", " [ ] ", "\"\\ud83d\\ude00\"",
		"\"\xf0\x9f\x98\x80 \xe2\x82\xac\"", "[[[[[]]]]]", "{\"\":\"\"}", NULL,
	};
	struct rag_json *v;
	struct rag_error err;
	int i;

	for (i = 0; good[i]; i++) {
		rag_arena_reset(&arena);
		cr_assert_eq(parse(good[i], &v, &err), RAG_OK, "rejected %s: %s", good[i], err.msg);
	}
	rag_arena_reset(&arena);
	parse("\"\\ud83d\\ude00\"", &v, &err);
	cr_assert_str_eq(v->u.str.s, "\xf0\x9f\x98\x80");
}

Test(json, nesting_limit)
{
	char deep[2100];
	struct rag_json *v;
	struct rag_error err;

	memset(deep, '[', 1000);
	memset(deep + 1000, ']', 1000);
	deep[2000] = '\0';
	cr_assert_eq(parse(deep, &v, &err), RAG_EDATA);
	cr_assert(strstr(err.msg, "nesting too deep"));
}

Test(json, string_writer_escapes_and_repairs_utf8)
{
	struct rag_buf b;

	rag_buf_init(&b);
	rag_json_write_str(&b, "a\"b\\c\n\x01\xc3\xa9\xff", 10);
	cr_assert_str_eq(b.data, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\xef\xbf\xbd\"");
	rag_buf_free(&b);
}

Test(json, numbers_round_trip)
{
	struct rag_buf b;
	float vals[] = { 0.1f, -3.4028235e38f, 1e-45f, 0.333333343f, 12345.678f, 0.0f };
	size_t i;

	for (i = 0; i < sizeof vals / sizeof *vals; i++) {
		rag_buf_init(&b);
		rag_json_write_float(&b, vals[i]);
		cr_assert_eq(strtof(b.data, NULL), vals[i], "%s", b.data);
		rag_buf_free(&b);
	}
	rag_buf_init(&b);
	rag_json_write_num(&b, 42);
	rag_buf_addc(&b, ' ');
	rag_json_write_num(&b, 0.1);
	rag_buf_addc(&b, ' ');
	rag_json_write_num(&b, NAN);
	cr_assert_str_eq(b.data, "42 0.10000000000000001 null");
	rag_buf_free(&b);
}

Test(json, object_writer_copies_and_drops)
{
	struct rag_json *v;
	struct rag_error err;
	struct rag_buf b;
	struct rag_objw w;
	const char *drop[] = { "embedding", NULL };

	cr_assert_eq(parse("{\"id\":\"x\",  \"meta\" : {\"k\": [1, 2]}, \"embedding\":[0.5]}", &v, &err), RAG_OK);
	rag_buf_init(&b);
	rag_objw_begin(&w, &b);
	rag_objw_copy(&w, v, drop);
	rag_objw_key(&w, "embedding");
	rag_json_write_floats(&b, (const float[]){ 1.0f, 0.25f }, 2);
	rag_objw_end(&w);
	cr_assert_str_eq(b.data, "{\"id\":\"x\",\"meta\" : {\"k\": [1, 2]},\"embedding\":[1,0.25]}");
	rag_buf_free(&b);
}
