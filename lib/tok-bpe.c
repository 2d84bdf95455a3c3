/* tok-bpe.c: byte-level BPE (GPT-2 style) with the pre-tokenizers named by
 * tokenizer.ggml.pre: hand-written scanners for gpt-2 and llama3/qwen2, PCRE2 (JIT)
 * for the regex sequences of the others. */
#include "config.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "alloc.h"
#include "tok-internal.h"
#include "unicode.h"

/* ---- merges -------------------------------------------------------------- */

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static inline int merge_find(const struct rag_tokenizer *t, int32_t a, int32_t b, uint32_t *rank, int32_t *id)
{
	uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
	uint64_t i = mix64(key) & t->merge_mask;
	for (;;) {
		const struct tok_merge *m = &t->merges[i];
		if (m->key == key) {
			*rank = m->rank;
			*id = m->id;
			return 1;
		}
		if (!m->key)
			return 0;
		i = (i + 1) & t->merge_mask;
	}
}

/* ---- pre-tokenizer regexes (llama.cpp's lists, as in the models' tokenizer.json) ---- */

static const char *const re_deepseek_llm[] = {
	"[\r\n]",
	"\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\\x{1F7D}ᾀ-ᾴᾶ-ᾼ\\x{1FBE}ῂ-ῄῆ-ῌῐ-\\x{1FD3}ῖ-\\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\\x{2126}ℨ\\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
	"\\s?[!-/:-~！-／：-～‘-‟　-。]+",
	"\\s+$",
	"[一-龥ࠀ-一가-퟿]+",
	"\\p{N}+",
	NULL,
};

static const char *const re_deepseek_coder[] = {
	"[\r\n]",
	"\\s?\\p{L}+",
	"\\s?\\p{P}+",
	"[一-龥ࠀ-一가-퟿]+",
	"\\p{N}",
	NULL,
};

static const char *const re_falcon[] = {
	"[\\p{P}\\$\\+<=>\\^~\\|`]+",
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
	"[0-9][0-9][0-9]",
	NULL,
};

static const char *const re_starcoder[] = {
	"\\p{N}",
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
	NULL,
};

static const char *const re_mpt[] = {
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
	NULL,
};

/* Rewrite \s and \S into explicit White_Space classes (PCRE2's \s leaves out U+0085,
 * Oniguruma's, which Hugging Face uses, does not). */
char *tok_rewrite_re(const char *re)
{
	static const char ws_in[] = "\\t-\\r\\x{85}\\p{Z}";
	size_t n = strlen(re), o = 0;
	char *out = rag_malloc(n * 24 + 1);
	int in_class = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char c = re[i];
		if (c == '\\' && i + 1 < n) {
			char d = re[i + 1];
			if (d == 's' || d == 'S') {
				if (in_class) {
					memcpy(out + o, ws_in, sizeof ws_in - 1);
					o += sizeof ws_in - 1;
				} else {
					o += (size_t)snprintf(out + o, 40, "[%s%s]", d == 'S' ? "^" : "", ws_in);
				}
			} else {
				out[o++] = c;
				out[o++] = d;
			}
			i++;
			continue;
		}
		if (c == '[' && !in_class)
			in_class = 1;
		else if (c == ']' && in_class)
			in_class = 0;
		out[o++] = c;
	}
	out[o] = 0;
	return out;
}

static int compile_res(struct rag_tokenizer *t, const char *const *res, struct rag_error *err)
{
	for (int k = 0; res[k]; k++) {
		int ec;
		PCRE2_SIZE eo;
		char *re = tok_rewrite_re(res[k]);
		pcre2_code *code;
		if (!re)
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE,
				     &ec, &eo, NULL);
		rag_free(re);
		if (!code)
			return rag_error_set(err, RAG_EINTERNAL, "pre-tokenizer regex %d does not compile (error %d)", k, ec);
		pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
		t->pre_re[t->n_pre_re++] = code;
	}
	return 0;
}

void tok_bpe_release(struct rag_tokenizer *t)
{
	for (int k = 0; k < t->n_pre_re; k++)
		pcre2_code_free(t->pre_re[k]);
	t->n_pre_re = 0;
}

void tok_scratch_release(struct tok_scratch *s)
{
	if (s->md)
		pcre2_match_data_free(s->md);
	s->md = NULL;
}

