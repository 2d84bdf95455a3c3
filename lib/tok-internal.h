/* tok-internal.h: the tokenizer's private structures, shared by tokenizer.c and tok-*.c. */
#ifndef RAG_TOK_INTERNAL_H
#define RAG_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tokenizer.h"

enum tok_model { TOK_WPM, TOK_BPE, TOK_SPM, TOK_UGM };

/* Pre-tokenizers of byte-level BPE (tokenizer.ggml.pre). */
enum tok_pre {
	PRE_GPT2,
	PRE_LLAMA3,
	PRE_QWEN2,
	PRE_DEEPSEEK_LLM,
	PRE_DEEPSEEK_CODER,
	PRE_FALCON,
	PRE_STARCODER,
	PRE_MPT,
	PRE_REFACT,
	PRE_DEFAULT,
};

/* llama.cpp's token types (tokenizer.ggml.token_type). */
enum {
	TT_NORMAL = 1,
	TT_UNKNOWN = 2,
	TT_CONTROL = 3,
	TT_USER_DEFINED = 4,
	TT_UNUSED = 5,
	TT_BYTE = 6,
};

/* Open-addressing table from byte strings to token ids (slot = id + 1). */
struct tok_htab {
	uint32_t *slots;
	uint32_t mask;
	const char *pool;        /* key of id i: pool + off[i] + skip, up to off[i+1] - sep */
	const uint32_t *off;
	uint32_t skip, sep;
};

/* Merge table of BPE: (left, right) -> (rank, merged id). */
struct tok_merge {
	uint64_t key;   /* ((left << 32) | right) + 1; 0 = empty */
	uint32_t rank;
	int32_t id;
};

struct tok_special_text {
	int32_t id;
	uint32_t len;
	const char *s;
};

struct rag_tokenizer {
	uint64_t serial;         /* unique per tokenizer built: tells caches apart (addresses are reused) */
	enum tok_model model;
	enum tok_pre pre;
	char model_name[16];
	char *pre_name;

	uint32_t n_vocab;
	char *pool;          /* pieces as stored, NUL after each */
	uint32_t *off;       /* n_vocab + 1 offsets into pool (piece i ends at off[i+1]-1) */
	char *dpool;         /* decoded text of each piece (raw bytes) */
	uint32_t *doff;      /* n_vocab + 1 */
	int32_t *ttype;
	float *scores;

	struct tok_htab vocab;   /* stored piece -> id */
	struct tok_htab cont;    /* WPM: continuation pieces keyed by their text; BPE: decoded bytes -> id */
	struct tok_htab wstart;  /* WPM: word-initial pieces keyed by their text */
	int wpm_phantom;         /* WPM vocabulary in llama.cpp's form: "\u2581word" and "ing" for "##ing" */
	uint32_t max_piece;      /* longest piece in bytes */

	struct tok_merge *merges;
	uint64_t merge_mask;

	int32_t byte_id[256];    /* BPE: id of each single byte; SPM: <0xXX> */
	int32_t special[RAG_TOK_N_SPECIAL];
	int add_bos, add_eos, add_space_prefix;
	int ignore_merges;
	void *pre_re[8];         /* compiled PCRE2 patterns (pcre2_code *) */
	int n_pre_re;

	double ugm_unk_score;    /* Unigram: score of an unknown character */
	int ugm_merge_spaces;    /* Unigram: remove_extra_whitespaces */
	uint32_t *xcda;          /* Unigram: precompiled charsmap trie and replacements */
	size_t n_xcda;
	char *repl;
	size_t n_repl;

	struct tok_special_text *sp; /* control and user-defined tokens, longest first */
	size_t n_sp;
	uint8_t sp_first[256];   /* 1: some special text starts with this byte */

	struct tok_hf *hf;       /* tokenizer.huggingface.json interpreted (tok-hf.c), or NULL */
};

/* Per-call scratch kept in struct rag_tokens (so the tokenizer stays read-only). */
struct tok_scratch {
	char *fix;              /* repaired (valid UTF-8) copy of the input */
	uint32_t *fixmap;       /* byte of fix -> byte of input */
	size_t fix_cap;
	int32_t *sym;           /* BPE symbols */
	uint32_t *symlen, *rank;
	int32_t *prev, *next;
	uint64_t *heap;
	size_t sym_cap;
	char *buf;              /* general byte buffer */
	size_t buf_cap;
	/* word -> ids cache of BPE (direct-mapped) */
	struct tok_cache_ent *cache;
	char *cache_keys;
	uint64_t cache_owner;   /* serial of the tokenizer the cache belongs to */
	void *md;               /* pcre2_match_data */
	uint32_t *frag;         /* fragment boundaries of the regex pre-tokenizers */
	size_t frag_cap;
	uint32_t *split;        /* test hook: record pre-tokenizer pieces here instead of merging */
	size_t split_n, split_cap;
};

