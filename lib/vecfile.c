/* vecfile.c: write, verify and mmap the index's vector file. */
#include "vecfile.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "alloc.h"
#include "kernels.h"

static const char *const storage_names[] = { "f32", "f16", "int8" };
static const char *const metric_names[] = { "cosine", "ip", "l2" };

const char *rag_vec_storage_name(int s) { return s >= 0 && s < 3 ? storage_names[s] : "?"; }
const char *rag_vec_metric_name(int m) { return m >= 0 && m < 3 ? metric_names[m] : "?"; }

int rag_vec_storage_parse(const char *s, int *out)
{
	int i;
	for (i = 0; i < 3; i++)
		if (strcmp(s, storage_names[i]) == 0) { *out = i; return 0; }
	if (strcmp(s, "i8") == 0) { *out = RAG_VEC_I8; return 0; }
	return -1;
}

int rag_vec_metric_parse(const char *s, int *out)
{
	int i;
	for (i = 0; i < 3; i++)
		if (strcmp(s, metric_names[i]) == 0) { *out = i; return 0; }
	return -1;
}

size_t rag_vec_row_bytes(int storage, uint32_t dim)
{
	return storage == RAG_VEC_F32 ? 4 * (size_t)dim : storage == RAG_VEC_F16 ? 2 * (size_t)dim : dim;
}

void rag_vec_normalize(float *v, uint32_t dim)
{
	double s = 0;
	uint32_t i;
	for (i = 0; i < dim; i++)
		s += (double)v[i] * v[i];
	if (s <= 0)
		return;
	s = 1.0 / sqrt(s);
	for (i = 0; i < dim; i++)
		v[i] = (float)(v[i] * s);
}

static uint64_t align64(uint64_t x) { return (x + 63) & ~(uint64_t)63; }

static uint32_t get32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }

int rag_vecfile_open(const char *path, struct rag_vecfile **out, struct rag_error *err)
{
	struct rag_vecfile *v;
	struct stat st;
	const unsigned char *h;
	uint64_t n, ids_off, sc_off, data_off, size, rb;
	void *map;
	int fd;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		rag_error_errno(err, e == ENOENT ? RAG_ENOINPUT : RAG_EIO, "cannot open '%s'", path);
		errno = e;
		return e == ENOENT ? RAG_ENOINPUT : RAG_EIO;
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return rag_error_errno(err, RAG_EIO, "cannot stat '%s'", path);
	}
	if (!S_ISREG(st.st_mode) || st.st_size < RAG_VEC_HEADER) {
		close(fd);
		return rag_error_set(err, RAG_EMODEL, "'%s': not a ragkit vector file (too short)", path);
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return rag_error_errno(err, RAG_EIO, "cannot map '%s'", path);
	h = map;
#define BAD(...) do { munmap(map, (size_t)st.st_size); \
	return rag_error_set(err, RAG_EMODEL, __VA_ARGS__); } while (0)
	if (memcmp(h, RAG_VEC_MAGIC, 8) != 0)
		BAD("'%s': not a ragkit vector file (bad magic)", path);
	if (get32(h + 8) != RAG_VEC_VERSION)
		BAD("'%s': unsupported vector file version %u", path, get32(h + 8));
	if (get32(h + 12) > 2 || get32(h + 16) > 2 || get32(h + 20) == 0 || get32(h + 20) > 65536)
		BAD("'%s': bad vector file header", path);
	n = get64(h + 24);
	ids_off = get64(h + 32);
	sc_off = get64(h + 40);
	data_off = get64(h + 48);
	size = get64(h + 56);
	rb = rag_vec_row_bytes((int)get32(h + 12), get32(h + 20));
	if (size != (uint64_t)st.st_size || n > (1ull << 40) || ids_off != RAG_VEC_HEADER ||
	    (get32(h + 12) == RAG_VEC_I8 ? sc_off != align64(ids_off + 8 * n) : sc_off != 0) ||
	    data_off != align64((sc_off ? sc_off + 4 * n : ids_off + 8 * n)) ||
	    data_off + n * rb != size)
		BAD("'%s': vector file is truncated or its header is inconsistent", path);
	if ((uint32_t)crc32_z(0L, h + RAG_VEC_HEADER, (z_size_t)(size - RAG_VEC_HEADER)) != get32(h + 64))
		BAD("'%s': vector file checksum mismatch (corrupted)", path);
