/* rag-generate: text from a decoder GGUF: plain prompts, JSON Lines records, grounded answers. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "arena.h"
#include "buf.h"
#include "cli.h"
#include "cpu-tune.h"
#include "device.h"
#include "generate.h"
#include "json.h"
#include "jsonl.h"

static const char usage[] =
	"Usage: rag-generate --model FILE [OPTIONS]\n"
	"Generate text with a decoder model (llama, qwen2, qwen3 GGUF).\n"
	"\n"
	"Modes:\n"
	"  plain (default)  the prompt (-p, or all of stdin) in, the text out as it is made\n"
	"  record           JSON Lines in (a \"prompt\" string or \"messages\" array per\n"
	"                   line), the records out with \"answer\", \"finish\" and \"usage\"\n"
	"  rag              hits in (consecutive lines per qid with query and text), one\n"
	"                   answer record per question with citations and contexts\n"
	"\n"
	"Options:\n"
	"      --model FILE          the decoder GGUF (or RAG_MODEL)\n"
	"  -p, --prompt TEXT         the prompt (plain mode)\n"
	"      --mode MODE           plain, record or rag\n"
	"      --cite                the same as --mode rag\n"
	"      --system TEXT         a system message before the prompt (chat models)\n"
	"      --no-chat             send the prompt as is, without the chat template\n"
	"      --template FILE       a Jinja chat template instead of the model's\n"
	"      --rag-template FILE   the RAG prompt, with {question} and {contexts}\n"
	"      --max-tokens N        tokens to generate at most (default 256; negative:\n"
	"                            until the end of the text or of the context)\n"
	"      --stop STRING         stop before STRING (repeatable)\n"
	"      --ignore-eos          go on past the model's end-of-text tokens\n"
	"      --temperature T       0 = greedy (default)\n"
	"      --top-k N             sample from the N most likely tokens (0 = all)\n"
	"      --top-p P             nucleus sampling (1 = off)\n"
	"      --min-p P             drop tokens below P times the best one's probability\n"
	"      --repeat-penalty X    penalize tokens seen in the last 64 (1 = off)\n"
	"      --presence-penalty X  subtract X from every token seen\n"
	"      --frequency-penalty X subtract X per occurrence of a token\n"
	"      --seed N              seed of the sampler (same seed, same text)\n"
	"      --ctx-size N          context (KV cache) size in tokens\n"
	"      --threads N           CPU threads (default: all cores)\n"
	"      --device DEV          auto, cpu or cuda (default: auto); or RAG_DEVICE\n"
	"      --skip-bad            skip bad records instead of stopping\n"
	"      --shard I/N           record and rag modes: keep only shard I of N (by\n"
	"                            qid; records without one by id; RAG_SHARD)\n"
	"  -v, --verbose             more messages (speed after each text)\n"
	"  -q, --quiet               fewer messages\n"
	"  -h, --help                show this help and exit\n"
	"      --version             show the version and exit\n"
	"\n"
	"Exit status: 0 ok, 64 usage error, 65 bad input record or prompt too long,\n"
	"66 cannot open a file, 69 device unavailable, 74 write error, 78 bad model file.\n";

enum {
	OPT_MODE = RAG_OPT_FIRST_PROGRAM, OPT_CITE, OPT_SYSTEM, OPT_NO_CHAT, OPT_TEMPLATE,
	OPT_RAG_TEMPLATE, OPT_MAX_TOKENS, OPT_STOP, OPT_IGNORE_EOS, OPT_TEMPERATURE, OPT_TOP_K,
	OPT_TOP_P, OPT_MIN_P, OPT_REPEAT, OPT_PRESENCE, OPT_FREQUENCY, OPT_CTX,
};

static const struct option longopts[] = {
	RAG_LONGOPT_MODEL,
	{ "prompt", required_argument, NULL, 'p' },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "cite", no_argument, NULL, OPT_CITE },
	{ "system", required_argument, NULL, OPT_SYSTEM },
	{ "no-chat", no_argument, NULL, OPT_NO_CHAT },
	{ "template", required_argument, NULL, OPT_TEMPLATE },
	{ "rag-template", required_argument, NULL, OPT_RAG_TEMPLATE },
	{ "max-tokens", required_argument, NULL, OPT_MAX_TOKENS },
	{ "stop", required_argument, NULL, OPT_STOP },
	{ "ignore-eos", no_argument, NULL, OPT_IGNORE_EOS },
	{ "temperature", required_argument, NULL, OPT_TEMPERATURE },
	{ "top-k", required_argument, NULL, OPT_TOP_K },
	{ "top-p", required_argument, NULL, OPT_TOP_P },
	{ "min-p", required_argument, NULL, OPT_MIN_P },
	{ "repeat-penalty", required_argument, NULL, OPT_REPEAT },
	{ "presence-penalty", required_argument, NULL, OPT_PRESENCE },
	{ "frequency-penalty", required_argument, NULL, OPT_FREQUENCY },
	RAG_LONGOPT_SEED,
	{ "ctx-size", required_argument, NULL, OPT_CTX },
	RAG_LONGOPT_THREADS,
	RAG_LONGOPT_DEVICE,
	RAG_LONGOPT_SKIP_BAD,
	RAG_LONGOPT_SHARD,
	RAG_LONGOPTS_BASIC,
	{ NULL, 0, NULL, 0 },
};

enum mode { MODE_PLAIN, MODE_RECORD, MODE_RAG };

struct run {
	struct rag_opts o;
	struct rag_lm lm;
	struct rag_gen_params gp;
	enum mode mode;
	const char *prompt, *system;
	int chat;
	char *rag_tmpl;
	struct rag_progress prog;  /* answers written (record and RAG modes) */
	unsigned long long n_done;
};

