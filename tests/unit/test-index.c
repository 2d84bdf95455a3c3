/* test-index.c: Porter stemmer, analyzer, filters, fusion, BM25 pruning, vector files, index. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "analyzer.h"
#include "bm25.h"
#include "filter.h"
#include "fusion.h"
#include "index.h"
#include "index_search.h"
#include "kernels.h"
#include "porter.h"
#include "vecfile.h"

TestSuite(index);

/* ---- Porter: pairs from Porter's published voc.txt / output.txt ---- */
Test(index, porter_reference_pairs)
{
	static const char *const pairs[][2] = {
		{ "caresses", "caress" }, { "ponies", "poni" }, { "ties", "ti" }, { "caress", "caress" },
		{ "cats", "cat" }, { "feed", "feed" }, { "agreed", "agre" }, { "plastered", "plaster" },
		{ "bled", "bled" }, { "motoring", "motor" }, { "sing", "sing" }, { "conflated", "conflat" },
		{ "troubled", "troubl" }, { "sized", "size" }, { "hopping", "hop" }, { "tanned", "tan" },
		{ "falling", "fall" }, { "hissing", "hiss" }, { "fizzed", "fizz" }, { "failing", "fail" },
		{ "filing", "file" }, { "happy", "happi" }, { "sky", "sky" }, { "relational", "relat" },
		{ "conditional", "condit" }, { "rational", "ration" }, { "valenci", "valenc" },
		{ "hesitanci", "hesit" }, { "digitizer", "digit" }, { "conformabli", "conform" },
		{ "radicalli", "radic" }, { "differentli", "differ" }, { "vileli", "vile" },
		{ "analogousli", "analog" }, { "vietnamization", "vietnam" }, { "predication", "predic" },
		{ "operator", "oper" }, { "feudalism", "feudal" }, { "decisiveness", "decis" },
		{ "hopefulness", "hope" }, { "callousness", "callous" }, { "formaliti", "formal" },
		{ "sensitiviti", "sensit" }, { "sensibiliti", "sensibl" }, { "triplicate", "triplic" },
		{ "formative", "form" }, { "formalize", "formal" }, { "electriciti", "electr" },
		{ "electrical", "electr" }, { "hopeful", "hope" }, { "goodness", "good" },
		{ "revival", "reviv" }, { "allowance", "allow" }, { "inference", "infer" },
		{ "airliner", "airlin" }, { "gyroscopic", "gyroscop" }, { "adjustable", "adjust" },
		{ "defensible", "defens" }, { "irritant", "irrit" }, { "replacement", "replac" },
		{ "adjustment", "adjust" }, { "dependent", "depend" }, { "adoption", "adopt" },
		{ "homologou", "homolog" }, { "communism", "commun" }, { "activate", "activ" },
		{ "angulariti", "angular" }, { "homologous", "homolog" }, { "effective", "effect" },
		{ "bowdlerize", "bowdler" }, { "probate", "probat" }, { "rate", "rate" },
		{ "cease", "ceas" }, { "controll", "control" }, { "roll", "roll" },
		{ "generalizations", "gener" }, { "oscillators", "oscil" }, { "knightly", "knightli" },
		{ "abatements", "abat" }, { "connection", "connect" }, { "running", "run" },
		{ "is", "is" }, { "a", "a" }, { "caf\xc3\xa9", "caf\xc3\xa9" },
	};
	size_t i;
	char w[64];

	for (i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		size_t n = strlen(pairs[i][0]);
		memcpy(w, pairs[i][0], n + 1);
		n = rag_porter_stem(w, n);
		w[n] = 0;
		cr_expect_str_eq(w, pairs[i][1], "stem(%s) = %s, want %s", pairs[i][0], w, pairs[i][1]);
	}
}

/* ---- analyzer ---- */
struct toks { char buf[512]; size_t len; };

static int collect(void *ctx, const char *tok, size_t n)
{
	struct toks *t = ctx;
	if (t->len)
		t->buf[t->len++] = '|';
	memcpy(t->buf + t->len, tok, n);
	t->len += n;
	t->buf[t->len] = 0;
	return 0;
}

