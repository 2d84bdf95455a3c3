/* rag-embed: records in, the same records out with an embedding from an encoder GGUF or a decoder embedding model. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "cli.h"
#include "cpu-tune.h"
#include "embed.h"
#include "embed_pipe.h"
#include "json.h"
#include "jsonl.h"

static const char usage[] =
	"Usage: rag-embed --model FILE [OPTIONS] [FILE...]\n"
	"Add an embedding to each JSON Lines record (from FILEs or standard input).\n"
	"\n"
	"Options:\n"
	"      --model FILE        the embedding model (GGUF: BERT family, or a decoder\n"
	"                          with last-token pooling); or RAG_MODEL\n"
	"      --field NAME        the field holding the text (default: text)\n"
	"      --pooling MODE      mean, cls, last or none (per-token vectors;\n"
	"                          encoders only); default: the model's\n"
	"      --no-normalize      do not scale vectors to unit length\n"
	"      --mode MODE         query or document: put the model's instruction\n"
	"                          prefix in front of each text (its own prompts,\n"
	"                          or e5, nomic, bge, Qwen3-Embedding)\n"
	"      --prefix STR        put STR in front of each text (overrides --mode)\n"
	"      --max-tokens N      truncate texts to N tokens (default: the model's\n"
	"                          context length)\n"
	"      --no-truncate       a text longer than the limit is an error (exit 65)\n"
	"  -o, --output FILE.npy   write the vectors to FILE.npy (float32) and the\n"
	"                          records, without embeddings, to FILE.ids.jsonl\n"
	"      --batch-tokens N    tokens per forward pass (default: 2048 on the CPU,\n"
	"                          65536 on a GPU)\n"
	"      --threads N         CPU threads (default: all cores); or RAG_THREADS\n"
	"      --device DEV        auto, cpu or cuda (default: auto); or RAG_DEVICE\n"
	"      --skip-bad          skip bad records instead of stopping (counted)\n"
	"      --shard I/N         keep only shard I of N (by doc_id, else id; RAG_SHARD)\n"
	"  -v, --verbose           more messages (device, model, counts)\n"
	"  -q, --quiet             fewer messages\n"
	"  -h, --help              show this help and exit\n"
	"      --version           show the version and exit\n"
	"\n"
	"Each output record is the input record, byte for byte, plus \"embedding\",\n"
	"\"n_tokens\" (after truncation) and \"truncated\"; order is kept.\n"
	"Exit status: 0 ok, 64 usage error, 65 bad record, 66 cannot open input,\n"
	"69 device unavailable, 74 write error, 78 not an embedding model.\n";

enum {
	OPT_FIELD = RAG_OPT_FIRST_PROGRAM,
	OPT_POOLING,
	OPT_NO_NORMALIZE,
	OPT_MODE,
	OPT_PREFIX,
	OPT_MAX_TOKENS,
	OPT_NO_TRUNCATE,
	OPT_BATCH_TOKENS,
};

static const struct option longopts[] = {
	RAG_LONGOPT_MODEL,
	{ "field", required_argument, NULL, OPT_FIELD },
	{ "pooling", required_argument, NULL, OPT_POOLING },
	{ "no-normalize", no_argument, NULL, OPT_NO_NORMALIZE },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "prefix", required_argument, NULL, OPT_PREFIX },
	{ "max-tokens", required_argument, NULL, OPT_MAX_TOKENS },
	{ "no-truncate", no_argument, NULL, OPT_NO_TRUNCATE },
	RAG_LONGOPT_OUTPUT,
	{ "batch-tokens", required_argument, NULL, OPT_BATCH_TOKENS },
	RAG_LONGOPT_THREADS,
	RAG_LONGOPT_DEVICE,
	RAG_LONGOPT_SKIP_BAD,
	RAG_LONGOPT_SHARD,
	RAG_LONGOPTS_BASIC,
	{ NULL, 0, NULL, 0 },
};

struct job {
	struct rag_embedder *m;
	struct rag_embed_opts eo;
	const char *field;
	struct rag_opts *o;
	int64_t dim;
	enum rag_pooling pool;
	FILE *npy, *ids;
	struct rag_progress prog; /* records written */
};

/* Default --batch-tokens: a GPU wants many tokens per forward pass. */
#define BATCH_TOKENS_CPU 2048
#define BATCH_TOKENS_GPU 65536

/* The .npy header, padded to a fixed 128 bytes so it can be rewritten in place
 * once the row count is known. */
