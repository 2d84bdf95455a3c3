/* tokenizer.h: model tokenizers (WordPiece, byte-level BPE, SentencePiece BPE,
 * Unigram) built from a GGUF file's tokenizer.* metadata, with exact Hugging
 * Face parity. */
#ifndef RAG_TOKENIZER_H
#define RAG_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "error.h"
#include "gguf.h"

struct rag_tokenizer;

/* Special tokens a model may define. */
enum rag_special {
	RAG_TOK_BOS,
	RAG_TOK_EOS,
	RAG_TOK_UNK,
	RAG_TOK_SEP,
	RAG_TOK_PAD,
	RAG_TOK_CLS,
	RAG_TOK_MASK,
	RAG_TOK_EOT,
	RAG_TOK_N_SPECIAL
};

/* Flags for rag_tokenize. */
enum {
	RAG_TOK_ADD_SPECIAL = 1 << 0,   /* add what the model adds: [CLS]/[SEP], BOS/EOS per add_bos/add_eos */
	RAG_TOK_PARSE_SPECIAL = 1 << 1, /* text like "<|im_start|>" becomes the special token
					 * (Hugging Face always does this; ragkit only when asked,
					 * except for user-defined added tokens, always matched) */
	RAG_TOK_OFFSETS = 1 << 2,       /* fill start/end byte offsets */
};

/*
 * Output of a tokenization.  Arrays are owned by the struct and grown as
 * needed; rag_tokens_init zeroes it, rag_tokens_free releases it (and it can
 * be reused across calls without freeing).  start/end are byte offsets into
 * the input text, filled with RAG_TOK_OFFSETS (special tokens added by the
 * tokenizer get start == end); they are Hugging Face's offsets in bytes: a
 * byte-level token holding part of a character spans the whole character, so
 * neighbours may overlap but a span never cuts a character.  type_ids: the segment of each token (0, or 1
 * for the second text of a pair).
 */
struct rag_tokens {
	int32_t *ids;
	uint32_t *start, *end;
	uint8_t *type_ids;
	size_t n, cap;
	void *scratch;   /* private: the tokenizer's per-caller working memory */
};

void rag_tokens_init(struct rag_tokens *t);
void rag_tokens_free(struct rag_tokens *t);

/*
 * Build the tokenizer described by g's tokenizer.* keys.  When g carries
 * tokenizer.huggingface.json (Hugging Face directories do; so do files
 * rag-model convert writes from them), encoding follows that description as
 * the tokenizers library does: added tokens (special, normalized, lstrip,
 * rstrip, single_word), normalizers (BertNormalizer, Lowercase, NFC/NFD/NFKC/
 * NFKD, StripAccents, Strip, Replace, Prepend, Precompiled, Nmt, Sequence),
 * pre-tokenizers (BertPreTokenizer, Whitespace, WhitespaceSplit, Metaspace,
 * ByteLevel, Split with every behavior, Punctuation, Digits,
 * CharDelimiterSplit, Sequence), models (WordPiece, BPE with byte_fallback,
 * prefixes/suffixes and ignore_merges, Unigram, WordLevel) and post-processors
 * (TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence);
 * tokenizer.ggml.* then only supply the vocabulary for decoding and special
 * token kinds.  RAG_EMODEL when the metadata is missing, inconsistent, or
 * names a tokenizer, pre-tokenizer or tokenizer.json component type ragkit
 * does not implement (the message names it, e.g. "tokenizer.json:
 * pre-tokenizer 'UnicodeScripts' is not supported").  The tokenizer copies
 * what it needs; g may be closed afterwards.  Read-only once built: any number
 * of threads may use one tokenizer at the same time.
 */
int rag_tokenizer_from_gguf(const struct rag_gguf *g, struct rag_tokenizer **out,
			    struct rag_error *err);
void rag_tokenizer_free(struct rag_tokenizer *t);

/*
 * Tokenize text[0..len) (UTF-8; invalid bytes are treated as Hugging Face does:
 * replaced by U+FFFD before normalization).  Replaces out's contents.
 */
int rag_tokenize(const struct rag_tokenizer *t, const char *text, size_t len, unsigned flags,
		 struct rag_tokens *out, struct rag_error *err);

/* A pair (query, passage) as a cross-encoder sees it: [CLS] a [SEP] b [SEP] with
 * type ids 0 for the first segment and 1 for the second.  Offsets of the
 * tokens of b are byte offsets into b.  Models without [CLS]/[SEP] (gpt2,
 * llama) get [BOS] a [EOS] b [EOS] with BOS/EOS as their add_bos/add_eos flags say.
 * An empty b is no second text (as transformers does): the result is rag_tokenize(a). */
