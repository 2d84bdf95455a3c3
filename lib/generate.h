/* generate.h: text generation with a decoder GGUF: chat prompts, sampling loop with
 * streaming and stop strings, and grounded (RAG) prompts with citations. */
#ifndef RAG_GENERATE_H
#define RAG_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "decoder.h"
#include "error.h"
#include "gguf.h"
#include "json.h"
#include "sampler.h"
#include "template.h"
#include "tokenizer.h"

/* A loaded language model: file, decoder, tokenizer and chat template. */
struct rag_lm {
	struct rag_gguf *gguf;
	struct rag_decoder *dec;
	struct rag_tokenizer *tok;
	struct rag_template *chat;   /* tokenizer.chat_template or --template; NULL = none */
	char *bos, *eos;             /* token texts for templates (owned), or NULL */
	int32_t *eog;                /* ids that end generation (EOS, EOT, <|im_end|>, ...) */
	size_t n_eog;
};

/*
 * Open a decoder GGUF: RAG_ENOINPUT (cannot open), RAG_EMODEL (not a GGUF, not a
 * decoder: "architecture 'bert' is not a decoder ...", tokenizer unsupported, or
 * the model's chat template does not parse).  n_ctx: KV cache size (0 = the
 * model's, at most 4096).  template_src (may be NULL): a chat template that
 * replaces the model's (parse errors: RAG_EDATA).  Release with rag_lm_close.
 */
int rag_lm_open(struct rag_lm *lm, const char *path, int64_t n_ctx, const char *template_src,
		size_t template_len, struct rag_error *err);
/* rag_lm_open with the decoder on the GPU when cuda is set (lib/decoder_cuda.c);
 * RAG_EUNAVAILABLE when the GPU cannot take the model (the message says why). */
int rag_lm_open_on(struct rag_lm *lm, const char *path, int64_t n_ctx, int cuda, const char *template_src,
		   size_t template_len, struct rag_error *err);
void rag_lm_close(struct rag_lm *lm);

/*
 * Prompt text from messages (a JSON array of {role, content}) through the chat
 * template with add_generation_prompt; appended to out.  Without a template:
 * RAG_EDATA "the model has no chat template".  extra: more template variables
 * (JSON object) or NULL.
 */
int rag_lm_chat_prompt(const struct rag_lm *lm, const struct rag_json *messages,
		       const struct rag_json *extra, struct rag_buf *out, struct rag_error *err);

/* Tokenize a prompt.  chat = 1: a rendered chat prompt (special-token text
 * parsed, nothing added: the template wrote BOS); chat = 0: raw text with the
 * model's BOS added as its metadata says. */
int rag_lm_tokenize(const struct rag_lm *lm, const char *text, size_t len, int chat,
		    struct rag_tokens *out, struct rag_error *err);

/* Is id one of the model's end-of-generation tokens? */
int rag_lm_is_eog(const struct rag_lm *lm, int32_t id);

struct rag_gen_params {
	struct rag_sampler_params sampling;
	int64_t max_tokens;          /* < 0: until EOS or a full context */
	const char *const *stop;     /* stop strings (not included in the output) */
	size_t n_stop;
	int ignore_eos;
};

void rag_gen_params_init(struct rag_gen_params *p);

enum rag_gen_finish { RAG_GEN_EOS, RAG_GEN_STOP, RAG_GEN_LENGTH, RAG_GEN_CONTEXT };

struct rag_gen_result {
	int64_t prompt_tokens, completion_tokens;
	double seconds, prefill_seconds;
	enum rag_gen_finish finish;
};

/* Receives text as it is produced (whole UTF-8 characters, stop strings held
 * back until ruled out).  Non-zero return aborts generation with RAG_EIO. */
typedef int (*rag_gen_emit_fn)(void *ctx, const char *text, size_t len);

/*
 * Generate from prompt ids: reset the KV cache, prefill, then sample up to
 * max_tokens (fewer when the context fills: finish RAG_GEN_CONTEXT), stopping
 * at an end-of-generation token (unless ignore_eos) or a stop string.  The
 * text (without the stop string) is appended to text (may be NULL) and passed
 * to emit (may be NULL) as it arrives.  Errors: RAG_EDATA "prompt of N tokens
 * does not fit the M-token context" when n_prompt >= n_ctx or n_prompt == 0;
 * RAG_EUSAGE for bad sampling settings; RAG_EIO when emit fails;
 * RAG_EINTERNAL when memory runs out.
 */
int rag_lm_generate(struct rag_lm *lm, const struct rag_gen_params *p, const int32_t *prompt,
		    size_t n_prompt, rag_gen_emit_fn emit, void *ctx, struct rag_buf *text,
		    struct rag_gen_result *res, struct rag_error *err);

/* ---- grounded answers ------------------------------------------------------ */

/*
 * The default RAG prompt template: {contexts} is replaced by the numbered
 * passages ("[1] text\n\n[2] text\n\n..."), {question} by the question.
 */
extern const char rag_rag_default_template[];

struct rag_passage {
	const char *id, *text;
	size_t id_len, text_len;
};

/*
 * Build the user message for question and passages (best first), numbering
 * them [1].. and keeping as many as fit: the whole prompt (after the chat
 * template when chat is set) must stay within budget tokens.  Passages are
 * taken in order and the first that does not fit ends the list.  tmpl: a
 * template with {question} and {contexts} (NULL = the default).  Writes the
 * final prompt text (chat-rendered when chat) to prompt and the number of
 * passages used to *n_used.  RAG_EDATA when even the question alone exceeds
 * budget.
 */
int rag_rag_prompt(const struct rag_lm *lm, const char *tmpl, const char *question,
		   size_t question_len, const struct rag_passage *ps, size_t n, int64_t budget,
		   int chat, struct rag_buf *prompt, size_t *n_used, struct rag_error *err);

/* Mark in used[0..n) the passages cited by [k] markers (also [1, 3] and [1][2])
 * in answer; returns how many distinct passages are cited. */
size_t rag_rag_citations(const char *answer, size_t len, size_t n, int *used);

#endif
