/* attn_causal.cu: GPU twins of kernels/cpu/attn_causal.c and attn_decode.c:
 * causal grouped-query attention over the KV cache, for a prefill block
 * (fused, flash-style) and for the one query token of a decode step
 * (split over the cache, then a merge).
 *
 * Prefill: one block per (tile of CQ query rows, query head); SPLIT adjacent
 * threads own a query row of the tile, each holding MAXHD / SPLIT (32, or 64
 * for head_dim > 128) of its columns, its scaled q and its accumulator in
 * registers.  Tiles of keys and values of the head's KV group stream
 * through shared memory up to the last position the tile sees; the softmax
 * is online (running max m and sum l, the accumulator rescaled when m
 * grows); keys past a row's own position are skipped after the shuffles.
 *
 * Decode: one block per (query head, chunk of DCH cache rows).  Thread j
 * scores key j of the chunk (a dot product over head_dim, float4 loads when
 * aligned), the block takes the chunk's max and sum, and the threads then
 * accumulate p_j v_j by columns (keys split among the spare threads).  Each
 * block leaves (m, l, unnormalized o) in scratch and counts itself done; the
 * head's last block to finish merges its chunks (no second launch).  A cache
 * of one chunk writes its output directly. */
#include <math.h>
#include <stdint.h>

#include "common.cuh"
#include "flash_h.cuh"

#define CQ 64
#define DCH 128

template <int MAXHD, int SPLIT>
__global__ static void __launch_bounds__(CQ * SPLIT) causal_kernel(float *o, const float *q, const float *k,
								   const float *v, int64_t n_q, int64_t pos0,
								   int n_head, int group, int hd, int64_t q_stride,
								   int64_t kv_stride, float scale)
{
	constexpr int HALF = MAXHD / SPLIT, PAD = SPLIT > 1 ? 1 : 0, RS = SPLIT * (HALF + PAD);
	constexpr int BK = 4096 / MAXHD;  /* 16 KiB of keys and 16 KiB of values */
	__shared__ float ks[BK * RS], vs[BK * RS];
	int h = blockIdx.y, g = h / group, tid = threadIdx.x, part = tid % SPLIT;
	int64_t t0 = (int64_t)blockIdx.x * CQ, qi = t0 + tid / SPLIT;
	int active = qi < n_q;
	int64_t mypos = pos0 + qi;
	int64_t kend = pos0 + (t0 + CQ < n_q ? t0 + CQ : n_q);  /* keys 0..kend-1 */
	float qr[HALF], acc[HALF], m = -INFINITY, l = 0.0f;

	#pragma unroll
	for (int u = 0; u < HALF; u++) {
		int t = part * HALF + u;
		qr[u] = active && t < hd ? __fmul_rn(q[qi * q_stride + (int64_t)h * hd + t], scale) : 0.0f;
		acc[u] = 0.0f;
	}
	for (int64_t k0 = 0; k0 < kend; k0 += BK) {
		int nk = (int)(kend - k0 < BK ? kend - k0 : BK);
		__syncthreads();  /* the previous tile is no longer read */
		for (int idx = tid; idx < nk * hd; idx += CQ * SPLIT) {
			int r = idx / hd, c = idx % hd, at = r * RS + (c / HALF) * (HALF + PAD) + c % HALF;
			int64_t src = (k0 + r) * kv_stride + (int64_t)g * hd + c;
			ks[at] = k[src];
			vs[at] = v[src];
		}
		__syncthreads();
		for (int j = 0; j < nk; j++) {
			const float *kj = ks + j * RS + part * (HALF + PAD), *vj = vs + j * RS + part * (HALF + PAD);
			float sc = 0.0f, p;
			#pragma unroll
			for (int u = 0; u < HALF; u++)
				if (part * HALF + u < hd)
					sc = fmaf(qr[u], kj[u], sc);
			#pragma unroll
			for (int x = 1; x < SPLIT; x <<= 1)
				sc += __shfl_xor_sync(0xffffffffu, sc, x);
			if (!active || k0 + j > mypos)
				continue;  /* causal mask (after the shuffles every lane joined) */
			if (sc > m) {
				float corr = expf(m - sc);  /* 0 on the first key (m = -inf) */
				l *= corr;
				#pragma unroll
				for (int u = 0; u < HALF; u++)
					acc[u] *= corr;
				m = sc;
			}
			p = expf(sc - m);
			l += p;
			#pragma unroll
			for (int u = 0; u < HALF; u++)
				if (part * HALF + u < hd)
					acc[u] = fmaf(p, vj[u], acc[u]);
		}
	}
	if (active) {
		float inv = 1.0f / l;
		float *oi = o + qi * (int64_t)n_head * hd + (int64_t)h * hd + part * HALF;
		#pragma unroll
		for (int u = 0; u < HALF; u++)
			if (part * HALF + u < hd)
				oi[u] = acc[u] * inv;
	}
}

