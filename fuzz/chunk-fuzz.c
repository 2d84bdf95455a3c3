/* chunk-fuzz.c: libFuzzer harness for the document parsers and the chunker
 * (see fuzz/README).  rag-chunk reads whatever files it is given: any bytes,
 * as text, Markdown or HTML, must parse into valid UTF-8 with a consistent
 * structure, and split into chunks that keep every rule chunker.h states:
 *   - a chunk never starts or ends with white space, nor inside a UTF-8
 *     sequence, and every byte that is not white space lies in some chunk;
 *   - each measures at most the cap, and its size is its measure;
 *   - each chunk after the first of a section starts inside the one before
 *     and after its start, and overlaps it by at least the overlap, or the
 *     chunker counts it in short_overlaps (a cap too small for the white
 *     space between two words can leave no room for both; real caps do not
 *     meet that, and the unit tests require 0 there);
 *   - source offsets stay in the source and follow the text's order.
 * The first input byte picks the format, the unit and the cap; the rest is
 * the document.  Token chunks use the bert-bge WordPiece vocabulary from
 * RAG_FUZZ_VOCAB (scripts/fuzz sets it). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "chunker.h"
#include "gguf.h"
#include "hash.h"
#include "textformat.h"
#include "tokenizer.h"
#include "unicode.h"

#include "check.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rag_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("RAG_FUZZ_VOCAB");
	char path[4096];
	struct rag_gguf *g;
	struct rag_error err;

	(void)argc;
	(void)argv;
	snprintf(path, sizeof path, "%s/ggml-vocab-bert-bge.gguf", dir ? dir : "tests/data/fixtures/vocab");
	if (rag_gguf_open(path, &g, &err) || rag_tokenizer_from_gguf(g, &tok, &err)) {
		fprintf(stderr, "chunk-fuzz: %s: %s (set RAG_FUZZ_VOCAB)\n", path, err.msg);
		exit(2);
	}
	rag_gguf_close(g);
	return 0;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The parsed document's own structure. */
static void check_doc(const struct rag_textdoc *d, size_t src_len)
{
	size_t prev = 0;

	CHECK(rag_utf8_valid_prefix(d->text, d->len) == d->len, "the text is not valid UTF-8");
	CHECK(d->n_sections >= 1 && d->sections[0].start == 0, "no first section at 0");
	for (size_t i = 1; i < d->n_sections; i++)
		CHECK(d->sections[i].start >= d->sections[i - 1].start && d->sections[i].start <= d->len,
		      "sections out of order");
	for (size_t i = 0; i < d->n_marks; i++)
		CHECK(d->marks[i].pos <= d->len && (i == 0 || d->marks[i].pos >= d->marks[i - 1].pos),
		      "marks out of order");
	for (size_t i = 0; i < d->n_atoms; i++)
		CHECK(d->atoms[i].start < d->atoms[i].end && d->atoms[i].end <= d->len &&
			      (i == 0 || d->atoms[i].start >= d->atoms[i - 1].end),
		      "atoms not sorted and disjoint");
	for (size_t t = 0; t <= d->len; t++) {
		size_t s = rag_textdoc_src_start(d, t), e = rag_textdoc_src_end(d, t);
		CHECK(s <= src_len && e <= src_len, "a source offset outside the source");
		CHECK(s >= prev, "source offsets out of order");
		prev = s;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum rag_textformat fmts[3] = { RAG_FMT_TEXT, RAG_FMT_MARKDOWN, RAG_FMT_HTML };
	static const size_t caps[4][2] = { { 8, 2 }, { 16, 4 }, { 40, 10 }, { 128, 0 } };
	struct rag_chunk_opts o;
	struct rag_textdoc d;
	struct rag_chunk_list l;
	struct rag_error err;
	const char *src = (const char *)data + 1;
	size_t len = size ? size - 1 : 0, short_pairs = 0;
	unsigned char *cov;

	if (size == 0)
		return 0;
	memset(&o, 0, sizeof o);
	o.unit = (enum rag_chunk_unit)(data[0] / 3 % 3);
	o.max = caps[data[0] / 9 % 4][0];
	o.overlap = caps[data[0] / 9 % 4][1];
	o.tok = tok;
	if (o.unit == RAG_CHUNK_TOKENS)
		o.max += 2;   /* room for [CLS] and [SEP] */
	if (rag_chunk_opts_check(&o, &err))
		return 0;
	memset(&d, 0, sizeof d);
	CHECK(rag_textdoc_parse(&d, fmts[data[0] % 3], src, len, &err) == RAG_OK, err.msg);
	check_doc(&d, len);
	rag_chunk_list_init(&l);
	CHECK(rag_chunk_split(&o, &d, &l, &err) == RAG_OK, err.msg);
	CHECK((cov = rag_calloc(d.len + 1, 1)) != NULL, "out of memory");
	for (size_t i = 0; i < l.n; i++) {
		const struct rag_chunk *c = &l.v[i];
		const char *t = d.text + c->start;
		size_t n = c->end - c->start, m;
		CHECK(c->start < c->end && c->end <= d.len, "an empty chunk or one outside the text");
		CHECK(!is_ws(t[0]) && !is_ws(t[n - 1]), "a chunk with white space at an edge");
		CHECK((t[0] & 0xC0) != 0x80 && (c->end == d.len || (d.text[c->end] & 0xC0) != 0x80),
		      "a chunk cuts a UTF-8 sequence");
		CHECK(rag_chunk_measure(&o, t, n, &m, &err) == RAG_OK, err.msg);
		CHECK(m <= o.max, "a chunk over the cap");
		CHECK(m == c->size, "a chunk's size is not its measure");
		CHECK(c->hash == rag_fnv1a64(t, n), "a chunk's hash");
		CHECK(c->src_start <= c->src_end && c->src_end <= len, "a chunk's source span");
		CHECK(c->section < d.n_sections && c->start >= d.sections[c->section].start, "a chunk's section");
		if (i > 0 && l.v[i - 1].section == c->section && o.overlap) {
			const struct rag_chunk *p = &l.v[i - 1];
			size_t ov = 0;
			CHECK(c->start > p->start && c->end > p->end, "chunks out of order");
			if (c->start < p->end) {
				CHECK(rag_chunk_measure(&o, d.text + c->start, p->end - c->start, &ov, &err) == RAG_OK,
				      err.msg);
				/* the overlap counts text units: in tokens, without the special tokens */
				if (o.unit == RAG_CHUNK_TOKENS)
					ov -= (size_t)rag_tokenizer_n_added(tok, 0);
			}
			short_pairs += ov < o.overlap;
		} else if (i > 0) {
			CHECK(c->start >= l.v[i - 1].end || !o.overlap, "chunks overlap across sections");
		}
		memset(cov + c->start, 1, n);
	}
	CHECK(short_pairs <= l.short_overlaps, "an overlap below the minimum that short_overlaps does not count");
	for (size_t j = 0; j < d.len; j++)
		CHECK(cov[j] || is_ws(d.text[j]) || (j < 3 && d.len >= 3 && memcmp(d.text, "\xEF\xBB\xBF", 3) == 0),
		      "a byte in no chunk");
	rag_free(cov);
	rag_chunk_list_free(&l);
	rag_textdoc_release(&d);
	return 0;
}