static int npy_header(FILE *f, uint64_t rows, int64_t dim)
{
	char h[128];
	int n = snprintf(h + 10, sizeof h - 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (%llu, %lld), }",
			 (unsigned long long)rows, (long long)dim);
	if (n < 0 || n > 117)
		return -1;
	memcpy(h, "\x93NUMPY\x01\x00", 8);
	h[8] = 118;   /* header length, little-endian u16 */
	h[9] = 0;
	memset(h + 10 + n, ' ', (size_t)(117 - n));
	h[127] = '\n';
	return fseek(f, 0, SEEK_SET) == 0 && fwrite(h, 1, sizeof h, f) == sizeof h ? 0 : -1;
}

static void on_written(void *ctx, uint64_t n)
{
	rag_progress_update(ctx, n);
}

/* FILE.npy -> FILE.ids.jsonl (an allocated string). */
static char *ids_path(const char *npy)
{
	size_t n = strlen(npy);
	struct rag_buf b;
	rag_buf_init(&b);
	if (n > 4 && strcmp(npy + n - 4, ".npy") == 0)
		n -= 4;
	rag_buf_add(&b, npy, n);
	rag_buf_adds(&b, ".ids.jsonl");
	return rag_buf_failed(&b) ? (rag_buf_free(&b), NULL) : rag_buf_detach(&b, NULL);
}

static FILE *open_tmp(const char *path, char **tmp, struct rag_error *err)
{
	struct rag_buf b;
	FILE *f;
	rag_buf_init(&b);
	rag_buf_printf(&b, "%s.tmp.%ld", path, (long)getpid());
	if (rag_buf_failed(&b)) {
		rag_error_set(err, RAG_EINTERNAL, "out of memory");
		return NULL;
	}
	*tmp = rag_buf_detach(&b, NULL);
	if (!(f = fopen(*tmp, "wb")))
		rag_error_errno(err, RAG_EIO, "cannot create '%s'", *tmp);
	return f;
}

