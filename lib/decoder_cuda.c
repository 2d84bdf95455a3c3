/* decoder_cuda.c: the decoder forward pass on the GPU: weight upload, the KV
 * cache in device memory, prefill through fp16 GEMMs and decode through
 * direct matrix-vector products, all on one stream. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "decoder_cuda.h"
#include "device.h"
#include "kernels.h"

#ifndef RAG_HAVE_CUDA

int rag_decoder_cuda_load(const struct rag_gguf *g, const struct rag_decoder_info *info, int64_t n_batch,
			  struct rag_decoder_cuda **out, struct rag_error *err)
{
	(void)g; (void)info; (void)n_batch;
	*out = NULL;
	return rag_error_set(err, RAG_EUNAVAILABLE, "ragkit was built without CUDA: no GPU decoder");
}

void rag_decoder_cuda_free(struct rag_decoder_cuda *c) { (void)c; }

int rag_decoder_cuda_eval(struct rag_decoder_cuda *c, const int32_t *ids, int64_t n, int64_t n_past, int all,
			  float *logits, struct rag_error *err)
{
	(void)c; (void)ids; (void)n; (void)n_past; (void)all; (void)logits;
	return rag_error_set(err, RAG_EUNAVAILABLE, "ragkit was built without CUDA: no GPU decoder");
}

int rag_decoder_cuda_hidden(struct rag_decoder_cuda *c, const int32_t *ids, int64_t n,
			    enum rag_decoder_pool pool, float *out, struct rag_error *err)
{
	(void)c; (void)ids; (void)n; (void)pool; (void)out;
	return rag_error_set(err, RAG_EUNAVAILABLE, "ragkit was built without CUDA: no GPU decoder");
}

#else

#include <cuda_runtime_api.h>

#include "cuda_check.h"

/* A weight matrix of n rows of k elements on the device. */
struct dmat {
	void *raw;          /* stored bytes (NULL once a half copy replaces them) */
	uint16_t *f16;      /* half copy for GEMMs (== raw for F16 files) */
	enum rag_dtype type;
	int64_t n, k;
};

struct dlayer {
	float *attn_norm, *ffn_norm, *q_norm, *k_norm, *bq, *bk, *bv, *bo;
	struct dmat wq, wk, wv, wo, gate, up, down;
};

struct rag_decoder_cuda {
	struct rag_decoder_info info;
	int64_t n_batch;
	struct dmat tok, out;       /* out.raw == tok.raw when tied */
	int tied;
	int attn_h;                 /* prefill attention on tensor cores (rag_cuda_attn_causal_h) */
	float *out_norm, *rope_factors;
	struct dlayer *L;
	float *kc, *vc;             /* [n_layer][n_ctx][n_head_kv * head_dim] */
	float *x, *h, *q, *att, *ffg, *ffu, *dlog, *ascr;
	float *fscr;                /* the tensor-core prefill attention's split parts */
	float *kst, *vst, *qr;      /* a decode step's new key and value before they enter the cache,
				     * and its rotated query */
	uint16_t *h16;
	int32_t *dio;               /* ids then positions, n_batch each */
	int32_t *pin_io;            /* pinned staging for dio */
	float *pin_log;             /* pinned n_vocab floats */
	struct rag_cuda_blas *blas;
	cudaStream_t st;
	/* a decode step as one CUDA graph, captured at the first step and
	 * replayed (every kernel reads the position from the device) */
	cudaGraphExec_t step_graph;
	int graph_state;            /* 0 no step yet, 2 warmed up (one step run directly,
				     * every kernel loaded), 1 captured, -1 not used */
};

#define CU(stmt) RAG_GPU_CU("GPU decoder", stmt)
#define OP(expr) RAG_GPU_OP("GPU decoder", expr)

static void dmat_free(struct dmat *m)
{
	if (m->f16 && (void *)m->f16 != m->raw)
		rag_cuda_free(m->f16);
	rag_cuda_free(m->raw);
	m->f16 = NULL;
	m->raw = NULL;
}

