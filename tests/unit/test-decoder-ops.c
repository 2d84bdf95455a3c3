/* test-decoder-ops.c: the decoder kernels (rmsnorm, rope, swiglu, get_rows,
 * causal and decode attention, quantized matvec) against plain double-precision
 * references on random inputs. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "options.h"

static unsigned seed = 12345u;

static float frand(void)
{
	seed = seed * 1103515245u + 12345u;
	return (float)((seed >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

static void fill(float *x, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		x[i] = frand();
}

Test(decoder_ops, rmsnorm)
{
	float x[3 * 70], w[70], y[3 * 70];
	fill(x, 210);
	fill(w, 70);
	rag_rmsnorm(y, x, w, 3, 70, 1e-5f);
	for (int r = 0; r < 3; r++) {
		double ss = 0;
		for (int i = 0; i < 70; i++)
			ss += (double)x[r * 70 + i] * x[r * 70 + i];
		double s = 1.0 / sqrt(ss / 70 + 1e-5);
		for (int i = 0; i < 70; i++)
			cr_assert_float_eq(y[r * 70 + i], x[r * 70 + i] * s * w[i], 1e-5);
	}
	/* in place, no weight */
	memcpy(y, x, sizeof x);
	rag_rmsnorm(y, y, NULL, 3, 70, 1e-5f);
	double ss = 0;
	for (int i = 0; i < 70; i++)
		ss += (double)x[i] * x[i];
	cr_assert_float_eq(y[5], x[5] / sqrt(ss / 70 + 1e-5), 1e-5);
}

static void rope_ref(double *v, int64_t hd, int64_t n_rot, int32_t pos, double base,
		     double fscale, int neox)
{
	for (int64_t i = 0; i < n_rot / 2; i++) {
		double th = pos * fscale * pow(base, -2.0 * i / n_rot);
		int64_t a = neox ? i : 2 * i, b = neox ? i + n_rot / 2 : 2 * i + 1;
		double x0 = v[a], x1 = v[b];
		v[a] = x0 * cos(th) - x1 * sin(th);
		v[b] = x0 * sin(th) + x1 * cos(th);
	}
	(void)hd;
}

Test(decoder_ops, rope_both_styles)
{
	enum { T = 3, H = 2, HD = 16, STRIDE = 40 };
	int32_t pos[T] = { 0, 7, 300 };
	for (int neox = 0; neox < 2; neox++) {
		for (int64_t n_rot = 8; n_rot <= HD; n_rot += 8) {
			float x[T * STRIDE], y[T * STRIDE];
			fill(x, T * STRIDE);
			memcpy(y, x, sizeof x);
			rag_rope(y, T, STRIDE, H, HD, pos, n_rot, 10000.0f, 0.5f, NULL, neox);
			for (int t = 0; t < T; t++)
				for (int h = 0; h < H; h++) {
					double v[HD];
					for (int i = 0; i < HD; i++)
						v[i] = x[t * STRIDE + h * HD + i];
					rope_ref(v, HD, n_rot, pos[t], 10000.0, 0.5, neox);
					for (int i = 0; i < HD; i++)
						cr_assert_float_eq(y[t * STRIDE + h * HD + i], v[i], 1e-5,
								   "neox %d rot %lld t %d h %d i %d", neox,
								   (long long)n_rot, t, h, i);
				}
			/* the padding after the heads is untouched */
			for (int t = 0; t < T; t++)
				for (int i = H * HD; i < STRIDE; i++)
					cr_assert_eq(y[t * STRIDE + i], x[t * STRIDE + i]);
		}
	}
}

Test(decoder_ops, swiglu)
{
	float g[50], u[50], y[50];
	fill(g, 50);
	fill(u, 50);
	for (int i = 0; i < 50; i++)
		g[i] *= 8;
	rag_swiglu(y, g, u, 50);
	for (int i = 0; i < 50; i++)
		cr_assert_float_eq(y[i], g[i] / (1 + exp(-(double)g[i])) * u[i], 1e-5);
}

/* Random rows of a type: F32/F16/BF16 from floats, block types from random bytes
 * with sane f16 scales. */
