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
 * (below) is the same on tensor cores with half inputs. */
#include <math.h>
#include <stdint.h>

#include <cuda_fp16.h>

#include "common.cuh"

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

/* ---- tensor cores: half inputs, mma.sync m16n8k16 -------------------------
 *
 * FlashAttention-2's layout.  One block of 4 warps per (tile of HQ = 64 query
 * rows, head, sequence); warp w owns query rows 16w..16w+15.  Per tile of HK =
 * 64 keys the block stages K and V in shared memory (16-byte loads; rows past
 * the sequence and columns past head_dim are zeros).  A warp keeps its Q
 * fragments, its 16 x 64 scores and its 16 x head_dim output accumulator in
 * registers: S = Q K^T by mma.sync (K fragments by ldmatrix), the online
 * softmax on the score registers (the four lanes of a row meet by shuffles;
 * exp2 with log2(e) folded into the scale), then the probabilities, packed to
 * half, are already the A fragments of P V (V fragments by ldmatrix.trans).
 * Register layouts are those of the PTX ISA for mma.m16n8k16 (g = lane / 4,
 * t = lane % 4): A holds rows g and g+8, columns 2t, 2t+1 (+8); B holds
 * k = 2t, 2t+1 (+8) of column g; C holds rows g and g+8, columns 2t, 2t+1.
 */
#define HQ 64
#define HK 64

template <int HD> struct hlayout {
	static constexpr int LDH = HD + 8;   /* halves per staged row: ldmatrix rows fall in distinct banks */
	static constexpr size_t k_off = (size_t)HQ * LDH * 2;
	static constexpr size_t v_off = k_off + (size_t)HK * LDH * 2;
	static constexpr size_t bytes = v_off + (size_t)HK * LDH * 2;
};

/* rows [row0, row0 + nrows) of one head (columns col0 .. col0 + hd) into a 64-row tile, zero-padded */
template <int HD>
__device__ static void tile_load(__half *dst, const __half *src, int64_t ld, int64_t row0, int64_t nrows, int64_t col0,
				 int hd)
{
	constexpr int CPR = HD / 8, LDH = hlayout<HD>::LDH;

	for (int i = threadIdx.x; i < 64 * CPR; i += 128) {
		int r = i / CPR, c = (i % CPR) * 8;
		uint4 val = make_uint4(0, 0, 0, 0);
		if (r < nrows && c < hd)
			val = *(const uint4 *)(src + (row0 + r) * ld + col0 + c);
		*(uint4 *)(dst + r * LDH + c) = val;
	}
}

__device__ static inline void ldsm_x4(uint32_t r[4], const __half *p)
{
	uint32_t a = (uint32_t)__cvta_generic_to_shared(p);
	asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
		     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}

__device__ static inline void ldsm_x4_trans(uint32_t r[4], const __half *p)
{
	uint32_t a = (uint32_t)__cvta_generic_to_shared(p);
	asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
		     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}

