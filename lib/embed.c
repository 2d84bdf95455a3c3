/* embed.c: text to vectors: model opening (encoders, and decoders with last-token pooling), instruction prefixes, tokenization with truncation, batched runs. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "decoder.h"
#include "device.h"
#include "embed.h"
#include "gguf.h"
#include "hfmodel.h"

struct rag_embedder {
	struct rag_gguf *g;
	struct rag_tokenizer *tok;
	struct rag_encoder *enc;   /* an encoder model, or */
	struct rag_decoder *dec;   /* a decoder model (Qwen3-Embedding style) */
	int dec_pool;              /* the decoder's <arch>.pooling_type, -1 when absent */
	float *dec_row;            /* scratch: one hidden state */
	struct rag_embed_scratch sc; /* rag_embed_prepare's */
	int family;            /* FAM_* for instruction prefixes */
	const char *prompt_q;  /* ragkit.prompt.query (sentence-transformers), or NULL */
	const char *prompt_d;  /* ragkit.prompt.document / passage, or NULL */
	size_t max_length;     /* ragkit.max_length, 0 = none */
	int normalize;         /* ragkit.normalize: 1 yes, 0 no, -1 not said */
	char *path;
};

enum { FAM_NONE, FAM_E5, FAM_NOMIC, FAM_BGE, FAM_QWEN3_EMB };

/* Qwen3-Embedding's query instruction (its sentence-transformers "query" prompt). */
#define QWEN3_EMB_QUERY "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"

/* The KV cache a decoder embedder gets when the file does not say less. */
#define DECODER_EMBED_CTX 2048

void rag_embed_opts_init(struct rag_embed_opts *o)
{
	memset(o, 0, sizeof *o);
	o->pooling = -1;
}

static int name_has(const char *name, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = name; p && *p; p++)
		if (strncasecmp(p, word, n) == 0)
			return 1;
	return 0;
}

static int family_of(const struct rag_gguf *g)
{
	static const char *const keys[] = { "general.name", "general.basename", "general.base_model.0.name" };
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		const char *name = NULL;
		if (rag_gguf_get_str(g, keys[i], &name) != 1)
			continue;
		if (name_has(name, "nomic"))
			return FAM_NOMIC;
		if (name_has(name, "qwen3") && name_has(name, "embedding"))
			return FAM_QWEN3_EMB;
		if (name_has(name, "e5-") || name_has(name, "e5_") || name_has(name, "-e5") || strncasecmp(name, "e5", 2) == 0)
			return FAM_E5;
		if (name_has(name, "bge") && !name_has(name, "m3") && !name_has(name, "rerank"))
			return FAM_BGE;
	}
	return FAM_NONE;
}

/* The sentence-transformers settings rag_model_open carries as ragkit.* keys. */
static void model_extras(struct rag_embedder *m)
{
	int64_t v;
	int b;

	if (rag_gguf_get_str(m->g, "ragkit.prompt.query", &m->prompt_q) != 1)
		m->prompt_q = NULL;
	if (rag_gguf_get_str(m->g, "ragkit.prompt.document", &m->prompt_d) != 1 &&
	    rag_gguf_get_str(m->g, "ragkit.prompt.passage", &m->prompt_d) != 1)
		m->prompt_d = NULL;
	m->max_length = rag_gguf_get_int(m->g, "ragkit.max_length", &v) == 1 && v > 0 ? (size_t)v : 0;
	m->normalize = rag_gguf_get_bool(m->g, "ragkit.normalize", &b) == 1 ? !!b : -1;
}

/*
 * A decoder (llama/qwen2/qwen3) as an embedder: the pooling its file declares
 * (<arch>.pooling_type, llama.cpp's enum: 0 none, 1 mean, 2 cls, 3 last, 4 rank),
 * a KV cache of min(context length, ragkit.max_length or DECODER_EMBED_CTX).
 * Returns -1 when the model is not a decoder (try the encoder), else a status.
 */
