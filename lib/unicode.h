/* unicode.h: UTF-8 decoding with Hugging Face's replacement rule, code point
 * classes, and the per-character normalizations the tokenizers need. */
#ifndef RAG_UNICODE_H
#define RAG_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Classes of a code point (bit flags; see rag_u_flags). */
enum {
	RAG_U_L = 1 << 0,     /* letter: Lu Ll Lt Lm Lo */
	RAG_U_N = 1 << 1,     /* number: Nd Nl No */
	RAG_U_P = 1 << 2,     /* punctuation: P* */
	RAG_U_S = 1 << 3,     /* symbol: S* */
	RAG_U_M = 1 << 4,     /* mark: Mn Mc Me */
	RAG_U_MN = 1 << 5,    /* nonspacing mark: Mn */
	RAG_U_WS = 1 << 6,    /* White_Space property (Rust char::is_whitespace, regex \s) */
	RAG_U_OTHER = 1 << 7, /* Cc Cf Cs Co Cn */
};

/* Class flags of cp (0 for cp > 0x10FFFF).  Thread-safe; the table is built on first use. */
uint8_t rag_u_flags(uint32_t cp);
extern const uint8_t *rag_u_table;  /* internal: valid after the first rag_u_flags/rag_u_init */
void rag_u_init(void);
static inline uint8_t rag_u_flags_fast(uint32_t cp) { return cp < 0x110000 ? rag_u_table[cp] : 0; }

/*
 * Decode one code point from s[0..n), n >= 1.  Invalid input yields U+FFFD and
 * consumes one maximal invalid subpart (the rule Rust's from_utf8_lossy and
 * Python's "replace" use).  *len is set to the bytes consumed (>= 1).
 */
uint32_t rag_utf8_decode(const unsigned char *s, size_t n, size_t *len);
/* Encode cp (<= 0x10FFFF) into out (4 bytes room); returns the byte count. */
size_t rag_utf8_encode(uint32_t cp, char *out);
/* Length of the longest valid UTF-8 prefix of s[0..n). */
size_t rag_utf8_valid_prefix(const char *s, size_t n);
/*
 * Append s[0..n) to out with each maximal invalid subpart made U+FFFD (as
 * rag_utf8_decode reads it; Hugging Face's decode does the same).  s must not
 * point into out.  Follows rag_buf's failure rule: check rag_buf_failed(out).
 */
struct rag_buf;
void rag_utf8_repair(struct rag_buf *out, const char *s, size_t n);

/* BERT's "Chinese character" ranges (CJK ideographs). */
int rag_u_is_cjk(uint32_t cp);
/* Simple lowercase mapping. */
uint32_t rag_u_lower(uint32_t cp);
/* Canonical decomposition (NFD) of one code point into out (cap >= 4); returns the count. */
int rag_u_nfd(uint32_t cp, uint32_t *out, int cap);

/* GPT-2 byte-level alphabet: the code point standing for byte b, and back (-1 if none). */
uint32_t rag_u_byte_to_cp(uint8_t b);
int rag_u_cp_to_byte(uint32_t cp);

#endif
