/* gpu-generate.c: the GPU decoder benchmark driver (built and run by
 * bench/gpu-generate.sh), in two modes:
 *
 *   gpu-generate make OUT.gguf TYPE    a random-weight qwen2 GGUF of the
 *       Qwen2.5-0.5B shape (896 hidden, 24 layers, 14 heads, 2 KV heads,
 *       head 64, ffn 4864, vocab 151936, tied embeddings, q/k/v biases), as
 *       bench/generate-make-gguf.py makes, written with ragkit's own GGUF
 *       writer (no Python packages needed).  TYPE F16, Q8_0 or Q4_K_M; the
 *       Q4_K_M mix is llama.cpp's for this shape (Q4_K/Q6_K where rows are
 *       a multiple of 256, its fallbacks Q5_0/Q8_0 elsewhere: ffn_down Q4_K
 *       or Q6_K, attn_v Q5_0 or Q8_0, the rest Q5_0, token_embd Q8_0).
 *       Quantized blocks hold random codes under small fixed scales: the
 *       speed does not depend on the values.
 *
 *   gpu-generate run MODEL [DEVICE REPS DECODE]    rag_decoder (the engine
 *       of rag-generate, with its default 512-token prefill chunks) on DEVICE
 *       (cuda or cpu): prefill of 512 and 2048
 *       token ids, DECODE decode steps from an empty cache and DECODE steps
 *       after a 512-token prompt (each step downloads its logits, as
 *       rag-generate does), best of REPS; prints "key value" lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoder.h"
#include "gguf.h"
#include "gguf_write.h"
#include "kernels.h"
#include "options.h"
#include "progress.h"

#define E 896
#define L 24
#define H 14
#define KV 2
#define HD 64
#define FF 4864
#define V 151936

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static float urand(void)  /* uniform in [-1, 1) */
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p) {
		fprintf(stderr, "gpu-generate: out of memory\n");
		exit(70);
	}
	return p;
}

static void put_half(uint8_t *p, float v)
{
	uint16_t h = rag_f32_to_f16(v);
	memcpy(p, &h, 2);
}

/* n rows of k elements of type t; fills with random weights of std ~0.02. */
static void *matrix(enum rag_dtype t, int64_t n, int64_t k)
{
	size_t rb = rag_dtype_row_size((uint32_t)t, k), bytes = rb * (size_t)n;
	uint8_t *w = xmalloc(bytes);
	const struct rag_dtype_info *info = rag_dtype_info((uint32_t)t);

	if (t == RAG_DT_F16) {
		for (size_t i = 0; i < (size_t)(n * k); i++)
			put_half(w + 2 * i, urand() * 0.035f);
		return w;
	}
	for (size_t i = 0; i < bytes; i++)
		w[i] = (uint8_t)(rng = rng * 6364136223846793005ull + 1442695040888963407ull, rng >> 56);
	for (size_t b = 0; b < bytes / info->size; b++) {
		uint8_t *blk = w + b * info->size;
		switch (t) {
		case RAG_DT_Q8_0: put_half(blk, 0.00027f); break;
		case RAG_DT_Q5_0: put_half(blk, 0.0023f); break;
		case RAG_DT_Q4_K: put_half(blk, 0.00012f); put_half(blk + 2, 0.00012f); break;
		case RAG_DT_Q6_K: put_half(blk + 208, 0.00001f); break;
		default: break;
		}
	}
	return w;
}

static float *vector(int64_t n, float base, float scale)
{
	float *v = xmalloc((size_t)n * sizeof *v);
	for (int64_t i = 0; i < n; i++)
		v[i] = base + urand() * scale;
	return v;
}

static void **owned;
static size_t n_owned;

static void keep(void *p)
{
	owned = realloc(owned, (n_owned + 1) * sizeof *owned);
	if (!owned) {
		fprintf(stderr, "gpu-generate: out of memory\n");
		exit(70);
	}
	owned[n_owned++] = p;
}

static void add_mat(struct rag_gguf_builder *b, const char *name, enum rag_dtype t, int64_t n, int64_t k)
{
	int64_t ne[2] = { k, n };
	void *w = matrix(t, n, k);
	keep(w);
	rag_gguf_builder_add_tensor(b, name, 2, ne, t, w);
}

static void add_vec(struct rag_gguf_builder *b, const char *name, int64_t n, float base, float scale)
{
	int64_t ne[1] = { n };
	float *v = vector(n, base, scale);
	keep(v);
	rag_gguf_builder_add_tensor(b, name, 1, ne, RAG_DT_F32, v);
}

