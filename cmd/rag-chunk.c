/* rag-chunk: documents (text, Markdown, HTML, JSON Lines) to chunk records sized in model tokens. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "chunker.h"
#include "cli.h"
#include "gguf.h"
#include "hfmodel.h"
#include "json.h"
#include "jsonl.h"
#include "textformat.h"
#include "tokenizer.h"

static const char usage[] =
	"Usage: rag-chunk [OPTIONS] [FILE...]\n"
	"Split documents into chunk records (JSON Lines) sized in a model's tokens,\n"
	"characters or words, with a guaranteed overlap.  FILE '-' or none: stdin.\n"
	"\n"
	"Options:\n"
	"      --model FILE      size chunks in this model's tokens (GGUF or HF dir; RAG_MODEL)\n"
	"      --max-tokens N    the cap per chunk, special tokens included (default: the\n"
	"                        model's context length, at most 512; 1000 characters; 200 words)\n"
	"      --overlap N       units each chunk repeats from the previous one (default:\n"
	"                        a tenth of the cap)\n"
	"      --unit UNIT       tokens (with --model), chars or words\n"
	"      --format FMT      auto (default), text, markdown, html or jsonl\n"
	"      --doc-id ID       document id of a single non-JSON-Lines input\n"
	"      --meta JSON       an object merged into every chunk's meta\n"
	"      --acl LIST        comma-separated principals for documents without an acl\n"
	"      --field NAME      JSON Lines field holding the text (default: text)\n"
	"      --ids KIND        content (default) or offsets: what chunk ids are made from\n"
	"      --shard I/N       keep only shard I of N (by document id; RAG_SHARD)\n"
	"      --threads N       documents chunked in parallel (default: all cores)\n"
	"      --skip-bad        skip bad JSON Lines records instead of stopping\n"
	"  -o, --output FILE     write to FILE (atomically) instead of stdout\n"
	"  -v, --verbose         more messages\n"
	"  -q, --quiet           fewer messages\n"
	"  -h, --help            show this help and exit\n"
	"      --version         show the version and exit\n"
	"\n"
	"PDF: pdftotext file.pdf - | rag-chunk --format text --doc-id file.pdf\n"
	"Exit status: 0 ok, 64 usage error, 65 bad record, 66 cannot open an input,\n"
	"74 write error, 78 bad model file.\n";

enum {
	OPT_MAX = RAG_OPT_FIRST_PROGRAM, OPT_OVERLAP, OPT_UNIT, OPT_FORMAT, OPT_DOC_ID, OPT_META,
	OPT_ACL, OPT_FIELD, OPT_IDS,
};

static const struct option longopts[] = {
	RAG_LONGOPT_MODEL,
	{ "max-tokens", required_argument, NULL, OPT_MAX },
	{ "overlap", required_argument, NULL, OPT_OVERLAP },
	{ "unit", required_argument, NULL, OPT_UNIT },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "doc-id", required_argument, NULL, OPT_DOC_ID },
	{ "meta", required_argument, NULL, OPT_META },
	{ "acl", required_argument, NULL, OPT_ACL },
	{ "field", required_argument, NULL, OPT_FIELD },
	{ "ids", required_argument, NULL, OPT_IDS },
	RAG_LONGOPT_SHARD,
	RAG_LONGOPT_THREADS,
	RAG_LONGOPT_SKIP_BAD,
	RAG_LONGOPT_OUTPUT,
	RAG_LONGOPTS_BASIC,
	{ NULL, 0, NULL, 0 },
};

/* Everything a document needs that does not change between documents. */
struct ctx {
	struct rag_chunk_opts co;
	enum rag_textformat format;
	const char *field;
	const struct rag_json *meta;
	const char *acl;              /* JSON array text or NULL */
	const char *doc_id;           /* --doc-id */
	FILE *out;
	const char *out_name;
	struct rag_opts *o;
	size_t n_docs, n_chunks, n_invalid;
	struct rag_progress prog;  /* documents chunked */
};

/* One JSON Lines document waiting in a batch. */
struct job {
	char *line;
	size_t len, lineno;
	const char *name;
	struct rag_buf out;
	size_t n_chunks;
	int rc;
	struct rag_error err;
};

