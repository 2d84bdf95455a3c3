/* test-cuda-ops.c: GPU twin tests of the encoder ops (kernels/cuda against
 * kernels/cpu) on random inputs: embedding gather and pooling bit for bit,
 * the others within a per-op normalized error, every output between guard
 * bands.  The matrix product and attention are checked the same way.  Exits
 * 77 without a GPU. */
#include "gpu-skip.h"
#include "cuda-twin.h"

Test(cuda_ops, embed_rows_every_table_type)
{
	enum rag_dtype types[] = { RAG_DT_F32, RAG_DT_F16, RAG_DT_Q8_0, RAG_DT_Q4_K, RAG_DT_Q6_K };
	int64_t dim = 512, rows = 40, n = 97;

	for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
		enum rag_dtype t = types[ti];
		size_t rb = rag_dtype_row_size((uint32_t)t, dim), nb = rb * (size_t)rows;
		uint8_t *table = malloc(nb);
		int32_t *ids = malloc((size_t)n * sizeof *ids);
		float *cpu = rnd((size_t)(n * dim), 1.0f), *base = malloc((size_t)(n * dim) * 4);
		float *gpu = malloc((size_t)(n * dim) * 4), *row = malloc((size_t)dim * 4);

		memcpy(base, cpu, (size_t)(n * dim) * 4);
		/* the table from real floats so that scales are finite */
		for (int64_t r = 0; r < rows; r++) {
			for (int64_t i = 0; i < dim; i++)
				row[i] = urand();
			if (t == RAG_DT_F32)
				memcpy(table + (size_t)r * rb, row, rb);
			else if (t == RAG_DT_F16)
				for (int64_t i = 0; i < dim; i++) {
					uint16_t h = rag_f32_to_f16(row[i]);
					memcpy(table + (size_t)r * rb + 2 * (size_t)i, &h, 2);
				}
			else
				for (size_t b = 0; b < rb; b++) {
					table[(size_t)r * rb + b] = (uint8_t)(urand() * 127.0f + 128.0f);
					/* keep the half scales of every block small and finite */
				}
		}
		if (t != RAG_DT_F32 && t != RAG_DT_F16) {
			const struct rag_dtype_info *info = rag_dtype_info((uint32_t)t);
			size_t at = t == RAG_DT_Q6_K ? 208 : 0;
			for (size_t b = 0; b < nb / info->size; b++) {
				table[b * info->size + at + 1] &= 0x3B;
				if (t == RAG_DT_Q4_K)
					table[b * info->size + 3] &= 0x3B;
			}
		}
		for (int64_t i = 0; i < n; i++)
			ids[i] = (int32_t)((urand() + 1.0f) * 0.5f * (float)rows) % (int32_t)rows;
		for (int acc = 0; acc <= 1; acc++) {
			void *dtab = dput(table, nb), *dids = dput(ids, (size_t)n * 4);
			float *dy = dput(base, (size_t)(n * dim) * 4);
			memcpy(cpu, base, (size_t)(n * dim) * 4);
			rag_embed_rows(cpu, table, t, dim, ids, n, acc);
			cr_assert_eq(rag_cuda_embed_rows(dy, dtab, t, dim, dids, n, acc, NULL), 0, "%s", rag_cuda_last_error());
			dget(gpu, dy, (size_t)(n * dim) * 4, "embed_rows");
			for (int64_t i = 0; i < n * dim; i++)
				cr_assert(memcmp(&cpu[i], &gpu[i], 4) == 0, "%s acc %d element %lld: cpu %.9g gpu %.9g",
					  rag_dtype_info((uint32_t)t)->name, acc, (long long)i, (double)cpu[i], (double)gpu[i]);
			dfree(dtab); dfree(dids); dfree(dy);
		}
		free(table); free(ids); free(cpu); free(base); free(gpu); free(row);
	}
}

