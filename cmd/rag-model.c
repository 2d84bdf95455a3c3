/* rag-model: inspect model files and Hugging Face directories; convert them to GGUF. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "gguf.h"
#include "gguf_write.h"
#include "hfmodel.h"
#include "json.h"
#include "modelinfo.h"

static const char usage[] =
	"Usage: rag-model info [OPTIONS] MODEL...\n"
	"       rag-model convert [--type TYPE] MODEL OUT.gguf\n"
	"Show what a model holds and whether ragkit can run it; convert a Hugging Face\n"
	"model directory to GGUF.  MODEL is a GGUF file or a Hugging Face directory.\n"
	"\n"
	"Commands:\n"
	"  info             architecture, dimensions, tokenizer, pooling, tensor types\n"
	"                   and sizes, and whether ragkit can run the model\n"
	"  convert          write MODEL as a GGUF file with llama.cpp's names and\n"
	"                   types (llama.cpp loads it too), keeping a cross-encoder's\n"
	"                   pooler and the sentence-transformers settings\n"
	"\n"
	"Options:\n"
	"      --json       info: one JSON object per file instead of text\n"
	"      --metadata   info: also list every metadata key with its type and value\n"
	"      --type TYPE  convert: tensor type f32, f16 (the default), bf16 or q8_0;\n"
	"                   norms, biases and position embeddings stay f32\n"
	"  -v, --verbose    more messages\n"
	"  -q, --quiet      fewer messages\n"
	"  -h, --help       show this help and exit\n"
	"      --version    show the version and exit\n"
	"\n"
	"Exit status: 0 all files read and runnable (or converted), 1 a file is valid\n"
	"but not runnable, 64 usage error, 66 cannot open a file, 74 write error,\n"
	"78 not a valid model.\n";

enum { OPT_JSON = RAG_OPT_FIRST_PROGRAM, OPT_METADATA, OPT_TYPE };

static const struct option longopts[] = {
	{ "json", no_argument, NULL, OPT_JSON },
	{ "metadata", no_argument, NULL, OPT_METADATA },
	{ "type", required_argument, NULL, OPT_TYPE },
	RAG_LONGOPTS_BASIC,
	{ NULL, 0, NULL, 0 },
};

/* One metadata value, shortened for display (arrays show their first items). */
static void show_value(const struct rag_gguf *g, const struct rag_gguf_kv *kv, struct rag_buf *b)
{
	uint64_t i, n;

	switch (kv->type) {
	case RAG_GGUF_STRING:
		rag_json_write_str(b, kv->str, kv->str_len > 200 ? 200 : (size_t)kv->str_len);
		if (kv->str_len > 200)
			rag_buf_printf(b, "... (%llu bytes)", (unsigned long long)kv->str_len);
		return;
	case RAG_GGUF_ARRAY:
		rag_buf_printf(b, "[%s x %llu]", rag_gguf_vtype_name(kv->elem), (unsigned long long)kv->n);
		n = kv->n < 8 ? kv->n : 8;
		if (kv->elem == RAG_GGUF_STRING) {
			const struct rag_gguf_str *s = rag_gguf_arr_strs(g, kv);
			for (i = 0; s && i < n; i++) {
				rag_buf_addc(b, ' ');
				rag_json_write_str(b, s[i].s, s[i].len > 40 ? 40 : (size_t)s[i].len);
			}
		} else if (kv->elem != RAG_GGUF_ARRAY) {
			for (i = 0; i < n; i++)
				rag_buf_printf(b, " %g", rag_gguf_arr_float(kv, i));
		}
		if (n < kv->n)
			rag_buf_adds(b, " ...");
		return;
	case RAG_GGUF_FLOAT32:
	case RAG_GGUF_FLOAT64: {
		double v = 0;
		rag_gguf_get_float(g, kv->key, &v);
		rag_buf_printf(b, "%g", v);
		return;
	}
	default: {
		int64_t v = 0;
		rag_gguf_get_int(g, kv->key, &v);
		if (kv->type == RAG_GGUF_BOOL)
			rag_buf_adds(b, v ? "true" : "false");
		else
			rag_buf_printf(b, "%lld", (long long)v);
	}
	}
}

