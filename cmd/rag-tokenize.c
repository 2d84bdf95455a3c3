/* rag-tokenize: text to token ids, pieces, offsets or counts with a model's exact tokenizer; and back. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "alloc.h"
#include "arena.h"
#include "buf.h"
#include "cli.h"
#include "gguf.h"
#include "hfmodel.h"
#include "jsonl.h"
#include "tokenizer.h"

static const char usage[] =
	"Usage: rag-tokenize [OPTIONS] [FILE...]\n"
	"Tokenize records (JSON Lines, or plain lines) with a model's tokenizer.\n"
	"Reads FILEs or standard input; writes one JSON record per input record.\n"
	"\n"
	"Options:\n"
	"      --model FILE        the tokenizer of this GGUF model or HF directory (or RAG_MODEL)\n"
	"      --field NAME        the record field holding the text (default text)\n"
	"      --lines             input is plain text, one text per line\n"
	"      --pieces            also write the token pieces\n"
	"      --offsets           also write [start, end] byte offsets of each token\n"
	"      --n-tokens          also write the token count\n"
	"      --count             write only the token count (n_tokens), no ids\n"
	"      --truncate N        keep at most N tokens (special tokens kept)\n"
	"      --truncate-side S   head or tail: which end loses tokens (default tail)\n"
	"      --pair FIELD        tokenize FIELD as the second text of a pair (type_ids)\n"
	"      --no-special        add no special tokens ([CLS]/[SEP], BOS/EOS)\n"
	"      --parse-special     text like <|endoftext|> becomes its special token\n"
	"      --decode            turn the ids field back into text (written to --field)\n"
	"      --skip-special      with --decode, leave special tokens out\n"
	"      --threads N         worker threads (default: all cores); order is kept\n"
	"      --skip-bad          skip bad records (counted) instead of stopping\n"
	"      --shard I/N         keep only shard I of N (by doc_id, else id, else\n"
	"                          line number; RAG_SHARD)\n"
	"  -v, --verbose           more messages\n"
	"  -q, --quiet             fewer messages\n"
	"  -h, --help              show this help and exit\n"
	"      --version           show the version and exit\n"
	"\n"
	"Exit status: 0 ok, 64 usage error, 65 bad input record, 66 cannot open input,\n"
	"74 write error, 78 bad model file.\n";

enum {
	OPT_FIELD = RAG_OPT_FIRST_PROGRAM,
	OPT_LINES,
	OPT_PIECES,
	OPT_OFFSETS,
	OPT_NTOKENS,
	OPT_COUNT,
	OPT_TRUNCATE,
	OPT_TRUNC_SIDE,
	OPT_PAIR,
	OPT_NO_SPECIAL,
	OPT_PARSE_SPECIAL,
	OPT_DECODE,
	OPT_SKIP_SPECIAL,
};

static const struct option longopts[] = {
	RAG_LONGOPT_MODEL,
	{ "field", required_argument, NULL, OPT_FIELD },
	{ "lines", no_argument, NULL, OPT_LINES },
	{ "pieces", no_argument, NULL, OPT_PIECES },
	{ "offsets", no_argument, NULL, OPT_OFFSETS },
	{ "n-tokens", no_argument, NULL, OPT_NTOKENS },
	{ "count", no_argument, NULL, OPT_COUNT },
	{ "truncate", required_argument, NULL, OPT_TRUNCATE },
	{ "truncate-side", required_argument, NULL, OPT_TRUNC_SIDE },
	{ "pair", required_argument, NULL, OPT_PAIR },
	{ "no-special", no_argument, NULL, OPT_NO_SPECIAL },
	{ "parse-special", no_argument, NULL, OPT_PARSE_SPECIAL },
	{ "decode", no_argument, NULL, OPT_DECODE },
	{ "skip-special", no_argument, NULL, OPT_SKIP_SPECIAL },
	RAG_LONGOPT_THREADS,
	RAG_LONGOPT_SKIP_BAD,
	RAG_LONGOPT_SHARD,
	RAG_LONGOPTS_BASIC,
	{ NULL, 0, NULL, 0 },
};

/* One input line waiting in a batch. */
struct item {
	size_t off, len;     /* in the batch's text buffer */
	size_t lineno;
	int rc;
	struct rag_buf out;
	struct rag_error err;
};

