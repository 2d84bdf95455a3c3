/* chunker.c: recursive, boundary-aware chunking with a hard cap and a guaranteed overlap. */
#include "config.h"

#include <string.h>

#include "alloc.h"
#include "chunker.h"
#include "hash.h"

int rag_chunk_opts_check(const struct rag_chunk_opts *o, struct rag_error *err)
{
	size_t added = 0, room;

	if (o->unit == RAG_CHUNK_TOKENS) {
		int n;
		if (!o->tok)
			return rag_error_set(err, RAG_EUSAGE, "sizing in tokens needs a model (--model)");
		n = rag_tokenizer_n_added(o->tok, 0);
		added = n > 0 ? (size_t)n : 0;
		if (o->max < added + 4)
			return rag_error_set(err, RAG_EUSAGE,
					     "--max-tokens %zu leaves no room: the model adds %zu special tokens and "
					     "one character can take 4 tokens", o->max, added);
	}
	if (o->max < 1)
		return rag_error_set(err, RAG_EUSAGE, "the chunk size must be at least 1");
	room = o->max - added;
	if (o->overlap >= room)
		return rag_error_set(err, RAG_EUSAGE,
				     "--overlap %zu must be smaller than the chunk's room for text (%zu)", o->overlap, room);
	return RAG_OK;
}

void rag_chunk_list_init(struct rag_chunk_list *l)
{
	memset(l, 0, sizeof *l);
}

void rag_chunk_list_free(struct rag_chunk_list *l)
{
	if (!l)
		return;
	rag_free(l->v);
	memset(l, 0, sizeof *l);
}

static int is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Per-section state. */
struct sec {
	const struct rag_chunk_opts *o;
	const struct rag_textdoc *d;
	const unsigned char *t;
	size_t a, b;                 /* the section, white space trimmed */
	size_t budget;               /* units of text a chunk may hold (max minus added tokens) */
	size_t added;
	struct rag_tokens tk;        /* the section's tokens, offsets relative to a */
	struct rag_tokens scratch;   /* for exact counts */
	int wordpiece;               /* the tokenizer is BERT's WordPiece */
	size_t atom_i;               /* first atom that may reach into the section */
	unsigned char *prot;         /* per doc atom: fits in a chunk with its overlap */
	size_t short_overlaps;
};

/* ---- measures ---------------------------------------------------------------- */

/* Number of tokens with end <= p (p absolute). */
static size_t tok_end_le(const struct sec *x, size_t p)
{
	size_t lo = 0, hi = x->tk.n, rel = p - x->a;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->tk.end[mid] <= rel)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Number of tokens with start < p. */
static size_t tok_start_lt(const struct sec *x, size_t p)
{
	size_t lo = 0, hi = x->tk.n, rel = p - x->a;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->tk.start[mid] < rel)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Units in [s, e), as the section's own tokenization (or a scan) counts them. */
static size_t count(const struct sec *x, size_t s, size_t e)
{
	size_t n = 0, i;

	if (e <= s)
		return 0;
	switch (x->o->unit) {
	case RAG_CHUNK_TOKENS: {
		size_t lt = tok_start_lt(x, e), le = tok_end_le(x, s);
		return lt > le ? lt - le : 0;
	}
	case RAG_CHUNK_CHARS:
		for (i = s; i < e; i++)
			n += (x->t[i] & 0xC0) != 0x80;
		return n;
	case RAG_CHUNK_WORDS:
		for (i = s; i < e; i++)
			n += !is_ws(x->t[i]) && (i == s || is_ws(x->t[i - 1]));
		return n;
	}
	return 0;
}

static size_t cp_next(const struct sec *x, size_t p)
{
	if (p < x->b)
		p++;
	while (p < x->b && (x->t[p] & 0xC0) == 0x80)
		p++;
	return p;
}

static size_t cp_back(const struct sec *x, size_t p, size_t floor)
{
	while (p > floor && (x->t[p] & 0xC0) == 0x80)
		p--;
	return p;
}