static const char *const finish_names[] = { "eos", "stop", "length", "context" };

static int emit_stdout(void *ctx, const char *text, size_t len)
{
	(void)ctx;
	if (fwrite(text, 1, len, stdout) != len || fflush(stdout))
		return -1;
	return 0;
}

/* messages JSON for an optional system message and one user message. */
static int user_messages(const char *system, const char *user, size_t ulen, struct rag_buf *js)
{
	rag_buf_addc(js, '[');
	if (system) {
		rag_buf_adds(js, "{\"role\":\"system\",\"content\":");
		rag_json_write_str(js, system, strlen(system));
		rag_buf_adds(js, "},");
	}
	rag_buf_adds(js, "{\"role\":\"user\",\"content\":");
	rag_json_write_str(js, user, ulen);
	rag_buf_adds(js, "}]");
	return rag_buf_failed(js) ? -1 : 0;
}

/* The prompt text for a user text or a messages array (msgs non-NULL). */
static int build_prompt(struct run *r, const char *user, size_t ulen, const struct rag_json *msgs,
			struct rag_buf *out, struct rag_error *err)
{
	struct rag_arena a;
	struct rag_buf js;
	struct rag_json *parsed;
	int rc = 0;

	if (!r->chat) {
		if (msgs)
			return rag_error_set(err, RAG_EDATA, "\"messages\" needs a chat template");
		rag_buf_add(out, user, ulen);
		return rag_buf_failed(out) ? rag_error_set(err, RAG_EINTERNAL, "out of memory") : 0;
	}
	if (msgs)
		return rag_lm_chat_prompt(&r->lm, msgs, NULL, out, err);
	rag_arena_init(&a);
	rag_buf_init(&js);
	if (user_messages(r->system, user, ulen, &js))
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
	else if (!(rc = rag_json_parse(&a, js.data, js.len, &parsed, err)))
		rc = rag_lm_chat_prompt(&r->lm, parsed, NULL, out, err);
	rag_buf_free(&js);
	rag_arena_free(&a);
	return rc;
}

static int generate_text(struct run *r, const char *text, size_t len, rag_gen_emit_fn emit,
			 struct rag_buf *answer, struct rag_gen_result *res, struct rag_error *err)
{
	struct rag_tokens toks;
	int rc;

	rag_tokens_init(&toks);
	rc = rag_lm_tokenize(&r->lm, text, len, r->chat, &toks, err);
	if (!rc)
		rc = rag_lm_generate(&r->lm, &r->gp, toks.ids, toks.n, emit, NULL, answer, res, err);
	rag_tokens_free(&toks);
	return rc;
}

