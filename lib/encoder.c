/* encoder.c: BERT forward pass (embeddings, post-LN transformer blocks, pooling, classifier head). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "encoder.h"
#include "encoder_cuda.h"

/* A weight matrix of n rows of k elements (GGUF ne0 = k, ne1 = n). */
struct enc_mat {
	const void *w;
	enum rag_dtype type;
	float *owned;   /* f32 copy when cached (w then points here) */
	int64_t n, k;
};

struct enc_layer {
	struct enc_mat qkv;    /* fused Q, K, V: 3d rows of d */
	float *qkv_b;          /* 3d, owned */
	struct enc_mat o, up, down;
	float *o_b, *up_b, *down_b;
	float *ln1_g, *ln1_b, *ln2_g, *ln2_b;
};

struct rag_encoder {
	int64_t d, n_head, n_layer, n_ff, n_ctx, n_vocab, n_types, n_labels;
	float eps;
	enum rag_pooling pooling;
	const struct rag_gguf_tensor *tok, *pos, *typ;
	float *emb_ln_g, *emb_ln_b;
	struct enc_layer *layers;
	struct enc_mat pool_w, cls_w;    /* cross-encoder head */
	float *pool_b, *cls_b;
	/* owned small vectors, freed at the end */
	float **vecs;
	size_t n_vecs;
	/* scratch, grown on demand */
	float *x, *qkv, *att, *tmp, *ff;
	int32_t *pos_ids, *type_ids, *all_ids, *off;
	int64_t cap_tokens, cap_seqs;
	struct rag_encoder_cuda *gpu;   /* set when loaded with opts->cuda (encoder_cuda.c) */
};

static const char *path_of(const struct rag_gguf *g)
{
	const char *p = rag_gguf_path(g);
	return p ? p : "model";
}

static int keep_vec(struct rag_encoder *e, float *v)
{
	float **nv = rag_reallocarray(e->vecs, e->n_vecs + 1, sizeof *nv);
	if (!nv)
		return -1;
	e->vecs = nv;
	e->vecs[e->n_vecs++] = v;
	return 0;
}

static const struct rag_gguf_tensor *need(const struct rag_gguf *g, const char *name,
					  struct rag_error *err)
{
	const struct rag_gguf_tensor *t = rag_gguf_find_tensor(g, name);
	const struct rag_dtype_info *di;

	if (!t) {
		rag_error_set(err, RAG_EMODEL, "'%s': tensor '%s' is missing", path_of(g), name);
		return NULL;
	}
	di = rag_dtype_info((uint32_t)t->type);
	if (!di || !di->dequant) {
		rag_error_set(err, RAG_EMODEL, "'%s': tensor '%s' has type %s, which ragkit cannot compute with",
			      path_of(g), name, di ? di->name : "unknown");
		return NULL;
	}
	return t;
}

static int check_shape(const struct rag_gguf *g, const struct rag_gguf_tensor *t, int64_t ne0,
		       int64_t ne1, struct rag_error *err)
{
	if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != 1 || t->ne[3] != 1)
		return rag_error_set(err, RAG_EMODEL,
				     "'%s': tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]",
				     path_of(g), t->name, (long long)t->ne[0], (long long)t->ne[1],
				     (long long)ne0, (long long)ne1);
	return RAG_OK;
}

/* A 1-D tensor of n elements as an owned float32 vector. */
static int load_vec(struct rag_encoder *e, const struct rag_gguf *g, const char *name, int64_t n,
		    float **out, struct rag_error *err)
{
	const struct rag_gguf_tensor *t = need(g, name, err);
	float *v;
	int rc;

	if (!t)
		return err ? err->code : RAG_EMODEL;
	if ((rc = check_shape(g, t, n, 1, err)))
		return rc;
	if (!(v = rag_malloc((size_t)n * sizeof *v)) || keep_vec(e, v)) {
		rag_free(v);
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	}
	rag_dequant_row(t->type, t->data, v, n);
	*out = v;
	return RAG_OK;
}

