/* judge.c: verdicts from a decoder GGUF: "1"/"0" by constrained decoding, lists primed and parsed, all cached. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "arena.h"
#include "generate.h"
#include "judge.h"

struct rag_judge {
	struct rag_lm lm;
	int lm_open;
	struct rag_vcache *cache;
	struct rag_judge_opts o;
	char hash[RAG_VCACHE_HASH_MAX];
	int32_t tok1, tok0;
	float *logits;
	size_t calls;
	struct rag_buf prompt, task;
	struct rag_tokens toks;
};

void rag_judge_opts_init(struct rag_judge_opts *o)
{
	memset(o, 0, sizeof *o);
	o->retries = 2;
	o->max_tokens = 192;
}

/* The one token that spells s, or -1. */
static int32_t single_token(const struct rag_tokenizer *t, const char *s, struct rag_error *err)
{
	struct rag_tokens tk;
	int32_t id = -1;

	rag_tokens_init(&tk);
	if (rag_tokenize(t, s, strlen(s), 0, &tk, err) == RAG_OK && tk.n == 1)
		id = tk.ids[0];
	rag_tokens_free(&tk);
	return id;
}

void rag_judge_free(struct rag_judge *j)
{
	if (!j)
		return;
	if (j->lm_open)
		rag_lm_close(&j->lm);
	rag_free(j->logits);
	rag_buf_free(&j->prompt);
	rag_buf_free(&j->task);
	rag_tokens_free(&j->toks);
	rag_free(j);
}

int rag_judge_open(const char *path, struct rag_vcache *cache, const struct rag_judge_opts *o,
		   struct rag_judge **out, struct rag_error *err)
{
	struct rag_judge *j;
	int rc;

	*out = NULL;
	j = rag_calloc(1, sizeof *j);
	if (!j)
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	rag_buf_init(&j->prompt);
	rag_buf_init(&j->task);
	rag_tokens_init(&j->toks);
	j->cache = cache;
	if (o)
		j->o = *o;
	else
		rag_judge_opts_init(&j->o);
	rc = rag_lm_open_on(&j->lm, path, j->o.n_ctx, j->o.cuda, NULL, 0, err);
	if (rc == RAG_EUNAVAILABLE && j->o.cuda && j->o.cpu_fallback) {
		j->o.cuda = 0;
		rc = rag_lm_open(&j->lm, path, j->o.n_ctx, NULL, 0, err);
	}
	if (rc)
		goto fail;
	j->lm_open = 1;
	if ((rc = rag_vcache_model_hash(cache, path, j->hash, err)))
		goto fail;
	j->tok1 = single_token(j->lm.tok, "1", err);
	j->tok0 = single_token(j->lm.tok, "0", err);
	if (j->tok1 < 0 || j->tok0 < 0) {
		rc = rag_error_set(err, RAG_EMODEL, "judge '%s': the tokenizer has no single tokens for \"1\" and \"0\"",
				   path);
		goto fail;
	}
	j->logits = rag_malloc((size_t)rag_decoder_info(j->lm.dec)->n_vocab * sizeof *j->logits);
	if (!j->logits) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto fail;
	}
	*out = j;
	return RAG_OK;
fail:
	rag_judge_free(j);
	return rc;
}

const char *rag_judge_model_hash(const struct rag_judge *j)
{
	return j->hash;
}

size_t rag_judge_calls(const struct rag_judge *j)
{
	return j->calls;
}

/* The full prompt text the model sees: the user message through the chat
 * template (or the bare message and a newline without one), then prime. */
