/* hfmodel.c: Hugging Face model directories presented as the GGUF llama.cpp's converter would write. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "arena.h"
#include "buf.h"
#include "decoder.h"
#include "gguf_write.h"
#include "hfmodel.h"
#include "json.h"
#include "safetensors.h"

/* llama.cpp's token types */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_BYTE = 6 };

struct hf {
	const char *dir;
	struct rag_error *err;
	struct rag_arena a;
	struct rag_buf *files;       /* the JSON sources (the trees point into them) */
	size_t n_files;
	const struct rag_json *config, *tok, *tokcfg;
	const char *arch;
	int bert, classifier, llama, normalize;
	int st_modules;  /* a sentence-transformers modules.json was read */
	int64_t n_head, n_head_kv, n_embd;
	int64_t head_dim;      /* config's head_dim, else hidden_size / heads (0: unknown) */
	int head_dim_given;    /* config.json has head_dim */
	struct rag_gguf_builder *b;
	struct keep *keep;           /* what the finished object releases */
};

/* Everything the object's tensors point into. */
struct keep {
	struct rag_safetensors *st;
	void **bufs;
	size_t n_bufs, cap;
};

static void keep_free(void *arg)
{
	struct keep *k = arg;
	size_t i;

	if (!k)
		return;
	rag_safetensors_close(k->st);
	for (i = 0; i < k->n_bufs; i++)
		rag_free(k->bufs[i]);
	rag_free(k->bufs);
	rag_free(k);
}

static int oom(struct hf *h)
{
	return rag_error_set(h->err, RAG_EINTERNAL, "out of memory reading '%s'", h->dir);
}

int rag_model_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Parse dir/name into *out; *out = NULL when the file is absent (an error when required). */
static int load_json(struct hf *h, const char *name, int required, const struct rag_json **out)
{
	struct rag_buf path, *nb;
	struct rag_json *j;
	int rc;

	*out = NULL;
	rag_buf_init(&path);
	rag_buf_printf(&path, "%s/%s", h->dir, name);
	if (rag_buf_failed(&path))
		return oom(h);
	if (!file_exists(path.data)) {
		rc = required ? rag_error_set(h->err, RAG_EMODEL, "'%s': not a GGUF file or Hugging Face model directory (no %s)",
					      h->dir, name)
			      : RAG_OK;
		rag_buf_free(&path);
		return rc;
	}
	nb = rag_reallocarray(h->files, h->n_files + 1, sizeof *h->files);
	if (!nb) {
		rag_buf_free(&path);
		return oom(h);
	}
	h->files = nb;
	nb = &h->files[h->n_files++];
	rag_buf_init(nb);
	if ((rc = rag_buf_read_file(nb, path.data, h->err))) {
		rag_buf_free(&path);
		return rc;
	}
	if (rag_json_parse(&h->a, nb->data ? nb->data : "", nb->len, &j, h->err)) {
		rag_error_prefix(h->err, "'%s': ", path.data);
		rag_buf_free(&path);
		return h->err ? (h->err->code = RAG_EMODEL) : RAG_EMODEL;
	}
	rag_buf_free(&path);
	*out = j;
	return RAG_OK;
}

static const struct rag_json *jget(const struct rag_json *o, const char *key)
{
	return o && o->type == RAG_JSON_OBJECT ? rag_json_get(o, key) : NULL;
}

static const char *jstr(const struct rag_json *o, const char *key)
{
	const struct rag_json *v = jget(o, key);

	return v && v->type == RAG_JSON_STRING ? v->u.str.s : NULL;
}

static int jnum(const struct rag_json *o, const char *key, double *out)
{
	const struct rag_json *v = jget(o, key);

	if (!v || v->type != RAG_JSON_NUMBER)
		return 0;
	*out = v->u.num;
	return 1;
}

static int jbool(const struct rag_json *o, const char *key, int *out)
{
	const struct rag_json *v = jget(o, key);

	if (!v || (v->type != RAG_JSON_TRUE && v->type != RAG_JSON_FALSE))
		return 0;
	*out = v->type == RAG_JSON_TRUE;
	return 1;
}

/* A special-token entry of tokenizer_config.json: a string or {"content": ...}. */
static const char *tok_content(const struct rag_json *o, const char *key)
{
	const struct rag_json *v = jget(o, key);

	if (v && v->type == RAG_JSON_STRING)
		return v->u.str.s;
	return jstr(v, "content");
}

/* ---- hyperparameters -------------------------------------------------------- */

static void arch_key(struct hf *h, char *k, size_t n, const char *suffix)
{
	snprintf(k, n, "%s.%s", h->arch, suffix);
}

static void set_u32(struct hf *h, const char *suffix, uint32_t v)
{
	char k[128];

	arch_key(h, k, sizeof k, suffix);
	rag_gguf_builder_set_u32(h->b, k, v);
}

static void put_u32(struct hf *h, const char *suffix, const char *hkey)
{
	double v;

	if (jnum(h->config, hkey, &v) && v >= 0 && v <= 4294967295.0)
		set_u32(h, suffix, (uint32_t)v);
}

static void put_f32(struct hf *h, const char *suffix, double v)
{
	char k[128];

	arch_key(h, k, sizeof k, suffix);
	rag_gguf_builder_set_f32(h->b, k, (float)v);
}

/* The parameter-count label llama.cpp writes ("998K", "3.3M"). */
static void size_label(char *out, size_t n, uint64_t count)
{
	double s = (double)count;
	const char *suf;
	double r;
	int digits = 0, fix;

	if (s > 1e12) { s *= 1e-12; suf = "T"; }
	else if (s > 1e9) { s *= 1e-9; suf = "B"; }
	else if (s > 1e6) { s *= 1e-6; suf = "M"; }
	else { s *= 1e-3; suf = "K"; }
	for (r = rint(s); r >= 1; r = floor(r / 10))
		digits++;
	fix = 2 - digits > 0 ? 2 - digits : 0;
	snprintf(out, n, "%.*f%s", fix, s, suf);
}

/* "tiny-embed-mean" -> "Tiny Embed Mean", as llama.cpp names a model after its directory. */
static void model_name(char *out, size_t n, const char *dir)
{
	size_t len = strlen(dir), i, o = 0;
	const char *base;
	int start = 1;

	while (len > 1 && dir[len - 1] == '/')
		len--;
	for (base = dir + len; base > dir && base[-1] != '/'; base--)
		;
	for (i = 0; base + i < dir + len && o + 1 < n; i++) {
		char c = base[i];
		if (c == '-' || c == '_') {
			out[o++] = ' ';
			start = 1;
			continue;
		}
		out[o++] = start && c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
		start = 0;
	}
	out[o] = 0;
}

/* ---- tensors ----------------------------------------------------------------- */

struct mapped {
	const struct rag_st_tensor *t;
	char name[96];
	const void *data;     /* t->data or a permuted copy */
};

static int strip(const char **s, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(*s, prefix, n))
		return 0;
	*s += n;
	return 1;
}

/* "N.rest" -> N and rest; 0 when s does not start with a layer number. */
static int layer(const char **s, int *n)
{
	char *end;
	long v = strtol(*s, &end, 10);

	if (end == *s || *end != '.' || v < 0 || v > 100000)
		return 0;
	*n = (int)v;
	*s = end + 1;
	return 1;
}

