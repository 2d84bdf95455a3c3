/* test-ragas.c: answer metrics arithmetic, judge output parsing, built-in prompts, verdict cache. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "judge.h"
#include "ragas.h"
#include "verdict_cache.h"

#define EPS 1e-12

Test(ragas, share)
{
	static const struct { int v[6]; size_t n; double want; } t[] = {
		{ { 1, 0, 1, 1 }, 4, 0.75 },
		{ { 0, 0, 0 }, 3, 0.0 },        /* all unsupported */
		{ { 1 }, 1, 1.0 },
		{ { 1, 1, 0, 0, 0, 1 }, 6, 0.5 },
	};
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++)
		cr_expect(fabs(rag_ragas_share(t[i].v, t[i].n) - t[i].want) < EPS, "case %zu", i);
	cr_expect(isnan(rag_ragas_share(NULL, 0)), "no statements: NaN, reported by the caller");
}

Test(ragas, context_precision)
{
	static const struct { int v[5]; size_t n; double want; } t[] = {
		{ { 1, 0, 1 }, 3, (1.0 + 2.0 / 3.0) / 2.0 },
		{ { 0, 1 }, 2, 0.5 },
		{ { 0, 0, 0 }, 3, 0.0 },
		{ { 1, 1, 1 }, 3, 1.0 },
		{ { 0, 0, 1, 0, 1 }, 5, (1.0 / 3.0 + 2.0 / 5.0) / 2.0 },
		{ { 1 }, 1, 1.0 },
	};
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++)
		cr_expect(fabs(rag_ragas_avg_precision(t[i].v, t[i].n) - t[i].want) < EPS, "case %zu: %.17g", i,
			  rag_ragas_avg_precision(t[i].v, t[i].n));
	cr_expect(isnan(rag_ragas_avg_precision(NULL, 0)), "no contexts: NaN");
}

Test(ragas, answer_relevancy)
{
	const double c[] = { 0.5, 0.7, 0.9 };

	cr_expect(fabs(rag_ragas_relevancy(c, 3, 0) - 0.7) < EPS);
	cr_expect(fabs(rag_ragas_relevancy(c, 2, 0) - 0.6) < EPS);
	cr_expect(rag_ragas_relevancy(c, 3, 1) == 0.0, "noncommittal: zero");
	cr_expect(isnan(rag_ragas_relevancy(c, 0, 0)));
}

Test(ragas, factual_correctness)
{
	double p, r, f;

	rag_ragas_prf(2, 1, 1, &p, &r, &f);
	cr_expect(fabs(p - 2.0 / 3) < EPS && fabs(r - 2.0 / 3) < EPS && fabs(f - 2.0 / 3) < EPS);
	rag_ragas_prf(3, 0, 1, &p, &r, &f);
	cr_expect(p == 1.0 && fabs(r - 0.75) < EPS && fabs(f - 2 * 0.75 / 1.75) < EPS);
	rag_ragas_prf(0, 2, 3, &p, &r, &f);
	cr_expect(p == 0 && r == 0 && f == 0, "nothing supported: 0, not NaN");
	rag_ragas_prf(0, 0, 1, &p, &r, &f);
	cr_expect(isnan(p) && r == 0 && isnan(f), "no answer claims: undefined");
}

Test(ragas, cosine)
{
	const float a[] = { 1, 0, 0 }, b[] = { 0, 2, 0 }, c[] = { 3, 0, 0 }, z[] = { 0, 0, 0 }, d[] = { 1, 1, 0 };

	cr_expect(rag_ragas_cosine(a, b, 3) == 0.0);
	cr_expect(fabs(rag_ragas_cosine(a, c, 3) - 1.0) < EPS);
	cr_expect(rag_ragas_cosine(a, z, 3) == 0.0);
	cr_expect(fabs(rag_ragas_cosine(a, d, 3) - sqrt(0.5)) < 1e-7);
}

static void expect_items(const struct rag_buf *b, size_t n, const char *const *want)
{
	const char *p = b->data;
	size_t i;

	for (i = 0; i < n; i++) {
		cr_expect_str_eq(p, want[i], "item %zu", i);
		p += strlen(p) + 1;
	}
}

Test(ragas, sentences)
{
	static const char *const w1[] = { "A b.", "C d!", "E?", "F" };
	static const char *const w2[] = { "Pi is 3.14 or so.", "Yes." };
	struct rag_buf b;

	rag_buf_init(&b);
	cr_assert_eq(rag_ragas_sentences("A b. C d!  E?\nF", 15, &b), 4);
	expect_items(&b, 4, w1);
	rag_buf_reset(&b);
	cr_assert_eq(rag_ragas_sentences("Pi is 3.14 or so. Yes.", 22, &b), 2);
	expect_items(&b, 2, w2);
	rag_buf_reset(&b);
	cr_expect_eq(rag_ragas_sentences("", 0, &b), 0);
	cr_expect_eq(rag_ragas_sentences(" \n\t ", 4, &b), 0);
	rag_buf_free(&b);
}

