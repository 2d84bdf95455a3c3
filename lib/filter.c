/* filter.c: parse and evaluate metadata predicates (recursive descent). */
#include "filter.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"

enum node_kind { N_OR, N_AND, N_NOT, N_EXISTS, N_CMP, N_IN };
enum cmp_op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };

struct fvalue {
	enum rag_json_type type;   /* NULL, FALSE, TRUE, NUMBER, STRING */
	double num;
	char *str;
	size_t len;
};

struct rag_filter {
	enum node_kind kind;
	struct rag_filter *a, *b;  /* OR/AND/NOT operands */
	char **path;               /* field path, NULL-terminated */
	enum cmp_op op;
	struct fvalue *vals;
	size_t n_vals;
	int negate_in;
};

struct parser {
	const char *s;
	size_t pos;
	struct rag_error *err;
	int failed;
};

static void node_free(struct rag_filter *f)
{
	size_t i;

	if (!f)
		return;
	node_free(f->a);
	node_free(f->b);
	if (f->path) {
		for (i = 0; f->path[i]; i++)
			rag_free(f->path[i]);
		rag_free(f->path);
	}
	for (i = 0; i < f->n_vals; i++)
		rag_free(f->vals[i].str);
	rag_free(f->vals);
	rag_free(f);
}

void rag_filter_free(struct rag_filter *f) { node_free(f); }

static struct rag_filter *fail(struct parser *p, const char *what)
{
	if (!p->failed)
		rag_error_set(p->err, RAG_EUSAGE, "filter: %s at offset %zu", what, p->pos);
	p->failed = 1;
	return NULL;
}

static void skip_ws(struct parser *p)
{
	while (p->s[p->pos] && isspace((unsigned char)p->s[p->pos]))
		p->pos++;
}

static int is_name_char(int c) { return isalnum(c) || c == '_' || c == '-' || c >= 0x80; }

/* Match keyword kw (case-insensitive, whole word) and consume it. */
static int keyword(struct parser *p, const char *kw)
{
	size_t n = strlen(kw);

	skip_ws(p);
	if (strncasecmp(p->s + p->pos, kw, n) == 0 && !is_name_char((unsigned char)p->s[p->pos + n])) {
		p->pos += n;
		return 1;
	}
	return 0;
}

static int punct(struct parser *p, char c)
{
	skip_ws(p);
	if (p->s[p->pos] == c) {
		p->pos++;
		return 1;
	}
	return 0;
}

static struct rag_filter *new_node(struct parser *p, enum node_kind k)
{
	struct rag_filter *f = rag_calloc(1, sizeof *f);
	if (!f) {
		if (!p->failed)
			rag_error_set(p->err, RAG_EINTERNAL, "out of memory");
		p->failed = 1;
	} else {
		f->kind = k;
	}
	return f;
}

static char **parse_path(struct parser *p)
{
	char **path = NULL;
	size_t n = 0;

	skip_ws(p);
	for (;;) {
		size_t st = p->pos;
		char **np;
		while (is_name_char((unsigned char)p->s[p->pos]))
			p->pos++;
		if (p->pos == st)
			goto bad;
		np = rag_reallocarray(path, n + 2, sizeof *np);
		if (!np)
			goto bad;
		path = np;
		if (!(path[n] = rag_strndup(p->s + st, p->pos - st)))
			goto bad;
		path[++n] = NULL;
		if (p->s[p->pos] != '.')
			break;
		p->pos++;
	}
	return path;
bad:
	if (path) {
		size_t i;
		for (i = 0; i < n; i++)
			rag_free(path[i]);
		rag_free(path);
	}
	fail(p, "expected a field name");
	return NULL;
}

