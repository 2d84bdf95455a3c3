/* test-template.c: chat templates of Llama 3, Qwen 2.5/3, Phi-3, Gemma and ChatML
 * rendered against Python jinja2's renderings (tests/data/generate/template-cases.json),
 * plus the engine's features and error messages one by one. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "json.h"
#include "template.h"
#include "testutil.h"

Test(template, recorded_renderings)
{
	struct rag_buf file, src, out;
	struct rag_arena a;
	struct rag_json *cases;
	struct rag_error err;
	int passed = 0, errors = 0;

	rag_buf_init(&file);
	rag_arena_init(&a);
	cr_assert_eq(rag_buf_read_file(&file, testdata("generate/template-cases.json"), &err), 0,
		     "%s", err.msg);
	cr_assert_eq(rag_json_parse(&a, file.data, file.len, &cases, &err), 0, "%s", err.msg);
	cr_assert_geq(cases->u.arr.n, 60);
	for (size_t i = 0; i < cases->u.arr.n; i++) {
		const struct rag_json *c = &cases->u.arr.items[i];
		const char *name = rag_json_get_str(c, "template", NULL);
		const struct rag_json *agp = rag_json_get(c, "add_generation_prompt");
		size_t elen = 0;
		const char *expected = rag_json_get_str(c, "expected", &elen);
		const char *error = rag_json_get_str(c, "error", NULL);
		struct rag_template *t;
		char rel[256];
		int rc;
		/* variables beyond the standard four go in as extras */
		static const char extra_src[] = "{}";
		struct rag_json *extra = NULL;
		char ebuf[256];
		const struct rag_json *ds = rag_json_get(c, "date_string");
		const struct rag_json *et = rag_json_get(c, "enable_thinking");

		snprintf(ebuf, sizeof ebuf, "{%s%s%s%s%s}", ds ? "\"date_string\":" : "",
			 ds ? "\"" : "", ds ? ds->u.str.s : "", ds ? "\"" : "",
			 et ? (ds ? ",\"enable_thinking\":false" : "\"enable_thinking\":false") : "");
		(void)extra_src;
		cr_assert_eq(rag_json_parse(&a, rag_arena_strndup(&a, ebuf, strlen(ebuf)), strlen(ebuf),
					    &extra, &err), 0, "%s", err.msg);
		snprintf(rel, sizeof rel, "generate/templates/%s", name);
		rag_buf_init(&src);
		rag_buf_init(&out);
		cr_assert_eq(rag_buf_read_file(&src, testdata(rel), &err), 0, "%s", err.msg);
		cr_assert_eq(rag_template_parse(src.data, src.len, &t, &err), 0, "%s: %s", name,
			     err.msg);
		rc = rag_template_render(t, rag_json_get(c, "messages"), agp->type == RAG_JSON_TRUE,
					 rag_json_get_str(c, "bos_token", NULL),
					 rag_json_get_str(c, "eos_token", NULL), extra, &out, &err);
		if (error) {
			cr_expect_eq(rc, RAG_EDATA, "case %zu %s: expected an error", i, name);
			cr_expect(strstr(err.msg, error) != NULL, "case %zu: %s", i, err.msg);
			errors++;
		} else {
			cr_expect_eq(rc, 0, "case %zu %s: %s", i, name, err.msg);
			cr_expect(out.len == elen && !memcmp(out.data, expected, elen),
				  "case %zu %s (%s):\n--- got\n%.*s\n--- expected\n%s", i, name,
				  rag_json_get_str(c, "conversation", NULL), (int)out.len,
				  out.data ? out.data : "", expected);
			if (rc == 0 && out.len == elen && !memcmp(out.data, expected, elen))
				passed++;
		}
		rag_template_free(t);
		rag_buf_free(&src);
		rag_buf_free(&out);
	}
	fprintf(stderr, "template: %d renderings identical to jinja2, %d expected errors\n", passed,
		errors);
	rag_arena_free(&a);
	rag_buf_free(&file);
}

/* Render src with no messages; extra is a JSON object text. */
static int render(const char *src, const char *extra, struct rag_buf *out, struct rag_error *err)
{
	struct rag_template *t;
	struct rag_arena a;
	struct rag_json *x = NULL;
	int rc;

	rag_arena_init(&a);
	rag_buf_init(out);
	if (extra)
		cr_assert_eq(rag_json_parse(&a, extra, strlen(extra), &x, err), 0);
	rc = rag_template_parse(src, strlen(src), &t, err);
	if (rc == 0) {
		rc = rag_template_render(t, NULL, 1, "<s>", "</s>", x, out, err);
		rag_template_free(t);
	}
	rag_arena_free(&a);
	return rc;
}

