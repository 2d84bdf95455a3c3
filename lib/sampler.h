/* sampler.h: choosing the next token from logits: penalties, temperature, top-k/p, min-p, seeded. */
#ifndef RAG_SAMPLER_H
#define RAG_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/*
 * Sampling settings.  rag_sampler_params_init fills the defaults (greedy, no
 * filters, no penalties).  The order of application (Hugging Face's):
 * penalties over the last penalty_last_n accepted tokens; then, when
 * temperature > 0, logits / temperature, top-k, top-p (nucleus), min-p, and a
 * draw from the remaining distribution with the seeded generator; when
 * temperature <= 0, the argmax (ties: the lowest id).
 */
struct rag_sampler_params {
	float temperature;        /* <= 0: greedy */
	int top_k;                /* <= 0: off */
	float top_p;              /* >= 1: off */
	float min_p;              /* <= 0: off; keep p >= min_p * p_max */
	float repeat_penalty;     /* 1: off; logit > 0 divided, < 0 multiplied (CTRL) */
	float presence_penalty;   /* 0: off; subtracted once from every seen token */
	float frequency_penalty;  /* 0: off; subtracted per occurrence */
	int penalty_last_n;       /* window of accepted tokens for penalties; default 64, -1 = all */
	uint64_t seed;            /* same seed, same settings, same logits: same tokens */
};

void rag_sampler_params_init(struct rag_sampler_params *p);

struct rag_sampler;

/* A sampler over a vocabulary of n_vocab.  RAG_EUSAGE for settings out of range
 * (the message names the setting), RAG_EINTERNAL when memory runs out. */
int rag_sampler_new(const struct rag_sampler_params *p, int64_t n_vocab, struct rag_sampler **out,
		    struct rag_error *err);
void rag_sampler_free(struct rag_sampler *s);

/* Forget the accepted tokens and restart the random generator from the seed. */
void rag_sampler_reset(struct rag_sampler *s);
/* Record a token (prompt or generated) for the penalties. */
void rag_sampler_accept(struct rag_sampler *s, int32_t id);
/* Choose a token from logits[n_vocab] (the array is modified: penalties, scaling).
 * Does not accept it. */
int32_t rag_sampler_sample(struct rag_sampler *s, float *logits);

#endif
