/* gguf_write.c: the GGUF builder, the GGUF v3 writer, and llama.cpp-style re-typing. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "arena.h"
#include "buf.h"
#include "json.h"
#include "gguf_write.h"

struct bkv {
	char *key;
	uint32_t type;
	struct rag_buf val;   /* the value bytes as a GGUF file holds them */
};

struct rag_gguf_builder {
	struct bkv *kv;
	size_t n_kv, cap_kv;
	struct rag_gguf_tensor *t;
	size_t n_t, cap_t;
	void (*fn)(void *);
	void *arg;
	int failed;
};

struct rag_gguf_builder *rag_gguf_builder_new(void)
{
	return rag_calloc(1, sizeof(struct rag_gguf_builder));
}

static void builder_release(struct rag_gguf_builder *b, int run_hook)
{
	size_t i;

	for (i = 0; i < b->n_kv; i++) {
		rag_free(b->kv[i].key);
		rag_buf_free(&b->kv[i].val);
	}
	for (i = 0; i < b->n_t; i++)
		rag_free(b->t[i].name);
	rag_free(b->kv);
	rag_free(b->t);
	if (run_hook && b->fn)
		b->fn(b->arg);
	rag_free(b);
}

void rag_gguf_builder_free(struct rag_gguf_builder *b)
{
	if (b)
		builder_release(b, 1);
}

/* The slot for key (a fresh one at the end, or the existing one emptied). */
static struct rag_buf *slot(struct rag_gguf_builder *b, const char *key, uint32_t type)
{
	size_t i;
	struct bkv *e;

	if (b->failed)
		return NULL;
	for (i = 0; i < b->n_kv; i++)
		if (strcmp(b->kv[i].key, key) == 0) {
			b->kv[i].type = type;
			rag_buf_reset(&b->kv[i].val);
			return &b->kv[i].val;
		}
	if (b->n_kv == b->cap_kv) {
		size_t nc = b->cap_kv ? 2 * b->cap_kv : 32;
		struct bkv *n = rag_reallocarray(b->kv, nc, sizeof *n);
		if (!n) {
			b->failed = 1;
			return NULL;
		}
		b->kv = n;
		b->cap_kv = nc;
	}
	e = &b->kv[b->n_kv];
	memset(e, 0, sizeof *e);
	e->key = rag_strdup(key);
	if (!e->key) {
		b->failed = 1;
		return NULL;
	}
	e->type = type;
	b->n_kv++;
	return &e->val;
}

static void done(struct rag_gguf_builder *b, struct rag_buf *v)
{
	if (rag_buf_failed(v))
		b->failed = 1;
}

static void add_u32(struct rag_buf *v, uint32_t x) { rag_buf_add(v, &x, 4); }
static void add_u64(struct rag_buf *v, uint64_t x) { rag_buf_add(v, &x, 8); }

void rag_gguf_builder_set_scalar(struct rag_gguf_builder *b, const char *key, enum rag_gguf_vtype t, const void *val)
{
	size_t sz = rag_gguf_vtype_size(t);
	struct rag_buf *v;

	if (!sz) {
		b->failed = 1;
		return;
	}
	if (!(v = slot(b, key, t)))
		return;
	rag_buf_add(v, val, sz);
	done(b, v);
}

void rag_gguf_builder_set_u32(struct rag_gguf_builder *b, const char *key, uint32_t x)
{
	rag_gguf_builder_set_scalar(b, key, RAG_GGUF_UINT32, &x);
}

void rag_gguf_builder_set_i32(struct rag_gguf_builder *b, const char *key, int32_t x)
{
	rag_gguf_builder_set_scalar(b, key, RAG_GGUF_INT32, &x);
}

void rag_gguf_builder_set_u64(struct rag_gguf_builder *b, const char *key, uint64_t x)
{
	rag_gguf_builder_set_scalar(b, key, RAG_GGUF_UINT64, &x);
}

