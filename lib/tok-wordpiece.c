/* tok-wordpiece.c: BERT's WordPiece (Hugging Face BertNormalizer with lowercasing and
 * accent stripping, BertPreTokenizer, WordPiece with the 100-character [UNK] rule). */
#include "config.h"

#include "tok-internal.h"
#include "unicode.h"

enum { WPM_MAX_CHARS = 100 };

/* ASCII classes: 0 removed (control), 1 whitespace, 2 punctuation, 3 word character. */
static const uint8_t ascii_class[128] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2,
	2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2,
	2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 0,
};

/* A word being collected: its normalized bytes (first 100 characters) and, per
 * character, where it came from in the input. */
struct word {
	char b[WPM_MAX_CHARS * 4 + 8];
	uint16_t cb[WPM_MAX_CHARS + 1];   /* byte offset of char k in b */
	uint32_t os[WPM_MAX_CHARS], oe[WPM_MAX_CHARS];
	size_t nchars;
	uint32_t ostart, oend;
};

int tok_wpm_init(struct rag_tokenizer *t, struct rag_error *err)
{
	(void)t;
	(void)err;
	return 0;
}

static inline void word_add(struct word *w, uint32_t cp, uint32_t os, uint32_t oe)
{
	if (w->nchars == 0)
		w->ostart = os;
	w->oend = oe;
	if (w->nchars < WPM_MAX_CHARS) {
		size_t at = w->cb[w->nchars];
		w->os[w->nchars] = os;
		w->oe[w->nchars] = oe;
		if (cp < 0x80)
			w->b[at++] = (char)cp;
		else
			at += rag_utf8_encode(cp, w->b + at);
		w->cb[w->nchars + 1] = (uint16_t)at;
	}
	w->nchars++;
}

static int word_flush(const struct rag_tokenizer *t, struct word *w, size_t base, struct rag_tokens *out)
{
	size_t first = out->n, cs = 0, n = w->nchars;

	if (n == 0)
		return 0;
	w->nchars = 0;
	if (n > WPM_MAX_CHARS)
		goto unk;
	while (cs < n) {
		size_t ce;
		int32_t id = -1;
		const struct tok_htab *h = cs == 0 ? &t->wstart : &t->cont;
		for (ce = n; ce > cs; ce--) {
			size_t nb = (size_t)w->cb[ce] - w->cb[cs];
			if (nb > t->max_piece)
				continue;
			if ((id = tok_htab_find(h, w->b + w->cb[cs], nb)) >= 0)
				break;
		}
		if (id < 0)
			goto unk;
		if (tok_push(out, id, base + w->os[cs], base + w->oe[ce - 1]))
			return -1;
		cs = ce;
	}
	return 0;
unk:
	out->n = first;
	return tok_push(out, t->special[RAG_TOK_UNK], base + w->ostart, base + w->oend);
}

static inline int is_punct(uint32_t c)
{
	if (c < 0x80)
		return ascii_class[c] == 2;
	return (rag_u_flags_fast(c) & RAG_U_P) != 0;
}

int tok_wpm_encode(const struct rag_tokenizer *t, const char *text, size_t len, size_t base,
		   struct rag_tokens *out, struct rag_error *err)
{
	const unsigned char *s = (const unsigned char *)text;
	struct word w;
	size_t i = 0, l;

	w.nchars = 0;
	w.cb[0] = 0;
	while (i < len) {
		uint32_t c = s[i];
		uint32_t os = (uint32_t)i;
		if (c < 0x80) {
			uint8_t k = ascii_class[c];
			i++;
			if (k == 3) {
				word_add(&w, (c >= 'A' && c <= 'Z') ? c + 32 : c, os, (uint32_t)i);
				continue;
			}
			if (k == 0)
				continue;
			if (word_flush(t, &w, base, out))
				goto oom;
			if (k == 2) {
				word_add(&w, c, os, (uint32_t)i);
				if (word_flush(t, &w, base, out))
					goto oom;
			}
			continue;
		}
		c = rag_utf8_decode(s + i, len - i, &l);
		i += l;
		uint8_t f = rag_u_flags_fast(c);
		if (c == 0xFFFD || (f & RAG_U_OTHER))
			continue;
		if (f & RAG_U_WS) {
			if (word_flush(t, &w, base, out))
				goto oom;
			continue;
		}
		int cjk = rag_u_is_cjk(c);
		if (cjk && word_flush(t, &w, base, out))
			goto oom;
		uint32_t d[8];
		int nd = rag_u_nfd(c, d, 8);
		for (int k = 0; k < nd; k++) {
			uint32_t x = d[k];
			uint8_t fx = rag_u_flags_fast(x);
			if (fx & RAG_U_MN)
				continue;
			x = rag_u_lower(x);
			if (is_punct(x)) {
				if (word_flush(t, &w, base, out))
					goto oom;
				word_add(&w, x, os, (uint32_t)i);
				if (word_flush(t, &w, base, out))
					goto oom;
			} else if (fx & RAG_U_WS) {
				if (word_flush(t, &w, base, out))
					goto oom;
			} else {
				word_add(&w, x, os, (uint32_t)i);
			}
		}
		if (cjk && word_flush(t, &w, base, out))
			goto oom;
	}
	if (word_flush(t, &w, base, out))
		goto oom;
	return 0;
oom:
	return rag_error_set(err, RAG_EINTERNAL, "out of memory");
}