void rag_decoder_cuda_free(struct rag_decoder_cuda *c)
{
	if (!c)
		return;
	if (c->st)
		cudaStreamSynchronize(c->st);
	for (int64_t i = 0; c->L && i < c->info.n_layer; i++) {
		struct dlayer *l = &c->L[i];
		rag_cuda_free(l->attn_norm); rag_cuda_free(l->ffn_norm); rag_cuda_free(l->q_norm);
		rag_cuda_free(l->k_norm); rag_cuda_free(l->bq); rag_cuda_free(l->bk); rag_cuda_free(l->bv);
		rag_cuda_free(l->bo);
		dmat_free(&l->wq); dmat_free(&l->wk); dmat_free(&l->wv); dmat_free(&l->wo);
		dmat_free(&l->gate); dmat_free(&l->up); dmat_free(&l->down);
	}
	rag_free(c->L);
	if (c->tied)
		memset(&c->out, 0, sizeof c->out);
	dmat_free(&c->out);
	dmat_free(&c->tok);
	rag_cuda_free(c->out_norm); rag_cuda_free(c->rope_factors);
	rag_cuda_free(c->kc); rag_cuda_free(c->vc);
	rag_cuda_free(c->x); rag_cuda_free(c->h); rag_cuda_free(c->q); rag_cuda_free(c->att);
	rag_cuda_free(c->ffg); rag_cuda_free(c->ffu); rag_cuda_free(c->dlog); rag_cuda_free(c->ascr);
	rag_cuda_free(c->fscr);
	rag_cuda_free(c->h16); rag_cuda_free(c->dio); rag_cuda_free(c->kst); rag_cuda_free(c->vst);
	rag_cuda_free(c->qr);
	if (c->step_graph)
		cudaGraphExecDestroy(c->step_graph);
	if (c->pin_io)
		cudaFreeHost(c->pin_io);
	if (c->pin_log)
		cudaFreeHost(c->pin_log);
	rag_cuda_blas_free(c->blas);
	if (c->st)
		cudaStreamDestroy(c->st);
	rag_free(c);
}

/* The raw bytes of tensor name on the device; *t gets the tensor (NULL and 0
 * when absent and optional). */
static int up_raw(const struct rag_gguf *g, const char *name, int required, void **d,
		  const struct rag_gguf_tensor **t, struct rag_error *err)
{
	*d = NULL;
	*t = rag_gguf_find_tensor(g, name);
	if (!*t)
		return required ? rag_error_set(err, RAG_EMODEL, "GPU decoder: tensor '%s' missing", name) : 0;
	if (rag_cuda_malloc(d, (size_t)(*t)->nbytes) || rag_cuda_upload(*d, (*t)->data, (size_t)(*t)->nbytes)) {
		rag_cuda_free(*d);
		*d = NULL;
		return rag_error_set(err, RAG_EUNAVAILABLE, "GPU decoder: uploading '%s': %s", name,
				     rag_cuda_last_error());
	}
	return 0;
}

/* A vector tensor as float32 on the device (NULL when absent and optional). */
static int up_vec(const struct rag_gguf *g, const char *name, int required, float **d, struct rag_error *err)
{
	const struct rag_gguf_tensor *t;
	void *raw;
	int64_t n;
	int rc;

	*d = NULL;
	if ((rc = up_raw(g, name, required, &raw, &t, err)) || !t)
		return rc;
	n = rag_gguf_tensor_nelements(t);
	if (rag_cuda_malloc((void **)d, (size_t)n * sizeof(float)) ||
	    rag_cuda_dequant((enum rag_dtype)t->type, raw, *d, 1, n, NULL) || rag_cuda_sync()) {
		rag_cuda_free(raw);
		rag_cuda_free(*d);
		*d = NULL;
		return rag_error_set(err, RAG_EUNAVAILABLE, "GPU decoder: '%s': %s", name, rag_cuda_last_error());
	}
	rag_cuda_free(raw);
	return 0;
}

/*
 * A matrix: stored bytes, plus a half copy when gemm (prefill uses it) or when
 * no direct matrix-vector product reads its type (then the stored bytes go).
 * scratch: rows*k floats for the dequantization.
 */
static int up_mat(const struct rag_gguf *g, const char *name, int gemm, float *scratch, struct dmat *m,
		  struct rag_error *err)
{
	const struct rag_gguf_tensor *t;
	int rc;

