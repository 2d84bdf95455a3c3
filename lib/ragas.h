/* ragas.h: RAGAS-style answer metrics (faithfulness, answer relevancy, context precision/recall, factual correctness) with a local judge. */
#ifndef RAG_RAGAS_H
#define RAG_RAGAS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"
#include "judge.h"

enum rag_ragas_metric {
	RAG_RAGAS_FAITHFULNESS,
	RAG_RAGAS_ANSWER_RELEVANCY,
	RAG_RAGAS_CONTEXT_PRECISION,
	RAG_RAGAS_CONTEXT_RECALL,
	RAG_RAGAS_FACTUAL_CORRECTNESS,
	RAG_RAGAS_N
};

/* "faithfulness", "answer_relevancy", ... (static strings). */
const char *rag_ragas_metric_name(int m);
/* The metric named s, or -1. */
int rag_ragas_metric_parse(const char *s);

/* ---- the arithmetic (exact, on verdicts already obtained) ---------------- */

/* Share of 1s in v[0..n); NaN when n == 0 (callers report "no statements"). */
double rag_ragas_share(const int *v, size_t n);
/* RAGAS's context precision: sum_k (precision@k * v_k) / sum v (no 1e-10);
 * 0 when no context is useful; NaN when n == 0. */
double rag_ragas_avg_precision(const int *v, size_t n);
/* Mean of cos[0..n), times 0 when noncommittal; NaN when n == 0. */
double rag_ragas_relevancy(const double *cos, size_t n, int noncommittal);
/* Claim-level precision tp/(tp+fp), recall tp/(tp+fn) and F1 (0 when both are
 * 0; NaN precision when tp+fp == 0, NaN recall when tp+fn == 0, F1 then NaN). */
void rag_ragas_prf(size_t tp, size_t fp, size_t fn, double *p, double *r, double *f1);
/* Cosine similarity of a and b (0 when either is all zeros). */
double rag_ragas_cosine(const float *a, const float *b, size_t n);
/* Split text into sentences (ends: . ! ? followed by white space or the end,
 * and line breaks), trimmed, appended to out as NUL-terminated strings;
 * returns their number. */
size_t rag_ragas_sentences(const char *text, size_t len, struct rag_buf *out);

/* ---- prompts ------------------------------------------------------------- */

enum rag_ragas_prompt {
	RAG_PROMPT_STATEMENTS,       /* {question} {answer} -> list */
	RAG_PROMPT_FAITHFULNESS,     /* {contexts} {statement} -> 1/0 */
	RAG_PROMPT_QUESTIONS,        /* {answer} -> list */
	RAG_PROMPT_NONCOMMITTAL,     /* {answer} -> 1/0 */
	RAG_PROMPT_CONTEXT_PRECISION,/* {question} {context} {reference} -> 1/0 */
	RAG_PROMPT_CONTEXT_RECALL,   /* {question} {contexts} {sentence} -> 1/0 */
	RAG_PROMPT_CLAIMS,           /* {text} -> list */
	RAG_PROMPT_CLAIM_SUPPORT,    /* {premise} {claim} -> 1/0 */
	RAG_PROMPT_N
};

/* File name stem of prompt p ("statements", ...; the file is <stem>.txt). */
const char *rag_ragas_prompt_name(int p);
/* The built-in text of prompt p (the same as lib/prompts/<stem>.txt). */
const char *rag_ragas_prompt_default(int p);

/* ---- the evaluator ------------------------------------------------------- */

struct rag_ragas_opts {
	const char *judge;          /* decoder GGUF (required) */
	const char *embed;          /* embedding GGUF (required for answer_relevancy) */
	const char *cache;          /* SQLite verdict cache; NULL: in memory */
	const char *prompts_dir;    /* DIR/<stem>.txt replaces a built-in prompt; NULL: none */
	struct rag_judge_opts judge_opts;
	unsigned metrics;           /* bit (1u << metric) for each metric to compute */
};

void rag_ragas_opts_init(struct rag_ragas_opts *o);

/* One answer record (NUL-terminated strings; NULL = field absent). */
struct rag_ragas_input {
	const char *question, *answer, *reference;
	const char *const *contexts;
	size_t n_contexts;
};

enum rag_ragas_state {
	RAG_RAGAS_NOT_ASKED = 0,
	RAG_RAGAS_OK,
	RAG_RAGAS_NOT_COMPUTABLE,   /* the record lacks what the metric needs */
	RAG_RAGAS_JUDGE_FAILED,     /* the judge gave no usable verdict */
};

#define RAG_RAGAS_WHY_MAX 240

struct rag_ragas_score {
	double value[RAG_RAGAS_N];               /* NaN unless state is RAG_RAGAS_OK */
	enum rag_ragas_state state[RAG_RAGAS_N];
	char why[RAG_RAGAS_N][RAG_RAGAS_WHY_MAX]; /* the reason when not OK */
	double fc_precision, fc_recall;          /* factual correctness parts */
	size_t n_statements, n_claims_answer, n_claims_reference;
};

struct rag_ragas;

/*
 * Open the judge (and the embedder when answer_relevancy is asked for), the
 * cache and the prompts.  Errors: RAG_EUSAGE when answer_relevancy is asked
 * for without an embedding model; RAG_ENOINPUT / RAG_EMODEL from the model
 * files, the cache or a prompt file (RAG_EDATA for an empty one).  Free with
 * rag_ragas_free.
 */
int rag_ragas_open(const struct rag_ragas_opts *o, struct rag_ragas **out, struct rag_error *err);
void rag_ragas_free(struct rag_ragas *r);

/*
 * Score one record on every metric asked for.  A metric whose inputs are
 * missing is RAG_RAGAS_NOT_COMPUTABLE and one the judge could not answer is
 * RAG_RAGAS_JUDGE_FAILED, each with its reason; neither is an error.  Each
 * verdict is committed to the cache as soon as it is obtained.  Errors:
 * cache I/O, memory, model failures.
 */
int rag_ragas_eval(struct rag_ragas *r, const struct rag_ragas_input *in, struct rag_ragas_score *s,
		   struct rag_error *err);

/* Cache lookups answered and missed, judge model calls, and the judge hash. */
size_t rag_ragas_cache_hits(const struct rag_ragas *r);
size_t rag_ragas_cache_misses(const struct rag_ragas *r);
size_t rag_ragas_judge_calls(const struct rag_ragas *r);
const char *rag_ragas_judge_hash(const struct rag_ragas *r);

#endif
