/* test-safetensors.c: safetensors reading: the fixture model, hand-built files,
 * sharded weights, and corrupted copies (truncated, flipped header bytes). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "safetensors.h"
#include "testutil.h"
#include "hf-skip.h"

#define EMBED_DIR "hf/tiny-embed-mean"

/* A safetensors file from a JSON header (padded to 8 bytes) and data bytes. */
static void build(struct rag_buf *b, const char *header, const void *data, size_t n)
{
	uint64_t hl = strlen(header);
	size_t pad = (8 - hl % 8) % 8, i;

	rag_buf_init(b);
	hl += pad;
	rag_buf_add(b, &hl, 8);
	rag_buf_adds(b, header);
	for (i = 0; i < pad; i++)
		rag_buf_addc(b, ' ');
	rag_buf_add(b, data, n);
	cr_assert(!rag_buf_failed(b));
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	cr_assert(f, "cannot write %s", path);
	cr_assert_eq(fwrite(p, 1, n, f), n);
	cr_assert_eq(fclose(f), 0);
}

Test(safetensors, fixture_directory)
{
	struct rag_safetensors *st;
	struct rag_error err;
	const struct rag_st_tensor *t;
	size_t i;

	cr_assert_eq(rag_safetensors_open(testdata(EMBED_DIR), &st, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_safetensors_n_tensors(st), 37);
	cr_assert_eq(rag_safetensors_n_files(st), 1);
	t = rag_safetensors_find(st, "embeddings.word_embeddings.weight");
	cr_assert(t);
	cr_assert_eq(t->n_dims, 2);
	cr_assert_eq(t->shape[0], 30522);
	cr_assert_eq(t->shape[1], 32);
	cr_assert_eq(t->type, RAG_DT_F32);
	cr_assert(t->loadable);
	cr_assert_eq(t->nbytes, 30522u * 32 * 4);
	cr_assert_str_eq(t->dtype, "F32");
	t = rag_safetensors_find(st, "encoder.layer.1.output.LayerNorm.weight");
	cr_assert(t);
	cr_assert_eq(t->n_dims, 1);
	cr_assert_eq(rag_st_tensor_nelements(t), 32);
	cr_assert_null(rag_safetensors_find(st, "nope"));
	for (i = 1; i < rag_safetensors_n_tensors(st); i++)
		cr_assert(strcmp(rag_safetensors_tensor_at(st, i - 1)->name, rag_safetensors_tensor_at(st, i)->name) < 0);
	cr_assert_null(rag_safetensors_tensor_at(st, 37));
	rag_safetensors_close(st);
	rag_safetensors_close(NULL);
}

Test(safetensors, missing_files)
{
	struct rag_safetensors *st;
	struct rag_error err;
	char dir[] = "/tmp/ragkit-st-XXXXXX";

	cr_assert_eq(rag_safetensors_open("/nonexistent/x.safetensors", &st, &err), RAG_ENOINPUT);
	cr_assert(strstr(err.msg, "x.safetensors"), "%s", err.msg);
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(rag_safetensors_open(dir, &st, &err), RAG_ENOINPUT);
	cr_assert(strstr(err.msg, "no model.safetensors"), "%s", err.msg);
	cr_assert_null(st);
	rmdir(dir);
}

Test(safetensors, dtypes_and_shapes)
{
	struct rag_buf b;
	struct rag_safetensors *st;
	struct rag_error err;
	uint8_t data[64] = { 0 };
	const struct rag_st_tensor *t;

	build(&b, "{\"__metadata__\":{\"format\":\"pt\"},"
		  "\"a\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
		  "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[12,20]},"
		  "\"ids\":{\"dtype\":\"I64\",\"shape\":[1,2],\"data_offsets\":[24,40]},"
		  "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[40,44]},"
		  "\"z\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[44,44]}}",
	      data, 44);
	cr_assert_eq(rag_safetensors_open_mem(b.data, b.len, "t.safetensors", &st, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_safetensors_n_tensors(st), 5);
	t = rag_safetensors_find(st, "a");
	cr_assert(t && t->type == RAG_DT_F16 && t->shape[0] == 2 && t->shape[1] == 3 && t->loadable);
	t = rag_safetensors_find(st, "b");
	cr_assert(t && t->type == RAG_DT_BF16 && t->nbytes == 8);
	t = rag_safetensors_find(st, "ids");
	cr_assert(t && !t->loadable);
	cr_assert_str_eq(t->dtype, "I64");
	t = rag_safetensors_find(st, "s");
	cr_assert(t && t->n_dims == 0 && rag_st_tensor_nelements(t) == 1);
	t = rag_safetensors_find(st, "z");
	cr_assert(t && rag_st_tensor_nelements(t) == 0);
	rag_safetensors_close(st);
	rag_buf_free(&b);
}

static void expect_bad(const char *header, size_t datalen, const char *msg)
{
	struct rag_buf b;
	struct rag_safetensors *st = (void *)1;
	struct rag_error err;
	uint8_t data[64] = { 0 };

	build(&b, header, data, datalen);
	cr_assert_eq(rag_safetensors_open_mem(b.data, b.len, "bad.safetensors", &st, &err), RAG_EMODEL,
		     "accepted: %s", header);
	cr_assert_null(st);
	cr_assert(strstr(err.msg, "'bad.safetensors'"), "%s", err.msg);
	cr_assert(strstr(err.msg, msg), "'%s' not in '%s'", msg, err.msg);
	rag_buf_free(&b);
}

Test(safetensors, bad_headers)
{
	expect_bad("[1,2]", 0, "not a JSON object");
	expect_bad("{\"a\":", 0, "corrupt safetensors header");
	expect_bad("{\"a\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,1]}}", 8, "unknown dtype");
	expect_bad("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "lacks dtype");
	expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "holds 8 bytes");
	expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 2, "exceed the data");
	expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 8, "exceed the data");
	expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 8, "bad shape");
	expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 8, "bad shape");
	expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 8, "5 dimensions");
	expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 8, "lacks");
	expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		   "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "overlap");
	expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", 8,
		   "impossibly large");
	expect_bad("{\"a\":7}", 0, "not an object");
}

