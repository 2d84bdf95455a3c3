/* cli.c: messages, usage errors and the exit path shared by the programs. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char *prog = "rag";

void cli_init(const char *name)
{
	const char *slash = strrchr(name, '/');

	prog = slash ? slash + 1 : name;
	/* libtool's uninstalled wrappers run "lt-rag-x"; report the real name. */
	if (strncmp(prog, "lt-", 3) == 0)
		prog += 3;
	signal(SIGPIPE, SIG_DFL);
}

const char *cli_prog(void)
{
	return prog;
}

static void vmsg(const char *kind, const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: %s: ", prog, kind);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("error", fmt, ap);
	va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("warning", fmt, ap);
	va_end(ap);
}

int cli_report(const struct rag_error *err)
{
	int code = err->code ? err->code : RAG_EINTERNAL;

	cli_error("%s", err->msg[0] ? err->msg : rag_status_name(code));
	return code;
}

int cli_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", prog);
	return RAG_EUSAGE;
}

/* Edit distance with adjacent transpositions counted as one edit (optimal
 * string alignment), for "did you mean": "--modle" is one edit from "--model". */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t d[64][64];

	if (la >= 63 || lb >= 63)
		return (size_t)-1;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

/* Same letters in another order (an anagram): the likeliest slip of the fingers. */
static int same_letters(const char *a, const char *b)
{
	int count[256] = { 0 };

	if (strlen(a) != strlen(b))
		return 0;
	for (; *a; a++, b++) {
		count[(unsigned char)*a]++;
		count[(unsigned char)*b]--;
	}
	for (int i = 0; i < 256; i++)
		if (count[i])
			return 0;
	return 1;
}

int cli_bad_option(int c, char *const argv[], const struct option *longopts)
{
	const char *arg = argv[optind - 1];
	const struct option *o;
	char name[128];
	const char *cand[4];
	size_t n_cand = 0, bestd = 3, len;
	int is_long = strncmp(arg, "--", 2) == 0;

	if (c == ':') {
		/* a known option without its argument (the optstring starts with ':') */
		for (o = longopts; is_long && o->name; o++)
			if (o->val == optopt)
				return cli_usage("option '--%s' requires an argument", o->name);
		return cli_usage("option requires an argument -- '%c'", optopt);
	}
	if (optopt && !is_long)
		return cli_usage("invalid option -- '%c'", optopt);
	if (optopt) {
		/* a known long option given an argument it does not take */
		for (o = longopts; o->name; o++)
			if (o->val == optopt)
				return cli_usage("option '--%s' doesn't allow an argument", o->name);
	}
	if (strncmp(arg, "--", 2) != 0)
		return cli_usage("invalid option '%s'", arg);
	{
		const char *eq = strchr(arg, '=');
		size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		if (n >= sizeof name)
			n = sizeof name - 1;
		memcpy(name, arg + 2, n);
		name[n] = '\0';
	}
	len = strlen(name);
	/* An abbreviation getopt found ambiguous: list what it could mean. */
	for (o = longopts; o->name; o++)
		if (len && strncmp(o->name, name, len) == 0 && n_cand < 4)
			cand[n_cand++] = o->name;
	if (n_cand >= 2) {
		if (n_cand == 2)
			return cli_usage("option '--%s' is ambiguous: '--%s' or '--%s'?", name, cand[0], cand[1]);
		return cli_usage("option '--%s' is ambiguous: '--%s', '--%s' or '--%s'?", name, cand[0], cand[1],
				 cand[2]);
	}
	/* A misspelling: the nearest names; an anagram wins a tie. */
	n_cand = 0;
	for (o = longopts; o->name; o++) {
		size_t d = distance(name, o->name);
		if (d > 2 || d > bestd)
			continue;
		if (d < bestd) {
			bestd = d;
			n_cand = 0;
		}
		if (n_cand < 4)
			cand[n_cand++] = o->name;
	}
	if (n_cand > 1)
		for (size_t i = 0; i < n_cand; i++)
			if (same_letters(name, cand[i])) {
				cand[0] = cand[i];
				n_cand = 1;
				break;
			}
	if (n_cand == 1)
		return cli_usage("unrecognized option '--%s'; did you mean '--%s'?", name, cand[0]);
	if (n_cand >= 2)
		return cli_usage("unrecognized option '--%s'; did you mean '--%s' or '--%s'?", name, cand[0], cand[1]);
	return cli_usage("unrecognized option '--%s'", name);
}

int cli_option(struct rag_opts *o, int c, const char *arg, char *const argv[],
	       const struct option *longopts)
{
	struct rag_error err;

	if (c == '?' || c == ':')
		return cli_bad_option(c, argv, longopts);
	rag_error_clear(&err);
	switch (rag_opts_handle(o, c, arg, &err)) {
	case RAG_OK:
		return 0;
	case RAG_EUSAGE:
		return cli_usage("%s", err.msg);
	default:  /* an option in the table that the program forgot to handle */
		return cli_usage("option not handled (%d)", c);
	}
}

int cli_help_or_version(const struct rag_opts *o, const char *usage)
{
	if (o->help) {
		fputs(usage, stdout);
		return 1;
	}
	if (o->version) {
		cli_version();
		return 1;
	}
	return 0;
}

void cli_version(void)
{
	printf("%s (ragkit) %s\n", prog, PACKAGE_VERSION);
}

int cli_progress_wanted(const struct rag_opts *o)
{
	if (o->verbose > 0)
		return 1;
	return o->verbose == 0 && isatty(STDERR_FILENO);
}

void cli_progress_start(struct rag_progress *p, const struct rag_opts *o, const char *unit,
			unsigned long long total)
{
	int want = cli_progress_wanted(o);

	rag_progress_init(p, want ? stderr : NULL, isatty(STDERR_FILENO), prog, unit, total);
}

void cli_on_bad(void *ctx, const struct rag_error *err)
{
	const struct rag_opts *o = ctx;

	if (!o || o->verbose >= 0)
		cli_warn("skipped: %s", err->msg);
}

int cli_exit(int rc)
{
	int bad = 0;

	if (fflush(stdout) != 0 || ferror(stdout))
		bad = 1;
	if (fclose(stdout) != 0)
		bad = 1;
	if (bad && errno != EPIPE) {
		cli_error("cannot write standard output: %s", strerror(errno ? errno : EIO));
		return RAG_EIO;
	}
	return rc;
}
