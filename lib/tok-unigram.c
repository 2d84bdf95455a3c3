/* tok-unigram.c: Unigram (SentencePiece's, as in T5 and XLM-R GGUFs): the precompiled
 * charsmap normalization, whitespace escaping and merging, and the Viterbi search for
 * the most probable pieces, with runs of unknown characters fused into one [UNK]. */
#include "config.h"

#include <float.h>

#include "alloc.h"
#include "tok-internal.h"
#include "unicode.h"

#define UNK_PENALTY 10.0

/* One XCDA node: base, check and leaf flag bit-packed (sentencepiece's Darts clone). */
static inline uint32_t xcda_base(uint32_t v) { return (v >> 10) << ((v & (1u << 9)) >> 6); }
static inline uint32_t xcda_lcheck(uint32_t v) { return v & ((1u << 31) | 0xff); }
static inline int xcda_leaf(uint32_t v) { return (v >> 8) & 1; }
static inline uint32_t xcda_value(uint32_t v) { return v & ((1u << 31) - 1); }

int tok_ugm_init(struct rag_tokenizer *t, const void *gguf, struct rag_error *err)
{
	const struct rag_gguf *g = gguf;
	const struct rag_gguf_kv *kv = rag_gguf_find(g, "tokenizer.ggml.precompiled_charsmap");
	int b;
	double mn = DBL_MAX;

	if (!t->scores)
		return rag_error_set(err, RAG_EMODEL, "a Unigram vocabulary needs tokenizer.ggml.scores");
	if (t->special[RAG_TOK_UNK] < 0)
		return rag_error_set(err, RAG_EMODEL, "a Unigram vocabulary needs an unknown token id");
	for (uint32_t i = 0; i < t->n_vocab; i++)
		if (t->ttype[i] == TT_NORMAL && t->scores[i] < mn)
			mn = t->scores[i];
	t->ugm_unk_score = (mn == DBL_MAX ? 0 : mn) - UNK_PENALTY;
	t->ugm_merge_spaces = 1;
	if (rag_gguf_get_bool(g, "tokenizer.ggml.remove_extra_whitespaces", &b) == 1)
		t->ugm_merge_spaces = b;
	if (kv) {
		uint32_t size;
		if (kv->type != RAG_GGUF_ARRAY || (kv->elem != RAG_GGUF_UINT8 && kv->elem != RAG_GGUF_INT8) || kv->n < 4)
			return rag_error_set(err, RAG_EMODEL, "tokenizer.ggml.precompiled_charsmap is not a byte array");
		memcpy(&size, kv->p, 4);
		if ((uint64_t)size + 4 > kv->n || size % 4)
			return rag_error_set(err, RAG_EMODEL, "tokenizer.ggml.precompiled_charsmap is malformed");
		t->xcda = rag_malloc(size ? size : 4);
		t->repl = rag_malloc(kv->n - 4 - size + 1);
		if (!t->xcda || !t->repl)
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		memcpy(t->xcda, kv->p + 4, size);
		t->n_xcda = size / 4;
		t->n_repl = kv->n - 4 - size;
		memcpy(t->repl, kv->p + 4 + size, t->n_repl);
		t->repl[t->n_repl] = 0;
	}
	return 0;
}

/* The longest user-defined token at s, or 0. */
static size_t user_defined_at(const struct rag_tokenizer *t, const char *s, size_t n)
{
	for (size_t k = 0; k < t->n_sp; k++) {
		const struct tok_special_text *sp = &t->sp[k];
		if (t->ttype[sp->id] == TT_USER_DEFINED && sp->len <= n && memcmp(sp->s, s, sp->len) == 0)
			return sp->len;
	}
	return 0;
}

/* Normalize the prefix of s: the replacement in out and olen; returns the bytes consumed. */
static size_t norm_prefix(const struct rag_tokenizer *t, const char *s, size_t n, const char **out, size_t *olen)
{
	size_t best = 0, l;
	uint32_t best_off = 0;

	if ((l = user_defined_at(t, s, n)) > 0) {
		*out = s;
		*olen = l;
		return l;
	}
	if (t->n_xcda) {
		uint32_t node = xcda_base(t->xcda[0]);
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)s[i];
			if (!c)
				break;
			node ^= c;
			if (node >= t->n_xcda || xcda_lcheck(t->xcda[node]) != c)
				break;
			int leaf = xcda_leaf(t->xcda[node]);
			node ^= xcda_base(t->xcda[node]);
			if (node >= t->n_xcda)
				break;
			if (leaf) {
				best = i + 1;
				best_off = xcda_value(t->xcda[node]);
			}
		}
	}
	if (best && best_off < t->n_repl) {
		*out = t->repl + best_off;
		*olen = strlen(*out);
		return best;
	}
	rag_utf8_decode((const unsigned char *)s, n, &l);
	*out = s;
	*olen = l;
	return l;
}

