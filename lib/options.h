/* options.h: the options every program shares, and strict parsing of option values. */
#ifndef RAG_OPTIONS_H
#define RAG_OPTIONS_H

#include <getopt.h>
#include <stdint.h>

#include "error.h"
#include "shard.h"

enum rag_device {
	RAG_DEVICE_AUTO,  /* the GPU when one works, else the CPU */
	RAG_DEVICE_CPU,
	RAG_DEVICE_CUDA,
};

/*
 * Values of the shared options.  Strings point into argv or the environment
 * (not owned).  rag_opts_init fills the defaults and then the environment
 * (RAG_MODEL, RAG_DEVICE, RAG_THREADS, RAG_SHARD); flags parsed later win.
 */
struct rag_opts {
	const char *model;       /* --model FILE|DIR */
	enum rag_device device;  /* --device auto|cpu|cuda */
	int threads;             /* --threads N; 0 = all cores */
	uint64_t seed;           /* --seed N */
	int seed_set;
	const char *output;      /* -o FILE; NULL = stdout */
	int verbose;             /* -v: +1, -q: -1 */
	int skip_bad;            /* --skip-bad */
	struct rag_shard shard;  /* --shard I/N (or RAG_SHARD); count 0: not sharded */
	int shard_flag;          /* the shard came from --shard, not RAG_SHARD */
	int help;                /* -h/--help */
	int version;             /* --version */
};

/* getopt_long values of the long-only shared options. */
enum {
	RAG_OPT_MODEL = 0x1000,
	RAG_OPT_DEVICE,
	RAG_OPT_THREADS,
	RAG_OPT_SEED,
	RAG_OPT_SKIP_BAD,
	RAG_OPT_VERSION,
	RAG_OPT_SHARD,
	RAG_OPT_FIRST_PROGRAM = 0x1100,  /* programs number their own long-only options from here */
};

/* Entries for a program's struct option table; take the ones the program has. */
#define RAG_LONGOPT_MODEL    { "model", required_argument, NULL, RAG_OPT_MODEL }
#define RAG_LONGOPT_DEVICE   { "device", required_argument, NULL, RAG_OPT_DEVICE }
#define RAG_LONGOPT_THREADS  { "threads", required_argument, NULL, RAG_OPT_THREADS }
#define RAG_LONGOPT_SEED     { "seed", required_argument, NULL, RAG_OPT_SEED }
#define RAG_LONGOPT_OUTPUT   { "output", required_argument, NULL, 'o' }
#define RAG_LONGOPT_SKIP_BAD { "skip-bad", no_argument, NULL, RAG_OPT_SKIP_BAD }
#define RAG_LONGOPT_SHARD    { "shard", required_argument, NULL, RAG_OPT_SHARD }
#define RAG_LONGOPTS_BASIC \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "quiet", no_argument, NULL, 'q' }, \
	{ "help", no_argument, NULL, 'h' }, \
	{ "version", no_argument, NULL, RAG_OPT_VERSION }
/* Short options every program has: -v -q -h (add "o:" when it has -o). */
#define RAG_SHORTOPTS_BASIC ":vqh"

/* Defaults, then the environment.  RAG_EUSAGE for a bad RAG_DEVICE/RAG_THREADS/RAG_SHARD. */
int rag_opts_init(struct rag_opts *o, struct rag_error *err);

/*
 * Handle option c (as returned by getopt_long) if it is a shared one.
 * Returns RAG_OK when handled, RAG_EUSAGE (with a message) for a bad value,
 * and RAG_OPT_UNHANDLED when c is not a shared option.
 */
#define RAG_OPT_UNHANDLED (-1)
int rag_opts_handle(struct rag_opts *o, int c, const char *arg, struct rag_error *err);

const char *rag_device_name(enum rag_device d);
int rag_device_parse(const char *s, enum rag_device *out);
/* RAG_DEVICE's device for library code (auto when unset or not a device:
 * the programs refuse a bad value in rag_opts_init). */
enum rag_device rag_device_env(void);

/*
 * Strict number parsing for option values and fields: the whole string must be
 * a number within [min, max].  RAG_EUSAGE with "invalid value 'x' for <what>"
 * otherwise.
 */
int rag_parse_long(const char *s, long min, long max, long *out, const char *what,
		   struct rag_error *err);
int rag_parse_u64(const char *s, uint64_t *out, const char *what, struct rag_error *err);
int rag_parse_double(const char *s, double min, double max, double *out, const char *what,
		     struct rag_error *err);

/*
 * Apply the thread count to everything that runs in parallel (OpenMP regions,
 * OpenBLAS).  n <= 0 means all online cores.  Returns the count in effect.
 */
int rag_set_threads(int n);
int rag_get_threads(void);

#endif
