/* test-tokenizer.c: tokenizers against Hugging Face's outputs: the golden files, every
 * llama.cpp vocabulary case (.inp/.out pairs), pairs, offsets, [UNK] rule, token-by-token
 * decoding, bad input. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "gguf.h"
#include "json.h"
#include "testutil.h"
#include "alloc.h"
#include "tokenizer.h"
#include "unicode.h"

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

Test(tokenizer, golden_bert)
{
	check_golden("vocab/ggml-vocab-bert-bge.gguf", "golden/tokenize-bert.json", RAG_TOK_ADD_SPECIAL);
}

Test(tokenizer, golden_gpt2)
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

Test(tokenizer, vocab_bert_bge) { check_vocab("bert-bge", NULL, 0); }
Test(tokenizer, vocab_gpt_2) { check_vocab("gpt-2", NULL, 0); }
Test(tokenizer, vocab_llama_spm) { check_vocab("llama-spm", NULL, 0); }
Test(tokenizer, vocab_phi_3) { check_vocab("phi-3", NULL, 0); }
Test(tokenizer, vocab_deepseek_coder) { check_vocab("deepseek-coder", NULL, 0); }
Test(tokenizer, vocab_deepseek_llm) { check_vocab("deepseek-llm", NULL, 0); }
Test(tokenizer, vocab_falcon) { check_vocab("falcon", NULL, 0); }
Test(tokenizer, vocab_mpt) { check_vocab("mpt", NULL, 0); }
Test(tokenizer, vocab_refact) { check_vocab("refact", NULL, 0); }
Test(tokenizer, vocab_starcoder) { check_vocab("starcoder", NULL, 0); }

/* ---- hard cases (tests/data/tokenize/hard-cases.jsonl, made by Hugging Face) ---- */

