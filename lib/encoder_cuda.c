/* encoder_cuda.c: the BERT-family encoder on the GPU: weight upload, batch
 * plan, the forward pass on one stream, double-buffered pinned input/output. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "device.h"
#include "encoder_cuda.h"
#include "kernels.h"

size_t rag_encoder_batches(const size_t *len, size_t n, size_t budget, size_t max_seqs, size_t *start)
{
	size_t nb = 0, s0 = 0;

	if (!budget)
		budget = 16384;
	while (s0 < n) {
		size_t s1 = s0, t = 0;
		while (s1 < n && (s1 == s0 || (t + len[s1] <= budget && (!max_seqs || s1 - s0 < max_seqs))))
			t += len[s1++];
		start[nb++] = s0;
		s0 = s1;
	}
	start[nb] = n;
	return nb;
}

#ifndef RAG_HAVE_CUDA

int rag_encoder_cuda_load(const struct rag_gguf *g, const struct rag_encoder_shape *shape,
			  struct rag_encoder_cuda **out, struct rag_error *err)
{
	(void)g; (void)shape;
	*out = NULL;
	return rag_error_set(err, RAG_EUNAVAILABLE, "ragkit was built without CUDA: no GPU encoders");
}

void rag_encoder_cuda_free(struct rag_encoder_cuda *c) { (void)c; }

int rag_encoder_cuda_run(struct rag_encoder_cuda *c, const struct rag_enc_seq *seqs, size_t n_seq,
			 size_t batch_tokens, enum rag_pooling pool, int normalize, float *out,
			 struct rag_error *err)
{
	(void)c; (void)seqs; (void)n_seq; (void)batch_tokens; (void)pool; (void)normalize; (void)out;
	return rag_error_set(err, RAG_EUNAVAILABLE, "ragkit was built without CUDA: no GPU encoders");
}

#else

#include <cuda_runtime_api.h>

#include "cuda_check.h"

struct dlayer {
	uint16_t *qkv, *o, *up, *down;              /* half, [n][k] */
	float *qkv_b, *o_b, *up_b, *down_b, *ln1_g, *ln1_b, *ln2_g, *ln2_b;
	uint16_t *qkv_b16, *up_b16;                 /* half copies for the half-output products */
};

struct rag_encoder_cuda {
	struct rag_encoder_shape s;
	void *tok, *pos, *typ;                      /* embedding tables in their file types */
	enum rag_dtype tok_t, pos_t, typ_t;
	float *emb_g, *emb_b;
	struct dlayer *L;
	float *pool_w, *pool_b, *cls_w, *cls_b;     /* cross-encoder head, float32 */
	struct rag_cuda_blas *blas;
	cudaStream_t st;
	cudaEvent_t done[2];
	int n_events;
	/*
	 * Scratch for one batch in three groups, each grown on its own (see
	 * grow): the activations (cap_tok tokens), the packed inputs (cap_in
	 * int32s: ids, positions, types, offsets) and the outputs (cap_out
	 * floats: a row per token without pooling, else a row per sequence).
	 * The inputs and outputs have two pinned host copies each.
	 */
	int64_t cap_tok, cap_in, cap_out;
	float *x, *qkv, *att, *tmp, *ff, *dout;
	uint16_t *h16, *a16;                        /* h16: Q|K|V or the FFN (half); a16: x or attention (half) */
	int half_path;                              /* activations in half between products (see forward) */
	int32_t *din;
	int32_t *pin_in[2];
	float *pin_out[2];
};

#define CU(stmt) RAG_GPU_CU("GPU encoder", stmt)
#define OP(expr) RAG_GPU_OP("GPU encoder", expr)

static void act_free(struct rag_encoder_cuda *c)
{
	rag_cuda_free(c->x); rag_cuda_free(c->qkv); rag_cuda_free(c->att); rag_cuda_free(c->tmp);
	rag_cuda_free(c->ff); rag_cuda_free(c->h16); rag_cuda_free(c->a16);
	c->x = c->qkv = c->att = c->tmp = c->ff = NULL;
	c->h16 = c->a16 = NULL;
	c->cap_tok = 0;
}

