/* template.c: a small Jinja2 interpreter for chat templates: lexer, parser to a tree, evaluator. */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "arena.h"
#include "template.h"

/* ---- values ---------------------------------------------------------------- */

enum vt { V_UNDEF, V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_LIST, V_DICT, V_NS };

struct list;
struct dict;

/*
 * A model file's chat template is untrusted input: these limits keep a
 * hostile or broken one from exhausting the stack, memory or time.  Real
 * templates stay far below them (nesting under 20, well under a megabyte).
 */
#define MAX_NEST 256                  /* nested expressions and blocks (parser) */
#define MAX_EVAL_DEPTH 1000           /* expression tree depth at run time, and value nesting */
#define MAX_RENDER_BYTES (256u << 20) /* memory one rendering may take, output included */
#define MAX_STEPS 50000000ull         /* evaluations, loop iterations and values printed */
#define MAX_JSON_INDENT 64            /* tojson(indent=): more is no real template's */

struct val {
	enum vt t;
	union {
		int b;
		int64_t i;
		double f;
		struct { const char *s; size_t n; } s;
		struct list *l;
		struct dict *d;   /* V_DICT and V_NS */
	} u;
};

struct list {
	struct val *v;
	size_t n, cap;
};

struct dict {
	const char **k;
	size_t *kn;
	struct val *v;
	size_t n, cap;
};

/* ---- tree ------------------------------------------------------------------ */

enum ek { E_LIT, E_NAME, E_ATTR, E_INDEX, E_SLICE, E_CALL, E_FILTER, E_TEST, E_BIN, E_NOT, E_NEG,
	  E_COND, E_LIST, E_DICT, E_AND, E_OR };

enum bop { B_ADD, B_SUB, B_MUL, B_DIV, B_FDIV, B_MOD, B_POW, B_CAT, B_EQ, B_NE, B_LT, B_LE, B_GT,
	   B_GE, B_IN, B_NOTIN };

struct expr {
	enum ek k;
	int op;
	int negate;             /* E_TEST: `is not` */
	struct val lit;
	const char *name;       /* E_NAME, E_ATTR, E_FILTER, E_TEST */
	struct expr *a, *b, *c; /* operands; E_SLICE: a[b:c:args[0]] */
	struct expr **args;     /* E_CALL/E_FILTER/E_TEST/E_LIST/E_DICT (keys then values) */
	const char **kw;        /* keyword name per arg, or NULL */
	size_t nargs;
	int line;
};

enum nk { N_TEXT, N_OUT, N_IF, N_FOR, N_SET, N_BREAK, N_CONTINUE };

struct node {
	enum nk k;
	struct node *next;
	int line;
	const char *text;       /* N_TEXT */
	size_t len;
	struct expr *e;         /* N_OUT value, N_IF condition, N_FOR iterable, N_SET value */
	struct expr *cond;      /* N_FOR `if` filter */
	struct node *body, *orelse;
	const char *var[2];     /* N_FOR loop variables (var[1] for unpacking); N_SET name */
	const char *attr;       /* N_SET ns.attr */
};

struct rag_template {
	struct rag_arena arena;
	struct node *root;
};

/* ---- parser ---------------------------------------------------------------- */

enum tk { T_EOF, T_NAME, T_STR, T_INT, T_FLOAT, T_OP };

struct tok {
	enum tk t;
	const char *s;   /* T_NAME/T_OP: start in source; T_STR: decoded */
	size_t n;
	int64_t i;
	double f;
};

/* A lexed piece of the template: text, {{ expr }}, or {% stmt %}. */
struct piece {
	int kind;        /* 0 text, 1 output, 2 statement */
	const char *s;
	size_t n;
	int line;
};

struct parser {
	struct rag_arena *a;
	struct rag_error *err;
	jmp_buf jb;
	/* pieces */
	struct piece *pc;
	size_t npc, ipc;
	/* expression lexer over the current tag */
	const char *p, *end;
	int line;
	struct tok cur;
	int depth;      /* nesting of the expression or block being parsed */
};

static void perr(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void perr(struct parser *ps, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	rag_error_set(ps->err, RAG_EDATA, "template line %d: %s", ps->line, msg);
	longjmp(ps->jb, 1);
}

static void *palloc(struct parser *ps, size_t n)
{
	void *p = rag_arena_alloc(ps->a, n);
	if (!p) {
		rag_error_set(ps->err, RAG_EINTERNAL, "out of memory");
		longjmp(ps->jb, 1);
	}
	memset(p, 0, n);
	return p;
}

static const char *pstrndup(struct parser *ps, const char *s, size_t n)
{
	char *p = palloc(ps, n + 1);
	memcpy(p, s, n);
	return p;
}

/* Append a UTF-8 encoding of cp. */
static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) { o[0] = (char)cp; return 1; }
	if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 63)); return 2; }
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 63));
		o[2] = (char)(0x80 | (cp & 63));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 63));
	o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63));
	return 4;
}

static void next_tok(struct parser *ps)
{
	const char *p = ps->p;
	struct tok *t = &ps->cur;

	while (p < ps->end && isspace((unsigned char)*p)) {
		if (*p == '\n')
			ps->line++;
		p++;
	}
	memset(t, 0, sizeof *t);
	if (p >= ps->end) {
		t->t = T_EOF;
		ps->p = p;
		return;
	}
	if (isalpha((unsigned char)*p) || *p == '_') {
		const char *s = p;
		while (p < ps->end && (isalnum((unsigned char)*p) || *p == '_'))
			p++;
		t->t = T_NAME;
		t->s = s;
		t->n = (size_t)(p - s);
	} else if (isdigit((unsigned char)*p)) {
		const char *s = p;
		int isf = 0;
		while (p < ps->end && (isdigit((unsigned char)*p) || *p == '.' || *p == '_')) {
			if (*p == '.') {
				if (isf || p + 1 >= ps->end || !isdigit((unsigned char)p[1]))
					break;
				isf = 1;
			}
			p++;
		}
		{
			char buf[64];
			size_t n = 0;
			for (const char *q = s; q < p && n < sizeof buf - 1; q++)
				if (*q != '_')
					buf[n++] = *q;
			buf[n] = 0;
			if (isf) {
				t->t = T_FLOAT;
				t->f = strtod(buf, NULL);
			} else {
				t->t = T_INT;
				t->i = strtoll(buf, NULL, 10);
			}
		}
	} else if (*p == '\'' || *p == '"') {
		char q = *p++;
		const char *s = p;
		char *o;
		size_t n = 0;
		while (p < ps->end && *p != q) {
			if (*p == '\\' && p + 1 < ps->end)
				p++;
			p++;
		}
		if (p >= ps->end)
			perr(ps, "unterminated string");
		o = palloc(ps, (size_t)(p - s) * 2 + 1);
		for (const char *r = s; r < p; r++) {
			if (*r != '\\') {
				if (*r == '\n')
					ps->line++;
				o[n++] = *r;
				continue;
			}
			r++;
			switch (*r) {
			case 'n': o[n++] = '\n'; break;
			case 't': o[n++] = '\t'; break;
			case 'r': o[n++] = '\r'; break;
			case '\\': o[n++] = '\\'; break;
			case '\'': o[n++] = '\''; break;
			case '"': o[n++] = '"'; break;
			case '\n': break;
			case 'u': case 'x': {
				int w = *r == 'u' ? 4 : 2;
				unsigned cp = 0;
				for (int i = 0; i < w; i++) {
					if (r + 1 >= p || !isxdigit((unsigned char)r[1]))
						perr(ps, "bad escape in string");
					r++;
					cp = cp * 16 + (unsigned)(isdigit((unsigned char)*r) ? *r - '0'
									 : (tolower((unsigned char)*r) - 'a' + 10));
				}
				n += put_utf8(o + n, cp);
				break;
			}
			default:  /* Python keeps unknown escapes as written */
				o[n++] = '\\';
				o[n++] = *r;
			}
		}
		p++;
		t->t = T_STR;
		t->s = o;
		t->n = n;
	} else {
		static const char *const ops[] = { "==", "!=", "<=", ">=", "//", "**", NULL };
		t->t = T_OP;
		t->s = p;
		t->n = 1;
		for (int i = 0; ops[i]; i++)
			if (p + 1 < ps->end && p[0] == ops[i][0] && p[1] == ops[i][1])
				t->n = 2;
		if (t->n == 1 && !strchr("()[]{}.,:|~+-*/%<>=!", *p))
			perr(ps, "unexpected character '%c'", *p);
		p += t->n;
	}
	ps->p = p;
}

static int is_op(const struct parser *ps, const char *op)
{
	return ps->cur.t == T_OP && ps->cur.n == strlen(op) && !memcmp(ps->cur.s, op, ps->cur.n);
}

static int is_name(const struct parser *ps, const char *name)
{
	return ps->cur.t == T_NAME && ps->cur.n == strlen(name) && !memcmp(ps->cur.s, name, ps->cur.n);
}

static void expect_op(struct parser *ps, const char *op)
{
	if (!is_op(ps, op))
		perr(ps, "expected '%s'", op);
	next_tok(ps);
}

static const char *take_name(struct parser *ps)
{
	const char *s;
	if (ps->cur.t != T_NAME)
		perr(ps, "expected a name");
	s = pstrndup(ps, ps->cur.s, ps->cur.n);
	next_tok(ps);
	return s;
}

static struct expr *new_expr(struct parser *ps, enum ek k)
{
	struct expr *e = palloc(ps, sizeof *e);
	e->k = k;
	e->line = ps->line;
	return e;
}

static struct expr *parse_expr(struct parser *ps);
static struct expr *parse_or(struct parser *ps);

/* One more level of nesting (an operand, a bracket, a block); perr past MAX_NEST. */
static void nest_in(struct parser *ps)
{
	if (++ps->depth > MAX_NEST)
		perr(ps, "nested more than %d deep", MAX_NEST);
}

/* Arguments of a call: (a, b, name=c); the '(' is current. */
static void parse_args(struct parser *ps, struct expr *e)
{
	struct expr *args[32];
	const char *kw[32];
	size_t n = 0;

	expect_op(ps, "(");
	while (!is_op(ps, ")")) {
		if (n == 32)
			perr(ps, "too many arguments");
		kw[n] = NULL;
		if (ps->cur.t == T_NAME) {
			/* lookahead for name= */
			const char *save = ps->p;
			int line = ps->line;
			struct tok t = ps->cur;
			next_tok(ps);
			if (is_op(ps, "=")) {
				kw[n] = pstrndup(ps, t.s, t.n);
				next_tok(ps);
			} else {
				ps->p = save;
				ps->line = line;
				ps->cur = t;
			}
		}
		args[n++] = parse_expr(ps);
		if (!is_op(ps, ","))
			break;
		next_tok(ps);
	}
	expect_op(ps, ")");
	e->nargs = n;
	e->args = palloc(ps, (n + 1) * sizeof *e->args);
	e->kw = palloc(ps, (n + 1) * sizeof *e->kw);
	memcpy(e->args, args, n * sizeof *args);
	memcpy(e->kw, kw, n * sizeof *kw);
}

