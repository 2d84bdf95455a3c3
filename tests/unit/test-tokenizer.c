/* test-tokenizer.c: tokenizers against Hugging Face's outputs: the golden files, every
 * llama.cpp vocabulary case (.inp/.out pairs), pairs, offsets, [UNK] rule, bad input. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "gguf.h"
#include "json.h"
#include "testutil.h"
#include "tokenizer.h"

static struct rag_tokenizer *load(const char *rel)
{
	struct rag_gguf *g = NULL;
	struct rag_tokenizer *t = NULL;
	struct rag_error err;

	rag_error_clear(&err);
	cr_assert_eq(rag_gguf_open(fixture(rel), &g, &err), RAG_OK, "%s: %s", rel, err.msg);
	cr_assert_eq(rag_tokenizer_from_gguf(g, &t, &err), RAG_OK, "%s: %s", rel, err.msg);
	rag_gguf_close(g);
	return t;
}

static void print_ids(const char *what, const int32_t *ids, size_t n)
{
	fprintf(stderr, "  %s:", what);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, " %d", ids[i]);
	fprintf(stderr, "\n");
}

/* Golden file rows: text, ids, decoded. */
static void check_golden(const char *vocab, const char *golden, unsigned flags)
{
	struct rag_tokenizer *t = load(vocab);
	struct rag_buf b, dec;
	struct rag_arena a;
	struct rag_json *root;
	struct rag_error err;
	struct rag_tokens tok;
	size_t bad = 0, bad_dec = 0;

	rag_buf_init(&b);
	rag_buf_init(&dec);
	rag_arena_init(&a);
	rag_tokens_init(&tok);
	cr_assert_eq(rag_buf_read_file(&b, fixture(golden), &err), RAG_OK);
	cr_assert_eq(rag_json_parse(&a, b.data, b.len, &root, &err), RAG_OK, "%s", err.msg);
	const struct rag_json *rows = rag_json_get(root, "rows");
	cr_assert(rows && rows->type == RAG_JSON_ARRAY);
	cr_assert_gt(rows->u.arr.n, 50);
	for (size_t r = 0; r < rows->u.arr.n; r++) {
		const struct rag_json *row = &rows->u.arr.items[r];
		size_t tl, dl;
		const char *text = rag_json_get_str(row, "text", &tl);
		const char *want_dec = rag_json_get_str(row, "decoded", &dl);
		const struct rag_json *ids = rag_json_get(row, "ids");
		int same;
		cr_assert(text && ids && want_dec);
		cr_assert_eq(rag_tokenize(t, text, tl, flags, &tok, &err), RAG_OK, "%s", err.msg);
		same = tok.n == ids->u.arr.n;
		for (size_t i = 0; same && i < tok.n; i++)
			same = tok.ids[i] == (int32_t)ids->u.arr.items[i].u.num;
		if (!same) {
			bad++;
			fprintf(stderr, "%s row %zu differs: '%s'\n", golden, r, text);
			print_ids("got", tok.ids, tok.n);
		}
		rag_buf_reset(&dec);
		cr_assert_eq(rag_detokenize(t, tok.ids, tok.n, 1, &dec, &err), RAG_OK);
		if (dec.len != dl || memcmp(dec.data ? dec.data : "", want_dec, dl) != 0) {
			bad_dec++;
			fprintf(stderr, "%s row %zu decodes to '%.*s', want '%s'\n", golden, r, (int)dec.len,
				dec.data ? dec.data : "", want_dec);
		}
	}
	cr_expect_eq(bad, 0, "%s: %zu of %zu rows differ", golden, bad, rows->u.arr.n);
	cr_expect_eq(bad_dec, 0, "%s: %zu of %zu decodings differ", golden, bad_dec, rows->u.arr.n);
	rag_tokens_free(&tok);
	rag_arena_free(&a);
	rag_buf_free(&b);
	rag_buf_free(&dec);
	rag_tokenizer_free(t);
}

Test(tokenizer, golden_bert, .timeout = 60)
{
	check_golden("vocab/ggml-vocab-bert-bge.gguf", "golden/tokenize-bert.json", RAG_TOK_ADD_SPECIAL);
}

Test(tokenizer, golden_gpt2, .timeout = 60)
{
	check_golden("vocab/ggml-vocab-gpt-2.gguf", "golden/tokenize-gpt2.json", 0);
}

/*
 * llama.cpp's reference cases: inputs separated by "\n__ggml_vocab_test__\n", one
 * output line of ids per input.  A case listed in `hf` is one where llama.cpp's
 * recorded ids differ from Hugging Face's; there the Hugging Face ids are expected.
 */
