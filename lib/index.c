/* index.c: the index database and vector file: create, upsert, delete, commit, search. */
#include "index.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "arena.h"
#include "device.h"
#include "hnsw.h"
#include "kernels.h"
#include "vecfile.h"
#include "search_cuda.h"

void rag_index_opts_init(struct rag_index_opts *o)
{
	memset(o, 0, sizeof *o);
	o->storage = RAG_VEC_F32;
	o->metric = RAG_METRIC_COSINE;
	rag_analyzer_init(&o->an);
	o->an.stopwords = 1;
	o->an.stem = 1;  /* Porter, as Lucene's English analyzer: best nDCG@10 on all four test collections */
	o->ann_m = 16;
	o->ann_ef_construction = 200;
}

#define RAG_STR_(x) #x
#define RAG_STR(x) RAG_STR_(x)

/* ---- SQLite helpers ------------------------------------------------------- */

/* Map an SQLite failure to a status: full disk and I/O errors are 74, a file
 * that is not a database (or a damaged one) 78, anything else 70. */
static int sq_fail(sqlite3 *db, int rc, const char *path, const char *what, struct rag_error *err)
{
	int code;

	switch (rc & 0xff) {
	case SQLITE_FULL: case SQLITE_IOERR: case SQLITE_BUSY: case SQLITE_LOCKED:
	case SQLITE_READONLY: case SQLITE_PERM:
		code = RAG_EIO;
		break;
	case SQLITE_NOTADB: case SQLITE_CORRUPT: case SQLITE_FORMAT:
		code = RAG_EMODEL;
		break;
	case SQLITE_CANTOPEN:
		code = RAG_ENOINPUT;
		break;
	case SQLITE_NOMEM:
		code = RAG_EINTERNAL;
		break;
	default:
		code = RAG_EINTERNAL;
	}
	if ((rc & 0xff) == SQLITE_NOTADB)
		return rag_error_set(err, code, "'%s': not a ragkit index (not an SQLite database)", path);
	return rag_error_set(err, code, "'%s': %s: %s", path, what,
			     db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static int exec(sqlite3 *db, const char *sql, const char *path, struct rag_error *err)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? RAG_OK : sq_fail(db, rc, path, sql, err);
}

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **st, const char *path, struct rag_error *err)
{
	int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
	return rc == SQLITE_OK ? RAG_OK : sq_fail(db, rc, path, "prepare", err);
}

/* Read meta.key into a new string (NULL when absent). */
static int meta_get(sqlite3 *db, const char *path, const char *key, char **val, struct rag_error *err)
{
	sqlite3_stmt *st;
	int rc;

	*val = NULL;
	if ((rc = prep(db, "SELECT value FROM meta WHERE key = ?", &st, path, err)))
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		*val = rag_strdup(v ? v : "");
		rc = *val ? RAG_OK : rag_error_set(err, RAG_EINTERNAL, "out of memory");
	} else if (rc == SQLITE_DONE) {
		rc = RAG_OK;
	} else {
		rc = sq_fail(db, rc, path, "reading meta", err);
	}
	sqlite3_finalize(st);
	return rc;
}

static int meta_set(sqlite3 *db, const char *path, const char *key, const char *val, struct rag_error *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prep(db, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", &st, path, err)))
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, val, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? RAG_OK : sq_fail(db, rc, path, "writing meta", err);
}

/* The settings recorded in meta. */
struct ixmeta {
	uint32_t dim;
	char *model;
	int metric, storage;
	struct rag_analyzer an;
	int64_t vec_gen;
	int ann;
	uint32_t ann_m, ann_efc;
};

static void ixmeta_release(struct ixmeta *m) { rag_free(m->model); m->model = NULL; }

static int load_meta(sqlite3 *db, const char *path, struct ixmeta *m, struct rag_error *err)
{
	char *v = NULL;
	int rc;
	long x;

	memset(m, 0, sizeof *m);
	rag_analyzer_init(&m->an);
	{
		sqlite3_stmt *st;
		int have = 0;
		if ((rc = prep(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
			       &st, path, err)))
			return rc;
		if (sqlite3_step(st) == SQLITE_ROW)
			have = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
		if (!have)
			return rag_error_set(err, RAG_EMODEL, "'%s': not a ragkit index", path);
	}
	if ((rc = meta_get(db, path, "magic", &v, err)))
		return rc;
	if (!v || strcmp(v, RAG_INDEX_MAGIC) != 0) {
		rag_free(v);
		return rag_error_set(err, RAG_EMODEL, "'%s': not a ragkit index", path);
	}
	rag_free(v);
#define GET(key) do { if ((rc = meta_get(db, path, key, &v, err))) goto out; \
	if (!v) { rc = rag_error_set(err, RAG_EMODEL, "'%s': index lacks meta '%s'", path, key); goto out; } } while (0)
	GET("format");
	x = strtol(v, NULL, 10);
	if (x != RAG_INDEX_FORMAT) {
		rc = rag_error_set(err, RAG_EMODEL, "'%s': index format %s is not supported (this is format %d)",
				   path, v, RAG_INDEX_FORMAT);
		goto out;
	}
	rag_free(v);
	GET("dim");
	m->dim = (uint32_t)strtoul(v, NULL, 10);
	rag_free(v);
	GET("metric");
	if (rag_vec_metric_parse(v, &m->metric)) {
		rc = rag_error_set(err, RAG_EMODEL, "'%s': unknown metric '%s'", path, v);
		goto out;
	}
	rag_free(v);
	GET("storage");
	if (rag_vec_storage_parse(v, &m->storage)) {
		rc = rag_error_set(err, RAG_EMODEL, "'%s': unknown storage '%s'", path, v);
		goto out;
	}
	rag_free(v);
	GET("stem");
	m->an.stem = strcmp(v, "porter") == 0;
	rag_free(v);
	GET("stopwords");
	m->an.stopwords = strcmp(v, "english") == 0;
	rag_free(v);
	GET("vec_gen");
	m->vec_gen = strtoll(v, NULL, 10);
	rag_free(v);
	v = NULL;
	if ((rc = meta_get(db, path, "model", &m->model, err)))
		goto out;
	if ((rc = meta_get(db, path, "ann", &v, err)))
		goto out;
	m->ann = v && strcmp(v, "hnsw") == 0;
	rag_free(v);
	v = NULL;
	m->ann_m = 16;
	m->ann_efc = 200;
	if ((rc = meta_get(db, path, "ann_m", &v, err)))
		goto out;
	if (v)
		m->ann_m = (uint32_t)strtoul(v, NULL, 10);
	rag_free(v);
	v = NULL;
	if ((rc = meta_get(db, path, "ann_efc", &v, err)))
		goto out;
	if (v)
		m->ann_efc = (uint32_t)strtoul(v, NULL, 10);
	rag_free(v);
	v = NULL;
#undef GET
out:
	rag_free(v);
	return rc;
}

/*
 * Open the database.  create: make it when missing.  Checks that an existing
 * file is an SQLite database; the caller then checks the meta table.
 */
static int open_db(const char *path, int create, sqlite3 **out, struct rag_error *err)
{
	struct stat st;
	sqlite3 *db = NULL;
	int rc;

	*out = NULL;
	if (stat(path, &st) < 0) {
		if (errno != ENOENT || !create)
			return rag_error_errno(err, errno == ENOENT ? RAG_ENOINPUT : RAG_EIO, "cannot open '%s'", path);
	} else if (!S_ISREG(st.st_mode)) {
		return rag_error_set(err, RAG_EMODEL, "'%s': not a ragkit index (not a regular file)", path);
	}
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0), NULL);
	if (rc != SQLITE_OK && !create) {
		sqlite3_close(db);
		db = NULL;
		rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	}
	if (rc != SQLITE_OK) {
		rc = sq_fail(db, rc, path, "cannot open", err);
		sqlite3_close(db);
		return rc == RAG_ENOINPUT ? RAG_EIO : rc;
	}
	sqlite3_busy_timeout(db, 60000);
	sqlite3_extended_result_codes(db, 0);
	/* A foreign file shows itself on the first read. */
	rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = sq_fail(db, rc, path, "cannot read", err);
		sqlite3_close(db);
		return rc;
	}
	*out = db;
	return RAG_OK;
}

