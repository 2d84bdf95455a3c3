/* error.c: filling struct rag_error. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

void rag_error_clear(struct rag_error *err)
{
	if (!err)
		return;
	err->code = RAG_OK;
	err->msg[0] = '\0';
}

int rag_error_vset(struct rag_error *err, int code, const char *fmt, va_list ap)
{
	if (err) {
		err->code = code;
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	}
	return code;
}

int rag_error_set(struct rag_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rag_error_vset(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int rag_error_errno(struct rag_error *err, int code, const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	size_t n;

	if (!err)
		return code;
	va_start(ap, fmt);
	rag_error_vset(err, code, fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	snprintf(err->msg + n, sizeof err->msg - n, ": %s", strerror(e));
	return code;
}

int rag_error_prefix(struct rag_error *err, const char *fmt, ...)
{
	char head[RAG_ERROR_MSG_MAX], tail[RAG_ERROR_MSG_MAX];
	va_list ap;

	if (!err)
		return RAG_EINTERNAL;
	va_start(ap, fmt);
	vsnprintf(head, sizeof head, fmt, ap);
	va_end(ap);
	memcpy(tail, err->msg, sizeof tail);
	{
		size_t h = strlen(head), t = strlen(tail);
		if (h > sizeof err->msg - 1)
			h = sizeof err->msg - 1;
		if (t > sizeof err->msg - 1 - h)
			t = sizeof err->msg - 1 - h;
		memcpy(err->msg, head, h);
		memcpy(err->msg + h, tail, t);
		err->msg[h + t] = '\0';
	}
	return err->code;
}

const char *rag_status_name(int code)
{
	switch (code) {
	case RAG_OK: return "ok";
	case RAG_EFAIL: return "negative result";
	case RAG_EUSAGE: return "usage error";
	case RAG_EDATA: return "bad input";
	case RAG_ENOINPUT: return "cannot open input";
	case RAG_EUNAVAILABLE: return "device unavailable";
	case RAG_EINTERNAL: return "internal error";
	case RAG_EIO: return "I/O error";
	case RAG_EMODEL: return "bad model or index file";
	default: return "unknown status";
	}
}
