/* test-gguf-write.c: the GGUF builder, the writer (round trips of every fixture
 * GGUF) and llama.cpp-style re-typing checked against the fixture files. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "gguf.h"
#include "gguf_write.h"
#include "testutil.h"

static char tmpdir[64];

static void setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/ragkit-gw-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(gguf_write, .init = setup, .fini = teardown);

static void hook(void *arg)
{
	++*(int *)arg;
}

Test(gguf_write, builder_every_type)
{
	struct rag_gguf_builder *b = rag_gguf_builder_new();
	struct rag_gguf *g;
	struct rag_error err;
	const struct rag_gguf_kv *kv;
	const struct rag_gguf_str *s;
	const struct rag_gguf_tensor *t;
	const char *strs[] = { "a", "", "[CLS]" }, *sv;
	int32_t ints[] = { 10, -20 };
	float data[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, one = 1;
	int64_t ne[2] = { 4, 2 }, ne1[1] = { 1 }, iv;
	double dv;
	int8_t i8 = -5;
	int bv, closed = 0;

	cr_assert(b);
	rag_gguf_builder_set_str(b, "general.architecture", "bert");
	rag_gguf_builder_set_u32(b, "k.u32", 7);
	rag_gguf_builder_set_i32(b, "k.i32", -7);
	rag_gguf_builder_set_u64(b, "k.u64", 1ull << 40);
	rag_gguf_builder_set_f32(b, "k.f32", 0.25f);
	rag_gguf_builder_set_bool(b, "k.bool", 1);
	rag_gguf_builder_set_scalar(b, "k.i8", RAG_GGUF_INT8, &i8);
	rag_gguf_builder_set_arr_str(b, "k.strs", strs, NULL, 3);
	rag_gguf_builder_set_arr(b, "k.ints", RAG_GGUF_INT32, ints, 2);
	rag_gguf_builder_set_u32(b, "k.replace", 1);
	rag_gguf_builder_set_str(b, "k.gone", "x");
	rag_gguf_builder_remove(b, "k.gone");
	rag_gguf_builder_set_u32(b, "k.replace", 2);
	cr_assert(rag_gguf_builder_has(b, "k.replace"));
	cr_assert(!rag_gguf_builder_has(b, "k.gone"));
	rag_gguf_builder_add_tensor(b, "t0", 2, ne, RAG_DT_F32, data);
	rag_gguf_builder_add_tensor(b, "t1", 1, ne1, RAG_DT_F32, &one);
	rag_gguf_builder_on_close(b, hook, &closed);
	cr_assert_eq(rag_gguf_builder_finish(b, "built", &g, &err), RAG_OK, "%s", err.msg);

	cr_assert_str_eq(rag_gguf_path(g), "built");
	cr_assert_eq(rag_gguf_n_kv(g), 10);
	cr_assert_str_eq(rag_gguf_kv_at(g, 9)->key, "k.replace");  /* kept its place */
	cr_assert_eq(rag_gguf_get_str(g, "general.architecture", &sv), 1);
	cr_assert_str_eq(sv, "bert");
	cr_assert_eq(rag_gguf_get_int(g, "k.u32", &iv), 1);
	cr_assert_eq(iv, 7);
	cr_assert_eq(rag_gguf_get_int(g, "k.i32", &iv), 1);
	cr_assert_eq(iv, -7);
	cr_assert_eq(rag_gguf_get_int(g, "k.u64", &iv), 1);
	cr_assert_eq(iv, 1ll << 40);
	cr_assert_eq(rag_gguf_get_int(g, "k.i8", &iv), 1);
	cr_assert_eq(iv, -5);
	cr_assert_eq(rag_gguf_get_int(g, "k.replace", &iv), 1);
	cr_assert_eq(iv, 2);
	cr_assert_eq(rag_gguf_get_float(g, "k.f32", &dv), 1);
	cr_assert_eq(dv, 0.25);
	cr_assert_eq(rag_gguf_get_bool(g, "k.bool", &bv), 1);
	cr_assert(bv);
	kv = rag_gguf_find(g, "k.strs");
	s = rag_gguf_arr_strs(g, kv);
	cr_assert(s && kv->n == 3);
	cr_assert(s[2].len == 5 && memcmp(s[2].s, "[CLS]", 5) == 0);
	cr_assert_eq(s[1].len, 0);
	kv = rag_gguf_find(g, "k.ints");
	cr_assert_eq(rag_gguf_arr_int(kv, 1), -20);
	cr_assert_eq(rag_gguf_n_tensors(g), 2);
	t = rag_gguf_find_tensor(g, "t0");
	cr_assert(t && t->data == data && t->nbytes == 32 && t->ne[1] == 2 && t->ne[2] == 1 && t->offset == 0);
	t = rag_gguf_find_tensor(g, "t1");
	cr_assert(t && t->offset == 32 && t->nbytes == 4);
	cr_assert_eq(closed, 0);
	rag_gguf_close(g);
	cr_assert_eq(closed, 1);
}