static int chunk_doc(const struct ctx *c, const char *src, size_t len, enum rag_textformat f,
		     struct rag_chunk_docinfo *info, struct rag_buf *out, size_t *n_chunks,
		     size_t *n_invalid, struct rag_error *err)
{
	struct rag_textdoc d;
	struct rag_chunk_list l;
	int rc;

	rag_chunk_list_init(&l);
	if ((rc = rag_textdoc_parse(&d, f, src, len, err)))
		return rc;
	if (!info->title && d.title)
		info->title = d.title;
	rc = rag_chunk_split(&c->co, &d, &l, err);
	if (rc == RAG_OK)
		rc = rag_chunk_write(&c->co, &d, &l, info, out, err);
	*n_chunks = l.n;
	if (n_invalid)
		*n_invalid = d.n_invalid;
	rag_chunk_list_free(&l);
	rag_textdoc_release(&d);
	return rc;
}

/* The id a record's document gets: the first of id, _id and doc_id that is
 * a string (its text) or a number (its JSON text), else "NAME:LINE" written
 * into buf[64].  It is also the record's shard key, so a document's chunks
 * (whose doc_id it is) stay in its shard when a later program shards them
 * again. */
static const char *doc_id(const struct rag_json *rec, const char *name, size_t lineno, char *buf, size_t *len)
{
	static const char *const keys[] = { "id", "_id", "doc_id", NULL };
	const char *id;
	int k;

	for (int i = 0; keys[i]; i++)
		if ((id = rag_shard_json_key(rag_json_get(rec, keys[i]), len)))
			return id;
	k = snprintf(buf, 64, "%s:%zu", name, lineno);
	*len = k < 64 ? (size_t)k : 63;
	return buf;
}

static void run_job(const struct ctx *c, struct job *j)
{
	struct rag_arena a;
	struct rag_json *rec;
	struct rag_chunk_docinfo info;
	const struct rag_json *txt;
	const char *drop[2];
	char idbuf[64];
	size_t tl;

	rag_arena_init(&a);
	rag_error_clear(&j->err);
	j->rc = rag_json_parse(&a, j->line, j->len, &rec, &j->err);
	if (j->rc)
		goto out;
	memset(&info, 0, sizeof info);
	info.doc_id = doc_id(rec, j->name, j->lineno, idbuf, &info.doc_id_len);
	info.rec = rec;
	drop[0] = c->field;
	drop[1] = NULL;
	info.drop = drop;
	info.meta_default = c->meta;
	info.acl_default = c->acl;
	txt = rag_json_get(rec, c->field);
	tl = txt->u.str.len;
	j->rc = chunk_doc(c, txt->u.str.s, tl, RAG_FMT_TEXT, &info, &j->out, &j->n_chunks, NULL, &j->err);
out:
	rag_arena_free(&a);
}

static int flush_jobs(struct ctx *c, struct job *jobs, size_t n, struct rag_error *err)
{
	size_t i;
	int rc = RAG_OK;

#pragma omp parallel for schedule(dynamic, 1) if (n > 1 && rag_get_threads() > 1)
	for (i = 0; i < n; i++)
		run_job(c, &jobs[i]);
	for (i = 0; i < n; i++) {
		struct job *j = &jobs[i];
		if (rc == RAG_OK && j->rc) {
			rc = rag_error_set(err, j->rc, "%s: line %zu: %s", j->name, j->lineno, j->err.msg);
		} else if (rc == RAG_OK) {
			rc = rag_buf_write(&j->out, c->out, c->out_name, err);
			c->n_docs++;
			c->n_chunks += j->n_chunks;
			rag_progress_update(&c->prog, c->n_docs);
		}
		rag_free(j->line);
		rag_buf_free(&j->out);
		j->line = NULL;
	}
	return rc;
}

