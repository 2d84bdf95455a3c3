/* test-chunk.c: FNV-1a, format parsing (Markdown structure, HTML extraction and its
 * offset map, invalid UTF-8), and the chunker's invariants in model tokens on real
 * and adversarial documents, re-tokenizing every chunk on its own. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "chunker.h"
#include "gguf.h"
#include "hash.h"
#include "jsonl.h"
#include "testutil.h"
#include "textformat.h"
#include "tokenizer.h"

/* ---- hash ---------------------------------------------------------------------- */

Test(chunk, fnv1a64_known_vectors)
{
	char hex[17];

	cr_assert_eq(rag_fnv1a64("", 0), UINT64_C(0xcbf29ce484222325));
	cr_assert_eq(rag_fnv1a64("a", 1), UINT64_C(0xaf63dc4c8601ec8c));
	cr_assert_eq(rag_fnv1a64("foobar", 6), UINT64_C(0x85944171f73967e8));
	rag_hash_hex(UINT64_C(0x00ab), hex);
	cr_assert_str_eq(hex, "00000000000000ab");
}

/* ---- formats -------------------------------------------------------------------- */

Test(chunk, detect_formats)
{
	cr_assert_eq(rag_textformat_detect("a.md", "", 0), RAG_FMT_MARKDOWN);
	cr_assert_eq(rag_textformat_detect("a.HTM", "", 0), RAG_FMT_HTML);
	cr_assert_eq(rag_textformat_detect("a.jsonl", "", 0), RAG_FMT_JSONL);
	cr_assert_eq(rag_textformat_detect(NULL, "  <!DOCTYPE html><p>x", 21), RAG_FMT_HTML);
	cr_assert_eq(rag_textformat_detect(NULL, "{\"text\":\"x\"}\n{", 14), RAG_FMT_JSONL);
	cr_assert_eq(rag_textformat_detect(NULL, "{not json", 9), RAG_FMT_TEXT);
	cr_assert_eq(rag_textformat_detect(NULL, "intro\n# Head\n", 13), RAG_FMT_MARKDOWN);
	cr_assert_eq(rag_textformat_detect("x.1", ".TH X 1\n", 8), RAG_FMT_TEXT);
}

Test(chunk, markdown_structure)
{
	static const char md[] =
		"Preface.\n\n# Install\n\ntext\n\n## Debian\n\n```sh\n# not a heading\n```\n\n"
		"| a | b |\n|---|---|\n| 1 | 2 |\n\n- item\n\nFedora\n------\n\n### Deep ###\n";
	struct rag_textdoc d;

	cr_assert_eq(rag_textdoc_parse(&d, RAG_FMT_MARKDOWN, md, strlen(md), NULL), RAG_OK);
	cr_assert_null(d.runs);
	cr_assert_eq(d.n_sections, 5);
	cr_assert_str_eq(d.sections[0].heading, "");
	cr_assert_str_eq(d.sections[1].heading, "Install");
	cr_assert_str_eq(d.sections[2].heading, "Install > Debian");
	cr_assert_str_eq(d.sections[3].heading, "Install > Fedora");
	cr_assert_str_eq(d.sections[4].heading, "Install > Fedora > Deep");
	cr_assert_eq(strncmp(md + d.sections[3].start, "Fedora\n---", 10), 0);
	/* the code block, the three table rows */
	cr_assert_eq(d.n_atoms, 4);
	cr_assert_eq(strncmp(md + d.atoms[0].start, "```sh", 5), 0);
	cr_assert_eq(strncmp(md + d.atoms[0].end - 3, "```", 3), 0);
	cr_assert_eq(d.atoms[1].end - d.atoms[1].start, strlen("| a | b |"));
	rag_textdoc_release(&d);
}

