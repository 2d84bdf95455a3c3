/* analyze-fuzz.c: libFuzzer harness for the BM25 text analyzer and the
 * --filter language (see fuzz/README).  Every chunk's text goes through
 * rag_analyze at index time and every query at search time; --filter comes
 * from whoever calls rag-retrieve.  The first input byte picks the analyzer
 * options; the rest is text.  Checks:
 *   - every token is 1 to RAG_ANALYZER_MAX_TOKEN bytes of valid UTF-8;
 *   - without stemming, a token analyzed again is itself, alone (the
 *     folding and accent stripping are already done), and with stop words
 *     never a stop word (stemming comes after that check: "its" gives "it");
 *   - stemming only shortens or keeps an a-z token, and keeps it a-z;
 *   - the same text parsed as a filter is accepted or refused with
 *     RAG_EUSAGE, and an accepted filter evaluates to 0 or 1 on a fixed
 *     meta object and on none. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "arena.h"
#include "filter.h"
#include "json.h"
#include "unicode.h"

#include "check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char meta_json[] = "{\"lang\":\"en\",\"year\":2021,\"tags\":[\"a\",\"b\",3],\"n\":null,\"ok\":true,"
				"\"src\":{\"site\":\"x\",\"depth\":2.5},\"e\":\"\"}";

struct seen {
	const struct rag_analyzer *a;
};

static int a_to_z(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 'a' || s[i] > 'z')
			return 0;
	return 1;
}

/* Re-analysis of one token (without stemming): exactly itself. */
struct again {
	const char *tok;
	size_t n, count;
	int same;
};

static int on_again(void *ctx, const char *tok, size_t n)
{
	struct again *g = ctx;
	g->same = g->count == 0 && n == g->n && memcmp(tok, g->tok, n) == 0;
	g->count++;
	return 0;
}

static int on_token(void *ctx, const char *tok, size_t n)
{
	struct seen *s = ctx;

	CHECK(n >= 1 && n <= RAG_ANALYZER_MAX_TOKEN, "a token's length");
	CHECK(strlen(tok) == n, "a token's NUL");
	CHECK(rag_utf8_valid_prefix(tok, n) == n, "a token is not valid UTF-8");
	if (s->a->stopwords && !s->a->stem)  /* checked before stemming: "its" stems to "it" */
		CHECK(!rag_analyzer_is_stopword(tok, n), "a stop word came out");
	if (!s->a->stem) {
		struct again g = { tok, n, 0, 0 };
		(void)rag_analyze(s->a, tok, n, on_again, &g);
		CHECK(g.count == 1 && g.same, "a token analyzed again is not itself");
	}
	return 0;
}

/* Stemming against the unstemmed tokens, in step. */
struct pair {
	char (*plain)[RAG_ANALYZER_MAX_TOKEN + 1];
	size_t n, i;
	int stopwords;
};

static int on_plain(void *ctx, const char *tok, size_t n)
{
	struct pair *p = ctx;
	if (p->stopwords)
		CHECK(!rag_analyzer_is_stopword(tok, n), "a stop word came out");
	if (p->n < 4096)
		memcpy(p->plain[p->n], tok, n + 1);
	p->n++;
	return 0;
}

static int on_stemmed(void *ctx, const char *tok, size_t n)
{
	struct pair *p = ctx;
	if (p->i < p->n && p->i < 4096) {
		const char *orig = p->plain[p->i];
		size_t on = strlen(orig);
		if (a_to_z(orig, on)) {
			CHECK(n <= on && n >= 1, "a stem longer than its word");
			CHECK(a_to_z(tok, n), "a stem outside a-z");
		} else {
			CHECK(n == on && memcmp(tok, orig, n) == 0, "a token not of a-z was stemmed");
		}
	}
	p->i++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char plain[4096][RAG_ANALYZER_MAX_TOKEN + 1];
	struct rag_analyzer a;
	struct seen s;
	const char *text = (const char *)data + 1;
	size_t len = size ? size - 1 : 0;

	if (size == 0)
		return 0;
	rag_analyzer_init(&a);
	a.stem = data[0] & 1;
	a.stopwords = (data[0] >> 1) & 1;
	a.strip_accents = !((data[0] >> 2) & 1);
	s.a = &a;
	CHECK(rag_analyze(&a, text, len, on_token, &s) == RAG_OK, "rag_analyze failed");
	if (a.stem) {
		/* the same text without stemming, token for token */
		struct rag_analyzer b = a;
		struct pair p = { plain, 0, 0, a.stopwords };
		b.stem = 0;
		(void)rag_analyze(&b, text, len, on_plain, &p);
		(void)rag_analyze(&a, text, len, on_stemmed, &p);
		CHECK(p.i == p.n, "stemming changed the number of tokens");
	}
	{
		/* the same bytes as a --filter expression (a C string: up to a NUL) */
		char *src = malloc(len + 1);
		struct rag_filter *f = NULL;
		struct rag_error err;
		struct rag_arena ar;
		struct rag_json *meta;
		int rc;
		CHECK(src != NULL, "out of memory");
		memcpy(src, text, len);
		src[len] = 0;
		rc = rag_filter_parse(src, &f, &err);
		CHECK(rc == RAG_OK || rc == RAG_EUSAGE, "a filter error other than a usage error");
		if (rc == RAG_OK) {
			rag_arena_init(&ar);
			CHECK(rag_json_parse(&ar, meta_json, sizeof meta_json - 1, &meta, &err) == RAG_OK, "meta");
			rc = rag_filter_eval(f, meta);
			CHECK(rc == 0 || rc == 1, "a filter's value");
			rc = rag_filter_eval(f, NULL);
			CHECK(rc == 0 || rc == 1, "a filter's value without meta");
			rag_filter_free(f);
			rag_arena_free(&ar);
		}
		free(src);
	}
	return 0;
}
