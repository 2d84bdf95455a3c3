/* error.h: status codes (sysexits) and the error record lib/ fills for its callers. */
#ifndef RAG_ERROR_H
#define RAG_ERROR_H

#include <stdarg.h>

/*
 * Every lib/ function that can fail returns one of these (0 on success) and, when
 * given a non-NULL struct rag_error, fills it with a message.  The values are the
 * process exit codes the programs use (sysexits.h), so cmd/ can return them as-is.
 */
enum rag_status {
	RAG_OK = 0,
	RAG_EFAIL = 1,          /* a negative result: a gate not met */
	RAG_EUSAGE = 64,        /* bad command line */
	RAG_EDATA = 65,         /* bad input record */
	RAG_ENOINPUT = 66,      /* cannot open an input file */
	RAG_EUNAVAILABLE = 69,  /* device unavailable */
	RAG_EINTERNAL = 70,     /* internal error (a bug, or out of memory) */
	RAG_EIO = 74,           /* read or write error */
	RAG_EMODEL = 78,        /* bad, foreign or unsupported model or index file */
};

#define RAG_ERROR_MSG_MAX 1024

/* Caller-owned; lib/ writes into it.  msg is always NUL-terminated. */
struct rag_error {
	int code;
	char msg[RAG_ERROR_MSG_MAX];
};

/* Reset to "no error". */
void rag_error_clear(struct rag_error *err);

/*
 * Record an error and return its code, so a failing function can end with
 * `return rag_error_set(err, RAG_EDATA, "line %zu: ...", n);`.  err may be NULL.
 */
int rag_error_set(struct rag_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int rag_error_vset(struct rag_error *err, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* As rag_error_set, with ": strerror(errno)" appended (errno read on entry). */
int rag_error_errno(struct rag_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Put context in front of an existing message ("'x.gguf': " + msg), keeping the
 * code.  Returns err->code (or RAG_EINTERNAL when err is NULL).
 */
int rag_error_prefix(struct rag_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Short name of a status for reports ("bad input", "I/O error", ...). */
const char *rag_status_name(int code);

#endif
