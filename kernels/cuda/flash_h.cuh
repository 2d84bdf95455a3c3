/* flash_h.cuh: flash attention on tensor cores (mma.sync m16n8k16, half
 * inputs, float32 scores, softmax and accumulation), one kernel template for
 * both users:
 *   - the encoders' non-causal attention over packed variable-length
 *     sequences, half in and half out (attention.cu, rag_cuda_attention_h);
 *   - the decoders' causal grouped-query attention of a prefill block over the
 *     float32 KV cache, float in and float out (attn_causal.cu,
 *     rag_cuda_attn_causal_h): rows are rounded to half as they are staged.
 *
 * FlashAttention-2's layout.  One block of 4 warps per (tile of HQ = 64 query
 * rows, query head, sequence); warp w owns query rows 16w..16w+15.  Per tile of
 * HK = 64 keys the block stages K and V in shared memory (16-byte loads; rows
 * past the keys and columns past head_dim are zeros).  A warp keeps its Q
 * fragments, its 16 x 64 scores and its 16 x head_dim output accumulator in
 * registers: S = Q K^T by mma.sync (K fragments by ldmatrix), the online
 * softmax on the score registers (the four lanes of a row meet by shuffles;
 * exp2 with log2(e) folded into the scale), then the probabilities, packed to
 * half, are already the A fragments of P V (V fragments by ldmatrix.trans).
 * Register layouts are those of the PTX ISA for mma.m16n8k16 (g = lane / 4,
 * t = lane % 4): A holds rows g and g+8, columns 2t, 2t+1 (+8); B holds
 * k = 2t, 2t+1 (+8) of column g; C holds rows g and g+8, columns 2t, 2t+1.
 *
 * Causal blocks stop at the last key their tile's last row sees; a key is
 * masked where it lies past its row's position (pos0 + row).  A causal launch
 * with few blocks (a short prompt has n_q / 64 * n_head of them) splits each
 * block's keys into n_split parts, as flash-decoding does, and a second kernel
 * merges the parts' (max, sum, unnormalized output).  A part can hold no key
 * a row sees: its max stays -inf and its weight in the merge is 0. */
#ifndef RAG_CUDA_FLASH_H_CUH
#define RAG_CUDA_FLASH_H_CUH

#include <math.h>
#include <stdint.h>

#include <cuda_fp16.h>

#include "common.cuh"

#define FLASH_HQ 64
#define FLASH_HK 64

/* What a launch attends: element strides are of the input type T.  Packed
 * sequences (off != NULL): sequence s is rows off[s]..off[s+1] of q, k, v
 * and o alike.  One causal block (off == NULL): query rows 0..n_q of q and o
 * at positions pos0.., keys and values rows 0..pos0+n_q of k and v; query
 * head h reads KV head h / group. */
struct flash_args {
	void *o;
	const void *q, *k, *v;
	int64_t ldq, ldkv, ldo;
	const int32_t *off;
	int64_t n_q, pos0;
	int group, hd;
	float scale_log2;
	/* one causal block over n_split > 1 parts of its keys (blockIdx.z): each
	 * leaves (m, l, unnormalized o) of its rows in part, flash_merge sums them */
	int n_split;
	float *part;
};

template <int HD> struct hlayout {
	static constexpr int LDH = HD + 8;   /* halves per staged row: ldmatrix rows fall in distinct banks */
	static constexpr size_t k_off = (size_t)FLASH_HQ * LDH * 2;
	static constexpr size_t v_off = k_off + (size_t)FLASH_HK * LDH * 2;
	static constexpr size_t bytes = v_off + (size_t)FLASH_HK * LDH * 2;
};

/* eight consecutive elements as eight halves */
__device__ static inline uint4 load8_h(const __half *p) { return *(const uint4 *)p; }

__device__ static inline uint4 load8_h(const float *p)
{
	float4 a = *(const float4 *)p, b = *(const float4 *)(p + 4);
	__half2 h[4] = { __floats2half2_rn(a.x, a.y), __floats2half2_rn(a.z, a.w), __floats2half2_rn(b.x, b.y),
			 __floats2half2_rn(b.z, b.w) };
	return *(uint4 *)h;
}

