/* tokenizer-jsonl.c: one input line (JSON record or plain text) to one output record, for rag-tokenize. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "shard.h"
#include "tok-internal.h"
#include "tokenizer.h"

static void write_ints(struct rag_buf *b, const int32_t *v, size_t n)
{
	char tmp[16];

	rag_buf_addc(b, '[');
	for (size_t k = 0; k < n; k++) {
		int m = snprintf(tmp, sizeof tmp, k ? ",%d" : "%d", (int)v[k]);
		rag_buf_add(b, tmp, (size_t)m);
	}
	rag_buf_addc(b, ']');
}

static int decode_record(const struct rag_tokenizer *t, const struct rag_tokrec_opts *o,
			 const struct rag_json *rec, const char *name, size_t lineno, struct rag_tokens *tok,
			 struct rag_buf *out, struct rag_error *err)
{
	const char *idf = o->ids_field ? o->ids_field : "ids";
	const char *field = o->field ? o->field : "text";
	const struct rag_json *ids = rec ? rag_json_get(rec, idf) : NULL;
	struct rag_buf text;
	struct rag_objw w;
	const char *drop[] = { field, NULL };
	int rc;

	if (!ids || ids->type != RAG_JSON_ARRAY)
		return rag_error_set(err, RAG_EDATA, "%s: line %zu: field '%s' is missing or not an array", name,
				     lineno, idf);
	tok->n = 0;
	for (size_t k = 0; k < ids->u.arr.n; k++) {
		const struct rag_json *v = &ids->u.arr.items[k];
		double x = v->type == RAG_JSON_NUMBER ? v->u.num : -1;
		if (x != floor(x) || x < 0 || x >= (double)rag_tokenizer_vocab_size(t))
			return rag_error_set(err, RAG_EDATA, "%s: line %zu: %s[%zu] is not a token id of this model",
					     name, lineno, idf, k);
		if (tok_push(tok, (int32_t)x, 0, 0))
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	rag_buf_init(&text);
	rc = rag_detokenize(t, tok->ids, tok->n, o->skip_special, &text, err);
	if (rc) {
		rag_buf_free(&text);
		return rc;
	}
	rag_objw_begin(&w, out);
	if (rec)
		rag_objw_copy(&w, rec, drop);
	rag_objw_key(&w, field);
	rag_json_write_str(out, text.data ? text.data : "", text.len);
	rag_objw_end(&w);
	rag_buf_addc(out, '\n');
	rag_buf_free(&text);
	return 0;
}

/* Parse a plain line of ids ("1 2 3" or "1,2,3") for decode in lines mode. */
static int parse_id_line(const struct rag_tokenizer *t, const char *s, size_t n, const char *name, size_t lineno,
			 struct rag_tokens *tok, struct rag_error *err)
{
	size_t i = 0;

	tok->n = 0;
	while (i < n) {
		long v = 0;
		size_t d = 0;
		while (i < n && (s[i] == ' ' || s[i] == ',' || s[i] == '\t'))
			i++;
		if (i >= n)
			break;
		while (i < n && s[i] >= '0' && s[i] <= '9' && d < 10) {
			v = v * 10 + (s[i++] - '0');
			d++;
		}
		if (d == 0 || (i < n && s[i] != ' ' && s[i] != ',' && s[i] != '\t') || v >= (long)rag_tokenizer_vocab_size(t))
			return rag_error_set(err, RAG_EDATA, "%s: line %zu: expected token ids of this model", name, lineno);
		if (tok_push(tok, (int32_t)v, 0, 0))
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	return 0;
}

int rag_tokenize_record(const struct rag_tokenizer *t, const struct rag_tokrec_opts *o, const char *line,
			size_t len, const char *name, size_t lineno, struct rag_tokens *tok,
			struct rag_arena *a, struct rag_buf *out, struct rag_error *err)
{
	static const char *const drop[] = { "ids", "pieces", "offsets", "type_ids", "n_tokens", "truncated", NULL };
	const char *field = o->field ? o->field : "text";
	struct rag_json *rec = NULL;
	struct rag_objw w;
	const char *text = line, *ptext = NULL;
	size_t tlen = len, plen = 0;
	int rc, truncated = 0;