/* The largest position L in [s, b] with count(s, L) <= n (at a unit boundary). */
static size_t fit(const struct sec *x, size_t s, size_t n)
{
	size_t i, k = 0;

	switch (x->o->unit) {
	case RAG_CHUNK_TOKENS: {
		size_t i0 = tok_end_le(x, s);
		if (i0 + n >= x->tk.n)
			return x->b;
		i = x->a + x->tk.start[i0 + n];
		if (i < s)
			i = s;
		return cp_back(x, i > x->b ? x->b : i, s);
	}
	case RAG_CHUNK_CHARS:
		for (i = s; i < x->b; i++)
			if ((x->t[i] & 0xC0) != 0x80 && k++ == n)
				return i;
		return x->b;
	case RAG_CHUNK_WORDS:
		for (i = s; i < x->b; i++)
			if (!is_ws(x->t[i]) && (i == s || is_ws(x->t[i - 1])) && k++ == n)
				return i;
		return x->b;
	}
	return x->b;
}

/* The largest q in [s, e) with count(q, e) >= n, or (size_t)-1 when none. */
static size_t back(const struct sec *x, size_t s, size_t e, size_t n)
{
	size_t i, k = 0;

	if (n == 0)
		return e;
	switch (x->o->unit) {
	case RAG_CHUNK_TOKENS: {
		size_t kt = tok_start_lt(x, e);
		if (kt < n)
			return (size_t)-1;
		i = x->a + x->tk.start[kt - n];
		if (i < s)
			return (size_t)-1;
		return cp_back(x, i, s);
	}
	case RAG_CHUNK_CHARS:
		for (i = e; i > s; i--)
			if ((x->t[i - 1] & 0xC0) != 0x80 && ++k == n)
				return i - 1;
		return (size_t)-1;
	case RAG_CHUNK_WORDS:
		for (i = e; i > s; i--)
			if (!is_ws(x->t[i - 1]) && (i - 1 == s || is_ws(x->t[i - 2])) && ++k == n)
				return i - 1;
		return (size_t)-1;
	}
	return (size_t)-1;
}

/* White space that BERT's tokenizer splits words at.  \f and \v are not:
 * its text cleaning drops them as control characters, so "ab\vcd" is one
 * word there, "abcd". */
static int wordpiece_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Does [s, e), tokenized alone, give exactly the section's tokens inside it?
 * WordPiece splits at white space before anything else and works word by word,
 * so a span with white space (or the section's edge) on both sides does.
 * Byte-level and SentencePiece BPE attach a word's leading space to it, so
 * their spans are always tokenized again.
 */
static int local_span(const struct sec *x, size_t s, size_t e)
{
	return x->wordpiece && (s == x->a || wordpiece_ws(x->t[s - 1])) && (e == x->b || wordpiece_ws(x->t[e]));
}

/* Exact measure of [s, e): tokens of the text alone plus the added ones. */
static int exact(struct sec *x, size_t s, size_t e, size_t *out, struct rag_error *err)
{
	int rc;

	if (x->o->unit != RAG_CHUNK_TOKENS || local_span(x, s, e)) {
		*out = count(x, s, e) + x->added;
		return RAG_OK;
	}
	rc = rag_tokenize(x->o->tok, (const char *)x->t + s, e - s, RAG_TOK_ADD_SPECIAL, &x->scratch, err);
	*out = x->scratch.n;
	return rc;
}

int rag_chunk_measure(const struct rag_chunk_opts *o, const char *text, size_t len, size_t *out,
		      struct rag_error *err)
{
	struct sec x;
	int rc;

	memset(&x, 0, sizeof x);
	x.o = o;
	x.t = (const unsigned char *)text;
	x.a = 0;
	x.b = len;
	rag_tokens_init(&x.scratch);
	rc = exact(&x, 0, len, out, err);
	rag_tokens_free(&x.scratch);
	return rc;
}

/* ---- boundaries ----------------------------------------------------------------- */

static size_t trim_back(const struct sec *x, size_t e, size_t floor)
{
	while (e > floor && is_ws(x->t[e - 1]))
		e--;
	return e;
}

static size_t skip_ws(const struct sec *x, size_t p)
{
	while (p < x->b && is_ws(x->t[p]))
		p++;
	return p;
}

/* Is the white-space run starting at i preceded by the end of a sentence
 * (. ! ? and closing quotes or brackets), and not followed by a lowercase letter at j? */
static int sentence_end(const struct sec *x, size_t i, size_t j, size_t floor)
{
	size_t p = i;

	if (j < x->b && x->t[j] >= 'a' && x->t[j] <= 'z')
		return 0;
	while (p > floor) {
		unsigned char c = x->t[p - 1];
		if (c == '"' || c == '\'' || c == ')' || c == ']' || c == '}' || c == '*' || c == '_') {
			p--;
			continue;
		}
		/* ’ ” » */
		if (p - floor >= 3 && x->t[p - 3] == 0xE2 && x->t[p - 2] == 0x80 &&
		    (c == 0x99 || c == 0x9D)) {
			p -= 3;
			continue;
		}
		break;
	}
	if (p == floor)
		return 0;
	return x->t[p - 1] == '.' || x->t[p - 1] == '!' || x->t[p - 1] == '?';
}

struct pick {
	size_t best[RAG_BREAK_N][2];  /* furthest candidate at or past the minimum fill */
	size_t any[RAG_BREAK_N][2];   /* furthest candidate past lo */
};

/* The atom that fits (in a chunk, with the overlap) and holds p strictly inside, or NULL. */
static const struct rag_textspan *atom_at(const struct sec *x, size_t p)
{
	const struct rag_textdoc *d = x->d;
	size_t lo = 0, hi = d->n_atoms;

	if (!d->n_atoms)
		return NULL;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->atoms[mid].start < p)
			lo = mid;
		else
			hi = mid;
	}
	if (d->atoms[lo].start < p && p < d->atoms[lo].end && x->prot[lo])
		return &d->atoms[lo];
	return NULL;
}

