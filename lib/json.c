/* json.c: strict recursive-descent JSON parser and JSON writers. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define JSON_MAX_DEPTH 512

struct parser {
	struct rag_arena *a;
	const char *s, *p, *end;
	struct rag_error *err;
	int depth;
};

static int fail(struct parser *ps, const char *what)
{
	return rag_error_set(ps->err, RAG_EDATA, "invalid JSON at byte %zu: %s",
			     (size_t)(ps->p - ps->s) + 1, what);
}

static int oom(struct parser *ps)
{
	return rag_error_set(ps->err, RAG_EINTERNAL, "out of memory parsing JSON");
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

/* Length of the UTF-8 sequence at s (n bytes available), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];

	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0;
	if (c < 0xE0)
		return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c < 0xF0) {
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && s[1] < 0xA0)
			return 0;  /* overlong */
		if (c == 0xED && s[1] >= 0xA0)
			return 0;  /* surrogate */
		return 3;
	}
	if (c < 0xF5) {
		if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && s[1] < 0x90)
			return 0;  /* overlong */
		if (c == 0xF4 && s[1] >= 0x90)
			return 0;  /* > U+10FFFF */
		return 4;
	}
	return 0;
}

size_t rag_utf8_check(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < n) {
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		k = utf8_seq(u + i, n - i);
		if (!k)
			return i;
		i += k;
	}
	return n;
}

static size_t put_utf8(char *d, unsigned long cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xC0 | (cp >> 6));
		d[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xE0 | (cp >> 12));
		d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		d[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	d[0] = (char)(0xF0 | (cp >> 18));
	d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	d[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

static int hex4(const char *p, unsigned long *out)
{
	unsigned long v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned long)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned long)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned long)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* At the opening quote.  Decodes into the arena; sets *out and *outlen. */
static int parse_string(struct parser *ps, const char **out, size_t *outlen)
{
	const char *start = ++ps->p, *q;
	int has_escape = 0;
	char *d, *dst;

	/* First pass: validate and find the end. */
	for (q = start; ; ) {
		unsigned char c;
		if (q >= ps->end) {
			ps->p = q;
			return fail(ps, "unterminated string");
		}
		c = (unsigned char)*q;
		if (c == '"')
			break;
		if (c == '\\') {
			has_escape = 1;
			if (q + 1 >= ps->end) {
				ps->p = q;
				return fail(ps, "unterminated string");
			}
			q += 2;
			continue;
		}
		if (c < 0x20) {
			ps->p = q;
			return fail(ps, "control character in string");
		}
		if (c >= 0x80) {
			size_t k = utf8_seq((const unsigned char *)q, (size_t)(ps->end - q));
			if (!k) {
				ps->p = q;
				return fail(ps, "invalid UTF-8 in string");
			}
			q += k;
			continue;
		}
		q++;
	}
	if (!has_escape) {
		d = rag_arena_strndup(ps->a, start, (size_t)(q - start));
		if (!d)
			return oom(ps);
		*out = d;
		*outlen = (size_t)(q - start);
		ps->p = q + 1;
		return RAG_OK;
	}
	/* Second pass: decode escapes (output never longer than input). */
	dst = d = rag_arena_alloc(ps->a, (size_t)(q - start) + 1);
	if (!d)
		return oom(ps);
	for (ps->p = start; ps->p < q; ) {
		char c = *ps->p;
		unsigned long cp, lo;
		if (c != '\\') {
			*dst++ = c;
			ps->p++;
			continue;
		}
		c = ps->p[1];
		switch (c) {
		case '"': *dst++ = '"'; ps->p += 2; break;
		case '\\': *dst++ = '\\'; ps->p += 2; break;
		case '/': *dst++ = '/'; ps->p += 2; break;
		case 'b': *dst++ = '\b'; ps->p += 2; break;
		case 'f': *dst++ = '\f'; ps->p += 2; break;
		case 'n': *dst++ = '\n'; ps->p += 2; break;
		case 'r': *dst++ = '\r'; ps->p += 2; break;
		case 't': *dst++ = '\t'; ps->p += 2; break;
		case 'u':
			if (q - ps->p < 6 || hex4(ps->p + 2, &cp))
				return fail(ps, "bad \\u escape");
			if (cp >= 0xDC00 && cp <= 0xDFFF)
				return fail(ps, "unpaired surrogate in \\u escape");
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				if (q - ps->p < 12 || ps->p[6] != '\\' || ps->p[7] != 'u' ||
				    hex4(ps->p + 8, &lo) || lo < 0xDC00 || lo > 0xDFFF)
					return fail(ps, "unpaired surrogate in \\u escape");
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				ps->p += 6;
			}
			dst += put_utf8(dst, cp);
			ps->p += 6;
			break;
		default:
			return fail(ps, "bad escape in string");
		}
	}
	*dst = '\0';
	*out = d;
	*outlen = (size_t)(dst - d);
	ps->p = q + 1;
	return RAG_OK;
}