int rag_tokenize_pair(const struct rag_tokenizer *t, const char *a, size_t alen,
		      const char *b, size_t blen, unsigned flags, struct rag_tokens *out,
		      struct rag_error *err);

/* Append the text of ids to out.  skip_special: leave special tokens out. */
int rag_detokenize(const struct rag_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
		   struct rag_buf *out, struct rag_error *err);
/*
 * As rag_detokenize, but the bytes the tokens stand for, without replacing
 * invalid UTF-8: a byte-level BPE splits characters across tokens, so a text
 * decoded token by token (streaming) must join the bytes before it repairs
 * them (rag_utf8_repair), or a character split in two becomes two U+FFFD.
 * started: NULL to decode ids as a whole text; else the state of a text
 * decoded in pieces: 0 before the first piece, set to 1 once a token is
 * decoded (a skipped special token is not), so that only the text's first
 * token is decoded as its start (without a SentencePiece prefix space or a
 * WordPiece joining space).  The pieces decoded in turn give the bytes of
 * the whole.
 */
int rag_detokenize_bytes(const struct rag_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
			 int *started, struct rag_buf *out, struct rag_error *err);

/* The vocabulary entry of id (as stored, e.g. "##ing" or "Ġthe"), or NULL. */
const char *rag_token_piece(const struct rag_tokenizer *t, int32_t id, size_t *len);
size_t rag_tokenizer_vocab_size(const struct rag_tokenizer *t);
/* Id of a special token, or -1 when the model has none. */
int32_t rag_tokenizer_special(const struct rag_tokenizer *t, enum rag_special which);
/* Is id a control/special token (not text)? */
int rag_token_is_special(const struct rag_tokenizer *t, int32_t id);
/* How many special tokens RAG_TOK_ADD_SPECIAL adds to one text (pair = 0) or a pair (pair = 1). */
int rag_tokenizer_n_added(const struct rag_tokenizer *t, int pair);
/* "bert", "gpt2", "llama" or "t5"; and the pre-tokenizer name ("gpt-2", "qwen2", ...) or "". */
const char *rag_tokenizer_model(const struct rag_tokenizer *t);
const char *rag_tokenizer_pre(const struct rag_tokenizer *t);

/* ---- additions: truncation and JSON Lines records (rag-tokenize) ---- */

/*
 * Shorten out to at most max tokens, keeping the special tokens the tokenizer
 * added ([CLS]/[SEP]/BOS/EOS: special ids with start == end).  head = 0 drops
 * text tokens from the end, head = 1 from the start; in a pair the longer
 * segment loses tokens first (Hugging Face's longest_first).  When the added
 * tokens alone exceed max, only they remain.  Returns 1 when tokens were
 * removed, else 0.
 */
int rag_tokens_truncate(const struct rag_tokenizer *t, struct rag_tokens *out, size_t max, int head);

struct rag_shard;

/* What rag_tokenize_record does with one input line. */
struct rag_tokrec_opts {
	const char *field;   /* text field (default "text"); with decode, the field written */
	const char *pair;    /* second text field for pairs, or NULL */
	const char *ids_field; /* decode: the field holding ids (default "ids") */
	int lines;           /* the line is plain text, not a JSON object */
	int pieces, offsets, n_tokens, count, decode, skip_special;
	unsigned flags;      /* RAG_TOK_* for rag_tokenize */
	long truncate;       /* > 0: rag_tokens_truncate to this many */
	int trunc_head;
	const struct rag_shard *shard; /* NULL, or keep only this shard's records
				* (shard.h): keyed by "doc_id", else "id", else
				* (and with lines) the line number */
};

/*
 * Turn one input line into one output record (appended to out, with '\n'):
 * JSON input keeps its fields byte for byte and gains "ids" (and "pieces",
 * "offsets" as [start, end] byte pairs, "type_ids" for pairs, "n_tokens",
 * "truncated" when asked or when it applies); --count records carry
 * "n_tokens" instead of "ids"; decode writes the text of the ids field into
 * o->field.  Plain lines become {"<field>": line, ...}; invalid UTF-8 in them
 * is tokenized as Hugging Face does (each bad sequence as U+FFFD) and written
 * with U+FFFD.  RAG_EDATA with "<name>: line N: ..." for a bad record
 * (invalid JSON, missing or non-string field, bad ids).  tok and a are the
 * caller's scratch (one per thread).  A record of another shard than
 * o->shard appends nothing and returns 0, unchecked.
 */
int rag_tokenize_record(const struct rag_tokenizer *t, const struct rag_tokrec_opts *o, const char *line,
			size_t len, const char *name, size_t lineno, struct rag_tokens *tok,
			struct rag_arena *a, struct rag_buf *out, struct rag_error *err);

#endif
