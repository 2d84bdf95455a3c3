/* test-decoders.c: the llama and qwen3 decoder paths against their own Hugging
 * Face references (tests/data/decoders: tiny-llama with llama3 RoPE scaling,
 * GQA and an untied output; tiny-qwen3 with q/k norms and head_dim 32 != 64/4),
 * read as directories and after rag_gguf_retype to F32, F16, BF16 and Q8_0 (what
 * rag-model convert writes), within the fixture README's tolerances; linear RoPE
 * scaling and the older rope_scaling key; scalings ragkit does not run are
 * refused by name; rag_lm_generate streams the text rag_detokenize gives for
 * the whole continuation (byte-level and SentencePiece vocabularies). */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "decoder.h"
#include "generate.h"
#include "gguf.h"
#include "gguf_write.h"
#include "hfmodel.h"
#include "kernels.h"
#include "modelinfo.h"
#include "tokenizer.h"
#include "unicode.h"
#include "testutil.h"
#include "decoder-golden.h"

#define SRC_DIR (-1)  /* the directory itself, float32 as stored */

static const char *dtype_label(int type)
{
	switch (type) {
	case SRC_DIR: return "dir";
	case RAG_DT_F32: return "f32";
	case RAG_DT_F16: return "f16";
	case RAG_DT_BF16: return "bf16";
	case RAG_DT_Q8_0: return "q8_0";
	default: return "?";
	}
}

/* Absolute path of tests/data/decoders/<name>. */
static void model_dir(const char *name, char *out, size_t n)
{
	char rel[64], abs[PATH_MAX];

	snprintf(rel, sizeof rel, "decoders/%s", name);
	cr_assert(realpath(testdata(rel), abs), "%s: %s", testdata(rel), strerror(errno));
	snprintf(out, n, "%s", abs);
}

/*
 * Open dir (a Hugging Face directory), convert to type unless SRC_DIR, and load
 * the decoder; *src and *conv are released by close_all.
 */
static void open_dec(const char *dir, int type, const struct rag_decoder_params *p, struct rag_gguf **src,
		     struct rag_gguf **conv, struct rag_decoder **d)
{
	struct rag_error err;

	*conv = NULL;
	cr_assert_eq(rag_model_open(dir, src, &err), 0, "%s", err.msg);
	if (type != SRC_DIR)
		cr_assert_eq(rag_gguf_retype(*src, (enum rag_dtype)type, conv, &err), 0, "%s", err.msg);
	cr_assert_eq(rag_decoder_load(*conv ? *conv : *src, p, d, &err), 0, "%s", err.msg);
}

static void close_all(struct rag_gguf *src, struct rag_gguf *conv, struct rag_decoder *d)
{
	rag_decoder_free(d);
	rag_gguf_close(conv);
	rag_gguf_close(src);
}

/* model (a directory under tests/data/decoders, or an absolute path) as type
 * against tests/data/decoders/golden/<golden>.json. */
static void run(const char *model, const char *golden, int type, int exact_act, struct figures *f)
{
	struct rag_gguf *src, *conv;
	struct rag_decoder *d;
	struct rag_decoder_params p = { .exact_act = exact_act };
	char dir[PATH_MAX], gpath[PATH_MAX], label[256], rel[128];

	if (model[0] == '/')
		snprintf(dir, sizeof dir, "%s", model);
	else
		model_dir(model, dir, sizeof dir);
	snprintf(rel, sizeof rel, "decoders/golden/%s.json", golden);
	snprintf(gpath, sizeof gpath, "%s", testdata(rel));
	snprintf(label, sizeof label, "%s %s%s", golden, dtype_label(type), exact_act ? " exact" : "");
	open_dec(dir, type, &p, &src, &conv, &d);
	decoder_golden(d, gpath, label, exact_act, f);
	close_all(src, conv, d);
}