static struct expr *parse_primary(struct parser *ps)
{
	struct expr *e;

	if (ps->cur.t == T_STR) {
		e = new_expr(ps, E_LIT);
		e->lit.t = V_STR;
		e->lit.u.s.s = ps->cur.s;
		e->lit.u.s.n = ps->cur.n;
		next_tok(ps);
		/* adjacent string literals concatenate */
		while (ps->cur.t == T_STR) {
			char *s = palloc(ps, e->lit.u.s.n + ps->cur.n + 1);
			memcpy(s, e->lit.u.s.s, e->lit.u.s.n);
			memcpy(s + e->lit.u.s.n, ps->cur.s, ps->cur.n);
			e->lit.u.s.s = s;
			e->lit.u.s.n += ps->cur.n;
			next_tok(ps);
		}
		return e;
	}
	if (ps->cur.t == T_INT || ps->cur.t == T_FLOAT) {
		e = new_expr(ps, E_LIT);
		if (ps->cur.t == T_INT) {
			e->lit.t = V_INT;
			e->lit.u.i = ps->cur.i;
		} else {
			e->lit.t = V_FLOAT;
			e->lit.u.f = ps->cur.f;
		}
		next_tok(ps);
		return e;
	}
	if (ps->cur.t == T_NAME) {
		if (is_name(ps, "true") || is_name(ps, "True") || is_name(ps, "false") ||
		    is_name(ps, "False")) {
			e = new_expr(ps, E_LIT);
			e->lit.t = V_BOOL;
			e->lit.u.b = ps->cur.s[0] == 't' || ps->cur.s[0] == 'T';
			next_tok(ps);
			return e;
		}
		if (is_name(ps, "none") || is_name(ps, "None")) {
			e = new_expr(ps, E_LIT);
			e->lit.t = V_NONE;
			next_tok(ps);
			return e;
		}
		e = new_expr(ps, E_NAME);
		e->name = take_name(ps);
		return e;
	}
	if (is_op(ps, "(")) {
		next_tok(ps);
		e = parse_expr(ps);
		if (is_op(ps, ","))
			perr(ps, "tuples are not supported");
		expect_op(ps, ")");
		return e;
	}
	if (is_op(ps, "[")) {
		struct expr *items[256];
		size_t n = 0;
		next_tok(ps);
		while (!is_op(ps, "]")) {
			if (n == 256)
				perr(ps, "list literal too long");
			items[n++] = parse_expr(ps);
			if (!is_op(ps, ","))
				break;
			next_tok(ps);
		}
		expect_op(ps, "]");
		e = new_expr(ps, E_LIST);
		e->nargs = n;
		e->args = palloc(ps, (n + 1) * sizeof *e->args);
		memcpy(e->args, items, n * sizeof *items);
		return e;
	}
	if (is_op(ps, "{")) {
		struct expr *items[256];
		size_t n = 0;
		next_tok(ps);
		while (!is_op(ps, "}")) {
			if (n >= 254)
				perr(ps, "dict literal too long");
			items[n++] = parse_expr(ps);
			expect_op(ps, ":");
			items[n++] = parse_expr(ps);
			if (!is_op(ps, ","))
				break;
			next_tok(ps);
		}
		expect_op(ps, "}");
		e = new_expr(ps, E_DICT);
		e->nargs = n;
		e->args = palloc(ps, (n + 1) * sizeof *e->args);
		memcpy(e->args, items, n * sizeof *items);
		return e;
	}
	if (ps->cur.t == T_EOF)
		perr(ps, "unexpected end of expression");
	perr(ps, "unexpected '%.*s'", (int)ps->cur.n, ps->cur.s);
}

static struct expr *parse_postfix(struct parser *ps)
{
	struct expr *e = parse_primary(ps);

	for (;;) {
		if (is_op(ps, ".")) {
			struct expr *x = new_expr(ps, E_ATTR);
			next_tok(ps);
			x->a = e;
			x->name = take_name(ps);
			e = x;
		} else if (is_op(ps, "[")) {
			struct expr *x, *lo = NULL, *hi = NULL, *st = NULL;
			next_tok(ps);
			if (!is_op(ps, ":"))
				lo = parse_expr(ps);
			if (is_op(ps, ":")) {
				next_tok(ps);
				if (!is_op(ps, "]") && !is_op(ps, ":"))
					hi = parse_expr(ps);
				if (is_op(ps, ":")) {
					next_tok(ps);
					if (!is_op(ps, "]"))
						st = parse_expr(ps);
				}
				x = new_expr(ps, E_SLICE);
				x->a = e;
				x->b = lo;
				x->c = hi;
				x->args = palloc(ps, sizeof *x->args);
				x->args[0] = st;
			} else {
				x = new_expr(ps, E_INDEX);
				x->a = e;
				x->b = lo;
			}
			expect_op(ps, "]");
			e = x;
		} else if (is_op(ps, "(")) {
			struct expr *x = new_expr(ps, E_CALL);
			x->a = e;
			parse_args(ps, x);
			e = x;
		} else {
			return e;
		}
	}
}

/* Filters and tests bind tighter than arithmetic: x | f(a) | g, x is [not] t(a). */
static struct expr *parse_filtered(struct parser *ps)
{
	struct expr *e = parse_postfix(ps);

	for (;;) {
		if (is_op(ps, "|")) {
			struct expr *x = new_expr(ps, E_FILTER);
			next_tok(ps);
			x->name = take_name(ps);
			x->a = e;
			if (is_op(ps, "("))
				parse_args(ps, x);
			e = x;
		} else if (is_name(ps, "is")) {
			struct expr *x = new_expr(ps, E_TEST);
			next_tok(ps);
			if (is_name(ps, "not")) {
				x->negate = 1;
				next_tok(ps);
			}
			if (is_name(ps, "none") || is_name(ps, "None") || is_name(ps, "true") ||
			    is_name(ps, "false") || is_name(ps, "True") || is_name(ps, "False")) {
				char *nm = (char *)pstrndup(ps, ps->cur.s, ps->cur.n);
				nm[0] = (char)tolower((unsigned char)nm[0]);
				x->name = nm;
				next_tok(ps);
			} else {
				x->name = take_name(ps);
			}
			x->a = e;
			if (is_op(ps, "("))
				parse_args(ps, x);
			else if (ps->cur.t == T_STR || ps->cur.t == T_INT) {
				/* `is equalto 3` / `is sameas x` with one bare argument */
				x->nargs = 1;
				x->args = palloc(ps, sizeof *x->args);
				x->kw = palloc(ps, sizeof *x->kw);
				x->args[0] = parse_primary(ps);
			}
			e = x;
		} else {
			return e;
		}
	}
}

static struct expr *parse_unary(struct parser *ps)
{
	struct expr *x;

	if (is_op(ps, "-")) {
		x = new_expr(ps, E_NEG);
		next_tok(ps);
		nest_in(ps);
		x->a = parse_unary(ps);
		ps->depth--;
		return x;
	}
	if (is_op(ps, "+")) {
		next_tok(ps);
		nest_in(ps);
		x = parse_unary(ps);
		ps->depth--;
		return x;
	}
	return parse_filtered(ps);
}

static struct expr *bin(struct parser *ps, int op, struct expr *a, struct expr *b)
{
	struct expr *x = new_expr(ps, E_BIN);
	x->op = op;
	x->a = a;
	x->b = b;
	return x;
}

static struct expr *parse_pow(struct parser *ps)
{
	struct expr *e = parse_unary(ps);
	while (is_op(ps, "**")) {
		next_tok(ps);
		e = bin(ps, B_POW, e, parse_unary(ps));
	}
	return e;
}

static struct expr *parse_mul(struct parser *ps)
{
	struct expr *e = parse_pow(ps);
	for (;;) {
		int op;
		if (is_op(ps, "*")) op = B_MUL;
		else if (is_op(ps, "/")) op = B_DIV;
		else if (is_op(ps, "//")) op = B_FDIV;
		else if (is_op(ps, "%")) op = B_MOD;
		else return e;
		next_tok(ps);
		e = bin(ps, op, e, parse_pow(ps));
	}
}

static struct expr *parse_add(struct parser *ps)
{
	struct expr *e = parse_mul(ps);
	for (;;) {
		int op;
		if (is_op(ps, "+")) op = B_ADD;
		else if (is_op(ps, "-")) op = B_SUB;
		else return e;
		next_tok(ps);
		e = bin(ps, op, e, parse_mul(ps));
	}
}

static struct expr *parse_cat(struct parser *ps)
{
	struct expr *e = parse_add(ps);
	while (is_op(ps, "~")) {
		next_tok(ps);
		e = bin(ps, B_CAT, e, parse_add(ps));
	}
	return e;
}

static struct expr *parse_cmp(struct parser *ps)
{
	struct expr *e = parse_cat(ps);
	for (;;) {
		int op;
		if (is_op(ps, "==")) op = B_EQ;
		else if (is_op(ps, "!=")) op = B_NE;
		else if (is_op(ps, "<")) op = B_LT;
		else if (is_op(ps, "<=")) op = B_LE;
		else if (is_op(ps, ">")) op = B_GT;
		else if (is_op(ps, ">=")) op = B_GE;
		else if (is_name(ps, "in")) op = B_IN;
		else if (is_name(ps, "not")) {
			/* `not in` */
			const char *save = ps->p;
			int line = ps->line;
			struct tok t = ps->cur;
			next_tok(ps);
			if (!is_name(ps, "in")) {
				ps->p = save;
				ps->line = line;
				ps->cur = t;
				return e;
			}
			op = B_NOTIN;
		} else {
			return e;
		}
		next_tok(ps);
		e = bin(ps, op, e, parse_cat(ps));
	}
}

static struct expr *parse_not(struct parser *ps)
{
	if (is_name(ps, "not")) {
		struct expr *x = new_expr(ps, E_NOT);
		next_tok(ps);
		nest_in(ps);
		x->a = parse_not(ps);
		ps->depth--;
		return x;
	}
	return parse_cmp(ps);
}

static struct expr *parse_and(struct parser *ps)
{
	struct expr *e = parse_not(ps);
	while (is_name(ps, "and")) {
		struct expr *x = new_expr(ps, E_AND);
		next_tok(ps);
		x->a = e;
		x->b = parse_not(ps);
		e = x;
	}
	return e;
}

static struct expr *parse_or(struct parser *ps)
{
	struct expr *e = parse_and(ps);
	while (is_name(ps, "or")) {
		struct expr *x = new_expr(ps, E_OR);
		next_tok(ps);
		x->a = e;
		x->b = parse_and(ps);
		e = x;
	}
	return e;
}

static struct expr *parse_expr(struct parser *ps)
{
	struct expr *e;