/* c (16 x 8, float32) += a (16 x 16, half) . b (16 x 8, half) */
__device__ static inline void mma16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
{
	asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
		     "{%8, %9}, {%0, %1, %2, %3};\n"
		     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
		     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ static inline uint32_t pack_half2(float lo, float hi)
{
	__half2 h = __floats2half2_rn(lo, hi);
	return *(uint32_t *)&h;
}

template <int HD>
__global__ static void __launch_bounds__(128) flash_h_kernel(__half *o, const __half *q, const __half *k,
							     const __half *v, int64_t ld, const int32_t *off,
							     int n_head, int hd, float scale_log2)
{
	using L = hlayout<HD>;
	constexpr int LDH = L::LDH, NK = HK / 8, ND = HD / 8, KS = HD / 16;
	extern __shared__ __align__(128) unsigned char smem[];
	__half *qs = (__half *)smem, *ks = (__half *)(smem + L::k_off), *vs = (__half *)(smem + L::v_off);
	int s = blockIdx.z, h = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
	int g = lane >> 2, t = lane & 3;
	int64_t a = off[s], len = off[s + 1] - a, q0 = (int64_t)blockIdx.x * HQ;
	uint32_t qf[KS][4];
	float acc[ND][4], m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;

	if (q0 >= len)
		return;  /* the whole block: this sequence is shorter than the grid */
	tile_load<HD>(qs, q, ld, a + q0, len - q0, (int64_t)h * hd, hd);
	__syncthreads();
	#pragma unroll
	for (int kk = 0; kk < KS; kk++)  /* rows (lane & 7) + 8 * bit 3, columns + 8 * bit 4 */
		ldsm_x4(qf[kk], qs + (warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDH + kk * 16 + (lane >> 4) * 8);
	#pragma unroll
	for (int n = 0; n < ND; n++)
		acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
	for (int64_t k0 = 0; k0 < len; k0 += HK) {
		int nk = (int)(len - k0 < HK ? len - k0 : HK);
		float sc[NK][4], mx0 = -INFINITY, mx1 = -INFINITY, c0, c1;

		__syncthreads();  /* the previous tiles are no longer read */
		tile_load<HD>(ks, k, ld, a + k0, nk, (int64_t)h * hd, hd);
		tile_load<HD>(vs, v, ld, a + k0, nk, (int64_t)h * hd, hd);
		__syncthreads();
		#pragma unroll
		for (int n = 0; n < NK; n++)
			sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.0f;
		#pragma unroll
		for (int kk = 0; kk < KS; kk++) {
			#pragma unroll
			for (int np = 0; np < NK / 2; np++) {
				uint32_t b[4];  /* keys np*16 + (lane & 7) + 8 * bit 4, dims kk*16 + 8 * bit 3 */
				ldsm_x4(b, ks + (np * 16 + (lane & 7) + (lane >> 4) * 8) * LDH + kk * 16 + ((lane >> 3) & 1) * 8);
				mma16816(sc[2 * np], qf[kk], b[0], b[1]);
				mma16816(sc[2 * np + 1], qf[kk], b[2], b[3]);
			}
		}
		/* scale, mask the keys past the sequence, row maxima (rows g and g + 8) */
		#pragma unroll
		for (int n = 0; n < NK; n++)
			#pragma unroll
			for (int e = 0; e < 4; e++) {
				int key = n * 8 + 2 * t + (e & 1);
				sc[n][e] = key < nk ? sc[n][e] * scale_log2 : -INFINITY;
				if (e < 2)
					mx0 = fmaxf(mx0, sc[n][e]);
				else
					mx1 = fmaxf(mx1, sc[n][e]);
			}
		#pragma unroll
		for (int x = 1; x <= 2; x <<= 1) {
			mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, x));
			mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, x));
		}
		mx0 = fmaxf(m0, mx0);  /* finite: key 0 of the tile exists */
		mx1 = fmaxf(m1, mx1);
		c0 = exp2f(m0 - mx0);  /* 0 on the first tile */
		c1 = exp2f(m1 - mx1);
		m0 = mx0;
		m1 = mx1;
		l0 *= c0;
		l1 *= c1;
		#pragma unroll
		for (int n = 0; n < NK; n++) {
			sc[n][0] = exp2f(sc[n][0] - m0);
			sc[n][1] = exp2f(sc[n][1] - m0);
			sc[n][2] = exp2f(sc[n][2] - m1);
			sc[n][3] = exp2f(sc[n][3] - m1);
			l0 += sc[n][0] + sc[n][1];  /* this lane's part; the row's four lanes meet at the end */
			l1 += sc[n][2] + sc[n][3];
		}
		#pragma unroll
		for (int n = 0; n < ND; n++) {
			acc[n][0] *= c0;
			acc[n][1] *= c0;
			acc[n][2] *= c1;
			acc[n][3] *= c1;
		}
		/* O += P V, 16 keys at a time: the score registers of key tiles 2j and 2j+1 are P's A fragment */
		#pragma unroll
		for (int j = 0; j < HK / 16; j++) {
			uint32_t pa[4] = { pack_half2(sc[2 * j][0], sc[2 * j][1]), pack_half2(sc[2 * j][2], sc[2 * j][3]),
					   pack_half2(sc[2 * j + 1][0], sc[2 * j + 1][1]),
					   pack_half2(sc[2 * j + 1][2], sc[2 * j + 1][3]) };
			#pragma unroll
			for (int dp = 0; dp < ND / 2; dp++) {
				uint32_t b[4];  /* keys j*16 + (lane & 7) + 8 * bit 3, dims dp*16 + 8 * bit 4 */
				ldsm_x4_trans(b, vs + (j * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDH + dp * 16 +
							 (lane >> 4) * 8);
				mma16816(acc[2 * dp], pa, b[0], b[1]);
				mma16816(acc[2 * dp + 1], pa, b[2], b[3]);
			}
		}
	}
	#pragma unroll
	for (int x = 1; x <= 2; x <<= 1) {
		l0 += __shfl_xor_sync(0xffffffffu, l0, x);
		l1 += __shfl_xor_sync(0xffffffffu, l1, x);
	}
	{
		int64_t r0 = q0 + warp * 16 + g, r1 = r0 + 8;
		float i0 = 1.0f / l0, i1 = 1.0f / l1;
		#pragma unroll
		for (int n = 0; n < ND; n++) {
			int col = n * 8 + 2 * t;
			if (col >= hd)
				continue;
			if (r0 < len)
				*(__half2 *)(o + (a + r0) * (int64_t)n_head * hd + (int64_t)h * hd + col) =
					__floats2half2_rn(acc[n][0] * i0, acc[n][1] * i0);
			if (r1 < len)
				*(__half2 *)(o + (a + r1) * (int64_t)n_head * hd + (int64_t)h * hd + col) =
					__floats2half2_rn(acc[n][2] * i1, acc[n][3] * i1);
		}
	}
}

template <int HD>
static int flash_h_launch(__half *o, const __half *q, const __half *k, const __half *v, int64_t ld, const int32_t *off,
			  int64_t n_seq, int64_t max_len, int64_t n_head, int hd, float scale, cudaStream_t st)
{
	dim3 grid((unsigned)((max_len + HQ - 1) / HQ), (unsigned)n_head, (unsigned)n_seq);
	size_t bytes = hlayout<HD>::bytes;

	if (bytes > 48 * 1024)
		RAG_CUDA_TRY(cudaFuncSetAttribute(flash_h_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
						  (int)bytes));
	flash_h_kernel<HD><<<grid, 128, bytes, st>>>(o, q, k, v, ld, off, (int)n_head, hd,
						     scale * 1.4426950408889634f);
	RAG_CUDA_TRY_LAUNCH("attention_h");
	return 0;
}

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
	if (head_dim <= 32)
		return flash_h_launch<32>(o, q, k, v, ld, doff, n_seq, max_len, n_head, (int)head_dim, scale, st);
	if (head_dim <= 64)
		return flash_h_launch<64>(o, q, k, v, ld, doff, n_seq, max_len, n_head, (int)head_dim, scale, st);
	return flash_h_launch<128>(o, q, k, v, ld, doff, n_seq, max_len, n_head, (int)head_dim, scale, st);
}