void rag_gguf_builder_set_f32(struct rag_gguf_builder *b, const char *key, float x)
{
	rag_gguf_builder_set_scalar(b, key, RAG_GGUF_FLOAT32, &x);
}

void rag_gguf_builder_set_bool(struct rag_gguf_builder *b, const char *key, int x)
{
	uint8_t u = x != 0;

	rag_gguf_builder_set_scalar(b, key, RAG_GGUF_BOOL, &u);
}

void rag_gguf_builder_set_str(struct rag_gguf_builder *b, const char *key, const char *s)
{
	struct rag_buf *v = slot(b, key, RAG_GGUF_STRING);

	if (!v)
		return;
	add_u64(v, strlen(s));
	rag_buf_add(v, s, strlen(s));
	done(b, v);
}

void rag_gguf_builder_set_arr(struct rag_gguf_builder *b, const char *key, enum rag_gguf_vtype elem,
			      const void *val, uint64_t n)
{
	size_t sz = rag_gguf_vtype_size(elem);
	struct rag_buf *v;

	if (!sz) {
		b->failed = 1;
		return;
	}
	if (!(v = slot(b, key, RAG_GGUF_ARRAY)))
		return;
	add_u32(v, elem);
	add_u64(v, n);
	rag_buf_add(v, val, (size_t)n * sz);
	done(b, v);
}

void rag_gguf_builder_set_arr_str(struct rag_gguf_builder *b, const char *key, const char *const *s,
				  const size_t *lens, uint64_t n)
{
	struct rag_buf *v = slot(b, key, RAG_GGUF_ARRAY);
	uint64_t i;

	if (!v)
		return;
	add_u32(v, RAG_GGUF_STRING);
	add_u64(v, n);
	for (i = 0; i < n; i++) {
		size_t l = lens ? lens[i] : strlen(s[i]);
		add_u64(v, l);
		rag_buf_add(v, s[i], l);
	}
	done(b, v);
}

void rag_gguf_builder_copy_kv(struct rag_gguf_builder *b, const struct rag_gguf_kv *kv)
{
	struct rag_buf *v = slot(b, kv->key, kv->type);

	if (!v)
		return;
	if (kv->type == RAG_GGUF_STRING) {
		add_u64(v, kv->str_len);
		rag_buf_add(v, kv->p, (size_t)kv->str_len);
	} else if (kv->type == RAG_GGUF_ARRAY) {
		add_u32(v, kv->elem);
		add_u64(v, kv->n);
		rag_buf_add(v, kv->p, (size_t)kv->size - 12);
	} else {
		rag_buf_add(v, kv->p, (size_t)kv->size);
	}
	done(b, v);
}

void rag_gguf_builder_remove(struct rag_gguf_builder *b, const char *key)
{
	size_t i;

	for (i = 0; i < b->n_kv; i++)
		if (strcmp(b->kv[i].key, key) == 0) {
			rag_free(b->kv[i].key);
			rag_buf_free(&b->kv[i].val);
			memmove(&b->kv[i], &b->kv[i + 1], (b->n_kv - i - 1) * sizeof *b->kv);
			b->n_kv--;
			return;
		}
}

int rag_gguf_builder_has(const struct rag_gguf_builder *b, const char *key)
{
	size_t i;

	for (i = 0; i < b->n_kv; i++)
		if (strcmp(b->kv[i].key, key) == 0)
			return 1;
	return 0;
}

