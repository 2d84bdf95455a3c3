/* tokenize-fuzz.c: libFuzzer harness for the tokenizers (see fuzz/README).
 * Every text a user pipes in reaches rag_tokenize: any bytes must tokenize
 * without an error, into ids of the vocabulary, with offsets inside the text.
 * Where the model's decoding gives the text back, it must:
 *   - byte-level BPE (gpt2 family): the decoded bytes are the input, for any
 *     input that is valid UTF-8 (invalid bytes become U+FFFD first) whose
 *     characters the vocabulary has, each alone (chars_covered);
 *   - SentencePiece (llama family): the same, for valid UTF-8 without the
 *     characters its normalization rewrites (NUL and the U+2581 it uses
 *     for spaces), and without a leading space (the decoder drops the
 *     dummy prefix's space; a leading space of the text goes with it),
 *     without an added token in the text (has_added), and again only for
 *     characters the vocabulary has;
 *   - WordPiece: it lowercases and splits, so instead the decoded text must
 *     tokenize to the same ids (when no [UNK] came out).
 * The first input byte picks the vocabulary and the flags; the rest is the
 * text.  The vocabularies are tests/data/fixtures/vocab/ggml-vocab-*.gguf
 * (RAG_FUZZ_VOCAB names the directory; scripts/fuzz sets it). */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "gguf.h"
#include "tok-internal.h"
#include "tokenizer.h"
#include "unicode.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_TOK 16

static struct rag_tokenizer *tok[MAX_TOK];
static char tok_name[MAX_TOK][64];
static int n_tok;

static void fail(const char *what, int which, const uint8_t *text, size_t len)
{
	fprintf(stderr, "tokenize-fuzz: %s: %s, %zu bytes of text\n", tok_name[which], what, len);
	for (size_t i = 0; i < len && i < 256; i++)
		fprintf(stderr, "%02x", text[i]);
	fputc('\n', stderr);
	__builtin_trap();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("RAG_FUZZ_VOCAB");
	struct dirent **ents;
	int n;

	(void)argc;
	(void)argv;
	if (!dir)
		dir = "tests/data/fixtures/vocab";
	if ((n = scandir(dir, &ents, NULL, alphasort)) < 0) {
		fprintf(stderr, "tokenize-fuzz: cannot read '%s' (set RAG_FUZZ_VOCAB)\n", dir);
		exit(2);
	}
	for (int i = 0; i < n; i++) {
		const char *e = ents[i]->d_name;
		size_t len = strlen(e);
		char path[4096];
		struct rag_gguf *g;
		struct rag_error err;
		if (n_tok < MAX_TOK && len > 5 && strcmp(e + len - 5, ".gguf") == 0 &&
		    (size_t)snprintf(path, sizeof path, "%s/%s", dir, e) < sizeof path) {
			if (rag_gguf_open(path, &g, &err) || rag_tokenizer_from_gguf(g, &tok[n_tok], &err)) {
				fprintf(stderr, "tokenize-fuzz: %s: %s\n", path, err.msg);
				exit(2);
			}
			rag_gguf_close(g);
			snprintf(tok_name[n_tok], sizeof tok_name[0], "%s", e);
			n_tok++;
		}
		free(ents[i]);
	}
	free(ents);
	if (!n_tok) {
		fprintf(stderr, "tokenize-fuzz: no .gguf vocabulary in '%s'\n", dir);
		exit(2);
	}
	return 0;
}

/* Does each character of the valid UTF-8 text s come back alone?  A
 * vocabulary may lack a byte (Falcon's lacks most control characters): such a
 * byte is the unknown token or left out, and the text cannot come back. */
