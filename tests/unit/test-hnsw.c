/* test-hnsw.c: the HNSW index: distance kernels against a double reference,
 * recall against exact search for every metric and storage, determinism,
 * deletes and compaction, filtered search, save/load, corrupt files, and
 * allocation failures during a build. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "hnsw.h"
#include "kernels.h"

/* ---- deterministic data ---- */
static uint64_t rng_state;
static void rng_seed(uint64_t s) { rng_state = s * 0x9e3779b97f4a7c15ull + 1; }
static double rng_u(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) * 0x1.0p-53;
}
static float rng_gauss(void)
{
	double u = rng_u() + 1e-12, v = rng_u();
	return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* n random unit vectors of dim d (caller frees). */
static float *random_unit(size_t n, size_t d, uint64_t seed)
{
	float *v = malloc(n * d * sizeof *v);

	cr_assert_not_null(v);
	rng_seed(seed);
	for (size_t i = 0; i < n; i++) {
		double s = 0;
		for (size_t j = 0; j < d; j++) {
			v[i * d + j] = rng_gauss();
			s += (double)v[i * d + j] * v[i * d + j];
		}
		for (size_t j = 0; j < d; j++)
			v[i * d + j] = (float)(v[i * d + j] / sqrt(s));
	}
	return v;
}

static char tmpdir[] = "/tmp/test-hnsw-XXXXXX";
static void make_tmpdir(void) { cr_assert_not_null(mkdtemp(tmpdir)); }
static void rm_tmpdir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	cr_assert_eq(system(cmd), 0);
}
static const char *tmppath(const char *name)
{
	static char p[256];
	snprintf(p, sizeof p, "%s/%s", tmpdir, name);
	return p;
}