Test(cuda_ops, layernorm_variants_and_in_place)
{
	int64_t rows = 37, n = 768;
	size_t tot = (size_t)(rows * n);
	float *x = rnd(tot, 4.0f), *r = rnd(tot, 2.0f), *g = rnd((size_t)n, 1.0f), *b = rnd((size_t)n, 0.5f);
	float *cpu = malloc(tot * 4), *gpu = malloc(tot * 4);

	for (int v = 0; v < 4; v++) {
		const float *rr = v & 1 ? r : NULL, *gg = v & 2 ? g : NULL, *bb = v & 2 ? b : NULL;
		float *dx = dput(x, tot * 4), *dr = dput(r, tot * 4), *dg = dput(g, (size_t)n * 4),
		      *db = dput(b, (size_t)n * 4), *dy = dput(NULL, tot * 4);
		rag_layernorm(cpu, x, rr, gg, bb, rows, n, 1e-12f);
		cr_assert_eq(rag_cuda_layernorm(dy, dx, rr ? dr : NULL, gg ? dg : NULL, bb ? db : NULL, rows, n, 1e-12f,
						NULL), 0, "%s", rag_cuda_last_error());
		dget(gpu, dy, tot * 4, "layernorm");
		cr_expect_leq(nerr(gpu, cpu, tot), 2e-6, "layernorm variant %d: error %g", v, nerr(gpu, cpu, tot));
		/* in place: y == x, and y == r */
		cr_assert_eq(rag_cuda_layernorm(dx, dx, rr ? dr : NULL, gg ? dg : NULL, bb ? db : NULL, rows, n, 1e-12f,
						NULL), 0);
		dget(gpu, dx, tot * 4, "layernorm in place");
		cr_expect_leq(nerr(gpu, cpu, tot), 2e-6, "layernorm y == x, variant %d", v);
		if (rr) {
			float *dx2 = dput(x, tot * 4);
			cr_assert_eq(rag_cuda_layernorm(dr, dx2, dr, gg ? dg : NULL, bb ? db : NULL, rows, n, 1e-12f, NULL), 0);
			dget(gpu, dr, tot * 4, "layernorm y == r");
			cr_expect_leq(nerr(gpu, cpu, tot), 2e-6, "layernorm y == r, variant %d", v);
			dfree(dx2);
		}
		dfree(dx); dfree(dr); dfree(dg); dfree(db); dfree(dy);
	}
	free(x); free(r); free(g); free(b); free(cpu); free(gpu);
}

Test(cuda_ops, gelu_tanh_add_f16)
{
	size_t n = 100003;
	float *x = rnd(n, 8.0f), *r = rnd(n, 1.0f), *cpu = malloc(n * 4), *gpu = malloc(n * 4);
	uint16_t *hc = malloc(n * 2), *hg = malloc(n * 2);
	float *dx, *dr, *dy;
	uint16_t *dh;

	x[0] = 0.0f; x[1] = -30.0f; x[2] = 30.0f; x[3] = 1e-30f; x[4] = 70000.0f; x[5] = 6e-8f;
	dx = dput(x, n * 4); dr = dput(r, n * 4); dy = dput(NULL, n * 4); dh = dput(NULL, n * 2);
	rag_gelu(cpu, x, (int64_t)n);
	cr_assert_eq(rag_cuda_gelu(dy, dx, (int64_t)n, NULL), 0, "%s", rag_cuda_last_error());
	dget(gpu, dy, n * 4, "gelu");
	cr_expect_leq(nerr(gpu, cpu, n), 1e-6, "gelu error %g", nerr(gpu, cpu, n));
	rag_tanh(cpu, x, (int64_t)n);
	cr_assert_eq(rag_cuda_tanh(dy, dx, (int64_t)n, NULL), 0);
	dget(gpu, dy, n * 4, "tanh");
	cr_expect_leq(nerr(gpu, cpu, n), 1e-6, "tanh error %g", nerr(gpu, cpu, n));
	for (size_t i = 0; i < n; i++)
		cpu[i] = x[i] + r[i];
	cr_assert_eq(rag_cuda_add(dy, dx, dr, (int64_t)n, NULL), 0);
	dget(gpu, dy, n * 4, "add");
	cr_expect(memcmp(cpu, gpu, n * 4) == 0, "add is exact");
	for (size_t i = 0; i < n; i++)
		hc[i] = rag_f32_to_f16(x[i]);
	cr_assert_eq(rag_cuda_f32_to_f16(dh, dx, (int64_t)n, NULL), 0);
	dget(hg, dh, n * 2, "f32_to_f16");
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(hc[i], hg[i], "f16 of %.9g: cpu %04x gpu %04x", (double)x[i], hc[i], hg[i]);
	/* in place */
	rag_gelu(cpu, x, (int64_t)n);
	cr_assert_eq(rag_cuda_gelu(dx, dx, (int64_t)n, NULL), 0);
	dget(gpu, dx, n * 4, "gelu in place");
	cr_expect_leq(nerr(gpu, cpu, n), 1e-6);
	dfree(dx); dfree(dr); dfree(dy); dfree(dh);
	free(x); free(r); free(cpu); free(gpu); free(hc); free(hg);
}

