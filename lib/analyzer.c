/* analyzer.c: Unicode-aware tokenizing, case folding, accent stripping, stemming. */
#include "analyzer.h"

#include <string.h>
#include <utf8proc.h>

#include "porter.h"

/* Lucene's EnglishAnalyzer default stop set (StopAnalyzer.ENGLISH_STOP_WORDS_SET). */
static const char *const stop_en[] = {
	"a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into",
	"is", "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then",
	"there", "these", "they", "this", "to", "was", "will", "with", NULL,
};

void rag_analyzer_init(struct rag_analyzer *a)
{
	a->stem = 0;
	a->stopwords = 0;
	a->strip_accents = 1;
}

int rag_analyzer_is_stopword(const char *tok, size_t n)
{
	int i;

	if (n > 5)
		return 0;
	for (i = 0; stop_en[i]; i++)
		if (strlen(stop_en[i]) == n && memcmp(stop_en[i], tok, n) == 0)
			return 1;
	return 0;
}

static int is_word_cat(utf8proc_int32_t c)
{
	switch (utf8proc_category(c)) {
	case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
	case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
	case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
		return 1;
	default:
		return 0;
	}
}

static int is_mark(utf8proc_int32_t c)
{
	utf8proc_category_t k = utf8proc_category(c);
	return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_ME;
}

struct tokbuf {
	char s[RAG_ANALYZER_MAX_TOKEN + 8];
	size_t n;
	int full;
};

static void tok_add(struct tokbuf *t, utf8proc_int32_t c)
{
	utf8proc_uint8_t enc[4];
	utf8proc_ssize_t m;

	if (t->full)
		return;
	m = utf8proc_encode_char(c, enc);
	if (t->n + (size_t)m > RAG_ANALYZER_MAX_TOKEN) {
		t->full = 1;
		return;
	}
	memcpy(t->s + t->n, enc, (size_t)m);
	t->n += (size_t)m;
}

static int tok_emit(const struct rag_analyzer *a, struct tokbuf *t,
		    int (*fn)(void *, const char *, size_t), void *ctx)
{
	size_t n = t->n;
	int rc = 0;

	if (n == 0)
		return 0;
	t->s[n] = 0;
	if (!(a->stopwords && rag_analyzer_is_stopword(t->s, n))) {
		if (a->stem) {
			n = rag_porter_stem(t->s, n);
			t->s[n] = 0;
		}
		rc = fn(ctx, t->s, n);
	}
	t->n = 0;
	t->full = 0;
	return rc;
}

int rag_analyze(const struct rag_analyzer *a, const char *text, size_t len,
		int (*fn)(void *ctx, const char *tok, size_t n), void *ctx)
{
	struct tokbuf t;
	size_t i = 0;
	int rc;

	t.n = 0;
	t.full = 0;
	while (i < len) {
		unsigned char ch = (unsigned char)text[i];
		if (ch < 0x80) {
			i++;
			if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
				if (!t.full && t.n < RAG_ANALYZER_MAX_TOKEN)
					t.s[t.n++] = (char)ch;
				else
					t.full = 1;
			} else if (ch >= 'A' && ch <= 'Z') {
				if (!t.full && t.n < RAG_ANALYZER_MAX_TOKEN)
					t.s[t.n++] = (char)(ch + 32);
				else
					t.full = 1;
			} else if ((rc = tok_emit(a, &t, fn, ctx)))
				return rc;
			continue;
		}
		utf8proc_int32_t c;
		utf8proc_ssize_t m = utf8proc_iterate((const utf8proc_uint8_t *)text + i,
						      (utf8proc_ssize_t)(len - i), &c);
		if (m <= 0) {
			i++;
			if ((rc = tok_emit(a, &t, fn, ctx)))
				return rc;
			continue;
		}
		i += (size_t)m;
		if (is_mark(c) && t.n > 0) {
			/* a combining mark continues the token; kept unless accents are stripped */
			if (!a->strip_accents)
				tok_add(&t, c);
			continue;
		}
		if (!is_word_cat(c)) {
			if ((rc = tok_emit(a, &t, fn, ctx)))
				return rc;
			continue;
		}
		{
			utf8proc_int32_t d[8];
			int opts = UTF8PROC_CASEFOLD | (a->strip_accents ? UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK : 0);
			int last = 0;
			utf8proc_ssize_t k, nd = utf8proc_decompose_char(c, d, 8, opts, &last);
			if (nd < 0 || nd > 8) {
				tok_add(&t, (utf8proc_int32_t)utf8proc_tolower(c));
				continue;
			}
			for (k = 0; k < nd; k++)
				if (!(a->strip_accents && is_mark(d[k])))
					tok_add(&t, d[k]);
		}
	}
	return tok_emit(a, &t, fn, ctx);
}