Test(gguf_write, builder_errors)
{
	struct rag_gguf_builder *b = rag_gguf_builder_new();
	struct rag_gguf *g;
	struct rag_error err;
	float d[32] = { 0 };
	int64_t ne[1] = { 30 }, ne4[1] = { 4 };
	int closed = 0;

	rag_gguf_builder_add_tensor(b, "q", 1, ne, RAG_DT_Q8_0, d);  /* 30 is not a block multiple */
	rag_gguf_builder_on_close(b, hook, &closed);
	cr_assert_eq(rag_gguf_builder_finish(b, "x", &g, &err), RAG_EINTERNAL);
	cr_assert_null(g);
	cr_assert_eq(closed, 1);

	b = rag_gguf_builder_new();
	rag_gguf_builder_add_tensor(b, "a", 1, ne4, RAG_DT_F32, d);
	rag_gguf_builder_add_tensor(b, "a", 1, ne4, RAG_DT_F32, d);
	cr_assert_eq(rag_gguf_builder_finish(b, "x", &g, &err), RAG_EMODEL);
	cr_assert(strstr(err.msg, "twice"), "%s", err.msg);

	b = rag_gguf_builder_new();
	rag_gguf_builder_add_tensor(b, "a", 5, ne4, RAG_DT_F32, d);
	cr_assert_eq(rag_gguf_builder_finish(b, "x", &g, &err), RAG_EINTERNAL);
	rag_gguf_builder_free(NULL);
	b = rag_gguf_builder_new();
	rag_gguf_builder_set_u32(b, "k", 1);
	rag_gguf_builder_free(b);
}

/* Every key (type and value bytes) and tensor (shape, type, bytes) equal. */
static void assert_same(const struct rag_gguf *a, const struct rag_gguf *b)
{
	size_t i;

	cr_assert_eq(rag_gguf_n_kv(a), rag_gguf_n_kv(b));
	for (i = 0; i < rag_gguf_n_kv(a); i++) {
		const struct rag_gguf_kv *x = rag_gguf_kv_at(a, i), *y = rag_gguf_kv_at(b, i);
		cr_assert_str_eq(x->key, y->key);
		cr_assert_eq(x->type, y->type, "%s", x->key);
		cr_assert_eq(x->size, y->size, "%s", x->key);
		cr_assert_eq(memcmp(x->p, y->p, (size_t)x->size - (x->type == RAG_GGUF_ARRAY ? 12 : 0) -
				    (x->type == RAG_GGUF_STRING ? 8 : 0)), 0, "%s", x->key);
	}
	cr_assert_eq(rag_gguf_n_tensors(a), rag_gguf_n_tensors(b));
	for (i = 0; i < rag_gguf_n_tensors(a); i++) {
		const struct rag_gguf_tensor *x = rag_gguf_tensor_at(a, i), *y = rag_gguf_tensor_at(b, i);
		cr_assert_str_eq(x->name, y->name);
		cr_assert(x->type == y->type && x->n_dims == y->n_dims && memcmp(x->ne, y->ne, sizeof x->ne) == 0,
			  "%s", x->name);
		cr_assert_eq(x->nbytes, y->nbytes);
		cr_assert_eq(memcmp(x->data, y->data, (size_t)x->nbytes), 0, "%s", x->name);
	}
}