#undef BAD
	v = rag_calloc(1, sizeof *v);
	if (!v) {
		munmap(map, (size_t)st.st_size);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	v->storage = get32(h + 12);
	v->metric = get32(h + 16);
	v->dim = get32(h + 20);
	v->n = n;
	v->ids = (const int64_t *)(h + ids_off);
	v->scales = sc_off ? (const float *)(h + sc_off) : NULL;
	v->data = h + data_off;
	v->map = map;
	v->map_len = (size_t)st.st_size;
	*out = v;
	return RAG_OK;
}

void rag_vecfile_close(struct rag_vecfile *v)
{
	if (!v)
		return;
	munmap(v->map, v->map_len);
	rag_free(v);
}

void rag_vecfile_row(const struct rag_vecfile *v, uint64_t i, float *out)
{
	uint32_t d;

	if (v->storage == RAG_VEC_F32) {
		memcpy(out, (const float *)v->data + i * v->dim, 4 * (size_t)v->dim);
	} else if (v->storage == RAG_VEC_F16) {
		const uint16_t *r = (const uint16_t *)v->data + i * v->dim;
		for (d = 0; d < v->dim; d++)
			out[d] = rag_f16_to_f32(r[d]);
	} else {
		const int8_t *r = (const int8_t *)v->data + i * v->dim;
		for (d = 0; d < v->dim; d++)
			out[d] = v->scales[i] * (float)r[d];
	}
}

/* ---- writer: ids, scales and rows are collected in memory, then written once ---- */
struct rag_vecw {
	char *path;
	int storage, metric;
	uint32_t dim;
	uint64_t n, cap;
	int64_t *ids;
	float *scales;
	unsigned char *data;
	float *tmp;
};

int rag_vecw_begin(const char *path, int storage, int metric, uint32_t dim, uint64_t n_hint,
		   struct rag_vecw **out, struct rag_error *err)
{
	struct rag_vecw *w = rag_calloc(1, sizeof *w);

	*out = NULL;
	if (!w || !(w->path = rag_strdup(path)) || !(w->tmp = rag_malloc(4 * (size_t)dim + 4))) {
		if (w) { rag_free(w->path); rag_free(w); }
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	w->storage = storage;
	w->metric = metric;
	w->dim = dim;
	(void)n_hint;
	*out = w;
	return RAG_OK;
}

static int grow(struct rag_vecw *w, struct rag_error *err)
{
	size_t rb = rag_vec_row_bytes(w->storage, w->dim);

	if (w->n == w->cap) {
		uint64_t nc = w->cap ? w->cap * 2 : 1024;
		int64_t *ni = rag_reallocarray(w->ids, nc, 8);
		if (ni) w->ids = ni;
		float *ns = rag_reallocarray(w->scales, nc, 4);
		if (ns) w->scales = ns;
		unsigned char *nd = rag_reallocarray(w->data, nc, rb);
		if (nd) w->data = nd;
		if (!ni || !ns || !nd)
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		w->cap = nc;
	}
	return RAG_OK;
}

int rag_vecw_add_raw(struct rag_vecw *w, int64_t id, const void *row, float scale,
		     struct rag_error *err)
{
	size_t rb = rag_vec_row_bytes(w->storage, w->dim);

	int rc;

