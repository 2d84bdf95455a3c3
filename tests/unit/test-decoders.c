/* test-decoders.c: the llama and qwen3 decoder paths against their own Hugging
 * Face references (tests/data/decoders: tiny-llama with llama3 RoPE scaling,
 * GQA and an untied output; tiny-qwen3 with q/k norms and head_dim 32 != 64/4),
 * read as directories and after rag_gguf_retype to F32, F16, BF16 and Q8_0 (what
 * rag-model convert writes), within the fixture README's tolerances; linear RoPE
 * scaling and the older rope_scaling key; scalings ragkit does not run are
 * refused by name. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "decoder.h"
#include "gguf.h"
#include "gguf_write.h"
#include "hfmodel.h"
#include "modelinfo.h"
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