static int dequant_matrix(float *dst, const struct rag_gguf_tensor *t)
{
	size_t rb = rag_dtype_row_size((uint32_t)t->type, t->ne[0]);
	#pragma omp parallel for schedule(static)
	for (int64_t r = 0; r < t->ne[1]; r++)
		rag_dequant_row(t->type, (const uint8_t *)t->data + (size_t)r * rb, dst + r * t->ne[0],
				t->ne[0]);
	return 0;
}

static int load_mat(const struct rag_gguf *g, const char *name, int64_t n, int64_t k, int cache,
		    struct enc_mat *m, struct rag_error *err)
{
	const struct rag_gguf_tensor *t = need(g, name, err);
	int rc;

	if (!t)
		return err ? err->code : RAG_EMODEL;
	if ((rc = check_shape(g, t, k, n, err)))
		return rc;
	if (k % rag_dtype_info((uint32_t)t->type)->block)
		return rag_error_set(err, RAG_EMODEL, "'%s': tensor '%s' has rows of %lld elements, not a multiple of its %s block",
				     path_of(g), name, (long long)k, rag_dtype_info((uint32_t)t->type)->name);
	m->n = n;
	m->k = k;
	m->owned = NULL;
	if (cache && t->type != RAG_DT_F32) {
		if (!(m->owned = rag_malloc((size_t)n * (size_t)k * sizeof(float))))
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		dequant_matrix(m->owned, t);
		m->w = m->owned;
		m->type = RAG_DT_F32;
	} else {
		m->w = t->data;
		m->type = t->type;
	}
	return RAG_OK;
}

static void free_mat(struct enc_mat *m)
{
	rag_free(m->owned);
	m->owned = NULL;
}

/* Q, K and V fused into one float32 matrix of 3d rows (one GEMM per layer). */
static int load_qkv(struct rag_encoder *e, const struct rag_gguf *g, int64_t il, struct enc_layer *L,
		    struct rag_error *err)
{
	static const char *const part[3] = { "attn_q", "attn_k", "attn_v" };
	int64_t d = e->d;
	char name[96];
	int rc;

	L->qkv.n = 3 * d;
	L->qkv.k = d;
	L->qkv.type = RAG_DT_F32;
	L->qkv.owned = rag_malloc((size_t)(3 * d * d) * sizeof(float));
	{
		float *b = rag_malloc((size_t)(3 * d) * sizeof(float));
		if (!b || keep_vec(e, b)) {
			rag_free(b);
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		}
		L->qkv_b = b;
	}
	if (!L->qkv.owned)
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	L->qkv.w = L->qkv.owned;
	for (int p = 0; p < 3; p++) {
		const struct rag_gguf_tensor *t;
		float *bias;
		snprintf(name, sizeof name, "blk.%lld.%s.weight", (long long)il, part[p]);
		if (!(t = need(g, name, err)))
			return err ? err->code : RAG_EMODEL;
		if ((rc = check_shape(g, t, d, d, err)))
			return rc;
		dequant_matrix(L->qkv.owned + p * d * d, t);
		snprintf(name, sizeof name, "blk.%lld.%s.bias", (long long)il, part[p]);
		if ((rc = load_vec(e, g, name, d, &bias, err)))
			return rc;
		memcpy(L->qkv_b + p * d, bias, (size_t)d * sizeof *bias);
	}
	return RAG_OK;
}

static int get_dim(const struct rag_gguf *g, const char *key, int64_t *out, int64_t dflt,
		   struct rag_error *err)
{
	int r = rag_gguf_get_int(g, key, out);
	if (r == 0 && dflt >= 0) {
		*out = dflt;
		return RAG_OK;
	}
	if (r != 1)
		return rag_error_set(err, RAG_EMODEL, "'%s': metadata '%s' is %s", path_of(g), key,
				     r == 0 ? "missing" : "not an integer");
	if (*out <= 0 || *out > (1 << 24))
		return rag_error_set(err, RAG_EMODEL, "'%s': metadata '%s' = %lld is out of range",
				     path_of(g), key, (long long)*out);
	return RAG_OK;
}

int rag_encoder_load(const struct rag_gguf *g, const struct rag_encoder_opts *opts,
		     struct rag_encoder **out, struct rag_error *err)
{
	struct rag_encoder *e;
	const char *arch = NULL;
	int cache = !(opts && opts->no_f32_cache);
	int64_t pooling = -1;
	char name[96];
	double eps = 1e-12;
	int rc, causal = 0;

