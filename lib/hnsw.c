/* hnsw.c: HNSW graph index (Malkov & Yashunin 2016): construction with the
 * neighbour-selection heuristic, parallel insertion, tombstones, filtered
 * search with an exact fallback, and the version-1 file format (see hnsw.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "alloc.h"
#include "hnsw.h"
#include "kernels.h"
#include "options.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "hnsw.c maps little-endian index files directly: a big-endian host is not supported"
#endif

#define NONE UINT32_MAX
#define N_STRIPES 1024u
#define FLAG_DELETED 1u
#define HDR_SIZE 512u
#define N_SECTIONS 8u
#define FILE_VERSION 1u
static const char MAGIC[8] = { 'R', 'A', 'G', 'H', 'N', 'S', 'W', 0 };

struct pair {
	float d;
	uint32_t id;
};

/* A binary max-heap on d (candidates are stored with -d to pop the nearest). */
struct heap {
	struct pair *a;
	size_t n, cap;
};

/* Per-search (or per-inserting-thread) scratch. */
struct sctx {
	uint16_t *tags;       /* visited marks: tags[id] == epoch */
	size_t tags_cap;
	uint16_t epoch;
	struct heap cand, res;
	struct pair *sorted;  /* results in ascending order */
	size_t sorted_cap;
	float *q, *tmp, *tmp2;  /* dim floats each */
	uint64_t nvisited, ndist;
};

struct filt {
	rag_hnsw_filter_fn fn;
	void *ctx;
	int skip_deleted;
};

struct rag_hnsw {
	struct rag_hnsw_params p;
	uint32_t M0;
	size_t row;    /* bytes of a stored vector */
	size_t l0w;    /* u32 words of a level-0 list: 1 + M0 */
	size_t luw;    /* u32 words of an upper list: 1 + M */
	double mult;   /* 1 / ln M */
	uint64_t count, cap, deleted;
	uint32_t entry;
	int max_level;
	/* node arrays: heap memory, or pointers into the mapped file */
	int64_t *labels;
	uint8_t *levels;
	uint8_t *flags;
	uint64_t *upper_off;
	uint32_t *pool;
	uint64_t pool_len, pool_cap;
	uint32_t *links0;
	uint8_t *vecs;
	float *scales;
	void *map;
	size_t map_len;
	/* label -> live node (open addressing, linear probing), built lazily */
	int64_t *mkeys;
	uint32_t *mvals;
	size_t mcap, mn;
	int mvalid;
	/* construction */
	pthread_mutex_t glock;
	pthread_mutex_t *stripes;
	int building;
	/* pool of search scratch, shared by concurrent searches */
	pthread_mutex_t plock;
	struct sctx **ctxs;
	size_t nctx, cctx;
};

/* ---- small helpers ------------------------------------------------------ */

static int oom(struct rag_error *err)
{
	return rag_error_set(err, RAG_EINTERNAL, "out of memory");
}

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Level of node number `node`: floor(-ln(u) / ln M), u uniform in (0, 1]. */
static int draw_level(const struct rag_hnsw *h, uint64_t node)
{
	uint64_t r = splitmix(h->p.seed ^ splitmix(node));
	double u = (double)((r >> 11) + 1) * 0x1.0p-53;
	double l = -log(u) * h->mult;

	return l >= RAG_HNSW_MAX_LEVEL ? RAG_HNSW_MAX_LEVEL : (int)l;
}

static inline uint32_t *links_at(const struct rag_hnsw *h, uint32_t id, int level)
{
	if (level == 0)
		return h->links0 + (size_t)id * h->l0w;
	return h->pool + h->upper_off[id] + (size_t)(level - 1) * h->luw;
}

static inline const uint8_t *row_at(const struct rag_hnsw *h, uint32_t id)
{
	return h->vecs + (size_t)id * h->row;
}

/* Distance from a float query (already normalized for cosine) to node id. */
static inline float dist_q(const struct rag_hnsw *h, const float *q, uint32_t id)
{
	const uint8_t *r = row_at(h, id);
	size_t n = h->p.dim;
	int l2 = h->p.metric == RAG_HNSW_L2;

	switch (h->p.storage) {
	case RAG_HNSW_F16:
		return l2 ? rag_vec_l2sq_f16(q, (const uint16_t *)(const void *)r, n)
			  : 1.0f - rag_vec_dot_f16(q, (const uint16_t *)(const void *)r, n);
	case RAG_HNSW_I8:
		return l2 ? rag_vec_l2sq_i8(q, (const int8_t *)r, h->scales[id], n)
			  : 1.0f - h->scales[id] * rag_vec_dot_i8(q, (const int8_t *)r, n);
	default:
		return l2 ? rag_vec_l2sq_f32(q, (const float *)(const void *)r, n)
			  : 1.0f - rag_vec_dot_f32(q, (const float *)(const void *)r, n);
	}
}

/* Node id's stored vector as floats: the row itself for f32, else decoded into buf. */
static const float *vec_f32(const struct rag_hnsw *h, uint32_t id, float *buf)
{
	const uint8_t *r = row_at(h, id);

	switch (h->p.storage) {
	case RAG_HNSW_F16:
		rag_vec_f16_to_f32(buf, (const uint16_t *)(const void *)r, h->p.dim);
		return buf;
	case RAG_HNSW_I8:
		rag_vec_i8_to_f32(buf, (const int8_t *)r, h->scales[id], h->p.dim);
		return buf;
	default:
		return (const float *)(const void *)r;
	}
}

/* Normalize v (n floats) into out; a zero vector stays zero. */
static void normalize(float *out, const float *v, size_t n)
{
	double s = 0.0;

	for (size_t i = 0; i < n; i++)
		s += (double)v[i] * v[i];
	s = s > 0.0 ? 1.0 / sqrt(s) : 0.0;
	for (size_t i = 0; i < n; i++)
		out[i] = (float)(v[i] * s);
}

/* Store vector v into node id's row (tmp: dim floats of scratch). */
static void encode(struct rag_hnsw *h, uint32_t id, const float *v, float *tmp)
{
	uint8_t *r = h->vecs + (size_t)id * h->row;
	size_t n = h->p.dim;

	if (h->p.metric == RAG_HNSW_COSINE) {
		normalize(tmp, v, n);
		v = tmp;
	}
	switch (h->p.storage) {
	case RAG_HNSW_F16: {
		uint16_t *o = (uint16_t *)(void *)r;
		for (size_t i = 0; i < n; i++)
			o[i] = rag_f32_to_f16(v[i]);
		break;
	}
	case RAG_HNSW_I8: {
		int8_t *o = (int8_t *)r;
		float mx = 0.0f, scale, inv;
		for (size_t i = 0; i < n; i++)
			mx = fmaxf(mx, fabsf(v[i]));
		scale = mx / 127.0f;
		inv = mx > 0.0f ? 127.0f / mx : 0.0f;
		for (size_t i = 0; i < n; i++) {
			long c = lrintf(v[i] * inv);
			o[i] = (int8_t)(c > 127 ? 127 : c < -127 ? -127 : c);
		}
		h->scales[id] = scale;
		break;
	}
	default:
		memcpy(r, v, n * sizeof *v);
	}
}

static int all_finite(const float *v, size_t n, size_t *bad)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(v[i])) {
			*bad = i;
			return 0;
		}
	return 1;
}

/* ---- heaps ---------------------------------------------------------------- */