#define GOLDEN(id, model, type, expect)                                                        \
	Test(decoders, id)                                                                     \
	{                                                                                      \
		struct figures f;                                                              \
		run(model, model, type, 0, &f);                                                \
		expect(&f, model " " #type);                                                   \
	}

/* F32 (the directory as it is, and converted) and F16 (the weights are
 * fp16-rounded, so F16 holds them exactly): the README's 1e-3 and greedy. */
GOLDEN(llama_dir, "tiny-llama", SRC_DIR, golden_expect_exact)
GOLDEN(llama_f32, "tiny-llama", RAG_DT_F32, golden_expect_exact)
GOLDEN(llama_f16, "tiny-llama", RAG_DT_F16, golden_expect_exact)
GOLDEN(llama_bf16, "tiny-llama", RAG_DT_BF16, golden_expect_bf16)
GOLDEN(llama_q8_0, "tiny-llama", RAG_DT_Q8_0, golden_expect_q8_0)
GOLDEN(qwen3_dir, "tiny-qwen3", SRC_DIR, golden_expect_exact)
GOLDEN(qwen3_f32, "tiny-qwen3", RAG_DT_F32, golden_expect_exact)
GOLDEN(qwen3_f16, "tiny-qwen3", RAG_DT_F16, golden_expect_exact)
GOLDEN(qwen3_bf16, "tiny-qwen3", RAG_DT_BF16, golden_expect_bf16)
GOLDEN(qwen3_q8_0, "tiny-qwen3", RAG_DT_Q8_0, golden_expect_q8_0)

/* Q8_0 with float32 activations in the decode steps (rag_decoder_params.exact_act). */
Test(decoders, q8_0_exact_activations)
{
	struct figures f;

	run("tiny-llama", "tiny-llama", RAG_DT_Q8_0, 1, &f);
	golden_expect_q8_0(&f, "tiny-llama q8_0 exact");
	run("tiny-qwen3", "tiny-qwen3", RAG_DT_Q8_0, 1, &f);
	golden_expect_q8_0(&f, "tiny-qwen3 q8_0 exact");
}

/* What the loaders make of the two configurations. */
Test(decoders, shapes)
{
	struct rag_gguf *src, *conv;
	struct rag_decoder *d;
	const struct rag_decoder_info *in;
	const struct rag_gguf_tensor *t;
	char dir[PATH_MAX];

	model_dir("tiny-llama", dir, sizeof dir);
	open_dec(dir, RAG_DT_Q8_0, NULL, &src, &conv, &d);
	in = rag_decoder_info(d);
	cr_expect_str_eq(in->arch, "llama");
	cr_expect_eq(in->n_vocab, 512);
	cr_expect_eq(in->head_dim, 16);
	cr_expect_eq(in->n_rot, 16);
	cr_expect_eq(in->n_head_kv, 2);
	cr_expect_eq(in->rope_neox, 0);
	cr_expect_eq(in->tied_output, 0);
	cr_expect_float_eq(in->rope_base, 50000.0f, 1e-3);
	cr_expect_float_eq(in->rms_eps, 1e-5f, 1e-9);
	/* llama3 scaling as llama.cpp carries it: 8 F32 divisors, in every type */
	cr_assert(t = rag_gguf_find_tensor(conv, "rope_freqs.weight"));
	cr_expect_eq(t->type, RAG_DT_F32);
	cr_expect_eq(t->ne[0], 8);
	{
		/* base 50000, 16 dims, factor 8, low 1, high 4, original context 32:
		 * pair 0's wavelength 6.28 < 8 keeps it, pair 1's (24.3) is
		 * smoothed, the rest (>= 94 > 32) are divided by 8 */
		const float *fr = t->data;
		double wl = 2.0 * M_PI * pow(50000.0, 2.0 / 16.0), sm = (32.0 / wl - 1.0) / 3.0;
		cr_expect_float_eq(fr[0], 1.0f, 1e-7);
		cr_expect_float_eq(fr[1], (float)(1.0 / ((1.0 - sm) / 8.0 + sm)), 1e-6);
		for (int i = 2; i < 8; i++)
			cr_expect_float_eq(fr[i], 8.0f, 1e-7, "pair %d: %g", i, fr[i]);
	}
	cr_assert(t = rag_gguf_find_tensor(conv, "output.weight"));
	cr_expect_eq(t->type, RAG_DT_Q8_0);
	close_all(src, conv, d);

	model_dir("tiny-qwen3", dir, sizeof dir);
	open_dec(dir, SRC_DIR, NULL, &src, &conv, &d);
	in = rag_decoder_info(d);
	cr_expect_str_eq(in->arch, "qwen3");
	cr_expect_eq(in->head_dim, 32);
	cr_expect_eq(in->n_rot, 32);
	cr_expect_eq(in->n_head, 4);
	cr_expect_eq(in->rope_neox, 1);
	cr_expect_eq(in->tied_output, 1);
	cr_expect_float_eq(in->rope_base, 1e6f, 1.0);
	cr_expect_null(rag_gguf_find_tensor(src, "rope_freqs.weight"));
	cr_expect_null(rag_gguf_find_tensor(src, "blk.0.attn_q.bias"));
	cr_assert(t = rag_gguf_find_tensor(src, "blk.0.attn_q.weight"));
	cr_expect_eq(t->ne[0], 64);
	cr_expect_eq(t->ne[1], 128);
	close_all(src, conv, d);
}

/* ---- tiny-llama's weights under other RoPE settings ----------------------- */

struct variant {
	char dir[PATH_MAX];
};

/* A directory linking tiny-llama's weights and tokenizer, whose config.json has
 * the "rope_parameters": {...} member replaced by rope (JSON members). */
static void make_variant(struct variant *v, const char *rope)
{
	static const char *const files[] = { "model.safetensors", "tokenizer.json", "tokenizer_config.json" };
	char src[PATH_MAX], path[PATH_MAX + 64];
	struct rag_buf cfg;
	struct rag_error err;
	const char *a, *b;
	FILE *fp;

	model_dir("tiny-llama", src, sizeof src);
	snprintf(v->dir, sizeof v->dir, "%s/ragkit-decoders-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	cr_assert(mkdtemp(v->dir), "mkdtemp: %s", strerror(errno));
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		char from[PATH_MAX + 64];
		snprintf(from, sizeof from, "%s/%s", src, files[i]);
		snprintf(path, sizeof path, "%s/%s", v->dir, files[i]);
		cr_assert_eq(symlink(from, path), 0, "symlink %s: %s", path, strerror(errno));
	}
	snprintf(path, sizeof path, "%s/config.json", src);
	rag_buf_init(&cfg);
	cr_assert_eq(rag_buf_read_file(&cfg, path, &err), 0, "%s", err.msg);
	a = strstr(cfg.data, "\"rope_parameters\": {");
	cr_assert(a && (b = strchr(a, '}')));
	snprintf(path, sizeof path, "%s/config.json", v->dir);
	cr_assert(fp = fopen(path, "w"));
	fprintf(fp, "%.*s%s%s", (int)(a - cfg.data), cfg.data, rope, b + 1);
	cr_assert_eq(fclose(fp), 0);
	rag_buf_free(&cfg);
}

static void remove_variant(struct variant *v)
{
	static const char *const files[] = { "model.safetensors", "tokenizer.json", "tokenizer_config.json",
					     "config.json" };
	char path[PATH_MAX + 64];

	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		snprintf(path, sizeof path, "%s/%s", v->dir, files[i]);
		unlink(path);
	}
	rmdir(v->dir);
}