static int parse_value(struct parser *p, struct fvalue *v)
{
	const char *s;
	char q;

	memset(v, 0, sizeof *v);
	skip_ws(p);
	s = p->s + p->pos;
	if (*s == '"' || *s == '\'') {
		struct rag_buf b;
		size_t i = 1;
		q = *s;
		rag_buf_init(&b);
		while (s[i] && s[i] != q) {
			if (s[i] == '\\' && s[i + 1])
				i++;
			rag_buf_addc(&b, s[i]);
			i++;
		}
		if (s[i] != q) {
			rag_buf_free(&b);
			fail(p, "unterminated string");
			return -1;
		}
		rag_buf_addc(&b, 0);
		if (rag_buf_failed(&b)) {
			rag_buf_free(&b);
			fail(p, "out of memory");
			return -1;
		}
		v->type = RAG_JSON_STRING;
		v->str = rag_buf_detach(&b, &v->len);
		v->len--;
		p->pos += i + 1;
		return 0;
	}
	if (keyword(p, "true")) { v->type = RAG_JSON_TRUE; return 0; }
	if (keyword(p, "false")) { v->type = RAG_JSON_FALSE; return 0; }
	if (keyword(p, "null")) { v->type = RAG_JSON_NULL; return 0; }
	{
		char *end;
		double d = strtod(s, &end);
		if (end == s || (is_name_char((unsigned char)*end) && *end != '-')) {
			fail(p, "expected a value (string, number, true, false, null)");
			return -1;
		}
		v->type = RAG_JSON_NUMBER;
		v->num = d;
		p->pos += (size_t)(end - s);
		return 0;
	}
}

static struct rag_filter *parse_or(struct parser *p);

static struct rag_filter *parse_unary(struct parser *p)
{
	struct rag_filter *f;

	if (p->failed)
		return NULL;
	if (keyword(p, "NOT")) {
		if (!(f = new_node(p, N_NOT)))
			return NULL;
		if (!(f->a = parse_unary(p))) {
			node_free(f);
			return NULL;
		}
		return f;
	}
	if (punct(p, '(')) {
		f = parse_or(p);
		if (!f)
			return NULL;
		if (!punct(p, ')')) {
			node_free(f);
			return fail(p, "expected ')'");
		}
		return f;
	}
	if (keyword(p, "EXISTS")) {
		if (!(f = new_node(p, N_EXISTS)))
			return NULL;
		if (!(f->path = parse_path(p))) {
			node_free(f);
			return NULL;
		}
		return f;
	}
	if (!(f = new_node(p, N_CMP)))
		return NULL;
	if (!(f->path = parse_path(p)))
		goto bad;
	skip_ws(p);
	{
		size_t save = p->pos;
		int neg = keyword(p, "NOT");
		if (keyword(p, "IN")) {
			f->kind = N_IN;
			f->negate_in = neg;
			if (!punct(p, '(')) {
				fail(p, "expected '(' after IN");
				goto bad;
			}
			do {
				struct fvalue *nv = rag_reallocarray(f->vals, f->n_vals + 1, sizeof *nv);
				if (!nv) {
					fail(p, "out of memory");
					goto bad;
				}
				f->vals = nv;
				if (parse_value(p, &f->vals[f->n_vals]))
					goto bad;
				f->n_vals++;
			} while (punct(p, ','));
			if (!punct(p, ')')) {
				fail(p, "expected ',' or ')' in IN list");
				goto bad;
			}
			return f;
		}
		p->pos = save;
	}
	{
		const char *s = p->s + p->pos;
		if (s[0] == '=' && s[1] == '=') { f->op = OP_EQ; p->pos += 2; }
		else if (s[0] == '=') { f->op = OP_EQ; p->pos += 1; }
		else if (s[0] == '!' && s[1] == '=') { f->op = OP_NE; p->pos += 2; }
		else if (s[0] == '<' && s[1] == '>') { f->op = OP_NE; p->pos += 2; }
		else if (s[0] == '<' && s[1] == '=') { f->op = OP_LE; p->pos += 2; }
		else if (s[0] == '>' && s[1] == '=') { f->op = OP_GE; p->pos += 2; }
		else if (s[0] == '<') { f->op = OP_LT; p->pos += 1; }
		else if (s[0] == '>') { f->op = OP_GT; p->pos += 1; }
		else {
			fail(p, "expected an operator (= != < <= > >= IN)");
			goto bad;
		}
	}
	if (!(f->vals = rag_calloc(1, sizeof *f->vals))) {
		fail(p, "out of memory");
		goto bad;
	}
	if (parse_value(p, &f->vals[0]))
		goto bad;
	f->n_vals = 1;
	return f;
bad:
	node_free(f);
	return NULL;
}

static struct rag_filter *parse_and(struct parser *p)
{
	struct rag_filter *l = parse_unary(p), *n;