static size_t unhex(const char *h, size_t n, char *out)
{
	size_t k = 0;
	for (size_t i = 0; i + 1 < n; i += 2) {
		unsigned v;
		sscanf(h + i, "%2x", &v);
		out[k++] = (char)v;
	}
	return k;
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

/* Offsets of tokens [skip, n - skip) equal want (absent: nothing to compare). */
static int same_offsets(const struct rag_tokens *tok, size_t skip, const struct rag_json *want)
{
	if (!want)
		return 1;
	if (want->type != RAG_JSON_ARRAY || want->u.arr.n + 2 * skip != tok->n)
		return 0;
	for (size_t i = 0; i < want->u.arr.n; i++) {
		const struct rag_json *p = &want->u.arr.items[i];
		if (tok->start[i + skip] != (uint32_t)p->u.arr.items[0].u.num ||
		    tok->end[i + skip] != (uint32_t)p->u.arr.items[1].u.num)
			return 0;
	}
	return 1;
}

Test(tokenizer, hard_cases)
{
	struct rag_tokenizer *bert = load("vocab/ggml-vocab-bert-bge.gguf");
	struct rag_tokenizer *gpt2 = load("vocab/ggml-vocab-gpt-2.gguf");
	struct rag_buf b;
	struct rag_arena a;
	struct rag_error err;
	struct rag_tokens tok;
	size_t n = 0, bad = 0;
	static char text[8192];

	rag_buf_init(&b);
	rag_arena_init(&a);
	rag_tokens_init(&tok);
	cr_assert_eq(rag_buf_read_file(&b, testdata("tokenize/hard-cases.jsonl"), &err), RAG_OK);
	for (char *p = b.data, *e; p < b.data + b.len; p = e + 1) {
		struct rag_json *rec;
		size_t hl, tl;
		e = memchr(p, '\n', (size_t)(b.data + b.len - p));
		if (!e)
			e = b.data + b.len;
		if (e == p)
			continue;
		cr_assert_eq(rag_json_parse(&a, p, (size_t)(e - p), &rec, &err), RAG_OK);
		const char *name = rag_json_get_str(rec, "name", NULL);
		const char *hex = rag_json_get_str(rec, "hex", &hl);
		if (name[0] == '_')
			continue;
		cr_assert(hl / 2 < sizeof text);
		tl = unhex(hex, hl, text);
		cr_assert_eq(rag_tokenize(bert, text, tl, RAG_TOK_ADD_SPECIAL | RAG_TOK_OFFSETS, &tok, &err), RAG_OK);
		if (!same_ids(&tok, rag_json_get(rec, "bert"))) {
			bad++;
			fprintf(stderr, "hard case %s differs (bert)\n", name);
			print_ids("got", tok.ids, tok.n);
		}
		for (size_t k = 0; k < tok.n; k++)
			cr_assert(tok.start[k] <= tok.end[k] && tok.end[k] <= tl, "%s: bad offsets", name);
		if (!same_offsets(&tok, 1, rag_json_get(rec, "bert_offsets"))) {
			bad++;
			fprintf(stderr, "hard case %s: offsets differ (bert)\n", name);
		}
		cr_assert_eq(rag_tokenize(gpt2, text, tl, RAG_TOK_OFFSETS, &tok, &err), RAG_OK);
		if (!same_offsets(&tok, 0, rag_json_get(rec, "gpt2_offsets"))) {
			bad++;
			fprintf(stderr, "hard case %s: offsets differ (gpt2)\n", name);
		}
		if (!same_ids(&tok, rag_json_get(rec, "gpt2"))) {
			bad++;
			fprintf(stderr, "hard case %s differs (gpt2)\n", name);
			print_ids("got", tok.ids, tok.n);
		}
		/* byte-level tokens tile the input: each starts where the previous ended */
		for (size_t k = 0; k < tok.n; k++) {
			cr_assert(tok.start[k] <= tok.end[k] && tok.end[k] <= tl, "%s: bad offsets", name);
			if (k)
				cr_assert(tok.start[k] >= tok.start[k - 1], "%s: offsets go back", name);
		}
		n++;
	}
	cr_assert_gt(n, 20);
	cr_expect_eq(bad, 0, "%zu hard cases differ", bad);
	rag_tokens_free(&tok);
	rag_arena_free(&a);
	rag_buf_free(&b);
	rag_tokenizer_free(bert);
	rag_tokenizer_free(gpt2);
}

/* ---- cross-encoder pairs and model files ---- */

Test(tokenizer, rerank_pairs_and_type_ids)
{
	struct rag_tokenizer *t = load("models/tiny-rerank-f16.gguf");
	struct rag_buf b;
	struct rag_arena a;
	struct rag_json *root;
	struct rag_error err;
	struct rag_tokens tok;

	rag_buf_init(&b);
	rag_arena_init(&a);
	rag_tokens_init(&tok);
	cr_assert_eq(rag_buf_read_file(&b, fixture("golden/tiny-rerank.json"), &err), RAG_OK);
	cr_assert_eq(rag_json_parse(&a, b.data, b.len, &root, &err), RAG_OK);
	const struct rag_json *rows = rag_json_get(root, "rows");
	cr_assert_gt(rows->u.arr.n, 2);
	for (size_t r = 0; r < rows->u.arr.n; r++) {
		const struct rag_json *row = &rows->u.arr.items[r];
		size_t ql, pl;
		const char *q = rag_json_get_str(row, "query", &ql), *p = rag_json_get_str(row, "passage", &pl);
		const struct rag_json *types = rag_json_get(row, "token_type_ids");
		cr_assert_eq(rag_tokenize_pair(t, q, ql, p, pl, RAG_TOK_ADD_SPECIAL, &tok, &err), RAG_OK);
		cr_assert(same_ids(&tok, rag_json_get(row, "ids")), "row %zu ids differ", r);
		for (size_t k = 0; k < tok.n; k++)
			cr_assert_eq(tok.type_ids[k], (int)types->u.arr.items[k].u.num, "row %zu type %zu", r, k);
	}
	cr_assert_eq(rag_tokenizer_n_added(t, 1), 3);
	cr_assert_eq(rag_tokenizer_n_added(t, 0), 2);
	rag_tokens_free(&tok);
	rag_arena_free(&a);
	rag_buf_free(&b);
	rag_tokenizer_free(t);
}

Test(tokenizer, embed_golden_ids)
{
	struct rag_tokenizer *t = load("models/tiny-embed-mean-q8_0.gguf");
	struct rag_buf b;
	struct rag_arena a;
	struct rag_json *root;
	struct rag_error err;
	struct rag_tokens tok;

	rag_buf_init(&b);
	rag_arena_init(&a);
	rag_tokens_init(&tok);
	cr_assert_eq(rag_buf_read_file(&b, fixture("golden/tiny-embed-mean.json"), &err), RAG_OK);
	cr_assert_eq(rag_json_parse(&a, b.data, b.len, &root, &err), RAG_OK);
	const struct rag_json *rows = rag_json_get(root, "rows");
	for (size_t r = 0; r < rows->u.arr.n; r++) {
		const struct rag_json *row = &rows->u.arr.items[r];
		size_t tl;
		const char *text = rag_json_get_str(row, "text", &tl);
		cr_assert_eq(rag_tokenize(t, text, tl, RAG_TOK_ADD_SPECIAL, &tok, &err), RAG_OK);
		rag_tokens_truncate(t, &tok, 128, 0);
		cr_assert(same_ids(&tok, rag_json_get(row, "ids")), "row %zu ids differ", r);
	}
	rag_tokens_free(&tok);
	rag_arena_free(&a);
	rag_buf_free(&b);
	rag_tokenizer_free(t);
}

Test(tokenizer, qwen2_prompt_ids)
{
	struct rag_tokenizer *t = load("models/tiny-qwen2-f16.gguf");
	struct rag_buf b;
	struct rag_arena a;
	struct rag_json *root;
	struct rag_error err;
	struct rag_tokens tok;

	rag_buf_init(&b);
	rag_arena_init(&a);
	rag_tokens_init(&tok);
	cr_assert_eq(rag_buf_read_file(&b, fixture("golden/tiny-qwen2.json"), &err), RAG_OK);
	cr_assert_eq(rag_json_parse(&a, b.data, b.len, &root, &err), RAG_OK);
	const struct rag_json *rows = rag_json_get(root, "rows");
	cr_assert(rows && rows->u.arr.n > 0);
	for (size_t r = 0; r < rows->u.arr.n; r++) {
		const struct rag_json *row = &rows->u.arr.items[r];
		size_t tl;
		const char *text = rag_json_get_str(row, "prompt", &tl);
		cr_assert(text);
		cr_assert_eq(rag_tokenize(t, text, tl, RAG_TOK_ADD_SPECIAL, &tok, &err), RAG_OK);
		cr_assert(same_ids(&tok, rag_json_get(row, "prompt_ids")), "row %zu ids differ", r);
	}
	rag_tokens_free(&tok);
	rag_arena_free(&a);
	rag_buf_free(&b);
	rag_tokenizer_free(t);
}

/* ---- rules and invariants ---- */

Test(tokenizer, wordpiece_unk_rule)
{
	struct rag_tokenizer *t = load("vocab/ggml-vocab-bert-bge.gguf");
	struct rag_tokens tok;
	struct rag_error err;
	char w[200];
	int32_t unk = rag_tokenizer_special(t, RAG_TOK_UNK);

	rag_tokens_init(&tok);
	memset(w, 'a', sizeof w);
	cr_assert_eq(rag_tokenize(t, w, 100, 0, &tok, &err), RAG_OK);
	cr_assert_gt(tok.n, 1);  /* 100 characters: split into pieces */
	cr_assert_eq(rag_tokenize(t, w, 101, RAG_TOK_OFFSETS, &tok, &err), RAG_OK);
	cr_assert_eq(tok.n, 1);
	cr_assert_eq(tok.ids[0], unk);
	cr_assert_eq(tok.start[0], 0);
	cr_assert_eq(tok.end[0], 101);
	/* 136 characters: llama.cpp splits it into 49 pieces, Hugging Face gives [UNK] */
	cr_assert_eq(rag_tokenize(t, w, 136, 0, &tok, &err), RAG_OK);
	cr_assert_eq(tok.n, 1);
	cr_assert_eq(tok.ids[0], unk);
	/* counted in characters after normalization, not bytes */
	{
		char u[300];
		size_t n = 0;
		for (int i = 0; i < 100; i++) {
			memcpy(u + n, "\xc3\xa9", 2);  /* é -> e */
			n += 2;
		}
		cr_assert_eq(rag_tokenize(t, u, n, 0, &tok, &err), RAG_OK);
		cr_assert_neq(tok.ids[0], unk);
	}
	rag_tokens_free(&tok);
	rag_tokenizer_free(t);
}

Test(tokenizer, specials_and_accessors)
{
	struct rag_tokenizer *t = load("vocab/ggml-vocab-bert-bge.gguf");
	struct rag_tokens tok;
	struct rag_error err;
	size_t len;

	rag_tokens_init(&tok);
	cr_assert_str_eq(rag_tokenizer_model(t), "bert");
	cr_assert_str_eq(rag_tokenizer_pre(t), "bert-bge");
	cr_assert_eq(rag_tokenizer_vocab_size(t), 30522);
	cr_assert_eq(rag_tokenizer_special(t, RAG_TOK_CLS), 101);
	cr_assert_eq(rag_tokenizer_special(t, RAG_TOK_SEP), 102);
	cr_assert_eq(rag_tokenizer_special(t, RAG_TOK_MASK), 103);
	cr_assert_eq(rag_tokenizer_special(t, RAG_TOK_EOT), -1);
	cr_assert(rag_token_is_special(t, 101));
	cr_assert(!rag_token_is_special(t, 7592));
	cr_assert_str_eq(rag_token_piece(t, 101, &len), "[CLS]");
	cr_assert_eq(len, 5);
	cr_assert_null(rag_token_piece(t, -1, NULL));
	cr_assert_null(rag_token_piece(t, 30522, NULL));
	/* empty text: just the added tokens */
	cr_assert_eq(rag_tokenize(t, "", 0, RAG_TOK_ADD_SPECIAL, &tok, &err), RAG_OK);
	cr_assert_eq(tok.n, 2);
	/* special text is text unless asked */
	cr_assert_eq(rag_tokenize(t, "[MASK]", 6, 0, &tok, &err), RAG_OK);
	cr_assert_eq(tok.n, 3);
	cr_assert_eq(rag_tokenize(t, "x[MASK]y", 8, RAG_TOK_PARSE_SPECIAL | RAG_TOK_OFFSETS, &tok, &err), RAG_OK);
	cr_assert_eq(tok.n, 3);
	cr_assert_eq(tok.ids[1], 103);
	cr_assert_eq(tok.start[1], 1);
	cr_assert_eq(tok.end[1], 7);
	rag_tokens_free(&tok);
	rag_tokenizer_free(t);

	t = load("vocab/ggml-vocab-gpt-2.gguf");
	cr_assert_str_eq(rag_tokenizer_model(t), "gpt2");
	cr_assert_str_eq(rag_tokenizer_pre(t), "gpt-2");
	rag_tokens_init(&tok);
	cr_assert_eq(rag_tokenize(t, "a<|endoftext|>b", 15, RAG_TOK_PARSE_SPECIAL, &tok, &err), RAG_OK);
	cr_assert_eq(tok.n, 3);
	cr_assert_eq(tok.ids[1], 50256);
	cr_assert_eq(rag_tokenize(t, "a<|endoftext|>b", 15, 0, &tok, &err), RAG_OK);
	cr_assert_gt(tok.n, 3);
	rag_tokens_free(&tok);
	rag_tokenizer_free(t);
}

Test(tokenizer, truncate)
{
	struct rag_tokenizer *t = load("vocab/ggml-vocab-bert-bge.gguf");
	struct rag_tokens tok;
	struct rag_error err;

	rag_tokens_init(&tok);
	cr_assert_eq(rag_tokenize(t, "a b c d e", 9, RAG_TOK_ADD_SPECIAL, &tok, &err), RAG_OK);
	cr_assert_eq(tok.n, 7);
	cr_assert_eq(rag_tokens_truncate(t, &tok, 10, 0), 0);
	cr_assert_eq(rag_tokens_truncate(t, &tok, 4, 0), 1);
	cr_assert_eq(tok.n, 4);
	cr_assert_eq(tok.ids[0], 101);
	cr_assert_eq(tok.ids[1], 1037);
	cr_assert_eq(tok.ids[2], 1038);
	cr_assert_eq(tok.ids[3], 102);
	cr_assert_eq(rag_tokenize(t, "a b c d e", 9, RAG_TOK_ADD_SPECIAL, &tok, &err), RAG_OK);
	cr_assert_eq(rag_tokens_truncate(t, &tok, 3, 1), 1);
	cr_assert_eq(tok.n, 3);
	cr_assert_eq(tok.ids[1], 1041);
	cr_assert_eq(rag_tokens_truncate(t, &tok, 1, 1), 1);
	cr_assert_eq(tok.n, 2);  /* the added tokens stay */
	cr_assert_eq(rag_tokenize_pair(t, "a", 1, "b c d e f", 9, RAG_TOK_ADD_SPECIAL, &tok, &err), RAG_OK);
	cr_assert_eq(rag_tokens_truncate(t, &tok, 6, 0), 1);
	cr_assert_eq(tok.n, 6);
	cr_assert_eq(tok.ids[1], 1037);
	cr_assert_eq(tok.ids[2], 102);
	cr_assert_eq(tok.ids[3], 1038);
	cr_assert_eq(tok.ids[4], 1039);
	cr_assert_eq(tok.type_ids[4], 1);
	rag_tokens_free(&tok);
	rag_tokenizer_free(t);
}

/*
 * Decoding what was encoded gives the text back (byte-level and SentencePiece;
 * exact = 0 for WordPiece, which lowercases and drops accents).  And decoding
 * it token by token with rag_detokenize_bytes's started state, as streaming
 * does, gives the bytes of decoding it whole, which rag_utf8_repair makes
 * rag_detokenize's text.  ADD_SPECIAL puts a skipped special token first: it
 * must not count as the text's start.
 */
static void check_round_trip(const char *name, int exact)
{
	char rel[256];
	struct rag_tokenizer *t;
	struct rag_buf inp, dec, whole, pieces;
	struct rag_error err;
	struct rag_tokens tok;
	static const char sep[] = "\n__ggml_vocab_test__\n";
	size_t pos = 0, bad = 0, bad_pieces = 0;

	snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
	t = load(rel);
	snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf.inp", name);
	rag_buf_init(&inp);
	rag_buf_init(&dec);
	rag_buf_init(&whole);
	rag_buf_init(&pieces);
	rag_tokens_init(&tok);
	cr_assert_eq(rag_buf_read_file(&inp, fixture(rel), &err), RAG_OK);
	while (pos < inp.len) {
		const char *next = memmem(inp.data + pos, inp.len - pos, sep, sizeof sep - 1);
		size_t tl = next ? (size_t)(next - (inp.data + pos)) : inp.len - pos;
		int started = 0;
		cr_assert_eq(rag_tokenize(t, inp.data + pos, tl, RAG_TOK_ADD_SPECIAL, &tok, &err), RAG_OK);
		rag_buf_reset(&dec);
		cr_assert_eq(rag_detokenize(t, tok.ids, tok.n, 1, &dec, &err), RAG_OK);
		if (exact && (dec.len != tl || memcmp(dec.data ? dec.data : "", inp.data + pos, tl) != 0)) {
			bad++;
			fprintf(stderr, "%s: '%.*s' decodes to '%.*s'\n", name, (int)tl, inp.data + pos, (int)dec.len,
				dec.data ? dec.data : "");
		}
		rag_buf_reset(&whole);
		rag_buf_reset(&pieces);
		cr_assert_eq(rag_detokenize_bytes(t, tok.ids, tok.n, 1, NULL, &whole, &err), RAG_OK);
		for (size_t k = 0; k < tok.n; k++)
			cr_assert_eq(rag_detokenize_bytes(t, tok.ids + k, 1, 1, &started, &pieces, &err), RAG_OK);
		if (pieces.len != whole.len || (whole.len && memcmp(pieces.data, whole.data, whole.len) != 0)) {
			bad_pieces++;
			fprintf(stderr, "%s: '%.*s' decodes to '%.*s' token by token, '%.*s' whole\n", name, (int)tl,
				inp.data + pos, (int)pieces.len, pieces.data, (int)whole.len, whole.data);
		}
		rag_buf_reset(&pieces);
		rag_utf8_repair(&pieces, whole.data, whole.len);
		cr_assert(!rag_buf_failed(&pieces));
		cr_expect(pieces.len == dec.len && (!dec.len || !memcmp(pieces.data, dec.data, dec.len)),
			  "%s: '%.*s': repaired bytes are not the text", name, (int)tl, inp.data + pos);
		pos += tl + sizeof sep - 1;
	}
	cr_expect_eq(bad, 0, "%s: %zu texts do not round-trip", name, bad);
	cr_expect_eq(bad_pieces, 0, "%s: %zu texts decode differently token by token", name, bad_pieces);
	rag_tokens_free(&tok);
	rag_buf_free(&inp);
	rag_buf_free(&dec);
	rag_buf_free(&whole);
	rag_buf_free(&pieces);
	rag_tokenizer_free(t);
}

Test(tokenizer, round_trip_gpt2) { check_round_trip("gpt-2", 1); }
Test(tokenizer, round_trip_llama_spm) { check_round_trip("llama-spm", 1); }
Test(tokenizer, round_trip_starcoder) { check_round_trip("starcoder", 1); }
/* WordPiece lowercases and drops accents, so its text does not come back:
 * golden_bert checks its decoding against Hugging Face's, and this only the
 * token-by-token decoding against the whole. */
Test(tokenizer, decode_pieces_bert_bge) { check_round_trip("bert-bge", 0); }

/*
 * A byte the vocabulary has no token for (Falcon's has none for most control
 * characters, StarCoder's none for 0xF1, a lead byte of U+40000..U+7FFFF) is
 * the unknown token when the model has one (StarCoder: 0) and is left out
 * when it has none (Falcon), as Hugging Face's BPE and llama.cpp do: it must
 * not become some other token (id 0 is Falcon's ">>TITLE<<").
 */
Test(tokenizer, bpe_byte_missing_from_the_vocabulary)
{
	struct rag_tokenizer *falcon = load("vocab/ggml-vocab-falcon.gguf");
	struct rag_tokenizer *star = load("vocab/ggml-vocab-starcoder.gguf");
	struct rag_tokens a, b;
	struct rag_error err;
	static const char ctl[] = "333333\x03" "3333333", plain[] = "3333333333333";
	static const char rare[] = "ab \xf1\x80\x80\x80 cd";

	rag_tokens_init(&a);
	rag_tokens_init(&b);
	cr_assert_eq(rag_tokenize(falcon, ctl, sizeof ctl - 1, 0, &a, &err), RAG_OK);
	cr_assert_eq(rag_tokenize(falcon, plain, sizeof plain - 1, 0, &b, &err), RAG_OK);
	print_ids("falcon, with \\x03", a.ids, a.n);
	cr_expect_eq(a.n, b.n, "the control byte is left out");
	cr_expect(a.n == b.n && memcmp(a.ids, b.ids, a.n * sizeof *a.ids) == 0);
	for (size_t i = 0; i < a.n; i++)
		cr_expect(!rag_token_is_special(falcon, a.ids[i]), "token %zu (%d) is special", i, a.ids[i]);
	cr_assert_eq(rag_tokenizer_special(star, RAG_TOK_UNK), 0);
	cr_assert_eq(rag_tokenize(star, rare, sizeof rare - 1, RAG_TOK_OFFSETS, &a, &err), RAG_OK);
	print_ids("starcoder, with U+40000", a.ids, a.n);
	{
		size_t unk = 0;
		for (size_t i = 0; i < a.n; i++)
			if (a.ids[i] == 0) {
				unk++;
				cr_expect_eq(a.start[i], 3, "the unknown byte's offset");
			}
		cr_expect_eq(unk, 1, "one unknown token for the byte without one");
	}
	rag_tokens_free(&a);
	rag_tokens_free(&b);
	rag_tokenizer_free(falcon);
	rag_tokenizer_free(star);
}

/* Each maximal invalid subpart becomes one U+FFFD; valid text (a literal
 * U+FFFD included) is copied; the result is appended. */
Test(tokenizer, utf8_repair)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "", "" },
		{ "abc", "abc" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },
		{ "a\xef\xbf\xbd" "b", "a\xef\xbf\xbd" "b" },
		{ "a\xff" "b", "a\xef\xbf\xbd" "b" },
		{ "\xe2\x82", "\xef\xbf\xbd" },                 /* truncated: one subpart */
		{ "\xe2\x82x\x82", "\xef\xbf\xbdx\xef\xbf\xbd" },
		{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" }, /* surrogate */
		{ "\xf0\x9f\x98\x80\xc0\xaf", "\xf0\x9f\x98\x80\xef\xbf\xbd\xef\xbf\xbd" },
	};
	struct rag_buf b;

	rag_buf_init(&b);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rag_buf_reset(&b);
		rag_buf_adds(&b, ">");
		rag_utf8_repair(&b, cases[i].in, strlen(cases[i].in));
		cr_assert(!rag_buf_failed(&b));
		cr_expect(b.len == 1 + strlen(cases[i].want) && !memcmp(b.data + 1, cases[i].want, b.len - 1),
			  "case %zu: got '%.*s'", i, (int)b.len, b.data);
	}
	rag_buf_free(&b);
}