int main(int argc, char **argv)
{
	struct rag_opts o;
	struct rag_error err;
	struct job j;
	enum rag_device dev;
	struct rag_encoder_opts eo_dev = { 0 };
	char *idsp = NULL, *npy_tmp = NULL, *ids_tmp = NULL;
	struct rag_embed_pipe_opts po;
	struct rag_embed_pipe *pipe = NULL;
	size_t n_bad = 0;
	int c, rc = RAG_OK;
	long v;

	cli_cpu_tune(argv);
	cli_init(argv[0]);
	rag_error_clear(&err);
	memset(&j, 0, sizeof j);
	rag_embed_opts_init(&j.eo);
	j.field = "text";
	j.o = &o;
	if (rag_opts_init(&o, &err))
		return cli_usage("%s", err.msg);
	opterr = 0;
	while ((c = getopt_long(argc, argv, RAG_SHORTOPTS_BASIC "o:", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_FIELD: j.field = optarg; break;
		case OPT_POOLING: {
			enum rag_pooling p;
			if (rag_pooling_parse(optarg, &p, &err) || p == RAG_POOL_RANK)
				return cli_usage("invalid value '%s' for --pooling (mean, cls, last or none)", optarg);
			j.eo.pooling = (int)p;
			break;
		}
		case OPT_NO_NORMALIZE: j.eo.no_normalize = 1; break;
		case OPT_MODE:
			if (strcmp(optarg, "query") == 0)
				j.eo.mode = RAG_EMBED_QUERY;
			else if (strcmp(optarg, "document") == 0)
				j.eo.mode = RAG_EMBED_DOCUMENT;
			else
				return cli_usage("invalid value '%s' for --mode (query or document)", optarg);
			break;
		case OPT_PREFIX: j.eo.prefix = optarg; break;
		case OPT_MAX_TOKENS:
			if (rag_parse_long(optarg, 1, 1L << 24, &v, "--max-tokens", &err))
				return cli_usage("%s", err.msg);
			j.eo.max_tokens = v;
			break;
		case OPT_NO_TRUNCATE: j.eo.no_truncate = 1; break;
		case OPT_BATCH_TOKENS:
			if (rag_parse_long(optarg, 1, 1L << 24, &v, "--batch-tokens", &err))
				return cli_usage("%s", err.msg);
			j.eo.batch_tokens = (size_t)v;
			break;
		default:
			if (cli_option(&o, c, optarg, argv, longopts))
				return RAG_EUSAGE;
		}
	}
	if (cli_help_or_version(&o, usage))
		return cli_exit(RAG_OK);
	if (!o.model)
		return cli_usage("no model: give --model FILE or set RAG_MODEL");
	if ((rc = rag_encoder_device(o.device, &dev, &err)))
		goto out;
	rag_set_threads(o.threads);
	eo_dev.cuda = dev == RAG_DEVICE_CUDA;
	rc = rag_embedder_open(o.model, &eo_dev, &j.m, &err);
	if (rc == RAG_EUNAVAILABLE && o.device == RAG_DEVICE_AUTO) {
		/* auto: a GPU that cannot take this model means the CPU */
		if (o.verbose > 0)
			fprintf(stderr, "%s: %s; using the CPU\n", cli_prog(), err.msg);
		dev = RAG_DEVICE_CPU;
		eo_dev.cuda = 0;
		rc = rag_embedder_open(o.model, &eo_dev, &j.m, &err);
	}
	if (rc)
		goto out;
	if ((rc = rag_embed_check_pooling(j.m, &j.eo, &err)))
		goto out;
	j.dim = rag_embedder_dim(j.m);
	j.pool = rag_embed_pooling(j.m, &j.eo);
	if (o.verbose > 0)
		fprintf(stderr, "rag-embed: %s on %s, %d threads, %s pooling, dimension %lld%s%s%s\n", o.model,
			rag_device_name(dev), rag_get_threads(), rag_pooling_name(j.pool), (long long)j.dim,
			j.eo.prefix || j.eo.mode ? ", prefix \"" : "",
			j.eo.prefix ? j.eo.prefix : j.eo.mode ? rag_embed_model_prefix(j.m, j.eo.mode) : "",
			j.eo.prefix || j.eo.mode ? "\"" : "");
	if (!j.eo.batch_tokens)
		j.eo.batch_tokens = dev == RAG_DEVICE_CUDA ? BATCH_TOKENS_GPU : BATCH_TOKENS_CPU;
	if (o.output) {
		if (!(idsp = ids_path(o.output))) {
			rc = rag_error_set(&err, RAG_EINTERNAL, "out of memory");
			goto out;
		}
		if (!(j.npy = open_tmp(o.output, &npy_tmp, &err)) || !(j.ids = open_tmp(idsp, &ids_tmp, &err)) ||
		    npy_header(j.npy, 0, j.dim)) {
			rc = err.code ? err.code : rag_error_errno(&err, RAG_EIO, "cannot write '%s'", npy_tmp);
			goto out;
		}
	}
	cli_progress_start(&j.prog, &o, "records", 0);
	if (o.verbose > 0)
		j.prog.drawn = 1; /* -v: always end with the summary line */
	rag_embed_pipe_opts_init(&po);
	po.field = j.field;
	po.skip_bad = o.skip_bad;
	po.shard = o.shard;
	po.on_bad = cli_on_bad;
	po.on_bad_ctx = &o;
	po.out = j.ids ? j.ids : stdout;
	po.out_name = j.ids ? "the ids file" : "standard output";
	po.npy = j.npy;
	po.npy_name = o.output;
	po.on_written = on_written;
	po.on_written_ctx = &j.prog;
	if ((rc = rag_embed_pipe_new(j.m, &j.eo, &po, &pipe, &err)))
		goto out;
	if (optind >= argc)
		rc = rag_embed_pipe_file(pipe, "-", &err);
	for (int i = optind; i < argc && !rc; i++)
		rc = rag_embed_pipe_file(pipe, argv[i], &err);
	{
		/* the records before an input error are still written */
		struct rag_error e2;
		int rc2 = rag_embed_pipe_finish(pipe, rc ? &e2 : &err);
		if (!rc)
			rc = rc2;
	}
	n_bad = rag_embed_pipe_n_bad(pipe);
	if (!rc && j.npy) {
		if (npy_header(j.npy, rag_embed_pipe_n_rows(pipe), j.dim) || fclose(j.npy)) {
			j.npy = NULL;
			rc = rag_error_errno(&err, RAG_EIO, "cannot write '%s'", o.output);
		} else if (j.npy = NULL, fclose(j.ids)) {
			j.ids = NULL;
			rc = rag_error_errno(&err, RAG_EIO, "cannot write '%s'", idsp);
		} else if (j.ids = NULL, rename(npy_tmp, o.output) || rename(ids_tmp, idsp)) {
			rc = rag_error_errno(&err, RAG_EIO, "cannot rename into '%s'", o.output);
		}
	}
	if (!rc)
		rag_progress_finish(&j.prog);
	if (!rc && n_bad && o.verbose >= 0)
		cli_warn("skipped %zu bad record%s", n_bad, n_bad == 1 ? "" : "s");
out:
	if (rc)
		rc = cli_report(&err);
	rag_embed_pipe_free(pipe); /* before the files it writes to are closed */
	if (j.npy)
		fclose(j.npy);
	if (j.ids)
		fclose(j.ids);
	if (rc && npy_tmp)
		remove(npy_tmp);
	if (rc && ids_tmp)
		remove(ids_tmp);
	rag_free(idsp);
	rag_free(npy_tmp);
	rag_free(ids_tmp);
	rag_embedder_free(j.m);
	return cli_exit(rc);
}
