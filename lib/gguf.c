/* gguf.c: GGUF parsing with every offset and size checked against the file. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "gguf.h"

#define GGUF_MAGIC 0x46554747u  /* "GGUF" little-endian */
#define GGUF_MAX_DEPTH 8        /* nesting of arrays of arrays */
#define GGUF_MAX_DIMS 4

struct rag_gguf {
	char *path;
	const uint8_t *base;
	uint64_t size;
	int mapped;
	uint32_t version;
	uint32_t alignment;
	uint64_t data_offset;
	uint64_t n_kv, n_tensors;
	struct rag_gguf_kv *kv;
	struct rag_gguf_tensor *tensors;
	void *owned;                    /* assembled objects: the metadata image */
	void (*release)(void *);        /* assembled objects: frees the tensor memory */
	void *release_arg;
};

struct cursor {
	const uint8_t *base;
	uint64_t size, pos;
	const char *name;
	struct rag_error *err;
};

static int truncated(struct cursor *c, const char *where)
{
	return rag_error_set(c->err, RAG_EMODEL, "'%s': truncated or corrupt GGUF file (%s at byte %llu)",
			     c->name, where, (unsigned long long)c->pos);
}

static int need(struct cursor *c, uint64_t n, const char *where)
{
	if (n > c->size || c->pos > c->size - n)
		return truncated(c, where);
	return RAG_OK;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

static int get_u32(struct cursor *c, uint32_t *v, const char *where)
{
	if (need(c, 4, where))
		return RAG_EMODEL;
	*v = rd32(c->base + c->pos);
	c->pos += 4;
	return RAG_OK;
}

static int get_u64(struct cursor *c, uint64_t *v, const char *where)
{
	if (need(c, 8, where))
		return RAG_EMODEL;
	*v = rd64(c->base + c->pos);
	c->pos += 8;
	return RAG_OK;
}

static int get_string(struct cursor *c, struct rag_gguf_str *s, const char *where)
{
	uint64_t n;

	if (get_u64(c, &n, where) || need(c, n, where))
		return RAG_EMODEL;
	s->s = (const char *)c->base + c->pos;
	s->len = n;
	c->pos += n;
	return RAG_OK;
}

size_t rag_gguf_vtype_size(enum rag_gguf_vtype t)
{
	switch (t) {
	case RAG_GGUF_UINT8: case RAG_GGUF_INT8: case RAG_GGUF_BOOL: return 1;
	case RAG_GGUF_UINT16: case RAG_GGUF_INT16: return 2;
	case RAG_GGUF_UINT32: case RAG_GGUF_INT32: case RAG_GGUF_FLOAT32: return 4;
	case RAG_GGUF_UINT64: case RAG_GGUF_INT64: case RAG_GGUF_FLOAT64: return 8;
	default: return 0;
	}
}

const char *rag_gguf_vtype_name(enum rag_gguf_vtype t)
{
	static const char *names[] = { "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
				       "str", "arr", "u64", "i64", "f64" };

	return (unsigned)t < RAG_GGUF_VTYPE_COUNT ? names[t] : "?";
}

/* Skip over (and validate) one value of type t. */
static int skip_value(struct cursor *c, uint32_t t, int depth, const char *where)
{
	size_t sz;

	if (t >= RAG_GGUF_VTYPE_COUNT)
		return rag_error_set(c->err, RAG_EMODEL, "'%s': corrupt GGUF file (%s has unknown value type %u)",
				     c->name, where, t);
	if (t == RAG_GGUF_STRING) {
		struct rag_gguf_str s;
		return get_string(c, &s, where);
	}
	if (t == RAG_GGUF_ARRAY) {
		uint32_t et;
		uint64_t n, i;
		if (depth >= GGUF_MAX_DEPTH)
			return rag_error_set(c->err, RAG_EMODEL, "'%s': corrupt GGUF file (%s nests arrays too deeply)",
					     c->name, where);
		if (get_u32(c, &et, where) || get_u64(c, &n, where))
			return RAG_EMODEL;
		if (et >= RAG_GGUF_VTYPE_COUNT)
			return rag_error_set(c->err, RAG_EMODEL, "'%s': corrupt GGUF file (%s has unknown element type %u)",
					     c->name, where, et);
		sz = rag_gguf_vtype_size((enum rag_gguf_vtype)et);
		if (sz) {
			if (n > UINT64_MAX / sz)
				return truncated(c, where);
			if (need(c, n * sz, where))
				return RAG_EMODEL;
			c->pos += n * sz;
			return RAG_OK;
		}
		/* Strings and arrays take at least 8 bytes each: bound n before looping. */
		if (n > (c->size - c->pos) / 8)
			return truncated(c, where);
		for (i = 0; i < n; i++)
			if (skip_value(c, et, depth + 1, where))
				return RAG_EMODEL;
		return RAG_OK;
	}
	sz = rag_gguf_vtype_size((enum rag_gguf_vtype)t);
	if (need(c, sz, where))
		return RAG_EMODEL;
	c->pos += sz;
	return RAG_OK;
}

static int oom(struct rag_error *err)
{
	return rag_error_set(err, RAG_EINTERNAL, "out of memory reading GGUF file");
}

static int parse_kv(struct rag_gguf *g, struct cursor *c, uint64_t idx)
{
	struct rag_gguf_kv *kv = &g->kv[idx];
	struct rag_gguf_str key;
	uint32_t t;
	uint64_t start;
	char where[64];

	snprintf(where, sizeof where, "metadata entry %llu", (unsigned long long)idx);
	if (get_string(c, &key, where) || get_u32(c, &t, where))
		return RAG_EMODEL;
	kv->key = rag_strndup(key.s, (size_t)key.len);
	if (!kv->key)
		return oom(c->err);
	if (t >= RAG_GGUF_VTYPE_COUNT)
		return rag_error_set(c->err, RAG_EMODEL, "'%s': corrupt GGUF file (key '%s' has unknown value type %u)",
				     c->name, kv->key, t);
	kv->type = (enum rag_gguf_vtype)t;
	start = c->pos;
	if (t == RAG_GGUF_ARRAY) {
		uint32_t et;
		if (need(c, 12, where))
			return RAG_EMODEL;
		et = rd32(c->base + c->pos);
		kv->n = rd64(c->base + c->pos + 4);
		kv->elem = (enum rag_gguf_vtype)et;
	}
	snprintf(where, sizeof where, "key '%.40s'", kv->key);
	if (skip_value(c, t, 0, where))
		return RAG_EMODEL;
	kv->p = c->base + start + (t == RAG_GGUF_ARRAY ? 12 : 0);
	kv->size = c->pos - start;
	if (t == RAG_GGUF_STRING) {
		kv->str_len = rd64(c->base + start);
		kv->str = rag_strndup((const char *)c->base + start + 8, (size_t)kv->str_len);
		if (!kv->str)
			return oom(c->err);
		kv->p = c->base + start + 8;
	}
	return RAG_OK;
}

static int parse_tensor(struct rag_gguf *g, struct cursor *c, uint64_t idx)
{
	struct rag_gguf_tensor *t = &g->tensors[idx];
	struct rag_gguf_str name;
	const struct rag_dtype_info *ti;
	uint32_t nd, type;
	uint64_t nel = 1, d;
	char where[64];

	snprintf(where, sizeof where, "tensor info %llu", (unsigned long long)idx);
	if (get_string(c, &name, where))
		return RAG_EMODEL;
	t->name = rag_strndup(name.s, (size_t)name.len);
	if (!t->name)
		return oom(c->err);
	if (get_u32(c, &nd, where))
		return RAG_EMODEL;
	if (nd == 0 || nd > GGUF_MAX_DIMS)
		return rag_error_set(c->err, RAG_EMODEL, "'%s': corrupt GGUF file (tensor '%s' has %u dimensions)",
				     c->name, t->name, nd);
	t->n_dims = nd;
	for (d = 0; d < GGUF_MAX_DIMS; d++)
		t->ne[d] = 1;
	for (d = 0; d < nd; d++) {
		uint64_t v;
		if (get_u64(c, &v, where))
			return RAG_EMODEL;
		if (v > INT64_MAX || (v && nel > (uint64_t)INT64_MAX / v))
			return rag_error_set(c->err, RAG_EMODEL, "'%s': corrupt GGUF file (tensor '%s' is impossibly large)",
					     c->name, t->name);
		t->ne[d] = (int64_t)v;
		nel *= v;
	}
	if (get_u32(c, &type, where) || get_u64(c, &t->offset, where))
		return RAG_EMODEL;
	ti = rag_dtype_info(type);
	if (!ti)
		return rag_error_set(c->err, RAG_EMODEL, "'%s': tensor '%s' has unknown type %u",
				     c->name, t->name, type);
	t->type = (enum rag_dtype)type;
	if (t->ne[0] % ti->block)
		return rag_error_set(c->err, RAG_EMODEL,
				     "'%s': corrupt GGUF file (tensor '%s' row of %lld is not a multiple of the %s block %u)",
				     c->name, t->name, (long long)t->ne[0], ti->name, ti->block);
	t->nbytes = nel / ti->block * ti->size;
	if (ti->size && nel / ti->block > UINT64_MAX / ti->size)
		return rag_error_set(c->err, RAG_EMODEL, "'%s': corrupt GGUF file (tensor '%s' is impossibly large)",
				     c->name, t->name);
	return RAG_OK;
}

static int tensor_cmp(const void *a, const void *b)
{
	const struct rag_gguf_tensor *x = *(const struct rag_gguf_tensor *const *)a;
	const struct rag_gguf_tensor *y = *(const struct rag_gguf_tensor *const *)b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int tensor_name_cmp(const void *a, const void *b)
{
	const struct rag_gguf_tensor *x = *(const struct rag_gguf_tensor *const *)a;
	const struct rag_gguf_tensor *y = *(const struct rag_gguf_tensor *const *)b;

	return strcmp(x->name, y->name);
}

static int parse(struct rag_gguf *g, struct rag_error *err)
{
	struct cursor c = { g->base, g->size, 0, g->path, err };
	uint32_t magic;
	uint64_t i;
	const struct rag_gguf_kv *al;
	struct rag_gguf_tensor **order = NULL;
	int rc = RAG_EMODEL;

	if (g->size < 4 || rd32(g->base) != GGUF_MAGIC)
		return rag_error_set(err, RAG_EMODEL, "'%s': not a GGUF file (bad magic)", g->path);
	if (get_u32(&c, &magic, "magic") || get_u32(&c, &g->version, "version"))
		return RAG_EMODEL;
	if (g->version != 2 && g->version != 3)
		return rag_error_set(err, RAG_EMODEL, "'%s': unsupported GGUF version %u (ragkit reads 2 and 3)",
				     g->path, g->version);
	if (get_u64(&c, &g->n_tensors, "tensor count") || get_u64(&c, &g->n_kv, "metadata count"))
		return RAG_EMODEL;
	/* Each entry needs well over 8 bytes: bound the counts by the file size. */
	if (g->n_kv > g->size / 8 || g->n_tensors > g->size / 8)
		return rag_error_set(err, RAG_EMODEL, "'%s': corrupt GGUF file (counts exceed the file size)", g->path);
	g->kv = rag_calloc((size_t)g->n_kv ? (size_t)g->n_kv : 1, sizeof *g->kv);
	g->tensors = rag_calloc((size_t)g->n_tensors ? (size_t)g->n_tensors : 1, sizeof *g->tensors);
	if (!g->kv || !g->tensors)
		return oom(err);
	for (i = 0; i < g->n_kv; i++)
		if ((rc = parse_kv(g, &c, i)))
			return rc;
	for (i = 0; i < g->n_tensors; i++)
		if ((rc = parse_tensor(g, &c, i)))
			return rc;

	g->alignment = 32;
	al = rag_gguf_find(g, "general.alignment");
	if (al) {
		int64_t a;
		if (rag_gguf_get_int(g, "general.alignment", &a) != 1 || a <= 0 || a > 65536 || (a & (a - 1)))
			return rag_error_set(err, RAG_EMODEL, "'%s': corrupt GGUF file (bad general.alignment)", g->path);
		g->alignment = (uint32_t)a;
	}
	g->data_offset = (c.pos + g->alignment - 1) / g->alignment * g->alignment;
	if (g->n_tensors && g->data_offset > g->size)
		return rag_error_set(err, RAG_EMODEL, "'%s': truncated GGUF file (no tensor data)", g->path);

	/* Every tensor aligned, inside the file, and no two overlapping. */
	order = rag_calloc((size_t)g->n_tensors ? (size_t)g->n_tensors : 1, sizeof *order);
	if (!order)
		return oom(err);
	for (i = 0; i < g->n_tensors; i++) {
		struct rag_gguf_tensor *t = &g->tensors[i];
		uint64_t avail = g->size - g->data_offset;
		if (t->offset % g->alignment) {
			rc = rag_error_set(err, RAG_EMODEL, "'%s': corrupt GGUF file (tensor '%s' is misaligned)",
					   g->path, t->name);
			goto out;
		}
		if (t->offset > avail || t->nbytes > avail - t->offset) {
			rc = rag_error_set(err, RAG_EMODEL,
					   "'%s': truncated GGUF file (tensor '%s' needs bytes %llu..%llu of %llu)",
					   g->path, t->name,
					   (unsigned long long)(g->data_offset + t->offset),
					   (unsigned long long)(g->data_offset + t->offset + t->nbytes),
					   (unsigned long long)g->size);
			goto out;
		}
		t->data = g->base + g->data_offset + t->offset;
		order[i] = t;
	}
	qsort(order, (size_t)g->n_tensors, sizeof *order, tensor_cmp);
	for (i = 1; i < g->n_tensors; i++) {
		if (order[i - 1]->offset + order[i - 1]->nbytes > order[i]->offset) {
			rc = rag_error_set(err, RAG_EMODEL, "'%s': corrupt GGUF file (tensors '%s' and '%s' overlap)",
					   g->path, order[i - 1]->name, order[i]->name);
			goto out;
		}
	}
	qsort(order, (size_t)g->n_tensors, sizeof *order, tensor_name_cmp);
	for (i = 1; i < g->n_tensors; i++) {
		if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
			rc = rag_error_set(err, RAG_EMODEL, "'%s': corrupt GGUF file (tensor '%s' appears twice)",
					   g->path, order[i]->name);
			goto out;
		}
	}
	rc = RAG_OK;
out:
	rag_free(order);
	return rc;
}

static int make(struct rag_gguf **out, const char *name, struct rag_error *err)
{
	struct rag_gguf *g = rag_calloc(1, sizeof *g);

	*out = NULL;
	if (!g)
		return oom(err);
	g->path = rag_strdup(name);
	if (!g->path) {
		rag_free(g);
		return oom(err);
	}
	*out = g;
	return RAG_OK;
}

int rag_gguf_open_mem(const void *buf, size_t len, const char *name, struct rag_gguf **out,
		      struct rag_error *err)
{
	struct rag_gguf *g;
	int rc;

	if ((rc = make(&g, name, err)))
		return rc;
	g->base = buf;
	g->size = len;
	if ((rc = parse(g, err))) {
		rag_gguf_close(g);
		return rc;
	}
	*out = g;
	return RAG_OK;
}

int rag_gguf_open(const char *path, struct rag_gguf **out, struct rag_error *err)
{
	struct rag_gguf *g;
	struct stat st;
	void *map;
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rag_error_errno(err, RAG_ENOINPUT, "cannot open '%s'", path);
	if (fstat(fd, &st) < 0) {
		rc = rag_error_errno(err, RAG_ENOINPUT, "cannot stat '%s'", path);
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return rag_error_set(err, RAG_EMODEL, "'%s': not a regular file", path);
	}
	if (st.st_size == 0) {
		close(fd);
		return rag_error_set(err, RAG_EMODEL, "'%s': not a GGUF file (empty)", path);
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return rag_error_errno(err, RAG_EIO, "cannot map '%s'", path);
	if ((rc = make(&g, path, err))) {
		munmap(map, (size_t)st.st_size);
		return rc;
	}
	g->base = map;
	g->size = (uint64_t)st.st_size;
	g->mapped = 1;
	if ((rc = parse(g, err))) {
		rag_gguf_close(g);
		return rc;
	}
	*out = g;
	return RAG_OK;
}

/*
 * An object from a metadata image and tensors held elsewhere: the image is
 * parsed (and so validated) like a file; tensors get the offsets a writer
 * would give them, so the object is indistinguishable from one read back.
 */
int rag_gguf_assemble(void *meta, size_t len, const char *name, const struct rag_gguf_tensor *tensors,
		      size_t n_tensors, void (*release)(void *), void *arg, struct rag_gguf **out,
		      struct rag_error *err)
{
	struct rag_gguf *g = NULL;
	uint64_t off = 0, info = 0, i, j;
	int rc;

	*out = NULL;
	if ((rc = make(&g, name, err)))
		goto fail;
	g->owned = meta;
	meta = NULL;
	g->release = release;
	g->release_arg = arg;
	g->base = g->owned;
	g->size = len;
	if ((rc = parse(g, err)))
		goto fail;
	if (g->n_tensors) {
		rc = rag_error_set(err, RAG_EINTERNAL, "'%s': assembled metadata must hold no tensors", name);
		goto fail;
	}
	rag_free(g->tensors);
	g->tensors = rag_calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
	if (!g->tensors) {
		rc = oom(err);
		goto fail;
	}
	for (i = 0; i < n_tensors; i++) {
		const struct rag_gguf_tensor *s = &tensors[i];
		struct rag_gguf_tensor *t = &g->tensors[i];
		const struct rag_dtype_info *ti = rag_dtype_info(s->type);
		uint64_t nel = 1;
		*t = *s;
		t->name = rag_strdup(s->name);
		if (!t->name) {
			rc = oom(err);
			goto fail;
		}
		g->n_tensors = i + 1;
		for (j = 0; j < GGUF_MAX_DIMS; j++)
			nel *= (uint64_t)(j < s->n_dims ? s->ne[j] : 1);
		if (!ti || s->n_dims == 0 || s->n_dims > GGUF_MAX_DIMS || s->ne[0] % ti->block) {
			rc = rag_error_set(err, RAG_EINTERNAL, "'%s': tensor '%s' has a bad type or shape", name, s->name);
			goto fail;
		}
		for (j = s->n_dims; j < GGUF_MAX_DIMS; j++)
			t->ne[j] = 1;
		for (j = 0; j < i; j++)
			if (strcmp(g->tensors[j].name, t->name) == 0) {
				rc = rag_error_set(err, RAG_EMODEL, "'%s': tensor '%s' appears twice", name, t->name);
				goto fail;
			}
		t->nbytes = nel / ti->block * ti->size;
		t->data = s->data;
		t->offset = off;
		info += 8 + strlen(t->name) + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
		off += (t->nbytes + g->alignment - 1) / g->alignment * g->alignment;
	}
	g->data_offset = (len + info + g->alignment - 1) / g->alignment * g->alignment;
	g->size = g->data_offset + off;
	*out = g;
	return RAG_OK;
fail:
	rag_free(meta);
	if (g)
		rag_gguf_close(g);
	else if (release)
		release(arg);
	return rc;
}

void rag_gguf_close(struct rag_gguf *g)
{
	uint64_t i;

	if (!g)
		return;
	if (g->kv)
		for (i = 0; i < g->n_kv; i++) {
			rag_free(g->kv[i].key);
			rag_free(g->kv[i].str);
			rag_free(g->kv[i].strs);
		}
	if (g->tensors)
		for (i = 0; i < g->n_tensors; i++)
			rag_free(g->tensors[i].name);
	rag_free(g->kv);
	rag_free(g->tensors);
	if (g->mapped)
		munmap((void *)g->base, (size_t)g->size);
	rag_free(g->owned);
	if (g->release)
		g->release(g->release_arg);
	rag_free(g->path);
	rag_free(g);
}

const char *rag_gguf_path(const struct rag_gguf *g) { return g->path; }
uint32_t rag_gguf_version(const struct rag_gguf *g) { return g->version; }
uint32_t rag_gguf_alignment(const struct rag_gguf *g) { return g->alignment; }
uint64_t rag_gguf_file_size(const struct rag_gguf *g) { return g->size; }
size_t rag_gguf_n_kv(const struct rag_gguf *g) { return (size_t)g->n_kv; }
size_t rag_gguf_n_tensors(const struct rag_gguf *g) { return (size_t)g->n_tensors; }

const struct rag_gguf_kv *rag_gguf_kv_at(const struct rag_gguf *g, size_t i)
{
	return i < g->n_kv ? &g->kv[i] : NULL;
}

const struct rag_gguf_kv *rag_gguf_find(const struct rag_gguf *g, const char *key)
{
	uint64_t i;

	for (i = 0; i < g->n_kv; i++)
		if (strcmp(g->kv[i].key, key) == 0)
			return &g->kv[i];
	return NULL;
}

static int64_t scalar_int(enum rag_gguf_vtype t, const uint8_t *p)
{
	switch (t) {
	case RAG_GGUF_UINT8: case RAG_GGUF_BOOL: return p[0];
	case RAG_GGUF_INT8: return (int8_t)p[0];
	case RAG_GGUF_UINT16: return (uint16_t)(p[0] | (p[1] << 8));
	case RAG_GGUF_INT16: return (int16_t)(uint16_t)(p[0] | (p[1] << 8));
	case RAG_GGUF_UINT32: return rd32(p);
	case RAG_GGUF_INT32: return (int32_t)rd32(p);
	case RAG_GGUF_UINT64: return (int64_t)rd64(p);
	case RAG_GGUF_INT64: return (int64_t)rd64(p);
	default: return 0;
	}
}

static double scalar_float(enum rag_gguf_vtype t, const uint8_t *p)
{
	if (t == RAG_GGUF_FLOAT32) {
		uint32_t u = rd32(p);
		float f;
		memcpy(&f, &u, 4);
		return f;
	}
	if (t == RAG_GGUF_FLOAT64) {
		uint64_t u = rd64(p);
		double d;
		memcpy(&d, &u, 8);
		return d;
	}
	if (t == RAG_GGUF_UINT64)
		return (double)rd64(p);
	return (double)scalar_int(t, p);
}

static int is_int(enum rag_gguf_vtype t)
{
	return t <= RAG_GGUF_INT32 || t == RAG_GGUF_BOOL || t == RAG_GGUF_UINT64 || t == RAG_GGUF_INT64;
}

int rag_gguf_get_int(const struct rag_gguf *g, const char *key, int64_t *out)
{
	const struct rag_gguf_kv *kv = rag_gguf_find(g, key);

	if (!kv)
		return 0;
	if (!is_int(kv->type))
		return -1;
	if (kv->type == RAG_GGUF_UINT64 && rd64(kv->p) > INT64_MAX)
		return -1;
	*out = scalar_int(kv->type, kv->p);
	return 1;
}

int rag_gguf_get_float(const struct rag_gguf *g, const char *key, double *out)
{
	const struct rag_gguf_kv *kv = rag_gguf_find(g, key);

	if (!kv)
		return 0;
	if (!is_int(kv->type) && kv->type != RAG_GGUF_FLOAT32 && kv->type != RAG_GGUF_FLOAT64)
		return -1;
	*out = scalar_float(kv->type, kv->p);
	return 1;
}

int rag_gguf_get_bool(const struct rag_gguf *g, const char *key, int *out)
{
	const struct rag_gguf_kv *kv = rag_gguf_find(g, key);

	if (!kv)
		return 0;
	if (!is_int(kv->type))
		return -1;
	*out = scalar_int(kv->type, kv->p) != 0;
	return 1;
}

int rag_gguf_get_str(const struct rag_gguf *g, const char *key, const char **out)
{
	const struct rag_gguf_kv *kv = rag_gguf_find(g, key);

	if (!kv)
		return 0;
	if (kv->type != RAG_GGUF_STRING)
		return -1;
	*out = kv->str;
	return 1;
}

int64_t rag_gguf_arr_int(const struct rag_gguf_kv *kv, uint64_t i)
{
	size_t sz = rag_gguf_vtype_size(kv->elem);

	if (kv->elem == RAG_GGUF_FLOAT32 || kv->elem == RAG_GGUF_FLOAT64)
		return (int64_t)scalar_float(kv->elem, kv->p + i * sz);
	return scalar_int(kv->elem, kv->p + i * sz);
}

double rag_gguf_arr_float(const struct rag_gguf_kv *kv, uint64_t i)
{
	size_t sz = rag_gguf_vtype_size(kv->elem);

	return scalar_float(kv->elem, kv->p + i * sz);
}

const struct rag_gguf_str *rag_gguf_arr_strs(const struct rag_gguf *g, const struct rag_gguf_kv *kv)
{
	struct rag_gguf_kv *m = (struct rag_gguf_kv *)kv;  /* the cache is part of g */
	const uint8_t *p;
	uint64_t i;

	(void)g;
	if (kv->type != RAG_GGUF_ARRAY || kv->elem != RAG_GGUF_STRING)
		return NULL;
	if (kv->strs)
		return kv->strs;
	m->strs = rag_calloc((size_t)kv->n ? (size_t)kv->n : 1, sizeof *kv->strs);
	if (!m->strs)
		return NULL;
	/* Already validated at open: each is an 8-byte length and its bytes. */
	for (p = kv->p, i = 0; i < kv->n; i++) {
		m->strs[i].len = rd64(p);
		m->strs[i].s = (const char *)p + 8;
		p += 8 + m->strs[i].len;
	}
	return kv->strs;
}

const struct rag_gguf_tensor *rag_gguf_tensor_at(const struct rag_gguf *g, size_t i)
{
	return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const struct rag_gguf_tensor *rag_gguf_find_tensor(const struct rag_gguf *g, const char *name)
{
	uint64_t i;

	for (i = 0; i < g->n_tensors; i++)
		if (strcmp(g->tensors[i].name, name) == 0)
			return &g->tensors[i];
	return NULL;
}

int64_t rag_gguf_tensor_nelements(const struct rag_gguf_tensor *t)
{
	return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}
