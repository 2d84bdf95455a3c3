/* buf.c: growable byte buffer. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "error.h"

void rag_buf_init(struct rag_buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = 0;
}

void rag_buf_free(struct rag_buf *b)
{
	rag_free(b->data);
	rag_buf_init(b);
}

void rag_buf_reset(struct rag_buf *b)
{
	b->len = 0;
	b->failed = 0;
	if (b->data)
		b->data[0] = '\0';
}

int rag_buf_reserve(struct rag_buf *b, size_t n)
{
	size_t need, cap;
	char *p;

	if (b->failed)
		return -1;
	need = b->len + n + 1;
	if (need < n) {
		b->failed = 1;
		return -1;
	}
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need) {
		if (cap > ((size_t)-1) / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	p = rag_realloc(b->data, cap);
	if (!p) {
		b->failed = 1;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int rag_buf_add(struct rag_buf *b, const void *p, size_t n)
{
	if (rag_buf_reserve(b, n))
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int rag_buf_addc(struct rag_buf *b, char c)
{
	return rag_buf_add(b, &c, 1);
}

int rag_buf_adds(struct rag_buf *b, const char *s)
{
	return rag_buf_add(b, s, strlen(s));
}

int rag_buf_vprintf(struct rag_buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	if (b->failed)
		return -1;
	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0 || rag_buf_reserve(b, (size_t)n)) {
		b->failed = 1;
		return -1;
	}
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int rag_buf_printf(struct rag_buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = rag_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

char *rag_buf_detach(struct rag_buf *b, size_t *len)
{
	char *p = b->data;

	if (len)
		*len = b->len;
	if (!p)
		p = rag_strdup("");
	rag_buf_init(b);
	return p;
}

int rag_buf_write(const struct rag_buf *b, FILE *f, const char *what, struct rag_error *err)
{
	if (b->len && fwrite(b->data, 1, b->len, f) != b->len)
		return rag_error_errno(err, RAG_EIO, "cannot write %s", what);
	return RAG_OK;
}

int rag_buf_read_file(struct rag_buf *b, const char *path, struct rag_error *err)
{
	int is_stdin = strcmp(path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	char chunk[65536];
	size_t n;
	int rc = RAG_OK;

	if (!f)
		return rag_error_errno(err, RAG_ENOINPUT, "cannot open '%s'", path);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (rag_buf_add(b, chunk, n)) {
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory reading '%s'", path);
			break;
		}
	}
	if (rc == RAG_OK && ferror(f))
		rc = rag_error_errno(err, RAG_EIO, "cannot read '%s'", is_stdin ? "<stdin>" : path);
	if (!is_stdin)
		fclose(f);
	if (rc == RAG_OK && rag_buf_reserve(b, 0))
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory reading '%s'", path);
	return rc;
}
