/* search.cu: exact vector search on the GPU: memory-bound scores for few
 * queries, squared norms for L2 through a GEMM, and a block radix-select
 * top-k (k <= 1024) with the filter mask applied before selection; for one
 * query and k <= 16, scores and selection fused in one pass. */
#include <math.h>
#include <stdint.h>

#include <cuda_fp16.h>

#include "common.cuh"

#define SMALL_M 8

/* ---- scores for m <= 8 queries: one warp per stored row ------------------- */

/* Eight halves, 16 bytes, as floats. */
__device__ static inline void half8(const uint4 &u, float *x)
{
	const __half2 *h = (const __half2 *)&u;

	#pragma unroll
	for (int i = 0; i < 4; i++) {
		float2 f = __half22float2(h[i]);
		x[2 * i] = f.x;
		x[2 * i + 1] = f.y;
	}
}

__device__ static inline void load8(const void *base, int is_f16, int64_t off, float x[8])
{
	if (is_f16) {
		half8(*(const uint4 *)((const __half *)base + off), x);
	} else {
		const float4 *p = (const float4 *)((const float *)base + off);
		float4 a = p[0], b = p[1];
		x[0] = a.x; x[1] = a.y; x[2] = a.z; x[3] = a.w;
		x[4] = b.x; x[5] = b.y; x[6] = b.z; x[7] = b.w;
	}
}

__device__ static inline float load1(const void *base, int is_f16, int64_t off)
{
	return is_f16 ? __half2float(((const __half *)base)[off]) : ((const float *)base)[off];
}

__global__ static void scores_small_kernel(float *out, const float *q, int m, const void *base, int is_f16,
					   int64_t n, int64_t dim, int l2, int vec)
{
	int lane = threadIdx.x & 31;
	int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
	int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;

	for (int64_t j = warp; j < n; j += nwarps) {
		float acc[SMALL_M];
		int64_t row = j * dim;
		#pragma unroll
		for (int i = 0; i < SMALL_M; i++)
			acc[i] = 0.0f;
		if (vec) {
			for (int64_t t = (int64_t)lane * 8; t < dim; t += 256) {
				float x[8];
				load8(base, is_f16, row + t, x);
				#pragma unroll
				for (int i = 0; i < SMALL_M; i++) {
					if (i >= m)
						break;
					const float *qi = q + (int64_t)i * dim + t;
					#pragma unroll
					for (int e = 0; e < 8; e++) {
						float d = l2 ? qi[e] - x[e] : x[e];
						acc[i] = fmaf(l2 ? d : qi[e], d, acc[i]);
					}
				}
			}
		} else {
			for (int64_t t = lane; t < dim; t += 32) {
				float x = load1(base, is_f16, row + t);
				#pragma unroll
				for (int i = 0; i < SMALL_M; i++) {
					if (i >= m)
						break;
					float qv = q[(int64_t)i * dim + t], d = l2 ? qv - x : x;
					acc[i] = fmaf(l2 ? d : qv, d, acc[i]);
				}
			}
		}
		#pragma unroll
		for (int i = 0; i < SMALL_M; i++) {
			float v = acc[i];
			for (int o = 16; o > 0; o >>= 1)
				v += __shfl_xor_sync(0xffffffffu, v, o);
			if (lane == 0 && i < m)
				out[(int64_t)i * n + j] = l2 ? -v : v;
		}
	}
}

/*
 * The same for dim % 8 == 0, specialized by the number of query rows MT (1,
 * 2, 4 or 8; rows past m are zeros and never written): the queries sit in
 * shared memory, and a row costs 5 shuffles per query instead of 40, which
 * at batch 1 is what separated the kernel from the memory bandwidth.
 */
#define RPW 4

template <int MT>
__global__ static void scores_vec_kernel(float *out, const float *q, int m, const void *base, int is_f16, int64_t n,
					 int64_t dim, int l2)
{
	extern __shared__ float qs[];
	int lane = threadIdx.x & 31;
	int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
	int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;

	for (int64_t i = threadIdx.x; i < MT * dim; i += blockDim.x)
		qs[i] = i < (int64_t)m * dim ? q[i] : 0.0f;
	__syncthreads();
	/* RPW rows per warp at a time: their loads are all in flight before the first use */
	for (int64_t j0 = warp * RPW; j0 < n; j0 += nwarps * RPW) {
		float acc[RPW][MT];
		#pragma unroll
		for (int r = 0; r < RPW; r++)
			#pragma unroll
			for (int i = 0; i < MT; i++)
				acc[r][i] = 0.0f;
		for (int64_t t = (int64_t)lane * 8; t < dim; t += 256) {
			float x[RPW][8];
			#pragma unroll
			for (int r = 0; r < RPW; r++) {
				if (j0 + r < n) {
					load8(base, is_f16, (j0 + r) * dim + t, x[r]);
				} else {
					#pragma unroll
					for (int e = 0; e < 8; e++)
						x[r][e] = 0.0f;
				}
			}
			#pragma unroll
			for (int i = 0; i < MT; i++) {
				const float *qi = qs + i * dim + t;
				#pragma unroll
				for (int e = 0; e < 8; e++) {
					float qe = qi[e];
					#pragma unroll
					for (int r = 0; r < RPW; r++) {
						float d = l2 ? qe - x[r][e] : x[r][e];
						acc[r][i] = fmaf(l2 ? d : qe, d, acc[r][i]);
					}
				}
			}
		}
		#pragma unroll
		for (int r = 0; r < RPW; r++)
			#pragma unroll
			for (int i = 0; i < MT; i++) {
				float v = acc[r][i];
				#pragma unroll
				for (int o = 16; o > 0; o >>= 1)
					v += __shfl_xor_sync(0xffffffffu, v, o);
				if (lane == 0 && i < m && j0 + r < n)
					out[(int64_t)i * n + j0 + r] = l2 ? -v : v;
			}
	}
}