Test(judge, parse_list)
{
	static const char text[] = "Here are the statements:\n- Paris is a city.\n-   It is big.  \nprose line\n"
				   "  * starred\n1. numbered\n12) paren\n-\n- \n-x no space\n- partial last";
	static const char *const want[] = { "Paris is a city.", "It is big.", "starred", "numbered", "paren",
					    "partial last" };
	struct rag_buf b;

	rag_buf_init(&b);
	cr_assert_eq(rag_judge_parse_list(text, strlen(text), 64, &b), 6);
	expect_items(&b, 6, want);
	rag_buf_reset(&b);
	cr_expect_eq(rag_judge_parse_list("garbage tokens Osw mist", 23, 64, &b), 0, "garbage: no items");
	cr_expect_eq(rag_judge_parse_list("", 0, 64, &b), 0);
	cr_expect_eq(rag_judge_parse_list("- a\n- b\n- c", 11, 2, &b), 2, "bounded by max");
	rag_buf_free(&b);
}

Test(judge, parse_verdict)
{
	static const struct { const char *s; int want; } t[] = {
		{ "1", 1 }, { "0", 0 }, { " 1\n", 1 }, { "0 because", 0 }, { "Yes", 1 }, { "no.", 0 },
		{ "TRUE", 1 }, { "false", 0 }, { "10", -1 }, { "maybe", -1 }, { "", -1 }, { "   ", -1 },
		{ "nothing", -1 }, { "yesterday", -1 }, { "verdict: 1", -1 },
	};
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++)
		cr_expect_eq(rag_judge_parse_verdict(t[i].s, strlen(t[i].s)), t[i].want, "'%s'", t[i].s);
}

Test(ragas, metric_names)
{
	int m;

	for (m = 0; m < RAG_RAGAS_N; m++)
		cr_expect_eq(rag_ragas_metric_parse(rag_ragas_metric_name(m)), m);
	cr_expect_eq(rag_ragas_metric_parse("map"), -1);
	cr_expect_eq(rag_ragas_metric_parse("faithful"), -1);
}

/* The shipped prompt files are the built-in prompts, byte for byte. */
Test(ragas, prompts_match_files)
{
	const char *top = getenv("top_srcdir");
	struct rag_buf path, text;
	int p;

	if (!top)
		top = "..";
	rag_buf_init(&path);
	rag_buf_init(&text);
	for (p = 0; p < RAG_PROMPT_N; p++) {
		rag_buf_reset(&path);
		rag_buf_reset(&text);
		rag_buf_printf(&path, "%s/lib/prompts/%s.txt", top, rag_ragas_prompt_name(p));
		rag_buf_addc(&path, '\0');
		cr_assert_eq(rag_buf_read_file(&text, path.data, NULL), 0, "%s", path.data);
		cr_expect_eq(text.len, strlen(rag_ragas_prompt_default(p)), "%s", path.data);
		cr_expect(text.len && memcmp(text.data, rag_ragas_prompt_default(p), text.len) == 0, "%s", path.data);
	}
	rag_buf_free(&path);
	rag_buf_free(&text);
}

Test(verdict_cache, memory_get_put)
{
	struct rag_vcache *c;
	struct rag_buf v;

	rag_buf_init(&v);
	cr_assert_eq(rag_vcache_open(NULL, &c, NULL), 0);
	cr_expect_eq(rag_vcache_get(c, "t", "m", "prompt", 6, &v, NULL), 0);
	cr_expect_eq(rag_vcache_put(c, "t", "m", "prompt", 6, "1", 1, NULL), 0);
	cr_expect_eq(rag_vcache_get(c, "t", "m", "prompt", 6, &v, NULL), 1);
	cr_expect(v.len == 1 && v.data[0] == '1');
	cr_expect_eq(rag_vcache_get(c, "t", "m2", "prompt", 6, &v, NULL), 0, "another model misses");
	cr_expect_eq(rag_vcache_get(c, "t2", "m", "prompt", 6, &v, NULL), 0, "another task misses");
	cr_expect_eq(rag_vcache_get(c, "t", "m", "prompt", 5, &v, NULL), 0, "another prompt misses");
	cr_expect_eq(rag_vcache_hits(c), 1);
	cr_expect_eq(rag_vcache_misses(c), 4);
	rag_vcache_free(c);
	rag_vcache_free(NULL);
	rag_buf_free(&v);
}

