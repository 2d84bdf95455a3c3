/* decoder.c: forward pass of llama/qwen2/qwen3 decoders over a float32 KV cache. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "decoder.h"
#include "decoder_cuda.h"
#include "kernels.h"

/* A weight matrix in the mapping: n rows of k elements. */
struct wmat {
	const void *data;
	enum rag_dtype type;
	int64_t n, k;
};

struct layer {
	float *attn_norm, *ffn_norm, *q_norm, *k_norm; /* q_norm/k_norm: qwen3 only */
	float *bq, *bk, *bv, *bo;                       /* NULL when absent */
	struct wmat wq, wk, wv, wo, gate, up, down;
};

struct rag_decoder {
	struct rag_decoder_info info;
	int64_t n_batch, n_past;
	struct wmat tok_embd, output;
	float *out_norm, *rope_factors;
	struct layer *layers;
	float *kcache, *vcache;  /* [n_layer][n_ctx][n_head_kv*head_dim] */
	/* scratch for n_batch tokens */
	float *x, *h, *q, *att, *ff_gate, *ff_up;
	int32_t *pos;
	struct rag_decoder_cuda *gpu;  /* set when loaded with params.cuda: eval runs there */
	/* decode: the current activation quantized to int8 (kernels/cpu/qdot.c), in
	 * each format, valid while qx_src is the vector it was made from */
	int exact_act;
	void *qx[3];
	const float *qx_src[3];
};

static const char *const archs[] = { "llama", "qwen2", "qwen3" };

int rag_decoder_supports_arch(const char *arch)
{
	for (size_t i = 0; i < sizeof archs / sizeof *archs; i++)
		if (arch && !strcmp(arch, archs[i]))
			return 1;
	return 0;
}

int rag_decoder_rope_scaling(const struct rag_gguf *g, const char *arch, const char **type)
{
	char k[128];

	snprintf(k, sizeof k, "%s.rope.scaling.type", arch);
	if (rag_gguf_get_str(g, k, type) != 1)
		*type = NULL;
	return !*type || !strcmp(*type, "none") || !strcmp(*type, "linear") ? 0 : -1;
}

static int get_int(const struct rag_gguf *g, const char *arch, const char *key, int64_t def,
		   int required, int64_t *out, struct rag_error *err)
{
	char k[128];
	int r;

	snprintf(k, sizeof k, "%s.%s", arch, key);
	r = rag_gguf_get_int(g, k, out);
	if (r < 0)
		return rag_error_set(err, RAG_EMODEL, "metadata '%s' is not an integer", k);
	if (r == 0) {
		if (required)
			return rag_error_set(err, RAG_EMODEL, "metadata '%s' is missing", k);
		*out = def;
	}
	return 0;
}

static int get_float(const struct rag_gguf *g, const char *arch, const char *key, double def,
		     double *out, struct rag_error *err)
{
	char k[128];
	int r;

	snprintf(k, sizeof k, "%s.%s", arch, key);
	r = rag_gguf_get_float(g, k, out);
	if (r < 0)
		return rag_error_set(err, RAG_EMODEL, "metadata '%s' is not a number", k);
	if (r == 0)
		*out = def;
	return 0;
}

/* Find a tensor of shape [k, n] (n = 0: a vector of k) with a dequantizable type. */
static int find_tensor(const struct rag_gguf *g, const char *name, int64_t k, int64_t n,
		       int required, const struct rag_gguf_tensor **out, struct rag_error *err)
{
	const struct rag_gguf_tensor *t = rag_gguf_find_tensor(g, name);
	const struct rag_dtype_info *ti;

	*out = NULL;
	if (!t) {
		if (required)
			return rag_error_set(err, RAG_EMODEL, "tensor '%s' is missing", name);
		return 0;
	}
	ti = rag_dtype_info(t->type);
	if (!ti || !ti->dequant)
		return rag_error_set(err, RAG_EMODEL, "tensor '%s' has type %s, which ragkit cannot read",
				     name, ti ? ti->name : "unknown");
	if (t->ne[0] != k || (n ? t->ne[1] != n : rag_gguf_tensor_nelements(t) != k) ||
	    (n && rag_gguf_tensor_nelements(t) != k * n))
		return rag_error_set(err, RAG_EMODEL,
				     "tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]", name,
				     (long long)t->ne[0], (long long)t->ne[1], (long long)k,
				     (long long)(n ? n : 1));
	*out = t;
	return 0;
}