	nest_in(ps);   /* every bracket, argument and operand in brackets comes here */
	e = parse_or(ps);
	if (is_name(ps, "if")) {
		struct expr *x = new_expr(ps, E_COND);
		next_tok(ps);
		x->b = e;
		x->a = parse_or(ps);
		if (is_name(ps, "else")) {
			next_tok(ps);
			x->c = parse_expr(ps);
		}
		e = x;
	}
	ps->depth--;
	return e;
}

/* Start lexing the inside of piece i. */
static void begin_piece(struct parser *ps, const struct piece *pc)
{
	ps->p = pc->s;
	ps->end = pc->s + pc->n;
	ps->line = pc->line;
	next_tok(ps);
}

static void expect_end(struct parser *ps)
{
	if (ps->cur.t != T_EOF)
		perr(ps, "unexpected '%.*s' at the end of the tag", (int)ps->cur.n, ps->cur.s);
}

static const char *const unsupported[] = {
	"macro", "call", "filter", "raw", "include", "import", "from", "block", "extends", "with",
	"autoescape", "do", "generation", "endgeneration", NULL
};

/* Parse statements until one of the closing keywords (NULL-terminated list);
 * returns which one ended the body in *ended (-1 at the end of the template). */
static struct node *parse_body(struct parser *ps, const char *const *closers, int *ended)
{
	struct node *head = NULL, **tail = &head;

	*ended = -1;
	nest_in(ps);   /* blocks inside blocks */
	while (ps->ipc < ps->npc) {
		const struct piece *pc = &ps->pc[ps->ipc];
		struct node *n;

		if (pc->kind == 0) {
			ps->ipc++;
			if (!pc->n)
				continue;
			n = palloc(ps, sizeof *n);
			n->k = N_TEXT;
			n->text = pc->s;
			n->len = pc->n;
		} else if (pc->kind == 1) {
			ps->ipc++;
			n = palloc(ps, sizeof *n);
			n->k = N_OUT;
			begin_piece(ps, pc);
			n->line = ps->line;
			n->e = parse_expr(ps);
			expect_end(ps);
		} else {
			begin_piece(ps, pc);
			if (ps->cur.t != T_NAME)
				perr(ps, "expected a statement name");
			for (int i = 0; closers && closers[i]; i++)
				if (is_name(ps, closers[i])) {
					*ended = i;
					ps->depth--;
					return head;  /* the closer stays current for the caller */
				}
			for (int i = 0; unsupported[i]; i++)
				if (is_name(ps, unsupported[i]))
					perr(ps, "unsupported template feature '{%% %s %%}'", unsupported[i]);
			ps->ipc++;
			n = palloc(ps, sizeof *n);
			n->line = ps->line;
			if (is_name(ps, "if")) {
				static const char *const cl[] = { "elif", "else", "endif", NULL };
				struct node *cur = n;
				int e;
				next_tok(ps);
				n->k = N_IF;
				n->e = parse_expr(ps);
				expect_end(ps);
				for (;;) {
					cur->body = parse_body(ps, cl, &e);
					if (e < 0)
						perr(ps, "missing {%% endif %%}");
					ps->ipc++;
					if (e == 2) {
						next_tok(ps);
						expect_end(ps);
						break;
					}
					if (e == 1) {
						static const char *const cl2[] = { "endif", NULL };
						next_tok(ps);
						expect_end(ps);
						cur->orelse = parse_body(ps, cl2, &e);
						if (e < 0)
							perr(ps, "missing {%% endif %%}");
						ps->ipc++;
						next_tok(ps);
						expect_end(ps);
						break;
					}
					/* elif: a nested if in the else branch */
					next_tok(ps);
					cur->orelse = palloc(ps, sizeof *cur->orelse);
					cur = cur->orelse;
					cur->k = N_IF;
					cur->line = ps->line;
					cur->e = parse_expr(ps);
					expect_end(ps);
				}
			} else if (is_name(ps, "for")) {
				static const char *const cl[] = { "else", "endfor", NULL };
				int e;
				next_tok(ps);
				n->k = N_FOR;
				n->var[0] = take_name(ps);
				if (is_op(ps, ",")) {
					next_tok(ps);
					n->var[1] = take_name(ps);
				}
				if (!is_name(ps, "in"))
					perr(ps, "expected 'in' in for");
				next_tok(ps);
				n->e = parse_or(ps);
				if (is_name(ps, "if")) {
					next_tok(ps);
					n->cond = parse_or(ps);
				}
				if (is_name(ps, "recursive"))
					perr(ps, "unsupported template feature 'recursive' loops");
				expect_end(ps);
				n->body = parse_body(ps, cl, &e);
				if (e < 0)
					perr(ps, "missing {%% endfor %%}");
				ps->ipc++;
				next_tok(ps);
				expect_end(ps);
				if (e == 0) {
					static const char *const cl2[] = { "endfor", NULL };
					n->orelse = parse_body(ps, cl2, &e);
					if (e < 0)
						perr(ps, "missing {%% endfor %%}");
					ps->ipc++;
					next_tok(ps);
					expect_end(ps);
				}
			} else if (is_name(ps, "set")) {
				next_tok(ps);
				n->k = N_SET;
				n->var[0] = take_name(ps);
				if (is_op(ps, ".")) {
					next_tok(ps);
					n->attr = take_name(ps);
				}
				if (is_op(ps, ","))
					perr(ps, "unsupported template feature 'set' with several targets");
				if (!is_op(ps, "="))
					perr(ps, "unsupported template feature 'set' blocks");
				next_tok(ps);
				n->e = parse_expr(ps);
				expect_end(ps);
			} else if (is_name(ps, "break") || is_name(ps, "continue")) {
				n->k = is_name(ps, "break") ? N_BREAK : N_CONTINUE;
				next_tok(ps);
				expect_end(ps);
			} else {
				perr(ps, "unknown statement '%.*s'", (int)ps->cur.n, ps->cur.s);
			}
		}
		*tail = n;
		tail = &n->next;
	}
	ps->depth--;
	return head;
}

/* Split the source into text, {{ }} and {% %} pieces, applying whitespace
 * control, trim_blocks and lstrip_blocks as Hugging Face configures Jinja. */
static void lex_pieces(struct parser *ps, const char *src, size_t len)
{
	size_t cap = 64, i = 0;
	int line = 1, strip_next = 0;

	ps->pc = palloc(ps, cap * sizeof *ps->pc);
	ps->npc = 0;
	while (i <= len) {
		size_t j = i;
		const char *open = NULL;
		struct piece *txt;

		/* find the next tag */
		while (j + 1 < len) {
			if (src[j] == '{' && (src[j + 1] == '{' || src[j + 1] == '%' || src[j + 1] == '#')) {
				open = src + j;
				break;
			}
			j++;
		}
		if (!open)
			j = len;
		if (ps->npc + 2 >= cap) {
			struct piece *np = palloc(ps, cap * 2 * sizeof *np);
			memcpy(np, ps->pc, cap * sizeof *np);
			ps->pc = np;
			cap *= 2;
		}
		txt = &ps->pc[ps->npc++];
		txt->kind = 0;
		txt->s = src + i;
		txt->n = j - i;
		txt->line = line;
		if (strip_next == 1) {       /* after -%}: all whitespace */
			while (txt->n && isspace((unsigned char)*txt->s)) {
				txt->s++;
				txt->n--;
			}
		} else if (strip_next == 2) { /* trim_blocks: one newline after a block tag */
			if (txt->n && *txt->s == '\n') {
				txt->s++;
				txt->n--;
			} else if (txt->n > 1 && txt->s[0] == '\r' && txt->s[1] == '\n') {
				txt->s += 2;
				txt->n -= 2;
			}
		}
		for (size_t k = i; k < j; k++)
			if (src[k] == '\n')
				line++;
		if (!open)
			break;
		{
			char kind = open[1];
			const char *b = open + 2, *e;
			int lminus = b < src + len && *b == '-', lplus = b < src + len && *b == '+';
			char close = kind == '{' ? '}' : kind;
			int rminus;
			char quote = 0;

			if (lminus || lplus)
				b++;
			/* find the closing delimiter outside string literals */
			for (e = b; e + 1 < src + len; e++) {
				if (kind != '#') {
					if (quote) {
						if (*e == '\\')
							e++;
						else if (*e == quote)
							quote = 0;
						continue;
					}
					if (*e == '\'' || *e == '"') {
						quote = *e;
						continue;
					}
				}
				if (e[0] == close && e[1] == '}')
					break;
			}
			if (e + 1 >= src + len) {
				ps->line = line;
				perr(ps, "unclosed '{%c'", kind);
			}
			rminus = e > b && e[-1] == '-';
			/* whitespace control on the text before the tag */
			if (lminus) {
				while (txt->n && isspace((unsigned char)txt->s[txt->n - 1]))
					txt->n--;
			} else if (kind != '{' && !lplus) {
				size_t k = txt->n;
				while (k && (txt->s[k - 1] == ' ' || txt->s[k - 1] == '\t'))
					k--;
				if (k == 0 ? txt->s == src || txt->s[-1] == '\n' : txt->s[k - 1] == '\n')
					txt->n = k;
			}
			if (kind != '#') {
				struct piece *t = &ps->pc[ps->npc++];
				t->kind = kind == '{' ? 1 : 2;
				t->s = b;
				t->n = (size_t)((rminus ? e - 1 : e) - b);
				t->line = line;
			}
			for (const char *k = open; k < e; k++)
				if (*k == '\n')
					line++;
			strip_next = rminus ? 1 : (kind != '{' ? 2 : 0);
			i = (size_t)(e + 2 - src);
		}
	}
}

int rag_template_parse(const char *src, size_t len, struct rag_template **out,
		       struct rag_error *err)
{
	struct rag_template *t;
	struct parser ps;
	int ended;

	*out = NULL;
	t = rag_calloc(1, sizeof *t);
	if (!t)
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	rag_arena_init(&t->arena);
	memset(&ps, 0, sizeof ps);
	ps.a = &t->arena;
	ps.err = err;
	ps.line = 1;
	if (setjmp(ps.jb)) {
		rag_template_free(t);
		return err ? err->code : RAG_EDATA;
	}
	{
		/* keep a private copy: nodes point into it */
		char *copy = palloc(&ps, len + 1);
		memcpy(copy, src, len);
		lex_pieces(&ps, copy, len);
	}
	t->root = parse_body(&ps, NULL, &ended);
	if (ps.ipc < ps.npc) {
		begin_piece(&ps, &ps.pc[ps.ipc]);
		perr(&ps, "unexpected '{%% %.*s %%}'", (int)ps.cur.n, ps.cur.s);
	}
	*out = t;
	return 0;
}

void rag_template_free(struct rag_template *t)
{
	if (!t)
		return;
	rag_arena_free(&t->arena);
	rag_free(t);
}

/* ---- evaluation ------------------------------------------------------------ */

struct scope {
	struct dict vars;
	struct scope *up;
};