/* One answer written: count it for the progress line. */
static void count_answer(struct run *r)
{
	rag_progress_update(&r->prog, ++r->n_done);
}

static void report_speed(const struct run *r, const struct rag_gen_result *res)
{
	if (r->o.verbose > 0)
		cli_warn("%lld prompt tokens in %.3f s, %lld generated in %.3f s (%.1f tokens/s)",
			 (long long)res->prompt_tokens, res->prefill_seconds,
			 (long long)res->completion_tokens, res->seconds - res->prefill_seconds,
			 res->seconds > res->prefill_seconds
				 ? (double)res->completion_tokens / (res->seconds - res->prefill_seconds)
				 : 0.0);
}

static int run_plain(struct run *r, struct rag_error *err)
{
	struct rag_buf in, prompt;
	struct rag_gen_result res;
	int rc;

	rag_buf_init(&in);
	rag_buf_init(&prompt);
	if (r->prompt) {
		rag_buf_adds(&in, r->prompt);
	} else {
		char blk[65536];
		size_t n;
		while ((n = fread(blk, 1, sizeof blk, stdin)) > 0)
			rag_buf_add(&in, blk, n);
		if (ferror(stdin)) {
			rc = rag_error_errno(err, RAG_EIO, "cannot read the prompt from stdin");
			goto out;
		}
	}
	if (rag_buf_failed(&in)) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
	if ((rc = build_prompt(r, in.data ? in.data : "", in.len, NULL, &prompt, err)))
		goto out;
	rc = generate_text(r, prompt.data ? prompt.data : "", prompt.len, emit_stdout, NULL, &res, err);
	if (rc)
		goto out;
	if (fputc('\n', stdout) == EOF) {
		rc = rag_error_set(err, RAG_EIO, "write error");
		goto out;
	}
	report_speed(r, &res);
out:
	rag_buf_free(&in);
	rag_buf_free(&prompt);
	return rc;
}

static void write_usage(struct rag_objw *w, const struct rag_gen_result *res)
{
	struct rag_buf *b = w->b;
	rag_objw_key(w, "finish");
	rag_json_write_str(b, finish_names[res->finish], strlen(finish_names[res->finish]));
	rag_objw_key(w, "usage");
	rag_buf_printf(b, "{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,\"seconds\":",
		       (long long)res->prompt_tokens, (long long)res->completion_tokens);
	rag_json_write_num(b, (double)(int64_t)(res->seconds * 1000.0 + 0.5) / 1000.0);
	rag_buf_addc(b, '}');
}

static int flush_line(struct rag_buf *b, struct rag_error *err)
{
	rag_buf_addc(b, '\n');
	if (rag_buf_failed(b))
		return rag_error_set(err, RAG_EINTERNAL, "out of memory");
	if (fwrite(b->data, 1, b->len, stdout) != b->len || fflush(stdout))
		return rag_error_set(err, RAG_EIO, "write error");
	return 0;
}

