/* metrics.c: trec_eval's measures (map, ndcg, ndcg_cut, P, recall, recip_rank, Rprec, bpref, success, counts). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "metrics.h"

struct kind_info {
	const char *name;
	enum rag_measure_kind kind;
	int cutoff;
};

static const struct kind_info kinds[] = {
	{ "num_q", RAG_M_NUM_Q, 0 },
	{ "num_ret", RAG_M_NUM_RET, 0 },
	{ "num_rel", RAG_M_NUM_REL, 0 },
	{ "num_rel_ret", RAG_M_NUM_REL_RET, 0 },
	{ "map", RAG_M_MAP, 0 },
	{ "Rprec", RAG_M_RPREC, 0 },
	{ "bpref", RAG_M_BPREF, 0 },
	{ "recip_rank", RAG_M_RECIP_RANK, 0 },
	{ "ndcg", RAG_M_NDCG, 0 },
	{ "ndcg_cut", RAG_M_NDCG_CUT, 1 },
	{ "P", RAG_M_P, 1 },
	{ "recall", RAG_M_RECALL, 1 },
	{ "success", RAG_M_SUCCESS, 1 },
};
#define N_KINDS (sizeof kinds / sizeof kinds[0])

static const long default_cutoffs[] = { 5, 10, 15, 20, 30, 100, 200, 500, 1000 };
static const long success_cutoffs[] = { 1, 5, 10 };

static const char *const default_set[] = {
	"num_q", "num_ret", "num_rel", "num_rel_ret", "map", "Rprec", "bpref", "recip_rank",
	"ndcg", "ndcg_cut_10", "P_10", "recall_100", "success_10",
};

static int add_one(struct rag_measure_set *s, const struct kind_info *ki, long k,
		   struct rag_error *err)
{
	struct rag_measure m;
	size_t i;

	memset(&m, 0, sizeof m);
	m.kind = ki->kind;
	m.k = k;
	if (ki->cutoff)
		snprintf(m.name, sizeof m.name, "%s_%ld", ki->name, k);
	else
		snprintf(m.name, sizeof m.name, "%s", ki->name);
	for (i = 0; i < s->n; i++)
		if (strcmp(s->m[i].name, m.name) == 0)
			return RAG_OK;
	if (s->n == s->cap) {
		size_t nc = s->cap ? 2 * s->cap : 16;
		struct rag_measure *nm = rag_reallocarray(s->m, nc, sizeof *nm);
		if (!nm)
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		s->m = nm;
		s->cap = nc;
	}
	s->m[s->n++] = m;
	return RAG_OK;
}

static int add_defaults(struct rag_measure_set *s, const struct kind_info *ki, struct rag_error *err)
{
	const long *c = ki->kind == RAG_M_SUCCESS ? success_cutoffs : default_cutoffs;
	size_t n = ki->kind == RAG_M_SUCCESS ? 3 : sizeof default_cutoffs / sizeof *default_cutoffs;
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		if ((rc = add_one(s, ki, c[i], err)))
			return rc;
	return RAG_OK;
}

/* A cutoff: a whole positive decimal number. */
static int parse_cutoff(const char *s, size_t len, long *out)
{
	long v = 0;
	size_t i;

	if (len == 0 || len > 9)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1)
		return -1;
	*out = v;
	return 0;
}

int rag_measures_add(struct rag_measure_set *s, const char *spec, struct rag_error *err)
{
	size_t i, nlen;
	const char *dot;
	int rc;

	if (strcmp(spec, "all") == 0) {
		for (i = 0; i < N_KINDS; i++) {
			rc = kinds[i].cutoff ? add_defaults(s, &kinds[i], err) : add_one(s, &kinds[i], 0, err);
			if (rc)
				return rc;
		}
		return RAG_OK;
	}
	if (strcmp(spec, "default") == 0) {
		for (i = 0; i < sizeof default_set / sizeof *default_set; i++)
			if ((rc = rag_measures_add(s, default_set[i], err)))
				return rc;
		return RAG_OK;
	}
	/* trec_eval's parameter form: name.k1,k2,... */
	dot = strchr(spec, '.');
	if (dot) {
		const char *p = dot + 1;
		nlen = (size_t)(dot - spec);
		for (i = 0; i < N_KINDS; i++)
			if (kinds[i].cutoff && strlen(kinds[i].name) == nlen &&
			    strncmp(kinds[i].name, spec, nlen) == 0)
				break;
		if (i == N_KINDS)
			return rag_error_set(err, RAG_EUSAGE, "unknown measure '%s'", spec);
		for (;;) {
			const char *comma = strchr(p, ',');
			size_t len = comma ? (size_t)(comma - p) : strlen(p);
			long k;
			if (parse_cutoff(p, len, &k))
				return rag_error_set(err, RAG_EUSAGE, "bad cutoff in measure '%s'", spec);
			if ((rc = add_one(s, &kinds[i], k, err)))
				return rc;
			if (!comma)
				break;
			p = comma + 1;
		}
		return RAG_OK;
	}
	for (i = 0; i < N_KINDS; i++) {
		size_t kl = strlen(kinds[i].name);
		long k;

		if (strcmp(spec, kinds[i].name) == 0)
			return kinds[i].cutoff ? add_defaults(s, &kinds[i], err) : add_one(s, &kinds[i], 0, err);
		if (kinds[i].cutoff && strncmp(spec, kinds[i].name, kl) == 0 && spec[kl] == '_') {
			if (parse_cutoff(spec + kl + 1, strlen(spec + kl + 1), &k))
				return rag_error_set(err, RAG_EUSAGE, "bad cutoff in measure '%s'", spec);
			return add_one(s, &kinds[i], k, err);
		}
	}
	return rag_error_set(err, RAG_EUSAGE, "unknown measure '%s'", spec);
}