static int render(struct rag_judge *j, const char *user, const char *prime, int *chat, struct rag_error *err)
{
	struct rag_arena a;
	struct rag_json *msgs;
	struct rag_buf js;
	int rc = RAG_OK;

	rag_buf_reset(&j->prompt);
	if (!j->lm.chat) {
		*chat = 0;
		rag_buf_adds(&j->prompt, user);
		rag_buf_addc(&j->prompt, '\n');
		rag_buf_adds(&j->prompt, prime);
		return rag_buf_failed(&j->prompt) ? rag_error_set(err, RAG_EINTERNAL, "out of memory") : RAG_OK;
	}
	*chat = 1;
	rag_arena_init(&a);
	rag_buf_init(&js);
	rag_buf_adds(&js, "[{\"role\":\"user\",\"content\":");
	rag_json_write_str(&js, user, strlen(user));
	rag_buf_adds(&js, "}]");
	if (rag_buf_failed(&js))
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
	else if (!(rc = rag_json_parse(&a, js.data, js.len, &msgs, err)) &&
		 !(rc = rag_lm_chat_prompt(&j->lm, msgs, NULL, &j->prompt, err))) {
		rag_buf_adds(&j->prompt, prime);
		if (rag_buf_failed(&j->prompt))
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	rag_buf_free(&js);
	rag_arena_free(&a);
	return rc;
}

static int cache_get(struct rag_judge *j, const char *task, struct rag_buf *val, struct rag_error *err)
{
	rag_buf_reset(val);
	return rag_vcache_get(j->cache, task, j->hash, j->prompt.data, j->prompt.len, val, err);
}

int rag_judge_verdict(struct rag_judge *j, const char *task, const char *prompt, int *verdict,
		      struct rag_buf *why, struct rag_error *err)
{
	struct rag_buf val;
	int rc, chat, hit;
	int64_t n_ctx = rag_decoder_info(j->lm.dec)->n_ctx;

	*verdict = -1;
	if ((rc = render(j, prompt, "", &chat, err)))
		return rc;
	rag_buf_init(&val);
	hit = cache_get(j, task, &val, err);
	if (hit < 0) {
		rc = -hit;
		goto out;
	}
	if (hit) {
		*verdict = rag_judge_parse_verdict(val.data, val.len);
		if (*verdict < 0)
			rag_buf_printf(why, "%.*s", (int)val.len, val.data);
		goto out;
	}
	j->calls++;
	if ((rc = rag_lm_tokenize(&j->lm, j->prompt.data, j->prompt.len, chat, &j->toks, err)))
		goto out;
	if ((int64_t)j->toks.n >= n_ctx || j->toks.n == 0) {
		/* not cached: a larger --judge-ctx may make it fit */
		rag_buf_printf(why, "prompt of %zu tokens does not fit the %lld-token context", j->toks.n,
			       (long long)n_ctx);
		goto out;
	}
	rag_decoder_reset(j->lm.dec);
	if ((rc = rag_decoder_eval(j->lm.dec, j->toks.ids, (int64_t)j->toks.n, 0, j->logits, err)))
		goto out;
	*verdict = j->logits[j->tok1] > j->logits[j->tok0] ? 1 : 0;
	rc = rag_vcache_put(j->cache, task, j->hash, j->prompt.data, j->prompt.len, *verdict ? "1" : "0", 1, err);
out:
	rag_buf_free(&val);
	return rc;
}

static int ltrim_marker(const char **p, const char *e)
{
	const char *s = *p;

	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	if (e - s >= 2 && (*s == '-' || *s == '*') && s[1] == ' ') {
		*p = s + 2;
		return 1;
	}
	if (s < e && isdigit((unsigned char)*s)) {
		while (s < e && isdigit((unsigned char)*s))
			s++;
		if (e - s >= 2 && (*s == '.' || *s == ')') && s[1] == ' ') {
			*p = s + 2;
			return 1;
		}
	}
	return 0;
}

size_t rag_judge_parse_list(const char *text, size_t len, size_t max, struct rag_buf *out)
{
	const char *p = text, *e = text + len;
	size_t n = 0;

	while (p < e && n < max) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		const char *le = nl ? nl : e, *s = p;
		if (ltrim_marker(&s, le)) {
			while (s < le && isspace((unsigned char)*s))
				s++;
			while (le > s && isspace((unsigned char)le[-1]))
				le--;
			if (le > s) {
				rag_buf_add(out, s, (size_t)(le - s));
				rag_buf_addc(out, '\0');
				n++;
			}
		}
		p = nl ? nl + 1 : e;
	}
	return n;
}