extern "C" int rag_cuda_attn_causal(float *dout, const float *dq, const float *dk, const float *dv, int64_t n_q,
				    int64_t pos0, int64_t n_head, int64_t n_head_kv, int64_t head_dim,
				    int64_t q_stride, int64_t kv_stride, float scale, void *stream)
{
	dim3 grid((unsigned)((n_q + CQ - 1) / CQ), (unsigned)n_head);
	cudaStream_t st = (cudaStream_t)stream;
	int group;

	if (n_q <= 0 || n_head <= 0)
		return 0;
	if (head_dim <= 0 || head_dim > 256 || n_head_kv <= 0 || n_head % n_head_kv || n_head > 65535 ||
	    (n_q + CQ - 1) / CQ > 0x7fffffff || pos0 < 0) {
		rag_cuda_set_error("rag_cuda_attn_causal(shape)", __FILE__, __LINE__,
				   "head_dim must be 1..256, n_head a multiple of n_head_kv, at most 65535");
		return -1;
	}
	group = (int)(n_head / n_head_kv);
#define CAUSAL(MAXHD, SPLIT)                                                                         \
	causal_kernel<MAXHD, SPLIT><<<grid, CQ * SPLIT, 0, st>>>(dout, dq, dk, dv, n_q, pos0, (int)n_head, \
								  group, (int)head_dim, q_stride, kv_stride, scale)
	/* 32 columns per thread: more threads per block (a prefill chunk gives only
	 * n_q / 64 * n_head blocks) and short serial chains */
	if (head_dim <= 32)
		CAUSAL(32, 1);
	else if (head_dim <= 64)
		CAUSAL(64, 2);
	else if (head_dim <= 128)
		CAUSAL(128, 4);
	else
		CAUSAL(256, 4);  /* 64 columns: 8 threads a row would spill */
#undef CAUSAL
	RAG_CUDA_TRY_LAUNCH("attn_causal");
	return 0;
}

/* The prefill block on tensor cores (flash_h.cuh): q, k and v rounded to half
 * as they are staged, float32 scores and softmax, the output in half.  With
 * scratch, a grid of fewer blocks than twice the multiprocessors splits each
 * block's keys in up to FLASH_SPLIT parts. */
#define FLASH_SPLIT 8

extern "C" size_t rag_cuda_attn_causal_h_scratch(int64_t n_q, int64_t n_head, int64_t head_dim)
{
	return (size_t)FLASH_SPLIT * (size_t)n_q * (size_t)n_head * (size_t)(head_dim + 2) * sizeof(float);
}