static int inside_atom(const struct sec *x, size_t p)
{
	return atom_at(x, p) != NULL;
}

/* Candidate: end the chunk at boundary p (a unit start) whose chunk end is trim_back(p). */
static void consider(const struct sec *x, struct pick *k, size_t p, enum rag_break level,
		     size_t lo, size_t m)
{
	size_t e = trim_back(x, p, x->a);
	int in = inside_atom(x, p);

	if (e <= lo)
		return;
	if (p >= m && k->best[level][in] < p)
		k->best[level][in] = p;
	if (k->any[level][in] < p)
		k->any[level][in] = p;
}

/*
 * Where a chunk starting at s (whose new text starts after lo) ends, for a
 * budget of n units: the boundary (a unit start; the chunk ends at its
 * trimmed position), or (size_t)-1 when no end past lo fits.  past_overlap:
 * the chunk must also be longer than the overlap.
 */
static size_t choose_end_past(const struct sec *x, size_t s, size_t lo, size_t n, int past_overlap)
{
	const struct rag_textdoc *d = x->d;
	struct pick k;
	size_t L = fit(x, s, n), minfill, m, i, from;
	int lvl, in;

	memset(&k, 0, sizeof k);
	minfill = n / 4;
	if (minfill < x->o->overlap + 1)
		minfill = x->o->overlap + 1;
	if (minfill > n)
		minfill = n;
	m = fit(x, s, minfill);
	/* A chunk must be longer than the overlap, or the next one could not both
	 * repeat the overlap and move on. */
	if (x->o->overlap && past_overlap) {
		size_t f = fit(x, s, x->o->overlap);
		if (f > lo)
			lo = f;
	}
	/* Scan white-space runs (and CJK sentence ends) in [from, L]. */
	from = lo > s ? lo : s;
	while (from > s && is_ws(x->t[from - 1]))
		from--;
	for (i = from; i < x->b && i <= L;) {
		unsigned char c = x->t[i];
		if (is_ws(c)) {
			size_t j = i, nl = 0;
			enum rag_break level;
			while (j < x->b && is_ws(x->t[j])) {
				nl += x->t[j] == '\n' || (x->t[j] == '\r' && (j + 1 >= x->b || x->t[j + 1] != '\n'));
				j++;
			}
			level = nl >= 2 ? RAG_BREAK_PARAGRAPH : nl == 1 ? RAG_BREAK_LINE : RAG_BREAK_WORD;
			if (level < RAG_BREAK_SENTENCE && sentence_end(x, i, j, s))
				level = RAG_BREAK_SENTENCE;
			if (j < x->b)
				consider(x, &k, j, level, lo, m);
			i = j;
			continue;
		}
		if (c == 0xE3 || c == 0xEF) {
			/* 。(E3 80 82) ！(EF BC 81) ？(EF BC 9F) directly followed by text */
			if (i + 3 < L && ((c == 0xE3 && x->t[i + 1] == 0x80 && x->t[i + 2] == 0x82) ||
					  (c == 0xEF && x->t[i + 1] == 0xBC && (x->t[i + 2] == 0x81 || x->t[i + 2] == 0x9F))) &&
			    !is_ws(x->t[i + 3]))
				consider(x, &k, i + 3, RAG_BREAK_SENTENCE, lo, m);
			i += 3;
			continue;
		}
		i++;
	}
	/* The format's marks in (lo, L]. */
	if (d->n_marks) {
		size_t a = 0, b = d->n_marks;
		while (a < b) {
			size_t mid = a + (b - a) / 2;
			if (d->marks[mid].pos <= from)
				a = mid + 1;
			else
				b = mid;
		}
		for (; a < d->n_marks && d->marks[a].pos <= L; a++)
			if (d->marks[a].pos < x->b)
				consider(x, &k, d->marks[a].pos, d->marks[a].level, lo, m);
	}
	for (in = 0; in < 2; in++) {
		for (lvl = RAG_BREAK_N - 1; lvl >= RAG_BREAK_WORD; lvl--)
			if (k.best[lvl][in])
				return k.best[lvl][in];
		for (lvl = RAG_BREAK_N - 1; lvl >= RAG_BREAK_WORD; lvl--)
			if (k.any[lvl][in])
				return k.any[lvl][in];
	}
	/* Inside a word, at L; (size_t)-1 when nothing new fits after lo. */
	if (trim_back(x, L, x->a) > lo)
		return L;
	return (size_t)-1;
}