static const struct { const char *hf, *gguf; } bert_layer_names[] = {
	{ "attention.self.query.", "attn_q." },
	{ "attention.self.key.", "attn_k." },
	{ "attention.self.value.", "attn_v." },
	{ "attention.output.dense.", "attn_output." },
	{ "attention.output.LayerNorm.", "attn_output_norm." },
	{ "intermediate.dense.", "ffn_up." },
	{ "output.dense.", "ffn_down." },
	{ "output.LayerNorm.", "layer_output_norm." },
}, dec_layer_names[] = {
	{ "self_attn.q_proj.", "attn_q." },
	{ "self_attn.k_proj.", "attn_k." },
	{ "self_attn.v_proj.", "attn_v." },
	{ "self_attn.o_proj.", "attn_output." },
	{ "self_attn.q_norm.", "attn_q_norm." },
	{ "self_attn.k_norm.", "attn_k_norm." },
	{ "mlp.gate_proj.", "ffn_gate." },
	{ "mlp.up_proj.", "ffn_up." },
	{ "mlp.down_proj.", "ffn_down." },
	{ "input_layernorm.", "attn_norm." },
	{ "post_attention_layernorm.", "ffn_norm." },
};

/* "weight"/"bias" (and the old "gamma"/"beta") */
static const char *param(const char *s)
{
	if (!strcmp(s, "weight") || !strcmp(s, "gamma"))
		return "weight";
	if (!strcmp(s, "bias") || !strcmp(s, "beta"))
		return "bias";
	return NULL;
}

/*
 * llama.cpp's name for a Hugging Face tensor: 1 and out filled, 0 when the
 * converter drops it, -1 when it is unknown.
 */
static int map_name(const struct hf *h, const char *name, char *out, size_t n)
{
	const char *s = name, *p;
	int L;
	size_t i;

	if (h->bert) {
		strip(&s, "bert.");
		if (!strcmp(s, "embeddings.position_ids") || !strncmp(s, "cls.predictions.", 16) ||
		    !strncmp(s, "cls.seq_relationship.", 21))
			return 0;
		if (strip(&s, "embeddings.")) {
			static const struct { const char *hf, *gguf; } e[] = {
				{ "word_embeddings.", "token_embd." }, { "position_embeddings.", "position_embd." },
				{ "token_type_embeddings.", "token_types." }, { "LayerNorm.", "token_embd_norm." },
			};
			for (i = 0; i < sizeof e / sizeof e[0]; i++)
				if (strip(&s, e[i].hf) && (p = param(s))) {
					snprintf(out, n, "%s%s", e[i].gguf, p);
					return 1;
				}
			return -1;
		}
		if (strip(&s, "pooler.dense.")) {
			if (!h->classifier)
				return 0;  /* an embedder's pooler is unused, and llama.cpp drops it */
			if (!(p = param(s)))
				return -1;
			snprintf(out, n, "cls.%s", p);
			return 1;
		}
		if (strip(&s, "classifier.")) {
			if (!(p = param(s)))
				return -1;
			snprintf(out, n, "cls.output.%s", p);
			return 1;
		}
		if (strip(&s, "encoder.layer.") && layer(&s, &L))
			for (i = 0; i < sizeof bert_layer_names / sizeof bert_layer_names[0]; i++)
				if (!strncmp(s, bert_layer_names[i].hf, strlen(bert_layer_names[i].hf)) &&
				    (p = param(s + strlen(bert_layer_names[i].hf)))) {
					snprintf(out, n, "blk.%d.%s%s", L, bert_layer_names[i].gguf, p);
					return 1;
				}
		return -1;
	}
	if (!strcmp(s, "lm_head.weight")) {
		snprintf(out, n, "output.weight");
		return 1;
	}
	strip(&s, "model.");
	if (!strcmp(s, "embed_tokens.weight")) {
		snprintf(out, n, "token_embd.weight");
		return 1;
	}
	if (!strcmp(s, "norm.weight")) {
		snprintf(out, n, "output_norm.weight");
		return 1;
	}
	if (strip(&s, "layers.") && layer(&s, &L)) {
		if (!strcmp(s, "self_attn.rotary_emb.inv_freq"))
			return 0;
		for (i = 0; i < sizeof dec_layer_names / sizeof dec_layer_names[0]; i++)
			if (!strncmp(s, dec_layer_names[i].hf, strlen(dec_layer_names[i].hf)) &&
			    (p = param(s + strlen(dec_layer_names[i].hf)))) {
				snprintf(out, n, "blk.%d.%s%s", L, dec_layer_names[i].gguf, p);
				return 1;
			}
	}
	return -1;
}

static int keep_buf(struct hf *h, void *p)
{
	struct keep *k = h->keep;

	if (k->n_bufs == k->cap) {
		size_t nc = k->cap ? 2 * k->cap : 16;
		void **nb = rag_reallocarray(k->bufs, nc, sizeof *nb);
		if (!nb)
			return -1;
		k->bufs = nb;
		k->cap = nc;
	}
	k->bufs[k->n_bufs++] = p;
	return 0;
}

/*
 * llama.cpp reorders the rows of llama's q and k projections from Hugging
 * Face's rotate-half layout to GGML's interleaved one: within each head the
 * rows (r, r + d/2) become (2r, 2r+1).
 */
static const void *permute_rows(struct hf *h, const struct rag_st_tensor *t, int64_t heads)
{
	int64_t rows = t->shape[0], rowb, d, half, hd, r;
	uint8_t *dst;

	if (heads <= 0 || rows % (2 * heads))
		return NULL;
	rowb = (int64_t)t->nbytes / rows;
	d = rows / heads;
	half = d / 2;
	dst = rag_malloc(t->nbytes ? (size_t)t->nbytes : 1);
	if (!dst || keep_buf(h, dst)) {
		rag_free(dst);
		return NULL;
	}
	for (hd = 0; hd < heads; hd++)
		for (r = 0; r < half; r++) {
			memcpy(dst + (hd * d + 2 * r) * rowb, (const uint8_t *)t->data + (hd * d + r) * rowb, (size_t)rowb);
			memcpy(dst + (hd * d + 2 * r + 1) * rowb, (const uint8_t *)t->data + (hd * d + half + r) * rowb,
			       (size_t)rowb);
		}
	return dst;
}

static int map_tensors(struct hf *h, struct rag_safetensors *st, struct mapped **out, size_t *n_out,
		       uint64_t *n_params)
{
	size_t i, n = 0;
	struct mapped *m = rag_calloc(rag_safetensors_n_tensors(st) + 1, sizeof *m);

	*out = m;
	*n_params = 0;
	if (!m)
		return oom(h);
	for (i = 0; i < rag_safetensors_n_tensors(st); i++) {
		const struct rag_st_tensor *t = rag_safetensors_tensor_at(st, i);
		int r = map_name(h, t->name, m[n].name, sizeof m[n].name);
		if (r == 0)
			continue;
		if (r < 0)
			return rag_error_set(h->err, RAG_EMODEL, "'%s': cannot map tensor '%s' of a %s model", t->file,
					     t->name, h->arch);
		if (!t->loadable)
			return rag_error_set(h->err, RAG_EMODEL, "'%s': tensor '%s' has dtype %s (ragkit loads F32, F16, BF16)",
					     t->file, t->name, t->dtype);
		m[n].t = t;
		m[n].data = t->data;
		if (h->llama && (strstr(m[n].name, ".attn_q.") || strstr(m[n].name, ".attn_k."))) {
			int64_t heads = strstr(m[n].name, ".attn_k.") ? h->n_head_kv : h->n_head;
			m[n].data = permute_rows(h, t, heads);
			if (!m[n].data)
				return rag_error_set(h->err, RAG_EMODEL, "'%s': cannot permute '%s' for %lld heads", t->file,
						     t->name, (long long)heads);
		}
		*n_params += (uint64_t)rag_st_tensor_nelements(t);
		n++;
	}
	*n_out = n;
	return RAG_OK;
}

/* ---- tokenizer ---------------------------------------------------------------- */

static const char *const special_types[] = { "bos", "eos", "unk", "sep", "pad", "cls", "mask" };
#define N_SPECIAL 7

struct vocab {
	const char **tok;
	size_t *len;
	int32_t *type;
	int64_t n;
	int64_t special[N_SPECIAL];  /* -1 when unset */
	int add[3];                  /* bos, eos, sep: -1 unset */
};