int tok_bpe_init(struct rag_tokenizer *t, const void *gguf, struct rag_error *err)
{
	const struct rag_gguf *g = gguf;
	const struct rag_gguf_kv *kv = rag_gguf_find(g, "tokenizer.ggml.merges");
	const struct rag_gguf_str *ms;
	uint64_t size = 16;
	char tmp[1024];

	if (!kv || kv->type != RAG_GGUF_ARRAY || kv->elem != RAG_GGUF_STRING)
		return rag_error_set(err, RAG_EMODEL, "tokenizer.ggml.merges is missing or not an array of strings");
	if (!(ms = rag_gguf_arr_strs(g, kv)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	for (int b = 0; b < 256; b++) {
		size_t l = rag_utf8_encode(rag_u_byte_to_cp((uint8_t)b), tmp);
		t->byte_id[b] = tok_find(t, tmp, l);
	}
	while (size < kv->n * 2 + 16)
		size <<= 1;
	if (!(t->merges = rag_calloc(size, sizeof *t->merges)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	t->merge_mask = size - 1;
	for (uint64_t r = 0; r < kv->n; r++) {
		const char *s = ms[r].s, *sp;
		size_t n = ms[r].len;
		int32_t a, b, m;
		if (n + 1 > sizeof tmp || !(sp = memchr(s + (n > 0), ' ', n - (n > 0))))
			continue;
		if ((a = tok_find(t, s, (size_t)(sp - s))) < 0 || (b = tok_find(t, sp + 1, n - (size_t)(sp - s) - 1)) < 0)
			continue;
		memcpy(tmp, s, (size_t)(sp - s));
		memcpy(tmp + (sp - s), sp + 1, n - (size_t)(sp - s) - 1);
		if ((m = tok_find(t, tmp, n - 1)) < 0)
			continue;
		uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1, i = mix64(key) & t->merge_mask;
		while (t->merges[i].key && t->merges[i].key != key)
			i = (i + 1) & t->merge_mask;
		if (t->merges[i].key)
			continue;  /* first rank wins */
		t->merges[i].key = key;
		t->merges[i].rank = (uint32_t)r;
		t->merges[i].id = m;
	}
	switch (t->pre) {
	case PRE_DEEPSEEK_LLM:
		return compile_res(t, re_deepseek_llm, err);
	case PRE_DEEPSEEK_CODER:
		return compile_res(t, re_deepseek_coder, err);
	case PRE_FALCON:
		return compile_res(t, re_falcon, err);
	case PRE_STARCODER:
	case PRE_REFACT:
		return compile_res(t, re_starcoder, err);
	case PRE_MPT:
		return compile_res(t, re_mpt, err);
	default:
		break;
	}
	if (t->ignore_merges &&
	    tok_htab_build(&t->cont, t, t->dpool, t->doff, 0, 0, NULL))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	return 0;
}

/* ---- BPE of one word --------------------------------------------------- */

static inline void heap_push(uint64_t *h, size_t *n, uint64_t v)
{
	size_t i = (*n)++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (h[p] <= v)
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = v;
}

static inline uint64_t heap_pop(uint64_t *h, size_t *n)
{
	uint64_t top = h[0], v = h[--(*n)];
	size_t i = 0, m = *n;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= m)
			break;
		if (c + 1 < m && h[c + 1] < h[c])
			c++;
		if (h[c] >= v)
			break;
		h[i] = h[c];
		i = c;
	}
	if (m)
		h[i] = v;
	return top;
}

/* Merge the symbols of s[0..n) (n >= 2); result in sc->sym/symlen, count returned.
 * Pairs merge lowest rank first, leftmost first among equals (Hugging Face's order). */
static size_t bpe_merge(const struct rag_tokenizer *t, struct tok_scratch *sc, const unsigned char *s, size_t n)
{
	int32_t *sym = sc->sym, *mid = sc->prev;
	uint32_t *len = sc->symlen, *rank = sc->rank;
	size_t m = n;

	for (size_t i = 0; i < n; i++) {
		sym[i] = t->byte_id[s[i]];
		len[i] = 1;
	}
	if (n <= 48) {
		for (size_t i = 0; i + 1 < m; i++)
			if (!merge_find(t, sym[i], sym[i + 1], &rank[i], &mid[i]))
				rank[i] = UINT32_MAX;
		for (;;) {
			uint32_t best = UINT32_MAX;
			size_t bi = 0;
			for (size_t i = 0; i + 1 < m; i++)
				if (rank[i] < best) {
					best = rank[i];
					bi = i;
				}
			if (best == UINT32_MAX)
				break;
			sym[bi] = mid[bi];
			len[bi] += len[bi + 1];
			for (size_t i = bi + 1; i + 1 < m; i++) {
				sym[i] = sym[i + 1];
				len[i] = len[i + 1];
				rank[i] = rank[i + 1];
				mid[i] = mid[i + 1];
			}
			m--;
			if (bi + 1 < m && !merge_find(t, sym[bi], sym[bi + 1], &rank[bi], &mid[bi]))
				rank[bi] = UINT32_MAX;
			if (bi > 0 && !merge_find(t, sym[bi - 1], sym[bi], &rank[bi - 1], &mid[bi - 1]))
				rank[bi - 1] = UINT32_MAX;
		}
		return m;
	}
	/* long words: linked list and a heap */
	{
		int32_t *nx = sc->next, *pv = sc->prev;
		uint64_t *h = sc->heap;
		size_t hn = 0, out = 0;
		uint32_t r;
		int32_t id;

		for (size_t i = 0; i < n; i++) {
			pv[i] = (int32_t)i - 1;
			nx[i] = i + 1 < n ? (int32_t)i + 1 : -1;
		}
		for (size_t i = 0; i + 1 < n; i++)
			if (merge_find(t, sym[i], sym[i + 1], &r, &id))
				heap_push(h, &hn, ((uint64_t)r << 32) | i);
		while (hn) {
			uint64_t top = heap_pop(h, &hn);
			uint32_t pos = (uint32_t)top, rk = (uint32_t)(top >> 32);
			int32_t j;
			if (len[pos] == 0 || (j = nx[pos]) < 0)
				continue;
			if (!merge_find(t, sym[pos], sym[j], &r, &id) || r != rk)
				continue;
			sym[pos] = id;
			len[pos] += len[j];
			len[j] = 0;
			nx[pos] = nx[j];
			if (nx[j] >= 0)
				pv[nx[j]] = (int32_t)pos;
			if (pv[pos] >= 0 && merge_find(t, sym[pv[pos]], sym[pos], &r, &id))
				heap_push(h, &hn, ((uint64_t)r << 32) | (uint32_t)pv[pos]);
			if (nx[pos] >= 0 && merge_find(t, sym[pos], sym[nx[pos]], &r, &id))
				heap_push(h, &hn, ((uint64_t)r << 32) | pos);
		}
		for (int32_t i = 0; i >= 0; i = nx[i]) {
			sym[out] = sym[i];
			len[out] = len[i];
			out++;
		}
		return out;
	}
}

static int bpe_word(const struct rag_tokenizer *t, struct tok_scratch *sc, const char *w, size_t n, size_t base,
		    struct rag_tokens *out)
{
	const unsigned char *s = (const unsigned char *)w;
	struct tok_cache_ent *ce = NULL;
	uint32_t hv = 0;
	size_t m;

	if (sc->split) {
		if (sc->split_n * 2 + 2 > sc->split_cap)
			return -1;
		sc->split[sc->split_n * 2] = (uint32_t)base;
		sc->split[sc->split_n * 2 + 1] = (uint32_t)(base + n);
		sc->split_n++;
		return 0;
	}
	if (n == 1) {
		int32_t id = t->byte_id[s[0]];
		if (id < 0)  /* a vocabulary without this byte: as the merged path does */
			id = t->special[RAG_TOK_UNK];
		return id < 0 ? 0 : tok_push(out, id, base, base + 1);
	}
	if (t->ignore_merges) {
		int32_t id = tok_htab_find(&t->cont, w, n);
		if (id >= 0)
			return tok_push(out, id, base, base + n);
	}
	if (n <= TOK_CACHE_KEY) {
		if (sc->cache_owner != t->serial || !sc->cache) {
			if (!sc->cache) {
				sc->cache = rag_calloc(TOK_CACHE_SLOTS, sizeof *sc->cache);
				sc->cache_keys = rag_malloc((size_t)TOK_CACHE_SLOTS * TOK_CACHE_KEY);
				if (!sc->cache || !sc->cache_keys)
					return -1;
			} else {
				memset(sc->cache, 0, TOK_CACHE_SLOTS * sizeof *sc->cache);
			}
			sc->cache_owner = t->serial;
		}
		hv = (uint32_t)tok_hash(w, n);
		ce = &sc->cache[hv & (TOK_CACHE_SLOTS - 1)];
		if (ce->n && ce->hash == hv && ce->klen == n &&
		    memcmp(sc->cache_keys + (size_t)(hv & (TOK_CACHE_SLOTS - 1)) * TOK_CACHE_KEY, w, n) == 0) {
			size_t at = base;
			for (uint32_t k = 0; k < ce->n; k++) {
				int32_t id = ce->ids[k];
				size_t dl = t->doff[id + 1] - t->doff[id];
				if (tok_push(out, id, at, at + dl))
					return -1;
				at += dl;
			}
			return 0;
		}
	}
	if (tok_scratch_syms(sc, n))
		return -1;
	m = bpe_merge(t, sc, s, n);
	{
		size_t at = base;
		for (size_t k = 0; k < m; k++) {
			/* a symbol the vocabulary lacks (a byte that never merged)
			 * is the unknown token, or, without one, left out, as
			 * Hugging Face's BPE and llama.cpp do */
			int32_t id = sc->sym[k] >= 0 ? sc->sym[k] : t->special[RAG_TOK_UNK];
			if (id >= 0 && tok_push(out, id, at, at + sc->symlen[k]))
				return -1;
			at += sc->symlen[k];
		}
	}
	if (ce && m <= 6) {
		int ok = 1;
		for (size_t k = 0; k < m; k++) {
			if (sc->sym[k] < 0 || t->doff[sc->sym[k] + 1] - t->doff[sc->sym[k]] != sc->symlen[k])
				ok = 0;
			ce->ids[k] = sc->sym[k];
		}
		if (ok) {
			ce->hash = hv;
			ce->klen = (uint32_t)n;
			ce->n = (uint32_t)m;
			memcpy(sc->cache_keys + (size_t)(hv & (TOK_CACHE_SLOTS - 1)) * TOK_CACHE_KEY, w, n);
		} else {
			ce->n = 0;
		}
	}
	return 0;
}

/* ---- scanners ---------------------------------------------------------- */

enum { C_END = 0, C_L = 1, C_N = 2, C_WS = 4, C_O = 8 };

static inline uint32_t cp_at(const unsigned char *s, size_t n, size_t i, size_t *l)
{
	if (i >= n) {
		*l = 0;
		return 0xFFFFFFFFu;
	}
	if (s[i] < 0x80) {
		*l = 1;
		return s[i];
	}
	return rag_utf8_decode(s + i, n - i, l);
}

static inline int cls_of(uint32_t c)
{
	if (c == 0xFFFFFFFFu)
		return C_END;
	uint8_t f = rag_u_flags_fast(c);
	if (f & RAG_U_L)
		return C_L;
	if (f & RAG_U_N)
		return C_N;
	if (f & RAG_U_WS)
		return C_WS;
	return C_O;
}

#define EMIT(a, b) do { if (bpe_word(t, sc, text + (a), (b) - (a), base + (a), out)) return -1; } while (0)

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static int scan_gpt2(const struct rag_tokenizer *t, struct tok_scratch *sc, const char *text, size_t n, size_t base,
		     struct rag_tokens *out)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0, l, l2;

	while (i < n) {
		uint32_t c = cp_at(s, n, i, &l);
		size_t j;
		int f;
		if (c == '\'' && i + 1 < n) {
			unsigned char c1 = s[i + 1];
			if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
				EMIT(i, i + 2);
				i += 2;
				continue;
			}
			if (i + 2 < n) {
				unsigned char c2 = s[i + 2];
				if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
					EMIT(i, i + 3);
					i += 3;
					continue;
				}
			}
		}
		if (c == ' ') {
			f = cls_of(cp_at(s, n, i + 1, &l2));
			j = i + 1;
		} else {
			f = cls_of(c);
			j = i;
		}
		if (f == C_L || f == C_N || f == C_O) {
			for (;;) {
				uint32_t d = cp_at(s, n, j, &l2);
				if (cls_of(d) != f)
					break;
				j += l2;
			}
			EMIT(i, j);
			i = j;
			continue;
		}
		/* whitespace */
		{
			size_t k = i, last = i, nws = 0;
			for (;;) {
				uint32_t d = cp_at(s, n, k, &l2);
				if (cls_of(d) != C_WS)
					break;
				last = k;
				k += l2;
				nws++;
			}
			if (nws > 1 && k < n) {
				EMIT(i, last);
				i = last;
				continue;
			}
			if (nws == 0)
				k = i + l;
			EMIT(i, k);
			i = k;
		}
	}
	return 0;
}