struct ev {
	struct rag_arena a;
	struct rag_error *err;
	jmp_buf jb;
	struct rag_buf *out;
	struct scope *sc;
	int line;
	int loop_ctl;   /* 1 break, 2 continue */
	int depth;      /* eval() recursion */
	uint64_t steps; /* evaluations and loop iterations so far */
	size_t bytes;   /* arena memory taken so far */
	size_t out0;    /* the output's length when rendering began */
	struct rag_buf scratch; /* tojson's and str()'s text before it is copied to the arena
				 * (owned here, so an error thrown while writing it leaks nothing) */
};

static void eerr(struct ev *ev, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void eerr(struct ev *ev, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	rag_error_set(ev->err, RAG_EDATA, "template line %d: %s", ev->line, msg);
	longjmp(ev->jb, 1);
}

static void *ealloc(struct ev *ev, size_t n)
{
	void *p;

	if (n > MAX_RENDER_BYTES || (ev->bytes += n) > MAX_RENDER_BYTES)
		eerr(ev, "the template needs more than %u MiB (a runaway template?)", MAX_RENDER_BYTES >> 20);
	p = rag_arena_alloc(&ev->a, n ? n : 1);
	if (!p) {
		rag_error_set(ev->err, RAG_EINTERNAL, "out of memory");
		longjmp(ev->jb, 1);
	}
	return p;
}

static struct val mk_str(const char *s, size_t n)
{
	struct val v = { .t = V_STR };
	v.u.s.s = s;
	v.u.s.n = n;
	return v;
}

static struct val mk_int(int64_t i)
{
	struct val v = { .t = V_INT };
	v.u.i = i;
	return v;
}

static struct val mk_bool(int b)
{
	struct val v = { .t = V_BOOL };
	v.u.b = !!b;
	return v;
}

static struct val mk_float(double f)
{
	struct val v = { .t = V_FLOAT };
	v.u.f = f;
	return v;
}

static struct val undef(void)
{
	struct val v = { .t = V_UNDEF };
	return v;
}

static struct list *new_list(struct ev *ev, size_t cap)
{
	struct list *l = ealloc(ev, sizeof *l);
	l->n = 0;
	l->cap = cap ? cap : 4;
	l->v = ealloc(ev, l->cap * sizeof *l->v);
	return l;
}

static void list_push(struct ev *ev, struct list *l, struct val v)
{
	if (l->n == l->cap) {
		struct val *nv = ealloc(ev, l->cap * 2 * sizeof *nv);
		memcpy(nv, l->v, l->n * sizeof *nv);
		l->v = nv;
		l->cap *= 2;
	}
	l->v[l->n++] = v;
}

static struct val mk_list(struct list *l)
{
	struct val v = { .t = V_LIST };
	v.u.l = l;
	return v;
}

static struct dict *new_dict(struct ev *ev)
{
	struct dict *d = ealloc(ev, sizeof *d);
	memset(d, 0, sizeof *d);
	return d;
}

static struct val *dict_find(const struct dict *d, const char *k, size_t kn)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->kn[i] == kn && !memcmp(d->k[i], k, kn))
			return &d->v[i];
	return NULL;
}

static void dict_set(struct ev *ev, struct dict *d, const char *k, size_t kn, struct val v)
{
	struct val *p = dict_find(d, k, kn);
	if (p) {
		*p = v;
		return;
	}
	if (d->n == d->cap) {
		size_t nc = d->cap ? d->cap * 2 : 8;
		const char **nk = ealloc(ev, nc * sizeof *nk);
		size_t *nkn = ealloc(ev, nc * sizeof *nkn);
		struct val *nv = ealloc(ev, nc * sizeof *nv);
		if (d->n) {
			memcpy(nk, d->k, d->n * sizeof *nk);
			memcpy(nkn, d->kn, d->n * sizeof *nkn);
			memcpy(nv, d->v, d->n * sizeof *nv);
		}
		d->k = nk;
		d->kn = nkn;
		d->v = nv;
		d->cap = nc;
	}
	d->k[d->n] = k;
	d->kn[d->n] = kn;
	d->v[d->n] = v;
	d->n++;
}

static struct val from_json(struct ev *ev, const struct rag_json *j)
{
	struct val v = { .t = V_NONE };
	switch (j->type) {
	case RAG_JSON_NULL: break;
	case RAG_JSON_FALSE: return mk_bool(0);
	case RAG_JSON_TRUE: return mk_bool(1);
	case RAG_JSON_NUMBER:
		if (j->u.num == floor(j->u.num) && fabs(j->u.num) < 9e15 &&
		    !memchr(j->raw, '.', j->raw_len) && !memchr(j->raw, 'e', j->raw_len) &&
		    !memchr(j->raw, 'E', j->raw_len))
			return mk_int((int64_t)j->u.num);
		return mk_float(j->u.num);
	case RAG_JSON_STRING: return mk_str(j->u.str.s, j->u.str.len);
	case RAG_JSON_ARRAY: {
		struct list *l = new_list(ev, j->u.arr.n);
		for (size_t i = 0; i < j->u.arr.n; i++)
			list_push(ev, l, from_json(ev, &j->u.arr.items[i]));
		return mk_list(l);
	}
	case RAG_JSON_OBJECT: {
		struct dict *d = new_dict(ev);
		for (size_t i = 0; i < j->u.obj.n; i++)
			dict_set(ev, d, j->u.obj.members[i].key, j->u.obj.members[i].key_len,
				 from_json(ev, &j->u.obj.members[i].value));
		v.t = V_DICT;
		v.u.d = d;
		return v;
	}
	}
	return v;
}

static int truthy(struct val v)
{
	switch (v.t) {
	case V_UNDEF: case V_NONE: return 0;
	case V_BOOL: return v.u.b;
	case V_INT: return v.u.i != 0;
	case V_FLOAT: return v.u.f != 0.0;
	case V_STR: return v.u.s.n != 0;
	case V_LIST: return v.u.l->n != 0;
	case V_DICT: return v.u.d->n != 0;
	case V_NS: return 1;
	}
	return 0;
}

static const char *type_name(struct val v)
{
	static const char *const names[] = { "undefined", "none", "bool", "int", "float", "string",
					     "list", "dict", "namespace" };
	return names[v.t];
}

/* One more evaluation step: MAX_STEPS bounds the time of a rendering. */
static void step(struct ev *ev)
{
	if (++ev->steps > MAX_STEPS)
		eerr(ev, "more than %llu steps (a runaway template?)", MAX_STEPS);
}

/*
 * The writer repr(), to_json() and replace() share.  Their text grows
 * faster than the values behind it (a list holding itself twice, doubled
 * 27 times, prints as a gigabyte), so each append is held to
 * MAX_RENDER_BYTES before it is made, not after the node that wrote it:
 * the output counts from where this rendering began; the scratch buffer's
 * text is bound for the arena, so it counts with what the arena holds.
 */
static void w_room(struct ev *ev, const struct rag_buf *b, size_t n)
{
	if (rag_buf_failed(b)) {
		rag_error_set(ev->err, RAG_EINTERNAL, "out of memory");
		longjmp(ev->jb, 1);
	}
	if (b == ev->out) {
		if (n > MAX_RENDER_BYTES || b->len - ev->out0 > MAX_RENDER_BYTES - n)
			eerr(ev, "the output is longer than %u MiB (a runaway template?)",
			     MAX_RENDER_BYTES >> 20);
	} else if (n > MAX_RENDER_BYTES || ev->bytes > MAX_RENDER_BYTES - n ||
		   b->len > MAX_RENDER_BYTES - n - ev->bytes) {
		eerr(ev, "the template needs more than %u MiB (a runaway template?)", MAX_RENDER_BYTES >> 20);
	}
}

static void w_add(struct ev *ev, struct rag_buf *b, const char *s, size_t n)
{
	w_room(ev, b, n);
	rag_buf_add(b, s, n);
}

static void w_adds(struct ev *ev, struct rag_buf *b, const char *s)
{
	w_add(ev, b, s, strlen(s));
}

static void w_addc(struct ev *ev, struct rag_buf *b, char c)
{
	w_room(ev, b, 1);
	rag_buf_addc(b, c);
}

static void w_int(struct ev *ev, struct rag_buf *b, int64_t i)
{
	char tmp[32];
	snprintf(tmp, sizeof tmp, "%lld", (long long)i);
	w_adds(ev, b, tmp);
}

static void json_str(struct ev *ev, struct rag_buf *b, const char *s, size_t n)
{
	w_addc(ev, b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t run = 0;
		/* the characters that need no escape go in one append */
		while (i + run < n && (unsigned char)s[i + run] >= 0x20 && s[i + run] != '"' &&
		       s[i + run] != '\\')
			run++;
		if (run) {
			w_add(ev, b, s + i, run);
			i += run - 1;
			continue;
		}
		switch (c) {
		case '"': w_adds(ev, b, "\\\""); break;
		case '\\': w_adds(ev, b, "\\\\"); break;
		case '\n': w_adds(ev, b, "\\n"); break;
		case '\r': w_adds(ev, b, "\\r"); break;
		case '\t': w_adds(ev, b, "\\t"); break;
		case '\b': w_adds(ev, b, "\\b"); break;
		case '\f': w_adds(ev, b, "\\f"); break;
		default: {  /* the other control characters (the rest went in a run) */
			char tmp[8];
			snprintf(tmp, sizeof tmp, "\\u%04x", c);
			w_adds(ev, b, tmp);
		}
		}
	}
	w_addc(ev, b, '"');
}

static void fmt_float(struct ev *ev, struct rag_buf *b, double f)
{
	char tmp[64];
	if (f == floor(f) && fabs(f) < 1e16) {
		snprintf(tmp, sizeof tmp, "%.1f", f);
	} else {
		/* shortest round-trip form, as Python's repr */
		for (int p = 1; p <= 17; p++) {
			snprintf(tmp, sizeof tmp, "%.*g", p, f);
			if (strtod(tmp, NULL) == f)
				break;
		}
	}
	w_adds(ev, b, tmp);
}

/* A newline and indent * depth spaces (indent is at most MAX_JSON_INDENT). */
static void json_newline(struct ev *ev, struct rag_buf *b, int64_t indent, int64_t depth)
{
	int64_t n = indent * depth;
	w_room(ev, b, (size_t)n + 1);
	rag_buf_addc(b, '\n');
	for (int64_t k = 0; k < n; k++)
		rag_buf_addc(b, ' ');
}

