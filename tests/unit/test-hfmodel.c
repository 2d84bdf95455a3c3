/* test-hfmodel.c: Hugging Face directories seen as GGUF: every key and tensor
 * against the GGUF twins llama.cpp's converter made from the same directories. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "safetensors.h"
#include "gguf.h"
#include "gguf_write.h"
#include "hfmodel.h"
#include "testutil.h"
#include "hf-skip.h"

static char tmpdir[64];

static void setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/ragkit-hf-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(hfmodel, .init = setup, .fini = teardown);

static void cp_r(const char *a, const char *b)
{
	char cmd[8192];

	snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", a, b);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* The qwen2 directory (13 MB) is read from the shared fixtures beside the checkout. */
static const char *shared_hf(const char *name)
{
	static char path[4096];
	const char *top = getenv("top_srcdir");

	snprintf(path, sizeof path, "%s/../shared/fixtures/hf/%s", top ? top : "..", name);
	return access(path, R_OK) == 0 ? path : NULL;
}

static size_t value_bytes(const struct rag_gguf_kv *kv)
{
	return (size_t)kv->size - (kv->type == RAG_GGUF_ARRAY ? 12 : kv->type == RAG_GGUF_STRING ? 8 : 0);
}

/* Every key of the twin, with the same type and value (general.file_type aside);
 * the directory's extra keys are all ragkit.* or tokenizer.huggingface.json (the
 * description its tokenizer runs); the same keys in the same order. */
static void same_metadata(const struct rag_gguf *dir, const struct rag_gguf *twin, const char *prefix, int order)
{
	size_t i, j = 0;

	for (i = 0; i < rag_gguf_n_kv(twin); i++) {
		const struct rag_gguf_kv *w = rag_gguf_kv_at(twin, i), *d;
		if (strncmp(w->key, prefix, strlen(prefix)) || !strcmp(w->key, "general.file_type"))
			continue;
		d = rag_gguf_find(dir, w->key);
		cr_assert(d, "key %s missing", w->key);
		cr_assert_eq(d->type, w->type, "%s: type %d, twin %d", w->key, d->type, w->type);
		if (w->type == RAG_GGUF_ARRAY)
			cr_assert_eq(d->elem, w->elem, "%s", w->key);
		cr_assert_eq(d->size, w->size, "%s: %llu bytes, twin %llu", w->key, (unsigned long long)d->size,
			     (unsigned long long)w->size);
		cr_assert_eq(memcmp(d->p, w->p, value_bytes(w)), 0, "%s differs", w->key);
	}
	for (i = 0; i < rag_gguf_n_kv(dir); i++) {
		const struct rag_gguf_kv *d = rag_gguf_kv_at(dir, i);
		if (strncmp(d->key, prefix, strlen(prefix)))
			continue;
		if (!strncmp(d->key, "ragkit.", 7) || !strcmp(d->key, "tokenizer.huggingface.json"))
			continue;
		cr_assert(rag_gguf_find(twin, d->key), "extra key %s", d->key);
		if (!order)
			continue;
		/* the same order as llama.cpp's */
		while (j < rag_gguf_n_kv(twin) && strcmp(rag_gguf_kv_at(twin, j)->key, d->key))
			j++;
		cr_assert(j < rag_gguf_n_kv(twin), "key %s out of llama.cpp's order", d->key);
	}
}

/* Same tensors (in the same order when order is set), same shapes; bytes equal
 * after rounding to the twin's type where it is F16 (the directory holds
 * fp16-rounded F32). */