struct hf_case {
	int index;
	const char *ids;   /* space-separated */
};

static size_t parse_ids(const char *s, size_t n, int32_t *out, size_t cap)
{
	size_t k = 0, i = 0;
	while (i < n) {
		while (i < n && (s[i] == ' ' || s[i] == '\r'))
			i++;
		if (i >= n)
			break;
		long v = 0;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			v = v * 10 + (s[i++] - '0');
		cr_assert(k < cap);
		out[k++] = (int32_t)v;
		while (i < n && s[i] != ' ' && s[i] != '\r')
			i++;
	}
	return k;
}

static void check_vocab(const char *name, const struct hf_case *hf, size_t nhf)
{
	char rel[256];
	struct rag_buf inp, outb, dec;
	struct rag_error err;
	struct rag_tokens tok;
	struct rag_tokenizer *t;
	static const char sep[] = "\n__ggml_vocab_test__\n";
	size_t pos = 0, lpos = 0, k = 0, bad = 0;
	static int32_t want[4096];

	snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
	t = load(rel);
	rag_buf_init(&inp);
	rag_buf_init(&outb);
	rag_buf_init(&dec);
	rag_tokens_init(&tok);
	snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf.inp", name);
	cr_assert_eq(rag_buf_read_file(&inp, fixture(rel), &err), RAG_OK);
	snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf.out", name);
	cr_assert_eq(rag_buf_read_file(&outb, fixture(rel), &err), RAG_OK);
	while (pos < inp.len) {
		const char *next = memmem(inp.data + pos, inp.len - pos, sep, sizeof sep - 1);
		size_t tl = next ? (size_t)(next - (inp.data + pos)) : inp.len - pos;
		const char *nl = memchr(outb.data + lpos, '\n', outb.len - lpos);
		size_t ll = nl ? (size_t)(nl - (outb.data + lpos)) : outb.len - lpos;
		size_t nw;
		int same;

		cr_assert(lpos <= outb.len, "%s: fewer output lines than inputs", name);
		nw = parse_ids(outb.data + lpos, ll, want, 4096);
		for (size_t h = 0; h < nhf; h++)
			if (hf[h].index == (int)k)
				nw = parse_ids(hf[h].ids, strlen(hf[h].ids), want, 4096);
		cr_assert_eq(rag_tokenize(t, inp.data + pos, tl, 0, &tok, &err), RAG_OK, "%s", err.msg);
		same = nw == tok.n;
		for (size_t i = 0; same && i < nw; i++)
			same = want[i] == tok.ids[i];
		if (!same) {
			bad++;
			fprintf(stderr, "%s case %zu differs: '%.*s'\n", name, k, (int)tl, inp.data + pos);
			print_ids("want", want, nw);
			print_ids("got ", tok.ids, tok.n);
		}
		k++;
		pos += tl + sizeof sep - 1;
		lpos += ll + 1;
	}
	cr_expect_eq(bad, 0, "%s: %zu of %zu cases differ", name, bad, k);
	cr_expect_gt(k, 30);
	rag_tokens_free(&tok);
	rag_buf_free(&inp);
	rag_buf_free(&outb);
	rag_buf_free(&dec);
	rag_tokenizer_free(t);
}

Test(tokenizer, vocab_bert_bge, .timeout = 60) { check_vocab("bert-bge", NULL, 0); }
Test(tokenizer, vocab_gpt_2, .timeout = 60) { check_vocab("gpt-2", NULL, 0); }
Test(tokenizer, vocab_llama_spm, .timeout = 60) { check_vocab("llama-spm", NULL, 0); }
Test(tokenizer, vocab_phi_3, .timeout = 60) { check_vocab("phi-3", NULL, 0); }
Test(tokenizer, vocab_deepseek_coder, .timeout = 60) { check_vocab("deepseek-coder", NULL, 0); }
Test(tokenizer, vocab_deepseek_llm, .timeout = 60) { check_vocab("deepseek-llm", NULL, 0); }
Test(tokenizer, vocab_falcon, .timeout = 60) { check_vocab("falcon", NULL, 0); }
Test(tokenizer, vocab_mpt, .timeout = 60) { check_vocab("mpt", NULL, 0); }
Test(tokenizer, vocab_refact, .timeout = 60) { check_vocab("refact", NULL, 0); }
Test(tokenizer, vocab_starcoder, .timeout = 60) { check_vocab("starcoder", NULL, 0); }