Test(chunk, html_extraction_and_offsets)
{
	static const char html[] =
		"<html><head><title>T &amp; U</title><style>p{}</style></head><body>"
		"<h1>Top</h1><p>A&amp;B  <b>bold</b>\n text&#8212;end&unknown;</p>"
		"<script>if (a < b) x = '</p>';</script><!-- c -->"
		"<h2>Sub</h2><ul><li>one</li><li>two</li></ul><pre>  x\n  y</pre>"
		"<table><tr><td>c1</td><td>c2</td></tr></table>\xff</body></html>";
	struct rag_textdoc d;
	const char *want = "Top\n\nA&B bold text\xe2\x80\x94" "end&unknown;\n\nSub\n\none\ntwo\n\n  x\n  y\n\nc1 c2\n\n\xef\xbf\xbd";
	size_t i;

	cr_assert_eq(rag_textdoc_parse(&d, RAG_FMT_HTML, html, strlen(html), NULL), RAG_OK);
	cr_assert_eq(d.len, strlen(want), "%.*s", (int)d.len, d.text);
	cr_assert_eq(memcmp(d.text, want, d.len), 0, "%.*s", (int)d.len, d.text);
	cr_assert_str_eq(d.title, "T & U");
	cr_assert_eq(d.n_sections, 2);  /* the h1 at text offset 0 names the first section */
	cr_assert_str_eq(d.sections[0].heading, "Top");
	cr_assert_str_eq(d.sections[1].heading, "Top > Sub");
	cr_assert_eq(d.n_invalid, 1);
	/* Every copied text byte maps to the same byte of the HTML; entities map to their markup. */
	for (i = 0; i < d.len; i++) {
		size_t s = rag_textdoc_src_start(&d, i), e = rag_textdoc_src_end(&d, i + 1);
		cr_assert(s <= e && e <= d.src_len);
		if (d.text[i] == '&' && html[s] == '&') {
			cr_assert(e - s == 5 || e - s == 1);
		} else if ((unsigned char)d.text[i] < 0x80 && d.text[i] != ' ' && d.text[i] != '\n') {
			cr_assert_eq(html[s], d.text[i], "text byte %zu", i);
			cr_assert_eq(e, s + 1);
		}
	}
	/* "bold": its source is inside <b>...</b> */
	{
		const char *b = strstr(d.text, "bold");
		size_t s = rag_textdoc_src_start(&d, (size_t)(b - d.text));
		size_t e = rag_textdoc_src_end(&d, (size_t)(b - d.text) + 4);
		cr_assert_eq(memcmp(html + s, "bold", 4), 0);
		cr_assert_eq(e - s, 4);
	}
	/* the em dash came from "&#8212;" */
	{
		const char *m = strstr(d.text, "\xe2\x80\x94");
		size_t s = rag_textdoc_src_start(&d, (size_t)(m - d.text));
		size_t e = rag_textdoc_src_end(&d, (size_t)(m - d.text) + 3);
		cr_assert_eq(e - s, 7);
		cr_assert_eq(memcmp(html + s, "&#8212;", 7), 0);
	}
	rag_textdoc_release(&d);
}

Test(chunk, invalid_utf8_replaced_offsets_kept)
{
	static const char src[] = "ab\xff\xfe" "c\xe2\x82" "d\xf0\x9f\x98\x80";
	struct rag_textdoc d;

	cr_assert_eq(rag_textdoc_parse(&d, RAG_FMT_TEXT, src, strlen(src), NULL), RAG_OK);
	cr_assert_eq(d.n_invalid, 3);
	cr_assert_eq(d.len, strlen("ab\xef\xbf\xbd\xef\xbf\xbd" "c\xef\xbf\xbd" "d\xf0\x9f\x98\x80"));
	cr_assert_eq(rag_textdoc_src_start(&d, 2), 2);
	cr_assert_eq(rag_textdoc_src_end(&d, 5), 3);
	cr_assert_eq(rag_textdoc_src_start(&d, 8), 4);   /* c */
	cr_assert_eq(rag_textdoc_src_end(&d, 12), 7);    /* after \xe2\x82 */
	cr_assert_eq(rag_textdoc_src_end(&d, d.len), strlen(src));
	rag_textdoc_release(&d);
}

/* ---- chunker invariants in tokens ------------------------------------------------- */