static struct rag_hnsw *build(size_t n, size_t d, enum rag_hnsw_metric m, enum rag_hnsw_storage s,
			      const float *v, int threads, uint64_t seed)
{
	struct rag_hnsw *h;
	struct rag_error err;
	int64_t *labels = malloc(n * sizeof *labels);

	for (size_t i = 0; i < n; i++)
		labels[i] = (int64_t)i * 7 + 3;  /* labels differ from node numbers */
	cr_assert_eq(rag_hnsw_create((uint32_t)d, m, s, 16, 100, seed, &h, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_hnsw_add_batch(h, n, labels, v, threads, &err), RAG_OK, "%s", err.msg);
	free(labels);
	return h;
}

/* Mean recall@k of h against its exact search over nq queries. */
static double recall(const struct rag_hnsw *h, const float *q, size_t nq, size_t d, size_t k,
		     uint32_t ef, rag_hnsw_filter_fn f, void *ctx)
{
	int64_t got[64], want[64];
	size_t ng, nw, hit = 0, tot = 0;
	struct rag_error err;

	for (size_t i = 0; i < nq; i++) {
		cr_assert_eq(rag_hnsw_search(h, q + i * d, k, ef, f, ctx, got, NULL, &ng, &err), RAG_OK, "%s", err.msg);
		cr_assert_eq(rag_hnsw_search_exact(h, q + i * d, k, f, ctx, want, NULL, &nw, &err), RAG_OK);
		cr_assert_eq(ng, nw, "query %zu: %zu hits, exact has %zu", i, ng, nw);
		for (size_t a = 0; a < nw; a++)
			for (size_t b = 0; b < ng; b++)
				if (want[a] == got[b]) {
					hit++;
					break;
				}
		tot += nw;
	}
	return tot ? (double)hit / (double)tot : 1.0;
}

/* ---- kernels ---- */
Test(hnsw, distance_kernels_match_double_reference)
{
	float a[133], b[133], sc = 0.013f;
	uint16_t h16[133];
	int8_t c8[133];

	rng_seed(5);
	for (int i = 0; i < 133; i++) {
		a[i] = rng_gauss();
		b[i] = rng_gauss();
		h16[i] = rag_f32_to_f16(b[i]);
		c8[i] = (int8_t)(rng_u() * 254 - 127);
	}
	for (size_t n = 0; n <= 133; n++) {
		double dot = 0, l2 = 0, dh = 0, lh = 0, d8 = 0, l8 = 0, mag = 1;
		for (size_t i = 0; i < n; i++) {
			double bh = rag_f16_to_f32(h16[i]), b8 = (double)c8[i];
			dot += (double)a[i] * b[i];
			l2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
			dh += a[i] * bh;
			lh += (a[i] - bh) * (a[i] - bh);
			d8 += a[i] * b8;
			l8 += (a[i] - sc * b8) * (a[i] - sc * b8);
			mag += fabs((double)a[i] * b[i]) + a[i] * a[i] + b[i] * b[i] + fabs(a[i] * b8);
		}
		cr_assert(fabs(rag_vec_dot_f32(a, b, n) - dot) <= 1e-5 * mag, "dot f32 n=%zu", n);
		cr_assert(fabs(rag_vec_l2sq_f32(a, b, n) - l2) <= 1e-5 * mag, "l2 f32 n=%zu", n);
		cr_assert(fabs(rag_vec_dot_f16(a, h16, n) - dh) <= 1e-5 * mag, "dot f16 n=%zu", n);
		cr_assert(fabs(rag_vec_l2sq_f16(a, h16, n) - lh) <= 1e-5 * mag, "l2 f16 n=%zu", n);
		cr_assert(fabs(rag_vec_dot_i8(a, c8, n) - d8) <= 1e-5 * mag, "dot i8 n=%zu", n);
		cr_assert(fabs(rag_vec_l2sq_i8(a, c8, sc, n) - l8) <= 1e-5 * mag, "l2 i8 n=%zu", n);
	}
	{
		float out[133];
		rag_vec_f16_to_f32(out, h16, 133);
		for (int i = 0; i < 133; i++)
			cr_assert_eq(out[i], rag_f16_to_f32(h16[i]));
		rag_vec_i8_to_f32(out, c8, sc, 133);
		for (int i = 0; i < 133; i++)
			cr_assert_eq(out[i], sc * (float)c8[i]);
	}
}

/* ---- exact search is what it claims (independent brute force, f32) ---- */
Test(hnsw, exact_search_matches_brute_force)
{
	const size_t n = 300, d = 24, k = 10;
	float *v = random_unit(n, d, 11), *q = random_unit(5, d, 12);

	for (int m = 0; m < 3; m++) {
		struct rag_hnsw *h = build(n, d, (enum rag_hnsw_metric)m, RAG_HNSW_F32, v, 1, 1);
		for (size_t qi = 0; qi < 5; qi++) {
			int64_t got[10];
			float gd[10], best[10];
			size_t ng;
			struct rag_error err;
			for (size_t j = 0; j < k; j++)
				best[j] = INFINITY;
			for (size_t i = 0; i < n; i++) {
				double s = 0;
				for (size_t j = 0; j < d; j++) {
					double x = q[qi * d + j], y = v[i * d + j];
					s += m == RAG_HNSW_L2 ? (x - y) * (x - y) : x * y;
				}
				float dd = m == RAG_HNSW_L2 ? (float)s : (float)(1 - s);
				for (size_t j = 0; j < k; j++)
					if (dd < best[j]) {
						memmove(best + j + 1, best + j, (k - 1 - j) * sizeof *best);
						best[j] = dd;
						break;
					}
			}
			cr_assert_eq(rag_hnsw_search_exact(h, q + qi * d, k, NULL, NULL, got, gd, &ng, &err), RAG_OK);
			cr_assert_eq(ng, k);
			for (size_t j = 0; j < k; j++)
				cr_assert(fabsf(gd[j] - best[j]) < 1e-5f, "metric %d rank %zu: %g vs %g", m, j,
					  gd[j], best[j]);
		}
		rag_hnsw_free(h);
	}
	free(v);
	free(q);
}

/* ---- recall for every metric and storage ---- */
Test(hnsw, recall_every_metric_and_storage)
{
	const size_t n = 2000, d = 32, nq = 100;
	float *v = random_unit(n, d, 21), *q = random_unit(nq, d, 22);

	for (int m = 0; m < 3; m++)
		for (int s = 0; s < 3; s++) {
			struct rag_hnsw *h = build(n, d, (enum rag_hnsw_metric)m, (enum rag_hnsw_storage)s, v,
						   (m + s) % 2 ? 2 : 1, 7);
			struct rag_hnsw_stats st;
			double r = recall(h, q, nq, d, 10, 64, NULL, NULL);
			rag_hnsw_stats(h, &st);
			cr_assert_eq(st.count, n);
			cr_assert_eq(st.live, n);
			cr_assert(st.memory_bytes > n * d);
			cr_assert(r >= 0.95, "%s/%s: recall@10 %.3f < 0.95", rag_hnsw_metric_name(m),
				  rag_hnsw_storage_name(s), r);
			rag_hnsw_free(h);
		}
	free(v);
	free(q);
}

/* Results come back nearest first, and the query itself is found. */
Test(hnsw, self_query_and_order)
{
	const size_t n = 1000, d = 16;
	float *v = random_unit(n, d, 31);
	struct rag_hnsw *h = build(n, d, RAG_HNSW_COSINE, RAG_HNSW_F16, v, 1, 3);
	size_t found = 0;

	for (size_t i = 0; i < n; i += 10) {
		int64_t lab[5];
		float dist[5];
		size_t ng;
		struct rag_error err;
		cr_assert_eq(rag_hnsw_search(h, v + i * d, 5, 32, NULL, NULL, lab, dist, &ng, &err), RAG_OK);
		cr_assert_eq(ng, 5);
		for (size_t j = 1; j < ng; j++)
			cr_assert(dist[j - 1] <= dist[j]);
		found += lab[0] == (int64_t)i * 7 + 3;
	}
	cr_assert(found >= 98, "self found %zu/100", found);
	rag_hnsw_free(h);
	free(v);
}

/* ---- determinism ---- */
static void slurp(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	*buf = malloc(*len + 1);
	cr_assert_eq(fread(*buf, 1, *len, f), *len);
	fclose(f);
}

static void spew(const char *path, const char *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(buf, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

Test(hnsw, single_thread_build_is_deterministic, .init = make_tmpdir, .fini = rm_tmpdir)
{
	const size_t n = 800, d = 20;
	float *v = random_unit(n, d, 41);
	struct rag_hnsw *a = build(n, d, RAG_HNSW_L2, RAG_HNSW_I8, v, 1, 99);
	struct rag_hnsw *b = build(n, d, RAG_HNSW_L2, RAG_HNSW_I8, v, 1, 99);
	struct rag_hnsw *c = build(n, d, RAG_HNSW_L2, RAG_HNSW_I8, v, 1, 100);
	struct rag_error err;
	char *fa, *fb, *fc;
	size_t la, lb, lc;

	cr_assert_eq(rag_hnsw_save(a, tmppath("a.hnsw"), &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_hnsw_save(b, tmppath("b.hnsw"), &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_hnsw_save(c, tmppath("c.hnsw"), &err), RAG_OK, "%s", err.msg);
	slurp(tmppath("a.hnsw"), &fa, &la);
	slurp(tmppath("b.hnsw"), &fb, &lb);
	slurp(tmppath("c.hnsw"), &fc, &lc);
	cr_assert(la == lb && !memcmp(fa, fb, la), "same seed, different files");
	cr_assert(la != lc || memcmp(fa, fc, la), "another seed, same file");
	free(fa); free(fb); free(fc);
	rag_hnsw_free(a); rag_hnsw_free(b); rag_hnsw_free(c);
	free(v);
}

/* ---- deletes, upserts, compaction ---- */
Test(hnsw, deletes_are_skipped_and_compacted)
{
	const size_t n = 2000, d = 32, nq = 50;
	float *v = random_unit(n, d, 51), *q = random_unit(nq, d, 52);
	struct rag_hnsw *h = build(n, d, RAG_HNSW_COSINE, RAG_HNSW_F32, v, 2, 5);
	struct rag_hnsw_stats st;
	struct rag_error err;
	int found;

	for (size_t i = 0; i < n; i += 3) {
		cr_assert_eq(rag_hnsw_delete(h, (int64_t)i * 7 + 3, &found, &err), RAG_OK);
		cr_assert_eq(found, 1);
	}
	cr_assert_eq(rag_hnsw_delete(h, 3, &found, &err), RAG_OK);  /* already gone */
	cr_assert_eq(found, 0);
	cr_assert_eq(rag_hnsw_delete(h, -42, &found, &err), RAG_OK);
	cr_assert_eq(found, 0);
	rag_hnsw_stats(h, &st);
	cr_assert_eq(st.deleted, (n + 2) / 3);
	for (size_t qi = 0; qi < nq; qi++) {
		int64_t lab[10];
		size_t ng;
		cr_assert_eq(rag_hnsw_search(h, q + qi * d, 10, 64, NULL, NULL, lab, NULL, &ng, &err), RAG_OK);
		cr_assert_eq(ng, 10);
		for (size_t j = 0; j < ng; j++)
			cr_assert_neq(((lab[j] - 3) / 7) % 3, 0, "deleted label %ld returned", (long)lab[j]);
	}
	cr_assert(recall(h, q, nq, d, 10, 64, NULL, NULL) >= 0.95);

	/* upsert: the label keeps one live vector, the new one */
	{
		float nv[32], got[32];
		for (size_t j = 0; j < d; j++)
			nv[j] = j == 0 ? 1.0f : 0.0f;
		cr_assert_eq(rag_hnsw_add(h, 10, nv, &err), RAG_OK);  /* node 1: live */
		cr_assert_eq(rag_hnsw_get(h, 10, got, &found, &err), RAG_OK);
		cr_assert_eq(found, 1);
		cr_assert_float_eq(got[0], 1.0f, 1e-6f);
		rag_hnsw_stats(h, &st);
		cr_assert_eq(st.live, n - (n + 2) / 3);
		cr_assert_eq(st.count, n + 1);
	}

	cr_assert_eq(rag_hnsw_compact(h, 2, &err), RAG_OK, "%s", err.msg);
	rag_hnsw_stats(h, &st);
	cr_assert_eq(st.deleted, 0);
	cr_assert_eq(st.count, n - (n + 2) / 3);
	cr_assert(recall(h, q, nq, d, 10, 64, NULL, NULL) >= 0.95);
	{
		float got[32];
		cr_assert_eq(rag_hnsw_get(h, 10, got, &found, &err), RAG_OK);
		cr_assert_eq(found, 1);
		cr_assert_float_eq(got[0], 1.0f, 1e-6f);
		cr_assert_eq(rag_hnsw_get(h, 3, got, &found, &err), RAG_OK);
		cr_assert_eq(found, 0);
	}
	rag_hnsw_free(h);
	free(v);
	free(q);
}

/* ---- filtered search ---- */
struct modf {
	int64_t mod;
	long calls;
};
static int by_mod(int64_t label, void *ctx)
{
	struct modf *f = ctx;
	f->calls++;
	return ((label - 3) / 7) % f->mod == 0;
}

static int below(int64_t label, void *ctx)
{
	return label < *(int64_t *)ctx;
}

Test(hnsw, filtered_search_returns_k_hits)
{
	const size_t n = 3000, d = 32, nq = 40;
	float *v = random_unit(n, d, 61), *q = random_unit(nq, d, 62);
	struct rag_hnsw *h = build(n, d, RAG_HNSW_IP, RAG_HNSW_F16, v, 2, 6);
	int64_t mods[] = { 2, 10, 100, 1000 };
	struct rag_error err;

	for (size_t mi = 0; mi < 4; mi++) {
		struct modf f = { mods[mi], 0 };
		size_t passing = (n + (size_t)mods[mi] - 1) / (size_t)mods[mi];
		size_t want = passing < 10 ? passing : 10;
		for (size_t qi = 0; qi < nq; qi++) {
			int64_t lab[10];
			size_t ng;
			cr_assert_eq(rag_hnsw_search(h, q + qi * d, 10, 64, by_mod, &f, lab, NULL, &ng, &err), RAG_OK);
			cr_assert_eq(ng, want, "mod %ld: %zu hits", (long)mods[mi], ng);
			for (size_t j = 0; j < ng; j++)
				cr_assert_eq(((lab[j] - 3) / 7) % mods[mi], 0);
		}
		cr_assert(f.calls > 0);
		cr_assert(recall(h, q, nq, d, 10, 64, by_mod, &f) >= 0.95, "mod %ld", (long)mods[mi]);
	}
	{
		/* fewer than k pass: all of them come back */
		int64_t lim = 3 + 7 * 4, lab[10];
		size_t ng;
		cr_assert_eq(rag_hnsw_search(h, q, 10, 64, below, &lim, lab, NULL, &ng, &err), RAG_OK);
		cr_assert_eq(ng, 4);
	}
	rag_hnsw_free(h);
	free(v);
	free(q);
}

/* ---- persistence ---- */
Test(hnsw, save_load_round_trip, .init = make_tmpdir, .fini = rm_tmpdir)
{
	const size_t n = 1500, d = 24, nq = 30;
	float *v = random_unit(n, d, 71), *q = random_unit(nq, d, 72);

	for (int s = 0; s < 3; s++) {
		struct rag_hnsw *h = build(n, d, RAG_HNSW_COSINE, (enum rag_hnsw_storage)s, v, 2, 8), *g;
		struct rag_hnsw_stats a, b;
		struct rag_error err;
		int found;

		cr_assert_eq(rag_hnsw_delete(h, 3 + 7 * 5, &found, &err), RAG_OK);
		cr_assert_eq(rag_hnsw_save(h, tmppath("x.hnsw"), &err), RAG_OK, "%s", err.msg);
		cr_assert_eq(rag_hnsw_load(tmppath("x.hnsw"), 0, &g, &err), RAG_OK, "%s", err.msg);
		rag_hnsw_stats(h, &a);
		rag_hnsw_stats(g, &b);
		cr_assert_eq(a.count, b.count);
		cr_assert_eq(a.deleted, b.deleted);
		cr_assert_eq(a.max_level, b.max_level);
		cr_assert_eq(b.storage, (enum rag_hnsw_storage)s);
		cr_assert(b.mapped_bytes > 0);
		for (size_t qi = 0; qi < nq; qi++) {
			int64_t l1[10], l2[10];
			float d1[10], d2[10];
			size_t n1, n2;
			cr_assert_eq(rag_hnsw_search(h, q + qi * d, 10, 40, NULL, NULL, l1, d1, &n1, &err), RAG_OK);
			cr_assert_eq(rag_hnsw_search(g, q + qi * d, 10, 40, NULL, NULL, l2, d2, &n2, &err), RAG_OK);
			cr_assert_eq(n1, n2);
			cr_assert_arr_eq(l1, l2, n1 * sizeof *l1);
			cr_assert_arr_eq(d1, d2, n1 * sizeof *d1);
		}
		/* a loaded index can change: it is copied into memory first */
		cr_assert_eq(rag_hnsw_add(g, -1, q, &err), RAG_OK, "%s", err.msg);
		cr_assert_eq(rag_hnsw_delete(g, 3, &found, &err), RAG_OK);
		cr_assert_eq(found, 1);
		rag_hnsw_stats(g, &b);
		cr_assert_eq(b.mapped_bytes, 0);
		cr_assert_eq(b.live, a.live);
		{
			int64_t l[1];
			size_t ng;
			cr_assert_eq(rag_hnsw_search(g, q, 1, 40, NULL, NULL, l, NULL, &ng, &err), RAG_OK);
			cr_assert_eq(l[0], -1);
		}
		cr_assert_eq(rag_hnsw_save(g, tmppath("x.hnsw"), &err), RAG_OK);
		rag_hnsw_free(g);
		cr_assert_eq(rag_hnsw_load(tmppath("x.hnsw"), 0, &g, &err), RAG_OK, "%s", err.msg);
		rag_hnsw_stats(g, &b);
		cr_assert_eq(b.count, n + 1);
		rag_hnsw_free(g);
		rag_hnsw_free(h);
	}
	{
		/* an empty index round-trips too */
		struct rag_hnsw *h, *g;
		struct rag_error err;
		int64_t l[1];
		size_t ng = 9;
		cr_assert_eq(rag_hnsw_create(8, RAG_HNSW_L2, RAG_HNSW_F32, 8, 10, 1, &h, &err), RAG_OK);
		cr_assert_eq(rag_hnsw_save(h, tmppath("e.hnsw"), &err), RAG_OK);
		cr_assert_eq(rag_hnsw_load(tmppath("e.hnsw"), 0, &g, &err), RAG_OK, "%s", err.msg);
		cr_assert_eq(rag_hnsw_search(g, q, 1, 0, NULL, NULL, l, NULL, &ng, &err), RAG_OK);
		cr_assert_eq(ng, 0);
		rag_hnsw_free(g);
		rag_hnsw_free(h);
	}
	{
		struct stat sb;
		cr_assert_eq(stat(tmppath("x.hnsw"), &sb), 0);
		cr_assert_eq(sb.st_mode & 0777, 0644);
	}
	free(v);
	free(q);
}

/* Searching a loaded index from several threads gives the serial results. */
struct par {
	const struct rag_hnsw *h;
	const float *q;
	size_t nq, d;
	int64_t *out;
	int rc;
};
static void *par_search(void *arg)
{
	struct par *p = arg;
	for (size_t i = 0; i < p->nq; i++) {
		size_t ng;
		if (rag_hnsw_search(p->h, p->q + i * p->d, 10, 50, NULL, NULL, p->out + i * 10, NULL, &ng, NULL))
			p->rc = 1;
	}
	return NULL;
}

Test(hnsw, concurrent_searches, .init = make_tmpdir, .fini = rm_tmpdir)
{
	const size_t n = 1000, d = 16, nq = 60;
	float *v = random_unit(n, d, 81), *q = random_unit(nq, d, 82);
	struct rag_hnsw *h = build(n, d, RAG_HNSW_L2, RAG_HNSW_F32, v, 1, 9), *g;
	int64_t ref[60 * 10], outs[4][60 * 10];
	struct par p[4];
	pthread_t t[4];
	struct rag_error err;

	cr_assert_eq(rag_hnsw_save(h, tmppath("c.hnsw"), &err), RAG_OK);
	cr_assert_eq(rag_hnsw_load(tmppath("c.hnsw"), 0, &g, &err), RAG_OK);
	struct par r = { g, q, nq, d, ref, 0 };
	par_search(&r);
	for (int i = 0; i < 4; i++) {
		p[i] = (struct par){ g, q, nq, d, outs[i], 0 };
		cr_assert_eq(pthread_create(&t[i], NULL, par_search, &p[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(p[i].rc, 0);
		cr_assert_arr_eq(outs[i], ref, sizeof ref);
	}
	rag_hnsw_free(g);
	rag_hnsw_free(h);
	free(v);
	free(q);
}

/* ---- corrupt, truncated and foreign files ---- */
Test(hnsw, corrupt_files_rejected, .init = make_tmpdir, .fini = rm_tmpdir)
{
	const size_t n = 300, d = 8;
	float *v = random_unit(n, d, 91), *q = random_unit(1, d, 92);
	struct rag_hnsw *h = build(n, d, RAG_HNSW_COSINE, RAG_HNSW_I8, v, 1, 10), *g;
	struct rag_error err;
	char *img;
	size_t len, loaded_noverify = 0;

	cr_assert_eq(rag_hnsw_save(h, tmppath("ok.hnsw"), &err), RAG_OK);
	slurp(tmppath("ok.hnsw"), &img, &len);

	/* truncations: every length in the header, then steps through the body
	 * (cut from the longest down, so one file is shortened in place) */
	spew(tmppath("t.hnsw"), img, len);
	for (size_t cut = len - 1;; cut -= cut < 600 ? 1 : 97) {
		cr_assert_eq(truncate(tmppath("t.hnsw"), (off_t)cut), 0);
		cr_assert_eq(rag_hnsw_load(tmppath("t.hnsw"), 0, &g, &err), RAG_EMODEL, "cut %zu: %d %s", cut,
			     err.code, err.msg);
		cr_assert_null(g);
		cr_assert_eq(rag_hnsw_load(tmppath("t.hnsw"), RAG_HNSW_LOAD_NOVERIFY, &g, &err), RAG_EMODEL);
		if (cut == 0)
			break;
		if (cut > 600 && cut - 97 < 600)
			cut = 600 + 97;
	}
	/* flipped bytes: the checksums catch every one; without them, the structure
	 * checks keep searches inside the file */
	spew(tmppath("f.hnsw"), img, len);
	{
		int fd = open(tmppath("f.hnsw"), O_WRONLY);
		cr_assert(fd >= 0);
		for (size_t pos = 0; pos < len; pos += pos < 600 ? 3 : 41) {
			for (int bit = 0; bit < 8; bit += 3) {
				char c = (char)(img[pos] ^ (1 << bit));
				cr_assert_eq(pwrite(fd, &c, 1, (off_t)pos), 1);
				int rc = rag_hnsw_load(tmppath("f.hnsw"), 0, &g, &err);
				cr_assert_eq(pwrite(fd, img + pos, 1, (off_t)pos), 1);
				/* header padding and section padding are not covered */
				if (rc == RAG_OK) {
					rag_hnsw_free(g);
					continue;
				}
				cr_assert_eq(rc, RAG_EMODEL, "pos %zu: %s", pos, err.msg);
				cr_assert(strstr(err.msg, "f.hnsw"), "message names the file: %s", err.msg);
				cr_assert_eq(pwrite(fd, &c, 1, (off_t)pos), 1);
				if (rag_hnsw_load(tmppath("f.hnsw"), RAG_HNSW_LOAD_NOVERIFY, &g, &err) == RAG_OK) {
					int64_t lab[10];
					size_t ng;
					loaded_noverify++;
					rag_hnsw_search(g, q, 10, 20, NULL, NULL, lab, NULL, &ng, &err);
					rag_hnsw_free(g);
				}
				cr_assert_eq(pwrite(fd, img + pos, 1, (off_t)pos), 1);
			}
		}
		close(fd);
	}
	cr_assert(loaded_noverify > 0);
	/* foreign files */
	spew(tmppath("gguf"), "GGUF\3\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24);
	cr_assert_eq(rag_hnsw_load(tmppath("gguf"), 0, &g, &err), RAG_EMODEL);
	cr_assert(strstr(err.msg, "not an HNSW index"), "%s", err.msg);
	spew(tmppath("empty"), "", 0);
	cr_assert_eq(rag_hnsw_load(tmppath("empty"), 0, &g, &err), RAG_EMODEL);
	/* a future version is refused by name */
	img[8] = 2;
	spew(tmppath("v2"), img, len);
	cr_assert_eq(rag_hnsw_load(tmppath("v2"), 0, &g, &err), RAG_EMODEL);
	cr_assert(strstr(err.msg, "version 2"), "%s", err.msg);
	cr_assert_eq(rag_hnsw_load(tmppath("missing"), 0, &g, &err), RAG_ENOINPUT);
	cr_assert_eq(rag_hnsw_load(tmpdir, 0, &g, &err), RAG_EMODEL);
	/* unwritable destination: RAG_EIO, nothing left behind */
	cr_assert_eq(rag_hnsw_save(h, "/nonexistent-dir/x.hnsw", &err), RAG_EIO);
	free(img);
	rag_hnsw_free(h);
	free(v);
	free(q);
}

/* ---- bad arguments and input ---- */
Test(hnsw, bad_parameters_and_vectors)
{
	struct rag_hnsw *h;
	struct rag_error err;
	struct rag_hnsw_params p;
	float v[4] = { 1, 2, NAN, 4 }, ok[4] = { 1, 2, 3, 4 };
	int64_t lab[2] = { 1, 2 }, out[1];
	size_t ng;
	enum rag_hnsw_metric m;
	enum rag_hnsw_storage s;

	rag_hnsw_params_init(&p, 4);
	p.M = 1;
	cr_assert_eq(rag_hnsw_new(&p, &h, &err), RAG_EUSAGE);
	cr_assert_null(h);
	p.M = 300;
	cr_assert_eq(rag_hnsw_new(&p, &h, &err), RAG_EUSAGE);
	rag_hnsw_params_init(&p, 0);
	cr_assert_eq(rag_hnsw_new(&p, &h, &err), RAG_EUSAGE);
	rag_hnsw_params_init(&p, 4);
	p.storage = (enum rag_hnsw_storage)7;
	cr_assert_eq(rag_hnsw_new(&p, &h, &err), RAG_EUSAGE);
	cr_assert_eq(rag_hnsw_metric_parse("dot", &m, &err), RAG_EUSAGE);
	cr_assert_eq(rag_hnsw_metric_parse("l2", &m, &err), RAG_OK);
	cr_assert_eq(m, RAG_HNSW_L2);
	cr_assert_eq(rag_hnsw_storage_parse("i8", &s, &err), RAG_OK);
	cr_assert_eq(s, RAG_HNSW_I8);
	cr_assert_eq(rag_hnsw_storage_parse("q4", &s, &err), RAG_EUSAGE);

	cr_assert_eq(rag_hnsw_create(4, RAG_HNSW_COSINE, RAG_HNSW_F32, 4, 10, 1, &h, &err), RAG_OK);
	cr_assert_eq(rag_hnsw_add(h, 1, v, &err), RAG_EDATA);
	{
		float two[8] = { 1, 2, 3, 4, 1, INFINITY, 3, 4 };
		cr_assert_eq(rag_hnsw_add_batch(h, 2, lab, two, 2, &err), RAG_EDATA);
		cr_assert(strstr(err.msg, "vector 1"), "%s", err.msg);
	}
	cr_assert_eq(rag_hnsw_add(h, 1, ok, &err), RAG_OK);
	cr_assert_eq(rag_hnsw_search(h, v, 1, 0, NULL, NULL, out, NULL, &ng, &err), RAG_EDATA);
	cr_assert_eq(rag_hnsw_search(h, ok, 1, 0, NULL, NULL, out, NULL, &ng, &err), RAG_OK);
	cr_assert_eq(ng, 1);
	cr_assert_eq(out[0], 1);
	cr_assert_eq(rag_hnsw_search(h, ok, 0, 0, NULL, NULL, out, NULL, &ng, &err), RAG_OK);
	cr_assert_eq(ng, 0);
	rag_hnsw_free(h);
	rag_hnsw_free(NULL);
}

/* ---- allocation failures during a build ---- */
Test(hnsw, allocation_failures_reported)
{
	const size_t n = 150, d = 8;
	float *v = random_unit(n, d, 101), *q = random_unit(1, d, 102);
	int64_t labels[150];
	unsigned long total, nth;

	for (size_t i = 0; i < n; i++)
		labels[i] = (int64_t)i;
	/* count the allocations of a whole job, then fail each in turn */
	rag_alloc_fail_after(0);
	{
		struct rag_hnsw *h;
		struct rag_error err;
		cr_assert_eq(rag_hnsw_create((uint32_t)d, RAG_HNSW_L2, RAG_HNSW_F16, 8, 40, 1, &h, &err), RAG_OK);
		cr_assert_eq(rag_hnsw_add_batch(h, n / 2, labels, v, 1, &err), RAG_OK);
		for (size_t i = n / 2; i < n; i++)
			cr_assert_eq(rag_hnsw_add(h, labels[i], v + i * d, &err), RAG_OK);
		rag_hnsw_free(h);
	}
	total = rag_alloc_fail_after(0);
	cr_assert(total > 10);
	for (nth = 1; nth <= total; nth++) {
		struct rag_hnsw *h = NULL;
		struct rag_error err;
		int rc;

		rag_alloc_fail_after(nth);
		rc = rag_hnsw_create((uint32_t)d, RAG_HNSW_L2, RAG_HNSW_F16, 8, 40, 1, &h, &err);
		if (rc == RAG_OK) {
			rc = rag_hnsw_add_batch(h, n / 2, labels, v, 1, &err);
			for (size_t i = n / 2; i < n && rc == RAG_OK; i++)
				rc = rag_hnsw_add(h, labels[i], v + i * d, &err);
		}
		rag_alloc_fail_after(0);
		cr_assert_eq(rc, RAG_EINTERNAL, "allocation %lu: rc %d", nth, rc);
		cr_assert(strstr(err.msg, "out of memory"), "%s", err.msg);
		if (h) {
			/* whatever got in is searchable and consistent */
			struct rag_hnsw_stats st;
			int64_t lab[5];
			size_t ng;
			rag_hnsw_stats(h, &st);
			cr_assert_eq(rag_hnsw_search(h, q, 5, 16, NULL, NULL, lab, NULL, &ng, &err), RAG_OK);
			cr_assert_eq(ng, st.live < 5 ? st.live : 5);
			for (size_t j = 0; j < ng; j++)
				cr_assert(lab[j] >= 0 && lab[j] < (int64_t)n);
		}
		rag_hnsw_free(h);
	}
	free(v);
	free(q);
}