static uint8_t *random_rows(enum rag_dtype t, int64_t n, int64_t k)
{
	size_t rb = rag_dtype_row_size(t, k);
	uint8_t *w = malloc(rb * (size_t)n);
	for (size_t i = 0; i < rb * (size_t)n; i++) {
		seed = seed * 1103515245u + 12345u;
		w[i] = (uint8_t)(seed >> 16);
	}
	for (int64_t j = 0; j < n; j++) {
		uint8_t *row = w + (size_t)j * rb;
		const struct rag_dtype_info *ti = rag_dtype_info(t);
		for (int64_t b = 0; b < k / ti->block; b++) {
			uint8_t *blk = row + (size_t)b * ti->size;
			uint16_t h1 = rag_f32_to_f16(0.01f + 0.05f * fabsf(frand()));
			uint16_t h2 = rag_f32_to_f16(0.01f + 0.05f * fabsf(frand()));
			switch (t) {
			case RAG_DT_F32:
				for (uint32_t i = 0; i < ti->block; i++) {
					float v = frand();
					memcpy(blk + 4 * i, &v, 4);
				}
				break;
			case RAG_DT_F16:
				h1 = rag_f32_to_f16(frand());
				memcpy(blk, &h1, 2);
				break;
			case RAG_DT_BF16:
				h1 = rag_f32_to_bf16(frand());
				memcpy(blk, &h1, 2);
				break;
			case RAG_DT_Q6_K:
				memcpy(blk + 208, &h1, 2);
				break;
			case RAG_DT_Q2_K:
				memcpy(blk + 80, &h1, 2);
				memcpy(blk + 82, &h2, 2);
				break;
			case RAG_DT_Q4_K: case RAG_DT_Q5_K:
				memcpy(blk, &h1, 2);
				memcpy(blk + 2, &h2, 2);
				break;
			case RAG_DT_Q3_K:
				memcpy(blk + 108, &h1, 2);
				break;
			default: /* Q8_0, Q4_0, Q5_0, ...: scale first */
				memcpy(blk, &h1, 2);
				break;
			}
		}
	}
	return w;
}

static void check_matvec(enum rag_dtype t, int64_t n, int64_t k, int bias_on)
{
	uint8_t *w = random_rows(t, n, k);
	size_t rb = rag_dtype_row_size(t, k);
	float *x = malloc((size_t)k * 4), *y = malloc((size_t)n * 4), *row = malloc((size_t)k * 4);
	float *bias = malloc((size_t)n * 4), *ym = malloc((size_t)n * 4);

	fill(x, k);
	fill(bias, n);
	cr_assert_eq(rag_matvec(y, x, w, t, bias_on ? bias : NULL, n, k), 0);
	cr_assert_eq(rag_matmul(ym, x, w, t, bias_on ? bias : NULL, 1, n, k), 0);
	for (int64_t j = 0; j < n; j++) {
		double s = 0, mag = 0;
		rag_dequant_row(t, w + (size_t)j * rb, row, k);
		for (int64_t i = 0; i < k; i++) {
			s += (double)row[i] * x[i];
			mag += fabs((double)row[i] * x[i]);
		}
		if (bias_on)
			s += bias[j];
		cr_assert(fabs(y[j] - s) <= 1e-5 * mag + 1e-5, "%s row %lld: %g vs %g",
			  rag_dtype_info(t)->name, (long long)j, y[j], s);
		cr_assert(fabs(y[j] - ym[j]) <= 1e-5 * mag + 1e-5, "%s row %lld vs rag_matmul",
			  rag_dtype_info(t)->name, (long long)j);
	}
	free(w);
	free(x);
	free(y);
	free(row);
	free(bias);
	free(ym);
}

Test(decoder_ops, matvec_every_type)
{
	static const enum rag_dtype types[] = {
		RAG_DT_F32, RAG_DT_F16, RAG_DT_BF16, RAG_DT_Q8_0, RAG_DT_Q4_0, RAG_DT_Q4_K,
		RAG_DT_Q5_K, RAG_DT_Q6_K, RAG_DT_Q5_0, RAG_DT_Q3_K, RAG_DT_Q2_K,
	};
	for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
		check_matvec(types[i], 37, 512, 1);
		check_matvec(types[i], 5, 256, 0);
	}
	cr_assert(rag_matvec_has_direct(RAG_DT_Q4_K));
	cr_assert(rag_matvec_has_direct(RAG_DT_Q5_0));
	cr_assert(!rag_matvec_has_direct(RAG_DT_Q3_K));
}

Test(decoder_ops, matvec_threads)
{
	rag_set_threads(2);
	check_matvec(RAG_DT_Q8_0, 301, 96, 1);
	rag_set_threads(1);
	check_matvec(RAG_DT_F16, 301, 96, 1);
}

/*
 * The int8-activation product (rag_matvec_q8) against the existing float path:
 * dequantize each row and dot it in double with x.  Quantizing x to int8 with
 * scale d_b = max|x in block b| / 127 moves each element by at most d_b / 2, so
 * |y - W.x| <= sum_b (d_b / 2) * sum_{i in b} |w_i|; with x' the dequantized
 * activation, y must equal W.x' up to float rounding (the integer sums are exact),
 * and the SIMD dot must equal the scalar reference up to summation order.
 */