static int looks_special(const char *t, size_t n)
{
	if (!strcmp(t, "<pad>") || !strcmp(t, "<mask>") || !strcmp(t, "<2mass>") || !strcmp(t, "[@BOS@]"))
		return 1;
	if (n >= 4 && !strncmp(t, "<|", 2) && !strcmp(t + n - 2, "|>"))
		return 1;
	if (n >= 8 && !strncmp(t, "<\xef\xbd\x9c", 4) && !strcmp(t + n - 4, "\xef\xbd\x9c>"))
		return 1;
	return n >= 8 && !strncmp(t, "<unused", 7) && t[n - 1] == '>';
}

static void set_special(struct vocab *v, int typ, int64_t id)
{
	if (v->special[typ] < 0 && id >= 0 && id < v->n)
		v->special[typ] = id;
}

/* The pre-tokenizer's name in llama.cpp's vocabulary, from its description. */
static const char *pre_name(const struct rag_json *tok)
{
	static const struct { const char *needle, *name; } splits[] = {
		/* distinctive pieces of the split regexes */
		{ "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*", "llama-bpe" },
		{ "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*", "qwen2" },
	};
	const struct rag_json *pre = jget(tok, "pre_tokenizer"), *items;
	const char *type = jstr(pre, "type");
	size_t i, k;

	if (!type)
		return "default";
	if (!strcmp(type, "BertPreTokenizer"))
		return "jina-v2-en";
	if (!strcmp(type, "ByteLevel")) {
		int re = 1;
		jbool(pre, "use_regex", &re);
		return re ? "gpt-2" : "default";
	}
	if (strcmp(type, "Sequence") || !(items = jget(pre, "pretokenizers")) || items->type != RAG_JSON_ARRAY)
		return "default";
	for (i = 0; i < items->u.arr.n; i++) {
		const struct rag_json *p = &items->u.arr.items[i];
		const char *re = jstr(jget(p, "pattern"), "Regex");
		if (!re || strcmp(jstr(p, "type") ? jstr(p, "type") : "", "Split"))
			continue;
		for (k = 0; k < sizeof splits / sizeof splits[0]; k++)
			if (strstr(re, splits[k].needle))
				return splits[k].name;
	}
	return "default";
}

/* Ids the vocabulary and added tokens leave unused get placeholder text
 * "[PADn]", as llama.cpp's converter writes.  -1 when memory runs out. */
static int fill_holes(struct hf *h, struct vocab *v)
{
	for (int64_t i = 0; i < v->n; i++)
		if (!v->tok[i]) {
			char pad[32];
			int l = snprintf(pad, sizeof pad, "[PAD%lld]", (long long)i);
			if (!(v->tok[i] = rag_arena_strndup(&h->a, pad, (size_t)l)))
				return -1;
			v->len[i] = (size_t)l;
			v->type[i] = TT_USER;
		}
	return 0;
}

/* gguf-py's SpecialVocab: ids from tokenizer_config.json looked up among the
 * added tokens, add_* flags from the post-processor template, then config.json. */
static void special_vocab(struct hf *h, struct vocab *v, const struct rag_json *added)
{
	const char *names[N_SPECIAL] = { NULL };
	const struct rag_json *pp = jget(h->tok, "post_processor"), *procs;
	size_t i, np;
	int t, b;

	for (t = 0; t < N_SPECIAL; t++) {
		char key[32];
		snprintf(key, sizeof key, "%s_token", special_types[t]);
		names[t] = tok_content(h->tokcfg, key);
	}
	if (h->tokcfg) {
		if (!names[0] && names[5])
			names[0] = names[5];
		if (!names[1] && names[3])
			names[1] = names[3];
	}
	procs = jget(pp, "processors");
	np = procs && procs->type == RAG_JSON_ARRAY ? procs->u.arr.n : (pp ? 1 : 0);
	for (i = 0; i < np; i++) {
		const struct rag_json *p = procs && procs->type == RAG_JSON_ARRAY ? &procs->u.arr.items[i] : pp;
		const char *type = jstr(p, "type");
		const struct rag_json *single, *pair;
		const char *first = NULL, *last = NULL;
		if (!type)
			continue;
		if (!strcmp(type, "RobertaProcessing")) {
			v->add[0] = v->add[1] = v->add[2] = 1;
			continue;
		}
		if (strcmp(type, "TemplateProcessing"))
			continue;
		single = jget(p, "single");
		pair = jget(p, "pair");
		if (single && single->type == RAG_JSON_ARRAY && single->u.arr.n > 1) {
			first = jstr(jget(&single->u.arr.items[0], "SpecialToken"), "id");
			last = jstr(jget(&single->u.arr.items[single->u.arr.n - 1], "SpecialToken"), "id");
			if (first) {
				if (!h->tokcfg)
					names[0] = first;
				v->add[0] = (names[0] && !strcmp(first, names[0])) || (names[5] && !strcmp(first, names[5]));
			}
			if (last) {
				if (!h->tokcfg || !names[1])
					names[1] = last;
				v->add[1] = names[1] && !strcmp(last, names[1]);
			}
		}
		if (pair && pair->type == RAG_JSON_ARRAY && pair->u.arr.n) {
			size_t lo = 0, hi = pair->u.arr.n;
			const char *f0 = jstr(jget(&pair->u.arr.items[0], "SpecialToken"), "id");
			const char *fl = jstr(jget(&pair->u.arr.items[hi - 1], "SpecialToken"), "id");
			if (first && f0 && !strcmp(f0, first))
				lo = 1;
			if (last && fl && !strcmp(fl, last))
				hi--;
			if (hi > lo + 2) {
				const char *a = jstr(jget(&pair->u.arr.items[lo], "Sequence"), "id");
				const char *bb = jstr(jget(&pair->u.arr.items[hi - 1], "Sequence"), "id");
				if (a && bb && !strcmp(a, "A") && !strcmp(bb, "B")) {
					int add_sep = 0;
					const char *mid = jstr(jget(&pair->u.arr.items[lo + 1], "SpecialToken"), "id");
					if (mid && ((names[3] && !strcmp(mid, names[3])) || (names[1] && !strcmp(mid, names[1]))) &&
					    !last)
						add_sep = 1;
					if (hi - lo == 4) {
						mid = jstr(jget(&pair->u.arr.items[lo + 2], "SpecialToken"), "id");
						if (mid && ((names[3] && !strcmp(mid, names[3])) ||
							    (names[1] && !strcmp(mid, names[1]))))
							add_sep = 1;
					}
					v->add[2] = add_sep;
				}
			}
		}
	}
	/* add_*_token from tokenizer_config.json win */
	if (jbool(h->tokcfg, "add_bos_token", &b))
		v->add[0] = b;
	if (jbool(h->tokcfg, "add_eos_token", &b))
		v->add[1] = b;
	if (jbool(h->tokcfg, "add_sep_token", &b))
		v->add[2] = b;
	for (t = 0; t < N_SPECIAL; t++) {
		if (!names[t] || !added)
			continue;
		for (i = 0; i < added->u.arr.n; i++) {
			const char *c = jstr(&added->u.arr.items[i], "content");
			double id;
			if (c && !strcmp(c, names[t]) && jnum(&added->u.arr.items[i], "id", &id)) {
				set_special(v, t, (int64_t)id);
				break;
			}
		}
	}
	for (t = 0; t < N_SPECIAL; t++) {
		char key[32];
		double id;
		snprintf(key, sizeof key, "%s_token_id", special_types[t]);
		if (jnum(h->config, key, &id))
			set_special(v, t, (int64_t)id);
	}
}

