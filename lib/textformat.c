/* textformat.c: format detection, UTF-8 repair, Markdown structure and HTML text extraction for the chunker. */
#include "config.h"

#include <ctype.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "json.h"
#include "textformat.h"
#include "unicode.h"

static const struct { const char *name; enum rag_textformat f; } fmt_names[] = {
	{ "auto", RAG_FMT_AUTO }, { "text", RAG_FMT_TEXT }, { "txt", RAG_FMT_TEXT },
	{ "markdown", RAG_FMT_MARKDOWN }, { "md", RAG_FMT_MARKDOWN },
	{ "html", RAG_FMT_HTML }, { "htm", RAG_FMT_HTML },
	{ "jsonl", RAG_FMT_JSONL }, { "ndjson", RAG_FMT_JSONL },
};

int rag_textformat_parse(const char *name, enum rag_textformat *out, struct rag_error *err)
{
	size_t i;

	for (i = 0; i < sizeof fmt_names / sizeof fmt_names[0]; i++)
		if (strcmp(name, fmt_names[i].name) == 0) {
			*out = fmt_names[i].f;
			return RAG_OK;
		}
	return rag_error_set(err, RAG_EUSAGE,
			     "invalid value '%s' for --format (expected auto, text, markdown, html or jsonl)", name);
}

const char *rag_textformat_name(enum rag_textformat f)
{
	switch (f) {
	case RAG_FMT_AUTO: return "auto";
	case RAG_FMT_TEXT: return "text";
	case RAG_FMT_MARKDOWN: return "markdown";
	case RAG_FMT_HTML: return "html";
	case RAG_FMT_JSONL: return "jsonl";
	}
	return "?";
}

static int ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && strcasecmp(s + n - m, suf) == 0;
}

/* Case-insensitive: does s[0..n) start with the ASCII word w? */
static int starts_ci(const char *s, size_t n, const char *w)
{
	size_t m = strlen(w);
	return n >= m && strncasecmp(s, w, m) == 0;
}

enum rag_textformat rag_textformat_detect(const char *path, const char *data, size_t len)
{
	size_t i = 0, n, le;

	if (path) {
		if (ends_with(path, ".md") || ends_with(path, ".markdown") || ends_with(path, ".mdx"))
			return RAG_FMT_MARKDOWN;
		if (ends_with(path, ".html") || ends_with(path, ".htm") || ends_with(path, ".xhtml"))
			return RAG_FMT_HTML;
		if (ends_with(path, ".jsonl") || ends_with(path, ".ndjson"))
			return RAG_FMT_JSONL;
		if (ends_with(path, ".txt"))
			return RAG_FMT_TEXT;
	}
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	while (i < len && isspace((unsigned char)data[i]))
		i++;
	n = len - i;
	if (starts_ci(data + i, n, "<!doctype html") || starts_ci(data + i, n, "<html") ||
	    starts_ci(data + i, n, "<head") || starts_ci(data + i, n, "<body") ||
	    starts_ci(data + i, n, "<!--"))
		return RAG_FMT_HTML;
	if (n && data[i] == '{') {
		struct rag_arena a;
		struct rag_json *v;
		int ok;
		le = i;
		while (le < len && data[le] != '\n')
			le++;
		rag_arena_init(&a);
		ok = rag_json_parse(&a, data + i, le - i, &v, NULL) == RAG_OK && v->type == RAG_JSON_OBJECT;
		rag_arena_free(&a);
		if (ok)
			return RAG_FMT_JSONL;
	}
	/* Markdown: an ATX heading or a code fence at the start of some line in the first 64 KiB. */
	for (le = i; le < len && le < i + 65536; ) {
		const char *l = data + le;
		size_t rest = len - le;
		if ((rest >= 2 && l[0] == '#' && (l[1] == ' ' || l[1] == '#')) ||
		    (rest >= 3 && (memcmp(l, "```", 3) == 0 || memcmp(l, "~~~", 3) == 0)))
			return RAG_FMT_MARKDOWN;
		while (le < len && data[le] != '\n')
			le++;
		le++;
	}
	return RAG_FMT_TEXT;
}

/* One UTF-8 sequence: its length and code point, or 0 and in *bad the length
 * of the maximal invalid subpart (one U+FFFD replaces it). */
static size_t utf8_dec(const unsigned char *s, size_t n, unsigned *cp, size_t *bad)
{
	size_t len;
	uint32_t c = rag_utf8_decode(s, n, &len);

	if (c == 0xFFFD && !(len == 3 && s[0] == 0xEF && s[1] == 0xBF && s[2] == 0xBD)) {
		*bad = len;
		return 0;
	}
	*cp = c;
	return len;
}

/* ---- building a document ------------------------------------------------ */

struct builder {
	struct rag_textdoc *d;
	struct rag_buf out;
	int oom;
};

#define GROW(arr, n, cap, oomflag) \
	do { \
		if ((n) == (cap)) { \
			size_t nc_ = (cap) ? 2 * (cap) : 16; \
			void *p_ = rag_reallocarray((arr), nc_, sizeof *(arr)); \
			if (!p_) { (oomflag) = 1; break; } \
			(arr) = p_; \
			(cap) = nc_; \
		} \
	} while (0)