/*
 * choose_end_past, longer than the overlap where it can be.  It cannot be
 * when the white space after the chunk's last word leaves no room for the
 * next word under the cap ("dl", six line breaks, "v" with a cap of 8
 * characters and an overlap of 2): the chunk is then its words alone, and
 * the next chunk's overlap falls short (short_overlaps counts it).
 */
static size_t choose_end(const struct sec *x, size_t s, size_t lo, size_t n)
{
	size_t e = choose_end_past(x, s, lo, n, 1);

	return e != (size_t)-1 || !x->o->overlap ? e : choose_end_past(x, s, lo, n, 0);
}

/* With tokens: move r back (a word at a time, or a code point inside a word)
 * until the shared text [r, e) tokenized on its own also holds the overlap,
 * at most to s (see next_start_units). */
static size_t overlap_alone(struct sec *x, size_t s, size_t r, size_t e)
{
	while (r > s) {
		size_t p;
		if (local_span(x, r, e)) {
			if (count(x, r, e) >= x->o->overlap)
				break;
		} else if (rag_tokenize(x->o->tok, (const char *)x->t + r, e - r, 0, &x->scratch, NULL) != RAG_OK ||
			   x->scratch.n >= x->o->overlap) {
			break;
		}
		p = r;
		if (is_ws(x->t[p - 1])) {
			while (p > s && is_ws(x->t[p - 1]))
				p--;
			while (p > s && !is_ws(x->t[p - 1]))
				p--;
		} else {
			p = cp_back(x, p - 1, s);
		}
		r = p;
	}
	return r;
}

static size_t next_start_units(struct sec *x, size_t s, size_t e);

/* Where the chunk after [s, e) starts: overlap units back from e, at a word start where possible. */
static size_t next_start(struct sec *x, size_t s, size_t e)
{
	size_t r = next_start_units(x, s, e);

	if (x->o->unit == RAG_CHUNK_TOKENS && x->o->overlap && r < e)
		r = overlap_alone(x, s, r, e);
	return r;
}

/*
 * The next chunk may start at s itself: it then holds all of [s, e) and more,
 * and replaces it (push), keeping its overlap with the chunk before.  So a
 * chunk not longer than the overlap is not followed by a short one.
 */
static size_t next_start_units(struct sec *x, size_t s, size_t e)
{
	size_t ov = x->o->overlap, q, q2, w;

	if (ov == 0)
		return skip_ws(x, e);
	q = back(x, s, e, ov);
	if (q == (size_t)-1 || q <= s)
		return s;   /* the chunk is not longer than the overlap */
	if (is_ws(x->t[q])) {
		q2 = skip_ws(x, q);
		if (q2 < e && count(x, q2, e) >= ov)
			q = q2;
	}
	/* The start of the word holding q (or of the word before the blank at q). */
	w = q;
	while (w > s && is_ws(x->t[w]))
		w--;
	while (w > s && !is_ws(x->t[w - 1]))
		w--;
	if (w > s && !is_ws(x->t[w]) && count(x, w, e) <= ov + (x->budget - ov) / 2) {
		/* Inside a code block or table row that fits: from its start, if there is room. */
		const struct rag_textspan *at = atom_at(x, w);
		if (at && at->start > s && count(x, at->start, e) <= ov + (x->budget - ov) / 2)
			return at->start;
		return w;
	}
	/* Inside the word. */
	while (q > s && is_ws(x->t[q]))
		q = cp_back(x, q - 1, s);
	return q;
}