static int load_mat(const struct rag_gguf *g, const char *name, int64_t k, int64_t n, int required,
		    struct wmat *w, struct rag_error *err)
{
	const struct rag_gguf_tensor *t;
	int rc = find_tensor(g, name, k, n, required, &t, err);

	memset(w, 0, sizeof *w);
	if (rc || !t)
		return rc;
	w->data = t->data;
	w->type = t->type;
	w->n = n;
	w->k = k;
	return 0;
}

/* A vector tensor converted to an owned float32 array (NULL when absent and optional). */
static int load_vec(const struct rag_gguf *g, const char *name, int64_t k, int required,
		    float **out, struct rag_error *err)
{
	const struct rag_gguf_tensor *t;
	int rc = find_tensor(g, name, k, 0, required, &t, err);

	*out = NULL;
	if (rc || !t)
		return rc;
	if (k % rag_dtype_info(t->type)->block)
		return rag_error_set(err, RAG_EMODEL, "tensor '%s': bad size for its type", name);
	*out = rag_malloc((size_t)k * sizeof **out);
	if (!*out)
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	rag_dequant_row(t->type, t->data, *out, k);
	return 0;
}

void rag_decoder_free(struct rag_decoder *d)
{
	if (!d)
		return;
	if (d->layers) {
		for (int64_t i = 0; i < d->info.n_layer; i++) {
			struct layer *l = &d->layers[i];
			rag_free(l->attn_norm);
			rag_free(l->ffn_norm);
			rag_free(l->q_norm);
			rag_free(l->k_norm);
			rag_free(l->bq);
			rag_free(l->bk);
			rag_free(l->bv);
			rag_free(l->bo);
		}
		rag_free(d->layers);
	}
	rag_free(d->out_norm);
	rag_free(d->rope_factors);
	rag_free(d->kcache);
	rag_free(d->vcache);
	rag_free(d->x);
	rag_free(d->h);
	rag_free(d->q);
	rag_free(d->att);
	rag_free(d->ff_gate);
	rag_free(d->ff_up);
	rag_free(d->pos);
	rag_decoder_cuda_free(d->gpu);
	for (int i = 0; i < 3; i++)
		rag_free(d->qx[i]);
	rag_free(d);
}

static int load_layer(const struct rag_gguf *g, struct rag_decoder *d, int64_t i,
		      struct rag_error *err)
{
	const struct rag_decoder_info *in = &d->info;
	struct layer *l = &d->layers[i];
	int64_t e = in->n_embd, qd = in->n_head * in->head_dim, kvd = in->n_head_kv * in->head_dim;
	int qwen3 = !strcmp(in->arch, "qwen3");
	char nm[96];
	int rc = 0;

#define T(suffix) (snprintf(nm, sizeof nm, "blk.%lld.%s", (long long)i, suffix), nm)
	if ((rc = load_vec(g, T("attn_norm.weight"), e, 1, &l->attn_norm, err)) ||
	    (rc = load_vec(g, T("ffn_norm.weight"), e, 1, &l->ffn_norm, err)) ||
	    (rc = load_mat(g, T("attn_q.weight"), e, qd, 1, &l->wq, err)) ||
	    (rc = load_mat(g, T("attn_k.weight"), e, kvd, 1, &l->wk, err)) ||
	    (rc = load_mat(g, T("attn_v.weight"), e, kvd, 1, &l->wv, err)) ||
	    (rc = load_mat(g, T("attn_output.weight"), qd, e, 1, &l->wo, err)) ||
	    (rc = load_mat(g, T("ffn_gate.weight"), e, in->n_ff, 1, &l->gate, err)) ||
	    (rc = load_mat(g, T("ffn_up.weight"), e, in->n_ff, 1, &l->up, err)) ||
	    (rc = load_mat(g, T("ffn_down.weight"), in->n_ff, e, 1, &l->down, err)) ||
	    (rc = load_vec(g, T("attn_q.bias"), qd, 0, &l->bq, err)) ||
	    (rc = load_vec(g, T("attn_k.bias"), kvd, 0, &l->bk, err)) ||
	    (rc = load_vec(g, T("attn_v.bias"), kvd, 0, &l->bv, err)) ||
	    (rc = load_vec(g, T("attn_output.bias"), e, 0, &l->bo, err)) ||
	    (rc = load_vec(g, T("attn_q_norm.weight"), in->head_dim, qwen3, &l->q_norm, err)) ||
	    (rc = load_vec(g, T("attn_k_norm.weight"), in->head_dim, qwen3, &l->k_norm, err)))
		return rc;
	/* biases on the FFN (Hugging Face llama's mlp_bias) are not computed: refuse
	 * them rather than give other logits (the GPU backend loads through here) */
	if (rag_gguf_find_tensor(g, T("ffn_gate.bias")) || rag_gguf_find_tensor(g, T("ffn_up.bias")) ||
	    rag_gguf_find_tensor(g, T("ffn_down.bias")))
		return rag_error_set(err, RAG_EMODEL, "tensor '%s': biases on the feed-forward layers are not supported",
				     nm);
#undef T
	return 0;
}

