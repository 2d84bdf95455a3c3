/* attention.cu: fused (flash-style) non-causal attention over packed
 * variable-length sequences, the twin of kernels/cpu/attention.c.
 *
 * One block per (tile of BQ query rows, head, sequence); thread i owns query
 * row i of the tile (two threads per row for head_dim > 64): its scaled q and
 * its output accumulator live in registers (indices compile-time constants).  Tiles of BK
 * keys and values go through shared memory; every thread of the block reads
 * the same key at the same time (a broadcast, no bank conflicts).  The
 * softmax is online: a running max m and sum l per row, the accumulator
 * rescaled by exp(m_old - m_new) when the max grows.  No score matrix and no
 * padding: a sequence's tiles stop at its own length.  rag_cuda_attention_h
 * (below) is the same on tensor cores with half inputs (flash_h.cuh). */
#include <math.h>
#include <stdint.h>

#include <cuda_fp16.h>

#include "common.cuh"
#include "flash_h.cuh"

#define BQ 64

/*
 * SPLIT threads share a query row (adjacent lanes), each holding HALF =
 * MAXHD / SPLIT of its columns, so that q and the accumulator stay in
 * registers for head_dim 128 too; partial dot products meet by shuffles.  In
 * shared memory a key row keeps each thread's part at part * (HALF + PAD):
 * with PAD 1 the parts fall in different banks.
 */
template <int MAXHD, int SPLIT>
__global__ static void __launch_bounds__(BQ * SPLIT) flash_kernel(float *o, const float *q, const float *k,
								  const float *v, int64_t ld, const int32_t *off,
								  int n_head, int hd, float scale)
{
	constexpr int HALF = MAXHD / SPLIT, PAD = SPLIT > 1 ? 1 : 0, RS = SPLIT * (HALF + PAD);
	constexpr int BK = 4096 / MAXHD;  /* 16 KiB of keys and 16 KiB of values */
	__shared__ float ks[BK * RS], vs[BK * RS];
	int s = blockIdx.z, h = blockIdx.y, tid = threadIdx.x, part = tid % SPLIT;
	int64_t a = off[s], len = off[s + 1] - a, qi = (int64_t)blockIdx.x * BQ + tid / SPLIT;
	int active = qi < len;
	float qr[HALF], acc[HALF], m = -INFINITY, l = 0.0f;

	if ((int64_t)blockIdx.x * BQ >= len)
		return;  /* the whole block: this sequence is shorter than the grid */
	#pragma unroll
	for (int u = 0; u < HALF; u++) {
		int t = part * HALF + u;
		qr[u] = active && t < hd ? __fmul_rn(q[(a + qi) * ld + (int64_t)h * hd + t], scale) : 0.0f;
		acc[u] = 0.0f;
	}
	for (int64_t k0 = 0; k0 < len; k0 += BK) {
		int nk = (int)(len - k0 < BK ? len - k0 : BK);
		__syncthreads();  /* the previous tile is no longer read */
		for (int idx = tid; idx < nk * hd; idx += BQ * SPLIT) {
			int r = idx / hd, c = idx % hd, at = r * RS + (c / HALF) * (HALF + PAD) + c % HALF;
			int64_t src = (a + k0 + r) * ld + (int64_t)h * hd + c;
			ks[at] = k[src];
			vs[at] = v[src];
		}
		__syncthreads();
		/* rows past the sequence compute too (on zeros): every lane must reach the shuffles */
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
		float *oi = o + (a + qi) * (int64_t)n_head * hd + (int64_t)h * hd + part * HALF;
		#pragma unroll
		for (int u = 0; u < HALF; u++)
			if (part * HALF + u < hd)
				oi[u] = acc[u] * inv;
	}
}

extern "C" int rag_cuda_attention(float *dout, const float *dq, const float *dk, const float *dv, int64_t ld,
				  const int32_t *doff, int64_t n_seq, int64_t max_len, int64_t n_head,
				  int64_t head_dim, float scale, void *stream)
{
	dim3 grid((unsigned)((max_len + BQ - 1) / BQ), (unsigned)n_head, (unsigned)n_seq);
	cudaStream_t st = (cudaStream_t)stream;

	if (n_seq <= 0 || max_len <= 0 || n_head <= 0)
		return 0;
	if (head_dim <= 0 || head_dim > 128 || n_seq > 65535 || n_head > 65535) {
		rag_cuda_set_error("rag_cuda_attention(shape)", __FILE__, __LINE__,
				   "head_dim must be 1..128, n_seq and n_head at most 65535");
		return -1;
	}
	if (head_dim <= 32)
		flash_kernel<32, 1><<<grid, BQ, 0, st>>>(dout, dq, dk, dv, ld, doff, (int)n_head, (int)head_dim, scale);
	else if (head_dim <= 64)
		flash_kernel<64, 1><<<grid, BQ, 0, st>>>(dout, dq, dk, dv, ld, doff, (int)n_head, (int)head_dim, scale);
	else
		flash_kernel<128, 2><<<grid, 2 * BQ, 0, st>>>(dout, dq, dk, dv, ld, doff, (int)n_head, (int)head_dim, scale);
	RAG_CUDA_TRY_LAUNCH("attention");
	return 0;
}

/* ---- tensor cores: half inputs (flash_h.cuh) ---------------------------- */

extern "C" int rag_cuda_attention_h(uint16_t *dout, const uint16_t *dq, const uint16_t *dk, const uint16_t *dv,
				    int64_t ld, const int32_t *doff, int64_t n_seq, int64_t max_len, int64_t n_head,
				    int64_t head_dim, float scale, void *stream)
{
	const __half *q = (const __half *)dq, *k = (const __half *)dk, *v = (const __half *)dv;
	__half *o = (__half *)dout;
	cudaStream_t st = (cudaStream_t)stream;

	if (n_seq <= 0 || max_len <= 0 || n_head <= 0)
		return 0;
	if (head_dim <= 0 || head_dim > 128 || head_dim % 8 || ld % 8 || n_seq > 65535 || n_head > 65535 ||
	    ((uintptr_t)dq | (uintptr_t)dk | (uintptr_t)dv | (uintptr_t)dout) % 16) {
		rag_cuda_set_error("rag_cuda_attention_h(shape)", __FILE__, __LINE__,
				   "head_dim must be a multiple of 8 up to 128, ld a multiple of 8, buffers 16-byte aligned");
		return -1;
	}
	{
		struct flash_args A = { o, q, k, v, ld, ld, n_head * head_dim, doff, 0, 0, 1, (int)head_dim,
					scale * 1.4426950408889634f };
		dim3 grid((unsigned)((max_len + FLASH_HQ - 1) / FLASH_HQ), (unsigned)n_head, (unsigned)n_seq);
		return flash_h_run<__half, __half, false>(&A, grid, st);
	}
}