static int parse_number(struct parser *ps, struct rag_json *v)
{
	const char *p = ps->p, *start = p;
	char small[64], *tmp = small;

	if (p < ps->end && *p == '-')
		p++;
	if (p >= ps->end || !(*p >= '0' && *p <= '9'))
		return fail(ps, "invalid number");
	if (*p == '0')
		p++;
	else
		while (p < ps->end && *p >= '0' && *p <= '9')
			p++;
	if (p < ps->end && *p == '.') {
		p++;
		if (p >= ps->end || !(*p >= '0' && *p <= '9')) {
			ps->p = p;
			return fail(ps, "invalid number");
		}
		while (p < ps->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < ps->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < ps->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= ps->end || !(*p >= '0' && *p <= '9')) {
			ps->p = p;
			return fail(ps, "invalid number");
		}
		while (p < ps->end && *p >= '0' && *p <= '9')
			p++;
	}
	if ((size_t)(p - start) >= sizeof small) {
		tmp = rag_arena_strndup(ps->a, start, (size_t)(p - start));
		if (!tmp)
			return oom(ps);
	} else {
		memcpy(small, start, (size_t)(p - start));
		small[p - start] = '\0';
	}
	v->type = RAG_JSON_NUMBER;
	v->u.num = strtod(tmp, NULL);
	ps->p = p;
	return RAG_OK;
}

static int parse_value(struct parser *ps, struct rag_json *v);

/* Grow an arena array of `size`-byte items from cap to 2*cap, copying n items. */
static void *grow(struct rag_arena *a, void *old, size_t n, size_t *cap, size_t size)
{
	size_t ncap = *cap ? *cap * 2 : 8;
	void *p;

	if (ncap > ((size_t)-1) / size)
		return NULL;
	p = rag_arena_alloc(a, ncap * size);
	if (!p)
		return NULL;
	if (n)
		memcpy(p, old, n * size);
	*cap = ncap;
	return p;
}

static int parse_array(struct parser *ps, struct rag_json *v)
{
	struct rag_json *items = NULL;
	size_t n = 0, cap = 0;
	int rc;

	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
		goto done;
	}
	for (;;) {
		if (n == cap && !(items = grow(ps->a, items, n, &cap, sizeof *items)))
			return oom(ps);
		skip_ws(ps);
		if ((rc = parse_value(ps, &items[n])))
			return rc;
		n++;
		skip_ws(ps);
		if (ps->p >= ps->end)
			return fail(ps, "unterminated array");
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p == ']') {
			ps->p++;
			break;
		}
		return fail(ps, "expected ',' or ']'");
	}
done:
	v->type = RAG_JSON_ARRAY;
	v->u.arr.items = items;
	v->u.arr.n = n;
	return RAG_OK;
}

