/* eval-answers.h: rag-eval's answers mode (RAGAS-style metrics with a local judge). */
#ifndef RAG_EVAL_ANSWERS_H
#define RAG_EVAL_ANSWERS_H

#include <stddef.h>

#include "error.h"
#include "metrics.h"
#include "options.h"
#include "ragas.h"

struct answers_cfg {
	const char *file;            /* --answers FILE ('-' = stdin) */
	struct rag_ragas_opts ro;    /* judge, embed, cache, prompts, metrics */
	unsigned asked;              /* metrics named by -m (0: all) */
	int per_record, json;
	const struct rag_opts *o;    /* verbose, skip_bad, seed */
	const struct rag_gate *gates;
	size_t n_gates;
};

/* Is name an answer metric (so -m NAME belongs to the answers mode)? */
int answers_is_metric(const char *name);

/* Run the answers mode; returns the exit status (messages already printed). */
int eval_answers(struct answers_cfg *a);

#endif