static void roundtrip_dir(const char *dir)
{
	DIR *d = opendir(fixture(dir));
	struct dirent *e;
	char src[8192], dst[8192];
	int n = 0;

	cr_assert(d, "%s", fixture(dir));
	while ((e = readdir(d))) {
		struct rag_gguf *a, *b;
		struct rag_error err;
		struct rag_buf x, y;
		size_t l = strlen(e->d_name);
		if (l < 5 || strcmp(e->d_name + l - 5, ".gguf"))
			continue;
		snprintf(src, sizeof src, "%s/%s", fixture(dir), e->d_name);
		snprintf(dst, sizeof dst, "%s/%s", tmpdir, e->d_name);
		cr_assert_eq(rag_gguf_open(src, &a, &err), RAG_OK, "%s", err.msg);
		cr_assert_eq(rag_gguf_write(a, dst, &err), RAG_OK, "%s", err.msg);
		cr_assert_eq(rag_gguf_open(dst, &b, &err), RAG_OK, "%s", err.msg);
		assert_same(a, b);
		/* The layout is llama.cpp's gguf writer's: the very same bytes. */
		rag_buf_init(&x);
		rag_buf_init(&y);
		cr_assert_eq(rag_buf_read_file(&x, src, &err), RAG_OK);
		cr_assert_eq(rag_buf_read_file(&y, dst, &err), RAG_OK);
		cr_assert(x.len == y.len && memcmp(x.data, y.data, x.len) == 0, "%s differs from its rewrite", src);
		rag_buf_free(&x);
		rag_buf_free(&y);
		rag_gguf_close(a);
		rag_gguf_close(b);
		unlink(dst);
		n++;
	}
	closedir(d);
	cr_assert(n >= 9, "only %d files in %s", n, dir);
}

Test(gguf_write, roundtrip_models) { roundtrip_dir("models"); }
Test(gguf_write, roundtrip_vocabs) { roundtrip_dir("vocab"); }

Test(gguf_write, write_errors)
{
	struct rag_gguf *g;
	struct rag_error err;
	char path[4096];
	DIR *d;
	struct dirent *e;

	cr_assert_eq(rag_gguf_open(fixture("models/tiny-embed-mean-q8_0.gguf"), &g, &err), RAG_OK);
	cr_assert_eq(rag_gguf_write(g, "/nonexistent/dir/x.gguf", &err), RAG_EIO);
	cr_assert(strstr(err.msg, "/nonexistent/dir/x.gguf"), "%s", err.msg);
	/* An existing file is replaced whole; no temporary is left behind. */
	snprintf(path, sizeof path, "%s/out.gguf", tmpdir);
	{
		FILE *f = fopen(path, "w");
		fputs("old", f);
		fclose(f);
	}
	cr_assert_eq(rag_gguf_write(g, path, &err), RAG_OK, "%s", err.msg);
	rag_gguf_close(g);
	cr_assert_eq(rag_gguf_open(path, &g, &err), RAG_OK, "%s", err.msg);
	rag_gguf_close(g);
	d = opendir(tmpdir);
	while ((e = readdir(d)))
		cr_assert(!strstr(e->d_name, ".tmp."), "left %s", e->d_name);
	closedir(d);
}

