/* test-encoder-ops.c: each encoder op of kernels/cpu against a plain double-
 * precision reference on random inputs (the CPU side of the GPU twin tests). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

static uint64_t rng = 88172645463325252ull;

static float urand(void)   /* uniform in [-1, 1) */
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *rnd(size_t n, float scale)
{
	float *v = malloc(n * sizeof *v);
	cr_assert(v);
	for (size_t i = 0; i < n; i++)
		v[i] = urand() * scale;
	return v;
}

/* Largest |a - b| / (1 + |b|). */
static double max_err(const float *a, const double *b, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++) {
		double e = fabs(a[i] - b[i]) / (1.0 + fabs(b[i]));
		if (!(e <= m))
			m = e;  /* NaN propagates */
	}
	return m;
}

Test(encoder_ops, gelu_and_tanh)
{
	size_t n = 100003;
	float *x = rnd(n, 8.0f), *y = malloc(n * sizeof *y);
	double *r = malloc(n * sizeof *r);
	x[0] = 0.0f; x[1] = -30.0f; x[2] = 30.0f; x[3] = 1e-30f;
	rag_gelu(y, x, (int64_t)n);
	for (size_t i = 0; i < n; i++)
		r[i] = 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)));
	cr_expect_leq(max_err(y, r, n), 1e-6, "gelu error %g", max_err(y, r, n));
	rag_gelu(x + 10, x + 10, 100);   /* in place */
	cr_expect_leq(max_err(x + 10, r + 10, 100), 1e-6);
	rag_tanh(y, x, (int64_t)n);
	for (size_t i = 0; i < n; i++)
		r[i] = tanh(x[i]);
	cr_expect_leq(max_err(y, r, n), 1e-6);
	free(x); free(y); free(r);
}

Test(encoder_ops, layernorm_with_and_without_residual)
{
	int64_t rows = 37, n = 384;
	float *x = rnd((size_t)(rows * n), 3.0f), *res = rnd((size_t)(rows * n), 1.0f);
	float *g = rnd((size_t)n, 1.0f), *b = rnd((size_t)n, 1.0f), *y = malloc((size_t)(rows * n) * sizeof *y);
	double *ref = malloc((size_t)(rows * n) * sizeof *ref);
	for (int with_r = 0; with_r < 2; with_r++) {
		for (int64_t i = 0; i < rows; i++) {
			double mean = 0, var = 0;
			for (int64_t j = 0; j < n; j++)
				mean += x[i * n + j] + (with_r ? res[i * n + j] : 0);
			mean /= n;
			for (int64_t j = 0; j < n; j++) {
				double z = x[i * n + j] + (with_r ? res[i * n + j] : 0) - mean;
				var += z * z;
			}
			var /= n;
			for (int64_t j = 0; j < n; j++)
				ref[i * n + j] = (x[i * n + j] + (with_r ? res[i * n + j] : 0) - mean) / sqrt(var + 1e-12) * g[j] + b[j];
		}
		rag_layernorm(y, x, with_r ? res : NULL, g, b, rows, n, 1e-12f);
		cr_expect_leq(max_err(y, ref, (size_t)(rows * n)), 2e-5, "residual %d: %g", with_r,
			      max_err(y, ref, (size_t)(rows * n)));
	}
	/* in place over the residual, as the encoder calls it */
	rag_layernorm(res, x, res, g, b, rows, n, 1e-12f);
	cr_expect_leq(max_err(res, ref, (size_t)(rows * n)), 2e-5);
	free(x); free(res); free(g); free(b); free(y); free(ref);
}

Test(encoder_ops, softmax_rows)
{
	int64_t rows = 9, n = 1000;
	float *x = rnd((size_t)(rows * n), 40.0f);
	double *ref = malloc((size_t)(rows * n) * sizeof *ref);
	for (int64_t i = 0; i < rows; i++) {
		double mx = -INFINITY, s = 0;
		for (int64_t j = 0; j < n; j++)
			mx = fmax(mx, x[i * n + j]);
		for (int64_t j = 0; j < n; j++)
			s += exp(x[i * n + j] - mx);
		for (int64_t j = 0; j < n; j++)
			ref[i * n + j] = exp(x[i * n + j] - mx) / s;
	}
	rag_softmax(x, rows, n);
	for (int64_t k = 0; k < rows * n; k++)
		cr_assert_leq(fabs(x[k] - ref[k]), 1e-5 * ref[k] + 1e-30, "%lld: %g vs %g", (long long)k, x[k], ref[k]);
	free(x); free(ref);
}

/* Packed sequences of lengths 1, 5, 70, 300 (crossing the 256-row blocks and
 * the 16- and 32-key register blocks), for head sizes that take each of the
 * column paths (32 at a time, 16, single columns, and their mixes). */