Test(cuda_ops, softmax_rows)
{
	int64_t shapes[][2] = { { 1, 1 }, { 7, 3 }, { 33, 512 }, { 5, 4099 } };

	for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
		int64_t rows = shapes[s][0], n = shapes[s][1];
		size_t tot = (size_t)(rows * n);
		float *x = rnd(tot, 20.0f), *gpu = malloc(tot * 4);
		float *dx = dput(x, tot * 4);
		cr_assert_eq(rag_cuda_softmax(dx, rows, n, NULL), 0, "%s", rag_cuda_last_error());
		rag_softmax(x, rows, n);
		dget(gpu, dx, tot * 4, "softmax");
		cr_expect_leq(nerr(gpu, x, tot), 1e-6, "softmax %lldx%lld error %g", (long long)rows, (long long)n,
			      nerr(gpu, x, tot));
		dfree(dx);
		free(x); free(gpu);
	}
}

Test(cuda_ops, pool_modes_and_l2_normalize)
{
	int32_t off[] = { 0, 1, 9, 10, 140, 141, 300 };
	int64_t n_seq = 6, dim = 384, ntok = off[n_seq];
	enum rag_pooling modes[] = { RAG_POOL_MEAN, RAG_POOL_CLS, RAG_POOL_LAST, RAG_POOL_RANK };
	float *x = rnd((size_t)(ntok * dim), 3.0f), *cpu = malloc((size_t)(n_seq * dim) * 4),
	      *gpu = malloc((size_t)(n_seq * dim) * 4);
	float *dx = dput(x, (size_t)(ntok * dim) * 4), *dy = dput(NULL, (size_t)(n_seq * dim) * 4);
	int32_t *doff = dput(off, sizeof off);

	for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
		rag_pool(cpu, x, off, n_seq, dim, modes[m]);
		cr_assert_eq(rag_cuda_pool(dy, dx, doff, n_seq, dim, modes[m], NULL), 0, "%s", rag_cuda_last_error());
		dget(gpu, dy, (size_t)(n_seq * dim) * 4, "pool");
		cr_expect(memcmp(cpu, gpu, (size_t)(n_seq * dim) * 4) == 0, "pool mode %d is bit-exact", (int)modes[m]);
	}
	cr_expect_neq(rag_cuda_pool(dy, dx, doff, n_seq, dim, RAG_POOL_NONE, NULL), 0, "mode NONE refused");
	/* l2: a zero row stays zero */
	memset(cpu + dim, 0, (size_t)dim * 4);
	cr_assert_eq(rag_cuda_upload(dy, cpu, (size_t)(n_seq * dim) * 4), 0);
	rag_l2_normalize(cpu, n_seq, dim);
	cr_assert_eq(rag_cuda_l2_normalize(dy, n_seq, dim, NULL), 0, "%s", rag_cuda_last_error());
	dget(gpu, dy, (size_t)(n_seq * dim) * 4, "l2_normalize");
	cr_expect_leq(nerr(gpu, cpu, (size_t)(n_seq * dim)), 1e-7, "l2 error %g", nerr(gpu, cpu, (size_t)(n_seq * dim)));
	for (int64_t j = 0; j < dim; j++)
		cr_expect_eq(gpu[dim + j], 0.0f);
	dfree(dx); dfree(dy); dfree(doff);
	free(x); free(cpu); free(gpu);
}

