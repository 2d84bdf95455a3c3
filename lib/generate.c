/* generate.c: model loading for generation, the sampling loop (streaming, stop strings), RAG prompts. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "arena.h"
#include "generate.h"
#include "hfmodel.h"
#include "progress.h"
#include "unicode.h"

/* Token texts that end a turn in common chat formats (llama.cpp treats them the same way). */
static const char *const eog_names[] = {
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
	"<EOT>", "<|eom_id|>", NULL
};

static char *piece_dup(const struct rag_tokenizer *t, int32_t id)
{
	size_t len = 0;
	const char *p;
	if (id < 0)
		return NULL;
	p = rag_token_piece(t, id, &len);
	return p ? rag_strndup(p, len) : NULL;
}

static int add_eog(struct rag_lm *lm, int32_t id)
{
	int32_t *n;
	if (id < 0 || rag_lm_is_eog(lm, id))
		return 0;
	n = rag_reallocarray(lm->eog, lm->n_eog + 1, sizeof *n);
	if (!n)
		return -1;
	lm->eog = n;
	lm->eog[lm->n_eog++] = id;
	return 0;
}

int rag_lm_open(struct rag_lm *lm, const char *path, int64_t n_ctx, const char *template_src,
		size_t template_len, struct rag_error *err)
{
	return rag_lm_open_on(lm, path, n_ctx, 0, template_src, template_len, err);
}

int rag_lm_open_on(struct rag_lm *lm, const char *path, int64_t n_ctx, int cuda, const char *template_src,
		   size_t template_len, struct rag_error *err)
{
	struct rag_decoder_params dp = { .n_ctx = n_ctx, .cuda = cuda };
	const char *arch = NULL, *ct = NULL;
	int rc;

	memset(lm, 0, sizeof *lm);
	if ((rc = rag_model_open(path, &lm->gguf, err)))
		return rc;
	if (rag_gguf_get_str(lm->gguf, "general.architecture", &arch) == 1 &&
	    !rag_decoder_supports_arch(arch)) {
		rc = rag_error_set(err, RAG_EMODEL,
				   "'%s': architecture '%s' is not a decoder ragkit can run "
				   "(" RAG_DECODER_ARCHS ")", path, arch);
		goto fail;
	}
	if ((rc = rag_decoder_load(lm->gguf, &dp, &lm->dec, err)) ||
	    (rc = rag_tokenizer_from_gguf(lm->gguf, &lm->tok, err))) {
		rag_error_prefix(err, "'%s': ", path);
		goto fail;
	}
	if (template_src) {
		if ((rc = rag_template_parse(template_src, template_len, &lm->chat, err)))
			goto fail;
	} else if (rag_gguf_get_str(lm->gguf, "tokenizer.chat_template", &ct) == 1) {
		if ((rc = rag_template_parse(ct, strlen(ct), &lm->chat, err))) {
			rag_error_prefix(err, "'%s': tokenizer.chat_template: ", path);
			err->code = rc = RAG_EMODEL;
			goto fail;
		}
	}
	lm->bos = piece_dup(lm->tok, rag_tokenizer_special(lm->tok, RAG_TOK_BOS));
	lm->eos = piece_dup(lm->tok, rag_tokenizer_special(lm->tok, RAG_TOK_EOS));
	if (add_eog(lm, rag_tokenizer_special(lm->tok, RAG_TOK_EOS)) ||
	    add_eog(lm, rag_tokenizer_special(lm->tok, RAG_TOK_EOT)))
		goto oom;
	{
		size_t nv = rag_tokenizer_vocab_size(lm->tok);
		for (size_t id = 0; id < nv; id++) {
			size_t len;
			const char *p;
			if (!rag_token_is_special(lm->tok, (int32_t)id))
				continue;
			p = rag_token_piece(lm->tok, (int32_t)id, &len);
			for (int i = 0; p && eog_names[i]; i++)
				if (len == strlen(eog_names[i]) && !memcmp(p, eog_names[i], len) &&
				    add_eog(lm, (int32_t)id))
					goto oom;
		}
	}
	return 0;
oom:
	rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
fail:
	rag_lm_close(lm);
	return rc;
}

void rag_lm_close(struct rag_lm *lm)
{
	rag_template_free(lm->chat);
	rag_tokenizer_free(lm->tok);
	rag_decoder_free(lm->dec);
	rag_gguf_close(lm->gguf);
	rag_free(lm->bos);
	rag_free(lm->eos);
	rag_free(lm->eog);
	memset(lm, 0, sizeof *lm);
}