static void same_tensors(const struct rag_gguf *dir, const struct rag_gguf *twin, int order)
{
	size_t i;
	int64_t k;

	cr_assert_eq(rag_gguf_n_tensors(dir), rag_gguf_n_tensors(twin));
	for (i = 0; i < rag_gguf_n_tensors(twin); i++) {
		const struct rag_gguf_tensor *w = rag_gguf_tensor_at(twin, i);
		const struct rag_gguf_tensor *d = order ? rag_gguf_tensor_at(dir, i) : rag_gguf_find_tensor(dir, w->name);
		cr_assert(d, "%s missing", w->name);
		cr_assert_str_eq(d->name, w->name);
		cr_assert_eq(d->n_dims, w->n_dims, "%s", w->name);
		cr_assert_eq(memcmp(d->ne, w->ne, sizeof d->ne), 0, "%s", w->name);
		cr_assert_eq(d->type, RAG_DT_F32);
		if (w->type == RAG_DT_F32) {
			cr_assert_eq(memcmp(d->data, w->data, (size_t)w->nbytes), 0, "%s", w->name);
		} else {
			cr_assert_eq(w->type, RAG_DT_F16, "%s", w->name);
			for (k = 0; k < rag_gguf_tensor_nelements(w); k++)
				cr_assert_eq(rag_f32_to_f16(((const float *)d->data)[k]), ((const uint16_t *)w->data)[k],
					     "%s[%lld]", w->name, (long long)k);
		}
	}
}

/* order: the twin was written by llama.cpp's converter (llama-quantize, which
 * made the F32 and BF16 files, orders keys and tensors its own way). */