Test(verdict_cache, file_persists_and_model_hash)
{
	char dir[] = "/tmp/test-ragas-XXXXXX", db[64], model[64], h1[RAG_VCACHE_HASH_MAX], h2[RAG_VCACHE_HASH_MAX],
	     h3[RAG_VCACHE_HASH_MAX];
	struct rag_vcache *c;
	struct rag_buf v;
	FILE *f;

	cr_assert(mkdtemp(dir));
	snprintf(db, sizeof db, "%s/c.db", dir);
	snprintf(model, sizeof model, "%s/m.gguf", dir);
	f = fopen(model, "wb");
	fputs("abc", f);
	fclose(f);
	rag_buf_init(&v);
	cr_assert_eq(rag_vcache_open(db, &c, NULL), 0);
	cr_assert_eq(rag_vcache_begin(c, NULL), 0);
	cr_expect_eq(rag_vcache_put(c, "t", "m", "p", 1, "- a\n- b", 7, NULL), 0);
	cr_assert_eq(rag_vcache_commit(c, NULL), 0);
	cr_assert_eq(rag_vcache_model_hash(c, model, h1, NULL), 0);
	/* FNV-1a 64 of "abc" */
	cr_expect_str_eq(h1, "fnv1a64:e71fa2190541574b:3");
	rag_vcache_free(c);
	cr_assert_eq(rag_vcache_open(db, &c, NULL), 0);
	cr_expect_eq(rag_vcache_get(c, "t", "m", "p", 1, &v, NULL), 1);
	cr_expect(v.len == 7 && memcmp(v.data, "- a\n- b", 7) == 0);
	cr_assert_eq(rag_vcache_model_hash(c, model, h2, NULL), 0);
	cr_expect_str_eq(h1, h2);
	f = fopen(model, "wb");
	fputs("abcd", f);
	fclose(f);
	cr_assert_eq(rag_vcache_model_hash(c, model, h3, NULL), 0);
	cr_expect_str_neq(h1, h3, "a changed file is hashed again");
	cr_expect_neq(rag_vcache_model_hash(c, "/nonexistent/x.gguf", h3, NULL), 0);
	rag_vcache_free(c);
	/* not an SQLite file */
	f = fopen(db, "wb");
	fputs("this is not a database, just some text that is long enough to have a header\n", f);
	fclose(f);
	cr_expect_eq(rag_vcache_open(db, &c, NULL), RAG_EMODEL);
	unlink(db);
	unlink(model);
	rmdir(dir);
	rag_buf_free(&v);
}

/* The judge on the tiny random-weight decoder: verdicts well-formed and
 * cached, lists bounded by the retry count. */
Test(judge, tiny_model_verdicts_and_lists)
{
	const char *fx = getenv("RAG_FIXTURES");
	char path[512];
	struct rag_vcache *c;
	struct rag_judge *j;
	struct rag_judge_opts o;
	struct rag_buf why, items;
	struct rag_error err;
	int v1 = -2, v2 = -2;
	size_t n, calls;

	if (!fx)
		fx = "../tests/data/fixtures";
	snprintf(path, sizeof path, "%s/models/tiny-qwen2-f16.gguf", fx);
	rag_buf_init(&why);
	rag_buf_init(&items);
	rag_judge_opts_init(&o);
	o.max_tokens = 4;
	o.retries = 2;
	cr_assert_eq(rag_vcache_open(NULL, &c, NULL), 0);
	cr_assert_eq(rag_judge_open(path, c, &o, &j, &err), 0, "%s", err.msg);
	cr_expect_eq(strncmp(rag_judge_model_hash(j), "fnv1a64:", 8), 0);
	cr_assert_eq(rag_judge_verdict(j, "t", "Is the sky blue? Reply 1 or 0.", &v1, &why, &err), 0);
	cr_expect(v1 == 0 || v1 == 1);
	cr_expect_eq(rag_judge_calls(j), 1);
	cr_assert_eq(rag_judge_verdict(j, "t", "Is the sky blue? Reply 1 or 0.", &v2, &why, &err), 0);
	cr_expect_eq(v1, v2, "the cached verdict is the verdict");
	cr_expect_eq(rag_judge_calls(j), 1, "the second ask is served from the cache");
	cr_expect_eq(rag_vcache_hits(c), 1);
	calls = rag_judge_calls(j);
	cr_assert_eq(rag_judge_list(j, "l", "List three colours.", &items, &n, &why, &err), 0);
	cr_expect(rag_judge_calls(j) - calls >= 1 && rag_judge_calls(j) - calls <= 3, "attempts bounded");
	cr_expect(n > 0 || why.len > 0, "an empty list says why");
	calls = rag_judge_calls(j);
	rag_buf_reset(&items);
	cr_assert_eq(rag_judge_list(j, "l", "List three colours.", &items, &n, &why, &err), 0);
	cr_expect_eq(rag_judge_calls(j), calls, "lists are cached too");
	rag_judge_free(j);
	rag_judge_free(NULL);
	rag_vcache_free(c);
	rag_buf_free(&why);
	rag_buf_free(&items);
}