static int heap_push(struct heap *hp, float d, uint32_t id)
{
	size_t i;

	if (hp->n == hp->cap) {
		size_t nc = hp->cap ? hp->cap * 2 : 64;
		struct pair *a = rag_reallocarray(hp->a, nc, sizeof *a);
		if (!a)
			return -1;
		hp->a = a;
		hp->cap = nc;
	}
	i = hp->n++;
	while (i > 0) {
		size_t up = (i - 1) / 2;
		if (hp->a[up].d >= d)
			break;
		hp->a[i] = hp->a[up];
		i = up;
	}
	hp->a[i].d = d;
	hp->a[i].id = id;
	return 0;
}

static void heap_pop(struct heap *hp)
{
	struct pair last = hp->a[--hp->n];
	size_t i = 0, n = hp->n;

	if (n == 0)
		return;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		float md = last.d;
		if (l < n && hp->a[l].d > md) {
			m = l;
			md = hp->a[l].d;
		}
		if (r < n && hp->a[r].d > md)
			m = r;
		if (m == i)
			break;
		hp->a[i] = hp->a[m];
		i = m;
	}
	hp->a[i] = last;
}

/* Empty the result heap into c->sorted, nearest first; returns the count. */
static size_t drain_sorted(struct sctx *c)
{
	size_t n = c->res.n;

	if (n > c->sorted_cap) {
		/* Never reached in practice: sorted is sized with the heap (see ensure_sorted). */
		n = c->sorted_cap;
		while (c->res.n > n)
			heap_pop(&c->res);
	}
	for (size_t i = n; i-- > 0;) {
		c->sorted[i] = c->res.a[0];
		heap_pop(&c->res);
	}
	return n;
}

static int ensure_sorted(struct sctx *c, size_t n)
{
	if (n > c->sorted_cap) {
		struct pair *a = rag_reallocarray(c->sorted, n, sizeof *a);
		if (!a)
			return -1;
		c->sorted = a;
		c->sorted_cap = n;
	}
	return 0;
}

/* ---- scratch contexts ------------------------------------------------------ */

static void sctx_free(struct sctx *c)
{
	if (!c)
		return;
	rag_free(c->tags);
	rag_free(c->cand.a);
	rag_free(c->res.a);
	rag_free(c->sorted);
	rag_free(c->q);
	rag_free(c->tmp);
	rag_free(c->tmp2);
	rag_free(c);
}

static struct sctx *sctx_new(uint32_t dim)
{
	struct sctx *c = rag_calloc(1, sizeof *c);

	if (!c)
		return NULL;
	c->q = rag_malloc(dim * sizeof *c->q);
	c->tmp = rag_malloc(dim * sizeof *c->tmp);
	c->tmp2 = rag_malloc(dim * sizeof *c->tmp2);
	if (!c->q || !c->tmp || !c->tmp2) {
		sctx_free(c);
		return NULL;
	}
	return c;
}

/* Make room for visited marks of n nodes. */
static int sctx_fit(struct sctx *c, uint64_t n)
{
	if (n > c->tags_cap) {
		size_t nc = (size_t)n + (size_t)n / 4 + 64;
		uint16_t *t = rag_calloc(nc, sizeof *t);
		if (!t)
			return -1;
		rag_free(c->tags);
		c->tags = t;
		c->tags_cap = nc;
		c->epoch = 0;
	}
	return 0;
}

static inline void visit_reset(struct sctx *c)
{
	if (++c->epoch == 0) {
		memset(c->tags, 0, c->tags_cap * sizeof *c->tags);
		c->epoch = 1;
	}
	c->nvisited = 0;
	c->ndist = 0;
}

static struct sctx *ctx_get(const struct rag_hnsw *hc)
{
	struct rag_hnsw *h = (struct rag_hnsw *)hc;  /* the pool is internally synchronized */
	struct sctx *c = NULL;

	pthread_mutex_lock(&h->plock);
	if (h->nctx)
		c = h->ctxs[--h->nctx];
	pthread_mutex_unlock(&h->plock);
	if (!c && !(c = sctx_new(h->p.dim)))
		return NULL;
	if (sctx_fit(c, h->count) < 0) {
		sctx_free(c);
		return NULL;
	}
	return c;
}

static void ctx_put(const struct rag_hnsw *hc, struct sctx *c)
{
	struct rag_hnsw *h = (struct rag_hnsw *)hc;

	pthread_mutex_lock(&h->plock);
	if (h->nctx == h->cctx) {
		size_t nc = h->cctx ? h->cctx * 2 : 8;
		struct sctx **a = rag_reallocarray(h->ctxs, nc, sizeof *a);
		if (!a) {
			pthread_mutex_unlock(&h->plock);
			sctx_free(c);
			return;
		}
		h->ctxs = a;
		h->cctx = nc;
	}
	h->ctxs[h->nctx++] = c;
	pthread_mutex_unlock(&h->plock);
}

static void ctx_pool_clear(struct rag_hnsw *h)
{
	for (size_t i = 0; i < h->nctx; i++)
		sctx_free(h->ctxs[i]);
	h->nctx = 0;
}

/* ---- label map ------------------------------------------------------------ */

static size_t map_slot(const struct rag_hnsw *h, int64_t label)
{
	return (size_t)splitmix((uint64_t)label) & (h->mcap - 1);
}

static uint32_t map_find(const struct rag_hnsw *h, int64_t label)
{
	size_t i;

	if (!h->mcap)
		return NONE;
	for (i = map_slot(h, label);; i = (i + 1) & (h->mcap - 1)) {
		if (h->mvals[i] == NONE)
			return NONE;
		if (h->mkeys[i] == label)
			return h->mvals[i];
	}
}

/* Insert or overwrite; the caller made room (load <= 1/2). */
static void map_put(struct rag_hnsw *h, int64_t label, uint32_t node)
{
	size_t i;

	for (i = map_slot(h, label);; i = (i + 1) & (h->mcap - 1)) {
		if (h->mvals[i] == NONE) {
			h->mkeys[i] = label;
			h->mvals[i] = node;
			h->mn++;
			return;
		}
		if (h->mkeys[i] == label) {
			h->mvals[i] = node;
			return;
		}
	}
}

/* Remove with backward-shift deletion (no tombstones in the table). */
static void map_del(struct rag_hnsw *h, int64_t label)
{
	size_t i, j, mask = h->mcap - 1;

	if (!h->mcap)
		return;
	for (i = map_slot(h, label);; i = (i + 1) & mask) {
		if (h->mvals[i] == NONE)
			return;
		if (h->mkeys[i] == label)
			break;
	}
	h->mvals[i] = NONE;
	h->mn--;
	for (j = (i + 1) & mask; h->mvals[j] != NONE; j = (j + 1) & mask) {
		size_t home = map_slot(h, h->mkeys[j]);
		/* move j to the hole i when its home is not in (i, j] cyclically */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			h->mkeys[i] = h->mkeys[j];
			h->mvals[i] = h->mvals[j];
			h->mvals[j] = NONE;
			i = j;
		}
	}
}

/* Make the map valid and able to take `more` new labels; -1 when out of memory. */
static int map_reserve(struct rag_hnsw *h, uint64_t more)
{
	uint64_t want = (h->mvalid ? h->mn : h->count - h->deleted) + more;
	size_t nc = 16;
	int64_t *keys, *okeys = h->mkeys;
	uint32_t *vals, *ovals = h->mvals;
	size_t ocap = h->mcap;

	if (h->mvalid && want * 2 <= h->mcap)
		return 0;
	while (nc < want * 2)
		nc *= 2;
	keys = rag_malloc(nc * sizeof *keys);
	vals = rag_malloc(nc * sizeof *vals);
	if (!keys || !vals) {
		rag_free(keys);
		rag_free(vals);
		return -1;
	}
	memset(vals, 0xff, nc * sizeof *vals);
	h->mkeys = keys;
	h->mvals = vals;
	h->mcap = nc;
	h->mn = 0;
	if (h->mvalid) {
		for (size_t i = 0; i < ocap; i++)
			if (ovals[i] != NONE)
				map_put(h, okeys[i], ovals[i]);
	} else {
		for (uint64_t i = 0; i < h->count; i++)
			if (!(h->flags[i] & FLAG_DELETED))
				map_put(h, h->labels[i], (uint32_t)i);
	}
	rag_free(okeys);
	rag_free(ovals);
	h->mvalid = 1;
	return 0;
}