/* tokenizer.json's vocabulary and added tokens, as get_vocab_base lists them. */
static int vocab_from_json(struct hf *h, struct vocab *v, const struct rag_json *model)
{
	const struct rag_json *vocab = jget(model, "vocab"), *added = jget(h->tok, "added_tokens");
	double cfg_n;
	int64_t i, maxid = -1;
	size_t k;

	if (!vocab || vocab->type != RAG_JSON_OBJECT)
		return rag_error_set(h->err, RAG_EMODEL, "'%s/tokenizer.json': no vocabulary object", h->dir);
	if (added && added->type != RAG_JSON_ARRAY)
		added = NULL;
	for (k = 0; k < vocab->u.obj.n; k++) {
		double id;
		if (vocab->u.obj.members[k].value.type != RAG_JSON_NUMBER ||
		    (id = vocab->u.obj.members[k].value.u.num) < 0 || id > (1 << 24))
			return rag_error_set(h->err, RAG_EMODEL, "'%s/tokenizer.json': bad id for token '%.40s'", h->dir,
					     vocab->u.obj.members[k].key);
		if ((int64_t)id > maxid)
			maxid = (int64_t)id;
	}
	for (k = 0; added && k < added->u.arr.n; k++) {
		double id;
		if (jnum(&added->u.arr.items[k], "id", &id) && id >= 0 && id <= (1 << 24) && (int64_t)id > maxid)
			maxid = (int64_t)id;
	}
	v->n = maxid + 1;
	if (jnum(h->config, "vocab_size", &cfg_n) && cfg_n >= 1)
		v->n = (int64_t)cfg_n;
	if (v->n > (1 << 24))  /* real vocabularies stay far below; refuse before allocating */
		return rag_error_set(h->err, RAG_EMODEL, "'%s': vocabulary of %lld tokens is too large", h->dir,
				     (long long)v->n);
	v->tok = rag_arena_alloc(&h->a, (size_t)v->n * sizeof *v->tok);
	v->len = rag_arena_alloc(&h->a, (size_t)v->n * sizeof *v->len);
	v->type = rag_arena_alloc(&h->a, (size_t)v->n * sizeof *v->type);
	if (!v->tok || !v->len || !v->type)
		return oom(h);
	for (i = 0; i < v->n; i++)
		v->tok[i] = NULL;
	for (k = 0; k < vocab->u.obj.n; k++) {
		int64_t id = (int64_t)vocab->u.obj.members[k].value.u.num;
		if (id < v->n) {
			v->tok[id] = vocab->u.obj.members[k].key;
			v->len[id] = vocab->u.obj.members[k].key_len;
			v->type[id] = TT_NORMAL;
		}
	}
	for (k = 0; added && k < added->u.arr.n; k++) {
		const struct rag_json *e = &added->u.arr.items[k];
		const struct rag_json *c = jget(e, "content");
		double id;
		int special = 0;
		if (!c || c->type != RAG_JSON_STRING || !jnum(e, "id", &id) || id < 0 || (int64_t)id >= v->n)
			continue;
		jbool(e, "special", &special);
		v->tok[(int64_t)id] = c->u.str.s;
		v->len[(int64_t)id] = c->u.str.len;
		v->type[(int64_t)id] = special || looks_special(c->u.str.s, c->u.str.len) ? TT_CONTROL : TT_USER;
	}
	if (fill_holes(h, v))
		return oom(h);
	special_vocab(h, v, added);
	{
		/* the model's own unknown token (WordPiece, BPE, WordLevel) */
		const char *unk = jstr(model, "unk_token");
		for (i = 0; unk && i < v->n; i++)
			if (v->len[i] == strlen(unk) && !memcmp(v->tok[i], unk, v->len[i])) {
				set_special(v, 2, i);
				break;
			}
	}
	return RAG_OK;
}

/* A Unigram vocabulary ([piece, score] pairs): tokens, scores and types as llama.cpp's t5 vocabulary. */
static int vocab_from_unigram(struct hf *h, struct vocab *v, const struct rag_json *model, float **scores)
{
	const struct rag_json *vocab = jget(model, "vocab"), *added = jget(h->tok, "added_tokens");
	double unk = -1, cfg_n;
	int64_t i;
	size_t k;
	int fallback = 0;

	if (!vocab || vocab->type != RAG_JSON_ARRAY)
		return rag_error_set(h->err, RAG_EMODEL, "'%s/tokenizer.json': Unigram vocab is not a list", h->dir);
	if (added && added->type != RAG_JSON_ARRAY)
		added = NULL;
	if (!vocab->u.arr.n)
		return rag_error_set(h->err, RAG_EMODEL, "'%s/tokenizer.json': empty Unigram vocabulary", h->dir);
	jbool(model, "byte_fallback", &fallback);
	v->n = (int64_t)vocab->u.arr.n;
	for (k = 0; added && k < added->u.arr.n; k++) {
		double id;
		if (jnum(&added->u.arr.items[k], "id", &id) && id >= 0 && id < (1 << 24) && (int64_t)id >= v->n)
			v->n = (int64_t)id + 1;
	}
	if (jnum(h->config, "vocab_size", &cfg_n) && cfg_n >= 1 && cfg_n > v->n && cfg_n <= (1 << 24))
		v->n = (int64_t)cfg_n;
	if (v->n > (1 << 24) || v->n < 1)
		return rag_error_set(h->err, RAG_EMODEL, "'%s': vocabulary of %lld tokens", h->dir, (long long)v->n);
	v->tok = rag_arena_alloc(&h->a, (size_t)v->n * sizeof *v->tok);
	v->len = rag_arena_alloc(&h->a, (size_t)v->n * sizeof *v->len);
	v->type = rag_arena_alloc(&h->a, (size_t)v->n * sizeof *v->type);
	*scores = rag_arena_alloc(&h->a, (size_t)v->n * sizeof **scores);
	if (!v->tok || !v->len || !v->type || !*scores)
		return oom(h);
	jnum(model, "unk_id", &unk);
	for (i = 0; i < v->n; i++) {
		const struct rag_json *e = (size_t)i < vocab->u.arr.n ? &vocab->u.arr.items[i] : NULL;
		v->tok[i] = NULL;
		(*scores)[i] = 0;
		v->type[i] = TT_NORMAL;
		if (!e)
			continue;
		if (e->type != RAG_JSON_ARRAY || e->u.arr.n != 2 || e->u.arr.items[0].type != RAG_JSON_STRING ||
		    e->u.arr.items[1].type != RAG_JSON_NUMBER)
			return rag_error_set(h->err, RAG_EMODEL, "'%s/tokenizer.json': Unigram vocab entry %lld is not [piece, score]",
					     h->dir, (long long)i);
		v->tok[i] = e->u.arr.items[0].u.str.s;
		v->len[i] = e->u.arr.items[0].u.str.len;
		(*scores)[i] = (float)e->u.arr.items[1].u.num;
		if (fallback && v->len[i] == 6 && !strncmp(v->tok[i], "<0x", 3) && v->tok[i][5] == '>')
			v->type[i] = TT_BYTE;
	}
	if (unk >= 0 && unk < v->n) {
		v->type[(int64_t)unk] = TT_UNKNOWN;
		set_special(v, 2, (int64_t)unk);
	}
	for (k = 0; added && k < added->u.arr.n; k++) {
		const struct rag_json *e = &added->u.arr.items[k];
		const struct rag_json *c = jget(e, "content");
		double id;
		int special = 0;
		if (!c || c->type != RAG_JSON_STRING || !jnum(e, "id", &id) || id < 0 || (int64_t)id >= v->n)
			continue;
		jbool(e, "special", &special);
		v->tok[(int64_t)id] = c->u.str.s;
		v->len[(int64_t)id] = c->u.str.len;
		if ((int64_t)id != (int64_t)unk)
			v->type[(int64_t)id] = special ? TT_CONTROL : TT_USER;
	}
	if (fill_holes(h, v))
		return oom(h);
	special_vocab(h, v, added);
	return RAG_OK;
}

/* The Precompiled normalizer's charsmap (anywhere in the normalizer), decoded, for
 * llama.cpp's tokenizer.ggml.precompiled_charsmap; NULL when there is none. */