/* Per-thread scratch. */
struct worker {
	struct rag_tokens tok;
	struct rag_arena arena;
};

enum { BATCH_LINES = 1024, BATCH_BYTES = 4 << 20 };

static struct rag_progress progress;  /* records written */
static uint64_t n_written;

static int run_file(const char *path, const struct rag_tokenizer *t, const struct rag_tokrec_opts *ro,
		    struct rag_opts *o, struct worker *wk, int nthreads, struct item *items, size_t *n_bad,
		    struct rag_error *err)
{
	struct rag_jsonl_reader r;
	struct rag_buf text;
	int rc, eof = 0;

	if ((rc = rag_jsonl_open(&r, path, err)))
		return rc;
	rag_buf_init(&text);
	while (!eof) {
		size_t n = 0;
		rag_buf_reset(&text);
		while (n < BATCH_LINES && text.len < BATCH_BYTES) {
			const char *line;
			size_t len, k;
			if ((rc = rag_jsonl_next_line(&r, &line, &len, err)))
				goto out;
			if (!line) {
				eof = 1;
				break;
			}
			if (!ro->lines) {
				for (k = 0; k < len && (line[k] == ' ' || line[k] == '\t'); k++)
					;
				if (k == len)
					continue;  /* blank lines are not records */
			}
			items[n].off = text.len;
			items[n].len = len;
			items[n].lineno = r.lineno;
			rag_buf_add(&text, line, len);
			rag_buf_addc(&text, 0);
			n++;
		}
		if (rag_buf_failed(&text)) {
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			goto out;
		}
#pragma omp parallel for schedule(dynamic, 16) num_threads(nthreads) if (nthreads > 1 && n > 32)
		for (size_t i = 0; i < n; i++) {
			int tid = 0;
#ifdef _OPENMP
			tid = omp_get_thread_num();
#endif
			struct item *it = &items[i];
			rag_buf_reset(&it->out);
			it->rc = rag_tokenize_record(t, ro, text.data + it->off, it->len, r.name, it->lineno,
						     &wk[tid].tok, &wk[tid].arena, &it->out, &it->err);
		}
		for (size_t i = 0; i < n; i++) {
			struct item *it = &items[i];
			if (it->rc == RAG_EDATA && o->skip_bad) {
				(*n_bad)++;
				cli_on_bad(o, &it->err);
				continue;
			}
			if (it->rc) {
				*err = it->err;
				rc = it->rc;
				goto out;
			}
			if (it->out.len == 0)
				continue;  /* another shard's record */
			if ((rc = rag_buf_write(&it->out, stdout, "standard output", err)))
				goto out;
			n_written++;
		}
		rag_progress_update(&progress, n_written);
	}
	rc = RAG_OK;
out:
	rag_buf_free(&text);
	rag_jsonl_release(&r);
	return rc;
}

