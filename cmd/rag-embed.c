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
	"      --batch-tokens N    tokens per forward pass (default: 2048)\n"
	"      --threads N         CPU threads (default: all cores); or RAG_THREADS\n"
	"      --device DEV        auto, cpu or cuda (default: auto); or RAG_DEVICE\n"
	"      --skip-bad          skip bad records instead of stopping (counted)\n"
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
	RAG_LONGOPTS_BASIC,
	{ NULL, 0, NULL, 0 },
};

/* Records waiting for their vectors. */
#define BATCH_RECORDS 256

struct job {
	struct rag_embedder *m;
	struct rag_embed_opts eo;
	const char *field;
	struct rag_opts *o;
	int64_t dim;
	enum rag_pooling pool;
	/* the batch */
	struct rag_buf raw;          /* the records' lines, NUL-separated */
	size_t *raw_off;
	struct rag_embed_seq *seqs;
	size_t n, n_tok;
	float *vec;
	size_t vec_cap;
	struct rag_arena arena;
	struct rag_buf out;
	/* -o */
	FILE *npy, *ids;
	uint64_t rows;
	size_t n_bad;
	struct rag_progress prog; /* records written */
	uint64_t n_done;
};

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

static int flush_batch(struct job *j, struct rag_error *err)
{
	static const char *const drop[] = { "embedding", "n_tokens", "truncated", NULL };
	size_t rows = j->pool == RAG_POOL_NONE ? j->n_tok : j->n, r = 0;
	int rc;

	if (j->n == 0)
		return RAG_OK;
	if (rows * (size_t)j->dim > j->vec_cap) {
		float *v = rag_realloc(j->vec, rows * (size_t)j->dim * sizeof *v);
		if (!v)
			return rag_error_set(err, RAG_EINTERNAL, "out of memory");
		j->vec = v;
		j->vec_cap = rows * (size_t)j->dim;
	}
	if ((rc = rag_embed_run(j->m, j->seqs, j->n, &j->eo, j->vec, err)))
		return rc;
	rag_buf_reset(&j->out);
	for (size_t i = 0; i < j->n; i++) {
		struct rag_json *rec;
		struct rag_objw w;
		size_t nr = j->pool == RAG_POOL_NONE ? j->seqs[i].n : 1;
		rag_arena_reset(&j->arena);
		if ((rc = rag_json_parse(&j->arena, j->raw.data + j->raw_off[i], strlen(j->raw.data + j->raw_off[i]),
					 &rec, err)))
			return rc;
		rag_objw_begin(&w, &j->out);
		rag_objw_copy(&w, rec, drop);
		if (j->npy) {
			rag_objw_key(&w, "row");
			rag_json_write_num(&j->out, (double)j->rows);
			if (fwrite(j->vec + r * (size_t)j->dim, sizeof(float), nr * (size_t)j->dim, j->npy) !=
			    nr * (size_t)j->dim)
				return rag_error_errno(err, RAG_EIO, "cannot write '%s'", j->o->output);
			j->rows += nr;
		} else {
			rag_objw_key(&w, "embedding");
			if (j->pool == RAG_POOL_NONE) {
				rag_buf_addc(&j->out, '[');
				for (size_t t = 0; t < nr; t++) {
					if (t)
						rag_buf_addc(&j->out, ',');
					rag_json_write_floats(&j->out, j->vec + (r + t) * (size_t)j->dim, (size_t)j->dim);
				}
				rag_buf_addc(&j->out, ']');
			} else {
				rag_json_write_floats(&j->out, j->vec + r * (size_t)j->dim, (size_t)j->dim);
			}
		}
		r += nr;
		rag_objw_key(&w, "n_tokens");
		rag_json_write_num(&j->out, (double)j->seqs[i].n);
		rag_objw_key(&w, "truncated");
		rag_buf_adds(&j->out, j->seqs[i].truncated ? "true" : "false");
		rag_objw_end(&w);
		rag_buf_addc(&j->out, '\n');
	}
	if (rag_buf_failed(&j->out))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	if ((rc = rag_buf_write(&j->out, j->ids ? j->ids : stdout, j->ids ? "the ids file" : "standard output", err)))
		return rc;
	j->n_done += j->n;
	rag_progress_update(&j->prog, j->n_done);
	j->n = 0;
	j->n_tok = 0;
	rag_buf_reset(&j->raw);
	return RAG_OK;
}

