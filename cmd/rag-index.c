/* rag-index: build, update, delete from, compact, inspect and merge index files. */
#include "config.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "cli.h"
#include "index.h"
#include "jsonl.h"
#include "vecfile.h"

static const char usage[] =
	"Usage: rag-index [OPTIONS] INDEX [add] [FILE...]\n"
	"       rag-index [OPTIONS] INDEX delete (--id ID | --doc-id DOC)...\n"
	"       rag-index [OPTIONS] INDEX compact\n"
	"       rag-index [OPTIONS] INDEX stats [--json]\n"
	"       rag-index [OPTIONS] merge OUT IN...\n"
	"Create or update an index (an SQLite database plus a vector file beside it) from\n"
	"embedded chunk records (JSON Lines on stdin or in FILEs), atomically.\n"
	"\n"
	"Commands:\n"
	"  add              upsert chunks by id, skipping unchanged ones (the default)\n"
	"  delete           remove chunks by id or by doc_id\n"
	"  compact          rewrite the database and the vector file\n"
	"  stats            counts, dimensions, settings and sizes\n"
	"  merge            join index shards IN... into OUT\n"
	"\n"
	"Options:\n"
	"      --model NAME       embedding model the vectors come from (recorded; a\n"
	"                         different one is refused)\n"
	"      --metric M         cosine, ip or l2 (new index; default cosine)\n"
	"      --storage S        f32, f16 or int8 (new index; default f32)\n"
	"      --stem S           porter or none (new index; default porter)\n"
	"      --stopwords S      english or none (new index; default english)\n"
	"      --ann              also keep an HNSW graph for approximate search (may be\n"
	"                         switched on for an existing index)\n"
	"      --ann-m M          HNSW links per node (new graph; default 16)\n"
	"      --ef-construction N  HNSW build breadth (new graph; default 200)\n"
	"      --id ID            delete: the chunk with this id (repeatable)\n"
	"      --doc-id DOC       delete: every chunk of this document (repeatable)\n"
	"      --replace-doc      add: also delete the chunks of each incoming doc_id\n"
	"                         that are not in the input (same transaction)\n"
	"      --json             stats, and the add/delete report, as JSON on stdout\n"
	"      --skip-bad         skip bad records instead of stopping\n"
	"      --shard I/N        add: only shard I of N of the records (by doc_id,\n"
	"                         else id; RAG_SHARD)\n"
	"      --threads N        threads (default: all cores)\n"
	"  -v, --verbose        more messages\n"
	"  -q, --quiet          fewer messages\n"
	"  -h, --help           show this help and exit\n"
	"      --version        show the version and exit\n"
	"\n"
	"Exit status: 0 ok, 64 usage error, 65 bad record or setting mismatch,\n"
	"66 cannot open input, 74 I/O error (disk full), 78 not a ragkit index or corrupted.\n";

enum {
	OPT_METRIC = RAG_OPT_FIRST_PROGRAM, OPT_STORAGE, OPT_STEM, OPT_STOPWORDS, OPT_ID, OPT_DOC_ID,
	OPT_JSON, OPT_ANN, OPT_ANN_M, OPT_EFC, OPT_REPLACE_DOC,
};

static const struct option longopts[] = {
	RAG_LONGOPT_MODEL,
	{ "metric", required_argument, NULL, OPT_METRIC },
	{ "storage", required_argument, NULL, OPT_STORAGE },
	{ "stem", required_argument, NULL, OPT_STEM },
	{ "stopwords", required_argument, NULL, OPT_STOPWORDS },
	{ "ann", no_argument, NULL, OPT_ANN },
	{ "ann-m", required_argument, NULL, OPT_ANN_M },
	{ "ef-construction", required_argument, NULL, OPT_EFC },
	{ "id", required_argument, NULL, OPT_ID },
	{ "doc-id", required_argument, NULL, OPT_DOC_ID },
	{ "replace-doc", no_argument, NULL, OPT_REPLACE_DOC },
	{ "json", no_argument, NULL, OPT_JSON },
	RAG_LONGOPT_SKIP_BAD,
	RAG_LONGOPT_SHARD,
	RAG_LONGOPT_THREADS,
	RAG_LONGOPTS_BASIC,
	{ NULL, 0, NULL, 0 },
};