/* Python json.dumps(v, ensure_ascii=False, indent=indent); indent < 0: none. */
static void to_json(struct ev *ev, struct rag_buf *b, struct val v, int64_t indent, int64_t depth)
{
	if (depth > MAX_EVAL_DEPTH)
		eerr(ev, "a value nested more than %d deep", MAX_EVAL_DEPTH);
	step(ev);
	switch (v.t) {
	case V_UNDEF: case V_NONE: w_adds(ev, b, "null"); break;
	case V_BOOL: w_adds(ev, b, v.u.b ? "true" : "false"); break;
	case V_INT: w_int(ev, b, v.u.i); break;
	case V_FLOAT: fmt_float(ev, b, v.u.f); break;
	case V_STR: json_str(ev, b, v.u.s.s, v.u.s.n); break;
	case V_LIST: case V_DICT: case V_NS: {
		int is_list = v.t == V_LIST;
		size_t n = is_list ? v.u.l->n : v.u.d->n;
		w_addc(ev, b, is_list ? '[' : '{');
		if (n == 0) {
			w_addc(ev, b, is_list ? ']' : '}');
			break;
		}
		for (size_t i = 0; i < n; i++) {
			if (i)
				w_adds(ev, b, indent >= 0 ? "," : ", ");
			if (indent >= 0)
				json_newline(ev, b, indent, depth + 1);
			if (is_list) {
				to_json(ev, b, v.u.l->v[i], indent, depth + 1);
			} else {
				json_str(ev, b, v.u.d->k[i], v.u.d->kn[i]);
				w_adds(ev, b, ": ");
				to_json(ev, b, v.u.d->v[i], indent, depth + 1);
			}
		}
		if (indent >= 0)
			json_newline(ev, b, indent, depth);
		w_addc(ev, b, is_list ? ']' : '}');
		break;
	}
	}
}

static void repr(struct ev *ev, struct rag_buf *b, struct val v, int depth);

/* How a value prints: str(v) in Python terms. */
static void to_text(struct ev *ev, struct rag_buf *b, struct val v)
{
	repr(ev, b, v, 0);
}

/* Python's str() at depth 0 (strings bare), repr() below it. */
static void repr(struct ev *ev, struct rag_buf *b, struct val v, int depth)
{
	if (depth > MAX_EVAL_DEPTH)
		eerr(ev, "a value nested more than %d deep", MAX_EVAL_DEPTH);
	step(ev);
	switch (v.t) {
	case V_UNDEF: break;
	case V_NONE: w_adds(ev, b, "None"); break;
	case V_BOOL: w_adds(ev, b, v.u.b ? "True" : "False"); break;
	case V_INT: w_int(ev, b, v.u.i); break;
	case V_FLOAT: fmt_float(ev, b, v.u.f); break;
	case V_STR:
		if (depth == 0) {
			w_add(ev, b, v.u.s.s, v.u.s.n);
		} else {
			w_addc(ev, b, '\'');
			w_add(ev, b, v.u.s.s, v.u.s.n);
			w_addc(ev, b, '\'');
		}
		break;
	case V_LIST:
		w_addc(ev, b, '[');
		for (size_t i = 0; i < v.u.l->n; i++) {
			if (i)
				w_adds(ev, b, ", ");
			repr(ev, b, v.u.l->v[i], depth + 1);
		}
		w_addc(ev, b, ']');
		break;
	case V_DICT: case V_NS:
		w_addc(ev, b, '{');
		for (size_t i = 0; i < v.u.d->n; i++) {
			if (i)
				w_adds(ev, b, ", ");
			repr(ev, b, mk_str(v.u.d->k[i], v.u.d->kn[i]), depth + 1);
			w_adds(ev, b, ": ");
			repr(ev, b, v.u.d->v[i], depth + 1);
		}
		w_addc(ev, b, '}');
		break;
	}
}

/*
 * How many of from, from + step, from + 2 * step, ... lie before to
 * (Python's len(range(from, to, step)), step != 0), in unsigned 64-bit
 * arithmetic: stepping an int64_t until it passes `to` overflows when the
 * step is large.
 */
static uint64_t steps_between(int64_t from, int64_t to, int64_t step)
{
	uint64_t span, st;
	if (step > 0) {
		if (from >= to)
			return 0;
		span = (uint64_t)to - (uint64_t)from;
		st = (uint64_t)step;
	} else {
		if (from <= to)
			return 0;
		span = (uint64_t)from - (uint64_t)to;
		st = 0 - (uint64_t)step;
	}
	return (span - 1) / st + 1;
}

/* from + k * step, for k below steps_between(from, to, step): it lies between the two, so it fits. */
static int64_t nth_step(int64_t from, int64_t step, uint64_t k)
{
	uint64_t r = (uint64_t)from + k * (uint64_t)step;
	return r <= INT64_MAX ? (int64_t)r : -(int64_t)(0 - r - 1) - 1;
}

/* A value's text as a new string value. */
static struct val stringify(struct ev *ev, struct val v)
{
	struct rag_buf *b = &ev->scratch;
	char *s;
	if (v.t == V_STR)
		return v;
	rag_buf_reset(b);
	to_text(ev, b, v);
	if (rag_buf_failed(b)) {
		rag_error_set(ev->err, RAG_EINTERNAL, "out of memory");
		longjmp(ev->jb, 1);
	}
	s = ealloc(ev, b->len + 1);
	memcpy(s, b->data ? b->data : "", b->len);
	s[b->len] = 0;
	return mk_str(s, b->len);
}

static struct val concat(struct ev *ev, struct val a, struct val b)
{
	char *s = ealloc(ev, a.u.s.n + b.u.s.n + 1);
	memcpy(s, a.u.s.s, a.u.s.n);
	memcpy(s + a.u.s.n, b.u.s.s, b.u.s.n);
	s[a.u.s.n + b.u.s.n] = 0;
	return mk_str(s, a.u.s.n + b.u.s.n);
}

static int equal(struct ev *ev, struct val a, struct val b, int depth)
{
	if (depth > MAX_EVAL_DEPTH)
		eerr(ev, "a value nested more than %d deep", MAX_EVAL_DEPTH);
	if ((a.t == V_INT || a.t == V_FLOAT || a.t == V_BOOL) &&
	    (b.t == V_INT || b.t == V_FLOAT || b.t == V_BOOL)) {
		double x = a.t == V_INT ? (double)a.u.i : a.t == V_FLOAT ? a.u.f : a.u.b;
		double y = b.t == V_INT ? (double)b.u.i : b.t == V_FLOAT ? b.u.f : b.u.b;
		return x == y;
	}
	if (a.t != b.t)
		return 0;
	switch (a.t) {
	case V_UNDEF: case V_NONE: return 1;
	case V_STR: return a.u.s.n == b.u.s.n && !memcmp(a.u.s.s, b.u.s.s, a.u.s.n);
	case V_LIST:
		if (a.u.l->n != b.u.l->n)
			return 0;
		for (size_t i = 0; i < a.u.l->n; i++)
			if (!equal(ev, a.u.l->v[i], b.u.l->v[i], depth + 1))
				return 0;
		return 1;
	default: return a.u.d == b.u.d;
	}
}

static double num(struct ev *ev, struct val v)
{
	if (v.t == V_INT)
		return (double)v.u.i;
	if (v.t == V_FLOAT)
		return v.u.f;
	if (v.t == V_BOOL)
		return v.u.b;
	eerr(ev, "expected a number, got %s", type_name(v));
}

/* A number as an integer: the float's integer part, which must be exact
 * (|x| <= 2^53; converting a larger or non-finite one is undefined in C). */
static int64_t inum(struct ev *ev, struct val v)
{
	double x;

	if (v.t == V_INT)
		return v.u.i;
	x = num(ev, v);
	if (!(x >= -9007199254740992.0 && x <= 9007199254740992.0))
		eerr(ev, "the number %g is too large for an integer here", x);
	return (int64_t)x;
}

static int compare(struct ev *ev, struct val a, struct val b)
{
	if (a.t == V_STR && b.t == V_STR) {
		size_t n = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
		int c = memcmp(a.u.s.s, b.u.s.s, n);
		return c ? c : (a.u.s.n > b.u.s.n) - (a.u.s.n < b.u.s.n);
	}
	{
		double x = num(ev, a), y = num(ev, b);
		return (x > y) - (x < y);
	}
}

static int contains(struct ev *ev, struct val hay, struct val needle)
{
	switch (hay.t) {
	case V_STR:
		if (needle.t != V_STR)
			eerr(ev, "'in <string>' needs a string on the left");
		if (!needle.u.s.n)
			return 1;
		for (size_t i = 0; i + needle.u.s.n <= hay.u.s.n; i++)
			if (!memcmp(hay.u.s.s + i, needle.u.s.s, needle.u.s.n))
				return 1;
		return 0;
	case V_LIST:
		for (size_t i = 0; i < hay.u.l->n; i++)
			if (equal(ev, hay.u.l->v[i], needle, 0))
				return 1;
		return 0;
	case V_DICT: case V_NS:
		return needle.t == V_STR && dict_find(hay.u.d, needle.u.s.s, needle.u.s.n) != NULL;
	default:
		eerr(ev, "'in' on a %s", type_name(hay));
	}
}

static struct val lookup(struct ev *ev, const char *name)
{
	for (struct scope *s = ev->sc; s; s = s->up) {
		struct val *v = dict_find(&s->vars, name, strlen(name));
		if (v)
			return *v;
	}
	return undef();
}

static struct val eval(struct ev *ev, const struct expr *e);

/* Positional argument i, or keyword `kw`, or undefined. */
static struct val arg(struct ev *ev, const struct expr *e, size_t i, const char *kw, struct val *vals)
{
	size_t pos = 0;
	for (size_t k = 0; k < e->nargs; k++) {
		if (e->kw && e->kw[k]) {
			if (kw && !strcmp(e->kw[k], kw))
				return vals[k];
		} else if (pos++ == i) {
			return vals[k];
		}
	}
	(void)ev;
	return undef();
}

static struct val *eval_args(struct ev *ev, const struct expr *e)
{
	struct val *vals = ealloc(ev, (e->nargs + 1) * sizeof *vals);
	for (size_t i = 0; i < e->nargs; i++)
		vals[i] = eval(ev, e->args[i]);
	return vals;
}

static int is_ws(char c, struct val chars)
{
	if (chars.t == V_STR)
		return memchr(chars.u.s.s, c, chars.u.s.n) != NULL;
	return isspace((unsigned char)c);
}

static struct val strip(struct val s, struct val chars, int left, int right)
{
	const char *p = s.u.s.s;
	size_t n = s.u.s.n;
	while (left && n && is_ws(*p, chars)) {
		p++;
		n--;
	}
	while (right && n && is_ws(p[n - 1], chars))
		n--;
	return mk_str(p, n);
}

static struct val case_map(struct ev *ev, struct val s, int mode)
{
	char *o = ealloc(ev, s.u.s.n + 1);
	int start = 1;
	for (size_t i = 0; i < s.u.s.n; i++) {
		unsigned char c = (unsigned char)s.u.s.s[i];
		if (mode == 0)
			o[i] = (char)tolower(c);
		else if (mode == 1)
			o[i] = (char)toupper(c);
		else if (mode == 2)   /* capitalize */
			o[i] = (char)(i == 0 ? toupper(c) : tolower(c));
		else {                /* title */
			o[i] = (char)(start ? toupper(c) : tolower(c));
			start = !isalpha(c);
		}
	}
	o[s.u.s.n] = 0;
	return mk_str(o, s.u.s.n);
}

