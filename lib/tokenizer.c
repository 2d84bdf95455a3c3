/* tokenizer.c: loading a tokenizer from GGUF metadata, special tokens, the
 * common encode path (UTF-8 repair, special-token splitting, pairs) and decoding. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "tok-internal.h"
#include "unicode.h"

/* ---- hashing --------------------------------------------------------- */

uint64_t tok_hash(const char *s, size_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
		s += 8;
		n -= 8;
	}
	if (n) {
		uint64_t w = 0;
		memcpy(&w, s, n);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 29);
}

int32_t tok_htab_find(const struct tok_htab *h, const char *s, size_t n)
{
	uint32_t i = (uint32_t)tok_hash(s, n) & h->mask;
	for (;;) {
		uint32_t v = h->slots[i];
		if (!v)
			return -1;
		v--;
		{
			uint32_t a = h->off[v] + h->skip, b = h->off[v + 1] - h->sep;
			if (b - a == n && memcmp(h->pool + a, s, n) == 0)
				return (int32_t)v;
		}
		i = (i + 1) & h->mask;
	}
}

/* Build a table over the ids for which keep(id) holds; first id wins on duplicates. */
int tok_htab_build(struct tok_htab *h, const struct rag_tokenizer *t, const char *pool, const uint32_t *off,
		   uint32_t skip, uint32_t sep, int (*keep)(const struct rag_tokenizer *, uint32_t))
{
	uint32_t size = 16;
	while (size < t->n_vocab * 2u + 16)
		size <<= 1;
	h->slots = rag_calloc(size, sizeof *h->slots);
	if (!h->slots)
		return -1;
	h->mask = size - 1;
	h->pool = pool;
	h->off = off;
	h->skip = skip;
	h->sep = sep;
	for (uint32_t id = 0; id < t->n_vocab; id++) {
		if (keep && !keep(t, id))
			continue;
		const char *s = pool + off[id] + skip;
		size_t n = off[id + 1] - sep - off[id] - skip;
		if (tok_htab_find(h, s, n) >= 0)
			continue;
		uint32_t i = (uint32_t)tok_hash(s, n) & h->mask;
		while (h->slots[i])
			i = (i + 1) & h->mask;
		h->slots[i] = id + 1;
	}
	return 0;
}

/* ---- output and scratch ---------------------------------------------- */

void rag_tokens_init(struct rag_tokens *t)
{
	memset(t, 0, sizeof *t);
}

void rag_tokens_free(struct rag_tokens *t)
{
	struct tok_scratch *s;

	if (!t)
		return;
	rag_free(t->ids);
	rag_free(t->start);
	rag_free(t->end);
	rag_free(t->type_ids);
	s = t->scratch;
	if (s) {
		rag_free(s->fix);
		rag_free(s->fixmap);
		rag_free(s->sym);
		rag_free(s->symlen);
		rag_free(s->rank);
		rag_free(s->prev);
		rag_free(s->next);
		rag_free(s->heap);
		rag_free(s->buf);
		rag_free(s->cache);
		rag_free(s->cache_keys);
		rag_free(s->frag);
		tok_scratch_release(s);
		rag_free(s);
	}
	memset(t, 0, sizeof *t);
}

static int tokens_grow(struct rag_tokens *out, size_t need)
{
	size_t cap = out->cap ? out->cap : 64;
	void *p;

	while (cap < need)
		cap *= 2;
	if (!(p = rag_reallocarray(out->ids, cap, sizeof *out->ids)))
		return -1;
	out->ids = p;
	if (!(p = rag_reallocarray(out->start, cap, sizeof *out->start)))
		return -1;
	out->start = p;
	if (!(p = rag_reallocarray(out->end, cap, sizeof *out->end)))
		return -1;
	out->end = p;
	if (!(p = rag_reallocarray(out->type_ids, cap, sizeof *out->type_ids)))
		return -1;
	out->type_ids = p;
	out->cap = cap;
	return 0;
}

int tok_push(struct rag_tokens *out, int32_t id, size_t start, size_t end)
{
	if (out->n == out->cap && tokens_grow(out, out->n + 1))
		return -1;
	out->ids[out->n] = id;
	out->start[out->n] = (uint32_t)start;
	out->end[out->n] = (uint32_t)end;
	out->type_ids[out->n] = 0;
	out->n++;
	return 0;
}

