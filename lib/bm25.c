/* bm25.c: field-aware BM25 (BM25F) top-k with MaxScore pruning. */
#include "bm25.h"

#include <math.h>
#include <stdlib.h>

#include "alloc.h"

double rag_bm25_idf(uint64_t n_docs, uint64_t df)
{
	return log(1.0 + ((double)n_docs - (double)df + 0.5) / ((double)df + 0.5));
}

void rag_bm25_params_init(struct rag_bm25_params *p)
{
	p->k1 = RAG_BM25_K1;
	p->b = RAG_BM25_B;
	p->w_title = RAG_BM25_W_TITLE;
	p->w_text = RAG_BM25_W_TEXT;
}

static double avg_nonempty(const uint32_t *len, size_t n)
{
	double sum = 0;
	size_t i, m = 0;

	for (i = 0; i < n; i++)
		if (len[i]) {
			sum += len[i];
			m++;
		}
	return m ? sum / (double)m : 1.0;
}

void rag_bm25f_factors(const struct rag_bm25_params *p, const uint32_t *tlen, const uint32_t *xlen,
		       size_t n, float *a_title, float *a_text)
{
	double at = avg_nonempty(tlen, n), ax = avg_nonempty(xlen, n);
	size_t i;

	for (i = 0; i < n; i++) {
		double bt = 1.0 - p->b + p->b * (double)tlen[i] / at;
		double bx = 1.0 - p->b + p->b * (double)xlen[i] / ax;
		/* b = 1 and an empty field: no term can occur in it, any factor will do */
		a_title[i] = (float)(bt > 0 ? p->w_title / bt : 0.0);
		a_text[i] = (float)(bx > 0 ? p->w_text / bx : 0.0);
	}
}

/* a is worse than b: lower score, or equal score and larger doc. */
static int worse(const struct rag_hit *a, const struct rag_hit *b)
{
	return a->score < b->score || (a->score == b->score && a->doc > b->doc);
}

void rag_topk_push(struct rag_hit *h, size_t *n, size_t k, int64_t doc, float score)
{
	struct rag_hit x = { doc, score };
	size_t i;

	if (k == 0)
		return;
	if (*n < k) {
		i = (*n)++;
		while (i > 0) {
			size_t p = (i - 1) / 2;
			if (!worse(&x, &h[p]))
				break;
			h[i] = h[p];
			i = p;
		}
		h[i] = x;
		return;
	}
	if (!worse(&h[0], &x))
		return;
	i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct rag_hit *mv = &x;
		if (l < *n && worse(&h[l], mv)) { m = l; mv = &h[l]; }
		if (r < *n && worse(&h[r], mv)) { m = r; }
		if (m == i)
			break;
		h[i] = h[m];
		i = m;
	}
	h[i] = x;
}

static int cmp_best(const void *a, const void *b)
{
	const struct rag_hit *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->doc < y->doc ? -1 : x->doc > y->doc;
}

void rag_topk_sort(struct rag_hit *h, size_t n)
{
	qsort(h, n, sizeof *h, cmp_best);
}

/* Documents are scored in windows of this many ids (as Lucene's MaxScore scorer does). */
#define WINDOW 4096u

struct cur {
	struct rag_bm25_list *l;
	size_t pos;
	float ub;
};

static int cmp_ub(const void *a, const void *b)
{
	const struct cur *x = a, *y = b;
	return x->ub < y->ub ? -1 : x->ub > y->ub;
}

/* First position >= pos whose doc >= d (galloping, then binary search). */
static size_t seek(const struct rag_bm25_list *l, size_t pos, uint32_t d)
{
	size_t step = 1, lo = pos, hi;

	if (pos >= l->n || l->docs[pos] >= d)
		return pos;
	while (lo + step < l->n && l->docs[lo + step] < d) {
		lo += step;
		step *= 2;
	}
	hi = lo + step < l->n ? lo + step : l->n;
	lo++;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->docs[mid] < d)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

float rag_bm25_max_imp(const struct rag_bm25_list *l)
{
	float mx = 0;
	size_t j;

	for (j = 0; j < l->n; j++)
		if (l->imp[j] > mx)
			mx = l->imp[j];
	return mx;
}