static int open_decoder(struct rag_embedder *m, const struct rag_encoder_opts *opts, const char *path,
			struct rag_error *err)
{
	const char *arch = NULL;
	struct rag_decoder_params p = { 0 };
	char key[128];
	int64_t v, ctx = 0;
	int r;

	if (rag_gguf_get_str(m->g, "general.architecture", &arch) != 1 || !rag_decoder_supports_arch(arch))
		return -1;
	snprintf(key, sizeof key, "%s.pooling_type", arch);
	r = rag_gguf_get_int(m->g, key, &v);
	if (r < 0 || (r == 1 && (v < 0 || v > 4)))
		return rag_error_set(err, RAG_EMODEL, "'%s': %s is not a pooling type ragkit knows", path, key);
	if (r == 1 && v == RAG_POOL_RANK)
		return rag_error_set(err, RAG_EMODEL, "'%s' is a reranker (%s = rank), not an embedding model",
				     path, key);
	m->dec_pool = r == 1 ? (int)v : -1;
	p.cuda = opts && opts->cuda;   /* lib/decoder_cuda.c; RAG_EUNAVAILABLE without a GPU */
	snprintf(key, sizeof key, "%s.context_length", arch);
	if (rag_gguf_get_int(m->g, key, &ctx) != 1 || ctx <= 0)
		ctx = DECODER_EMBED_CTX;
	if (rag_gguf_get_int(m->g, "ragkit.max_length", &v) == 1 && v > 0 && v < ctx)
		ctx = v;
	else if (ctx > DECODER_EMBED_CTX)
		ctx = DECODER_EMBED_CTX;
	p.n_ctx = ctx;
	if ((r = rag_decoder_load(m->g, &p, &m->dec, err))) {
		rag_error_prefix(err, "'%s': ", path);
		return r;
	}
	if (!(m->dec_row = rag_malloc((size_t)rag_decoder_info(m->dec)->n_embd * sizeof *m->dec_row)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	return RAG_OK;
}

int rag_embedder_open(const char *path, const struct rag_encoder_opts *opts, struct rag_embedder **out,
		      struct rag_error *err)
{
	struct rag_embedder *m;
	int rc;

	*out = NULL;
	if (!(m = rag_calloc(1, sizeof *m)) || !(m->path = rag_strdup(path))) {
		rag_free(m);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	rag_embed_scratch_init(&m->sc);
	if ((rc = rag_model_open(path, &m->g, err)))
		goto fail;
	if ((rc = open_decoder(m, opts, path, err)) < 0) {
		rc = 0;
		if ((rc = rag_encoder_load(m->g, opts, &m->enc, err)))
			goto fail;
	} else if (rc) {
		goto fail;
	}
	if (m->enc && rag_encoder_is_reranker(m->enc)) {
		rc = rag_error_set(err, RAG_EMODEL, "'%s' is a cross-encoder (reranker), not an embedding model", path);
		goto fail;
	}
	if ((rc = rag_tokenizer_from_gguf(m->g, &m->tok, err))) {
		rag_error_prefix(err, "'%s': ", path);
		goto fail;
	}
	m->family = family_of(m->g);
	model_extras(m);
	*out = m;
	return RAG_OK;
fail:
	rag_embedder_free(m);
	return rc;
}

void rag_embedder_free(struct rag_embedder *m)
{
	if (!m)
		return;
	rag_encoder_free(m->enc);
	rag_decoder_free(m->dec);
	rag_free(m->dec_row);
	rag_tokenizer_free(m->tok);
	rag_gguf_close(m->g);
	rag_embed_scratch_release(&m->sc);
	rag_free(m->path);
	rag_free(m);
}

struct rag_encoder *rag_embedder_encoder(struct rag_embedder *m) { return m->enc; }
struct rag_decoder *rag_embedder_decoder(struct rag_embedder *m) { return m->dec; }

int64_t rag_embedder_dim(const struct rag_embedder *m)
{
	return m->dec ? rag_decoder_info(m->dec)->n_embd : rag_encoder_dim(m->enc);
}

static size_t n_ctx_of(const struct rag_embedder *m)
{
	return m->dec ? (size_t)rag_decoder_info(m->dec)->n_ctx : (size_t)rag_encoder_n_ctx(m->enc);
}
const struct rag_tokenizer *rag_embedder_tokenizer(const struct rag_embedder *m) { return m->tok; }

const char *rag_embed_model_prefix(const struct rag_embedder *m, enum rag_embed_mode mode)
{
	int q = mode == RAG_EMBED_QUERY;
	if (mode == RAG_EMBED_PLAIN)
		return "";
	if (m->prompt_q || m->prompt_d) /* the model's own prompts win over name guesses */
		return (q ? m->prompt_q : m->prompt_d) ? (q ? m->prompt_q : m->prompt_d) : "";
	switch (m->family) {
	case FAM_E5: return q ? "query: " : "passage: ";
	case FAM_NOMIC: return q ? "search_query: " : "search_document: ";
	case FAM_BGE: return q ? "Represent this sentence for searching relevant passages: " : "";
	case FAM_QWEN3_EMB: return q ? QWEN3_EMB_QUERY : "";
	default: return "";
	}
}

void rag_embed_seq_free(struct rag_embed_seq *s)
{
	if (!s)
		return;
	rag_free(s->ids);
	memset(s, 0, sizeof *s);
}

enum rag_pooling rag_embed_pooling(const struct rag_embedder *m, const struct rag_embed_opts *o)
{
	if (o->pooling >= 0)
		return (enum rag_pooling)o->pooling;
	if (m->dec)
		return m->dec_pool >= 0 ? (enum rag_pooling)m->dec_pool : RAG_POOL_LAST;
	return rag_encoder_pooling(m->enc);
}

int rag_embed_check_pooling(const struct rag_embedder *m, const struct rag_embed_opts *o,
			    struct rag_error *err)
{
	enum rag_pooling p = rag_embed_pooling(m, o);

	if (!m->dec)
		return RAG_OK;
	if (o->pooling < 0 && m->dec_pool < 0)
		return rag_error_set(err, RAG_EMODEL,
				     "'%s' is a decoder without %s.pooling_type (a text generator, not an "
				     "embedding model); give a pooling (last) to embed with it anyway",
				     m->path, rag_decoder_info(m->dec)->arch);
	if (p == RAG_POOL_NONE || p == RAG_POOL_RANK)
		return rag_error_set(err, RAG_EUSAGE, "pooling '%s' is not available for decoder models "
				     "(last, mean or cls)", rag_pooling_name(p));
	return RAG_OK;
}

int rag_text_check(const char *text, size_t len, struct rag_error *err)
{
	size_t i;

	if (len == 0)
		return rag_error_set(err, RAG_EDATA, "empty text");
	for (i = 0; i < len && isspace((unsigned char)text[i]); i++)
		;
	if (i == len)
		return rag_error_set(err, RAG_EDATA, "text is only whitespace");
	return RAG_OK;
}

void rag_embed_scratch_init(struct rag_embed_scratch *sc)
{
	rag_tokens_init(&sc->t);
	rag_buf_init(&sc->text);
}

void rag_embed_scratch_release(struct rag_embed_scratch *sc)
{
	if (!sc)
		return;
	rag_tokens_free(&sc->t);
	rag_buf_free(&sc->text);
}

int rag_embed_prepare(struct rag_embedder *m, const char *text, size_t len,
		      const struct rag_embed_opts *o, struct rag_embed_seq *s, struct rag_error *err)
{
	return rag_embed_prepare_r(m, text, len, o, &m->sc, s, err);
}

int rag_embed_prepare_r(const struct rag_embedder *m, const char *text, size_t len,
			const struct rag_embed_opts *o, struct rag_embed_scratch *sc, struct rag_embed_seq *s,
			struct rag_error *err)
{
	const char *prefix = o->prefix ? o->prefix : rag_embed_model_prefix(m, o->mode);
	size_t limit = o->max_tokens > 0 ? (size_t)o->max_tokens
			: m->max_length ? m->max_length : n_ctx_of(m);
	int32_t *ids;
	int rc;

	if (limit > n_ctx_of(m))
		limit = n_ctx_of(m);
	if ((rc = rag_text_check(text, len, err)))
		return rc;
	rag_buf_reset(&sc->text);
	rag_buf_adds(&sc->text, prefix);
	rag_buf_add(&sc->text, text, len);
	if (rag_buf_failed(&sc->text))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	if ((rc = rag_tokenize(m->tok, sc->text.data, sc->text.len, RAG_TOK_ADD_SPECIAL | RAG_TOK_OFFSETS, &sc->t, err)))
		return rc;
	s->n_text = sc->t.n;
	s->truncated = 0;
	if (sc->t.n > limit) {
		if (o->no_truncate)
			return rag_error_set(err, RAG_EDATA, "text has %zu tokens, more than the limit of %zu",
					     sc->t.n, limit);
		s->truncated = rag_tokens_truncate(m->tok, &sc->t, limit, 0);
	}
	if (sc->t.n == 0)
		return rag_error_set(err, RAG_EDATA, "text gives no tokens");
	if (!(ids = rag_realloc(s->ids, sc->t.n * sizeof *ids)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	memcpy(ids, sc->t.ids, sc->t.n * sizeof *ids);
	s->ids = ids;
	s->n = sc->t.n;
	return RAG_OK;
}

/* Decoder models: each text from an empty cache, its last (or first, or mean)
 * final-normed hidden state, L2-normalized unless told not to. */
static int run_decoder(struct rag_embedder *m, const struct rag_embed_seq *seqs, size_t n,
		       const struct rag_embed_opts *o, float *out, struct rag_error *err)
{
	enum rag_pooling p = rag_embed_pooling(m, o);
	int64_t dim = rag_decoder_info(m->dec)->n_embd;
	int normalize = !o->no_normalize && m->normalize != 0;
	int rc;

	if ((rc = rag_embed_check_pooling(m, o, err)))
		return rc;
	for (size_t i = 0; i < n; i++) {
		float *row = out + i * (size_t)dim;
		/* causal attention: the first token's state is that of the first token alone */
		int64_t len = p == RAG_POOL_CLS ? 1 : (int64_t)seqs[i].n;
		if ((rc = rag_decoder_hidden(m->dec, seqs[i].ids, len,
					     p == RAG_POOL_MEAN ? RAG_DECODER_POOL_MEAN : RAG_DECODER_POOL_LAST,
					     row, err)))
			return rc;
		if (normalize)
			rag_l2_normalize(row, 1, dim);
	}
	return RAG_OK;
}

int rag_embed_run(struct rag_embedder *m, const struct rag_embed_seq *seqs, size_t n,
		  const struct rag_embed_opts *o, float *out, struct rag_error *err)
{
	struct rag_enc_seq *es;
	int rc;

	if (n == 0)
		return RAG_OK;
	if (m->dec)
		return run_decoder(m, seqs, n, o, out, err);
	if (!(es = rag_calloc(n, sizeof *es)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		es[i].ids = seqs[i].ids;
		es[i].n = seqs[i].n;
	}
	rc = rag_encoder_run(m->enc, es, n, o->batch_tokens, rag_embed_pooling(m, o),
			     !o->no_normalize && m->normalize != 0, out, err);
	rag_free(es);
	return rc;
}

int rag_encoder_device(enum rag_device want, enum rag_device *got, struct rag_error *err)
{
	/* the GPU encoders live in encoder_cuda.c; device.c decides */
	return rag_device_resolve(want, got, NULL, 0, err);
}