	memset(m, 0, sizeof *m);
	if ((rc = up_raw(g, name, 1, &m->raw, &t, err)))
		return rc;
	m->type = (enum rag_dtype)t->type;
	m->k = t->ne[0];
	m->n = rag_gguf_tensor_nelements(t) / t->ne[0];
	if (m->type == RAG_DT_F16) {
		m->f16 = m->raw;
		return 0;
	}
	if (!gemm && rag_cuda_matvec_has_direct(m->type))
		return 0;
	if (rag_cuda_malloc((void **)&m->f16, (size_t)(m->n * m->k) * 2) ||
	    rag_cuda_weight_f16(m->f16, m->raw, m->type, m->n, m->k, scratch, NULL) || rag_cuda_sync())
		return rag_error_set(err, RAG_EUNAVAILABLE, "GPU decoder: '%s' to half: %s", name,
				     rag_cuda_last_error());
	if (!rag_cuda_matvec_has_direct(m->type)) {
		rag_cuda_free(m->raw);
		m->raw = NULL;
	}
	return 0;
}

static int load_layer(const struct rag_gguf *g, struct rag_decoder_cuda *c, int64_t i, float *scratch,
		      struct rag_error *err)
{
	struct dlayer *l = &c->L[i];
	int qwen3 = !strcmp(c->info.arch, "qwen3");
	char nm[96];
	int rc;

#define T(suffix) (snprintf(nm, sizeof nm, "blk.%lld.%s", (long long)i, suffix), nm)
	if ((rc = up_vec(g, T("attn_norm.weight"), 1, &l->attn_norm, err)) ||
	    (rc = up_vec(g, T("ffn_norm.weight"), 1, &l->ffn_norm, err)) ||
	    (rc = up_mat(g, T("attn_q.weight"), 1, scratch, &l->wq, err)) ||
	    (rc = up_mat(g, T("attn_k.weight"), 1, scratch, &l->wk, err)) ||
	    (rc = up_mat(g, T("attn_v.weight"), 1, scratch, &l->wv, err)) ||
	    (rc = up_mat(g, T("attn_output.weight"), 1, scratch, &l->wo, err)) ||
	    (rc = up_mat(g, T("ffn_gate.weight"), 1, scratch, &l->gate, err)) ||
	    (rc = up_mat(g, T("ffn_up.weight"), 1, scratch, &l->up, err)) ||
	    (rc = up_mat(g, T("ffn_down.weight"), 1, scratch, &l->down, err)) ||
	    (rc = up_vec(g, T("attn_q.bias"), 0, &l->bq, err)) ||
	    (rc = up_vec(g, T("attn_k.bias"), 0, &l->bk, err)) ||
	    (rc = up_vec(g, T("attn_v.bias"), 0, &l->bv, err)) ||
	    (rc = up_vec(g, T("attn_output.bias"), 0, &l->bo, err)) ||
	    (rc = up_vec(g, T("attn_q_norm.weight"), qwen3, &l->q_norm, err)) ||
	    (rc = up_vec(g, T("attn_k_norm.weight"), qwen3, &l->k_norm, err)))
		return rc;
#undef T
	return 0;
}

int rag_decoder_cuda_load(const struct rag_gguf *g, const struct rag_decoder_info *info, int64_t n_batch,
			  struct rag_decoder_cuda **out, struct rag_error *err)
{
	struct rag_decoder_cuda *c;
	const struct rag_gguf_tensor *t;
	float *scratch = NULL;
	int64_t e = info->n_embd, hd = info->head_dim, qd = info->n_head * hd, kvd = info->n_head_kv * hd;
	int64_t wide, big;
	int rc = 0;