Test(tokenizer, invalid_utf8_offsets)
{
	struct rag_tokenizer *t = load("vocab/ggml-vocab-gpt-2.gguf");
	struct rag_tokens tok;
	struct rag_error err;
	static const char in[] = "ab\x80\x80" "cd \xe2\x82";
	size_t n = sizeof in - 1;

	rag_tokens_init(&tok);
	cr_assert_eq(rag_tokenize(t, in, n, RAG_TOK_OFFSETS, &tok, &err), RAG_OK);
	cr_assert_gt(tok.n, 2);
	cr_assert_eq(tok.start[0], 0);
	cr_assert_eq(tok.end[tok.n - 1], n);
	for (size_t k = 1; k < tok.n; k++)
		cr_assert_geq(tok.start[k], tok.start[k - 1]);
	rag_tokens_free(&tok);
	rag_tokenizer_free(t);
}

#include <pthread.h>

struct thr_arg {
	const struct rag_tokenizer *t;
	int ok;
};

static void *thr_main(void *p)
{
	struct thr_arg *a = p;
	struct rag_tokens tok;
	struct rag_error err;
	static const char *texts[] = { "The quick brown fox", "  spaces   and\ttabs\n", "naïve café 東京 🚀", "x" };
	int32_t first[4][64];
	size_t nfirst[4];

	rag_tokens_init(&tok);
	a->ok = 1;
	for (int r = 0; r < 2000; r++) {
		int i = r % 4;
		if (rag_tokenize(a->t, texts[i], strlen(texts[i]), RAG_TOK_ADD_SPECIAL, &tok, &err) || tok.n > 64) {
			a->ok = 0;
			break;
		}
		if (r < 4) {
			memcpy(first[i], tok.ids, tok.n * sizeof *tok.ids);
			nfirst[i] = tok.n;
		} else if (tok.n != nfirst[i] || memcmp(first[i], tok.ids, tok.n * sizeof *tok.ids)) {
			a->ok = 0;
			break;
		}
	}
	rag_tokens_free(&tok);
	return NULL;
}