int rag_lm_is_eog(const struct rag_lm *lm, int32_t id)
{
	for (size_t i = 0; i < lm->n_eog; i++)
		if (lm->eog[i] == id)
			return 1;
	return 0;
}

int rag_lm_chat_prompt(const struct rag_lm *lm, const struct rag_json *messages,
		       const struct rag_json *extra, struct rag_buf *out, struct rag_error *err)
{
	if (!lm->chat)
		return rag_error_set(err, RAG_EDATA, "the model has no chat template "
				     "(give one with --template, or use --no-chat)");
	return rag_template_render(lm->chat, messages, 1, lm->bos, lm->eos, extra, out, err);
}

int rag_lm_tokenize(const struct rag_lm *lm, const char *text, size_t len, int chat,
		    struct rag_tokens *out, struct rag_error *err)
{
	unsigned flags = chat ? RAG_TOK_PARSE_SPECIAL : RAG_TOK_ADD_SPECIAL;
	return rag_tokenize(lm->tok, text, len, flags, out, err);
}

void rag_gen_params_init(struct rag_gen_params *p)
{
	memset(p, 0, sizeof *p);
	rag_sampler_params_init(&p->sampling);
	p->max_tokens = 256;
}

/* Bytes at the end of s[0..n) that start an incomplete UTF-8 sequence. */
static size_t utf8_tail(const char *s, size_t n)
{
	for (size_t k = 1; k <= 3 && k <= n; k++) {
		unsigned char c = (unsigned char)s[n - k];
		if ((c & 0xC0) == 0x80)
			continue;            /* continuation byte: look further back */
		if (c >= 0xC0) {
			size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
			return need > k ? k : 0;
		}
		return 0;
	}
	return 0;
}

struct streamer {
	struct rag_buf pend;          /* produced, not yet emitted (raw bytes) */
	struct rag_buf fixed;         /* scratch: released bytes with U+FFFD for invalid UTF-8 */
	const struct rag_gen_params *p;
	rag_gen_emit_fn emit;
	void *ctx;
	struct rag_buf *text;
	int failed;
};

static void release(struct streamer *s, size_t n)
{
	const char *out = s->pend.data;
	size_t len = n;

	if (!n)
		return;
	/* the bytes come from rag_detokenize_bytes: what is not valid UTF-8 here
	 * (whole characters up to n, see utf8_tail) becomes U+FFFD, as Hugging
	 * Face decodes it */
	if (rag_utf8_valid_prefix(out, n) != n) {
		rag_buf_reset(&s->fixed);
		rag_utf8_repair(&s->fixed, out, n);
		if (rag_buf_failed(&s->fixed)) {
			s->failed = 1;
			return;
		}
		out = s->fixed.data;
		len = s->fixed.len;
	}
	if (s->text)
		rag_buf_add(s->text, out, len);
	if (s->emit && !s->failed && s->emit(s->ctx, out, len))
		s->failed = 1;
	memmove(s->pend.data, s->pend.data + n, s->pend.len - n);
	s->pend.len -= n;
}

/* After new text: 1 when a stop string matched (the text before it is released). */
static int stream_step(struct streamer *s, int final)
{
	size_t hold = 0, cut = (size_t)-1;

	for (size_t i = 0; i < s->p->n_stop; i++) {
		const char *st = s->p->stop[i];
		size_t sl = strlen(st);
		if (!sl)
			continue;
		for (size_t k = 0; k + sl <= s->pend.len; k++)
			if (!memcmp(s->pend.data + k, st, sl)) {
				if (k < cut)
					cut = k;
				break;
			}
	}
	if (cut != (size_t)-1) {
		release(s, cut);
		rag_buf_reset(&s->pend);
		return 1;
	}
	if (final) {
		release(s, s->pend.len);
		return 0;
	}
	/* hold back the longest suffix that could begin a stop string */
	for (size_t i = 0; i < s->p->n_stop; i++) {
		const char *st = s->p->stop[i];
		size_t sl = strlen(st);
		for (size_t k = sl > 1 ? sl - 1 : 0; k > hold; k--)
			if (k <= s->pend.len && !memcmp(s->pend.data + s->pend.len - k, st, k)) {
				hold = k;
				break;
			}
	}
	{
		size_t u = utf8_tail(s->pend.data, s->pend.len - hold);
		release(s, s->pend.len - hold - u);
	}
	return 0;
}