/* SIGINT/SIGTERM: stop reading; main rolls back instead of committing. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Strings collected for --replace-doc (owned). */
struct strs {
	char **v;
	size_t n, cap;
};

static int strs_add(struct strs *a, const char *s, size_t len)
{
	if (a->n == a->cap) {
		size_t nc = a->cap ? 2 * a->cap : 64;
		char **v = rag_reallocarray(a->v, nc, sizeof *v);
		if (!v)
			return RAG_EINTERNAL;
		a->v = v;
		a->cap = nc;
	}
	if (!(a->v[a->n] = rag_strndup(s, len)))
		return RAG_EINTERNAL;
	a->n++;
	return RAG_OK;
}

static void strs_free(struct strs *a)
{
	for (size_t i = 0; i < a->n; i++)
		rag_free(a->v[i]);
	rag_free(a->v);
}

struct add_ctx {
	struct rag_index_writer *w;
	const struct rag_opts *o;
	size_t n_bad;
	struct rag_progress prog;  /* records read */
	uint64_t n_done;
	int replace_doc;
	struct strs docs, keep;    /* --replace-doc: doc_ids seen, ids upserted */
};

/* --replace-doc: note an upserted record's id and doc_id. */
static int note_doc(struct add_ctx *a, const struct rag_json *rec, struct rag_error *err)
{
	const struct rag_json *id = rag_json_get(rec, "id"), *doc = rag_json_get(rec, "doc_id");

	if (!doc || doc->type != RAG_JSON_STRING || !id || id->type != RAG_JSON_STRING)
		return RAG_OK;
	if (strs_add(&a->keep, id->u.str.s, id->u.str.len) ||
	    ((!a->docs.n || strlen(a->docs.v[a->docs.n - 1]) != doc->u.str.len ||
	      memcmp(a->docs.v[a->docs.n - 1], doc->u.str.s, doc->u.str.len)) &&
	     strs_add(&a->docs, doc->u.str.s, doc->u.str.len)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	return RAG_OK;
}

/* Upsert every record of one input (stops early when interrupted). */
static int add_file(struct add_ctx *a, const char *path, struct rag_error *err)
{
	struct rag_index_writer *w = a->w;
	const struct rag_opts *o = a->o;
	struct rag_jsonl_reader r;
	const struct rag_json *rec;
	int rc;

	if ((rc = rag_jsonl_open(&r, path, err)))
		return rc;
	r.skip_bad = o->skip_bad;
	r.on_bad = cli_on_bad;
	r.on_bad_ctx = (void *)o;
	r.shard = &o->shard;
	while (!interrupted && (rc = rag_jsonl_next(&r, &rec, err)) == RAG_OK && rec) {
		struct rag_error e2;
		if (!rag_shard_keeps_record(&o->shard, rec, rag_shard_doc_keys, r.lineno))
			continue;  /* another shard's */
		rag_error_clear(&e2);
		rag_progress_update(&a->prog, ++a->n_done);
		rc = rag_index_writer_upsert(w, rec, NULL, 0, &e2);
		if (rc == RAG_EDATA) {
			if ((rc = rag_jsonl_reject(&r, err, "%s", e2.msg)))
				break;
			continue;
		}
		if (rc) {
			*err = e2;
			break;
		}
		if (a->replace_doc && (rc = note_doc(a, rec, err)))
			break;
	}
	a->n_bad += r.n_bad;
	rag_jsonl_release(&r);
	return rc;
}

static void report(const struct rag_index_counts *c, size_t n_bad, int json, const struct rag_opts *o)
{
	if (json) {
		printf("{\"added\":%zu,\"updated\":%zu,\"unchanged\":%zu,\"deleted\":%zu,\"skipped_bad\":%zu}\n",
		       c->added, c->updated, c->unchanged, c->deleted, n_bad);
	} else if (o->verbose > 0) {
		fprintf(stderr, "%s: added %zu, updated %zu, unchanged %zu, deleted %zu, skipped %zu bad\n",
			cli_prog(), c->added, c->updated, c->unchanged, c->deleted, n_bad);
	}
}

int main(int argc, char **argv)
{
	struct rag_opts o;
	struct rag_error err;
	struct rag_index_opts io;
	struct rag_index_writer *w = NULL;
	const char **ids = NULL, **docs = NULL;
	size_t n_ids = 0, n_docs = 0, i;
	struct add_ctx a;
	int json = 0, c, rc = RAG_OK;
	const char *index, *cmd = "add";
	int first_file;

	cli_init(argv[0]);
	memset(&a, 0, sizeof a);
	rag_error_clear(&err);
	rag_index_opts_init(&io);
	if (rag_opts_init(&o, &err))
		return cli_usage("%s", err.msg);
	ids = calloc((size_t)argc, sizeof *ids);
	docs = calloc((size_t)argc, sizeof *docs);
	if (!ids || !docs) {
		cli_error("out of memory");
		rc = RAG_EINTERNAL;
		goto out;
	}
	opterr = 0;
	while ((c = getopt_long(argc, argv, RAG_SHORTOPTS_BASIC, longopts, NULL)) != -1) {
		switch (c) {
		case OPT_METRIC:
			if (rag_vec_metric_parse(optarg, &io.metric)) {
				rc = cli_usage("invalid value '%s' for --metric (cosine, ip, l2)", optarg);
				goto out;
			}
			io.metric_set = 1;
			break;
		case OPT_STORAGE:
			if (rag_vec_storage_parse(optarg, &io.storage)) {
				rc = cli_usage("invalid value '%s' for --storage (f32, f16, int8)", optarg);
				goto out;
			}
			io.storage_set = 1;
			break;
		case OPT_STEM:
			if (strcmp(optarg, "porter") && strcmp(optarg, "none")) {
				rc = cli_usage("invalid value '%s' for --stem (porter, none)", optarg);
				goto out;
			}
			io.an.stem = strcmp(optarg, "porter") == 0;
			io.an_set = 1;
			break;
		case OPT_STOPWORDS:
			if (strcmp(optarg, "english") && strcmp(optarg, "none")) {
				rc = cli_usage("invalid value '%s' for --stopwords (english, none)", optarg);
				goto out;
			}
			io.an.stopwords = strcmp(optarg, "english") == 0;
			io.an_set = 1;
			break;
		case OPT_ANN: io.ann = 1; break;
		case OPT_ANN_M:
		case OPT_EFC: {
			long v;
			if (rag_parse_long(optarg, 2, c == OPT_ANN_M ? 256 : 100000, &v,
					   c == OPT_ANN_M ? "--ann-m" : "--ef-construction", &err)) {
				rc = cli_usage("%s", err.msg);
				goto out;
			}
			if (c == OPT_ANN_M)
				io.ann_m = (uint32_t)v;
			else
				io.ann_ef_construction = (uint32_t)v;
			break;
		}
		case OPT_ID: ids[n_ids++] = optarg; break;
		case OPT_DOC_ID: docs[n_docs++] = optarg; break;
		case OPT_JSON: json = 1; break;
		case OPT_REPLACE_DOC: a.replace_doc = 1; break;
		default:
			if (cli_option(&o, c, optarg, argv, longopts)) {
				rc = RAG_EUSAGE;
				goto out;
			}
		}
	}
	if (o.help) {
		fputs(usage, stdout);
		goto out;
	}
	if (o.version) {
		cli_version();
		goto out;
	}
	rag_set_threads(o.threads);
	io.model = o.model;
	if (optind >= argc) {
		rc = cli_usage("missing INDEX");
		goto out;
	}
	if (strcmp(argv[optind], "merge") == 0) {
		if (o.shard_flag) {
			rc = cli_usage("--shard goes with the add command");
			goto out;
		}
		if (argc - optind < 3) {
			rc = cli_usage("merge needs OUT and at least one IN");
			goto out;
		}
		if ((rc = rag_index_merge(argv[optind + 1], (const char *const *)argv + optind + 2,
					  (size_t)(argc - optind - 2), &err)))
			rc = cli_report(&err);
		goto out;
	}
	index = argv[optind];
	first_file = optind + 1;
	if (first_file < argc && (strcmp(argv[first_file], "add") == 0 || strcmp(argv[first_file], "delete") == 0 ||
				  strcmp(argv[first_file], "compact") == 0 || strcmp(argv[first_file], "stats") == 0)) {
		cmd = argv[first_file];
		first_file++;
	}
	if (o.shard_flag && strcmp(cmd, "add") != 0) {
		rc = cli_usage("--shard goes with the add command");
		goto out;
	}
	if (a.replace_doc && strcmp(cmd, "add") != 0) {
		rc = cli_usage("--replace-doc goes with the add command");
		goto out;
	}
	if ((n_ids || n_docs) && strcmp(cmd, "delete") != 0) {
		rc = cli_usage("--id and --doc-id go with the delete command");
		goto out;
	}
	if (strcmp(cmd, "stats") == 0 || strcmp(cmd, "compact") == 0) {
		if (first_file < argc) {
			rc = cli_usage("%s takes no further arguments", cmd);
			goto out;
		}
		if (strcmp(cmd, "compact") == 0) {
			if ((rc = rag_index_compact(index, &err)))
				rc = cli_report(&err);
		} else {
			struct rag_buf b;
			rag_buf_init(&b);
			if ((rc = rag_index_stats(index, json, &b, &err)) ||
			    (rc = rag_buf_write(&b, stdout, "standard output", &err)))
				rc = cli_report(&err);
			rag_buf_free(&b);
		}
		goto out;
	}
	if (strcmp(cmd, "delete") == 0) {
		if (first_file < argc || (!n_ids && !n_docs)) {
			rc = cli_usage("delete takes --id ID or --doc-id DOC and no files");
			goto out;
		}
		if (access(index, F_OK) != 0) {
			rc = rag_error_errno(&err, RAG_ENOINPUT, "cannot open '%s'", index);
			rc = cli_report(&err);
			goto out;
		}
	}
	{
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal;
		sa.sa_flags = 0; /* a blocked read returns at once */
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	if ((rc = rag_index_writer_open(index, &io, &w, &err))) {
		rc = cli_report(&err);
		goto out;
	}
	a.w = w;
	a.o = &o;
	if (strcmp(cmd, "delete") == 0) {
		for (i = 0; i < n_ids && !rc; i++)
			rc = rag_index_writer_delete_id(w, ids[i], &err);
		for (i = 0; i < n_docs && !rc; i++)
			rc = rag_index_writer_delete_doc(w, docs[i], &err);
	} else {
		cli_progress_start(&a.prog, &o, "records", 0);
		if (o.verbose > 0)
			a.prog.drawn = 1; /* -v: always end with the summary line */
		if (first_file >= argc)
			rc = add_file(&a, "-", &err);
		for (i = (size_t)first_file; i < (size_t)argc && !rc && !interrupted; i++)
			rc = add_file(&a, argv[i], &err);
		if (!rc && !interrupted)
			rag_progress_finish(&a.prog);
		if (!rc && !interrupted && a.replace_doc)
			rc = rag_index_writer_delete_docs_except(w, (const char *const *)a.docs.v, a.docs.n,
								 (const char *const *)a.keep.v, a.keep.n, &err);
	}
	if (interrupted) {
		/* the writer rolls back when freed: nothing of this run is applied */
		rag_index_writer_free(w);
		w = NULL;
		fprintf(stderr, "%s: interrupted; %s unchanged\n", cli_prog(), index);
		rc = 130;
		goto out;
	}
	if (!rc)
		rc = rag_index_writer_commit(w, &err);
	if (rc) {
		rc = cli_report(&err);
		goto out;
	}
	report(rag_index_writer_counts(w), a.n_bad, json, &o);
out:
	rag_index_writer_free(w);
	strs_free(&a.docs);
	strs_free(&a.keep);
	free(ids);
	free(docs);
	return cli_exit(rc);
}