Test(index, analyzer_cases)
{
	static const struct { int stem, stop; const char *in, *out; } cases[] = {
		{ 0, 0, "Hello, World! 42x", "hello|world|42x" },
		{ 0, 0, "Caf\xc3\xa9 \xc3\x9c" "BER na\xc3\xafve", "cafe|uber|naive" },
		{ 0, 0, "STRASSE Stra\xc3\x9f" "e", "strasse|strasse" },
		{ 0, 0, "\xce\x9a\xce\xb1\xce\xbb\xce\xb7\xce\xbc\xce\xad\xcf\x81\xce\xb1", "\xce\xba\xce\xb1\xce\xbb\xce\xb7\xce\xbc\xce\xb5\xcf\x81\xce\xb1" },
		{ 0, 0, "e-mail x_y \xe4\xb8\xad\xe6\x96\x87", "e|mail|x|y|\xe4\xb8\xad\xe6\x96\x87" },
		{ 0, 1, "The cat is on the mat", "cat|mat" },
		{ 1, 1, "Running connections are the generalizations", "run|connect|gener" },
		{ 0, 0, "bad\xff" "byte", "bad|byte" },
		{ 0, 0, "", "" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct rag_analyzer a;
		struct toks t = { "", 0 };
		rag_analyzer_init(&a);
		a.stem = cases[i].stem;
		a.stopwords = cases[i].stop;
		cr_assert_eq(rag_analyze(&a, cases[i].in, strlen(cases[i].in), collect, &t), 0);
		cr_expect_str_eq(t.buf, cases[i].out, "case %zu: got '%s'", i, t.buf);
	}
}

/* ---- filter ---- */
Test(index, filter_eval_table)
{
	static const char meta_src[] =
		"{\"lang\":\"en\",\"year\":2021,\"tag\":[\"a\",\"b\"],\"author\":null,\"x\":{\"y\":3},\"s\":\"it's\"}";
	static const struct { const char *expr; int want; } cases[] = {
		{ "lang = \"en\"", 1 }, { "lang == 'en'", 1 }, { "lang != \"en\"", 0 }, { "lang <> 'fr'", 1 },
		{ "year >= 2020", 1 }, { "year > 2021", 0 }, { "year < 2021.5", 1 }, { "year <= 2020", 0 },
		{ "lang = \"en\" AND year >= 2020", 1 }, { "lang = \"fr\" OR year = 2021", 1 },
		{ "tag IN (\"a\",\"z\")", 1 }, { "tag IN ('z')", 0 }, { "tag NOT IN ('z')", 1 },
		{ "tag = 'b'", 1 }, { "EXISTS author", 1 }, { "EXISTS missing", 0 }, { "NOT EXISTS missing", 1 },
		{ "author = null", 1 }, { "x.y = 3", 1 }, { "x.y.z = 3", 0 }, { "missing = 1", 0 },
		{ "lang = 1", 0 }, { "year = \"2021\"", 0 }, { "(lang = 'fr' OR lang = 'en') and not year < 2000", 1 },
		{ "s = \"it's\"", 1 }, { "lang >= \"e\"", 1 },
	};
	static const char *const bad[] = { "", "lang =", "lang = \"x", "(lang = 'en'", "lang ~ 1",
					   "lang IN 'a'", "lang = 'a' AND", "= 3", "lang = 'a' junk" };
	struct rag_arena ar;
	struct rag_json *meta;
	struct rag_error err;
	size_t i;

	rag_arena_init(&ar);
	cr_assert_eq(rag_json_parse(&ar, meta_src, strlen(meta_src), &meta, &err), RAG_OK);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct rag_filter *f;
		cr_assert_eq(rag_filter_parse(cases[i].expr, &f, &err), RAG_OK, "%s: %s", cases[i].expr, err.msg);
		cr_expect_eq(rag_filter_eval(f, meta), cases[i].want, "%s", cases[i].expr);
		if (!strstr(cases[i].expr, "NOT") && !strstr(cases[i].expr, "not") && !strstr(cases[i].expr, "!=") &&
		    !strstr(cases[i].expr, "<>"))
			cr_expect_eq(rag_filter_eval(f, NULL), 0, "no meta: %s", cases[i].expr);
		rag_filter_free(f);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct rag_filter *f = NULL;
		cr_expect_eq(rag_filter_parse(bad[i], &f, &err), RAG_EUSAGE, "accepted: %s", bad[i]);
		cr_expect(strstr(err.msg, "filter:") != NULL);
		cr_expect_null(f);
	}
	rag_arena_free(&ar);
}

/* ---- fusion ---- */
Test(index, fusion_rrf_and_norm)
{
	struct rag_hit a[] = { { 1, 9 }, { 2, 5 }, { 3, 1 } }, b[] = { { 3, 0.9f }, { 1, 0.8f } }, out[4];
	struct rag_fuse_leg legs[2] = { { a, 3, 1 }, { b, 2, 1 } };
	struct rag_error err;
	size_t n;

	cr_assert_eq(rag_fuse(RAG_FUSE_RRF, 60, legs, 2, 4, out, &n, &err), RAG_OK);
	cr_assert_eq(n, 3);
	cr_expect_eq(out[0].doc, 1);  /* 1/61 + 1/62 */
	cr_expect_eq(out[1].doc, 3);  /* 1/63 + 1/61 */
	cr_expect_eq(out[2].doc, 2);
	cr_expect_float_eq(out[0].score, 1.0 / 61 + 1.0 / 62, 1e-6);
	cr_assert_eq(rag_fuse(RAG_FUSE_NORM, 60, legs, 2, 2, out, &n, &err), RAG_OK);
	cr_assert_eq(n, 2);
	cr_expect_eq(out[0].doc, 1);  /* 1 + 0 */
	cr_expect_float_eq(out[0].score, 1.0, 1e-6);
	cr_expect_eq(out[1].doc, 3);  /* 0 + 1 */
	legs[1].weight = 3;
	cr_assert_eq(rag_fuse(RAG_FUSE_NORM, 60, legs, 2, 1, out, &n, &err), RAG_OK);
	cr_expect_eq(out[0].doc, 3);
}