int rag_lm_generate(struct rag_lm *lm, const struct rag_gen_params *p, const int32_t *prompt,
		    size_t n_prompt, rag_gen_emit_fn emit, void *ctx, struct rag_buf *text,
		    struct rag_gen_result *res, struct rag_error *err)
{
	const struct rag_decoder_info *in = rag_decoder_info(lm->dec);
	struct rag_sampler *smp = NULL;
	struct streamer s;
	float *logits = NULL;
	double t0 = rag_now();
	int started = 0;  /* a text token is decoded: the next ones continue its text */
	int rc;

	memset(res, 0, sizeof *res);
	memset(&s, 0, sizeof s);
	rag_buf_init(&s.pend);
	rag_buf_init(&s.fixed);
	s.p = p;
	s.emit = emit;
	s.ctx = ctx;
	s.text = text;
	res->prompt_tokens = (int64_t)n_prompt;
	if (n_prompt == 0 || (int64_t)n_prompt >= in->n_ctx)
		return rag_error_set(err, RAG_EDATA,
				     "prompt of %zu tokens does not fit the %lld-token context",
				     n_prompt, (long long)in->n_ctx);
	if ((rc = rag_sampler_new(&p->sampling, in->n_vocab, &smp, err)))
		return rc;
	logits = rag_malloc((size_t)in->n_vocab * sizeof *logits);
	if (!logits) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_prompt; i++)
		rag_sampler_accept(smp, prompt[i]);
	rag_decoder_reset(lm->dec);
	if ((rc = rag_decoder_eval(lm->dec, prompt, (int64_t)n_prompt, 0, logits, err)))
		goto out;
	res->prefill_seconds = rag_now() - t0;
	res->finish = RAG_GEN_LENGTH;
	for (int64_t n = 0; p->max_tokens < 0 || n < p->max_tokens; n++) {
		int32_t id = rag_sampler_sample(smp, logits);
		if (!p->ignore_eos && rag_lm_is_eog(lm, id)) {
			res->finish = RAG_GEN_EOS;
			break;
		}
		res->completion_tokens++;
		rag_sampler_accept(smp, id);
		/* raw bytes: a character may span tokens (release repairs what stays invalid) */
		if ((rc = rag_detokenize_bytes(lm->tok, &id, 1, 1, &started, &s.pend, err)))
			goto out;
		if (stream_step(&s, 0)) {
			res->finish = RAG_GEN_STOP;
			break;
		}
		if (s.failed)
			break;
		if (p->max_tokens >= 0 && n + 1 >= p->max_tokens)
			break;
		if (rag_decoder_n_past(lm->dec) >= in->n_ctx) {
			res->finish = RAG_GEN_CONTEXT;
			break;
		}
		if ((rc = rag_decoder_step(lm->dec, id, logits, err)))
			goto out;
	}
	if (res->finish != RAG_GEN_STOP)
		stream_step(&s, 1);
	if (s.failed) {
		rc = rag_error_set(err, RAG_EIO, "cannot write the generated text");
		goto out;
	}
	if (text && rag_buf_failed(text))
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
out:
	res->seconds = rag_now() - t0;
	rag_buf_free(&s.pend);
	rag_buf_free(&s.fixed);
	rag_free(logits);
	rag_sampler_free(smp);
	return rc;
}

/* ---- grounded answers ------------------------------------------------------ */

const char rag_rag_default_template[] =
	"Answer the question using only the numbered passages below. Cite the passages you "
	"use by their numbers in square brackets, like [1] or [2][3]. If the passages do not "
	"contain the answer, say that you do not know.\n\n"
	"{contexts}"
	"Question: {question}";

/* Fill tmpl's {question} and {contexts}. */
static void fill(struct rag_buf *out, const char *tmpl, const char *q, size_t qlen,
		 const char *ctx, size_t clen)
{
	for (const char *p = tmpl; *p;) {
		if (!strncmp(p, "{question}", 10)) {
			rag_buf_add(out, q, qlen);
			p += 10;
		} else if (!strncmp(p, "{contexts}", 10)) {
			rag_buf_add(out, ctx, clen);
			p += 10;
		} else {
			rag_buf_addc(out, *p++);
		}
	}
}

