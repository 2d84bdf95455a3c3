/* verdict_cache.c: the SQLite verdict cache and the cached model-file hash. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "verdict_cache.h"

struct rag_vcache {
	sqlite3 *db;
	sqlite3_stmt *get, *put, *hget, *hput;
	size_t hits, misses;
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS verdicts (task TEXT NOT NULL, model TEXT NOT NULL,"
	" prompt BLOB NOT NULL, value BLOB NOT NULL, PRIMARY KEY (task, model, prompt));"
	"CREATE TABLE IF NOT EXISTS model_hashes (path TEXT PRIMARY KEY, size INTEGER NOT NULL,"
	" mtime_ns INTEGER NOT NULL, hash TEXT NOT NULL);";

static int db_error(struct rag_vcache *c, struct rag_error *err, int code, const char *what)
{
	return rag_error_set(err, code, "verdict cache: %s: %s", what, sqlite3_errmsg(c->db));
}

void rag_vcache_free(struct rag_vcache *c)
{
	if (!c)
		return;
	sqlite3_finalize(c->get);
	sqlite3_finalize(c->put);
	sqlite3_finalize(c->hget);
	sqlite3_finalize(c->hput);
	sqlite3_close(c->db);
	rag_free(c);
}

int rag_vcache_open(const char *path, struct rag_vcache **out, struct rag_error *err)
{
	struct rag_vcache *c;
	int rc;

	*out = NULL;
	c = rag_calloc(1, sizeof *c);
	if (!c)
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	rc = sqlite3_open_v2(path ? path : ":memory:", &c->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		rc = rag_error_set(err, RAG_ENOINPUT, "cannot open '%s': %s", path,
				   c->db ? sqlite3_errmsg(c->db) : "out of memory");
		rag_vcache_free(c);
		return rc;
	}
	sqlite3_busy_timeout(c->db, 30000);
	/* WAL: each verdict is its own short commit, readers never wait for a
	 * writer, and a killed process leaves every committed verdict */
	if (path) {
		sqlite3_exec(c->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
		sqlite3_exec(c->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	}
	if (sqlite3_exec(c->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		int notdb = sqlite3_errcode(c->db) == SQLITE_NOTADB;
		rc = rag_error_set(err, notdb ? RAG_EMODEL : RAG_EIO, "'%s' is not a usable verdict cache: %s",
				   path ? path : ":memory:", sqlite3_errmsg(c->db));
		rag_vcache_free(c);
		return rc;
	}
	if (sqlite3_prepare_v2(c->db, "SELECT value FROM verdicts WHERE task=?1 AND model=?2 AND prompt=?3",
			       -1, &c->get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, "INSERT OR REPLACE INTO verdicts VALUES (?1, ?2, ?3, ?4)", -1, &c->put,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, "SELECT hash FROM model_hashes WHERE path=?1 AND size=?2 AND mtime_ns=?3",
			       -1, &c->hget, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, "INSERT OR REPLACE INTO model_hashes VALUES (?1, ?2, ?3, ?4)", -1,
			       &c->hput, NULL) != SQLITE_OK) {
		rc = rag_error_set(err, RAG_EMODEL, "'%s' has no verdict tables of the expected layout: %s",
				   path ? path : ":memory:", sqlite3_errmsg(c->db));
		rag_vcache_free(c);
		return rc;
	}
	*out = c;
	return RAG_OK;
}

int rag_vcache_get(struct rag_vcache *c, const char *task, const char *model, const char *prompt,
		   size_t prompt_len, struct rag_buf *out, struct rag_error *err)
{
	int rc;

	sqlite3_reset(c->get);
	sqlite3_bind_text(c->get, 1, task, -1, SQLITE_STATIC);
	sqlite3_bind_text(c->get, 2, model, -1, SQLITE_STATIC);
	sqlite3_bind_blob(c->get, 3, prompt, (int)prompt_len, SQLITE_STATIC);
	rc = sqlite3_step(c->get);
	if (rc == SQLITE_ROW) {
		const void *v = sqlite3_column_blob(c->get, 0);
		int n = sqlite3_column_bytes(c->get, 0);
		if (n > 0 && rag_buf_add(out, v, (size_t)n)) {
			sqlite3_reset(c->get);
			return -rag_error_set(err, RAG_EINTERNAL, "out of memory");
		}
		sqlite3_reset(c->get);
		c->hits++;
		return 1;
	}
	if (rc != SQLITE_DONE) {
		rc = db_error(c, err, RAG_EIO, "lookup failed");
		sqlite3_reset(c->get);
		return -rc;
	}
	sqlite3_reset(c->get);
	c->misses++;
	return 0;
}

int rag_vcache_put(struct rag_vcache *c, const char *task, const char *model, const char *prompt,
		   size_t prompt_len, const char *value, size_t len, struct rag_error *err)
{
	int rc;

	sqlite3_reset(c->put);
	sqlite3_bind_text(c->put, 1, task, -1, SQLITE_STATIC);
	sqlite3_bind_text(c->put, 2, model, -1, SQLITE_STATIC);
	sqlite3_bind_blob(c->put, 3, prompt, (int)prompt_len, SQLITE_STATIC);
	sqlite3_bind_blob(c->put, 4, len ? value : "", (int)len, SQLITE_STATIC);
	rc = sqlite3_step(c->put);
	sqlite3_reset(c->put);
	if (rc != SQLITE_DONE)
		return db_error(c, err, RAG_EIO, "write failed");
	return RAG_OK;
}

int rag_vcache_begin(struct rag_vcache *c, struct rag_error *err)
{
	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_error(c, err, RAG_EIO, "cannot begin a transaction");
	return RAG_OK;
}

int rag_vcache_commit(struct rag_vcache *c, struct rag_error *err)
{
	if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		return db_error(c, err, RAG_EIO, "cannot commit");
	return RAG_OK;
}

/* FNV-1a over the whole file: simple, dependency-free, and ~1 GB/s; the
 * (path, size, mtime) row below keeps it from being recomputed. */
int rag_vcache_model_hash(struct rag_vcache *c, const char *path, char *out, struct rag_error *err)
{
	struct stat st;
	int64_t mtime_ns;
	uint64_t h = 14695981039346656037ull;  /* FNV-64 offset basis */
	unsigned char *blk;
	size_t n, i;
	FILE *f;
	int rc;

	if (stat(path, &st) != 0)
		return rag_error_errno(err, RAG_ENOINPUT, "cannot open '%s'", path);
	mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	sqlite3_reset(c->hget);
	sqlite3_bind_text(c->hget, 1, path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(c->hget, 2, (sqlite3_int64)st.st_size);
	sqlite3_bind_int64(c->hget, 3, mtime_ns);
	if (sqlite3_step(c->hget) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(c->hget, 0);
		snprintf(out, RAG_VCACHE_HASH_MAX, "%s", t ? (const char *)t : "");
		sqlite3_reset(c->hget);
		return RAG_OK;
	}
	sqlite3_reset(c->hget);
	f = fopen(path, "rb");
	if (!f)
		return rag_error_errno(err, RAG_ENOINPUT, "cannot open '%s'", path);
	blk = rag_malloc(1 << 20);
	if (!blk) {
		fclose(f);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	while ((n = fread(blk, 1, 1 << 20, f)) > 0)
		for (i = 0; i < n; i++) {
			h ^= blk[i];
			h *= 1099511628211ull;
		}
	rc = ferror(f);
	fclose(f);
	rag_free(blk);
	if (rc)
		return rag_error_set(err, RAG_ENOINPUT, "cannot read '%s'", path);
	snprintf(out, RAG_VCACHE_HASH_MAX, "fnv1a64:%016" PRIx64 ":%lld", h, (long long)st.st_size);
	sqlite3_reset(c->hput);
	sqlite3_bind_text(c->hput, 1, path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(c->hput, 2, (sqlite3_int64)st.st_size);
	sqlite3_bind_int64(c->hput, 3, mtime_ns);
	sqlite3_bind_text(c->hput, 4, out, -1, SQLITE_STATIC);
	rc = sqlite3_step(c->hput);
	sqlite3_reset(c->hput);
	if (rc != SQLITE_DONE)
		return db_error(c, err, RAG_EIO, "cannot store the model hash");
	return RAG_OK;
}

size_t rag_vcache_hits(const struct rag_vcache *c)
{
	return c->hits;
}

size_t rag_vcache_misses(const struct rag_vcache *c)
{
	return c->misses;
}
