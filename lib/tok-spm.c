/* tok-spm.c: SentencePiece BPE as llama/phi-3 GGUFs describe it: spaces become U+2581,
 * a space is put in front of the text, pieces merge by score, and characters the
 * vocabulary lacks fall back to <0xXX> byte tokens. */
#include "config.h"

#include <stdio.h>

#include "alloc.h"
#include "tok-internal.h"
#include "unicode.h"

int tok_spm_init(struct rag_tokenizer *t, struct rag_error *err)
{
	char name[8];

	if (!t->scores)
		return rag_error_set(err, RAG_EMODEL, "a SentencePiece vocabulary needs tokenizer.ggml.scores");
	for (int b = 0; b < 256; b++) {
		snprintf(name, sizeof name, "<0x%02X>", b);
		t->byte_id[b] = tok_find(t, name, 6);
	}
	return 0;
}

struct bigram {
	float score;
	int32_t left, right;
	uint32_t size;
};

/* max-heap: higher score first, then smaller left */
static inline int bg_before(const struct bigram *a, const struct bigram *b)
{
	return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void bg_push(struct bigram *h, size_t *n, struct bigram v)
{
	size_t i = (*n)++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!bg_before(&v, &h[p]))
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = v;
}

static struct bigram bg_pop(struct bigram *h, size_t *n)
{
	struct bigram top = h[0], v = h[--(*n)];
	size_t i = 0, m = *n;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= m)
			break;
		if (c + 1 < m && bg_before(&h[c + 1], &h[c]))
			c++;
		if (!bg_before(&h[c], &v))
			break;
		h[i] = h[c];
		i = c;
	}
	if (m)
		h[i] = v;
	return top;
}

struct sym {
	uint32_t start, n;
	int32_t prev, next;
};

static int32_t spm_lookup(const struct rag_tokenizer *t, const char *s, size_t n)
{
	int32_t id = tok_find(t, s, n);
	if (id < 0)
		return -1;
	int tt = t->ttype[id];
	if (tt == TT_CONTROL || tt == TT_UNKNOWN || tt == TT_BYTE)
		return -1;
	return id;
}

static void try_bigram(const struct rag_tokenizer *t, const char *e, struct sym *sy, int32_t l, int32_t r,
		       struct bigram *h, size_t *hn)
{
	if (l < 0 || r < 0)
		return;
	int32_t id = spm_lookup(t, e + sy[l].start, sy[l].n + sy[r].n);
	if (id < 0)
		return;
	struct bigram b = { t->scores[id], l, r, sy[l].n + sy[r].n };
	bg_push(h, hn, b);
}

int tok_spm_encode(const struct rag_tokenizer *t, const char *text, size_t len, size_t base, int first,
		   struct rag_tokens *out, struct rag_error *err)
{
	size_t elen = 0, cap = len * 3 + 4, nsym = 0, hn = 0, i, l;
	/* working memory: one block of the caller's scratch, carved into four arrays */
	size_t o_map = (cap + 7) & ~(size_t)7;
	size_t o_sy = o_map + (((cap + 1) * sizeof(uint32_t) + 7) & ~(size_t)7);
	size_t o_h = o_sy + (((len + 2) * sizeof(struct sym) + 7) & ~(size_t)7);
	size_t total = o_h + (3 * len + 8) * sizeof(struct bigram);
	struct tok_scratch *sc = tok_scratch_get(out, err);
	char *e;
	uint32_t *map;
	struct sym *sy;
	struct bigram *h;
	int rc = 0;

	if (!sc)
		return RAG_EINTERNAL;
	if (tok_scratch_buf(sc, total))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	e = sc->buf;
	map = (uint32_t *)(void *)(sc->buf + o_map);
	sy = (struct sym *)(void *)(sc->buf + o_sy);
	h = (struct bigram *)(void *)(sc->buf + o_h);
	if (first && t->add_space_prefix) {
		memcpy(e, "\xe2\x96\x81", 3);
		map[0] = map[1] = map[2] = 0;
		elen = 3;
	}
	for (i = 0; i < len; i++) {
		if (text[i] == ' ') {
			memcpy(e + elen, "\xe2\x96\x81", 3);
			map[elen] = map[elen + 1] = map[elen + 2] = (uint32_t)i;
			elen += 3;
		} else {
			e[elen] = text[i];
			map[elen++] = (uint32_t)i;
		}
	}
	map[elen] = (uint32_t)len;
	for (i = 0; i < elen; i += l) {
		rag_utf8_decode((const unsigned char *)e + i, elen - i, &l);
		sy[nsym].start = (uint32_t)i;
		sy[nsym].n = (uint32_t)l;
		sy[nsym].prev = (int32_t)nsym - 1;
		sy[nsym].next = i + l < elen ? (int32_t)nsym + 1 : -1;
		nsym++;
	}
	for (i = 1; i < nsym; i++)
		try_bigram(t, e, sy, (int32_t)i - 1, (int32_t)i, h, &hn);
	while (hn) {
		struct bigram b = bg_pop(h, &hn);
		struct sym *L = &sy[b.left], *R = &sy[b.right];
		if (L->n == 0 || R->n == 0 || L->n + R->n != b.size)
			continue;
		L->n += R->n;
		R->n = 0;
		L->next = R->next;
		if (R->next >= 0)
			sy[R->next].prev = b.left;
		try_bigram(t, e, sy, L->prev, b.left, h, &hn);
		try_bigram(t, e, sy, b.left, L->next, h, &hn);
	}
	for (int32_t k = nsym ? 0 : -1; k >= 0; k = sy[k].next) {
		int32_t id = tok_find(t, e + sy[k].start, sy[k].n);
		size_t a = sy[k].start, z = a + sy[k].n;
		if (id >= 0 && t->ttype[id] != TT_CONTROL && t->ttype[id] != TT_BYTE) {
			if (tok_push(out, id, base + map[a], base + map[z]))
				goto oom;
			continue;
		}
		for (size_t j = a; j < z; j++) {
			int32_t bid = t->byte_id[(unsigned char)e[j]];
			if (bid < 0)
				bid = t->special[RAG_TOK_UNK] >= 0 ? t->special[RAG_TOK_UNK] : 0;
			if (tok_push(out, bid, base + map[j], base + (j + 1 < z ? map[j + 1] : map[z])))
				goto oom;
		}
	}
	return rc;
oom:
	return rag_error_set(err, RAG_EINTERNAL, "out of memory");
}