static inline int is_crlf(uint32_t c)
{
	return c == '\r' || c == '\n';
}

static inline uint32_t ascii_lower(uint32_t c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * (qwen2: \p{N} instead of \p{N}{1,3}) */
static int scan_llama3(const struct rag_tokenizer *t, struct tok_scratch *sc, const char *text, size_t n, size_t base,
		       struct rag_tokens *out, size_t max_digits)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0, l, l2;

	while (i < n) {
		uint32_t c = cp_at(s, n, i, &l);
		int f = cls_of(c);
		size_t j;
		if (c == '\'' && i + 1 < n) {
			uint32_t c1 = ascii_lower(s[i + 1]);
			if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
				EMIT(i, i + 2);
				i += 2;
				continue;
			}
			if (i + 2 < n) {
				uint32_t c2 = ascii_lower(s[i + 2]);
				if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
					EMIT(i, i + 3);
					i += 3;
					continue;
				}
			}
		}
		/* [^\r\n\p{L}\p{N}]?\p{L}+ */
		if (f == C_L || (!is_crlf(c) && f != C_N && cls_of(cp_at(s, n, i + l, &l2)) == C_L)) {
			j = i + l;
			for (;;) {
				uint32_t d = cp_at(s, n, j, &l2);
				if (cls_of(d) != C_L)
					break;
				j += l2;
			}
			EMIT(i, j);
			i = j;
			continue;
		}
		/* \p{N}{1,3} */
		if (f == C_N) {
			size_t k = 0;
			j = i;
			while (k < max_digits) {
				uint32_t d = cp_at(s, n, j, &l2);
				if (cls_of(d) != C_N)
					break;
				j += l2;
				k++;
			}
			EMIT(i, j);
			i = j;
			continue;
		}
		/*  ?[^\s\p{L}\p{N}]+[\r\n]* */
		{
			int f2 = f;
			j = i;
			if (c == ' ') {
				f2 = cls_of(cp_at(s, n, i + 1, &l2));
				j = i + 1;
			}
			if (f2 == C_O) {
				for (;;) {
					uint32_t d = cp_at(s, n, j, &l2);
					if (cls_of(d) != C_O)
						break;
					j += l2;
				}
				while (j < n && is_crlf(s[j]))
					j++;
				EMIT(i, j);
				i = j;
				continue;
			}
		}
		/* \s*[\r\n]+ | \s+(?!\S) | \s+ */
		{
			size_t k = i, last_nl_end = 0, last = i, nws = 0;
			for (;;) {
				uint32_t d = cp_at(s, n, k, &l2);
				if (cls_of(d) != C_WS)
					break;
				last = k;
				k += l2;
				nws++;
				if (is_crlf(d))
					last_nl_end = k;
			}
			if (last_nl_end) {
				EMIT(i, last_nl_end);
				i = last_nl_end;
				continue;
			}
			if (nws > 1 && k < n) {
				EMIT(i, last);
				i = last;
				continue;
			}
			if (nws == 0)
				k = i + l;
			EMIT(i, k);
			i = k;
		}
	}
	return 0;
}