static int chars_covered(const struct rag_tokenizer *t, const char *s, size_t n)
{
	struct rag_tokens tk;
	struct rag_buf d;
	struct rag_error err;
	int ok = 1;

	rag_tokens_init(&tk);
	rag_buf_init(&d);
	for (size_t i = 0, cl; ok && i < n; i += cl) {
		(void)rag_utf8_decode((const unsigned char *)s + i, n - i, &cl);
		rag_buf_reset(&d);
		ok = rag_tokenize(t, s + i, cl, 0, &tk, &err) == RAG_OK &&
		     rag_detokenize(t, tk.ids, tk.n, 1, &d, &err) == RAG_OK && d.len == cl && memcmp(d.data, s + i, cl) == 0;
	}
	rag_tokens_free(&tk);
	rag_buf_free(&d);
	return ok;
}

/* Did the text match an added (user-defined) or control token?  SentencePiece
 * starts the text after one with the dummy prefix again, as llama.cpp and
 * Hugging Face's legacy Llama tokenizer do, so a space comes back there. */
static int has_added(const struct rag_tokenizer *t, const struct rag_tokens *tk)
{
	for (size_t i = 0; i < tk->n; i++)
		if (t->ttype[tk->ids[i]] == TT_USER_DEFINED || t->ttype[tk->ids[i]] == TT_CONTROL)
			return 1;
	return 0;
}

/* Does the valid UTF-8 text s hold NUL or U+2581? */
static int spm_rewrites(const char *s, size_t n)
{
	return memchr(s, 0, n) != NULL || memmem(s, n, "\xe2\x96\x81", 3) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rag_tokens t, t2;
	struct rag_buf dec;
	struct rag_error err;
	const char *text = (const char *)data + 1;
	size_t len = size ? size - 1 : 0, vocab;
	unsigned flags;
	int which, valid, unk = 0;
	const char *model;

	if (size == 0)
		return 0;
	which = data[0] % n_tok;
	flags = (data[0] / n_tok) % 4 == 1 ? RAG_TOK_ADD_SPECIAL : 0;
	flags |= RAG_TOK_OFFSETS;
	model = rag_tokenizer_model(tok[which]);
	vocab = rag_tokenizer_vocab_size(tok[which]);
	rag_tokens_init(&t);
	rag_tokens_init(&t2);
	rag_buf_init(&dec);
	if (rag_tokenize(tok[which], text, len, flags, &t, &err))
		fail(err.msg, which, data + 1, len);
	for (size_t i = 0; i < t.n; i++) {
		if (t.ids[i] < 0 || (size_t)t.ids[i] >= vocab)
			fail("id outside the vocabulary", which, data + 1, len);
		if (t.start[i] > t.end[i] || t.end[i] > len)
			fail("offsets outside the text", which, data + 1, len);
		unk |= t.ids[i] == rag_tokenizer_special(tok[which], RAG_TOK_UNK);
	}
	valid = rag_utf8_valid_prefix(text, len) == len;
	if (!(flags & RAG_TOK_ADD_SPECIAL) && valid) {
		if (rag_detokenize(tok[which], t.ids, t.n, 1, &dec, &err))
			fail(err.msg, which, data + 1, len);
		if ((strcmp(model, "gpt2") == 0 ||
		     (strcmp(model, "llama") == 0 && !spm_rewrites(text, len) && !(len && text[0] == ' ') &&
		      !has_added(tok[which], &t))) &&
		    chars_covered(tok[which], text, len)) {
			if (dec.len != len || (len && memcmp(dec.data, text, len) != 0))
				fail("decoding does not give the text back", which, data + 1, len);
		} else if (strcmp(model, "bert") == 0 && !unk) {
			if (rag_tokenize(tok[which], dec.len ? dec.data : "", dec.len, 0, &t2, &err))
				fail(err.msg, which, data + 1, len);
			if (t2.n != t.n || (t.n && memcmp(t2.ids, t.ids, t.n * sizeof *t.ids) != 0))
				fail("the decoded text tokenizes differently", which, data + 1, len);
		}
	}
	rag_buf_free(&dec);
	rag_tokens_free(&t);
	rag_tokens_free(&t2);
	return 0;
}
