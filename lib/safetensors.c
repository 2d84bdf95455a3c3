/* safetensors.c: safetensors header parsing with every offset checked against the file. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "arena.h"
#include "buf.h"
#include "json.h"
#include "safetensors.h"

#define ST_MAX_HEADER (100u << 20)  /* the format's own limit is 100 MB */

struct st_file {
	char *path;
	const uint8_t *base;
	uint64_t size;
	int mapped;
};

struct rag_safetensors {
	struct st_file *files;
	size_t n_files;
	struct rag_st_tensor *tensors;
	size_t n_tensors, cap;
};

static int oom(struct rag_error *err)
{
	return rag_error_set(err, RAG_EINTERNAL, "out of memory reading safetensors");
}

static const struct {
	const char *name;
	int loadable;
	enum rag_dtype type;
	unsigned size;
} dtypes[] = {
	{ "F32", 1, RAG_DT_F32, 4 }, { "F16", 1, RAG_DT_F16, 2 }, { "BF16", 1, RAG_DT_BF16, 2 },
	{ "F64", 0, RAG_DT_F64, 8 }, { "I64", 0, RAG_DT_I64, 8 }, { "U64", 0, 0, 8 },
	{ "I32", 0, RAG_DT_I32, 4 }, { "U32", 0, 0, 4 }, { "I16", 0, RAG_DT_I16, 2 },
	{ "U16", 0, 0, 2 }, { "I8", 0, RAG_DT_I8, 1 }, { "U8", 0, 0, 1 }, { "BOOL", 0, 0, 1 },
	{ "F8_E4M3", 0, 0, 1 }, { "F8_E5M2", 0, 0, 1 },
};

static int is_uint(double v)
{
	return v >= 0 && v <= 9007199254740992.0 && v == (double)(uint64_t)v;
}

static int add_tensor(struct rag_safetensors *st, struct rag_st_tensor **t)
{
	if (st->n_tensors == st->cap) {
		size_t nc = st->cap ? st->cap * 2 : 64;
		struct rag_st_tensor *nt = rag_reallocarray(st->tensors, nc, sizeof *nt);
		if (!nt)
			return -1;
		st->tensors = nt;
		st->cap = nc;
	}
	*t = &st->tensors[st->n_tensors++];
	memset(*t, 0, sizeof **t);
	return 0;
}

static int off_cmp(const void *a, const void *b)
{
	const struct rag_st_tensor *x = *(const struct rag_st_tensor *const *)a;
	const struct rag_st_tensor *y = *(const struct rag_st_tensor *const *)b;
	const uint8_t *px = x->data, *py = y->data;

	return px < py ? -1 : px > py;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rag_st_tensor *)a)->name, ((const struct rag_st_tensor *)b)->name);
}

