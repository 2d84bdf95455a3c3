/* test-tokjson.c: tokenizer.json interpreted from its own description (lib/tok-hf.c)
 * against Hugging Face tokenizers: the generated tokenizers of tests/data/hf-tokenizers
 * (Unigram with Metaspace and Precompiled, byte-level and byte-fallback BPE, WordPiece,
 * WordLevel, Split behaviors, templates, added-token flags) and the shared fixture
 * tokenizers; unknown component types refused, naming the component. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arena.h"
#include "buf.h"
#include "hfmodel.h"
#include "json.h"
#include "testutil.h"
#include "tokenizer.h"

static struct rag_tokenizer *open_tok(const char *dir)
{
	struct rag_gguf *g = NULL;
	struct rag_tokenizer *t = NULL;
	struct rag_error err;
	const char *s;

	cr_assert_eq(rag_model_open(dir, &g, &err), RAG_OK, "%s: %s", dir, err.msg);
	cr_assert_eq(rag_gguf_get_str(g, "tokenizer.huggingface.json", &s), 1, "%s: the description is carried", dir);
	cr_assert_eq(rag_tokenizer_from_gguf(g, &t, &err), RAG_OK, "%s: %s", dir, err.msg);
	rag_gguf_close(g);
	return t;
}

static int same_ids(const struct rag_tokens *tok, const struct rag_json *ids)
{
	if (!ids || ids->type != RAG_JSON_ARRAY || ids->u.arr.n != tok->n)
		return 0;
	for (size_t i = 0; i < tok->n; i++)
		if (tok->ids[i] != (int32_t)ids->u.arr.items[i].u.num)
			return 0;
	return 1;
}

static void show(const char *name, const char *what, const char *text, const struct rag_tokens *tok)
{
	fprintf(stderr, "%s %s '%.60s' differs; got", name, what, text);
	for (size_t i = 0; i < tok->n; i++)
		fprintf(stderr, " %d", tok->ids[i]);
	fprintf(stderr, "\n");
}

Test(tokjson, generated_tokenizers_match_hugging_face)
{
	struct rag_buf b;
	struct rag_arena a;
	struct rag_json *root;
	struct rag_error err;
	struct rag_tokens tok;
	const struct rag_json *texts, *pairs, *toks;
	size_t bad = 0, total = 0;

	rag_buf_init(&b);
	rag_arena_init(&a);
	rag_tokens_init(&tok);
	cr_assert_eq(rag_buf_read_file(&b, testdata("hf-tokenizers/golden.json"), &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_json_parse(&a, b.data, b.len, &root, &err), RAG_OK, "%s", err.msg);
	texts = rag_json_get(root, "texts");
	pairs = rag_json_get(root, "pairs");
	toks = rag_json_get(root, "tokenizers");
	cr_assert(texts && pairs && toks && toks->type == RAG_JSON_OBJECT && toks->u.obj.n >= 9);
	for (size_t k = 0; k < toks->u.obj.n; k++) {
		const char *name = toks->u.obj.members[k].key;
		const struct rag_json *g = &toks->u.obj.members[k].value;
		const struct rag_json *single = rag_json_get(g, "single"), *plain = rag_json_get(g, "plain"),
				      *gp = rag_json_get(g, "pairs");
		char rel[256];
		struct rag_tokenizer *t;
		snprintf(rel, sizeof rel, "hf-tokenizers/%s", name);
		t = open_tok(testdata(rel));
		for (size_t i = 0; i < texts->u.arr.n; i++) {
			const char *s = texts->u.arr.items[i].u.str.s;
			size_t n = texts->u.arr.items[i].u.str.len;
			/* Hugging Face always parses special tokens in text: ask for that */
			cr_assert_eq(rag_tokenize(t, s, n, RAG_TOK_ADD_SPECIAL | RAG_TOK_PARSE_SPECIAL, &tok, &err), RAG_OK);
			total++;
			if (!same_ids(&tok, &single->u.arr.items[i]) && ++bad)
				show(name, "single", s, &tok);
			cr_assert_eq(rag_tokenize(t, s, n, RAG_TOK_PARSE_SPECIAL, &tok, &err), RAG_OK);
			total++;
			if (!same_ids(&tok, &plain->u.arr.items[i]) && ++bad)
				show(name, "plain", s, &tok);
		}
		for (size_t i = 0; i < pairs->u.arr.n; i++) {
			const struct rag_json *p = &pairs->u.arr.items[i], *want = &gp->u.arr.items[i];
			const struct rag_json *ty = &want->u.arr.items[1];
			int same;
			cr_assert_eq(rag_tokenize_pair(t, p->u.arr.items[0].u.str.s, p->u.arr.items[0].u.str.len,
						       p->u.arr.items[1].u.str.s, p->u.arr.items[1].u.str.len,
						       RAG_TOK_ADD_SPECIAL | RAG_TOK_PARSE_SPECIAL, &tok, &err), RAG_OK);
			same = same_ids(&tok, &want->u.arr.items[0]);
			for (size_t j = 0; same && j < tok.n; j++)
				same = tok.type_ids[j] == (int)ty->u.arr.items[j].u.num;
			total++;
			if (!same && ++bad)
				show(name, "pair", p->u.arr.items[0].u.str.s, &tok);
			if (same && rag_tokenize_pair(t, "x", 1, "y", 1, RAG_TOK_ADD_SPECIAL, &tok, &err) == RAG_OK)
				cr_expect_geq(tok.n, (size_t)rag_tokenizer_n_added(t, 1), "%s: n_added(pair)", name);
		}
		rag_tokenizer_free(t);
	}
	cr_expect_eq(bad, 0, "%zu of %zu encodings differ from Hugging Face", bad, total);
	cr_assert_gt(total, 1500);
	rag_tokens_free(&tok);
	rag_arena_free(&a);
	rag_buf_free(&b);
}

