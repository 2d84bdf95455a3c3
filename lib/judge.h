/* judge.h: a decoder GGUF asked for verdicts with output that always parses, every answer cached. */
#ifndef RAG_JUDGE_H
#define RAG_JUDGE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"
#include "verdict_cache.h"

struct rag_judge_opts {
	uint64_t seed;         /* seed of the sampled retries (the first attempt is greedy) */
	int retries;           /* extra attempts when a list comes back empty (default 2) */
	int64_t max_tokens;    /* tokens per list answer (default 192) */
	int64_t n_ctx;         /* context of the judge (0: the model's, at most 4096) */
	int cuda;              /* run the judge model on the GPU (default 0: the CPU) */
	int cpu_fallback;      /* with cuda: a GPU that cannot take the model means the CPU */
};

void rag_judge_opts_init(struct rag_judge_opts *o);

struct rag_judge;

/*
 * Open the judge model at path (through the rag-generate engine) and hash its
 * bytes (cached in cache by size and mtime).  cache is borrowed: it must
 * outlive the judge.  Errors: those of rag_lm_open; RAG_EMODEL when the
 * tokenizer has no single tokens for "1" and "0".  Free with rag_judge_free.
 */
int rag_judge_open(const char *path, struct rag_vcache *cache, const struct rag_judge_opts *o,
		   struct rag_judge **out, struct rag_error *err);
void rag_judge_free(struct rag_judge *j);

/* The judge model's hash ("fnv1a64:...:size"). */
const char *rag_judge_model_hash(const struct rag_judge *j);

/*
 * A 1/0 verdict on prompt (the user message; rendered through the model's chat
 * template).  Constrained decoding: after the prompt, only the tokens "1" and
 * "0" are allowed, so the answer is whichever of the two the model rates
 * higher (a tie is 0) and cannot fail to parse.  *verdict: 1 or 0, or -1 when
 * no verdict could be had, with the reason in why ("prompt of N tokens does
 * not fit the M-token context").  Cached under (task, rendered prompt, model
 * hash).  Returns RAG_OK (also for -1), or an error of the cache / memory.
 */
int rag_judge_verdict(struct rag_judge *j, const char *task, const char *prompt, int *verdict,
		      struct rag_buf *why, struct rag_error *err);

/*
 * A list answer: the judge's reply is primed with "- " and generated
 * (greedy; retries sampled with seed + attempt), and the items are its lines
 * that start with "- " (rag_judge_parse_list).  items receives the items as
 * consecutive NUL-terminated strings; *n their number.  When no attempt gives
 * an item, *n is 0 and why says so.  Each attempt is cached on its own.
 */
int rag_judge_list(struct rag_judge *j, const char *task, const char *prompt, struct rag_buf *items,
		   size_t *n, struct rag_buf *why, struct rag_error *err);

/*
 * Parse list output: each line whose first non-blank characters are "- ",
 * "* " or "N. " / "N) " gives one item (trimmed; empty items dropped); other
 * lines (prose, headings, a partial last line without marker) are ignored.
 * Items are appended to out as NUL-terminated strings; returns their number
 * (at most max).
 */
size_t rag_judge_parse_list(const char *text, size_t len, size_t max, struct rag_buf *out);

/* Parse a verdict line: the first non-blank character "1"/"0", or a leading
 * yes/no, true/false (any case); -1 for anything else. */
int rag_judge_parse_verdict(const char *text, size_t len);

/* Calls of the judge model (prompts not answered from the cache). */
size_t rag_judge_calls(const struct rag_judge *j);

#endif