/* GEMM: against rag_matmul on the same half-rounded inputs; error relative
 * to the row's scale (sum |x||w|), as fp32 accumulation orders differ. */
Test(cuda_ops, gemm_f16_with_and_without_bias_and_accumulating)
{
	int64_t shapes[][3] = { { 1, 8, 16 }, { 37, 384, 384 }, { 129, 1536, 384 }, { 300, 768, 3072 } };
	struct rag_cuda_blas *h;

	cr_assert_eq(rag_cuda_blas_create(&h), 0, "%s", rag_cuda_last_error());
	for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
		int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
		float *x = rnd((size_t)(m * k), 2.0f), *w = rnd((size_t)(n * k), 0.1f), *bias = rnd((size_t)n, 1.0f);
		float *cpu = malloc((size_t)(m * n) * 4), *gpu = malloc((size_t)(m * n) * 4);
		uint16_t *x16 = malloc((size_t)(m * k) * 2), *w16 = malloc((size_t)(n * k) * 2);
		for (int64_t i = 0; i < m * k; i++)
			x[i] = rag_f16_to_f32(x16[i] = rag_f32_to_f16(x[i]));
		for (int64_t i = 0; i < n * k; i++)
			w[i] = rag_f16_to_f32(w16[i] = rag_f32_to_f16(w[i]));
		/* v 0: no bias; 1: bias; 2: bias, added to what the output held (beta 1) */
		for (int v = 0; v <= 2; v++) {
			int b = v > 0;
			void *dx = dput(x16, (size_t)(m * k) * 2), *dw = dput(w16, (size_t)(n * k) * 2);
			float *y0 = rnd((size_t)(m * n), 4.0f);
			float *db = dput(bias, (size_t)n * 4), *dy = dput(v == 2 ? y0 : NULL, (size_t)(m * n) * 4);
			double worst = 0;
			cr_assert_eq(rag_matmul(cpu, x, w, RAG_DT_F32, b ? bias : NULL, m, n, k), 0);
			if (v == 2) {
				for (int64_t i = 0; i < m * n; i++)
					cpu[i] += y0[i];
				cr_assert_eq(rag_cuda_gemm_f16_acc(h, dy, dx, dw, db, m, n, k, NULL), 0, "%s",
					     rag_cuda_last_error());
			} else {
				cr_assert_eq(rag_cuda_gemm_f16(h, dy, dx, dw, b ? db : NULL, m, n, k, NULL), 0, "%s",
					     rag_cuda_last_error());
			}
			dget(gpu, dy, (size_t)(m * n) * 4, "gemm_f16");
			for (int64_t i = 0; i < m; i++)
				for (int64_t j = 0; j < n; j++) {
					double scale = 1.0 + (v == 2 ? fabs((double)y0[i * n + j]) : 0.0);
					for (int64_t t = 0; t < k; t++)
						scale += fabs((double)x[i * k + t] * w[j * k + t]);
					double e = fabs((double)gpu[i * n + j] - cpu[i * n + j]) / scale;
					if (!(e <= worst))
						worst = e;
				}
			cr_expect_leq(worst, 1e-5, "gemm %lldx%lldx%lld variant %d: error %g", (long long)m,
				      (long long)n, (long long)k, v, worst);
			dfree(dx); dfree(dw); dfree(db); dfree(dy);
			free(y0);
		}
		free(x); free(w); free(bias); free(cpu); free(gpu); free(x16); free(w16);
	}
	rag_cuda_blas_free(h);
}

/* Half output with a half bias: on top of the float32 product's error, the
 * output and the bias are rounded to half (2^-11 relative each). */