	rag_arena_reset(a);
	if (o->lines && !rag_shard_keeps_line(o->shard, lineno))
		return 0;
	if (!o->lines) {
		rc = rag_json_parse(a, line, len, &rec, err);
		if (rc != RAG_EINTERNAL && !rag_shard_keeps_record(o->shard, rc ? NULL : rec, rag_shard_doc_keys, lineno))
			return 0;  /* another shard's */
		if (rc)
			return rag_error_prefix(err, "%s: line %zu: ", name, lineno);
		if (rec->type != RAG_JSON_OBJECT)
			return rag_error_set(err, RAG_EDATA, "%s: line %zu: not a JSON object", name, lineno);
	}
	if (o->decode) {
		if (o->lines) {
			struct rag_buf txt;
			if ((rc = parse_id_line(t, line, len, name, lineno, tok, err)))
				return rc;
			rag_buf_init(&txt);
			if ((rc = rag_detokenize(t, tok->ids, tok->n, o->skip_special, &txt, err))) {
				rag_buf_free(&txt);
				return rc;
			}
			rag_objw_begin(&w, out);
			rag_objw_key(&w, field);
			rag_json_write_str(out, txt.data ? txt.data : "", txt.len);
			rag_objw_end(&w);
			rag_buf_addc(out, '\n');
			rag_buf_free(&txt);
			return rag_buf_failed(out) ? rag_error_set(err, RAG_EINTERNAL, "out of memory") : 0;
		}
		return decode_record(t, o, rec, name, lineno, tok, out, err);
	}
	if (rec) {
		const struct rag_json *v = rag_json_get(rec, field);
		if (!v || v->type != RAG_JSON_STRING)
			return rag_error_set(err, RAG_EDATA, "%s: line %zu: field '%s' is missing or not a string", name,
					     lineno, field);
		text = v->u.str.s;
		tlen = v->u.str.len;
		if (o->pair) {
			v = rag_json_get(rec, o->pair);
			if (!v || v->type != RAG_JSON_STRING)
				return rag_error_set(err, RAG_EDATA, "%s: line %zu: field '%s' is missing or not a string",
						     name, lineno, o->pair);
			ptext = v->u.str.s;
			plen = v->u.str.len;
		}
	}
	if (ptext)
		rc = rag_tokenize_pair(t, text, tlen, ptext, plen, o->flags | RAG_TOK_OFFSETS, tok, err);
	else
		rc = rag_tokenize(t, text, tlen, o->flags | RAG_TOK_OFFSETS, tok, err);
	if (rc)
		return rag_error_prefix(err, "%s: line %zu: ", name, lineno);
	if (o->truncate > 0)
		truncated = rag_tokens_truncate(t, tok, (size_t)o->truncate, o->trunc_head);

	rag_objw_begin(&w, out);
	if (rec) {
		rag_objw_copy(&w, rec, drop);
	} else {
		rag_objw_key(&w, field);
		rag_json_write_str(out, text, tlen);
	}
	if (!o->count) {
		rag_objw_key(&w, "ids");
		write_ints(out, tok->ids, tok->n);
		if (ptext) {
			rag_objw_key(&w, "type_ids");
			rag_buf_addc(out, '[');
			for (size_t k = 0; k < tok->n; k++) {
				if (k)
					rag_buf_addc(out, ',');
				rag_buf_addc(out, tok->type_ids[k] ? '1' : '0');
			}
			rag_buf_addc(out, ']');
		}
		if (o->pieces) {
			rag_objw_key(&w, "pieces");
			rag_buf_addc(out, '[');
			for (size_t k = 0; k < tok->n; k++) {
				size_t pl;
				const char *p = rag_token_piece(t, tok->ids[k], &pl);
				if (k)
					rag_buf_addc(out, ',');
				rag_json_write_str(out, p, pl);
			}
			rag_buf_addc(out, ']');
		}
		if (o->offsets) {
			char tmp[32];
			rag_objw_key(&w, "offsets");
			rag_buf_addc(out, '[');
			for (size_t k = 0; k < tok->n; k++) {
				int m = snprintf(tmp, sizeof tmp, "%s[%u,%u]", k ? "," : "", tok->start[k], tok->end[k]);
				rag_buf_add(out, tmp, (size_t)m);
			}
			rag_buf_addc(out, ']');
		}
	}
	if (o->count || o->n_tokens) {
		rag_objw_key(&w, "n_tokens");
		rag_buf_printf(out, "%zu", tok->n);
	}
	if (o->truncate > 0) {
		rag_objw_key(&w, "truncated");
		rag_buf_adds(out, truncated ? "true" : "false");
	}
	rag_objw_end(&w);
	rag_buf_addc(out, '\n');
	if (rag_buf_failed(out))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	return 0;
}