static const struct rag_json *find_precompiled(const struct rag_json *n)
{
	const char *type = jstr(n, "type");
	const struct rag_json *l;
	size_t i;

	if (!type)
		return NULL;
	if (!strcmp(type, "Precompiled"))
		return jget(n, "precompiled_charsmap");
	if (strcmp(type, "Sequence") || !(l = jget(n, "normalizers")) || l->type != RAG_JSON_ARRAY)
		return NULL;
	for (i = 0; i < l->u.arr.n; i++) {
		const struct rag_json *r = find_precompiled(&l->u.arr.items[i]);
		if (r)
			return r;
	}
	return NULL;
}

static int put_charsmap(struct hf *h)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const struct rag_json *c = find_precompiled(jget(h->tok, "normalizer"));
	uint8_t *o;
	size_t i, k = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (!c || c->type != RAG_JSON_STRING || !c->u.str.len)
		return RAG_OK;
	if (!(o = rag_arena_alloc(&h->a, c->u.str.len / 4 * 3 + 4)))
		return oom(h);
	for (i = 0; i < c->u.str.len; i++) {
		const char *p = c->u.str.s[i] ? strchr(tab, c->u.str.s[i]) : NULL;
		if (!p)
			continue;
		acc = (acc << 6) | (uint32_t)(p - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[k++] = (uint8_t)(acc >> bits);
		}
	}
	rag_gguf_builder_set_arr(h->b, "tokenizer.ggml.precompiled_charsmap", RAG_GGUF_UINT8, o, k);
	return RAG_OK;
}

/* A vocab.txt-only BERT directory: one token a line; BERT's special tokens. */
static int vocab_from_txt(struct hf *h, struct vocab *v)
{
	static const char *const defaults[N_SPECIAL] = { "[CLS]", "[SEP]", "[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]" };
	struct rag_buf path, txt;
	const char *names[N_SPECIAL];
	size_t pos, cnt = 0;
	int64_t i;
	int t, rc;

	rag_buf_init(&path);
	rag_buf_init(&txt);
	rag_buf_printf(&path, "%s/vocab.txt", h->dir);
	if (rag_buf_failed(&path))
		return oom(h);
	rc = rag_buf_read_file(&txt, path.data, h->err);
	rag_buf_free(&path);
	if (rc) {
		rag_buf_free(&txt);
		return rc;
	}
	for (pos = 0; pos < txt.len; pos++)
		cnt += txt.data[pos] == '\n';
	if (txt.len && txt.data[txt.len - 1] != '\n')
		cnt++;
	v->n = (int64_t)cnt;
	v->tok = rag_arena_alloc(&h->a, (cnt ? cnt : 1) * sizeof *v->tok);
	v->len = rag_arena_alloc(&h->a, (cnt ? cnt : 1) * sizeof *v->len);
	v->type = rag_arena_alloc(&h->a, (cnt ? cnt : 1) * sizeof *v->type);
	if (!v->tok || !v->len || !v->type) {
		rag_buf_free(&txt);
		return oom(h);
	}
	for (pos = 0, i = 0; i < v->n; i++) {
		const char *nl = memchr(txt.data + pos, '\n', txt.len - pos);
		size_t end = nl ? (size_t)(nl - txt.data) : txt.len, l = end - pos;
		if (l && txt.data[pos + l - 1] == '\r')
			l--;
		v->tok[i] = rag_arena_strndup(&h->a, txt.data + pos, l);
		v->len[i] = l;
		v->type[i] = TT_NORMAL;
		if (!v->tok[i]) {
			rag_buf_free(&txt);
			return oom(h);
		}
		pos = end + 1;
	}
	rag_buf_free(&txt);
	for (t = 0; t < N_SPECIAL; t++) {
		char key[32];
		snprintf(key, sizeof key, "%s_token", special_types[t]);
		names[t] = tok_content(h->tokcfg, key) ? tok_content(h->tokcfg, key) : defaults[t];
	}
	if (!tok_content(h->tokcfg, "bos_token"))
		names[0] = names[5];
	if (!tok_content(h->tokcfg, "eos_token"))
		names[1] = names[3];
	for (i = 0; i < v->n; i++)
		for (t = 0; t < N_SPECIAL; t++)
			if (!strcmp(v->tok[i], names[t])) {
				v->type[i] = TT_CONTROL;
				set_special(v, t, i);
			}
	v->add[0] = v->add[1] = 1;
	v->add[2] = 0;
	return RAG_OK;
}

/* BERT vocabularies in llama.cpp's "phantom space" form: "##ing" -> "ing", "the" -> "\u2581the". */
static int phantom(struct hf *h, struct vocab *v)
{
	int64_t i;

	for (i = 0; i < v->n; i++) {
		const char *s = v->tok[i];
		size_t l = v->len[i];
		char *p;
		if (l >= 2 && s[0] == '[' && s[l - 1] == ']')
			continue;
		if (l >= 2 && s[0] == '#' && s[1] == '#') {
			v->tok[i] = s + 2;
			v->len[i] = l - 2;
			continue;
		}
		p = rag_arena_alloc(&h->a, l + 4);
		if (!p)
			return oom(h);
		memcpy(p, "\xe2\x96\x81", 3);
		memcpy(p + 3, s, l);
		p[l + 3] = 0;
		v->tok[i] = p;
		v->len[i] = l + 3;
	}
	return RAG_OK;
}

static int put_merges(struct hf *h, const struct rag_json *merges)
{
	const char **s;
	size_t *l, i;

	if (!merges || merges->type != RAG_JSON_ARRAY || !merges->u.arr.n)
		return RAG_OK;
	s = rag_arena_alloc(&h->a, merges->u.arr.n * sizeof *s);
	l = rag_arena_alloc(&h->a, merges->u.arr.n * sizeof *l);
	if (!s || !l)
		return oom(h);
	for (i = 0; i < merges->u.arr.n; i++) {
		const struct rag_json *m = &merges->u.arr.items[i];
		if (m->type == RAG_JSON_STRING) {
			s[i] = m->u.str.s;
			l[i] = m->u.str.len;
		} else if (m->type == RAG_JSON_ARRAY && m->u.arr.n == 2 && m->u.arr.items[0].type == RAG_JSON_STRING &&
			   m->u.arr.items[1].type == RAG_JSON_STRING) {
			/* the pair form: "a b", a space inside a part written as U+0120 */
			struct rag_buf b;
			int part;
			rag_buf_init(&b);
			for (part = 0; part < 2; part++) {
				const char *c = m->u.arr.items[part].u.str.s;
				size_t k, n = m->u.arr.items[part].u.str.len;
				if (part)
					rag_buf_addc(&b, ' ');
				for (k = 0; k < n; k++)
					if (c[k] == ' ')
						rag_buf_adds(&b, "\xc4\xa0");
					else
						rag_buf_addc(&b, c[k]);
			}
			s[i] = rag_buf_failed(&b) ? NULL : rag_arena_strndup(&h->a, b.data, b.len);
			l[i] = b.len;
			rag_buf_free(&b);
			if (!s[i])
				return oom(h);
		} else {
			return rag_error_set(h->err, RAG_EMODEL, "'%s/tokenizer.json': merge %zu is neither \"a b\" nor [a, b]",
					     h->dir, i);
		}
	}
	rag_gguf_builder_set_arr_str(h->b, "tokenizer.ggml.merges", s, l, merges->u.arr.n);
	return RAG_OK;
}