static void check_qdot(enum rag_dtype t, int64_t n, int64_t k)
{
	enum rag_qact f = rag_qact_for(t, k);
	int64_t blk = f == RAG_QACT_Q8_K ? 256 : 32;
	uint8_t *w = random_rows(t, n, k);
	size_t rb = rag_dtype_row_size(t, k);
	float *x = malloc((size_t)k * 4), *xd = malloc((size_t)k * 4), *row = malloc((size_t)k * 4);
	float *y = malloc((size_t)n * 4), *y2 = malloc((size_t)n * 4), *bias = malloc((size_t)n * 4);
	void *xq = malloc(rag_qact_size(f, k));

	cr_assert_neq(f, RAG_QACT_NONE, "%s", rag_dtype_info(t)->name);
	fill(x, k);
	for (int64_t i = 0; i < k; i += 97)  /* a few outliers, as real activations have */
		x[i] *= 20.0f;
	fill(bias, n);
	rag_qact_quantize(f, x, k, xq);
	rag_qact_dequantize(f, xq, k, xd);
	for (int64_t b = 0; b < k / blk; b++) {
		float amax = 0.0f;
		for (int64_t i = b * blk; i < (b + 1) * blk; i++)
			amax = fmaxf(amax, fabsf(x[i]));
		for (int64_t i = b * blk; i < (b + 1) * blk; i++)
			cr_assert_leq(fabsf(xd[i] - x[i]), amax / 127.0f * 0.5f * 1.0001f);
	}
	cr_assert_eq(rag_matvec_q8(y, xq, w, t, bias, n, k), 0);
	rag_set_threads(2);
	cr_assert_eq(rag_matvec_q8(y2, xq, w, t, bias, n, k), 0);
	rag_set_threads(1);
	for (int64_t j = 0; j < n; j++) {
		const uint8_t *wr = w + (size_t)j * rb;
		double exact = 0, quant = 0, mag = 0, bound = 0;
		rag_dequant_row(t, wr, row, k);
		for (int64_t b = 0; b < k / blk; b++) {
			double amax = 0, wabs = 0;
			for (int64_t i = b * blk; i < (b + 1) * blk; i++) {
				amax = fmax(amax, fabs(x[i]));
				wabs += fabs(row[i]);
			}
			bound += amax / 127.0 / 2.0 * wabs;
		}
		for (int64_t i = 0; i < k; i++) {
			exact += (double)row[i] * x[i];
			quant += (double)row[i] * xd[i];
			mag += fabs((double)row[i] * xd[i]);
		}
		double r = rag_qdot_ref(t, wr, xq, k), v = rag_qdot(t, wr, xq, k);
		cr_assert(fabs(v - r) <= 1e-5 * mag + 1e-6, "%s row %lld: simd %g ref %g",
			  rag_dtype_info(t)->name, (long long)j, v, r);
		cr_assert(fabs(r - quant) <= 1e-5 * mag + 1e-6, "%s row %lld: ref %g vs W.x' %g",
			  rag_dtype_info(t)->name, (long long)j, r, quant);
		cr_assert(fabs(y[j] - bias[j] - exact) <= bound + 1e-5 * mag + 1e-6,
			  "%s row %lld: %g vs W.x %g (bound %g)", rag_dtype_info(t)->name,
			  (long long)j, y[j] - bias[j], exact, bound);
		cr_assert_float_eq(y[j] - bias[j], v, 1e-6 * mag + 1e-6);
		cr_assert_eq(y[j], y2[j], "threads change row %lld", (long long)j);
	}
	free(w);
	free(x);
	free(xd);
	free(row);
	free(y);
	free(y2);
	free(bias);
	free(xq);
}

Test(decoder_ops, matvec_q8_every_type)
{
	static const enum rag_dtype types[] = {
		RAG_DT_Q8_0, RAG_DT_Q4_0, RAG_DT_Q5_0, RAG_DT_Q4_K, RAG_DT_Q5_K, RAG_DT_Q6_K,
	};
	for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
		check_qdot(types[i], 37, 512);
		check_qdot(types[i], 5, 768);
	}
	check_qdot(RAG_DT_Q8_0, 3, 96);   /* an odd number of blocks */
}