struct tok_scratch *tok_scratch_get(struct rag_tokens *out, struct rag_error *err)
{
	if (!out->scratch) {
		out->scratch = rag_calloc(1, sizeof(struct tok_scratch));
		if (!out->scratch)
			rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	return out->scratch;
}

int tok_scratch_syms(struct tok_scratch *s, size_t n)
{
	size_t cap;
	void *p;

	if (n <= s->sym_cap)
		return 0;
	cap = s->sym_cap ? s->sym_cap : 256;
	while (cap < n)
		cap *= 2;
#define GROW(f) do { if (!(p = rag_reallocarray(s->f, cap, sizeof *s->f))) return -1; s->f = p; } while (0)
	GROW(sym);
	GROW(symlen);
	GROW(rank);
	GROW(prev);
	GROW(next);
#undef GROW
	if (!(p = rag_reallocarray(s->heap, cap * 3 + 8, sizeof *s->heap)))
		return -1;
	s->heap = p;
	s->sym_cap = cap;
	return 0;
}

int tok_scratch_buf(struct tok_scratch *s, size_t n)
{
	size_t cap;
	char *p;

	if (n <= s->buf_cap)
		return 0;
	cap = s->buf_cap ? s->buf_cap : 1024;
	while (cap < n)
		cap *= 2;
	if (!(p = rag_realloc(s->buf, cap)))
		return -1;
	s->buf = p;
	s->buf_cap = cap;
	return 0;
}

/* ---- loading ------------------------------------------------------------ */

/* Pre-tokenizer names (llama.cpp's) and the splitting they use; ignore_merges:
 * a word found whole in the vocabulary is one token (llama3's tokenizer.json). */
static const struct {
	const char *name;
	enum tok_pre pre;
	int ignore_merges;
} pre_names[] = {
	{ "gpt-2", PRE_GPT2, 0 },
	{ "gpt2", PRE_GPT2, 0 },
	{ "default", PRE_DEFAULT, 0 },
	{ "llama-bpe", PRE_LLAMA3, 1 },
	{ "llama3", PRE_LLAMA3, 1 },
	{ "llama-v3", PRE_LLAMA3, 1 },
	{ "falcon3", PRE_LLAMA3, 1 },
	{ "dbrx", PRE_LLAMA3, 0 },
	{ "smaug-bpe", PRE_LLAMA3, 0 },
	{ "qwen2", PRE_QWEN2, 0 },
	{ "stablelm2", PRE_QWEN2, 0 },
	{ "deepseek-llm", PRE_DEEPSEEK_LLM, 0 },
	{ "deepseek-coder", PRE_DEEPSEEK_CODER, 0 },
	{ "falcon", PRE_FALCON, 0 },
	{ "starcoder", PRE_STARCODER, 0 },
	{ "refact", PRE_REFACT, 0 },
	{ "command-r", PRE_STARCODER, 0 },
	{ "smollm", PRE_STARCODER, 0 },
	{ "codeshell", PRE_STARCODER, 0 },
	{ "exaone", PRE_STARCODER, 0 },
	{ "mpt", PRE_MPT, 0 },
	{ "olmo", PRE_MPT, 0 },
};

static int has_prefix(const struct rag_tokenizer *t, uint32_t id, const char *p, size_t n)
{
	return t->off[id + 1] - 1 - t->off[id] >= n && memcmp(t->pool + t->off[id], p, n) == 0;
}

static int is_hash_cont(const struct rag_tokenizer *t, uint32_t id)
{
	return has_prefix(t, id, "##", 2);
}

static int not_hash_cont(const struct rag_tokenizer *t, uint32_t id)
{
	return !has_prefix(t, id, "##", 2);
}

static int is_phantom_start(const struct rag_tokenizer *t, uint32_t id)
{
	return has_prefix(t, id, "\xe2\x96\x81", 3);
}

static int not_phantom_start(const struct rag_tokenizer *t, uint32_t id)
{
	return !has_prefix(t, id, "\xe2\x96\x81", 3);
}

/* WordPiece tables: llama.cpp's converter stores "##ing" as "ing" and "the" as
 * "\u2581the"; older files keep the "##" form.  Either way words start in wstart
 * and continue in cont. */
static int wpm_tables(struct rag_tokenizer *t)
{
	uint32_t n_ph = 0;
	for (uint32_t i = 0; i < t->n_vocab; i++)
		n_ph += is_phantom_start(t, i);
	t->wpm_phantom = n_ph > t->n_vocab / 4;
	if (t->wpm_phantom)
		return tok_htab_build(&t->wstart, t, t->pool, t->off, 3, 1, is_phantom_start) ||
		       tok_htab_build(&t->cont, t, t->pool, t->off, 0, 1, not_phantom_start);
	return tok_htab_build(&t->wstart, t, t->pool, t->off, 0, 1, not_hash_cont) ||
	       tok_htab_build(&t->cont, t, t->pool, t->off, 2, 1, is_hash_cont);
}

static int get_id(const struct rag_gguf *g, const char *key, uint32_t n_vocab, int32_t *out,
		  struct rag_error *err)
{
	int64_t v;
	int r = rag_gguf_get_int(g, key, &v);