/* A sequence of regex splits (Hugging Face Split, behavior Isolated): each regex cuts
 * every current fragment into its matches and the gaps between them. */
static int scan_regex(const struct rag_tokenizer *t, struct tok_scratch *sc, const char *text, size_t n, size_t base,
		      struct rag_tokens *out)
{
	uint32_t *fr;
	size_t nf = 2;

	if (!sc->md && !(sc->md = pcre2_match_data_create(4, NULL)))
		return -1;  /* patterns have no groups: any tokenizer can share it */
	if (sc->frag_cap < 2 * (n + 2)) {
		size_t cap = 4 * (n + 2);
		uint32_t *p = rag_reallocarray(sc->frag, cap, sizeof *p);
		if (!p)
			return -1;
		sc->frag = p;
		sc->frag_cap = cap;
	}
	/* fragments as a list of boundaries in two halves of frag */
	fr = sc->frag;
	fr[0] = 0;
	fr[1] = (uint32_t)n;
	nf = 2;
	for (int r = 0; r < t->n_pre_re; r++) {
		uint32_t *dst = sc->frag + (r % 2 == 0 ? sc->frag_cap / 2 : 0);
		size_t nd = 0;
		pcre2_code *code = t->pre_re[r];
		for (size_t k = 0; k + 1 < nf; k++) {
			size_t a = fr[k], b = fr[k + 1], at = 0;
			const char *sub = text + a;
			size_t sn = b - a;
			if (nd == 0 || dst[nd - 1] != a)
				dst[nd++] = (uint32_t)a;
			while (at <= sn) {
				int rc = pcre2_match(code, (PCRE2_SPTR)sub, sn, at, PCRE2_NO_UTF_CHECK, sc->md, NULL);
				if (rc < 0)
					break;
				PCRE2_SIZE *ov = pcre2_get_ovector_pointer(sc->md);
				size_t ms = ov[0], me = ov[1];
				if (me == ms) {
					/* empty match: step one character */
					size_t l = 1;
					if (ms < sn)
						cp_at((const unsigned char *)sub, sn, ms, &l);
					at = ms + (l ? l : 1);
					continue;
				}
				if (dst[nd - 1] != a + ms)
					dst[nd++] = (uint32_t)(a + ms);
				dst[nd++] = (uint32_t)(a + me);
				at = me;
			}
			if (dst[nd - 1] != b)
				dst[nd++] = (uint32_t)b;
		}
		fr = dst;
		nf = nd;
	}
	for (size_t k = 0; k + 1 < nf; k++)
		if (fr[k + 1] > fr[k])
			EMIT(fr[k], fr[k + 1]);
	return 0;
}