static int put_tokenizer(struct hf *h)
{
	static const char *const id_keys[N_SPECIAL] = {
		"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
		"tokenizer.ggml.seperator_token_id", "tokenizer.ggml.padding_token_id", NULL,
		"tokenizer.ggml.mask_token_id",
	};
	static const char *const add_keys[3] = {
		"tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token", "tokenizer.ggml.add_sep_token",
	};
	struct vocab v;
	const struct rag_json *model = jget(h->tok, "model");
	const char *mtype = jstr(model, "type"), *tmpl;
	float *scores = NULL;
	int t, rc;
	double tv;

	memset(&v, 0, sizeof v);
	for (t = 0; t < N_SPECIAL; t++)
		v.special[t] = -1;
	v.add[0] = v.add[1] = v.add[2] = -1;
	if (h->bert) {
		uint32_t n = 1;
		if (jnum(h->config, "type_vocab_size", &tv) && tv >= 0)
			n = (uint32_t)tv;
		rag_gguf_builder_set_u32(h->b, "tokenizer.ggml.token_type_count", n);
	}
	if (!h->tok) {
		if (!h->bert)
			return rag_error_set(h->err, RAG_EMODEL, "'%s': no tokenizer.json", h->dir);
		if ((rc = vocab_from_txt(h, &v)) || (rc = phantom(h, &v)))
			return rc;
		rag_gguf_builder_set_str(h->b, "tokenizer.ggml.model", "bert");
		rag_gguf_builder_set_str(h->b, "tokenizer.ggml.pre", "jina-v2-en");
	} else if (mtype && !strcmp(mtype, "WordLevel")) {
		/* no llama.cpp vocabulary type: the nearest, "bert", keeping the pieces as they are */
		if ((rc = vocab_from_json(h, &v, model)))
			return rc;
		rag_gguf_builder_set_str(h->b, "tokenizer.ggml.model", "bert");
		rag_gguf_builder_set_str(h->b, "tokenizer.ggml.pre", "default");
	} else if (mtype && !strcmp(mtype, "WordPiece")) {
		if ((rc = vocab_from_json(h, &v, model)) || (rc = phantom(h, &v)))
			return rc;
		rag_gguf_builder_set_str(h->b, "tokenizer.ggml.model", "bert");
		rag_gguf_builder_set_str(h->b, "tokenizer.ggml.pre", pre_name(h->tok));
	} else if (mtype && !strcmp(mtype, "BPE")) {
		int fallback = 0;
		jbool(model, "byte_fallback", &fallback);
		if ((rc = vocab_from_json(h, &v, model)))
			return rc;
		if (fallback) {
			/* SentencePiece-style BPE (llama, mistral): llama.cpp's "llama" vocabulary,
			 * <0xXX> as byte tokens; the pipeline itself comes from tokenizer.json */
			int64_t i;
			if (!(scores = rag_arena_alloc(&h->a, (size_t)v.n * sizeof *scores)))
				return oom(h);
			for (i = 0; i < v.n; i++) {
				int byte = v.len[i] == 6 && !strncmp(v.tok[i], "<0x", 3) && v.tok[i][5] == '>';
				if ((v.type[i] == TT_NORMAL || v.type[i] == TT_CONTROL) && byte)
					v.type[i] = TT_BYTE;
				/* llama.cpp merges SentencePiece pieces by score: later pieces, later merges */
				scores[i] = v.type[i] == TT_NORMAL ? -(float)i : 0.0f;
			}
			rag_gguf_builder_set_arr(h->b, "tokenizer.ggml.scores", RAG_GGUF_FLOAT32, scores, (uint64_t)v.n);
			rag_gguf_builder_set_str(h->b, "tokenizer.ggml.model", "llama");
			rag_gguf_builder_set_str(h->b, "tokenizer.ggml.pre", "default");
		} else {
			rag_gguf_builder_set_str(h->b, "tokenizer.ggml.model", "gpt2");
			rag_gguf_builder_set_str(h->b, "tokenizer.ggml.pre", pre_name(h->tok));
		}
	} else if (mtype && !strcmp(mtype, "Unigram")) {
		if ((rc = vocab_from_unigram(h, &v, model, &scores)) || (rc = put_charsmap(h)))
			return rc;
		rag_gguf_builder_set_str(h->b, "tokenizer.ggml.model", "t5");
		rag_gguf_builder_set_str(h->b, "tokenizer.ggml.pre", "default");
		rag_gguf_builder_set_arr(h->b, "tokenizer.ggml.scores", RAG_GGUF_FLOAT32, scores, (uint64_t)v.n);
	} else {
		return rag_error_set(h->err, RAG_EMODEL, "'%s/tokenizer.json': tokenizer model '%s' is not supported",
				     h->dir, mtype ? mtype : "(none)");
	}
	rag_gguf_builder_set_arr_str(h->b, "tokenizer.ggml.tokens", v.tok, v.len, (uint64_t)v.n);
	rag_gguf_builder_set_arr(h->b, "tokenizer.ggml.token_type", RAG_GGUF_INT32, v.type, (uint64_t)v.n);
	if (h->tok && (rc = put_merges(h, jget(model, "merges"))))
		return rc;
	for (t = 0; t < N_SPECIAL; t++)
		if (id_keys[t] && v.special[t] >= 0)
			rag_gguf_builder_set_u32(h->b, id_keys[t], (uint32_t)v.special[t]);
	for (t = 0; t < 3; t++)
		if (v.add[t] >= 0)
			rag_gguf_builder_set_bool(h->b, add_keys[t], v.add[t]);
	if ((tmpl = jstr(h->tokcfg, "chat_template")))
		rag_gguf_builder_set_str(h->b, "tokenizer.chat_template", tmpl);
	if (h->tok) {
		/* the whole description, under the key GGUF defines for it: the tokenizer
		 * runs tokenizer.json's own pipeline (tok-hf.c), here and in converted files */
		char *js = rag_arena_strndup(&h->a, h->tok->raw, h->tok->raw_len);
		if (!js)
			return oom(h);
		rag_gguf_builder_set_str(h->b, "tokenizer.huggingface.json", js);
	}
	return RAG_OK;
}

/* ---- sentence-transformers ------------------------------------------------------ */

/* <arch>.pooling_type and ragkit.normalize from modules.json and the pooling config. */
static int put_pooling(struct hf *h, int *pooling_set)
{
	const struct rag_json *mods, *pool;
	size_t i;
	int rc, normalize = 0;

	*pooling_set = 0;
	if ((rc = load_json(h, "modules.json", 0, &mods)) || !mods)
		return rc;
	if (mods->type != RAG_JSON_ARRAY)
		return rag_error_set(h->err, RAG_EMODEL, "'%s/modules.json': not an array", h->dir);
	for (i = 0; i < mods->u.arr.n; i++) {
		const struct rag_json *m = &mods->u.arr.items[i];
		const char *type = jstr(m, "type"), *path = jstr(m, "path");
		char rel[512];
		int b;
		if (!type)
			continue;
		if (strstr(type, "Normalize"))
			normalize = 1;
		if (!strstr(type, "Pooling") || !path || strstr(path, ".."))
			continue;
		snprintf(rel, sizeof rel, "%s%sconfig.json", path, *path ? "/" : "");
		if ((rc = load_json(h, rel, 1, &pool)))
			return rc;
		{
			uint32_t pt = 0;
			char key[128];
			if (jbool(pool, "pooling_mode_mean_tokens", &b) && b)
				pt = 1;
			else if (jbool(pool, "pooling_mode_cls_token", &b) && b)
				pt = 2;
			else if (jbool(pool, "pooling_mode_lasttoken", &b) && b)
				pt = 3;
			else
				return rag_error_set(h->err, RAG_EMODEL, "'%s/%s': pooling mode not supported (mean, cls, lasttoken)",
						     h->dir, rel);
			arch_key(h, key, sizeof key, "pooling_type");
			rag_gguf_builder_set_u32(h->b, key, pt);
			*pooling_set = 1;
		}
	}
	h->normalize = normalize;
	h->st_modules = 1;
	return RAG_OK;
}