int rag_judge_parse_verdict(const char *text, size_t len)
{
	static const struct { const char *w; int v; } words[] = {
		{ "yes", 1 }, { "no", 0 }, { "true", 1 }, { "false", 0 },
	};
	size_t i, k;

	for (i = 0; i < len && isspace((unsigned char)text[i]); i++)
		;
	if (i == len)
		return -1;
	if (text[i] == '1' || text[i] == '0') {
		if (i + 1 < len && isalnum((unsigned char)text[i + 1]))
			return -1;
		return text[i] == '1';
	}
	for (k = 0; k < sizeof words / sizeof words[0]; k++) {
		size_t wl = strlen(words[k].w);
		if (len - i >= wl && strncasecmp(text + i, words[k].w, wl) == 0 &&
		    (len - i == wl || !isalnum((unsigned char)text[i + wl])))
			return words[k].v;
	}
	return -1;
}

int rag_judge_list(struct rag_judge *j, const char *task, const char *prompt, struct rag_buf *items,
		   size_t *n, struct rag_buf *why, struct rag_error *err)
{
	struct rag_buf val, text;
	struct rag_gen_params gp;
	struct rag_gen_result res;
	int rc = RAG_OK, chat, attempt, hit;

	*n = 0;
	rag_buf_init(&val);
	rag_buf_init(&text);
	if ((rc = render(j, prompt, "- ", &chat, err)))
		goto out;
	for (attempt = 0; attempt <= j->o.retries && *n == 0; attempt++) {
		rag_buf_reset(&j->task);
		/* generation settings are part of the key: another --max-tokens is another answer */
		rag_buf_printf(&j->task, "%s#%d/max_tokens=%lld", task, attempt, (long long)j->o.max_tokens);
		if (attempt)
			rag_buf_printf(&j->task, "/t=0.8/seed=%llu", (unsigned long long)(j->o.seed + (uint64_t)attempt));
		hit = cache_get(j, j->task.data, &val, err);
		if (hit < 0) {
			rc = -hit;
			goto out;
		}
		if (!hit) {
			j->calls++;
			rag_gen_params_init(&gp);
			gp.max_tokens = j->o.max_tokens;
			if (attempt) {
				gp.sampling.temperature = 0.8f;
				gp.sampling.seed = j->o.seed + (uint64_t)attempt;
			}
			if ((rc = rag_lm_tokenize(&j->lm, j->prompt.data, j->prompt.len, chat, &j->toks, err)))
				goto out;
			if ((int64_t)j->toks.n >= rag_decoder_info(j->lm.dec)->n_ctx) {
				rag_buf_printf(why, "prompt of %zu tokens does not fit the %lld-token context",
					       j->toks.n, (long long)rag_decoder_info(j->lm.dec)->n_ctx);
				goto out;
			}
			rag_buf_reset(&text);
			rag_buf_adds(&text, "- ");
			if ((rc = rag_lm_generate(&j->lm, &gp, j->toks.ids, j->toks.n, NULL, NULL, &text, &res, err)))
				goto out;
			if (rag_buf_failed(&text)) {
				rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
				goto out;
			}
			if ((rc = rag_vcache_put(j->cache, j->task.data, j->hash, j->prompt.data, j->prompt.len,
						 text.data, text.len, err)))
				goto out;
			rag_buf_reset(&val);
			rag_buf_add(&val, text.data, text.len);
		}
		*n = rag_judge_parse_list(val.data ? val.data : "", val.len, 64, items);
	}
	if (*n == 0)
		rag_buf_printf(why, "no list item in the judge's output after %d attempts", j->o.retries + 1);
	if (rag_buf_failed(items) || rag_buf_failed(why))
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
out:
	rag_buf_free(&val);
	rag_buf_free(&text);
	return rc;
}