struct tok_cache_ent {
	uint32_t hash, klen;
	uint32_t n;            /* ids held (0 = empty slot) */
	int32_t ids[6];
};

enum { TOK_CACHE_SLOTS = 4096, TOK_CACHE_KEY = 24 };

uint64_t tok_hash(const char *s, size_t n);
int32_t tok_htab_find(const struct tok_htab *h, const char *s, size_t n);
static inline int32_t tok_find(const struct rag_tokenizer *t, const char *s, size_t n)
{
	return tok_htab_find(&t->vocab, s, n);
}

/* Append one token. */
int tok_push(struct rag_tokens *out, int32_t id, size_t start, size_t end);
struct tok_scratch *tok_scratch_get(struct rag_tokens *out, struct rag_error *err);
int tok_scratch_syms(struct tok_scratch *s, size_t n);
int tok_scratch_buf(struct tok_scratch *s, size_t n);
int tok_htab_build(struct tok_htab *h, const struct rag_tokenizer *t, const char *pool, const uint32_t *off,
		   uint32_t skip, uint32_t sep, int (*keep)(const struct rag_tokenizer *, uint32_t));
void tok_scratch_release(struct tok_scratch *s);

/* Model parts.  *_init: after the common vocabulary is loaded. *_encode: append the
 * tokens of text[0..len) (valid UTF-8) with offsets shifted by base. */
int tok_wpm_init(struct rag_tokenizer *t, struct rag_error *err);
int tok_wpm_encode(const struct rag_tokenizer *t, const char *text, size_t len, size_t base,
		   struct rag_tokens *out, struct rag_error *err);
int tok_bpe_init(struct rag_tokenizer *t, const void *gguf, struct rag_error *err);
int tok_bpe_encode(const struct rag_tokenizer *t, const char *text, size_t len, size_t base,
		   struct rag_tokens *out, struct rag_error *err);
void tok_bpe_release(struct rag_tokenizer *t);
int tok_spm_init(struct rag_tokenizer *t, struct rag_error *err);
int tok_ugm_init(struct rag_tokenizer *t, const void *gguf, struct rag_error *err);
int tok_ugm_encode(const struct rag_tokenizer *t, const char *text, size_t len, size_t base,
		   struct rag_tokens *out, struct rag_error *err);
int tok_spm_encode(const struct rag_tokenizer *t, const char *text, size_t len, size_t base,
		   int first, struct rag_tokens *out, struct rag_error *err);

/* Test hook: the pieces pre-tokenizer pre cuts text into, as byte pairs
 * bounds[2k], bounds[2k+1]; *n pieces.  RAG_EDATA when cap is too small. */
int tok_bpe_split(enum tok_pre pre, const char *text, size_t len, uint32_t *bounds, size_t cap, size_t *n);

/* ---- tok-hf.c: a tokenizer.json interpreted from its own description ---- */
struct tok_hf;

/* One item of a post-processor template: special token ids, or a sequence. */
struct tok_hf_item {
	int seq;           /* -1: the special ids[0..n); 0: sequence A; 1: sequence B */
	int type_id;
	int32_t *ids;
	size_t n;
};

/* Build t->hf from the text of a tokenizer.json (after t's vocabulary is loaded:
 * ids must lie below t->n_vocab).  RAG_EMODEL naming a component type that is
 * not implemented ("tokenizer.json: normalizer 'Foo' is not supported"). */
int tok_hf_init(struct rag_tokenizer *t, const char *json, size_t len, struct rag_error *err);
void tok_hf_free(struct tok_hf *h);
/* Added tokens, normalizers, pre-tokenizers and the model over text[0..len)
 * (valid UTF-8), appending tokens with offsets into text.  No template. */
int tok_hf_encode(const struct rag_tokenizer *t, const char *text, size_t len, unsigned flags,
		  struct rag_tokens *out, struct rag_error *err);
/* The post-processor template for one text (pair = 0) or a pair; returns 0 when
 * the tokenizer.json has none (nothing is added). */
int tok_hf_template(const struct rag_tokenizer *t, int pair, const struct tok_hf_item **items, size_t *n);

/* A Hugging Face (Oniguruma) regex made ready for PCRE2 (\s and \S spelled out);
 * rag_free the result; NULL when out of memory. */
char *tok_rewrite_re(const char *re);

#endif