/* A device buffer and its two pinned host copies. */
static void io_free(void **dev, void **pin, int64_t *cap)
{
	rag_cuda_free(*dev);
	*dev = NULL;
	for (int i = 0; i < 2; i++) {
		if (pin[i])
			cudaFreeHost(pin[i]);
		pin[i] = NULL;
	}
	*cap = 0;
}

static void scratch_free(struct rag_encoder_cuda *c)
{
	act_free(c);
	io_free((void **)&c->din, (void **)c->pin_in, &c->cap_in);
	io_free((void **)&c->dout, (void **)c->pin_out, &c->cap_out);
}

void rag_encoder_cuda_free(struct rag_encoder_cuda *c)
{
	if (!c)
		return;
	if (c->st)
		cudaStreamSynchronize(c->st);
	scratch_free(c);
	for (int64_t il = 0; c->L && il < c->s.n_layer; il++) {
		struct dlayer *L = &c->L[il];
		rag_cuda_free(L->qkv); rag_cuda_free(L->o); rag_cuda_free(L->up); rag_cuda_free(L->down);
		rag_cuda_free(L->qkv_b); rag_cuda_free(L->o_b); rag_cuda_free(L->up_b); rag_cuda_free(L->down_b);
		rag_cuda_free(L->ln1_g); rag_cuda_free(L->ln1_b); rag_cuda_free(L->ln2_g); rag_cuda_free(L->ln2_b);
		rag_cuda_free(L->qkv_b16); rag_cuda_free(L->up_b16);
	}
	rag_free(c->L);
	rag_cuda_free(c->tok); rag_cuda_free(c->pos); rag_cuda_free(c->typ);
	rag_cuda_free(c->emb_g); rag_cuda_free(c->emb_b);
	rag_cuda_free(c->pool_w); rag_cuda_free(c->pool_b); rag_cuda_free(c->cls_w); rag_cuda_free(c->cls_b);
	rag_cuda_blas_free(c->blas);
	for (int i = 0; i < c->n_events; i++)
		cudaEventDestroy(c->done[i]);
	if (c->st)
		cudaStreamDestroy(c->st);
	rag_free(c);
}

/* The raw bytes of a tensor on the device (freed by the caller). */
static int up_raw(const struct rag_gguf_tensor *t, void **d, struct rag_error *err)
{
	*d = NULL;
	if (rag_cuda_malloc(d, (size_t)t->nbytes) || rag_cuda_upload(*d, t->data, (size_t)t->nbytes)) {
		rag_cuda_free(*d);
		*d = NULL;
		return rag_error_set(err, RAG_EUNAVAILABLE, "GPU encoder: uploading '%s': %s", t->name,
				     rag_cuda_last_error());
	}
	return 0;
}

static const struct rag_gguf_tensor *tensor(const struct rag_gguf *g, const char *name, struct rag_error *err)
{
	const struct rag_gguf_tensor *t = rag_gguf_find_tensor(g, name);
	if (!t)
		rag_error_set(err, RAG_EMODEL, "GPU encoder: tensor '%s' missing", name);
	return t;
}

