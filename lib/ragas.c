/* ragas.c: RAGAS-style answer metrics: judge calls per metric, arithmetic, embeddings for answer relevancy. */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "embed.h"
#include "ragas.h"

static const char *const metric_names[RAG_RAGAS_N] = {
	"faithfulness", "answer_relevancy", "context_precision", "context_recall", "factual_correctness",
};

const char *rag_ragas_metric_name(int m)
{
	return m >= 0 && m < RAG_RAGAS_N ? metric_names[m] : NULL;
}

int rag_ragas_metric_parse(const char *s)
{
	int m;

	for (m = 0; m < RAG_RAGAS_N; m++)
		if (strcmp(s, metric_names[m]) == 0)
			return m;
	return -1;
}

/* ---- arithmetic ---------------------------------------------------------- */

double rag_ragas_share(const int *v, size_t n)
{
	size_t i, k = 0;

	if (n == 0)
		return NAN;
	for (i = 0; i < n; i++)
		k += v[i] == 1;
	return (double)k / (double)n;
}

double rag_ragas_avg_precision(const int *v, size_t n)
{
	double num = 0;
	size_t i, hits = 0;

	if (n == 0)
		return NAN;
	for (i = 0; i < n; i++) {
		if (v[i] != 1)
			continue;
		hits++;
		num += (double)hits / (double)(i + 1);
	}
	return hits ? num / (double)hits : 0.0;
}

double rag_ragas_relevancy(const double *cos, size_t n, int noncommittal)
{
	double s = 0;
	size_t i;

	if (n == 0)
		return NAN;
	for (i = 0; i < n; i++)
		s += cos[i];
	return noncommittal ? 0.0 : s / (double)n;
}

void rag_ragas_prf(size_t tp, size_t fp, size_t fn, double *p, double *r, double *f1)
{
	*p = tp + fp ? (double)tp / (double)(tp + fp) : NAN;
	*r = tp + fn ? (double)tp / (double)(tp + fn) : NAN;
	if (isnan(*p) || isnan(*r))
		*f1 = NAN;
	else
		*f1 = *p + *r > 0 ? 2 * *p * *r / (*p + *r) : 0.0;
}

double rag_ragas_cosine(const float *a, const float *b, size_t n)
{
	double d = 0, na = 0, nb = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		d += (double)a[i] * b[i];
		na += (double)a[i] * a[i];
		nb += (double)b[i] * b[i];
	}
	return na > 0 && nb > 0 ? d / (sqrt(na) * sqrt(nb)) : 0.0;
}

size_t rag_ragas_sentences(const char *text, size_t len, struct rag_buf *out)
{
	size_t i = 0, n = 0;

	while (i < len) {
		size_t s, e;
		while (i < len && isspace((unsigned char)text[i]))
			i++;
		s = i;
		while (i < len && text[i] != '\n') {
			char c = text[i++];
			if ((c == '.' || c == '!' || c == '?') && (i == len || isspace((unsigned char)text[i])))
				break;
		}
		e = i;
		while (e > s && isspace((unsigned char)text[e - 1]))
			e--;
		if (e > s) {
			rag_buf_add(out, text + s, e - s);
			rag_buf_addc(out, '\0');
			n++;
		}
	}
	return n;
}

/* ---- the evaluator ------------------------------------------------------- */

struct rag_ragas {
	struct rag_ragas_opts o;
	struct rag_vcache *cache;
	struct rag_judge *judge;
	struct rag_embedder *emb;
	char *prompts[RAG_PROMPT_N];    /* loaded replacements, or NULL */
	struct rag_buf p, items, items2, why, ctx;
};

void rag_ragas_opts_init(struct rag_ragas_opts *o)
{
	memset(o, 0, sizeof *o);
	rag_judge_opts_init(&o->judge_opts);
	o->metrics = (1u << RAG_RAGAS_N) - 1;
}

void rag_ragas_free(struct rag_ragas *r)
{
	int i;

	if (!r)
		return;
	rag_judge_free(r->judge);
	rag_embedder_free(r->emb);
	rag_vcache_free(r->cache);
	for (i = 0; i < RAG_PROMPT_N; i++)
		rag_free(r->prompts[i]);
	rag_buf_free(&r->p);
	rag_buf_free(&r->items);
	rag_buf_free(&r->items2);
	rag_buf_free(&r->why);
	rag_buf_free(&r->ctx);
	rag_free(r);
}