int rag_bm25_topk(struct rag_bm25_list *lists, size_t n_lists, const uint8_t *allowed, size_t k, struct rag_hit *out, size_t *n_out,
		  struct rag_error *err)
{
	struct cur *c;
	float *cum;
	float *acc;
	uint8_t *hit;
	size_t i, e, nh = 0;
	float theta = 0;

	*n_out = 0;
	if (n_lists == 0 || k == 0)
		return RAG_OK;
	c = rag_calloc(n_lists, sizeof *c);
	cum = rag_calloc(n_lists, sizeof *cum);
	acc = rag_calloc(WINDOW, sizeof *acc);
	hit = rag_calloc(WINDOW, 1);
	if (!c || !cum || !acc || !hit) {
		rag_free(c);
		rag_free(cum);
		rag_free(acc);
		rag_free(hit);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	for (i = 0; i < n_lists; i++) {
		float mx = lists[i].max_imp >= 0 ? lists[i].max_imp : rag_bm25_max_imp(&lists[i]);
		c[i].l = &lists[i];
		c[i].ub = mx * lists[i].weight * 1.0001f + 1e-6f;
	}
	qsort(c, n_lists, sizeof *c, cmp_ub);
	for (i = 0; i < n_lists; i++)
		cum[i] = (i ? cum[i - 1] : 0) + c[i].ub;  /* ub has slack for float sums */
	e = 0;  /* lists [0, e) are non-essential */
	while (e < n_lists) {
		uint32_t lo = UINT32_MAX, hi, d;
		int any = 0;
		size_t j;

		/* the next window starts at the smallest doc left in an essential list */
		for (i = e; i < n_lists; i++)
			if (c[i].pos < c[i].l->n && c[i].l->docs[c[i].pos] < lo) {
				lo = c[i].l->docs[c[i].pos];
				any = 1;
			}
		if (!any)
			break;
		hi = lo > UINT32_MAX - WINDOW ? UINT32_MAX : lo + WINDOW;
		/* essential lists, term at a time, into the window's accumulator */
		for (i = e; i < n_lists; i++) {
			const struct rag_bm25_list *l = c[i].l;
			size_t p = c[i].pos;
			float w = l->weight;
			while (p < l->n && l->docs[p] < hi) {
				uint32_t x = l->docs[p];
				acc[x - lo] += w * l->imp[p];
				hit[x - lo] = 1;
				p++;
			}
			c[i].pos = p;
		}
		/* then each touched document: probe the non-essential lists while it can still win */
		for (d = lo; d < hi; d++) {
			float sc;
			if (!hit[d - lo])
				continue;
			hit[d - lo] = 0;
			sc = acc[d - lo];
			acc[d - lo] = 0;
			if (allowed && !allowed[d])
				continue;
			for (j = e; j > 0; j--) {
				struct rag_bm25_list *l;
				if (nh == k && sc + cum[j - 1] <= theta)
					break;
				l = c[j - 1].l;
				c[j - 1].pos = seek(l, c[j - 1].pos, d);
				if (c[j - 1].pos < l->n && l->docs[c[j - 1].pos] == d)
					sc += l->weight * l->imp[c[j - 1].pos];
			}
			/* cannot enter the top k (docs come in ascending order, so a tie with
			 * the k-th loses); or matched only in a field of weight 0 */
			if (j > 0 || sc <= 0 || (nh == k && sc <= theta))
				continue;
			rag_topk_push(out, &nh, k, d, sc);
			if (nh == k)
				theta = out[0].score;
			if (d == UINT32_MAX)
				break;
		}
		/*
		 * A list whose bound cannot lift a document into the top k becomes
		 * non-essential (only probed) -- but only when that saves work: when
		 * it has at least as many postings left as the essential lists after
		 * it together.  Walking a list costs one add per posting, probing it
		 * up to one search per candidate; on small collections with long
		 * queries (ArguAna) probing dozens of lists for every candidate was
		 * 1.9x slower than walking them (bench/results/retrieve.md).
		 */
		while (nh == k && e < n_lists && cum[e] <= theta) {
			size_t rest = 0, m;
			for (m = e + 1; m < n_lists; m++)
				rest += c[m].l->n - c[m].pos;
			if (c[e].l->n - c[e].pos < rest)
				break;
			e++;
		}
	}
	rag_topk_sort(out, nh);
	*n_out = nh;
	rag_free(c);
	rag_free(cum);
	rag_free(acc);
	rag_free(hit);
	return RAG_OK;
}