static void run_add(struct builder *b, size_t t, size_t s, size_t tl, size_t sl, int copy)
{
	struct rag_textdoc *d = b->d;

	if (copy && d->n_runs) {
		struct rag_textrun *r = &d->runs[d->n_runs - 1];
		if (r->copy && r->t + r->tl == t && r->s + r->sl == s) {
			r->tl += tl;
			r->sl += sl;
			return;
		}
	}
	GROW(d->runs, d->n_runs, d->cap_runs, b->oom);
	if (b->oom)
		return;
	d->runs[d->n_runs++] = (struct rag_textrun){ t, s, tl, sl, copy };
}

static void emit_copy(struct builder *b, size_t s, size_t n)
{
	size_t t = b->out.len;
	if (!n)
		return;
	rag_buf_add(&b->out, b->d->src + s, n);
	run_add(b, t, s, n, n, 1);
}

static void emit_repl(struct builder *b, size_t s, size_t sl, const char *bytes, size_t n)
{
	size_t t = b->out.len;
	if (!n)
		return;
	rag_buf_add(&b->out, bytes, n);
	run_add(b, t, s, n, sl, 0);
}

static void add_mark(struct builder *b, size_t pos, enum rag_break level)
{
	struct rag_textdoc *d = b->d;

	if (d->n_marks && d->marks[d->n_marks - 1].pos >= pos) {
		struct rag_textmark *m = &d->marks[d->n_marks - 1];
		if (m->pos == pos && m->level < level)
			m->level = level;
		return;
	}
	GROW(d->marks, d->n_marks, d->cap_marks, b->oom);
	if (!b->oom)
		d->marks[d->n_marks++] = (struct rag_textmark){ pos, level };
}

static void add_atom(struct builder *b, size_t start, size_t end)
{
	struct rag_textdoc *d = b->d;

	if (end <= start || (d->n_atoms && d->atoms[d->n_atoms - 1].end > start))
		return;
	GROW(d->atoms, d->n_atoms, d->cap_atoms, b->oom);
	if (!b->oom)
		d->atoms[d->n_atoms++] = (struct rag_textspan){ start, end };
}

/* Heading stack for the " > " paths. */
struct heads {
	int level[7];
	char *text[7];
	int n;
};

static void heads_free(struct heads *h)
{
	int i;
	for (i = 0; i < h->n; i++)
		rag_free(h->text[i]);
	h->n = 0;
}

/* A new section at pos for a heading of level (1..6) with text t[0..n). */
static void add_section(struct builder *b, struct heads *h, size_t pos, int level, const char *t, size_t n)
{
	struct rag_textdoc *d = b->d;
	struct rag_buf path;
	char *txt;
	int i;

	while (n && isspace((unsigned char)t[n - 1]))
		n--;
	while (n && isspace((unsigned char)*t)) {
		t++;
		n--;
	}
	if (!(txt = rag_strndup(t, n))) {
		b->oom = 1;
		return;
	}
	while (h->n && h->level[h->n - 1] >= level)
		rag_free(h->text[--h->n]);
	if (h->n == 7) {
		rag_free(txt);
		return;
	}
	h->level[h->n] = level;
	h->text[h->n++] = txt;
	rag_buf_init(&path);
	for (i = 0; i < h->n; i++) {
		if (i)
			rag_buf_adds(&path, " > ");
		rag_buf_adds(&path, h->text[i]);
	}
	if (rag_buf_failed(&path)) {
		rag_buf_free(&path);
		b->oom = 1;
		return;
	}
	if (d->n_sections && d->sections[d->n_sections - 1].start >= pos) {
		/* An empty section before this one: the new heading replaces it. */
		struct rag_textsection *s = &d->sections[d->n_sections - 1];
		rag_free(s->heading);
		s->heading = rag_buf_detach(&path, NULL);
		if (!s->heading && !(s->heading = rag_strdup("")))
			b->oom = 1;
		return;
	}
	GROW(d->sections, d->n_sections, d->cap_sections, b->oom);
	if (b->oom) {
		rag_buf_free(&path);
		return;
	}
	d->sections[d->n_sections].start = pos;
	d->sections[d->n_sections].heading = rag_buf_detach(&path, NULL);
	if (!d->sections[d->n_sections].heading)
		b->oom = 1;
	else
		d->n_sections++;
}

/* Text and Markdown: the source, with each invalid UTF-8 sequence made U+FFFD. */
static void repair_utf8(struct builder *b)
{
	struct rag_textdoc *d = b->d;
	const unsigned char *u = (const unsigned char *)d->src;
	size_t i = rag_utf8_check(d->src, d->src_len), from = 0;

	if (i == d->src_len) {
		d->text = d->src;
		d->len = d->src_len;
		return;
	}
	while (i < d->src_len) {
		unsigned cp;
		size_t bad = 1, k;
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		if ((k = utf8_dec(u + i, d->src_len - i, &cp, &bad))) {
			i += k;
			continue;
		}
		emit_copy(b, from, i - from);
		emit_repl(b, i, bad, "\xEF\xBF\xBD", 3);
		d->n_invalid++;
		i += bad;
		from = i;
	}
	emit_copy(b, from, d->src_len - from);
	d->text = b->out.data ? b->out.data : "";
	d->len = b->out.len;
}