static const char schema[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE chunks(rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, doc_id TEXT,"
	" hash TEXT NOT NULL, len INTEGER NOT NULL, tlen INTEGER NOT NULL, has_vec INTEGER NOT NULL, has_acl INTEGER NOT NULL,"
	" record TEXT NOT NULL);"
	"CREATE INDEX chunks_doc_id ON chunks(doc_id);"
	"CREATE TABLE terms(tid INTEGER PRIMARY KEY, term TEXT UNIQUE NOT NULL, df INTEGER NOT NULL,"
	" postings BLOB NOT NULL);";

/* ---- file names ----------------------------------------------------------- */

static char *file_name(const char *path, const char *kind, int64_t gen, int tmp)
{
	struct rag_buf b;

	rag_buf_init(&b);
	rag_buf_printf(&b, "%s.%s.%lld%s", path, kind, (long long)gen, tmp ? ".tmp" : "");
	if (rag_buf_failed(&b)) {
		rag_buf_free(&b);
		return NULL;
	}
	return rag_buf_detach(&b, NULL);
}

static char *vec_name(const char *path, int64_t gen, int tmp) { return file_name(path, "vec", gen, tmp); }
static char *ann_name(const char *path, int64_t gen) { return file_name(path, "ann", gen, 0); }

/* fsync the directory holding path, so a rename survives a crash. */
static void sync_dir(const char *path)
{
	char *copy = rag_strdup(path);
	int fd;

	if (!copy)
		return;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	rag_free(copy);
}

/* Remove vector files of generations other than keep (left by killed writers). */
static void remove_stale(const char *path, int64_t keep)
{
	char *copy = rag_strdup(path), *copy2 = rag_strdup(path);
	const char *dir, *base;
	DIR *d;
	struct dirent *e;
	size_t bl;

	if (!copy || !copy2)
		goto out;
	dir = dirname(copy);
	base = basename(copy2);
	bl = strlen(base);
	if (!(d = opendir(dir)))
		goto out;
	while ((e = readdir(d))) {
		char *end;
		long long g;
		if (strncmp(e->d_name, base, bl) != 0 || (strncmp(e->d_name + bl, ".vec.", 5) != 0 &&
							    strncmp(e->d_name + bl, ".ann.", 5) != 0))
			continue;
		g = strtoll(e->d_name + bl + 5, &end, 10);
		/* rag_hnsw_save's own temporaries end in ".tmp.XXXXXX" */
		if (end == e->d_name + bl + 5 || (*end && strncmp(end, ".tmp", 4) != 0))
			continue;
		if (g == keep && !*end)
			continue;
		{
			struct rag_buf b;
			rag_buf_init(&b);
			rag_buf_printf(&b, "%s/%s", dir, e->d_name);
			if (!rag_buf_failed(&b))
				unlink(b.data);
			rag_buf_free(&b);
		}
	}
	closedir(d);
out:
	rag_free(copy);
	rag_free(copy2);
}

/* ---- record helpers --------------------------------------------------------- */

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	size_t i;
	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}


/* ---- term accumulator (writer) ----------------------------------------------- */

struct term_acc {
	char *term;
	uint32_t *docs, *tfs, *ttfs;  /* tfs: in all fields; ttfs: in the title */
	size_t n, cap;
};

struct termmap {
	struct term_acc *t;
	size_t n, cap;
	uint32_t *slots;   /* index + 1, 0 = empty */
	size_t nslots;
};

static void termmap_free(struct termmap *m)
{
	size_t i;
	for (i = 0; i < m->n; i++) {
		rag_free(m->t[i].term);
		rag_free(m->t[i].docs);
		rag_free(m->t[i].tfs);
		rag_free(m->t[i].ttfs);
	}
	rag_free(m->t);
	rag_free(m->slots);
	memset(m, 0, sizeof *m);
}

static int termmap_rehash(struct termmap *m, size_t ns)
{
	uint32_t *s = rag_calloc(ns, sizeof *s);
	size_t i;

	if (!s)
		return -1;
	for (i = 0; i < m->n; i++) {
		size_t h = fnv1a(m->t[i].term, strlen(m->t[i].term)) & (ns - 1);
		while (s[h])
			h = (h + 1) & (ns - 1);
		s[h] = (uint32_t)(i + 1);
	}
	rag_free(m->slots);
	m->slots = s;
	m->nslots = ns;
	return 0;
}

/* The entry for term (created when missing), or NULL when out of memory. */
static struct term_acc *termmap_get(struct termmap *m, const char *term, size_t len)
{
	size_t h;

	if (2 * (m->n + 1) > m->nslots && termmap_rehash(m, m->nslots ? 2 * m->nslots : 1024))
		return NULL;
	h = fnv1a(term, len) & (m->nslots - 1);
	while (m->slots[h]) {
		struct term_acc *t = &m->t[m->slots[h] - 1];
		if (strlen(t->term) == len && memcmp(t->term, term, len) == 0)
			return t;
		h = (h + 1) & (m->nslots - 1);
	}
	if (m->n == m->cap) {
		size_t nc = m->cap ? 2 * m->cap : 1024;
		struct term_acc *nt = rag_reallocarray(m->t, nc, sizeof *nt);
		if (!nt)
			return NULL;
		m->t = nt;
		m->cap = nc;
	}
	memset(&m->t[m->n], 0, sizeof m->t[m->n]);
	if (!(m->t[m->n].term = rag_strndup(term, len)))
		return NULL;
	m->slots[h] = (uint32_t)(m->n + 1);
	return &m->t[m->n++];
}

/* ---- writer ------------------------------------------------------------------ */

struct rag_index_writer {
	sqlite3 *db;
	char *path;
	struct ixmeta m;
	int in_txn, dim_changed;
	int64_t next_key;
	struct termmap terms;
	int64_t *deleted;          /* keys removed in this run */
	size_t n_deleted, cap_deleted;
	int vec_dirty;
	int64_t *vkeys;            /* new vectors */
	float *vdata;
	size_t n_vec, cap_vec;
	sqlite3_stmt *st_find, *st_insert, *st_del;
	struct rag_index_counts counts;
	struct rag_buf text, rec, hash;
	struct rag_arena arena;
	int64_t cur_key;
	uint32_t cur_len, cur_tlen;  /* tokens in all fields, in the title */
	int cur_title;               /* analyzing the title field */
	char *new_vec;             /* the next generation's file, until committed */
	char *new_ann;
	int ann_rebuild;           /* build the graph from all vectors, not the old graph */
};

const struct rag_index_counts *rag_index_writer_counts(const struct rag_index_writer *w)
{
	return &w->counts;
}

static int create_index(struct rag_index_writer *w, const struct rag_index_opts *o, struct rag_error *err)
{
	int rc;
	if ((rc = exec(w->db, schema, w->path, err)) ||
	    (rc = meta_set(w->db, w->path, "magic", RAG_INDEX_MAGIC, err)) ||
	    (rc = meta_set(w->db, w->path, "format", RAG_STR(RAG_INDEX_FORMAT), err)) ||
	    (rc = meta_set(w->db, w->path, "dim", "0", err)) ||
	    (rc = meta_set(w->db, w->path, "metric", rag_vec_metric_name(o->metric), err)) ||
	    (rc = meta_set(w->db, w->path, "storage", rag_vec_storage_name(o->storage), err)) ||
	    (rc = meta_set(w->db, w->path, "stem", o->an.stem ? "porter" : "none", err)) ||
	    (rc = meta_set(w->db, w->path, "stopwords", o->an.stopwords ? "english" : "none", err)) ||
	    (rc = meta_set(w->db, w->path, "vec_gen", "0", err)) ||
	    (o->model && (rc = meta_set(w->db, w->path, "model", o->model, err))))
		return rc;
	return RAG_OK;
}

int rag_index_writer_open(const char *path, const struct rag_index_opts *o,
			  struct rag_index_writer **out, struct rag_error *err)
{
	struct rag_index_writer *w;
	sqlite3_stmt *st;
	int rc, have_meta = 0;
	struct rag_index_opts defaults;

	*out = NULL;
	if (!o) {
		rag_index_opts_init(&defaults);
		o = &defaults;
	}
	w = rag_calloc(1, sizeof *w);
	if (!w || !(w->path = rag_strdup(path))) {
		rag_free(w);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	rag_arena_init(&w->arena);
	if ((rc = open_db(path, 1, &w->db, err)))
		goto fail;
	if ((rc = exec(w->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", path, err)))
		goto fail;
	if ((rc = exec(w->db, "BEGIN IMMEDIATE", path, err)))
		goto fail;
	w->in_txn = 1;
	if ((rc = prep(w->db, "SELECT count(*) FROM sqlite_master WHERE name = 'meta'", &st, path, err)))
		goto fail;
	if (sqlite3_step(st) == SQLITE_ROW)
		have_meta = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (!have_meta) {
		if ((rc = prep(w->db, "SELECT count(*) FROM sqlite_master", &st, path, err)))
			goto fail;
		rc = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 1;
		sqlite3_finalize(st);
		if (rc) {
			rc = rag_error_set(err, RAG_EMODEL, "'%s': not a ragkit index (a different SQLite database)", path);
			goto fail;
		}
		if ((rc = create_index(w, o, err)))
			goto fail;
	}
	if ((rc = load_meta(w->db, path, &w->m, err)))
		goto fail;
	if (o->metric_set && o->metric != w->m.metric) {
		rc = rag_error_set(err, RAG_EDATA, "'%s': the index uses metric %s, not %s", path,
				   rag_vec_metric_name(w->m.metric), rag_vec_metric_name(o->metric));
		goto fail;
	}
	if (o->storage_set && o->storage != w->m.storage) {
		rc = rag_error_set(err, RAG_EDATA, "'%s': the index stores %s vectors, not %s", path,
				   rag_vec_storage_name(w->m.storage), rag_vec_storage_name(o->storage));
		goto fail;
	}
	if (o->an_set && (o->an.stem != w->m.an.stem || o->an.stopwords != w->m.an.stopwords)) {
		rc = rag_error_set(err, RAG_EDATA, "'%s': the index's analyzer is stem=%s stopwords=%s; it cannot change",
				   path, w->m.an.stem ? "porter" : "none", w->m.an.stopwords ? "english" : "none");
		goto fail;
	}
	if (o->model) {
		if (!w->m.model) {
			if ((rc = meta_set(w->db, path, "model", o->model, err)))
				goto fail;
			w->m.model = rag_strdup(o->model);
		} else if (strcmp(o->model, w->m.model) != 0) {
			rc = rag_error_set(err, RAG_EDATA, "'%s': the index holds embeddings of model '%s', not '%s'",
					   path, w->m.model, o->model);
			goto fail;
		}
	}
	if (o->ann && !w->m.ann) {
		char b[32];
		snprintf(b, sizeof b, "%u", o->ann_m);
		if ((rc = meta_set(w->db, path, "ann", "hnsw", err)) || (rc = meta_set(w->db, path, "ann_m", b, err)))
			goto fail;
		snprintf(b, sizeof b, "%u", o->ann_ef_construction);
		if ((rc = meta_set(w->db, path, "ann_efc", b, err)))
			goto fail;
		w->m.ann = 1;
		w->m.ann_m = o->ann_m;
		w->m.ann_efc = o->ann_ef_construction;
		w->ann_rebuild = 1;
		w->vec_dirty = 1;
	}
	remove_stale(path, w->m.vec_gen);
	if ((rc = prep(w->db, "SELECT coalesce(max(rowid), 0) + 1 FROM chunks", &st, path, err)))
		goto fail;
	w->next_key = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 1;
	sqlite3_finalize(st);
	if ((rc = prep(w->db, "SELECT rowid, hash, has_vec, record FROM chunks WHERE id = ?", &w->st_find, path, err)) ||
	    (rc = prep(w->db, "INSERT INTO chunks(rowid, id, doc_id, hash, len, tlen, has_vec, has_acl, record) VALUES (?,?,?,?,?,?,?,?,?)",
		       &w->st_insert, path, err)) ||
	    (rc = prep(w->db, "DELETE FROM chunks WHERE rowid = ?", &w->st_del, path, err)))
		goto fail;
	*out = w;
	return RAG_OK;
fail:
	rag_index_writer_free(w);
	return rc;
}

static int add_token(void *ctx, const char *tok, size_t n)
{
	struct rag_index_writer *w = ctx;
	struct term_acc *t = termmap_get(&w->terms, tok, n);

	if (!t)
		return RAG_EINTERNAL;
	w->cur_len++;
	w->cur_tlen += w->cur_title;
	if (w->cur_key < 0)
		return 0;  /* only marking terms of a removed chunk */
	if (t->n && t->docs[t->n - 1] == (uint32_t)w->cur_key) {
		t->tfs[t->n - 1]++;
		t->ttfs[t->n - 1] += (uint32_t)w->cur_title;
		return 0;
	}
	if (t->n == t->cap) {
		size_t nc = t->cap ? 2 * t->cap : 4;
		uint32_t *d = rag_reallocarray(t->docs, nc, 4), *f;
		if (!d)
			return RAG_EINTERNAL;
		t->docs = d;
		if (!(f = rag_reallocarray(t->tfs, nc, 4)))
			return RAG_EINTERNAL;
		t->tfs = f;
		if (!(f = rag_reallocarray(t->ttfs, nc, 4)))
			return RAG_EINTERNAL;
		t->ttfs = f;
		t->cap = nc;
	}
	t->docs[t->n] = (uint32_t)w->cur_key;
	t->tfs[t->n] = 1;
	t->ttfs[t->n] = (uint32_t)w->cur_title;
	t->n++;
	return 0;
}

/* Analyze a record's BM25 fields, title then text, into the writer's postings
 * for key (key < 0: only mark the terms, for a removed chunk). */
static int analyze_record(struct rag_index_writer *w, const struct rag_json *rec, int64_t key)
{
	const char *s;
	size_t n;

	w->cur_key = key;
	w->cur_len = 0;
	w->cur_tlen = 0;
	w->cur_title = 1;
	if ((s = rag_json_get_str(rec, "title", &n)) && rag_analyze(&w->m.an, s, n, add_token, w))
		return RAG_EINTERNAL;
	w->cur_title = 0;
	if ((s = rag_json_get_str(rec, "text", &n)) && rag_analyze(&w->m.an, s, n, add_token, w))
		return RAG_EINTERNAL;
	return RAG_OK;
}

/* Remove a stored chunk: note its key and terms (postings fixed at commit), delete the row. */
static int remove_key(struct rag_index_writer *w, int64_t key, int has_vec, const char *record, size_t rlen,
		      struct rag_error *err)
{
	struct rag_json *rec;
	int rc;

	rag_arena_reset(&w->arena);
	if (rag_json_parse(&w->arena, record, rlen, &rec, NULL) == RAG_OK && rec->type == RAG_JSON_OBJECT) {
		if (analyze_record(w, rec, -1))
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	if (w->n_deleted == w->cap_deleted) {
		size_t nc = w->cap_deleted ? 2 * w->cap_deleted : 256;
		int64_t *d = rag_reallocarray(w->deleted, nc, sizeof *d);
		if (!d)
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		w->deleted = d;
		w->cap_deleted = nc;
	}
	w->deleted[w->n_deleted++] = key;
	if (has_vec)
		w->vec_dirty = 1;
	sqlite3_reset(w->st_del);
	sqlite3_bind_int64(w->st_del, 1, key);
	rc = sqlite3_step(w->st_del);
	sqlite3_reset(w->st_del);
	return rc == SQLITE_DONE ? RAG_OK : sq_fail(w->db, rc, w->path, "deleting", err);
}

static int parse_embedding(const struct rag_json *e, float **out, uint32_t *dim, struct rag_error *err)
{
	size_t i;
	float *v;

	if (e->type != RAG_JSON_ARRAY || e->u.arr.n == 0 || e->u.arr.n > 65536)
		return rag_error_set(err, RAG_EDATA, "'embedding' must be a non-empty array of numbers");
	v = rag_malloc(e->u.arr.n * sizeof *v);
	if (!v)
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	for (i = 0; i < e->u.arr.n; i++) {
		if (e->u.arr.items[i].type != RAG_JSON_NUMBER || !isfinite(e->u.arr.items[i].u.num)) {
			rag_free(v);
			return rag_error_set(err, RAG_EDATA, "'embedding' must be a non-empty array of finite numbers");
		}
		v[i] = (float)e->u.arr.items[i].u.num;
	}
	*out = v;
	*dim = (uint32_t)e->u.arr.n;
	return RAG_OK;
}

int rag_index_writer_upsert(struct rag_index_writer *w, const struct rag_json *rec,
			    const float *vec, uint32_t vec_dim, struct rag_error *err)
{
	static const char *const drop[] = { "embedding", NULL };
	const char *id, *doc_id, *hash, *model;
	size_t id_len, doc_len = 0, hash_len;
	float *own = NULL;
	struct rag_objw ow;
	int rc, replacing = 0;
	const struct rag_json *e, *acl;

	if (rec->type != RAG_JSON_OBJECT)
		return rag_error_set(err, RAG_EDATA, "a chunk record must be a JSON object");
	if (!(id = rag_json_get_str(rec, "id", &id_len)) || id_len == 0)
		return rag_error_set(err, RAG_EDATA, "missing string field 'id'");
	doc_id = rag_json_get_str(rec, "doc_id", &doc_len);
	if (rag_json_get(rec, "doc_id") && !doc_id)
		return rag_error_set(err, RAG_EDATA, "'doc_id' must be a string");
	if ((acl = rag_json_get(rec, "acl"))) {
		size_t i;
		if (acl->type != RAG_JSON_ARRAY)
			return rag_error_set(err, RAG_EDATA, "'acl' must be an array of strings");
		for (i = 0; i < acl->u.arr.n; i++)
			if (acl->u.arr.items[i].type != RAG_JSON_STRING)
				return rag_error_set(err, RAG_EDATA, "'acl' must be an array of strings");
	}
	if ((e = rag_json_get(rec, "meta")) && e->type != RAG_JSON_OBJECT)
		return rag_error_set(err, RAG_EDATA, "'meta' must be an object");
	if ((model = rag_json_get_str(rec, "model", NULL)) && w->m.model && strcmp(model, w->m.model) != 0)
		return rag_error_set(err, RAG_EDATA, "embedding of model '%s'; the index holds model '%s'",
				     model, w->m.model);
	if (!vec && (e = rag_json_get(rec, "embedding"))) {
		if ((rc = parse_embedding(e, &own, &vec_dim, err)))
			return rc;
		vec = own;
	}
	if (vec) {
		if (w->m.dim == 0) {
			w->m.dim = vec_dim;
			w->dim_changed = 1;
		} else if (vec_dim != w->m.dim) {
			rag_free(own);
			return rag_error_set(err, RAG_EDATA, "embedding has %u dimensions; the index has %u",
					     vec_dim, w->m.dim);
		}
	}
	/* the stored record and its hash */
	rag_buf_reset(&w->rec);
	rag_objw_begin(&ow, &w->rec);
	rag_objw_copy(&ow, rec, drop);
	rag_objw_end(&ow);
	rag_buf_reset(&w->hash);
	if ((hash = rag_json_get_str(rec, "hash", &hash_len)))
		rag_buf_add(&w->hash, hash, hash_len);
	else
		rag_buf_printf(&w->hash, "%016llx", (unsigned long long)fnv1a(w->rec.data, w->rec.len));
	rag_buf_addc(&w->hash, 0);
	if (rag_buf_failed(&w->rec) || rag_buf_failed(&w->hash)) {
		rag_free(own);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	/* unchanged? */
	sqlite3_reset(w->st_find);
	sqlite3_bind_text(w->st_find, 1, id, (int)id_len, SQLITE_TRANSIENT);
	rc = sqlite3_step(w->st_find);
	if (rc == SQLITE_ROW) {
		const char *old = (const char *)sqlite3_column_text(w->st_find, 1);
		if (old && strcmp(old, w->hash.data) == 0 && (!vec == !sqlite3_column_int(w->st_find, 2))) {
			sqlite3_reset(w->st_find);
			rag_free(own);
			w->counts.unchanged++;
			return RAG_OK;
		}
		{
			int64_t key = sqlite3_column_int64(w->st_find, 0);
			int hv = sqlite3_column_int(w->st_find, 2);
			size_t rl = (size_t)sqlite3_column_bytes(w->st_find, 3);
			char *r = rag_strndup((const char *)sqlite3_column_text(w->st_find, 3), rl);
			sqlite3_reset(w->st_find);
			if (!r) {
				rag_free(own);
				return rag_error_set(err, RAG_EINTERNAL, "out of memory");
			}
			rc = remove_key(w, key, hv, r, rl, err);
			rag_free(r);
			if (rc) {
				rag_free(own);
				return rc;
			}
		}
		replacing = 1;
	} else if (rc != SQLITE_DONE) {
		sqlite3_reset(w->st_find);
		rag_free(own);
		return sq_fail(w->db, rc, w->path, "looking up a chunk", err);
	}
	sqlite3_reset(w->st_find);
	/* postings of the new text */
	if (analyze_record(w, rec, w->next_key)) {
		rag_free(own);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	if (vec) {
		if (w->n_vec == w->cap_vec) {
			size_t nc = w->cap_vec ? 2 * w->cap_vec : 256;
			int64_t *k = rag_reallocarray(w->vkeys, nc, sizeof *k);
			float *d;
			if (k)
				w->vkeys = k;
			d = k ? rag_reallocarray(w->vdata, nc, (size_t)w->m.dim * sizeof *d) : NULL;
			if (!d) {
				rag_free(own);
				return rag_error_set(err, RAG_EINTERNAL, "out of memory");
			}
			w->vdata = d;
			w->cap_vec = nc;
		}
		w->vkeys[w->n_vec] = w->next_key;
		memcpy(w->vdata + w->n_vec * w->m.dim, vec, (size_t)w->m.dim * sizeof *vec);
		w->n_vec++;
		w->vec_dirty = 1;
	}
	rag_free(own);
	sqlite3_reset(w->st_insert);
	sqlite3_bind_int64(w->st_insert, 1, w->next_key);
	sqlite3_bind_text(w->st_insert, 2, id, (int)id_len, SQLITE_TRANSIENT);
	if (doc_id)
		sqlite3_bind_text(w->st_insert, 3, doc_id, (int)doc_len, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(w->st_insert, 3);
	sqlite3_bind_text(w->st_insert, 4, w->hash.data, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(w->st_insert, 5, w->cur_len);
	sqlite3_bind_int64(w->st_insert, 6, w->cur_tlen);
	sqlite3_bind_int(w->st_insert, 7, vec != NULL);
	sqlite3_bind_int(w->st_insert, 8, acl != NULL);
	sqlite3_bind_text(w->st_insert, 9, w->rec.data, (int)w->rec.len, SQLITE_TRANSIENT);
	rc = sqlite3_step(w->st_insert);
	sqlite3_reset(w->st_insert);
	if (rc != SQLITE_DONE)
		return sq_fail(w->db, rc, w->path, "inserting a chunk", err);
	w->next_key++;
	if (replacing)
		w->counts.updated++;
	else
		w->counts.added++;
	return RAG_OK;
}

static int delete_where(struct rag_index_writer *w, const char *sql, const char *val, struct rag_error *err)
{
	sqlite3_stmt *st;
	int64_t *keys = NULL;
	int *hv = NULL;
	char **recs = NULL;
	size_t *lens = NULL, n = 0, cap = 0, i;
	int rc;

	if ((rc = prep(w->db, sql, &st, w->path, err)))
		return rc;
	sqlite3_bind_text(st, 1, val, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 16;
			int64_t *k = rag_reallocarray(keys, nc, sizeof *k);
			int *h = k ? rag_reallocarray(hv, nc, sizeof *h) : NULL;
			char **r = h ? rag_reallocarray(recs, nc, sizeof *r) : NULL;
			size_t *l = r ? rag_reallocarray(lens, nc, sizeof *l) : NULL;
			if (k) keys = k;
			if (h) hv = h;
			if (r) recs = r;
			if (l) lens = l;
			if (!l) {
				rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
				goto out;
			}
			cap = nc;
		}
		keys[n] = sqlite3_column_int64(st, 0);
		hv[n] = sqlite3_column_int(st, 1);
		lens[n] = (size_t)sqlite3_column_bytes(st, 2);
		recs[n] = rag_strndup((const char *)sqlite3_column_text(st, 2), lens[n]);
		if (!recs[n]) {
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			goto out;
		}
		n++;
	}
	if (rc != SQLITE_DONE) {
		rc = sq_fail(w->db, rc, w->path, "finding chunks", err);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	rc = RAG_OK;
	for (i = 0; i < n && !rc; i++) {
		rc = remove_key(w, keys[i], hv[i], recs[i], lens[i], err);
		if (!rc)
			w->counts.deleted++;
	}
out:
	sqlite3_finalize(st);
	for (i = 0; i < n; i++)
		rag_free(recs[i]);
	rag_free(recs);
	rag_free(keys);
	rag_free(hv);
	rag_free(lens);
	return rc;
}

int rag_index_writer_delete_id(struct rag_index_writer *w, const char *id, struct rag_error *err)
{
	return delete_where(w, "SELECT rowid, has_vec, record FROM chunks WHERE id = ?", id, err);
}

int rag_index_writer_delete_doc(struct rag_index_writer *w, const char *doc_id, struct rag_error *err)
{
	return delete_where(w, "SELECT rowid, has_vec, record FROM chunks WHERE doc_id = ?", doc_id, err);
}

static void json_str_array(struct rag_buf *b, const char *const *v, size_t n)
{
	rag_buf_addc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			rag_buf_addc(b, ',');
		rag_json_write_str(b, v[i], strlen(v[i]));
	}
	rag_buf_addc(b, ']');
}

int rag_index_writer_delete_docs_except(struct rag_index_writer *w, const char *const *doc_ids, size_t n_docs,
					const char *const *keep_ids, size_t n_keep, struct rag_error *err)
{
	struct rag_buf b;
	int rc;

	if (!n_docs)
		return RAG_OK;
	rag_buf_init(&b);
	rag_buf_adds(&b, "{\"d\":");
	json_str_array(&b, doc_ids, n_docs);
	rag_buf_adds(&b, ",\"k\":");
	json_str_array(&b, keep_ids, n_keep);
	rag_buf_addc(&b, '}');
	if (rag_buf_failed(&b)) {
		rag_buf_free(&b);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	rc = delete_where(w, "SELECT rowid, has_vec, record FROM chunks"
			     " WHERE doc_id IN (SELECT value FROM json_each(?1, '$.d'))"
			     " AND id NOT IN (SELECT value FROM json_each(?1, '$.k'))", b.data, err);
	rag_buf_free(&b);
	return rc;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int is_deleted(const struct rag_index_writer *w, int64_t key)
{
	return w->n_deleted && bsearch(&key, w->deleted, w->n_deleted, sizeof key, cmp_i64) != NULL;
}

/* A stored posting: little-endian uint32 rowid, tf (all fields), tf in the title. */
#define POSTING_BYTES 12

/* Merge each touched term's stored postings with this run's changes. */
static int write_postings(struct rag_index_writer *w, struct rag_error *err)
{
	sqlite3_stmt *get = NULL, *upd = NULL, *ins = NULL, *del = NULL;
	unsigned char *blob = NULL;
	size_t cap = 0, i;
	int rc;

	if ((rc = prep(w->db, "SELECT tid, postings FROM terms WHERE term = ?", &get, w->path, err)) ||
	    (rc = prep(w->db, "UPDATE terms SET df = ?, postings = ? WHERE tid = ?", &upd, w->path, err)) ||
	    (rc = prep(w->db, "INSERT INTO terms(term, df, postings) VALUES (?, ?, ?)", &ins, w->path, err)) ||
	    (rc = prep(w->db, "DELETE FROM terms WHERE tid = ?", &del, w->path, err)))
		goto out;
	for (i = 0; i < w->terms.n; i++) {
		const struct term_acc *t = &w->terms.t[i];
		const unsigned char *old = NULL;
		size_t nold = 0, n = 0, j, need;
		int64_t tid = -1;

		sqlite3_reset(get);
		sqlite3_bind_text(get, 1, t->term, -1, SQLITE_STATIC);
		rc = sqlite3_step(get);
		if (rc == SQLITE_ROW) {
			tid = sqlite3_column_int64(get, 0);
			old = sqlite3_column_blob(get, 1);
			nold = (size_t)sqlite3_column_bytes(get, 1) / POSTING_BYTES;
		} else if (rc != SQLITE_DONE) {
			rc = sq_fail(w->db, rc, w->path, "reading postings", err);
			goto out;
		}
		need = POSTING_BYTES * (nold + t->n);
		if (need > cap) {
			unsigned char *nb = rag_realloc(blob, need);
			if (!nb) {
				rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
				goto out;
			}
			blob = nb;
			cap = need;
		}
		for (j = 0; j < nold; j++) {
			uint32_t d;
			memcpy(&d, old + POSTING_BYTES * j, 4);
			if (is_deleted(w, d))
				continue;
			memcpy(blob + POSTING_BYTES * n, old + POSTING_BYTES * j, POSTING_BYTES);
			n++;
		}
		for (j = 0; j < t->n; j++) {
			if (is_deleted(w, t->docs[j]))
				continue;  /* a chunk added and replaced again in this run */
			memcpy(blob + POSTING_BYTES * n, &t->docs[j], 4);
			memcpy(blob + POSTING_BYTES * n + 4, &t->tfs[j], 4);
			memcpy(blob + POSTING_BYTES * n + 8, &t->ttfs[j], 4);
			n++;
		}
		sqlite3_reset(get);
		if (n == 0) {
			if (tid < 0)
				continue;
			sqlite3_reset(del);
			sqlite3_bind_int64(del, 1, tid);
			rc = sqlite3_step(del);
		} else if (tid >= 0) {
			sqlite3_reset(upd);
			sqlite3_bind_int64(upd, 1, (sqlite3_int64)n);
			sqlite3_bind_blob(upd, 2, blob, (int)(POSTING_BYTES * n), SQLITE_STATIC);
			sqlite3_bind_int64(upd, 3, tid);
			rc = sqlite3_step(upd);
		} else {
			sqlite3_reset(ins);
			sqlite3_bind_text(ins, 1, t->term, -1, SQLITE_STATIC);
			sqlite3_bind_int64(ins, 2, (sqlite3_int64)n);
			sqlite3_bind_blob(ins, 3, blob, (int)(POSTING_BYTES * n), SQLITE_STATIC);
			rc = sqlite3_step(ins);
		}
		if (rc != SQLITE_DONE) {
			rc = sq_fail(w->db, rc, w->path, "writing postings", err);
			goto out;
		}
	}
	rc = RAG_OK;
out:
	sqlite3_finalize(get);
	sqlite3_finalize(upd);
	sqlite3_finalize(ins);
	sqlite3_finalize(del);
	rag_free(blob);
	return rc;
}

/*
 * The HNSW graph of generation vec_gen + 1: the old graph with this run's
 * deletions and additions, or (no old graph, or a rebuild) a new graph of
 * every row of the new vector file.
 */
static int write_ann(struct rag_index_writer *w, struct rag_error *err)
{
	struct rag_hnsw *h = NULL;
	struct rag_vecfile *v = NULL;
	char *name = NULL;
	float *rows = NULL;
	int64_t *labels = NULL;
	size_t i;
	int rc = RAG_ENOINPUT;

	if (w->m.vec_gen > 0 && !w->ann_rebuild) {
		if (!(name = ann_name(w->path, w->m.vec_gen)))
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		rc = rag_hnsw_load(name, RAG_HNSW_LOAD_NOVERIFY, &h, err);
		rag_free(name);
		name = NULL;
		if (rc && rc != RAG_ENOINPUT)
			return rc;
	}
	if (rc == RAG_OK) {
		/* add first: a chunk added and replaced again in this run is then deleted too */
		if (w->n_vec && (rc = rag_hnsw_add_batch(h, w->n_vec, w->vkeys, w->vdata, 0, err)))
			goto out;
		for (i = 0; i < w->n_deleted; i++)
			if ((rc = rag_hnsw_delete(h, w->deleted[i], NULL, err)))
				goto out;
	} else {
		struct rag_hnsw_params p;
		rag_hnsw_params_init(&p, w->m.dim);
		p.metric = (enum rag_hnsw_metric)w->m.metric;
		p.storage = (enum rag_hnsw_storage)w->m.storage;
		p.M = w->m.ann_m;
		p.ef_construction = w->m.ann_efc;
		if ((rc = rag_hnsw_new(&p, &h, err)) || (rc = rag_vecfile_open(w->new_vec, &v, err)))
			goto out;
		if (v->n) {
			rows = rag_malloc((size_t)v->n * w->m.dim * sizeof *rows);
			labels = rag_malloc((size_t)v->n * sizeof *labels);
			if (!rows || !labels) {
				rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
				goto out;
			}
			for (i = 0; i < v->n; i++) {
				rag_vecfile_row(v, i, rows + i * w->m.dim);
				labels[i] = v->ids[i];
			}
			if ((rc = rag_hnsw_add_batch(h, (size_t)v->n, labels, rows, 0, err)))
				goto out;
		}
	}
	if (!(name = ann_name(w->path, w->m.vec_gen + 1))) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
	if ((rc = rag_hnsw_save(h, name, err)))
		goto out;
	w->new_ann = name;
	name = NULL;
out:
	rag_free(name);
	rag_free(rows);
	rag_free(labels);
	rag_vecfile_close(v);
	rag_hnsw_free(h);
	return rc;
}

/* Write generation vec_gen + 1: the old rows still alive, then the new ones. */
static int write_vectors(struct rag_index_writer *w, struct rag_error *err)
{
	struct rag_vecfile *old = NULL;
	struct rag_vecw *vw = NULL;
	char *oldname = NULL, *tmp = NULL, *fin = NULL, gen[32];
	size_t rb = rag_vec_row_bytes(w->m.storage, w->m.dim);
	uint64_t i;
	int rc;

	if (w->m.vec_gen > 0) {
		if (!(oldname = vec_name(w->path, w->m.vec_gen, 0)))
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		rc = rag_vecfile_open(oldname, &old, err);
		rag_free(oldname);
		if (rc)
			return rc == RAG_ENOINPUT ? RAG_EMODEL : rc;
		if (old->dim != w->m.dim || (int)old->storage != w->m.storage || (int)old->metric != w->m.metric) {
			rag_vecfile_close(old);
			return rag_error_set(err, RAG_EMODEL, "'%s': vector file does not match the database", w->path);
		}
	}
	tmp = vec_name(w->path, w->m.vec_gen + 1, 1);
	fin = vec_name(w->path, w->m.vec_gen + 1, 0);
	if (!tmp || !fin) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
	if ((rc = rag_vecw_begin(tmp, w->m.storage, w->m.metric, w->m.dim, 0, &vw, err)))
		goto out;
	for (i = 0; old && i < old->n; i++) {
		if (is_deleted(w, old->ids[i]))
			continue;
		if ((rc = rag_vecw_add_raw(vw, old->ids[i], (const unsigned char *)old->data + i * rb,
					   old->scales ? old->scales[i] : 0, err)))
			goto out;
	}
	for (i = 0; i < w->n_vec; i++)
		if (!is_deleted(w, w->vkeys[i]) && (rc = rag_vecw_add(vw, w->vkeys[i], w->vdata + i * w->m.dim, err)))
			goto out;
	rc = rag_vecw_finish(vw, err);
	vw = NULL;
	if (rc)
		goto out;
	if (rename(tmp, fin) < 0) {
		rc = rag_error_errno(err, RAG_EIO, "cannot rename '%s'", tmp);
		unlink(tmp);
		goto out;
	}
	sync_dir(fin);
	w->new_vec = fin;
	fin = NULL;
	if (w->m.ann && (rc = write_ann(w, err)))
		goto out;
	snprintf(gen, sizeof gen, "%lld", (long long)(w->m.vec_gen + 1));
	rc = meta_set(w->db, w->path, "vec_gen", gen, err);
out:
	rag_vecw_abort(vw);
	rag_vecfile_close(old);
	rag_free(tmp);
	rag_free(fin);
	return rc;
}

int rag_index_writer_commit(struct rag_index_writer *w, struct rag_error *err)
{
	int rc;

	if (!w->in_txn)
		return rag_error_set(err, RAG_EINTERNAL, "index writer: nothing to commit");
	if (w->n_deleted)
		qsort(w->deleted, w->n_deleted, sizeof *w->deleted, cmp_i64);
	if ((rc = write_postings(w, err)))
		return rc;
	if (w->dim_changed) {
		char d[32];
		snprintf(d, sizeof d, "%u", w->m.dim);
		if ((rc = meta_set(w->db, w->path, "dim", d, err)))
			return rc;
	}
	if (w->vec_dirty && w->m.dim > 0 && (rc = write_vectors(w, err)))
		return rc;
	rc = sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sq_fail(w->db, rc, w->path, "commit", err);
	w->in_txn = 0;
	if (w->new_vec) {
		/* committed: the old generation is no longer named by the database */
		w->m.vec_gen++;
		rag_free(w->new_vec);
		w->new_vec = NULL;
		rag_free(w->new_ann);
		w->new_ann = NULL;
		remove_stale(w->path, w->m.vec_gen);
	}
	sqlite3_exec(w->db, "PRAGMA wal_checkpoint(PASSIVE)", NULL, NULL, NULL);
	return RAG_OK;
}

void rag_index_writer_free(struct rag_index_writer *w)
{
	if (!w)
		return;
	sqlite3_finalize(w->st_find);
	sqlite3_finalize(w->st_insert);
	sqlite3_finalize(w->st_del);
	if (w->in_txn && w->db)
		sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
	if (w->new_vec) {
		unlink(w->new_vec);
		rag_free(w->new_vec);
	}
	if (w->new_ann) {
		unlink(w->new_ann);
		rag_free(w->new_ann);
	}
	sqlite3_close(w->db);
	ixmeta_release(&w->m);
	termmap_free(&w->terms);
	rag_free(w->deleted);
	rag_free(w->vkeys);
	rag_free(w->vdata);
	rag_buf_free(&w->text);
	rag_buf_free(&w->rec);
	rag_buf_free(&w->hash);
	rag_arena_free(&w->arena);
	rag_free(w->path);
	rag_free(w);
}

/* ---- reader ------------------------------------------------------------------ */

struct plist {
	char *term;
	uint32_t *docs, *tfs, *ttfs;  /* rowids; tf in all fields; tf in the title */
	float *imp;         /* each posting's impact for the reader's current parameters */
	size_t n;
	uint64_t imp_gen;   /* the parameter generation imp belongs to (0: none) */
	float max_imp;
};

struct rag_index {
	sqlite3 *db;
	char *path;
	struct ixmeta m;
	uint64_t n_chunks, n_acl;  /* chunks, and those with an acl */
	int64_t max_key;           /* exclusive */
	uint32_t *doclen, *tlen, *xlen;  /* by key: tokens in all fields, the title, the text */
	double avgdl;
	float *a_title, *a_text;   /* BM25F per-document field factors for bm25_p */
	struct rag_bm25_params bm25_p;
	uint64_t bm25_gen;         /* bumped when bm25_p changes (0: factors not computed) */
	struct rag_vecfile *vf;
	struct rag_hnsw *ann;
	struct rag_gpu_dense *gpu;  /* exact dense search on the GPU (search_cuda.c) */
	int gpu_off;                /* the GPU path failed once: CPU from then on */
	enum rag_device device;     /* where exact dense searches may run (RAG_DEVICE at open) */
	int dense_ran;              /* an exact dense search ran: dense_where says where */
	char dense_where[1280];     /* "the GPU (NAME)", "the CPU: why", a GPU failure's message */
	sqlite3_stmt *st_term, *st_chunk, *st_key, *st_id;
	/* filter/ACL cache */
	int meta_loaded;
	struct rag_arena arena;
	const struct rag_json **meta, **acl;
	/* chunk ids by key, loaded at once after many single lookups (rag_index_chunk_id) */
	size_t id_lookups;
	size_t *id_off;             /* max_key + 1 offsets into id_blob; (size_t)-1: no chunk */
	char *id_blob;
	/* postings cache */
	struct plist *cache;
	size_t n_cache, cap_cache;
	uint32_t *cslots;
	size_t n_cslots;
};

uint32_t rag_index_dim(const struct rag_index *ix) { return ix->m.dim; }
int rag_index_metric(const struct rag_index *ix) { return ix->m.metric; }
uint64_t rag_index_size(const struct rag_index *ix) { return ix->n_chunks; }
int64_t rag_index_max_key(const struct rag_index *ix) { return ix->max_key; }

static int reader_load(struct rag_index *ix, struct rag_error *err)
{
	sqlite3_stmt *st;
	char *vn;
	uint64_t total = 0;
	int rc;

	if ((rc = load_meta(ix->db, ix->path, &ix->m, err)))
		return rc;
	if ((rc = prep(ix->db, "SELECT coalesce(max(rowid), 0) + 1, count(*) FROM chunks", &st, ix->path, err)))
		return rc;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		rc = sq_fail(ix->db, rc, ix->path, "reading chunks", err);
		sqlite3_finalize(st);
		return rc;
	}
	ix->max_key = sqlite3_column_int64(st, 0);
	ix->n_chunks = (uint64_t)sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	rag_free(ix->doclen);
	rag_free(ix->tlen);
	rag_free(ix->xlen);
	ix->tlen = rag_calloc((size_t)ix->max_key, sizeof *ix->tlen);
	ix->xlen = rag_calloc((size_t)ix->max_key, sizeof *ix->xlen);
	if (!(ix->doclen = rag_calloc((size_t)ix->max_key, sizeof *ix->doclen)) || !ix->tlen || !ix->xlen)
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	if ((rc = prep(ix->db, "SELECT rowid, len, tlen, has_acl FROM chunks", &st, ix->path, err)))
		return rc;
	ix->n_acl = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t k = sqlite3_column_int64(st, 0);
		uint32_t l = (uint32_t)sqlite3_column_int64(st, 1);
		uint32_t tl = (uint32_t)sqlite3_column_int64(st, 2);
		ix->n_acl += sqlite3_column_int(st, 3) != 0;
		if (tl > l)
			tl = l;
		if (k >= 0 && k < ix->max_key) {
			ix->doclen[k] = l;
			ix->tlen[k] = tl;
			ix->xlen[k] = l - tl;
		}
		total += l;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sq_fail(ix->db, rc, ix->path, "reading chunks", err);
	ix->avgdl = ix->n_chunks ? (double)total / (double)ix->n_chunks : 1.0;
	if (ix->m.vec_gen > 0) {
		if (!(vn = vec_name(ix->path, ix->m.vec_gen, 0)))
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		rc = rag_vecfile_open(vn, &ix->vf, err);
		rag_free(vn);
		if (rc)
			return rc;
		if (ix->vf->dim != ix->m.dim || (int)ix->vf->storage != ix->m.storage ||
		    (int)ix->vf->metric != ix->m.metric)
			return rag_error_set(err, RAG_EMODEL, "'%s': vector file does not match the database", ix->path);
		if (ix->m.ann) {
			struct rag_hnsw_stats hs;
			if (!(vn = ann_name(ix->path, ix->m.vec_gen)))
				return rag_error_set(err, RAG_EINTERNAL, "out of memory");
			rc = rag_hnsw_load(vn, 0, &ix->ann, err);
			rag_free(vn);
			if (rc)
				return rc;
			rag_hnsw_stats(ix->ann, &hs);
			if (hs.dim != ix->m.dim || hs.live != ix->vf->n)
				return rag_error_set(err, RAG_EMODEL, "'%s': ANN file does not match the vector file", ix->path);
		}
	}
	return RAG_OK;
}

int rag_index_open(const char *path, struct rag_index **out, struct rag_error *err)
{
	struct rag_index *ix;
	int rc, tries;

	*out = NULL;
	ix = rag_calloc(1, sizeof *ix);
	if (!ix || !(ix->path = rag_strdup(path))) {
		rag_free(ix);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	rag_arena_init(&ix->arena);
	ix->device = rag_device_env();
	if ((rc = open_db(path, 0, &ix->db, err)))
		goto fail;
	/* read pages through a mapping rather than read(2) copies */
	sqlite3_exec(ix->db, "PRAGMA mmap_size=2147418112", NULL, NULL, NULL);
	/* A writer may switch generations between our reading vec_gen and opening
	 * the file; then the file is gone and a fresh snapshot names the new one. */
	for (tries = 0; tries < 50; tries++) {
		if ((rc = exec(ix->db, "BEGIN", path, err)))
			goto fail;
		rc = reader_load(ix, err);
		if (rc != RAG_ENOINPUT)
			break;
		sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
		ixmeta_release(&ix->m);
		rag_vecfile_close(ix->vf);
		ix->vf = NULL;
		rag_hnsw_free(ix->ann);
		ix->ann = NULL;
		usleep(10000);
	}
	if (rc == RAG_ENOINPUT)
		rc = rag_error_set(err, RAG_EMODEL, "'%s': its vector file is missing", path);
	if (rc)
		goto fail;
	if ((rc = prep(ix->db, "SELECT df, postings FROM terms WHERE term = ?", &ix->st_term, path, err)) ||
	    (rc = prep(ix->db, "SELECT id, doc_id, record FROM chunks WHERE rowid = ?", &ix->st_chunk, path, err)))
		goto fail;
	*out = ix;
	return RAG_OK;
fail:
	rag_index_close(ix);
	return rc;
}

void rag_index_close(struct rag_index *ix)
{
	size_t i;

	if (!ix)
		return;
	sqlite3_finalize(ix->st_term);
	sqlite3_finalize(ix->st_chunk);
	sqlite3_finalize(ix->st_key);
	sqlite3_finalize(ix->st_id);
	if (ix->db) {
		sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(ix->db);
	}
	ixmeta_release(&ix->m);
	rag_vecfile_close(ix->vf);
	rag_gpu_dense_free(ix->gpu);
	rag_hnsw_free(ix->ann);
	rag_free(ix->doclen);
	rag_free(ix->tlen);
	rag_free(ix->xlen);
	rag_free(ix->a_title);
	rag_free(ix->a_text);
	rag_free(ix->id_off);
	rag_free(ix->id_blob);
	rag_free(ix->meta);
	rag_free(ix->acl);
	rag_arena_free(&ix->arena);
	for (i = 0; i < ix->n_cache; i++) {
		rag_free(ix->cache[i].term);
		rag_free(ix->cache[i].docs);
		rag_free(ix->cache[i].tfs);
		rag_free(ix->cache[i].ttfs);
		rag_free(ix->cache[i].imp);
	}
	rag_free(ix->cache);
	rag_free(ix->cslots);
	rag_free(ix->path);
	rag_free(ix);
}

static int load_meta_cache(struct rag_index *ix, struct rag_error *err)
{
	sqlite3_stmt *st;
	int rc;

	if (ix->meta_loaded)
		return RAG_OK;
	ix->meta = rag_calloc((size_t)ix->max_key, sizeof *ix->meta);
	ix->acl = rag_calloc((size_t)ix->max_key, sizeof *ix->acl);
	if (!ix->meta || !ix->acl)
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	if ((rc = prep(ix->db, "SELECT rowid, record FROM chunks", &st, ix->path, err)))
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t k = sqlite3_column_int64(st, 0);
		size_t n = (size_t)sqlite3_column_bytes(st, 1);
		const char *r = (const char *)sqlite3_column_text(st, 1);
		char *copy;
		struct rag_json *rec;
		const struct rag_json *v;

		if (k < 0 || k >= ix->max_key || !r)
			continue;
		if (!(copy = rag_arena_strndup(&ix->arena, r, n))) {
			sqlite3_finalize(st);
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		}
		if (rag_json_parse(&ix->arena, copy, n, &rec, NULL) != RAG_OK || rec->type != RAG_JSON_OBJECT)
			continue;
		if ((v = rag_json_get(rec, "meta")) && v->type == RAG_JSON_OBJECT)
			ix->meta[k] = v;
		if ((v = rag_json_get(rec, "acl")) && v->type == RAG_JSON_ARRAY)
			ix->acl[k] = v;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sq_fail(ix->db, rc, ix->path, "reading chunks", err);
	ix->meta_loaded = 1;
	return RAG_OK;
}

int rag_index_mask(struct rag_index *ix, const struct rag_filter *f, int check_acl,
		   const char *const *principals, size_t np, uint8_t **mask, struct rag_error *err)
{
	uint8_t *m;
	int64_t k;
	int rc;

	*mask = NULL;
	if (!f && (!check_acl || ix->n_acl == 0))
		return RAG_OK;
	if ((rc = load_meta_cache(ix, err)))
		return rc;
	if (!(m = rag_calloc((size_t)ix->max_key + 1, 1)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	for (k = 0; k < ix->max_key; k++) {
		int ok = 1;
		if (check_acl && ix->acl[k]) {
			size_t i, j;
			const struct rag_json *a = ix->acl[k];
			ok = 0;
			for (i = 0; i < a->u.arr.n && !ok; i++) {
				const struct rag_json *p = &a->u.arr.items[i];
				if (p->type != RAG_JSON_STRING)
					continue;
				for (j = 0; j < np; j++)
					if (strlen(principals[j]) == p->u.str.len &&
					    memcmp(principals[j], p->u.str.s, p->u.str.len) == 0) {
						ok = 1;
						break;
					}
			}
		}
		if (ok && f)
			ok = rag_filter_eval(f, ix->meta[k]);
		m[k] = (uint8_t)ok;
	}
	*mask = m;
	return RAG_OK;
}

/* ---- BM25 ---------------------------------------------------------------------- */

struct qterm {
	char *term;
	unsigned qtf;
};

struct qterms {
	struct qterm *t;
	size_t n, cap;
};

static int add_qterm(void *ctx, const char *tok, size_t n)
{
	struct qterms *q = ctx;
	size_t i;

	for (i = 0; i < q->n; i++)
		if (strlen(q->t[i].term) == n && memcmp(q->t[i].term, tok, n) == 0) {
			q->t[i].qtf++;
			return 0;
		}
	if (q->n == q->cap) {
		size_t nc = q->cap ? 2 * q->cap : 16;
		struct qterm *nt = rag_reallocarray(q->t, nc, sizeof *nt);
		if (!nt)
			return RAG_EINTERNAL;
		q->t = nt;
		q->cap = nc;
	}
	if (!(q->t[q->n].term = rag_strndup(tok, n)))
		return RAG_EINTERNAL;
	q->t[q->n].qtf = 1;
	q->n++;
	return 0;
}

static void plist_release(struct plist *p)
{
	rag_free(p->term);
	rag_free(p->docs);
	rag_free(p->tfs);
	rag_free(p->ttfs);
	rag_free(p->imp);
	memset(p, 0, sizeof *p);
}

/* The posting list of term (cached for the reader's life); NULL list when absent. */
static int get_postings(struct rag_index *ix, const char *term, const struct plist **out, struct rag_error *err)
{
	size_t len = strlen(term), h, j;
	struct plist *p;
	int rc;

	*out = NULL;
	if (2 * (ix->n_cache + 1) > ix->n_cslots) {
		size_t ns = ix->n_cslots ? 2 * ix->n_cslots : 1024, i;
		uint32_t *s = rag_calloc(ns, sizeof *s);
		if (!s)
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		for (i = 0; i < ix->n_cache; i++) {
			h = fnv1a(ix->cache[i].term, strlen(ix->cache[i].term)) & (ns - 1);
			while (s[h])
				h = (h + 1) & (ns - 1);
			s[h] = (uint32_t)(i + 1);
		}
		rag_free(ix->cslots);
		ix->cslots = s;
		ix->n_cslots = ns;
	}
	h = fnv1a(term, len) & (ix->n_cslots - 1);
	while (ix->cslots[h]) {
		p = &ix->cache[ix->cslots[h] - 1];
		if (strcmp(p->term, term) == 0) {
			*out = p;
			return RAG_OK;
		}
		h = (h + 1) & (ix->n_cslots - 1);
	}
	if (ix->n_cache == ix->cap_cache) {
		size_t nc = ix->cap_cache ? 2 * ix->cap_cache : 256;
		struct plist *np = rag_reallocarray(ix->cache, nc, sizeof *np);
		if (!np)
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		ix->cache = np;
		ix->cap_cache = nc;
	}
	p = &ix->cache[ix->n_cache];
	memset(p, 0, sizeof *p);
	p->max_imp = -1;
	if (!(p->term = rag_strdup(term)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	sqlite3_reset(ix->st_term);
	sqlite3_bind_text(ix->st_term, 1, term, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(ix->st_term);
	if (rc == SQLITE_ROW) {
		const unsigned char *b = sqlite3_column_blob(ix->st_term, 1);
		size_t nb = (size_t)sqlite3_column_bytes(ix->st_term, 1), n = nb / POSTING_BYTES;
		p->docs = rag_malloc((n ? n : 1) * 4);
		p->tfs = rag_malloc((n ? n : 1) * 4);
		p->ttfs = rag_malloc((n ? n : 1) * 4);
		p->imp = rag_malloc((n ? n : 1) * sizeof *p->imp);
		if (!p->docs || !p->tfs || !p->ttfs || !p->imp) {
			sqlite3_reset(ix->st_term);
			plist_release(p);
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		}
		for (j = 0; j < n; j++) {
			memcpy(&p->docs[j], b + POSTING_BYTES * j, 4);
			memcpy(&p->tfs[j], b + POSTING_BYTES * j + 4, 4);
			memcpy(&p->ttfs[j], b + POSTING_BYTES * j + 8, 4);
			if (p->docs[j] >= ix->max_key || p->ttfs[j] > p->tfs[j] || (j && p->docs[j] <= p->docs[j - 1])) {
				sqlite3_reset(ix->st_term);
				plist_release(p);
				return rag_error_set(err, RAG_EMODEL, "'%s': corrupted postings for '%s'", ix->path, term);
			}
		}
		if (nb % POSTING_BYTES) {
			sqlite3_reset(ix->st_term);
			plist_release(p);
			return rag_error_set(err, RAG_EMODEL, "'%s': corrupted postings for '%s'", ix->path, term);
		}
		p->n = n;
	} else if (rc != SQLITE_DONE) {
		sqlite3_reset(ix->st_term);
		rag_free(p->term);
		return sq_fail(ix->db, rc, ix->path, "reading postings", err);
	}
	sqlite3_reset(ix->st_term);
	ix->cslots[h] = (uint32_t)(ix->n_cache + 1);
	ix->n_cache++;
	*out = p;
	return RAG_OK;
}

int rag_index_bm25(struct rag_index *ix, const char *text, size_t len,
		   const struct rag_bm25_params *p, const uint8_t *mask, size_t k,
		   struct rag_hit *out, size_t *n_out, struct rag_error *err)
{
	struct qterms q = { NULL, 0, 0 };
	struct rag_bm25_list *lists = NULL;
	size_t i, nl = 0;
	int rc = RAG_OK;

	*n_out = 0;
	if (!ix->a_title || ix->bm25_p.k1 != p->k1 || ix->bm25_p.b != p->b ||
	    ix->bm25_p.w_title != p->w_title || ix->bm25_p.w_text != p->w_text) {
		size_t nk = (size_t)ix->max_key + 1;
		ix->bm25_gen++;  /* never reused: cached impacts of other parameters go stale */
		rag_free(ix->a_title);
		rag_free(ix->a_text);
		ix->a_title = rag_calloc(nk, sizeof *ix->a_title);
		ix->a_text = rag_calloc(nk, sizeof *ix->a_text);
		if (!ix->a_title || !ix->a_text) {
			rag_free(ix->a_title);
			rag_free(ix->a_text);
			ix->a_title = ix->a_text = NULL;
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		}
		rag_bm25f_factors(p, ix->tlen, ix->xlen, (size_t)ix->max_key, ix->a_title, ix->a_text);
		ix->bm25_p = *p;
	}
	if (rag_analyze(&ix->m.an, text, len, add_qterm, &q)) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
	if (q.n && !(lists = rag_calloc(q.n, sizeof *lists))) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
	for (i = 0; i < q.n; i++) {
		const struct plist *pl;
		if ((rc = get_postings(ix, q.t[i].term, &pl, err)))
			goto out;
		if (!pl || pl->n == 0)
			continue;
		if (pl->imp_gen != ix->bm25_gen) {
			/* impacts for these parameters, computed once per list */
			struct plist *w = (struct plist *)pl;
			float k1 = (float)p->k1, mx = 0;
			size_t j;
			for (j = 0; j < w->n; j++) {
				uint32_t d = w->docs[j];
				float v = rag_bm25f_impact(w->ttfs[j], w->tfs[j] - w->ttfs[j], ix->a_title[d],
							   ix->a_text[d], k1);
				w->imp[j] = v;
				if (v > mx)
					mx = v;
			}
			w->max_imp = mx;
			w->imp_gen = ix->bm25_gen;
		}
		lists[nl].docs = pl->docs;
		lists[nl].imp = pl->imp;
		lists[nl].n = pl->n;
		lists[nl].weight = (float)(q.t[i].qtf * rag_bm25_idf(ix->n_chunks, pl->n));
		lists[nl].max_imp = pl->max_imp;
		nl++;
	}
	rc = rag_bm25_topk(lists, nl, mask, k, out, n_out, err);
out:
	for (i = 0; i < q.n; i++)
		rag_free(q.t[i].term);
	rag_free(q.t);
	rag_free(lists);
	return rc;
}

/* ---- dense --------------------------------------------------------------------- */

int rag_index_dense(struct rag_index *ix, const float *q, uint32_t dim, const uint8_t *mask,
		    size_t k, struct rag_hit *out, size_t *n_out, struct rag_error *err)
{
	return rag_index_dense_batch(ix, q, 1, dim, mask ? &mask : NULL, k, out, n_out, err);
}

/* Why an exact search for the top k stays on the CPU (a phrase), or NULL for the GPU. */
static const char *dense_why_cpu(const struct rag_index *ix, size_t k)
{
	if (ix->vf->storage == RAG_VEC_I8)
		return "int8 vectors are searched on the CPU";
	if (k > 1024)
		return "k above 1024";
	return rag_gpu_dense_why_cpu(ix->device, (int64_t)ix->vf->n, (int64_t)ix->m.dim);
}

void rag_index_set_device(struct rag_index *ix, enum rag_device dev)
{
	ix->device = dev;
}

const char *rag_index_dense_where(const struct rag_index *ix, int *gpu_failed)
{
	if (gpu_failed)
		*gpu_failed = ix->dense_ran == 2;
	return ix->dense_ran ? ix->dense_where : NULL;
}

int rag_index_dense_batch(struct rag_index *ix, const float *q, size_t m, uint32_t dim,
			  const uint8_t *const *masks, size_t k, struct rag_hit *out, size_t *n_out,
			  struct rag_error *err)
{
	float *qq, *sc;
	int64_t *keys, *cnt;
	size_t i, r, kk;
	const struct rag_vecfile *v = ix->vf;
	const char *why_cpu;

	for (i = 0; i < m; i++)
		n_out[i] = 0;
	if (ix->m.dim && dim != ix->m.dim)
		return rag_error_set(err, RAG_EDATA, "query embedding has %u dimensions; the index has %u",
				     dim, ix->m.dim);
	if (!v || v->n == 0 || k == 0 || m == 0)
		return RAG_OK;
	/* hits beyond n cannot exist: scratch for min(k, n) per query */
	kk = k < v->n ? k : (size_t)v->n;
	qq = rag_malloc(m * (size_t)dim * sizeof *qq);
	sc = rag_malloc(m * kk * sizeof *sc);
	keys = rag_malloc(m * kk * sizeof *keys);
	cnt = rag_malloc(m * sizeof *cnt);
	if (!qq || !sc || !keys || !cnt) {
		rag_free(qq);
		rag_free(sc);
		rag_free(keys);
		rag_free(cnt);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	memcpy(qq, q, m * (size_t)dim * sizeof *qq);
	if (ix->m.metric == RAG_METRIC_COSINE)
		for (i = 0; i < m; i++)
			rag_vec_normalize(qq + i * dim, dim);
	why_cpu = ix->gpu_off ? NULL : dense_why_cpu(ix, k);
	if (!ix->gpu_off && !why_cpu) {
		/* GPU hook (search_cuda.c): any GPU failure falls back to the CPU below */
		struct rag_error ge;
		int ok = 1;
		rag_error_clear(&ge);
		if (!ix->gpu && rag_gpu_dense_open(v->data, (int)v->storage, v->ids, (int64_t)v->n, (int64_t)dim,
						   ix->m.metric == RAG_METRIC_L2, &ix->gpu, &ge))
			ok = 0;
		/* unmasked queries in runs (one pass over the vectors each), a masked one alone */
		size_t cap = ix->gpu ? rag_gpu_dense_max_run(ix->gpu, k) : 1;
		for (i = 0; ix->gpu && ok && i < m; i += r) {
			r = rag_gpu_dense_run(masks, i, m, cap);
			ok = rag_gpu_dense_search(ix->gpu, qq + i * dim, (int64_t)r, masks ? masks[i] : NULL,
						  ix->max_key, k, out + i * k, &n_out[i], &ge) == RAG_OK;
		}
		if (ok) {
			if (!ix->dense_ran) {
				char name[256];
				rag_gpu_count(name, sizeof name);
				snprintf(ix->dense_where, sizeof ix->dense_where, "the GPU (%s)", name);
			}
			ix->dense_ran = 1;
			rag_free(qq);
			rag_free(sc);
			rag_free(keys);
			rag_free(cnt);
			return RAG_OK;
		}
		for (i = 0; i < m; i++)
			n_out[i] = 0;
		ix->gpu_off = 1;
		snprintf(ix->dense_where, sizeof ix->dense_where, "the CPU after the GPU failed: %s", ge.msg);
		ix->dense_ran = 2;
	} else if (!ix->dense_ran) {
		snprintf(ix->dense_where, sizeof ix->dense_where, "the CPU: %s", why_cpu);
		ix->dense_ran = 1;
	}
	if (rag_dense_topk(qq, (int64_t)m, v->data, (int)v->storage, v->scales, (int64_t)v->n, (int64_t)dim,
			   ix->m.metric == RAG_METRIC_L2, v->ids, masks, ix->max_key, (int64_t)kk,
			   keys, sc, cnt)) {
		rag_free(qq);
		rag_free(sc);
		rag_free(keys);
		rag_free(cnt);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	for (i = 0; i < m; i++) {
		for (r = 0; r < (size_t)cnt[i]; r++) {
			out[i * k + r].doc = keys[i * kk + r];
			out[i * k + r].score = sc[i * kk + r];
		}
		n_out[i] = (size_t)cnt[i];
	}
	rag_free(qq);
	rag_free(sc);
	rag_free(keys);
	rag_free(cnt);
	return RAG_OK;
}

int rag_index_has_ann(const struct rag_index *ix) { return ix->ann != NULL; }

static int mask_accepts(int64_t label, void *ctx)
{
	const uint8_t *m = ctx;
	return m[label];
}

int rag_index_ann(struct rag_index *ix, const float *q, uint32_t dim, const uint8_t *mask,
		  size_t k, uint32_t ef, struct rag_hit *out, size_t *n_out, struct rag_error *err)
{
	int64_t *labels;
	float *dists;
	size_t i, n = 0;
	int rc;

	*n_out = 0;
	if (!ix->ann)
		return rag_index_dense(ix, q, dim, mask, k, out, n_out, err);
	if (dim != ix->m.dim)
		return rag_error_set(err, RAG_EDATA, "query embedding has %u dimensions; the index has %u",
				     dim, ix->m.dim);
	if (k == 0)
		return RAG_OK;
	labels = rag_malloc(k * sizeof *labels);
	dists = rag_malloc(k * sizeof *dists);
	if (!labels || !dists) {
		rag_free(labels);
		rag_free(dists);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	rc = rag_hnsw_search(ix->ann, q, k, ef, mask ? mask_accepts : NULL, (void *)mask, labels, dists, &n, err);
	for (i = 0; !rc && i < n; i++) {
		out[i].doc = labels[i];
		out[i].score = ix->m.metric == RAG_METRIC_L2 ? -dists[i] : 1.0f - dists[i];
	}
	if (!rc)
		*n_out = n;
	rag_free(labels);
	rag_free(dists);
	return rc;
}

/* Output of many hits (a TREC run) names every hit by id: past
 * max(256, chunks / 8) single lookups (an SQLite lookup costs about what
 * reading 8 rows in one scan does), every id is read in one scan and kept. */
#define ID_CACHE_MIN 256

static int load_ids(struct rag_index *ix, struct rag_error *err)
{
	sqlite3_stmt *st;
	struct rag_buf blob;
	size_t nk = (size_t)ix->max_key + 1, i;
	int rc;

	if (!(ix->id_off = rag_malloc(nk * sizeof *ix->id_off)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	for (i = 0; i < nk; i++)
		ix->id_off[i] = (size_t)-1;
	if ((rc = prep(ix->db, "SELECT rowid, id FROM chunks", &st, ix->path, err))) {
		rag_free(ix->id_off);
		ix->id_off = NULL;
		return rc;
	}
	rag_buf_init(&blob);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t k = sqlite3_column_int64(st, 0);
		if (k < 0 || k >= ix->max_key)
			continue;
		ix->id_off[k] = blob.len;
		rag_buf_add(&blob, sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1));
		rag_buf_addc(&blob, 0);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE || rag_buf_failed(&blob)) {
		rag_buf_free(&blob);
		rag_free(ix->id_off);
		ix->id_off = NULL;
		return rc != SQLITE_DONE ? sq_fail(ix->db, rc, ix->path, "reading chunk ids", err)
					 : rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	ix->id_blob = blob.data;  /* ownership moves from the buffer */
	return RAG_OK;
}

int rag_index_chunk_id(struct rag_index *ix, int64_t key, struct rag_buf *id, struct rag_error *err)
{
	int rc;

	rag_buf_reset(id);
	if (!ix->id_off && ++ix->id_lookups > ID_CACHE_MIN && ix->id_lookups > ix->n_chunks / 8 &&
	    (rc = load_ids(ix, err)))
		return rc;
	if (ix->id_off) {
		const char *s;
		if (key < 0 || key >= ix->max_key || ix->id_off[key] == (size_t)-1)
			return rag_error_set(err, RAG_EMODEL, "'%s': chunk %lld missing", ix->path, (long long)key);
		s = ix->id_blob + ix->id_off[key];
		rag_buf_add(id, s, strlen(s));
		rag_buf_addc(id, 0);
		id->len--;
		return rag_buf_failed(id) ? rag_error_set(err, RAG_EINTERNAL, "out of memory") : RAG_OK;
	}
	if (!ix->st_id && (rc = prep(ix->db, "SELECT id FROM chunks WHERE rowid = ?", &ix->st_id, ix->path, err)))
		return rc;
	sqlite3_reset(ix->st_id);
	sqlite3_bind_int64(ix->st_id, 1, key);
	rc = sqlite3_step(ix->st_id);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(ix->st_id);
		if (rc == SQLITE_DONE)
			return rag_error_set(err, RAG_EMODEL, "'%s': chunk %lld missing", ix->path, (long long)key);
		return sq_fail(ix->db, rc, ix->path, "reading a chunk", err);
	}
	rag_buf_add(id, sqlite3_column_text(ix->st_id, 0), (size_t)sqlite3_column_bytes(ix->st_id, 0));
	rag_buf_addc(id, 0);
	id->len--;
	sqlite3_reset(ix->st_id);
	return rag_buf_failed(id) ? rag_error_set(err, RAG_EINTERNAL, "out of memory") : RAG_OK;
}

int rag_index_key_of(struct rag_index *ix, const char *id, size_t len, int64_t *key, struct rag_error *err)
{
	int rc;

	*key = -1;
	if (!ix->st_key && (rc = prep(ix->db, "SELECT rowid FROM chunks WHERE id = ?", &ix->st_key, ix->path, err)))
		return rc;
	sqlite3_reset(ix->st_key);
	sqlite3_bind_text(ix->st_key, 1, id, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(ix->st_key);
	if (rc == SQLITE_ROW)
		*key = sqlite3_column_int64(ix->st_key, 0);
	sqlite3_reset(ix->st_key);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_fail(ix->db, rc, ix->path, "looking up a chunk", err);
	return RAG_OK;
}

int rag_index_chunk(struct rag_index *ix, int64_t key, struct rag_buf *id, struct rag_buf *doc_id,
		    int *has_doc_id, struct rag_buf *record, struct rag_error *err)
{
	int rc;

	rag_buf_reset(id);
	rag_buf_reset(doc_id);
	rag_buf_reset(record);
	*has_doc_id = 0;
	sqlite3_reset(ix->st_chunk);
	sqlite3_bind_int64(ix->st_chunk, 1, key);
	rc = sqlite3_step(ix->st_chunk);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(ix->st_chunk);
		if (rc == SQLITE_DONE)
			return rag_error_set(err, RAG_EMODEL, "'%s': chunk %lld missing", ix->path, (long long)key);
		return sq_fail(ix->db, rc, ix->path, "reading a chunk", err);
	}
	rag_buf_add(id, sqlite3_column_text(ix->st_chunk, 0), (size_t)sqlite3_column_bytes(ix->st_chunk, 0));
	rag_buf_addc(id, 0);
	id->len--;
	if (sqlite3_column_type(ix->st_chunk, 1) != SQLITE_NULL) {
		*has_doc_id = 1;
		rag_buf_add(doc_id, sqlite3_column_text(ix->st_chunk, 1), (size_t)sqlite3_column_bytes(ix->st_chunk, 1));
		rag_buf_addc(doc_id, 0);
		doc_id->len--;
	}
	rag_buf_add(record, sqlite3_column_text(ix->st_chunk, 2), (size_t)sqlite3_column_bytes(ix->st_chunk, 2));
	rag_buf_addc(record, 0);
	record->len--;
	sqlite3_reset(ix->st_chunk);
	if (rag_buf_failed(id) || rag_buf_failed(doc_id) || rag_buf_failed(record))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	return RAG_OK;
}

/* ---- maintenance ------------------------------------------------------------------ */

int rag_index_compact(const char *path, struct rag_error *err)
{
	struct rag_index_writer *w;
	int rc;

	if (access(path, F_OK) < 0)
		return rag_error_errno(err, RAG_ENOINPUT, "cannot open '%s'", path);
	if ((rc = rag_index_writer_open(path, NULL, &w, err)))
		return rc;
	w->vec_dirty = w->m.dim > 0;
	w->ann_rebuild = 1;
	rc = rag_index_writer_commit(w, err);
	if (!rc) {
		int r = sqlite3_exec(w->db, "VACUUM", NULL, NULL, NULL);
		if (r != SQLITE_OK)
			rc = sq_fail(w->db, r, path, "VACUUM", err);
		else
			sqlite3_exec(w->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	}
	rag_index_writer_free(w);
	return rc;
}

static long long file_size(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 ? (long long)st.st_size : 0;
}

static long long q1(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

int rag_index_stats(const char *path, int json, struct rag_buf *b, struct rag_error *err)
{
	struct rag_index *ix;
	long long chunks, docs, vecs, terms, postings;
	char *vn, *an;
	int rc;

	if ((rc = rag_index_open(path, &ix, err)))
		return rc;
	chunks = q1(ix->db, "SELECT count(*) FROM chunks");
	docs = q1(ix->db, "SELECT count(DISTINCT coalesce(doc_id, id)) FROM chunks");
	vecs = ix->vf ? (long long)ix->vf->n : 0;
	terms = q1(ix->db, "SELECT count(*) FROM terms");
	postings = q1(ix->db, "SELECT coalesce(sum(df), 0) FROM terms");
	vn = ix->m.vec_gen > 0 ? vec_name(path, ix->m.vec_gen, 0) : NULL;
	an = ix->m.vec_gen > 0 && ix->m.ann ? ann_name(path, ix->m.vec_gen) : NULL;
	if (json) {
		struct rag_objw w;
		rag_objw_begin(&w, b);
		rag_objw_key(&w, "index"); rag_json_write_str(b, path, strlen(path));
		rag_objw_key(&w, "format"); rag_json_write_num(b, RAG_INDEX_FORMAT);
		rag_objw_key(&w, "chunks"); rag_json_write_num(b, (double)chunks);
		rag_objw_key(&w, "documents"); rag_json_write_num(b, (double)docs);
		rag_objw_key(&w, "vectors"); rag_json_write_num(b, (double)vecs);
		rag_objw_key(&w, "dim"); rag_json_write_num(b, ix->m.dim);
		rag_objw_key(&w, "model");
		if (ix->m.model) rag_json_write_str(b, ix->m.model, strlen(ix->m.model)); else rag_buf_adds(b, "null");
		rag_objw_key(&w, "metric"); rag_buf_printf(b, "\"%s\"", rag_vec_metric_name(ix->m.metric));
		rag_objw_key(&w, "storage"); rag_buf_printf(b, "\"%s\"", rag_vec_storage_name(ix->m.storage));
		rag_objw_key(&w, "stem"); rag_buf_printf(b, "\"%s\"", ix->m.an.stem ? "porter" : "none");
		rag_objw_key(&w, "stopwords"); rag_buf_printf(b, "\"%s\"", ix->m.an.stopwords ? "english" : "none");
		rag_objw_key(&w, "terms"); rag_json_write_num(b, (double)terms);
		rag_objw_key(&w, "postings"); rag_json_write_num(b, (double)postings);
		rag_objw_key(&w, "avg_length"); rag_json_write_num(b, ix->avgdl);
		rag_objw_key(&w, "generation"); rag_json_write_num(b, (double)ix->m.vec_gen);
		rag_objw_key(&w, "db_bytes"); rag_json_write_num(b, (double)file_size(path));
		rag_objw_key(&w, "vec_bytes"); rag_json_write_num(b, vn ? (double)file_size(vn) : 0);
		rag_objw_key(&w, "ann"); rag_buf_printf(b, "\"%s\"", ix->m.ann ? "hnsw" : "none");
		rag_objw_key(&w, "ann_m"); rag_json_write_num(b, ix->m.ann_m);
		rag_objw_key(&w, "ann_ef_construction"); rag_json_write_num(b, ix->m.ann_efc);
		rag_objw_key(&w, "ann_bytes"); rag_json_write_num(b, an ? (double)file_size(an) : 0);
		rag_objw_end(&w);
		rag_buf_addc(b, '\n');
	} else {
		rag_buf_printf(b, "index: %s\nformat: %d\nchunks: %lld\ndocuments: %lld\nvectors: %lld\n"
			       "dim: %u\nmodel: %s\nmetric: %s\nstorage: %s\nstem: %s\nstopwords: %s\n"
			       "terms: %lld\npostings: %lld\navg_length: %.2f\ngeneration: %lld\n"
			       "db_bytes: %lld\nvec_bytes: %lld\nann: %s\nann_bytes: %lld\n",
			       path, RAG_INDEX_FORMAT, chunks, docs, vecs, ix->m.dim,
			       ix->m.model ? ix->m.model : "-", rag_vec_metric_name(ix->m.metric),
			       rag_vec_storage_name(ix->m.storage), ix->m.an.stem ? "porter" : "none",
			       ix->m.an.stopwords ? "english" : "none", terms, postings, ix->avgdl,
			       (long long)ix->m.vec_gen, file_size(path), vn ? file_size(vn) : 0,
			       ix->m.ann ? "hnsw" : "none", an ? file_size(an) : 0);
	}
	rag_free(vn);
	rag_free(an);
	rag_index_close(ix);
	if (rag_buf_failed(b))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	return RAG_OK;
}

int rag_index_merge(const char *outp, const char *const *in, size_t n, struct rag_error *err)
{
	struct rag_index_writer *w = NULL;
	struct rag_index *ix = NULL;
	struct rag_arena a;
	float *vec = NULL;
	int64_t *row_of = NULL;
	size_t i;
	int rc = RAG_OK;

	rag_arena_init(&a);
	for (i = 0; i < n; i++) {
		struct rag_index_opts o;
		sqlite3_stmt *st = NULL;
		uint64_t r;

		if ((rc = rag_index_open(in[i], &ix, err)))
			goto out;
		rag_index_opts_init(&o);
		o.storage = ix->m.storage;
		o.metric = ix->m.metric;
		o.model = ix->m.model;
		o.an = ix->m.an;
		o.storage_set = o.metric_set = o.an_set = 1;
		o.ann = ix->m.ann;
		o.ann_m = ix->m.ann_m;
		o.ann_ef_construction = ix->m.ann_efc;
		if (!w && (rc = rag_index_writer_open(outp, &o, &w, err)))
			goto out;
		if (w->m.an.stem != ix->m.an.stem || w->m.an.stopwords != ix->m.an.stopwords ||
		    w->m.metric != ix->m.metric ||
		    (ix->m.model && w->m.model && strcmp(ix->m.model, w->m.model) != 0) ||
		    (ix->m.dim && w->m.dim && ix->m.dim != w->m.dim)) {
			rc = rag_error_set(err, RAG_EDATA, "'%s': dimension, model, metric or analyzer differs from the other inputs",
					   in[i]);
			goto out;
		}
		rag_free(row_of);
		row_of = NULL;
		rag_free(vec);
		vec = NULL;
		if (ix->vf) {
			if (!(row_of = rag_malloc(((size_t)ix->max_key + 1) * sizeof *row_of)) ||
			    !(vec = rag_malloc((size_t)ix->m.dim * sizeof *vec))) {
				rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
				goto out;
			}
			for (r = 0; r <= (uint64_t)ix->max_key; r++)
				row_of[r] = -1;
			for (r = 0; r < ix->vf->n; r++)
				if (ix->vf->ids[r] >= 0 && ix->vf->ids[r] < ix->max_key)
					row_of[ix->vf->ids[r]] = (int64_t)r;
		}
		if ((rc = prep(ix->db, "SELECT rowid, record FROM chunks ORDER BY rowid", &st, in[i], err)))
			goto out;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			int64_t k = sqlite3_column_int64(st, 0);
			size_t len = (size_t)sqlite3_column_bytes(st, 1);
			char *copy;
			struct rag_json *rec;
			int has = row_of && k >= 0 && k < ix->max_key && row_of[k] >= 0;

			rag_arena_reset(&a);
			if (!(copy = rag_arena_strndup(&a, (const char *)sqlite3_column_text(st, 1), len)) ||
			    rag_json_parse(&a, copy, len, &rec, err)) {
				rc = rag_error_prefix(err, "'%s': ", in[i]);
				break;
			}
			if (has)
				rag_vecfile_row(ix->vf, (uint64_t)row_of[k], vec);
			if ((rc = rag_index_writer_upsert(w, rec, has ? vec : NULL, ix->m.dim, err)))
				break;
			rc = SQLITE_ROW;
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE) {
			if (rc == SQLITE_ROW || rc < 64)
				rc = sq_fail(ix->db, rc, in[i], "reading chunks", err);
			goto out;
		}
		rc = RAG_OK;
		rag_index_close(ix);
		ix = NULL;
	}
	if (w)
		rc = rag_index_writer_commit(w, err);
out:
	rag_index_close(ix);
	rag_index_writer_free(w);
	rag_free(row_of);
	rag_free(vec);
	rag_arena_free(&a);
	return rc;
}