static int run_records(struct run *r, struct rag_error *err)
{
	static const char *const drop[] = { "answer", "finish", "usage", NULL };
	static const char *const shard_keys[] = { "qid", "id", NULL };
	struct rag_jsonl_reader rd;
	struct rag_buf prompt, answer, out;
	const struct rag_json *rec;
	int rc;

	if ((rc = rag_jsonl_init(&rd, stdin, "<stdin>", err)))
		return rc;
	rd.skip_bad = r->o.skip_bad;
	rd.on_bad = cli_on_bad;
	rd.on_bad_ctx = &r->o;
	rd.shard = &r->o.shard;
	rag_buf_init(&prompt);
	rag_buf_init(&answer);
	rag_buf_init(&out);
	while (!(rc = rag_jsonl_next(&rd, &rec, err)) && rec) {
		const struct rag_json *msgs = rag_json_get(rec, "messages");
		size_t plen = 0;
		const char *p = rag_json_get_str(rec, "prompt", &plen);
		struct rag_gen_result res;
		struct rag_objw w;

		if (!rag_shard_keeps_record(&r->o.shard, rec, shard_keys, rd.lineno))
			continue;  /* another shard's */
		rag_buf_reset(&prompt);
		rag_buf_reset(&answer);
		rag_buf_reset(&out);
		if (msgs && msgs->type != RAG_JSON_ARRAY) {
			if ((rc = rag_jsonl_reject(&rd, err, "\"messages\" is not an array")))
				break;
			continue;
		}
		if (!msgs && !p) {
			if ((rc = rag_jsonl_reject(&rd, err, "no \"prompt\" string or \"messages\" array")))
				break;
			continue;
		}
		rc = build_prompt(r, p, plen, msgs, &prompt, err);
		if (!rc)
			rc = generate_text(r, prompt.data ? prompt.data : "", prompt.len, NULL, &answer,
					   &res, err);
		if (rc == RAG_EDATA) {
			if ((rc = rag_jsonl_reject(&rd, err, "%s", err->msg)))
				break;
			continue;
		}
		if (rc)
			break;
		rag_objw_begin(&w, &out);
		rag_objw_copy(&w, rec, drop);
		rag_objw_key(&w, "answer");
		rag_json_write_str(&out, answer.data ? answer.data : "", answer.len);
		write_usage(&w, &res);
		rag_objw_end(&w);
		if ((rc = flush_line(&out, err)))
			break;
		report_speed(r, &res);
		count_answer(r);
	}
	rag_jsonl_release(&rd);
	rag_buf_free(&prompt);
	rag_buf_free(&answer);
	rag_buf_free(&out);
	return rc;
}

/* One question's hits, copied out of the reader's per-line storage. */
struct group {
	char *qid, *question;
	size_t qid_len, question_len;
	struct rag_passage *ps;
	size_t n, cap;
	size_t line;
	int qid_is_num;
};

static void group_clear(struct group *g)
{
	rag_free(g->qid);
	rag_free(g->question);
	for (size_t i = 0; i < g->n; i++) {
		rag_free((char *)g->ps[i].id);
		rag_free((char *)g->ps[i].text);
	}
	rag_free(g->ps);
	memset(g, 0, sizeof *g);
}

static int answer_group(struct run *r, struct group *g, struct rag_error *err)
{
	struct rag_buf prompt, answer, out;
	struct rag_gen_result res;
	struct rag_objw w;
	size_t used = 0;
	int *cited = NULL, rc;
	int64_t n_ctx = rag_decoder_info(r->lm.dec)->n_ctx;
	int64_t budget = n_ctx - (r->gp.max_tokens >= 0 ? r->gp.max_tokens : n_ctx / 2);

	rag_buf_init(&prompt);
	rag_buf_init(&answer);
	rag_buf_init(&out);
	if ((rc = rag_rag_prompt(&r->lm, r->rag_tmpl, g->question, g->question_len, g->ps, g->n,
				 budget, r->chat, &prompt, &used, err)))
		goto out;
	if ((rc = generate_text(r, prompt.data, prompt.len, NULL, &answer, &res, err)))
		goto out;
	cited = rag_calloc(used + 1, sizeof *cited);
	if (!cited) {
		rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
		goto out;
	}
	rag_rag_citations(answer.data ? answer.data : "", answer.len, used, cited);
	rag_objw_begin(&w, &out);
	rag_objw_key(&w, "qid");
	if (g->qid_is_num)
		rag_buf_add(&out, g->qid, g->qid_len);
	else
		rag_json_write_str(&out, g->qid, g->qid_len);
	rag_objw_key(&w, "question");
	rag_json_write_str(&out, g->question, g->question_len);
	rag_objw_key(&w, "answer");
	rag_json_write_str(&out, answer.data ? answer.data : "", answer.len);
	rag_objw_key(&w, "citations");
	rag_buf_addc(&out, '[');
	for (size_t i = 0, k = 0; i < used; i++)
		if (cited[i]) {
			if (k++)
				rag_buf_addc(&out, ',');
			rag_json_write_str(&out, g->ps[i].id, g->ps[i].id_len);
		}
	rag_buf_addc(&out, ']');
	rag_objw_key(&w, "contexts");
	rag_buf_addc(&out, '[');
	for (size_t i = 0; i < used; i++) {
		if (i)
			rag_buf_addc(&out, ',');
		rag_json_write_str(&out, g->ps[i].text, g->ps[i].text_len);
	}
	rag_buf_addc(&out, ']');
	rag_objw_key(&w, "context_ids");
	rag_buf_addc(&out, '[');
	for (size_t i = 0; i < used; i++) {
		if (i)
			rag_buf_addc(&out, ',');
		rag_json_write_str(&out, g->ps[i].id, g->ps[i].id_len);
	}
	rag_buf_addc(&out, ']');
	write_usage(&w, &res);
	rag_objw_end(&w);
	rc = flush_line(&out, err);
	report_speed(r, &res);
	count_answer(r);
out:
	rag_free(cited);
	rag_buf_free(&prompt);
	rag_buf_free(&answer);
	rag_buf_free(&out);
	return rc;
}