template <int MT>
static int scores_vec_launch(float *dout, const float *dq, int64_t m, const void *dbase, int is_f16, int64_t n,
			     int64_t dim, int metric_l2, cudaStream_t st)
{
	int64_t blocks = (n + 8 * RPW - 1) / (8 * RPW);  /* 8 warps of 32 per block of 256, RPW rows each */
	size_t bytes = (size_t)(MT * dim) * sizeof(float);

	if (bytes > 48 * 1024)
		RAG_CUDA_TRY(cudaFuncSetAttribute(scores_vec_kernel<MT>, cudaFuncAttributeMaxDynamicSharedMemorySize,
						  (int)bytes));
	scores_vec_kernel<MT><<<(unsigned)(blocks > 65536 ? 65536 : blocks), 256, bytes, st>>>(
		dout, dq, (int)m, dbase, is_f16, n, dim, metric_l2);
	RAG_CUDA_TRY_LAUNCH("scores_vec");
	return 0;
}

/* The shape scores_vec_kernel takes for dim, and the shared memory a block
 * may opt in to on the current device (0 when it cannot be read). */
static int scores_vec_shape(int64_t dim)
{
	return dim % 8 == 0 && dim <= 4096;
}

static size_t smem_optin(void)
{
	int dev, v;

	if (cudaGetDevice(&dev) != cudaSuccess ||
	    cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess || v < 0)
		return 0;
	return (size_t)v;
}

/* MT, the query rows scores_vec_kernel holds for m queries (1, 2, 4 or 8). */
static int64_t scores_vec_rows(int64_t m)
{
	return m <= 1 ? 1 : m == 2 ? 2 : m <= 4 ? 4 : 8;
}

extern "C" int64_t rag_cuda_scores_small_max_m(int64_t dim)
{
	size_t lim;
	int64_t mt;

	if (!scores_vec_shape(dim))
		return SMALL_M;  /* every m takes scores_small_kernel */
	lim = smem_optin();
	for (mt = SMALL_M; mt > 1; mt /= 2)
		if ((size_t)(mt * dim) * sizeof(float) <= lim)
			break;
	return mt;
}

extern "C" int rag_cuda_scores_small(float *dout, const float *dq, int64_t m, const void *dbase, int is_f16,
				     int64_t n, int64_t dim, int metric_l2, void *stream)
{
	int64_t blocks = (n + 7) / 8;  /* 8 warps of 32 per block of 256 */
	int vec = dim % 8 == 0;

	if (m <= 0 || n <= 0)
		return 0;
	if (m > SMALL_M) {
		rag_cuda_set_error("rag_cuda_scores_small(m)", __FILE__, __LINE__, "more than 8 queries");
		return -1;
	}
	/* the queries in shared memory where the device has room for them (a
	 * 4096-wide row of 8 is 128 KiB: more than GPUs before sm_80 and the
	 * sm_86/89 parts give a block) */
	if (scores_vec_shape(dim) && m <= rag_cuda_scores_small_max_m(dim)) {
		cudaStream_t st = (cudaStream_t)stream;
		switch (scores_vec_rows(m)) {
		case 1: return scores_vec_launch<1>(dout, dq, m, dbase, is_f16, n, dim, metric_l2, st);
		case 2: return scores_vec_launch<2>(dout, dq, m, dbase, is_f16, n, dim, metric_l2, st);
		case 4: return scores_vec_launch<4>(dout, dq, m, dbase, is_f16, n, dim, metric_l2, st);
		default: return scores_vec_launch<8>(dout, dq, m, dbase, is_f16, n, dim, metric_l2, st);
		}
	}
	scores_small_kernel<<<(unsigned)(blocks > 65536 ? 65536 : blocks), 256, 0, (cudaStream_t)stream>>>(
		dout, dq, (int)m, dbase, is_f16, n, dim, metric_l2, vec);
	RAG_CUDA_TRY_LAUNCH("scores_small");
	return 0;
}

__global__ static void sqnorms_kernel(float *norm, const void *base, int is_f16, int64_t n, int64_t dim)
{
	int lane = threadIdx.x & 31;
	int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
	int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;

	for (int64_t j = warp; j < n; j += nwarps) {
		float acc = 0.0f;
		for (int64_t t = lane; t < dim; t += 32) {
			float x = load1(base, is_f16, j * dim + t);
			acc = fmaf(x, x, acc);
		}
		for (int o = 16; o > 0; o >>= 1)
			acc += __shfl_xor_sync(0xffffffffu, acc, o);
		if (lane == 0)
			norm[j] = acc;
	}
}