static int put_sentence_transformers(struct hf *h)
{
	const struct rag_json *sb, *st, *prompts;
	const char *def;
	double v;
	size_t i;
	int rc;

	if ((rc = load_json(h, "sentence_bert_config.json", 0, &sb)))
		return rc;
	/* A sentence-transformers model normalizes only with a Normalize module:
	 * say so either way, so that rag-embed does what sentence-transformers does. */
	if (h->st_modules)
		rag_gguf_builder_set_bool(h->b, "ragkit.normalize", h->normalize);
	if (jnum(sb, "max_seq_length", &v) && v > 0 && v < 4294967296.0)
		rag_gguf_builder_set_u32(h->b, "ragkit.max_length", (uint32_t)v);
	if ((rc = load_json(h, "config_sentence_transformers.json", 0, &st)))
		return rc;
	prompts = jget(st, "prompts");
	if (prompts && prompts->type == RAG_JSON_OBJECT)
		for (i = 0; i < prompts->u.obj.n; i++) {
			char key[256];
			if (prompts->u.obj.members[i].value.type != RAG_JSON_STRING)
				continue;
			snprintf(key, sizeof key, "ragkit.prompt.%s", prompts->u.obj.members[i].key);
			rag_gguf_builder_set_str(h->b, key, prompts->u.obj.members[i].value.u.str.s);
		}
	if ((def = jstr(st, "default_prompt_name")))
		rag_gguf_builder_set_str(h->b, "ragkit.default_prompt_name", def);
	return RAG_OK;
}

/* ---- the whole directory ---------------------------------------------------------- */

static int identify(struct hf *h)
{
	static const struct { const char *hf, *arch; int bert, classifier, llama; } archs[] = {
		{ "BertModel", "bert", 1, 0, 0 },
		{ "BertForSequenceClassification", "bert", 1, 1, 0 },
		{ "Qwen2ForCausalLM", "qwen2", 0, 0, 0 },
		{ "Qwen2Model", "qwen2", 0, 0, 0 },
		{ "Qwen3ForCausalLM", "qwen3", 0, 0, 0 },
		{ "Qwen3Model", "qwen3", 0, 0, 0 },
		{ "LlamaForCausalLM", "llama", 0, 0, 1 },
		{ "LlamaModel", "llama", 0, 0, 1 },
	};
	const struct rag_json *list = jget(h->config, "architectures");
	const char *name = NULL;
	size_t i;
	double v;

	if (list && list->type == RAG_JSON_ARRAY && list->u.arr.n && list->u.arr.items[0].type == RAG_JSON_STRING)
		name = list->u.arr.items[0].u.str.s;
	if (!name && (name = jstr(h->config, "model_type")) && !strcmp(name, "bert"))
		name = "BertModel";
	for (i = 0; name && i < sizeof archs / sizeof archs[0]; i++)
		if (!strcmp(name, archs[i].hf)) {
			h->arch = archs[i].arch;
			h->bert = archs[i].bert;
			h->classifier = archs[i].classifier;
			h->llama = archs[i].llama;
			break;
		}
	if (!h->arch)
		return rag_error_set(h->err, RAG_EMODEL,
				     "'%s/config.json': architecture '%s' is not supported (BertModel, BertForSequenceClassification, Qwen2ForCausalLM, Qwen3ForCausalLM, LlamaForCausalLM)",
				     h->dir, name ? name : "(none)");
	h->n_head = jnum(h->config, "num_attention_heads", &v) ? (int64_t)v : 0;
	h->n_head_kv = jnum(h->config, "num_key_value_heads", &v) ? (int64_t)v : h->n_head;
	h->n_embd = jnum(h->config, "hidden_size", &v) ? (int64_t)v : 0;
	h->head_dim = h->n_head > 0 ? h->n_embd / h->n_head : 0;
	if (jnum(h->config, "head_dim", &v)) {
		/* the decoder's own limit; checked before the number becomes an integer */
		if (!(v >= 1 && v <= RAG_DECODER_MAX_HEAD_DIM) || v != (double)(int64_t)v)
			return rag_error_set(h->err, RAG_EMODEL, "'%s/config.json': head_dim %g is not an integer in 1..%d",
					     h->dir, v, RAG_DECODER_MAX_HEAD_DIM);
		h->head_dim = (int64_t)v;
		h->head_dim_given = 1;
	}
	return RAG_OK;
}

static void put_hparams(struct hf *h, uint32_t file_type)
{
	const struct rag_json *rp = jget(h->config, "rope_parameters");
	double v;

	put_u32(h, "block_count", "num_hidden_layers");
	put_u32(h, "context_length", "max_position_embeddings");
	put_u32(h, "embedding_length", "hidden_size");
	put_u32(h, "feed_forward_length", "intermediate_size");
	put_u32(h, "attention.head_count", "num_attention_heads");
	put_u32(h, "attention.head_count_kv", "num_key_value_heads");
	if (jnum(h->config, "rope_theta", &v) || jnum(rp, "rope_theta", &v))
		put_f32(h, "rope.freq_base", v);
	if (jnum(h->config, "rms_norm_eps", &v))
		put_f32(h, "attention.layer_norm_rms_epsilon", v);
	if (jnum(h->config, "layer_norm_eps", &v))
		put_f32(h, "attention.layer_norm_epsilon", v);
	if (h->head_dim_given) {
		set_u32(h, "attention.key_length", (uint32_t)h->head_dim);
		set_u32(h, "attention.value_length", (uint32_t)h->head_dim);
	}
	rag_gguf_builder_set_u32(h->b, "general.file_type", file_type);
	if (h->bert) {
		char key[64];
		arch_key(h, key, sizeof key, "attention.causal");
		rag_gguf_builder_set_bool(h->b, key, 0);
	}
	if (h->llama) {
		char key[64];
		put_u32(h, "vocab_size", "vocab_size");
		arch_key(h, key, sizeof key, "rope.dimension_count");
		if (h->head_dim > 0)
			rag_gguf_builder_set_u32(h->b, key, (uint32_t)h->head_dim);
	}
}

/*
 * RoPE scaling (config.json rope_parameters, or the older rope_scaling; its
 * rope_type or type): "default" or none adds nothing; "linear" sets
 * <arch>.rope.scaling.type and .factor, as llama.cpp's converter does;
 * "llama3" adds rope_freqs.weight, the per-pair divisors of the rotation
 * frequencies that transformers' _compute_llama3_parameters applies (llama.cpp
 * writes the same tensor, but reads original_max_position_embeddings from the
 * top level of config.json only; here the scaling's own value comes first, as
 * transformers reads it).  Any other type (yarn, dynamic, longrope, ...) is
 * written as <arch>.rope.scaling.type, which the decoder then refuses by name.
 * n_rot: the rotary dimensions per head.
 */