/* llama.cpp's use_more_bits for Q4_K_M: the first and last eighth, every third between. */
static int more_bits(int i, int n)
{
	return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static int make(const char *out, const char *type)
{
	struct rag_gguf_builder *b = rag_gguf_builder_new();
	struct rag_gguf *g;
	struct rag_error err;
	int q4km = !strcmp(type, "Q4_K_M");
	enum rag_dtype t = !strcmp(type, "F16") ? RAG_DT_F16 : RAG_DT_Q8_0;
	char nm[96];

	if (!b)
		return 70;
	if (strcmp(type, "F16") && strcmp(type, "Q8_0") && !q4km) {
		fprintf(stderr, "gpu-generate: TYPE must be F16, Q8_0 or Q4_K_M\n");
		return 64;
	}
	rag_gguf_builder_set_str(b, "general.architecture", "qwen2");
	rag_gguf_builder_set_str(b, "general.name", "bench-qwen2.5-0.5b-shape-random");
	rag_gguf_builder_set_u32(b, "qwen2.context_length", 32768);
	rag_gguf_builder_set_u32(b, "qwen2.embedding_length", E);
	rag_gguf_builder_set_u32(b, "qwen2.block_count", L);
	rag_gguf_builder_set_u32(b, "qwen2.feed_forward_length", FF);
	rag_gguf_builder_set_u32(b, "qwen2.attention.head_count", H);
	rag_gguf_builder_set_u32(b, "qwen2.attention.head_count_kv", KV);
	rag_gguf_builder_set_f32(b, "qwen2.rope.freq_base", 1000000.0f);
	rag_gguf_builder_set_f32(b, "qwen2.attention.layer_norm_rms_epsilon", 1e-6f);
	rag_gguf_builder_set_u32(b, "general.file_type", q4km ? 15 : t == RAG_DT_F16 ? 1 : 7);
	add_mat(b, "token_embd.weight", q4km ? RAG_DT_Q8_0 : t, V, E);
	add_vec(b, "output_norm.weight", E, 1.0f, 0.03f);
	for (int l = 0; l < L; l++) {
#define N(s) (snprintf(nm, sizeof nm, "blk.%d.%s", l, s), nm)
		enum rag_dtype small = q4km ? RAG_DT_Q5_0 : t;
		add_vec(b, N("attn_norm.weight"), E, 1.0f, 0.03f);
		add_mat(b, N("attn_q.weight"), small, H * HD, E);
		add_vec(b, N("attn_q.bias"), H * HD, 0.0f, 0.03f);
		add_mat(b, N("attn_k.weight"), small, KV * HD, E);
		add_vec(b, N("attn_k.bias"), KV * HD, 0.0f, 0.03f);
		add_mat(b, N("attn_v.weight"), q4km ? (more_bits(l, L) ? RAG_DT_Q8_0 : RAG_DT_Q5_0) : t, KV * HD, E);
		add_vec(b, N("attn_v.bias"), KV * HD, 0.0f, 0.03f);
		add_mat(b, N("attn_output.weight"), small, E, H * HD);
		add_vec(b, N("ffn_norm.weight"), E, 1.0f, 0.03f);
		add_mat(b, N("ffn_gate.weight"), small, FF, E);
		add_mat(b, N("ffn_up.weight"), small, FF, E);
		add_mat(b, N("ffn_down.weight"), q4km ? (more_bits(l, L) ? RAG_DT_Q6_K : RAG_DT_Q4_K) : t, E, FF);
#undef N
	}
	if (rag_gguf_builder_finish(b, out, &g, &err) || rag_gguf_write(g, out, &err)) {
		fprintf(stderr, "gpu-generate: %s\n", err.msg);
		return 74;
	}
	rag_gguf_close(g);
	for (size_t i = 0; i < n_owned; i++)
		free(owned[i]);
	free(owned);
	printf("wrote %s (%s)\n", out, type);
	return 0;
}

static int run(const char *model, int cuda, int reps, int n_dec)
{
	struct rag_gguf *g;
	struct rag_decoder *d;
	struct rag_decoder_params p = { 0 };
	struct rag_error err;
	const int prefills[2] = { 512, 2048 };
	int32_t *ids;
	float *logits;

	p.cuda = cuda;
	p.n_ctx = 2048 + n_dec + 8;
	if (rag_gguf_open(model, &g, &err) || rag_decoder_load(g, &p, &d, &err)) {
		fprintf(stderr, "gpu-generate: %s\n", err.msg);
		return 78;
	}
	ids = xmalloc(2048 * sizeof *ids);
	logits = xmalloc((size_t)rag_decoder_info(d)->n_vocab * sizeof *logits);
	for (int i = 0; i < 2048; i++)
		ids[i] = (int32_t)((i * 7919 + 11) % 50000);
	/* a warm-up pass: first-use costs (GEMM heuristics, lazy module loading) */
	rag_decoder_reset(d);
	if (rag_decoder_eval(d, ids, 2048, 0, logits, &err) || rag_decoder_step(d, 42, logits, &err))
		goto fail;
	for (int pi = 0; pi < 2; pi++) {
		double best = 1e30;
		for (int r = 0; r < reps; r++) {
			double t0;
			rag_decoder_reset(d);
			t0 = rag_now();
			if (rag_decoder_eval(d, ids, prefills[pi], 0, logits, &err))
				goto fail;
			if (rag_now() - t0 < best)
				best = rag_now() - t0;
		}
		printf("prefill%d_tps %.1f\n", prefills[pi], prefills[pi] / best);
	}
	for (int ctx = 0; ctx < 2; ctx++) {
		double best = 1e30;
		for (int r = 0; r < reps; r++) {
			double t0;
			int32_t tok = 42;
			rag_decoder_reset(d);
			if (ctx && rag_decoder_eval(d, ids, 512, 0, logits, &err))
				goto fail;
			t0 = rag_now();
			for (int i = 0; i < n_dec; i++)
				if (rag_decoder_step(d, tok, logits, &err))
					goto fail;
			if (rag_now() - t0 < best)
				best = rag_now() - t0;
		}
		printf("%s %.1f\n", ctx ? "decode_after512_tps" : "decode_tps", n_dec / best);
	}
	rag_decoder_free(d);
	rag_gguf_close(g);
	free(ids);
	free(logits);
	return 0;
fail:
	fprintf(stderr, "gpu-generate: %s\n", err.msg);
	return 70;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "make"))
		return make(argv[2], argv[3]);
	if (argc >= 3 && !strcmp(argv[1], "run"))
		return run(argv[2], argc > 3 ? strcmp(argv[3], "cpu") != 0 : 1, argc > 4 ? atoi(argv[4]) : 3,
			   argc > 5 ? atoi(argv[5]) : 128);
	fprintf(stderr, "usage: gpu-generate make OUT.gguf F16|Q8_0|Q4_K_M\n"
			"       gpu-generate run MODEL [cuda|cpu [REPS [DECODE]]]\n");
	return 64;
}