static int parse_object(struct parser *ps, struct rag_json *v)
{
	struct rag_json_member *m = NULL;
	size_t n = 0, cap = 0;
	int rc;

	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
		goto done;
	}
	for (;;) {
		if (n == cap && !(m = grow(ps->a, m, n, &cap, sizeof *m)))
			return oom(ps);
		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != '"')
			return fail(ps, ps->p >= ps->end ? "unterminated object" : "expected a string key");
		m[n].raw = ps->p;
		if ((rc = parse_string(ps, &m[n].key, &m[n].key_len)))
			return rc;
		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != ':')
			return fail(ps, "expected ':'");
		ps->p++;
		skip_ws(ps);
		if ((rc = parse_value(ps, &m[n].value)))
			return rc;
		m[n].raw_len = (size_t)(ps->p - m[n].raw);
		n++;
		skip_ws(ps);
		if (ps->p >= ps->end)
			return fail(ps, "unterminated object");
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p == '}') {
			ps->p++;
			break;
		}
		return fail(ps, "expected ',' or '}'");
	}
done:
	v->type = RAG_JSON_OBJECT;
	v->u.obj.members = m;
	v->u.obj.n = n;
	return RAG_OK;
}

static int literal(struct parser *ps, const char *word, enum rag_json_type t, struct rag_json *v)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n))
		return fail(ps, "unexpected character");
	ps->p += n;
	v->type = t;
	return RAG_OK;
}

static int parse_value(struct parser *ps, struct rag_json *v)
{
	int rc;

	if (ps->p >= ps->end)
		return fail(ps, "unexpected end of input");
	if (++ps->depth > JSON_MAX_DEPTH)
		return fail(ps, "nesting too deep");
	v->raw = ps->p;
	switch (*ps->p) {
	case '{': rc = parse_object(ps, v); break;
	case '[': rc = parse_array(ps, v); break;
	case '"':
		v->type = RAG_JSON_STRING;
		rc = parse_string(ps, &v->u.str.s, &v->u.str.len);
		break;
	case 't': rc = literal(ps, "true", RAG_JSON_TRUE, v); break;
	case 'f': rc = literal(ps, "false", RAG_JSON_FALSE, v); break;
	case 'n': rc = literal(ps, "null", RAG_JSON_NULL, v); break;
	default:
		if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
			rc = parse_number(ps, v);
		else
			rc = fail(ps, "unexpected character");
	}
	ps->depth--;
	if (rc == RAG_OK)
		v->raw_len = (size_t)(ps->p - v->raw);
	return rc;
}

int rag_json_parse(struct rag_arena *a, const char *buf, size_t len,
		   struct rag_json **out, struct rag_error *err)
{
	struct parser ps = { a, buf, buf, buf + len, err, 0 };
	struct rag_json *v = rag_arena_alloc(a, sizeof *v);
	int rc;

	if (!v)
		return oom(&ps);
	skip_ws(&ps);
	if (ps.p >= ps.end)
		return fail(&ps, "empty input");
	if ((rc = parse_value(&ps, v)))
		return rc;
	skip_ws(&ps);
	if (ps.p < ps.end)
		return fail(&ps, "unexpected data after the value");
	*out = v;
	return RAG_OK;
}

const struct rag_json *rag_json_get(const struct rag_json *obj, const char *key)
{
	size_t i, klen;

	if (!obj || obj->type != RAG_JSON_OBJECT)
		return NULL;
	klen = strlen(key);
	for (i = 0; i < obj->u.obj.n; i++) {
		const struct rag_json_member *m = &obj->u.obj.members[i];
		if (m->key_len == klen && memcmp(m->key, key, klen) == 0)
			return &m->value;
	}
	return NULL;
}

const char *rag_json_get_str(const struct rag_json *obj, const char *key, size_t *len)
{
	const struct rag_json *v = rag_json_get(obj, key);

	if (!v || v->type != RAG_JSON_STRING)
		return NULL;
	if (len)
		*len = v->u.str.len;
	return v->u.str.s;
}

int rag_json_get_num(const struct rag_json *obj, const char *key, double *out)
{
	const struct rag_json *v = rag_json_get(obj, key);

	if (!v || v->type != RAG_JSON_NUMBER)
		return 0;
	*out = v->u.num;
	return 1;
}

/* ---- writing ---------------------------------------------------------- */