	*out = NULL;
	if (rag_gpu_count(NULL, 0) <= 0)
		return rag_error_set(err, RAG_EUNAVAILABLE, "no CUDA device (%s)", rag_cuda_last_error());
	if (hd > 256)
		return rag_error_set(err, RAG_EUNAVAILABLE, "GPU decoder: head size %lld above 256", (long long)hd);
	if (!(c = rag_calloc(1, sizeof *c)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	c->info = *info;
	c->n_batch = n_batch > 0 ? n_batch : 512;
	{
		/* RAG_CUDA_GRAPHS=0 runs decode steps launch by launch (debugging aid) */
		const char *gv = getenv("RAG_CUDA_GRAPHS");
		c->graph_state = gv && !strcmp(gv, "0") ? -1 : 0;
		/* RAG_CUDA_ATTN=f32 keeps prefill attention in float32 (comparisons) */
		gv = getenv("RAG_CUDA_ATTN");
		/* (fits wants kvd % 4 == 0, which also keeps every layer's cache 16-byte aligned) */
		c->attn_h = !(gv && !strcmp(gv, "f32")) &&
			    rag_cuda_attn_causal_h_fits(info->n_head, info->n_head_kv, hd, qd, kvd);
	}
	CU(cudaStreamCreateWithFlags(&c->st, cudaStreamNonBlocking));
	OP(rag_cuda_blas_create(&c->blas));
	/* dequantization scratch for the largest layer matrix */
	big = info->n_ff * e > qd * e ? info->n_ff * e : qd * e;
	OP(rag_cuda_malloc((void **)&scratch, (size_t)big * sizeof(float)));
	if ((rc = up_raw(g, "token_embd.weight", 1, &c->tok.raw, &t, err)))
		goto out;
	c->tok.type = (enum rag_dtype)t->type;
	c->tok.k = e;
	c->tok.n = info->n_vocab;
	if (info->tied_output) {
		c->tied = 1;
		c->out = c->tok;
		if (!rag_cuda_matvec_has_direct(c->out.type)) {
			/* a half copy of the vocabulary for the logits (the table keeps its type) */
			float *s2 = NULL;
			c->tied = 0;  /* out owns its half copy only */
			c->out.raw = NULL;
			OP(rag_cuda_malloc((void **)&s2, (size_t)(c->out.n * e) * sizeof(float)));
			if (rag_cuda_malloc((void **)&c->out.f16, (size_t)(c->out.n * e) * 2) ||
			    rag_cuda_weight_f16(c->out.f16, c->tok.raw, c->tok.type, c->out.n, e, s2, NULL) ||
			    rag_cuda_sync()) {
				rag_cuda_free(s2);
				OP(1);
			}
			rag_cuda_free(s2);
		}
	} else {
		float *s2 = NULL;
		if (!rag_cuda_matvec_has_direct((enum rag_dtype)rag_gguf_find_tensor(g, "output.weight")->type))
			OP(rag_cuda_malloc((void **)&s2, (size_t)(info->n_vocab * e) * sizeof(float)));
		rc = up_mat(g, "output.weight", 0, s2, &c->out, err);
		rag_cuda_free(s2);
		if (rc)
			goto out;
	}
	if ((rc = up_vec(g, "output_norm.weight", 1, &c->out_norm, err)) ||
	    (rc = up_vec(g, "rope_freqs.weight", 0, &c->rope_factors, err)))
		goto out;
	if (!(c->L = rag_calloc((size_t)info->n_layer, sizeof *c->L))) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
	for (int64_t i = 0; i < info->n_layer; i++)
		if ((rc = load_layer(g, c, i, scratch, err)))
			goto out;
	rag_cuda_free(scratch);
	scratch = NULL;

	{
		size_t cache = (size_t)info->n_layer * (size_t)info->n_ctx * (size_t)kvd * sizeof(float);
		size_t nb = (size_t)c->n_batch;
		wide = e > qd ? e : qd;
		if (info->n_ff > wide)
			wide = info->n_ff;
		OP(rag_cuda_malloc((void **)&c->kc, cache) || rag_cuda_malloc((void **)&c->vc, cache) ||
		   rag_cuda_malloc((void **)&c->x, nb * (size_t)e * 4) ||
		   rag_cuda_malloc((void **)&c->h, nb * (size_t)e * 4) ||
		   rag_cuda_malloc((void **)&c->q, nb * (size_t)qd * 4) ||
		   rag_cuda_malloc((void **)&c->att, nb * (size_t)qd * 4) ||
		   rag_cuda_malloc((void **)&c->ffg, nb * (size_t)info->n_ff * 4) ||
		   rag_cuda_malloc((void **)&c->ffu, nb * (size_t)info->n_ff * 4) ||
		   rag_cuda_malloc((void **)&c->dlog, (size_t)info->n_vocab * 4) ||
		   rag_cuda_malloc((void **)&c->ascr, rag_cuda_attn_decode_scratch(info->n_ctx, info->n_head, hd)) ||
		   rag_cuda_malloc((void **)&c->h16, nb * (size_t)wide * 2) ||
		   rag_cuda_malloc((void **)&c->dio, 2 * nb * sizeof(int32_t)) ||
		   rag_cuda_malloc((void **)&c->kst, (size_t)kvd * 4) ||
		   rag_cuda_malloc((void **)&c->vst, (size_t)kvd * 4) ||
		   rag_cuda_malloc((void **)&c->qr, (size_t)qd * 4) ||
		   (c->attn_h && rag_cuda_malloc((void **)&c->fscr,
						 rag_cuda_attn_causal_h_scratch(c->n_batch, info->n_head, hd))));
		OP(rag_cuda_attn_decode_scratch_init(c->ascr, info->n_ctx, info->n_head, hd, c->st));
		CU(cudaMallocHost((void **)&c->pin_io, 2 * nb * sizeof(int32_t)));
		CU(cudaMallocHost((void **)&c->pin_log, (size_t)info->n_vocab * sizeof(float)));
	}
	*out = c;
	return RAG_OK;
out:
	rag_cuda_free(scratch);
	rag_decoder_cuda_free(c);
	return rc ? rc : RAG_EUNAVAILABLE;
}

/* y[n] (+)= W x for one row x: the stored blocks when a direct product reads them, else the half copy. */
static int mv(struct rag_decoder_cuda *c, float *y, const float *x, const struct dmat *w, const float *bias,
	      int accumulate)
{
	if (w->raw && rag_cuda_matvec_has_direct(w->type))
		return rag_cuda_matvec(y, x, w->raw, w->type, bias, w->n, w->k, accumulate, c->st);
	return rag_cuda_matvec(y, x, w->f16, RAG_DT_F16, bias, w->n, w->k, accumulate, c->st);
}

/* The product y = W x (+ bias) as one entry of rag_cuda_matvec_multi. */
static struct rag_cuda_mv mv_entry(float *y, const struct dmat *w, const float *bias)
{
	struct rag_cuda_mv e = { y, w->f16, RAG_DT_F16, bias, w->n };

	if (w->raw && rag_cuda_matvec_has_direct(w->type)) {
		e.dw = w->raw;
		e.wtype = w->type;
	}
	return e;
}

/* The gated FFN's two products and SiLU: one launch when both matrices can be
 * read the same way. */
static int glu(struct rag_decoder_cuda *c, const struct dlayer *l)
{
	const struct dmat *g = &l->gate, *u = &l->up;
	int gd = g->raw && rag_cuda_matvec_has_direct(g->type), ud = u->raw && rag_cuda_matvec_has_direct(u->type);

	if (gd && ud && g->type == u->type)
		return rag_cuda_matvec_glu(c->ffg, c->h, g->raw, u->raw, g->type, g->n, g->k, c->st);
	if (!gd && !ud)
		return rag_cuda_matvec_glu(c->ffg, c->h, g->f16, u->f16, RAG_DT_F16, g->n, g->k, c->st);
	return mv(c, c->ffg, c->h, g, NULL, 0) || mv(c, c->ffu, c->h, u, NULL, 0) ||
	       rag_cuda_swiglu(c->ffg, c->ffg, c->ffu, g->n, c->st);
}

/* One layer for a decode step: nothing depends on a host-side position. */
static int layer_step(struct rag_decoder_cuda *c, const struct dlayer *l, float *kc, float *vc)
{
	const struct rag_decoder_info *in = &c->info;
	int64_t e = in->n_embd, hd = in->head_dim, qd = in->n_head * hd, kvd = in->n_head_kv * hd;
	const int32_t *pos = c->dio + c->n_batch;
	void *st = c->st;
	struct rag_cuda_mv qkv[3];

	/* q to c->q, the new key and value to staging (one launch); rope_store
	 * rotates q into c->qr and appends k and v at the device's position */
	qkv[0] = mv_entry(c->q, &l->wq, l->bq);
	qkv[1] = mv_entry(c->kst, &l->wk, l->bk);
	qkv[2] = mv_entry(c->vst, &l->wv, l->bv);
	return rag_cuda_rmsnorm(c->h, c->x, l->attn_norm, 1, e, in->rms_eps, st) ||
	       rag_cuda_matvec_multi(qkv, 3, c->h, e, st) ||
	       (l->q_norm && rag_cuda_rmsnorm(c->q, c->q, l->q_norm, in->n_head, hd, in->rms_eps, st)) ||
	       (l->k_norm && rag_cuda_rmsnorm(c->kst, c->kst, l->k_norm, in->n_head_kv, hd, in->rms_eps, st)) ||
	       rag_cuda_rope_store(c->qr, c->q, qd, in->n_head, kc, vc, c->kst, c->vst, in->n_head_kv, hd, pos, 1,
				   in->n_rot, in->rope_base, in->rope_scale, c->rope_factors, in->rope_neox, st) ||
	       rag_cuda_attn_decode_pos(c->att, c->qr, kc, vc, pos, in->n_ctx, in->n_head, in->n_head_kv, hd, kvd,
					1.0f / sqrtf((float)hd), c->ascr, st) ||
	       mv(c, c->x, c->att, &l->wo, l->bo, 1) ||
	       rag_cuda_rmsnorm(c->h, c->x, l->ffn_norm, 1, e, in->rms_eps, st) || glu(c, l) ||
	       mv(c, c->x, c->ffg, &l->down, NULL, 1);
}

/* The attention of a prefill block, its output in half in c->h16 (the input
 * of the output projection): on tensor cores where the shape allows. */
static int attend_block(struct rag_decoder_cuda *c, const float *kc, const float *vc, int64_t m, int64_t p0)
{
	const struct rag_decoder_info *in = &c->info;
	int64_t hd = in->head_dim, qd = in->n_head * hd, kvd = in->n_head_kv * hd;
	float scale = 1.0f / sqrtf((float)hd);

	if (c->attn_h)
		return rag_cuda_attn_causal_h(c->h16, c->q, kc, vc, m, p0, in->n_head, in->n_head_kv, hd, qd, kvd,
					      scale, c->fscr, c->st);
	return rag_cuda_attn_causal(c->att, c->q, kc, vc, m, p0, in->n_head, in->n_head_kv, hd, qd, kvd, scale,
				    c->st) ||
	       rag_cuda_f32_to_f16(c->h16, c->att, m * qd, c->st);
}

/*
 * One layer for a block of m > 1 tokens at positions p0..: the keys and
 * values written straight into the cache.  Every product reads half: the
 * norms, the attention and SwiGLU write their results in half to c->h16,
 * and the two products that close a residual connection add to c->x in the
 * GEMM (beta 1).
 */
static int layer_block(struct rag_decoder_cuda *c, const struct dlayer *l, float *kc, float *vc, int64_t m,
		       int64_t p0)
{
	const struct rag_decoder_info *in = &c->info;
	int64_t e = in->n_embd, hd = in->head_dim, qd = in->n_head * hd, kvd = in->n_head_kv * hd;
	float *kn = kc + (size_t)p0 * (size_t)kvd, *vn = vc + (size_t)p0 * (size_t)kvd, eps = in->rms_eps;
	const int32_t *pos = c->dio + c->n_batch;
	void *st = c->st;

	return rag_cuda_rmsnorm_h(c->h16, c->x, l->attn_norm, m, e, eps, st) ||
	       rag_cuda_gemm_f16(c->blas, c->q, c->h16, l->wq.f16, l->bq, m, qd, e, st) ||
	       rag_cuda_gemm_f16(c->blas, kn, c->h16, l->wk.f16, l->bk, m, kvd, e, st) ||
	       rag_cuda_gemm_f16(c->blas, vn, c->h16, l->wv.f16, l->bv, m, kvd, e, st) ||
	       (l->q_norm && rag_cuda_rmsnorm(c->q, c->q, l->q_norm, m * in->n_head, hd, eps, st)) ||
	       (l->k_norm && rag_cuda_rmsnorm(kn, kn, l->k_norm, m * in->n_head_kv, hd, eps, st)) ||
	       rag_cuda_rope(c->q, m, qd, in->n_head, hd, pos, in->n_rot, in->rope_base, in->rope_scale,
			     c->rope_factors, in->rope_neox, st) ||
	       rag_cuda_rope(kn, m, kvd, in->n_head_kv, hd, pos, in->n_rot, in->rope_base, in->rope_scale,
			     c->rope_factors, in->rope_neox, st) ||
	       attend_block(c, kc, vc, m, p0) ||
	       rag_cuda_gemm_f16_acc(c->blas, c->x, c->h16, l->wo.f16, l->bo, m, e, qd, st) ||
	       rag_cuda_rmsnorm_h(c->h16, c->x, l->ffn_norm, m, e, eps, st) ||
	       rag_cuda_gemm_f16(c->blas, c->ffg, c->h16, l->gate.f16, NULL, m, in->n_ff, e, st) ||
	       rag_cuda_gemm_f16(c->blas, c->ffu, c->h16, l->up.f16, NULL, m, in->n_ff, e, st) ||
	       rag_cuda_swiglu_h(c->h16, c->ffg, c->ffu, m * in->n_ff, st) ||
	       rag_cuda_gemm_f16_acc(c->blas, c->x, c->h16, l->down.f16, NULL, m, e, in->n_ff, st);
}

/*
 * The layers for m tokens whose ids and positions are in c->dio, at positions
 * p0..; leaves the final-normed hidden states in c->h.  Enqueued only.  A
 * decode step (m == 1) uses no host-side position: it can be captured once
 * and replayed at every position.
 */
static int forward(struct rag_decoder_cuda *c, int64_t m, int64_t p0)
{
	const struct rag_decoder_info *in = &c->info;
	int64_t kvd = in->n_head_kv * in->head_dim;

	if (rag_cuda_embed_rows(c->x, c->tok.raw, c->tok.type, in->n_embd, c->dio, m, 0, c->st))
		return -1;
	for (int64_t li = 0; li < in->n_layer; li++) {
		float *kc = c->kc + (size_t)li * (size_t)in->n_ctx * (size_t)kvd;
		float *vc = c->vc + (size_t)li * (size_t)in->n_ctx * (size_t)kvd;
		if (m == 1 ? layer_step(c, &c->L[li], kc, vc) : layer_block(c, &c->L[li], kc, vc, m, p0))
			return -1;
	}
	return rag_cuda_rmsnorm(c->h, c->x, c->out_norm, m, in->n_embd, in->rms_eps, c->st);
}

/* Stage ids[0..m) and their positions p0.. and send them to c->dio. */
static int upload_ids(struct rag_decoder_cuda *c, const int32_t *ids, int64_t m, int64_t p0, struct rag_error *err)
{
	int rc = 0;

	/* the previous chunk's copy out of the staging buffer must be done */
	CU(cudaStreamSynchronize(c->st));
	memcpy(c->pin_io, ids, (size_t)m * sizeof *ids);
	for (int64_t t = 0; t < m; t++)
		c->pin_io[c->n_batch + t] = (int32_t)(p0 + t);
	CU(cudaMemcpyAsync(c->dio, c->pin_io, (size_t)m * sizeof(int32_t), cudaMemcpyHostToDevice, c->st));
	CU(cudaMemcpyAsync(c->dio + c->n_batch, c->pin_io + c->n_batch, (size_t)m * sizeof(int32_t),
			   cudaMemcpyHostToDevice, c->st));
out:
	return rc;
}

/* Logits of the hidden row x into host memory dst (n_vocab floats). */
static int logits_row(struct rag_decoder_cuda *c, const float *x, float *dst, struct rag_error *err)
{
	size_t nv = (size_t)c->info.n_vocab;
	int rc = 0;

	OP(mv(c, c->dlog, x, &c->out, NULL, 0));
	CU(cudaMemcpyAsync(c->pin_log, c->dlog, nv * sizeof(float), cudaMemcpyDeviceToHost, c->st));
	CU(cudaStreamSynchronize(c->st));
	memcpy(dst, c->pin_log, nv * sizeof(float));
out:
	return rc;
}

/* A decode step's work: id and position in, logits out to pinned memory. */
static int step_enqueue(struct rag_decoder_cuda *c, struct rag_error *err)
{
	int rc = 0;

	CU(cudaMemcpyAsync(c->dio, c->pin_io, sizeof(int32_t), cudaMemcpyHostToDevice, c->st));
	CU(cudaMemcpyAsync(c->dio + c->n_batch, c->pin_io + c->n_batch, sizeof(int32_t), cudaMemcpyHostToDevice,
			   c->st));
	OP(forward(c, 1, 0) || mv(c, c->dlog, c->h, &c->out, NULL, 0));
	CU(cudaMemcpyAsync(c->pin_log, c->dlog, (size_t)c->info.n_vocab * sizeof(float), cudaMemcpyDeviceToHost,
			   c->st));
out:
	return rc;
}

/* Capture step_enqueue as a graph; on any failure decode steps run uncaptured. */
static void step_capture(struct rag_decoder_cuda *c)
{
	struct rag_error e2;
	cudaGraph_t graph = NULL;
	int ok;

	c->graph_state = -1;
	if (cudaStreamBeginCapture(c->st, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
		cudaGetLastError();
		return;
	}
	ok = step_enqueue(c, &e2) == 0;
	if (cudaStreamEndCapture(c->st, &graph) != cudaSuccess || !graph)
		ok = 0;
	if (ok && cudaGraphInstantiate(&c->step_graph, graph, 0) != cudaSuccess) {
		c->step_graph = NULL;
		ok = 0;
	}
	if (graph)
		cudaGraphDestroy(graph);
	cudaGetLastError();  /* a failed capture leaves nothing behind */
	if (ok)
		c->graph_state = 1;
}

/* One decode step (token id at position p) with its logits (NULL: cache only). */
static int step(struct rag_decoder_cuda *c, int32_t id, int64_t p, float *logits, struct rag_error *err)
{
	int rc = 0;

	CU(cudaStreamSynchronize(c->st));
	c->pin_io[0] = id;
	c->pin_io[c->n_batch] = (int32_t)p;
	if (c->graph_state == 2)
		step_capture(c);
	if (c->graph_state == 1) {
		CU(cudaGraphLaunch(c->step_graph, c->st));
	} else {
		/* the first step runs directly: it loads every kernel it uses
		 * (lazy module loading) before any capture */
		if ((rc = step_enqueue(c, err)))
			goto out;
		if (c->graph_state == 0)
			c->graph_state = 2;
	}
	CU(cudaStreamSynchronize(c->st));
	if (logits)
		memcpy(logits, c->pin_log, (size_t)c->info.n_vocab * sizeof(float));
out:
	return rc;
}

int rag_decoder_cuda_eval(struct rag_decoder_cuda *c, const int32_t *ids, int64_t n, int64_t n_past, int all,
			  float *logits, struct rag_error *err)
{
	int64_t e = c->info.n_embd, nv = c->info.n_vocab;
	int rc = 0;

	if (n == 1)
		return step(c, ids[0], n_past, logits, err);
	for (int64_t off = 0; off < n; off += c->n_batch) {
		int64_t m = n - off < c->n_batch ? n - off : c->n_batch;
		if ((rc = upload_ids(c, ids + off, m, n_past + off, err)))
			goto out;
		OP(forward(c, m, n_past + off));
		if (!logits)
			continue;
		if (all) {
			for (int64_t t = 0; t < m; t++)
				if ((rc = logits_row(c, c->h + t * e, logits + (off + t) * nv, err)))
					goto out;
		} else if (off + m == n) {
			if ((rc = logits_row(c, c->h + (m - 1) * e, logits, err)))
				goto out;
		}
	}
	CU(cudaStreamSynchronize(c->st));
out:
	if (rc)
		cudaStreamSynchronize(c->st);
	return rc;
}

int rag_decoder_cuda_hidden(struct rag_decoder_cuda *c, const int32_t *ids, int64_t n,
			    enum rag_decoder_pool pool, float *out, struct rag_error *err)
{
	int64_t e = c->info.n_embd;
	float *rows = NULL;
	int rc = 0;

	if (!(rows = rag_malloc((size_t)(c->n_batch * e) * sizeof *rows)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	for (int64_t i = 0; i < e; i++)
		out[i] = 0.0f;
	for (int64_t off = 0; off < n; off += c->n_batch) {
		int64_t m = n - off < c->n_batch ? n - off : c->n_batch;
		if ((rc = upload_ids(c, ids + off, m, off, err)))
			goto out;
		OP(forward(c, m, off));
		CU(cudaMemcpyAsync(rows, c->h, (size_t)(m * e) * sizeof *rows, cudaMemcpyDeviceToHost, c->st));
		CU(cudaStreamSynchronize(c->st));
		if (pool == RAG_DECODER_POOL_MEAN) {
			for (int64_t t = 0; t < m; t++)
				for (int64_t i = 0; i < e; i++)
					out[i] += rows[t * e + i] / (float)n;
		} else if (off + m == n) {
			memcpy(out, rows + (m - 1) * e, (size_t)e * sizeof *out);
		}
	}
out:
	if (rc)
		cudaStreamSynchronize(c->st);
	rag_free(rows);
	return rc;
}

#endif