Test(tokenizer, one_tokenizer_many_threads)
{
	const char *files[] = { "vocab/ggml-vocab-bert-bge.gguf", "vocab/ggml-vocab-gpt-2.gguf", "vocab/ggml-vocab-phi-3.gguf" };
	for (size_t f = 0; f < 3; f++) {
		struct rag_tokenizer *t = load(files[f]);
		pthread_t th[4];
		struct thr_arg a[4];
		for (int i = 0; i < 4; i++) {
			a[i].t = t;
			cr_assert_eq(pthread_create(&th[i], NULL, thr_main, &a[i]), 0);
		}
		for (int i = 0; i < 4; i++) {
			pthread_join(th[i], NULL);
			cr_assert(a[i].ok, "%s: thread %d got different ids", files[f], i);
		}
		rag_tokenizer_free(t);
	}
}

Test(tokenizer, bad_metadata)
{
	struct rag_gguf *g = NULL;
	struct rag_tokenizer *t = NULL;
	struct rag_error err;

	/* a model file's tokenizer loads; a file with no tokenizer is RAG_EMODEL */
	cr_assert_eq(rag_gguf_open(fixture("models/tiny-qwen2-q8_0.gguf"), &g, &err), RAG_OK);
	cr_assert_eq(rag_tokenizer_from_gguf(g, &t, &err), RAG_OK);
	rag_tokenizer_free(t);
	rag_gguf_close(g);
	rag_tokenizer_free(NULL);
}