static void twin_check(const char *dir, const char *twin_file, int order)
{
	struct rag_gguf *d, *w;
	struct rag_error err;
	int64_t ft;

	cr_assert_eq(rag_model_open(dir, &d, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_model_open(fixture(twin_file), &w, &err), RAG_OK, "%s", err.msg);
	cr_assert_str_eq(rag_gguf_path(d), dir);
	cr_assert_eq(rag_gguf_get_int(d, "general.file_type", &ft), 1);
	cr_assert_eq(ft, 0);
	same_metadata(d, w, "", order);
	same_tensors(d, w, order);
	rag_gguf_close(d);
	rag_gguf_close(w);
}

Test(hfmodel, embed_directory_is_its_gguf_twin)
{
	char dir[4096];

	snprintf(dir, sizeof dir, "%s", testdata("hf/tiny-embed-mean"));
	twin_check(dir, "models/tiny-embed-mean-f16.gguf", 1);
	twin_check(dir, "models/tiny-embed-mean-f32.gguf", 0);
}

Test(hfmodel, rerank_directory_is_its_gguf_twin)
{
	char dir[4096];

	snprintf(dir, sizeof dir, "%s", testdata("hf/tiny-rerank"));
	twin_check(dir, "models/tiny-rerank-f16.gguf", 1);
}

Test(hfmodel, qwen2_directory_is_its_gguf_twin)
{
	const char *dir = shared_hf("tiny-qwen2");

	if (!dir)
		cr_skip_test("../shared/fixtures/hf/tiny-qwen2 is not there");
	twin_check(dir, "models/tiny-qwen2-f16.gguf", 1);
}

Test(hfmodel, embed_extras)
{
	struct rag_gguf *g;
	struct rag_error err;
	int64_t v;
	int b;

	cr_assert_eq(rag_model_open(testdata("hf/tiny-embed-mean"), &g, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_gguf_get_int(g, "ragkit.max_length", &v), 1);
	cr_assert_eq(v, 128);
	cr_assert_eq(rag_gguf_get_bool(g, "ragkit.normalize", &b), 1);
	cr_assert(b);
	cr_assert_eq(rag_gguf_get_int(g, "bert.pooling_type", &v), 1);
	rag_gguf_close(g);
}

/* A copy of a fixture directory in tmpdir/name, to vary. */
static const char *copy_dir(const char *src, const char *name)
{
	static char dst[4096];

	snprintf(dst, sizeof dst, "%s/%s", tmpdir, name);
	cp_r(src, dst);
	return dst;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[8192];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert(f);
	fputs(text, f);
	fclose(f);
}

Test(hfmodel, vocab_txt_only)
{
	struct rag_gguf *d, *w;
	struct rag_error err;
	const char *dir = copy_dir(testdata("hf/tiny-embed-mean"), "vocabonly");
	char path[8192];

	snprintf(path, sizeof path, "%s/tokenizer.json", dir);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(rag_model_open(dir, &d, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_gguf_open(fixture("models/tiny-embed-mean-f16.gguf"), &w, &err), RAG_OK);
	same_metadata(d, w, "tokenizer.", 1);
	rag_gguf_close(d);
	rag_gguf_close(w);
}

Test(hfmodel, prompts_and_cls_pooling)
{
	struct rag_gguf *g;
	struct rag_error err;
	const char *dir = copy_dir(testdata("hf/tiny-embed-mean"), "prompts"), *s;
	int64_t v;

	write_file(dir, "config_sentence_transformers.json",
		   "{\"prompts\": {\"query\": \"query: \", \"document\": \"passage: \"}, \"default_prompt_name\": null}");
	write_file(dir, "1_Pooling/config.json", "{\"pooling_mode_cls_token\": true, \"pooling_mode_mean_tokens\": false}");
	cr_assert_eq(rag_model_open(dir, &g, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_gguf_get_str(g, "ragkit.prompt.query", &s), 1);
	cr_assert_str_eq(s, "query: ");
	cr_assert_eq(rag_gguf_get_str(g, "ragkit.prompt.document", &s), 1);
	cr_assert_str_eq(s, "passage: ");
	cr_assert_eq(rag_gguf_get_str(g, "ragkit.default_prompt_name", &s), 0);
	cr_assert_eq(rag_gguf_get_int(g, "bert.pooling_type", &v), 1);
	cr_assert_eq(v, 2);
	rag_gguf_close(g);
	write_file(dir, "1_Pooling/config.json", "{\"pooling_mode_max_tokens\": true}");
	cr_assert_eq(rag_model_open(dir, &g, &err), RAG_EMODEL);
	cr_assert(strstr(err.msg, "pooling mode"), "%s", err.msg);
}

static void expect_bad(const char *dir, int code, const char *msg)
{
	struct rag_gguf *g = (void *)1;
	struct rag_error err;

	cr_assert_eq(rag_model_open(dir, &g, &err), code, "%s", err.msg);
	cr_assert_null(g);
	cr_assert(strstr(err.msg, msg), "'%s' not in '%s'", msg, err.msg);
}

Test(hfmodel, bad_directories)
{
	const char *dir;
	char path[8192];

	expect_bad("/nonexistent/model.gguf", RAG_ENOINPUT, "nonexistent");
	expect_bad(tmpdir, RAG_EMODEL, "no config.json");
	dir = copy_dir(testdata("hf/tiny-rerank"), "badjson");
	write_file(dir, "config.json", "{\"architectures\": [\"BertModel\"],}");
	expect_bad(dir, RAG_EMODEL, "config.json");
	write_file(dir, "config.json", "{\"architectures\": [\"T5ForConditionalGeneration\"]}");
	expect_bad(dir, RAG_EMODEL, "T5ForConditionalGeneration");
	write_file(dir, "config.json", "{\"architectures\": [\"BertForSequenceClassification\"]}");
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	write_file(dir, "tokenizer.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
	expect_bad(dir, RAG_EMODEL, "Unigram");
	cr_assert_eq(truncate(path, 5000), 0);
	expect_bad(dir, RAG_EMODEL, "model.safetensors");
	cr_assert_eq(unlink(path), 0);
	expect_bad(dir, RAG_ENOINPUT, "no model.safetensors");
}

/* A classifier's config read as BertModel: the pooler is dropped (as llama.cpp
 * does), leaving cls.output without cls -- the lossy form rag-model info warns of. */
Test(hfmodel, bert_model_over_classifier_drops_pooler)
{
	struct rag_gguf *g;
	struct rag_error err;
	const char *dir = copy_dir(testdata("hf/tiny-rerank"), "lossy");

	write_file(dir, "config.json", "{\"architectures\": [\"BertModel\"], \"hidden_size\": 32}");
	cr_assert_eq(rag_model_open(dir, &g, &err), RAG_OK, "%s", err.msg);
	cr_assert_not_null(rag_gguf_find_tensor(g, "cls.output.weight"));
	cr_assert_null(rag_gguf_find_tensor(g, "cls.weight"));
	rag_gguf_close(g);
	write_file(dir, "config.json", "{\"architectures\": [\"Qwen2ForCausalLM\"]}");
	cr_assert_eq(rag_model_open(dir, &g, &err), RAG_EMODEL);
	cr_assert(strstr(err.msg, "cannot map tensor 'bert."), "%s", err.msg);
}

/* Directory -> re-typed object: every tensor's type and bytes equal the
 * fixture's (llama.cpp rounds F16/BF16 to nearest even and quantizes Q8_0 as
 * ggml's reference does, so all are byte-identical). */
static void converts_to(const char *dir, enum rag_dtype type, const char *twin_file)
{
	struct rag_gguf *d, *c, *w;
	struct rag_error err;
	size_t i;

	cr_assert_eq(rag_model_open(dir, &d, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_gguf_retype(d, type, &c, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_gguf_open(fixture(twin_file), &w, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_gguf_n_tensors(c), rag_gguf_n_tensors(w));
	for (i = 0; i < rag_gguf_n_tensors(w); i++) {
		const struct rag_gguf_tensor *x = rag_gguf_tensor_at(w, i), *y = rag_gguf_find_tensor(c, x->name);
		cr_assert(y, "%s", x->name);
		cr_assert_eq(y->type, x->type, "%s: %d vs %d", x->name, y->type, x->type);
		cr_assert_eq(y->nbytes, x->nbytes, "%s", x->name);
		cr_assert_eq(memcmp(y->data, x->data, (size_t)x->nbytes), 0, "%s: %s bytes differ", twin_file, x->name);
	}
	rag_gguf_close(w);
	rag_gguf_close(c);
	rag_gguf_close(d);
}

Test(hfmodel, directories_convert_byte_identical)
{
	char embed[4096], rerank[4096];
	const char *qwen = shared_hf("tiny-qwen2");

	snprintf(embed, sizeof embed, "%s", testdata("hf/tiny-embed-mean"));
	snprintf(rerank, sizeof rerank, "%s", testdata("hf/tiny-rerank"));
	converts_to(embed, RAG_DT_F32, "models/tiny-embed-mean-f32.gguf");
	converts_to(embed, RAG_DT_F16, "models/tiny-embed-mean-f16.gguf");
	converts_to(embed, RAG_DT_BF16, "models/tiny-embed-mean-bf16.gguf");
	converts_to(embed, RAG_DT_Q8_0, "models/tiny-embed-mean-q8_0.gguf");
	converts_to(rerank, RAG_DT_F16, "models/tiny-rerank-f16.gguf");
	converts_to(rerank, RAG_DT_Q8_0, "models/tiny-rerank-q8_0.gguf");
	if (qwen) {
		converts_to(qwen, RAG_DT_F16, "models/tiny-qwen2-f16.gguf");
		converts_to(qwen, RAG_DT_BF16, "models/tiny-qwen2-bf16.gguf");
		converts_to(qwen, RAG_DT_Q8_0, "models/tiny-qwen2-q8_0.gguf");
	}
}

/* ---- hand-built directories --------------------------------------------- */

struct st_entry {
	const char *name;
	int n_dims;
	int64_t shape[2];
	const float *data;
	const char *dtype;  /* NULL: F32; "I64": 8-byte elements */
};

/* Write n tensors (F32 unless said otherwise) as one safetensors file. */
static void write_st(const char *path, const struct st_entry *e, size_t n)
{
	struct rag_buf h, d;
	uint64_t hl;
	size_t i;
	FILE *f;

	rag_buf_init(&h);
	rag_buf_init(&d);
	rag_buf_adds(&h, "{");
	for (i = 0; i < n; i++) {
		int64_t nel = e[i].n_dims == 1 ? e[i].shape[0] : e[i].shape[0] * e[i].shape[1];
		const char *dt = e[i].dtype ? e[i].dtype : "F32";
		size_t esz = e[i].dtype ? 8 : 4;
		if (e[i].n_dims == 1)
			rag_buf_printf(&h, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld],", i ? "," : "", e[i].name,
				       dt, (long long)e[i].shape[0]);
		else
			rag_buf_printf(&h, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld,%lld],", i ? "," : "",
				       e[i].name, dt, (long long)e[i].shape[0], (long long)e[i].shape[1]);
		rag_buf_printf(&h, "\"data_offsets\":[%zu,%zu]}", d.len, d.len + (size_t)nel * esz);
		rag_buf_add(&d, e[i].data, (size_t)nel * esz);
	}
	rag_buf_adds(&h, "}");
	while (h.len % 8)
		rag_buf_addc(&h, ' ');
	hl = h.len;
	f = fopen(path, "wb");
	cr_assert(f && !rag_buf_failed(&h) && !rag_buf_failed(&d));
	fwrite(&hl, 8, 1, f);
	fwrite(h.data, 1, h.len, f);
	fwrite(d.data, 1, d.len, f);
	cr_assert_eq(fclose(f), 0);
	rag_buf_free(&h);
	rag_buf_free(&d);
}

/* The reranker's weights split over two shards behind an index: the same twin. */
Test(hfmodel, sharded_directory)
{
	struct rag_safetensors *st;
	struct rag_error err;
	struct st_entry e[64];
	struct rag_buf idx;
	char dir[4096], path[8192];
	size_t i, n;

	/* named like the original: general.name comes from the directory's name */
	snprintf(dir, sizeof dir, "%s/sharded", tmpdir);
	cr_assert_eq(mkdir(dir, 0755), 0);
	snprintf(dir, sizeof dir, "%s/sharded/tiny-rerank", tmpdir);
	cp_r(testdata("hf/tiny-rerank"), dir);
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	cr_assert_eq(rag_safetensors_open(path, &st, &err), RAG_OK, "%s", err.msg);
	n = rag_safetensors_n_tensors(st);
	cr_assert(n <= 64);
	rag_buf_init(&idx);
	rag_buf_adds(&idx, "{\"metadata\": {}, \"weight_map\": {");
	for (i = 0; i < n; i++) {
		const struct rag_st_tensor *t = rag_safetensors_tensor_at(st, i);
		e[i].name = t->name;
		e[i].n_dims = (int)t->n_dims;
		e[i].shape[0] = t->shape[0];
		e[i].shape[1] = t->shape[1];
		e[i].data = t->data;
		rag_buf_printf(&idx, "%s\"%s\": \"model-0000%d-of-00002.safetensors\"", i ? ", " : "", t->name,
			       i < n / 2 ? 1 : 2);
	}
	rag_buf_adds(&idx, "}}");
	snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", dir);
	write_st(path, e, n / 2);
	snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
	write_st(path, e + n / 2, n - n / 2);
	rag_safetensors_close(st);
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	cr_assert_eq(unlink(path), 0);
	write_file(dir, "model.safetensors.index.json", idx.data);
	rag_buf_free(&idx);
	twin_check(dir, "models/tiny-rerank-f16.gguf", 1);
}

/* A tiny llama: its q/k rows are permuted as llama.cpp's converter permutes
 * them (rotate-half pairs (r, r + d/2) become (2r, 2r + 1) within each head). */
Test(hfmodel, llama_directory)
{
	static float emb[4 * 8], q[8 * 8], k[4 * 8], v[4 * 8], o[8 * 8], ff[8 * 8], norm[8], head[4 * 8];
	const struct st_entry e[] = {
		{ "lm_head.weight", 2, { 4, 8 }, head, NULL },
		{ "model.embed_tokens.weight", 2, { 4, 8 }, emb, NULL },
		{ "model.layers.0.input_layernorm.weight", 1, { 8, 0 }, norm, NULL },
		{ "model.layers.0.mlp.down_proj.weight", 2, { 8, 8 }, ff, NULL },
		{ "model.layers.0.mlp.gate_proj.weight", 2, { 8, 8 }, ff, NULL },
		{ "model.layers.0.mlp.up_proj.weight", 2, { 8, 8 }, ff, NULL },
		{ "model.layers.0.post_attention_layernorm.weight", 1, { 8, 0 }, norm, NULL },
		{ "model.layers.0.self_attn.k_proj.weight", 2, { 4, 8 }, k, NULL },
		{ "model.layers.0.self_attn.o_proj.weight", 2, { 8, 8 }, o, NULL },
		{ "model.layers.0.self_attn.q_proj.weight", 2, { 8, 8 }, q, NULL },
		{ "model.layers.0.self_attn.v_proj.weight", 2, { 4, 8 }, v, NULL },
		{ "model.layers.0.self_attn.rotary_emb.inv_freq", 1, { 2, 0 }, norm, NULL },
		{ "model.norm.weight", 1, { 8, 0 }, norm, NULL },
	};
	static const int qrows[8] = { 0, 2, 1, 3, 4, 6, 5, 7 }, krows[4] = { 0, 2, 1, 3 };
	struct rag_gguf *g;
	struct rag_error err;
	const struct rag_gguf_tensor *t;
	const struct rag_gguf_kv *kv;
	const struct rag_gguf_str *s;
	char dir[4096], path[8192];
	const char *str;
	int64_t iv;
	int r, c;

	for (r = 0; r < 8; r++)
		for (c = 0; c < 8; c++)
			q[r * 8 + c] = (float)(r * 100 + c);
	for (r = 0; r < 4; r++)
		for (c = 0; c < 8; c++)
			k[r * 8 + c] = v[r * 8 + c] = (float)(r * 100 + c);
	snprintf(dir, sizeof dir, "%s/llama", tmpdir);
	cr_assert_eq(mkdir(dir, 0755), 0);
	write_file(dir, "config.json",
		   "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 8, \"num_hidden_layers\": 1,"
		   " \"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"intermediate_size\": 8,"
		   " \"max_position_embeddings\": 64, \"rms_norm_eps\": 1e-5, \"rope_theta\": 500000.0,"
		   " \"vocab_size\": 4, \"tie_word_embeddings\": false}");
	write_file(dir, "tokenizer.json",
		   "{\"added_tokens\": [{\"id\": 3, \"content\": \"<|end|>\", \"special\": true}],"
		   " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\","
		   " \"pattern\": {\"Regex\": \"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}},"
		   " {\"type\": \"ByteLevel\", \"use_regex\": false}]},"
		   " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"a b\": 2},"
		   " \"merges\": [[\"a\", \"b\"]]}}");
	write_file(dir, "tokenizer_config.json", "{\"bos_token\": \"<|end|>\", \"add_bos_token\": true}");
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	write_st(path, e, sizeof e / sizeof e[0]);

	cr_assert_eq(rag_model_open(dir, &g, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_gguf_get_str(g, "general.architecture", &str), 1);
	cr_assert_str_eq(str, "llama");
	cr_assert_eq(rag_gguf_get_int(g, "llama.rope.dimension_count", &iv), 1);
	cr_assert_eq(iv, 4);
	cr_assert_eq(rag_gguf_get_int(g, "llama.vocab_size", &iv), 1);
	cr_assert_eq(iv, 4);
	cr_assert_eq(rag_gguf_get_int(g, "llama.attention.head_count_kv", &iv), 1);
	cr_assert_eq(iv, 1);
	cr_assert_eq(rag_gguf_get_str(g, "tokenizer.ggml.pre", &str), 1);
	cr_assert_str_eq(str, "llama-bpe");
	cr_assert_eq(rag_gguf_get_str(g, "tokenizer.ggml.model", &str), 1);
	cr_assert_str_eq(str, "gpt2");
	cr_assert_eq(rag_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &iv), 1);
	cr_assert_eq(iv, 3);
	cr_assert_eq(rag_gguf_get_int(g, "tokenizer.ggml.add_bos_token", &iv), 1);
	cr_assert_eq(iv, 1);
	kv = rag_gguf_find(g, "tokenizer.ggml.merges");
	s = rag_gguf_arr_strs(g, kv);
	cr_assert(s && kv->n == 1 && s[0].len == 3 && !memcmp(s[0].s, "a b", 3));
	kv = rag_gguf_find(g, "tokenizer.ggml.token_type");
	cr_assert_eq(rag_gguf_arr_int(kv, 3), 3);
	cr_assert_eq(rag_gguf_arr_int(kv, 2), 1);
	cr_assert_not_null(rag_gguf_find_tensor(g, "output.weight"));
	cr_assert_null(rag_gguf_find_tensor(g, "blk.0.rotary_emb.inv_freq"));
	t = rag_gguf_find_tensor(g, "blk.0.attn_q.weight");
	cr_assert(t && t->ne[0] == 8 && t->ne[1] == 8);
	for (r = 0; r < 8; r++)
		cr_assert_eq(((const float *)t->data)[r * 8 + 1], (float)(qrows[r] * 100 + 1), "q row %d", r);
	t = rag_gguf_find_tensor(g, "blk.0.attn_k.weight");
	cr_assert(t && t->ne[0] == 8 && t->ne[1] == 4);
	for (r = 0; r < 4; r++)
		cr_assert_eq(((const float *)t->data)[r * 8 + 7], (float)(krows[r] * 100 + 7), "k row %d", r);
	t = rag_gguf_find_tensor(g, "blk.0.attn_v.weight");
	cr_assert_not_null(t);
	cr_assert_eq(((const float *)t->data)[8], 100.0f);  /* v is not permuted */
	rag_gguf_close(g);
}

/* Every allocation of opening a (small) directory fails in turn: an error, no
 * leak (ASan), never a crash. */
Test(hfmodel, allocation_failures)
{
	struct rag_gguf *g;
	struct rag_error err;
	unsigned long n, i;

	rag_alloc_fail_after(0);
	cr_assert_eq(rag_model_open(testdata("examples/rag-model-tiny-bert"), &g, &err), RAG_OK, "%s", err.msg);
	rag_gguf_close(g);
	n = rag_alloc_fail_after(0);
	cr_assert(n > 10 && n < 5000, "%lu allocations", n);
	for (i = 1; i <= n; i++) {
		int rc;
		rag_alloc_fail_after(i);
		rc = rag_model_open(testdata("examples/rag-model-tiny-bert"), &g, &err);
		rag_alloc_fail_after(0);
		if (rc == RAG_OK)
			rag_gguf_close(g);
		else
			cr_assert(rc == RAG_EINTERNAL || rc == RAG_EMODEL || rc == RAG_EIO || rc == RAG_ENOINPUT,
				  "allocation %lu: %d %s", i, rc, err.msg);
	}
}

/* A tiny Qwen3: q/k norms, head_dim keys, tied embeddings (no output), no permutation. */
Test(hfmodel, qwen3_directory)
{
	static float emb[4 * 8], q[8 * 8], kv[4 * 8], o[8 * 8], ff[8 * 8], norm[8];
	const struct st_entry e[] = {
		{ "model.embed_tokens.weight", 2, { 4, 8 }, emb, NULL },
		{ "model.layers.0.input_layernorm.weight", 1, { 8, 0 }, norm, NULL },
		{ "model.layers.0.mlp.down_proj.weight", 2, { 8, 8 }, ff, NULL },
		{ "model.layers.0.mlp.gate_proj.weight", 2, { 8, 8 }, ff, NULL },
		{ "model.layers.0.mlp.up_proj.weight", 2, { 8, 8 }, ff, NULL },
		{ "model.layers.0.post_attention_layernorm.weight", 1, { 8, 0 }, norm, NULL },
		{ "model.layers.0.self_attn.k_norm.weight", 1, { 4, 0 }, norm, NULL },
		{ "model.layers.0.self_attn.k_proj.weight", 2, { 4, 8 }, kv, NULL },
		{ "model.layers.0.self_attn.o_proj.weight", 2, { 8, 8 }, o, NULL },
		{ "model.layers.0.self_attn.q_norm.weight", 1, { 4, 0 }, norm, NULL },
		{ "model.layers.0.self_attn.q_proj.weight", 2, { 8, 8 }, q, NULL },
		{ "model.layers.0.self_attn.v_proj.weight", 2, { 4, 8 }, kv, NULL },
		{ "model.norm.weight", 1, { 8, 0 }, norm, NULL },
	};
	struct rag_gguf *g;
	struct rag_error err;
	const struct rag_gguf_tensor *t;
	char dir[4096], path[8192];
	const char *str;
	int64_t iv;
	int r;

	for (r = 0; r < 64; r++)
		q[r] = (float)r;
	snprintf(dir, sizeof dir, "%s/qwen3", tmpdir);
	cr_assert_eq(mkdir(dir, 0755), 0);
	write_file(dir, "config.json",
		   "{\"architectures\": [\"Qwen3ForCausalLM\"], \"hidden_size\": 8, \"num_hidden_layers\": 1,"
		   " \"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"head_dim\": 4, \"intermediate_size\": 8,"
		   " \"max_position_embeddings\": 64, \"rms_norm_eps\": 1e-6, \"rope_theta\": 1000000.0,"
		   " \"vocab_size\": 4, \"tie_word_embeddings\": true}");
	write_file(dir, "tokenizer.json",
		   "{\"added_tokens\": [{\"id\": 3, \"content\": \"<|endoftext|>\", \"special\": true}],"
		   " \"pre_tokenizer\": {\"type\": \"ByteLevel\"},"
		   " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\"]}}");
	write_file(dir, "tokenizer_config.json",
		   "{\"eos_token\": \"<|endoftext|>\", \"chat_template\": \"{{ messages }}\"}");
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	write_st(path, e, sizeof e / sizeof e[0]);

	cr_assert_eq(rag_model_open(dir, &g, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_gguf_get_str(g, "general.architecture", &str), 1);
	cr_assert_str_eq(str, "qwen3");
	cr_assert_eq(rag_gguf_get_int(g, "qwen3.attention.key_length", &iv), 1);
	cr_assert_eq(iv, 4);
	cr_assert_eq(rag_gguf_get_int(g, "qwen3.attention.value_length", &iv), 1);
	cr_assert_eq(iv, 4);
	cr_assert_eq(rag_gguf_get_int(g, "qwen3.attention.head_count_kv", &iv), 1);
	cr_assert_eq(iv, 1);
	cr_assert_eq(rag_gguf_get_str(g, "tokenizer.ggml.pre", &str), 1);
	cr_assert_str_eq(str, "gpt-2");
	cr_assert_eq(rag_gguf_get_int(g, "tokenizer.ggml.eos_token_id", &iv), 1);
	cr_assert_eq(iv, 3);
	cr_assert_eq(rag_gguf_get_str(g, "tokenizer.chat_template", &str), 1);
	cr_assert_str_eq(str, "{{ messages }}");
	t = rag_gguf_find_tensor(g, "blk.0.attn_q_norm.weight");
	cr_assert(t && t->ne[0] == 4 && t->n_dims == 1);
	cr_assert_not_null(rag_gguf_find_tensor(g, "blk.0.attn_k_norm.weight"));
	cr_assert_null(rag_gguf_find_tensor(g, "output.weight"));
	t = rag_gguf_find_tensor(g, "blk.0.attn_q.weight");
	cr_assert(t && t->data == rag_gguf_find_tensor(g, "blk.0.attn_q.weight")->data);
	for (r = 0; r < 64; r++)
		cr_assert_eq(((const float *)t->data)[r], (float)r);
	rag_gguf_close(g);
}

/* Non-float tensors: an I64 position_ids buffer is skipped (as llama.cpp
 * skips it), an I64 weight is refused naming the tensor and its dtype. */
Test(hfmodel, integer_tensors)
{
	static float w[16 * 32 * 2];  /* room for the I64 version */
	struct st_entry e[] = {
		{ "embeddings.position_ids", 2, { 1, 16 }, w, "I64" },
		{ "embeddings.word_embeddings.weight", 2, { 16, 32 }, w, NULL },
	};
	struct rag_gguf *g;
	struct rag_error err;
	char dir[4096], path[8192];

	snprintf(dir, sizeof dir, "%s/ints", tmpdir);
	cp_r(testdata("examples/rag-model-tiny-bert"), dir);
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	write_st(path, e, 2);
	cr_assert_eq(rag_model_open(dir, &g, &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_gguf_n_tensors(g), 1);
	rag_gguf_close(g);
	e[1].dtype = "I64";
	write_st(path, e, 2);
	cr_assert_eq(rag_model_open(dir, &g, &err), RAG_EMODEL);
	cr_assert(strstr(err.msg, "'embeddings.word_embeddings.weight' has dtype I64"), "%s", err.msg);
}