/* ../shared/fixtures/tokenizers/{bert,gpt2}: the directories hold tokenizer.json alone. */
static void fixture_golden(const char *which, const char *golden, unsigned flags)
{
	char dir[4200];
	struct rag_buf b;
	struct rag_arena a;
	struct rag_json *root;
	struct rag_error err;
	struct rag_tokens tok;
	struct rag_tokenizer *t;
	const struct rag_json *rows;
	size_t bad = 0;

	snprintf(dir, sizeof dir, "%s/tokenizer.json", testdata(which));
	if (access(dir, R_OK) != 0)
		cr_skip_test("no shared fixture tokenizer at %s", dir);
	snprintf(dir, sizeof dir, "%s", testdata(which));
	t = open_tok(dir);
	rag_buf_init(&b);
	rag_arena_init(&a);
	rag_tokens_init(&tok);
	cr_assert_eq(rag_buf_read_file(&b, fixture(golden), &err), RAG_OK);
	cr_assert_eq(rag_json_parse(&a, b.data, b.len, &root, &err), RAG_OK);
	rows = rag_json_get(root, "rows");
	cr_assert(rows && rows->u.arr.n > 50);
	for (size_t r = 0; r < rows->u.arr.n; r++) {
		size_t n;
		const char *s = rag_json_get_str(&rows->u.arr.items[r], "text", &n);
		cr_assert_eq(rag_tokenize(t, s, n, flags, &tok, &err), RAG_OK);
		if (!same_ids(&tok, rag_json_get(&rows->u.arr.items[r], "ids")) && ++bad)
			show(which, "row", s, &tok);
	}
	cr_expect_eq(bad, 0, "%s: %zu rows differ", which, bad);
	rag_tokens_free(&tok);
	rag_arena_free(&a);
	rag_buf_free(&b);
	rag_tokenizer_free(t);
}