/* Parse one tensor entry `name: {dtype, shape, data_offsets}` of file f. */
static int parse_entry(struct rag_safetensors *st, struct st_file *f, const struct rag_json_member *m,
		       const uint8_t *data, uint64_t dsize, struct rag_error *err)
{
	const struct rag_json *v = &m->value, *shape, *offs;
	const char *dt;
	size_t dtlen, i, k;
	struct rag_st_tensor *t;
	uint64_t nel = 1, b, e;
	unsigned esz = 0;

	if (v->type != RAG_JSON_OBJECT)
		return rag_error_set(err, RAG_EMODEL, "'%s': corrupt safetensors header (entry '%.64s' is not an object)",
				     f->path, m->key);
	dt = rag_json_get_str(v, "dtype", &dtlen);
	shape = rag_json_get(v, "shape");
	offs = rag_json_get(v, "data_offsets");
	if (!dt || !shape || shape->type != RAG_JSON_ARRAY || !offs || offs->type != RAG_JSON_ARRAY ||
	    offs->u.arr.n != 2)
		return rag_error_set(err, RAG_EMODEL,
				     "'%s': corrupt safetensors header (tensor '%.64s' lacks dtype, shape or data_offsets)",
				     f->path, m->key);
	if (add_tensor(st, &t))
		return oom(err);
	t->name = rag_strndup(m->key, m->key_len);
	t->file = f->path;
	if (!t->name)
		return oom(err);
	for (k = 0; k < sizeof dtypes / sizeof dtypes[0]; k++)
		if (strcmp(dt, dtypes[k].name) == 0)
			break;
	if (k == sizeof dtypes / sizeof dtypes[0])
		return rag_error_set(err, RAG_EMODEL, "'%s': tensor '%.64s' has unknown dtype '%.16s'", f->path,
				     t->name, dt);
	snprintf(t->dtype, sizeof t->dtype, "%s", dtypes[k].name);
	t->loadable = dtypes[k].loadable;
	t->type = dtypes[k].type;
	esz = dtypes[k].size;
	if (shape->u.arr.n > RAG_ST_MAX_DIMS)
		return rag_error_set(err, RAG_EMODEL, "'%s': tensor '%.64s' has %zu dimensions (ragkit reads at most %d)",
				     f->path, t->name, shape->u.arr.n, RAG_ST_MAX_DIMS);
	t->n_dims = (uint32_t)shape->u.arr.n;
	for (i = 0; i < RAG_ST_MAX_DIMS; i++)
		t->shape[i] = 1;
	for (i = 0; i < shape->u.arr.n; i++) {
		const struct rag_json *d = &shape->u.arr.items[i];
		uint64_t dv;
		if (d->type != RAG_JSON_NUMBER || !is_uint(d->u.num))
			return rag_error_set(err, RAG_EMODEL, "'%s': corrupt safetensors header (tensor '%.64s' has a bad shape)",
					     f->path, t->name);
		dv = (uint64_t)d->u.num;
		if (dv && nel > (UINT64_MAX / 16) / dv)
			return rag_error_set(err, RAG_EMODEL, "'%s': tensor '%.64s' is impossibly large", f->path, t->name);
		nel *= dv;
		t->shape[i] = (int64_t)dv;
	}
	if (offs->u.arr.items[0].type != RAG_JSON_NUMBER || offs->u.arr.items[1].type != RAG_JSON_NUMBER ||
	    !is_uint(offs->u.arr.items[0].u.num) || !is_uint(offs->u.arr.items[1].u.num))
		return rag_error_set(err, RAG_EMODEL, "'%s': corrupt safetensors header (tensor '%.64s' has bad data_offsets)",
				     f->path, t->name);
	b = (uint64_t)offs->u.arr.items[0].u.num;
	e = (uint64_t)offs->u.arr.items[1].u.num;
	if (b > e || e > dsize)
		return rag_error_set(err, RAG_EMODEL,
				     "'%s': truncated or corrupt safetensors file (tensor '%.64s' data_offsets [%llu, %llu] exceed the data, %llu bytes)",
				     f->path, t->name, (unsigned long long)b, (unsigned long long)e,
				     (unsigned long long)dsize);
	if (e - b != nel * esz)
		return rag_error_set(err, RAG_EMODEL,
				     "'%s': corrupt safetensors header (tensor '%.64s' holds %llu bytes, its shape needs %llu)",
				     f->path, t->name, (unsigned long long)(e - b), (unsigned long long)(nel * esz));
	t->nbytes = e - b;
	t->data = data + b;
	return RAG_OK;
}

/* Validate the header of f and append its tensors. */
static int parse_file(struct rag_safetensors *st, struct st_file *f, struct rag_error *err)
{
	struct rag_arena a;
	struct rag_json *root;
	struct rag_st_tensor **order = NULL;
	uint64_t hlen, dsize;
	size_t i, first = st->n_tensors, n;
	int rc;

	if (f->size < 8)
		return rag_error_set(err, RAG_EMODEL, "'%s': not a safetensors file (%llu bytes)", f->path,
				     (unsigned long long)f->size);
	hlen = 0;
	for (i = 0; i < 8; i++)
		hlen |= (uint64_t)f->base[i] << (8 * i);
	if (hlen > ST_MAX_HEADER || hlen > f->size - 8)
		return rag_error_set(err, RAG_EMODEL,
				     "'%s': truncated or not a safetensors file (header of %llu bytes in a file of %llu)",
				     f->path, (unsigned long long)hlen, (unsigned long long)f->size);
	dsize = f->size - 8 - hlen;
	rag_arena_init(&a);
	rc = rag_json_parse(&a, (const char *)f->base + 8, (size_t)hlen, &root, err);
	if (rc) {
		rag_error_prefix(err, "'%s': corrupt safetensors header: ", f->path);
		if (err)
			err->code = RAG_EMODEL;
		rag_arena_free(&a);
		return RAG_EMODEL;
	}
	if (root->type != RAG_JSON_OBJECT) {
		rag_arena_free(&a);
		return rag_error_set(err, RAG_EMODEL, "'%s': corrupt safetensors header (not a JSON object)", f->path);
	}
	for (i = 0; i < root->u.obj.n; i++) {
		const struct rag_json_member *m = &root->u.obj.members[i];
		if (strcmp(m->key, "__metadata__") == 0)
			continue;
		if ((rc = parse_entry(st, f, m, f->base + 8 + hlen, dsize, err))) {
			rag_arena_free(&a);
			return rc;
		}
	}
	rag_arena_free(&a);
	/* No two tensors of this file overlap. */
	n = st->n_tensors - first;
	order = rag_calloc(n ? n : 1, sizeof *order);
	if (!order)
		return oom(err);
	for (i = 0; i < n; i++)
		order[i] = &st->tensors[first + i];
	qsort(order, n, sizeof *order, off_cmp);
	for (i = 1; i < n; i++)
		if ((const uint8_t *)order[i - 1]->data + order[i - 1]->nbytes > (const uint8_t *)order[i]->data) {
			rc = rag_error_set(err, RAG_EMODEL, "'%s': corrupt safetensors file (tensors '%.64s' and '%.64s' overlap)",
					   f->path, order[i - 1]->name, order[i]->name);
			break;
		}
	rag_free(order);
	return rc;
}

