/* test-dequant.c: every GGUF block type against gguf-py's values, bit for bit;
 * and f16/bf16 conversions. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "json.h"
#include "kernels.h"
#include "testutil.h"

static int hexval(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

Test(dequant, golden_cases_bit_exact)
{
	struct rag_buf file;
	struct rag_arena a;
	struct rag_error err;
	struct rag_json *doc;
	const struct rag_json *cases;
	size_t i, j, checked = 0;

	rag_buf_init(&file);
	rag_arena_init(&a);
	cr_assert_eq(rag_buf_read_file(&file, fixture("golden/dequant.json"), &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_json_parse(&a, file.data, file.len, &doc, &err), RAG_OK, "%s", err.msg);
	cases = rag_json_get(doc, "cases");
	cr_assert(cases && cases->type == RAG_JSON_ARRAY);
	for (i = 0; i < cases->u.arr.n; i++) {
		const struct rag_json *c = &cases->u.arr.items[i];
		const struct rag_json *vals = rag_json_get(c, "values");
		const char *type = rag_json_get_str(c, "type", NULL);
		const char *hex = rag_json_get_str(c, "raw", NULL);
		double type_id, bs, ts, nblocks;
		const struct rag_dtype_info *ti;
		uint8_t *raw;
		float *out;
		size_t nraw = strlen(hex) / 2, n = vals->u.arr.n;

		cr_assert(rag_json_get_num(c, "type_id", &type_id));
		rag_json_get_num(c, "block_size", &bs);
		rag_json_get_num(c, "type_size", &ts);
		rag_json_get_num(c, "blocks", &nblocks);
		ti = rag_dtype_info((uint32_t)type_id);
		cr_assert_not_null(ti, "%s", type);
		cr_assert_str_eq(ti->name, type);
		cr_assert_eq(ti->block, (uint32_t)bs, "%s block", type);
		cr_assert_eq(ti->size, (uint32_t)ts, "%s size", type);
		cr_assert(ti->dequant, "%s not dequantizable", type);
		cr_assert_eq(nraw, (size_t)nblocks * ti->size, "%s raw bytes", type);
		cr_assert_eq(n, (size_t)nblocks * ti->block, "%s values", type);
		cr_assert_eq(rag_dtype_row_size((uint32_t)type_id, (int64_t)n), nraw);
		raw = rag_malloc(nraw);
		/* one guard float past the end catches overruns */
		out = rag_malloc((n + 1) * sizeof *out);
		for (j = 0; j < nraw; j++)
			raw[j] = (uint8_t)(hexval(hex[2 * j]) << 4 | hexval(hex[2 * j + 1]));
		out[n] = 12345.0f;
		rag_dequant_row((enum rag_dtype)type_id, raw, out, (int64_t)n);
		cr_assert_eq(out[n], 12345.0f, "%s wrote past the end", type);
		for (j = 0; j < n; j++) {
			float want = (float)vals->u.arr.items[j].u.num;
			cr_assert(memcmp(&want, &out[j], 4) == 0, "%s element %zu: got %.9g want %.9g",
				  type, j, (double)out[j], (double)want);
		}
		checked++;
		rag_free(raw);
		rag_free(out);
	}
	cr_assert_eq(checked, 13);
	rag_arena_free(&a);
	rag_buf_free(&file);
}

Test(dequant, f16_conversions_exhaustive)
{
	uint32_t h;

	for (h = 0; h < 65536; h++) {
		float f = rag_f16_to_f32((uint16_t)h);
		uint16_t back = rag_f32_to_f16(f);
		if (isnan(f))
			cr_assert(((back & 0x7C00) == 0x7C00) && (back & 0x3FF), "nan %04x", h);
		else
			cr_assert_eq(back, h, "f16 %04x -> %g -> %04x", h, (double)f, back);
	}
	/* rounding: halfway cases go to even, overflow to inf */
	cr_assert_eq(rag_f32_to_f16(1.0f + 0x1p-11f), 0x3C00);
	cr_assert_eq(rag_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);
	cr_assert_eq(rag_f32_to_f16(65520.0f), 0x7C00);
	cr_assert_eq(rag_f32_to_f16(65519.0f), 0x7BFF);
	cr_assert_eq(rag_f32_to_f16(-0x1p-25f), 0x8000);
	cr_assert_eq(rag_f32_to_f16(0x1p-24f), 0x0001);
}

Test(dequant, bf16_conversions)
{
	cr_assert_eq(rag_f32_to_bf16(1.0f), 0x3F80);
	cr_assert_eq(rag_bf16_to_f32(0x3F80), 1.0f);
	cr_assert_eq(rag_f32_to_bf16(1.00390625f), 0x3F80);   /* halfway: to even */
	cr_assert_eq(rag_f32_to_bf16(1.01171875f), 0x3F82);   /* halfway: to even (up) */
	cr_assert(isnan(rag_bf16_to_f32(rag_f32_to_bf16(NAN))));
}

Test(dequant, unknown_types_and_row_sizes)
{
	cr_assert_null(rag_dtype_info(4));
	cr_assert_null(rag_dtype_info(1000));
	cr_assert_eq(rag_dtype_row_size(RAG_DT_Q4_K, 255), 0);
	cr_assert_eq(rag_dtype_row_size(RAG_DT_Q4_K, 512), 288);
	cr_assert_eq(rag_dtype_row_size(RAG_DT_F16, 3), 6);
}
