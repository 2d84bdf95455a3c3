/* textformat.h: document formats (plain text, Markdown, HTML) turned into text to chunk, with structure and a map back to the source bytes. */
#ifndef RAG_TEXTFORMAT_H
#define RAG_TEXTFORMAT_H

#include <stddef.h>

#include "error.h"

enum rag_textformat {
	RAG_FMT_AUTO,
	RAG_FMT_TEXT,
	RAG_FMT_MARKDOWN,
	RAG_FMT_HTML,
	RAG_FMT_JSONL,
};

/* "auto", "text", "markdown", "html", "jsonl" (also "md", "txt", "htm", "ndjson").
 * RAG_EUSAGE with a message for anything else. */
int rag_textformat_parse(const char *name, enum rag_textformat *out, struct rag_error *err);
const char *rag_textformat_name(enum rag_textformat f);

/*
 * Guess the format of one input: by the extension of path (".md", ".markdown",
 * ".html", ".htm", ".xhtml", ".jsonl", ".ndjson", ".txt"), otherwise by the
 * first bytes of data: an HTML doctype or <html>/<head>/<body> tag is HTML, a
 * first line that is a JSON object is JSON Lines, a line starting with "# " or
 * a code fence is Markdown, anything else is text.  path may be NULL.
 */
enum rag_textformat rag_textformat_detect(const char *path, const char *data, size_t len);

/*
 * Boundary strengths, weakest first.  The chunker finds WORD, LINE, SENTENCE
 * and PARAGRAPH boundaries in the text itself; a format adds marks of any
 * strength (Markdown list items and table rows are BLOCK boundaries).
 */
enum rag_break {
	RAG_BREAK_CHAR,       /* inside a word: between two code points (or tokens) */
	RAG_BREAK_WORD,       /* before a word */
	RAG_BREAK_LINE,       /* after a line break */
	RAG_BREAK_SENTENCE,   /* after . ! ? (and 。！？) */
	RAG_BREAK_BLOCK,      /* before a list item, table row, code block */
	RAG_BREAK_PARAGRAPH,  /* after a blank line, or an HTML block element */
	RAG_BREAK_N
};

/* A run of text bytes [t, t+tl) made from source bytes [s, s+sl).  copy runs
 * (tl == sl) map byte for byte; the others are replaced as a whole (an HTML
 * entity, a collapsed run of white space, an invalid UTF-8 sequence made
 * U+FFFD, or an inserted line break with sl == 0). */
struct rag_textrun {
	size_t t, s, tl, sl;
	int copy;
};

struct rag_textmark {
	size_t pos;            /* a text offset where a unit starts (not white space) */
	enum rag_break level;
};

/* A span the chunker keeps in one chunk when it fits: a code block, a table row. */
struct rag_textspan {
	size_t start, end;
};

/* A section: text from start to the next section's start.  Sections are hard
 * boundaries (no chunk spans two).  heading is the path of headings above and
 * including the section's own, joined with " > " ("Install > Debian"); "" for
 * text before the first heading. */
struct rag_textsection {
	size_t start;
	char *heading;         /* owned */
};

/*
 * A document ready to chunk.  text[0..len) is valid UTF-8 and is what chunks
 * are cut from:
 *  - text and Markdown: the source itself, except that each invalid UTF-8
 *    sequence (a maximal subpart, as WHATWG decoders count them) becomes U+FFFD;
 *  - HTML: the extracted text (tags dropped, script/style/template/noscript/svg
 *    content dropped, entities decoded, white space collapsed outside <pre>,
 *    block elements separated by a blank line, <br>/<li>/<tr> by a line break).
 * runs == NULL means text is the source byte for byte.
 */
struct rag_textdoc {
	enum rag_textformat format;
	const char *text;
	size_t len;
	char *own;                       /* text's storage when it is not the source */
	const char *src;                 /* the source (not owned) */
	size_t src_len;
	struct rag_textrun *runs;
	size_t n_runs, cap_runs;
	struct rag_textmark *marks;      /* sorted by pos */
	size_t n_marks, cap_marks;
	struct rag_textspan *atoms;      /* sorted, disjoint */
	size_t n_atoms, cap_atoms;
	struct rag_textsection *sections;  /* sorted; sections[0].start == 0 */
	size_t n_sections, cap_sections;
	char *title;                     /* HTML <title>, or NULL; owned */
	size_t n_invalid;                /* invalid UTF-8 sequences replaced */
};

/*
 * Parse src[0..len) as format f (TEXT, MARKDOWN or HTML; AUTO detects from the
 * content).  d keeps pointers into src, which must outlive it.  RAG_EINTERNAL
 * when out of memory; no other failure (invalid UTF-8 is replaced, see above).
 * Release with rag_textdoc_release (safe on a zeroed or failed doc).
 */
int rag_textdoc_parse(struct rag_textdoc *d, enum rag_textformat f, const char *src, size_t len,
		      struct rag_error *err);
void rag_textdoc_release(struct rag_textdoc *d);

/*
 * Source offset where the text byte at t comes from (for a chunk's start), and
 * the source offset just after the source of the text byte before t (for a
 * chunk's end).  For a replaced run: its first source byte, and the byte after
 * its last one.  t == len maps to the end of the source.
 */
size_t rag_textdoc_src_start(const struct rag_textdoc *d, size_t t);
size_t rag_textdoc_src_end(const struct rag_textdoc *d, size_t t);

#endif