int rag_decoder_load(const struct rag_gguf *g, const struct rag_decoder_params *p,
		     struct rag_decoder **out, struct rag_error *err)
{
	struct rag_decoder *d;
	struct rag_decoder_info *in;
	const char *arch = NULL;
	const char *scaling = NULL;
	int64_t v;
	double f;
	int rc;

	*out = NULL;
	if (rag_gguf_get_str(g, "general.architecture", &arch) != 1)
		return rag_error_set(err, RAG_EMODEL, "metadata 'general.architecture' is missing");
	if (!rag_decoder_supports_arch(arch))
		return rag_error_set(err, RAG_EMODEL,
				     "architecture '%s' is not a decoder ragkit can run "
				     "(" RAG_DECODER_ARCHS ")", arch);
	d = rag_calloc(1, sizeof *d);
	if (!d)
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	in = &d->info;
	for (size_t i = 0; i < sizeof archs / sizeof *archs; i++)
		if (!strcmp(arch, archs[i]))
			in->arch = archs[i];
	if ((rc = get_int(g, arch, "embedding_length", 0, 1, &in->n_embd, err)) ||
	    (rc = get_int(g, arch, "block_count", 0, 1, &in->n_layer, err)) ||
	    (rc = get_int(g, arch, "feed_forward_length", 0, 1, &in->n_ff, err)) ||
	    (rc = get_int(g, arch, "attention.head_count", 0, 1, &in->n_head, err)) ||
	    (rc = get_int(g, arch, "attention.head_count_kv", in->n_head, 0, &in->n_head_kv, err)) ||
	    (rc = get_int(g, arch, "context_length", 0, 0, &in->n_ctx_train, err)))
		goto fail;
	if (in->n_embd <= 0 || in->n_layer <= 0 || in->n_ff <= 0 || in->n_head <= 0 ||
	    in->n_head_kv <= 0 || in->n_head % in->n_head_kv || in->n_layer > 4096) {
		rc = rag_error_set(err, RAG_EMODEL, "inconsistent model dimensions");
		goto fail;
	}
	if ((rc = get_int(g, arch, "attention.key_length", in->n_embd / in->n_head, 0, &in->head_dim,
			  err)))
		goto fail;
	if ((rc = get_int(g, arch, "rope.dimension_count", in->head_dim, 0, &in->n_rot, err)))
		goto fail;
	if (in->head_dim <= 0 || in->head_dim > RAG_DECODER_MAX_HEAD_DIM || in->n_rot <= 0 || in->n_rot > in->head_dim ||
	    in->n_rot % 2) {
		rc = rag_error_set(err, RAG_EMODEL, "unsupported head size %lld (rotary dims %lld)",
				   (long long)in->head_dim, (long long)in->n_rot);
		goto fail;
	}
	if ((rc = get_float(g, arch, "attention.layer_norm_rms_epsilon", 1e-6, &f, err)))
		goto fail;
	in->rms_eps = (float)f;
	if ((rc = get_float(g, arch, "rope.freq_base", 10000.0, &f, err)))
		goto fail;
	in->rope_base = (float)f;
	in->rope_scale = 1.0f;
	if (rag_decoder_rope_scaling(g, arch, &scaling)) {
		rc = rag_error_set(err, RAG_EMODEL, "RoPE scaling '%s' is not supported (ragkit runs "
				   RAG_DECODER_ROPE_SCALINGS ")", scaling);
		goto fail;
	}
	if ((rc = get_float(g, arch, "rope.scaling.factor", 0.0, &f, err)))
		goto fail;
	if (scaling && !strcmp(scaling, "linear") && f > 0.0)
		in->rope_scale = (float)(1.0 / f);
	in->rope_neox = strcmp(arch, "llama") != 0;