int main(int argc, char **argv)
{
	struct rag_opts o;
	struct rag_error err;
	struct rag_tokrec_opts ro;
	struct rag_gguf *g = NULL;
	struct rag_tokenizer *t = NULL;
	struct worker *wk = NULL;
	struct item *items = NULL;
	int c, rc = RAG_OK, nthreads = 1, no_special = 0, parse_special = 0;
	size_t n_bad = 0;
	long v;

	cli_init(argv[0]);
	rag_error_clear(&err);
	memset(&ro, 0, sizeof ro);
	ro.field = "text";
	if (rag_opts_init(&o, &err))
		return cli_usage("%s", err.msg);
	opterr = 0;
	while ((c = getopt_long(argc, argv, RAG_SHORTOPTS_BASIC, longopts, NULL)) != -1) {
		switch (c) {
		case OPT_FIELD: ro.field = optarg; break;
		case OPT_LINES: ro.lines = 1; break;
		case OPT_PIECES: ro.pieces = 1; break;
		case OPT_OFFSETS: ro.offsets = 1; break;
		case OPT_NTOKENS: ro.n_tokens = 1; break;
		case OPT_COUNT: ro.count = 1; break;
		case OPT_TRUNCATE:
			if (rag_parse_long(optarg, 1, 0x7fffffffL, &v, "--truncate", &err))
				return cli_usage("%s", err.msg);
			ro.truncate = v;
			break;
		case OPT_TRUNC_SIDE:
			if (strcmp(optarg, "head") == 0)
				ro.trunc_head = 1;
			else if (strcmp(optarg, "tail") == 0)
				ro.trunc_head = 0;
			else
				return cli_usage("invalid value '%s' for --truncate-side (head or tail)", optarg);
			break;
		case OPT_PAIR: ro.pair = optarg; break;
		case OPT_NO_SPECIAL: no_special = 1; break;
		case OPT_PARSE_SPECIAL: parse_special = 1; break;
		case OPT_DECODE: ro.decode = 1; break;
		case OPT_SKIP_SPECIAL: ro.skip_special = 1; break;
		default:
			if (cli_option(&o, c, optarg, argv, longopts))
				return RAG_EUSAGE;
		}
	}
	if (cli_help_or_version(&o, usage))
		return cli_exit(RAG_OK);
	if (!o.model)
		return cli_usage("no model: give --model FILE or set RAG_MODEL");
	if (ro.decode && (ro.pair || ro.count || ro.truncate || ro.pieces || ro.offsets))
		return cli_usage("--decode does not go with --pair, --count, --truncate, --pieces or --offsets");
	if (ro.pair && ro.lines)
		return cli_usage("--pair needs JSON records, not --lines");
	if (ro.skip_special && !ro.decode)
		return cli_usage("--skip-special goes with --decode");
	ro.shard = &o.shard;
	ro.flags = (no_special ? 0 : RAG_TOK_ADD_SPECIAL) | (parse_special ? RAG_TOK_PARSE_SPECIAL : 0);

	nthreads = rag_set_threads(o.threads);
	if (nthreads < 1)
		nthreads = 1;
	if ((rc = rag_model_open(o.model, &g, &err)))
		goto fail;
	if ((rc = rag_tokenizer_from_gguf(g, &t, &err))) {
		rag_error_prefix(&err, "'%s': ", o.model);
		goto fail;
	}
	rag_gguf_close(g);
	g = NULL;
	wk = rag_calloc((size_t)nthreads, sizeof *wk);
	items = rag_calloc(BATCH_LINES, sizeof *items);
	if (!wk || !items) {
		rc = rag_error_set(&err, RAG_EINTERNAL, "out of memory");
		goto fail;
	}
	for (int i = 0; i < nthreads; i++) {
		rag_tokens_init(&wk[i].tok);
		rag_arena_init(&wk[i].arena);
	}
	cli_progress_start(&progress, &o, "records", 0);
	if (o.verbose > 0)
		progress.drawn = 1; /* -v: always end with the summary line */
	if (optind >= argc) {
		rc = run_file("-", t, &ro, &o, wk, nthreads, items, &n_bad, &err);
	} else {
		for (int i = optind; i < argc && !rc; i++)
			rc = run_file(argv[i], t, &ro, &o, wk, nthreads, items, &n_bad, &err);
	}
	if (!rc)
		rag_progress_finish(&progress);
	if (!rc && n_bad && o.verbose >= 0)
		cli_warn("skipped %zu bad record%s", n_bad, n_bad == 1 ? "" : "s");
fail:
	if (rc)
		rc = cli_report(&err);
	if (wk)
		for (int i = 0; i < nthreads; i++) {
			rag_tokens_free(&wk[i].tok);
			rag_arena_free(&wk[i].arena);
		}
	if (items)
		for (size_t i = 0; i < BATCH_LINES; i++)
			rag_buf_free(&items[i].out);
	rag_free(wk);
	rag_free(items);
	rag_tokenizer_free(t);
	rag_gguf_close(g);
	return cli_exit(rc);
}