	if (r == 0)
		return 0;
	if (r < 0)
		return rag_error_set(err, RAG_EMODEL, "%s has the wrong type", key);
	if (v < 0 || v >= (int64_t)n_vocab) {
		/* some converters write -1 or an out-of-range id for "none" */
		*out = -1;
		return 0;
	}
	*out = (int32_t)v;
	return 0;
}

static int cmp_sp(const void *a, const void *b)
{
	const struct tok_special_text *x = a, *y = b;
	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* The decoded text of piece id, per model (raw bytes, appended to b). */
static void decode_piece(const struct rag_tokenizer *t, uint32_t id, struct rag_buf *b)
{
	const char *s = t->pool + t->off[id];
	size_t n = t->off[id + 1] - 1 - t->off[id], i, l;
	int tt = t->ttype[id];

	if (t->model == TOK_BPE && (tt == TT_NORMAL || tt == TT_BYTE || tt == TT_UNUSED)) {
		for (i = 0; i < n; i += l) {
			uint32_t cp = rag_utf8_decode((const unsigned char *)s + i, n - i, &l);
			int byte = rag_u_cp_to_byte(cp);
			if (byte >= 0)
				rag_buf_addc(b, (char)byte);
			else
				rag_buf_add(b, s + i, l);
		}
		return;
	}
	if (t->model == TOK_SPM || t->model == TOK_UGM) {
		unsigned x;
		if (tt == TT_BYTE && n == 6 && sscanf(s, "<0x%2X>", &x) == 1) {
			rag_buf_addc(b, (char)x);
			return;
		}
		if (tt == TT_NORMAL || tt == TT_USER_DEFINED || tt == TT_UNUSED) {
			for (i = 0; i < n; i++) {
				if (i + 3 <= n && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
					rag_buf_addc(b, ' ');
					i += 2;
				} else {
					rag_buf_addc(b, s[i]);
				}
			}
			return;
		}
	}
	rag_buf_add(b, s, n);
}

void rag_tokenizer_free(struct rag_tokenizer *t)
{
	if (!t)
		return;
	tok_bpe_release(t);
	rag_free(t->pre_name);
	rag_free(t->pool);
	rag_free(t->off);
	rag_free(t->dpool);
	rag_free(t->doff);
	rag_free(t->ttype);
	rag_free(t->scores);
	rag_free(t->vocab.slots);
	rag_free(t->cont.slots);
	rag_free(t->wstart.slots);
	rag_free(t->merges);
	rag_free(t->sp);
	rag_free(t->xcda);
	rag_free(t->repl);
	tok_hf_free(t->hf);
	rag_free(t);
}

int rag_tokenizer_from_gguf(const struct rag_gguf *g, struct rag_tokenizer **out,
			    struct rag_error *err)
{
	struct rag_tokenizer *t;
	const struct rag_gguf_kv *kv_tok, *kv_type, *kv_scores;
	const struct rag_gguf_str *strs;
	const char *model = NULL, *pre = NULL;
	size_t total = 0;
	int rc = RAG_EMODEL, b;
	struct rag_buf db;

	*out = NULL;
	rag_buf_init(&db);
	if (rag_gguf_get_str(g, "tokenizer.ggml.model", &model) != 1)
		return rag_error_set(err, RAG_EMODEL, "no tokenizer.ggml.model in the model file");
	if (rag_gguf_get_str(g, "tokenizer.ggml.pre", &pre) < 0)
		return rag_error_set(err, RAG_EMODEL, "tokenizer.ggml.pre has the wrong type");
	t = rag_calloc(1, sizeof *t);
	if (!t)
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	{
		static uint64_t next_serial = 1;
		t->serial = __atomic_fetch_add(&next_serial, 1, __ATOMIC_RELAXED);
	}
	t->pre = PRE_DEFAULT;
	if (strcmp(model, "bert") == 0) {
		t->model = TOK_WPM;
	} else if (strcmp(model, "gpt2") == 0) {
		t->model = TOK_BPE;
	} else if (strcmp(model, "llama") == 0) {
		t->model = TOK_SPM;
	} else if (strcmp(model, "t5") == 0) {
		t->model = TOK_UGM;
	} else {
		rag_error_set(err, RAG_EMODEL, "tokenizer model '%s' is not supported", model);
		goto fail;
	}
	snprintf(t->model_name, sizeof t->model_name, "%s", model);
	t->pre_name = rag_strdup(pre ? pre : "");
	if (!t->pre_name)
		goto oom;
	if (t->model == TOK_BPE) {
		size_t i;
		const char *p = pre ? pre : "default";
		for (i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++)
			if (strcmp(p, pre_names[i].name) == 0)
				break;
		if (i == sizeof pre_names / sizeof pre_names[0]) {
			rag_error_set(err, RAG_EMODEL, "pre-tokenizer '%s' is not supported", p);
			goto fail;
		}
		t->pre = pre_names[i].pre;
		t->ignore_merges = pre_names[i].ignore_merges;
		if (t->pre == PRE_DEFAULT)
			t->pre = PRE_GPT2;
	}

	kv_tok = rag_gguf_find(g, "tokenizer.ggml.tokens");
	if (!kv_tok || kv_tok->type != RAG_GGUF_ARRAY || kv_tok->elem != RAG_GGUF_STRING || kv_tok->n == 0 ||
	    kv_tok->n > 0x7fffffff) {
		rag_error_set(err, RAG_EMODEL, "tokenizer.ggml.tokens is missing or not an array of strings");
		goto fail;
	}
	if (!(strs = rag_gguf_arr_strs(g, kv_tok)))
		goto oom;
	t->n_vocab = (uint32_t)kv_tok->n;
	for (uint32_t i = 0; i < t->n_vocab; i++) {
		total += strs[i].len + 1;
		if (total > 0xffffffffu) {
			rag_error_set(err, RAG_EMODEL, "tokenizer.ggml.tokens is too large");
			goto fail;
		}
	}
	t->pool = rag_malloc(total ? total : 1);
	t->off = rag_calloc(t->n_vocab + 1, sizeof *t->off);
	t->doff = rag_calloc(t->n_vocab + 1, sizeof *t->doff);
	t->ttype = rag_malloc(t->n_vocab * sizeof *t->ttype);
	if (!t->pool || !t->off || !t->doff || !t->ttype)
		goto oom;
	total = 0;
	for (uint32_t i = 0; i < t->n_vocab; i++) {
		t->off[i] = (uint32_t)total;
		memcpy(t->pool + total, strs[i].s, strs[i].len);
		t->pool[total + strs[i].len] = 0;
		total += strs[i].len + 1;
		if (strs[i].len > t->max_piece)
			t->max_piece = (uint32_t)strs[i].len;
		t->ttype[i] = TT_NORMAL;
	}
	t->off[t->n_vocab] = (uint32_t)total;

	kv_type = rag_gguf_find(g, "tokenizer.ggml.token_type");
	if (kv_type) {
		if (kv_type->type != RAG_GGUF_ARRAY || kv_type->elem == RAG_GGUF_STRING ||
		    kv_type->elem == RAG_GGUF_ARRAY || kv_type->n != t->n_vocab) {
			rag_error_set(err, RAG_EMODEL, "tokenizer.ggml.token_type does not match the vocabulary");
			goto fail;
		}
		for (uint32_t i = 0; i < t->n_vocab; i++)
			t->ttype[i] = (int32_t)rag_gguf_arr_int(kv_type, i);
	}
	kv_scores = rag_gguf_find(g, "tokenizer.ggml.scores");
	if (kv_scores) {
		if (kv_scores->type != RAG_GGUF_ARRAY || kv_scores->elem == RAG_GGUF_STRING ||
		    kv_scores->elem == RAG_GGUF_ARRAY || kv_scores->n != t->n_vocab) {
			rag_error_set(err, RAG_EMODEL, "tokenizer.ggml.scores does not match the vocabulary");
			goto fail;
		}
		if (!(t->scores = rag_malloc(t->n_vocab * sizeof *t->scores)))
			goto oom;
		for (uint32_t i = 0; i < t->n_vocab; i++)
			t->scores[i] = (float)rag_gguf_arr_float(kv_scores, i);
	}

	/* special tokens */
	for (int i = 0; i < RAG_TOK_N_SPECIAL; i++)
		t->special[i] = -1;
	{
		static const struct { const char *key; enum rag_special w; } keys[] = {
			{ "tokenizer.ggml.bos_token_id", RAG_TOK_BOS },
			{ "tokenizer.ggml.eos_token_id", RAG_TOK_EOS },
			{ "tokenizer.ggml.unknown_token_id", RAG_TOK_UNK },
			{ "tokenizer.ggml.seperator_token_id", RAG_TOK_SEP },
			{ "tokenizer.ggml.separator_token_id", RAG_TOK_SEP },
			{ "tokenizer.ggml.padding_token_id", RAG_TOK_PAD },
			{ "tokenizer.ggml.cls_token_id", RAG_TOK_CLS },
			{ "tokenizer.ggml.mask_token_id", RAG_TOK_MASK },
			{ "tokenizer.ggml.eot_token_id", RAG_TOK_EOT },
		};
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
			int32_t v = t->special[keys[i].w];
			if (get_id(g, keys[i].key, t->n_vocab, &v, err))
				goto fail;
			t->special[keys[i].w] = v;
		}
	}
	if (t->model == TOK_WPM) {
		if (t->special[RAG_TOK_CLS] < 0)
			t->special[RAG_TOK_CLS] = t->special[RAG_TOK_BOS];
		if (t->special[RAG_TOK_SEP] < 0)
			t->special[RAG_TOK_SEP] = t->special[RAG_TOK_EOS];
		if ((t->special[RAG_TOK_UNK] < 0 || t->special[RAG_TOK_CLS] < 0 || t->special[RAG_TOK_SEP] < 0) &&
		    !rag_gguf_find(g, "tokenizer.huggingface.json")) {
			rag_error_set(err, RAG_EMODEL, "a WordPiece vocabulary needs unknown, CLS and SEP token ids");
			goto fail;
		}
		t->add_bos = t->add_eos = 1;
	} else if (t->model == TOK_BPE) {
		t->add_bos = 0;
		t->add_eos = 0;
	} else if (t->model == TOK_UGM) {
		t->add_bos = 0;
		t->add_eos = 1;
		t->add_space_prefix = 1;
	} else {
		t->add_bos = 1;
		t->add_eos = 0;
		t->add_space_prefix = 1;
	}
	if (rag_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) == 1 && t->model != TOK_WPM)
		t->add_bos = b;
	if (rag_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b) == 1 && t->model != TOK_WPM)
		t->add_eos = b;
	if (rag_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b) == 1)
		t->add_space_prefix = b;
	if (t->add_bos && t->special[RAG_TOK_BOS] < 0 && t->model != TOK_WPM)
		t->add_bos = 0;
	if (t->add_eos && t->special[RAG_TOK_EOS] < 0 && t->model != TOK_WPM)
		t->add_eos = 0;

	/* decoded text of every piece */
	for (uint32_t i = 0; i < t->n_vocab; i++) {
		t->doff[i] = (uint32_t)db.len;
		decode_piece(t, i, &db);
	}
	t->doff[t->n_vocab] = (uint32_t)db.len;
	if (rag_buf_failed(&db))
		goto oom;
	t->dpool = db.data ? rag_buf_detach(&db, NULL) : rag_strdup("");
	if (!t->dpool)
		goto oom;

	if (tok_htab_build(&t->vocab, t, t->pool, t->off, 0, 1, NULL))
		goto oom;

	/* special texts for splitting */
	for (uint32_t i = 0; i < t->n_vocab; i++) {
		int tt = t->ttype[i];
		if ((tt == TT_CONTROL || tt == TT_USER_DEFINED || tt == TT_UNKNOWN) && t->off[i + 1] - 1 > t->off[i])
			t->n_sp++;
	}
	if (t->n_sp) {
		size_t k = 0;
		if (!(t->sp = rag_calloc(t->n_sp, sizeof *t->sp)))
			goto oom;
		for (uint32_t i = 0; i < t->n_vocab; i++) {
			int tt = t->ttype[i];
			if ((tt == TT_CONTROL || tt == TT_USER_DEFINED || tt == TT_UNKNOWN) &&
			    t->off[i + 1] - 1 > t->off[i]) {
				t->sp[k].id = (int32_t)i;
				t->sp[k].s = t->pool + t->off[i];
				t->sp[k].len = t->off[i + 1] - 1 - t->off[i];
				t->sp_first[(unsigned char)t->sp[k].s[0]] = 1;
				k++;
			}
		}
		qsort(t->sp, t->n_sp, sizeof *t->sp, cmp_sp);
	}

	switch (t->model) {
	case TOK_WPM:
		if (wpm_tables(t))
			goto oom;
		rc = tok_wpm_init(t, err);
		break;
	case TOK_BPE:
		rc = tok_bpe_init(t, g, err);
		break;
	case TOK_SPM:
		rc = tok_spm_init(t, err);
		break;
	case TOK_UGM:
		rc = tok_ugm_init(t, g, err);
		break;
	default:
		rc = rag_error_set(err, RAG_EMODEL, "tokenizer model '%s' is not supported", model);
		break;
	}
	if (rc)
		goto fail;
	{
		/* a tokenizer.json carried along: it describes the pipeline, the GGUF keys only the vocabulary */
		const char *hj = NULL;
		int have = rag_gguf_get_str(g, "tokenizer.huggingface.json", &hj);
		if (have < 0) {
			rc = rag_error_set(err, RAG_EMODEL, "tokenizer.huggingface.json has the wrong type");
			goto fail;
		}
		if (have == 1 && (rc = tok_hf_init(t, hj, strlen(hj), err)))
			goto fail;
	}
	rag_u_init();
	*out = t;
	return RAG_OK;
