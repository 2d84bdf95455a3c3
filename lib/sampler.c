/* sampler.c: penalties, temperature, top-k, top-p, min-p and a seeded draw over logits. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "sampler.h"

struct cand {
	int32_t id;
	float logit;
};

struct rag_sampler {
	struct rag_sampler_params p;
	int64_t n_vocab;
	uint32_t *count;       /* occurrences inside the window, per token */
	int32_t *hist;         /* ring of the window's tokens */
	int64_t hist_cap, hist_n, hist_head;
	struct cand *cand;
	uint64_t rng[4];
};

void rag_sampler_params_init(struct rag_sampler_params *p)
{
	memset(p, 0, sizeof *p);
	p->temperature = 0.0f;
	p->top_p = 1.0f;
	p->repeat_penalty = 1.0f;
	p->penalty_last_n = 64;
	p->seed = 0;
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256**: a fixed, portable generator, so a seed means the same draws everywhere. */
static uint64_t next_u64(struct rag_sampler *s)
{
	uint64_t *r = s->rng, out = rotl(r[1] * 5, 7) * 9, t = r[1] << 17;
	r[2] ^= r[0];
	r[3] ^= r[1];
	r[1] ^= r[2];
	r[0] ^= r[3];
	r[2] ^= t;
	r[3] = rotl(r[3], 45);
	return out;
}

static double next_unit(struct rag_sampler *s)
{
	return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

void rag_sampler_reset(struct rag_sampler *s)
{
	uint64_t x = s->p.seed;
	for (int i = 0; i < 4; i++)
		s->rng[i] = splitmix64(&x);
	memset(s->count, 0, (size_t)s->n_vocab * sizeof *s->count);
	s->hist_n = s->hist_head = 0;
}

int rag_sampler_new(const struct rag_sampler_params *p, int64_t n_vocab, struct rag_sampler **out,
		    struct rag_error *err)
{
	struct rag_sampler *s;

	*out = NULL;
	if (!(p->temperature >= 0.0f) && !(p->temperature <= 0.0f))
		return rag_error_set(err, RAG_EUSAGE, "temperature is not a number");
	if (!(p->top_p > 0.0f))
		return rag_error_set(err, RAG_EUSAGE, "top-p must be greater than 0");
	if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
		return rag_error_set(err, RAG_EUSAGE, "min-p must be within [0, 1]");
	if (!(p->repeat_penalty > 0.0f))
		return rag_error_set(err, RAG_EUSAGE, "repeat penalty must be greater than 0");
	if (n_vocab <= 0)
		return rag_error_set(err, RAG_EUSAGE, "empty vocabulary");
	s = rag_calloc(1, sizeof *s);
	if (!s)
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	s->p = *p;
	s->n_vocab = n_vocab;
	s->hist_cap = p->penalty_last_n < 0 ? 0 : p->penalty_last_n;
	s->count = rag_calloc((size_t)n_vocab, sizeof *s->count);
	s->cand = rag_malloc((size_t)n_vocab * sizeof *s->cand);
	s->hist = rag_malloc((size_t)(s->hist_cap + 1) * sizeof *s->hist);
	if (!s->count || !s->cand || !s->hist) {
		rag_sampler_free(s);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	rag_sampler_reset(s);
	*out = s;
	return 0;
}

void rag_sampler_free(struct rag_sampler *s)
{
	if (!s)
		return;
	rag_free(s->count);
	rag_free(s->cand);
	rag_free(s->hist);
	rag_free(s);
}

void rag_sampler_accept(struct rag_sampler *s, int32_t id)
{
	if (id < 0 || id >= s->n_vocab)
		return;
	if (s->p.penalty_last_n < 0) {   /* unbounded window */
		s->count[id]++;
		return;
	}
	if (s->hist_cap == 0)
		return;
	if (s->hist_n == s->hist_cap) {  /* drop the oldest */
		int32_t old = s->hist[s->hist_head];
		s->count[old]--;
		s->hist[s->hist_head] = id;
		s->hist_head = (s->hist_head + 1) % s->hist_cap;
	} else {
		s->hist[(s->hist_head + s->hist_n) % s->hist_cap] = id;
		s->hist_n++;
	}
	s->count[id]++;
}

static void apply_penalties(struct rag_sampler *s, float *logits)
{
	const struct rag_sampler_params *p = &s->p;
	if (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f)
		return;
	for (int64_t v = 0; v < s->n_vocab; v++) {
		uint32_t c = s->count[v];
		if (!c)
			continue;
		if (p->repeat_penalty != 1.0f)
			logits[v] = logits[v] > 0 ? logits[v] / p->repeat_penalty
						  : logits[v] * p->repeat_penalty;
		logits[v] -= (float)c * p->frequency_penalty + p->presence_penalty;
	}
}

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->logit != y->logit)
		return x->logit < y->logit ? 1 : -1;
	return x->id < y->id ? -1 : x->id > y->id;
}

int32_t rag_sampler_sample(struct rag_sampler *s, float *logits)
{
	const struct rag_sampler_params *p = &s->p;
	int64_t n = 0, best = 0;
	float mx;
	double sum = 0.0, acc, r;

	apply_penalties(s, logits);
	for (int64_t v = 1; v < s->n_vocab; v++)
		if (logits[v] > logits[best] || (logits[best] != logits[best] && logits[v] == logits[v]))
			best = v;
	if (p->temperature <= 0.0f)
		return (int32_t)best;
	mx = logits[best];
	/* candidates whose probability relative to the best is below e^-40 cannot be
	 * drawn in double precision; leaving them out keeps the sort short */
	for (int64_t v = 0; v < s->n_vocab; v++) {
		float l = (logits[v] - mx) / p->temperature;
		if (l >= -40.0f) {
			s->cand[n].id = (int32_t)v;
			s->cand[n].logit = l;
			n++;
		}
	}
	qsort(s->cand, (size_t)n, sizeof *s->cand, cmp_cand);
	if (p->top_k > 0 && n > p->top_k)
		n = p->top_k;
	for (int64_t i = 0; i < n; i++)
		sum += exp((double)s->cand[i].logit);
	if (p->top_p < 1.0f) {
		acc = 0.0;
		for (int64_t i = 0; i < n; i++) {
			acc += exp((double)s->cand[i].logit) / sum;
			if (acc >= p->top_p) {
				n = i + 1;
				break;
			}
		}
	}
	if (p->min_p > 0.0f) {
		/* the first candidate has relative probability 1 */
		for (int64_t i = 1; i < n; i++)
			if (exp((double)s->cand[i].logit) < p->min_p) {
				n = i;
				break;
			}
	}
	sum = 0.0;
	for (int64_t i = 0; i < n; i++)
		sum += exp((double)s->cand[i].logit);
	r = next_unit(s) * sum;
	acc = 0.0;
	for (int64_t i = 0; i < n; i++) {
		acc += exp((double)s->cand[i].logit);
		if (r < acc)
			return s->cand[i].id;
	}
	return s->cand[n - 1].id;
}