static struct val replace(struct ev *ev, struct val s, struct val a, struct val b)
{
	struct rag_buf *out = &ev->scratch;
	char *r;
	if (a.t != V_STR || b.t != V_STR)
		eerr(ev, "replace() needs strings");
	if (!a.u.s.n)
		return s;
	rag_buf_reset(out);
	for (size_t i = 0; i < s.u.s.n;) {
		/* the text up to the next match in one append, then the replacement */
		const char *m = memmem(s.u.s.s + i, s.u.s.n - i, a.u.s.s, a.u.s.n);
		size_t run = m ? (size_t)(m - (s.u.s.s + i)) : s.u.s.n - i;
		w_add(ev, out, s.u.s.s + i, run);
		i += run;
		if (m) {
			w_add(ev, out, b.u.s.s, b.u.s.n);
			i += a.u.s.n;
		}
	}
	w_addc(ev, out, 0);
	if (rag_buf_failed(out)) {
		rag_error_set(ev->err, RAG_EINTERNAL, "out of memory");
		longjmp(ev->jb, 1);
	}
	r = ealloc(ev, out->len);
	memcpy(r, out->data, out->len);
	return mk_str(r, out->len - 1);
}

static struct val split(struct ev *ev, struct val s, struct val sep)
{
	struct list *l = new_list(ev, 4);
	const char *p = s.u.s.s, *end = s.u.s.s + s.u.s.n;
	if (sep.t == V_STR && sep.u.s.n) {
		const char *q = p;
		while (q + sep.u.s.n <= end) {
			if (!memcmp(q, sep.u.s.s, sep.u.s.n)) {
				list_push(ev, l, mk_str(p, (size_t)(q - p)));
				q += sep.u.s.n;
				p = q;
			} else {
				q++;
			}
		}
		list_push(ev, l, mk_str(p, (size_t)(end - p)));
	} else if (sep.t == V_STR) {
		eerr(ev, "split() with an empty separator");
	} else {  /* whitespace runs */
		while (p < end) {
			const char *q;
			while (p < end && isspace((unsigned char)*p))
				p++;
			if (p >= end)
				break;
			q = p;
			while (q < end && !isspace((unsigned char)*q))
				q++;
			list_push(ev, l, mk_str(p, (size_t)(q - p)));
			p = q;
		}
	}
	return mk_list(l);
}

static struct val items_of(struct ev *ev, struct val d)
{
	struct list *l;
	if (d.t != V_DICT && d.t != V_NS)
		eerr(ev, "items() of a %s", type_name(d));
	l = new_list(ev, d.u.d->n + 1);
	for (size_t i = 0; i < d.u.d->n; i++) {
		struct list *pair = new_list(ev, 2);
		list_push(ev, pair, mk_str(d.u.d->k[i], d.u.d->kn[i]));
		list_push(ev, pair, d.u.d->v[i]);
		list_push(ev, l, mk_list(pair));
	}
	return mk_list(l);
}

static int starts_with(struct val s, struct val p, int end)
{
	if (p.t == V_LIST) {
		for (size_t i = 0; i < p.u.l->n; i++)
			if (starts_with(s, p.u.l->v[i], end))
				return 1;
		return 0;
	}
	if (p.t != V_STR || p.u.s.n > s.u.s.n)
		return 0;
	return !memcmp(s.u.s.s + (end ? s.u.s.n - p.u.s.n : 0), p.u.s.s, p.u.s.n);
}

static struct val call_method(struct ev *ev, struct val obj, const char *m, const struct expr *e)
{
	struct val *a = eval_args(ev, e);
	struct val a0 = arg(ev, e, 0, NULL, a), a1 = arg(ev, e, 1, NULL, a);

	if (obj.t == V_STR) {
		if (!strcmp(m, "startswith") || !strcmp(m, "endswith"))
			return mk_bool(starts_with(obj, a0, m[0] == 'e'));
		if (!strcmp(m, "strip")) return strip(obj, a0, 1, 1);
		if (!strcmp(m, "lstrip")) return strip(obj, a0, 1, 0);
		if (!strcmp(m, "rstrip")) return strip(obj, a0, 0, 1);
		if (!strcmp(m, "split")) return split(ev, obj, a0);
		if (!strcmp(m, "lower")) return case_map(ev, obj, 0);
		if (!strcmp(m, "upper")) return case_map(ev, obj, 1);
		if (!strcmp(m, "capitalize")) return case_map(ev, obj, 2);
		if (!strcmp(m, "title")) return case_map(ev, obj, 3);
		if (!strcmp(m, "replace")) return replace(ev, obj, a0, a1);
	} else if (obj.t == V_DICT) {
		if (!strcmp(m, "items")) return items_of(ev, obj);
		if (!strcmp(m, "keys") || !strcmp(m, "values")) {
			struct list *l = new_list(ev, obj.u.d->n + 1);
			for (size_t i = 0; i < obj.u.d->n; i++)
				list_push(ev, l, m[0] == 'k' ? mk_str(obj.u.d->k[i], obj.u.d->kn[i])
							     : obj.u.d->v[i]);
			return mk_list(l);
		}
		if (!strcmp(m, "get")) {
			struct val *v = a0.t == V_STR ? dict_find(obj.u.d, a0.u.s.s, a0.u.s.n) : NULL;
			return v ? *v : (a1.t == V_UNDEF ? (struct val){ .t = V_NONE } : a1);
		}
	}
	eerr(ev, "unsupported template feature: method '%s' of a %s", m, type_name(obj));
}

static int run_test(struct ev *ev, const char *name, struct val v, const struct expr *e)
{
	struct val *a = eval_args(ev, e);
	struct val a0 = arg(ev, e, 0, NULL, a);

	if (!strcmp(name, "defined")) return v.t != V_UNDEF;
	if (!strcmp(name, "undefined")) return v.t == V_UNDEF;
	if (!strcmp(name, "none")) return v.t == V_NONE;
	if (!strcmp(name, "true")) return v.t == V_BOOL && v.u.b;
	if (!strcmp(name, "false")) return v.t == V_BOOL && !v.u.b;
	if (!strcmp(name, "boolean")) return v.t == V_BOOL;
	if (!strcmp(name, "string")) return v.t == V_STR;
	if (!strcmp(name, "number")) return v.t == V_INT || v.t == V_FLOAT;
	if (!strcmp(name, "integer")) return v.t == V_INT;
	if (!strcmp(name, "float")) return v.t == V_FLOAT;
	if (!strcmp(name, "mapping")) return v.t == V_DICT;
	if (!strcmp(name, "iterable")) return v.t == V_STR || v.t == V_LIST || v.t == V_DICT;
	if (!strcmp(name, "sequence")) return v.t == V_STR || v.t == V_LIST || v.t == V_DICT;
	if (!strcmp(name, "even")) return inum(ev, v) % 2 == 0;
	if (!strcmp(name, "odd")) return inum(ev, v) % 2 != 0;
	if (!strcmp(name, "equalto") || !strcmp(name, "eq") || !strcmp(name, "sameas"))
		return equal(ev, v, a0, 0);
	if (!strcmp(name, "ne")) return !equal(ev, v, a0, 0);
	eerr(ev, "unsupported template feature: test '%s'", name);
}

static struct val do_filter(struct ev *ev, const char *f, struct val v, const struct expr *e)
{
	struct val *a = eval_args(ev, e);
	struct val a0 = arg(ev, e, 0, NULL, a);

	if (!strcmp(f, "safe"))
		return v;
	if (!strcmp(f, "trim")) {
		if (v.t != V_STR)
			v = stringify(ev, v);
		return strip(v, a0, 1, 1);
	}
	if (!strcmp(f, "length") || !strcmp(f, "count")) {
		switch (v.t) {
		case V_STR: return mk_int((int64_t)v.u.s.n);  /* bytes; chat templates use it on lists */
		case V_LIST: return mk_int((int64_t)v.u.l->n);
		case V_DICT: return mk_int((int64_t)v.u.d->n);
		case V_UNDEF: return mk_int(0);
		default: eerr(ev, "length of a %s", type_name(v));
		}
	}
	if (!strcmp(f, "tojson")) {
		struct rag_buf *b = &ev->scratch;
		struct val ind = arg(ev, e, 0, "indent", a);
		char *s;
		if (ind.t == V_INT && (ind.u.i < 0 || ind.u.i > MAX_JSON_INDENT))
			eerr(ev, "tojson's indent must be between 0 and %d, not %lld", MAX_JSON_INDENT,
			     (long long)ind.u.i);
		rag_buf_reset(b);
		to_json(ev, b, v, ind.t == V_INT ? ind.u.i : -1, 0);
		if (rag_buf_failed(b)) {
			rag_error_set(ev->err, RAG_EINTERNAL, "out of memory");
			longjmp(ev->jb, 1);
		}
		s = ealloc(ev, b->len + 1);
		memcpy(s, b->data ? b->data : "", b->len);
		s[b->len] = 0;
		return mk_str(s, b->len);
	}
	if (!strcmp(f, "string"))
		return stringify(ev, v);
	if (!strcmp(f, "lower") || !strcmp(f, "upper") || !strcmp(f, "capitalize") ||
	    !strcmp(f, "title")) {
		v = stringify(ev, v);
		return case_map(ev, v, f[0] == 'l' ? 0 : f[0] == 'u' ? 1 : f[0] == 'c' ? 2 : 3);
	}
	if (!strcmp(f, "first") || !strcmp(f, "last")) {
		if (v.t == V_LIST)
			return v.u.l->n ? v.u.l->v[f[0] == 'f' ? 0 : v.u.l->n - 1] : undef();
		if (v.t == V_STR)
			return v.u.s.n ? mk_str(v.u.s.s + (f[0] == 'f' ? 0 : v.u.s.n - 1), 1) : undef();
		eerr(ev, "%s of a %s", f, type_name(v));
	}
	if (!strcmp(f, "join")) {
		struct val r = mk_str("", 0), sep = a0.t == V_STR ? a0 : mk_str("", 0);
		if (v.t != V_LIST)
			eerr(ev, "join of a %s", type_name(v));
		for (size_t i = 0; i < v.u.l->n; i++) {
			if (i)
				r = concat(ev, r, sep);
			r = concat(ev, r, stringify(ev, v.u.l->v[i]));
		}
		return r;
	}
	if (!strcmp(f, "default") || !strcmp(f, "d")) {
		struct val b = arg(ev, e, 1, "boolean", a);
		if (v.t == V_UNDEF || (truthy(b) && !truthy(v)))
			return a0.t == V_UNDEF ? mk_str("", 0) : a0;
		return v;
	}
	if (!strcmp(f, "items"))
		return items_of(ev, v);
	if (!strcmp(f, "list")) {
		if (v.t == V_LIST)
			return v;
		if (v.t == V_STR) {
			struct list *l = new_list(ev, v.u.s.n + 1);
			for (size_t i = 0; i < v.u.s.n; i++)
				list_push(ev, l, mk_str(v.u.s.s + i, 1));
			return mk_list(l);
		}
		if (v.t == V_DICT) {
			struct list *l = new_list(ev, v.u.d->n + 1);
			for (size_t i = 0; i < v.u.d->n; i++)
				list_push(ev, l, mk_str(v.u.d->k[i], v.u.d->kn[i]));
			return mk_list(l);
		}
		eerr(ev, "list of a %s", type_name(v));
	}
	if (!strcmp(f, "reverse")) {
		if (v.t == V_LIST) {
			struct list *l = new_list(ev, v.u.l->n + 1);
			for (size_t i = v.u.l->n; i-- > 0;)
				list_push(ev, l, v.u.l->v[i]);
			return mk_list(l);
		}
		if (v.t == V_STR) {
			char *s = ealloc(ev, v.u.s.n + 1);
			for (size_t i = 0; i < v.u.s.n; i++)
				s[i] = v.u.s.s[v.u.s.n - 1 - i];
			return mk_str(s, v.u.s.n);
		}
		eerr(ev, "reverse of a %s", type_name(v));
	}
	if (!strcmp(f, "replace"))
		return replace(ev, stringify(ev, v), a0, arg(ev, e, 1, NULL, a));
	if (!strcmp(f, "int")) {
		if (v.t == V_STR) {
			char tmp[64];
			size_t n = v.u.s.n < 63 ? v.u.s.n : 63;
			memcpy(tmp, v.u.s.s, n);
			tmp[n] = 0;
			return mk_int(strtoll(tmp, NULL, 10));
		}
		return mk_int(inum(ev, v));
	}
	if (!strcmp(f, "float"))
		return mk_float(num(ev, v));
	if (!strcmp(f, "abs"))
		return v.t == V_INT ? mk_int(v.u.i < 0 ? -v.u.i : v.u.i) : mk_float(fabs(num(ev, v)));
	if (!strcmp(f, "select") || !strcmp(f, "reject")) {
		struct list *l;
		int keep = f[0] == 's';
		if (v.t != V_LIST)
			eerr(ev, "%s of a %s", f, type_name(v));
		l = new_list(ev, v.u.l->n + 1);
		for (size_t i = 0; i < v.u.l->n; i++) {
			int r;
			if (a0.t == V_STR) {
				/* the test's own arguments follow its name */
				struct expr sub = *e;
				char name[64];
				snprintf(name, sizeof name, "%.*s", (int)a0.u.s.n, a0.u.s.s);
				sub.args = e->args + 1;
				sub.kw = e->kw ? e->kw + 1 : NULL;
				sub.nargs = e->nargs ? e->nargs - 1 : 0;
				r = run_test(ev, name, v.u.l->v[i], &sub);
			} else {
				r = truthy(v.u.l->v[i]);
			}
			if (r == keep)
				list_push(ev, l, v.u.l->v[i]);
		}
		return mk_list(l);
	}
	eerr(ev, "unsupported template feature: filter '%s'", f);
}