Test(safetensors, short_files)
{
	struct rag_safetensors *st;
	struct rag_error err;
	uint8_t b[16] = { 200, 0, 0, 0, 0, 0, 0, 0, '{', '}' };

	cr_assert_eq(rag_safetensors_open_mem(b, 4, "s", &st, &err), RAG_EMODEL);
	cr_assert_eq(rag_safetensors_open_mem(b, 10, "s", &st, &err), RAG_EMODEL);
	cr_assert(strstr(err.msg, "header of 200 bytes"), "%s", err.msg);
	b[0] = 2;
	cr_assert_eq(rag_safetensors_open_mem(b, 10, "s", &st, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_safetensors_n_tensors(st), 0);
	rag_safetensors_close(st);
}

/* The fixture cut at many lengths and with header bytes flipped: an error naming
 * the file or a valid result, never a crash (ASan runs this too). */
Test(safetensors, truncated_and_flipped)
{
	struct rag_buf b;
	struct rag_safetensors *st;
	struct rag_error err;
	uint64_t hl;
	size_t cut, i;

	rag_buf_init(&b);
	cr_assert_eq(rag_buf_read_file(&b, testdata(EMBED_DIR "/model.safetensors"), &err), RAG_OK, "%s", err.msg);
	memcpy(&hl, b.data, 8);
	cr_assert(hl < b.len);
	for (cut = 0; cut < b.len; cut += (cut < hl + 16 ? 7 : 100003)) {
		char *copy = rag_malloc(cut ? cut : 1);
		memcpy(copy, b.data, cut);
		cr_assert_eq(rag_safetensors_open_mem(copy, cut, "cut.safetensors", &st, &err), RAG_EMODEL,
			     "cut at %zu accepted", cut);
		cr_assert(strstr(err.msg, "cut.safetensors"), "%s", err.msg);
		rag_free(copy);
	}
	for (i = 0; i < 8 + hl; i++) {
		unsigned char save = (unsigned char)b.data[i];
		int rc;
		b.data[i] = (char)(save ^ (i < 8 ? 0x40 : 0x11));
		rc = rag_safetensors_open_mem(b.data, b.len, "flip.safetensors", &st, &err);
		if (rc == RAG_OK)
			rag_safetensors_close(st);
		else
			cr_assert(rc == RAG_EMODEL && strstr(err.msg, "flip.safetensors"), "byte %zu: %d %s", i, rc,
				  err.msg);
		b.data[i] = (char)save;
	}
	rag_buf_free(&b);
}

Test(safetensors, sharded)
{
	char dir[] = "/tmp/ragkit-st-XXXXXX", path[4096];
	float x[4] = { 1, 2, 3, 4 }, y[2] = { 5, 6 };
	struct rag_buf b;
	struct rag_safetensors *st;
	struct rag_error err;
	const struct rag_st_tensor *t;
	const char *index =
		"{\"metadata\":{\"total_size\":24},\"weight_map\":{\"x\":\"model-00001-of-00002.safetensors\","
		"\"y\":\"model-00002-of-00002.safetensors\"}}";

	cr_assert_not_null(mkdtemp(dir));
	build(&b, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", x, sizeof x);
	snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", dir);
	write_file(path, b.data, b.len);
	rag_buf_free(&b);
	build(&b, "{\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", y, sizeof y);
	snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
	write_file(path, b.data, b.len);
	rag_buf_free(&b);
	snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
	write_file(path, index, strlen(index));

	cr_assert_eq(rag_safetensors_open(dir, &st, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_safetensors_n_files(st), 2);
	cr_assert_eq(rag_safetensors_n_tensors(st), 2);
	t = rag_safetensors_find(st, "y");
	cr_assert(t && memcmp(t->data, y, sizeof y) == 0);
	t = rag_safetensors_find(st, "x");
	cr_assert(t && memcmp(t->data, x, sizeof x) == 0);
	rag_safetensors_close(st);

	/* A map that names the wrong shard, and one naming a missing shard. */
	index = "{\"weight_map\":{\"x\":\"model-00002-of-00002.safetensors\",\"y\":\"model-00002-of-00002.safetensors\"}}";
	write_file(path, index, strlen(index));
	cr_assert_eq(rag_safetensors_open(dir, &st, &err), RAG_EMODEL);
	cr_assert(strstr(err.msg, "'x'"), "%s", err.msg);
	index = "{\"weight_map\":{\"x\":\"model-00003-of-00002.safetensors\"}}";
	write_file(path, index, strlen(index));
	cr_assert_eq(rag_safetensors_open(dir, &st, &err), RAG_ENOINPUT);
	index = "{\"weight_map\":{\"x\":\"../etc/passwd\"}}";
	write_file(path, index, strlen(index));
	cr_assert_eq(rag_safetensors_open(dir, &st, &err), RAG_EMODEL);
	index = "{\"weight_map\":{}}";
	write_file(path, index, strlen(index));
	cr_assert_eq(rag_safetensors_open(dir, &st, &err), RAG_EMODEL);
	cr_assert(strstr(err.msg, "weight_map"), "%s", err.msg);

	snprintf(path, sizeof path, "rm -rf '%s'", dir);
	cr_assert_eq(system(path), 0);
}