Test(tokenizer, allocation_failures_are_reported)
{
	struct rag_gguf *g = NULL;
	struct rag_tokenizer *t = NULL;
	struct rag_error err;
	unsigned long n;

	cr_assert_eq(rag_gguf_open(fixture("vocab/ggml-vocab-bert-bge.gguf"), &g, &err), RAG_OK);
	rag_alloc_fail_after(0);
	cr_assert_eq(rag_tokenizer_from_gguf(g, &t, &err), RAG_OK);
	n = rag_alloc_fail_after(0);
	rag_tokenizer_free(t);
	for (unsigned long k = 1; k <= n; k++) {
		t = NULL;
		rag_alloc_fail_after(k);
		int rc = rag_tokenizer_from_gguf(g, &t, &err);
		rag_alloc_fail_after(0);
		cr_assert(rc == RAG_OK || rc == RAG_EINTERNAL, "allocation %lu: rc %d", k, rc);
		if (rc == RAG_OK)
			rag_tokenizer_free(t);
		else
			cr_assert_null(t);
	}
	rag_gguf_close(g);
}

/* ---- pre-tokenizers without a fixture vocabulary: llama3 and qwen2 against
 * Hugging Face's Split of the same regex (tests/data/tokenize/splits.jsonl) ---- */

#include "tok-internal.h"