/* Tokens of the final prompt for the given contexts text. */
static int prompt_tokens(const struct rag_lm *lm, const char *tmpl, const char *q, size_t qlen,
			 const char *ctx, size_t clen, int chat, struct rag_buf *prompt,
			 size_t *n_tok, struct rag_error *err)
{
	struct rag_buf user;
	struct rag_tokens toks;
	int rc = 0;

	rag_buf_init(&user);
	rag_tokens_init(&toks);
	rag_buf_reset(prompt);
	fill(&user, tmpl, q, qlen, ctx, clen);
	if (rag_buf_failed(&user)) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
	if (chat) {
		/* [{"role":"user","content":...}] as JSON for the template */
		struct rag_buf js;
		struct rag_arena a;
		struct rag_json *msgs;
		rag_buf_init(&js);
		rag_arena_init(&a);
		rag_buf_adds(&js, "[{\"role\":\"user\",\"content\":");
		rag_json_write_str(&js, user.data ? user.data : "", user.len);
		rag_buf_adds(&js, "}]");
		if (rag_buf_failed(&js))
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		else if (!(rc = rag_json_parse(&a, js.data, js.len, &msgs, err)))
			rc = rag_lm_chat_prompt(lm, msgs, NULL, prompt, err);
		rag_arena_free(&a);
		rag_buf_free(&js);
		if (rc)
			goto out;
	} else {
		rag_buf_add(prompt, user.data ? user.data : "", user.len);
	}
	if (rag_buf_failed(prompt)) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
	if ((rc = rag_lm_tokenize(lm, prompt->data ? prompt->data : "", prompt->len, chat, &toks, err)))
		goto out;
	*n_tok = toks.n;
out:
	rag_tokens_free(&toks);
	rag_buf_free(&user);
	return rc;
}

int rag_rag_prompt(const struct rag_lm *lm, const char *tmpl, const char *question,
		   size_t question_len, const struct rag_passage *ps, size_t n, int64_t budget,
		   int chat, struct rag_buf *prompt, size_t *n_used, struct rag_error *err)
{
	struct rag_buf ctx, trial;
	size_t used = 0, ntok = 0, kept_len = 0;
	int rc;

	if (!tmpl)
		tmpl = rag_rag_default_template;
	rag_buf_init(&ctx);
	rag_buf_init(&trial);
	*n_used = 0;
	if ((rc = prompt_tokens(lm, tmpl, question, question_len, "", 0, chat, &trial, &ntok, err)))
		goto out;
	if ((int64_t)ntok > budget) {
		rc = rag_error_set(err, RAG_EDATA,
				   "the question alone takes %zu prompt tokens, more than the %lld "
				   "available", ntok, (long long)budget);
		goto out;
	}
	/* Add passages one at a time while the whole prompt fits.  Tokenizing the
	 * whole prompt each time is exact (merges across boundaries count). */
	for (size_t i = 0; i < n; i++) {
		kept_len = ctx.len;
		rag_buf_printf(&ctx, "[%zu] ", i + 1);
		rag_buf_add(&ctx, ps[i].text, ps[i].text_len);
		rag_buf_adds(&ctx, "\n\n");
		if (rag_buf_failed(&ctx)) {
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			goto out;
		}
		if ((rc = prompt_tokens(lm, tmpl, question, question_len, ctx.data, ctx.len, chat,
					&trial, &ntok, err)))
			goto out;
		if ((int64_t)ntok > budget) {
			ctx.len = kept_len;
			break;
		}
		used = i + 1;
	}
	rc = prompt_tokens(lm, tmpl, question, question_len, ctx.data ? ctx.data : "", ctx.len, chat,
			   prompt, &ntok, err);
	*n_used = used;
out:
	rag_buf_free(&ctx);
	rag_buf_free(&trial);
	return rc;
}

size_t rag_rag_citations(const char *answer, size_t len, size_t n, int *used)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++)
		used[i] = 0;
	for (size_t i = 0; i < len; i++) {
		if (answer[i] != '[')
			continue;
		/* [k] or [k, m, ...] */
		for (size_t j = i + 1; j < len;) {
			size_t v = 0, digits = 0;
			while (j < len && answer[j] == ' ')
				j++;
			while (j < len && answer[j] >= '0' && answer[j] <= '9' && digits < 6) {
				v = v * 10 + (size_t)(answer[j] - '0');
				j++;
				digits++;
			}
			while (j < len && answer[j] == ' ')
				j++;
			if (!digits || j >= len || (answer[j] != ',' && answer[j] != ']'))
				break;
			if (v >= 1 && v <= n && !used[v - 1]) {
				used[v - 1] = 1;
				count++;
			}
			if (answer[j] == ']')
				break;
			j++;
		}
	}
	return count;
}