/* ---- BM25 MaxScore against exhaustive scoring on random lists ---- */
Test(index, bm25_maxscore_matches_brute_force)
{
	enum { ND = 9000, NL = 40 };
	static uint32_t docs[NL][ND];
	static float imp[NL][ND], norm[ND], full[ND];
	static uint8_t allowed[ND];
	struct rag_bm25_list lists[NL];
	struct rag_hit out[50], ref[50];
	struct rag_error err;
	unsigned seed = 7;
	int trial;

	for (trial = 0; trial < 20; trial++) {
		size_t nl = 1 + (size_t)(rand_r(&seed) % NL), i, j, n, nr = 0, k = 1 + (size_t)(rand_r(&seed) % 50);
		int use_mask = trial % 3 == 0;
		for (i = 0; i < ND; i++) {
			norm[i] = 0.3f + (float)(rand_r(&seed) % 1000) / 500.0f;
			full[i] = 0;
			allowed[i] = (uint8_t)(rand_r(&seed) % 2);
		}
		for (i = 0; i < nl; i++) {
			unsigned density = 1 + (unsigned)(rand_r(&seed) % 400);
			n = 0;
			for (j = 0; j < ND; j++)
				if ((unsigned)(rand_r(&seed) % 1000) < density) {
					docs[i][n] = (uint32_t)j;
					float tf = (float)(1 + rand_r(&seed) % 5);
					imp[i][n] = tf / (tf + norm[j]);
					n++;
				}
			lists[i].docs = docs[i];
			lists[i].imp = imp[i];
			lists[i].n = n;
			lists[i].weight = 0.1f + (float)(rand_r(&seed) % 100) / 10.0f;
			lists[i].max_imp = trial % 2 ? -1 : rag_bm25_max_imp(&lists[i]);
			for (j = 0; j < n; j++)
				full[docs[i][j]] += lists[i].weight * imp[i][j];
		}
		for (j = 0; j < ND; j++)
			if (full[j] > 0 && (!use_mask || allowed[j]))
				rag_topk_push(ref, &nr, k, (int64_t)j, full[j]);
		rag_topk_sort(ref, nr);
		cr_assert_eq(rag_bm25_topk(lists, nl, use_mask ? allowed : NULL, k, out, &n, &err), RAG_OK);
		cr_assert_eq(n, nr, "trial %d: %zu hits, want %zu", trial, n, nr);
		for (i = 0; i < n; i++) {
			/* same scores in order (summation order may differ in the last bit) */
			cr_expect(fabsf(out[i].score - ref[i].score) <= 1e-4f * ref[i].score,
				  "trial %d rank %zu: %g vs %g", trial, i, out[i].score, ref[i].score);
			if (!use_mask)
				continue;
			cr_expect(allowed[out[i].doc]);
		}
	}
}

/* ---- dense kernel ---- */
Test(index, dense_scores_all_storages)
{
	enum { N = 37, D = 19 };
	float x[N * D], q[2 * D], out[2 * N];
	uint16_t h[N * D];
	int8_t c[N * D];
	float sc[N];
	int i, j, d;
	unsigned seed = 3;

	for (i = 0; i < N * D; i++) {
		x[i] = (float)(rand_r(&seed) % 2001 - 1000) / 1000.0f;
		h[i] = rag_f32_to_f16(x[i]);
	}
	for (i = 0; i < N; i++) {
		float mx = 0;
		for (d = 0; d < D; d++)
			mx = fmaxf(mx, fabsf(x[i * D + d]));
		sc[i] = mx / 127;
		for (d = 0; d < D; d++)
			c[i * D + d] = (int8_t)lrintf(x[i * D + d] / sc[i]);
	}
	for (i = 0; i < 2 * D; i++)
		q[i] = (float)(rand_r(&seed) % 2001 - 1000) / 1000.0f;
	for (int st = 0; st < 3; st++)
		for (int l2 = 0; l2 < 2; l2++) {
			const void *base = st == 0 ? (const void *)x : st == 1 ? (const void *)h : (const void *)c;
			cr_assert_eq(rag_dense_scores(out, q, 2, base, st, st == 2 ? sc : NULL, N, D, l2), 0);
			for (j = 0; j < 2; j++)
				for (i = 0; i < N; i++) {
					double s = 0;
					for (d = 0; d < D; d++) {
						double xv = x[i * D + d];
						s += l2 ? -(q[j * D + d] - xv) * (q[j * D + d] - xv) : q[j * D + d] * xv;
					}
					cr_expect(fabs(out[j * N + i] - s) < (st == 0 ? 1e-4 : 0.05),
						  "storage %d l2 %d: %g vs %g", st, l2, out[j * N + i], s);
				}
		}
}