Test(tokenizer, pre_tokenizer_splits)
{
	struct rag_buf b;
	struct rag_arena a;
	struct rag_error err;
	size_t n = 0, bad = 0;
	static char text[16384];
	static uint32_t bounds[16384];

	rag_buf_init(&b);
	rag_arena_init(&a);
	cr_assert_eq(rag_buf_read_file(&b, testdata("tokenize/splits.jsonl"), &err), RAG_OK);
	for (char *p = b.data, *e; p < b.data + b.len; p = e + 1) {
		struct rag_json *rec;
		size_t hl, tl, nb = 0;
		enum tok_pre pre;
		e = memchr(p, '\n', (size_t)(b.data + b.len - p));
		if (!e)
			e = b.data + b.len;
		if (e == p)
			continue;
		rag_arena_reset(&a);
		cr_assert_eq(rag_json_parse(&a, p, (size_t)(e - p), &rec, &err), RAG_OK);
		const char *name = rag_json_get_str(rec, "pre", NULL);
		if (strcmp(name, "llama3") == 0)
			pre = PRE_LLAMA3;
		else if (strcmp(name, "qwen2") == 0)
			pre = PRE_QWEN2;
		else if (strcmp(name, "gpt2") == 0)
			pre = PRE_GPT2;
		else
			continue;
		const char *hex = rag_json_get_str(rec, "hex", &hl);
		const struct rag_json *want = rag_json_get(rec, "bounds");
		tl = unhex(hex, hl, text);
		cr_assert_eq(tok_bpe_split(pre, text, tl, bounds, 16384, &nb), RAG_OK);
		int same = nb == want->u.arr.n;
		for (size_t k = 0; same && k < nb; k++)
			same = bounds[2 * k] == (uint32_t)want->u.arr.items[k].u.arr.items[0].u.num &&
			       bounds[2 * k + 1] == (uint32_t)want->u.arr.items[k].u.arr.items[1].u.num;
		if (!same) {
			bad++;
			fprintf(stderr, "%s split differs: '%.*s'\n  got:", name, (int)tl, text);
			for (size_t k = 0; k < nb; k++)
				fprintf(stderr, " [%u,%u]", bounds[2 * k], bounds[2 * k + 1]);
			fprintf(stderr, "\n");
		}
		n++;
	}
	cr_assert_gt(n, 200);
	cr_expect_eq(bad, 0, "%zu of %zu splits differ", bad, n);
	rag_arena_free(&a);
	rag_buf_free(&b);
}

/* ---- hand-built GGUF files: metadata errors and ignore_merges ---- */