/* ---- storage ------------------------------------------------------------- */

/* Copy a mapped index into heap memory so it can change. */
static int thaw(struct rag_hnsw *h, struct rag_error *err)
{
	uint64_t n = h->count ? h->count : 1;
	int64_t *labels;
	uint8_t *levels, *flags, *vecs;
	uint64_t *uo;
	uint32_t *pool, *l0;
	float *sc;

	if (!h->map)
		return RAG_OK;
	labels = rag_malloc(n * sizeof *labels);
	levels = rag_malloc(n);
	flags = rag_malloc(n);
	uo = rag_malloc(n * sizeof *uo);
	pool = rag_malloc((h->pool_len ? h->pool_len : 1) * sizeof *pool);
	l0 = rag_malloc(n * h->l0w * sizeof *l0);
	vecs = rag_malloc(n * h->row);
	sc = rag_malloc(n * sizeof *sc);
	if (!labels || !levels || !flags || !uo || !pool || !l0 || !vecs || !sc) {
		rag_free(labels); rag_free(levels); rag_free(flags); rag_free(uo);
		rag_free(pool); rag_free(l0); rag_free(vecs); rag_free(sc);
		return oom(err);
	}
	memcpy(labels, h->labels, h->count * sizeof *labels);
	memcpy(levels, h->levels, h->count);
	memcpy(flags, h->flags, h->count);
	memcpy(uo, h->upper_off, h->count * sizeof *uo);
	memcpy(pool, h->pool, h->pool_len * sizeof *pool);
	memcpy(l0, h->links0, h->count * h->l0w * sizeof *l0);
	memcpy(vecs, h->vecs, h->count * h->row);
	if (h->p.storage == RAG_HNSW_I8)
		memcpy(sc, h->scales, h->count * sizeof *sc);
	munmap(h->map, h->map_len);
	h->map = NULL;
	h->map_len = 0;
	h->labels = labels;
	h->levels = levels;
	h->flags = flags;
	h->upper_off = uo;
	h->pool = pool;
	h->links0 = l0;
	h->vecs = vecs;
	h->scales = sc;
	h->cap = n;
	h->pool_cap = h->pool_len ? h->pool_len : 1;
	return RAG_OK;
}

#define GROW(field, n, sz) do {                                       \
		void *np_ = rag_reallocarray(h->field, (n), (sz));    \
		if (!np_)                                             \
			return -1;                                    \
		h->field = np_;                                       \
	} while (0)

/* Room for `need` nodes; -1 when out of memory (the index stays consistent). */
static int ensure_cap(struct rag_hnsw *h, uint64_t need)
{
	uint64_t nc;

	if (need <= h->cap)
		return 0;
	nc = h->cap ? h->cap * 2 : 64;
	if (nc < need)
		nc = need;
	GROW(labels, nc, sizeof *h->labels);
	GROW(levels, nc, 1);
	GROW(flags, nc, 1);
	GROW(upper_off, nc, sizeof *h->upper_off);
	GROW(links0, nc, h->l0w * sizeof *h->links0);
	GROW(vecs, nc, h->row);
	GROW(scales, nc, sizeof *h->scales);
	h->cap = nc;
	return 0;
}

static int ensure_pool(struct rag_hnsw *h, uint64_t need)
{
	uint64_t nc;

	if (need <= h->pool_cap)
		return 0;
	nc = h->pool_cap ? h->pool_cap * 2 : 1024;
	if (nc < need)
		nc = need;
	GROW(pool, nc, sizeof *h->pool);
	h->pool_cap = nc;
	return 0;
}

static int ensure_stripes(struct rag_hnsw *h)
{
	if (h->stripes)
		return 0;
	h->stripes = rag_malloc(N_STRIPES * sizeof *h->stripes);
	if (!h->stripes)
		return -1;
	for (unsigned i = 0; i < N_STRIPES; i++)
		pthread_mutex_init(&h->stripes[i], NULL);
	return 0;
}

static inline pthread_mutex_t *stripe(const struct rag_hnsw *h, uint32_t id)
{
	return &h->stripes[id & (N_STRIPES - 1)];
}

/* ---- create / free --------------------------------------------------------- */

void rag_hnsw_params_init(struct rag_hnsw_params *p, uint32_t dim)
{
	memset(p, 0, sizeof *p);
	p->dim = dim;
	p->metric = RAG_HNSW_COSINE;
	p->storage = RAG_HNSW_F32;
	p->M = 16;
	p->ef_construction = 200;
	p->ef_search = 64;
	p->seed = 100;
}

static size_t row_bytes(uint32_t dim, enum rag_hnsw_storage s)
{
	return s == RAG_HNSW_F32 ? dim * 4u : s == RAG_HNSW_F16 ? dim * 2u : dim;
}

static int check_params(const struct rag_hnsw_params *p, struct rag_error *err)
{
	if (p->dim < 1 || p->dim > 65536)
		return rag_error_set(err, RAG_EUSAGE, "dimension %u out of range 1..65536", p->dim);
	if ((unsigned)p->metric > RAG_HNSW_L2)
		return rag_error_set(err, RAG_EUSAGE, "unknown metric %d", (int)p->metric);
	if ((unsigned)p->storage > RAG_HNSW_I8)
		return rag_error_set(err, RAG_EUSAGE, "unknown storage %d", (int)p->storage);
	if (p->M < 2 || p->M > RAG_HNSW_MAX_M)
		return rag_error_set(err, RAG_EUSAGE, "M %u out of range 2..%d", p->M, RAG_HNSW_MAX_M);
	if (p->ef_construction < 1)
		return rag_error_set(err, RAG_EUSAGE, "ef_construction must be at least 1");
	return RAG_OK;
}

static struct rag_hnsw *alloc_index(const struct rag_hnsw_params *p)
{
	struct rag_hnsw *h = rag_calloc(1, sizeof *h);

	if (!h)
		return NULL;
	h->p = *p;
	if (!h->p.ef_search)
		h->p.ef_search = 64;
	h->M0 = 2 * p->M;
	h->row = row_bytes(p->dim, p->storage);
	h->l0w = 1 + (size_t)h->M0;
	h->luw = 1 + (size_t)p->M;
	h->mult = 1.0 / log((double)p->M);
	h->max_level = -1;
	pthread_mutex_init(&h->glock, NULL);
	pthread_mutex_init(&h->plock, NULL);
	return h;
}

int rag_hnsw_new(const struct rag_hnsw_params *p, struct rag_hnsw **out, struct rag_error *err)
{
	int rc;

	*out = NULL;
	if ((rc = check_params(p, err)))
		return rc;
	if (!(*out = alloc_index(p)))
		return oom(err);
	return RAG_OK;
}

int rag_hnsw_create(uint32_t dim, enum rag_hnsw_metric metric, enum rag_hnsw_storage storage,
		    uint32_t M, uint32_t ef_construction, uint64_t seed, struct rag_hnsw **out,
		    struct rag_error *err)
{
	struct rag_hnsw_params p;