Test(cuda_ops, gemm_h_half_output_and_bias)
{
	int64_t shapes[][3] = { { 1, 8, 16 }, { 37, 384, 384 }, { 129, 1536, 384 }, { 300, 768, 3072 } };
	struct rag_cuda_blas *h;

	cr_assert_eq(rag_cuda_blas_create(&h), 0, "%s", rag_cuda_last_error());
	for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
		int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
		float *x = rnd((size_t)(m * k), 2.0f), *w = rnd((size_t)(n * k), 0.1f), *bias = rnd((size_t)n, 1.0f);
		float *cpu = malloc((size_t)(m * n) * 4);
		uint16_t *x16 = malloc((size_t)(m * k) * 2), *w16 = malloc((size_t)(n * k) * 2);
		uint16_t *b16 = malloc((size_t)n * 2), *y16 = malloc((size_t)(m * n) * 2);
		for (int64_t i = 0; i < m * k; i++)
			x[i] = rag_f16_to_f32(x16[i] = rag_f32_to_f16(x[i]));
		for (int64_t i = 0; i < n * k; i++)
			w[i] = rag_f16_to_f32(w16[i] = rag_f32_to_f16(w[i]));
		for (int64_t i = 0; i < n; i++)
			bias[i] = rag_f16_to_f32(b16[i] = rag_f32_to_f16(bias[i]));
		for (int b = 0; b <= 1; b++) {
			uint16_t *dx = dput(x16, (size_t)(m * k) * 2), *dw = dput(w16, (size_t)(n * k) * 2);
			uint16_t *db = dput(b16, (size_t)n * 2), *dy = dput(NULL, (size_t)(m * n) * 2);
			double worst = 0;
			cr_assert_eq(rag_matmul(cpu, x, w, RAG_DT_F32, b ? bias : NULL, m, n, k), 0);
			cr_assert_eq(rag_cuda_gemm_h(h, dy, dx, dw, b ? db : NULL, m, n, k, NULL), 0, "%s",
				     rag_cuda_last_error());
			dget(y16, dy, (size_t)(m * n) * 2, "gemm_h");
			for (int64_t i = 0; i < m; i++)
				for (int64_t j = 0; j < n; j++) {
					double scale = 1.0 + (b ? fabs((double)bias[j]) : 0.0);
					for (int64_t t = 0; t < k; t++)
						scale += fabs((double)x[i * k + t] * w[j * k + t]);
					double e = fabs((double)rag_f16_to_f32(y16[i * n + j]) - cpu[i * n + j]) / scale;
					if (!(e <= worst))
						worst = e;
				}
			cr_expect_leq(worst, 6e-4, "gemm_h %lldx%lldx%lld bias %d: error %g", (long long)m, (long long)n,
				      (long long)k, b, worst);
			dfree(dx); dfree(dw); dfree(db); dfree(dy);
		}
		free(x); free(w); free(bias); free(cpu); free(x16); free(w16); free(b16); free(y16);
	}
	rag_cuda_blas_free(h);
}

/* layernorm_h: the float32 result as rag_cuda_layernorm's, the half copy its
 * exact rounding; rows up to 1024 take the register kernel, longer the general one. */