static int run_file(struct job *j, const char *path, struct rag_error *err)
{
	struct rag_jsonl_reader r;
	const struct rag_json *rec;
	int rc;

	if ((rc = rag_jsonl_open(&r, path, err)))
		return rc;
	r.skip_bad = j->o->skip_bad;
	r.on_bad = cli_on_bad;
	r.on_bad_ctx = j->o;
	for (;;) {
		const struct rag_json *f;
		struct rag_error e2;
		if ((rc = rag_jsonl_next(&r, &rec, err)) || !rec)
			break;
		f = rag_json_get(rec, j->field);
		if (!f || f->type != RAG_JSON_STRING) {
			if ((rc = rag_jsonl_reject(&r, err, f ? "field '%s' is not a string" : "no field '%s'", j->field)))
				break;
			continue;
		}
		if ((rc = rag_embed_prepare(j->m, f->u.str.s, f->u.str.len, &j->eo, &j->seqs[j->n], &e2))) {
			if (rc != RAG_EDATA) {
				*err = e2;
				break;
			}
			if ((rc = rag_jsonl_reject(&r, err, "%s", e2.msg)))
				break;
			continue;
		}
		j->raw_off[j->n] = j->raw.len;
		rag_buf_add(&j->raw, rec->raw, rec->raw_len);
		rag_buf_addc(&j->raw, '\0');
		j->n_tok += j->seqs[j->n].n;
		j->n++;
		if (j->n == BATCH_RECORDS || j->n_tok >= 4 * (j->eo.batch_tokens ? j->eo.batch_tokens : 2048))
			if ((rc = flush_batch(j, err)))
				break;
	}
	j->n_bad += r.n_bad;
	rag_jsonl_release(&r);
	return rc;
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
	rag_buf_init(&j.raw);
	rag_buf_init(&j.out);
	rag_arena_init(&j.arena);
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
	j.raw_off = rag_calloc(BATCH_RECORDS, sizeof *j.raw_off);
	j.seqs = rag_calloc(BATCH_RECORDS, sizeof *j.seqs);
	if (!j.raw_off || !j.seqs) {
		rc = rag_error_set(&err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
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
	if (optind >= argc)
		rc = run_file(&j, "-", &err);
	for (int i = optind; i < argc && !rc; i++)
		rc = run_file(&j, argv[i], &err);
	if (!rc)
		rc = flush_batch(&j, &err);
	if (!rc && j.npy) {
		if (npy_header(j.npy, j.rows, j.dim) || fclose(j.npy)) {
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
	if (!rc && j.n_bad && o.verbose >= 0)
		cli_warn("skipped %zu bad record%s", j.n_bad, j.n_bad == 1 ? "" : "s");
out:
	if (rc)
		rc = cli_report(&err);
	if (j.npy)
		fclose(j.npy);
	if (j.ids)
		fclose(j.ids);
	if (rc && npy_tmp)
		remove(npy_tmp);
	if (rc && ids_tmp)
		remove(ids_tmp);
	for (size_t i = 0; j.seqs && i < BATCH_RECORDS; i++)
		rag_embed_seq_free(&j.seqs[i]);
	rag_free(j.seqs);
	rag_free(j.raw_off);
	rag_free(j.vec);
	rag_free(idsp);
	rag_free(npy_tmp);
	rag_free(ids_tmp);
	rag_buf_free(&j.raw);
	rag_buf_free(&j.out);
	rag_arena_free(&j.arena);
	rag_embedder_free(j.m);
	return cli_exit(rc);
}