struct stats {
	size_t docs, chunks, overlaps;
};

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Count tokens of t[0..n) on its own (no special tokens). */
static size_t ntok(const struct rag_tokenizer *tok, const char *t, size_t n)
{
	struct rag_tokens tk;
	struct rag_error err;
	size_t k;

	rag_tokens_init(&tk);
	cr_assert_eq(rag_tokenize(tok, t, n, 0, &tk, &err), RAG_OK, "%s", err.msg);
	k = tk.n;
	rag_tokens_free(&tk);
	return k;
}

/* Split doc and check every invariant; the cap by re-tokenizing each chunk's
 * text with the special tokens, as the embedder will. */
static void check_doc(const struct rag_chunk_opts *o, const struct rag_textdoc *d, struct stats *st,
		      const char *what)
{
	struct rag_chunk_list l;
	struct rag_error err;
	struct rag_tokens tk;
	unsigned char *cov = rag_calloc(d->len + 1, 1);
	size_t i, j;

	rag_chunk_list_init(&l);
	rag_tokens_init(&tk);
	cr_assert_eq(rag_chunk_split(o, d, &l, &err), RAG_OK, "%s: %s", what, err.msg);
	cr_assert_eq(l.short_overlaps, 0, "%s: %zu short overlaps", what, l.short_overlaps);
	for (i = 0; i < l.n; i++) {
		const struct rag_chunk *c = &l.v[i];
		const char *t = d->text + c->start;
		size_t n = c->end - c->start;
		cr_assert(n > 0 && !is_ws(t[0]) && !is_ws(t[n - 1]), "%s: chunk %zu has blank edges", what, i);
		/* never inside a UTF-8 sequence */
		cr_assert((t[0] & 0xC0) != 0x80 && (c->end == d->len || (d->text[c->end] & 0xC0) != 0x80),
			  "%s: chunk %zu cuts a UTF-8 sequence", what, i);
		cr_assert_eq(rag_tokenize(o->tok, t, n, RAG_TOK_ADD_SPECIAL, &tk, &err), RAG_OK);
		cr_assert(tk.n <= o->max, "%s: chunk %zu has %zu tokens > %zu", what, i, tk.n, o->max);
		cr_assert_eq(tk.n, c->size);
		cr_assert_eq(c->hash, rag_fnv1a64(t, n));
		if (!d->runs) {
			cr_assert_eq(c->src_start, c->start);
			cr_assert_eq(c->src_end, c->end);
		}
		for (j = c->start; j < c->end; j++)
			cov[j] = 1;
		if (i > 0 && l.v[i - 1].section == c->section && o->overlap) {
			const struct rag_chunk *p = &l.v[i - 1];
			cr_assert(c->start > p->start && c->end > p->end, "%s: chunk %zu out of order", what, i);
			cr_assert(c->start < p->end, "%s: chunk %zu does not overlap", what, i);
			j = ntok(o->tok, d->text + c->start, p->end - c->start);
			cr_assert(j >= o->overlap, "%s: chunk %zu overlaps %zu tokens < %zu: [%.*s]", what, i, j,
				  o->overlap, (int)(p->end - c->start), d->text + c->start);
			st->overlaps++;
		} else if (i > 0) {
			cr_assert(c->start >= l.v[i - 1].end || !o->overlap);
		}
	}
	for (j = 0; j < d->len; j++)
		if (!cov[j] && !is_ws(d->text[j]) && !(j < 3 && memcmp(d->text, "\xEF\xBB\xBF", 3) == 0))
			cr_assert_fail("%s: byte %zu is in no chunk", what, j);
	st->docs++;
	st->chunks += l.n;
	rag_free(cov);
	rag_tokens_free(&tk);
	rag_chunk_list_free(&l);
}

static struct rag_tokenizer *load(const char *name)
{
	struct rag_gguf *g;
	struct rag_tokenizer *t;
	struct rag_error err;

