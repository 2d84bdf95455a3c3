/* jsonl.c: JSON Lines reader. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "alloc.h"
#include "jsonl.h"

#define JSONL_BLOCK 65536

static int reader_setup(struct rag_jsonl_reader *r, const char *name, struct rag_error *err)
{
	rag_buf_init(&r->line);
	rag_arena_init(&r->arena);
	r->lineno = r->n_records = r->n_bad = 0;
	r->blk_pos = r->blk_len = 0;
	r->eof = 0;
	r->name = rag_strdup(name);
	r->blk = rag_malloc(JSONL_BLOCK);
	if (!r->name || !r->blk) {
		rag_free(r->name);
		rag_free(r->blk);
		r->name = r->blk = NULL;
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	return RAG_OK;
}

int rag_jsonl_init(struct rag_jsonl_reader *r, FILE *f, const char *name, struct rag_error *err)
{
	memset(r, 0, sizeof *r);
	r->f = f;
	return reader_setup(r, name, err);
}

int rag_jsonl_open(struct rag_jsonl_reader *r, const char *path, struct rag_error *err)
{
	FILE *f;
	int rc;

	if (strcmp(path, "-") == 0)
		return rag_jsonl_init(r, stdin, "<stdin>", err);
	memset(r, 0, sizeof *r);
	f = fopen(path, "rb");
	if (!f)
		return rag_error_errno(err, RAG_ENOINPUT, "cannot open '%s'", path);
	rc = rag_jsonl_init(r, f, path, err);
	if (rc) {
		fclose(f);
		return rc;
	}
	r->own_f = 1;
	return RAG_OK;
}

void rag_jsonl_release(struct rag_jsonl_reader *r)
{
	if (r->own_f && r->f)
		fclose(r->f);
	r->f = NULL;
	rag_free(r->name);
	rag_free(r->blk);
	r->name = r->blk = NULL;
	rag_buf_free(&r->line);
	rag_arena_free(&r->arena);
}

int rag_jsonl_next_line(struct rag_jsonl_reader *r, const char **line, size_t *len,
			struct rag_error *err)
{
	rag_buf_reset(&r->line);
	*line = NULL;
	*len = 0;
	for (;;) {
		if (r->blk_pos == r->blk_len) {
			if (r->eof)
				break;
			r->blk_len = fread(r->blk, 1, JSONL_BLOCK, r->f);
			r->blk_pos = 0;
			if (r->blk_len == 0) {
				if (ferror(r->f))
					return rag_error_errno(err, RAG_EIO, "cannot read '%s'", r->name);
				r->eof = 1;
				break;
			}
		}
		{
			char *start = r->blk + r->blk_pos;
			size_t avail = r->blk_len - r->blk_pos;
			char *nl = memchr(start, '\n', avail);
			size_t take = nl ? (size_t)(nl - start) : avail;
			if (rag_buf_add(&r->line, start, take))
				return rag_error_set(err, RAG_EINTERNAL, "out of memory reading '%s'", r->name);
			r->blk_pos += take;
			if (nl) {
				r->blk_pos++;
				goto have_line;
			}
		}
	}
	if (r->line.len == 0)
		return RAG_OK;  /* end of input */
have_line:
	r->lineno++;
	if (rag_buf_reserve(&r->line, 0))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory reading '%s'", r->name);
	if (r->line.len && r->line.data[r->line.len - 1] == '\r')
		r->line.data[--r->line.len] = '\0';
	*line = r->line.data;
	*len = r->line.len;
	return RAG_OK;
}

static int blank(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

static int bad_record(struct rag_jsonl_reader *r, struct rag_error *err)
{
	if (!r->skip_bad)
		return RAG_EDATA;
	r->n_bad++;
	if (r->on_bad)
		r->on_bad(r->on_bad_ctx, err);
	return RAG_OK;
}

int rag_jsonl_next(struct rag_jsonl_reader *r, const struct rag_json **rec,
		   struct rag_error *err)
{
	const char *line;
	size_t len;
	int rc;

	*rec = NULL;
	for (;;) {
		struct rag_json *v;
		if ((rc = rag_jsonl_next_line(r, &line, &len, err)))
			return rc;
		if (!line)
			return RAG_OK;
		if (blank(line, len))
			continue;
		rag_arena_reset(&r->arena);
		rc = rag_json_parse(&r->arena, line, len, &v, err);
		if (rc == RAG_EINTERNAL)
			return rc;
		if (rc == RAG_OK && !r->allow_any && v->type != RAG_JSON_OBJECT) {
			rag_error_set(err, RAG_EDATA, "not a JSON object");
			rc = RAG_EDATA;
		}
		if (rc && !rag_shard_keeps_line(r->shard, r->lineno))
			continue;  /* another shard's to report */
		if (rc) {
			rag_error_prefix(err, "%s: line %zu: ", r->name, r->lineno);
			if ((rc = bad_record(r, err)))
				return rc;
			continue;
		}
		r->n_records++;
		*rec = v;
		return RAG_OK;
	}
}

int rag_jsonl_reject(struct rag_jsonl_reader *r, struct rag_error *err, const char *fmt, ...)
{
	char reason[RAG_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	rag_error_set(err, RAG_EDATA, "%s: line %zu: %s", r->name, r->lineno, reason);
	if (r->n_records)
		r->n_records--;  /* it was counted as good when read */
	return bad_record(r, err);
}