oom:
	rag_error_set(err, RAG_EINTERNAL, "out of memory");
	rc = RAG_EINTERNAL;
fail:
	rag_buf_free(&db);
	rag_tokenizer_free(t);
	if (!rc)
		rc = RAG_EMODEL;
	return rc;
}

/* ---- encoding ----------------------------------------------------------- */

/* Byte-level and byte-fallback tokens may cover part of a character; Hugging Face
 * reports such a token with the whole character's span (its offsets are in
 * characters), and so does ragkit, so that offsets always cut the text between
 * characters. */
static void widen_to_chars(const char *text, size_t len, size_t base, struct rag_tokens *out, size_t from)
{
	const unsigned char *s = (const unsigned char *)text;
	for (size_t k = from; k < out->n; k++) {
		size_t a = out->start[k] - base, b = out->end[k] - base;
		while (a > 0 && a < len && (s[a] & 0xC0) == 0x80)
			a--;
		while (b > 0 && b < len && (s[b] & 0xC0) == 0x80)
			b++;
		out->start[k] = (uint32_t)(a + base);
		out->end[k] = (uint32_t)(b + base);
	}
}

static int encode_fragment(const struct rag_tokenizer *t, const char *text, size_t len, size_t base,
			   int first, struct rag_tokens *out, struct rag_error *err)
{
	size_t from = out->n;
	int rc;

	switch (t->model) {
	case TOK_WPM:
		return tok_wpm_encode(t, text, len, base, out, err);
	case TOK_BPE:
		if ((rc = tok_bpe_encode(t, text, len, base, out, err)))
			return rc;
		widen_to_chars(text, len, base, out, from);
		return 0;
	case TOK_SPM:
		if ((rc = tok_spm_encode(t, text, len, base, first, out, err)))
			return rc;
		widen_to_chars(text, len, base, out, from);
		return 0;
	case TOK_UGM:
		return tok_ugm_encode(t, text, len, base, out, err);
	default:
		return rag_error_set(err, RAG_EINTERNAL, "unsupported tokenizer");
	}
}

