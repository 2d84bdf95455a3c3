/* stats.h: paired significance tests for comparing runs (t-test, randomization test). */
#ifndef RAG_STATS_H
#define RAG_STATS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Regularized incomplete beta function I_x(a, b) for a, b > 0 and x in
 * [0, 1], by the continued fraction (modified Lentz), accurate to about
 * 1e-14.  NaN for arguments out of range.
 */
double rag_betainc(double a, double b, double x);

/* Two-sided p-value of Student's t with df degrees of freedom (df > 0):
 * P(|T| >= |t|) = I_{df/(df+t^2)}(df/2, 1/2). */
double rag_t_pvalue(double t, double df);

struct rag_paired_test {
	size_t n;          /* pairs */
	double mean_a, mean_b;
	double mean_diff;  /* mean of b - a */
	double t;          /* paired t statistic (0 when every difference is 0; +-inf when they are all equal and not 0) */
	double p_t;        /* two-sided p-value of the t-test (1 when n < 2 or no variation and no difference) */
	double p_rand;     /* two-sided p-value of the randomization test */
	uint64_t permutations;
};

/*
 * Compare paired samples a[i], b[i] (i < n): a paired t-test, and a paired
 * randomization test that swaps a[i] and b[i] at random (each pair
 * independently, with a xoshiro256** generator seeded from seed) in
 * `permutations` trials and counts trials whose |mean difference| is at
 * least the observed one (within 1e-12 relative); p_rand = (count + 1) /
 * (permutations + 1), so that it is never 0.  The same seed gives the same
 * p-value.  permutations == 0 skips the randomization test (p_rand = NaN).
 */
void rag_paired_test(const double *a, const double *b, size_t n, uint64_t permutations,
		     uint64_t seed, struct rag_paired_test *out);

#endif
