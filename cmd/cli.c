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

/* Edit distance, for "did you mean" (short strings only). */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[64];

	if (la >= 63 || lb >= 63)
		return (size_t)-1;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t prev = row[0], tmp;
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t best = prev + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

int cli_bad_option(char *const argv[], const struct option *longopts)
{
	const char *arg = argv[optind - 1];
	const struct option *o;
	char name[128];
	const char *best = NULL;
	size_t bestd = 3;

	if (optopt && optopt != '?') {
		/* A known option without its argument. */
		for (o = longopts; o->name; o++)
			if (o->val == optopt && strncmp(arg, "--", 2) == 0)
				return cli_usage("option '--%s' requires an argument", o->name);
		if (optopt < 256 && strncmp(arg, "--", 2) != 0)
			return cli_usage("option requires an argument -- '%c'", optopt);
		return cli_usage("invalid option -- '%c'", optopt);
	}
	if (strncmp(arg, "--", 2) == 0) {
		const char *eq = strchr(arg, '=');
		size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		if (n >= sizeof name)
			n = sizeof name - 1;
		memcpy(name, arg + 2, n);
		name[n] = '\0';
		for (o = longopts; o->name; o++) {
			size_t d = distance(name, o->name);
			if (d < bestd || (strlen(name) >= 3 && strncmp(o->name, name, strlen(name)) == 0 && !best)) {
				bestd = d < bestd ? d : bestd;
				best = o->name;
			}
		}
		if (best)
			return cli_usage("unrecognized option '--%s'; did you mean '--%s'?", name, best);
		return cli_usage("unrecognized option '--%s'", name);
	}
	return cli_usage("invalid option '%s'", arg);
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