/* Which special texts are matched in the input: user-defined always, control and
 * unknown ones with RAG_TOK_PARSE_SPECIAL (llama.cpp's rule). */
static int special_at(const struct rag_tokenizer *t, const char *s, size_t n, unsigned flags, size_t *mlen)
{
	for (size_t k = 0; k < t->n_sp; k++) {
		const struct tok_special_text *sp = &t->sp[k];
		if (sp->len > n || sp->s[0] != s[0] || memcmp(sp->s, s, sp->len) != 0)
			continue;
		if (!(flags & RAG_TOK_PARSE_SPECIAL) && t->ttype[sp->id] != TT_USER_DEFINED)
			continue;
		*mlen = sp->len;
		return sp->id;
	}
	return -1;
}

/* Encode one text (valid UTF-8) without added specials, appending to out. */
static int encode_text(const struct rag_tokenizer *t, const char *text, size_t len, unsigned flags,
		       struct rag_tokens *out, struct rag_error *err)
{
	size_t i = 0, frag = 0, mlen = 0;
	int first = 1, rc, any = 0;

	if (t->hf)
		return tok_hf_encode(t, text, len, flags, out, err);
	if (t->n_sp) {
		for (size_t k = 0; k < t->n_sp && !any; k++)
			if ((flags & RAG_TOK_PARSE_SPECIAL) || t->ttype[t->sp[k].id] == TT_USER_DEFINED)
				any = 1;
	}
	if (any) {
		while (i < len) {
			int32_t id;
			if (!t->sp_first[(unsigned char)text[i]] ||
			    (id = special_at(t, text + i, len - i, flags, &mlen)) < 0) {
				i++;
				continue;
			}
			if (i > frag) {
				if ((rc = encode_fragment(t, text + frag, i - frag, frag, first, out, err)))
					return rc;
			}
			if (tok_push(out, id, i, i + mlen))
				return rag_error_set(err, RAG_EINTERNAL, "out of memory");
			first = 1;
			i += mlen;
			frag = i;
			continue;
		}
	}
	if (len > frag || (len == 0 && 0))
		return encode_fragment(t, text + frag, len - frag, frag, first, out, err);
	return RAG_OK;
}

