/* chunker.h: split documents into chunks sized in model tokens, characters or words, with a guaranteed overlap, and write them as chunk records. */
#ifndef RAG_CHUNKER_H
#define RAG_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"
#include "json.h"
#include "textformat.h"
#include "tokenizer.h"

enum rag_chunk_unit {
	RAG_CHUNK_TOKENS,   /* tokens of opts.tok, counting the special tokens it adds */
	RAG_CHUNK_CHARS,    /* Unicode code points */
	RAG_CHUNK_WORDS,    /* runs of non-white-space */
};

enum rag_chunk_ids {
	RAG_CHUNK_IDS_CONTENT,  /* id from (doc_id, text hash, how many earlier chunks of the document have that hash) */
	RAG_CHUNK_IDS_OFFSETS,  /* id from (doc_id, start, end, text hash) */
};

struct rag_chunk_opts {
	enum rag_chunk_unit unit;
	size_t max;                        /* the cap, in units; for tokens it includes the added special tokens */
	size_t overlap;                    /* units each chunk repeats from the previous one of its section */
	const struct rag_tokenizer *tok;   /* RAG_CHUNK_TOKENS only; not owned */
	enum rag_chunk_ids ids;
};

/*
 * Check opts: max >= 1, overlap < the room for text (max minus the special
 * tokens for tokens), at least 4 tokens of room (so that any one code point
 * fits), a tokenizer for RAG_CHUNK_TOKENS.  RAG_EUSAGE with a message.
 */
int rag_chunk_opts_check(const struct rag_chunk_opts *o, struct rag_error *err);

/*
 * One chunk.  start/end: byte offsets into the document's text (struct
 * rag_textdoc.text); src_start/src_end: byte offsets into its source (see
 * rag_textdoc_src_start/_end).  size: its measure in the unit (for tokens: the
 * exact count of the chunk's text tokenized on its own plus the special
 * tokens).
 */
struct rag_chunk {
	size_t start, end;
	size_t src_start, src_end;
	size_t section;
	size_t size;
	uint64_t hash;       /* FNV-1a 64 of text[start..end) */
};

struct rag_chunk_list {
	struct rag_chunk *v;
	size_t n, cap;
	size_t short_overlaps;   /* pairs whose overlap could not be met (should stay 0) */
};

void rag_chunk_list_init(struct rag_chunk_list *l);
void rag_chunk_list_free(struct rag_chunk_list *l);

/*
 * Split doc into chunks (replacing l's contents).  The rules:
 *  - No chunk spans a section boundary (a heading starts a new chunk).
 *  - Chunks never start or end with white space; every byte of the text that
 *    is not white space lies in some chunk.
 *  - Every chunk measures at most opts.max units.
 *  - A chunk ends at the strongest boundary (enum rag_break) between a quarter
 *    of the cap and the cap, the last one of that strength; failing that, the
 *    strongest before a quarter; failing that, inside a word, at the last
 *    code point (or token start, snapped back to a code point) that fits.
 *    Boundaries inside a code block or table row that fits in a chunk (with
 *    the overlap) are used only when there is no other.
 *  - Each chunk after the first of a section starts with at least
 *    opts.overlap units of the previous chunk: at the start of the word that
 *    holds the first of those units, unless that word would take more than
 *    half of the room left after the overlap, in which case inside the word.
 * Thread-safe for distinct l.  RAG_EINTERNAL (out of memory) or a tokenizer error.
 */
int rag_chunk_split(const struct rag_chunk_opts *o, const struct rag_textdoc *doc,
		    struct rag_chunk_list *l, struct rag_error *err);

/*
 * The measure of text[0..len) in o's unit (tokens: tokenized alone, special
 * tokens included).  For tests and callers that verify chunks.
 */
int rag_chunk_measure(const struct rag_chunk_opts *o, const char *text, size_t len, size_t *out,
		      struct rag_error *err);

/*
 * What a document brings to its chunk records.  rec: the JSON Lines document
 * (NULL for a file), whose members other than id/_id, the text field, title,
 * meta and acl are copied into every chunk; meta/acl/title: taken from rec
 * when it has them, else from defaults (a JSON object, a JSON array and a
 * string; each may be NULL).
 */
struct rag_chunk_docinfo {
	const char *doc_id;
	size_t doc_id_len;
	const struct rag_json *rec;
	const char *const *drop;             /* extra rec members to leave out (NULL-terminated) */
	const struct rag_json *meta_default; /* object or NULL */
	const char *acl_default;             /* raw JSON array or NULL */
	const char *title;                   /* used when rec has no title; may be NULL */
};

/*
 * Append one JSON Lines record per chunk to out:
 *   {"id","doc_id","text","title"?,"start","end","hash","meta"?,"acl"?,...}
 * hash: 16 hex digits of FNV-1a 64 of the text; id: doc_id + "#" + 16 hex
 * digits of FNV-1a 64 over (doc_id, NUL, and per o->ids either the 8 bytes of
 * the hash and a 4-byte occurrence count, or "start-end" and the hash), both
 * little-endian.  meta is the document's meta plus "heading" (the section's
 * heading path) when there is one.  RAG_EINTERNAL when out of memory.
 */
int rag_chunk_write(const struct rag_chunk_opts *o, const struct rag_textdoc *doc,
		    const struct rag_chunk_list *l, const struct rag_chunk_docinfo *info,
		    struct rag_buf *out, struct rag_error *err);

#endif