static int put_rope_scaling(struct hf *h, int64_t n_rot, float **freqs)
{
	const struct rag_json *rp = jget(h->config, "rope_parameters"), *rs = jget(h->config, "rope_scaling");
	const struct rag_json *sc;
	const char *type;
	char key[64];
	double factor, base = 10000.0, old_ctx, lo, hi;

	*freqs = NULL;
	sc = jstr(rp, "rope_type") || jstr(rp, "type") ? rp : rs;
	type = jstr(sc, "rope_type") ? jstr(sc, "rope_type") : jstr(sc, "type");
	if (!type || !strcmp(type, "default") || !strcmp(type, "none"))
		return RAG_OK;
	arch_key(h, key, sizeof key, "rope.scaling.type");
	if (strcmp(type, "llama3")) {
		rag_gguf_builder_set_str(h->b, key, type);
		if (jnum(sc, "factor", &factor))
			put_f32(h, "rope.scaling.factor", factor);
		return RAG_OK;
	}
	if (!jnum(sc, "factor", &factor) || !(factor > 0.0))
		return rag_error_set(h->err, RAG_EMODEL, "'%s/config.json': llama3 RoPE scaling without a positive 'factor'",
				     h->dir);
	if (!jnum(sc, "original_max_position_embeddings", &old_ctx) &&
	    !jnum(h->config, "original_max_position_embeddings", &old_ctx))
		return rag_error_set(h->err, RAG_EMODEL,
				     "'%s/config.json': llama3 RoPE scaling without 'original_max_position_embeddings'", h->dir);
	if (!jnum(sc, "low_freq_factor", &lo) || !jnum(sc, "high_freq_factor", &hi) || !(lo > 0.0) || !(hi >= lo))
		return rag_error_set(h->err, RAG_EMODEL,
				     "'%s/config.json': llama3 RoPE scaling needs 'low_freq_factor' <= 'high_freq_factor', both positive",
				     h->dir);
	if (!jnum(sc, "rope_theta", &base) && !jnum(rp, "rope_theta", &base))
		jnum(h->config, "rope_theta", &base);
	if (n_rot <= 0 || n_rot % 2)
		return rag_error_set(h->err, RAG_EMODEL, "'%s/config.json': llama3 RoPE scaling over %lld rotary dimensions",
				     h->dir, (long long)n_rot);
	*freqs = rag_malloc((size_t)(n_rot / 2) * sizeof **freqs);
	if (!*freqs || keep_buf(h, *freqs)) {
		rag_free(*freqs);
		*freqs = NULL;
		return oom(h);
	}
	for (int64_t i = 0; i < n_rot / 2; i++) {
		double inv = 1.0 / pow(base, (double)(2 * i) / (double)n_rot), wavelen = 2.0 * M_PI / inv;
		double f = 1.0;
		if (wavelen > old_ctx / lo) {
			f = factor;
		} else if (wavelen >= old_ctx / hi && hi > lo) {
			double smooth = (old_ctx / wavelen - lo) / (hi - lo);
			f = 1.0 / ((1.0 - smooth) / factor + smooth);
		}
		(*freqs)[i] = (float)f;
	}
	return RAG_OK;
}

/* id2label values in label order: bert.classifier.output_labels. */
static int put_labels(struct hf *h)
{
	const struct rag_json *m = jget(h->config, "id2label");
	const char **s;
	size_t i, n;

	if (!m || m->type != RAG_JSON_OBJECT || !m->u.obj.n)
		return RAG_OK;
	n = m->u.obj.n;
	s = rag_arena_alloc(&h->a, n * sizeof *s);
	if (!s)
		return oom(h);
	for (i = 0; i < n; i++)
		s[i] = NULL;
	for (i = 0; i < n; i++) {
		char *end;
		long k = strtol(m->u.obj.members[i].key, &end, 10);
		if (*end || k < 0 || (size_t)k >= n || s[k] || m->u.obj.members[i].value.type != RAG_JSON_STRING)
			return rag_error_set(h->err, RAG_EMODEL, "'%s/config.json': bad id2label", h->dir);
		s[k] = m->u.obj.members[i].value.u.str.s;
	}
	rag_gguf_builder_set_arr_str(h->b, "bert.classifier.output_labels", s, NULL, n);
	return RAG_OK;
}

static int open_dir(const char *dir, struct rag_gguf **out, struct rag_error *err)
{
	struct hf h;
	struct mapped *m = NULL;
	size_t n = 0, i;
	uint64_t n_params = 0;
	char label[32], name[256];
	uint32_t file_type = 0;
	int rc, pooling_set = 0;

	memset(&h, 0, sizeof h);
	h.dir = dir;
	h.err = err;
	rag_arena_init(&h.a);
	h.b = rag_gguf_builder_new();
	h.keep = rag_calloc(1, sizeof *h.keep);
	if (!h.b || !h.keep) {
		if (!h.b)
			keep_free(h.keep);
		rc = oom(&h);
		goto out;
	}
	rag_gguf_builder_on_close(h.b, keep_free, h.keep);
	if ((rc = load_json(&h, "config.json", 0, &h.config)))
		goto out;
	if ((rc = load_json(&h, "tokenizer.json", 0, &h.tok)) ||
	    (rc = load_json(&h, "tokenizer_config.json", 0, &h.tokcfg)))
		goto out;
	if (!h.config && h.tok) {
		/* a tokenizer alone (tokenizer.json, tokenizer_config.json): a vocabulary-only
		 * object, as llama.cpp's ggml-vocab-*.gguf files are */
		const char *mt = jstr(jget(h.tok, "model"), "type");
		h.arch = mt && !strcmp(mt, "WordPiece") ? "bert" : mt && !strcmp(mt, "Unigram") ? "t5" : "llama";
		rag_gguf_builder_set_str(h.b, "general.architecture", h.arch);
		rag_gguf_builder_set_str(h.b, "general.type", "vocab");
		model_name(name, sizeof name, dir);
		rag_gguf_builder_set_str(h.b, "general.name", name);
		if ((rc = put_tokenizer(&h)))
			goto out;
		rc = rag_gguf_builder_finish(h.b, dir, out, err);
		h.b = NULL;
		goto out;
	}
	if (!h.config) {
		rc = load_json(&h, "config.json", 1, &h.config);
		goto out;
	}
	if ((rc = identify(&h)))
		goto out;
	if ((rc = rag_safetensors_open(dir, &h.keep->st, err)))
		goto out;
	if ((rc = map_tensors(&h, h.keep->st, &m, &n, &n_params)))
		goto out;
	for (i = 0; i < n; i++)
		if (!strcmp(m[i].name, "token_embd.weight"))
			file_type = m[i].t->type == RAG_DT_F16 ? 1 : m[i].t->type == RAG_DT_BF16 ? 32 : 0;

	rag_gguf_builder_set_str(h.b, "general.architecture", h.arch);
	rag_gguf_builder_set_str(h.b, "general.type", "model");
	model_name(name, sizeof name, dir);
	rag_gguf_builder_set_str(h.b, "general.name", name);
	size_label(label, sizeof label, n_params);
	rag_gguf_builder_set_str(h.b, "general.size_label", label);
	put_hparams(&h, file_type);
	if ((rc = put_pooling(&h, &pooling_set)))
		goto out;
	if (h.classifier && (rc = put_labels(&h)))
		goto out;
	rag_gguf_builder_set_u32(h.b, "general.quantization_version", 2);
	if ((rc = put_tokenizer(&h)) || (rc = put_sentence_transformers(&h)))
		goto out;
	if (!h.bert) {
		int64_t n_rot = h.head_dim;
		float *freqs;
		if ((rc = put_rope_scaling(&h, n_rot, &freqs)))
			goto out;
		if (freqs) {
			/* first, as llama.cpp's converter yields it before the model's tensors */
			int64_t ne[4] = { n_rot / 2, 1, 1, 1 };
			rag_gguf_builder_add_tensor(h.b, "rope_freqs.weight", 1, ne, RAG_DT_F32, freqs);
		}
	}
	for (i = 0; i < n; i++) {
		const struct rag_st_tensor *t = m[i].t;
		int64_t ne[4] = { 1, 1, 1, 1 };
		uint32_t d, nd = t->n_dims ? t->n_dims : 1;
		for (d = 0; d < t->n_dims; d++)
			ne[d] = t->shape[t->n_dims - 1 - d];
		rag_gguf_builder_add_tensor(h.b, m[i].name, nd, ne, t->type, m[i].data);
	}
	rc = rag_gguf_builder_finish(h.b, dir, out, err);
	h.b = NULL;
out:
	rag_gguf_builder_free(h.b);  /* when not finished: runs keep_free */
	rag_free(m);
	for (i = 0; i < h.n_files; i++)
		rag_buf_free(&h.files[i]);
	rag_free(h.files);
	rag_arena_free(&h.a);
	return rc;
}

int rag_model_open(const char *path, struct rag_gguf **out, struct rag_error *err)
{
	*out = NULL;
	if (rag_model_is_dir(path))
		return open_dir(path, out, err);
	return rag_gguf_open(path, out, err);
}