/* Make text valid UTF-8 (U+FFFD for each maximal invalid subpart); *fixed is
 * NULL when it already was. */
static int repair_utf8(struct tok_scratch *s, const char *text, size_t len, const char **fixed,
		       size_t *flen, struct rag_error *err)
{
	size_t ok = rag_utf8_valid_prefix(text, len), i, o = 0, l, need = len * 3 + 4;

	*fixed = NULL;
	if (ok == len)
		return 0;
	if (need > s->fix_cap) {
		char *p = rag_realloc(s->fix, need);
		uint32_t *m = p ? rag_reallocarray(s->fixmap, need + 1, sizeof *m) : NULL;
		if (!p || !m) {
			if (p)
				s->fix = p;
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		}
		s->fix = p;
		s->fixmap = m;
		s->fix_cap = need;
	}
	for (i = 0; i < len; i += l) {
		uint32_t cp = rag_utf8_decode((const unsigned char *)text + i, len - i, &l);
		if (cp == 0xFFFD && !(l == 3 && memcmp(text + i, "\xef\xbf\xbd", 3) == 0)) {
			memcpy(s->fix + o, "\xef\xbf\xbd", 3);
			s->fixmap[o] = s->fixmap[o + 1] = s->fixmap[o + 2] = (uint32_t)i;
			o += 3;
		} else {
			for (size_t k = 0; k < l; k++) {
				s->fix[o] = text[i + k];
				s->fixmap[o++] = (uint32_t)(i + k);
			}
		}
	}
	s->fixmap[o] = (uint32_t)len;
	*fixed = s->fix;
	*flen = o;
	return 0;
}

/* Map the offsets of tokens [from, out->n) from the repaired text back to the input. */
static void unmap_offsets(const struct tok_scratch *s, struct rag_tokens *out, size_t from, size_t flen,
			  size_t len)
{
	for (size_t k = from; k < out->n; k++) {
		uint32_t a = out->start[k], b = out->end[k];
		out->start[k] = a >= flen ? (uint32_t)len : s->fixmap[a];
		/* the end is one past the last byte: map the last byte and step over its char */
		if (b == a) {
			out->end[k] = out->start[k];
		} else if (b >= flen) {
			out->end[k] = (uint32_t)len;
		} else {
			out->end[k] = s->fixmap[b];
			/* a token ending inside a replacement character ends after the bad bytes */
			if (b > 0 && s->fixmap[b - 1] == s->fixmap[b])
				out->end[k] = s->fixmap[b];
		}
	}
}

static int encode_one(const struct rag_tokenizer *t, const char *text, size_t len, unsigned flags,
		      struct rag_tokens *out, struct rag_error *err)
{
	struct tok_scratch *s = tok_scratch_get(out, err);
	const char *fixed;
	size_t flen = 0, from = out->n;
	int rc;

	if (!s)
		return RAG_EINTERNAL;
	if (len > 0x7fffffff)
		return rag_error_set(err, RAG_EDATA, "text too long to tokenize (%zu bytes)", len);
	if ((rc = repair_utf8(s, text, len, &fixed, &flen, err)))
		return rc;
	if (!fixed)
		return encode_text(t, text, len, flags, out, err);
	if ((rc = encode_text(t, fixed, flen, flags, out, err)))
		return rc;
	unmap_offsets(s, out, from, flen, len);
	return 0;
}

/* The post-processor template of a tokenizer.json: special ids and the texts in its order. */
static int apply_template(const struct rag_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen,
			  unsigned flags, struct rag_tokens *out, struct rag_error *err)
{
	const struct tok_hf_item *it;
	size_t n, k, i;
	int rc, seen = 0;

	out->n = 0;
	if (!(flags & RAG_TOK_ADD_SPECIAL) || !tok_hf_template(t, b != NULL, &it, &n)) {
		if ((rc = encode_one(t, a, alen, flags, out, err)))
			return rc;
		if (b) {
			k = out->n;
			if ((rc = encode_one(t, b, blen, flags, out, err)))
				return rc;
			for (; k < out->n; k++)
				out->type_ids[k] = 1;
		}
		return RAG_OK;
	}
	for (i = 0; i < n; i++) {
		k = out->n;
		if (it[i].seq < 0) {
			/* before the first text at its start, else at the end of the text before */
			size_t at = !seen ? 0 : seen == 1 ? alen : blen;
			for (size_t j = 0; j < it[i].n; j++)
				if (tok_push(out, it[i].ids[j], at, at))
					return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		} else {
			if ((rc = encode_one(t, it[i].seq ? b : a, it[i].seq ? blen : alen, flags, out, err)))
				return rc;
			seen = it[i].seq ? 2 : 1;
		}
		for (; k < out->n; k++)
			out->type_ids[k] = (uint8_t)it[i].type_id;
	}
	return RAG_OK;
}