	*out = NULL;
	if (rag_gguf_get_str(g, "general.architecture", &arch) != 1)
		return rag_error_set(err, RAG_EMODEL, "'%s': no general.architecture: not a model ragkit can run",
				     path_of(g));
	if (strcmp(arch, "bert") != 0)
		return rag_error_set(err, RAG_EMODEL,
				     "'%s': architecture '%s' is not a supported encoder (supported: bert)",
				     path_of(g), arch);
	if (rag_gguf_get_bool(g, "bert.attention.causal", &causal) == 1 && causal)
		return rag_error_set(err, RAG_EMODEL, "'%s': causal attention in a bert model is not supported",
				     path_of(g));
	if (!(e = rag_calloc(1, sizeof *e)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	if ((rc = get_dim(g, "bert.embedding_length", &e->d, -1, err)) ||
	    (rc = get_dim(g, "bert.block_count", &e->n_layer, -1, err)) ||
	    (rc = get_dim(g, "bert.attention.head_count", &e->n_head, -1, err)) ||
	    (rc = get_dim(g, "bert.feed_forward_length", &e->n_ff, -1, err)) ||
	    (rc = get_dim(g, "bert.context_length", &e->n_ctx, -1, err)))
		goto fail;
	if (e->d % e->n_head) {
		rc = rag_error_set(err, RAG_EMODEL, "'%s': embedding length %lld is not a multiple of %lld heads",
				   path_of(g), (long long)e->d, (long long)e->n_head);
		goto fail;
	}
	if (rag_gguf_get_float(g, "bert.attention.layer_norm_epsilon", &eps) == -1) {
		rc = rag_error_set(err, RAG_EMODEL, "'%s': bert.attention.layer_norm_epsilon is not a number",
				   path_of(g));
		goto fail;
	}
	e->eps = (float)eps;
	if (!(e->tok = need(g, "token_embd.weight", err)) || !(e->pos = need(g, "position_embd.weight", err)) ||
	    !(e->typ = need(g, "token_types.weight", err))) {
		rc = err ? err->code : RAG_EMODEL;
		goto fail;
	}
	e->n_vocab = e->tok->ne[1];
	e->n_types = e->typ->ne[1];
	if ((rc = check_shape(g, e->tok, e->d, e->n_vocab, err)) ||
	    (rc = check_shape(g, e->typ, e->d, e->n_types, err)))
		goto fail;
	if (e->pos->ne[0] != e->d || e->pos->ne[1] < e->n_ctx) {
		rc = check_shape(g, e->pos, e->d, e->n_ctx, err);
		goto fail;
	}
	if ((rc = load_vec(e, g, "token_embd_norm.weight", e->d, &e->emb_ln_g, err)) ||
	    (rc = load_vec(e, g, "token_embd_norm.bias", e->d, &e->emb_ln_b, err)))
		goto fail;
	if (!(e->layers = rag_calloc((size_t)e->n_layer, sizeof *e->layers))) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto fail;
	}
	for (int64_t il = 0; il < e->n_layer; il++) {
		struct enc_layer *L = &e->layers[il];
#define BLK(s) (snprintf(name, sizeof name, "blk.%lld." s, (long long)il), name)
		if ((rc = load_qkv(e, g, il, L, err)) ||
		    (rc = load_mat(g, BLK("attn_output.weight"), e->d, e->d, cache, &L->o, err)) ||
		    (rc = load_vec(e, g, BLK("attn_output.bias"), e->d, &L->o_b, err)) ||
		    (rc = load_vec(e, g, BLK("attn_output_norm.weight"), e->d, &L->ln1_g, err)) ||
		    (rc = load_vec(e, g, BLK("attn_output_norm.bias"), e->d, &L->ln1_b, err)) ||
		    (rc = load_mat(g, BLK("ffn_up.weight"), e->n_ff, e->d, cache, &L->up, err)) ||
		    (rc = load_vec(e, g, BLK("ffn_up.bias"), e->n_ff, &L->up_b, err)) ||
		    (rc = load_mat(g, BLK("ffn_down.weight"), e->d, e->n_ff, cache, &L->down, err)) ||
		    (rc = load_vec(e, g, BLK("ffn_down.bias"), e->d, &L->down_b, err)) ||
		    (rc = load_vec(e, g, BLK("layer_output_norm.weight"), e->d, &L->ln2_g, err)) ||
		    (rc = load_vec(e, g, BLK("layer_output_norm.bias"), e->d, &L->ln2_b, err)))
			goto fail;
#undef BLK
	}
	if (rag_gguf_find_tensor(g, "cls.output.weight")) {
		const struct rag_gguf_tensor *t = rag_gguf_find_tensor(g, "cls.output.weight");
		e->n_labels = t->ne[1];
		if (!rag_gguf_find_tensor(g, "cls.weight")) {
			rc = rag_error_set(err, RAG_EMODEL,
					   "'%s': cross-encoder without its pooler ('cls.weight'): its scores would be wrong",
					   path_of(g));
			goto fail;
		}
		if ((rc = load_mat(g, "cls.weight", e->d, e->d, 1, &e->pool_w, err)) ||
		    (rc = load_vec(e, g, "cls.bias", e->d, &e->pool_b, err)) ||
		    (rc = load_mat(g, "cls.output.weight", e->n_labels, e->d, 1, &e->cls_w, err)) ||
		    (rc = load_vec(e, g, "cls.output.bias", e->n_labels, &e->cls_b, err)))
			goto fail;
		e->pooling = RAG_POOL_RANK;
	} else {
		rc = rag_gguf_get_int(g, "bert.pooling_type", &pooling);
		if (rc == -1 || (rc == 1 && (pooling < 0 || pooling > 3))) {
			rc = rag_error_set(err, RAG_EMODEL, "'%s': bert.pooling_type %lld is not supported",
					   path_of(g), (long long)pooling);
			goto fail;
		}
		e->pooling = rc == 1 ? (enum rag_pooling)pooling : RAG_POOL_CLS;
	}
	if (opts && opts->cuda) {
		struct rag_encoder_shape sh = { e->d, e->n_head, e->n_layer, e->n_ff, e->n_ctx, e->n_vocab,
						e->n_types, e->n_labels, e->eps };
		if ((rc = rag_encoder_cuda_load(g, &sh, &e->gpu, err)))
			goto fail;
	}
	*out = e;
	return RAG_OK;
fail:
	rag_encoder_free(e);
	return rc ? rc : RAG_EMODEL;
}

void rag_encoder_free(struct rag_encoder *e)
{
	if (!e)
		return;
	rag_encoder_cuda_free(e->gpu);
	for (int64_t il = 0; e->layers && il < e->n_layer; il++) {
		struct enc_layer *L = &e->layers[il];
		free_mat(&L->qkv);
		free_mat(&L->o);
		free_mat(&L->up);
		free_mat(&L->down);
	}
	free_mat(&e->pool_w);
	free_mat(&e->cls_w);
	rag_free(e->layers);
	for (size_t i = 0; i < e->n_vecs; i++)
		rag_free(e->vecs[i]);
	rag_free(e->vecs);
	rag_free(e->x);
	rag_free(e->qkv);
	rag_free(e->att);
	rag_free(e->tmp);
	rag_free(e->ff);
	rag_free(e->pos_ids);
	rag_free(e->type_ids);
	rag_free(e->all_ids);
	rag_free(e->off);
	rag_free(e);
}

int64_t rag_encoder_dim(const struct rag_encoder *e) { return e->d; }
int64_t rag_encoder_n_ctx(const struct rag_encoder *e) { return e->n_ctx; }
int64_t rag_encoder_n_vocab(const struct rag_encoder *e) { return e->n_vocab; }
int64_t rag_encoder_n_types(const struct rag_encoder *e) { return e->n_types; }
int rag_encoder_is_reranker(const struct rag_encoder *e) { return e->n_labels > 0; }
int64_t rag_encoder_n_labels(const struct rag_encoder *e) { return e->n_labels; }
enum rag_pooling rag_encoder_pooling(const struct rag_encoder *e) { return e->pooling; }

static int grow(struct rag_encoder *e, int64_t n_tok, int64_t n_seq)
{
	if (n_tok > e->cap_tokens) {
		size_t t = (size_t)n_tok;
		float *p[5];
		int32_t *q[3];
		size_t fs[5] = { t * (size_t)e->d, t * 3 * (size_t)e->d, t * (size_t)e->d,
				 t * (size_t)e->d, t * (size_t)e->n_ff };
		for (int i = 0; i < 5; i++)
			p[i] = rag_malloc(fs[i] * sizeof(float));
		for (int i = 0; i < 3; i++)
			q[i] = rag_malloc(t * sizeof(int32_t));
		if (!p[0] || !p[1] || !p[2] || !p[3] || !p[4] || !q[0] || !q[1] || !q[2]) {
			for (int i = 0; i < 5; i++)
				rag_free(p[i]);
			for (int i = 0; i < 3; i++)
				rag_free(q[i]);
			return -1;
		}
		rag_free(e->x); rag_free(e->qkv); rag_free(e->att); rag_free(e->tmp); rag_free(e->ff);
		rag_free(e->all_ids); rag_free(e->pos_ids); rag_free(e->type_ids);
		e->x = p[0]; e->qkv = p[1]; e->att = p[2]; e->tmp = p[3]; e->ff = p[4];
		e->all_ids = q[0]; e->pos_ids = q[1]; e->type_ids = q[2];
		e->cap_tokens = n_tok;
	}
	if (n_seq + 1 > e->cap_seqs) {
		int32_t *o = rag_malloc((size_t)(n_seq + 1) * sizeof *o);
		if (!o)
			return -1;
		rag_free(e->off);
		e->off = o;
		e->cap_seqs = n_seq + 1;
	}
	return 0;
}

static int mm(float *y, const float *x, const struct enc_mat *m, const float *bias, int64_t rows)
{
	return rag_matmul(y, x, m->w, m->type, bias, rows, m->n, m->k);
}

/* Forward pass of one packed batch; leaves the last hidden states in e->x. */
static int forward(struct rag_encoder *e, const struct rag_enc_seq *seqs, size_t n_seq, int64_t T)
{
	int64_t d = e->d, hd = d / e->n_head, t = 0;

	e->off[0] = 0;
	for (size_t s = 0; s < n_seq; s++) {
		for (size_t i = 0; i < seqs[s].n; i++, t++) {
			e->all_ids[t] = seqs[s].ids[i];
			e->pos_ids[t] = (int32_t)i;
			e->type_ids[t] = seqs[s].types ? seqs[s].types[i] : 0;
		}
		e->off[s + 1] = (int32_t)t;
	}
	rag_embed_rows(e->x, e->tok->data, e->tok->type, d, e->all_ids, T, 0);
	rag_embed_rows(e->x, e->pos->data, e->pos->type, d, e->pos_ids, T, 1);
	rag_embed_rows(e->x, e->typ->data, e->typ->type, d, e->type_ids, T, 1);
	rag_layernorm(e->x, e->x, NULL, e->emb_ln_g, e->emb_ln_b, T, d, e->eps);
	for (int64_t il = 0; il < e->n_layer; il++) {
		struct enc_layer *L = &e->layers[il];
		if (mm(e->qkv, e->x, &L->qkv, L->qkv_b, T) ||
		    rag_attention(e->att, e->qkv, e->qkv + d, e->qkv + 2 * d, 3 * d, e->off,
				  (int64_t)n_seq, e->n_head, hd, 1.0f / sqrtf((float)hd)) ||
		    mm(e->tmp, e->att, &L->o, L->o_b, T))
			return -1;
		rag_layernorm(e->x, e->tmp, e->x, L->ln1_g, L->ln1_b, T, d, e->eps);
		if (mm(e->ff, e->x, &L->up, L->up_b, T))
			return -1;
		rag_gelu(e->ff, e->ff, T * e->n_ff);
		if (mm(e->tmp, e->ff, &L->down, L->down_b, T))
			return -1;
		rag_layernorm(e->x, e->tmp, e->x, L->ln2_g, L->ln2_b, T, d, e->eps);
	}
	return 0;
}

/* The classifier head on the first token of each sequence: n_seq x n_labels logits. */
static int rank_head(struct rag_encoder *e, size_t n_seq, float *out)
{
	int64_t d = e->d;
	float *cls = e->att, *pooled = e->tmp;   /* free after the forward pass */

	rag_pool(cls, e->x, e->off, (int64_t)n_seq, d, RAG_POOL_CLS);
	if (mm(pooled, cls, &e->pool_w, e->pool_b, (int64_t)n_seq))
		return -1;
	rag_tanh(pooled, pooled, (int64_t)n_seq * d);
	return mm(out, pooled, &e->cls_w, e->cls_b, (int64_t)n_seq);
}

int rag_encoder_run(struct rag_encoder *e, const struct rag_enc_seq *seqs, size_t n_seq,
		    size_t batch_tokens, enum rag_pooling pool, int normalize, float *out,
		    struct rag_error *err)
{
	size_t s0 = 0, out_rows = 0;
	int64_t d = e->d;