void rag_measures_release(struct rag_measure_set *s)
{
	if (!s)
		return;
	rag_free(s->m);
	memset(s, 0, sizeof *s);
}

long rag_measures_find(const struct rag_measure_set *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->m[i].name, name) == 0)
			return (long)i;
	return -1;
}

int rag_measure_is_count(const struct rag_measure *m)
{
	return m->kind == RAG_M_NUM_Q || m->kind == RAG_M_NUM_RET || m->kind == RAG_M_NUM_REL ||
	       m->kind == RAG_M_NUM_REL_RET;
}

static int cmp_long_desc(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return x > y ? -1 : x < y;
}

/*
 * DCG of the run (gain = grade when > 0, discount log2(i + 2) for the
 * 0-based position i) and of the ideal ranking, up to cut documents (0 = all),
 * summed in the order trec_eval sums them so that results match bit for bit.
 */
static double ndcg_at(const long *rel, size_t n_ret, const long *ideal, size_t n_ideal, long cut)
{
	double dcg = 0, idcg = 0;
	size_t i, lim;

	lim = cut > 0 && (size_t)cut < n_ret ? (size_t)cut : n_ret;
	for (i = 0; i < lim; i++)
		if (rel[i] > 0)
			dcg += (double)rel[i] / log2((double)(i + 2));
	lim = cut > 0 && (size_t)cut < n_ideal ? (size_t)cut : n_ideal;
	for (i = 0; i < lim; i++)
		idcg += (double)ideal[i] / log2((double)(i + 2));
	return idcg > 0 ? dcg / idcg : 0;
}

void rag_eval_query(const struct rag_qrels_query *qq, const struct rag_run_query *rq,
		    const struct rag_eval_params *p, const struct rag_measure_set *s,
		    long *scratch, double *out)
{
	size_t n_ret = rq ? rq->n : 0, i, j, n_ideal = 0;
	long *rel = scratch, *ideal = scratch + n_ret;
	long level = p->rel_level, num_rel = 0, num_nonrel = 0, num_rel_ret = 0;

	for (i = 0; i < n_ret; i++) {
		rel[i] = rag_qrels_rel(qq, rq->docs[i].docid);
		if (rel[i] >= 0 && rel[i] >= level)
			num_rel_ret++;
	}
	for (i = 0; i < qq->n; i++) {
		long r = qq->j[i].rel;
		if (r < 0)
			continue;
		if (r >= level)
			num_rel++;
		else
			num_nonrel++;
		if (r > 0)
			ideal[n_ideal++] = r;
	}
	qsort(ideal, n_ideal, sizeof *ideal, cmp_long_desc);

	for (j = 0; j < s->n; j++) {
		const struct rag_measure *m = &s->m[j];
		double v = 0, sum = 0;
		long so_far = 0, nonrel_so_far = 0;
		size_t lim = m->k > 0 && (size_t)m->k < n_ret ? (size_t)m->k : n_ret;

		switch (m->kind) {
		case RAG_M_NUM_Q:
			v = 1;
			break;
		case RAG_M_NUM_RET:
			v = (double)n_ret;
			break;
		case RAG_M_NUM_REL:
			v = (double)num_rel;
			break;
		case RAG_M_NUM_REL_RET:
			v = (double)num_rel_ret;
			break;
		case RAG_M_MAP:
			for (i = 0; i < n_ret; i++)
				if (rel[i] >= level) {
					so_far++;
					sum += (double)so_far / (double)(i + 1);
				}
			if (so_far)
				v = sum / (double)num_rel;
			break;
		case RAG_M_RPREC:
			lim = (size_t)num_rel < n_ret ? (size_t)num_rel : n_ret;
			for (i = 0; i < lim; i++)
				if (rel[i] >= level)
					so_far++;
			if (lim)
				v = (double)so_far / (double)num_rel;
			break;
		case RAG_M_BPREF:
			for (i = 0; i < n_ret; i++) {
				if (rel[i] < 0)
					continue;  /* not in the pool, or in it but unjudged */
				if (rel[i] < level)
					nonrel_so_far++;
				else if (nonrel_so_far > 0)
					sum += 1.0 - (double)(nonrel_so_far < num_rel ? nonrel_so_far : num_rel) /
						     (double)(num_nonrel < num_rel ? num_nonrel : num_rel);
				else
					sum += 1.0;
			}
			v = num_rel ? sum / (double)num_rel : sum;
			break;
		case RAG_M_RECIP_RANK:
			for (i = 0; i < n_ret; i++)
				if (rel[i] >= level) {
					v = 1.0 / (double)(i + 1);
					break;
				}
			break;
		case RAG_M_NDCG:
			v = ndcg_at(rel, n_ret, ideal, n_ideal, 0);
			break;
		case RAG_M_NDCG_CUT:
			v = ndcg_at(rel, n_ret, ideal, n_ideal, m->k);
			break;
		case RAG_M_P:
			for (i = 0; i < lim; i++)
				if (rel[i] >= level)
					so_far++;
			v = (double)so_far / (double)m->k;
			break;
		case RAG_M_RECALL:
			for (i = 0; i < lim; i++)
				if (rel[i] >= level)
					so_far++;
			if (num_rel)
				v = (double)so_far / (double)num_rel;
			break;
		case RAG_M_SUCCESS:
			for (i = 0; i < lim; i++)
				if (rel[i] >= level) {
					v = 1;
					break;
				}
			break;
		}
		out[j] = v;
	}
}