struct feat {
	const char *src, *extra, *want;
};

Test(template, features)
{
	static const struct feat cases[] = {
		{ "{{ 1 + 2 * 3 }}|{{ 7 // 2 }}|{{ -7 % 3 }}|{{ 2 ** 3 }}|{{ 7 / 2 }}", NULL, "7|3|2|8|3.5" },
		{ "{{ 'a' ~ 1 ~ none }}{{ true }}", NULL, "a1NoneTrue" },
		{ "{{ x[1:] }}{{ x[::-1] }}{{ x[-1] }}", "{\"x\":[1,2,3]}", "[2, 3][3, 2, 1]3" },
		{ "{{ 'abc'[::-1] }}{{ 'abcdef'[1:3] }}", NULL, "cbabc" },
		{ "{% for a in x %}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ loop.revindex0 }},{% endfor %}",
		  "{\"x\":[\"p\",\"q\"]}", "1TrueFalse1,2FalseTrue0," },
		{ "{% for a in x if a > 1 %}{{ a }}{% else %}none{% endfor %}", "{\"x\":[1,2,3]}", "23" },
		{ "{% for a in x %}{{ a }}{% else %}none{% endfor %}", "{\"x\":[]}", "none" },
		{ "{% for k, v in d | items %}{{ k }}={{ v }};{% endfor %}", "{\"d\":{\"a\":1,\"b\":\"x\"}}", "a=1;b=x;" },
		{ "{% for a in x %}{% if a == 2 %}{% continue %}{% endif %}{% if a == 4 %}{% break %}{% endif %}{{ a }}{% endfor %}",
		  "{\"x\":[1,2,3,4,5]}", "13" },
		{ "{% set ns = namespace(n=0) %}{% for a in x %}{% set ns.n = ns.n + a %}{% set y = 5 %}{% endfor %}{{ ns.n }}{{ y is defined }}",
		  "{\"x\":[1,2,3]}", "6False" },
		{ "{% if a %}A{% elif b %}B{% else %}C{% endif %}", "{\"b\":1}", "B" },
		{ "{{ '  hi  ' | trim }}|{{ x | length }}|{{ x | join('-') }}|{{ x | first }}{{ x | last }}",
		  "{\"x\":[\"a\",\"b\"]}", "hi|2|a-b|ab" },
		{ "{{ d | tojson }}|{{ d | tojson(indent=2) }}", "{\"d\":{\"a\":[1,\"\\u00e9\\n\"],\"b\":{}}}",
		  "{\"a\": [1, \"é\\n\"], \"b\": {}}|{\n  \"a\": [\n    1,\n    \"é\\n\"\n  ],\n  \"b\": {}\n}" },
		{ "{{ 'a,b'.split(',') }}{{ 'xxhixx'.strip('x') }}{{ 'Hi'.upper() }}{{ 'ab'.startswith('a') }}{{ 'ab'.endswith(['x','b']) }}",
		  NULL, "['a', 'b']hiHITrueTrue" },
		{ "{{ 'a' in 'cat' }}{{ 2 not in x }}{{ 'k' in d }}", "{\"x\":[1],\"d\":{\"k\":0}}", "TrueTrueTrue" },
		{ "{{ u is none }}{{ u is not defined }}{{ n is none }}{{ x is string }}{{ d is mapping }}{{ 3 is odd }}",
		  "{\"n\":null,\"x\":\"s\",\"d\":{}}", "FalseTrueTrueTrueTrueTrue" },
		{ "{{ x | reject('equalto', 'b') | join(',') }}|{{ x | select('ne', 'b') | list | length }}",
		  "{\"x\":[\"a\",\"b\",\"c\"]}", "a,c|2" },
		{ "{{ 'y' if x else 'n' }}{{ u | default('dflt') }}{{ d.get('k', 3) }}", "{\"x\":0,\"d\":{}}", "ndflt3" },
		{ "{% for i in range(3) %}{{ i }}{% endfor %}{% for i in range(1, 6, 2) %}{{ i }}{% endfor %}", NULL, "012135" },
		{ "a  \n  {%- if true -%}  \n  b{% endif %}\n  {%+ if true %}c{% endif %}\n{# comment #}\nd", NULL, "ab  cd" },
		{ "  {% if true %}\nx\n  {% endif %}\ny{{ '{{' }}", NULL, "x\ny{{" },
		{ "{{ bos_token }}{{ add_generation_prompt }}{{ eos_token }}", NULL, "<s>True</s>" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct rag_buf out;
		struct rag_error err;
		int rc = render(cases[i].src, cases[i].extra, &out, &err);
		cr_expect_eq(rc, 0, "case %zu: %s", i, err.msg);
		cr_expect_str_eq(out.data ? out.data : "", cases[i].want, "case %zu", i);
		rag_buf_free(&out);
	}
}

Test(template, errors_name_the_feature)
{
	static const struct { const char *src, *msg; } cases[] = {
		{ "{% macro m() %}x{% endmacro %}", "unsupported template feature '{% macro %}'" },
		{ "{{ x | wordwrap }}", "filter 'wordwrap'" },
		{ "{{ x is divisibleby(3) }}", "test 'divisibleby'" },
		{ "{{ 'a'.zfill(3) }}", "method 'zfill'" },
		{ "{{ cycler() }}", "function 'cycler'" },
		{ "{% if x %}", "missing {% endif %}" },
		{ "{% endfor %}", "unknown statement 'endfor'" },
		{ "{{ 'abc }}", "unclosed" },
		{ "{{ raise_exception('Only user and assistant roles') }}", "template error: Only user and assistant roles" },
		{ "{% include 'x' %}", "'{% include %}'" },
		{ "{{ 1 + 'a' }}", "cannot add" },
		{ "line\n{{ (1 }}", "template line 2" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct rag_buf out;
		struct rag_error err;
		int rc = render(cases[i].src, NULL, &out, &err);
		cr_expect_eq(rc, RAG_EDATA, "case %zu", i);
		cr_expect(strstr(err.msg, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i, err.msg,
			  cases[i].msg);
		rag_buf_free(&out);
	}
}

/* "<pre>" + rep copies of unit + "<post>", allocated (the caller frees). */
static char *repeat(const char *pre, const char *unit, size_t rep, const char *post)
{
	size_t u = strlen(unit), n = strlen(pre) + u * rep + strlen(post);
	char *s = malloc(n + 1), *p = s;

	cr_assert_not_null(s);
	p = stpcpy(p, pre);
	for (size_t i = 0; i < rep; i++)
		p = stpcpy(p, unit);
	memcpy(p, post, strlen(post) + 1);
	return s;
}

/*
 * A model's chat template is untrusted input: a hostile or broken one ends
 * in an error naming the limit it hit, never a crash (stack overflow, found
 * by fuzz/template-fuzz.c), an endless loop or all of memory.
 */
Test(template, hostile_templates_end_in_errors)
{
	char *deep_parens = repeat("{{ ", "(", 300000, "1 }}"), *deep_ifs = repeat("", "{% if true %}", 300000, "x");
	char *long_sum = repeat("{{ 1", " + 1", 300000, " }}"), *deep_not = repeat("{{ ", "not ", 300000, "1 }}");
	char *deep_list = repeat("{{ ", "[", 300000, " }}");
	const struct { const char *src, *msg; } cases[] = {
		{ deep_parens, "nested more than 256 deep" },
		{ deep_ifs, "nested more than 256 deep" },
		{ deep_not, "nested more than 256 deep" },
		{ deep_list, "nested more than 256 deep" },
		{ long_sum, "expression nested more than 1000 deep" },
		{ "{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}", "runaway" },
		{ "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
		  "runaway" },
		{ "{% for i in range(1000000) %}{{ 'x' * 1000 }}{% endfor %}", "runaway" },
		{ "{{ 'x' * 9223372036854775807 }}", "longer than 256 MiB" },
		{ "{% set ns = namespace(a=1) %}{% set ns.me = ns %}{{ ns | tojson }}", "a value nested more than 1000 deep" },
		{ "{% set ns = namespace(a=1) %}{% set ns.me = [ns] %}{{ ns.me }}", "a value nested more than 1000 deep" },
		{ "{{ 9223372036854775807 + 1 }}", "integer overflow" },
		{ "{{ -9223372036854775807 - 2 }}", "integer overflow" },
		{ "{{ 3037000500 * 3037000500 }}", "integer overflow" },
		{ "{{ 2 ** 64 }}", "integer overflow" },
		{ "{{ (-9223372036854775807 - 1) // -1 }}", "integer overflow" },
		{ "{{ range(100000000000000000000.0) }}", "too large for an integer" },
		{ "{{ range(-9000000000000000000, 9000000000000000000) }}", "range() too long" },
		{ "{{ x[100000000000000000000.0] }}", "too large for an integer" },
		/* values that print far larger than they are: 2**27 shared leaves */
		{ "{% set ns=namespace(a=[1]) %}{% for i in range(27) %}{% set ns.a=[ns.a,ns.a] %}{% endfor %}{{ ns.a }}",
		  "more than 50000000 steps" },
		{ "{% set ns=namespace(a=['x' * 1000000]) %}{% for i in range(9) %}{% set ns.a=[ns.a,ns.a] %}{% endfor %}{{ ns.a }}",
		  "the output is longer than 256 MiB" },
		{ "{% set ns=namespace(a=['x' * 1000000]) %}{% for i in range(9) %}{% set ns.a=[ns.a,ns.a] %}{% endfor %}{{ ns.a | tojson }}",
		  "the template needs more than 256 MiB" },
		{ "{% set ns=namespace(a=['x' * 1000000]) %}{% for i in range(9) %}{% set ns.a=[ns.a,ns.a] %}{% endfor %}{{ ns.a | string }}",
		  "the template needs more than 256 MiB" },
		{ "{{ ('x' * 1000000).replace('x', 'y' * 300) }}",
		  "the template needs more than 256 MiB" },
		{ "{{ x | tojson(indent=2147483647) }}", "tojson's indent must be between 0 and 64" },
		{ "{{ x | tojson(indent=-1) }}", "tojson's indent must be between 0 and 64" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct rag_buf out;
		struct rag_error err;
		int rc = render(cases[i].src, "{\"x\":[1]}", &out, &err);
		cr_expect_eq(rc, RAG_EDATA, "case %zu: rc %d", i, rc);
		cr_expect(strstr(err.msg, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i, err.msg,
			  cases[i].msg);
		rag_buf_free(&out);
	}
	free(deep_parens);
	free(deep_ifs);
	free(long_sum);
	free(deep_not);
	free(deep_list);
}

/* What the limits must not stop: repetition past the old 100,000-copy cap,
 * nesting and loops of realistic size. */
Test(template, limits_leave_real_work_alone)
{
	char *nest = repeat("{{ ", "(", 200, "1");
	char *nest_src = repeat(nest, ")", 200, " }}");
	const struct { const char *src, *want; } cases[] = {
		{ "{{ ('ab' * 3) }}|{{ 'x' * 0 }}|{{ 'x' * -2 }}|{{ ('x' * 300000) | length }}", "ababab|||300000" },
		{ nest_src, "1" },
		{ "{% set ns = namespace(n=0) %}{% for i in range(1000) %}{% for j in range(100) %}{% set ns.n = ns.n + 1 %}"
		  "{% endfor %}{% endfor %}{{ ns.n }}", "100000" },
		{ "{{ 9223372036854775806 + 1 }}|{{ -3 // 2 }}|{{ 2 ** 52 }}", "9223372036854775807|-2|4503599627370496" },
		/* slices and ranges whose step would overflow an index stepped one at a time */
		{ "{{ 'abc'[1::9223372036854775807] }}|{{ 'abc'[1::-9223372036854775807] }}|"
		  "{{ [1, 2, 3][-9223372036854775807 - 1:9223372036854775807:9223372036854775807] }}|"
		  "{{ [1, 2, 3][9223372036854775807:-9223372036854775807 - 1:-9223372036854775807 - 1] }}",
		  "b|b|[1]|[3]" },
		{ "{{ range(9223372036854775806, 9223372036854775807, 1000000000000000000) }}|"
		  "{{ range(-9223372036854775807 - 1, 9223372036854775807, 9223372036854775807) }}|"
		  "{{ range(5, -9223372036854775807 - 1, -9223372036854775807 - 1) }}",
		  "[9223372036854775806]|[-9223372036854775808, -1, 9223372036854775806]|[5, -9223372036854775803]" },
		{ "{{ 'abcdef'[::2] }}|{{ 'abcdef'[-2:0:-2] }}|{{ 'abcdef'[5:-10:-3] }}|{{ range(10, 0, -3) }}",
		  "ace|ec|fc|[10, 7, 4, 1]" },
		/* an empty string repeated any number of times is empty, at once */
		{ "<{{ '' * 9223372036854775807 }}>|{{ ('' * 9223372036854775807) | length }}", "<>|0" },
		{ "{{ [1] | tojson(indent=64) | length }}|{{ [1] | tojson(indent=0) }}", "69|[\n1\n]" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct rag_buf out;
		struct rag_error err;
		int rc = render(cases[i].src, NULL, &out, &err);
		cr_expect_eq(rc, 0, "case %zu: %s", i, err.msg);
		cr_expect_str_eq(out.data ? out.data : "", cases[i].want, "case %zu", i);
		rag_buf_free(&out);
	}
	free(nest);
	free(nest_src);
}