static int map_file(struct st_file *f, const char *path, struct rag_error *err)
{
	struct stat st;
	void *map;
	int fd;

	f->path = rag_strdup(path);
	if (!f->path)
		return oom(err);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rag_error_errno(err, RAG_ENOINPUT, "cannot open '%s'", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return rag_error_set(err, RAG_EMODEL, "'%s': not a regular file", path);
	}
	if (st.st_size < 8) {
		close(fd);
		return rag_error_set(err, RAG_EMODEL, "'%s': not a safetensors file (%lld bytes)", path,
				     (long long)st.st_size);
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return rag_error_errno(err, RAG_EIO, "cannot map '%s'", path);
	f->base = map;
	f->size = (uint64_t)st.st_size;
	f->mapped = 1;
	return RAG_OK;
}

static int is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int exists(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0;
}

static int ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Sort by name and refuse duplicates (a tensor in two shards). */
static int finish(struct rag_safetensors *st, const char *name, struct rag_error *err)
{
	size_t i;

	if (st->n_tensors)
		qsort(st->tensors, st->n_tensors, sizeof *st->tensors, name_cmp);
	for (i = 1; i < st->n_tensors; i++)
		if (strcmp(st->tensors[i - 1].name, st->tensors[i].name) == 0)
			return rag_error_set(err, RAG_EMODEL, "'%s': tensor '%.64s' appears twice", name,
					     st->tensors[i].name);
	return RAG_OK;
}

/* Sharded weights: map every shard the index names, then check the map. */
static int open_index(struct rag_safetensors *st, const char *index, struct rag_error *err)
{
	struct rag_buf b;
	struct rag_arena a;
	struct rag_json *root;
	const struct rag_json *map;
	char *dir = NULL, *slash;
	size_t i, j;
	int rc;

	rag_buf_init(&b);
	rag_arena_init(&a);
	if ((rc = rag_buf_read_file(&b, index, err)))
		goto out;
	if (rag_json_parse(&a, b.data ? b.data : "", b.len, &root, err)) {
		rag_error_prefix(err, "'%s': ", index);
		if (err)
			err->code = RAG_EMODEL;
		rc = RAG_EMODEL;
		goto out;
	}
	map = root->type == RAG_JSON_OBJECT ? rag_json_get(root, "weight_map") : NULL;
	if (!map || map->type != RAG_JSON_OBJECT || map->u.obj.n == 0) {
		rc = rag_error_set(err, RAG_EMODEL, "'%s': no weight_map in the safetensors index", index);
		goto out;
	}
	dir = rag_strdup(index);
	if (!dir) {
		rc = oom(err);
		goto out;
	}
	slash = strrchr(dir, '/');
	if (slash)
		slash[1] = 0;
	else
		dir[0] = 0;
	st->files = rag_calloc(map->u.obj.n, sizeof *st->files);
	if (!st->files) {
		rc = oom(err);
		goto out;
	}
	for (i = 0; i < map->u.obj.n; i++) {
		const struct rag_json *v = &map->u.obj.members[i].value;
		struct rag_buf p;
		if (v->type != RAG_JSON_STRING || strchr(v->u.str.s, '/') || v->u.str.s[0] == '.') {
			rc = rag_error_set(err, RAG_EMODEL, "'%s': bad shard name for tensor '%.64s'", index,
					   map->u.obj.members[i].key);
			goto out;
		}
		for (j = 0; j < st->n_files; j++)
			if (strcmp(strrchr(st->files[j].path, '/') ? strrchr(st->files[j].path, '/') + 1 : st->files[j].path,
				   v->u.str.s) == 0)
				break;
		if (j < st->n_files)
			continue;
		rag_buf_init(&p);
		rag_buf_printf(&p, "%s%s", dir, v->u.str.s);
		if (rag_buf_failed(&p)) {
			rag_buf_free(&p);
			rc = oom(err);
			goto out;
		}
		rc = map_file(&st->files[st->n_files++], p.data, err);
		rag_buf_free(&p);
		if (rc || (rc = parse_file(st, &st->files[st->n_files - 1], err)))
			goto out;
	}
	if ((rc = finish(st, index, err)))
		goto out;
	/* Every mapped tensor sits in the shard the index names. */
	for (i = 0; i < map->u.obj.n; i++) {
		const struct rag_json_member *m = &map->u.obj.members[i];
		const struct rag_st_tensor *t = rag_safetensors_find(st, m->key);
		const char *base;
		if (!t) {
			rc = rag_error_set(err, RAG_EMODEL, "'%s': tensor '%.64s' is not in shard '%s'", index, m->key,
					   m->value.u.str.s);
			goto out;
		}
		base = strrchr(t->file, '/') ? strrchr(t->file, '/') + 1 : t->file;
		if (strcmp(base, m->value.u.str.s) != 0) {
			rc = rag_error_set(err, RAG_EMODEL, "'%s': tensor '%.64s' is in '%s', not '%s'", index, m->key,
					   base, m->value.u.str.s);
			goto out;
		}
	}
	rc = RAG_OK;
out:
	rag_free(dir);
	rag_arena_free(&a);
	rag_buf_free(&b);
	return rc;
}

int rag_safetensors_open(const char *path, struct rag_safetensors **out, struct rag_error *err)
{
	struct rag_safetensors *st;
	struct rag_buf p;
	int rc;

	*out = NULL;
	st = rag_calloc(1, sizeof *st);
	if (!st)
		return oom(err);
	rag_buf_init(&p);
	if (is_dir(path)) {
		rag_buf_printf(&p, "%s/model.safetensors", path);
		if (!rag_buf_failed(&p) && !exists(p.data)) {
			rag_buf_reset(&p);
			rag_buf_printf(&p, "%s/model.safetensors.index.json", path);
			if (!rag_buf_failed(&p) && !exists(p.data)) {
				rc = rag_error_set(err, RAG_ENOINPUT,
						   "'%s': no model.safetensors or model.safetensors.index.json", path);
				goto fail;
			}
		}
		if (rag_buf_failed(&p)) {
			rc = oom(err);
			goto fail;
		}
		path = p.data;
	}
	if (ends_with(path, ".json")) {
		rc = open_index(st, path, err);
	} else {
		st->files = rag_calloc(1, sizeof *st->files);
		if (!st->files) {
			rc = oom(err);
			goto fail;
		}
		st->n_files = 1;
		rc = map_file(&st->files[0], path, err);
		if (!rc)
			rc = parse_file(st, &st->files[0], err);
		if (!rc)
			rc = finish(st, path, err);
	}
	if (rc)
		goto fail;
	rag_buf_free(&p);
	*out = st;
	return RAG_OK;
fail:
	rag_buf_free(&p);
	rag_safetensors_close(st);
	return rc;
}

int rag_safetensors_open_mem(const void *buf, size_t len, const char *name, struct rag_safetensors **out,
			     struct rag_error *err)
{
	struct rag_safetensors *st;
	int rc;

	*out = NULL;
	st = rag_calloc(1, sizeof *st);
	if (!st)
		return oom(err);
	st->files = rag_calloc(1, sizeof *st->files);
	if (!st->files || !(st->files[0].path = rag_strdup(name))) {
		rag_safetensors_close(st);
		return oom(err);
	}
	st->n_files = 1;
	st->files[0].base = buf;
	st->files[0].size = len;
	rc = parse_file(st, &st->files[0], err);
	if (!rc)
		rc = finish(st, name, err);
	if (rc) {
		rag_safetensors_close(st);
		return rc;
	}
	*out = st;
	return RAG_OK;
}

void rag_safetensors_close(struct rag_safetensors *st)
{
	size_t i;

	if (!st)
		return;
	for (i = 0; i < st->n_tensors; i++)
		rag_free(st->tensors[i].name);
	rag_free(st->tensors);
	if (st->files)
		for (i = 0; i < st->n_files; i++) {
			if (st->files[i].mapped)
				munmap((void *)st->files[i].base, (size_t)st->files[i].size);
			rag_free(st->files[i].path);
		}
	rag_free(st->files);
	rag_free(st);
}

size_t rag_safetensors_n_tensors(const struct rag_safetensors *st) { return st->n_tensors; }
size_t rag_safetensors_n_files(const struct rag_safetensors *st) { return st->n_files; }

const struct rag_st_tensor *rag_safetensors_tensor_at(const struct rag_safetensors *st, size_t i)
{
	return i < st->n_tensors ? &st->tensors[i] : NULL;
}

const struct rag_st_tensor *rag_safetensors_find(const struct rag_safetensors *st, const char *name)
{
	size_t lo = 0, hi = st->n_tensors;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(st->tensors[mid].name, name);
		if (c == 0)
			return &st->tensors[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int64_t rag_st_tensor_nelements(const struct rag_st_tensor *t)
{
	int64_t n = 1;
	uint32_t i;

	for (i = 0; i < t->n_dims; i++)
		n *= t->shape[i];
	return n;
}