extern "C" int rag_cuda_attn_causal_h(uint16_t *dout16, const float *dq, const float *dk, const float *dv,
				      int64_t n_q, int64_t pos0, int64_t n_head, int64_t n_head_kv, int64_t head_dim,
				      int64_t q_stride, int64_t kv_stride, float scale, float *dscratch, void *stream)
{
	int64_t tiles = (n_q + FLASH_HQ - 1) / FLASH_HQ, blocks = tiles * n_head;
	int64_t key_tiles = (pos0 + n_q + FLASH_HK - 1) / FLASH_HK, split = 1;

	if (n_q <= 0 || n_head <= 0)
		return 0;
	if (!rag_cuda_attn_causal_h_fits(n_head, n_head_kv, head_dim, q_stride, kv_stride) || pos0 < 0 ||
	    tiles > 0x7fffffff || ((uintptr_t)dq | (uintptr_t)dk | (uintptr_t)dv | (uintptr_t)dout16) % 16) {
		rag_cuda_set_error("rag_cuda_attn_causal_h(shape)", __FILE__, __LINE__,
				   "head_dim must be a multiple of 8 up to 128, strides multiples of 4, buffers "
				   "16-byte aligned, n_head a multiple of n_head_kv");
		return -1;
	}
	if (dscratch) {
		split = (2 * rag_cuda_multiprocessors() + blocks - 1) / blocks;
		split = split < FLASH_SPLIT ? split : FLASH_SPLIT;
		split = split < key_tiles ? split : key_tiles;
	}
	{
		struct flash_args A = { dout16, dq, dk, dv, q_stride, kv_stride, n_head * head_dim, NULL, n_q, pos0,
					(int)(n_head / n_head_kv), (int)head_dim, scale * 1.4426950408889634f,
					(int)split, dscratch };
		dim3 grid((unsigned)tiles, (unsigned)n_head, (unsigned)split);
		return flash_h_run<float, __half, true>(&A, grid, (cudaStream_t)stream);
	}
}

extern "C" int rag_cuda_attn_causal_h_fits(int64_t n_head, int64_t n_head_kv, int64_t head_dim, int64_t q_stride,
					   int64_t kv_stride)
{
	return head_dim > 0 && head_dim <= 128 && head_dim % 8 == 0 && q_stride % 4 == 0 && kv_stride % 4 == 0 &&
	       n_head_kv > 0 && n_head % n_head_kv == 0 && n_head <= 65535;
}

/* ---- decode ------------------------------------------------------------- */

/* o[h] = sum_c e^(m_c - M) o_c / sum_c e^(m_c - M) l_c over the nc chunks of
 * head h (stride n_chunks in part), read past L1: other blocks wrote them. */
__device__ static void decode_merge(float *o, const float *part, int h, int hd, int n_chunks, int nc)
{
	const float *ph = part + (int64_t)h * n_chunks * (hd + 2);
	float M = -INFINITY, L = 0.0f;

	for (int c = 0; c < nc; c++)
		M = fmaxf(M, __ldcg(ph + (int64_t)c * (hd + 2)));
	for (int c = 0; c < nc; c++)
		L += __ldcg(ph + (int64_t)c * (hd + 2) + 1) * expf(__ldcg(ph + (int64_t)c * (hd + 2)) - M);
	for (int col = threadIdx.x; col < hd; col += blockDim.x) {
		float a = 0.0f;
		for (int c = 0; c < nc; c++)
			a = fmaf(__ldcg(ph + (int64_t)c * (hd + 2) + 2 + col), expf(__ldcg(ph + (int64_t)c * (hd + 2)) - M), a);
		o[(int64_t)h * hd + col] = a / L;
	}
}

/* The decode scratch: one counter per head (zero between calls) first, at
 * the same place whatever the cache length, then per (head, chunk) hd + 2
 * floats (m, l, o[hd]) from a 16-byte boundary. */
static __host__ __device__ inline int64_t decode_counter_floats(int64_t n_head)
{
	return (n_head + 3) & ~(int64_t)3;
}