/* A JSON Lines input: records read here and checked, then chunked in batches. */
static int do_jsonl(struct ctx *c, FILE *f, const char *name, struct rag_error *err)
{
	struct rag_jsonl_reader r;
	struct job *jobs;
	size_t nj = 0, cap = 256, bytes = 0;
	int rc;

	if (!(jobs = rag_calloc(cap, sizeof *jobs)))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	if ((rc = rag_jsonl_init(&r, f, name, err))) {
		rag_free(jobs);
		return rc;
	}
	r.skip_bad = c->o->skip_bad;
	r.on_bad = cli_on_bad;
	r.on_bad_ctx = c->o;
	r.shard = &c->o->shard;
	for (;;) {
		const struct rag_json *rec, *t, *m, *a;
		if ((rc = rag_jsonl_next(&r, &rec, err)) || !rec)
			break;
		if (rag_shard_active(&c->o->shard)) {
			char idbuf[64];
			size_t idlen;
			const char *id = doc_id(rec, r.name, r.lineno, idbuf, &idlen);
			if (!rag_shard_keeps(&c->o->shard, id, idlen))
				continue;  /* another shard's document */
		}
		t = rag_json_get(rec, c->field);
		m = rag_json_get(rec, "meta");
		a = rag_json_get(rec, "acl");
		if (!t || t->type != RAG_JSON_STRING) {
			if ((rc = rag_jsonl_reject(&r, err, "no string field '%s'", c->field)))
				break;
			continue;
		}
		if (m && m->type != RAG_JSON_OBJECT) {
			if ((rc = rag_jsonl_reject(&r, err, "'meta' is not an object")))
				break;
			continue;
		}
		if (a && a->type != RAG_JSON_ARRAY) {
			if ((rc = rag_jsonl_reject(&r, err, "'acl' is not an array")))
				break;
			continue;
		}
		jobs[nj].line = rag_strndup(rec->raw, rec->raw_len);
		if (!jobs[nj].line) {
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			break;
		}
		jobs[nj].len = rec->raw_len;
		jobs[nj].lineno = r.lineno;
		jobs[nj].name = r.name;
		rag_buf_init(&jobs[nj].out);
		nj++;
		bytes += rec->raw_len;
		if (nj == cap || bytes >= (8u << 20)) {
			rc = flush_jobs(c, jobs, nj, err);
			nj = 0;
			bytes = 0;
			if (rc)
				break;
		}
	}
	if (rc == RAG_OK && nj)
		rc = flush_jobs(c, jobs, nj, err);
	else if (nj) {
		size_t i;
		for (i = 0; i < nj; i++) {
			rag_free(jobs[i].line);
			rag_buf_free(&jobs[i].out);
		}
	}
	if (rc == RAG_OK && r.n_bad && c->o->verbose >= 0)
		cli_warn("%s: skipped %zu bad records", r.name, r.n_bad);
	rag_jsonl_release(&r);
	rag_free(jobs);
	return rc;
}

