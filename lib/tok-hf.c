/* tok-hf.c: a Hugging Face tokenizer.json interpreted from its own description:
 * added tokens, normalizers, pre-tokenizers, the WordPiece / BPE / Unigram /
 * WordLevel models and the post-processor template, as the `tokenizers`
 * library runs them. */
#include "config.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "alloc.h"
#include "arena.h"
#include "json.h"
#include "tok-internal.h"
#include "unicode.h"

/* ---- the description, compiled ------------------------------------------- */

enum norm_type {
	N_BERT, N_LOWER, N_NFC, N_NFD, N_NFKC, N_NFKD, N_STRIP_ACCENTS, N_STRIP, N_REPLACE, N_PREPEND,
	N_PRECOMPILED, N_NMT,
};

enum pre_type {
	P_BERT, P_WHITESPACE, P_WSSPLIT, P_METASPACE, P_BYTELEVEL, P_SPLIT, P_PUNCT, P_DIGITS, P_CHARDELIM,
};

enum behavior { B_REMOVED, B_ISOLATED, B_PREV, B_NEXT, B_CONTIG };

enum model_type { M_WPM, M_BPE, M_UGM, M_WORDLEVEL };

struct hf_norm {
	enum norm_type type;
	int clean, chinese, strip, lower;   /* BertNormalizer */
	int left, right;                    /* Strip */
	pcre2_code *re;                     /* Replace (a String pattern is compiled escaped) */
	const char *s;                      /* Replace content, Prepend text */
	size_t slen;
	uint32_t *xcda;                     /* Precompiled */
	size_t n_xcda;
	char *repl;
	size_t n_repl;
};

struct hf_pre {
	enum pre_type type;
	enum behavior behavior;
	int invert;
	pcre2_code *re;                     /* Split, Whitespace, ByteLevel's regex */
	uint32_t ch;                        /* CharDelimiterSplit */
	char rep[8];                        /* Metaspace replacement */
	size_t replen;
	uint32_t repcp;
	int prepend;                        /* Metaspace: 0 never, 1 first, 2 always */
	int split;                          /* Metaspace split */
	int prefix_space, use_regex;        /* ByteLevel */
	int individual;                     /* Digits */
};

struct hf_added {
	int32_t id;
	const char *s;
	size_t len;
	int special, normalized, lstrip, rstrip, single_word;
};

struct hf_template {
	struct tok_hf_item *items;
	size_t n;
	int set;
};

/* string -> id table */
struct shash {
	uint32_t *slots;   /* id + 1 */
	uint32_t mask;
};

struct merge_ent {
	uint64_t key;      /* ((a << 32) | b) + 1, 0 empty */
	uint32_t rank;
	int32_t id;
};

struct tok_hf {
	struct rag_arena a;
	struct hf_norm *norm;
	size_t n_norm;
	struct hf_pre *pre;
	size_t n_pre;
	enum model_type model;
	/* vocabulary of the model (ids as in tokenizer.json) */
	uint32_t n;
	const char **tok;
	uint32_t *len;
	double *score;
	struct shash vocab;
	uint32_t max_piece;
	int32_t unk;                        /* -1: none */
	const char *prefix, *suffix;        /* WordPiece / BPE continuing_subword_prefix, BPE end_of_word_suffix */
	size_t plen, slen;
	uint32_t max_chars;                 /* WordPiece max_input_chars_per_word */
	int fuse_unk, byte_fallback, ignore_merges;
	int32_t byte_tok[256];              /* <0xXX> ids, -1 absent */
	struct merge_ent *merges;
	uint64_t merge_mask;
	double unk_score;
	/* added tokens, longest first */
	struct hf_added *added;
	size_t n_added;
	uint8_t added_first[256];
	struct hf_template single, pair;
	int has_regex;
};

#define JS(o, k) (rag_json_get_str((o), (k), NULL))

static const struct rag_json *jget(const struct rag_json *o, const char *key)
{
	return o && o->type == RAG_JSON_OBJECT ? rag_json_get(o, key) : NULL;
}

static int jflag(const struct rag_json *o, const char *key, int def)
{
	const struct rag_json *v = jget(o, key);
	if (!v)
		return def;
	if (v->type == RAG_JSON_TRUE)
		return 1;
	if (v->type == RAG_JSON_FALSE)
		return 0;
	return def;
}

static int unsupported(struct rag_error *err, const char *what, const char *type)
{
	return rag_error_set(err, RAG_EMODEL, "tokenizer.json: %s '%s' is not supported", what, type ? type : "(no type)");
}

/* ---- string hash ------------------------------------------------------------- */

static int shash_build(struct tok_hf *h)
{
	uint32_t size = 16;
	while (size < h->n * 2u + 16)
		size <<= 1;
	if (!(h->vocab.slots = rag_calloc(size, sizeof *h->vocab.slots)))
		return -1;
	h->vocab.mask = size - 1;
	for (uint32_t id = 0; id < h->n; id++) {
		uint32_t i;
		if (!h->tok[id])
			continue;
		i = (uint32_t)tok_hash(h->tok[id], h->len[id]) & h->vocab.mask;
		for (;; i = (i + 1) & h->vocab.mask) {
			uint32_t v = h->vocab.slots[i];
			if (!v) {
				h->vocab.slots[i] = id + 1;
				break;
			}
			if (h->len[v - 1] == h->len[id] && !memcmp(h->tok[v - 1], h->tok[id], h->len[id]))
				break;  /* first id wins */
		}
	}
	return 0;
}

static int32_t vfind(const struct tok_hf *h, const char *s, size_t n)
{
	uint32_t i = (uint32_t)tok_hash(s, n) & h->vocab.mask;
	for (;; i = (i + 1) & h->vocab.mask) {
		uint32_t v = h->vocab.slots[i];
		if (!v)
			return -1;
		if (h->len[v - 1] == n && !memcmp(h->tok[v - 1], s, n))
			return (int32_t)(v - 1);
	}
}

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static int merge_find(const struct tok_hf *h, int32_t a, int32_t b, uint32_t *rank, int32_t *id)
{
	uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1, i;
	if (!h->merges)
		return 0;
	for (i = mix64(key) & h->merge_mask;; i = (i + 1) & h->merge_mask) {
		if (!h->merges[i].key)
			return 0;
		if (h->merges[i].key == key) {
			*rank = h->merges[i].rank;
			*id = h->merges[i].id;
			return 1;
		}
	}
}

/* ---- regexes ----------------------------------------------------------------- */

static pcre2_code *compile_re(const char *re, size_t n, int literal, struct rag_error *err, int *rc)
{
	char *src, *rw;
	int ec;
	PCRE2_SIZE eo;
	pcre2_code *code;

	*rc = 0;
	if (literal) {
		src = rag_malloc(n * 2 + 8);
		if (!src) {
			*rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			return NULL;
		}
		/* \Q...\E, with any \E inside split out */
		size_t o = 0;
		memcpy(src + o, "\\Q", 2), o += 2;
		for (size_t i = 0; i < n; i++) {
			if (i + 1 < n && re[i] == '\\' && re[i + 1] == 'E') {
				rag_free(src);
				*rc = unsupported(err, "pattern", "a literal containing \\E");
				return NULL;
			}
			src[o++] = re[i];
		}
		memcpy(src + o, "\\E", 2), o += 2;
		src[o] = 0;
		rw = src;
	} else {
		rw = tok_rewrite_re(re);
		if (!rw) {
			*rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			return NULL;
		}
	}
	code = pcre2_compile((PCRE2_SPTR)rw, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
	rag_free(rw);
	if (!code) {
		*rc = rag_error_set(err, RAG_EMODEL, "tokenizer.json: regex '%.60s' does not compile (error %d)", re, ec);
		return NULL;
	}
	pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
	return code;
}

static pcre2_code *pattern_of(const struct rag_json *p, struct rag_error *err, int *rc)
{
	const struct rag_json *v;
	if ((v = jget(p, "Regex")) && v->type == RAG_JSON_STRING)
		return compile_re(v->u.str.s, v->u.str.len, 0, err, rc);
	if ((v = jget(p, "String")) && v->type == RAG_JSON_STRING)
		return compile_re(v->u.str.s, v->u.str.len, 1, err, rc);
	*rc = rag_error_set(err, RAG_EMODEL, "tokenizer.json: a pattern is neither {\"String\": ...} nor {\"Regex\": ...}");
	return NULL;
}

static const char gpt2_re[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* ---- base64 (Precompiled charsmap) ---------------------------------------------- */

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

static unsigned char *b64dec(const char *s, size_t n, size_t *out_n)
{
	unsigned char *o = rag_malloc(n / 4 * 3 + 4);
	size_t k = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int v = b64val((unsigned char)s[i]);
		if (v < 0)
			continue;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[k++] = (unsigned char)(acc >> bits);
		}
	}
	*out_n = k;
	return o;
}

/* ---- building ------------------------------------------------------------------- */

static int add_norm(struct tok_hf *h, const struct rag_json *n, struct rag_error *err);

static struct hf_norm *new_norm(struct tok_hf *h)
{
	struct hf_norm *p = rag_reallocarray(h->norm, h->n_norm + 1, sizeof *p);
	if (!p)
		return NULL;
	h->norm = p;
	memset(&p[h->n_norm], 0, sizeof *p);
	return &p[h->n_norm++];
}