static int run_rag(struct run *r, struct rag_error *err)
{
	struct rag_jsonl_reader rd;
	const struct rag_json *rec;
	struct group g;
	int rc;

	memset(&g, 0, sizeof g);
	if ((rc = rag_jsonl_init(&rd, stdin, "<stdin>", err)))
		return rc;
	rd.skip_bad = r->o.skip_bad;
	rd.on_bad = cli_on_bad;
	rd.on_bad_ctx = &r->o;
	rd.shard = &r->o.shard;
	for (;;) {
		const struct rag_json *qid, *qtext;
		size_t tlen = 0, idlen = 0, qlen = 0, klen;
		const char *text, *id, *question, *key;
		int other, good;

		rc = rag_jsonl_next(&rd, &rec, err);
		if (rc)
			break;
		if (!rec) {
			if (g.n)
				rc = answer_group(r, &g, err);
			break;
		}
		qid = rag_json_get(rec, "qid");
		qtext = rag_json_get(rec, "query");
		if (!qtext)
			qtext = rag_json_get(rec, "question");
		text = rag_json_get_str(rec, "text", &tlen);
		id = rag_json_get_str(rec, "id", &idlen);
		question = qtext && qtext->type == RAG_JSON_STRING ? qtext->u.str.s : NULL;
		qlen = question ? qtext->u.str.len : 0;
		key = rag_shard_json_key(qid, &klen);
		good = key && question && text && id;
		/* another shard's question: its bad hits are that shard's to report,
		 * its good ones end our open group, as they would unsharded */
		other = !rag_shard_keeps_key(&r->o.shard, key, klen, rd.lineno);
		if (other && !good)
			continue;
		if (!good) {
			if ((rc = rag_jsonl_reject(&rd, err, "a hit needs \"qid\", \"query\", \"id\" and "
						   "\"text\"")))
				break;
			continue;
		}
		/* a new qid (its text: a string's, a number's JSON spelling), or
		 * another shard's (a different one), ends the group */
		if (g.qid && (other || klen != g.qid_len || memcmp(g.qid, key, klen) != 0)) {
			rc = answer_group(r, &g, err);
			if (rc == RAG_EDATA) {
				rag_error_prefix(err, "<stdin>: line %zu: ", g.line);
				if (r->o.skip_bad) {
					cli_on_bad(&r->o, err);
					rc = 0;
				}
			}
			if (rc)
				break;
			group_clear(&g);
		}
		if (other)
			continue;
		if (!g.qid) {
			g.qid = rag_strndup(key, klen);
			g.qid_len = klen;
			g.qid_is_num = qid->type == RAG_JSON_NUMBER;
			g.question = rag_strndup(question, qlen);
			g.question_len = qlen;
			g.line = rd.lineno;
		}
		if (g.n == g.cap) {
			size_t nc = g.cap ? g.cap * 2 : 16;
			struct rag_passage *np = rag_reallocarray(g.ps, nc, sizeof *np);
			if (!np) {
				rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
				break;
			}
			g.ps = np;
			g.cap = nc;
		}
		g.ps[g.n].id = rag_strndup(id, idlen);
		g.ps[g.n].id_len = idlen;
		g.ps[g.n].text = rag_strndup(text, tlen);
		g.ps[g.n].text_len = tlen;
		g.n++;
		if (!g.qid || !g.question || !g.ps[g.n - 1].id || !g.ps[g.n - 1].text) {
			rc = rag_error_set(err, RAG_EINTERNAL, "out of memory");
			break;
		}
	}
	if (rc == RAG_EDATA && g.qid && !strstr(err->msg, "line "))
		rag_error_prefix(err, "<stdin>: line %zu: ", g.line);
	group_clear(&g);
	rag_jsonl_release(&rd);
	return rc;
}