	cr_assert_eq(rag_gguf_open(fixture(name), &g, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_tokenizer_from_gguf(g, &t, &err), RAG_OK, "%s", err.msg);
	rag_gguf_close(g);
	return t;
}

static void check_text(const struct rag_chunk_opts *o, enum rag_textformat f, const char *s, size_t n,
		       struct stats *st, const char *what)
{
	struct rag_textdoc d;
	cr_assert_eq(rag_textdoc_parse(&d, f, s, n, NULL), RAG_OK);
	check_doc(o, &d, st, what);
	rag_textdoc_release(&d);
}

static const char *models[] = { "models/tiny-embed-mean-f16.gguf", "models/tiny-qwen2-f16.gguf" };
static const size_t caps[][2] = { { 128, 16 }, { 48, 12 }, { 12, 3 } };

Test(chunk, tokens_scifact_sample)
{
	struct rag_jsonl_reader r;
	struct rag_error err;
	const struct rag_json *rec;
	size_t m, k;

	for (m = 0; m < 2; m++) {
		struct rag_tokenizer *tok = load(models[m]);
		for (k = 0; k < 3; k++) {
			struct rag_chunk_opts o = { RAG_CHUNK_TOKENS, caps[k][0], caps[k][1], tok, RAG_CHUNK_IDS_CONTENT };
			struct stats st = { 0, 0, 0 };
			cr_assert_eq(rag_chunk_opts_check(&o, &err), RAG_OK, "%s", err.msg);
			cr_assert_eq(rag_jsonl_open(&r, testdata("chunk/scifact-50.jsonl"), &err), RAG_OK, "%s", err.msg);
			while (rag_jsonl_next(&r, &rec, &err) == RAG_OK && rec) {
				size_t n;
				const char *t = rag_json_get_str(rec, "text", &n);
				check_text(&o, RAG_FMT_TEXT, t, n, &st, "scifact");
			}
			rag_jsonl_release(&r);
			cr_assert_eq(st.docs, 50);
			cr_assert(st.chunks >= 50 && st.overlaps > 0);
			cr_log_info("%s cap %zu overlap %zu: %zu docs, %zu chunks, %zu overlaps checked",
				    models[m], caps[k][0], caps[k][1], st.docs, st.chunks, st.overlaps);
		}
		rag_tokenizer_free(tok);
	}
}

Test(chunk, tokens_man_pages)
{
	static const char *pages[] = { "../../man/rag-chunk.1", "../../man/rag-model.1", "../../man/rag.7" };
	size_t m, p;
	struct rag_error err;

	for (m = 0; m < 2; m++) {
		struct rag_tokenizer *tok = load(models[m]);
		struct rag_chunk_opts o = { RAG_CHUNK_TOKENS, 64, 16, tok, RAG_CHUNK_IDS_CONTENT };
		struct stats st = { 0, 0, 0 };
		for (p = 0; p < 3; p++) {
			struct rag_buf b;
			rag_buf_init(&b);
			cr_assert_eq(rag_buf_read_file(&b, testdata(pages[p]), &err), RAG_OK, "%s", err.msg);
			check_text(&o, RAG_FMT_TEXT, b.data, b.len, &st, pages[p]);
			check_text(&o, RAG_FMT_MARKDOWN, b.data, b.len, &st, pages[p]);
			rag_buf_free(&b);
		}
		cr_log_info("%s man pages: %zu docs, %zu chunks", models[m], st.docs, st.chunks);
		rag_tokenizer_free(tok);
	}
}

/* Generated inputs that break naive chunkers. */
Test(chunk, tokens_adversarial)
{
	struct rag_buf in[10];
	const char *names[10] = { "giant word", "giant word of é", "no white space", "only headings", "CRLF",
				  "invalid UTF-8", "empty", "huge line", "CJK", "HTML" };
	enum rag_textformat fmts[10] = { RAG_FMT_TEXT, RAG_FMT_TEXT, RAG_FMT_TEXT, RAG_FMT_MARKDOWN, RAG_FMT_TEXT,
					 RAG_FMT_TEXT, RAG_FMT_TEXT, RAG_FMT_TEXT, RAG_FMT_TEXT, RAG_FMT_HTML };
	size_t i, m, k;
	unsigned seed = 1;

	for (i = 0; i < 10; i++)
		rag_buf_init(&in[i]);
	rag_buf_adds(&in[0], "Before. ");
	for (i = 0; i < 3000; i++)
		rag_buf_addc(&in[0], (char)('a' + i % 26));
	rag_buf_adds(&in[0], " after.");
	for (i = 0; i < 1500; i++)
		rag_buf_adds(&in[1], "\xc3\xa9");
	for (i = 0; i < 4000; i++) {
		seed = seed * 1103515245u + 12345u;
		rag_buf_addc(&in[2], "abcdefgh.,;:!?0123"[(seed >> 16) % 18]);
	}
	for (i = 0; i < 60; i++)
		rag_buf_printf(&in[3], "%.*s Heading number %zu\n", (int)(i % 6 + 1), "######", i);
	for (i = 0; i < 40; i++)
		rag_buf_adds(&in[4], "First line here.\r\nSecond line, longer than the first.\r\n\r\n");
	for (i = 0; i < 40; i++)
		rag_buf_adds(&in[5], "Valid \xff\xfe then \xc3\x28 bad \xe2\x82 seq \xed\xa0\x80 end. ");
	for (i = 0; i < 3000; i++)
		rag_buf_printf(&in[7], "w%zu ", i);
	for (i = 0; i < 200; i++)
		rag_buf_adds(&in[8], "\xe8\xbf\x99\xe6\x98\xaf\xe4\xb8\x80\xe4\xb8\xaa\xe5\x8f\xa5\xe5\xad\x90\xe3\x80\x82");
	rag_buf_adds(&in[9], "<html><body><h1>T</h1>");
	for (i = 0; i < 80; i++)
		rag_buf_printf(&in[9], "<p>Para %zu with &amp; entities &#233; and <b>bold</b> words.</p>", i);
	rag_buf_adds(&in[9], "<pre>code\n  block\n</pre></body></html>");
	for (m = 0; m < 2; m++) {
		struct rag_tokenizer *tok = load(models[m]);
		for (k = 0; k < 3; k++) {
			struct rag_chunk_opts o = { RAG_CHUNK_TOKENS, caps[k][0], caps[k][1], tok, RAG_CHUNK_IDS_CONTENT };
			struct stats st = { 0, 0, 0 };
			for (i = 0; i < 10; i++)
				check_text(&o, fmts[i], in[i].data ? in[i].data : "", in[i].len, &st, names[i]);
			cr_log_info("%s cap %zu: adversarial %zu docs, %zu chunks", models[m], caps[k][0], st.docs, st.chunks);
		}
		rag_tokenizer_free(tok);
	}
	for (i = 0; i < 10; i++)
		rag_buf_free(&in[i]);
}

Test(chunk, opts_checked)
{
	struct rag_error err;
	struct rag_tokenizer *tok = load(models[0]);
	struct rag_chunk_opts o = { RAG_CHUNK_TOKENS, 5, 0, tok, RAG_CHUNK_IDS_CONTENT };

	cr_assert_eq(rag_chunk_opts_check(&o, &err), RAG_EUSAGE);  /* [CLS] [SEP] + 4 > 5 */
	o.max = 6;
	cr_assert_eq(rag_chunk_opts_check(&o, &err), RAG_OK, "%s", err.msg);
	o.overlap = 4;
	cr_assert_eq(rag_chunk_opts_check(&o, &err), RAG_EUSAGE);
	o.tok = NULL;
	cr_assert_eq(rag_chunk_opts_check(&o, &err), RAG_EUSAGE);
	o.unit = RAG_CHUNK_CHARS;
	o.max = 0;
	o.overlap = 0;
	cr_assert_eq(rag_chunk_opts_check(&o, &err), RAG_EUSAGE);
	rag_tokenizer_free(tok);
}

Test(chunk, measure)
{
	struct rag_tokenizer *bert = load(models[0]), *gpt2 = load(models[1]);
	struct rag_chunk_opts o = { RAG_CHUNK_TOKENS, 16, 0, bert, RAG_CHUNK_IDS_CONTENT };
	size_t n = 0;

	cr_assert_eq(rag_chunk_measure(&o, "hello world", 11, &n, NULL), RAG_OK);
	cr_assert_eq(n, 4);  /* [CLS] hello world [SEP] */
	o.tok = gpt2;
	cr_assert_eq(rag_chunk_measure(&o, "hello world", 11, &n, NULL), RAG_OK);
	cr_assert_eq(n, 2 + (size_t)rag_tokenizer_n_added(gpt2, 0));
	o.unit = RAG_CHUNK_CHARS;
	cr_assert_eq(rag_chunk_measure(&o, "h\xc3\xa9 w", 5, &n, NULL), RAG_OK);
	cr_assert_eq(n, 4);
	o.unit = RAG_CHUNK_WORDS;
	cr_assert_eq(rag_chunk_measure(&o, " a  bc\td ", 9, &n, NULL), RAG_OK);
	cr_assert_eq(n, 3);
	rag_tokenizer_free(bert);
	rag_tokenizer_free(gpt2);
}

/*
 * A chunk whose overlap reaches back to its own start ("l b" ends before
 * "irag:", which does not fit; 2 characters back from its end is the blank,
 * so the overlap starts at "l") must not stay inside the chunk after it:
 * that one replaces it.  Starts advance, every overlap is met, and each
 * chunk is what it claims.
 */
Test(chunk, no_chunk_inside_the_next)
{
	static const char text[] = "l b irag: everything";
	static const struct { size_t start, end; } want[] = { { 0, 8 }, { 4, 9 }, { 7, 15 }, { 10, 18 }, { 16, 20 } };
	struct rag_chunk_opts o = { RAG_CHUNK_CHARS, 8, 2, NULL, RAG_CHUNK_IDS_CONTENT };
	struct rag_textdoc d;
	struct rag_chunk_list l;
	struct rag_error err;

	cr_assert_eq(rag_textdoc_parse(&d, RAG_FMT_TEXT, text, sizeof text - 1, &err), RAG_OK);
	rag_chunk_list_init(&l);
	cr_assert_eq(rag_chunk_split(&o, &d, &l, &err), RAG_OK, "%s", err.msg);
	cr_expect_eq(l.short_overlaps, 0);
	cr_assert_eq(l.n, 5, "%zu chunks", l.n);
	for (size_t i = 0; i < l.n; i++) {
		size_t n = 0;
		cr_expect(l.v[i].start == want[i].start && l.v[i].end == want[i].end, "chunk %zu: [%zu, %zu) '%.*s'", i,
			  l.v[i].start, l.v[i].end, (int)(l.v[i].end - l.v[i].start), text + l.v[i].start);
		cr_assert_eq(rag_chunk_measure(&o, text + l.v[i].start, l.v[i].end - l.v[i].start, &n, NULL), RAG_OK);
		cr_expect_eq(n, l.v[i].size);
		cr_expect_eq(l.v[i].hash, rag_fnv1a64(text + l.v[i].start, l.v[i].end - l.v[i].start));
		if (i > 0) {
			cr_expect_gt(l.v[i].start, l.v[i - 1].start, "chunk %zu starts no later than the one before", i);
			cr_assert_eq(rag_chunk_measure(&o, text + l.v[i].start, l.v[i - 1].end - l.v[i].start, &n, NULL),
				     RAG_OK);
			cr_expect_geq(n, 2, "chunk %zu overlaps %zu characters", i, n);
		}
	}
	rag_chunk_list_free(&l);
	rag_textdoc_release(&d);
}

/*
 * \v and \f are white space to the chunker (a chunk never starts with one)
 * but not to BERT's tokenizer, which drops them as control characters and so
 * joins the words on either side: "P", 61 D's, "a", \v and 37 more letters are
 * one word of over 100 characters there, a single [UNK], while a chunk that
 * starts after the \v tokenizes alone into many word pieces.  Its size must
 * come from that, not from the section's tokens (which made it 7 of a cap of
 * 10 when it was 25).  The input is a chunk-fuzz finding, reduced.
 */
Test(chunk, wordpiece_control_characters_join_words)
{
	struct rag_tokenizer *bert = load("vocab/ggml-vocab-bert-bge.gguf");
	struct rag_chunk_opts o = { RAG_CHUNK_TOKENS, 10, 2, bert, RAG_CHUNK_IDS_CONTENT };
	struct rag_textdoc d;
	struct rag_chunk_list l;
	struct rag_error err;
	struct rag_buf b;

	rag_buf_init(&b);
	rag_buf_adds(&b, "lr's P");
	for (int i = 0; i < 61; i++)
		rag_buf_addc(&b, 'D');
	rag_buf_adds(&b, "a\v");
	for (int i = 0; i < 37; i++)
		rag_buf_addc(&b, 'D');
	rag_buf_adds(&b, "E.dor s");
	cr_assert(!rag_buf_failed(&b));
	cr_assert_eq(rag_textdoc_parse(&d, RAG_FMT_TEXT, b.data, b.len, &err), RAG_OK);
	rag_chunk_list_init(&l);
	cr_assert_eq(rag_chunk_split(&o, &d, &l, &err), RAG_OK, "%s", err.msg);
	cr_assert_gt(l.n, 1);
	for (size_t i = 0; i < l.n; i++) {
		size_t n = 0;
		cr_assert_eq(rag_chunk_measure(&o, d.text + l.v[i].start, l.v[i].end - l.v[i].start, &n, NULL), RAG_OK);
		cr_expect_eq(n, l.v[i].size, "chunk %zu [%zu, %zu): %zu tokens, size says %zu", i, l.v[i].start,
			     l.v[i].end, n, l.v[i].size);
		cr_expect_leq(n, o.max, "chunk %zu: %zu tokens", i, n);
	}
	rag_chunk_list_free(&l);
	rag_textdoc_release(&d);
	rag_buf_free(&b);
	rag_tokenizer_free(bert);
}

/*
 * An overlap that starts inside a word must hold the overlap when the next
 * chunk's text is tokenized on its own: after the chunk "ytd" (y ##t ##d),
 * two tokens back is "td", one token alone.  The start moves back to the
 * chunk's own start, and the longer chunk from there replaces it, instead
 * of an overlap of one token that short_overlaps did not count.  A
 * chunk-fuzz finding, reduced.
 */
Test(chunk, overlap_inside_a_word_holds_alone)
{
	struct rag_tokenizer *bert = load("vocab/ggml-vocab-bert-bge.gguf");
	struct rag_chunk_opts o = { RAG_CHUNK_TOKENS, 10, 2, bert, RAG_CHUNK_IDS_CONTENT };
	struct stats st = { 0, 0, 0 };

	check_text(&o, RAG_FMT_TEXT, "ytd\nD-d--d", 10, &st, "ytd");
	cr_expect_eq(st.chunks, 2);
	cr_expect_eq(st.overlaps, 1);
	rag_tokenizer_free(bert);
}

/*
 * White space wider than the cap between two words: no chunk can both hold
 * more than the overlap and reach the next word, so the first chunk is its
 * words alone and the next overlap falls short (counted).  This used to stop
 * the whole document with "chunker: no progress" (exit 70 from rag-chunk).
 * The first text is a chunk-fuzz finding, reduced.
 */
Test(chunk, white_space_wider_than_the_cap)
{
	static const struct {
		const char *text;
		size_t max, overlap, n;
	} cases[] = {
		{ "dl\r\r\r\r\r\rv", 8, 2, 2 },
		{ "word\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\nnext", 16, 4, 2 },
		{ "one two\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\tthree four", 12, 3, 2 },
	};

	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		struct rag_chunk_opts o = { RAG_CHUNK_CHARS, cases[c].max, cases[c].overlap, NULL, RAG_CHUNK_IDS_CONTENT };
		struct rag_textdoc d;
		struct rag_chunk_list l;
		struct rag_error err;
		size_t len = strlen(cases[c].text), covered = 0;

		cr_assert_eq(rag_textdoc_parse(&d, RAG_FMT_TEXT, cases[c].text, len, &err), RAG_OK);
		rag_chunk_list_init(&l);
		cr_assert_eq(rag_chunk_split(&o, &d, &l, &err), RAG_OK, "case %zu: %s", c, err.msg);
		cr_expect_eq(l.n, cases[c].n, "case %zu: %zu chunks", c, l.n);
		cr_expect_geq(l.short_overlaps, 1, "case %zu: the short overlap is counted", c);
		for (size_t i = 0; i < l.n; i++) {
			size_t n = 0;
			cr_assert_eq(rag_chunk_measure(&o, d.text + l.v[i].start, l.v[i].end - l.v[i].start, &n, NULL),
				     RAG_OK);
			cr_expect_leq(n, o.max, "case %zu, chunk %zu: %zu characters", c, i, n);
			if (i)
				cr_expect_gt(l.v[i].start, l.v[i - 1].start);
		}
		for (size_t j = 0; j < len; j++) {
			int in = 0;
			for (size_t i = 0; i < l.n && !in; i++)
				in = l.v[i].start <= j && j < l.v[i].end;
			cr_expect(in || is_ws(cases[c].text[j]), "case %zu: byte %zu in no chunk", c, j);
			covered += in;
		}
		cr_expect_gt(covered, 0);
		rag_chunk_list_free(&l);
		rag_textdoc_release(&d);
	}
}