extern "C" int rag_cuda_sqnorms(float *dnorm, const void *dbase, int is_f16, int64_t n, int64_t dim, void *stream)
{
	int64_t blocks = (n + 7) / 8;

	if (n <= 0)
		return 0;
	sqnorms_kernel<<<(unsigned)(blocks > 65536 ? 65536 : blocks), 256, 0, (cudaStream_t)stream>>>(
		dnorm, dbase, is_f16, n, dim);
	RAG_CUDA_TRY_LAUNCH("sqnorms");
	return 0;
}

/* ---- top-k by block radix select ------------------------------------------ */

#define SEL_THREADS 512

/* Order-preserving map of a float to an unsigned key; 0 is kept for dropped columns. */
__device__ static inline uint32_t fkey(float v)
{
	uint32_t u = __float_as_uint(v);
	return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

struct sel_src {
	const float *val;      /* row i at val + i*ld */
	const int64_t *idx;    /* stage 2: candidate indices (same layout), -1 = empty; NULL in stage 1 */
	int64_t ld, n, seg;
	const float *xnorm, *qnorm;
	const int64_t *ids;
	const uint8_t *mask;
	int64_t max_key;
};

struct sel_dst {
	float *val;
	int64_t *idx;
	int32_t *count;        /* may be NULL (stage 1) */
	int64_t k, stride;     /* entries of (row i, segment s) at (i * segs + s) * stride */
};

/* Value and key of column j of row i (key 0: dropped). */
__device__ static inline uint32_t sel_key(const sel_src &s, int64_t i, int64_t j, float *v, int64_t *ix)
{
	float x = s.val[i * s.ld + j];
	int64_t id = s.idx ? s.idx[i * s.ld + j] : j;

	if (s.idx) {
		if (id < 0)
			return 0;
	} else {
		if (s.xnorm)
			x = 2.0f * x - s.xnorm[j] - s.qnorm[i];
		if (s.mask) {
			int64_t key = s.ids[j];
			if (key < 0 || key >= s.max_key || !s.mask[key])
				return 0;
		}
	}
	if (x != x)
		return 0;  /* NaN never ranks */
	*v = x;
	*ix = id;
	return fkey(x);
}

__global__ static void __launch_bounds__(SEL_THREADS) select_kernel(sel_src s, sel_dst d)
{
	__shared__ uint32_t hist[256];
	__shared__ uint32_t prefix, pmask, rem, cgt, ceq;
	__shared__ unsigned long long nvalid_sh;
	int64_t i = blockIdx.y, seg = blockIdx.x, segs = gridDim.x;
	int64_t j0 = seg * s.seg, j1 = j0 + s.seg < s.n ? j0 + s.seg : s.n;
	float *ov = d.val + (i * segs + seg) * d.stride;
	int64_t *oi = d.idx + (i * segs + seg) * d.stride;
	int64_t keff, ngt;
	float v;
	int64_t ix;

	if (threadIdx.x == 0) {
		nvalid_sh = 0;
		cgt = ceq = 0;
		prefix = pmask = 0;
	}
	__syncthreads();
	{
		unsigned long long c = 0;
		for (int64_t j = j0 + threadIdx.x; j < j1; j += SEL_THREADS)
			c += sel_key(s, i, j, &v, &ix) != 0;
		atomicAdd(&nvalid_sh, c);
	}
	__syncthreads();
	keff = (int64_t)nvalid_sh < d.k ? (int64_t)nvalid_sh : d.k;
	if ((int64_t)nvalid_sh > d.k) {
		if (threadIdx.x == 0)
			rem = (uint32_t)keff;
		for (int shift = 24; shift >= 0; shift -= 8) {
			for (int b = threadIdx.x; b < 256; b += SEL_THREADS)
				hist[b] = 0;
			__syncthreads();
			for (int64_t j = j0 + threadIdx.x; j < j1; j += SEL_THREADS) {
				uint32_t key = sel_key(s, i, j, &v, &ix);
				if (key && (key & pmask) == prefix)
					atomicAdd(&hist[(key >> shift) & 255u], 1u);
			}
			__syncthreads();
			if (threadIdx.x < 32) {
				/* the bin holding the rem-th largest key, counted from bin 255 down: lane L
				 * sums bins 255-8L .. 248-8L, a warp scan finds the lane, the lane its bin
				 * (a serial scan by one thread cost more than the passes over the data) */
				int lane = threadIdx.x, fl;
				uint32_t c[8], tot = 0, incl, excl, want = rem;
				#pragma unroll
				for (int u = 0; u < 8; u++) {
					c[u] = hist[255 - 8 * lane - u];
					tot += c[u];
				}
				incl = tot;
				#pragma unroll
				for (int o = 1; o < 32; o <<= 1) {
					uint32_t y = __shfl_up_sync(0xffffffffu, incl, o);
					if (lane >= o)
						incl += y;
				}
				excl = incl - tot;
				fl = __ffs(__ballot_sync(0xffffffffu, excl < want && incl >= want)) - 1;
				if (lane == (fl < 0 ? 31 : fl)) {
					uint32_t cum = excl;
					int b = 255 - 8 * lane - 7;
					#pragma unroll
					for (int u = 0; u < 8; u++) {
						if (cum + c[u] >= want || u == 7) {
							b = 255 - 8 * lane - u;
							break;
						}
						cum += c[u];
					}
					rem = want - cum;
					prefix |= (uint32_t)b << shift;
					pmask |= 255u << shift;
				}
			}
			__syncthreads();
		}
		/* prefix is the k-th largest key; take every larger key and rem equal ones */
		ngt = keff - rem;
		for (int64_t j = j0 + threadIdx.x; j < j1; j += SEL_THREADS) {
			uint32_t key = sel_key(s, i, j, &v, &ix);
			if (key > prefix) {
				uint32_t p = atomicAdd(&cgt, 1u);
				ov[p] = v;
				oi[p] = ix;
			} else if (key && key == prefix) {
				uint32_t p = atomicAdd(&ceq, 1u);
				if (p < rem) {
					ov[ngt + p] = v;
					oi[ngt + p] = ix;
				}
			}
		}
	} else {
		for (int64_t j = j0 + threadIdx.x; j < j1; j += SEL_THREADS)
			if (sel_key(s, i, j, &v, &ix)) {
				uint32_t p = atomicAdd(&cgt, 1u);
				ov[p] = v;
				oi[p] = ix;
			}
	}
	for (int64_t p = keff + threadIdx.x; p < d.k; p += SEL_THREADS) {
		ov[p] = -INFINITY;
		oi[p] = -1;
	}
	if (d.count && threadIdx.x == 0)
		d.count[i * segs + seg] = (int32_t)keff;
}

/* ---- top-k for small k: per-thread lists merged by warps ---------------------
 *
 * For k <= SMALL_K (a search's usual 10) and a few queries, the radix
 * select's six passes over a segment cost more than the data (ncu, 1M
 * scores, batch 1, H100: its two stages 66 + 45 us when last measured, these
 * 38 + 13 us).  Here each thread keeps the SMALL_K largest keys it meets in
 * registers (a sorted list; a key below the list's last is one compare), in
 * one pass.  A warp then takes its k largest by k rounds of
 * a warp-wide max over the lists' heads (the winning lane pops its head), the
 * block's eight warps leave theirs in shared memory, and one warp takes the
 * block's k the same way.  Same inputs, outputs and ties rule (any of equal
 * keys) as select_kernel; entries past the valid count are -inf and -1.
 */
#define SMALL_K 16
#define SMALL_SEL_M 8   /* the most queries it takes (see rag_cuda_topk) */
#define SMALL_THREADS 256

/* the largest (key, lane) of the warp: keys first, the lower lane on ties */
__device__ static inline unsigned long long warp_max_head(uint32_t key, int lane)
{
	unsigned long long x = ((unsigned long long)key << 32) | (uint32_t)(31 - lane);
	#pragma unroll
	for (int o = 16; o > 0; o >>= 1) {
		unsigned long long y = __shfl_xor_sync(0xffffffffu, x, o);
		x = y > x ? y : x;
	}
	return x;
}

/* k rounds: the warp's k largest of its lanes' sorted lists, into (ov, oi, ok)[0..k) */
__device__ static inline void warp_take(uint32_t (&tk)[SMALL_K], float (&tv)[SMALL_K], int64_t (&ti)[SMALL_K],
					int64_t k, int lane, uint32_t *ok, float *ov, int64_t *oi)
{
	for (int64_t r = 0; r < k; r++) {
		unsigned long long w = warp_max_head(tk[0], lane);
		if (31 - (int)(w & 31u) == lane) {
			ok[r] = tk[0];
			ov[r] = tv[0];
			oi[r] = ti[0];
			#pragma unroll
			for (int p = 0; p < SMALL_K - 1; p++) {
				tk[p] = tk[p + 1];
				tv[p] = tv[p + 1];
				ti[p] = ti[p + 1];
			}
			tk[SMALL_K - 1] = 0;
		}
	}
}

__global__ static void __launch_bounds__(SMALL_THREADS) small_select_kernel(sel_src s, sel_dst d)
{
	__shared__ uint32_t wk[SMALL_THREADS / 32][SMALL_K], bk[SMALL_K];
	__shared__ float wv[SMALL_THREADS / 32][SMALL_K], bv[SMALL_K];
	__shared__ int64_t wi[SMALL_THREADS / 32][SMALL_K], bi[SMALL_K];
	int64_t i = blockIdx.y, seg = blockIdx.x, segs = gridDim.x;
	int64_t j0 = seg * s.seg, j1 = j0 + s.seg < s.n ? j0 + s.seg : s.n;
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	uint32_t tk[SMALL_K];
	float tv[SMALL_K];
	int64_t ti[SMALL_K];

	#pragma unroll
	for (int p = 0; p < SMALL_K; p++) {
		tk[p] = 0;
		tv[p] = -INFINITY;
		ti[p] = -1;
	}
	for (int64_t j = j0 + threadIdx.x; j < j1; j += SMALL_THREADS) {
		float v;
		int64_t ix;
		uint32_t key = sel_key(s, i, j, &v, &ix);
		if (key <= tk[SMALL_K - 1])
			continue;  /* dropped (0), or below this thread's list */
		#pragma unroll
		for (int p = 0; p < SMALL_K; p++) {  /* insertion: the list stays sorted, its last falls off */
			if (key > tk[p]) {
				uint32_t tkey = tk[p];
				float tval = tv[p];
				int64_t tidx = ti[p];
				tk[p] = key; tv[p] = v; ti[p] = ix;
				key = tkey; v = tval; ix = tidx;
			}
		}
	}
	warp_take(tk, tv, ti, d.k, lane, wk[warp], wv[warp], wi[warp]);
	__syncthreads();
	if (warp == 0) {
		int nw = SMALL_THREADS / 32;
		#pragma unroll
		for (int p = 0; p < SMALL_K; p++) {
			bool have = lane < nw && p < d.k;
			tk[p] = have ? wk[lane][p] : 0;
			tv[p] = have ? wv[lane][p] : -INFINITY;
			ti[p] = have ? wi[lane][p] : -1;
		}
		warp_take(tk, tv, ti, d.k, lane, bk, bv, bi);
		__syncwarp();
		{
			float *ov = d.val + (i * segs + seg) * d.stride;
			int64_t *oi = d.idx + (i * segs + seg) * d.stride;
			int n = 0;
			for (int64_t r = lane; r < d.k; r += 32) {
				ov[r] = bk[r] ? bv[r] : -INFINITY;
				oi[r] = bk[r] ? bi[r] : -1;
			}
			if (d.count && lane == 0) {
				for (int64_t r = 0; r < d.k; r++)
					n += bk[r] != 0;
				d.count[i * segs + seg] = n;
			}
		}
	}
}

extern "C" int rag_cuda_topk(const float *dscores, int64_t m, int64_t n, int64_t ld, const float *dxnorm,
			     const float *dqnorm, const int64_t *dids, const uint8_t *dmask, int64_t max_key,
			     int64_t k, float *dval, int64_t *didx, int32_t *dcount, void *dscratch, void *stream)
{
	int64_t segs = (n + RAG_CUDA_TOPK_SEG - 1) / RAG_CUDA_TOPK_SEG;
	cudaStream_t st = (cudaStream_t)stream;
	sel_src s = { dscores, NULL, ld, n, RAG_CUDA_TOPK_SEG, dxnorm, dqnorm, dids, dmask, max_key };

	if (m <= 0 || k <= 0)
		return 0;
	if (k > 1024 || m > 65535 || (dxnorm && !dqnorm) || (dmask && !dids)) {
		rag_cuda_set_error("rag_cuda_topk(arguments)", __FILE__, __LINE__,
				   "k must be 1..1024, m at most 65535, dqnorm with dxnorm, dids with dmask");
		return -1;
	}
	/* the same stages either way; small k for a few queries takes the one-pass
	 * kernel (at batch 1000 its serial merges lost to the radix select: 31 ms
	 * against 17.5 for 1M f16 rows, k 10, on an H100) */
#define SELECT(grid, src, dst)                                                                      \
	do {                                                                                        \
		if (k <= SMALL_K && m <= SMALL_SEL_M)                                               \
			small_select_kernel<<<grid, SMALL_THREADS, 0, st>>>(src, dst);              \
		else                                                                                \
			select_kernel<<<grid, SEL_THREADS, 0, st>>>(src, dst);                      \
		RAG_CUDA_TRY_LAUNCH("select");                                                      \
	} while (0)
	if (segs <= 1) {
		sel_dst d = { dval, didx, dcount, k, k };
		s.seg = n > 0 ? n : 1;
		SELECT(dim3(1, (unsigned)m), s, d);
		return 0;
	}
	{
		int64_t *cidx = (int64_t *)dscratch;
		float *cval = (float *)(cidx + m * segs * k);
		sel_dst d1 = { cval, cidx, NULL, k, k };
		sel_src s2 = { cval, cidx, segs * k, segs * k, segs * k, NULL, NULL, NULL, NULL, 0 };
		sel_dst d2 = { dval, didx, dcount, k, k };

		SELECT(dim3((unsigned)segs, (unsigned)m), s, d1);
		SELECT(dim3(1, (unsigned)m), s2, d2);
	}
#undef SELECT
	return 0;
}

/* ---- one pass: scores and top-k fused, for one query and small k ------------
 *
 * At batch 1 the search is a read of the stored rows at memory speed; writing
 * the scores and selecting from them in a second kernel cost 14% of it (1M
 * f16 rows of 384: 313.6 us of scores and 37.5 + 12.6 of selection, ncu,
 * H100).  Here the scores never leave the warp: the whole search went from
 * 0.346 to 0.285 ms (f16) and 0.609 to 0.554 ms (f32), 80% and 83% of the
 * H100's 3.35 TB/s; a plain read of as many bytes takes 0.25 ms.
 *
 * The grid is one wave of resident blocks, and each warp walks the rows in
 * tiles: a row's C 16-byte vectors are read by a group of G lanes, V each
 * (rag_cuda_scan_fits), and a tile is S = SCAN_U / V steps of 32 / G rows.
 * The next tile's loads are issued before this tile's arithmetic (so a lane
 * has up to 2 x SCAN_U loads in flight), and the V vectors of the query a
 * lane multiplies by sit in its registers.  After a step each group sums its
 * row over its G lanes, and the row enters the warp's list (its k best,
 * sorted, in shared memory) only if it beats the bar: the larger of the
 * list's last key and the best last key of any full list in the block (whose
 * k rows all reach the block's merge).  After the first rows that compare is
 * almost always false.  At the end the block's warps merge their lists; the
 * block sends out those of its k best that can still rank (see below), and
 * the last block to finish merges them into the result: one launch in all.
 *
 * More queries share the rows but not the registers: with the query rows in
 * shared memory the scan lost to scores_vec_kernel + small_select_kernel at
 * every batch from 2 to 8 (0.52 against 0.44 ms for 2 queries over 1M f16
 * rows of 384, H100), so it takes one query.
 */
#define SCAN_THREADS 512
#define SCAN_WARPS (SCAN_THREADS / 32)
#define SCAN_U 8
#define FULL_MASK 0xffffffffu
static_assert(RAG_CUDA_SCAN_K == SMALL_K, "a warp list holds k <= RAG_CUDA_SCAN_K");

struct scan_args {
	const float *q;
	const void *base;
	int64_t n, dim;
	const int64_t *ids;
	const uint8_t *mask;
	int64_t max_key;
	float *val, *cval;        /* the result (k); the blocks' candidates */
	int64_t *idx, *cidx;
	int32_t *count;
	unsigned *ctl;            /* [0] blocks done, [1] best k-th key a block reported, [2] candidates;
				   * zero before a launch, and the last block leaves them zero */
	int k, l2, glog;
};

/* A warp's k best rows, largest key first; key 0 is an empty slot. */
struct scan_list {
	uint32_t key[SMALL_K];
	float val[SMALL_K];
	int64_t row[SMALL_K];
};

__device__ static inline void scan_list_clear(scan_list *lists, int n_lists)
{
	for (int t = threadIdx.x; t < n_lists * SMALL_K; t += blockDim.x) {
		lists[t / SMALL_K].key[t % SMALL_K] = 0;
		lists[t / SMALL_K].val[t % SMALL_K] = -INFINITY;
		lists[t / SMALL_K].row[t % SMALL_K] = -1;
	}
}

/* Put (key, val, row) into list L, whose last key is below key; the whole
 * warp calls it.  Returns the list's new last key. */
__device__ __noinline__ static uint32_t scan_insert(scan_list *L, int k, uint32_t key, float val, int64_t row)
{
	int lane = threadIdx.x & 31;
	uint32_t mk = lane < k ? L->key[lane] : 0, uk;
	float mv = lane < k ? L->val[lane] : 0.0f, uv;
	int64_t mr = lane < k ? L->row[lane] : 0, ur;
	int pos = __popc(__ballot_sync(FULL_MASK, lane < k && mk >= key));

	uk = __shfl_up_sync(FULL_MASK, mk, 1);
	uv = __shfl_up_sync(FULL_MASK, mv, 1);
	ur = __shfl_up_sync(FULL_MASK, mr, 1);
	if (lane == pos) {
		mk = key; mv = val; mr = row;
	} else if (lane > pos) {
		mk = uk; mv = uv; mr = ur;
	}
	if (lane < k) {
		L->key[lane] = mk;
		L->val[lane] = mv;
		L->row[lane] = mr;
	}
	__syncwarp();
	return __shfl_sync(FULL_MASK, mk, k - 1);
}

/* Each lane offers one entry (key 0: none) to list L, whose last key is
 * *thr; those above the list's last key at their turn go in, in lane order. */
__device__ static inline void scan_offer(scan_list *L, int k, uint32_t *thr, uint32_t key, float val, int64_t row)
{
	unsigned bal = __ballot_sync(FULL_MASK, key > *thr);

	while (bal) {
		int b = __ffs(bal) - 1;
		uint32_t ck = __shfl_sync(FULL_MASK, key, b);
		float cv = __shfl_sync(FULL_MASK, val, b);
		int64_t cr = __shfl_sync(FULL_MASK, row, b);
		bal &= bal - 1;
		if (ck > *thr)
			*thr = scan_insert(L, k, ck, cv, cr);
	}
}

/* Merge the block's other warp lists into lists[0] (one warp calls it). */
__device__ static inline void scan_merge_block(scan_list *lists, int k)
{
	int lane = threadIdx.x & 31;
	uint32_t t0 = lists[0].key[k - 1];

	for (int w = 1; w < SCAN_WARPS; w++) {
		bool have = lane < k;
		scan_offer(&lists[0], k, &t0, have ? lists[w].key[lane] : 0, have ? lists[w].val[lane] : 0.0f,
			   have ? lists[w].row[lane] : -1);
	}
}

/* How a warp walks its tile: G lanes a row, V vectors a lane, S steps of 32 / G rows. */
struct scan_shape {
	int64_t n, C;              /* rows, 16-byte vectors a row */
	int G, RG;
	int gl, gr;                /* this lane's place in its group, its group */
};

/* The tile's loads for rows r0 .. (zeros past the last row).  (The L2
 * 256-byte prefetch hint on these loads measured within noise: 0.282
 * against 0.285 ms for 1M f16 rows of 384, H100.) */
template <int V>
__device__ static inline void scan_load(uint4 (&x)[SCAN_U], const uint4 *base, int64_t r0, const scan_shape &h)
{
	#pragma unroll
	for (int s = 0; s < SCAN_U / V; s++)
		#pragma unroll
		for (int v = 0; v < V; v++) {
			int64_t row = r0 + s * h.RG + h.gr;
			x[s * V + v] = row < h.n ? __ldg(base + row * h.C + h.gl + h.G * v) : make_uint4(0, 0, 0, 0);
		}
}

/* A 16-byte vector as floats (8 halves or 4 floats). */
template <bool F16>
__device__ static inline void scan_unpack(const uint4 &x, float (&xf)[F16 ? 8 : 4])
{
	if (F16) {
		half8(x, xf);
	} else {
		const float *f = (const float *)&x;
		#pragma unroll
		for (int e = 0; e < (F16 ? 8 : 4); e++)
			xf[e] = f[e];
	}
}

/*
 * The tile's rows, scored (as scores_vec_kernel) and offered: a step's row,
 * summed over its group's G lanes, is offered by the group's lane 0 when it
 * beats the larger of its warp list's last key (thr) and the block's bar.
 */
template <bool F16, int V>
__device__ static inline void scan_tile(const uint4 (&x)[SCAN_U], const scan_args &a,
					const float (&qr)[V][F16 ? 8 : 4], scan_list *wl, uint32_t &thr,
					unsigned *bar, int64_t r0, const scan_shape &h)
{
	const int E = F16 ? 8 : 4;

	#pragma unroll
	for (int s = 0; s < SCAN_U / V; s++) {
		int64_t row = r0 + s * h.RG + h.gr;
		float sc = 0.0f;
		uint32_t key, t;
		#pragma unroll
		for (int v = 0; v < V; v++) {
			float xf[E];
			scan_unpack<F16>(x[s * V + v], xf);
			#pragma unroll
			for (int e = 0; e < E; e++) {
				float d = a.l2 ? qr[v][e] - xf[e] : xf[e];
				sc = fmaf(a.l2 ? d : qr[v][e], d, sc);
			}
		}
		for (int o = h.G >> 1; o > 0; o >>= 1)
			sc += __shfl_xor_sync(FULL_MASK, sc, o);
		sc = a.l2 ? -sc : sc;
		key = h.gl == 0 && row < h.n && sc == sc ? fkey(sc) : 0;
		t = max(thr, *(volatile unsigned *)bar);
		if (key > t && a.mask) {
			int64_t id = a.ids[row];
			if (id < 0 || id >= a.max_key || !a.mask[id])
				key = 0;
		}
		if (__any_sync(FULL_MASK, key > t)) {
			uint32_t before = thr;
			scan_offer(wl, a.k, &thr, key > t ? key : 0, sc, row);
			if (thr != before && (threadIdx.x & 31) == 0)
				atomicMax(bar, thr);
		}
	}
}

template <bool F16, int V, bool PIPE>
__global__ static void __launch_bounds__(SCAN_THREADS) scan_kernel(scan_args a)
{
	const int E = F16 ? 8 : 4;                 /* elements per 16-byte vector */
	__shared__ scan_list lists[SCAN_WARPS];
	__shared__ unsigned bar;
	__shared__ int last;
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	scan_shape h;
	int64_t R = (int64_t)(SCAN_U / V) * (32 >> a.glog), W = (int64_t)gridDim.x * SCAN_WARPS, r0;
	const uint4 *base = (const uint4 *)a.base;
	uint32_t thr = 0;
	uint4 x[SCAN_U];
	float qr[V][E];

	h.n = a.n;
	h.C = a.dim / E;
	h.G = 1 << a.glog;
	h.RG = 32 >> a.glog;
	h.gl = lane & (h.G - 1);
	h.gr = lane >> a.glog;
	#pragma unroll
	for (int v = 0; v < V; v++)
		#pragma unroll
		for (int e = 0; e < E; e++)
			qr[v][e] = a.q[(h.gl + h.G * v) * E + e];
	scan_list_clear(lists, SCAN_WARPS);
	if (threadIdx.x == 0)
		bar = 0;
	__syncthreads();

	r0 = ((int64_t)blockIdx.x * SCAN_WARPS + warp) * R;
	if (PIPE)
		scan_load<V>(x, base, r0, h);
	for (; r0 < a.n; r0 += W * R) {
		uint4 y[SCAN_U];
		if (PIPE)  /* the next tile's loads go out before this one's arithmetic */
			scan_load<V>(y, base, r0 + W * R, h);
		else
			scan_load<V>(x, base, r0, h);
		scan_tile<F16, V>(x, a, qr, &lists[warp], thr, &bar, r0, h);
		if (PIPE) {
			#pragma unroll
			for (int u = 0; u < SCAN_U; u++)
				x[u] = y[u];
		}
	}

	/* The block's k best go out, but only those that can still rank: none
	 * below the best k-th key any block has reported (that block's k all
	 * went out, so at least k candidates are at or above it). */
	__syncthreads();
	if (warp == 0) {
		uint32_t floor = 0, key;
		unsigned keep;
		int at = 0;
		scan_merge_block(lists, a.k);
		if (lane == 0)
			floor = max(atomicMax(&a.ctl[1], lists[0].key[a.k - 1]), lists[0].key[a.k - 1]);
		floor = __shfl_sync(FULL_MASK, floor, 0);
		key = lane < a.k ? lists[0].key[lane] : 0;
		keep = __ballot_sync(FULL_MASK, key && key >= floor);
		if (lane == 0 && keep)
			at = (int)atomicAdd(&a.ctl[2], (unsigned)__popc(keep));
		at = __shfl_sync(FULL_MASK, at, 0);
		if (keep >> lane & 1u) {
			int64_t o = at + __popc(keep & ((1u << lane) - 1u));
			a.cval[o] = lists[0].val[lane];
			a.cidx[o] = lists[0].row[lane];
		}
	}

	/* the last block to finish merges the candidates */
	__threadfence();
	__syncthreads();
	if (threadIdx.x == 0)
		last = atomicAdd(&a.ctl[0], 1u) == gridDim.x - 1;
	__syncthreads();
	if (!last)
		return;
	__threadfence();
	scan_list_clear(lists, SCAN_WARPS);
	__syncthreads();
	{
		uint32_t t = 0;
		int64_t cnt = (int64_t)__ldcg(&a.ctl[2]);
		for (int64_t j0 = (int64_t)warp * 32; j0 < cnt; j0 += SCAN_THREADS) {
			int64_t j = j0 + lane, r = j < cnt ? __ldcg(a.cidx + j) : -1;
			float cv = j < cnt ? __ldcg(a.cval + j) : 0.0f;
			scan_offer(&lists[warp], a.k, &t, r >= 0 ? fkey(cv) : 0, cv, r);
		}
	}
	__syncthreads();
	if (warp == 0) {
		scan_merge_block(lists, a.k);
		if (lane < a.k) {
			a.val[lane] = lists[0].key[lane] ? lists[0].val[lane] : -INFINITY;
			a.idx[lane] = lists[0].key[lane] ? lists[0].row[lane] : -1;
		}
		{
			int n = __popc(__ballot_sync(FULL_MASK, lane < a.k && lists[0].key[lane] != 0));
			if (a.count && lane == 0)
				a.count[0] = n;
		}
		if (lane < 3)
			a.ctl[lane] = 0;  /* ready for the next launch */
	}
}

template <bool F16, int V, bool PIPE>
static int scan_launch(scan_args a, cudaStream_t st)
{
	int64_t rows = (int64_t)SCAN_WARPS * (SCAN_U / V) * (32 >> a.glog), blocks;
	int per_sm = 0;

	RAG_CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, scan_kernel<F16, V, PIPE>, SCAN_THREADS, 0));
	blocks = (int64_t)(per_sm > 0 ? per_sm : 1) * rag_cuda_multiprocessors();
	if (blocks > (a.n + rows - 1) / rows)
		blocks = (a.n + rows - 1) / rows;
	if (blocks > RAG_CUDA_SCAN_MAX_BLOCKS)
		blocks = RAG_CUDA_SCAN_MAX_BLOCKS;
	if (blocks < 1)
		blocks = 1;
	scan_kernel<F16, V, PIPE><<<(unsigned)blocks, SCAN_THREADS, 0, st>>>(a);
	RAG_CUDA_TRY_LAUNCH("scan_topk");
	return 0;
}

