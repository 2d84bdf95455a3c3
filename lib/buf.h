/* buf.h: a growable byte buffer (output records, messages, file contents). */
#ifndef RAG_BUF_H
#define RAG_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/*
 * data is NUL-terminated whenever len > 0 or after any append, so it can be
 * used as a C string when the contents hold no NUL.  Zero-initialise or call
 * rag_buf_init; release with rag_buf_free.  On allocation failure an append
 * returns -1 and sets failed; later appends are no-ops, so a caller may append
 * many pieces and check once (rag_buf_failed) before using the result.
 */
struct rag_buf {
	char *data;
	size_t len;
	size_t cap;
	int failed;
};

void rag_buf_init(struct rag_buf *b);
void rag_buf_free(struct rag_buf *b);
/* Forget the contents, keep the memory. */
void rag_buf_reset(struct rag_buf *b);
/* Make room for n more bytes; 0 or -1. */
int rag_buf_reserve(struct rag_buf *b, size_t n);
int rag_buf_add(struct rag_buf *b, const void *p, size_t n);
int rag_buf_addc(struct rag_buf *b, char c);
int rag_buf_adds(struct rag_buf *b, const char *s);
int rag_buf_printf(struct rag_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int rag_buf_vprintf(struct rag_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static inline int rag_buf_failed(const struct rag_buf *b) { return b->failed; }
/* Hand the data to the caller (who frees it with rag_free); the buffer is reset to empty. */
char *rag_buf_detach(struct rag_buf *b, size_t *len);

/*
 * Write all of b to f.  Returns RAG_OK or RAG_EIO (with err filled, naming
 * `what`, e.g. "standard output").
 */
struct rag_error;
int rag_buf_write(const struct rag_buf *b, FILE *f, const char *what, struct rag_error *err);

/*
 * Read a whole file (path "-" = stdin) into b.  RAG_ENOINPUT when it cannot be
 * opened, RAG_EIO on a read error.
 */
int rag_buf_read_file(struct rag_buf *b, const char *path, struct rag_error *err);

#endif