Test(gguf_write, q8_0_rounding)
{
	float x[32], back[32];
	uint8_t q[34];
	int i;
	uint16_t h;

	for (i = 0; i < 32; i++)
		x[i] = (float)(i - 16) * 0.5f;
	x[31] = 63.5f;  /* amax: d = 0.5 */
	rag_quantize_q8_0(x, q, 32);
	memcpy(&h, q, 2);
	cr_assert_eq(rag_f16_to_f32(h), 0.5f);
	cr_assert_eq((int8_t)q[2], -16);
	cr_assert_eq((int8_t)q[2 + 31], 127);
	cr_assert_eq((int8_t)q[2 + 17], 1);
	rag_dequant_row(RAG_DT_Q8_0, q, back, 32);
	for (i = 0; i < 31; i++)
		cr_assert_eq(back[i], x[i]);
	memset(x, 0, sizeof x);
	rag_quantize_q8_0(x, q, 32);
	for (i = 0; i < 34; i++)
		cr_assert_eq(q[i], 0);
}

/* Re-typing the F32 fixture gives the fixture F16 file's tensors, byte for byte,
 * and the types llama.cpp chose tensor by tensor. */
static void retype_matches(const char *from, enum rag_dtype type, const char *want_file, int exact)
{
	struct rag_gguf *src, *conv, *want;
	struct rag_error err;
	size_t i, diff = 0, total = 0;
	int64_t ft, wft;

	cr_assert_eq(rag_gguf_open(fixture(from), &src, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_gguf_open(fixture(want_file), &want, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_gguf_retype(src, type, &conv, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_gguf_n_tensors(conv), rag_gguf_n_tensors(want));
	cr_assert_eq(rag_gguf_get_int(conv, "general.file_type", &ft), 1);
	cr_assert_eq(rag_gguf_get_int(want, "general.file_type", &wft), 1);
	cr_assert_eq(ft, wft);
	for (i = 0; i < rag_gguf_n_tensors(conv); i++) {
		const struct rag_gguf_tensor *c = rag_gguf_tensor_at(conv, i);
		const struct rag_gguf_tensor *w = rag_gguf_find_tensor(want, c->name);
		size_t k;
		cr_assert(w, "%s", c->name);
		cr_assert_eq(c->type, w->type, "%s", c->name);
		cr_assert_eq(c->nbytes, w->nbytes, "%s", c->name);
		for (k = 0; k < c->nbytes; k++)
			diff += ((const uint8_t *)c->data)[k] != ((const uint8_t *)w->data)[k];
		total += c->nbytes;
	}
	if (exact)
		cr_assert_eq(diff, 0, "%s -> %s: %zu of %zu bytes differ", from, want_file, diff, total);
	rag_gguf_close(conv);
	rag_gguf_close(want);
	rag_gguf_close(src);
}

Test(gguf_write, retype_f32_to_f16_is_the_fixture)
{
	retype_matches("models/tiny-embed-mean-f32.gguf", RAG_DT_F16, "models/tiny-embed-mean-f16.gguf", 1);
}

Test(gguf_write, retype_f32_to_bf16_is_the_fixture)
{
	retype_matches("models/tiny-embed-mean-f32.gguf", RAG_DT_BF16, "models/tiny-embed-mean-bf16.gguf", 1);
}

Test(gguf_write, retype_f32_to_q8_0_is_the_fixture)
{
	retype_matches("models/tiny-embed-mean-f32.gguf", RAG_DT_Q8_0, "models/tiny-embed-mean-q8_0.gguf", 1);
}

Test(gguf_write, retype_f16_to_f32_is_the_fixture)
{
	retype_matches("models/tiny-embed-mean-f16.gguf", RAG_DT_F32, "models/tiny-embed-mean-f32.gguf", 1);
}

Test(gguf_write, retype_refuses_quantized_sources)
{
	struct rag_gguf *src, *conv;
	struct rag_error err;

	cr_assert_eq(rag_gguf_open(fixture("models/tiny-embed-mean-q8_0.gguf"), &src, &err), RAG_OK);
	cr_assert_eq(rag_gguf_retype(src, RAG_DT_F16, &conv, &err), RAG_EMODEL);
	cr_assert(strstr(err.msg, "Q8_0"), "%s", err.msg);
	cr_assert_eq(rag_gguf_retype(src, RAG_DT_Q4_0, &conv, &err), RAG_EUSAGE);
	rag_gguf_close(src);
}