struct ugm_node {
	double score;
	uint32_t from;
	int32_t id;
};

int tok_ugm_encode(const struct rag_tokenizer *t, const char *text, size_t len, size_t base,
		   struct rag_tokens *out, struct rag_error *err)
{
	static const char sp[] = "\xe2\x96\x81";
	size_t cap = len * 4 + 16, nl = 0, i, first = out->n;
	char *e = rag_malloc(cap);
	uint32_t *map = rag_malloc((cap + 1) * sizeof *map);
	struct ugm_node *best = NULL;
	int in_word = 0, prepended = 0, rc = 0;
	int32_t unk = t->special[RAG_TOK_UNK];

	if (!e || !map)
		goto oom;
	/* normalization: charsmap, then spaces escaped as U+2581, merged, one in front */
	for (i = 0; i < len;) {
		const char *r;
		size_t rl, used = norm_prefix(t, text + i, len - i, &r, &rl);
		if (nl + rl * 3 + 3 > cap) {
			size_t nc = (nl + rl * 3 + 3) * 2;
			char *ne = rag_realloc(e, nc);
			uint32_t *nm = ne ? rag_reallocarray(map, nc + 1, sizeof *map) : NULL;
			if (!ne || !nm) {
				if (ne)
					e = ne;
				goto oom;
			}
			e = ne;
			map = nm;
			cap = nc;
		}
		for (size_t k = 0; k < rl; k++) {
			if (r[k] != ' ') {
				if (!in_word) {
					in_word = 1;
					if ((t->add_space_prefix && !prepended) || t->ugm_merge_spaces) {
						memcpy(e + nl, sp, 3);
						map[nl] = map[nl + 1] = map[nl + 2] = (uint32_t)i;
						nl += 3;
						prepended = 1;
					}
				}
				e[nl] = r[k];
				map[nl++] = (uint32_t)i;
			} else {
				in_word = 0;
				if (!t->ugm_merge_spaces) {
					memcpy(e + nl, sp, 3);
					map[nl] = map[nl + 1] = map[nl + 2] = (uint32_t)i;
					nl += 3;
				}
			}
		}
		i += used;
	}
	map[nl] = (uint32_t)len;
	if (nl == 0)
		goto done;
	/* Viterbi over byte positions */
	best = rag_malloc((nl + 1) * sizeof *best);
	if (!best)
		goto oom;
	for (i = 0; i <= nl; i++) {
		best[i].score = -DBL_MAX;
		best[i].from = 0;
		best[i].id = unk;
	}
	best[0].score = 0;
	for (i = 0; i < nl;) {
		size_t cl;
		int single = 0;
		rag_utf8_decode((const unsigned char *)e + i, nl - i, &cl);
		if (best[i].score > -DBL_MAX) {
			for (size_t l = 1; l <= t->max_piece && i + l <= nl; l++) {
				int32_t id = tok_find(t, e + i, l);
				if (id < 0)
					continue;
				int tt = t->ttype[id];
				if (tt != TT_NORMAL && tt != TT_USER_DEFINED && tt != TT_UNUSED)
					continue;
				double s = best[i].score + (tt == TT_USER_DEFINED ? 0.0 : (double)t->scores[id]);
				if (l == cl)
					single = 1;
				if (s > best[i + l].score) {
					best[i + l].score = s;
					best[i + l].from = (uint32_t)i;
					best[i + l].id = id;
				}
			}
			if (!single) {
				double s = best[i].score + t->ugm_unk_score;
				if (s > best[i + cl].score) {
					best[i + cl].score = s;
					best[i + cl].from = (uint32_t)i;
					best[i + cl].id = unk;
				}
			}
		}
		i += cl;
	}
	/* backtrack (tokens come out last first), fusing runs of [UNK] */
	{
		size_t at = nl, n0 = out->n;
		int prev_unk = 0;
		while (at > 0) {
			struct ugm_node *nd = &best[at];
			int is_unk = nd->id == unk;
			if (is_unk && prev_unk) {
				out->start[out->n - 1] = (uint32_t)(base + map[nd->from]);
			} else if (tok_push(out, nd->id, base + map[nd->from], base + map[at])) {
				goto oom;
			}
			prev_unk = is_unk;
			at = nd->from;
		}
		for (size_t a = n0, z = out->n - 1; a < z; a++, z--) {
			int32_t id = out->ids[a];
			uint32_t s0 = out->start[a], e0 = out->end[a];
			out->ids[a] = out->ids[z];
			out->start[a] = out->start[z];
			out->end[a] = out->end[z];
			out->ids[z] = id;
			out->start[z] = s0;
			out->end[z] = e0;
		}
	}
	goto done;
oom:
	out->n = first;
	rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
done:
	rag_free(e);
	rag_free(map);
	rag_free(best);
	return rc;
}