void rag_gguf_builder_add_tensor(struct rag_gguf_builder *b, const char *name, uint32_t n_dims,
				 const int64_t *ne, enum rag_dtype type, const void *data)
{
	struct rag_gguf_tensor *t;
	uint32_t d;

	if (b->failed)
		return;
	if (n_dims == 0 || n_dims > 4) {
		b->failed = 2;
		return;
	}
	if (b->n_t == b->cap_t) {
		size_t nc = b->cap_t ? 2 * b->cap_t : 64;
		struct rag_gguf_tensor *n = rag_reallocarray(b->t, nc, sizeof *n);
		if (!n) {
			b->failed = 1;
			return;
		}
		b->t = n;
		b->cap_t = nc;
	}
	t = &b->t[b->n_t];
	memset(t, 0, sizeof *t);
	t->name = rag_strdup(name);
	if (!t->name) {
		b->failed = 1;
		return;
	}
	t->n_dims = n_dims;
	for (d = 0; d < 4; d++)
		t->ne[d] = d < n_dims ? ne[d] : 1;
	t->type = type;
	t->data = data;
	b->n_t++;
}

void rag_gguf_builder_on_close(struct rag_gguf_builder *b, void (*fn)(void *), void *arg)
{
	b->fn = fn;
	b->arg = arg;
}

int rag_gguf_builder_finish(struct rag_gguf_builder *b, const char *name, struct rag_gguf **out,
			    struct rag_error *err)
{
	struct rag_buf img;
	size_t i;
	void (*fn)(void *);
	void *arg;
	int rc;

	*out = NULL;
	if (b->failed) {
		rc = b->failed == 2 ? rag_error_set(err, RAG_EINTERNAL, "'%s': a tensor has a bad shape", name)
				    : rag_error_set(err, RAG_EINTERNAL, "out of memory building '%s'", name);
		builder_release(b, 1);
		return rc;
	}
	rag_buf_init(&img);
	add_u32(&img, 0x46554747u);
	add_u32(&img, 3);
	add_u64(&img, 0);
	add_u64(&img, b->n_kv);
	for (i = 0; i < b->n_kv; i++) {
		add_u64(&img, strlen(b->kv[i].key));
		rag_buf_adds(&img, b->kv[i].key);
		add_u32(&img, b->kv[i].type);
		rag_buf_add(&img, b->kv[i].val.data, b->kv[i].val.len);
	}
	if (rag_buf_failed(&img)) {
		rag_buf_free(&img);
		builder_release(b, 1);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory building '%s'", name);
	}
	fn = b->fn;
	arg = b->arg;
	{
		size_t len;
		void *data = rag_buf_detach(&img, &len);
		rc = rag_gguf_assemble(data, len, name, b->t, b->n_t, fn, arg, out, err);
	}
	builder_release(b, 0);  /* the hook now belongs to the object */
	return rc;
}

/* ---- writing ---------------------------------------------------------------- */

struct wr {
	FILE *f;
	uint64_t pos;
	int bad;
};

static void w(struct wr *o, const void *p, size_t n)
{
	if (!o->bad && n && fwrite(p, 1, n, o->f) != n)
		o->bad = 1;
	o->pos += n;
}

static void w32(struct wr *o, uint32_t x) { w(o, &x, 4); }
static void w64(struct wr *o, uint64_t x) { w(o, &x, 8); }

static void wpad(struct wr *o, uint32_t align)
{
	static const uint8_t zero[64];
	uint64_t pad = (align - o->pos % align) % align;

	while (pad) {
		size_t k = pad > sizeof zero ? sizeof zero : (size_t)pad;
		w(o, zero, k);
		pad -= k;
	}
}