static int info(const char *path, int json, int metadata, int quiet, struct rag_error *err)
{
	struct rag_gguf *g = NULL;
	struct rag_buf b;
	char why[256];
	size_t i;
	int rc;

	rag_buf_init(&b);
	if ((rc = rag_model_open(path, &g, err)))
		return rc;
	if (!quiet && rag_model_kind_of(g) == RAG_MODEL_CROSS_ENCODER && !rag_gguf_find_tensor(g, "cls.weight"))
		cli_warn("'%s': cross-encoder with 'cls.output' but no pooler 'cls': a lossy conversion "
			 "whose scores differ from the original model", path);
	rag_model_describe(g, json, &b);
	if (metadata && !json) {
		rag_buf_adds(&b, "metadata:\n");
		for (i = 0; i < rag_gguf_n_kv(g); i++) {
			const struct rag_gguf_kv *kv = rag_gguf_kv_at(g, i);
			rag_buf_printf(&b, "  %-40s %-4s ", kv->key, rag_gguf_vtype_name(kv->type));
			show_value(g, kv, &b);
			rag_buf_addc(&b, '\n');
		}
	}
	if (metadata && json) {
		/* Drop the closing "}\n" of the report and add a metadata object. */
		struct rag_objw w = { &b, 1 }, m;
		b.len -= 2;
		rag_objw_key(&w, "metadata");
		rag_objw_begin(&m, &b);
		for (i = 0; i < rag_gguf_n_kv(g); i++) {
			const struct rag_gguf_kv *kv = rag_gguf_kv_at(g, i);
			struct rag_buf v;
			rag_buf_init(&v);
			show_value(g, kv, &v);
			rag_objw_key(&m, kv->key);
			if (kv->type == RAG_GGUF_STRING || kv->type == RAG_GGUF_ARRAY)
				rag_json_write_str(&b, v.data ? v.data : "", v.len);
			else
				rag_buf_add(&b, v.data, v.len);
			rag_buf_free(&v);
		}
		rag_objw_end(&m);
		rag_buf_adds(&b, "}\n");
	}
	if (rag_buf_failed(&b))
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
	else
		rc = rag_buf_write(&b, stdout, "standard output", err);
	if (rc == RAG_OK && rag_model_kind_of(g) != RAG_MODEL_VOCAB_ONLY && !rag_model_supported(g, why, sizeof why))
		rc = RAG_EFAIL;
	rag_buf_free(&b);
	rag_gguf_close(g);
	return rc;
}

/* convert: open (directory or GGUF), re-type, write atomically. */
static int convert(const char *src, const char *dst, enum rag_dtype type, struct rag_error *err)
{
	struct rag_gguf *g = NULL, *c = NULL;
	int rc;

	if ((rc = rag_model_open(src, &g, err)))
		return rc;
	if (!(rc = rag_gguf_retype(g, type, &c, err)))
		rc = rag_gguf_write(c, dst, err);
	rag_gguf_close(c);
	rag_gguf_close(g);
	return rc;
}

static int parse_type(const char *s, enum rag_dtype *t)
{
	static const struct { const char *name; enum rag_dtype t; } types[] = {
		{ "f32", RAG_DT_F32 }, { "f16", RAG_DT_F16 }, { "bf16", RAG_DT_BF16 }, { "q8_0", RAG_DT_Q8_0 },
	};
	size_t i;

	for (i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strcmp(s, types[i].name) == 0) {
			*t = types[i].t;
			return 0;
		}
	return -1;
}

int main(int argc, char **argv)
{
	struct rag_opts o;
	struct rag_error err;
	int json = 0, metadata = 0, c, rc = RAG_OK, i;
	enum rag_dtype type = RAG_DT_F16;
	const char *type_arg = NULL;

	cli_init(argv[0]);
	rag_error_clear(&err);
	if (rag_opts_init(&o, &err))
		return cli_usage("%s", err.msg);
	opterr = 0;
	while ((c = getopt_long(argc, argv, RAG_SHORTOPTS_BASIC, longopts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON: json = 1; break;
		case OPT_METADATA: metadata = 1; break;
		case OPT_TYPE:
			type_arg = optarg;
			if (parse_type(optarg, &type))
				return cli_usage("--type must be f32, f16, bf16 or q8_0, not '%s'", optarg);
			break;
		default:
			if (cli_option(&o, c, optarg, argv, longopts))
				return RAG_EUSAGE;
		}
	}
	if (cli_help_or_version(&o, usage))
		return cli_exit(RAG_OK);
	if (optind >= argc)
		return cli_usage("missing command (info or convert)");
	if (strcmp(argv[optind], "convert") == 0) {
		if (json || metadata)
			return cli_usage("--json and --metadata are options of info");
		if (argc - optind != 3)
			return cli_usage("convert needs a model and an output file");
		if ((rc = convert(argv[optind + 1], argv[optind + 2], type, &err)))
			rc = cli_report(&err);
		return cli_exit(rc);
	}
	if (strcmp(argv[optind], "info") != 0)
		return cli_usage("unknown command '%s' (expected info or convert)", argv[optind]);
	if (type_arg)
		return cli_usage("--type is an option of convert");
	if (optind + 1 >= argc)
		return cli_usage("info needs at least one model file");
	for (i = optind + 1; i < argc; i++) {
		int r = info(argv[i], json, metadata, o.verbose < 0, &err);
		if (r == RAG_EFAIL) {
			if (rc == RAG_OK)
				rc = RAG_EFAIL;
		} else if (r) {
			rc = cli_report(&err);
			break;
		}
	}
	return cli_exit(rc);
}