int rag_eval_run(const struct rag_qrels *qr, const struct rag_run *run,
		 const struct rag_eval_params *p, const struct rag_measure_set *s,
		 struct rag_eval_result *res, struct rag_error *err)
{
	size_t i, j, max_n = 0, nq = 0;
	long *scratch = NULL;
	int rc = RAG_OK;

	memset(res, 0, sizeof *res);
	res->n_measures = s->n;
	for (i = 0; i < run->nq; i++) {
		if (!rag_qrels_find(qr, run->q[i].qid)) {
			if (!res->n_run_only)
				res->first_run_only = run->q[i].qid;
			res->n_run_only++;
		}
		if (run->q[i].n > max_n)
			max_n = run->q[i].n;
	}
	for (i = 0; i < qr->nq; i++)
		if (qr->q[i].n > max_n)
			max_n = qr->q[i].n;
	res->qids = rag_calloc(qr->nq ? qr->nq : 1, sizeof *res->qids);
	res->per_query = rag_calloc((qr->nq ? qr->nq : 1) * (s->n ? s->n : 1), sizeof *res->per_query);
	res->summary = rag_calloc(s->n ? s->n : 1, sizeof *res->summary);
	scratch = rag_calloc(2 * max_n + 1, sizeof *scratch);
	if (!res->qids || !res->per_query || !res->summary || !scratch) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
	for (i = 0; i < qr->nq; i++) {
		const struct rag_qrels_query *qq = &qr->q[i];
		const struct rag_run_query *rq = rag_run_find(run, qq->qid);

		if (!rq) {
			res->n_missing++;
			if (!p->complete)
				continue;
		}
		rag_eval_query(qq, rq, p, s, scratch, res->per_query + nq * s->n);
		res->qids[nq++] = qq->qid;
	}
	res->nq = nq;
	if (nq == 0) {
		rc = rag_error_set(err, RAG_EDATA, "no query of '%s' is in the qrels", run->name);
		goto out;
	}
	/* Summaries: counts summed, scores averaged, accumulated in qid order as trec_eval does. */
	for (j = 0; j < s->n; j++) {
		double sum = 0;
		for (i = 0; i < nq; i++)
			sum += res->per_query[i * s->n + j];
		res->summary[j] = rag_measure_is_count(&s->m[j]) ? sum : sum / (double)nq;
	}
out:
	rag_free(scratch);
	return rc;
}

void rag_eval_result_release(struct rag_eval_result *res)
{
	if (!res)
		return;
	rag_free(res->qids);
	rag_free(res->per_query);
	rag_free(res->summary);
	memset(res, 0, sizeof *res);
}

long rag_eval_result_find(const struct rag_eval_result *res, const char *qid)
{
	size_t lo = 0, hi = res->nq;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(res->qids[mid], qid);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int rag_gate_parse(const char *spec, struct rag_gate *g, struct rag_error *err)
{
	const char *eq = strchr(spec, '=');
	char *end;
	size_t nlen;

	memset(g, 0, sizeof *g);
	if (!eq)
		return rag_error_set(err, RAG_EUSAGE, "bad gate '%s' (expected MEASURE=VALUE)", spec);
	nlen = (size_t)(eq - spec);
	if (nlen == 0 || nlen >= sizeof g->name)
		return rag_error_set(err, RAG_EUSAGE, "bad gate '%s' (expected MEASURE=VALUE)", spec);
	memcpy(g->name, spec, nlen);
	g->name[nlen] = '\0';
	errno = 0;
	g->min = strtod(eq + 1, &end);
	if (end == eq + 1 || *end || !isfinite(g->min))
		return rag_error_set(err, RAG_EUSAGE, "bad value in gate '%s'", spec);
	return RAG_OK;
}

void rag_measure_format(struct rag_buf *b, const struct rag_measure *m, double v)
{
	if (rag_measure_is_count(m))
		rag_buf_printf(b, "%.0f", v);
	else
		rag_buf_printf(b, "%.4f", v);
}