/* rows [row0, row0 + nrows) of one head (columns col0 .. col0 + hd) into a 64-row tile, zero-padded */
template <int HD, typename T>
__device__ static void tile_load(__half *dst, const T *src, int64_t ld, int64_t row0, int64_t nrows, int64_t col0,
				 int hd)
{
	constexpr int CPR = HD / 8, LDH = hlayout<HD>::LDH;

	for (int i = threadIdx.x; i < 64 * CPR; i += 128) {
		int r = i / CPR, c = (i % CPR) * 8;
		uint4 val = make_uint4(0, 0, 0, 0);
		if (r < nrows && c < hd)
			val = load8_h(src + (row0 + r) * ld + col0 + c);
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

/* A warp's accumulator rows g and g + 8 (each where it exists) times f0 and f1,
 * this lane's columns 2t, 2t + 1 of each 8, to rows d0 and d1. */
template <int ND, typename T>
__device__ static inline void store_rows(T *d0, T *d1, bool ok0, bool ok1, const float (*acc)[4], float f0, float f1,
					 int t, int hd)
{
	#pragma unroll
	for (int n = 0; n < ND; n++) {
		int col = n * 8 + 2 * t;
		if (col >= hd)
			continue;
		if (ok0)
			store2(d0 + col, acc[n][0] * f0, acc[n][1] * f0);
		if (ok1)
			store2(d1 + col, acc[n][2] * f1, acc[n][3] * f1);
	}
}

/* T: the type of q, k and v; TO: of the output. */
template <int HD, typename T, typename TO, bool CAUSAL>
__global__ static void __launch_bounds__(128) flash_h_kernel(struct flash_args A)
{
	using L = hlayout<HD>;
	constexpr int LDH = L::LDH, NK = FLASH_HK / 8, ND = HD / 8, KS = HD / 16;
	extern __shared__ __align__(128) unsigned char smem[];
	__half *qs = (__half *)smem, *ks = (__half *)(smem + L::k_off), *vs = (__half *)(smem + L::v_off);
	const T *q = (const T *)A.q, *k = (const T *)A.k, *v = (const T *)A.v;
	int h = blockIdx.y, hk = h / A.group, hd = A.hd, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
	int g = lane >> 2, t = lane & 3;
	int64_t a = A.off ? A.off[blockIdx.z] : 0, len = A.off ? A.off[blockIdx.z + 1] - a : A.n_q;
	int64_t q0 = (int64_t)blockIdx.x * FLASH_HQ, kbeg = 0, kend;
	int64_t pr0 = A.pos0 + q0 + warp * 16 + g, pr1 = pr0 + 8;  /* positions of rows g and g + 8 */
	uint32_t qf[KS][4];
	float acc[ND][4], m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;

	if (q0 >= len)
		return;  /* the whole block: this sequence is shorter than the grid */
	kend = CAUSAL ? A.pos0 + (q0 + FLASH_HQ < len ? q0 + FLASH_HQ : len) : len;
	if (A.n_split > 1) {  /* this part's whole tiles of the keys */
		int64_t nt = (kend + FLASH_HK - 1) / FLASH_HK, ke = nt * (blockIdx.z + 1) / A.n_split * FLASH_HK;
		kbeg = nt * blockIdx.z / A.n_split * FLASH_HK;
		kend = ke < kend ? ke : kend;
	}
	tile_load<HD>(qs, q, A.ldq, a + q0, len - q0, (int64_t)h * hd, hd);
	__syncthreads();
	#pragma unroll
	for (int kk = 0; kk < KS; kk++)  /* rows (lane & 7) + 8 * bit 3, columns + 8 * bit 4 */
		ldsm_x4(qf[kk], qs + (warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDH + kk * 16 + (lane >> 4) * 8);
	#pragma unroll
	for (int n = 0; n < ND; n++)
		acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
	for (int64_t k0 = kbeg; k0 < kend; k0 += FLASH_HK) {
		int nk = (int)(kend - k0 < FLASH_HK ? kend - k0 : FLASH_HK);
		float sc[NK][4], mx0 = -INFINITY, mx1 = -INFINITY, sh0, sh1, c0, c1;

		__syncthreads();  /* the previous tiles are no longer read */
		tile_load<HD>(ks, k, A.ldkv, a + k0, nk, (int64_t)hk * hd, hd);
		tile_load<HD>(vs, v, A.ldkv, a + k0, nk, (int64_t)hk * hd, hd);
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
		/* scale, mask the keys past the end (or past the row), row maxima (rows g and g + 8) */
		#pragma unroll
		for (int n = 0; n < NK; n++)
			#pragma unroll
			for (int e = 0; e < 4; e++) {
				int key = n * 8 + 2 * t + (e & 1);
				bool seen = key < nk && (!CAUSAL || k0 + key <= (e < 2 ? pr0 : pr1));
				sc[n][e] = seen ? sc[n][e] * A.scale_log2 : -INFINITY;
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
		/* the max stays -inf while a row has seen no key (a part of a split
		 * block); its shift is then 0, so exp2 gives 0 and never NaN */
		mx0 = fmaxf(m0, mx0);
		mx1 = fmaxf(m1, mx1);
		sh0 = mx0 == -INFINITY ? 0.0f : mx0;
		sh1 = mx1 == -INFINITY ? 0.0f : mx1;
		c0 = exp2f(m0 - sh0);  /* 0 on a row's first keys */
		c1 = exp2f(m1 - sh1);
		m0 = mx0;
		m1 = mx1;
		l0 *= c0;
		l1 *= c1;
		#pragma unroll
		for (int n = 0; n < NK; n++) {
			sc[n][0] = exp2f(sc[n][0] - sh0);
			sc[n][1] = exp2f(sc[n][1] - sh0);
			sc[n][2] = exp2f(sc[n][2] - sh1);
			sc[n][3] = exp2f(sc[n][3] - sh1);
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
		for (int j = 0; j < FLASH_HK / 16; j++) {
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
	if (A.n_split > 1) {
		/* part[((z * n_q + row) * n_head + h) * (hd + 2)]: m, l, then o */
		int64_t r0 = q0 + warp * 16 + g, r1 = r0 + 8, w = hd + 2;
		float *p0 = A.part + (((int64_t)blockIdx.z * A.n_q + r0) * gridDim.y + h) * w;
		float *p1 = A.part + (((int64_t)blockIdx.z * A.n_q + r1) * gridDim.y + h) * w;
		if (t == 0 && r0 < len) {
			p0[0] = m0;
			p0[1] = l0;
		}
		if (t == 0 && r1 < len) {
			p1[0] = m1;
			p1[1] = l1;
		}
		store_rows<ND>(p0 + 2, p1 + 2, r0 < len, r1 < len, acc, 1.0f, 1.0f, t, hd);
		return;
	}
	{
		TO *o = (TO *)A.o;
		int64_t r0 = q0 + warp * 16 + g, r1 = r0 + 8;
		store_rows<ND>(o + (a + r0) * A.ldo + (int64_t)h * hd, o + (a + r1) * A.ldo + (int64_t)h * hd, r0 < len,
			       r1 < len, acc, 1.0f / l0, 1.0f / l1, t, hd);
	}
}

/* o[row][h] = the parts' outputs weighted by e^(m - max) over their sums alike;
 * one block per (row, head), a thread per column. */
template <typename TO> __global__ static void flash_merge_kernel(struct flash_args A)
{
	int64_t r = blockIdx.x, w = A.hd + 2;
	int h = blockIdx.y, col = threadIdx.x;
	const float *p = A.part + (r * gridDim.y + h) * w;
	int64_t zs = A.n_q * gridDim.y * w;  /* from one part to the next */
	float M = -INFINITY, L = 0.0f, o = 0.0f;

	if (col >= A.hd)
		return;
	for (int z = 0; z < A.n_split; z++)
		M = fmaxf(M, p[z * zs]);
	for (int z = 0; z < A.n_split; z++) {
		float wt = exp2f(p[z * zs] - M);  /* 0 for a part with no key of this row */
		L = fmaf(wt, p[z * zs + 1], L);
		o = fmaf(wt, p[z * zs + 2 + col], o);
	}
	store1((TO *)A.o + r * A.ldo + (int64_t)h * A.hd + col, o / L);
}

/* Launch over grid (query tiles, query heads, sequences or key parts) for head_dim up to HD. */
template <int HD, typename T, typename TO, bool CAUSAL>
static int flash_h_launch(const struct flash_args *A, dim3 grid, cudaStream_t st)
{
	size_t bytes = hlayout<HD>::bytes;

	if (bytes > 48 * 1024)
		RAG_CUDA_TRY(cudaFuncSetAttribute(flash_h_kernel<HD, T, TO, CAUSAL>,
						  cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
	flash_h_kernel<HD, T, TO, CAUSAL><<<grid, 128, bytes, st>>>(*A);
	RAG_CUDA_TRY_LAUNCH("flash_h");
	if (A->n_split > 1) {
		flash_merge_kernel<TO><<<dim3((unsigned)A->n_q, grid.y), (unsigned)((A->hd + 31) / 32 * 32), 0, st>>>(*A);
		RAG_CUDA_TRY_LAUNCH("flash_merge");
	}
	return 0;
}

/* The head_dim dispatch: 32, 64 or 128 columns of registers. */
template <typename T, typename TO, bool CAUSAL>
static int flash_h_run(const struct flash_args *A, dim3 grid, cudaStream_t st)
{
	if (A->hd <= 32)
		return flash_h_launch<32, T, TO, CAUSAL>(A, grid, st);
	if (A->hd <= 64)
		return flash_h_launch<64, T, TO, CAUSAL>(A, grid, st);
	return flash_h_launch<128, T, TO, CAUSAL>(A, grid, st);
}

#endif
