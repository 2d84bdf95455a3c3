/* jsonl.h: streaming JSON Lines reader with line numbers and --skip-bad accounting. */
#ifndef RAG_JSONL_H
#define RAG_JSONL_H

#include <stdio.h>

#include "arena.h"
#include "buf.h"
#include "error.h"
#include "json.h"
#include "shard.h"

/*
 * Reads one line at a time from a FILE (lines of any length), parses each as a
 * JSON object, and names the input and the line in every error.  Blank lines
 * (only whitespace) are skipped; a final line without '\n' is a record; a
 * trailing '\r' is dropped.
 *
 * With skip_bad set, a bad record is counted in n_bad, passed to on_bad (if
 * any) and skipped instead of ending the read.
 *
 * With shard set (--shard), a line that is not a JSON object belongs to the
 * shard of its line number (see shard.h): outside that shard it is skipped
 * silently (neither bad nor counted), so exactly one shard reports it.
 */
struct rag_jsonl_reader {
	FILE *f;
	int own_f;              /* fclose on release */
	char *name;             /* for messages: the path, or "<stdin>" */
	size_t lineno;          /* line number of the current record, 1-based */
	size_t n_records;       /* good records returned */
	size_t n_bad;           /* bad records skipped */
	int skip_bad;
	void (*on_bad)(void *ctx, const struct rag_error *err);
	void *on_bad_ctx;
	int allow_any;          /* accept any JSON value, not only objects */
	const struct rag_shard *shard; /* NULL, or who reports lines that are not records */
	struct rag_buf line;    /* the current line; the parsed tree points into it */
	struct rag_arena arena; /* the current record's tree */
	char *blk;              /* read buffer */
	size_t blk_pos, blk_len;
	int eof;
};

/* Open path ("-" = stdin).  RAG_ENOINPUT when it cannot be opened. */
int rag_jsonl_open(struct rag_jsonl_reader *r, const char *path, struct rag_error *err);
/* Read from an open FILE, which the caller keeps owning; name is for messages. */
int rag_jsonl_init(struct rag_jsonl_reader *r, FILE *f, const char *name, struct rag_error *err);
void rag_jsonl_release(struct rag_jsonl_reader *r);

/*
 * Next raw line (without '\n' and trailing '\r'), blank lines included.
 * Returns RAG_OK with *line set, RAG_OK with *line == NULL at end of input, or
 * RAG_EIO.  The line stays valid until the next call.
 */
int rag_jsonl_next_line(struct rag_jsonl_reader *r, const char **line, size_t *len,
			struct rag_error *err);

/*
 * Next record.  RAG_OK with *rec set, RAG_OK with *rec == NULL at end of input,
 * RAG_EDATA for a bad record ("<stdin>: line 3: invalid JSON at byte 9: ...";
 * never returned with skip_bad), RAG_EIO on a read error.  The record (and
 * its raw bytes) stay valid until the next call.
 */
int rag_jsonl_next(struct rag_jsonl_reader *r, const struct rag_json **rec,
		   struct rag_error *err);

/*
 * Reject the current record for a reason found by the caller (a missing field,
 * a wrong type): formats "<name>: line N: <reason>".  With skip_bad the record
 * is counted and RAG_OK is returned (the caller skips it); otherwise RAG_EDATA.
 */
int rag_jsonl_reject(struct rag_jsonl_reader *r, struct rag_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