int rag_gguf_write(const struct rag_gguf *g, const char *path, struct rag_error *err)
{
	struct rag_buf tmp;
	struct wr o = { NULL, 0, 0 };
	uint32_t align = rag_gguf_alignment(g);
	size_t i, nkv = rag_gguf_n_kv(g), nt = rag_gguf_n_tensors(g);
	uint64_t off = 0;
	int fd, rc = RAG_OK;

	rag_buf_init(&tmp);
	rag_buf_printf(&tmp, "%s.tmp.XXXXXX", path);
	if (rag_buf_failed(&tmp))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory writing '%s'", path);
	fd = mkstemp(tmp.data);
	if (fd < 0) {
		rc = rag_error_errno(err, RAG_EIO, "cannot create '%s'", tmp.data);
		rag_buf_free(&tmp);
		return rc;
	}
	(void)fchmod(fd, 0644);
	o.f = fdopen(fd, "wb");
	if (!o.f) {
		rc = rag_error_errno(err, RAG_EIO, "cannot write '%s'", tmp.data);
		close(fd);
		goto fail;
	}
	w32(&o, 0x46554747u);
	w32(&o, 3);
	w64(&o, nt);
	w64(&o, nkv);
	for (i = 0; i < nkv; i++) {
		const struct rag_gguf_kv *kv = rag_gguf_kv_at(g, i);
		w64(&o, strlen(kv->key));
		w(&o, kv->key, strlen(kv->key));
		w32(&o, kv->type);
		if (kv->type == RAG_GGUF_STRING) {
			w64(&o, kv->str_len);
			w(&o, kv->p, (size_t)kv->str_len);
		} else if (kv->type == RAG_GGUF_ARRAY) {
			w32(&o, kv->elem);
			w64(&o, kv->n);
			w(&o, kv->p, (size_t)kv->size - 12);
		} else {
			w(&o, kv->p, (size_t)kv->size);
		}
	}
	for (i = 0; i < nt; i++) {
		const struct rag_gguf_tensor *t = rag_gguf_tensor_at(g, i);
		uint32_t d;
		w64(&o, strlen(t->name));
		w(&o, t->name, strlen(t->name));
		w32(&o, t->n_dims);
		for (d = 0; d < t->n_dims; d++)
			w64(&o, (uint64_t)t->ne[d]);
		w32(&o, (uint32_t)t->type);
		w64(&o, off);
		off += (t->nbytes + align - 1) / align * align;
	}
	/* As ggml's and gguf-py's writers: padding before the data and after
	 * every tensor, none at all in a file without tensors. */
	if (nt)
		wpad(&o, align);
	for (i = 0; i < nt; i++) {
		const struct rag_gguf_tensor *t = rag_gguf_tensor_at(g, i);
		w(&o, t->data, (size_t)t->nbytes);
		wpad(&o, align);
	}
	if (o.bad || fflush(o.f) != 0 || fsync(fileno(o.f)) != 0) {
		rc = rag_error_errno(err, RAG_EIO, "cannot write '%s'", path);
		fclose(o.f);
		goto fail;
	}
	if (fclose(o.f) != 0) {
		rc = rag_error_errno(err, RAG_EIO, "cannot write '%s'", path);
		goto fail;
	}
	if (rename(tmp.data, path) != 0) {
		rc = rag_error_errno(err, RAG_EIO, "cannot rename '%s' to '%s'", tmp.data, path);
		goto fail;
	}
	rag_buf_free(&tmp);
	return RAG_OK;
fail:
	unlink(tmp.data);
	rag_buf_free(&tmp);
	return rc;
}

/* ---- re-typing ---------------------------------------------------------------- */