static void attention_varlen_case(int64_t hd)
{
	const int32_t off[5] = { 0, 1, 6, 76, 376 };
	int64_t n_seq = 4, T = 376, H = 3, ld = 3 * H * hd + 5;
	float *qkv = rnd((size_t)(T * ld), 2.0f);
	float *o = malloc((size_t)(T * H * hd + 8) * sizeof *o);
	double *ref = calloc((size_t)(T * H * hd), sizeof *ref), *p = malloc((size_t)T * sizeof *p);
	float scale = 1.0f / sqrtf((float)hd);
	const float *q = qkv, *k = qkv + H * hd, *v = qkv + 2 * H * hd;

	for (int i = 0; i < 8; i++)
		o[T * H * hd + i] = 12345.0f;  /* guard band */
	for (int64_t s = 0; s < n_seq; s++)
		for (int64_t h = 0; h < H; h++)
			for (int64_t i = off[s]; i < off[s + 1]; i++) {
				double mx = -INFINITY, sum = 0;
				for (int64_t j = off[s]; j < off[s + 1]; j++) {
					double d = 0;
					for (int64_t t = 0; t < hd; t++)
						d += (double)q[i * ld + h * hd + t] * k[j * ld + h * hd + t];
					p[j] = d * scale;
					mx = fmax(mx, p[j]);
				}
				for (int64_t j = off[s]; j < off[s + 1]; j++)
					sum += p[j] = exp(p[j] - mx);
				for (int64_t j = off[s]; j < off[s + 1]; j++)
					for (int64_t t = 0; t < hd; t++)
						ref[i * H * hd + h * hd + t] += p[j] / sum * v[j * ld + h * hd + t];
			}
	cr_assert_eq(rag_attention(o, q, k, v, ld, off, n_seq, H, hd, scale), 0);
	cr_expect_leq(max_err(o, ref, (size_t)(T * H * hd)), 1e-5, "head size %lld: %g", (long long)hd,
		      max_err(o, ref, (size_t)(T * H * hd)));
	for (int i = 0; i < 8; i++)
		cr_assert_eq(o[T * H * hd + i], 12345.0f, "head size %lld: write past the end", (long long)hd);
	free(qkv); free(o); free(ref); free(p);
}

Test(encoder_ops, attention_varlen)
{
	static const int64_t head_sizes[] = { 16, 32, 40, 64, 7, 50 };
	for (size_t i = 0; i < sizeof head_sizes / sizeof *head_sizes; i++)
		attention_varlen_case(head_sizes[i]);
}

Test(encoder_ops, pooling_and_normalize)
{
	const int32_t off[4] = { 0, 3, 4, 10 };
	int64_t dim = 7;
	float *x = rnd(10 * 7, 1.0f), y[3 * 7];
	double ref[3 * 7];
	for (int m = RAG_POOL_MEAN; m <= RAG_POOL_LAST; m++) {
		for (int s = 0; s < 3; s++)
			for (int j = 0; j < dim; j++) {
				double acc = 0;
				if (m == RAG_POOL_MEAN) {
					for (int t = off[s]; t < off[s + 1]; t++)
						acc += x[t * dim + j];
					acc /= off[s + 1] - off[s];
				} else {
					acc = x[(m == RAG_POOL_CLS ? off[s] : off[s + 1] - 1) * dim + j];
				}
				ref[s * dim + j] = acc;
			}
		rag_pool(y, x, off, 3, dim, (enum rag_pooling)m);
		cr_expect_leq(max_err(y, ref, 21), 1e-6, "mode %d", m);
	}
	rag_l2_normalize(y, 3, dim);
	for (int s = 0; s < 3; s++) {
		double nn = 0;
		for (int j = 0; j < dim; j++)
			nn += (double)y[s * dim + j] * y[s * dim + j];
		cr_expect_float_eq(nn, 1.0, 1e-6);
	}
	memset(y, 0, sizeof y);
	rag_l2_normalize(y, 1, dim);
	cr_expect_eq(y[0], 0.0f);
	free(x);
}

Test(encoder_ops, embedding_gather_all_types)
{
	static const enum rag_dtype types[] = { RAG_DT_F32, RAG_DT_F16, RAG_DT_BF16, RAG_DT_Q8_0 };
	int64_t dim = 64, rows = 10;
	int32_t ids[5] = { 3, 0, 9, 3, 7 };
	for (size_t ti = 0; ti < 4; ti++) {
		float *src = rnd((size_t)(dim * rows), 1.0f), y[5 * 64], ref[5 * 64], row[64];
		size_t rb = rag_dtype_row_size(types[ti], dim);
		uint8_t *table = malloc(rb * (size_t)rows);
		/* build the table: f32/f16/bf16 by conversion, Q8_0 by blocks of 32 */
		for (int64_t r = 0; r < rows; r++) {
			uint8_t *dst = table + (size_t)r * rb;
			const float *s = src + r * dim;
			if (types[ti] == RAG_DT_F32) {
				memcpy(dst, s, rb);
			} else if (types[ti] == RAG_DT_F16 || types[ti] == RAG_DT_BF16) {
				for (int64_t j = 0; j < dim; j++) {
					uint16_t h = types[ti] == RAG_DT_F16 ? rag_f32_to_f16(s[j]) : rag_f32_to_bf16(s[j]);
					memcpy(dst + 2 * j, &h, 2);
				}
			} else {
				for (int64_t b = 0; b < dim / 32; b++) {
					uint16_t h = rag_f32_to_f16(1.0f / 127.0f);
					memcpy(dst + b * 34, &h, 2);
					for (int j = 0; j < 32; j++)
						dst[b * 34 + 2 + j] = (uint8_t)(int8_t)(j - 16);
				}
			}
		}
		rag_embed_rows(y, table, types[ti], dim, ids, 5, 0);
		for (int i = 0; i < 5; i++) {
			rag_dequant_row(types[ti], table + (size_t)ids[i] * rb, row, dim);
			memcpy(ref + i * dim, row, sizeof row);
		}
		cr_expect_arr_eq(y, ref, sizeof y, "type %zu", ti);
		rag_embed_rows(y, table, types[ti], dim, ids, 5, 1);
		for (int i = 0; i < 5 * 64; i++)
			cr_expect_float_eq(y[i], 2 * ref[i], 1e-6f, "type %zu accumulate", ti);
		free(src);
		free(table);
	}
}
