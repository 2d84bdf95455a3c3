/* test-gguf.c: GGUF reading: real fixture files, hand-built files covering every
 * value type and version 2, and corrupted copies (truncated, flipped bytes). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "gguf.h"
#include "testutil.h"

/* ---- a tiny GGUF writer for hand-built files ---- */
static void u32(struct rag_buf *b, uint32_t v) { rag_buf_add(b, &v, 4); }
static void u64(struct rag_buf *b, uint64_t v) { rag_buf_add(b, &v, 8); }
static void str(struct rag_buf *b, const char *s) { u64(b, strlen(s)); rag_buf_adds(b, s); }
static void key(struct rag_buf *b, const char *k, uint32_t type) { str(b, k); u32(b, type); }

/* A file with one of every value type, a nested array and two F32 tensors. */
static void build(struct rag_buf *b, uint32_t version, uint32_t align)
{
	float t0[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, t1[3] = { -1, 0.5f, 9 };
	size_t pad;
	int8_t i8 = -5;
	int16_t i16 = -300;
	uint16_t u16 = 60000;
	float f32 = 0.25f;
	double f64 = -1.5;
	uint8_t yes = 1, u8 = 200;

	rag_buf_init(b);
	u32(b, 0x46554747u);
	u32(b, version);
	u64(b, 2);   /* tensors */
	u64(b, 16);  /* kv */
	key(b, "general.architecture", RAG_GGUF_STRING); str(b, "bert");
	key(b, "general.alignment", RAG_GGUF_UINT32); u32(b, align);
	key(b, "k.u8", RAG_GGUF_UINT8); rag_buf_add(b, &u8, 1);
	key(b, "k.i8", RAG_GGUF_INT8); rag_buf_add(b, &i8, 1);
	key(b, "k.u16", RAG_GGUF_UINT16); rag_buf_add(b, &u16, 2);
	key(b, "k.i16", RAG_GGUF_INT16); rag_buf_add(b, &i16, 2);
	key(b, "k.i32", RAG_GGUF_INT32); u32(b, (uint32_t)-7);
	key(b, "k.f32", RAG_GGUF_FLOAT32); rag_buf_add(b, &f32, 4);
	key(b, "k.bool", RAG_GGUF_BOOL); rag_buf_add(b, &yes, 1);
	key(b, "k.u64", RAG_GGUF_UINT64); u64(b, 1ull << 40);
	key(b, "k.i64", RAG_GGUF_INT64); u64(b, (uint64_t)-9);
	key(b, "k.f64", RAG_GGUF_FLOAT64); rag_buf_add(b, &f64, 8);
	key(b, "k.strs", RAG_GGUF_ARRAY); u32(b, RAG_GGUF_STRING); u64(b, 3);
	str(b, "a"); str(b, ""); str(b, "[CLS]");
	key(b, "k.ints", RAG_GGUF_ARRAY); u32(b, RAG_GGUF_INT32); u64(b, 2); u32(b, 10); u32(b, (uint32_t)-20);
	key(b, "k.nested", RAG_GGUF_ARRAY); u32(b, RAG_GGUF_ARRAY); u64(b, 2);
	u32(b, RAG_GGUF_UINT8); u64(b, 1); rag_buf_add(b, &u8, 1);
	u32(b, RAG_GGUF_STRING); u64(b, 1); str(b, "deep");
	key(b, "k.empty", RAG_GGUF_ARRAY); u32(b, RAG_GGUF_FLOAT32); u64(b, 0);
	/* tensors */
	str(b, "t0"); u32(b, 2); u64(b, 4); u64(b, 2); u32(b, RAG_DT_F32); u64(b, 0);
	str(b, "t1"); u32(b, 1); u64(b, 3); u32(b, RAG_DT_F32); u64(b, align > 32 ? align : 32);
	pad = (align - b->len % align) % align;
	while (pad--)
		rag_buf_addc(b, 0);
	rag_buf_add(b, t0, sizeof t0);
	pad = (align > 32 ? align : 32) - sizeof t0;
	while (pad--)
		rag_buf_addc(b, 0);
	rag_buf_add(b, t1, sizeof t1);
}

Test(gguf, hand_built_every_type)
{
	uint32_t versions[] = { 2, 3 }, aligns[] = { 32, 64, 8 };
	size_t vi, ai;

	for (vi = 0; vi < 2; vi++)
		for (ai = 0; ai < 3; ai++) {
			struct rag_buf b;
			struct rag_gguf *g;
			struct rag_error err;
			const struct rag_gguf_kv *kv;
			const struct rag_gguf_str *s;
			const struct rag_gguf_tensor *t;
			int64_t i;
			double d;
			const char *cs;
			int yes;

			build(&b, versions[vi], aligns[ai]);
			cr_assert_eq(rag_gguf_open_mem(b.data, b.len, "mem.gguf", &g, &err), RAG_OK, "%s", err.msg);
			cr_assert_eq(rag_gguf_version(g), versions[vi]);
			cr_assert_eq(rag_gguf_alignment(g), aligns[ai]);
			cr_assert_eq(rag_gguf_get_str(g, "general.architecture", &cs), 1);
			cr_assert_str_eq(cs, "bert");
			cr_assert_eq(rag_gguf_get_int(g, "k.u8", &i), 1); cr_assert_eq(i, 200);
			cr_assert_eq(rag_gguf_get_int(g, "k.i8", &i), 1); cr_assert_eq(i, -5);
			cr_assert_eq(rag_gguf_get_int(g, "k.u16", &i), 1); cr_assert_eq(i, 60000);
			cr_assert_eq(rag_gguf_get_int(g, "k.i16", &i), 1); cr_assert_eq(i, -300);
			cr_assert_eq(rag_gguf_get_int(g, "k.i32", &i), 1); cr_assert_eq(i, -7);
			cr_assert_eq(rag_gguf_get_int(g, "k.u64", &i), 1); cr_assert_eq(i, 1ll << 40);
			cr_assert_eq(rag_gguf_get_int(g, "k.i64", &i), 1); cr_assert_eq(i, -9);
			cr_assert_eq(rag_gguf_get_float(g, "k.f32", &d), 1); cr_assert_eq(d, 0.25);
			cr_assert_eq(rag_gguf_get_float(g, "k.f64", &d), 1); cr_assert_eq(d, -1.5);
			cr_assert_eq(rag_gguf_get_bool(g, "k.bool", &yes), 1); cr_assert_eq(yes, 1);
			cr_assert_eq(rag_gguf_get_int(g, "k.f32", &i), -1);
			cr_assert_eq(rag_gguf_get_str(g, "k.i32", &cs), -1);
			cr_assert_eq(rag_gguf_get_int(g, "nope", &i), 0);
			kv = rag_gguf_find(g, "k.strs");
			cr_assert_eq(kv->n, 3);
			s = rag_gguf_arr_strs(g, kv);
			cr_assert_eq(s[0].len, 1);
			cr_assert_eq(s[1].len, 0);
			cr_assert_eq(memcmp(s[2].s, "[CLS]", 5), 0);
			kv = rag_gguf_find(g, "k.ints");
			cr_assert_eq(rag_gguf_arr_int(kv, 1), -20);
			kv = rag_gguf_find(g, "k.nested");
			cr_assert_eq(kv->elem, RAG_GGUF_ARRAY);
			cr_assert_eq(kv->n, 2);
			cr_assert_null(rag_gguf_arr_strs(g, kv));
			cr_assert_eq(rag_gguf_find(g, "k.empty")->n, 0);
			cr_assert_eq(rag_gguf_n_tensors(g), 2);
			t = rag_gguf_find_tensor(g, "t0");
			cr_assert_eq(t->ne[0], 4);
			cr_assert_eq(t->ne[1], 2);
			cr_assert_eq(t->nbytes, 32);
			cr_assert_eq(((const float *)t->data)[7], 8.0f);
			t = rag_gguf_find_tensor(g, "t1");
			cr_assert_eq(((const float *)t->data)[2], 9.0f);
			rag_gguf_close(g);
			rag_buf_free(&b);
		}
}

/* Every prefix of a valid file must be rejected cleanly (or, for a prefix that
 * happens to hold all tensors, accepted).  Each prefix is its own allocation so
 * ASan sees any read past its end. */
static void truncations(const uint8_t *data, size_t size, size_t step)
{
	size_t cut;
	struct rag_error err;

	for (cut = 0; cut < size; cut += step) {
		uint8_t *copy = rag_malloc(cut ? cut : 1);
		struct rag_gguf *g = NULL;
		int rc;
		memcpy(copy, data, cut);
		rc = rag_gguf_open_mem(copy, cut, "cut.gguf", &g, &err);
		cr_assert(rc == RAG_EMODEL || rc == RAG_OK, "cut at %zu: rc %d", cut, rc);
		if (rc == RAG_EMODEL)
			cr_assert(strstr(err.msg, "cut.gguf") != NULL, "%s", err.msg);
		rag_gguf_close(g);
		rag_free(copy);
	}
}

Test(gguf, truncated_hand_built)
{
	struct rag_buf b;

	build(&b, 3, 32);
	truncations((const uint8_t *)b.data, b.len, 1);
	rag_buf_free(&b);
}

Test(gguf, flipped_bytes_never_crash)
{
	struct rag_buf b;
	size_t i;
	int bit;

	build(&b, 3, 32);
	for (i = 0; i < b.len; i++)
		for (bit = 0; bit < 8; bit += 3) {
			uint8_t *copy = rag_malloc(b.len);
			struct rag_gguf *g = NULL;
			struct rag_error err;
			int rc;
			memcpy(copy, b.data, b.len);
			copy[i] ^= (uint8_t)(1u << bit);
			rc = rag_gguf_open_mem(copy, b.len, "flip.gguf", &g, &err);
			cr_assert(rc == RAG_EMODEL || rc == RAG_OK, "flip at %zu: rc %d", i, rc);
			rag_gguf_close(g);
			rag_free(copy);
		}
	rag_buf_free(&b);
}

static size_t open_dir(const char *rel, size_t trunc_step)
{
	char dirpath[4096];
	DIR *d;
	struct dirent *e;
	size_t n = 0;

	snprintf(dirpath, sizeof dirpath, "%s", fixture(rel));
	d = opendir(dirpath);
	cr_assert_not_null(d, "cannot open %s", dirpath);
	while ((e = readdir(d))) {
		char path[4200];
		struct rag_gguf *g;
		struct rag_error err;
		size_t len = strlen(e->d_name);
		if (len < 5 || strcmp(e->d_name + len - 5, ".gguf"))
			continue;
		snprintf(path, sizeof path, "%s/%s", dirpath, e->d_name);
		cr_assert_eq(rag_gguf_open(path, &g, &err), RAG_OK, "%s", err.msg);
		cr_assert(rag_gguf_find(g, "tokenizer.ggml.model") != NULL, "%s has no tokenizer", path);
		if (trunc_step) {
			/* the header and metadata byte by byte is too slow for the big
			 * vocabularies: step through them, and cut around the data start */
			struct rag_buf whole;
			rag_buf_init(&whole);
			cr_assert_eq(rag_buf_read_file(&whole, path, &err), RAG_OK);
			truncations((const uint8_t *)whole.data, whole.len, trunc_step);
			rag_buf_free(&whole);
		}
		rag_gguf_close(g);
		n++;
	}
	closedir(d);
	return n;
}

Test(gguf, every_fixture_model_opens)
{
	cr_assert_eq(open_dir("models", 4099), 9);
}

Test(gguf, every_fixture_vocab_opens)
{
	cr_assert_eq(open_dir("vocab", 0), 10);
}

Test(gguf, fixture_facts)
{
	struct rag_gguf *g;
	struct rag_error err;
	const struct rag_gguf_tensor *t;
	int64_t v;
	const char *s;

	cr_assert_eq(rag_gguf_open(fixture("models/tiny-embed-mean-q8_0.gguf"), &g, &err), RAG_OK);
	cr_assert_eq(rag_gguf_get_str(g, "general.architecture", &s), 1);
	cr_assert_str_eq(s, "bert");
	cr_assert_eq(rag_gguf_get_int(g, "bert.embedding_length", &v), 1);
	cr_assert_eq(v, 32);
	cr_assert_eq(rag_gguf_get_int(g, "bert.block_count", &v), 1);
	cr_assert_eq(v, 2);
	cr_assert_eq(rag_gguf_get_int(g, "bert.pooling_type", &v), 1);
	cr_assert_eq(v, 1);
	cr_assert_eq(rag_gguf_find(g, "tokenizer.ggml.tokens")->n, 30522);
	t = rag_gguf_find_tensor(g, "blk.0.attn_q.weight");
	cr_assert_not_null(t);
	cr_assert_eq(t->type, RAG_DT_Q8_0);
	cr_assert_eq(t->ne[0], 32);
	rag_gguf_close(g);
}

Test(gguf, open_errors)
{
	struct rag_gguf *g;
	struct rag_error err;

	cr_assert_eq(rag_gguf_open("/nonexistent.gguf", &g, &err), RAG_ENOINPUT);
	cr_assert_eq(rag_gguf_open(fixture("golden/tiny-rerank.json"), &g, &err), RAG_EMODEL);
	cr_assert(strstr(err.msg, "not a GGUF file"), "%s", err.msg);
	cr_assert_eq(rag_gguf_open(fixture("models"), &g, &err), RAG_EMODEL);
}

Test(gguf, allocation_failures_are_reported)
{
	struct rag_buf b;
	unsigned long n, i;

	build(&b, 3, 32);
	rag_alloc_fail_after(0);
	{
		struct rag_gguf *g;
		struct rag_error err;
		cr_assert_eq(rag_gguf_open_mem(b.data, b.len, "m", &g, &err), RAG_OK);
		rag_gguf_close(g);
	}
	n = rag_alloc_fail_after(0);
	for (i = 1; i <= n; i++) {
		struct rag_gguf *g = NULL;
		struct rag_error err;
		int rc;
		rag_alloc_fail_after(i);
		rc = rag_gguf_open_mem(b.data, b.len, "m", &g, &err);
		rag_alloc_fail_after(0);
		cr_assert_eq(rc, RAG_EINTERNAL, "allocation %lu: rc %d", i, rc);
	}
	rag_buf_free(&b);
}