static struct val call_global(struct ev *ev, const char *name, const struct expr *e)
{
	struct val *a = eval_args(ev, e);

	if (!strcmp(name, "raise_exception")) {
		struct val m = arg(ev, e, 0, NULL, a);
		m = stringify(ev, m);
		rag_error_set(ev->err, RAG_EDATA, "template error: %.*s", (int)m.u.s.n, m.u.s.s);
		longjmp(ev->jb, 1);
	}
	if (!strcmp(name, "namespace")) {
		struct val v = { .t = V_NS };
		v.u.d = new_dict(ev);
		for (size_t i = 0; i < e->nargs; i++) {
			if (e->kw[i])
				dict_set(ev, v.u.d, e->kw[i], strlen(e->kw[i]), a[i]);
			else if (a[i].t == V_DICT)
				for (size_t k = 0; k < a[i].u.d->n; k++)
					dict_set(ev, v.u.d, a[i].u.d->k[k], a[i].u.d->kn[k], a[i].u.d->v[k]);
		}
		return v;
	}
	if (!strcmp(name, "range")) {
		int64_t lo = 0, hi, st = 1;
		uint64_t cnt;
		struct list *l;
		if (e->nargs == 1) {
			hi = inum(ev, a[0]);
		} else if (e->nargs >= 2) {
			lo = inum(ev, a[0]);
			hi = inum(ev, a[1]);
			if (e->nargs == 3)
				st = inum(ev, a[2]);
		} else {
			eerr(ev, "range() needs arguments");
		}
		if (st == 0)
			eerr(ev, "range() step must not be zero");
		cnt = steps_between(lo, hi, st);
		if (cnt > 1000000)
			eerr(ev, "range() too long");
		l = new_list(ev, (size_t)cnt + 1);
		for (uint64_t k = 0; k < cnt; k++)
			list_push(ev, l, mk_int(nth_step(lo, st, k)));
		return mk_list(l);
	}
	if (!strcmp(name, "strftime_now")) {
		struct val f = arg(ev, e, 0, NULL, a);
		char fmt[128], out[256];
		time_t now = time(NULL);
		struct tm tm;
		size_t n;
		if (f.t != V_STR)
			eerr(ev, "strftime_now() needs a format string");
		snprintf(fmt, sizeof fmt, "%.*s", (int)f.u.s.n, f.u.s.s);
		localtime_r(&now, &tm);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		n = strftime(out, sizeof out, fmt, &tm);
#pragma GCC diagnostic pop
		{
			char *s = ealloc(ev, n + 1);
			memcpy(s, out, n + 1);
			return mk_str(s, n);
		}
	}
	eerr(ev, "unsupported template feature: function '%s'", name);
}

static int64_t norm_index(int64_t i, int64_t n)
{
	return i < 0 ? i + n : i;
}

static struct val slice(struct ev *ev, struct val v, struct val lo, struct val hi, struct val st)
{
	int64_t n, step = st.t == V_UNDEF || st.t == V_NONE ? 1 : inum(ev, st), a, b;
	uint64_t cnt;
	if (v.t == V_LIST)
		n = (int64_t)v.u.l->n;
	else if (v.t == V_STR)
		n = (int64_t)v.u.s.n;
	else
		eerr(ev, "slice of a %s", type_name(v));
	if (step == 0)
		eerr(ev, "slice step must not be zero");
	if (step > 0) {
		a = lo.t == V_UNDEF || lo.t == V_NONE ? 0 : norm_index(inum(ev, lo), n);
		b = hi.t == V_UNDEF || hi.t == V_NONE ? n : norm_index(inum(ev, hi), n);
		if (a < 0) a = 0;
		if (b > n) b = n;
	} else {
		a = lo.t == V_UNDEF || lo.t == V_NONE ? n - 1 : norm_index(inum(ev, lo), n);
		b = hi.t == V_UNDEF || hi.t == V_NONE ? -1 : norm_index(inum(ev, hi), n);
		if (a > n - 1) a = n - 1;
		if (b < -1) b = -1;
	}
	/* cnt <= n: the result is sized once */
	cnt = steps_between(a, b, step);
	if (v.t == V_LIST) {
		struct list *l = new_list(ev, (size_t)cnt);
		for (uint64_t k = 0; k < cnt; k++)
			l->v[l->n++] = v.u.l->v[nth_step(a, step, k)];
		return mk_list(l);
	} else {
		char *s = ealloc(ev, (size_t)cnt + 1);
		if (step == 1 && cnt)
			memcpy(s, v.u.s.s + a, (size_t)cnt);
		else
			for (uint64_t k = 0; k < cnt; k++)
				s[k] = v.u.s.s[nth_step(a, step, k)];
		s[cnt] = 0;
		return mk_str(s, (size_t)cnt);
	}
}

static struct val eval_node(struct ev *ev, const struct expr *e)
{
	struct val a, b;