static size_t first_nonspace(const char *t, size_t i, size_t end)
{
	while (i < end && (t[i] == ' ' || t[i] == '\t'))
		i++;
	return i;
}

/* A GFM table delimiter row: only | - : and blanks, with at least one '-' and one '|'. */
static int is_delim_row(const char *t, size_t ls, size_t le)
{
	int dash = 0, bar = 0;
	size_t i;
	for (i = ls; i < le; i++) {
		char c = t[i];
		if (c == '-') dash = 1;
		else if (c == '|') bar = 1;
		else if (c != ':' && c != ' ' && c != '\t' && c != '\r') return 0;
	}
	return dash && bar;
}

static int has_bar(const char *t, size_t ls, size_t le)
{
	return memchr(t + ls, '|', le - ls) != NULL;
}

static int is_blank(const char *t, size_t ls, size_t le)
{
	size_t i;
	for (i = ls; i < le; i++)
		if (!isspace((unsigned char)t[i]))
			return 0;
	return 1;
}

/* End of the line starting at ls (index of '\n' or len). */
static size_t line_end(const char *t, size_t ls, size_t len)
{
	const char *p = memchr(t + ls, '\n', len - ls);
	return p ? (size_t)(p - t) : len;
}

/* Markdown structure over the (repaired) text: sections at ATX and setext
 * headings, code fences and table rows as atoms, list items and table rows as
 * BLOCK marks.  Line based; CommonMark's container rules are approximated. */
static void markdown_structure(struct builder *b)
{
	struct rag_textdoc *d = b->d;
	const char *t = d->text;
	size_t len = d->len, ls = 0, prev_ls = 0, fence_start = 0;
	int in_fence = 0, fence_n = 0, in_table = 0, prev_para = 0;
	char fence_c = 0;
	struct heads h = { .n = 0 };

	/* YAML front matter: "---" on the first line up to the next "---" or "...". */
	if (len >= 4 && memcmp(t, "---", 3) == 0 && (t[3] == '\n' || t[3] == '\r')) {
		size_t l = line_end(t, 0, len) + 1;
		while (l < len) {
			size_t e = line_end(t, l, len), k = e;
			if (k > l && t[k - 1] == '\r')
				k--;
			if (k - l == 3 && (memcmp(t + l, "---", 3) == 0 || memcmp(t + l, "...", 3) == 0)) {
				add_atom(b, 0, k);
				ls = e + 1;
				break;
			}
			l = e + 1;
		}
	}
	while (ls < len && !b->oom) {
		size_t le = line_end(t, ls, len), ke = le, fp, i;
		int para = 0;

		if (ke > ls && t[ke - 1] == '\r')
			ke--;
		fp = first_nonspace(t, ls, ke);
		if (in_fence) {
			i = fp;
			while (i < ke && t[i] == fence_c)
				i++;
			if (fp - ls <= 3 && (int)(i - fp) >= fence_n && is_blank(t, i, ke)) {
				add_atom(b, fence_start, ke);
				in_fence = 0;
			}
			goto next;
		}
		if (fp - ls <= 3 && fp + 3 <= ke && (t[fp] == '`' || t[fp] == '~') &&
		    t[fp + 1] == t[fp] && t[fp + 2] == t[fp]) {
			fence_c = t[fp];
			i = fp;
			while (i < ke && t[i] == fence_c)
				i++;
			if (fence_c == '~' || !memchr(t + i, '`', ke - i)) {
				fence_n = (int)(i - fp);
				in_fence = 1;
				fence_start = fp;
				in_table = 0;
				add_mark(b, fp, RAG_BREAK_BLOCK);
				goto next;
			}
		}
		if (fp - ls <= 3 && fp < ke && t[fp] == '#') {
			int lvl = 0;
			i = fp;
			while (i < ke && t[i] == '#' && lvl < 7) {
				i++;
				lvl++;
			}
			if (lvl <= 6 && (i == ke || t[i] == ' ' || t[i] == '\t')) {
				size_t hs = i, he = ke;
				while (he > hs && isspace((unsigned char)t[he - 1]))
					he--;
				/* A closing run of '#' preceded by a blank is not part of the text. */
				i = he;
				while (i > hs && t[i - 1] == '#')
					i--;
				if (i == hs || t[i - 1] == ' ' || t[i - 1] == '\t')
					he = i;
				add_section(b, &h, ls, lvl, t + hs, he - hs);
				in_table = 0;
				goto next;
			}
		}
		if (prev_para && fp - ls <= 3 && fp < ke && (t[fp] == '=' || t[fp] == '-')) {
			char c = t[fp];
			i = fp;
			while (i < ke && t[i] == c)
				i++;
			if (is_blank(t, i, ke)) {
				size_t pe = line_end(t, prev_ls, len);
				if (pe > prev_ls && t[pe - 1] == '\r')
					pe--;
				add_section(b, &h, prev_ls, c == '=' ? 1 : 2, t + prev_ls, pe - prev_ls);
				goto next;
			}
		}
		if (is_blank(t, ls, ke)) {
			in_table = 0;
			goto next;
		}
		/* Tables: a row with '|' followed by a delimiter row starts one; rows
		 * continue while lines hold a '|'.  A line starting with '|' is a row. */
		if (!in_table && has_bar(t, fp, ke) && le < len) {
			size_t n2 = le + 1, e2 = line_end(t, n2, len);
			if (is_delim_row(t, n2, e2))
				in_table = 1;
		}
		if (in_table && !has_bar(t, fp, ke))
			in_table = 0;
		if (in_table || t[fp] == '|') {
			add_mark(b, fp, RAG_BREAK_BLOCK);
			while (ke > fp && isspace((unsigned char)t[ke - 1]))
				ke--;
			add_atom(b, fp, ke);
			goto next;
		}
		/* List items: "- ", "* ", "+ ", "1. ", "1) ". */
		i = fp;
		if (i + 1 < ke && (t[i] == '-' || t[i] == '*' || t[i] == '+') && (t[i + 1] == ' ' || t[i + 1] == '\t')) {
			add_mark(b, fp, RAG_BREAK_BLOCK);
		} else {
			while (i < ke && i - fp < 9 && isdigit((unsigned char)t[i]))
				i++;
			if (i > fp && i + 1 < ke && (t[i] == '.' || t[i] == ')') && (t[i + 1] == ' ' || t[i + 1] == '\t'))
				add_mark(b, fp, RAG_BREAK_BLOCK);
			else
				para = 1;
		}
next:
		prev_para = para;
		prev_ls = ls;
		ls = le + 1;
	}
	if (in_fence)
		add_atom(b, fence_start, len);
	heads_free(&h);
}