/* ---- vector file ---- */
static char tmpdir[64];

static void mkscratch(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test-index.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void rmscratch(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	cr_expect_eq(system(cmd), 0);
}

Test(index, vecfile_roundtrip_and_corruption, .init = mkscratch, .fini = rmscratch)
{
	char path[128];
	struct rag_vecw *w;
	struct rag_vecfile *v;
	struct rag_error err;
	float row[3] = { 3, 4, 0 }, got[3];
	int st;

	snprintf(path, sizeof path, "%s/v", tmpdir);
	for (st = 0; st < 3; st++) {
		cr_assert_eq(rag_vecw_begin(path, st, RAG_METRIC_COSINE, 3, 0, &w, &err), RAG_OK);
		cr_assert_eq(rag_vecw_add(w, 42, row, &err), RAG_OK);
		cr_assert_eq(rag_vecw_add(w, 7, row, &err), RAG_OK);
		cr_assert_eq(rag_vecw_finish(w, &err), RAG_OK, "%s", err.msg);
		cr_assert_eq(rag_vecfile_open(path, &v, &err), RAG_OK, "%s", err.msg);
		cr_expect_eq(v->n, 2);
		cr_expect_eq(v->ids[0], 42);
		cr_expect_eq(v->ids[1], 7);
		rag_vecfile_row(v, 1, got);
		cr_expect_float_eq(got[0], 0.6f, 0.01f);
		cr_expect_float_eq(got[1], 0.8f, 0.01f);
		rag_vecfile_close(v);
	}
	/* flip one byte after the header: checksum error, 78 */
	{
		FILE *f = fopen(path, "r+b");
		cr_assert_not_null(f);
		fseek(f, 140, SEEK_SET);
		fputc(0x55, f);
		fclose(f);
		cr_expect_eq(rag_vecfile_open(path, &v, &err), RAG_EMODEL);
		cr_expect(strstr(err.msg, "checksum") != NULL, "%s", err.msg);
	}
	/* truncated and foreign */
	cr_assert_eq(truncate(path, 100), 0);
	cr_expect_eq(rag_vecfile_open(path, &v, &err), RAG_EMODEL);
	{
		FILE *f = fopen(path, "wb");
		fputs("this is not a vector file at all, just some words to fill 128 bytes of header space. "
		      "..........................................................", f);
		fclose(f);
	}
	cr_expect_eq(rag_vecfile_open(path, &v, &err), RAG_EMODEL);
	snprintf(path, sizeof path, "%s/missing", tmpdir);
	cr_expect_eq(rag_vecfile_open(path, &v, &err), RAG_ENOINPUT);
}

/* ---- index: upsert, unchanged skip, delete, search, mismatch ---- */
static int upsert_str(struct rag_index_writer *w, const char *src, struct rag_error *err)
{
	struct rag_arena a;
	struct rag_json *rec;
	int rc;

	rag_arena_init(&a);
	cr_assert_eq(rag_json_parse(&a, src, strlen(src), &rec, err), RAG_OK);
	rc = rag_index_writer_upsert(w, rec, NULL, 0, err);
	rag_arena_free(&a);
	return rc;
}

/* BM25F by hand: tt = sum_f w_f * tf_f / (1 - b + b * len_f / avglen_f), imp = tt / (tt + k1). */
static double bm25f_ref(const struct rag_bm25_params *p, double idf, double tft, double lt, double avt,
			double tfx, double lx, double avx)
{
	double tt = p->w_title * tft / (1 - p->b + p->b * lt / avt) + p->w_text * tfx / (1 - p->b + p->b * lx / avx);
	return idf * tt / (tt + p->k1);
}

Test(index, bm25f_field_weights, .init = mkscratch, .fini = rmscratch)
{
	char path[128];
	struct rag_index_writer *w;
	struct rag_index *ix;
	struct rag_error err;
	struct rag_hit hits[10];
	size_t n, i;
	struct rag_bm25_params p;
	/* "apples" -> appl (Porter), "and" is a stop word: title lengths 1, 1, 0
	 * (mean over titled chunks 1); text lengths 2, 3, 2 (mean 7/3) */
	double idf = log(1 + 0.5 / 3.5), avt = 1, avx = 7.0 / 3;
	double want[4];

	snprintf(path, sizeof path, "%s/f.rag", tmpdir);
	cr_assert_eq(rag_index_writer_open(path, NULL, &w, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(upsert_str(w, "{\"id\":\"1\",\"title\":\"Apples\",\"text\":\"pears pears\"}", &err), RAG_OK);
	cr_assert_eq(upsert_str(w, "{\"id\":\"2\",\"title\":\"Pears\",\"text\":\"apples apples apples\"}", &err), RAG_OK);
	cr_assert_eq(upsert_str(w, "{\"id\":\"3\",\"text\":\"apples and cherries\"}", &err), RAG_OK);
	cr_assert_eq(rag_index_writer_commit(w, &err), RAG_OK, "%s", err.msg);
	rag_index_writer_free(w);
	cr_assert_eq(rag_index_open(path, &ix, &err), RAG_OK, "%s", err.msg);

	rag_bm25_params_init(&p);
	cr_expect(p.k1 == RAG_BM25_K1 && p.b == RAG_BM25_B && p.w_title == 2 && p.w_text == 1);
	for (i = 0; i < 3; i++) {
		/* defaults; the title weighted up; then the defaults again (cached impacts recomputed) */
		if (i == 1)
			p.w_title = 5;
		if (i == 2)
			rag_bm25_params_init(&p);
		want[1] = bm25f_ref(&p, idf, 1, 1, avt, 0, 2, avx);
		want[2] = bm25f_ref(&p, idf, 0, 1, avt, 3, 3, avx);
		want[3] = bm25f_ref(&p, idf, 0, 0, avt, 1, 2, avx);  /* no title: plain BM25 on the text */
		cr_assert_eq(rag_index_bm25(ix, "apples", 6, &p, NULL, 10, hits, &n, &err), RAG_OK, "%s", err.msg);
		cr_assert_eq(n, 3);
		cr_expect_eq(hits[0].doc, i == 1 ? 1 : 2, "round %zu: best %lld", i, (long long)hits[0].doc);
		for (size_t j = 0; j < n; j++)
			cr_expect(fabs(hits[j].score - want[hits[j].doc]) < 1e-5 * want[hits[j].doc],
				  "round %zu doc %lld: %g, want %g", i, (long long)hits[j].doc, hits[j].score,
				  want[hits[j].doc]);
	}
	rag_index_close(ix);
	/* a format-1 index (pairs of rowid, tf) is refused, not misread */
	{
		sqlite3 *db;
		cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
		cr_assert_eq(sqlite3_exec(db, "UPDATE meta SET value = '1' WHERE key = 'format'", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		cr_expect_eq(rag_index_open(path, &ix, &err), RAG_EMODEL);
		cr_expect(strstr(err.msg, "format 1") != NULL, "%s", err.msg);
		cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
		cr_assert_eq(sqlite3_exec(db, "UPDATE meta SET value = '2' WHERE key = 'format'", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		cr_assert_eq(rag_index_open(path, &ix, &err), RAG_OK, "%s", err.msg);
	}
	/* only the text field: the title-only match disappears */
	p.w_title = 0;
	cr_assert_eq(rag_index_bm25(ix, "apples", 6, &p, NULL, 10, hits, &n, &err), RAG_OK);
	cr_expect_eq(n, 2);
	cr_expect_eq(hits[0].doc, 2);
	rag_index_close(ix);
}

/* rag_search_batch gives exactly what rag_search gives query by query (mixed modes, shards, ACL, exclusion). */
Test(index, search_batch_matches_one_at_a_time, .init = mkscratch, .fini = rmscratch)
{
	enum { NQ = 24, K = 5, DIM = 6 };
	char path[2][128], rec[512];
	struct rag_index *ix[2];
	struct rag_index_writer *w;
	struct rag_error err;
	struct rag_search_opts o;
	struct rag_search_query q[NQ];
	struct rag_result res1[K], resb[NQ * K];
	size_t nb[NQ], n1, i, j, s;
	enum rag_search_mode modes[NQ], mode1;
	float qv[NQ][DIM];
	static const char *const princ[] = { "g" };
	char qid[NQ][8];
	unsigned seed = 3;

	for (s = 0; s < 2; s++) {
		snprintf(path[s], sizeof path[s], "%s/b%zu.rag", tmpdir, s);
		cr_assert_eq(rag_index_writer_open(path[s], NULL, &w, &err), RAG_OK, "%s", err.msg);
		for (i = 0; i < 60; i++) {
			int n = snprintf(rec, sizeof rec, "{\"id\":\"c%zu_%zu\",\"text\":\"w%zu common w%zu\"%s,\"embedding\":[",
					 s, i, i % 7, i % 4, i % 5 == 0 ? ",\"acl\":[\"g\"]" : "");
			for (j = 0; j < DIM; j++)
				n += snprintf(rec + n, sizeof rec - (size_t)n, "%s%.3f", j ? "," : "",
					      (double)(rand_r(&seed) % 2001) / 1000.0 - 1.0);
			snprintf(rec + n, sizeof rec - (size_t)n, "]}");
			cr_assert_eq(upsert_str(w, rec, &err), RAG_OK, "%s", err.msg);
		}
		cr_assert_eq(rag_index_writer_commit(w, &err), RAG_OK, "%s", err.msg);
		rag_index_writer_free(w);
		cr_assert_eq(rag_index_open(path[s], &ix[s], &err), RAG_OK, "%s", err.msg);
	}
	rag_search_opts_init(&o);
	o.k = K;
	for (i = 0; i < NQ; i++) {
		memset(&q[i], 0, sizeof q[i]);
		for (j = 0; j < DIM; j++)
			qv[i][j] = (float)(rand_r(&seed) % 2001) / 1000.0f - 1.0f;
		if (i % 3 != 1) {       /* dense, and hybrid every third */
			q[i].vec = qv[i];
			q[i].dim = DIM;
		}
		if (i % 3 != 0) {
			q[i].text = "w3 common";
			q[i].len = 9;
		}
		if (i % 4 == 0) {
			q[i].principals = princ;
			q[i].n_principals = 1;
		}
		if (i % 5 == 0) {       /* exclude a chunk that is likely a hit */
			snprintf(qid[i], sizeof qid[i], "c0_%zu", i);
			q[i].exclude_id = qid[i];
			q[i].exclude_len = strlen(qid[i]);
		}
	}
	cr_assert_eq(rag_search_batch(ix, 2, &o, q, NQ, resb, nb, modes, &err), RAG_OK, "%s", err.msg);
	for (i = 0; i < NQ; i++) {
		cr_assert_eq(rag_search(ix, 2, &o, &q[i], res1, &n1, &mode1, &err), RAG_OK, "%s", err.msg);
		cr_expect_eq(modes[i], mode1);
		cr_assert_eq(nb[i], n1, "query %zu: %zu hits batched, %zu alone", i, nb[i], n1);
		cr_expect_eq(n1, (size_t)K);
		for (j = 0; j < n1; j++) {
			const struct rag_result *a = &resb[i * K + j], *b = &res1[j];
			cr_expect(a->shard == b->shard && a->key == b->key && a->score == b->score &&
				  a->dense_rank == b->dense_rank && a->bm25_rank == b->bm25_rank &&
				  a->dense_score == b->dense_score && a->fused_rank == b->fused_rank,
				  "query %zu hit %zu differs", i, j);
		}
	}
	/* a query of the wrong dimension fails the batch as a whole, before anything ran */
	q[7].dim = DIM - 1;
	q[7].vec = qv[7];
	cr_expect_eq(rag_search_batch(ix, 2, &o, q, NQ, resb, nb, modes, &err), RAG_EDATA);
	cr_expect(strstr(err.msg, "dimensions") != NULL, "%s", err.msg);
	rag_index_close(ix[0]);
	rag_index_close(ix[1]);
}

/* Chunk ids: single lookups, then (past 256) the cached table; the same answers either way. */
Test(index, chunk_ids_cached, .init = mkscratch, .fini = rmscratch)
{
	char path[128], rec[128], want[32];
	struct rag_index_writer *w;
	struct rag_index *ix;
	struct rag_error err;
	struct rag_buf id;
	size_t i;

	snprintf(path, sizeof path, "%s/ids.rag", tmpdir);
	cr_assert_eq(rag_index_writer_open(path, NULL, &w, &err), RAG_OK, "%s", err.msg);
	for (i = 0; i < 30; i++) {
		snprintf(rec, sizeof rec, "{\"id\":\"chunk-%zu\",\"text\":\"t\"}", i);
		cr_assert_eq(upsert_str(w, rec, &err), RAG_OK, "%s", err.msg);
	}
	cr_assert_eq(rag_index_writer_commit(w, &err), RAG_OK, "%s", err.msg);
	rag_index_writer_free(w);
	cr_assert_eq(rag_index_writer_open(path, NULL, &w, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_index_writer_delete_id(w, "chunk-7", &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_index_writer_commit(w, &err), RAG_OK, "%s", err.msg);
	rag_index_writer_free(w);
	cr_assert_eq(rag_index_open(path, &ix, &err), RAG_OK, "%s", err.msg);
	rag_buf_init(&id);
	for (i = 0; i < 600; i++) {
		int64_t key = 1 + (int64_t)(i % 30);  /* keys are rowids from 1 */
		int rc = rag_index_chunk_id(ix, key, &id, &err);
		if (key == 8) {
			cr_assert_eq(rc, RAG_EMODEL, "lookup %zu of the deleted chunk", i);
			continue;
		}
		cr_assert_eq(rc, RAG_OK, "lookup %zu: %s", i, err.msg);
		snprintf(want, sizeof want, "chunk-%lld", (long long)key - 1);
		cr_assert_str_eq(id.data, want, "lookup %zu", i);
		cr_assert_eq(id.len, strlen(want));
	}
	cr_expect_eq(rag_index_chunk_id(ix, 31, &id, &err), RAG_EMODEL);
	cr_expect_eq(rag_index_chunk_id(ix, -1, &id, &err), RAG_EMODEL);
	rag_buf_free(&id);
	rag_index_close(ix);
}

Test(index, writer_reader_cycle, .init = mkscratch, .fini = rmscratch)
{
	char path[128];
	struct rag_index_writer *w;
	struct rag_index *ix;
	struct rag_error err;
	struct rag_hit hits[10];
	size_t n;
	const struct rag_bm25_params p = { RAG_BM25_K1, RAG_BM25_B, RAG_BM25_W_TITLE, RAG_BM25_W_TEXT };
	float q[3] = { 0, 1, 0 };

	snprintf(path, sizeof path, "%s/x.rag", tmpdir);
	cr_assert_eq(rag_index_writer_open(path, NULL, &w, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(upsert_str(w, "{\"id\":\"1\",\"doc_id\":\"d\",\"text\":\"red apples\",\"embedding\":[1,0,0]}", &err), RAG_OK);
	cr_assert_eq(upsert_str(w, "{\"id\":\"2\",\"doc_id\":\"d\",\"text\":\"green apples and pears\",\"embedding\":[0,1,0]}", &err), RAG_OK);
	cr_assert_eq(upsert_str(w, "{\"id\":\"3\",\"text\":\"blue sky\",\"embedding\":[0,0,1]}", &err), RAG_OK);
	cr_expect_eq(upsert_str(w, "{\"id\":\"4\",\"text\":\"x\",\"embedding\":[0,1]}", &err), RAG_EDATA);
	cr_expect(strstr(err.msg, "2 dimensions") != NULL, "%s", err.msg);
	cr_expect_eq(upsert_str(w, "{\"text\":\"no id\"}", &err), RAG_EDATA);
	cr_expect_eq(upsert_str(w, "{\"id\":\"5\",\"embedding\":[1,\"a\",0]}", &err), RAG_EDATA);
	cr_assert_eq(rag_index_writer_commit(w, &err), RAG_OK, "%s", err.msg);
	cr_expect_eq(rag_index_writer_counts(w)->added, 3);
	rag_index_writer_free(w);

	cr_assert_eq(rag_index_open(path, &ix, &err), RAG_OK, "%s", err.msg);
	cr_expect_eq(rag_index_size(ix), 3);
	cr_expect_eq(rag_index_dim(ix), 3);
	cr_assert_eq(rag_index_bm25(ix, "apples", 6, &p, NULL, 10, hits, &n, &err), RAG_OK);
	cr_expect_eq(n, 2);
	cr_expect_eq(hits[0].doc, 1);  /* the shorter chunk first */
	cr_assert_eq(rag_index_dense(ix, q, 3, NULL, 2, hits, &n, &err), RAG_OK);
	cr_expect_eq(n, 2);
	cr_expect_eq(hits[0].doc, 2);
	cr_expect_float_eq(hits[0].score, 1.0f, 1e-6f);
	cr_expect_eq(rag_index_dense(ix, q, 2, NULL, 2, hits, &n, &err), RAG_EDATA);

	/* a second writer: one unchanged, one changed, one deleted by doc; the open reader keeps its snapshot */
	cr_assert_eq(rag_index_writer_open(path, NULL, &w, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(upsert_str(w, "{\"id\":\"3\",\"text\":\"blue sky\",\"embedding\":[0,0,1]}", &err), RAG_OK);
	cr_assert_eq(upsert_str(w, "{\"id\":\"1\",\"doc_id\":\"e\",\"text\":\"red cherries\",\"embedding\":[1,0,0]}", &err), RAG_OK);
	cr_assert_eq(rag_index_writer_delete_doc(w, "d", &err), RAG_OK);
	cr_assert_eq(rag_index_writer_commit(w, &err), RAG_OK, "%s", err.msg);
	cr_expect_eq(rag_index_writer_counts(w)->unchanged, 1);
	cr_expect_eq(rag_index_writer_counts(w)->updated, 1);
	cr_expect_eq(rag_index_writer_counts(w)->deleted, 1);
	rag_index_writer_free(w);
	cr_assert_eq(rag_index_bm25(ix, "pears", 5, &p, NULL, 10, hits, &n, &err), RAG_OK);
	cr_expect_eq(n, 1, "old snapshot still sees chunk 2");
	cr_assert_eq(rag_index_dense(ix, q, 3, NULL, 3, hits, &n, &err), RAG_OK);
	cr_expect_eq(n, 3, "old snapshot still maps the old vectors");
	rag_index_close(ix);

	cr_assert_eq(rag_index_open(path, &ix, &err), RAG_OK, "%s", err.msg);
	cr_expect_eq(rag_index_size(ix), 2);
	cr_assert_eq(rag_index_bm25(ix, "apples pears", 12, &p, NULL, 10, hits, &n, &err), RAG_OK);
	cr_expect_eq(n, 0);
	cr_assert_eq(rag_index_bm25(ix, "cherries", 8, &p, NULL, 10, hits, &n, &err), RAG_OK);
	cr_expect_eq(n, 1);
	cr_assert_eq(rag_index_dense(ix, q, 3, NULL, 3, hits, &n, &err), RAG_OK);
	cr_expect_eq(n, 2);
	rag_index_close(ix);

	/* a writer that is freed without commit changes nothing */
	cr_assert_eq(rag_index_writer_open(path, NULL, &w, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(upsert_str(w, "{\"id\":\"9\",\"text\":\"lost\",\"embedding\":[1,1,1]}", &err), RAG_OK);
	rag_index_writer_free(w);
	cr_assert_eq(rag_index_open(path, &ix, &err), RAG_OK, "%s", err.msg);
	cr_expect_eq(rag_index_size(ix), 2);
	rag_index_close(ix);
}

Test(index, foreign_files_are_78, .init = mkscratch, .fini = rmscratch)
{
	char path[128];
	struct rag_index *ix;
	struct rag_index_writer *w;
	struct rag_error err;
	FILE *f;

	snprintf(path, sizeof path, "%s/foreign", tmpdir);
	f = fopen(path, "w");
	fputs("hello, this is not a database\n", f);
	fclose(f);
	cr_expect_eq(rag_index_open(path, &ix, &err), RAG_EMODEL, "%s", err.msg);
	cr_expect_eq(rag_index_writer_open(path, NULL, &w, &err), RAG_EMODEL, "%s", err.msg);
	snprintf(path, sizeof path, "%s/missing", tmpdir);
	cr_expect_eq(rag_index_open(path, &ix, &err), RAG_ENOINPUT);
}

/* every allocation failure inside a search is reported, never a crash */
Test(index, search_survives_allocation_failures, .init = mkscratch, .fini = rmscratch)
{
	char path[128];
	struct rag_index_writer *w;
	struct rag_index *ix;
	struct rag_error err;
	struct rag_search_opts o;
	struct rag_search_query q;
	struct rag_result res[5];
	enum rag_search_mode mode;
	float v[2] = { 1, 0 };
	unsigned long i, total;
	size_t n;

	snprintf(path, sizeof path, "%s/x.rag", tmpdir);
	cr_assert_eq(rag_index_writer_open(path, NULL, &w, &err), RAG_OK);
	cr_assert_eq(upsert_str(w, "{\"id\":\"a\",\"text\":\"alpha beta\",\"embedding\":[1,0],\"meta\":{\"n\":1}}", &err), RAG_OK);
	cr_assert_eq(upsert_str(w, "{\"id\":\"b\",\"text\":\"beta gamma\",\"embedding\":[0,1],\"acl\":[\"x\"]}", &err), RAG_OK);
	cr_assert_eq(rag_index_writer_commit(w, &err), RAG_OK);
	rag_index_writer_free(w);
	rag_search_opts_init(&o);
	o.k = 5;
	memset(&q, 0, sizeof q);
	q.text = "beta";
	q.len = 4;
	q.vec = v;
	q.dim = 2;
	rag_alloc_fail_after(0);
	for (i = 1;; i++) {
		int rc;
		cr_assert_eq(rag_index_open(path, &ix, &err), RAG_OK);
		rag_alloc_fail_after(0);
		rag_alloc_fail_after(i);
		rc = rag_search(&ix, 1, &o, &q, res, &n, &mode, &err);
		total = rag_alloc_fail_after(0);
		rag_index_close(ix);
		if (rc == RAG_OK) {
			cr_expect_eq(n, 1);  /* b is behind an ACL */
			break;
		}
		cr_expect_eq(rc, RAG_EINTERNAL, "allocation %lu: %d %s", i, rc, err.msg);
		cr_assert(i < 1000);
	}
	(void)total;
}