	{
		const struct rag_gguf_tensor *te = rag_gguf_find_tensor(g, "token_embd.weight");
		if (!te) {
			rc = rag_error_set(err, RAG_EMODEL, "tensor 'token_embd.weight' is missing");
			goto fail;
		}
		in->n_vocab = te->ne[1];
	}
	if ((rc = load_mat(g, "token_embd.weight", in->n_embd, in->n_vocab, 1, &d->tok_embd, err)) ||
	    (rc = load_mat(g, "output.weight", in->n_embd, in->n_vocab, 0, &d->output, err)) ||
	    (rc = load_vec(g, "output_norm.weight", in->n_embd, 1, &d->out_norm, err)) ||
	    (rc = load_vec(g, "rope_freqs.weight", in->n_rot / 2, 0, &d->rope_factors, err)))
		goto fail;
	if (!d->output.data) {
		d->output = d->tok_embd;
		in->tied_output = 1;
	}
	d->layers = rag_calloc((size_t)in->n_layer, sizeof *d->layers);
	if (!d->layers) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto fail;
	}
	for (int64_t i = 0; i < in->n_layer; i++)
		if ((rc = load_layer(g, d, i, err)))
			goto fail;

	v = p && p->n_ctx > 0 ? p->n_ctx : (in->n_ctx_train > 0 ? in->n_ctx_train : 4096);
	if (!(p && p->n_ctx > 0) && v > 4096)
		v = 4096;
	in->n_ctx = v;
	d->n_batch = p && p->n_batch > 0 ? p->n_batch : 512;
	if (d->n_batch > in->n_ctx)
		d->n_batch = in->n_ctx;
	if (p && p->cuda) {
		/* the GPU holds the cache and scratch: none on the host */
		if ((rc = rag_decoder_cuda_load(g, in, d->n_batch, &d->gpu, err)))
			goto fail;
		*out = d;
		return 0;
	}
	{
		size_t kvd = (size_t)(in->n_head_kv * in->head_dim);
		size_t cache = (size_t)in->n_layer * (size_t)in->n_ctx * kvd;
		size_t nb = (size_t)d->n_batch, qd = (size_t)(in->n_head * in->head_dim);
		size_t qrow = qd + 2 * kvd;
		d->kcache = rag_malloc(cache * sizeof(float));
		d->vcache = rag_malloc(cache * sizeof(float));
		d->x = rag_malloc(nb * (size_t)in->n_embd * sizeof(float));
		d->h = rag_malloc(nb * (size_t)in->n_embd * sizeof(float));
		d->q = rag_malloc(nb * qrow * sizeof(float));
		d->att = rag_malloc(nb * qd * sizeof(float));
		d->ff_gate = rag_malloc(nb * (size_t)in->n_ff * sizeof(float));
		d->ff_up = rag_malloc(nb * (size_t)in->n_ff * sizeof(float));
		d->pos = rag_malloc(nb * sizeof(int32_t));
		/* the widest activation is n_ff (or the attention output) */
		size_t kmax = (size_t)(in->n_ff > (int64_t)qd ? in->n_ff : (int64_t)qd);
		kmax = kmax > (size_t)in->n_embd ? kmax : (size_t)in->n_embd;
		d->exact_act = p && p->exact_act;
		d->qx[RAG_QACT_Q8_0] = rag_malloc(rag_qact_size(RAG_QACT_Q8_0, (int64_t)kmax) + 64);
		d->qx[RAG_QACT_Q8_K] = rag_malloc(rag_qact_size(RAG_QACT_Q8_K, (int64_t)kmax) + 64);
		if (!d->kcache || !d->vcache || !d->x || !d->h || !d->q || !d->att || !d->ff_gate ||
		    !d->ff_up || !d->pos || !d->qx[RAG_QACT_Q8_0] || !d->qx[RAG_QACT_Q8_K]) {
			rc = rag_error_set(err, RAG_EINTERNAL,
					   "out of memory for a %lld-position KV cache",
					   (long long)in->n_ctx);
			goto fail;
		}
	}
	*out = d;
	return 0;
fail:
	rag_decoder_free(d);
	return rc;
}

const struct rag_decoder_info *rag_decoder_info(const struct rag_decoder *d)
{
	return &d->info;
}