extern "C" int rag_cuda_scan_topk(const float *dq, const void *dbase, int half, int64_t n, int64_t dim,
				  int metric_l2, const int64_t *dids, const uint8_t *dmask, int64_t max_key,
				  int64_t k, float *dval, int64_t *didx, int32_t *dcount, void *dscratch,
				  unsigned *dctl, void *stream)
{
	scan_args a;
	int glog = 0, v = rag_cuda_scan_fits(dim, half, &glog);
	cudaStream_t st = (cudaStream_t)stream;

	if (k <= 0)
		return 0;
	if (k > RAG_CUDA_SCAN_K || !v || (dmask && !dids)) {
		rag_cuda_set_error("rag_cuda_scan_topk(arguments)", __FILE__, __LINE__,
				   "k must be 1..16, dim a shape rag_cuda_scan_fits takes, dids with dmask");
		return -1;
	}
	a.q = dq;
	a.base = dbase;
	a.n = n > 0 ? n : 0;  /* no rows: one block leaves an empty result */
	a.dim = dim;
	a.ids = dids;
	a.mask = dmask;
	a.max_key = max_key;
	a.val = dval;
	a.idx = didx;
	a.count = dcount;
	a.ctl = dctl;
	a.cidx = (int64_t *)dscratch;
	a.cval = (float *)(a.cidx + RAG_CUDA_SCAN_MAX_BLOCKS * k);
	a.k = (int)k;
	a.l2 = metric_l2;
	a.glog = glog;
	/* the next tile's loads in flight as well, except where the query's
	 * registers and two tiles would not fit 128 a thread (8 f16 vectors a lane) */
	switch (v) {
	case 1: return half ? scan_launch<true, 1, true>(a, st) : scan_launch<false, 1, true>(a, st);
	case 2: return half ? scan_launch<true, 2, true>(a, st) : scan_launch<false, 2, true>(a, st);
	case 3: return half ? scan_launch<true, 3, true>(a, st) : scan_launch<false, 3, true>(a, st);
	case 4: return half ? scan_launch<true, 4, true>(a, st) : scan_launch<false, 4, true>(a, st);
	case 5: return half ? scan_launch<true, 5, true>(a, st) : scan_launch<false, 5, true>(a, st);
	case 6: return half ? scan_launch<true, 6, true>(a, st) : scan_launch<false, 6, true>(a, st);
	case 7: return half ? scan_launch<true, 7, false>(a, st) : scan_launch<false, 7, true>(a, st);
	default: return half ? scan_launch<true, 8, false>(a, st) : scan_launch<false, 8, true>(a, st);
	}
}