static int add_norm(struct tok_hf *h, const struct rag_json *n, struct rag_error *err)
{
	const char *type = JS(n, "type");
	struct hf_norm *x;
	int rc = 0;

	if (!n || n->type == RAG_JSON_NULL)
		return 0;
	if (!type)
		return unsupported(err, "normalizer", NULL);
	if (!strcmp(type, "Sequence")) {
		const struct rag_json *l = jget(n, "normalizers");
		if (!l || l->type != RAG_JSON_ARRAY)
			return rag_error_set(err, RAG_EMODEL, "tokenizer.json: normalizer Sequence without a normalizers list");
		for (size_t i = 0; i < l->u.arr.n; i++)
			if ((rc = add_norm(h, &l->u.arr.items[i], err)))
				return rc;
		return 0;
	}
	if (!(x = new_norm(h)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	if (!strcmp(type, "BertNormalizer")) {
		const struct rag_json *sa = jget(n, "strip_accents");
		x->type = N_BERT;
		x->clean = jflag(n, "clean_text", 1);
		x->chinese = jflag(n, "handle_chinese_chars", 1);
		x->lower = jflag(n, "lowercase", 1);
		x->strip = sa && sa->type != RAG_JSON_NULL ? sa->type == RAG_JSON_TRUE : x->lower;
	} else if (!strcmp(type, "Lowercase")) {
		x->type = N_LOWER;
	} else if (!strcmp(type, "NFC")) {
		x->type = N_NFC;
	} else if (!strcmp(type, "NFD")) {
		x->type = N_NFD;
	} else if (!strcmp(type, "NFKC")) {
		x->type = N_NFKC;
	} else if (!strcmp(type, "NFKD")) {
		x->type = N_NFKD;
	} else if (!strcmp(type, "StripAccents")) {
		x->type = N_STRIP_ACCENTS;
	} else if (!strcmp(type, "Nmt")) {
		x->type = N_NMT;
	} else if (!strcmp(type, "Strip")) {
		x->type = N_STRIP;
		x->left = jflag(n, "strip_left", 1);
		x->right = jflag(n, "strip_right", 1);
	} else if (!strcmp(type, "Replace")) {
		const struct rag_json *c = jget(n, "content");
		x->type = N_REPLACE;
		if (!c || c->type != RAG_JSON_STRING)
			return rag_error_set(err, RAG_EMODEL, "tokenizer.json: normalizer Replace without content");
		x->s = c->u.str.s;
		x->slen = c->u.str.len;
		if (!(x->re = pattern_of(jget(n, "pattern"), err, &rc)))
			return rc;
		h->has_regex = 1;
	} else if (!strcmp(type, "Prepend")) {
		const struct rag_json *c = jget(n, "prepend");
		x->type = N_PREPEND;
		if (!c || c->type != RAG_JSON_STRING)
			return rag_error_set(err, RAG_EMODEL, "tokenizer.json: normalizer Prepend without prepend");
		x->s = c->u.str.s;
		x->slen = c->u.str.len;
	} else if (!strcmp(type, "Precompiled")) {
		const struct rag_json *c = jget(n, "precompiled_charsmap");
		unsigned char *blob;
		size_t bn = 0;
		uint32_t size;
		x->type = N_PRECOMPILED;
		if (!c || c->type == RAG_JSON_NULL)
			return 0;  /* an empty charsmap: the identity */
		if (c->type != RAG_JSON_STRING)
			return rag_error_set(err, RAG_EMODEL, "tokenizer.json: Precompiled charsmap is not a base64 string");
		if (!(blob = b64dec(c->u.str.s, c->u.str.len, &bn)))
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		if (bn == 0) {
			rag_free(blob);
			return 0;
		}
		memcpy(&size, blob, bn >= 4 ? 4 : 0);
		if (bn < 4 || (uint64_t)size + 4 > bn || size % 4) {
			rag_free(blob);
			return rag_error_set(err, RAG_EMODEL, "tokenizer.json: Precompiled charsmap is malformed");
		}
		x->xcda = rag_malloc(size ? size : 4);
		x->repl = rag_malloc(bn - 4 - size + 1);
		if (!x->xcda || !x->repl) {
			rag_free(blob);
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		}
		memcpy(x->xcda, blob + 4, size);
		x->n_xcda = size / 4;
		x->n_repl = bn - 4 - size;
		memcpy(x->repl, blob + 4 + size, x->n_repl);
		x->repl[x->n_repl] = 0;
		rag_free(blob);
	} else {
		h->n_norm--;
		return unsupported(err, "normalizer", type);
	}
	return 0;
}

static int behavior_of(const struct rag_json *p, enum behavior def, enum behavior *out, struct rag_error *err)
{
	const char *b = JS(p, "behavior");
	static const struct { const char *name; enum behavior b; } names[] = {
		{ "Removed", B_REMOVED }, { "Isolated", B_ISOLATED }, { "MergedWithPrevious", B_PREV },
		{ "MergedWithNext", B_NEXT }, { "Contiguous", B_CONTIG },
	};
	*out = def;
	if (!b)
		return 0;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(b, names[i].name)) {
			*out = names[i].b;
			return 0;
		}
	return unsupported(err, "split behavior", b);
}

static struct hf_pre *new_pre(struct tok_hf *h)
{
	struct hf_pre *p = rag_reallocarray(h->pre, h->n_pre + 1, sizeof *p);
	if (!p)
		return NULL;
	h->pre = p;
	memset(&p[h->n_pre], 0, sizeof *p);
	return &p[h->n_pre++];
}

static int add_pre(struct tok_hf *h, const struct rag_json *n, struct rag_error *err)
{
	const char *type = JS(n, "type");
	struct hf_pre *x;
	int rc = 0;

	if (!n || n->type == RAG_JSON_NULL)
		return 0;
	if (!type)
		return unsupported(err, "pre-tokenizer", NULL);
	if (!strcmp(type, "Sequence")) {
		const struct rag_json *l = jget(n, "pretokenizers");
		if (!l || l->type != RAG_JSON_ARRAY)
			return rag_error_set(err, RAG_EMODEL, "tokenizer.json: pre-tokenizer Sequence without a pretokenizers list");
		for (size_t i = 0; i < l->u.arr.n; i++)
			if ((rc = add_pre(h, &l->u.arr.items[i], err)))
				return rc;
		return 0;
	}
	if (!(x = new_pre(h)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	if (!strcmp(type, "BertPreTokenizer")) {
		x->type = P_BERT;
	} else if (!strcmp(type, "Whitespace")) {
		x->type = P_WHITESPACE;
		/* \w+|[^\w\s]+ of Rust's regex crate, whose \w is Alphabetic, marks, Nd, Pc and Join_Control */
		static const char ws_re[] = "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}]+|"
					    "[^\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}\\s]+";
		if (!(x->re = compile_re(ws_re, sizeof ws_re - 1, 0, err, &rc)))
			return rc;
		h->has_regex = 1;
	} else if (!strcmp(type, "WhitespaceSplit")) {
		x->type = P_WSSPLIT;
	} else if (!strcmp(type, "Metaspace")) {
		const struct rag_json *r = jget(n, "replacement");
		const char *ps = JS(n, "prepend_scheme");
		size_t l;
		x->type = P_METASPACE;
		if (r && r->type == RAG_JSON_STRING && r->u.str.len > 0 && r->u.str.len < sizeof x->rep) {
			memcpy(x->rep, r->u.str.s, r->u.str.len);
			x->replen = r->u.str.len;
		} else {
			memcpy(x->rep, "\xe2\x96\x81", 3);
			x->replen = 3;
		}
		x->repcp = rag_utf8_decode((const unsigned char *)x->rep, x->replen, &l);
		if (l != x->replen)
			return rag_error_set(err, RAG_EMODEL, "tokenizer.json: Metaspace replacement is not one character");
		x->split = jflag(n, "split", 1);
		if (ps) {
			if (!strcmp(ps, "always"))
				x->prepend = 2;
			else if (!strcmp(ps, "first"))
				x->prepend = 1;
			else if (!strcmp(ps, "never"))
				x->prepend = 0;
			else
				return unsupported(err, "Metaspace prepend_scheme", ps);
		} else {
			x->prepend = jflag(n, "add_prefix_space", 1) ? 2 : 0;
		}
	} else if (!strcmp(type, "ByteLevel")) {
		x->type = P_BYTELEVEL;
		x->prefix_space = jflag(n, "add_prefix_space", 1);
		x->use_regex = jflag(n, "use_regex", 1);
		if (x->use_regex) {
			if (!(x->re = compile_re(gpt2_re, sizeof gpt2_re - 1, 0, err, &rc)))
				return rc;
			h->has_regex = 1;
		}
	} else if (!strcmp(type, "Split")) {
		x->type = P_SPLIT;
		x->invert = jflag(n, "invert", 0);
		if ((rc = behavior_of(n, B_ISOLATED, &x->behavior, err)))
			return rc;
		if (!(x->re = pattern_of(jget(n, "pattern"), err, &rc)))
			return rc;
		h->has_regex = 1;
	} else if (!strcmp(type, "Punctuation")) {
		x->type = P_PUNCT;
		if ((rc = behavior_of(n, B_ISOLATED, &x->behavior, err)))
			return rc;
	} else if (!strcmp(type, "Digits")) {
		x->type = P_DIGITS;
		x->individual = jflag(n, "individual_digits", 0);
	} else if (!strcmp(type, "CharDelimiterSplit")) {
		const char *d = JS(n, "delimiter");
		size_t l;
		x->type = P_CHARDELIM;
		if (!d || !*d)
			return rag_error_set(err, RAG_EMODEL, "tokenizer.json: CharDelimiterSplit without a delimiter");
		x->ch = rag_utf8_decode((const unsigned char *)d, strlen(d), &l);
	} else {
		h->n_pre--;
		return unsupported(err, "pre-tokenizer", type);
	}
	return 0;
}

/* Grow the vocabulary arrays to hold id. */
static int vocab_room(struct tok_hf *h, uint32_t n)
{
	if (n <= h->n)
		return 0;
	const char **t = rag_reallocarray(h->tok, n, sizeof *t);
	if (!t)
		return -1;
	h->tok = t;
	uint32_t *l = rag_reallocarray(h->len, n, sizeof *l);
	if (!l)
		return -1;
	h->len = l;
	double *s = rag_reallocarray(h->score, n, sizeof *s);
	if (!s)
		return -1;
	h->score = s;
	for (uint32_t i = h->n; i < n; i++) {
		h->tok[i] = NULL;
		h->len[i] = 0;
		h->score[i] = 0;
	}
	h->n = n;
	return 0;
}

static int put_tok(struct tok_hf *h, double id, const char *s, size_t len, double score, struct rag_error *err)
{
	if (!(id >= 0 && id < (1 << 24)) || id != (double)(int64_t)id)
		return rag_error_set(err, RAG_EMODEL, "tokenizer.json: bad id for token '%.40s'", s);
	if (vocab_room(h, (uint32_t)id + 1))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	if (!h->tok[(uint32_t)id]) {
		h->tok[(uint32_t)id] = s;
		h->len[(uint32_t)id] = (uint32_t)len;
		h->score[(uint32_t)id] = score;
	}
	if (len > h->max_piece)
		h->max_piece = (uint32_t)len;
	return 0;
}

static int build_merges(struct tok_hf *h, const struct rag_json *m, struct rag_error *err)
{
	uint64_t size = 16;
	char *buf = NULL;
	size_t cap = 0;

	if (!m || m->type != RAG_JSON_ARRAY || !m->u.arr.n)
		return 0;
	while (size < (uint64_t)m->u.arr.n * 2 + 16)
		size <<= 1;
	if (!(h->merges = rag_calloc(size, sizeof *h->merges)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	h->merge_mask = size - 1;
	for (size_t r = 0; r < m->u.arr.n; r++) {
		const struct rag_json *e = &m->u.arr.items[r];
		const char *a, *b;
		size_t al, bl, pl = 0;
		int32_t ia, ib, in;
		if (e->type == RAG_JSON_STRING) {
			const char *sp = memchr(e->u.str.s, ' ', e->u.str.len);
			if (!sp)
				goto bad;
			a = e->u.str.s;
			al = (size_t)(sp - a);
			b = sp + 1;
			bl = e->u.str.len - al - 1;
			if (memchr(b, ' ', bl))
				goto bad;
		} else if (e->type == RAG_JSON_ARRAY && e->u.arr.n == 2 && e->u.arr.items[0].type == RAG_JSON_STRING &&
			   e->u.arr.items[1].type == RAG_JSON_STRING) {
			a = e->u.arr.items[0].u.str.s;
			al = e->u.arr.items[0].u.str.len;
			b = e->u.arr.items[1].u.str.s;
			bl = e->u.arr.items[1].u.str.len;
		} else {
			goto bad;
		}
		ia = vfind(h, a, al);
		ib = vfind(h, b, bl);
		if (ia < 0 || ib < 0) {
			rag_free(buf);
			return rag_error_set(err, RAG_EMODEL, "tokenizer.json: merge %zu names a token not in the vocabulary", r);
		}
		if (h->plen && bl >= h->plen && !memcmp(b, h->prefix, h->plen))
			pl = h->plen;
		if (al + bl + 1 > cap) {
			char *nb = rag_realloc(buf, (cap = (al + bl + 1) * 2));
			if (!nb) {
				rag_free(buf);
				return rag_error_set(err, RAG_EINTERNAL, "out of memory");
			}
			buf = nb;
		}
		memcpy(buf, a, al);
		memcpy(buf + al, b + pl, bl - pl);
		in = vfind(h, buf, al + bl - pl);
		if (in < 0) {
			rag_free(buf);
			return rag_error_set(err, RAG_EMODEL, "tokenizer.json: merge %zu makes a token not in the vocabulary", r);
		}
		{
			uint64_t key = (((uint64_t)(uint32_t)ia << 32) | (uint32_t)ib) + 1, i;
			for (i = mix64(key) & h->merge_mask; h->merges[i].key && h->merges[i].key != key;
			     i = (i + 1) & h->merge_mask)
				;
			if (!h->merges[i].key) {
				h->merges[i].key = key;
				h->merges[i].rank = (uint32_t)r;
				h->merges[i].id = in;
			}
		}
	}
	rag_free(buf);
	return 0;
bad:
	rag_free(buf);
	return rag_error_set(err, RAG_EMODEL, "tokenizer.json: a merge is neither \"a b\" nor [a, b]");
}

static int build_model(struct tok_hf *h, const struct rag_json *m, struct rag_error *err)
{
	const char *type = JS(m, "type");
	const struct rag_json *v = jget(m, "vocab"), *u;
	int rc;

	if (!type) {
		/* older files leave the type out: tell the model by its fields */
		if (v && v->type == RAG_JSON_ARRAY)
			type = "Unigram";
		else if (jget(m, "merges"))
			type = "BPE";
		else if (jget(m, "max_input_chars_per_word"))
			type = "WordPiece";
		else
			return unsupported(err, "model", NULL);
	}
	if (!strcmp(type, "WordPiece"))
		h->model = M_WPM;
	else if (!strcmp(type, "BPE"))
		h->model = M_BPE;
	else if (!strcmp(type, "Unigram"))
		h->model = M_UGM;
	else if (!strcmp(type, "WordLevel"))
		h->model = M_WORDLEVEL;
	else
		return unsupported(err, "model", type);
	h->unk = -1;
	if (h->model == M_UGM) {
		double mn = DBL_MAX, id;
		if (!v || v->type != RAG_JSON_ARRAY)
			return rag_error_set(err, RAG_EMODEL, "tokenizer.json: Unigram vocab is not a list of [piece, score]");
		for (size_t i = 0; i < v->u.arr.n; i++) {
			const struct rag_json *e = &v->u.arr.items[i];
			if (e->type != RAG_JSON_ARRAY || e->u.arr.n != 2 || e->u.arr.items[0].type != RAG_JSON_STRING ||
			    e->u.arr.items[1].type != RAG_JSON_NUMBER)
				return rag_error_set(err, RAG_EMODEL, "tokenizer.json: Unigram vocab entry %zu is not [piece, score]", i);
			if ((rc = put_tok(h, (double)i, e->u.arr.items[0].u.str.s, e->u.arr.items[0].u.str.len,
					  e->u.arr.items[1].u.num, err)))
				return rc;
			if (e->u.arr.items[1].u.num < mn)
				mn = e->u.arr.items[1].u.num;
		}
		h->unk_score = (mn == DBL_MAX ? 0 : mn) - 10.0;
		if (rag_json_get_num(m, "unk_id", &id)) {
			if (!(id >= 0 && id < h->n))
				return rag_error_set(err, RAG_EMODEL, "tokenizer.json: Unigram unk_id %g is out of range", id);
			h->unk = (int32_t)id;
		}
		h->fuse_unk = 1;
		h->byte_fallback = jflag(m, "byte_fallback", 0);
	} else {
		if (!v || v->type != RAG_JSON_OBJECT)
			return rag_error_set(err, RAG_EMODEL, "tokenizer.json: %s vocab is not an object", type);
		for (size_t i = 0; i < v->u.obj.n; i++) {
			const struct rag_json_member *e = &v->u.obj.members[i];
			if (e->value.type != RAG_JSON_NUMBER)
				return rag_error_set(err, RAG_EMODEL, "tokenizer.json: bad id for token '%.40s'", e->key);
			if ((rc = put_tok(h, e->value.u.num, e->key, e->key_len, 0, err)))
				return rc;
		}
	}
	if (shash_build(h))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	if (h->model != M_UGM && (u = jget(m, "unk_token")) && u->type == RAG_JSON_STRING) {
		h->unk = vfind(h, u->u.str.s, u->u.str.len);
		if (h->unk < 0 && h->model != M_BPE)
			return rag_error_set(err, RAG_EMODEL, "tokenizer.json: unk_token '%.40s' is not in the vocabulary",
					     u->u.str.s);
	}
	if (h->model == M_WPM) {
		double mc;
		h->prefix = JS(m, "continuing_subword_prefix");
		if (!h->prefix)
			h->prefix = "##";
		h->max_chars = 100;
		if (rag_json_get_num(m, "max_input_chars_per_word", &mc) && mc >= 0)
			h->max_chars = (uint32_t)mc;
		if (h->unk < 0)
			return rag_error_set(err, RAG_EMODEL, "tokenizer.json: WordPiece needs an unk_token");
	} else if (h->model == M_BPE) {
		const struct rag_json *d = jget(m, "dropout");
		if (d && d->type == RAG_JSON_NUMBER && d->u.num > 0)
			return unsupported(err, "BPE option", "dropout");
		h->prefix = JS(m, "continuing_subword_prefix");
		h->suffix = JS(m, "end_of_word_suffix");
		h->fuse_unk = jflag(m, "fuse_unk", 0);
		h->byte_fallback = jflag(m, "byte_fallback", 0);
		h->ignore_merges = jflag(m, "ignore_merges", 0);
	} else if (h->model == M_WORDLEVEL && h->unk < 0) {
		return rag_error_set(err, RAG_EMODEL, "tokenizer.json: WordLevel needs an unk_token");
	}
	h->plen = h->prefix ? strlen(h->prefix) : 0;
	h->slen = h->suffix ? strlen(h->suffix) : 0;
	for (int b = 0; b < 256; b++) {
		char name[8];
		snprintf(name, sizeof name, "<0x%02X>", b);
		h->byte_tok[b] = vfind(h, name, 6);
	}
	if (h->model == M_BPE && (rc = build_merges(h, jget(m, "merges"), err)))
		return rc;
	return 0;
}

static int cmp_added(const void *a, const void *b)
{
	const struct hf_added *x = a, *y = b;
	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int build_added(struct tok_hf *h, const struct rag_json *l, uint32_t n_vocab, struct rag_error *err)
{
	size_t k = 0;

	if (!l || l->type != RAG_JSON_ARRAY || !l->u.arr.n)
		return 0;
	if (!(h->added = rag_calloc(l->u.arr.n, sizeof *h->added)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	for (size_t i = 0; i < l->u.arr.n; i++) {
		const struct rag_json *e = &l->u.arr.items[i], *c = jget(e, "content");
		double id;
		struct hf_added *x = &h->added[k];
		if (!c || c->type != RAG_JSON_STRING || !rag_json_get_num(e, "id", &id) || !(id >= 0 && id < n_vocab))
			return rag_error_set(err, RAG_EMODEL, "tokenizer.json: added token %zu has no content or a bad id", i);
		if (!c->u.str.len)
			continue;
		x->id = (int32_t)id;
		x->s = c->u.str.s;
		x->len = c->u.str.len;
		x->special = jflag(e, "special", 0);
		x->normalized = jflag(e, "normalized", !x->special);
		x->lstrip = jflag(e, "lstrip", 0);
		x->rstrip = jflag(e, "rstrip", 0);
		x->single_word = jflag(e, "single_word", 0);
		h->added_first[(unsigned char)x->s[0]] = 1;
		k++;
	}
	h->n_added = k;
	qsort(h->added, k, sizeof *h->added, cmp_added);
	return 0;
}

/* The id of an added or vocabulary token by its text. */
static int32_t token_id(const struct tok_hf *h, const char *s, size_t n)
{
	for (size_t i = 0; i < h->n_added; i++)
		if (h->added[i].len == n && !memcmp(h->added[i].s, s, n))
			return h->added[i].id;
	return vfind(h, s, n);
}

static int tmpl_push(struct tok_hf *h, struct hf_template *t, int seq, int type_id, const int32_t *ids, size_t n,
		     struct rag_error *err)
{
	struct tok_hf_item *p = rag_arena_alloc(&h->a, (t->n + 1) * sizeof *p);
	if (!p)
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	if (t->n)
		memcpy(p, t->items, t->n * sizeof *p);
	p[t->n].seq = seq;
	p[t->n].type_id = type_id;
	p[t->n].n = n;
	p[t->n].ids = NULL;
	if (n) {
		if (!(p[t->n].ids = rag_arena_alloc(&h->a, n * sizeof *ids)))
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		memcpy(p[t->n].ids, ids, n * sizeof *ids);
	}
	t->items = p;
	t->n++;
	t->set = 1;
	return 0;
}

/* [token, id] of BertProcessing / RobertaProcessing. */
static int proc_tok(const struct rag_json *p, const char *key, int32_t *id, uint32_t n_vocab, struct rag_error *err)
{
	const struct rag_json *v = jget(p, key);
	if (!v || v->type != RAG_JSON_ARRAY || v->u.arr.n != 2 || v->u.arr.items[1].type != RAG_JSON_NUMBER ||
	    !(v->u.arr.items[1].u.num >= 0 && v->u.arr.items[1].u.num < n_vocab))
		return rag_error_set(err, RAG_EMODEL, "tokenizer.json: post-processor %s is not [token, id]", key);
	*id = (int32_t)v->u.arr.items[1].u.num;
	return 0;
}

static int build_template(struct tok_hf *h, struct hf_template *t, const struct rag_json *items,
			  const struct rag_json *specials, uint32_t n_vocab, struct rag_error *err)
{
	int rc;

	t->set = 1;
	if (!items || items->type != RAG_JSON_ARRAY)
		return rag_error_set(err, RAG_EMODEL, "tokenizer.json: TemplateProcessing template is not a list");
	for (size_t i = 0; i < items->u.arr.n; i++) {
		const struct rag_json *it = &items->u.arr.items[i], *sp = jget(it, "SpecialToken"), *sq = jget(it, "Sequence");
		double ty = 0;
		if (sq) {
			const char *id = JS(sq, "id");
			rag_json_get_num(sq, "type_id", &ty);
			if (!id || (strcmp(id, "A") && strcmp(id, "B")))
				return rag_error_set(err, RAG_EMODEL, "tokenizer.json: template sequence is neither A nor B");
			if ((rc = tmpl_push(h, t, id[0] == 'A' ? 0 : 1, (int)ty, NULL, 0, err)))
				return rc;
		} else if (sp) {
			const char *id = JS(sp, "id");
			const struct rag_json *st = id ? jget(specials, id) : NULL, *ids = jget(st, "ids");
			int32_t buf[16];
			size_t n = 0;
			rag_json_get_num(sp, "type_id", &ty);
			if (!id)
				return rag_error_set(err, RAG_EMODEL, "tokenizer.json: template special token without an id");
			if (ids && ids->type == RAG_JSON_ARRAY) {
				for (size_t k = 0; k < ids->u.arr.n && n < 16; k++) {
					if (ids->u.arr.items[k].type != RAG_JSON_NUMBER || !(ids->u.arr.items[k].u.num >= 0 &&
											     ids->u.arr.items[k].u.num < n_vocab))
						return rag_error_set(err, RAG_EMODEL, "tokenizer.json: special token '%.40s' has a bad id", id);
					buf[n++] = (int32_t)ids->u.arr.items[k].u.num;
				}
			} else {
				int32_t x = token_id(h, id, strlen(id));
				if (x < 0 || (uint32_t)x >= n_vocab)
					return rag_error_set(err, RAG_EMODEL, "tokenizer.json: template token '%.40s' is unknown", id);
				buf[n++] = x;
			}
			if ((rc = tmpl_push(h, t, -1, (int)ty, buf, n, err)))
				return rc;
		} else {
			return rag_error_set(err, RAG_EMODEL, "tokenizer.json: template item is neither SpecialToken nor Sequence");
		}
	}
	return 0;
}

static int build_post(struct tok_hf *h, const struct rag_json *p, uint32_t n_vocab, struct rag_error *err)
{
	const char *type = JS(p, "type");
	int rc;

	if (!p || p->type == RAG_JSON_NULL)
		return 0;
	if (!type)
		return unsupported(err, "post-processor", NULL);
	if (!strcmp(type, "Sequence")) {
		const struct rag_json *l = jget(p, "processors");
		if (!l || l->type != RAG_JSON_ARRAY)
			return rag_error_set(err, RAG_EMODEL, "tokenizer.json: post-processor Sequence without processors");
		for (size_t i = 0; i < l->u.arr.n; i++)
			if ((rc = build_post(h, &l->u.arr.items[i], n_vocab, err)))
				return rc;
		return 0;
	}
	if (!strcmp(type, "ByteLevel"))
		return 0;  /* offsets only */
	if (h->single.set)
		return unsupported(err, "post-processor sequence with two templates:", type);
	if (!strcmp(type, "TemplateProcessing")) {
		const struct rag_json *sp = jget(p, "special_tokens");
		if ((rc = build_template(h, &h->single, jget(p, "single"), sp, n_vocab, err)) ||
		    (rc = build_template(h, &h->pair, jget(p, "pair"), sp, n_vocab, err)))
			return rc;
		return 0;
	}
	if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
		int32_t cls, sep;
		int roberta = type[0] == 'R';
		if ((rc = proc_tok(p, "cls", &cls, n_vocab, err)) || (rc = proc_tok(p, "sep", &sep, n_vocab, err)))
			return rc;
		if ((rc = tmpl_push(h, &h->single, -1, 0, &cls, 1, err)) || (rc = tmpl_push(h, &h->single, 0, 0, NULL, 0, err)) ||
		    (rc = tmpl_push(h, &h->single, -1, 0, &sep, 1, err)) || (rc = tmpl_push(h, &h->pair, -1, 0, &cls, 1, err)) ||
		    (rc = tmpl_push(h, &h->pair, 0, 0, NULL, 0, err)) || (rc = tmpl_push(h, &h->pair, -1, 0, &sep, 1, err)) ||
		    (roberta && (rc = tmpl_push(h, &h->pair, -1, 0, &sep, 1, err))) ||
		    (rc = tmpl_push(h, &h->pair, 1, !roberta, NULL, 0, err)) ||
		    (rc = tmpl_push(h, &h->pair, -1, !roberta, &sep, 1, err)))
			return rc;
		return 0;
	}
	return unsupported(err, "post-processor", type);
}

void tok_hf_free(struct tok_hf *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n_norm; i++) {
		pcre2_code_free(h->norm[i].re);
		rag_free(h->norm[i].xcda);
		rag_free(h->norm[i].repl);
	}
	for (size_t i = 0; i < h->n_pre; i++)
		pcre2_code_free(h->pre[i].re);
	rag_free(h->norm);
	rag_free(h->pre);
	rag_free(h->tok);
	rag_free(h->len);
	rag_free(h->score);
	rag_free(h->vocab.slots);
	rag_free(h->merges);
	rag_free(h->added);
	rag_arena_free(&h->a);
	rag_free(h);
}

int tok_hf_init(struct rag_tokenizer *t, const char *json, size_t len, struct rag_error *err)
{
	struct tok_hf *h = rag_calloc(1, sizeof *h);
	struct rag_json *root;
	const char *dec;
	int rc;

	if (!h)
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	rag_arena_init(&h->a);
	if ((rc = rag_json_parse(&h->a, json, len, &root, err))) {
		rag_error_prefix(err, "tokenizer.json: ");
		rc = err ? (err->code = RAG_EMODEL) : RAG_EMODEL;
		goto fail;
	}
	if (root->type != RAG_JSON_OBJECT) {
		rc = rag_error_set(err, RAG_EMODEL, "tokenizer.json: not an object");
		goto fail;
	}
	if ((rc = build_model(h, jget(root, "model"), err)) || (rc = add_norm(h, jget(root, "normalizer"), err)) ||
	    (rc = add_pre(h, jget(root, "pre_tokenizer"), err)) ||
	    (rc = build_added(h, jget(root, "added_tokens"), t->n_vocab, err)) ||
	    (rc = build_post(h, jget(root, "post_processor"), t->n_vocab, err)))
		goto fail;
	/* a decoder only matters to decoding, which the vocabulary's model type drives;
	 * still refuse what would decode wrongly without saying so */
	if ((dec = JS(jget(root, "decoder"), "type"))) {
		static const char *const known[] = { "WordPiece", "ByteLevel", "Metaspace", "Sequence", "Replace",
						     "ByteFallback", "Fuse", "Strip", "BPEDecoder", "CTC" };
		size_t i;
		for (i = 0; i < sizeof known / sizeof known[0]; i++)
			if (!strcmp(dec, known[i]))
				break;
		if (i == sizeof known / sizeof known[0]) {
			rc = unsupported(err, "decoder", dec);
			goto fail;
		}
	}
	if (h->n > t->n_vocab) {
		rc = rag_error_set(err, RAG_EMODEL, "tokenizer.json: its vocabulary (%u) is larger than the model's (%u)",
				   h->n, t->n_vocab);
		goto fail;
	}
	t->hf = h;
	return 0;
fail:
	tok_hf_free(h);
	return rc ? rc : RAG_EMODEL;
}

/* ---- normalized strings ---------------------------------------------------------- */

/* A string with, for each byte, the span [a, b) of the input it came from. */
struct ns {
	char *s;
	uint32_t *a, *b;
	size_t n, cap;
};

static void ns_free(struct ns *x)
{
	rag_free(x->s);
	rag_free(x->a);
	rag_free(x->b);
	memset(x, 0, sizeof *x);
}

static int ns_room(struct ns *x, size_t more)
{
	size_t need = x->n + more;
	if (need <= x->cap)
		return 0;
	size_t cap = need * 2 + 64;
	char *s = rag_realloc(x->s, cap);
	if (!s)
		return -1;
	x->s = s;
	uint32_t *a = rag_reallocarray(x->a, cap, sizeof *a);
	if (!a)
		return -1;
	x->a = a;
	uint32_t *b = rag_reallocarray(x->b, cap, sizeof *b);
	if (!b)
		return -1;
	x->b = b;
	x->cap = cap;
	return 0;
}

static int ns_put(struct ns *x, const char *s, size_t n, uint32_t a, uint32_t b)
{
	if (ns_room(x, n))
		return -1;
	memcpy(x->s + x->n, s, n);
	for (size_t i = 0; i < n; i++) {
		x->a[x->n + i] = a;
		x->b[x->n + i] = b;
	}
	x->n += n;
	return 0;
}

static int ns_putcp(struct ns *x, uint32_t cp, uint32_t a, uint32_t b)
{
	char u[4];
	return ns_put(x, u, rag_utf8_encode(cp, u), a, b);
}

/* Span of the character at byte i of x (its bytes share one span). */
#define SPAN_A(x, i) ((x)->a[i])
#define SPAN_B(x, i, l) ((x)->b[(i) + (l) - 1])

static inline uint32_t cp_at(const struct ns *x, size_t i, size_t *l)
{
	return rag_utf8_decode((const unsigned char *)x->s + i, x->n - i, l);
}

/* Rust's char::to_lowercase, one character. */
static int put_lower(struct ns *o, uint32_t cp, uint32_t a, uint32_t b)
{
	if (cp == 0x130)
		return ns_putcp(o, 'i', a, b) || ns_putcp(o, 0x307, a, b);
	return ns_putcp(o, rag_u_lower(cp), a, b);
}

static inline int is_ws(uint32_t c)
{
	return (rag_u_flags_fast(c) & RAG_U_WS) != 0;
}

static inline int is_punct_hf(uint32_t c)
{
	if (c < 0x80)
		return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
	return (rag_u_flags_fast(c) & RAG_U_P) != 0;
}

static int nf_segment(struct ns *o, const char *s, size_t n, utf8proc_option_t opt, uint32_t a, uint32_t b)
{
	utf8proc_uint8_t *r = NULL;
	utf8proc_ssize_t k = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &r, opt | UTF8PROC_STABLE);
	int rc;
	if (k < 0)
		return ns_put(o, s, n, a, b);
	rc = ns_put(o, (const char *)r, (size_t)k, a, b);
	free(r);  /* utf8proc allocates with malloc */
	return rc;
}

/* Unicode normalization, one canonical segment (a starter and its combining marks) at a time. */
static int norm_nf(const struct ns *x, struct ns *o, utf8proc_option_t opt)
{
	size_t i = 0, l;
	while (i < x->n) {
		size_t j = i;
		uint32_t cp = cp_at(x, j, &l);
		/* ASCII followed by ASCII is already normal */
		if (cp < 0x80 && (i + 1 >= x->n || (unsigned char)x->s[i + 1] < 0x80)) {
			if (ns_put(o, x->s + i, 1, x->a[i], x->b[i]))
				return -1;
			i++;
			continue;
		}
		j += l;
		while (j < x->n) {
			uint32_t c2 = cp_at(x, j, &l);
			const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)c2);
			if (!p->combining_class)
				break;
			j += l;
		}
		if (nf_segment(o, x->s + i, j - i, opt, x->a[i], x->b[j - 1]))
			return -1;
		i = j;
	}
	return 0;
}

static size_t xcda_prefix(const struct hf_norm *p, const char *s, size_t n, const char **out)
{
	uint32_t node;
	if (!p->n_xcda)
		return 0;
	node = ((p->xcda[0] >> 10) << ((p->xcda[0] & (1u << 9)) >> 6));
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		uint32_t u;
		if (!c)
			return 0;
		node ^= c;
		if (node >= p->n_xcda)
			return 0;
		u = p->xcda[node];
		if ((u & ((1u << 31) | 0xff)) != c)
			return 0;
		node ^= (u >> 10) << ((u & (1u << 9)) >> 6);
		if (node >= p->n_xcda)
			return 0;
		if ((u >> 8) & 1) {
			uint32_t off = p->xcda[node] & ((1u << 31) - 1);
			if (off >= p->n_repl)
				return 0;
			*out = p->repl + off;
			return i + 1;  /* the shortest prefix in the trie: what tokenizers takes */
		}
	}
	return 0;
}

/* SentencePiece's charsmap as tokenizers applies it: per grapheme (under 6 bytes, the
 * grapheme's first match replaces it whole), else per character. */
static int norm_precompiled(const struct hf_norm *p, const struct ns *x, struct ns *o)
{
	size_t i = 0;
	while (i < x->n) {
		size_t j = i, l;
		utf8proc_int32_t state = 0;
		uint32_t prev = cp_at(x, j, &l);
		const char *r;
		j += l;
		while (j < x->n) {
			uint32_t c = cp_at(x, j, &l);
			if (utf8proc_grapheme_break_stateful((utf8proc_int32_t)prev, (utf8proc_int32_t)c, &state))
				break;
			prev = c;
			j += l;
		}
		if (j - i < 6 && xcda_prefix(p, x->s + i, j - i, &r)) {
			if (ns_put(o, r, strlen(r), x->a[i], x->b[j - 1]))
				return -1;
		} else {
			for (size_t k = i; k < j; k += l) {
				cp_at(x, k, &l);
				if (xcda_prefix(p, x->s + k, l, &r) == l) {
					if (ns_put(o, r, strlen(r), x->a[k], x->b[k + l - 1]))
						return -1;
				} else if (ns_put(o, x->s + k, l, x->a[k], x->b[k + l - 1])) {
					return -1;
				}
			}
		}
		i = j;
	}
	return 0;
}

static int norm_replace(const struct hf_norm *p, const struct ns *x, struct ns *o, pcre2_match_data *md)
{
	size_t at = 0, last = 0;
	while (at <= x->n) {
		int rc = pcre2_match(p->re, (PCRE2_SPTR)x->s, x->n, at, PCRE2_NO_UTF_CHECK, md, NULL);
		PCRE2_SIZE *ov;
		size_t ms, me;
		if (rc < 0)
			break;
		ov = pcre2_get_ovector_pointer(md);
		ms = ov[0];
		me = ov[1];
		if (me == ms) {
			size_t l = 1;
			if (ms < x->n)
				cp_at(x, ms, &l);
			at = ms + l;
			continue;
		}
		for (size_t k = last; k < ms; k++)
			if (ns_put(o, x->s + k, 1, x->a[k], x->b[k]))
				return -1;
		if (p->slen && ns_put(o, p->s, p->slen, x->a[ms], x->b[me - 1]))
			return -1;
		last = at = me;
	}
	for (size_t k = last; k < x->n; k++)
		if (ns_put(o, x->s + k, 1, x->a[k], x->b[k]))
			return -1;
	return 0;
}

static int norm_one(const struct hf_norm *p, const struct ns *x, struct ns *o, pcre2_match_data *md)
{
	size_t i, l;
	o->n = 0;
	switch (p->type) {
	case N_NFC:
		return norm_nf(x, o, UTF8PROC_COMPOSE);
	case N_NFD:
		return norm_nf(x, o, UTF8PROC_DECOMPOSE);
	case N_NFKC:
		return norm_nf(x, o, UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
	case N_NFKD:
		return norm_nf(x, o, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
	case N_PRECOMPILED:
		return norm_precompiled(p, x, o);
	case N_REPLACE:
		return norm_replace(p, x, o, md);
	case N_PREPEND:
		if (x->n && ns_put(o, p->s, p->slen, x->a[0], x->b[0]))
			return -1;
		for (i = 0; i < x->n; i++)
			if (ns_put(o, x->s + i, 1, x->a[i], x->b[i]))
				return -1;
		return 0;
	case N_STRIP: {
		size_t s = 0, e = x->n;
		if (p->left)
			while (s < e) {
				uint32_t c = cp_at(x, s, &l);
				if (!is_ws(c))
					break;
				s += l;
			}
		if (p->right)
			while (e > s) {
				size_t k = e - 1;
				while (k > s && ((unsigned char)x->s[k] & 0xC0) == 0x80)
					k--;
				if (!is_ws(cp_at(x, k, &l)))
					break;
				e = k;
			}
		for (i = s; i < e; i++)
			if (ns_put(o, x->s + i, 1, x->a[i], x->b[i]))
				return -1;
		return 0;
	}
	default:
		break;
	}
	for (i = 0; i < x->n; i += l) {
		uint32_t cp = cp_at(x, i, &l), a = x->a[i], b = x->b[i + l - 1];
		int rc = 0;
		switch (p->type) {
		case N_LOWER:
			rc = put_lower(o, cp, a, b);
			break;
		case N_STRIP_ACCENTS:
			if (!(rag_u_flags_fast(cp) & RAG_U_M))
				rc = ns_put(o, x->s + i, l, a, b);
			break;
		case N_NMT:
			if ((cp >= 1 && cp <= 8) || cp == 0xB || (cp >= 0xE && cp <= 0x1F) || cp == 0x7F || cp == 0x8F ||
			    cp == 0x9F)
				break;
			if (cp == 9 || cp == 0xA || cp == 0xC || cp == 0xD || cp == 0x1680 || (cp >= 0x200B && cp <= 0x200F) ||
			    cp == 0x2028 || cp == 0x2029 || cp == 0x2581 || cp == 0xFEFF || cp == 0xFFFD)
				cp = ' ';
			rc = ns_putcp(o, cp, a, b);
			break;
		case N_BERT: {
			uint32_t d[8];
			int nd = 1;
			if (p->clean) {
				if (cp == 0 || cp == 0xFFFD ||
				    (cp != '\t' && cp != '\n' && cp != '\r' && (rag_u_flags_fast(cp) & RAG_U_OTHER)))
					break;
				if (cp == '\t' || cp == '\n' || cp == '\r' || is_ws(cp))
					cp = ' ';
			}
			if (p->chinese && rag_u_is_cjk(cp)) {
				rc = ns_putcp(o, ' ', a, b) || ns_putcp(o, cp, a, b) || ns_putcp(o, ' ', a, b);
				break;
			}
			d[0] = cp;
			if (p->strip)
				nd = rag_u_nfd(cp, d, 8);
			for (int k = 0; k < nd && !rc; k++) {
				if (p->strip && (rag_u_flags_fast(d[k]) & RAG_U_MN))
					continue;
				rc = p->lower ? put_lower(o, d[k], a, b) : ns_putcp(o, d[k], a, b);
			}
			break;
		}
		default:
			rc = -1;
			break;
		}
		if (rc)
			return -1;
	}
	return 0;
}

/* ---- pre-tokenization ------------------------------------------------------------- */

/* The string being pre-tokenized: x, cut into splits [sp[2k], sp[2k+1]). */
struct pst {
	struct ns x, y;      /* y: scratch for rebuilding */
	uint32_t *sp, *sp2;
	size_t nsp, cap, nsp2;
	uint32_t *m;         /* matches: (start, end, is_match) triples */
	size_t nm, mcap;
	pcre2_match_data *md;
};

static int sp_room(uint32_t **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t nc = need * 2 + 16;
	uint32_t *q = rag_reallocarray(*p, nc, sizeof *q);
	if (!q)
		return -1;
	*p = q;
	*cap = nc;
	return 0;
}

static int m_push(struct pst *ps, size_t s, size_t e, int match)
{
	if (sp_room(&ps->m, &ps->mcap, ps->nm * 3 + 3))
		return -1;
	ps->m[ps->nm * 3] = (uint32_t)s;
	ps->m[ps->nm * 3 + 1] = (uint32_t)e;
	ps->m[ps->nm * 3 + 2] = (uint32_t)match;
	ps->nm++;
	return 0;
}

/* Matches of a character predicate in [s, e): each matching character alone. */
static int find_chars(struct pst *ps, size_t s, size_t e, int (*pred)(const struct hf_pre *, uint32_t),
		      const struct hf_pre *p)
{
	size_t i = s, last = s, l;
	ps->nm = 0;
	while (i < e) {
		uint32_t c = cp_at(&ps->x, i, &l);
		if (pred(p, c)) {
			if (last < i && m_push(ps, last, i, 0))
				return -1;
			if (m_push(ps, i, i + l, 1))
				return -1;
			last = i + l;
		}
		i += l;
	}
	if (last < e && m_push(ps, last, e, 0))
		return -1;
	return 0;
}

static int find_re(struct pst *ps, size_t s, size_t e, pcre2_code *re)
{
	size_t at = 0, prev = 0, n = e - s;
	const char *sub = ps->x.s + s;
	ps->nm = 0;
	while (at <= n) {
		int rc = pcre2_match(re, (PCRE2_SPTR)sub, n, at, PCRE2_NO_UTF_CHECK, ps->md, NULL);
		PCRE2_SIZE *ov;
		if (rc < 0)
			break;
		ov = pcre2_get_ovector_pointer(ps->md);
		if (ov[1] == ov[0]) {
			size_t l = 1;
			if (ov[0] < n)
				rag_utf8_decode((const unsigned char *)sub + ov[0], n - ov[0], &l);
			at = ov[0] + l;
			continue;
		}
		if (prev != ov[0] && m_push(ps, s + prev, s + ov[0], 0))
			return -1;
		if (m_push(ps, s + ov[0], s + ov[1], 1))
			return -1;
		prev = at = ov[1];
	}
	if (prev != n && m_push(ps, s + prev, e, 0))
		return -1;
	return 0;
}

/* Apply behavior to the matches of one split, appending the pieces to sp2. */
static int apply_behavior(struct pst *ps, enum behavior b, int invert, uint32_t **dst, size_t *nd, size_t *cap)
{
	size_t k, n0 = *nd;
	int prev_match = 0;
	if (sp_room(dst, cap, *nd * 2 + ps->nm * 2 + 2))
		return -1;
	for (k = 0; k < ps->nm; k++) {
		uint32_t s = ps->m[3 * k], e = ps->m[3 * k + 1];
		int match = (int)ps->m[3 * k + 2] ^ invert;
		switch (b) {
		case B_REMOVED:
			if (!match) {
				(*dst)[2 * *nd] = s;
				(*dst)[2 * *nd + 1] = e;
				(*nd)++;
			}
			break;
		case B_ISOLATED:
			(*dst)[2 * *nd] = s;
			(*dst)[2 * *nd + 1] = e;
			(*nd)++;
			break;
		case B_PREV:
			if (match && !prev_match && *nd > n0)
				(*dst)[2 * *nd - 1] = e;
			else {
				(*dst)[2 * *nd] = s;
				(*dst)[2 * *nd + 1] = e;
				(*nd)++;
			}
			break;
		case B_CONTIG:
			if (match == prev_match && *nd > n0)
				(*dst)[2 * *nd - 1] = e;
			else {
				(*dst)[2 * *nd] = s;
				(*dst)[2 * *nd + 1] = e;
				(*nd)++;
			}
			break;
		case B_NEXT:
			break;
		}
		prev_match = match;
	}
	if (b == B_NEXT) {
		/* right to left: a match joins the piece after it */
		size_t first = *nd;
		prev_match = 0;
		for (k = ps->nm; k-- > 0;) {
			uint32_t s = ps->m[3 * k], e = ps->m[3 * k + 1];
			int match = (int)ps->m[3 * k + 2] ^ invert;
			if (match && !prev_match && *nd > first)
				(*dst)[2 * *nd - 2] = s;
			else {
				(*dst)[2 * *nd] = s;
				(*dst)[2 * *nd + 1] = e;
				(*nd)++;
			}
			prev_match = match;
		}
		/* reverse the pieces just added */
		for (size_t i = first, j = *nd - 1; i < j; i++, j--) {
			uint32_t a0 = (*dst)[2 * i], a1 = (*dst)[2 * i + 1];
			(*dst)[2 * i] = (*dst)[2 * j];
			(*dst)[2 * i + 1] = (*dst)[2 * j + 1];
			(*dst)[2 * j] = a0;
			(*dst)[2 * j + 1] = a1;
		}
	}
	/* drop empty pieces */
	{
		size_t w = n0;
		for (k = n0; k < *nd; k++)
			if ((*dst)[2 * k + 1] > (*dst)[2 * k]) {
				(*dst)[2 * w] = (*dst)[2 * k];
				(*dst)[2 * w + 1] = (*dst)[2 * k + 1];
				w++;
			}
		*nd = w;
	}
	return 0;
}

static int pred_ws(const struct hf_pre *p, uint32_t c) { (void)p; return is_ws(c); }
static int pred_punct(const struct hf_pre *p, uint32_t c) { (void)p; return is_punct_hf(c); }
static int pred_digit(const struct hf_pre *p, uint32_t c) { (void)p; return (rag_u_flags_fast(c) & RAG_U_N) != 0; }
static int pred_char(const struct hf_pre *p, uint32_t c) { return c == p->ch; }

/* Split every current split by pred or re with behavior b. */
static int split_all(struct pst *ps, int (*pred)(const struct hf_pre *, uint32_t), pcre2_code *re,
		     const struct hf_pre *p, enum behavior b, int invert)
{
	size_t nd = 0;
	for (size_t k = 0; k < ps->nsp; k++) {
		size_t s = ps->sp[2 * k], e = ps->sp[2 * k + 1];
		if ((re ? find_re(ps, s, e, re) : find_chars(ps, s, e, pred, p)) ||
		    apply_behavior(ps, b, invert, &ps->sp2, &nd, &ps->nsp2))
			return -1;
	}
	{
		uint32_t *t = ps->sp;
		size_t c = ps->cap;
		ps->sp = ps->sp2;
		ps->cap = ps->nsp2;
		ps->sp2 = t;
		ps->nsp2 = c;
		ps->nsp = nd;
	}
	return 0;
}

/* Rebuild x split by split: Metaspace's replace and prepend, ByteLevel's prefix space and byte mapping. */
static int rebuild(struct pst *ps, const struct hf_pre *p)
{
	struct ns *y = &ps->y;
	y->n = 0;
	for (size_t k = 0; k < ps->nsp; k++) {
		size_t s = ps->sp[2 * k], e = ps->sp[2 * k + 1], i, l;
		uint32_t ns0 = (uint32_t)y->n;
		if (p->type == P_METASPACE) {
			int starts = e - s >= p->replen && !memcmp(ps->x.s + s, p->rep, p->replen);
			if (e > s && ps->x.s[s] == ' ')
				starts = 1;
			if (e > s && !starts && (p->prepend == 2 || (p->prepend == 1 && ps->x.a[s] == 0)))
				if (ns_put(y, p->rep, p->replen, ps->x.a[s], ps->x.b[s]))
					return -1;
			for (i = s; i < e; i += l) {
				cp_at(&ps->x, i, &l);
				if (ps->x.s[i] == ' ') {
					if (ns_put(y, p->rep, p->replen, ps->x.a[i], ps->x.b[i]))
						return -1;
				} else if (ns_put(y, ps->x.s + i, l, ps->x.a[i], ps->x.b[i + l - 1])) {
					return -1;
				}
			}
		} else {
			char u[4];
			if (p->prefix_space && e > s && ps->x.s[s] != ' ' && ns_put(y, "\xc4\xa0", 2, ps->x.a[s], ps->x.b[s]))
				return -1;
			for (i = s; i < e; i++) {
				size_t ul = rag_utf8_encode(rag_u_byte_to_cp((uint8_t)ps->x.s[i]), u);
				if (ns_put(y, u, ul, ps->x.a[i], ps->x.b[i]))
					return -1;
			}
		}
		ps->sp[2 * k] = ns0;
		ps->sp[2 * k + 1] = (uint32_t)y->n;
	}
	{
		struct ns t = ps->x;
		ps->x = *y;
		*y = t;
	}
	return 0;
}

static int pred_meta(const struct hf_pre *p, uint32_t c) { return c == p->repcp; }

static int pre_one(struct pst *ps, const struct hf_pre *p)
{
	switch (p->type) {
	case P_BERT:
		return split_all(ps, pred_ws, NULL, p, B_REMOVED, 0) || split_all(ps, pred_punct, NULL, p, B_ISOLATED, 0);
	case P_WHITESPACE:
		return split_all(ps, NULL, p->re, p, B_REMOVED, 1);
	case P_WSSPLIT:
		return split_all(ps, pred_ws, NULL, p, B_REMOVED, 0);
	case P_SPLIT:
		return split_all(ps, NULL, p->re, p, p->behavior, p->invert);
	case P_PUNCT:
		return split_all(ps, pred_punct, NULL, p, p->behavior, 0);
	case P_DIGITS:
		return split_all(ps, pred_digit, NULL, p, p->individual ? B_ISOLATED : B_CONTIG, 0);
	case P_CHARDELIM:
		return split_all(ps, pred_char, NULL, p, B_REMOVED, 0);
	case P_METASPACE:
		if (rebuild(ps, p))
			return -1;
		return p->split ? split_all(ps, pred_meta, NULL, p, B_NEXT, 0) : 0;
	case P_BYTELEVEL:
		/* prefix space, regex split, then the bytes mapped (one rebuild after the split) */
		if (p->prefix_space) {
			struct ns *y = &ps->y;
			y->n = 0;
			for (size_t k = 0; k < ps->nsp; k++) {
				size_t s = ps->sp[2 * k], e = ps->sp[2 * k + 1];
				uint32_t s0 = (uint32_t)y->n;
				if (e > s && ps->x.s[s] != ' ' && ns_put(y, " ", 1, ps->x.a[s], ps->x.b[s]))
					return -1;
				if (ns_put(y, ps->x.s + s, e - s, 0, 0))
					return -1;
				memcpy(y->a + y->n - (e - s), ps->x.a + s, (e - s) * sizeof *y->a);
				memcpy(y->b + y->n - (e - s), ps->x.b + s, (e - s) * sizeof *y->b);
				ps->sp[2 * k] = s0;
				ps->sp[2 * k + 1] = (uint32_t)y->n;
			}
			struct ns t = ps->x;
			ps->x = *y;
			*y = t;
		}
		if (p->use_regex && split_all(ps, NULL, p->re, p, B_ISOLATED, 0))
			return -1;
		{
			struct hf_pre q = *p;
			q.prefix_space = 0;
			return rebuild(ps, &q);
		}
	}
	return -1;
}

/* ---- models --------------------------------------------------------------------------- */

struct scratch {
	char *buf;
	size_t cap;
	int32_t *sym;
	uint32_t *ss, *se, *rank;
	int32_t *mid;
	int32_t *prv, *nxt;
	size_t scap;
	double *best;
	uint32_t *from;
	int32_t *bid;
	size_t bcap;
};

static int sc_buf(struct scratch *s, size_t n)
{
	if (n <= s->cap)
		return 0;
	char *p = rag_realloc(s->buf, n * 2 + 64);
	if (!p)
		return -1;
	s->buf = p;
	s->cap = n * 2 + 64;
	return 0;
}

static int sc_syms(struct scratch *s, size_t n)
{
	if (n <= s->scap)
		return 0;
	size_t c = n * 2 + 16;
#define GROW(f) do { void *q = rag_reallocarray(s->f, c, sizeof *s->f); if (!q) return -1; s->f = q; } while (0)
	GROW(sym);
	GROW(ss);
	GROW(se);
	GROW(rank);
	GROW(mid);
	GROW(prv);
	GROW(nxt);
#undef GROW
	s->scap = c;
	return 0;
}

static int sc_best(struct scratch *s, size_t n)
{
	if (n <= s->bcap)
		return 0;
	size_t c = n * 2 + 16;
	void *q;
	if (!(q = rag_reallocarray(s->best, c, sizeof *s->best)))
		return -1;
	s->best = q;
	if (!(q = rag_reallocarray(s->from, c, sizeof *s->from)))
		return -1;
	s->from = q;
	if (!(q = rag_reallocarray(s->bid, c, sizeof *s->bid)))
		return -1;
	s->bid = q;
	s->bcap = c;
	return 0;
}

static void sc_free(struct scratch *s)
{
	rag_free(s->buf);
	rag_free(s->sym);
	rag_free(s->ss);
	rag_free(s->se);
	rag_free(s->rank);
	rag_free(s->mid);
	rag_free(s->prv);
	rag_free(s->nxt);
	rag_free(s->best);
	rag_free(s->from);
	rag_free(s->bid);
}

/* Emit a token covering bytes [s, e) of x. */
static int emit(const struct ns *x, int32_t id, size_t s, size_t e, struct rag_tokens *out)
{
	return tok_push(out, id, x->a[s], x->b[e - 1]);
}

static int wpm_word(const struct tok_hf *h, struct scratch *sc, const struct ns *x, size_t s, size_t e,
		    struct rag_tokens *out)
{
	size_t n0 = out->n, chars = 0, i, l;
	for (i = s; i < e; i += l, chars++)
		cp_at(x, i, &l);
	if (chars > h->max_chars)
		return emit(x, h->unk, s, e, out);
	if (sc_buf(sc, h->plen + (e - s)))
		return -1;
	memcpy(sc->buf, h->prefix, h->plen);
	for (i = s; i < e;) {
		size_t end = e;
		int32_t id = -1;
		while (end > i) {
			if (i > s) {
				memcpy(sc->buf + h->plen, x->s + i, end - i);
				id = vfind(h, sc->buf, h->plen + end - i);
			} else {
				id = vfind(h, x->s + i, end - i);
			}
			if (id >= 0)
				break;
			do
				end--;
			while (end > i && ((unsigned char)x->s[end] & 0xC0) == 0x80);
		}
		if (id < 0) {
			out->n = n0;
			return emit(x, h->unk, s, e, out);
		}
		if (emit(x, id, i, end, out))
			return -1;
		i = end;
	}
	return 0;
}

static int bpe_word(const struct tok_hf *h, struct scratch *sc, const struct ns *x, size_t s, size_t e,
		    struct rag_tokens *out)
{
	size_t n = 0, i, l;
	int32_t head, k;

	if (h->ignore_merges) {
		int32_t id = vfind(h, x->s + s, e - s);
		if (id >= 0)
			return emit(x, id, s, e, out);
	}
	if (sc_syms(sc, (e - s) + 1) || sc_buf(sc, h->plen + h->slen + 8))
		return -1;
	for (i = s; i < e; i += l) {
		size_t kl = 0;
		int32_t id;
		cp_at(x, i, &l);
		if (i > s && h->plen) {
			memcpy(sc->buf, h->prefix, h->plen);
			kl = h->plen;
		}
		memcpy(sc->buf + kl, x->s + i, l);
		kl += l;
		if (i + l >= e && h->slen) {
			memcpy(sc->buf + kl, h->suffix, h->slen);
			kl += h->slen;
		}
		id = vfind(h, sc->buf, kl);
		if (id < 0 && h->byte_fallback) {
			size_t b;
			for (b = 0; b < l && h->byte_tok[(unsigned char)x->s[i + b]] >= 0; b++)
				;
			if (b == l) {
				for (b = 0; b < l; b++) {
					if (sc_syms(sc, n + 2))
						return -1;
					sc->sym[n] = h->byte_tok[(unsigned char)x->s[i + b]];
					sc->ss[n] = (uint32_t)i;
					sc->se[n] = (uint32_t)(i + l);
					n++;
				}
				continue;
			}
		}
		if (id < 0) {
			if (h->unk < 0)
				continue;
			if (h->fuse_unk && n && sc->sym[n - 1] == h->unk && sc->se[n - 1] == i) {
				sc->se[n - 1] = (uint32_t)(i + l);
				continue;
			}
			id = h->unk;
		}
		if (sc_syms(sc, n + 2))
			return -1;
		sc->sym[n] = id;
		sc->ss[n] = (uint32_t)i;
		sc->se[n] = (uint32_t)(i + l);
		n++;
	}
	if (!n)
		return 0;
	for (i = 0; i < n; i++) {
		sc->prv[i] = (int32_t)i - 1;
		sc->nxt[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
	}
	for (i = 0; i + 1 < n; i++)
		if (!merge_find(h, sc->sym[i], sc->sym[i + 1], &sc->rank[i], &sc->mid[i]))
			sc->rank[i] = UINT32_MAX;
	sc->rank[n - 1] = UINT32_MAX;
	head = 0;
	for (;;) {
		int32_t best = -1, j;
		uint32_t br = UINT32_MAX;
		for (k = head; k >= 0; k = sc->nxt[k])
			if (sc->rank[k] < br) {
				br = sc->rank[k];
				best = k;
			}
		if (best < 0)
			break;
		j = sc->nxt[best];
		sc->sym[best] = sc->mid[best];
		sc->se[best] = sc->se[j];
		sc->nxt[best] = sc->nxt[j];
		if (sc->nxt[j] >= 0)
			sc->prv[sc->nxt[j]] = best;
		if (sc->nxt[best] < 0 || !merge_find(h, sc->sym[best], sc->sym[sc->nxt[best]], &sc->rank[best], &sc->mid[best]))
			sc->rank[best] = UINT32_MAX;
		if (sc->prv[best] >= 0) {
			int32_t p = sc->prv[best];
			if (!merge_find(h, sc->sym[p], sc->sym[best], &sc->rank[p], &sc->mid[p]))
				sc->rank[p] = UINT32_MAX;
		}
	}
	for (k = head; k >= 0; k = sc->nxt[k])
		if (emit(x, sc->sym[k], sc->ss[k], sc->se[k], out))
			return -1;
	return 0;
}

static int ugm_word(const struct tok_hf *h, struct scratch *sc, const struct ns *x, size_t s, size_t e,
		    struct rag_tokens *out)
{
	size_t n = e - s, i, l;
	const char *w = x->s + s;

	if (!n)
		return 0;
	if (sc_best(sc, n + 1) || sc_syms(sc, n + 1))
		return -1;
	for (i = 0; i <= n; i++) {
		sc->best[i] = 0;
		sc->from[i] = UINT32_MAX;  /* not reached */
		sc->bid[i] = -1;
	}
	sc->from[0] = 0;
	for (i = 0; i < n; i += l) {
		int single = 0;
		double base = sc->best[i];
		rag_utf8_decode((const unsigned char *)w + i, n - i, &l);
		if (sc->from[i] == UINT32_MAX && i > 0)
			continue;
		for (size_t m = 1; m <= h->max_piece && i + m <= n; m++) {
			int32_t id = vfind(h, w + i, m);
			double sc2;
			if (id < 0)
				continue;
			sc2 = base + h->score[id];
			if (sc->from[i + m] == UINT32_MAX || sc2 > sc->best[i + m]) {
				sc->best[i + m] = sc2;
				sc->from[i + m] = (uint32_t)i;
				sc->bid[i + m] = id;
			}
			if (m == l)
				single = 1;
		}
		if (!single) {
			double sc2 = base + h->unk_score;
			if (sc->from[i + l] == UINT32_MAX || sc2 > sc->best[i + l]) {
				sc->best[i + l] = sc2;
				sc->from[i + l] = (uint32_t)i;
				sc->bid[i + l] = h->unk;
			}
		}
	}
	/* back from the end; tokens collected reversed in sym/ss/se */
	{
		size_t m = 0, at = n;
		while (at > 0) {
			size_t f = sc->from[at];
			if (f == UINT32_MAX || f >= at)
				return -1;
			int32_t id = sc->bid[at];
			if (id == h->unk && m && sc->sym[m - 1] == h->unk && h->fuse_unk) {
				sc->ss[m - 1] = (uint32_t)f;  /* fuse with the unknown after it */
			} else {
				sc->sym[m] = id;
				sc->ss[m] = (uint32_t)f;
				sc->se[m] = (uint32_t)at;
				m++;
			}
			at = f;
		}
		while (m-- > 0) {
			int32_t id = sc->sym[m];
			size_t a = s + sc->ss[m], b = s + sc->se[m];
			if (id == h->unk && h->byte_fallback) {
				size_t q;
				for (q = a; q < b && h->byte_tok[(unsigned char)x->s[q]] >= 0; q++)
					;
				if (q == b) {
					for (q = a; q < b; q++) {
						size_t cs = q, ce = q + 1;
						while (cs > a && ((unsigned char)x->s[cs] & 0xC0) == 0x80)
							cs--;
						while (ce < b && ((unsigned char)x->s[ce] & 0xC0) == 0x80)
							ce++;
						if (tok_push(out, h->byte_tok[(unsigned char)x->s[q]], x->a[cs], x->b[ce - 1]))
							return -1;
					}
					continue;
				}
			}
			if (id < 0)
				continue;  /* no unk_id: HF fails; dropping is the nearest */
			if (emit(x, id, a, b, out))
				return -1;
		}
	}
	return 0;
}

static int model_word(const struct tok_hf *h, struct scratch *sc, const struct ns *x, size_t s, size_t e,
		      struct rag_tokens *out)
{
	int32_t id;
	switch (h->model) {
	case M_WPM:
		return wpm_word(h, sc, x, s, e, out);
	case M_BPE:
		return bpe_word(h, sc, x, s, e, out);
	case M_UGM:
		return ugm_word(h, sc, x, s, e, out);
	case M_WORDLEVEL:
		id = vfind(h, x->s + s, e - s);
		return emit(x, id >= 0 ? id : h->unk, s, e, out);
	}
	return -1;
}

/* ---- added tokens ------------------------------------------------------------------ */

static inline int word_char(uint32_t c)
{
	return (rag_u_flags_fast(c) & (RAG_U_L | RAG_U_N)) != 0 || c == '_';
}

/* The previous character of s[0..i), or 0. */
static uint32_t cp_before(const char *s, size_t i)
{
	size_t k = i, l;
	if (!i)
		return 0;
	k--;
	while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
		k--;
	return rag_utf8_decode((const unsigned char *)s + k, i - k, &l);
}

/* Find the next eligible added token in s[from..n) (leftmost, then longest). Returns its
 * index and sets [*ms, *me) (lstrip/rstrip widened) or -1. */
static long next_added(const struct tok_hf *h, const char *s, size_t n, size_t from, size_t floor_, int normalized,
		       unsigned flags, size_t *ms, size_t *me, size_t *resume)
{
	for (size_t i = from; i < n; i++) {
		if (!h->added_first[(unsigned char)s[i]])
			continue;
		for (size_t k = 0; k < h->n_added; k++) {
			const struct hf_added *a = &h->added[k];
			size_t st = i, en = i + a->len, l;
			if (a->normalized != normalized || a->len > n - i || memcmp(a->s, s + i, a->len))
				continue;
			if (a->special && !(flags & RAG_TOK_PARSE_SPECIAL))
				continue;
			if (a->single_word) {
				uint32_t before = cp_before(s, st);
				uint32_t after = en < n ? rag_utf8_decode((const unsigned char *)s + en, n - en, &l) : 0;
				if ((st > 0 && word_char(before)) || (en < n && word_char(after))) {
					/* the matcher moves on past this match */
					*resume = en;
					return -2;
				}
			}
			*resume = en;
			if (a->lstrip)
				while (st > floor_) {
					size_t k2 = st - 1;
					while (k2 > floor_ && ((unsigned char)s[k2] & 0xC0) == 0x80)
						k2--;
					if (!is_ws(rag_utf8_decode((const unsigned char *)s + k2, st - k2, &l)))
						break;
					st = k2;
				}
			if (a->rstrip)
				while (en < n) {
					uint32_t c = rag_utf8_decode((const unsigned char *)s + en, n - en, &l);
					if (!is_ws(c))
						break;
					en += l;
				}
			*ms = st;
			*me = en;
			return (long)k;
		}
	}
	return -1;
}

/* ---- the pipeline -------------------------------------------------------------------- */

struct run {
	const struct tok_hf *h;
	unsigned flags;
	struct ns n1, n2;
	struct pst ps;
	struct scratch sc;
};

/* Pre-tokenize and model x[s..e) (a piece of normalized text between added tokens). */
static int run_piece(struct run *r, const struct ns *x, size_t s, size_t e, struct rag_tokens *out)
{
	struct pst *ps = &r->ps;
	const struct tok_hf *h = r->h;

	if (e <= s)
		return 0;
	ps->x.n = 0;
	if (ns_put(&ps->x, x->s + s, e - s, 0, 0))
		return -1;
	memcpy(ps->x.a, x->a + s, (e - s) * sizeof *x->a);
	memcpy(ps->x.b, x->b + s, (e - s) * sizeof *x->b);
	if (sp_room(&ps->sp, &ps->cap, 2))
		return -1;
	ps->sp[0] = 0;
	ps->sp[1] = (uint32_t)(e - s);
	ps->nsp = 1;
	for (size_t k = 0; k < h->n_pre; k++)
		if (pre_one(ps, &h->pre[k]))
			return -1;
	for (size_t k = 0; k < ps->nsp; k++)
		if (ps->sp[2 * k + 1] > ps->sp[2 * k] && model_word(h, &r->sc, &ps->x, ps->sp[2 * k], ps->sp[2 * k + 1], out))
			return -1;
	return 0;
}

/* Normalize text[s..e) into r->n1 (identity spans per character first). */
static int normalize(struct run *r, const char *text, size_t s, size_t e)
{
	struct ns *x = &r->n1, *y = &r->n2;
	size_t i, l;
	x->n = 0;
	for (i = s; i < e; i += l) {
		rag_utf8_decode((const unsigned char *)text + i, e - i, &l);
		if (ns_put(x, text + i, l, (uint32_t)i, (uint32_t)(i + l)))
			return -1;
	}
	for (size_t k = 0; k < r->h->n_norm; k++) {
		struct ns t;
		if (norm_one(&r->h->norm[k], x, y, r->ps.md))
			return -1;
		t = *x;
		*x = *y;
		*y = t;
	}
	return 0;
}

/* A stretch of raw text without non-normalized added tokens. */
static int run_raw(struct run *r, const char *text, size_t s, size_t e, struct rag_tokens *out)
{
	const struct tok_hf *h = r->h;
	size_t at = 0, last = 0, ms, me, resume;
	struct ns *x;
	long k;

	if (e <= s)
		return 0;
	if (normalize(r, text, s, e))
		return -1;
	x = &r->n1;
	if (!h->n_added)
		return run_piece(r, x, 0, x->n, out);
	while ((k = next_added(h, x->s, x->n, at, last, 1, r->flags, &ms, &me, &resume)) != -1) {
		if (k == -2) {
			at = resume;
			continue;
		}
		if (run_piece(r, x, last, ms, out) || tok_push(out, h->added[k].id, x->a[ms], x->b[me - 1]))
			return -1;
		last = at = me;
	}
	return run_piece(r, x, last, x->n, out);
}

int tok_hf_encode(const struct rag_tokenizer *t, const char *text, size_t len, unsigned flags,
		  struct rag_tokens *out, struct rag_error *err)
{
	const struct tok_hf *h = t->hf;
	struct run r;
	size_t at = 0, last = 0, ms, me, resume;
	long k;
	int rc = 0;

	memset(&r, 0, sizeof r);
	r.h = h;
	r.flags = flags;
	if (h->has_regex && !(r.ps.md = pcre2_match_data_create(4, NULL)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	while (h->n_added && (k = next_added(h, text, len, at, last, 0, flags, &ms, &me, &resume)) != -1) {
		if (k == -2) {
			at = resume;
			continue;
		}
		if (run_raw(&r, text, last, ms, out) || tok_push(out, h->added[k].id, ms, me)) {
			rc = -1;
			break;
		}
		last = at = me;
	}
	if (!rc && run_raw(&r, text, last, len, out))
		rc = -1;
	ns_free(&r.n1);
	ns_free(&r.n2);
	ns_free(&r.ps.x);
	ns_free(&r.ps.y);
	rag_free(r.ps.sp);
	rag_free(r.ps.sp2);
	rag_free(r.ps.m);
	sc_free(&r.sc);
	if (r.ps.md)
		pcre2_match_data_free(r.ps.md);
	return rc ? rag_error_set(err, RAG_EINTERNAL, "out of memory") : 0;
}

/* ---- post-processing ---------------------------------------------------------------- */

int tok_hf_template(const struct rag_tokenizer *t, int pair, const struct tok_hf_item **items, size_t *n)
{
	const struct hf_template *tp = pair ? &t->hf->pair : &t->hf->single;
	*items = (const struct tok_hf_item *)tp->items;
	*n = tp->n;
	return tp->set;
}