int64_t rag_decoder_n_past(const struct rag_decoder *d)
{
	return d->n_past;
}

void rag_decoder_reset(struct rag_decoder *d)
{
	d->n_past = 0;
}

void rag_decoder_trim(struct rag_decoder *d, int64_t n_keep)
{
	if (n_keep < 0)
		n_keep = 0;
	if (n_keep < d->n_past)
		d->n_past = n_keep;
}

/* Forget the quantized activations: call whenever the vectors they came from change. */
static void qx_invalidate(struct rag_decoder *d)
{
	for (int i = 0; i < 3; i++)
		d->qx_src[i] = NULL;
}

/*
 * y[m][w->n] = x[m][w->k] . w^T (+ bias): GEMM for m > 1; for one row, the
 * int8-activation product for quantized weights (x quantized once per format and
 * reused by the following products from the same x until qx_invalidate), the
 * float32 matrix-vector product otherwise.
 */
static int mm(struct rag_decoder *d, float *y, const float *x, const struct wmat *w,
	      const float *bias, int64_t m)
{
	enum rag_qact f;

	if (m > 1)
		return rag_matmul(y, x, w->data, w->type, bias, m, w->n, w->k);
	f = d->exact_act ? RAG_QACT_NONE : rag_qact_for(w->type, w->k);
	if (f == RAG_QACT_NONE)
		return rag_matvec(y, x, w->data, w->type, bias, w->n, w->k);
	if (d->qx_src[f] != x) {
		rag_qact_quantize(f, x, w->k, d->qx[f]);
		d->qx_src[f] = x;
	}
	return rag_matvec_q8(y, d->qx[f], w->data, w->type, bias, w->n, w->k);
}

/*
 * The layers for tokens ids[0..m) at positions n_past.., leaving the final-normed
 * hidden states in d->h.  Advances n_past.
 */
static int forward(struct rag_decoder *d, const int32_t *ids, int64_t m, struct rag_error *err)
{
	const struct rag_decoder_info *in = &d->info;
	int64_t e = in->n_embd, hd = in->head_dim, qd = in->n_head * hd, kvd = in->n_head_kv * hd;
	int64_t p0 = d->n_past;
	float scale = 1.0f / sqrtf((float)hd);
	float *q = d->q;

	if (rag_get_rows(d->x, d->tok_embd.data, d->tok_embd.type, in->n_vocab, e, ids, m))
		return rag_error_set(err, RAG_EDATA, "token id outside the vocabulary");
	for (int64_t t = 0; t < m; t++)
		d->pos[t] = (int32_t)(p0 + t);
	for (int64_t li = 0; li < in->n_layer; li++) {
		const struct layer *l = &d->layers[li];
		float *kc = d->kcache + (size_t)li * (size_t)in->n_ctx * (size_t)kvd;
		float *vc = d->vcache + (size_t)li * (size_t)in->n_ctx * (size_t)kvd;
		float *kn = kc + (size_t)p0 * (size_t)kvd, *vn = vc + (size_t)p0 * (size_t)kvd;

		rag_rmsnorm(d->h, d->x, l->attn_norm, m, e, in->rms_eps);
		qx_invalidate(d);
		if (mm(d, q, d->h, &l->wq, l->bq, m) || mm(d, kn, d->h, &l->wk, l->bk, m) ||
		    mm(d, vn, d->h, &l->wv, l->bv, m))
			goto oom;
		if (l->q_norm)
			rag_rmsnorm(q, q, l->q_norm, m * in->n_head, hd, in->rms_eps);
		if (l->k_norm)
			rag_rmsnorm(kn, kn, l->k_norm, m * in->n_head_kv, hd, in->rms_eps);
		rag_rope(q, m, qd, in->n_head, hd, d->pos, in->n_rot, in->rope_base, in->rope_scale,
			 d->rope_factors, in->rope_neox);
		rag_rope(kn, m, kvd, in->n_head_kv, hd, d->pos, in->n_rot, in->rope_base,
			 in->rope_scale, d->rope_factors, in->rope_neox);
		if (m == 1) {
			if (rag_attn_decode(d->att, q, kc, vc, p0 + 1, in->n_head, in->n_head_kv, hd, kvd,
					    scale))
				goto oom;
		} else if (rag_attn_causal(d->att, q, kc, vc, m, p0, in->n_head, in->n_head_kv, hd, qd,
					   kvd, scale)) {
			goto oom;
		}
		qx_invalidate(d);
		if (mm(d, d->h, d->att, &l->wo, l->bo, m))
			goto oom;
		for (int64_t i = 0; i < m * e; i++)
			d->x[i] += d->h[i];
		rag_rmsnorm(d->h, d->x, l->ffn_norm, m, e, in->rms_eps);
		qx_invalidate(d);
		if (mm(d, d->ff_gate, d->h, &l->gate, NULL, m) || mm(d, d->ff_up, d->h, &l->up, NULL, m))
			goto oom;
		rag_swiglu(d->ff_gate, d->ff_gate, d->ff_up, m * in->n_ff);
		qx_invalidate(d);
		if (mm(d, d->h, d->ff_gate, &l->down, NULL, m))
			goto oom;
		for (int64_t i = 0; i < m * e; i++)
			d->x[i] += d->h[i];
	}
	rag_rmsnorm(d->h, d->x, d->out_norm, m, e, in->rms_eps);
	qx_invalidate(d);
	d->n_past = p0 + m;
	return 0;
oom:
	return rag_error_set(err, RAG_EINTERNAL, "out of memory");
}