static int load_prompts(struct rag_ragas *r, struct rag_error *err)
{
	struct rag_buf path, text;
	int i, rc = RAG_OK;

	rag_buf_init(&path);
	rag_buf_init(&text);
	for (i = 0; i < RAG_PROMPT_N && !rc; i++) {
		FILE *f;
		rag_buf_reset(&path);
		rag_buf_printf(&path, "%s/%s.txt", r->o.prompts_dir, rag_ragas_prompt_name(i));
		if (rag_buf_failed(&path)) {
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			break;
		}
		f = fopen(path.data, "rb");
		if (!f)
			continue;  /* this prompt keeps its built-in text */
		fclose(f);
		rag_buf_reset(&text);
		if ((rc = rag_buf_read_file(&text, path.data, err)))
			break;
		if (text.len == 0) {
			rc = rag_error_set(err, RAG_EDATA, "prompt file '%s' is empty", path.data);
			break;
		}
		rag_buf_addc(&text, '\0');
		if (rag_buf_failed(&text) || !(r->prompts[i] = rag_malloc(text.len))) {
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			break;
		}
		memcpy(r->prompts[i], text.data, text.len);
	}
	rag_buf_free(&path);
	rag_buf_free(&text);
	return rc;
}

int rag_ragas_open(const struct rag_ragas_opts *o, struct rag_ragas **out, struct rag_error *err)
{
	struct rag_ragas *r;
	int rc;

	*out = NULL;
	if ((o->metrics & (1u << RAG_RAGAS_ANSWER_RELEVANCY)) && !o->embed)
		return rag_error_set(err, RAG_EUSAGE, "answer_relevancy needs an embedding model (--embed MODEL)");
	if (!o->judge)
		return rag_error_set(err, RAG_EUSAGE, "answer metrics need a judge model (--judge MODEL)");
	r = rag_calloc(1, sizeof *r);
	if (!r)
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	r->o = *o;
	rag_buf_init(&r->p);
	rag_buf_init(&r->items);
	rag_buf_init(&r->items2);
	rag_buf_init(&r->why);
	rag_buf_init(&r->ctx);
	if (o->prompts_dir && (rc = load_prompts(r, err)))
		goto fail;
	if ((rc = rag_vcache_open(o->cache, &r->cache, err)))
		goto fail;
	if ((rc = rag_judge_open(o->judge, r->cache, &o->judge_opts, &r->judge, err)))
		goto fail;
	if ((o->metrics & (1u << RAG_RAGAS_ANSWER_RELEVANCY)) &&
	    (rc = rag_embedder_open(o->embed, NULL, &r->emb, err)))
		goto fail;
	*out = r;
	return RAG_OK;
fail:
	rag_ragas_free(r);
	return rc;
}

/* Fill prompt p: every {key} in the template is replaced by its value. */
static int fill(struct rag_ragas *r, int p, const char *const *kv, size_t n_kv, struct rag_error *err)
{
	const char *t = r->prompts[p] ? r->prompts[p] : rag_ragas_prompt_default(p);
	size_t i;

	rag_buf_reset(&r->p);
	while (*t) {
		int done = 0;
		if (*t == '{')
			for (i = 0; i < n_kv; i += 2) {
				size_t kl = strlen(kv[i]);
				if (strncmp(t + 1, kv[i], kl) == 0 && t[1 + kl] == '}') {
					rag_buf_adds(&r->p, kv[i + 1] ? kv[i + 1] : "");
					t += kl + 2;
					done = 1;
					break;
				}
			}
		if (!done)
			rag_buf_addc(&r->p, *t++);
	}
	rag_buf_addc(&r->p, '\0');
	return rag_buf_failed(&r->p) ? rag_error_set(err, RAG_EINTERNAL, "out of memory") : RAG_OK;
}

/* The contexts as one block: "[1] text\n\n[2] text". */
static int join_contexts(struct rag_ragas *r, const struct rag_ragas_input *in, struct rag_error *err)
{
	size_t i;

	rag_buf_reset(&r->ctx);
	for (i = 0; i < in->n_contexts; i++)
		rag_buf_printf(&r->ctx, "%s[%zu] %s", i ? "\n\n" : "", i + 1, in->contexts[i]);
	rag_buf_addc(&r->ctx, '\0');
	return rag_buf_failed(&r->ctx) ? rag_error_set(err, RAG_EINTERNAL, "out of memory") : RAG_OK;
}