static int read_small_file(const char *path, struct rag_buf *b, struct rag_error *err)
{
	return rag_buf_read_file(b, path, err);
}

static int num_opt(const char *arg, double lo, double hi, float *out, const char *what,
		   struct rag_error *err)
{
	double v;
	int rc = rag_parse_double(arg, lo, hi, &v, what, err);
	if (!rc)
		*out = (float)v;
	return rc;
}

int main(int argc, char **argv)
{
	struct run r;
	struct rag_error err;
	struct rag_buf tmpl, ragt;
	const char **stops = NULL;
	size_t n_stop = 0;
	const char *tmpl_path = NULL, *rag_path = NULL;
	int no_chat = 0, c, rc = 0;
	long ctx = 0, lv;
	enum rag_device dev = RAG_DEVICE_CPU;
	char devdesc[300];

	cli_cpu_tune(argv);
	cli_init(argv[0]);
	memset(&r, 0, sizeof r);
	rag_error_clear(&err);
	rag_buf_init(&tmpl);
	rag_buf_init(&ragt);
	rag_gen_params_init(&r.gp);
	if (rag_opts_init(&r.o, &err))
		return cli_usage("%s", err.msg);
	opterr = 0;
	while ((c = getopt_long(argc, argv, RAG_SHORTOPTS_BASIC "p:", longopts, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case 'p': r.prompt = optarg; break;
		case OPT_MODE:
			if (!strcmp(optarg, "plain")) r.mode = MODE_PLAIN;
			else if (!strcmp(optarg, "record")) r.mode = MODE_RECORD;
			else if (!strcmp(optarg, "rag")) r.mode = MODE_RAG;
			else { rc = cli_usage("invalid value '%s' for --mode (plain, record, rag)", optarg); goto out; }
			break;
		case OPT_CITE: r.mode = MODE_RAG; break;
		case OPT_SYSTEM: r.system = optarg; break;
		case OPT_NO_CHAT: no_chat = 1; break;
		case OPT_TEMPLATE: tmpl_path = optarg; break;
		case OPT_RAG_TEMPLATE: rag_path = optarg; break;
		case OPT_MAX_TOKENS:
			bad = rag_parse_long(optarg, -1, 1L << 30, &lv, "--max-tokens", &err);
			r.gp.max_tokens = lv;
			break;
		case OPT_STOP: {
			const char **ns = rag_reallocarray(stops, n_stop + 1, sizeof *ns);
			if (!ns) {
				rc = cli_report(&err);
				goto out;
			}
			stops = ns;
			stops[n_stop++] = optarg;
			break;
		}
		case OPT_IGNORE_EOS: r.gp.ignore_eos = 1; break;
		case OPT_TEMPERATURE: bad = num_opt(optarg, 0, 100, &r.gp.sampling.temperature, "--temperature", &err); break;
		case OPT_TOP_K:
			bad = rag_parse_long(optarg, 0, 1L << 30, &lv, "--top-k", &err);
			r.gp.sampling.top_k = (int)lv;
			break;
		case OPT_TOP_P: bad = num_opt(optarg, 1e-9, 1, &r.gp.sampling.top_p, "--top-p", &err); break;
		case OPT_MIN_P: bad = num_opt(optarg, 0, 1, &r.gp.sampling.min_p, "--min-p", &err); break;
		case OPT_REPEAT: bad = num_opt(optarg, 1e-6, 100, &r.gp.sampling.repeat_penalty, "--repeat-penalty", &err); break;
		case OPT_PRESENCE: bad = num_opt(optarg, -100, 100, &r.gp.sampling.presence_penalty, "--presence-penalty", &err); break;
		case OPT_FREQUENCY: bad = num_opt(optarg, -100, 100, &r.gp.sampling.frequency_penalty, "--frequency-penalty", &err); break;
		case OPT_CTX: bad = rag_parse_long(optarg, 16, 1L << 20, &ctx, "--ctx-size", &err); break;
		default:
			if (cli_option(&r.o, c, optarg, argv, longopts)) {
				rc = RAG_EUSAGE;
				goto out;
			}
		}
		if (bad) {
			rc = cli_usage("%s", err.msg);
			goto out;
		}
	}
	if (r.o.help) {
		fputs(usage, stdout);
		rc = cli_exit(RAG_OK);
		goto done;
	}
	if (r.o.version) {
		cli_version();
		rc = cli_exit(RAG_OK);
		goto done;
	}
	if (optind < argc) {
		rc = cli_usage("unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (!r.o.model) {
		rc = cli_usage("--model is required");
		goto out;
	}
	if (r.o.shard_flag && r.mode == MODE_PLAIN) {
		rc = cli_usage("--shard is for record and rag modes");
		goto out;
	}
	if (r.prompt && r.mode != MODE_PLAIN) {
		rc = cli_usage("-p is for plain mode; records come on stdin");
		goto out;
	}
	if ((rc = rag_device_resolve(r.o.device, &dev, devdesc, sizeof devdesc, &err))) {
		rc = cli_report(&err);
		goto out;
	}
	r.gp.sampling.seed = r.o.seed;
	r.gp.stop = stops;
	r.gp.n_stop = n_stop;
	rag_set_threads(r.o.threads);
	if (tmpl_path && (rc = read_small_file(tmpl_path, &tmpl, &err))) {
		rc = cli_report(&err);
		goto out;
	}
	if (rag_path) {
		if ((rc = read_small_file(rag_path, &ragt, &err))) {
			rc = cli_report(&err);
			goto out;
		}
		r.rag_tmpl = ragt.data ? ragt.data : (char *)"";
	}
	rc = rag_lm_open_on(&r.lm, r.o.model, ctx, dev == RAG_DEVICE_CUDA,
			    tmpl_path ? (tmpl.data ? tmpl.data : "") : NULL, tmpl.len, &err);
	if (rc == RAG_EUNAVAILABLE && r.o.device == RAG_DEVICE_AUTO) {
		/* auto: a GPU that cannot take this model means the CPU */
		if (r.o.verbose > 0)
			fprintf(stderr, "rag-generate: %s; using the CPU\n", err.msg);
		dev = RAG_DEVICE_CPU;
		snprintf(devdesc, sizeof devdesc, "cpu (the GPU could not take the model)");
		rc = rag_lm_open_on(&r.lm, r.o.model, ctx, 0, tmpl_path ? (tmpl.data ? tmpl.data : "") : NULL,
				    tmpl.len, &err);
	}
	if (!rc && r.o.verbose > 0)
		fprintf(stderr, "rag-generate: %s on %s\n", r.o.model, devdesc);
	if (rc) {
		if (tmpl_path && rc == RAG_EDATA)
			rag_error_prefix(&err, "'%s': ", tmpl_path);
		rc = cli_report(&err);
		goto out;
	}
	/* chat when the model (or --template) has a template and --no-chat is not given */
	r.chat = !no_chat && r.lm.chat != NULL;
	if (r.system && !r.chat)
		cli_warn("--system is ignored without a chat template");
	if (r.mode != MODE_PLAIN) {
		/* plain mode streams text to the terminal: no progress line there */
		cli_progress_start(&r.prog, &r.o, "answers", 0);
		if (r.o.verbose > 0)
			r.prog.drawn = 1;  /* -v: always end with the summary line */
	}
	switch (r.mode) {
	case MODE_PLAIN: rc = run_plain(&r, &err); break;
	case MODE_RECORD: rc = run_records(&r, &err); break;
	case MODE_RAG: rc = run_rag(&r, &err); break;
	}
	if (!rc)
		rag_progress_finish(&r.prog);
	if (rc)
		rc = cli_report(&err);
	rag_lm_close(&r.lm);
out:
	rc = cli_exit(rc);
done:
	rag_free(stops);
	rag_buf_free(&tmpl);
	rag_buf_free(&ragt);
	return rc;
}