/* Every allocation the chunker makes may fail: it reports, never crashes. */
Test(chunk, allocation_failures)
{
	static const char md[] = "# A\n\ntext one two three.\n\n```\ncode\n```\n\n## B\n\n| r | 1 |\n|---|---|\n";
	struct rag_chunk_opts o = { RAG_CHUNK_WORDS, 4, 1, NULL, RAG_CHUNK_IDS_CONTENT };
	unsigned long n, k;

	rag_alloc_fail_after(0);
	{
		struct rag_textdoc d;
		struct rag_chunk_list l;
		struct rag_buf b;
		struct rag_chunk_docinfo info = { "d", 1, NULL, NULL, NULL, NULL, NULL };
		rag_buf_init(&b);
		rag_chunk_list_init(&l);
		cr_assert_eq(rag_textdoc_parse(&d, RAG_FMT_MARKDOWN, md, strlen(md), NULL), RAG_OK);
		cr_assert_eq(rag_chunk_split(&o, &d, &l, NULL), RAG_OK);
		cr_assert_eq(rag_chunk_write(&o, &d, &l, &info, &b, NULL), RAG_OK);
		rag_textdoc_release(&d);
		rag_chunk_list_free(&l);
		rag_buf_free(&b);
	}
	n = rag_alloc_fail_after(0);
	for (k = 1; k <= n; k++) {
		struct rag_textdoc d;
		struct rag_chunk_list l;
		struct rag_buf b;
		struct rag_chunk_docinfo info = { "d", 1, NULL, NULL, NULL, NULL, NULL };
		int rc;
		rag_buf_init(&b);
		rag_chunk_list_init(&l);
		rag_alloc_fail_after(k);
		rc = rag_textdoc_parse(&d, RAG_FMT_MARKDOWN, md, strlen(md), NULL);
		if (rc == RAG_OK) {
			rc = rag_chunk_split(&o, &d, &l, NULL);
			if (rc == RAG_OK)
				rc = rag_chunk_write(&o, &d, &l, &info, &b, NULL);
			rag_textdoc_release(&d);
		}
		rag_alloc_fail_after(0);
		cr_assert(rc == RAG_OK || rc == RAG_EINTERNAL, "allocation %lu: rc %d", k, rc);
		rag_chunk_list_free(&l);
		rag_buf_free(&b);
	}
}