Test(tokjson, fixture_bert_tokenizer_json)
{
	fixture_golden("hf/../tokenizers/bert", "golden/tokenize-bert.json", RAG_TOK_ADD_SPECIAL);
}

Test(tokjson, fixture_gpt2_tokenizer_json)
{
	fixture_golden("hf/../tokenizers/gpt2", "golden/tokenize-gpt2.json", RAG_TOK_ADD_SPECIAL);
}

/* ---- refusals ---- */

static char tmp[] = "/tmp/ragkit-tokjson-XXXXXX";

static void write_tok(const char *json)
{
	char path[256];
	FILE *f;
	snprintf(path, sizeof path, "%s/tokenizer.json", tmp);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(json, f);
	fclose(f);
}

Test(tokjson, unknown_components_are_refused)
{
	static const struct { const char *field, *value, *msg; } cases[] = {
		{ "normalizer", "{\"type\": \"Frobnicate\"}", "normalizer 'Frobnicate'" },
		{ "normalizer", "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}, {\"type\": \"Zap\"}]}",
		  "normalizer 'Zap'" },
		{ "normalizer", "{\"strip_left\": true}", "normalizer '(no type)'" },
		{ "pre_tokenizer", "{\"type\": \"UnicodeScripts\"}", "pre-tokenizer 'UnicodeScripts'" },
		{ "pre_tokenizer", "{\"type\": \"Split\", \"pattern\": {\"String\": \"-\"}, \"behavior\": \"Sideways\"}",
		  "split behavior 'Sideways'" },
		{ "pre_tokenizer", "{\"type\": \"Metaspace\", \"prepend_scheme\": \"sometimes\"}", "prepend_scheme 'sometimes'" },
		{ "pre_tokenizer", "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}",
		  "does not compile" },
		{ "post_processor", "{\"type\": \"Scramble\"}", "post-processor 'Scramble'" },
		{ "decoder", "{\"type\": \"Oddity\"}", "decoder 'Oddity'" },
	};
	char json[1024];
	struct rag_error err;

	cr_assert_not_null(mkdtemp(tmp));
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct rag_gguf *g = NULL;
		struct rag_tokenizer *t = NULL;
		snprintf(json, sizeof json,
			 "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"vocab\": {\"[UNK]\": 0, \"a\": 1}},"
			 " \"%s\": %s}", cases[i].field, cases[i].value);
		write_tok(json);
		cr_assert_eq(rag_model_open(tmp, &g, &err), RAG_OK, "%s", err.msg);
		cr_expect_eq(rag_tokenizer_from_gguf(g, &t, &err), RAG_EMODEL, "case %zu accepted", i);
		cr_expect_null(t);
		cr_expect(strstr(err.msg, cases[i].msg), "case %zu: '%s' not in '%s'", i, cases[i].msg, err.msg);
		rag_gguf_close(g);
	}
	/* an unknown model type is refused when the directory is read */
	{
		struct rag_gguf *g = NULL;
		write_tok("{\"model\": {\"type\": \"Quantum\", \"vocab\": {}}}");
		cr_expect_eq(rag_model_open(tmp, &g, &err), RAG_EMODEL);
		cr_expect(strstr(err.msg, "'Quantum'"), "%s", err.msg);
	}
	/* BPE with dropout is sampling, not a tokenizer to reproduce */
	{
		struct rag_gguf *g = NULL;
		struct rag_tokenizer *t = NULL;
		write_tok("{\"model\": {\"type\": \"BPE\", \"dropout\": 0.1, \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2},"
			  " \"merges\": [\"a b\"]}}");
		cr_assert_eq(rag_model_open(tmp, &g, &err), RAG_OK, "%s", err.msg);
		cr_expect_eq(rag_tokenizer_from_gguf(g, &t, &err), RAG_EMODEL);
		cr_expect(strstr(err.msg, "dropout"), "%s", err.msg);
		rag_gguf_close(g);
	}
	/* a merge naming a missing token */
	{
		struct rag_gguf *g = NULL;
		struct rag_tokenizer *t = NULL;
		write_tok("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}}");
		cr_assert_eq(rag_model_open(tmp, &g, &err), RAG_OK, "%s", err.msg);
		cr_expect_eq(rag_tokenizer_from_gguf(g, &t, &err), RAG_EMODEL);
		cr_expect(strstr(err.msg, "merge 0"), "%s", err.msg);
		rag_gguf_close(g);
	}
	{
		char path[256];
		snprintf(path, sizeof path, "%s/tokenizer.json", tmp);
		unlink(path);
		rmdir(tmp);
	}
}