/* ---- HTML ------------------------------------------------------------------ */

static const struct { const char *name; unsigned cp; } entities[] = {
	{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' },
	{ "nbsp", 0xA0 }, { "copy", 0xA9 }, { "reg", 0xAE }, { "trade", 0x2122 },
	{ "hellip", 0x2026 }, { "mdash", 0x2014 }, { "ndash", 0x2013 }, { "lsquo", 0x2018 },
	{ "rsquo", 0x2019 }, { "ldquo", 0x201C }, { "rdquo", 0x201D }, { "sbquo", 0x201A },
	{ "bdquo", 0x201E }, { "bull", 0x2022 }, { "middot", 0xB7 }, { "laquo", 0xAB },
	{ "raquo", 0xBB }, { "deg", 0xB0 }, { "plusmn", 0xB1 }, { "times", 0xD7 },
	{ "divide", 0xF7 }, { "para", 0xB6 }, { "sect", 0xA7 }, { "cent", 0xA2 },
	{ "pound", 0xA3 }, { "yen", 0xA5 }, { "euro", 0x20AC }, { "shy", 0xAD },
	{ "iexcl", 0xA1 }, { "iquest", 0xBF }, { "micro", 0xB5 }, { "ordf", 0xAA },
	{ "ordm", 0xBA }, { "not", 0xAC }, { "macr", 0xAF }, { "acute", 0xB4 },
	{ "cedil", 0xB8 }, { "uml", 0xA8 }, { "sup1", 0xB9 }, { "sup2", 0xB2 },
	{ "sup3", 0xB3 }, { "frac12", 0xBD }, { "frac14", 0xBC }, { "frac34", 0xBE },
	{ "Agrave", 0xC0 }, { "Aacute", 0xC1 }, { "Acirc", 0xC2 }, { "Atilde", 0xC3 },
	{ "Auml", 0xC4 }, { "Aring", 0xC5 }, { "AElig", 0xC6 }, { "Ccedil", 0xC7 },
	{ "Egrave", 0xC8 }, { "Eacute", 0xC9 }, { "Ecirc", 0xCA }, { "Euml", 0xCB },
	{ "Igrave", 0xCC }, { "Iacute", 0xCD }, { "Icirc", 0xCE }, { "Iuml", 0xCF },
	{ "Ntilde", 0xD1 }, { "Ograve", 0xD2 }, { "Oacute", 0xD3 }, { "Ocirc", 0xD4 },
	{ "Otilde", 0xD5 }, { "Ouml", 0xD6 }, { "Oslash", 0xD8 }, { "Ugrave", 0xD9 },
	{ "Uacute", 0xDA }, { "Ucirc", 0xDB }, { "Uuml", 0xDC }, { "Yacute", 0xDD },
	{ "szlig", 0xDF }, { "agrave", 0xE0 }, { "aacute", 0xE1 }, { "acirc", 0xE2 },
	{ "atilde", 0xE3 }, { "auml", 0xE4 }, { "aring", 0xE5 }, { "aelig", 0xE6 },
	{ "ccedil", 0xE7 }, { "egrave", 0xE8 }, { "eacute", 0xE9 }, { "ecirc", 0xEA },
	{ "euml", 0xEB }, { "igrave", 0xEC }, { "iacute", 0xED }, { "icirc", 0xEE },
	{ "iuml", 0xEF }, { "ntilde", 0xF1 }, { "ograve", 0xF2 }, { "oacute", 0xF3 },
	{ "ocirc", 0xF4 }, { "otilde", 0xF5 }, { "ouml", 0xF6 }, { "oslash", 0xF8 },
	{ "ugrave", 0xF9 }, { "uacute", 0xFA }, { "ucirc", 0xFB }, { "uuml", 0xFC },
	{ "yacute", 0xFD }, { "yuml", 0xFF }, { "Alpha", 0x391 }, { "Beta", 0x392 },
	{ "Gamma", 0x393 }, { "Delta", 0x394 }, { "Omega", 0x3A9 }, { "alpha", 0x3B1 },
	{ "beta", 0x3B2 }, { "gamma", 0x3B3 }, { "delta", 0x3B4 }, { "epsilon", 0x3B5 },
	{ "lambda", 0x3BB }, { "mu", 0x3BC }, { "pi", 0x3C0 }, { "sigma", 0x3C3 },
	{ "tau", 0x3C4 }, { "phi", 0x3C6 }, { "omega", 0x3C9 }, { "larr", 0x2190 },
	{ "uarr", 0x2191 }, { "rarr", 0x2192 }, { "darr", 0x2193 }, { "harr", 0x2194 },
	{ "le", 0x2264 }, { "ge", 0x2265 }, { "ne", 0x2260 }, { "asymp", 0x2248 },
	{ "infin", 0x221E }, { "minus", 0x2212 }, { "ensp", 0x2002 }, { "emsp", 0x2003 },
	{ "thinsp", 0x2009 }, { "zwnj", 0x200C }, { "zwj", 0x200D }, { "lrm", 0x200E },
	{ "rlm", 0x200F }, { "dagger", 0x2020 }, { "Dagger", 0x2021 }, { "permil", 0x2030 },
	{ "prime", 0x2032 }, { "Prime", 0x2033 }, { "hearts", 0x2665 }, { "check", 0x2713 },
};

/* Windows-1252 meanings of &#128;..&#159;, as HTML decoders apply them. */
static const unsigned short cp1252[32] = {
	0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
	0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD, 0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
	0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178,
};

static size_t utf8_encode(unsigned cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* An entity at s[0..n) (s[0] == '&'): its length and code point, or 0. */
static size_t entity(const char *s, size_t n, unsigned *cp)
{
	size_t i = 1, j;

	if (i < n && s[i] == '#') {
		unsigned long v = 0;
		int hex = 0, digits = 0;
		i++;
		if (i < n && (s[i] == 'x' || s[i] == 'X')) {
			hex = 1;
			i++;
		}
		for (; i < n; i++, digits++) {
			int c = (unsigned char)s[i], dv;
			if (isdigit(c)) dv = c - '0';
			else if (hex && isxdigit(c)) dv = (tolower(c) - 'a') + 10;
			else break;
			if (v < 0x110000)
				v = v * (hex ? 16 : 10) + (unsigned long)dv;
		}
		if (!digits)
			return 0;
		if (i < n && s[i] == ';')
			i++;
		if (v >= 0x80 && v <= 0x9F)
			v = cp1252[v - 0x80];
		if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
			v = 0xFFFD;
		*cp = (unsigned)v;
		return i;
	}
	for (j = i; j < n && j - i < 10 && isalnum((unsigned char)s[j]); j++)
		;
	if (j == i)
		return 0;
	for (size_t k = 0; k < sizeof entities / sizeof entities[0]; k++) {
		size_t m = strlen(entities[k].name);
		if (m != j - i || memcmp(s + i, entities[k].name, m) != 0)
			continue;
		/* The semicolon may be left out only for the oldest entities. */
		if (j < n && s[j] == ';') {
			*cp = entities[k].cp;
			return j + 1;
		}
		if (k < 6) {
			*cp = entities[k].cp;
			return j;
		}
		return 0;
	}
	return 0;
}

enum tagkind { TAG_INLINE, TAG_PARA, TAG_LINE, TAG_BR, TAG_CELL, TAG_SKIP, TAG_RAW_SKIP, TAG_TITLE,
	       TAG_PRE, TAG_HEAD1 };

static enum tagkind tag_kind(const char *name, size_t n)
{
	static const char *const para[] = {
		"address", "article", "aside", "blockquote", "body", "caption", "center", "details",
		"dialog", "dir", "div", "dl", "fieldset", "figcaption", "figure", "footer", "form",
		"header", "hgroup", "hr", "html", "legend", "main", "menu", "nav", "ol", "p",
		"section", "summary", "table", "tbody", "thead", "tfoot", "ul", "head", NULL };
	static const char *const line[] = { "li", "dt", "dd", "tr", "option", NULL };
	static const char *const skip[] = { "template", "noscript", "svg", "math", "iframe", "object", NULL };
	char low[16];
	size_t i;

	if (n >= sizeof low)
		return TAG_INLINE;
	for (i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[n] = '\0';
	if (n == 2 && low[0] == 'h' && low[1] >= '1' && low[1] <= '6')
		return (enum tagkind)(TAG_HEAD1 + (low[1] - '1'));
	if (!strcmp(low, "br")) return TAG_BR;
	if (!strcmp(low, "td") || !strcmp(low, "th")) return TAG_CELL;
	if (!strcmp(low, "script") || !strcmp(low, "style")) return TAG_RAW_SKIP;
	if (!strcmp(low, "title")) return TAG_TITLE;
	if (!strcmp(low, "pre") || !strcmp(low, "listing") || !strcmp(low, "xmp")) return TAG_PRE;
	for (i = 0; para[i]; i++)
		if (!strcmp(low, para[i])) return TAG_PARA;
	for (i = 0; line[i]; i++)
		if (!strcmp(low, line[i])) return TAG_LINE;
	for (i = 0; skip[i]; i++)
		if (!strcmp(low, skip[i])) return TAG_SKIP;
	return TAG_INLINE;
}

struct html {
	struct builder *b;
	const char *s;
	size_t n;
	/* pending white space / break before the next character */
	int ws;                  /* a white-space run seen */
	size_t ws_s, ws_len;     /* its source */
	int brk;                 /* 0, 1 = line, 2 = paragraph */
	size_t brk_s;
	enum rag_break mark;     /* mark for the next character */
	int pre;                 /* inside <pre> (depth) */
	int want_section;        /* a heading is open: its first character starts a section */
	int head_level;
	size_t head_t0;          /* text offset of the heading's first character */
	int head_has;
	int want_atom;           /* an atom (pre or tr) starts at the next character */
	size_t atom_t0;
	int atom_open;
	int atom_is_row;
	struct heads h;
};

static void html_flush(struct html *x, size_t at)
{
	struct builder *b = x->b;
	size_t len = b->out.len;

	if (x->brk && len) {
		if (x->brk == 2)
			emit_repl(b, x->brk_s, 0, "\n\n", 2);
		else
			emit_repl(b, x->brk_s, 0, "\n", 1);
	} else if (x->ws && len && b->out.data[len - 1] != '\n') {
		emit_repl(b, x->ws_s, x->ws_len, " ", 1);
	}
	x->brk = 0;
	x->ws = 0;
	(void)at;
}

/* Before the first byte of a character (not white space outside <pre>). */
static void html_before_char(struct html *x, size_t at)
{
	struct builder *b = x->b;

	html_flush(x, at);
	if (x->mark) {
		add_mark(b, b->out.len, x->mark);
		x->mark = RAG_BREAK_CHAR;
	}
	if (x->want_section) {
		x->head_t0 = b->out.len;
		x->head_has = 1;
		x->want_section = 0;
	}
	if (x->want_atom) {
		x->atom_t0 = b->out.len;
		x->atom_open = 1;
		x->want_atom = 0;
	}
}

static void html_break(struct html *x, int level, size_t at)
{
	if (level > x->brk) {
		if (!x->brk)
			x->brk_s = at;
		x->brk = level;
	}
}

static void html_space(struct html *x, size_t at, size_t len)
{
	if (!x->ws) {
		x->ws = 1;
		x->ws_s = at;
		x->ws_len = len;
	} else {
		x->ws_len = at + len - x->ws_s;
	}
}

/* Find "</name" (case-insensitive) followed by a non-name byte, from i.  Returns its offset or n. */
static size_t find_close(const char *s, size_t n, size_t i, const char *name, size_t nl)
{
	for (; i + 2 + nl <= n; i++) {
		const char *p = memchr(s + i, '<', n - i);
		if (!p)
			return n;
		i = (size_t)(p - s);
		if (i + 2 + nl <= n && s[i + 1] == '/' && strncasecmp(s + i + 2, name, nl) == 0 &&
		    (i + 2 + nl == n || !isalnum((unsigned char)s[i + 2 + nl])))
			return i;
	}
	return n;
}

/* Skip a tag's attributes: the offset after its '>' (quotes respected), or n. */
static size_t tag_end(const char *s, size_t n, size_t i)
{
	char q = 0;
	for (; i < n; i++) {
		char c = s[i];
		if (q) {
			if (c == q)
				q = 0;
		} else if (c == '"' || c == '\'') {
			q = c;
		} else if (c == '>') {
			return i + 1;
		}
	}
	return n;
}

/* Collapse-decode s[a..e) into a NUL-terminated string (for <title>). */
static char *decode_plain(const char *s, size_t a, size_t e)
{
	struct rag_buf t;
	int sp = 0;

	rag_buf_init(&t);
	while (a < e) {
		unsigned cp;
		size_t k;
		char enc[4];
		if (isspace((unsigned char)s[a])) {
			sp = 1;
			a++;
			continue;
		}
		if (sp && t.len)
			rag_buf_addc(&t, ' ');
		sp = 0;
		if (s[a] == '&' && (k = entity(s + a, e - a, &cp))) {
			rag_buf_add(&t, enc, utf8_encode(cp, enc));
			a += k;
		} else {
			rag_buf_addc(&t, s[a++]);
		}
	}
	rag_buf_addc(&t, '\0');
	if (rag_buf_failed(&t)) {
		rag_buf_free(&t);
		return NULL;
	}
	return rag_buf_detach(&t, NULL);
}

static void html_text(struct html *x, size_t a, size_t e);

static void html_extract(struct builder *b)
{
	struct rag_textdoc *d = b->d;
	struct html x;
	const char *s = d->src;
	size_t n = d->src_len, i = 0, text_from = 0;

	memset(&x, 0, sizeof x);
	x.b = b;
	x.s = s;
	x.n = n;
	if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		i = text_from = 3;
	while (i < n && !b->oom) {
		const char *p = memchr(s + i, '<', n - i);
		size_t lt = p ? (size_t)(p - s) : n, j, ns;
		enum tagkind k;
		int close = 0;

		if (lt > text_from)
			html_text(&x, text_from, lt);
		if (lt >= n)
			break;
		i = lt + 1;
		text_from = lt;
		if (i < n && s[i] == '!') {
			if (n - i >= 3 && memcmp(s + i, "!--", 3) == 0) {
				const char *c = NULL;
				size_t from = i + 3;
				/* "<!-->" and "<!--->" end at once; otherwise at "-->". */
				if (from < n && s[from] == '>')
					c = s + from - 2;
				else if (from + 1 < n && s[from] == '-' && s[from + 1] == '>')
					c = s + from - 1;
				for (size_t q = from; !c && q + 3 <= n; q++) {
					const char *m = memchr(s + q, '-', n - q);
					if (!m || (size_t)(m - s) + 3 > n)
						break;
					q = (size_t)(m - s);
					if (s[q + 1] == '-' && s[q + 2] == '>')
						c = s + q;
				}
				i = c ? (size_t)(c - s) + 3 : n;
			} else if (n - i >= 8 && memcmp(s + i, "![CDATA[", 8) == 0) {
				size_t a = i + 8, q = a;
				while (q + 3 <= n && memcmp(s + q, "]]>", 3) != 0)
					q++;
				if (q + 3 > n)
					q = n;
				html_text(&x, a, q);
				i = q + 3 < n ? q + 3 : n;
			} else {
				i = tag_end(s, n, i);
			}
			text_from = i;
			continue;
		}
		if (i < n && s[i] == '?') {
			i = tag_end(s, n, i);
			text_from = i;
			continue;
		}
		if (i < n && s[i] == '/') {
			close = 1;
			i++;
		}
		if (i >= n || !isalpha((unsigned char)s[i])) {
			/* Not a tag: the '<' is text. */
			i = lt + 1;
			continue;
		}
		ns = i;
		while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == ':'))
			i++;
		j = i;
		i = tag_end(s, n, i);
		text_from = i;
		k = tag_kind(s + ns, j - ns);
		switch (k) {
		case TAG_INLINE:
			break;
		case TAG_PARA:
			html_break(&x, 2, lt);
			break;
		case TAG_LINE:
			html_break(&x, 1, lt);
			if (!close)
				x.mark = RAG_BREAK_BLOCK;
			if (tolower((unsigned char)s[ns]) == 't' && j - ns == 2) {
				/* <tr>: a row is an atom. */
				if (x.atom_open && x.atom_is_row)
					add_atom(b, x.atom_t0, b->out.len);
				x.atom_open = 0;
				x.want_atom = !close && !x.pre;
				x.atom_is_row = 1;
			}
			break;
		case TAG_BR:
			html_break(&x, 1, lt);
			break;
		case TAG_CELL:
			if (!x.ws)
				html_space(&x, lt, 0);
			break;
		case TAG_SKIP:
		case TAG_RAW_SKIP:
			if (!close && s[i - 2] != '/') {
				size_t c = find_close(s, n, i, s + ns, j - ns);
				i = c < n ? tag_end(s, n, c + 2) : n;
				text_from = i;
			}
			break;
		case TAG_TITLE:
			if (!close) {
				size_t c = find_close(s, n, i, "title", 5);
				if (!d->title && !(d->title = decode_plain(s, i, c)))
					b->oom = 1;
				i = c < n ? tag_end(s, n, c + 2) : n;
				text_from = i;
			}
			break;
		case TAG_PRE:
			html_break(&x, 2, lt);
			if (!close) {
				if (!x.pre) {
					x.want_atom = 1;
					x.atom_is_row = 0;
					x.mark = RAG_BREAK_BLOCK;
				}
				x.pre++;
				/* A newline right after <pre> is not content. */
				if (i < n && s[i] == '\n')
					text_from = ++i;
				else if (i + 1 < n && s[i] == '\r' && s[i + 1] == '\n')
					text_from = (i += 2);
			} else if (x.pre) {
				if (--x.pre == 0 && x.atom_open && !x.atom_is_row) {
					add_atom(b, x.atom_t0, b->out.len);
					x.atom_open = 0;
				}
			}
			break;
		default: /* headings */
			html_break(&x, 2, lt);
			if (!close) {
				x.want_section = 1;
				x.head_has = 0;
				x.head_level = (int)(k - TAG_HEAD1) + 1;
			} else if (x.head_level) {
				if (x.head_has) {
					size_t t0 = x.head_t0;
					add_section(b, &x.h, t0, x.head_level, b->out.data + t0, b->out.len - t0);
				}
				x.want_section = 0;
				x.head_level = 0;
			}
		}
	}
	if (x.atom_open)
		add_atom(b, x.atom_t0, b->out.len);
	heads_free(&x.h);
	d->text = b->out.data ? b->out.data : "";
	d->len = b->out.len;
}

/* Text between tags: entities decoded, white space collapsed (kept in <pre>),
 * invalid UTF-8 made U+FFFD. */
static void html_text(struct html *x, size_t a, size_t e)
{
	struct builder *b = x->b;
	const char *s = x->s;
	const unsigned char *u = (const unsigned char *)s;
	size_t i = a, from = a;

	while (i < e && !b->oom) {
		unsigned c = u[i], cp;
		size_t k, bad = 1;
		char enc[4];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
			if (x->pre) {
				if (i == from)
					html_before_char(x, i);
				i++;
				continue;
			}
			emit_copy(b, from, i - from);
			k = i;
			while (i < e && (u[i] == ' ' || u[i] == '\t' || u[i] == '\n' || u[i] == '\r' || u[i] == '\f'))
				i++;
			html_space(x, k, i - k);
			from = i;
			continue;
		}
		if (i == from)
			html_before_char(x, i);
		if (c == '&' && (k = entity(s + i, e - i, &cp))) {
			emit_copy(b, from, i - from);
			emit_repl(b, i, k, enc, utf8_encode(cp, enc));
			i += k;
			from = i;
			continue;
		}
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((k = utf8_dec(u + i, e - i, &cp, &bad))) {
			i += k;
			continue;
		}
		emit_copy(b, from, i - from);
		emit_repl(b, i, bad, "\xEF\xBF\xBD", 3);
		b->d->n_invalid++;
		i += bad;
		from = i;
	}
	emit_copy(b, from, i - from);
}