static int check_ids(const struct rag_decoder *d, const int32_t *ids, int64_t n,
		     struct rag_error *err)
{
	if (d->n_past + n > d->info.n_ctx)
		return rag_error_set(err, RAG_EDATA,
				     "context full: %lld cached + %lld new tokens exceed the %lld-token "
				     "context", (long long)d->n_past, (long long)n,
				     (long long)d->info.n_ctx);
	for (int64_t i = 0; i < n; i++)
		if (ids[i] < 0 || ids[i] >= d->info.n_vocab)
			return rag_error_set(err, RAG_EDATA, "token id %ld outside the vocabulary (%lld)",
					     (long)ids[i], (long long)d->info.n_vocab);
	return 0;
}

int rag_decoder_eval(struct rag_decoder *d, const int32_t *ids, int64_t n, int all, float *logits,
		     struct rag_error *err)
{
	int rc;

	if ((rc = check_ids(d, ids, n, err)))
		return rc;
	if (d->gpu) {
		if ((rc = rag_decoder_cuda_eval(d->gpu, ids, n, d->n_past, all, logits, err)))
			return rc;
		d->n_past += n;
		return 0;
	}
	for (int64_t off = 0; off < n; off += d->n_batch) {
		int64_t m = n - off < d->n_batch ? n - off : d->n_batch;
		if ((rc = forward(d, ids + off, m, err)))
			return rc;
		if (!logits)
			continue;
		if (all) {
			if (mm(d, logits + off * d->info.n_vocab, d->h, &d->output, NULL, m))
				return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		} else if (off + m == n) {
			if (mm(d, logits, d->h + (m - 1) * d->info.n_embd, &d->output, NULL, 1))
				return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		}
	}
	return 0;
}

int rag_decoder_step(struct rag_decoder *d, int32_t id, float *logits, struct rag_error *err)
{
	return rag_decoder_eval(d, &id, 1, 0, logits, err);
}

int rag_decoder_hidden(struct rag_decoder *d, const int32_t *ids, int64_t n,
		       enum rag_decoder_pool pool, float *out, struct rag_error *err)
{
	int64_t e = d->info.n_embd;
	int rc;

	if (n <= 0)
		return rag_error_set(err, RAG_EDATA, "no tokens to embed");
	d->n_past = 0;
	if ((rc = check_ids(d, ids, n, err)))
		return rc;
	if (d->gpu)
		return rag_decoder_cuda_hidden(d->gpu, ids, n, pool, out, err);
	for (int64_t i = 0; i < e; i++)
		out[i] = 0.0f;
	for (int64_t off = 0; off < n; off += d->n_batch) {
		int64_t m = n - off < d->n_batch ? n - off : d->n_batch;
		if ((rc = forward(d, ids + off, m, err))) {
			d->n_past = 0;
			return rc;
		}
		if (pool == RAG_DECODER_POOL_MEAN) {
			for (int64_t t = 0; t < m; t++)
				for (int64_t i = 0; i < e; i++)
					out[i] += d->h[t * e + i] / (float)n;
		} else if (off + m == n) {
			memcpy(out, d->h + (m - 1) * e, (size_t)e * sizeof *out);
		}
	}
	d->n_past = 0;
	return 0;
}