	rag_hnsw_params_init(&p, dim);
	p.metric = metric;
	p.storage = storage;
	p.M = M;
	p.ef_construction = ef_construction;
	p.seed = seed;
	return rag_hnsw_new(&p, out, err);
}

static void free_data(struct rag_hnsw *h)
{
	if (h->map) {
		munmap(h->map, h->map_len);
	} else {
		rag_free(h->labels);
		rag_free(h->levels);
		rag_free(h->flags);
		rag_free(h->upper_off);
		rag_free(h->pool);
		rag_free(h->links0);
		rag_free(h->vecs);
		rag_free(h->scales);
	}
	rag_free(h->mkeys);
	rag_free(h->mvals);
}

void rag_hnsw_free(struct rag_hnsw *h)
{
	if (!h)
		return;
	free_data(h);
	if (h->stripes) {
		for (unsigned i = 0; i < N_STRIPES; i++)
			pthread_mutex_destroy(&h->stripes[i]);
		rag_free(h->stripes);
	}
	ctx_pool_clear(h);
	rag_free(h->ctxs);
	pthread_mutex_destroy(&h->glock);
	pthread_mutex_destroy(&h->plock);
	rag_free(h);
}

void rag_hnsw_set_ef(struct rag_hnsw *h, uint32_t ef)
{
	h->p.ef_search = ef ? ef : 1;
}

/* ---- graph search ---------------------------------------------------------- */

static inline int accepted(const struct rag_hnsw *h, const struct filt *f, uint32_t id)
{
	if (!f)
		return 1;
	if (f->skip_deleted && (h->flags[id] & FLAG_DELETED))
		return 0;
	return !f->fn || f->fn(h->labels[id], f->ctx);
}

/* Copy node id's list at level into buf (locked while a build runs); returns n. */
static inline uint32_t read_links(const struct rag_hnsw *h, uint32_t id, int level, uint32_t *buf,
				  const uint32_t **out)
{
	const uint32_t *l = links_at(h, id, level);
	uint32_t n;

	if (!h->building) {
		*out = l + 1;
		return l[0];
	}
	pthread_mutex_lock(stripe(h, id));
	n = l[0];
	memcpy(buf, l + 1, n * sizeof *buf);
	pthread_mutex_unlock(stripe(h, id));
	*out = buf;
	return n;
}

/* Greedy descent (ef = 1) from level `top` down to level `bottom` + 1. */
static uint32_t greedy(const struct rag_hnsw *h, const float *q, uint32_t cur, float *curd,
		       int top, int bottom)
{
	uint32_t buf[2 * RAG_HNSW_MAX_M + 1];

	for (int l = top; l > bottom; l--) {
		int changed = 1;
		while (changed) {
			const uint32_t *nb;
			uint32_t n = read_links(h, cur, l, buf, &nb);
			changed = 0;
			for (uint32_t i = 0; i < n; i++) {
				float d = dist_q(h, q, nb[i]);
				if (d < *curd) {
					*curd = d;
					cur = nb[i];
					changed = 1;
				}
			}
		}
	}
	return cur;
}

/*
 * Best-first search of one level from ep, keeping the ef nearest accepted nodes
 * in c->res.  Every node is traversed; only accepted ones enter the results.
 * With a budget, stop after that many distances.  -1 when out of memory.
 */
static int search_layer(const struct rag_hnsw *h, struct sctx *c, const float *q, uint32_t ep,
			float epd, size_t ef, int level, const struct filt *f, uint64_t budget)
{
	uint32_t buf[2 * RAG_HNSW_MAX_M + 1], todo[2 * RAG_HNSW_MAX_M + 1];
	float lower = INFINITY;

	visit_reset(c);
	c->cand.n = 0;
	c->res.n = 0;
	c->tags[ep] = c->epoch;
	c->nvisited = 1;
	if (heap_push(&c->cand, -epd, ep) < 0)
		return -1;
	if (accepted(h, f, ep)) {
		if (heap_push(&c->res, epd, ep) < 0)
			return -1;
		lower = epd;
	}
	while (c->cand.n) {
		struct pair top = c->cand.a[0];
		const uint32_t *nb;
		uint32_t n, nt = 0;

		if (-top.d > lower && c->res.n >= ef)
			break;
		if (budget && c->ndist >= budget)
			break;
		heap_pop(&c->cand);
		n = read_links(h, top.id, level, buf, &nb);
		for (uint32_t i = 0; i < n; i++) {
			uint32_t id = nb[i];
			if (c->tags[id] == c->epoch)
				continue;
			c->tags[id] = c->epoch;
			todo[nt++] = id;
			__builtin_prefetch(row_at(h, id));
		}
		c->nvisited += nt;
		c->ndist += nt;
		for (uint32_t i = 0; i < nt; i++) {
			uint32_t id = todo[i];
			float d;
			if (i + 1 < nt) {
				/* the whole next row: distances are bound by memory, not FMAs */
				const uint8_t *r = row_at(h, todo[i + 1]);
				for (size_t o = 64; o < h->row; o += 64)
					__builtin_prefetch(r + o);
			}
			d = dist_q(h, q, id);
			if (c->res.n < ef || d < lower) {
				if (heap_push(&c->cand, -d, id) < 0)
					return -1;
				if (accepted(h, f, id)) {
					if (heap_push(&c->res, d, id) < 0)
						return -1;
					if (c->res.n > ef)
						heap_pop(&c->res);
					lower = c->res.a[0].d;
				}
			}
		}
	}
	return 0;
}

/* Exact scan of every node into c->res (the k nearest accepted ones). */
static int scan_exact(const struct rag_hnsw *h, struct sctx *c, const float *q, size_t k,
		      const struct filt *f)
{
	c->res.n = 0;
	for (uint64_t i = 0; i < h->count; i++) {
		uint32_t id = (uint32_t)i;
		float d;
		if (!accepted(h, f, id))
			continue;
		d = dist_q(h, q, id);
		if (c->res.n < k) {
			if (heap_push(&c->res, d, id) < 0)
				return -1;
		} else if (d < c->res.a[0].d) {
			heap_pop(&c->res);
			if (heap_push(&c->res, d, id) < 0)
				return -1;
		}
	}
	return 0;
}

/* ---- construction ---------------------------------------------------------- */

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	if (x->d != y->d)
		return x->d < y->d ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * The selection heuristic (HNSW paper, algorithm 4): walk the candidates
 * nearest first and keep one only when it is nearer to the base than to every
 * one kept so far, so the links spread in different directions.  cand is
 * sorted ascending; the kept ones are moved to its front.  Returns their count.
 */
static size_t select_neighbors(const struct rag_hnsw *h, float *tmp, struct pair *cand, size_t n,
			       size_t m)
{
	size_t kept = 0;

	if (n <= m)
		return n;
	for (size_t i = 0; i < n && kept < m; i++) {
		const float *ci = vec_f32(h, cand[i].id, tmp);
		int good = 1;
		for (size_t j = 0; j < kept; j++)
			if (dist_q(h, ci, cand[j].id) < cand[i].d) {
				good = 0;
				break;
			}
		if (good)
			cand[kept++] = cand[i];
	}
	return kept;
}