static void set_state(struct rag_ragas_score *s, int m, enum rag_ragas_state st, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void set_state(struct rag_ragas_score *s, int m, enum rag_ragas_state st, const char *fmt, ...)
{
	va_list ap;

	s->state[m] = st;
	s->value[m] = NAN;
	va_start(ap, fmt);
	vsnprintf(s->why[m], RAG_RAGAS_WHY_MAX, fmt, ap);
	va_end(ap);
}

/* Ask for a verdict; on failure mark metric m and return 0 through *ok. */
static int verdict(struct rag_ragas *r, int m, const char *task, const char *what, struct rag_ragas_score *s,
		   int *v, struct rag_error *err)
{
	int rc;

	rag_buf_reset(&r->why);
	if ((rc = rag_judge_verdict(r->judge, task, r->p.data, v, &r->why, err)))
		return rc;
	if (*v < 0) {
		rag_buf_addc(&r->why, '\0');
		set_state(s, m, RAG_RAGAS_JUDGE_FAILED, "%s: %.200s", what, r->why.data ? r->why.data : "");
	}
	return RAG_OK;
}

static int list(struct rag_ragas *r, int m, const char *task, const char *what, struct rag_buf *items,
		size_t *n, struct rag_ragas_score *s, struct rag_error *err)
{
	int rc;

	rag_buf_reset(items);
	rag_buf_reset(&r->why);
	if ((rc = rag_judge_list(r->judge, task, r->p.data, items, n, &r->why, err)))
		return rc;
	if (*n == 0) {
		rag_buf_addc(&r->why, '\0');
		set_state(s, m, RAG_RAGAS_JUDGE_FAILED, "%s: %.200s", what, r->why.data ? r->why.data : "");
	}
	return RAG_OK;
}

/* Next NUL-terminated item after p (items packed in a buffer). */
static const char *next_item(const char *p)
{
	return p + strlen(p) + 1;
}

static int do_faithfulness(struct rag_ragas *r, const struct rag_ragas_input *in, struct rag_ragas_score *s,
			   struct rag_error *err)
{
	const int m = RAG_RAGAS_FAITHFULNESS;
	const char *st;
	size_t n, i, k = 0;
	int rc, v;

	if (!in->answer)
		return set_state(s, m, RAG_RAGAS_NOT_COMPUTABLE, "no answer"), RAG_OK;
	if (!in->n_contexts)
		return set_state(s, m, RAG_RAGAS_NOT_COMPUTABLE, "no contexts"), RAG_OK;
	{
		const char *kv[] = { "question", in->question, "answer", in->answer };
		if ((rc = fill(r, RAG_PROMPT_STATEMENTS, kv, 4, err)))
			return rc;
	}
	if ((rc = list(r, m, "faithfulness.statements", "statements", &r->items, &n, s, err)) || !n)
		return rc;
	s->n_statements = n;
	for (i = 0, st = r->items.data; i < n; i++, st = next_item(st)) {
		const char *kv[] = { "contexts", r->ctx.data, "statement", st };
		if ((rc = fill(r, RAG_PROMPT_FAITHFULNESS, kv, 4, err)) ||
		    (rc = verdict(r, m, "faithfulness.verdict", "statement verdict", s, &v, err)))
			return rc;
		if (v < 0)
			return RAG_OK;
		k += (size_t)v;
	}
	s->state[m] = RAG_RAGAS_OK;
	s->value[m] = (double)k / (double)n;
	return RAG_OK;
}

static int do_relevancy(struct rag_ragas *r, const struct rag_ragas_input *in, struct rag_ragas_score *s,
			struct rag_error *err)
{
	const int m = RAG_RAGAS_ANSWER_RELEVANCY;
	struct rag_embed_opts eo;
	struct rag_embed_seq seqs[4];
	double cos[3];
	float *vec = NULL;
	const char *q;
	size_t n, i, dim;
	int rc = RAG_OK, nc;

	if (!in->question)
		return set_state(s, m, RAG_RAGAS_NOT_COMPUTABLE, "no question"), RAG_OK;
	if (!in->answer)
		return set_state(s, m, RAG_RAGAS_NOT_COMPUTABLE, "no answer"), RAG_OK;
	{
		const char *kv[] = { "answer", in->answer };
		if ((rc = fill(r, RAG_PROMPT_QUESTIONS, kv, 2, err)))
			return rc;
	}
	if ((rc = list(r, m, "answer_relevancy.questions", "generated questions", &r->items, &n, s, err)) || !n)
		return rc;
	if (n > 3)
		n = 3;
	{
		const char *kv[] = { "answer", in->answer };
		if ((rc = fill(r, RAG_PROMPT_NONCOMMITTAL, kv, 2, err)) ||
		    (rc = verdict(r, m, "answer_relevancy.noncommittal", "noncommittal verdict", s, &nc, err)))
			return rc;
		if (nc < 0)
			return RAG_OK;
	}
	memset(seqs, 0, sizeof seqs);
	rag_embed_opts_init(&eo);
	dim = (size_t)rag_embedder_dim(r->emb);
	for (i = 0, q = r->items.data; i <= n && !rc; i++) {
		const char *t = i == 0 ? in->question : q;
		rc = rag_embed_prepare(r->emb, t, strlen(t), &eo, &seqs[i], err);
		if (i > 0)
			q = next_item(q);
	}
	if (rc == RAG_EDATA) {
		/* an empty or blank text: a property of the record, not an I/O failure */
		set_state(s, m, RAG_RAGAS_NOT_COMPUTABLE, "cannot embed: %.200s", err->msg);
		rag_error_clear(err);
		rc = RAG_OK;
		goto out;
	}
	if (rc)
		goto out;
	vec = rag_malloc((n + 1) * dim * sizeof *vec);
	if (!vec) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
	if ((rc = rag_embed_run(r->emb, seqs, n + 1, &eo, vec, err)))
		goto out;
	for (i = 0; i < n; i++)
		cos[i] = rag_ragas_cosine(vec, vec + (i + 1) * dim, dim);
	s->state[m] = RAG_RAGAS_OK;
	s->value[m] = rag_ragas_relevancy(cos, n, nc);
out:
	for (i = 0; i < 4; i++)
		rag_embed_seq_free(&seqs[i]);
	rag_free(vec);
	return rc;
}

static int do_precision(struct rag_ragas *r, const struct rag_ragas_input *in, struct rag_ragas_score *s,
			struct rag_error *err)
{
	const int m = RAG_RAGAS_CONTEXT_PRECISION;
	const char *ref = in->reference ? in->reference : in->answer;
	int *v, rc = RAG_OK;
	size_t i;

	if (!in->n_contexts)
		return set_state(s, m, RAG_RAGAS_NOT_COMPUTABLE, "no contexts"), RAG_OK;
	if (!in->question)
		return set_state(s, m, RAG_RAGAS_NOT_COMPUTABLE, "no question"), RAG_OK;
	if (!ref)
		return set_state(s, m, RAG_RAGAS_NOT_COMPUTABLE, "no reference or answer"), RAG_OK;
	v = rag_calloc(in->n_contexts, sizeof *v);
	if (!v)
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	for (i = 0; i < in->n_contexts; i++) {
		const char *kv[] = { "question", in->question, "reference", ref, "context", in->contexts[i] };
		if ((rc = fill(r, RAG_PROMPT_CONTEXT_PRECISION, kv, 6, err)) ||
		    (rc = verdict(r, m, in->reference ? "context_precision.verdict" : "context_precision.verdict_answer",
				  "context verdict", s, &v[i], err)) ||
		    v[i] < 0)
			goto out;
	}
	s->state[m] = RAG_RAGAS_OK;
	s->value[m] = rag_ragas_avg_precision(v, in->n_contexts);
out:
	rag_free(v);
	return rc;
}

static int do_recall(struct rag_ragas *r, const struct rag_ragas_input *in, struct rag_ragas_score *s,
		     struct rag_error *err)
{
	const int m = RAG_RAGAS_CONTEXT_RECALL;
	const char *sent;
	size_t n, i, k = 0;
	int rc, v;

	if (!in->reference)
		return set_state(s, m, RAG_RAGAS_NOT_COMPUTABLE, "no reference"), RAG_OK;
	if (!in->n_contexts)
		return set_state(s, m, RAG_RAGAS_NOT_COMPUTABLE, "no contexts"), RAG_OK;
	rag_buf_reset(&r->items2);
	n = rag_ragas_sentences(in->reference, strlen(in->reference), &r->items2);
	if (rag_buf_failed(&r->items2))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	if (!n)
		return set_state(s, m, RAG_RAGAS_NOT_COMPUTABLE, "reference has no sentence"), RAG_OK;
	for (i = 0, sent = r->items2.data; i < n; i++, sent = next_item(sent)) {
		const char *kv[] = { "question", in->question, "contexts", r->ctx.data, "sentence", sent };
		if ((rc = fill(r, RAG_PROMPT_CONTEXT_RECALL, kv, 6, err)) ||
		    (rc = verdict(r, m, "context_recall.verdict", "sentence verdict", s, &v, err)))
			return rc;
		if (v < 0)
			return RAG_OK;
		k += (size_t)v;
	}
	s->state[m] = RAG_RAGAS_OK;
	s->value[m] = (double)k / (double)n;
	return RAG_OK;
}

/* Count the claims in items (n of them) supported by premise. */
static int supported(struct rag_ragas *r, struct rag_ragas_score *s, const struct rag_buf *items, size_t n,
		     const char *premise, const char *what, size_t *k, int *failed, struct rag_error *err)
{
	const int m = RAG_RAGAS_FACTUAL_CORRECTNESS;
	const char *c;
	size_t i;
	int rc, v;

	*k = 0;
	*failed = 0;
	for (i = 0, c = items->data; i < n; i++, c = next_item(c)) {
		const char *kv[] = { "premise", premise, "claim", c };
		if ((rc = fill(r, RAG_PROMPT_CLAIM_SUPPORT, kv, 4, err)) ||
		    (rc = verdict(r, m, "factual_correctness.verdict", what, s, &v, err)))
			return rc;
		if (v < 0) {
			*failed = 1;
			return RAG_OK;
		}
		*k += (size_t)v;
	}
	return RAG_OK;
}

static int do_factual(struct rag_ragas *r, const struct rag_ragas_input *in, struct rag_ragas_score *s,
		      struct rag_error *err)
{
	const int m = RAG_RAGAS_FACTUAL_CORRECTNESS;
	size_t na, nr, tp, rs;
	double f1;
	int rc, failed;

	if (!in->answer)
		return set_state(s, m, RAG_RAGAS_NOT_COMPUTABLE, "no answer"), RAG_OK;
	if (!in->reference)
		return set_state(s, m, RAG_RAGAS_NOT_COMPUTABLE, "no reference"), RAG_OK;
	{
		const char *kv[] = { "text", in->answer };
		if ((rc = fill(r, RAG_PROMPT_CLAIMS, kv, 2, err)))
			return rc;
	}
	if ((rc = list(r, m, "factual_correctness.claims", "answer claims", &r->items, &na, s, err)) || !na)
		return rc;
	{
		const char *kv[] = { "text", in->reference };
		if ((rc = fill(r, RAG_PROMPT_CLAIMS, kv, 2, err)))
			return rc;
	}
	if ((rc = list(r, m, "factual_correctness.claims", "reference claims", &r->items2, &nr, s, err)) || !nr)
		return rc;
	s->n_claims_answer = na;
	s->n_claims_reference = nr;
	if ((rc = supported(r, s, &r->items, na, in->reference, "answer claim verdict", &tp, &failed, err)) || failed)
		return rc;
	if ((rc = supported(r, s, &r->items2, nr, in->answer, "reference claim verdict", &rs, &failed, err)) || failed)
		return rc;
	rag_ragas_prf(tp, na - tp, nr - rs, &s->fc_precision, &s->fc_recall, &f1);
	s->state[m] = RAG_RAGAS_OK;
	s->value[m] = f1;
	return RAG_OK;
}

int rag_ragas_eval(struct rag_ragas *r, const struct rag_ragas_input *in, struct rag_ragas_score *s,
		   struct rag_error *err)
{
	static int (*const fn[RAG_RAGAS_N])(struct rag_ragas *, const struct rag_ragas_input *,
					     struct rag_ragas_score *, struct rag_error *) = {
		do_faithfulness, do_relevancy, do_precision, do_recall, do_factual,
	};
	int m, rc = RAG_OK;

	memset(s, 0, sizeof *s);
	for (m = 0; m < RAG_RAGAS_N; m++)
		s->value[m] = NAN;
	s->fc_precision = s->fc_recall = NAN;
	if ((rc = join_contexts(r, in, err)))
		return rc;
	/* no transaction around the record: each verdict is committed when it
	 * is obtained (the judge is slow; a long write lock would stall other
	 * runs sharing the cache) */
	for (m = 0; m < RAG_RAGAS_N && !rc; m++)
		if (r->o.metrics & (1u << m))
			rc = fn[m](r, in, s, err);
	return rc;
}

size_t rag_ragas_cache_hits(const struct rag_ragas *r)
{
	return rag_vcache_hits(r->cache);
}

size_t rag_ragas_cache_misses(const struct rag_ragas *r)
{
	return rag_vcache_misses(r->cache);
}

size_t rag_ragas_judge_calls(const struct rag_ragas *r)
{
	return rag_judge_calls(r->judge);
}

const char *rag_ragas_judge_hash(const struct rag_ragas *r)
{
	return rag_judge_model_hash(r->judge);
}