static void layernorm_h_case(int64_t rows, int64_t n)
{
	size_t tot = (size_t)(rows * n);
	float *x = rnd(tot, 4.0f), *r = rnd(tot, 2.0f), *g = rnd((size_t)n, 1.0f), *b = rnd((size_t)n, 0.5f);
	float *cpu = malloc(tot * 4), *gpu = malloc(tot * 4);
	uint16_t *y16 = malloc(tot * 2);
	float *dx = dput(x, tot * 4), *dr = dput(r, tot * 4), *dg = dput(g, (size_t)n * 4), *db = dput(b, (size_t)n * 4);
	float *dy = dput(NULL, tot * 4);
	uint16_t *dy16 = dput(NULL, tot * 2);

	for (int v = 0; v < 2; v++) {
		rag_layernorm(cpu, x, v ? r : NULL, g, b, rows, n, 1e-12f);
		cr_assert_eq(rag_cuda_layernorm_h(dy, dy16, dx, v ? dr : NULL, dg, db, rows, n, 1e-12f, NULL), 0, "%s",
			     rag_cuda_last_error());
		dget(gpu, dy, tot * 4, "layernorm_h");
		dget(y16, dy16, tot * 2, "layernorm_h half");
		cr_expect_leq(nerr(gpu, cpu, tot), 2e-6, "layernorm_h n %lld error %g", (long long)n, nerr(gpu, cpu, tot));
		for (size_t i = 0; i < tot; i++)
			cr_assert_eq(y16[i], rag_f32_to_f16(gpu[i]), "layernorm_h n %lld: half copy of element %zu",
				     (long long)n, i);
	}
	/* in place on the residual, as the encoder calls it */
	rag_layernorm(cpu, x, r, g, b, rows, n, 1e-12f);
	cr_assert_eq(rag_cuda_layernorm_h(dr, dy16, dx, dr, dg, db, rows, n, 1e-12f, NULL), 0);
	dget(gpu, dr, tot * 4, "layernorm_h in place");
	cr_expect_leq(nerr(gpu, cpu, tot), 2e-6, "layernorm_h in place, n %lld", (long long)n);
	dfree(dx); dfree(dr); dfree(dg); dfree(db); dfree(dy); dfree(dy16);
	free(x); free(r); free(g); free(b); free(cpu); free(gpu); free(y16);
}

/* gelu_h: rag_gelu of the half inputs, rounded to half. */
Test(cuda_ops, layernorm_h_and_gelu_h)
{
	size_t ng = 100002;
	float *gx = rnd(ng, 8.0f), *gc = malloc(ng * 4);
	uint16_t *h16 = malloc(ng * 2), *hg = malloc(ng * 2), *dh;

	layernorm_h_case(37, 384);
	layernorm_h_case(37, 768);
	layernorm_h_case(5, 1000);
	layernorm_h_case(9, 2000);
	gx[0] = 0.0f; gx[1] = -30.0f; gx[2] = 30.0f; gx[3] = 6e-8f;
	for (size_t i = 0; i < ng; i++)
		gx[i] = rag_f16_to_f32(h16[i] = rag_f32_to_f16(gx[i]));
	rag_gelu(gc, gx, (int64_t)ng);
	dh = dput(h16, ng * 2);
	cr_assert_eq(rag_cuda_gelu_h(dh, dh, (int64_t)ng, NULL), 0, "%s", rag_cuda_last_error());
	dget(hg, dh, ng * 2, "gelu_h");
	for (size_t i = 0; i < ng; i++) {
		gc[i] = rag_f16_to_f32(rag_f32_to_f16(gc[i]));   /* the CPU's answer rounded to half */
		gx[i] = rag_f16_to_f32(hg[i]);                    /* gx now holds the GPU's */
	}
	/* rounding to half: 2^-11 relative; 1 + |y| as the scale, since erf's tail cancels */
	cr_expect_leq(nerr(gx, gc, ng), 1e-3, "gelu_h error %g", nerr(gx, gc, ng));
	cr_expect_neq(rag_cuda_gelu_h(dh, dh, 3, NULL), 0, "odd n refused");
	dfree(dh);
	free(gx); free(gc); free(h16); free(hg);
}