/* Add a link s -> id at level, pruning s's list with the heuristic when full. */
static void link_back(const struct rag_hnsw *h, struct sctx *c, uint32_t s, uint32_t id, float d,
		      int level)
{
	struct pair buf[2 * RAG_HNSW_MAX_M + 1];
	size_t cap = level ? h->p.M : h->M0;
	uint32_t *l = links_at(h, s, level);
	uint32_t n;

	if (h->building)
		pthread_mutex_lock(stripe(h, s));
	n = l[0];
	for (uint32_t i = 0; i < n; i++)
		if (l[1 + i] == id)
			goto out;
	if (n < cap) {
		l[1 + n] = id;
		l[0] = n + 1;
	} else {
		const float *sv = vec_f32(h, s, c->tmp2);
		size_t kept;
		for (uint32_t i = 0; i < n; i++) {
			buf[i].id = l[1 + i];
			buf[i].d = dist_q(h, sv, l[1 + i]);
		}
		buf[n].id = id;
		buf[n].d = d;
		qsort(buf, (size_t)n + 1, sizeof *buf, pair_cmp);
		kept = select_neighbors(h, c->tmp, buf, (size_t)n + 1, cap);
		for (size_t i = 0; i < kept; i++)
			l[1 + i] = buf[i].id;
		for (size_t i = kept; i < n; i++)
			l[1 + i] = 0;
		l[0] = (uint32_t)kept;
	}
out:
	if (h->building)
		pthread_mutex_unlock(stripe(h, s));
}

/* Link node id (vector stored, level set, lists empty) into the graph.  -1 on OOM. */
static int insert_node(struct rag_hnsw *h, struct sctx *c, uint32_t id)
{
	const float *q = vec_f32(h, id, c->q);
	int level = h->levels[id], maxl, held = 0, rc = 0;
	uint32_t cur;
	float curd;

	pthread_mutex_lock(&h->glock);
	maxl = h->max_level;
	cur = h->entry;
	if (maxl < 0) {
		h->entry = id;
		h->max_level = level;
		pthread_mutex_unlock(&h->glock);
		return 0;
	}
	if (level > maxl)
		held = 1;  /* keep the entry point fixed until this node is linked */
	else
		pthread_mutex_unlock(&h->glock);

	curd = dist_q(h, q, cur);
	cur = greedy(h, q, cur, &curd, maxl, level);
	for (int l = level < maxl ? level : maxl; l >= 0; l--) {
		size_t n, m;
		uint32_t *own;
		if (search_layer(h, c, q, cur, curd, h->p.ef_construction, l, NULL, 0) < 0 ||
		    ensure_sorted(c, c->res.n) < 0) {
			rc = -1;
			break;
		}
		n = drain_sorted(c);
		m = select_neighbors(h, c->tmp, c->sorted, n, h->p.M);
		own = links_at(h, id, l);
		if (h->building)
			pthread_mutex_lock(stripe(h, id));
		for (size_t i = 0; i < m; i++)
			own[1 + i] = c->sorted[i].id;
		own[0] = (uint32_t)m;
		if (h->building)
			pthread_mutex_unlock(stripe(h, id));
		for (size_t i = 0; i < m; i++)
			link_back(h, c, c->sorted[i].id, id, c->sorted[i].d, l);
		if (m) {
			cur = c->sorted[0].id;
			curd = c->sorted[0].d;
		}
	}
	if (held) {
		if (!rc && level > h->max_level) {
			h->entry = id;
			h->max_level = level;
		}
		pthread_mutex_unlock(&h->glock);
	}
	return rc;
}

static int resolve_threads(int threads)
{
	if (threads <= 0)
		threads = rag_get_threads();
#ifdef _OPENMP
	if (threads <= 0)
		threads = omp_get_max_threads();
#endif
	return threads > 0 ? threads : 1;
}

/*
 * Append n nodes and link them.  Rows come either from float vectors (encoded
 * here) or, for compaction, from another index's stored rows (src, src_ids).
 */
static int add_rows(struct rag_hnsw *h, size_t n, const int64_t *labels, const float *vectors,
		    const struct rag_hnsw *src, const uint32_t *src_ids, int threads,
		    struct rag_error *err)
{
	uint64_t base = h->count, pool_need = h->pool_len;
	struct sctx **ctx = NULL;
	uint8_t *done = NULL;
	size_t start = 0, nfail = 0;
	int T, rc = RAG_OK, failed = 0;

	if (n == 0)
		return RAG_OK;
	if (vectors)
		for (size_t i = 0; i < n; i++) {
			size_t bad;
			if (!all_finite(vectors + i * h->p.dim, h->p.dim, &bad))
				return rag_error_set(err, RAG_EDATA,
						     "vector %zu: element %zu is not a finite number", i, bad);
		}
	if (base + n >= NONE)
		return rag_error_set(err, RAG_EUSAGE, "too many vectors for one index (limit %u)",
				     NONE - 1);
	if ((rc = thaw(h, err)))
		return rc;
	for (size_t i = 0; i < n; i++)
		pool_need += (uint64_t)draw_level(h, base + i) * h->luw;
	T = resolve_threads(threads);
	if ((size_t)T > n)
		T = (int)n;
	if (map_reserve(h, n) < 0 || ensure_cap(h, base + n) < 0 || ensure_pool(h, pool_need) < 0 ||
	    ensure_stripes(h) < 0 || !(ctx = rag_calloc((size_t)T, sizeof *ctx)) ||
	    !(done = rag_calloc(n, 1)))
		goto nomem;
	for (int t = 0; t < T; t++)
		if (!(ctx[t] = sctx_new(h->p.dim)) || sctx_fit(ctx[t], base + n) < 0)
			goto nomem;

	/* Serial part: nothing below can fail, so the index is never half-appended. */
	for (size_t i = 0; i < n; i++) {
		uint32_t id = (uint32_t)(base + i), old;
		int lv = draw_level(h, id);
		h->labels[id] = labels[i];
		h->levels[id] = (uint8_t)lv;
		h->flags[id] = 0;
		h->upper_off[id] = h->pool_len;
		if (lv)  /* the pool is still NULL while every node is on level 0 */
			memset(h->pool + h->pool_len, 0, (size_t)lv * h->luw * sizeof *h->pool);
		h->pool_len += (uint64_t)lv * h->luw;
		memset(h->links0 + (size_t)id * h->l0w, 0, h->l0w * sizeof *h->links0);
		if (src) {
			memcpy(h->vecs + (size_t)id * h->row, row_at(src, src_ids[i]), h->row);
			h->scales[id] = src->p.storage == RAG_HNSW_I8 ? src->scales[src_ids[i]] : 0.0f;
		} else {
			h->scales[id] = 0.0f;
			encode(h, id, vectors + i * h->p.dim, ctx[0]->tmp);
		}
		old = map_find(h, labels[i]);
		if (old != NONE) {
			h->flags[old] |= FLAG_DELETED;
			h->deleted++;
		}
		map_put(h, labels[i], id);
	}
	h->count = base + n;
	ctx_pool_clear(h);  /* their visited marks are too short now */