	ev->line = e->line;
	switch (e->k) {
	case E_LIT:
		return e->lit;
	case E_NAME:
		return lookup(ev, e->name);
	case E_ATTR:
		a = eval(ev, e->a);
		if (a.t == V_DICT || a.t == V_NS) {
			struct val *v = dict_find(a.u.d, e->name, strlen(e->name));
			return v ? *v : undef();
		}
		if (a.t == V_UNDEF)
			eerr(ev, "'%s' of an undefined value", e->name);
		return undef();
	case E_INDEX:
		a = eval(ev, e->a);
		b = eval(ev, e->b);
		if (a.t == V_LIST) {
			int64_t i = norm_index(inum(ev, b), (int64_t)a.u.l->n);
			return i >= 0 && i < (int64_t)a.u.l->n ? a.u.l->v[i] : undef();
		}
		if (a.t == V_DICT || a.t == V_NS) {
			struct val *v = b.t == V_STR ? dict_find(a.u.d, b.u.s.s, b.u.s.n) : NULL;
			return v ? *v : undef();
		}
		if (a.t == V_STR) {
			int64_t i = norm_index(inum(ev, b), (int64_t)a.u.s.n);
			return i >= 0 && i < (int64_t)a.u.s.n ? mk_str(a.u.s.s + i, 1) : undef();
		}
		if (a.t == V_UNDEF)
			eerr(ev, "subscript of an undefined value");
		return undef();
	case E_SLICE:
		return slice(ev, eval(ev, e->a), e->b ? eval(ev, e->b) : undef(),
			     e->c ? eval(ev, e->c) : undef(),
			     e->args[0] ? eval(ev, e->args[0]) : undef());
	case E_CALL:
		if (e->a->k == E_ATTR)
			return call_method(ev, eval(ev, e->a->a), e->a->name, e);
		if (e->a->k == E_NAME) {
			if (lookup(ev, e->a->name).t != V_UNDEF)
				eerr(ev, "'%s' is not callable", e->a->name);
			return call_global(ev, e->a->name, e);
		}
		eerr(ev, "unsupported call");
	case E_FILTER:
		return do_filter(ev, e->name, eval(ev, e->a), e);
	case E_TEST: {
		int r = run_test(ev, e->name, eval(ev, e->a), e);
		return mk_bool(e->negate ? !r : r);
	}
	case E_NOT:
		return mk_bool(!truthy(eval(ev, e->a)));
	case E_NEG:
		a = eval(ev, e->a);
		if (a.t == V_INT && a.u.i == INT64_MIN)
			eerr(ev, "integer overflow");
		return a.t == V_INT ? mk_int(-a.u.i) : mk_float(-num(ev, a));
	case E_AND:
		a = eval(ev, e->a);
		return truthy(a) ? eval(ev, e->b) : a;
	case E_OR:
		a = eval(ev, e->a);
		return truthy(a) ? a : eval(ev, e->b);
	case E_COND:
		return truthy(eval(ev, e->a)) ? eval(ev, e->b) : (e->c ? eval(ev, e->c) : undef());
	case E_LIST: {
		struct list *l = new_list(ev, e->nargs + 1);
		for (size_t i = 0; i < e->nargs; i++)
			list_push(ev, l, eval(ev, e->args[i]));
		return mk_list(l);
	}
	case E_DICT: {
		struct val d = { .t = V_DICT };
		d.u.d = new_dict(ev);
		for (size_t i = 0; i + 1 < e->nargs; i += 2) {
			struct val k = eval(ev, e->args[i]);
			if (k.t != V_STR)
				eerr(ev, "dict keys must be strings");
			dict_set(ev, d.u.d, k.u.s.s, k.u.s.n, eval(ev, e->args[i + 1]));
		}
		return d;
	}
	case E_BIN:
		a = eval(ev, e->a);
		b = eval(ev, e->b);
		ev->line = e->line;
		switch (e->op) {
		case B_ADD:
			if (a.t == V_STR && b.t == V_STR)
				return concat(ev, a, b);
			if (a.t == V_LIST && b.t == V_LIST) {
				struct list *l = new_list(ev, a.u.l->n + b.u.l->n + 1);
				for (size_t i = 0; i < a.u.l->n; i++)
					list_push(ev, l, a.u.l->v[i]);
				for (size_t i = 0; i < b.u.l->n; i++)
					list_push(ev, l, b.u.l->v[i]);
				return mk_list(l);
			}
			if ((a.t == V_STR) != (b.t == V_STR))
				eerr(ev, "cannot add a %s and a %s", type_name(a), type_name(b));
			/* fall through */
		case B_SUB: case B_MUL: case B_MOD: case B_FDIV:
			if (e->op == B_MUL && a.t == V_STR && b.t == V_INT) {
				/* Python's str * n, in one allocation */
				size_t n = b.u.i > 0 ? (size_t)b.u.i : 0;
				char *r;
				if (!a.u.s.n || !n)   /* "" * 2**63 would copy nothing 2**63 times */
					return mk_str("", 0);
				if (n > MAX_RENDER_BYTES / a.u.s.n)
					eerr(ev, "a string repeated %zu times is longer than %u MiB", n,
					     MAX_RENDER_BYTES >> 20);
				r = ealloc(ev, a.u.s.n * n + 1);
				for (size_t i = 0; i < n; i++)
					memcpy(r + i * a.u.s.n, a.u.s.s, a.u.s.n);
				r[a.u.s.n * n] = 0;
				return mk_str(r, a.u.s.n * n);
			}
			if (a.t == V_INT && b.t == V_INT) {
				int64_t r;
				switch (e->op) {
				case B_ADD:
					if (__builtin_add_overflow(a.u.i, b.u.i, &r))
						eerr(ev, "integer overflow");
					return mk_int(r);
				case B_SUB:
					if (__builtin_sub_overflow(a.u.i, b.u.i, &r))
						eerr(ev, "integer overflow");
					return mk_int(r);
				case B_MUL:
					if (__builtin_mul_overflow(a.u.i, b.u.i, &r))
						eerr(ev, "integer overflow");
					return mk_int(r);
				default:
					if (b.u.i == 0)
						eerr(ev, "division by zero");
					if (b.u.i == -1 && a.u.i == INT64_MIN)
						eerr(ev, "integer overflow");
					{
						int64_t q = a.u.i / b.u.i, m = a.u.i % b.u.i;
						if (m && ((m < 0) != (b.u.i < 0))) {
							q--;
							m += b.u.i;
						}
						return mk_int(e->op == B_MOD ? m : q);
					}
				}
			} else {
				double x = num(ev, a), y = num(ev, b);
				switch (e->op) {
				case B_ADD: return mk_float(x + y);
				case B_SUB: return mk_float(x - y);
				case B_MUL: return mk_float(x * y);
				case B_MOD: return mk_float(x - y * floor(x / y));
				default: return mk_float(floor(x / y));
				}
			}
		case B_DIV:
			return mk_float(num(ev, a) / num(ev, b));
		case B_POW:
			if (a.t == V_INT && b.t == V_INT && b.u.i >= 0) {
				double r = pow((double)a.u.i, (double)b.u.i);
				if (!(r >= -9007199254740992.0 && r <= 9007199254740992.0))
					eerr(ev, "integer overflow");
				return mk_int((int64_t)r);
			}
			return mk_float(pow(num(ev, a), num(ev, b)));
		case B_CAT:
			return concat(ev, stringify(ev, a), stringify(ev, b));
		case B_EQ: return mk_bool(equal(ev, a, b, 0));
		case B_NE: return mk_bool(!equal(ev, a, b, 0));
		case B_LT: return mk_bool(compare(ev, a, b) < 0);
		case B_LE: return mk_bool(compare(ev, a, b) <= 0);
		case B_GT: return mk_bool(compare(ev, a, b) > 0);
		case B_GE: return mk_bool(compare(ev, a, b) >= 0);
		case B_IN: return mk_bool(contains(ev, b, a));
		case B_NOTIN: return mk_bool(!contains(ev, b, a));
		}
	}
	eerr(ev, "internal: bad expression");
}

/* Every evaluation counts against the depth and step limits. */
static struct val eval(struct ev *ev, const struct expr *e)
{
	struct val v;

	if (++ev->depth > MAX_EVAL_DEPTH)
		eerr(ev, "expression nested more than %d deep", MAX_EVAL_DEPTH);
	step(ev);
	v = eval_node(ev, e);
	ev->depth--;
	return v;
}

static void set_var(struct ev *ev, const char *name, struct val v)
{
	dict_set(ev, &ev->sc->vars, name, strlen(name), v);
}

static void exec_nodes(struct ev *ev, const struct node *n);

static void exec_for(struct ev *ev, const struct node *n)
{
	struct val it = eval(ev, n->e), loop = { .t = V_DICT };
	struct list *items;
	struct scope sc;
	size_t len;

	if (it.t == V_DICT)
		it = do_filter(ev, "list", it, n->e);
	else if (it.t == V_STR)
		it = do_filter(ev, "list", it, n->e);
	else if (it.t == V_UNDEF || it.t == V_NONE)
		it = mk_list(new_list(ev, 1));
	if (it.t != V_LIST)
		eerr(ev, "cannot iterate over a %s", type_name(it));
	items = it.u.l;
	if (n->cond) {
		/* the `if` filter runs before loop.* is counted */
		struct list *kept = new_list(ev, items->n + 1);
		memset(&sc, 0, sizeof sc);
		sc.up = ev->sc;
		ev->sc = &sc;
		for (size_t i = 0; i < items->n; i++) {
			set_var(ev, n->var[0], items->v[i]);
			if (truthy(eval(ev, n->cond)))
				list_push(ev, kept, items->v[i]);
		}
		ev->sc = sc.up;
		items = kept;
	}
	len = items->n;
	if (!len) {
		exec_nodes(ev, n->orelse);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		struct val x = items->v[i];
		step(ev);
		memset(&sc, 0, sizeof sc);
		sc.up = ev->sc;
		ev->sc = &sc;
		loop.u.d = new_dict(ev);
		dict_set(ev, loop.u.d, "index", 5, mk_int((int64_t)i + 1));
		dict_set(ev, loop.u.d, "index0", 6, mk_int((int64_t)i));
		dict_set(ev, loop.u.d, "revindex", 8, mk_int((int64_t)(len - i)));
		dict_set(ev, loop.u.d, "revindex0", 9, mk_int((int64_t)(len - i - 1)));
		dict_set(ev, loop.u.d, "first", 5, mk_bool(i == 0));
		dict_set(ev, loop.u.d, "last", 4, mk_bool(i + 1 == len));
		dict_set(ev, loop.u.d, "length", 6, mk_int((int64_t)len));
		dict_set(ev, loop.u.d, "previtem", 8, i ? items->v[i - 1] : undef());
		dict_set(ev, loop.u.d, "nextitem", 8, i + 1 < len ? items->v[i + 1] : undef());
		set_var(ev, "loop", loop);
		if (n->var[1]) {
			if (x.t != V_LIST || x.u.l->n != 2)
				eerr(ev, "cannot unpack a %s into two names", type_name(x));
			set_var(ev, n->var[0], x.u.l->v[0]);
			set_var(ev, n->var[1], x.u.l->v[1]);
		} else {
			set_var(ev, n->var[0], x);
		}
		exec_nodes(ev, n->body);
		ev->sc = sc.up;
		if (ev->loop_ctl == 1) {
			ev->loop_ctl = 0;
			break;
		}
		ev->loop_ctl = 0;
	}
}

static void exec_nodes(struct ev *ev, const struct node *n)
{
	for (; n && !ev->loop_ctl; n = n->next) {
		ev->line = n->line;
		switch (n->k) {
		case N_TEXT:
			rag_buf_add(ev->out, n->text, n->len);
			break;
		case N_OUT:
			to_text(ev, ev->out, eval(ev, n->e));
			break;
		case N_IF:
			if (truthy(eval(ev, n->e)))
				exec_nodes(ev, n->body);
			else
				exec_nodes(ev, n->orelse);
			break;
		case N_FOR:
			exec_for(ev, n);
			break;
		case N_SET: {
			struct val v = eval(ev, n->e);
			if (n->attr) {
				struct val ns = lookup(ev, n->var[0]);
				if (ns.t != V_NS)
					eerr(ev, "'%s' is not a namespace", n->var[0]);
				dict_set(ev, ns.u.d, n->attr, strlen(n->attr), v);
			} else {
				set_var(ev, n->var[0], v);
			}
			break;
		}
		case N_BREAK:
			ev->loop_ctl = 1;
			break;
		case N_CONTINUE:
			ev->loop_ctl = 2;
			break;
		}
		if (rag_buf_failed(ev->out)) {
			rag_error_set(ev->err, RAG_EINTERNAL, "out of memory");
			longjmp(ev->jb, 1);
		}
		if (ev->out->len - ev->out0 > MAX_RENDER_BYTES)
			eerr(ev, "the output is longer than %u MiB (a runaway template?)", MAX_RENDER_BYTES >> 20);
	}
}

int rag_template_render(const struct rag_template *t, const struct rag_json *messages,
			int add_generation_prompt, const char *bos_token, const char *eos_token,
			const struct rag_json *extra, struct rag_buf *out, struct rag_error *err)
{
	struct ev ev;
	struct scope top;
	volatile int rc = 0;

	memset(&ev, 0, sizeof ev);
	memset(&top, 0, sizeof top);
	rag_arena_init(&ev.a);
	rag_buf_init(&ev.scratch);
	ev.err = err;
	ev.out = out;
	ev.out0 = out->len;
	ev.sc = &top;
	if (setjmp(ev.jb)) {
		rc = err ? err->code : RAG_EDATA;
		goto done;
	}
	if (extra && extra->type == RAG_JSON_OBJECT)
		for (size_t i = 0; i < extra->u.obj.n; i++)
			set_var(&ev, extra->u.obj.members[i].key,
				from_json(&ev, &extra->u.obj.members[i].value));
	if (messages)
		set_var(&ev, "messages", from_json(&ev, messages));
	set_var(&ev, "add_generation_prompt", mk_bool(add_generation_prompt));
	if (bos_token)
		set_var(&ev, "bos_token", mk_str(bos_token, strlen(bos_token)));
	if (eos_token)
		set_var(&ev, "eos_token", mk_str(eos_token, strlen(eos_token)));
	exec_nodes(&ev, t->root);
done:
	rag_arena_free(&ev.a);
	rag_buf_free(&ev.scratch);
	return rc;
}