/* A small hand-written description: what each step does, visibly. */
Test(tokjson, pipeline_steps)
{
	static char dir[] = "/tmp/ragkit-tokjson2-XXXXXX";
	struct rag_tokenizer *t;
	struct rag_tokens tok;
	struct rag_error err;
	char path[256];
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/tokenizer.json", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("{\"added_tokens\": [{\"id\": 5, \"content\": \"<x>\", \"special\": true, \"normalized\": false,"
	      " \"lstrip\": true, \"rstrip\": false, \"single_word\": false}],"
	      " \"normalizer\": {\"type\": \"Lowercase\"},"
	      " \"pre_tokenizer\": {\"type\": \"WhitespaceSplit\"},"
	      " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<x>\", \"type_id\": 0}},"
	      " {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"pair\": [{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}},"
	      " {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}], \"special_tokens\": {\"<x>\": {\"id\": \"<x>\", \"ids\": [5], \"tokens\": [\"<x>\"]}}},"
	      " \"model\": {\"type\": \"WordLevel\", \"unk_token\": \"?\", \"vocab\": {\"?\": 0, \"ab\": 1, \"cd\": 2, \"e\": 3, \"<x>\": 4}}}",
	      f);
	fclose(f);
	t = open_tok(dir);
	rag_tokens_init(&tok);
	cr_assert_eq(rag_tokenize(t, "AB  cD zz", 9, RAG_TOK_OFFSETS, &tok, &err), RAG_OK);
	cr_assert_eq(tok.n, 3);
	cr_expect_eq(tok.ids[0], 1);
	cr_expect_eq(tok.ids[1], 2);
	cr_expect_eq(tok.ids[2], 0);
	cr_expect_eq(tok.start[1], 4);
	cr_expect_eq(tok.end[1], 6);
	/* the template adds <x>; <x> in text is the added token only when special tokens are parsed,
	 * and lstrip takes the space before it */
	cr_assert_eq(rag_tokenize(t, "ab <x>", 6, RAG_TOK_ADD_SPECIAL | RAG_TOK_PARSE_SPECIAL | RAG_TOK_OFFSETS, &tok, &err),
		     RAG_OK);
	cr_assert_eq(tok.n, 3);
	cr_expect_eq(tok.ids[0], 5);
	cr_expect_eq(tok.ids[1], 1);
	cr_expect_eq(tok.ids[2], 5);
	cr_expect_eq(tok.start[2], 2);
	cr_assert_eq(rag_tokenize(t, "ab <x>", 6, 0, &tok, &err), RAG_OK);
	cr_assert_eq(tok.n, 2);
	cr_expect_eq(tok.ids[1], 4);  /* "<x>" as a word of the vocabulary */
	cr_expect_eq(rag_tokenizer_n_added(t, 0), 1);
	cr_expect_eq(rag_tokenizer_n_added(t, 1), 0);
	cr_assert_eq(rag_tokenize_pair(t, "ab", 2, "e", 1, RAG_TOK_ADD_SPECIAL, &tok, &err), RAG_OK);
	cr_assert_eq(tok.n, 2);
	cr_expect_eq(tok.type_ids[0], 0);
	cr_expect_eq(tok.type_ids[1], 1);
	rag_tokens_free(&tok);
	rag_tokenizer_free(t);
	unlink(path);
	rmdir(dir);
}