	if (h->max_level < 0) {
		if (insert_node(h, ctx[0], (uint32_t)base) < 0)
			failed = 1;
		done[0] = 1;
		start = 1;
	}
	h->building = T > 1;
	if (!failed) {
		#pragma omp parallel for num_threads(T) schedule(dynamic, 8)
		for (size_t i = start; i < n; i++) {
			int t = 0;
			int f;
#ifdef _OPENMP
			t = omp_get_thread_num();
#endif
			#pragma omp atomic read
			f = failed;
			if (f)
				continue;
			if (insert_node(h, ctx[t], (uint32_t)(base + i)) < 0) {
				#pragma omp atomic write
				failed = 1;
			} else {
				done[i] = 1;
			}
		}
	}
	h->building = 0;
	if (failed) {
		/* Rows not linked stay as deleted waypoints: the graph is valid. */
		for (size_t i = 0; i < n; i++) {
			uint32_t id = (uint32_t)(base + i);
			if (done[i] || (h->flags[id] & FLAG_DELETED))
				continue;
			h->flags[id] |= FLAG_DELETED;
			h->deleted++;
			if (map_find(h, labels[i]) == id)
				map_del(h, labels[i]);
			nfail++;
		}
		rc = rag_error_set(err, RAG_EINTERNAL,
				   "out of memory while linking vectors (%zu left deleted)", nfail);
	}
	for (int t = 0; t < T; t++)
		sctx_free(ctx[t]);
	rag_free(ctx);
	rag_free(done);
	return rc;
nomem:
	if (ctx)
		for (int t = 0; t < T; t++)
			sctx_free(ctx[t]);
	rag_free(ctx);
	rag_free(done);
	return oom(err);
}

int rag_hnsw_add_batch(struct rag_hnsw *h, size_t n, const int64_t *labels, const float *vectors,
		       int threads, struct rag_error *err)
{
	return add_rows(h, n, labels, vectors, NULL, NULL, threads, err);
}

int rag_hnsw_add(struct rag_hnsw *h, int64_t label, const float *v, struct rag_error *err)
{
	return add_rows(h, 1, &label, v, NULL, NULL, 1, err);
}

int rag_hnsw_delete(struct rag_hnsw *h, int64_t label, int *found, struct rag_error *err)
{
	uint32_t id;
	int rc;

	if (found)
		*found = 0;
	if (map_reserve(h, 0) < 0)
		return oom(err);
	id = map_find(h, label);
	if (id == NONE)
		return RAG_OK;
	if ((rc = thaw(h, err)))
		return rc;
	h->flags[id] |= FLAG_DELETED;
	h->deleted++;
	map_del(h, label);
	if (found)
		*found = 1;
	return RAG_OK;
}

/* Swap the graph data (not the locks or scratch pools) of two indexes. */
static void swap_data(struct rag_hnsw *a, struct rag_hnsw *b)
{
	struct rag_hnsw t;

#define SW(f) do { memcpy(&t.f, &a->f, sizeof t.f); memcpy(&a->f, &b->f, sizeof t.f); \
		memcpy(&b->f, &t.f, sizeof t.f); } while (0)
	SW(count); SW(cap); SW(deleted); SW(entry); SW(max_level);
	SW(labels); SW(levels); SW(flags); SW(upper_off); SW(pool); SW(pool_len); SW(pool_cap);
	SW(links0); SW(vecs); SW(scales); SW(map); SW(map_len);
	SW(mkeys); SW(mvals); SW(mcap); SW(mn); SW(mvalid);
#undef SW
}

int rag_hnsw_compact(struct rag_hnsw *h, int threads, struct rag_error *err)
{
	struct rag_hnsw *nh;
	uint64_t live = h->count - h->deleted, j = 0;
	int64_t *labels = NULL;
	uint32_t *ids = NULL;
	int rc;

	if (!(nh = alloc_index(&h->p)))
		return oom(err);
	labels = rag_malloc((live ? live : 1) * sizeof *labels);
	ids = rag_malloc((live ? live : 1) * sizeof *ids);
	if (!labels || !ids) {
		rc = oom(err);
		goto out;
	}
	for (uint64_t i = 0; i < h->count; i++)
		if (!(h->flags[i] & FLAG_DELETED)) {
			labels[j] = h->labels[i];
			ids[j++] = (uint32_t)i;
		}
	if ((rc = add_rows(nh, (size_t)j, labels, NULL, h, ids, threads, err)))
		goto out;
	if (nh->deleted) {  /* a partial build: keep the old index */
		rc = oom(err);
		goto out;
	}
	swap_data(h, nh);
	ctx_pool_clear(h);
out:
	rag_free(labels);
	rag_free(ids);
	rag_hnsw_free(nh);
	return rc;
}

/* ---- search API ------------------------------------------------------------ */

static int emit(struct sctx *c, size_t k, int64_t *labels, float *dists, size_t *n_out,
		const struct rag_hnsw *h)
{
	size_t n;

	while (c->res.n > k)
		heap_pop(&c->res);
	if (ensure_sorted(c, c->res.n) < 0)
		return -1;
	n = drain_sorted(c);
	for (size_t i = 0; i < n; i++) {
		labels[i] = h->labels[c->sorted[i].id];
		if (dists)
			dists[i] = c->sorted[i].d;
	}
	*n_out = n;
	return 0;
}

static int prepare_query(const struct rag_hnsw *h, struct sctx *c, const float *q, const float **qq,
			 struct rag_error *err)
{
	size_t bad;

	if (!all_finite(q, h->p.dim, &bad))
		return rag_error_set(err, RAG_EDATA, "query element %zu is not a finite number", bad);
	if (h->p.metric == RAG_HNSW_COSINE) {
		normalize(c->q, q, h->p.dim);
		*qq = c->q;
	} else {
		*qq = q;
	}
	return RAG_OK;
}

static int search(const struct rag_hnsw *h, const float *q, size_t k, uint32_t ef, int exact,
		  rag_hnsw_filter_fn filter, void *fctx, int64_t *labels, float *dists,
		  size_t *n_out, struct rag_error *err)
{
	struct filt fs = { filter, fctx, h->deleted > 0 };
	const struct filt *f = (filter || h->deleted) ? &fs : NULL;
	const float *qq = q;
	struct sctx *c;
	int rc = RAG_OK;

	*n_out = 0;
	if (k == 0 || h->count == 0 || h->max_level < 0)
		return RAG_OK;
	if (!(c = ctx_get(h)))
		return oom(err);
	if ((rc = prepare_query(h, c, q, &qq, err)))
		goto out;
	if (exact) {
		if (scan_exact(h, c, qq, k, f) < 0)
			goto nomem;
	} else {
		size_t efe = ef ? ef : h->p.ef_search;
		uint64_t budget = 0;
		float curd;
		uint32_t cur;
		if (efe < k)
			efe = k;
		if (f) {
			budget = 64 * (uint64_t)efe;
			if (budget < h->count / 10)
				budget = h->count / 10;
		}
		curd = dist_q(h, qq, h->entry);
		cur = greedy(h, qq, h->entry, &curd, h->max_level, 0);
		if (search_layer(h, c, qq, cur, curd, efe, 0, f, budget) < 0)
			goto nomem;
		if (c->res.n < k && c->nvisited < h->count && scan_exact(h, c, qq, k, f) < 0)
			goto nomem;
	}
	if (emit(c, k, labels, dists, n_out, h) < 0)
		goto nomem;
	goto out;
nomem:
	rc = oom(err);
out:
	ctx_put(h, c);
	return rc;
}

int rag_hnsw_search(const struct rag_hnsw *h, const float *q, size_t k, uint32_t ef,
		    rag_hnsw_filter_fn filter, void *ctx, int64_t *labels, float *dists,
		    size_t *n_out, struct rag_error *err)
{
	return search(h, q, k, ef, 0, filter, ctx, labels, dists, n_out, err);
}

int rag_hnsw_search_exact(const struct rag_hnsw *h, const float *q, size_t k,
			  rag_hnsw_filter_fn filter, void *ctx, int64_t *labels, float *dists,
			  size_t *n_out, struct rag_error *err)
{
	return search(h, q, k, 0, 1, filter, ctx, labels, dists, n_out, err);
}

int rag_hnsw_get(const struct rag_hnsw *h, int64_t label, float *out, int *found,
		 struct rag_error *err)
{
	uint32_t id = NONE;