/*
 * Append the chunk [s, e) of section si.  One that starts where the chunk
 * before it started holds all of that one and more (the overlap reached back
 * to its start, as after a chunk "a b" with an overlap of 2 characters): it
 * replaces it, so that no chunk lies inside another and the overlap with the
 * chunk before that one stays what it was.
 */
static int push(struct rag_chunk_list *l, const struct sec *x, size_t s, size_t e, size_t si, size_t size)
{
	struct rag_chunk *c;

	if (l->n && l->v[l->n - 1].section == si && l->v[l->n - 1].start == s) {
		c = &l->v[l->n - 1];
	} else {
		if (l->n == l->cap) {
			size_t nc = l->cap ? 2 * l->cap : 16;
			void *p = rag_reallocarray(l->v, nc, sizeof *l->v);
			if (!p)
				return -1;
			l->v = p;
			l->cap = nc;
		}
		c = &l->v[l->n++];
	}
	c->start = s;
	c->end = e;
	c->src_start = rag_textdoc_src_start(x->d, s);
	c->src_end = rag_textdoc_src_end(x->d, e);
	c->section = si;
	c->size = size;
	c->hash = rag_fnv1a64(x->t + s, e - s);
	return 0;
}

static int split_section(struct sec *x, size_t si, struct rag_chunk_list *l, struct rag_error *err)
{
	const struct rag_textdoc *d = x->d;
	size_t s = x->a, lo = x->a, i;
	int rc;

	if (x->o->unit == RAG_CHUNK_TOKENS) {
		rc = rag_tokenize(x->o->tok, (const char *)x->t + x->a, x->b - x->a, RAG_TOK_OFFSETS, &x->tk, err);
		if (rc)
			return rc;
	}
	/* Atoms in this section that fit in a chunk together with the overlap. */
	while (x->atom_i < d->n_atoms && d->atoms[x->atom_i].end <= x->a)
		x->atom_i++;
	for (i = x->atom_i; i < d->n_atoms && d->atoms[i].start < x->b; i++) {
		const struct rag_textspan *at = &d->atoms[i];
		x->prot[i] = at->start >= x->a && at->end <= x->b &&
			     count(x, at->start, at->end) + x->o->overlap <= x->budget;
	}
	while (s < x->b) {
		size_t n = x->budget, e, size, over, now;
		int shortened = 0;

		/* Each round either asks for fewer units or starts later, so it ends. */
		for (;;) {
			if (fit(x, s, n) >= x->b) {
				e = x->b;
			} else {
				e = choose_end(x, s, lo, n);
				if (e == (size_t)-1)
					goto shorten;
				e = trim_back(x, e, x->a);
			}
			if ((rc = exact(x, s, e, &size, err)))
				return rc;
			if (size <= x->o->max)
				break;
			over = size - x->o->max;
			now = count(x, s, e);
			n = now > over ? now - over : 0;
			if (n >= 1 && n < now)
				continue;
shorten:
			/* No room for new text after the overlap: repeat less of it. */
			if (s >= lo)
				return rag_error_set(err, RAG_EINTERNAL, "chunker: no progress at byte %zu", s);
			if (!shortened)
				x->short_overlaps++;
			shortened = 1;
			s = skip_ws(x, cp_next(x, s));
			if (s > lo)
				s = skip_ws(x, lo);
			n = x->budget;
			if (s >= x->b)
				return RAG_OK;
		}
		if (push(l, x, s, e, si, size))
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		if (e >= x->b)
			break;
		lo = e;
		s = next_start(x, s, e);
	}
	return RAG_OK;
}

int rag_chunk_split(const struct rag_chunk_opts *o, const struct rag_textdoc *doc,
		    struct rag_chunk_list *l, struct rag_error *err)
{
	struct sec x;
	size_t si;
	int rc = RAG_OK;

