/* metrics.h: trec_eval's retrieval measures over qrels and runs, per query and averaged. */
#ifndef RAG_METRICS_H
#define RAG_METRICS_H

#include <stddef.h>

#include "buf.h"
#include "error.h"
#include "qrels.h"
#include "trecrun.h"

/*
 * Measures, named as trec_eval prints them.  Cutoff measures take any k >= 1
 * (`P_10`, `ndcg_cut_10`, `recall_100`, `success_1`); trec_eval's parameter
 * spelling is accepted too (`P.5,10` adds P_5 and P_10) and a bare cutoff
 * measure (`P`, `recall`, `ndcg_cut`) adds trec_eval's default cutoffs
 * (5 10 15 20 30 100 200 500 1000; success: 1 5 10).
 *
 * Semantics (trec_eval 9.x, checked against its source and pytrec_eval):
 * documents are ranked by score descending, ties by docid descending; a
 * document is relevant when its grade >= rel_level (default 1); documents
 * missing from the qrels are non-relevant (for bpref: neither, as in
 * trec_eval); nDCG uses the grade itself as gain (grades below rel_level
 * still gain) with discount log2(rank + 1); every measure of a query with no
 * relevant document is 0.
 */
enum rag_measure_kind {
	RAG_M_NUM_Q,
	RAG_M_NUM_RET,
	RAG_M_NUM_REL,
	RAG_M_NUM_REL_RET,
	RAG_M_MAP,
	RAG_M_RPREC,
	RAG_M_BPREF,
	RAG_M_RECIP_RANK,
	RAG_M_NDCG,
	RAG_M_NDCG_CUT,
	RAG_M_P,
	RAG_M_RECALL,
	RAG_M_SUCCESS,
};

struct rag_measure {
	enum rag_measure_kind kind;
	long k;         /* cutoff for the cutoff measures, else 0 */
	char name[32];  /* "ndcg_cut_10" */
};

struct rag_measure_set {
	struct rag_measure *m;
	size_t n, cap;
};

/*
 * Add the measures spec names: a measure ("map", "P_10"), trec_eval's
 * parameter form ("ndcg_cut.5,10"), a bare cutoff measure ("P"), "all"
 * (every measure with default cutoffs) or "default" (the set rag-eval
 * prints when none is asked for).  A measure already in the set is not
 * added twice.  RAG_EUSAGE "unknown measure 'x'" or "bad cutoff in 'P_0'";
 * RAG_EINTERNAL out of memory.  Release the set with rag_measures_release.
 */
int rag_measures_add(struct rag_measure_set *s, const char *spec, struct rag_error *err);
void rag_measures_release(struct rag_measure_set *s);
/* Index of the measure named name (exact printed name) in s, or -1. */
long rag_measures_find(const struct rag_measure_set *s, const char *name);
/* Is m a count summed over queries (num_q, num_ret, num_rel, num_rel_ret)
 * rather than a per-query score averaged over queries? */
int rag_measure_is_count(const struct rag_measure *m);

struct rag_eval_params {
	long rel_level;   /* trec_eval -l: lowest grade that is relevant (>= 0) */
	int complete;     /* trec_eval -c: average over every qrels query */
};

/*
 * Measures of one query into out[0..s->n).  rq may be NULL: a query the run
 * did not answer, evaluated as trec_eval -c does (every score 0, num_ret 0,
 * num_rel from the qrels).  Never fails; scratch is caller memory for at
 * least qq->n + (rq ? rq->n : 0) longs.
 */
void rag_eval_query(const struct rag_qrels_query *qq, const struct rag_run_query *rq,
		    const struct rag_eval_params *p, const struct rag_measure_set *s,
		    long *scratch, double *out);

/* A run's evaluation: per-query values and the summary over them. */
struct rag_eval_result {
	size_t nq;               /* queries evaluated (num_q) */
	const char **qids;       /* [nq], sorted; point into the qrels */
	double *per_query;       /* [nq * n_measures], row per query */
	double *summary;         /* [n_measures]: mean, or sum for counts */
	size_t n_measures;
	size_t n_run_only;       /* run queries the qrels lack (ignored) */
	const char *first_run_only;  /* one of them, for messages (points into the run) */
	size_t n_missing;        /* qrels queries the run lacks (0 scores with -c, else skipped) */
};

/*
 * Evaluate run against qr: queries in both (trec_eval's default) or, with
 * p->complete, every qrels query.  Run queries absent from the qrels are
 * ignored and counted in n_run_only.  RAG_EDATA when no query is evaluated
 * ("no query of 'run.txt' is in the qrels"; trec_eval also stops);
 * RAG_EINTERNAL out of memory.  Release res with rag_eval_result_release.
 */
int rag_eval_run(const struct rag_qrels *qr, const struct rag_run *run,
		 const struct rag_eval_params *p, const struct rag_measure_set *s,
		 struct rag_eval_result *res, struct rag_error *err);
void rag_eval_result_release(struct rag_eval_result *res);
/* Row of qid in res, or -1. */
long rag_eval_result_find(const struct rag_eval_result *res, const char *qid);

/*
 * Gates, shared by every rag-eval mode: "NAME=VALUE" (a minimum).
 * rag_gate_parse fills g (the name is copied); RAG_EUSAGE when spec has no
 * '=', an empty or overlong name, or VALUE is not a finite number.
 */
struct rag_gate {
	char name[64];
	double min;
};
int rag_gate_parse(const char *spec, struct rag_gate *g, struct rag_error *err);

/*
 * Format a value as trec_eval prints it: counts as integers, scores with 4
 * decimals.  Appends to b.
 */
void rag_measure_format(struct rag_buf *b, const struct rag_measure *m, double v);

#endif