	if (batch_tokens == 0)
		batch_tokens = 2048;
	if (pool == RAG_POOL_RANK && !e->n_labels)
		return rag_error_set(err, RAG_EUSAGE, "rank pooling needs a cross-encoder (a model with a classifier head)");
	for (size_t s = 0; s < n_seq; s++) {
		if (seqs[s].n == 0)
			return rag_error_set(err, RAG_EDATA, "sequence %zu: no tokens", s + 1);
		if ((int64_t)seqs[s].n > e->n_ctx)
			return rag_error_set(err, RAG_EDATA, "sequence %zu: %zu tokens, more than the model's %lld",
					     s + 1, seqs[s].n, (long long)e->n_ctx);
		for (size_t i = 0; i < seqs[s].n; i++) {
			if (seqs[s].ids[i] < 0 || seqs[s].ids[i] >= e->n_vocab)
				return rag_error_set(err, RAG_EDATA, "sequence %zu: token id %ld outside the vocabulary",
						     s + 1, (long)seqs[s].ids[i]);
			if (seqs[s].types && seqs[s].types[i] >= e->n_types)
				return rag_error_set(err, RAG_EDATA, "sequence %zu: token type %u, the model has %lld",
						     s + 1, (unsigned)seqs[s].types[i], (long long)e->n_types);
		}
	}
	if (e->gpu)
		return rag_encoder_cuda_run(e->gpu, seqs, n_seq, batch_tokens, pool, normalize, out, err);
	while (s0 < n_seq) {
		size_t s1 = s0, T = 0;
		while (s1 < n_seq && (s1 == s0 || T + seqs[s1].n <= batch_tokens))
			T += seqs[s1++].n;
		if (grow(e, (int64_t)T, (int64_t)(s1 - s0)) || forward(e, seqs + s0, s1 - s0, (int64_t)T))
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		switch (pool) {
		case RAG_POOL_NONE:
			memcpy(out + out_rows * (size_t)d, e->x, T * (size_t)d * sizeof(float));
			if (normalize)
				rag_l2_normalize(out + out_rows * (size_t)d, (int64_t)T, d);
			out_rows += T;
			break;
		case RAG_POOL_RANK:
			if (rank_head(e, s1 - s0, out + s0 * (size_t)e->n_labels))
				return rag_error_set(err, RAG_EINTERNAL, "out of memory");
			break;
		default:
			rag_pool(out + s0 * (size_t)d, e->x, e->off, (int64_t)(s1 - s0), d, pool);
			if (normalize)
				rag_l2_normalize(out + s0 * (size_t)d, (int64_t)(s1 - s0), d);
		}
		s0 = s1;
	}
	return RAG_OK;
}

static const char *const pool_names[] = { "none", "mean", "cls", "last", "rank" };

const char *rag_pooling_name(enum rag_pooling p)
{
	return (unsigned)p < 5 ? pool_names[p] : "unknown";
}

int rag_pooling_parse(const char *s, enum rag_pooling *out, struct rag_error *err)
{
	for (int i = 0; i < 5; i++)
		if (strcmp(s, pool_names[i]) == 0) {
			*out = (enum rag_pooling)i;
			return RAG_OK;
		}
	return rag_error_set(err, RAG_EUSAGE, "invalid pooling '%s' (none, mean, cls, last or rank)", s);
}