void rag_quantize_q8_0(const float *x, void *dst, int64_t n)
{
	uint8_t *y = dst;
	int64_t i;
	int j;

	for (i = 0; i < n / 32; i++, x += 32, y += 34) {
		float amax = 0.0f, d, id;
		uint16_t h;
		for (j = 0; j < 32; j++) {
			float a = fabsf(x[j]);
			amax = amax > a ? amax : a;
		}
		d = amax / 127;
		id = d ? 1.0f / d : 0.0f;
		h = rag_f32_to_f16(d);
		memcpy(y, &h, 2);
		for (j = 0; j < 32; j++)
			y[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
	}
}

struct owned {
	void **p;
	size_t n;
};

static void owned_free(void *arg)
{
	struct owned *o = arg;
	size_t i;

	for (i = 0; i < o->n; i++)
		rag_free(o->p[i]);
	rag_free(o->p);
	rag_free(o);
}

static int ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Does the component n (or any inside a Sequence under key list) have type, and,
 * when flag is set, that flag true? */
static int json_has(const struct rag_json *n, const char *list, const char *type, const char *flag)
{
	const struct rag_json *l, *f;
	const char *t;
	size_t i;

	if (!n || n->type != RAG_JSON_OBJECT || !(t = rag_json_get_str(n, "type", NULL)))
		return 0;
	if (!strcmp(t, "Sequence") && (l = rag_json_get(n, list)) && l->type == RAG_JSON_ARRAY) {
		for (i = 0; i < l->u.arr.n; i++)
			if (json_has(&l->u.arr.items[i], list, type, flag))
				return 1;
		return 0;
	}
	if (strcmp(t, type))
		return 0;
	return !flag || ((f = rag_json_get(n, flag)) && f->type == RAG_JSON_TRUE);
}

/* Whether llama.cpp's vocabulary keys of src say all its tokenizer.huggingface.json
 * says, as far as ragkit's GGUF tokenizer goes: uncased BERT WordPiece with
 * BertPreTokenizer, or byte-level BPE with a named pre-tokenizer, no normalizer,
 * no prefix space and no RoBERTa template.  Unigram, byte-fallback BPE, other pre-tokenizers, cased
 * WordPiece keep the description. */
static int hf_json_redundant(const struct rag_gguf *src)
{
	const char *m = NULL, *p = NULL, *js = NULL;
	struct rag_arena a;
	struct rag_json *root;
	int r = 0;

	if (rag_gguf_get_str(src, "tokenizer.ggml.model", &m) != 1 || rag_gguf_get_str(src, "tokenizer.ggml.pre", &p) != 1 ||
	    rag_gguf_get_str(src, "tokenizer.huggingface.json", &js) != 1)
		return 0;
	rag_arena_init(&a);
	if (rag_json_parse(&a, js, strlen(js), &root, NULL) == RAG_OK) {
		const struct rag_json *norm = rag_json_get(root, "normalizer"), *pre = rag_json_get(root, "pre_tokenizer"),
				      *post = rag_json_get(root, "post_processor"), *lc;
		if (!strcmp(m, "bert") && !strcmp(p, "jina-v2-en"))
			r = json_has(norm, "normalizers", "BertNormalizer", NULL) && norm->type == RAG_JSON_OBJECT &&
			    !((lc = rag_json_get(norm, "lowercase")) && lc->type == RAG_JSON_FALSE) &&
			    json_has(pre, "pretokenizers", "BertPreTokenizer", NULL);
		else if (!strcmp(m, "gpt2") && strcmp(p, "default"))
			r = (!norm || norm->type == RAG_JSON_NULL) &&
			    !json_has(pre, "pretokenizers", "ByteLevel", "add_prefix_space") &&
			    !json_has(post, "processors", "RobertaProcessing", NULL);
	}
	rag_arena_free(&a);
	return r;
}

/* The type llama.cpp's converter gives tensor t when asked for type. */
static enum rag_dtype target_type(const struct rag_gguf_tensor *t, enum rag_dtype type)
{
	if (type == RAG_DT_F32 || t->n_dims <= 1 || !ends_with(t->name, ".weight") ||
	    strcmp(t->name, "position_embd.weight") == 0 || strcmp(t->name, "token_types.weight") == 0)
		return RAG_DT_F32;
	if (type == RAG_DT_Q8_0 && t->ne[0] % 32)
		return RAG_DT_F16;
	return type;
}

static void to_f32(const struct rag_gguf_tensor *t, float *dst, int64_t n)
{
	const uint16_t *h = t->data;
	int64_t i;

	if (t->type == RAG_DT_F32)
		memcpy(dst, t->data, (size_t)n * 4);
	else if (t->type == RAG_DT_F16)
		for (i = 0; i < n; i++)
			dst[i] = rag_f16_to_f32(h[i]);
	else
		for (i = 0; i < n; i++)
			dst[i] = rag_bf16_to_f32(h[i]);
}

int rag_gguf_retype(const struct rag_gguf *src, enum rag_dtype type, struct rag_gguf **out,
		    struct rag_error *err)
{
	struct rag_gguf_builder *b;
	struct owned *own;
	size_t i, n = rag_gguf_n_tensors(src);
	uint32_t ftype;

	*out = NULL;
	switch (type) {
	case RAG_DT_F32: ftype = 0; break;
	case RAG_DT_F16: ftype = 1; break;
	case RAG_DT_Q8_0: ftype = 7; break;
	case RAG_DT_BF16: ftype = 32; break;
	default:
		return rag_error_set(err, RAG_EUSAGE, "cannot convert to type %u (f32, f16, bf16, q8_0)", (unsigned)type);
	}
	b = rag_gguf_builder_new();
	own = rag_calloc(1, sizeof *own);
	if (own)
		own->p = rag_calloc(n ? n : 1, sizeof *own->p);
	if (!b || !own || !own->p) {
		rag_gguf_builder_free(b);
		if (own)
			owned_free(own);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory converting '%s'", rag_gguf_path(src));
	}
	rag_gguf_builder_on_close(b, owned_free, own);
	for (i = 0; i < rag_gguf_n_kv(src); i++)
		rag_gguf_builder_copy_kv(b, rag_gguf_kv_at(src, i));
	if (hf_json_redundant(src))
		/* tokenizer.huggingface.json goes where llama.cpp's vocabulary keys say the
		 * same: the result is then the very file llama.cpp's converter writes */
		rag_gguf_builder_remove(b, "tokenizer.huggingface.json");
	rag_gguf_builder_set_u32(b, "general.file_type", ftype);
	for (i = 0; i < n; i++) {
		const struct rag_gguf_tensor *t = rag_gguf_tensor_at(src, i);
		enum rag_dtype tt = target_type(t, type);
		int64_t nel = rag_gguf_tensor_nelements(t), k;
		float *f;
		void *dst;
		if (t->type == tt) {
			rag_gguf_builder_add_tensor(b, t->name, t->n_dims, t->ne, tt, t->data);
			continue;
		}
		if (t->type != RAG_DT_F32 && t->type != RAG_DT_F16 && t->type != RAG_DT_BF16) {
			rag_gguf_builder_free(b);
			return rag_error_set(err, RAG_EMODEL, "'%s': tensor '%s' is %s; only F32, F16 and BF16 convert",
					     rag_gguf_path(src), t->name, rag_dtype_info(t->type)->name);
		}
		f = rag_malloc((size_t)(nel ? nel : 1) * sizeof *f);
		dst = rag_malloc(rag_dtype_row_size(tt, nel) ? rag_dtype_row_size(tt, nel) : 1);
		if (!f || !dst) {
			rag_free(f);
			rag_free(dst);
			rag_gguf_builder_free(b);
			return rag_error_set(err, RAG_EINTERNAL, "out of memory converting '%s'", rag_gguf_path(src));
		}
		own->p[own->n++] = dst;
		to_f32(t, f, nel);
		if (tt == RAG_DT_F32)
			memcpy(dst, f, (size_t)nel * 4);
		else if (tt == RAG_DT_F16)
			for (k = 0; k < nel; k++)
				((uint16_t *)dst)[k] = rag_f32_to_f16(f[k]);
		else if (tt == RAG_DT_BF16)
			for (k = 0; k < nel; k++)
				((uint16_t *)dst)[k] = rag_f32_to_bf16(f[k]);
		else
			rag_quantize_q8_0(f, dst, nel);
		rag_free(f);
		rag_gguf_builder_add_tensor(b, t->name, t->n_dims, t->ne, tt, dst);
	}
	return rag_gguf_builder_finish(b, rag_gguf_path(src), out, err);
}