void rag_json_write_str(struct rag_buf *b, const char *s, size_t len)
{
	static const char hexd[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;

	if (rag_buf_reserve(b, len + 2))
		return;
	rag_buf_addc(b, '"');
	while (i < len) {
		unsigned char c = u[i];
		size_t k;
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			run = i;
			while (i < len && u[i] >= 0x20 && u[i] != '"' && u[i] != '\\' && u[i] < 0x80)
				i++;
			rag_buf_add(b, s + run, i - run);
			continue;
		}
		if (c >= 0x80) {
			k = utf8_seq(u + i, len - i);
			if (k) {
				rag_buf_add(b, s + i, k);
				i += k;
			} else {
				rag_buf_add(b, "\xEF\xBF\xBD", 3);
				i++;
			}
			continue;
		}
		switch (c) {
		case '"': rag_buf_add(b, "\\\"", 2); break;
		case '\\': rag_buf_add(b, "\\\\", 2); break;
		case '\n': rag_buf_add(b, "\\n", 2); break;
		case '\r': rag_buf_add(b, "\\r", 2); break;
		case '\t': rag_buf_add(b, "\\t", 2); break;
		case '\b': rag_buf_add(b, "\\b", 2); break;
		case '\f': rag_buf_add(b, "\\f", 2); break;
		default: {
			char e[6] = { '\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15] };
			rag_buf_add(b, e, 6);
		}
		}
		i++;
	}
	rag_buf_addc(b, '"');
}

void rag_json_write_num(struct rag_buf *b, double v)
{
	char tmp[40];
	int n;

	if (!isfinite(v)) {
		rag_buf_add(b, "null", 4);
		return;
	}
	if (v == floor(v) && fabs(v) < 1e15)
		n = snprintf(tmp, sizeof tmp, "%.0f", v);
	else
		n = snprintf(tmp, sizeof tmp, "%.17g", v);
	rag_buf_add(b, tmp, (size_t)n);
}

void rag_json_write_float(struct rag_buf *b, float v)
{
	char tmp[32];
	int n;

	if (!isfinite(v)) {
		rag_buf_add(b, "null", 4);
		return;
	}
	/* Shortest of 7..9 significant digits that reads back as the same float. */
	n = snprintf(tmp, sizeof tmp, "%.7g", (double)v);
	if (strtof(tmp, NULL) != v) {
		n = snprintf(tmp, sizeof tmp, "%.8g", (double)v);
		if (strtof(tmp, NULL) != v)
			n = snprintf(tmp, sizeof tmp, "%.9g", (double)v);
	}
	rag_buf_add(b, tmp, (size_t)n);
}

void rag_json_write_floats(struct rag_buf *b, const float *v, size_t n)
{
	size_t i;

	rag_buf_reserve(b, n * 12 + 2);
	rag_buf_addc(b, '[');
	for (i = 0; i < n; i++) {
		if (i)
			rag_buf_addc(b, ',');
		rag_json_write_float(b, v[i]);
	}
	rag_buf_addc(b, ']');
}

void rag_objw_begin(struct rag_objw *w, struct rag_buf *b)
{
	w->b = b;
	w->n = 0;
	rag_buf_addc(b, '{');
}

void rag_objw_key(struct rag_objw *w, const char *key)
{
	if (w->n++)
		rag_buf_addc(w->b, ',');
	rag_json_write_str(w->b, key, strlen(key));
	rag_buf_addc(w->b, ':');
}

void rag_objw_copy(struct rag_objw *w, const struct rag_json *obj, const char *const *drop)
{
	size_t i;

	if (!obj || obj->type != RAG_JSON_OBJECT)
		return;
	for (i = 0; i < obj->u.obj.n; i++) {
		const struct rag_json_member *m = &obj->u.obj.members[i];
		const char *const *d;
		int skip = 0;
		for (d = drop; d && *d; d++)
			if (strlen(*d) == m->key_len && memcmp(*d, m->key, m->key_len) == 0) {
				skip = 1;
				break;
			}
		if (skip)
			continue;
		if (w->n++)
			rag_buf_addc(w->b, ',');
		rag_buf_add(w->b, m->raw, m->raw_len);
	}
}

void rag_objw_end(struct rag_objw *w)
{
	rag_buf_addc(w->b, '}');
}