/* ---- public ---------------------------------------------------------------- */

int rag_textdoc_parse(struct rag_textdoc *d, enum rag_textformat f, const char *src, size_t len,
		      struct rag_error *err)
{
	struct builder b;

	memset(d, 0, sizeof *d);
	d->src = src ? src : "";
	d->src_len = len;
	memset(&b, 0, sizeof b);
	b.d = d;
	rag_buf_init(&b.out);
	if (f == RAG_FMT_AUTO || f == RAG_FMT_JSONL)
		f = rag_textformat_detect(NULL, src, len);
	if (f == RAG_FMT_JSONL)
		f = RAG_FMT_TEXT;
	d->format = f;
	GROW(d->sections, d->n_sections, d->cap_sections, b.oom);
	if (!b.oom) {
		d->sections[0].start = 0;
		if ((d->sections[0].heading = rag_strdup("")))
			d->n_sections = 1;
		else
			b.oom = 1;
	}
	if (!b.oom) {
		if (f == RAG_FMT_HTML) {
			html_extract(&b);
		} else {
			repair_utf8(&b);
			if (f == RAG_FMT_MARKDOWN && !b.oom)
				markdown_structure(&b);
		}
	}
	if (b.oom || rag_buf_failed(&b.out)) {
		rag_buf_free(&b.out);
		d->text = NULL;
		rag_textdoc_release(d);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	if (b.out.data && d->text == b.out.data) {
		d->own = rag_buf_detach(&b.out, NULL);
		d->text = d->own;
	} else {
		rag_buf_free(&b.out);
	}
	if (!d->text)
		d->text = "";
	return RAG_OK;
}

void rag_textdoc_release(struct rag_textdoc *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n_sections; i++)
		rag_free(d->sections[i].heading);
	rag_free(d->sections);
	rag_free(d->runs);
	rag_free(d->marks);
	rag_free(d->atoms);
	rag_free(d->own);
	rag_free(d->title);
	memset(d, 0, sizeof *d);
}

/* The run holding text byte t (t < len). */
static const struct rag_textrun *find_run(const struct rag_textdoc *d, size_t t)
{
	size_t lo = 0, hi = d->n_runs;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->runs[mid].t <= t)
			lo = mid;
		else
			hi = mid;
	}
	return &d->runs[lo];
}

size_t rag_textdoc_src_start(const struct rag_textdoc *d, size_t t)
{
	const struct rag_textrun *r;

	if (!d->runs || !d->n_runs)
		return t < d->src_len ? t : d->src_len;
	if (t >= d->len)
		return d->src_len;
	r = find_run(d, t);
	return r->copy ? r->s + (t - r->t) : r->s;
}

size_t rag_textdoc_src_end(const struct rag_textdoc *d, size_t t)
{
	const struct rag_textrun *r;

	if (!d->runs || !d->n_runs)
		return t < d->src_len ? t : d->src_len;
	if (t == 0)
		return d->runs[0].s;
	if (t > d->len)
		t = d->len;
	r = find_run(d, t - 1);
	return r->copy ? r->s + (t - r->t) : r->s + r->sl;
}