/* Linear scaling (golden/tiny-llama-linear.json: the same weights, linear
 * factor 4), in transformers 5's rope_parameters and the older rope_scaling. */
Test(decoders, linear_rope_scaling)
{
	static const char *const ropes[] = {
		"\"rope_parameters\": {\"rope_type\": \"linear\", \"rope_theta\": 50000.0, \"factor\": 4.0}",
		"\"rope_theta\": 50000.0, \"rope_scaling\": {\"type\": \"linear\", \"factor\": 4.0}",
	};
	for (size_t i = 0; i < sizeof ropes / sizeof *ropes; i++) {
		struct variant v;
		struct figures f;
		make_variant(&v, ropes[i]);
		run(v.dir, "tiny-llama-linear", SRC_DIR, 0, &f);
		golden_expect_exact(&f, ropes[i]);
		run(v.dir, "tiny-llama-linear", RAG_DT_F16, 0, &f);
		golden_expect_exact(&f, ropes[i]);
		remove_variant(&v);
	}
}

/* llama3 scaling written the older way (rope_scaling, rope_theta at the top). */
Test(decoders, llama3_in_rope_scaling)
{
	struct variant v;
	struct figures f;

	make_variant(&v, "\"rope_theta\": 50000.0, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, "
			 "\"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 32}");
	run(v.dir, "tiny-llama", SRC_DIR, 0, &f);
	golden_expect_exact(&f, "llama3 in rope_scaling");
	remove_variant(&v);
}