	while (l && keyword(p, "AND")) {
		if (!(n = new_node(p, N_AND))) {
			node_free(l);
			return NULL;
		}
		n->a = l;
		if (!(n->b = parse_unary(p))) {
			node_free(n);
			return NULL;
		}
		l = n;
	}
	return l;
}

static struct rag_filter *parse_or(struct parser *p)
{
	struct rag_filter *l = parse_and(p), *n;

	while (l && keyword(p, "OR")) {
		if (!(n = new_node(p, N_OR))) {
			node_free(l);
			return NULL;
		}
		n->a = l;
		if (!(n->b = parse_and(p))) {
			node_free(n);
			return NULL;
		}
		l = n;
	}
	return l;
}

int rag_filter_parse(const char *src, struct rag_filter **out, struct rag_error *err)
{
	struct parser p = { src, 0, err, 0 };
	struct rag_filter *f;

	*out = NULL;
	f = parse_or(&p);
	if (f) {
		skip_ws(&p);
		if (p.s[p.pos]) {
			node_free(f);
			f = fail(&p, "unexpected text");
		}
	}
	if (!f)
		return err ? err->code : RAG_EUSAGE;
	*out = f;
	return RAG_OK;
}

static const struct rag_json *lookup(const struct rag_json *meta, char *const *path)
{
	const struct rag_json *v = meta;
	size_t i;

	for (i = 0; v && path[i]; i++) {
		if (v->type != RAG_JSON_OBJECT)
			return NULL;
		v = rag_json_get(v, path[i]);
	}
	return v;
}

static int cmp_one(const struct rag_json *x, enum cmp_op op, const struct fvalue *v)
{
	int c;

	if (v->type == RAG_JSON_NUMBER) {
		if (x->type != RAG_JSON_NUMBER)
			return op == OP_NE;
		c = x->u.num < v->num ? -1 : x->u.num > v->num ? 1 : 0;
	} else if (v->type == RAG_JSON_STRING) {
		size_t n;
		if (x->type != RAG_JSON_STRING)
			return op == OP_NE;
		n = x->u.str.len < v->len ? x->u.str.len : v->len;
		c = memcmp(x->u.str.s, v->str, n);
		if (c == 0)
			c = x->u.str.len < v->len ? -1 : x->u.str.len > v->len ? 1 : 0;
	} else {
		if (op != OP_EQ && op != OP_NE)
			return 0;
		c = x->type == v->type ? 0 : 1;
	}
	switch (op) {
	case OP_EQ: return c == 0;
	case OP_NE: return c != 0;
	case OP_LT: return c < 0;
	case OP_LE: return c <= 0;
	case OP_GT: return c > 0;
	default: return c >= 0;
	}
}

/* Comparison on x, or on any element when x is an array. */
static int cmp_any(const struct rag_json *x, enum cmp_op op, const struct fvalue *v)
{
	size_t i;

	if (x->type != RAG_JSON_ARRAY)
		return cmp_one(x, op, v);
	if (op == OP_NE) {
		for (i = 0; i < x->u.arr.n; i++)
			if (!cmp_one(&x->u.arr.items[i], OP_NE, v))
				return 0;
		return 1;
	}
	for (i = 0; i < x->u.arr.n; i++)
		if (cmp_one(&x->u.arr.items[i], op, v))
			return 1;
	return 0;
}

int rag_filter_eval(const struct rag_filter *f, const struct rag_json *meta)
{
	const struct rag_json *x;
	size_t i;

	switch (f->kind) {
	case N_OR: return rag_filter_eval(f->a, meta) || rag_filter_eval(f->b, meta);
	case N_AND: return rag_filter_eval(f->a, meta) && rag_filter_eval(f->b, meta);
	case N_NOT: return !rag_filter_eval(f->a, meta);
	case N_EXISTS: return lookup(meta, f->path) != NULL;
	case N_CMP:
		x = lookup(meta, f->path);
		return x ? cmp_any(x, f->op, &f->vals[0]) : 0;
	case N_IN:
		x = lookup(meta, f->path);
		if (!x)
			return 0;
		for (i = 0; i < f->n_vals; i++)
			if (cmp_any(x, OP_EQ, &f->vals[i]))
				return !f->negate_in;
		return f->negate_in;
	}
	return 0;
}
