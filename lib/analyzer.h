/* analyzer.h: the text analyzer BM25 uses, the same at index and at query time. */
#ifndef RAG_ANALYZER_H
#define RAG_ANALYZER_H

#include <stddef.h>

#include "error.h"

/*
 * Tokens are maximal runs of Unicode letters (L*) and digits (N*); every
 * character is case-folded (utf8proc, full Unicode) and, with strip_accents,
 * decomposed with its combining marks removed ("Café" -> "cafe").  With
 * stem, tokens made only of a-z are reduced with the Porter stemmer; with
 * stopwords, tokens in Lucene's English stop list (33 words, checked before
 * stemming) are dropped.  Tokens longer than RAG_ANALYZER_MAX_TOKEN bytes are
 * cut to that length at a character boundary.
 */
#define RAG_ANALYZER_MAX_TOKEN 128

struct rag_analyzer {
	int stem;           /* Porter stemming */
	int stopwords;      /* drop English stop words */
	int strip_accents;  /* remove diacritics (default on) */
};

/* Defaults: no stemming, no stop words, accents stripped. */
void rag_analyzer_init(struct rag_analyzer *a);

/*
 * Split text[0..len) into tokens and call fn(ctx, tok, n) for each in order
 * (tok is NUL-terminated and valid only during the call).  Invalid UTF-8 bytes
 * separate tokens.  fn returns 0 to go on or a status to stop with.  Returns
 * RAG_OK or the first non-zero value fn returned.
 */
int rag_analyze(const struct rag_analyzer *a, const char *text, size_t len,
		int (*fn)(void *ctx, const char *tok, size_t n), void *ctx);

/* Is tok[0..n) one of the stop words? */
int rag_analyzer_is_stopword(const char *tok, size_t n);

#endif