	*found = 0;
	if (h->mvalid) {
		id = map_find(h, label);
	} else {
		for (uint64_t i = h->count; i-- > 0;)
			if (h->labels[i] == label && !(h->flags[i] & FLAG_DELETED)) {
				id = (uint32_t)i;
				break;
			}
	}
	(void)err;
	if (id == NONE)
		return RAG_OK;
	memcpy(out, vec_f32(h, id, out), h->p.dim * sizeof *out);
	*found = 1;
	return RAG_OK;
}

void rag_hnsw_stats(const struct rag_hnsw *h, struct rag_hnsw_stats *st)
{
	memset(st, 0, sizeof *st);
	st->dim = h->p.dim;
	st->M = h->p.M;
	st->ef_construction = h->p.ef_construction;
	st->ef_search = h->p.ef_search;
	st->metric = h->p.metric;
	st->storage = h->p.storage;
	st->seed = h->p.seed;
	st->count = h->count;
	st->deleted = h->deleted;
	st->live = h->count - h->deleted;
	st->max_level = h->max_level;
	if (h->map) {
		st->mapped_bytes = h->map_len;
		st->memory_bytes = h->map_len;
	} else {
		st->memory_bytes = h->cap * (sizeof *h->labels + 2 + sizeof *h->upper_off +
					     h->l0w * sizeof *h->links0 + h->row + sizeof *h->scales) +
				   h->pool_cap * sizeof *h->pool;
	}
	st->memory_bytes += h->mcap * (sizeof *h->mkeys + sizeof *h->mvals) + sizeof *h +
			    (h->stripes ? N_STRIPES * sizeof *h->stripes : 0);
}

static const char *const metric_names[] = { "cosine", "ip", "l2" };
static const char *const storage_names[] = { "f32", "f16", "i8" };

const char *rag_hnsw_metric_name(enum rag_hnsw_metric m)
{
	return (unsigned)m <= RAG_HNSW_L2 ? metric_names[m] : "?";
}

const char *rag_hnsw_storage_name(enum rag_hnsw_storage s)
{
	return (unsigned)s <= RAG_HNSW_I8 ? storage_names[s] : "?";
}

int rag_hnsw_metric_parse(const char *s, enum rag_hnsw_metric *m, struct rag_error *err)
{
	for (unsigned i = 0; i < 3; i++)
		if (!strcmp(s, metric_names[i])) {
			*m = (enum rag_hnsw_metric)i;
			return RAG_OK;
		}
	return rag_error_set(err, RAG_EUSAGE, "unknown metric '%s' (cosine, ip, l2)", s);
}

int rag_hnsw_storage_parse(const char *s, enum rag_hnsw_storage *st, struct rag_error *err)
{
	for (unsigned i = 0; i < 3; i++)
		if (!strcmp(s, storage_names[i])) {
			*st = (enum rag_hnsw_storage)i;
			return RAG_OK;
		}
	return rag_error_set(err, RAG_EUSAGE, "unknown storage '%s' (f32, f16, i8)", s);
}

/* ---- file format ------------------------------------------------------------ */

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static uint32_t crc(const void *p, uint64_t n)
{
	const Bytef *b = p;
	uLong c = crc32(0L, Z_NULL, 0);

	while (n) {
		uInt step = n > (1u << 30) ? (1u << 30) : (uInt)n;
		c = crc32(c, b, step);
		b += step;
		n -= step;
	}
	return (uint32_t)c;
}

struct section {
	const void *p;
	uint64_t off, len;
};

/* Section pointers and sizes of the file image of h. */
static void layout(const struct rag_hnsw *h, struct section s[N_SECTIONS], uint64_t *total)
{
	uint64_t off = HDR_SIZE, n = h->count;

	s[0].p = h->labels;    s[0].len = n * 8;
	s[1].p = h->levels;    s[1].len = n;
	s[2].p = h->flags;     s[2].len = n;
	s[3].p = h->upper_off; s[3].len = n * 8;
	s[4].p = h->pool;      s[4].len = h->pool_len * 4;
	s[5].p = h->links0;    s[5].len = n * h->l0w * 4;
	s[6].p = h->vecs;      s[6].len = n * h->row;
	s[7].p = h->scales;    s[7].len = h->p.storage == RAG_HNSW_I8 ? n * 4 : 0;
	for (unsigned i = 0; i < N_SECTIONS; i++) {
		s[i].off = off;
		off = (off + s[i].len + 63) & ~(uint64_t)63;
	}
	*total = off;
}