/* Block DCH threads over one chunk of one head's cache (scratch as above). */
__global__ static void __launch_bounds__(DCH) decode_chunk_kernel(float *o, float *scratch, const float *q,
								  const float *k, const float *v, int64_t n_kv,
								  const int32_t *pos, int group, int hd,
								  int64_t kv_stride, float scale, int n_chunks,
								  int n_head, int vec4)
{
	__shared__ float qs[256], ps[DCH], accs[DCH], red[32];
	__shared__ int last;
	unsigned *done = (unsigned *)scratch;
	float *part = scratch + decode_counter_floats(n_head);
	int h = blockIdx.x, c = blockIdx.y, t = threadIdx.x, g = h / group, nc;
	int64_t j0 = (int64_t)c * DCH;
	int nk;
	float s = -INFINITY, mx, p, l;
	float *out = part + ((int64_t)h * n_chunks + c) * (hd + 2);

	if (pos)
		n_kv = (int64_t)pos[0] + 1;  /* the cache length lives on the device (graph replays) */
	if (j0 >= n_kv)
		return;  /* the whole block: a chunk past the cache */
	nk = (int)(n_kv - j0 < DCH ? n_kv - j0 : DCH);
	nc = (int)((n_kv + DCH - 1) / DCH);
	if (nc > n_chunks)
		nc = n_chunks;  /* a position past max_kv: the chunks there are */

	for (int i = t; i < hd; i += DCH)
		qs[i] = q[(int64_t)h * hd + i];
	__syncthreads();
	if (t < nk) {
		const float *kr = k + (j0 + t) * kv_stride + (int64_t)g * hd;
		float d = 0.0f;
		if (vec4) {
			#pragma unroll 4
			for (int i = 0; i < hd; i += 4) {
				float4 kv4 = *(const float4 *)(kr + i);
				d = fmaf(qs[i], kv4.x, d);
				d = fmaf(qs[i + 1], kv4.y, d);
				d = fmaf(qs[i + 2], kv4.z, d);
				d = fmaf(qs[i + 3], kv4.w, d);
			}
		} else {
			for (int i = 0; i < hd; i++)
				d = fmaf(qs[i], kr[i], d);
		}
		s = __fmul_rn(d, scale);
	}
	mx = rag_block_max(s, red);
	p = t < nk ? expf(s - mx) : 0.0f;
	ps[t] = p;
	l = rag_block_sum(p, red);  /* its barriers also publish ps */
	if (hd <= DCH) {
		int nsplit = DCH / hd, col = t % hd, sp = t / hd;
		float a = 0.0f;
		if (sp < nsplit) {
			const float *vc = v + j0 * kv_stride + (int64_t)g * hd + col;
			/* unrolled so that eight rows' loads are in flight at once (the
			 * sums keep their order: same results) */
			#pragma unroll 8
			for (int j = sp; j < nk; j += nsplit)
				a = fmaf(ps[j], vc[(int64_t)j * kv_stride], a);
		}
		accs[t] = a;
		__syncthreads();
		if (t < hd) {
			for (int x = 1; x < nsplit; x++)
				a += accs[x * hd + t];
			if (nc == 1)
				o[(int64_t)h * hd + t] = a / l;  /* the merge of one chunk, exactly */
			else
				out[2 + t] = a;
		}
	} else {
		for (int col = t; col < hd; col += DCH) {
			const float *vc = v + j0 * kv_stride + (int64_t)g * hd + col;
			float a = 0.0f;
			#pragma unroll 8
			for (int j = 0; j < nk; j++)
				a = fmaf(ps[j], vc[(int64_t)j * kv_stride], a);
			if (nc == 1)
				o[(int64_t)h * hd + col] = a / l;
			else
				out[2 + col] = a;
		}
	}
	if (nc == 1)
		return;  /* a cache of one chunk: nothing to merge */
	if (t == 0) {
		out[0] = mx;
		out[1] = l;
	}
	/* the threadFenceReduction pattern: publish, count, and the last block
	 * of the head (which then sees every part) merges and resets the count */
	__threadfence();
	__syncthreads();
	if (t == 0) {
		last = atomicAdd(done + h, 1u) == (unsigned)(nc - 1);
		if (last)
			done[h] = 0;
	}
	__syncthreads();
	if (!last)
		return;
	__threadfence();
	decode_merge(o, part, h, hd, n_chunks, nc);
}

extern "C" size_t rag_cuda_attn_decode_scratch(int64_t n_kv, int64_t n_head, int64_t head_dim)
{
	return (size_t)(decode_counter_floats(n_head) + n_head * ((n_kv + DCH - 1) / DCH) * (head_dim + 2)) *
	       sizeof(float);
}

