/* cli.h: what every program does the same way: messages, usage errors, exit. */
#ifndef RAG_CLI_H
#define RAG_CLI_H

#include <getopt.h>

#include "error.h"
#include "options.h"
#include "progress.h"

/* Program name for messages; also restores SIGPIPE's default action. */
void cli_init(const char *prog);
const char *cli_prog(void);

/* "prog: error: ..." / "prog: warning: ..." on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print err's message as an error and return its code (70 when it has none). */
int cli_report(const struct rag_error *err);

/*
 * A usage error: "prog: <msg>" and "Try 'prog --help' for more information."
 * on stderr; returns 64.
 */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Explain why getopt_long returned c, '?' or ':' (unknown option, with a
 * suggestion for a near miss; an argument given to an option that takes
 * none; a missing argument); returns 64.  The option table must be the one
 * passed to getopt_long, its optstring must start with ':' (as
 * RAG_SHORTOPTS_BASIC does), and opterr must be 0.
 */
int cli_bad_option(int c, char *const argv[], const struct option *longopts);

/*
 * The default: branch of a program's getopt loop, for everything that is not
 * its own option: shared options (rag_opts_handle), unknown options and
 * missing arguments ('?' and ':').  Returns 0 when c was a valid shared
 * option; otherwise prints the usage error and returns 64 (RAG_EUSAGE).
 */
int cli_option(struct rag_opts *o, int c, const char *arg, char *const argv[],
	       const struct option *longopts);

/*
 * After option parsing: with -h/--help print usage to stdout, with --version
 * the version, and return 1 (the program then ends with cli_exit(0)); else 0.
 */
int cli_help_or_version(const struct rag_opts *o, const char *usage);

/* "prog (ragkit) 0.1.0" on stdout. */
void cli_version(void);

/* Should progress be shown: -v, or stderr is a terminal and not -q. */
int cli_progress_wanted(const struct rag_opts *o);
/* Start a progress line on stderr when wanted, else a disabled one. */
void cli_progress_start(struct rag_progress *p, const struct rag_opts *o, const char *unit,
			unsigned long long total);

/* jsonl on_bad callback: warns about a skipped record when -v. ctx: struct rag_opts. */
void cli_on_bad(void *ctx, const struct rag_error *err);

/*
 * End of main: flush and close stdout; if that fails the exit code becomes
 * 74 with a message.  Returns the code main should return.
 */
int cli_exit(int rc);

#endif