Test(cuda_ops, weight_f16_from_q8_0_matches_cpu_dequant)
{
	int64_t rows = 24, k = 256;
	size_t rb = rag_dtype_row_size(RAG_DT_Q8_0, k), nb = rb * (size_t)rows;
	uint8_t *raw = malloc(nb);
	float *ref = malloc((size_t)(rows * k) * 4);
	uint16_t *got = malloc((size_t)(rows * k) * 2);

	for (size_t i = 0; i < nb; i++)
		raw[i] = (uint8_t)(urand() * 127.0f + 128.0f);
	for (size_t b = 0; b < nb / 34; b++)
		raw[b * 34 + 1] &= 0x3B;
	for (int64_t r = 0; r < rows; r++)
		rag_dequant_row(RAG_DT_Q8_0, raw + (size_t)r * rb, ref + r * k, k);
	{
		void *dsrc = dput(raw, nb);
		float *dscr = dput(NULL, (size_t)(rows * k) * 4);
		uint16_t *dw = dput(NULL, (size_t)(rows * k) * 2);
		cr_assert_eq(rag_cuda_weight_f16(dw, dsrc, RAG_DT_Q8_0, rows, k, dscr, NULL), 0, "%s", rag_cuda_last_error());
		dget(got, dw, (size_t)(rows * k) * 2, "weight_f16");
		for (int64_t i = 0; i < rows * k; i++)
			cr_assert_eq(got[i], rag_f32_to_f16(ref[i]), "element %lld", (long long)i);
		dfree(dsrc); dfree(dscr); dfree(dw);
	}
	free(raw); free(ref); free(got);
}

/* Attention on random variable-length batches against rag_attention. */
static void attention_case(int64_t n_seq, const int32_t *lens, int64_t n_head, int64_t hd, int64_t extra_ld)
{
	int32_t *off = malloc((size_t)(n_seq + 1) * 4);
	int64_t ntok, ld = 3 * n_head * hd + extra_ld, max_len = 0, od = n_head * hd;
	float *qkv, *cpu, *gpu, scale = 1.0f / sqrtf((float)hd);

	off[0] = 0;
	for (int64_t s = 0; s < n_seq; s++) {
		off[s + 1] = off[s] + lens[s];
		if (lens[s] > max_len)
			max_len = lens[s];
	}
	ntok = off[n_seq];
	qkv = rnd((size_t)(ntok * ld), 2.0f);
	cpu = malloc((size_t)(ntok * od) * 4);
	gpu = malloc((size_t)(ntok * od) * 4);
	cr_assert_eq(rag_attention(cpu, qkv, qkv + od, qkv + 2 * od, ld, off, n_seq, n_head, hd, scale), 0);
	{
		float *dqkv = dput(qkv, (size_t)(ntok * ld) * 4), *dout = dput(NULL, (size_t)(ntok * od) * 4);
		int32_t *doff = dput(off, (size_t)(n_seq + 1) * 4);
		cr_assert_eq(rag_cuda_attention(dout, dqkv, dqkv + od, dqkv + 2 * od, ld, doff, n_seq, max_len, n_head, hd,
						scale, NULL), 0, "%s", rag_cuda_last_error());
		dget(gpu, dout, (size_t)(ntok * od) * 4, "attention");
		cr_expect_leq(nerr(gpu, cpu, (size_t)(ntok * od)), 2e-5, "attention heads %lld dim %lld: error %g",
			      (long long)n_head, (long long)hd, nerr(gpu, cpu, (size_t)(ntok * od)));
		dfree(dqkv); dfree(dout); dfree(doff);
	}
	free(off); free(qkv); free(cpu); free(gpu);
}

/*
 * The tensor-core twin on half inputs: the CPU runs on the same half-rounded
 * q, k, v.  Probabilities and the output are rounded to half (2^-11
 * relative each) and the output is a convex combination of v rows, so the
 * error bound relative to 1 + |out| is a few 2^-11.
 */