extern "C" int rag_cuda_attn_decode_scratch_init(float *dscratch, int64_t n_kv, int64_t n_head, int64_t head_dim,
						 void *stream)
{
	RAG_CUDA_TRY(cudaMemsetAsync(dscratch, 0, rag_cuda_attn_decode_scratch(n_kv, n_head, head_dim),
				     (cudaStream_t)stream));
	return 0;
}

static int attn_decode(float *dout, const float *dq, const float *dk, const float *dv, int64_t n_kv,
		       const int32_t *dpos, int64_t n_head, int64_t n_head_kv, int64_t head_dim, int64_t kv_stride,
		       float scale, float *dscratch, cudaStream_t st)
{
	int64_t n_chunks = (n_kv + DCH - 1) / DCH;
	int vec4;

	if (n_kv <= 0 || n_head <= 0)
		return 0;
	if (head_dim <= 0 || head_dim > 256 || n_head_kv <= 0 || n_head % n_head_kv || n_head > 0x7fffffff ||
	    n_chunks > 65535) {
		rag_cuda_set_error("rag_cuda_attn_decode(shape)", __FILE__, __LINE__,
				   "head_dim must be 1..256, n_head a multiple of n_head_kv, n_kv below 8M");
		return -1;
	}
	vec4 = head_dim % 4 == 0 && kv_stride % 4 == 0 && !((uintptr_t)dk & 15);
	decode_chunk_kernel<<<dim3((unsigned)n_head, (unsigned)n_chunks), DCH, 0, st>>>(
		dout, dscratch, dq, dk, dv, n_kv, dpos, (int)(n_head / n_head_kv), (int)head_dim, kv_stride, scale,
		(int)n_chunks, (int)n_head, vec4);
	RAG_CUDA_TRY_LAUNCH("attn_decode");
	return 0;
}

extern "C" int rag_cuda_attn_decode(float *dout, const float *dq, const float *dk, const float *dv, int64_t n_kv,
				    int64_t n_head, int64_t n_head_kv, int64_t head_dim, int64_t kv_stride,
				    float scale, float *dscratch, void *stream)
{
	return attn_decode(dout, dq, dk, dv, n_kv, NULL, n_head, n_head_kv, head_dim, kv_stride, scale, dscratch,
			   (cudaStream_t)stream);
}

extern "C" int rag_cuda_attn_decode_pos(float *dout, const float *dq, const float *dk, const float *dv,
					const int32_t *dpos, int64_t max_kv, int64_t n_head, int64_t n_head_kv,
					int64_t head_dim, int64_t kv_stride, float scale, float *dscratch,
					void *stream)
{
	return attn_decode(dout, dq, dk, dv, max_kv, dpos, n_head, n_head_kv, head_dim, kv_stride, scale, dscratch,
			   (cudaStream_t)stream);
}

/* Cache rows pos[t] of kc and vc get row t of k and v (kvd floats each). */
__global__ static void kv_store_kernel(float *kc, float *vc, const float *k, const float *v, const int32_t *pos,
				       int64_t m, int64_t kvd)
{
	int64_t total = m * kvd;
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
	     i += (int64_t)gridDim.x * blockDim.x) {
		int64_t t = i / kvd, c = i % kvd, at = (int64_t)pos[t] * kvd + c;
		kc[at] = k[i];
		vc[at] = v[i];
	}
}

extern "C" int rag_cuda_kv_store(float *dkc, float *dvc, const float *dk, const float *dv, const int32_t *dpos,
				 int64_t m, int64_t kvd, void *stream)
{
	int64_t blocks;

	if (m <= 0 || kvd <= 0)
		return 0;
	blocks = (m * kvd + 255) / 256;
	kv_store_kernel<<<(unsigned)(blocks > 65535 ? 65535 : blocks), 256, 0, (cudaStream_t)stream>>>(
		dkc, dvc, dk, dv, dpos, m, kvd);
	RAG_CUDA_TRY_LAUNCH("kv_store");
	return 0;
}