Test(decoder_ops, matvec_q8_formats_and_refusals)
{
	float x[256] = { 0 }, y[2] = { 9, 9 }, bias[2] = { 1.5f, -2.0f };
	uint8_t w[2 * 34] = { 0 };
	char xq[512];

	cr_assert_eq(rag_qact_for(RAG_DT_Q8_0, 64), RAG_QACT_Q8_0);
	cr_assert_eq(rag_qact_for(RAG_DT_Q6_K, 512), RAG_QACT_Q8_K);
	cr_assert_eq(rag_qact_for(RAG_DT_F16, 64), RAG_QACT_NONE);
	cr_assert_eq(rag_qact_for(RAG_DT_Q3_K, 256), RAG_QACT_NONE);
	cr_assert_eq(rag_qact_for(RAG_DT_Q8_0, 48), RAG_QACT_NONE);
	cr_assert_eq(rag_qact_size(RAG_QACT_NONE, 64), 0);
	cr_assert_eq(rag_matvec_q8(y, xq, w, RAG_DT_F16, NULL, 2, 32), -1);
	/* an all-zero activation: scale 0, no NaN, the bias comes through */
	cr_assert_leq(rag_qact_size(RAG_QACT_Q8_0, 32), sizeof xq);
	rag_qact_quantize(RAG_QACT_Q8_0, x, 32, xq);
	w[0] = 0x00;
	w[1] = 0x3c; /* f16 1.0 */
	for (int i = 0; i < 32; i++)
		w[2 + i] = (uint8_t)(i - 16);
	cr_assert_eq(rag_matvec_q8(y, xq, w, RAG_DT_Q8_0, bias, 2, 32), 0);
	cr_assert_eq(y[0], 1.5f);
	cr_assert_eq(y[1], -2.0f);
}

Test(decoder_ops, get_rows)
{
	uint8_t *w = random_rows(RAG_DT_Q8_0, 10, 64);
	float out[3 * 64], ref[64];
	int32_t ids[3] = { 9, 0, 4 }, bad[1] = { 10 };
	cr_assert_eq(rag_get_rows(out, w, RAG_DT_Q8_0, 10, 64, ids, 3), 0);
	for (int t = 0; t < 3; t++) {
		rag_dequant_row(RAG_DT_Q8_0, w + (size_t)ids[t] * 34 * 2, ref, 64);
		cr_assert_arr_eq(out + t * 64, ref, sizeof ref);
	}
	cr_assert_eq(rag_get_rows(out, w, RAG_DT_Q8_0, 10, 64, bad, 1), -1);
	free(w);
}

/* Reference causal GQA in double. */
static void attn_ref(double *out, const float *q, const float *k, const float *v, int64_t i_abs,
		     int64_t hd, int64_t kv_stride, double scale)
{
	double *s = malloc((size_t)(i_abs + 1) * sizeof *s), m = -INFINITY, z = 0;
	for (int64_t j = 0; j <= i_abs; j++) {
		double d = 0;
		for (int64_t c = 0; c < hd; c++)
			d += (double)q[c] * k[j * kv_stride + c];
		s[j] = d * scale;
		m = fmax(m, s[j]);
	}
	for (int64_t j = 0; j <= i_abs; j++)
		z += (s[j] = exp(s[j] - m));
	for (int64_t c = 0; c < hd; c++) {
		double a = 0;
		for (int64_t j = 0; j <= i_abs; j++)
			a += s[j] / z * v[j * kv_stride + c];
		out[c] = a;
	}
	free(s);
}

Test(decoder_ops, attention_prefill_and_decode)
{
	enum { NH = 6, NKV = 2, HD = 16, P0 = 5, NQ = 7, NKVT = P0 + NQ };
	int64_t kvs = NKV * HD, qs = NH * HD + 3;
	float *q = malloc(NQ * qs * 4), *k = malloc(NKVT * kvs * 4), *v = malloc(NKVT * kvs * 4);
	float *out = malloc(NQ * NH * HD * 4), dec[NH * HD];
	float scale = 0.25f;

	fill(q, NQ * qs);
	fill(k, NKVT * kvs);
	fill(v, NKVT * kvs);
	for (int64_t i = 0; i < NQ * qs; i++)
		q[i] *= 4;
	rag_set_threads(2);
	cr_assert_eq(rag_attn_causal(out, q, k, v, NQ, P0, NH, NKV, HD, qs, kvs, scale), 0);
	for (int i = 0; i < NQ; i++)
		for (int h = 0; h < NH; h++) {
			double ref[HD];
			int g = h / (NH / NKV);
			attn_ref(ref, q + i * qs + h * HD, k + g * HD, v + g * HD, P0 + i, HD, kvs, scale);
			for (int c = 0; c < HD; c++)
				cr_assert_float_eq(out[(i * NH + h) * HD + c], ref[c], 1e-5,
						   "row %d head %d", i, h);
		}
	/* decode: the last query row alone over the whole cache */
	{
		float qd[NH * HD];
		for (int h = 0; h < NH * HD; h++)
			qd[h] = q[(NQ - 1) * qs + h];
		cr_assert_eq(rag_attn_decode(dec, qd, k, v, NKVT, NH, NKV, HD, kvs, scale), 0);
		for (int c = 0; c < NH * HD; c++)
			cr_assert_float_eq(dec[c], out[(NQ - 1) * NH * HD + c], 1e-6);
	}
	free(q);
	free(k);
	free(v);
	free(out);
}