int tok_bpe_encode(const struct rag_tokenizer *t, const char *text, size_t len, size_t base,
		   struct rag_tokens *out, struct rag_error *err)
{
	struct tok_scratch *sc = tok_scratch_get(out, err);
	int rc;

	if (!sc)
		return RAG_EINTERNAL;
	switch (t->pre) {
	case PRE_LLAMA3:
		rc = scan_llama3(t, sc, text, len, base, out, 3);
		break;
	case PRE_QWEN2:
		rc = scan_llama3(t, sc, text, len, base, out, 1);
		break;
	case PRE_GPT2:
	case PRE_DEFAULT:
		rc = scan_gpt2(t, sc, text, len, base, out);
		break;
	default:
		rc = scan_regex(t, sc, text, len, base, out);
		break;
	}
	if (rc)
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	return 0;
}

int tok_bpe_split(enum tok_pre pre, const char *text, size_t len, uint32_t *bounds, size_t cap, size_t *n)
{
	struct rag_tokenizer t;
	struct rag_tokens out;
	struct tok_scratch *sc;
	struct rag_error err;
	int rc = RAG_EINTERNAL;

	memset(&t, 0, sizeof t);
	rag_tokens_init(&out);
	rag_u_init();
	t.pre = pre;
	switch (pre) {
	case PRE_DEEPSEEK_LLM: rc = compile_res(&t, re_deepseek_llm, &err); break;
	case PRE_DEEPSEEK_CODER: rc = compile_res(&t, re_deepseek_coder, &err); break;
	case PRE_FALCON: rc = compile_res(&t, re_falcon, &err); break;
	case PRE_STARCODER: case PRE_REFACT: rc = compile_res(&t, re_starcoder, &err); break;
	case PRE_MPT: rc = compile_res(&t, re_mpt, &err); break;
	default: rc = 0; break;
	}
	if (rc)
		goto out;
	rc = RAG_EINTERNAL;
	if (!(sc = tok_scratch_get(&out, &err)))
		goto out;
	sc->split = bounds;
	sc->split_cap = cap;
	sc->split_n = 0;
	rc = tok_bpe_encode(&t, text, len, 0, &out, &err) ? RAG_EDATA : 0;
	*n = sc->split_n;
	sc->split = NULL;
out:
	tok_bpe_release(&t);
	rag_tokens_free(&out);
	return rc;
}