/* Scalings ragkit does not implement load as models but are refused, by name,
 * by the decoder and by rag_model_supported (rag-model info); incomplete llama3
 * parameters are refused when the directory is opened. */
Test(decoders, unsupported_rope_scaling)
{
	static const struct {
		const char *rope, *want;
		int at_open;
	} cases[] = {
		{ "\"rope_parameters\": {\"rope_type\": \"yarn\", \"rope_theta\": 50000.0, \"factor\": 4.0, "
		  "\"original_max_position_embeddings\": 32}", "'yarn'", 0 },
		{ "\"rope_parameters\": {\"rope_type\": \"dynamic\", \"rope_theta\": 50000.0, \"factor\": 2.0}",
		  "'dynamic'", 0 },
		{ "\"rope_scaling\": {\"type\": \"longrope\", \"long_factor\": [1], \"short_factor\": [1]}",
		  "'longrope'", 0 },
		{ "\"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": 50000.0, \"low_freq_factor\": 1.0, "
		  "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 32}", "'factor'", 1 },
		{ "\"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": 50000.0, \"factor\": 8.0, "
		  "\"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0}", "'original_max_position_embeddings'", 1 },
		{ "\"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": 50000.0, \"factor\": 8.0, "
		  "\"low_freq_factor\": 4.0, \"high_freq_factor\": 1.0, \"original_max_position_embeddings\": 32}",
		  "'low_freq_factor' <= 'high_freq_factor'", 1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct variant v;
		struct rag_gguf *g, *c;
		struct rag_decoder *d = NULL;
		struct rag_error err;
		char why[256];
		make_variant(&v, cases[i].rope);
		if (cases[i].at_open) {
			cr_expect_eq(rag_model_open(v.dir, &g, &err), RAG_EMODEL, "case %zu", i);
			cr_expect(strstr(err.msg, cases[i].want) && strstr(err.msg, "config.json"), "case %zu: %s", i,
				  err.msg);
			remove_variant(&v);
			continue;
		}
		cr_assert_eq(rag_model_open(v.dir, &g, &err), 0, "case %zu: %s", i, err.msg);
		cr_expect_eq(rag_decoder_load(g, NULL, &d, &err), RAG_EMODEL, "case %zu", i);
		cr_expect_null(d);
		cr_expect(strstr(err.msg, cases[i].want) && strstr(err.msg, "RoPE scaling"), "case %zu: %s", i, err.msg);
		cr_expect_eq(rag_model_supported(g, why, sizeof why), 0, "case %zu", i);
		cr_expect(strstr(why, cases[i].want), "case %zu: %s", i, why);
		/* and the same after conversion */
		cr_assert_eq(rag_gguf_retype(g, RAG_DT_F16, &c, &err), 0, "%s", err.msg);
		cr_expect_eq(rag_decoder_load(c, NULL, &d, &err), RAG_EMODEL, "case %zu", i);
		rag_gguf_close(c);
		rag_gguf_close(g);
		remove_variant(&v);
	}
}

/* ---- rag_lm_generate's streamed text ---------------------------------------- */

struct chunks {
	struct rag_buf all;
	int n, invalid;
};

static int collect(void *ctx, const char *text, size_t len)
{
	struct chunks *c = ctx;

	c->n++;
	if (rag_utf8_valid_prefix(text, len) != len)
		c->invalid++;
	rag_buf_add(&c->all, text, len);
	return 0;
}

/*
 * The text rag_lm_generate streams (greedy, n tokens past EOS) equals
 * rag_detokenize of the whole continuation, the ids recomputed here with the
 * decoder, and arrives in whole UTF-8 characters.
 */
static void stream_equals_batch(const char *path, const char *prompt, int n)
{
	struct rag_lm lm;
	struct rag_gen_params p;
	struct rag_gen_result res;
	struct rag_tokens toks;
	struct rag_error err;
	struct rag_buf text, batch;
	struct chunks c;
	int32_t *ids = malloc((size_t)n * sizeof *ids);
	float *logits;
	int64_t nv;

	cr_assert_eq(rag_lm_open(&lm, path, 0, NULL, 0, &err), 0, "%s", err.msg);
	rag_tokens_init(&toks);
	cr_assert_eq(rag_lm_tokenize(&lm, prompt, strlen(prompt), 0, &toks, &err), 0, "%s", err.msg);
	nv = rag_decoder_info(lm.dec)->n_vocab;
	logits = malloc((size_t)nv * sizeof *logits);
	rag_decoder_reset(lm.dec);
	cr_assert_eq(rag_decoder_eval(lm.dec, toks.ids, (int64_t)toks.n, 0, logits, &err), 0, "%s", err.msg);
	for (int i = 0; i < n; i++) {
		ids[i] = golden_argmax(logits, nv);
		cr_assert_eq(rag_decoder_step(lm.dec, ids[i], logits, &err), 0, "%s", err.msg);
	}
	rag_buf_init(&batch);
	cr_assert_eq(rag_detokenize(lm.tok, ids, (size_t)n, 1, &batch, &err), 0, "%s", err.msg);

	rag_gen_params_init(&p);
	p.max_tokens = n;
	p.ignore_eos = 1;
	rag_buf_init(&text);
	memset(&c, 0, sizeof c);
	rag_buf_init(&c.all);
	cr_assert_eq(rag_lm_generate(&lm, &p, toks.ids, toks.n, collect, &c, &text, &res, &err), 0, "%s", err.msg);
	cr_expect_eq(res.completion_tokens, n);
	cr_expect_eq(text.len, batch.len, "%s: streamed %zu bytes, the continuation has %zu", path, text.len,
		     batch.len);
	cr_expect(text.len == batch.len && !memcmp(text.data, batch.data, text.len),
		  "%s: streamed text\n%.*s\nis not the continuation's\n%.*s", path, (int)text.len, text.data,
		  (int)batch.len, batch.data);
	cr_expect(c.all.len == text.len && !memcmp(c.all.data, text.data, text.len), "emitted != returned text");
	cr_expect_eq(c.invalid, 0, "%d of %d chunks are not whole UTF-8 characters", c.invalid, c.n);
	rag_buf_free(&c.all);
	rag_buf_free(&text);
	rag_buf_free(&batch);
	rag_tokens_free(&toks);
	free(logits);
	free(ids);
	rag_lm_close(&lm);
}

/* Byte-level BPE: with 512 tokens, half of them single bytes >= 0x80, the
 * random continuation splits characters across tokens (a character split in
 * two used to come out as two U+FFFD). */
Test(decoders, streamed_text_bytelevel)
{
	char dir[PATH_MAX];
	struct variant v;

	model_dir("tiny-llama", dir, sizeof dir);
	stream_equals_batch(dir, "Once upon a time, in a land far away,", 120);
	model_dir("tiny-qwen3", dir, sizeof dir);
	stream_equals_batch(dir, "The capital of France is", 120);
	/* golden/tiny-llama-linear.json row 0: tokens 145, 241 are the bytes of U+0553 */
	make_variant(&v, "\"rope_parameters\": {\"rope_type\": \"linear\", \"rope_theta\": 50000.0, \"factor\": 4.0}");
	stream_equals_batch(v.dir, "The capital of France is", 16);
	remove_variant(&v);
}

/* SentencePiece ("▁the"): only the continuation's first token loses its prefix
 * space (each streamed token used to lose its own).  tiny-llama's layers with
 * llama.cpp's llama-spm vocabulary and random F16 embeddings for its 32000
 * tokens, written to a temporary GGUF. */
Test(decoders, streamed_text_sentencepiece)
{
	struct rag_gguf *src, *voc, *g;
	struct rag_gguf_builder *b;
	struct rag_error err;
	char dir[PATH_MAX], path[PATH_MAX];
	uint16_t *emb, *out;
	int64_t nv, e = 64, ne[4] = { 64, 0, 1, 1 };
	uint64_t rng = 88172645463325252ull;
	int fd;

	model_dir("tiny-llama", dir, sizeof dir);
	cr_assert_eq(rag_model_open(dir, &src, &err), 0, "%s", err.msg);
	cr_assert_eq(rag_gguf_open(fixture("vocab/ggml-vocab-llama-spm.gguf"), &voc, &err), 0, "%s", err.msg);
	cr_assert(b = rag_gguf_builder_new());
	for (size_t i = 0; i < rag_gguf_n_kv(src); i++)
		if (strncmp(rag_gguf_kv_at(src, i)->key, "tokenizer.", 10))
			rag_gguf_builder_copy_kv(b, rag_gguf_kv_at(src, i));
	for (size_t i = 0; i < rag_gguf_n_kv(voc); i++)
		if (!strncmp(rag_gguf_kv_at(voc, i)->key, "tokenizer.", 10))
			rag_gguf_builder_copy_kv(b, rag_gguf_kv_at(voc, i));
	cr_assert(rag_gguf_find(voc, "tokenizer.ggml.tokens"));
	nv = (int64_t)rag_gguf_find(voc, "tokenizer.ggml.tokens")->n;
	rag_gguf_builder_set_u32(b, "llama.vocab_size", (uint32_t)nv);
	emb = malloc((size_t)(nv * e) * sizeof *emb);
	out = malloc((size_t)(nv * e) * sizeof *out);
	for (int64_t i = 0; i < nv * e; i++) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		emb[i] = rag_f32_to_f16((float)((double)(rng >> 11) / 9007199254740992.0 - 0.5));
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		out[i] = rag_f32_to_f16((float)((double)(rng >> 11) / 9007199254740992.0 - 0.5));
	}
	ne[1] = nv;
	for (size_t i = 0; i < rag_gguf_n_tensors(src); i++) {
		const struct rag_gguf_tensor *t = rag_gguf_tensor_at(src, i);
		if (!strcmp(t->name, "token_embd.weight") || !strcmp(t->name, "output.weight"))
			rag_gguf_builder_add_tensor(b, t->name, 2, ne, RAG_DT_F16,
						    !strcmp(t->name, "output.weight") ? out : emb);
		else
			rag_gguf_builder_add_tensor(b, t->name, t->n_dims, t->ne, t->type, t->data);
	}
	cr_assert_eq(rag_gguf_builder_finish(b, "spm", &g, &err), 0, "%s", err.msg);
	snprintf(path, sizeof path, "%s/ragkit-spm-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	cr_assert((fd = mkstemp(path)) >= 0);
	close(fd);
	cr_assert_eq(rag_gguf_write(g, path, &err), 0, "%s", err.msg);
	rag_gguf_close(g);
	rag_gguf_close(voc);
	rag_gguf_close(src);
	free(emb);
	free(out);
	stream_equals_batch(path, "The capital of France is", 40);
	unlink(path);
}

/* A model with biases on its feed-forward layers (Hugging Face llama's
 * mlp_bias), which the decoder does not compute, is refused by name. */
Test(decoders, ffn_bias_refused)
{
	struct rag_gguf *src, *g;
	struct rag_gguf_builder *b;
	struct rag_decoder *d = NULL;
	struct rag_error err;
	char dir[PATH_MAX];
	static float bias[64];
	int64_t ne[4] = { 64, 1, 1, 1 };

	model_dir("tiny-llama", dir, sizeof dir);
	cr_assert_eq(rag_model_open(dir, &src, &err), 0, "%s", err.msg);
	cr_assert(b = rag_gguf_builder_new());
	for (size_t i = 0; i < rag_gguf_n_kv(src); i++)
		rag_gguf_builder_copy_kv(b, rag_gguf_kv_at(src, i));
	for (size_t i = 0; i < rag_gguf_n_tensors(src); i++) {
		const struct rag_gguf_tensor *t = rag_gguf_tensor_at(src, i);
		rag_gguf_builder_add_tensor(b, t->name, t->n_dims, t->ne, t->type, t->data);
	}
	rag_gguf_builder_add_tensor(b, "blk.1.ffn_down.bias", 1, ne, RAG_DT_F32, bias);
	cr_assert_eq(rag_gguf_builder_finish(b, "ffn-bias", &g, &err), 0, "%s", err.msg);
	cr_expect_eq(rag_decoder_load(g, NULL, &d, &err), RAG_EMODEL);
	cr_expect_null(d);
	cr_expect(strstr(err.msg, "'blk.1.ffn_down.bias'") && strstr(err.msg, "not supported"), "%s", err.msg);
	rag_gguf_close(g);
	rag_gguf_close(src);
}

/* qwen3 needs its per-head q/k norms, sized head_dim (32, not 64/4): a file
 * without one, or with one of the size hidden/heads would have, is refused by
 * name. */
Test(decoders, qwen3_norms_required)
{
	static float w16[16];
	static const struct {
		const char *drop, *want;
		int resize;
	} cases[] = {
		{ "blk.1.attn_k_norm.weight", "'blk.1.attn_k_norm.weight' is missing", 0 },
		{ "blk.0.attn_q_norm.weight", "'blk.0.attn_q_norm.weight' has shape [16, 1], expected [32, 1]", 1 },
	};
	struct rag_gguf *src;
	struct rag_error err;
	char dir[PATH_MAX];

	model_dir("tiny-qwen3", dir, sizeof dir);
	cr_assert_eq(rag_model_open(dir, &src, &err), 0, "%s", err.msg);
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		struct rag_gguf_builder *b = rag_gguf_builder_new();
		struct rag_gguf *g;
		struct rag_decoder *d = NULL;
		int64_t ne[4] = { 16, 1, 1, 1 };
		cr_assert(b);
		for (size_t i = 0; i < rag_gguf_n_kv(src); i++)
			rag_gguf_builder_copy_kv(b, rag_gguf_kv_at(src, i));
		for (size_t i = 0; i < rag_gguf_n_tensors(src); i++) {
			const struct rag_gguf_tensor *t = rag_gguf_tensor_at(src, i);
			if (strcmp(t->name, cases[c].drop))
				rag_gguf_builder_add_tensor(b, t->name, t->n_dims, t->ne, t->type, t->data);
			else if (cases[c].resize)
				rag_gguf_builder_add_tensor(b, t->name, 1, ne, RAG_DT_F32, w16);
		}
		cr_assert_eq(rag_gguf_builder_finish(b, "qwen3-norms", &g, &err), 0, "%s", err.msg);
		cr_expect_eq(rag_decoder_load(g, NULL, &d, &err), RAG_EMODEL, "case %zu", c);
		cr_expect_null(d);
		cr_expect(strstr(err.msg, cases[c].want), "case %zu: %s", c, err.msg);
		rag_gguf_close(g);
	}
	rag_gguf_close(src);
}