/* A tensor as float32 on the device (any type rag_cuda_dequant handles). */
static int up_f32(const struct rag_gguf *g, const char *name, float **d, struct rag_error *err)
{
	const struct rag_gguf_tensor *t = tensor(g, name, err);
	int64_t k, rows;
	void *raw;

	*d = NULL;
	if (!t)
		return RAG_EMODEL;
	k = t->ne[0];
	rows = (int64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
	if (up_raw(t, &raw, err))
		return RAG_EUNAVAILABLE;
	if (rag_cuda_malloc((void **)d, (size_t)(rows * k) * sizeof(float)) ||
	    rag_cuda_dequant(t->type, raw, *d, rows, k, NULL) || rag_cuda_sync()) {
		rag_cuda_free(raw);
		rag_cuda_free(*d);
		*d = NULL;
		return rag_error_set(err, RAG_EUNAVAILABLE, "GPU encoder: '%s': %s", name, rag_cuda_last_error());
	}
	rag_cuda_free(raw);
	return 0;
}

/* A [rows][k] matrix as half at dst (dequantized on the GPU through scratch). */
static int up_f16(const struct rag_gguf *g, const char *name, uint16_t *dst, struct rag_error *err)
{
	const struct rag_gguf_tensor *t = tensor(g, name, err);
	float *scratch = NULL;
	void *raw;
	int64_t k, rows;
	int bad;

	if (!t)
		return RAG_EMODEL;
	k = t->ne[0];
	rows = t->ne[1];
	if (up_raw(t, &raw, err))
		return RAG_EUNAVAILABLE;
	bad = (t->type != RAG_DT_F32 && t->type != RAG_DT_F16 &&
	       rag_cuda_malloc((void **)&scratch, (size_t)(rows * k) * sizeof(float))) ||
	      rag_cuda_weight_f16(dst, raw, t->type, rows, k, scratch, NULL) || rag_cuda_sync();
	rag_cuda_free(raw);
	rag_cuda_free(scratch);
	if (bad)
		return rag_error_set(err, RAG_EUNAVAILABLE, "GPU encoder: '%s': %s", name, rag_cuda_last_error());
	return 0;
}

static int alloc16(uint16_t **p, int64_t n, struct rag_error *err)
{
	if (rag_cuda_malloc((void **)p, (size_t)n * 2))
		return rag_error_set(err, RAG_EUNAVAILABLE, "GPU encoder: %s", rag_cuda_last_error());
	return 0;
}

/* Concatenate three bias vectors of d floats on the device. */
static int up_qkv_bias(const struct rag_gguf *g, int64_t il, int64_t d, float **dst, struct rag_error *err)
{
	static const char *const part[3] = { "attn_q", "attn_k", "attn_v" };
	char name[96];
	int rc;

	if (rag_cuda_malloc((void **)dst, (size_t)(3 * d) * sizeof(float)))
		return rag_error_set(err, RAG_EUNAVAILABLE, "GPU encoder: %s", rag_cuda_last_error());
	for (int p = 0; p < 3; p++) {
		float *b;
		snprintf(name, sizeof name, "blk.%lld.%s.bias", (long long)il, part[p]);
		if ((rc = up_f32(g, name, &b, err)))
			return rc;
		rc = cudaMemcpy(*dst + p * d, b, (size_t)d * sizeof(float), cudaMemcpyDeviceToDevice) != cudaSuccess;
		rag_cuda_free(b);
		if (rc)
			return rag_error_set(err, RAG_EUNAVAILABLE, "GPU encoder: copying the %s bias", part[p]);
	}
	return 0;
}

/* A half copy of n device floats. */
static int half_copy(const float *src, int64_t n, uint16_t **dst, struct rag_error *err)
{
	int rc;
	if ((rc = alloc16(dst, n, err)))
		return rc;
	if (rag_cuda_f32_to_f16(*dst, src, n, NULL) || rag_cuda_sync())
		return rag_error_set(err, RAG_EUNAVAILABLE, "GPU encoder: %s", rag_cuda_last_error());
	return 0;
}

static int load_layer(const struct rag_gguf *g, int64_t il, const struct rag_encoder_shape *s, struct dlayer *L,
		      struct rag_error *err)
{
	static const char *const part[3] = { "attn_q", "attn_k", "attn_v" };
	int64_t d = s->d, f = s->n_ff;
	char name[96];
	int rc;

#define BLK(x) (snprintf(name, sizeof name, "blk.%lld." x, (long long)il), name)
	if ((rc = alloc16(&L->qkv, 3 * d * d, err)) || (rc = alloc16(&L->o, d * d, err)) ||
	    (rc = alloc16(&L->up, f * d, err)) || (rc = alloc16(&L->down, d * f, err)))
		return rc;
	for (int p = 0; p < 3; p++) {
		snprintf(name, sizeof name, "blk.%lld.%s.weight", (long long)il, part[p]);
		if ((rc = up_f16(g, name, L->qkv + p * d * d, err)))
			return rc;
	}
	if ((rc = up_qkv_bias(g, il, d, &L->qkv_b, err)) ||
	    (rc = up_f16(g, BLK("attn_output.weight"), L->o, err)) ||
	    (rc = up_f32(g, BLK("attn_output.bias"), &L->o_b, err)) ||
	    (rc = up_f32(g, BLK("attn_output_norm.weight"), &L->ln1_g, err)) ||
	    (rc = up_f32(g, BLK("attn_output_norm.bias"), &L->ln1_b, err)) ||
	    (rc = up_f16(g, BLK("ffn_up.weight"), L->up, err)) ||
	    (rc = up_f32(g, BLK("ffn_up.bias"), &L->up_b, err)) ||
	    (rc = up_f16(g, BLK("ffn_down.weight"), L->down, err)) ||
	    (rc = up_f32(g, BLK("ffn_down.bias"), &L->down_b, err)) ||
	    (rc = up_f32(g, BLK("layer_output_norm.weight"), &L->ln2_g, err)) ||
	    (rc = up_f32(g, BLK("layer_output_norm.bias"), &L->ln2_b, err)) ||
	    (rc = half_copy(L->qkv_b, 3 * d, &L->qkv_b16, err)) || (rc = half_copy(L->up_b, f, &L->up_b16, err)))
		return rc;
#undef BLK
	return 0;
}

int rag_encoder_cuda_load(const struct rag_gguf *g, const struct rag_encoder_shape *shape,
			  struct rag_encoder_cuda **out, struct rag_error *err)
{
	struct rag_encoder_cuda *c;
	const struct rag_gguf_tensor *t;
	int rc = 0;

	*out = NULL;
	if (rag_gpu_count(NULL, 0) <= 0)
		return rag_error_set(err, RAG_EUNAVAILABLE, "no CUDA device");
	if (shape->d % shape->n_head || shape->d / shape->n_head > 128)
		return rag_error_set(err, RAG_EUNAVAILABLE, "GPU encoder: head size %lld above 128",
				     (long long)(shape->d / shape->n_head));
	if (!(c = rag_calloc(1, sizeof *c)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	c->s = *shape;
	{
		/* the half path's kernels need 16-byte aligned rows and heads (and pairs for GELU) */
		int64_t d = shape->d, hd = shape->d / shape->n_head;
		c->half_path = d % 8 == 0 && hd % 8 == 0 && shape->n_ff % 2 == 0 && !getenv("RAG_CUDA_F32_ACTIVATIONS");
	}
	CU(cudaStreamCreateWithFlags(&c->st, cudaStreamNonBlocking));
	for (; c->n_events < 2; c->n_events++)
		CU(cudaEventCreateWithFlags(&c->done[c->n_events], cudaEventDisableTiming));
	OP(rag_cuda_blas_create(&c->blas));
	if (!(t = tensor(g, "token_embd.weight", err)) || (rc = up_raw(t, &c->tok, err)))
		goto out_code;
	c->tok_t = t->type;
	if (!(t = tensor(g, "position_embd.weight", err)) || (rc = up_raw(t, &c->pos, err)))
		goto out_code;
	c->pos_t = t->type;
	if (!(t = tensor(g, "token_types.weight", err)) || (rc = up_raw(t, &c->typ, err)))
		goto out_code;
	c->typ_t = t->type;
	if ((rc = up_f32(g, "token_embd_norm.weight", &c->emb_g, err)) ||
	    (rc = up_f32(g, "token_embd_norm.bias", &c->emb_b, err)))
		goto out;
	if (!(c->L = rag_calloc((size_t)c->s.n_layer, sizeof *c->L))) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
	for (int64_t il = 0; il < c->s.n_layer; il++)
		if ((rc = load_layer(g, il, &c->s, &c->L[il], err)))
			goto out;
	if (c->s.n_labels > 0 &&
	    ((rc = up_f32(g, "cls.weight", &c->pool_w, err)) || (rc = up_f32(g, "cls.bias", &c->pool_b, err)) ||
	     (rc = up_f32(g, "cls.output.weight", &c->cls_w, err)) ||
	     (rc = up_f32(g, "cls.output.bias", &c->cls_b, err))))
		goto out;
	*out = c;
	return RAG_OK;
out_code:
	if (!rc)
		rc = err ? err->code : RAG_EMODEL;
out:
	rag_encoder_cuda_free(c);
	return rc ? rc : RAG_EUNAVAILABLE;
}

/* Room for n elements of size in a device buffer and its two pinned copies. */
static int io_grow(void **dev, void **pin, int64_t *cap, int64_t n, size_t size, struct rag_error *err)
{
	int rc = 0;

	if (n <= *cap)
		return 0;
	io_free(dev, pin, cap);
	OP(rag_cuda_malloc(dev, (size_t)n * size));
	for (int i = 0; i < 2; i++)
		CU(cudaMallocHost(&pin[i], (size_t)n * size));
	*cap = n;
	return 0;
out:
	io_free(dev, pin, cap);
	return rc;
}

/*
 * Room for a batch of n_tok tokens, n_in packed input int32s and n_out
 * output floats.  Only a group that is too small is reallocated, so a
 * pooled batch pins a row per sequence for its output, not one per token.
 */
static int grow(struct rag_encoder_cuda *c, int64_t n_tok, int64_t n_in, int64_t n_out, struct rag_error *err)
{
	int64_t d = c->s.d, f = c->s.n_ff, wide = f > 3 * d ? f : 3 * d;
	int rc = 0;

	if (n_tok <= c->cap_tok && n_in <= c->cap_in && n_out <= c->cap_out)
		return 0;
	CU(cudaStreamSynchronize(c->st));
	if (n_tok > c->cap_tok) {
		act_free(c);
		OP(rag_cuda_malloc((void **)&c->x, (size_t)(n_tok * d) * 4) ||
		   (!c->half_path && rag_cuda_malloc((void **)&c->qkv, (size_t)(n_tok * 3 * d) * 4)) ||
		   rag_cuda_malloc((void **)&c->att, (size_t)(n_tok * d) * 4) ||
		   rag_cuda_malloc((void **)&c->tmp, (size_t)(n_tok * d) * 4) ||
		   (!c->half_path && rag_cuda_malloc((void **)&c->ff, (size_t)(n_tok * f) * 4)) ||
		   (c->half_path && rag_cuda_malloc((void **)&c->a16, (size_t)(n_tok * d) * 2)) ||
		   rag_cuda_malloc((void **)&c->h16, (size_t)(n_tok * wide) * 2));
		c->cap_tok = n_tok;
	}
	if ((rc = io_grow((void **)&c->din, (void **)c->pin_in, &c->cap_in, n_in, sizeof(int32_t), err)) ||
	    (rc = io_grow((void **)&c->dout, (void **)c->pin_out, &c->cap_out, n_out, sizeof(float), err)))
		goto out;
	return 0;
out:
	scratch_free(c);
	return rc;
}

/* y (float32, rows x n) = x (float32, rows x k) W^T + b with W half: x rounded to half first. */
static int mm(struct rag_encoder_cuda *c, float *y, const float *x, const uint16_t *w, const float *b, int64_t rows,
	      int64_t n, int64_t k)
{
	return rag_cuda_f32_to_f16(c->h16, x, rows * k, c->st) ||
	       rag_cuda_gemm_f16(c->blas, y, c->h16, w, b, rows, n, k, c->st);
}

/*
 * One layer with half activations between the products: x (float32, the
 * residual stream) and its half copy a16 come from the previous norm; Q|K|V
 * and the FFN hidden layer are half (h16) straight out of cuBLASLt with the
 * bias fused; attention reads and writes half on tensor cores; the products
 * that feed a residual add (attention output, FFN down) stay float32.
 */
static int layer_half(struct rag_encoder_cuda *c, const struct dlayer *L, int64_t T, int64_t ns, int64_t max_len,
		      const int32_t *off)
{
	int64_t d = c->s.d, f = c->s.n_ff, hd = d / c->s.n_head;
	float eps = c->s.eps;
	void *st = c->st;

	return rag_cuda_gemm_h(c->blas, c->h16, c->a16, L->qkv, L->qkv_b16, T, 3 * d, d, st) ||
	       rag_cuda_attention_h(c->a16, c->h16, c->h16 + d, c->h16 + 2 * d, 3 * d, off, ns, max_len, c->s.n_head,
				    hd, 1.0f / sqrtf((float)hd), st) ||
	       rag_cuda_gemm_f16(c->blas, c->tmp, c->a16, L->o, L->o_b, T, d, d, st) ||
	       rag_cuda_layernorm_h(c->x, c->a16, c->tmp, c->x, L->ln1_g, L->ln1_b, T, d, eps, st) ||
	       rag_cuda_gemm_h(c->blas, c->h16, c->a16, L->up, L->up_b16, T, f, d, st) ||
	       rag_cuda_gelu_h(c->h16, c->h16, T * f, st) ||
	       rag_cuda_gemm_f16(c->blas, c->tmp, c->h16, L->down, L->down_b, T, d, f, st) ||
	       rag_cuda_layernorm_h(c->x, c->a16, c->tmp, c->x, L->ln2_g, L->ln2_b, T, d, eps, st);
}

/* The forward pass of one packed batch whose inputs are in c->din; result in c->dout. */
static int forward(struct rag_encoder_cuda *c, int64_t T, int64_t ns, int64_t max_len, enum rag_pooling pool,
		   int normalize)
{
	int64_t d = c->s.d, f = c->s.n_ff, hd = d / c->s.n_head;
	int32_t *ids = c->din, *pos = ids + T, *typ = pos + T, *off = typ + T;
	float eps = c->s.eps;
	void *st = c->st;

	if (rag_cuda_embed_rows(c->x, c->tok, c->tok_t, d, ids, T, 0, st) ||
	    rag_cuda_embed_rows(c->x, c->pos, c->pos_t, d, pos, T, 1, st) ||
	    rag_cuda_embed_rows(c->x, c->typ, c->typ_t, d, typ, T, 1, st) ||
	    rag_cuda_layernorm_h(c->x, c->a16, c->x, NULL, c->emb_g, c->emb_b, T, d, eps, st))
		return -1;
	for (int64_t il = 0; il < c->s.n_layer; il++) {
		struct dlayer *L = &c->L[il];
		if (c->half_path) {
			if (layer_half(c, L, T, ns, max_len, off))
				return -1;
			continue;
		}
		if (mm(c, c->qkv, c->x, L->qkv, L->qkv_b, T, 3 * d, d) ||
		    rag_cuda_attention(c->att, c->qkv, c->qkv + d, c->qkv + 2 * d, 3 * d, off, ns, max_len,
				       c->s.n_head, hd, 1.0f / sqrtf((float)hd), st) ||
		    mm(c, c->tmp, c->att, L->o, L->o_b, T, d, d) ||
		    rag_cuda_layernorm(c->x, c->tmp, c->x, L->ln1_g, L->ln1_b, T, d, eps, st) ||
		    mm(c, c->ff, c->x, L->up, L->up_b, T, f, d) || rag_cuda_gelu(c->ff, c->ff, T * f, st) ||
		    mm(c, c->tmp, c->ff, L->down, L->down_b, T, d, f) ||
		    rag_cuda_layernorm(c->x, c->tmp, c->x, L->ln2_g, L->ln2_b, T, d, eps, st))
			return -1;
	}
	switch (pool) {
	case RAG_POOL_NONE:
		if (cudaMemcpyAsync(c->dout, c->x, (size_t)(T * d) * 4, cudaMemcpyDeviceToDevice, c->st) != cudaSuccess)
			return -1;
		return normalize ? rag_cuda_l2_normalize(c->dout, T, d, st) : 0;
	case RAG_POOL_RANK:
		/* the head in float32: the logits are the output, no half rounding */
		return rag_cuda_pool(c->att, c->x, off, ns, d, RAG_POOL_CLS, st) ||
		       rag_cuda_gemm(c->blas, c->tmp, c->att, c->pool_w, 0, c->pool_b, ns, d, d, st) ||
		       rag_cuda_tanh(c->tmp, c->tmp, ns * d, st) ||
		       rag_cuda_gemm(c->blas, c->dout, c->tmp, c->cls_w, 0, c->cls_b, ns, c->s.n_labels, d, st);
	default:
		if (rag_cuda_pool(c->dout, c->x, off, ns, d, pool, st))
			return -1;
		return normalize ? rag_cuda_l2_normalize(c->dout, ns, d, st) : 0;
	}
}

int rag_encoder_cuda_run(struct rag_encoder_cuda *c, const struct rag_enc_seq *seqs, size_t n_seq,
			 size_t batch_tokens, enum rag_pooling pool, int normalize, float *out,
			 struct rag_error *err)
{
	size_t *len = NULL, *start = NULL, nb, row0[2] = { 0, 0 }, rows[2] = { 0, 0 }, out_row = 0;
	int64_t max_tok = 0, max_in = 0, max_out = 0, d = c->s.d;
	size_t width = pool == RAG_POOL_RANK ? (size_t)c->s.n_labels : (size_t)d;
	int rc = RAG_OK;

	if (n_seq == 0)
		return RAG_OK;
	if (!(len = rag_malloc(n_seq * sizeof *len)) || !(start = rag_malloc((n_seq + 1) * sizeof *start))) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
	for (size_t s = 0; s < n_seq; s++)
		len[s] = seqs[s].n;
	nb = rag_encoder_batches(len, n_seq, batch_tokens ? batch_tokens : 16384, 65535, start);
	for (size_t b = 0; b < nb; b++) {
		int64_t t = 0, ns = (int64_t)(start[b + 1] - start[b]), n_out;
		for (size_t s = start[b]; s < start[b + 1]; s++)
			t += (int64_t)len[s];
		n_out = (pool == RAG_POOL_NONE ? t : ns) * (int64_t)width;
		if (t > max_tok)
			max_tok = t;
		if (3 * t + ns + 1 > max_in)
			max_in = 3 * t + ns + 1;
		if (n_out > max_out)
			max_out = n_out;
	}
	if ((rc = grow(c, max_tok, max_in, max_out, err)))
		goto out;
	for (size_t b = 0; b <= nb + 1; b++) {
		int slot = (int)(b & 1);
		/* batch b-2 used this slot: wait for it and hand its rows out */
		if (b >= 2) {
			CU(cudaEventSynchronize(c->done[slot]));
			memcpy(out + row0[slot] * width, c->pin_out[slot], rows[slot] * width * sizeof(float));
		}
		if (b < nb) {
			size_t s0 = start[b], s1 = start[b + 1], ns = s1 - s0;
			int64_t T = 0, max_len = 0, t = 0;
			int32_t *in = c->pin_in[slot], *ids, *pos, *typ, *off;
			for (size_t s = s0; s < s1; s++) {
				T += (int64_t)len[s];
				if ((int64_t)len[s] > max_len)
					max_len = (int64_t)len[s];
			}
			ids = in; pos = ids + T; typ = pos + T; off = typ + T;
			off[0] = 0;
			for (size_t s = s0; s < s1; s++) {
				for (size_t i = 0; i < len[s]; i++, t++) {
					ids[t] = seqs[s].ids[i];
					pos[t] = (int32_t)i;
					typ[t] = seqs[s].types ? seqs[s].types[i] : 0;
				}
				off[s - s0 + 1] = (int32_t)t;
			}
			CU(cudaMemcpyAsync(c->din, in, (size_t)(3 * T + (int64_t)ns + 1) * 4, cudaMemcpyHostToDevice, c->st));
			OP(forward(c, T, (int64_t)ns, max_len, pool, normalize));
			rows[slot] = pool == RAG_POOL_NONE ? (size_t)T : ns;
			row0[slot] = pool == RAG_POOL_NONE ? out_row : s0;
			out_row += (size_t)T;
			CU(cudaMemcpyAsync(c->pin_out[slot], c->dout, rows[slot] * width * sizeof(float),
					   cudaMemcpyDeviceToHost, c->st));
			CU(cudaEventRecord(c->done[slot], c->st));
		}
	}
out:
	if (rc)
		cudaStreamSynchronize(c->st);
	rag_free(len);
	rag_free(start);
	return rc;
}

#endif