static int pwrite_all(int fd, const void *p, uint64_t n, uint64_t off)
{
	const uint8_t *b = p;

	while (n) {
		size_t step = n > (1u << 30) ? (1u << 30) : (size_t)n;
		ssize_t w = pwrite(fd, b, step, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = ENOSPC;
			return -1;
		}
		b += w;
		n -= (uint64_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

int rag_hnsw_write_fd(const struct rag_hnsw *h, int fd, struct rag_error *err)
{
	struct section s[N_SECTIONS];
	uint8_t hdr[HDR_SIZE];
	uint64_t total;
	static const uint8_t zeros[64];

	layout(h, s, &total);
	memset(hdr, 0, sizeof hdr);
	memcpy(hdr, MAGIC, 8);
	put32(hdr + 8, FILE_VERSION);
	put32(hdr + 12, HDR_SIZE);
	put32(hdr + 16, h->p.dim);
	put32(hdr + 20, (uint32_t)h->p.metric);
	put32(hdr + 24, (uint32_t)h->p.storage);
	put32(hdr + 28, h->p.M);
	put32(hdr + 32, h->M0);
	put32(hdr + 36, h->p.ef_construction);
	put32(hdr + 40, h->p.ef_search);
	put32(hdr + 44, (uint32_t)(int32_t)h->max_level);
	put64(hdr + 48, h->p.seed);
	put64(hdr + 56, h->count);
	put64(hdr + 64, h->deleted);
	put64(hdr + 72, h->count ? h->entry : 0);
	put64(hdr + 80, h->row);
	put64(hdr + 88, h->pool_len);
	put32(hdr + 96, N_SECTIONS);
	for (unsigned i = 0; i < N_SECTIONS; i++) {
		uint8_t *e = hdr + 104 + 24 * i;
		put64(e, s[i].off);
		put64(e + 8, s[i].len);
		put32(e + 16, s[i].len ? crc(s[i].p, s[i].len) : 0);
	}
	put32(hdr + 508, crc(hdr, 508));
	if (pwrite_all(fd, hdr, HDR_SIZE, 0) < 0)
		goto ioerr;
	for (unsigned i = 0; i < N_SECTIONS; i++) {
		uint64_t end = s[i].off + s[i].len, next = i + 1 < N_SECTIONS ? s[i + 1].off : total;
		if (s[i].len && pwrite_all(fd, s[i].p, s[i].len, s[i].off) < 0)
			goto ioerr;
		if (next > end && pwrite_all(fd, zeros, next - end, end) < 0)
			goto ioerr;
	}
	if (ftruncate(fd, (off_t)total) < 0)
		goto ioerr;
	return RAG_OK;
ioerr:
	return rag_error_errno(err, RAG_EIO, "cannot write index");
}

int rag_hnsw_save(const struct rag_hnsw *h, const char *path, struct rag_error *err)
{
	size_t n = strlen(path);
	char *tmp = rag_malloc(n + 16), *dir = NULL, *slash;
	int fd = -1, rc;

	if (!tmp)
		return oom(err);
	snprintf(tmp, n + 16, "%s.tmp.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = rag_error_errno(err, RAG_EIO, "cannot create '%s'", tmp);
		rag_free(tmp);
		return rc;
	}
	if ((rc = rag_hnsw_write_fd(h, fd, err))) {
		rag_error_prefix(err, "'%s': ", path);
		goto fail;
	}
	if (fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		rc = rag_error_errno(err, RAG_EIO, "cannot write '%s'", path);
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = rag_error_errno(err, RAG_EIO, "cannot write '%s'", path);
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = rag_error_errno(err, RAG_EIO, "cannot rename '%s' to '%s'", tmp, path);
		goto fail;
	}
	/* Make the rename itself durable. */
	dir = rag_strdup(path);
	if (dir) {
		int dfd;
		slash = strrchr(dir, '/');
		if (slash)
			slash[slash == dir ? 1 : 0] = '\0';
		dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
		rag_free(dir);
	}
	rag_free(tmp);
	return RAG_OK;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	rag_free(tmp);
	return rc;
}

static int bad(struct rag_error *err, const char *path, const char *what)
{
	return rag_error_set(err, RAG_EMODEL, "'%s': %s", path, what);
}

/* Check the graph of a mapped file so that searches never leave the mapping. */
static int check_graph(const struct rag_hnsw *h, const char *path, struct rag_error *err)
{
	uint64_t dels = 0;

	for (uint64_t i = 0; i < h->count; i++) {
		int lv = h->levels[i];
		if (lv > h->max_level)
			return bad(err, path, "corrupt index: a node is above the top level");
		if (h->flags[i] & FLAG_DELETED)
			dels++;
		if (lv > 0 && (h->upper_off[i] > h->pool_len ||
			       (uint64_t)lv * h->luw > h->pool_len - h->upper_off[i]))
			return bad(err, path, "corrupt index: a link list lies outside the pool");
		for (int l = 0; l <= lv; l++) {
			uint32_t cap = l ? h->p.M : h->M0;
			const uint32_t *ll = links_at(h, (uint32_t)i, l);
			if (ll[0] > cap)
				return bad(err, path, "corrupt index: a link list is longer than its capacity");
			for (uint32_t j = 0; j < ll[0]; j++)
				if (ll[1 + j] >= h->count || h->levels[ll[1 + j]] < l)
					return bad(err, path, "corrupt index: a link names no node of its level");
		}
	}
	if (dels != h->deleted)
		return bad(err, path, "corrupt index: the deleted count does not match the flags");
	if (h->count && (h->entry >= h->count || h->levels[h->entry] != h->max_level))
		return bad(err, path, "corrupt index: bad entry point");
	return RAG_OK;
}

int rag_hnsw_load(const char *path, unsigned flags, struct rag_hnsw **out, struct rag_error *err)
{
	struct rag_hnsw_params p;
	struct rag_hnsw *h = NULL;
	struct section s[N_SECTIONS];
	struct stat st;
	const uint8_t *m;
	uint64_t total, count, pool_len;
	void *map;
	size_t len;
	int fd, rc, maxl;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rag_error_errno(err, RAG_ENOINPUT, "cannot open '%s'", path);
	if (fstat(fd, &st) < 0) {
		rc = rag_error_errno(err, RAG_EIO, "cannot read '%s'", path);
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return bad(err, path, "not a regular file");
	}
	if ((uint64_t)st.st_size < 8) {
		close(fd);
		return bad(err, path, "not an HNSW index file (too short)");
	}
	len = (size_t)st.st_size;
	map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return rag_error_errno(err, RAG_EIO, "cannot map '%s'", path);
	m = map;
	if (memcmp(m, MAGIC, 8)) {
		rc = bad(err, path, "not an HNSW index file (bad magic)");
		goto fail;
	}
	if (len < HDR_SIZE) {
		rc = bad(err, path, "truncated HNSW index file (header cut short)");
		goto fail;
	}
	if (get32(m + 8) != FILE_VERSION) {
		rc = rag_error_set(err, RAG_EMODEL, "'%s': unsupported HNSW index version %u (this build reads %u)",
				   path, get32(m + 8), FILE_VERSION);
		goto fail;
	}
	if (get32(m + 508) != crc(m, 508)) {
		rc = bad(err, path, "corrupt HNSW index file (header checksum mismatch)");
		goto fail;
	}
	rag_hnsw_params_init(&p, get32(m + 16));
	p.metric = (enum rag_hnsw_metric)get32(m + 20);
	p.storage = (enum rag_hnsw_storage)get32(m + 24);
	p.M = get32(m + 28);
	p.ef_construction = get32(m + 36);
	p.ef_search = get32(m + 40);
	p.seed = get64(m + 48);
	maxl = (int32_t)get32(m + 44);
	count = get64(m + 56);
	pool_len = get64(m + 88);
	if (check_params(&p, err) || get32(m + 12) != HDR_SIZE || get32(m + 32) != 2 * p.M ||
	    get32(m + 96) != N_SECTIONS || get64(m + 80) != row_bytes(p.dim, p.storage) ||
	    count >= NONE || maxl < -1 || maxl > RAG_HNSW_MAX_LEVEL || (count == 0) != (maxl < 0) ||
	    get64(m + 64) > count || pool_len > len / 4) {
		rc = bad(err, path, "corrupt HNSW index file (bad header values)");
		goto fail;
	}
	if (!(h = alloc_index(&p))) {
		rc = oom(err);
		goto fail;
	}
	h->count = h->cap = count;
	h->deleted = get64(m + 64);
	h->entry = (uint32_t)get64(m + 72);
	h->max_level = maxl;
	h->pool_len = h->pool_cap = pool_len;
	layout(h, s, &total);
	for (unsigned i = 0; i < N_SECTIONS; i++) {
		const uint8_t *e = m + 104 + 24 * i;
		if (get64(e) != s[i].off || get64(e + 8) != s[i].len) {
			rc = bad(err, path, "corrupt HNSW index file (bad section table)");
			goto fail;
		}
	}
	if (total > len) {
		rc = bad(err, path, "truncated HNSW index file");
		goto fail;
	}
	if (!(flags & RAG_HNSW_LOAD_NOVERIFY))
		for (unsigned i = 0; i < N_SECTIONS; i++)
			if (get32(m + 104 + 24 * i + 16) != (s[i].len ? crc(m + s[i].off, s[i].len) : 0)) {
				rc = rag_error_set(err, RAG_EMODEL,
						   "'%s': corrupt HNSW index file (checksum mismatch in section %u)",
						   path, i);
				goto fail;
			}
	h->labels = (int64_t *)(void *)(m + s[0].off);
	h->levels = (uint8_t *)(m + s[1].off);
	h->flags = (uint8_t *)(m + s[2].off);
	h->upper_off = (uint64_t *)(void *)(m + s[3].off);
	h->pool = (uint32_t *)(void *)(m + s[4].off);
	h->links0 = (uint32_t *)(void *)(m + s[5].off);
	h->vecs = (uint8_t *)(m + s[6].off);
	h->scales = (float *)(void *)(m + s[7].off);
	h->map = map;
	h->map_len = len;
	if ((rc = check_graph(h, path, err))) {
		h->map = NULL;  /* unmapped below */
		goto fail;
	}
	*out = h;
	return RAG_OK;
fail:
	if (h) {
		h->labels = NULL; h->levels = NULL; h->flags = NULL; h->upper_off = NULL;
		h->pool = NULL; h->links0 = NULL; h->vecs = NULL; h->scales = NULL;
		h->map = NULL;
		rag_hnsw_free(h);
	}
	munmap(map, len);
	return rc;
}