	l->n = 0;
	l->short_overlaps = 0;
	memset(&x, 0, sizeof x);
	x.o = o;
	x.d = doc;
	x.t = (const unsigned char *)doc->text;
	if (o->unit == RAG_CHUNK_TOKENS) {
		int n = rag_tokenizer_n_added(o->tok, 0);
		x.added = n > 0 ? (size_t)n : 0;
		x.wordpiece = strcmp(rag_tokenizer_model(o->tok), "bert") == 0;
	}
	x.budget = o->max > x.added ? o->max - x.added : 1;
	rag_tokens_init(&x.tk);
	rag_tokens_init(&x.scratch);
	if (doc->n_atoms && !(x.prot = rag_calloc(doc->n_atoms, 1)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	for (si = 0; si < doc->n_sections && rc == RAG_OK; si++) {
		size_t a = doc->sections[si].start;
		size_t b = si + 1 < doc->n_sections ? doc->sections[si + 1].start : doc->len;
		/* A byte-order mark at the very start is not text. */
		if (a == 0 && b >= 3 && memcmp(doc->text, "\xEF\xBB\xBF", 3) == 0)
			a = 3;
		x.a = a;
		x.b = b;
		x.a = skip_ws(&x, a);
		x.b = trim_back(&x, b, x.a);
		if (x.a >= x.b)
			continue;
		rc = split_section(&x, si, l, err);
	}
	l->short_overlaps = x.short_overlaps;
	rag_tokens_free(&x.tk);
	rag_tokens_free(&x.scratch);
	rag_free(x.prot);
	return rc;
}

/* ---- records ------------------------------------------------------------------------ */

static void put_le(unsigned char *p, uint64_t v, int n)
{
	int i;
	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* How many earlier chunks share each chunk's hash (a small open-addressing table). */
static int occurrences(const struct rag_chunk_list *l, uint32_t *occ)
{
	size_t cap = 16, i;
	uint64_t *key;
	uint32_t *cnt;
	unsigned char *used;

	while (cap < 2 * l->n)
		cap *= 2;
	key = rag_calloc(cap, sizeof *key);
	cnt = rag_calloc(cap, sizeof *cnt);
	used = rag_calloc(cap, 1);
	if (!key || !cnt || !used) {
		rag_free(key);
		rag_free(cnt);
		rag_free(used);
		return -1;
	}
	for (i = 0; i < l->n; i++) {
		uint64_t h = l->v[i].hash;
		size_t j = (size_t)(h * UINT64_C(0x9E3779B97F4A7C15) >> 32) & (cap - 1);
		while (used[j] && key[j] != h)
			j = (j + 1) & (cap - 1);
		used[j] = 1;
		key[j] = h;
		occ[i] = cnt[j]++;
	}
	rag_free(key);
	rag_free(cnt);
	rag_free(used);
	return 0;
}

static int has_key(const struct rag_json *obj, const char *k, size_t n)
{
	size_t i;
	if (!obj || obj->type != RAG_JSON_OBJECT)
		return 0;
	for (i = 0; i < obj->u.obj.n; i++)
		if (obj->u.obj.members[i].key_len == n && memcmp(obj->u.obj.members[i].key, k, n) == 0)
			return 1;
	return 0;
}

int rag_chunk_write(const struct rag_chunk_opts *o, const struct rag_textdoc *doc,
		    const struct rag_chunk_list *l, const struct rag_chunk_docinfo *info,
		    struct rag_buf *out, struct rag_error *err)
{
	static const char *const base_drop[] = { "id", "_id", "doc_id", "text", "title", "start", "end",
						  "hash", "meta", "acl", NULL };
	static const char *const meta_drop[] = { "heading", NULL };
	const struct rag_json *rec = info->rec;
	const struct rag_json *rmeta = rec ? rag_json_get(rec, "meta") : NULL;
	const struct rag_json *racl = rec ? rag_json_get(rec, "acl") : NULL;
	const struct rag_json *rtitle = rec ? rag_json_get(rec, "title") : NULL;
	const char *drop[32];
	uint32_t *occ = NULL;
	uint64_t hid0;
	size_t i, nd = 0;

	for (i = 0; base_drop[i]; i++)
		drop[nd++] = base_drop[i];
	for (i = 0; info->drop && info->drop[i] && nd < 31; i++)
		drop[nd++] = info->drop[i];
	drop[nd] = NULL;
	if (rmeta && rmeta->type != RAG_JSON_OBJECT)
		rmeta = NULL;
	if (o->ids == RAG_CHUNK_IDS_CONTENT && l->n) {
		if (!(occ = rag_calloc(l->n, sizeof *occ)) || occurrences(l, occ)) {
			rag_free(occ);
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		}
	}
	hid0 = rag_fnv1a64_update(rag_fnv1a64(info->doc_id, info->doc_id_len), "", 1);
	for (i = 0; i < l->n; i++) {
		const struct rag_chunk *c = &l->v[i];
		const char *heading = doc->sections[c->section].heading;
		struct rag_objw w, m;
		char hex[17], idhex[17];
		unsigned char bytes[12];
		uint64_t hid;

		rag_hash_hex(c->hash, hex);
		if (o->ids == RAG_CHUNK_IDS_CONTENT) {
			put_le(bytes, c->hash, 8);
			put_le(bytes + 8, occ[i], 4);
			hid = rag_fnv1a64_update(hid0, bytes, 12);
		} else {
			char off[48];
			int k = snprintf(off, sizeof off, "%zu-%zu", c->src_start, c->src_end);
			put_le(bytes, c->hash, 8);
			hid = rag_fnv1a64_update(rag_fnv1a64_update(hid0, off, (size_t)k), bytes, 8);
		}
		rag_hash_hex(hid, idhex);
		rag_objw_begin(&w, out);
		rag_objw_key(&w, "id");
		{
			struct rag_buf idb;
			rag_buf_init(&idb);
			rag_buf_add(&idb, info->doc_id, info->doc_id_len);
			rag_buf_addc(&idb, '#');
			rag_buf_add(&idb, idhex, 16);
			if (rag_buf_failed(&idb)) {
				rag_buf_free(&idb);
				rag_free(occ);
				return rag_error_set(err, RAG_EINTERNAL, "out of memory");
			}
			rag_json_write_str(out, idb.data, idb.len);
			rag_buf_free(&idb);
		}
		rag_objw_key(&w, "doc_id");
		rag_json_write_str(out, info->doc_id, info->doc_id_len);
		rag_objw_key(&w, "text");
		rag_json_write_str(out, doc->text + c->start, c->end - c->start);
		if (rtitle) {
			rag_objw_key(&w, "title");
			rag_buf_add(out, rtitle->raw, rtitle->raw_len);
		} else if (info->title) {
			rag_objw_key(&w, "title");
			rag_json_write_str(out, info->title, strlen(info->title));
		}
		rag_objw_key(&w, "start");
		rag_buf_printf(out, "%zu", c->src_start);
		rag_objw_key(&w, "end");
		rag_buf_printf(out, "%zu", c->src_end);
		rag_objw_key(&w, "hash");
		rag_json_write_str(out, hex, 16);
		if ((rmeta && rmeta->u.obj.n) || (info->meta_default && info->meta_default->u.obj.n) ||
		    (heading && *heading)) {
			size_t j;
			rag_objw_key(&w, "meta");
			rag_objw_begin(&m, out);
			rag_objw_copy(&m, rmeta, meta_drop);
			if (info->meta_default) {
				const struct rag_json *md = info->meta_default;
				for (j = 0; j < md->u.obj.n; j++) {
					const struct rag_json_member *mm = &md->u.obj.members[j];
					if (has_key(rmeta, mm->key, mm->key_len) ||
					    (mm->key_len == 7 && memcmp(mm->key, "heading", 7) == 0))
						continue;
					if (m.n++)
						rag_buf_addc(out, ',');
					rag_buf_add(out, mm->raw, mm->raw_len);
				}
			}
			if (heading && *heading) {
				rag_objw_key(&m, "heading");
				rag_json_write_str(out, heading, strlen(heading));
			}
			rag_objw_end(&m);
		}
		if (racl) {
			rag_objw_key(&w, "acl");
			rag_buf_add(out, racl->raw, racl->raw_len);
		} else if (info->acl_default) {
			rag_objw_key(&w, "acl");
			rag_buf_adds(out, info->acl_default);
		}
		rag_objw_copy(&w, rec, drop);
		rag_objw_end(&w);
		rag_buf_addc(out, '\n');
	}
	rag_free(occ);
	if (rag_buf_failed(out))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	return RAG_OK;
}