static int do_input(struct ctx *c, const char *path, struct rag_error *err)
{
	struct rag_buf in, out;
	struct stat st;
	enum rag_textformat f = c->format;
	int is_stdin = strcmp(path, "-") == 0, rc;
	size_t n_chunks = 0, n_invalid = 0;
	const char *name = is_stdin ? "<stdin>" : path;
	const char *id = c->doc_id ? c->doc_id : is_stdin ? "stdin" : path;  /* a whole file's */
	int other = !rag_shard_keeps(&c->o->shard, id, strlen(id));

	if (!is_stdin && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return rag_error_set(err, RAG_ENOINPUT, "cannot open '%s': Is a directory", path);
	if (f == RAG_FMT_AUTO && !is_stdin && rag_textformat_detect(path, "", 0) == RAG_FMT_JSONL)
		f = RAG_FMT_JSONL;
	/* JSONL is read as a stream; another shard's whole file, its format
	 * known, is opened (as every shard does) but need not be read */
	if (f == RAG_FMT_JSONL || (other && f != RAG_FMT_AUTO && !is_stdin)) {
		FILE *fp = is_stdin ? stdin : fopen(path, "rb");
		if (!fp)
			return rag_error_errno(err, RAG_ENOINPUT, "cannot open '%s'", path);
		rc = f == RAG_FMT_JSONL ? do_jsonl(c, fp, name, err) : RAG_OK;
		if (!is_stdin)
			fclose(fp);
		return rc;
	}
	rag_buf_init(&in);
	rag_buf_init(&out);
	if ((rc = rag_buf_read_file(&in, path, err)))
		goto done;
	if (f == RAG_FMT_AUTO)
		f = rag_textformat_detect(is_stdin ? NULL : path, in.data ? in.data : "", in.len);
	if (f == RAG_FMT_JSONL) {
		FILE *fp = fmemopen(in.data, in.len, "rb");
		if (!fp) {
			rc = rag_error_errno(err, RAG_EINTERNAL, "cannot read '%s'", name);
			goto done;
		}
		rc = do_jsonl(c, fp, name, err);
		fclose(fp);
		goto done;
	}
	{
		struct rag_chunk_docinfo info;
		memset(&info, 0, sizeof info);
		if (other)
			goto done;  /* another shard's document */
		info.doc_id = id;
		info.doc_id_len = strlen(id);
		info.meta_default = c->meta;
		info.acl_default = c->acl;
		rc = chunk_doc(c, in.data ? in.data : "", in.len, f, &info, &out, &n_chunks, &n_invalid, err);
		if (rc)
			rc = rag_error_prefix(err, "'%s': ", name);
	}
	if (rc == RAG_OK && n_invalid && c->o->verbose > 0)
		cli_warn("'%s': %zu invalid UTF-8 sequences replaced by U+FFFD", name, n_invalid);
	if (rc == RAG_OK)
		rc = rag_buf_write(&out, c->out, c->out_name, err);
	c->n_docs++;
	c->n_chunks += n_chunks;
done:
	rag_buf_free(&in);
	rag_buf_free(&out);
	return rc;
}

/* "a,b,c" as a JSON array of strings. */
static char *acl_json(const char *list)
{
	struct rag_buf b;
	const char *p = list;
	int n = 0;

	rag_buf_init(&b);
	rag_buf_addc(&b, '[');
	while (*p) {
		const char *q = strchr(p, ',');
		size_t len = q ? (size_t)(q - p) : strlen(p);
		while (len && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len) {
			if (n++)
				rag_buf_addc(&b, ',');
			rag_json_write_str(&b, p, len);
		}
		if (!q)
			break;
		p = q + 1;
	}
	rag_buf_addc(&b, ']');
	if (rag_buf_failed(&b)) {
		rag_buf_free(&b);
		return NULL;
	}
	return rag_buf_detach(&b, NULL);
}

/* Default cap for tokens: the model's context length, at most 512. */
static size_t model_window(const struct rag_gguf *g)
{
	const char *arch = NULL;
	char key[128];
	int64_t v = 0;

	if (rag_gguf_get_str(g, "general.architecture", &arch) == RAG_OK && arch) {
		snprintf(key, sizeof key, "%s.context_length", arch);
		if (rag_gguf_get_int(g, key, &v) == RAG_OK && v > 0)
			return v < 512 ? (size_t)v : 512;
	}
	return 512;
}

int main(int argc, char **argv)
{
	struct rag_opts o;
	struct rag_error err;
	struct ctx c;
	struct rag_arena arena;
	struct rag_gguf *g = NULL;
	struct rag_tokenizer *tok = NULL;
	const char *unit = NULL, *meta = NULL, *acl = NULL, *ids = "content";
	long max = -1, overlap = -1;
	char *tmp = NULL, *acl_buf = NULL;
	FILE *outf = NULL;
	int c_, rc = RAG_OK, i;

	cli_init(argv[0]);
	rag_error_clear(&err);
	rag_arena_init(&arena);
	memset(&c, 0, sizeof c);
	c.field = "text";
	c.format = RAG_FMT_AUTO;
	c.o = &o;
	if (rag_opts_init(&o, &err))
		return cli_usage("%s", err.msg);
	opterr = 0;
	while ((c_ = getopt_long(argc, argv, RAG_SHORTOPTS_BASIC "o:", longopts, NULL)) != -1) {
		switch (c_) {
		case OPT_MAX:
			if (rag_parse_long(optarg, 1, 100000000, &max, "--max-tokens", &err))
				return cli_usage("%s", err.msg);
			break;
		case OPT_OVERLAP:
			if (rag_parse_long(optarg, 0, 100000000, &overlap, "--overlap", &err))
				return cli_usage("%s", err.msg);
			break;
		case OPT_UNIT: unit = optarg; break;
		case OPT_FORMAT:
			if (rag_textformat_parse(optarg, &c.format, &err))
				return cli_usage("%s", err.msg);
			break;
		case OPT_DOC_ID: c.doc_id = optarg; break;
		case OPT_META: meta = optarg; break;
		case OPT_ACL: acl = optarg; break;
		case OPT_FIELD: c.field = optarg; break;
		case OPT_IDS: ids = optarg; break;
		default:
			if (cli_option(&o, c_, optarg, argv, longopts))
				return RAG_EUSAGE;
		}
	}
	if (cli_help_or_version(&o, usage))
		return cli_exit(RAG_OK);
	if (!unit)
		unit = o.model ? "tokens" : "chars";
	if (strcmp(unit, "tokens") == 0)
		c.co.unit = RAG_CHUNK_TOKENS;
	else if (strcmp(unit, "chars") == 0)
		c.co.unit = RAG_CHUNK_CHARS;
	else if (strcmp(unit, "words") == 0)
		c.co.unit = RAG_CHUNK_WORDS;
	else
		return cli_usage("invalid value '%s' for --unit (expected tokens, chars or words)", unit);
	if (c.co.unit == RAG_CHUNK_TOKENS && !o.model)
		return cli_usage("--unit tokens needs --model");
	if (strcmp(ids, "content") == 0)
		c.co.ids = RAG_CHUNK_IDS_CONTENT;
	else if (strcmp(ids, "offsets") == 0)
		c.co.ids = RAG_CHUNK_IDS_OFFSETS;
	else
		return cli_usage("invalid value '%s' for --ids (expected content or offsets)", ids);
	if (!*c.field)
		return cli_usage("--field needs a name");
	if (c.doc_id && argc - optind > 1)
		return cli_usage("--doc-id names one document; give one input");
	if (meta) {
		struct rag_json *mv;
		if (rag_json_parse(&arena, meta, strlen(meta), &mv, &err) || mv->type != RAG_JSON_OBJECT) {
			rc = cli_usage("--meta must be a JSON object");
			goto out;
		}
		c.meta = mv;
	}
	if (acl && !(c.acl = acl_buf = acl_json(acl))) {
		rag_error_set(&err, RAG_EINTERNAL, "out of memory");
		rc = cli_report(&err);
		goto out;
	}
	rag_set_threads(o.threads);
	if (c.co.unit == RAG_CHUNK_TOKENS) {
		if ((rc = rag_model_open(o.model, &g, &err)) ||
		    (rc = rag_tokenizer_from_gguf(g, &tok, &err))) {
			if (rc == RAG_OK)
				rc = RAG_EMODEL;
			rc = cli_report(&err);
			goto out;
		}
		c.co.tok = tok;
	}
	c.co.max = max > 0 ? (size_t)max
		: c.co.unit == RAG_CHUNK_TOKENS ? model_window(g)
		: c.co.unit == RAG_CHUNK_CHARS ? 1000 : 200;
	if (overlap >= 0) {
		c.co.overlap = (size_t)overlap;
	} else {
		size_t added = tok ? (size_t)rag_tokenizer_n_added(tok, 0) : 0;
		c.co.overlap = c.co.max > added ? (c.co.max - added) / 10 : 0;
	}
	if (rag_chunk_opts_check(&c.co, &err)) {
		rc = cli_usage("%s", err.msg);
		goto out;
	}
	if (g) {
		rag_gguf_close(g);
		g = NULL;
	}
	/* Output: stdout, or a temporary file renamed into place at the end. */
	if (o.output) {
		size_t n = strlen(o.output) + 16;
		int fd;
		if (!(tmp = rag_malloc(n))) {
			rag_error_set(&err, RAG_EINTERNAL, "out of memory");
			rc = cli_report(&err);
			goto out;
		}
		snprintf(tmp, n, "%s.tmpXXXXXX", o.output);
		if ((fd = mkstemp(tmp)) < 0 || !(outf = fdopen(fd, "wb"))) {
			rag_error_errno(&err, RAG_EIO, "cannot create '%s'", o.output);
			if (fd >= 0)
				close(fd);
			rag_free(tmp);
			tmp = NULL;
			rc = cli_report(&err);
			goto out;
		}
		c.out = outf;
		c.out_name = o.output;
	} else {
		c.out = stdout;
		c.out_name = "standard output";
	}
	cli_progress_start(&c.prog, &o, "documents", 0);
	if (o.verbose > 0)
		c.prog.drawn = 1; /* -v: always end with the summary line */
	if (optind >= argc) {
		rc = do_input(&c, "-", &err);
	} else {
		for (i = optind; i < argc && rc == RAG_OK; i++)
			rc = do_input(&c, argv[i], &err);
	}
	if (rc) {
		rc = cli_report(&err);
	} else if (outf) {
		if (fflush(outf) || ferror(outf) || fsync(fileno(outf))) {
			rag_error_errno(&err, RAG_EIO, "cannot write '%s'", o.output);
			rc = cli_report(&err);
		}
	}
	if (outf) {
		if (fclose(outf) && rc == RAG_OK) {
			rag_error_errno(&err, RAG_EIO, "cannot write '%s'", o.output);
			rc = cli_report(&err);
		}
		outf = NULL;
		if (rc == RAG_OK && rename(tmp, o.output)) {
			rag_error_errno(&err, RAG_EIO, "cannot rename to '%s'", o.output);
			rc = cli_report(&err);
		}
		if (rc)
			unlink(tmp);
	}
	if (rc == RAG_OK)
		rag_progress_finish(&c.prog);
	if (rc == RAG_OK && o.verbose > 0)
		fprintf(stderr, "rag-chunk: %zu documents, %zu chunks\n", c.n_docs, c.n_chunks);
out:
	if (outf) {
		fclose(outf);
		unlink(tmp);
	}
	rag_free(tmp);
	rag_free(acl_buf);
	rag_tokenizer_free(tok);
	rag_gguf_close(g);
	rag_arena_free(&arena);
	return cli_exit(rc);
}