	if ((rc = grow(w, err)))
		return rc;
	memcpy(w->data + w->n * rb, row, rb);
	w->ids[w->n] = id;
	w->scales[w->n] = w->storage == RAG_VEC_I8 ? scale : 0;
	w->n++;
	return RAG_OK;
}

int rag_vecw_add(struct rag_vecw *w, int64_t id, const float *row, struct rag_error *err)
{
	size_t rb = rag_vec_row_bytes(w->storage, w->dim);
	unsigned char *dst;
	uint32_t d;

	int rc;

	if ((rc = grow(w, err)))
		return rc;
	memcpy(w->tmp, row, 4 * (size_t)w->dim);
	if (w->metric == RAG_METRIC_COSINE)
		rag_vec_normalize(w->tmp, w->dim);
	dst = w->data + w->n * rb;
	w->ids[w->n] = id;
	w->scales[w->n] = 0;
	if (w->storage == RAG_VEC_F32) {
		memcpy(dst, w->tmp, rb);
	} else if (w->storage == RAG_VEC_F16) {
		uint16_t *h = (uint16_t *)dst;
		for (d = 0; d < w->dim; d++)
			h[d] = rag_f32_to_f16(w->tmp[d]);
	} else {
		float mx = 0, s, inv;
		int8_t *q = (int8_t *)dst;
		for (d = 0; d < w->dim; d++)
			mx = fmaxf(mx, fabsf(w->tmp[d]));
		s = mx > 0 ? mx / 127.0f : 1.0f;
		inv = 1.0f / s;
		for (d = 0; d < w->dim; d++) {
			float x = roundf(w->tmp[d] * inv);
			q[d] = (int8_t)(x > 127 ? 127 : x < -127 ? -127 : x);
		}
		w->scales[w->n] = s;
	}
	w->n++;
	return RAG_OK;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t k = write(fd, c, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

static int write_pad(int fd, uint64_t *pos, uint64_t to)
{
	static const char zero[64];
	if (to > *pos && write_all(fd, zero, (size_t)(to - *pos)))
		return -1;
	*pos = to;
	return 0;
}

int rag_vecw_finish(struct rag_vecw *w, struct rag_error *err)
{
	unsigned char h[RAG_VEC_HEADER];
	size_t rb = rag_vec_row_bytes(w->storage, w->dim);
	uint64_t ids_off = RAG_VEC_HEADER, sc_off = 0, data_off, size, pos;
	static const unsigned char zero[64];
	uLong crc;
	int fd, rc = RAG_OK;

	if (w->storage == RAG_VEC_I8)
		sc_off = align64(ids_off + 8 * w->n);
	data_off = align64(sc_off ? sc_off + 4 * w->n : ids_off + 8 * w->n);
	size = data_off + w->n * rb;
	/* checksum of everything after the header, padding included */
	crc = crc32(0L, Z_NULL, 0);
	crc = crc32_z(crc, (const Bytef *)w->ids, (z_size_t)(8 * w->n));
	pos = ids_off + 8 * w->n;
	if (sc_off) {
		crc = crc32_z(crc, zero, (z_size_t)(sc_off - pos));
		crc = crc32_z(crc, (const Bytef *)w->scales, (z_size_t)(4 * w->n));
		pos = sc_off + 4 * w->n;
	}
	crc = crc32_z(crc, zero, (z_size_t)(data_off - pos));
	crc = crc32_z(crc, w->data, (z_size_t)(w->n * rb));
	memset(h, 0, sizeof h);
	memcpy(h, RAG_VEC_MAGIC, 8);
	put32(h + 8, RAG_VEC_VERSION);
	put32(h + 12, (uint32_t)w->storage);
	put32(h + 16, (uint32_t)w->metric);
	put32(h + 20, w->dim);
	put64(h + 24, w->n);
	put64(h + 32, ids_off);
	put64(h + 40, sc_off);
	put64(h + 48, data_off);
	put64(h + 56, size);
	put32(h + 64, (uint32_t)crc);
	fd = open(w->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = rag_error_errno(err, RAG_EIO, "cannot create '%s'", w->path);
		goto out;
	}
	pos = 0;
	if (write_all(fd, h, sizeof h) || (pos = sizeof h, 0) ||
	    write_all(fd, w->ids, 8 * w->n) || (pos += 8 * w->n, 0) ||
	    (sc_off && (write_pad(fd, &pos, sc_off) || write_all(fd, w->scales, 4 * w->n) || (pos += 4 * w->n, 0))) ||
	    write_pad(fd, &pos, data_off) || write_all(fd, w->data, w->n * rb) || fsync(fd)) {
		rc = rag_error_errno(err, RAG_EIO, "cannot write '%s'", w->path);
		close(fd);
		unlink(w->path);
		goto out;
	}
	if (close(fd)) {
		rc = rag_error_errno(err, RAG_EIO, "cannot write '%s'", w->path);
		unlink(w->path);
	}
out:
	rag_free(w->path);
	rag_free(w->ids);
	rag_free(w->scales);
	rag_free(w->data);
	rag_free(w->tmp);
	rag_free(w);
	return rc;
}

void rag_vecw_abort(struct rag_vecw *w)
{
	if (!w)
		return;
	unlink(w->path);
	rag_free(w->path);
	rag_free(w->ids);
	rag_free(w->scales);
	rag_free(w->data);
	rag_free(w->tmp);
	rag_free(w);
}