static void put(struct rag_buf *b, const void *p, size_t n) { rag_buf_add(b, p, n); }
static void put_u32(struct rag_buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(struct rag_buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(struct rag_buf *b, const char *s) { put_u64(b, strlen(s)); put(b, s, strlen(s)); }
static void kv_str(struct rag_buf *b, const char *k, const char *v) { put_str(b, k); put_u32(b, 8); put_str(b, v); }
static void kv_strs(struct rag_buf *b, const char *k, const char *const *v, size_t n)
{
	put_str(b, k);
	put_u32(b, 9);
	put_u32(b, 8);
	put_u64(b, n);
	for (size_t i = 0; i < n; i++)
		put_str(b, v[i]);
}
static void kv_i32s(struct rag_buf *b, const char *k, const int32_t *v, size_t n)
{
	put_str(b, k);
	put_u32(b, 9);
	put_u32(b, 5);
	put_u64(b, n);
	put(b, v, n * 4);
}

/* A GGUF holding only tokenizer metadata; NULL model/pre/merges leave them out. */
static int build_tok(const char *model, const char *pre, const char *const *toks, size_t nt,
		     const int32_t *types, size_t ntypes, const char *const *merges, size_t nm,
		     struct rag_tokenizer **t, struct rag_error *err)
{
	struct rag_buf b;
	struct rag_gguf *g = NULL;
	uint64_t nkv = (model != NULL) + (pre != NULL) + (toks != NULL) + (types != NULL) + (merges != NULL);
	int rc;

	rag_buf_init(&b);
	put(&b, "GGUF", 4);
	put_u32(&b, 3);
	put_u64(&b, 0);
	put_u64(&b, nkv);
	if (model)
		kv_str(&b, "tokenizer.ggml.model", model);
	if (pre)
		kv_str(&b, "tokenizer.ggml.pre", pre);
	if (toks)
		kv_strs(&b, "tokenizer.ggml.tokens", toks, nt);
	if (types)
		kv_i32s(&b, "tokenizer.ggml.token_type", types, ntypes);
	if (merges)
		kv_strs(&b, "tokenizer.ggml.merges", merges, nm);
	*t = NULL;
	rc = rag_gguf_open_mem(b.data, b.len, "mem.gguf", &g, err);
	cr_assert_eq(rc, RAG_OK, "%s", err->msg);
	rc = rag_tokenizer_from_gguf(g, t, err);
	rag_gguf_close(g);
	rag_buf_free(&b);
	return rc;
}

Test(tokenizer, metadata_errors_and_ignore_merges)
{
	static const char *const toks[] = { "a", "b", "c", "ab", "abc" };
	static const char *const merges[] = { "a b" };
	static const int32_t types[] = { 1, 1, 1, 1, 1 };
	struct rag_tokenizer *t;
	struct rag_error err;
	struct rag_tokens tok;

	rag_tokens_init(&tok);
	cr_assert_eq(build_tok("rwkv", NULL, toks, 5, NULL, 0, NULL, 0, &t, &err), RAG_EMODEL);
	cr_assert(strstr(err.msg, "'rwkv'"), "%s", err.msg);
	cr_assert_null(t);
	cr_assert_eq(build_tok("gpt2", "no-such-pre", toks, 5, NULL, 0, merges, 1, &t, &err), RAG_EMODEL);
	cr_assert(strstr(err.msg, "'no-such-pre'"), "%s", err.msg);
	cr_assert_eq(build_tok(NULL, NULL, toks, 5, NULL, 0, NULL, 0, &t, &err), RAG_EMODEL);
	cr_assert_eq(build_tok("gpt2", "gpt-2", NULL, 0, NULL, 0, merges, 1, &t, &err), RAG_EMODEL);
	cr_assert_eq(build_tok("gpt2", "gpt-2", toks, 5, types, 4, merges, 1, &t, &err), RAG_EMODEL);
	cr_assert_eq(build_tok("gpt2", "gpt-2", toks, 5, NULL, 0, NULL, 0, &t, &err), RAG_EMODEL);
	cr_assert_eq(build_tok("bert", NULL, toks, 5, NULL, 0, NULL, 0, &t, &err), RAG_EMODEL);
	cr_assert_eq(build_tok("llama", NULL, toks, 5, NULL, 0, NULL, 0, &t, &err), RAG_EMODEL);

	/* gpt-2 merges its way: "ab" "c"; llama3 takes a word found whole */
	cr_assert_eq(build_tok("gpt2", "gpt-2", toks, 5, types, 5, merges, 1, &t, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_tokenize(t, "abc", 3, 0, &tok, &err), RAG_OK);
	cr_assert_eq(tok.n, 2);
	cr_assert_eq(tok.ids[0], 3);
	cr_assert_eq(tok.ids[1], 2);
	rag_tokenizer_free(t);
	cr_assert_eq(build_tok("gpt2", "llama-bpe", toks, 5, types, 5, merges, 1, &t, &err), RAG_OK, "%s", err.msg);
	cr_assert_str_eq(rag_tokenizer_pre(t), "llama-bpe");
	cr_assert_eq(rag_tokenize(t, "abc", 3, 0, &tok, &err), RAG_OK);
	cr_assert_eq(tok.n, 1);
	cr_assert_eq(tok.ids[0], 4);
	rag_tokenizer_free(t);
	rag_tokens_free(&tok);
}

/* ---- Unigram against Hugging Face (tests/data/tokenize/unigram-*.{json,jsonl}) ---- */

static void kv_f32s(struct rag_buf *b, const char *k, const float *v, size_t n)
{
	put_str(b, k);
	put_u32(b, 9);
	put_u32(b, 6);
	put_u64(b, n);
	put(b, v, n * 4);
}

static void kv_u32(struct rag_buf *b, const char *k, uint32_t v)
{
	put_str(b, k);
	put_u32(b, 4);
	put_u32(b, v);
}

Test(tokenizer, unigram_matches_hugging_face)
{
	struct rag_buf vb, cb, g;
	struct rag_arena a;
	struct rag_json *root;
	struct rag_error err;
	struct rag_gguf *gg;
	struct rag_tokenizer *t;
	struct rag_tokens tok;
	const char **toks;
	float *scores;
	int32_t *types;
	size_t n, ncase = 0, bad = 0;
	static char text[65536];

	rag_buf_init(&vb);
	rag_buf_init(&cb);
	rag_buf_init(&g);
	rag_arena_init(&a);
	rag_tokens_init(&tok);
	cr_assert_eq(rag_buf_read_file(&vb, testdata("tokenize/unigram-vocab.json"), &err), RAG_OK);
	cr_assert_eq(rag_json_parse(&a, vb.data, vb.len, &root, &err), RAG_OK);
	const struct rag_json *pieces = rag_json_get(root, "pieces");
	n = pieces->u.arr.n;
	toks = calloc(n, sizeof *toks);
	scores = calloc(n, sizeof *scores);
	types = calloc(n, sizeof *types);
	for (size_t i = 0; i < n; i++) {
		toks[i] = pieces->u.arr.items[i].u.arr.items[0].u.str.s;
		scores[i] = (float)pieces->u.arr.items[i].u.arr.items[1].u.num;
		types[i] = i < 2 ? 3 : i == 2 ? 2 : 1;
	}
	put(&g, "GGUF", 4);
	put_u32(&g, 3);
	put_u64(&g, 0);
	put_u64(&g, 6);
	kv_str(&g, "tokenizer.ggml.model", "t5");
	kv_strs(&g, "tokenizer.ggml.tokens", toks, n);
	kv_f32s(&g, "tokenizer.ggml.scores", scores, n);
	kv_i32s(&g, "tokenizer.ggml.token_type", types, n);
	kv_u32(&g, "tokenizer.ggml.unknown_token_id", 2);
	kv_u32(&g, "tokenizer.ggml.eos_token_id", 1);
	cr_assert_eq(rag_gguf_open_mem(g.data, g.len, "t5.gguf", &gg, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_tokenizer_from_gguf(gg, &t, &err), RAG_OK, "%s", err.msg);
	cr_assert_str_eq(rag_tokenizer_model(t), "t5");

	cr_assert_eq(rag_buf_read_file(&cb, testdata("tokenize/unigram-cases.jsonl"), &err), RAG_OK);
	for (char *p = cb.data, *e; p < cb.data + cb.len; p = e + 1) {
		struct rag_json *rec;
		size_t hl, tl;
		e = memchr(p, '\n', (size_t)(cb.data + cb.len - p));
		if (!e)
			e = cb.data + cb.len;
		if (e == p)
			continue;
		cr_assert_eq(rag_json_parse(&a, p, (size_t)(e - p), &rec, &err), RAG_OK);
		const char *hex = rag_json_get_str(rec, "hex", &hl);
		cr_assert(hl / 2 < sizeof text);
		tl = unhex(hex, hl, text);
		cr_assert_eq(rag_tokenize(t, text, tl, RAG_TOK_OFFSETS, &tok, &err), RAG_OK);
		if (!same_ids(&tok, rag_json_get(rec, "ids"))) {
			bad++;
			fprintf(stderr, "unigram case differs: '%.60s'\n", text);
			print_ids("got", tok.ids, tok.n < 40 ? tok.n : 40);
		}
		for (size_t k = 0; k < tok.n; k++)
			cr_assert(tok.start[k] <= tok.end[k] && tok.end[k] <= tl);
		ncase++;
	}
	cr_assert_gt(ncase, 30);
	cr_expect_eq(bad, 0, "%zu of %zu Unigram cases differ", bad, ncase);
	/* </s> added at the end; decoding gives the text back */
	cr_assert_eq(rag_tokenize(t, "the cells", 9, RAG_TOK_ADD_SPECIAL, &tok, &err), RAG_OK);
	cr_assert_eq(tok.ids[tok.n - 1], 1);
	rag_buf_reset(&g);
	cr_assert_eq(rag_detokenize(t, tok.ids, tok.n, 1, &g, &err), RAG_OK);
	cr_assert_eq(g.len, 9);
	cr_assert(memcmp(g.data, "the cells", 9) == 0, "%.*s", (int)g.len, g.data);
	rag_tokenizer_free(t);
	rag_gguf_close(gg);
	free(toks);
	free(scores);
	free(types);
	rag_tokens_free(&tok);
	rag_arena_free(&a);
	rag_buf_free(&vb);
	rag_buf_free(&cb);
	rag_buf_free(&g);
}

/* Random bytes (mostly invalid UTF-8, control characters, long runs) never crash any
 * tokenizer, and offsets stay inside the input. */
Test(tokenizer, random_bytes_never_crash)
{
	static const char *const names[] = { "bert-bge", "gpt-2", "llama-spm", "phi-3", "deepseek-coder",
					     "deepseek-llm", "falcon", "mpt", "refact", "starcoder" };
	static char buf[2048];
	unsigned seed = 12345;
	struct rag_tokens tok;
	struct rag_buf dec;
	struct rag_error err;

	rag_tokens_init(&tok);
	rag_buf_init(&dec);
	for (size_t v = 0; v < sizeof names / sizeof names[0]; v++) {
		char rel[128];
		snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", names[v]);
		struct rag_tokenizer *t = load(rel);
		for (int it = 0; it < 60; it++) {
			size_t n = (seed = seed * 1103515245u + 12345u) % sizeof buf;
			int mode = it % 4;
			for (size_t i = 0; i < n; i++) {
				seed = seed * 1103515245u + 12345u;
				unsigned r = seed >> 16;
				buf[i] = mode == 0 ? (char)r : mode == 1 ? " \t\n\xe2\x96\x81" "a1!"[r % 10]
					: mode == 2 ? (char)(0x80 | (r & 0x3f)) : (char)("ab\xc3\xa9" " "[r % 5]);
			}
			cr_assert_eq(rag_tokenize(t, buf, n, RAG_TOK_ADD_SPECIAL | RAG_TOK_PARSE_SPECIAL, &tok, &err),
				     RAG_OK, "%s: %s", names[v], err.msg);
			for (size_t k = 0; k < tok.n; k++) {
				cr_assert(tok.start[k] <= tok.end[k] && tok.end[k] <= n, "%s: offsets", names[v]);
				cr_assert(tok.ids[k] >= 0 && (size_t)tok.ids[k] < rag_tokenizer_vocab_size(t), "%s: id %d at %zu (mode %d)", names[v], tok.ids[k], k, mode);
			}
			rag_buf_reset(&dec);
			cr_assert_eq(rag_detokenize(t, tok.ids, tok.n, it & 1, &dec, &err), RAG_OK);
		}
		rag_tokenizer_free(t);
	}
	rag_tokens_free(&tok);
	rag_buf_free(&dec);
}

/* Older GGUFs keep WordPiece's own "##" form instead of llama.cpp's "\u2581word". */
Test(tokenizer, wordpiece_hash_form_vocabulary)
{
	static const char *const toks[] = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "walk", "##ing", "hello", "!" };
	static const int32_t types[] = { 3, 2, 3, 3, 1, 1, 1, 1 };
	struct rag_buf g, dec;
	struct rag_gguf *gg;
	struct rag_tokenizer *t;
	struct rag_tokens tok;
	struct rag_error err;

	rag_buf_init(&g);
	rag_buf_init(&dec);
	rag_tokens_init(&tok);
	put(&g, "GGUF", 4);
	put_u32(&g, 3);
	put_u64(&g, 0);
	put_u64(&g, 6);
	kv_str(&g, "tokenizer.ggml.model", "bert");
	kv_strs(&g, "tokenizer.ggml.tokens", toks, 8);
	kv_i32s(&g, "tokenizer.ggml.token_type", types, 8);
	kv_u32(&g, "tokenizer.ggml.unknown_token_id", 1);
	kv_u32(&g, "tokenizer.ggml.cls_token_id", 2);
	kv_u32(&g, "tokenizer.ggml.seperator_token_id", 3);
	cr_assert_eq(rag_gguf_open_mem(g.data, g.len, "wp.gguf", &gg, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_tokenizer_from_gguf(gg, &t, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_tokenize(t, "Walking HELLO! walks", 20, RAG_TOK_ADD_SPECIAL, &tok, &err), RAG_OK);
	cr_assert_eq(tok.n, 7);
	cr_assert_eq(tok.ids[0], 2);
	cr_assert_eq(tok.ids[1], 4);
	cr_assert_eq(tok.ids[2], 5);
	cr_assert_eq(tok.ids[3], 6);
	cr_assert_eq(tok.ids[4], 7);
	cr_assert_eq(tok.ids[5], 1);  /* "walks": no "##s" piece, so the whole word is [UNK] */
	cr_assert_eq(tok.ids[6], 3);
	cr_assert_eq(rag_detokenize(t, tok.ids, tok.n, 1, &dec, &err), RAG_OK);
	cr_assert_eq(dec.len, 14);
	cr_assert(memcmp(dec.data, "walking hello!", 14) == 0, "%.*s", (int)dec.len, dec.data);
	rag_tokenizer_free(t);
	rag_gguf_close(gg);
	rag_tokens_free(&tok);
	rag_buf_free(&g);
	rag_buf_free(&dec);
}
