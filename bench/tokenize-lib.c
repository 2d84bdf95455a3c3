/* tokenize-lib.c: the ragkit side of bench/tokenize.sh: times rag_tokenize over the
 * `text` fields of a JSON Lines file, one thread or all (OpenMP), best of N runs.
 * Prints: MB/s tokens texts bytes. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "buf.h"
#include "gguf.h"
#include "json.h"
#include "tokenizer.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	struct rag_error err;
	struct rag_gguf *g;
	struct rag_tokenizer *t;
	struct rag_buf b;
	struct rag_arena a;
	char **texts = NULL;
	size_t *lens = NULL, n = 0, cap = 0, bytes = 0, ntok = 0;
	int threads, reps;
	double best = 1e30;

	if (argc != 5) {
		fprintf(stderr, "usage: tokenize-lib MODEL.gguf corpus.jsonl threads reps\n");
		return 64;
	}
	threads = atoi(argv[3]);
	reps = atoi(argv[4]);
	if (rag_gguf_open(argv[1], &g, &err) || rag_tokenizer_from_gguf(g, &t, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 78;
	}
	rag_buf_init(&b);
	rag_arena_init(&a);
	if (rag_buf_read_file(&b, argv[2], &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 66;
	}
	for (char *p = b.data, *e; p < b.data + b.len; p = e + 1) {
		struct rag_json *rec;
		size_t l;
		const char *s;
		e = memchr(p, '\n', (size_t)(b.data + b.len - p));
		if (!e)
			e = b.data + b.len;
		if (e == p || rag_json_parse(&a, p, (size_t)(e - p), &rec, &err))
			continue;
		if (!(s = rag_json_get_str(rec, "text", &l)))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			texts = realloc(texts, cap * sizeof *texts);
			lens = realloc(lens, cap * sizeof *lens);
		}
		texts[n] = malloc(l + 1);
		memcpy(texts[n], s, l + 1);
		lens[n] = l;
		bytes += l;
		n++;
	}
	for (int r = 0; r < reps; r++) {
		size_t total = 0;
		double t0 = now();
#pragma omp parallel num_threads(threads) reduction(+ : total)
		{
			struct rag_tokens tok;
			struct rag_error e2;
			rag_tokens_init(&tok);
#pragma omp for schedule(dynamic, 16)
			for (size_t i = 0; i < n; i++) {
				rag_tokenize(t, texts[i], lens[i], 0, &tok, &e2);
				total += tok.n;
			}
			rag_tokens_free(&tok);
		}
		double dt = now() - t0;
		if (dt < best)
			best = dt;
		ntok = total;
	}
	printf("%.2f %zu %zu %zu\n", bytes / best / 1e6, ntok, n, bytes);
	return 0;
}