int rag_tokenize(const struct rag_tokenizer *t, const char *text, size_t len, unsigned flags,
		 struct rag_tokens *out, struct rag_error *err)
{
	int rc;
	int add = (flags & RAG_TOK_ADD_SPECIAL) != 0;

	if (t->hf)
		return apply_template(t, text, len, NULL, 0, flags, out, err);
	out->n = 0;
	if (add) {
		int32_t first = t->model == TOK_WPM ? t->special[RAG_TOK_CLS] : (t->add_bos ? t->special[RAG_TOK_BOS] : -1);
		if (first >= 0 && tok_push(out, first, 0, 0))
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	if ((rc = encode_one(t, text, len, flags, out, err)))
		return rc;
	if (add) {
		int32_t last = t->model == TOK_WPM ? t->special[RAG_TOK_SEP] : (t->add_eos ? t->special[RAG_TOK_EOS] : -1);
		if (last >= 0 && tok_push(out, last, len, len))
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	return RAG_OK;
}

int rag_tokenize_pair(const struct rag_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen,
		      unsigned flags, struct rag_tokens *out, struct rag_error *err)
{
	int rc;
	int add = (flags & RAG_TOK_ADD_SPECIAL) != 0;
	int32_t first = -1, mid = -1;
	size_t k;

	/* transformers treats an empty second text as none (the rerank reference does too) */
	if (blen == 0)
		return rag_tokenize(t, a, alen, flags, out, err);
	if (t->hf)
		return apply_template(t, a, alen, b, blen, flags, out, err);
	out->n = 0;
	if (add) {
		if (t->model == TOK_WPM) {
			first = t->special[RAG_TOK_CLS];
			mid = t->special[RAG_TOK_SEP];
		} else {
			first = t->add_bos ? t->special[RAG_TOK_BOS] : -1;
			mid = t->add_eos ? t->special[RAG_TOK_EOS] : -1;
		}
	}
	if (first >= 0 && tok_push(out, first, 0, 0))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	if ((rc = encode_one(t, a, alen, flags, out, err)))
		return rc;
	if (mid >= 0 && tok_push(out, mid, alen, alen))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	k = out->n;
	if ((rc = encode_one(t, b, blen, flags, out, err)))
		return rc;
	if (mid >= 0 && tok_push(out, mid, blen, blen))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	for (; k < out->n; k++)
		out->type_ids[k] = 1;
	return RAG_OK;
}

/* ---- decoding ----------------------------------------------------------- */

/* WordPiece decoder with cleanup (Hugging Face's WordPiece decoder, cleanup = true). */
static void wpm_decode_piece(const char *s, size_t n, int first, struct rag_buf *out)
{
	static const char *const pairs[][2] = {
		{ " .", "." }, { " ?", "?" }, { " !", "!" }, { " ,", "," }, { " ' ", "'" },
		{ " n't", "n't" }, { " 'm", "'m" }, { " do not", " don't" }, { " 's", "'s" },
		{ " 've", "'ve" }, { " 're", "'re" },
	};
	char tmp[256];
	size_t m = 0;

	if (!first && n >= 2 && s[0] == '#' && s[1] == '#') {
		s += 2;
		n -= 2;
	} else if (!first) {
		tmp[m++] = ' ';
	}
	if (n + m > sizeof tmp) {
		if (m)
			rag_buf_addc(out, ' ');
		rag_buf_add(out, s, n);
		return;
	}
	memcpy(tmp + m, s, n);
	m += n;
	for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
		size_t fl = strlen(pairs[p][0]), tl = strlen(pairs[p][1]);
		for (size_t i = 0; i + fl <= m;) {
			if (memcmp(tmp + i, pairs[p][0], fl) == 0) {
				memmove(tmp + i + tl, tmp + i + fl, m - i - fl);
				memcpy(tmp + i, pairs[p][1], tl);
				m = m - fl + tl;
				i += tl;
			} else {
				i++;
			}
		}
	}
	rag_buf_add(out, tmp, m);
}

/* started: as rag_detokenize_bytes has it, or NULL (a whole text). */
static int detokenize(const struct rag_tokenizer *t, const int32_t *ids, size_t n, int skip_special, int repair,
		      int *started, struct rag_buf *out, struct rag_error *err)
{
	size_t start = out->len, k;
	int first = !(started && *started);

	for (k = 0; k < n; k++) {
		int32_t id = ids[k];
		if (id < 0 || (uint32_t)id >= t->n_vocab)
			return rag_error_set(err, RAG_EDATA, "token id %ld is outside the vocabulary (0..%u)",
					     (long)id, t->n_vocab - 1);
		if (skip_special && rag_token_is_special(t, id))
			continue;
		if (t->model == TOK_WPM) {
			const char *p = t->pool + t->off[id];
			size_t pl = t->off[id + 1] - 1 - t->off[id];
			char tmp[260];
			if (t->wpm_phantom && pl < 256) {
				/* back to Hugging Face's form: "\u2581the" -> "the", "ing" -> "##ing" */
				if (is_phantom_start(t, (uint32_t)id)) {
					p += 3;
					pl -= 3;
				} else if (t->ttype[id] == TT_NORMAL) {
					memcpy(tmp, "##", 2);
					memcpy(tmp + 2, p, pl);
					p = tmp;
					pl += 2;
				}
			}
			wpm_decode_piece(p, pl, first, out);
		} else {
			const char *d = t->dpool + t->doff[id];
			size_t dl = t->doff[id + 1] - t->doff[id];
			/* SentencePiece: the space added in front of the text is not part of it */
			if (first && (t->model == TOK_SPM || t->model == TOK_UGM) && t->add_space_prefix && dl && d[0] == ' ' &&
			    t->ttype[id] == TT_NORMAL) {
				d++;
				dl--;
			}
			rag_buf_add(out, d, dl);
		}
		first = 0;
	}
	if (started && !first)
		*started = 1;
	if (rag_buf_failed(out))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	/* byte-level pieces may leave invalid UTF-8: replace as Hugging Face does */
	if (repair && out->len > start &&
	    rag_utf8_valid_prefix(out->data + start, out->len - start) != out->len - start) {
		struct rag_buf fixed;
		int oom;
		rag_buf_init(&fixed);
		rag_utf8_repair(&fixed, out->data + start, out->len - start);
		if (!(oom = rag_buf_failed(&fixed))) {
			out->len = start;
			oom = rag_buf_add(out, fixed.data, fixed.len) != 0;
		}
		rag_buf_free(&fixed);
		if (oom)
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	return RAG_OK;
}

int rag_detokenize(const struct rag_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
		   struct rag_buf *out, struct rag_error *err)
{
	return detokenize(t, ids, n, skip_special, 1, NULL, out, err);
}

int rag_detokenize_bytes(const struct rag_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
			 int *started, struct rag_buf *out, struct rag_error *err)
{
	return detokenize(t, ids, n, skip_special, 0, started, out, err);
}

/* ---- accessors ---------------------------------------------------------- */

const char *rag_token_piece(const struct rag_tokenizer *t, int32_t id, size_t *len)
{
	if (id < 0 || (uint32_t)id >= t->n_vocab)
		return NULL;
	if (len)
		*len = t->off[id + 1] - 1 - t->off[id];
	return t->pool + t->off[id];
}

size_t rag_tokenizer_vocab_size(const struct rag_tokenizer *t)
{
	return t->n_vocab;
}

int32_t rag_tokenizer_special(const struct rag_tokenizer *t, enum rag_special which)
{
	if ((int)which < 0 || which >= RAG_TOK_N_SPECIAL)
		return -1;
	return t->special[which];
}

int rag_token_is_special(const struct rag_tokenizer *t, int32_t id)
{
	if (id < 0 || (uint32_t)id >= t->n_vocab)
		return 0;
	for (int i = 0; i < RAG_TOK_N_SPECIAL; i++)
		if (t->special[i] == id)
			return 1;
	return t->ttype[id] == TT_CONTROL || t->ttype[id] == TT_UNKNOWN;
}

int rag_tokenizer_n_added(const struct rag_tokenizer *t, int pair)
{
	if (t->hf) {
		const struct tok_hf_item *it;
		size_t n, k;
		int c = 0;
		if (!tok_hf_template(t, pair, &it, &n))
			return 0;
		for (k = 0; k < n; k++)
			if (it[k].seq < 0)
				c += (int)it[k].n;
		return c;
	}
	if (t->model == TOK_WPM)
		return pair ? 3 : 2;
	int one = (t->add_bos ? 1 : 0) + (t->add_eos ? 1 : 0);
	return pair ? (t->add_bos ? 1 : 0) + 2 * (t->add_eos ? 1 : 0) : one;
}

const char *rag_tokenizer_model(const struct rag_tokenizer *t)
{
	return t->model_name;
}

const char *rag_tokenizer_pre(const struct rag_tokenizer *t)
{
	return t->pre_name;
}

/* ---- truncation --------------------------------------------------------- */

static int is_added(const struct rag_tokenizer *t, const struct rag_tokens *o, size_t k)
{
	return o->start[k] == o->end[k] && rag_token_is_special(t, o->ids[k]);
}

int rag_tokens_truncate(const struct rag_tokenizer *t, struct rag_tokens *out, size_t max, int head)
{
	size_t c[2] = { 0, 0 }, d[2] = { 0, 0 }, seen[2] = { 0, 0 }, k, o = 0, excess;
	int pair = 0;

	if (out->n <= max)
		return 0;
	for (k = 0; k < out->n; k++) {
		if (out->type_ids[k])
			pair = 1;
		if (!is_added(t, out, k))
			c[out->type_ids[k] ? 1 : 0]++;
	}
	excess = out->n - max;
	if (excess > c[0] + c[1])
		excess = c[0] + c[1];
	while (excess--) {
		int s = (c[1] - d[1] > c[0] - d[0]) || (pair && c[1] - d[1] == c[0] - d[0]) ? 1 : 0;
		d[s]++;
	}
	for (k = 0; k < out->n; k++) {
		int s = out->type_ids[k] ? 1 : 0;
		if (!is_added(t, out, k)) {
			size_t i = seen[s]++;
			if (head ? i < d[s] : i >= c[s] - d[s])
				continue;
		}
		out->ids[o] = out->ids[k];
		out->start[o] = out->start[k];
		out->end[o] = out->end[k];
		out->type_ids[o] = out->type_ids[k];
		o++;
	}
	out->n = o;
	return 1;
}
