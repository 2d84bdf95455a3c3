/* stats.c: incomplete beta, Student's t p-values and paired significance tests. */
#include "config.h"

#include <float.h>
#include <math.h>

#include "stats.h"

/* Continued fraction for I_x(a, b), modified Lentz's method. */
static double beta_cf(double a, double b, double x)
{
	const double tiny = 1e-300, eps = 1e-16;
	double c = 1, d = 1 - (a + b) * x / (a + 1), h;
	int m;

	if (fabs(d) < tiny)
		d = tiny;
	d = 1 / d;
	h = d;
	for (m = 1; m <= 10000; m++) {
		double m2 = 2.0 * m, num, del;

		/* even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)) */
		num = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
		d = 1 + num * d;
		if (fabs(d) < tiny)
			d = tiny;
		c = 1 + num / c;
		if (fabs(c) < tiny)
			c = tiny;
		d = 1 / d;
		h *= d * c;
		/* odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)) */
		num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
		d = 1 + num * d;
		if (fabs(d) < tiny)
			d = tiny;
		c = 1 + num / c;
		if (fabs(c) < tiny)
			c = tiny;
		d = 1 / d;
		del = d * c;
		h *= del;
		if (fabs(del - 1) < eps)
			break;
	}
	return h;
}

double rag_betainc(double a, double b, double x)
{
	double lfront;

	if (!(a > 0) || !(b > 0) || !(x >= 0) || !(x <= 1))
		return NAN;
	if (x == 0 || x == 1)
		return x;
	lfront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
	/* The fraction converges fast for x < (a + 1) / (a + b + 2); use symmetry otherwise. */
	if (x < (a + 1) / (a + b + 2))
		return exp(lfront) * beta_cf(a, b, x) / a;
	return 1 - exp(lfront) * beta_cf(b, a, 1 - x) / b;
}

double rag_t_pvalue(double t, double df)
{
	if (!(df > 0) || isnan(t))
		return NAN;
	if (isinf(t))
		return 0;
	return rag_betainc(df / 2, 0.5, df / (df + t * t));
}

/* xoshiro256** seeded through splitmix64 (Blackman and Vigna). */
struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t result = rotl(r->s[1] * 5, 7) * 9, t = r->s[1] << 17;

	r->s[2] ^= r->s[0];
	r->s[3] ^= r->s[1];
	r->s[1] ^= r->s[2];
	r->s[0] ^= r->s[3];
	r->s[2] ^= t;
	r->s[3] = rotl(r->s[3], 45);
	return result;
}

void rag_paired_test(const double *a, const double *b, size_t n, uint64_t permutations,
		     uint64_t seed, struct rag_paired_test *out)
{
	double sa = 0, sb = 0, sd = 0, mean, ss = 0, obs, tol;
	uint64_t count = 0, trial;
	struct rng r;
	size_t i;

	out->n = n;
	out->permutations = permutations;
	out->mean_a = out->mean_b = out->mean_diff = out->t = 0;
	out->p_t = 1;
	out->p_rand = permutations ? 1 : NAN;
	if (n == 0)
		return;
	for (i = 0; i < n; i++) {
		sa += a[i];
		sb += b[i];
		sd += b[i] - a[i];
	}
	mean = sd / (double)n;
	out->mean_a = sa / (double)n;
	out->mean_b = sb / (double)n;
	out->mean_diff = mean;
	for (i = 0; i < n; i++) {
		double d = b[i] - a[i] - mean;
		ss += d * d;
	}
	if (n >= 2) {
		double sdev = sqrt(ss / (double)(n - 1));
		if (sdev > 0) {
			out->t = mean / (sdev / sqrt((double)n));
			out->p_t = rag_t_pvalue(out->t, (double)(n - 1));
		} else if (mean != 0) {
			out->t = mean > 0 ? INFINITY : -INFINITY;
			out->p_t = 0;
		}
	}
	if (!permutations)
		return;
	/* Randomization: each trial flips the sign of each difference with
	 * probability 1/2 and compares |sum| with the observed |sum|. */
	obs = fabs(sd);
	tol = 1e-12 * (obs > 1 ? obs : 1);
	r.s[0] = splitmix64(&seed);
	r.s[1] = splitmix64(&seed);
	r.s[2] = splitmix64(&seed);
	r.s[3] = splitmix64(&seed);
	for (trial = 0; trial < permutations; trial++) {
		double sum = 0;
		uint64_t bits = 0;
		for (i = 0; i < n; i++) {
			double d = b[i] - a[i];
			if ((i & 63) == 0)
				bits = rng_next(&r);
			sum += (bits & 1) ? -d : d;
			bits >>= 1;
		}
		if (fabs(sum) >= obs - tol)
			count++;
	}
	out->p_rand = (double)(count + 1) / (double)(permutations + 1);
}