static void attention_h_case(int64_t n_seq, const int32_t *lens, int64_t n_head, int64_t hd, int64_t extra_ld)
{
	int32_t *off = malloc((size_t)(n_seq + 1) * 4);
	int64_t ntok, ld = 3 * n_head * hd + extra_ld, max_len = 0, od = n_head * hd;
	float *qkv, *cpu, *gpu, scale = 1.0f / sqrtf((float)hd);
	uint16_t *q16, *o16;

	off[0] = 0;
	for (int64_t s = 0; s < n_seq; s++) {
		off[s + 1] = off[s] + lens[s];
		if (lens[s] > max_len)
			max_len = lens[s];
	}
	ntok = off[n_seq];
	qkv = rnd((size_t)(ntok * ld), 2.0f);
	q16 = malloc((size_t)(ntok * ld) * 2);
	for (int64_t i = 0; i < ntok * ld; i++)
		qkv[i] = rag_f16_to_f32(q16[i] = rag_f32_to_f16(qkv[i]));
	cpu = malloc((size_t)(ntok * od) * 4);
	gpu = malloc((size_t)(ntok * od) * 4);
	o16 = malloc((size_t)(ntok * od) * 2);
	cr_assert_eq(rag_attention(cpu, qkv, qkv + od, qkv + 2 * od, ld, off, n_seq, n_head, hd, scale), 0);
	{
		uint16_t *dqkv = dput(q16, (size_t)(ntok * ld) * 2), *dout = dput(NULL, (size_t)(ntok * od) * 2);
		int32_t *doff = dput(off, (size_t)(n_seq + 1) * 4);
		cr_assert_eq(rag_cuda_attention_h(dout, dqkv, dqkv + od, dqkv + 2 * od, ld, doff, n_seq, max_len, n_head,
						  hd, scale, NULL), 0, "%s", rag_cuda_last_error());
		dget(o16, dout, (size_t)(ntok * od) * 2, "attention_h");
		for (int64_t i = 0; i < ntok * od; i++)
			gpu[i] = rag_f16_to_f32(o16[i]);
		cr_expect_leq(nerr(gpu, cpu, (size_t)(ntok * od)), 3e-3, "attention_h heads %lld dim %lld: error %g",
			      (long long)n_head, (long long)hd, nerr(gpu, cpu, (size_t)(ntok * od)));
		dfree(dqkv); dfree(dout); dfree(doff);
	}
	free(off); free(qkv); free(q16); free(o16); free(cpu); free(gpu);
}

Test(cuda_ops, attention_h_varlen_packed_tensor_cores)
{
	int32_t lens_a[] = { 1, 7, 64, 65, 200, 3, 128, 511 };
	int32_t lens_b[] = { 33 };
	int64_t dims[] = { 8, 32, 48, 64, 80, 96, 128 };

	for (size_t d = 0; d < sizeof dims / sizeof *dims; d++)
		attention_h_case(8, lens_a, dims[d] == 128 ? 4 : 6, dims[d], 8);
	attention_h_case(1, lens_b, 12, 64, 0);
	{
		int32_t many[300];
		for (int i = 0; i < 300; i++)
			many[i] = 1 + (int32_t)((urand() + 1.0f) * 40.0f);
		attention_h_case(300, many, 12, 32, 0);
	}
	cr_expect_neq(rag_cuda_attention_h(NULL, NULL, NULL, NULL, 8, NULL, 1, 1, 1, 12, 1.0f, NULL), 0,
		      "head_dim 12 (not a multiple of 8) refused");
	cr_expect_neq(rag_cuda_attention_h(NULL, NULL, NULL, NULL, 12, NULL, 1, 1, 1, 8, 1.0f, NULL), 0,
		      "ld 12 refused");
}

Test(cuda_ops, attention_varlen_packed)
{
	int32_t lens_a[] = { 1, 7, 64, 65, 200, 3, 128, 511 };
	int32_t lens_b[] = { 33 };
	int64_t dims[] = { 8, 32, 64, 80, 96, 128 };

	for (size_t d = 0; d < sizeof dims / sizeof *dims; d++)
		attention_case(8, lens_a, dims[d] == 128 ? 4 : 6, dims[d], 5);
	attention_case(1, lens_b, 12, 64, 0);
	{
		int32_t many[300];
		for (int i = 0; i < 300; i++)
			many[i] = 1 + (int32_t)((urand() + 1.0f) * 40.0f);
		attention_case(300, many, 12, 32, 0);
	}
	cr_expect_neq(rag_cuda_attention(NULL, NULL, NULL, NULL, 1, NULL, 1, 1, 1, 129, 1.0f, NULL), 0,
		      "head_dim 129 refused");
}
