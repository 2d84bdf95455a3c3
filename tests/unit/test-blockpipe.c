/* test-blockpipe.c: the pipeline skeleton alone: blocks start small and double up to the limits
 * (RAG_BLOCKPIPE_RAMP), whichever limit (lines or bytes) binds; every line arrives once, in input
 * order, across several inputs; the ramp does not start again for a second input. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blockpipe.h"
#include "buf.h"

struct seen {
	size_t sizes[256];           /* lines per delivered block, in delivery order */
	size_t n_blocks;
	size_t next;                 /* the number the next delivered line must carry */
	size_t n_run;                /* blocks the worker ran */
};

static void t_reset(void *ctx, struct rag_blockpipe_block *b) { (void)ctx; (void)b; }

static int t_prepare(void *ctx, struct rag_blockpipe_block *b, int *stop_rc, struct rag_error *stop_err,
		     struct rag_error *err)
{
	(void)ctx; (void)b; (void)stop_err; (void)err;
	*stop_rc = 0;
	return RAG_OK;
}

static int t_start(void *ctx, struct rag_blockpipe_block *b, int *go, struct rag_error *err)
{
	(void)ctx; (void)err;
	*go = b->n > 0;
	return RAG_OK;
}

static int t_run(void *ctx, struct rag_blockpipe_block *b, struct rag_error *err)
{
	struct seen *s = ctx;
	(void)b; (void)err;
	s->n_run++;   /* the calling thread reads it only after waiting for this block */
	return RAG_OK;
}

/* Each line is its number in decimal, padded with 'x' to the line's length. */
static int t_deliver(void *ctx, struct rag_blockpipe_block *b, struct rag_error *err)
{
	struct seen *s = ctx;
	(void)err;
	cr_assert_lt(s->n_blocks, sizeof s->sizes / sizeof s->sizes[0]);
	s->sizes[s->n_blocks++] = b->n;
	for (size_t i = 0; i < b->n; i++) {
		const char *line = b->lines.data + b->line[i].off;
		cr_assert_eq(strtoul(line, NULL, 10), s->next, "line %zu of a block: '%s', expected %zu", i, line, s->next);
		cr_assert_eq(strlen(line), b->line[i].len);
		s->next++;
	}
	return RAG_OK;
}

static const struct rag_blockpipe_ops ops = {
	.reset = t_reset, .prepare = t_prepare, .start = t_start, .run = t_run, .deliver = t_deliver,
};

/* A file of lines first..first+n-1, each padded to width bytes. */
static const char *make_input(size_t first, size_t n, int width)
{
	static char path[2][64];
	static int slot;
	char *p = path[slot ^= 1];
	FILE *f;
	snprintf(p, sizeof path[0], "/tmp/test-blockpipe-XXXXXX");
	int fd = mkstemp(p);
	cr_assert(fd >= 0);
	cr_assert(f = fdopen(fd, "w"));
	for (size_t i = first; i < first + n; i++) {
		int k = fprintf(f, "%zu", i);
		for (; k < width; k++)
			fputc('x', f);
		fputc('\n', f);
	}
	cr_assert_eq(fclose(f), 0);
	return p;
}

static void run(struct seen *s, size_t block_bytes, size_t block_records, const char *const *paths, int n_paths)
{
	struct rag_blockpipe bp;
	struct rag_blockpipe_block b0, b1;
	struct rag_error err;

	memset(s, 0, sizeof *s);
	memset(&b0, 0, sizeof b0);
	memset(&b1, 0, sizeof b1);
	cr_assert_eq(rag_blockpipe_init(&bp, &ops, s, &b0, &b1, block_bytes, block_records, &err), RAG_OK);
	for (int i = 0; i < n_paths; i++)
		cr_assert_eq(rag_blockpipe_file(&bp, paths[i], &err), RAG_OK, "%s", err.msg);
	cr_assert_eq(rag_blockpipe_finish(&bp, &err), RAG_OK, "%s", err.msg);
	rag_blockpipe_release(&bp);
	for (int i = 0; i < n_paths; i++)
		unlink(paths[i]);
	cr_assert_eq(s->n_run, s->n_blocks);
}

TestSuite(blockpipe);

Test(blockpipe, line_limit_ramps_up_by_doubling)
{
	/* 64 lines a block at most: 2, 4, 8, 16, 32, then 64 a block; 1000 = 62 + 14 * 64 + 42 */
	static const size_t want[] = { 2, 4, 8, 16, 32 };
	const char *path = make_input(0, 1000, 3);
	struct seen s;

	cr_assert_eq(RAG_BLOCKPIPE_RAMP, 5, "the expected sizes below assume a ramp of 5");
	run(&s, 1u << 30, 64, &path, 1);
	cr_assert_eq(s.next, 1000);
	cr_assert_eq(s.n_blocks, 5 + 14 + 1);
	for (size_t i = 0; i < 5; i++)
		cr_assert_eq(s.sizes[i], want[i], "block %zu: %zu lines", i, s.sizes[i]);
	for (size_t i = 5; i < 19; i++)
		cr_assert_eq(s.sizes[i], 64, "block %zu: %zu lines", i, s.sizes[i]);
	cr_assert_eq(s.sizes[19], 42);
}

Test(blockpipe, byte_limit_ramps_up_by_doubling)
{
	/* 9-byte lines (8 and a NUL), 1152 bytes a block: the byte limit 36, 72, ... binds; a block
	 * ends at the first line that reaches it: 4, 8, 16, 32, 64, then 128 lines */
	static const size_t want[] = { 4, 8, 16, 32, 64, 128, 128 };
	const char *path = make_input(0, 380, 8);
	struct seen s;

	run(&s, 1152, 100000, &path, 1);
	cr_assert_eq(s.next, 380);
	cr_assert_eq(s.n_blocks, 7);
	for (size_t i = 0; i < 7; i++)
		cr_assert_eq(s.sizes[i], want[i], "block %zu: %zu lines", i, s.sizes[i]);
}

Test(blockpipe, limits_below_the_ramp_still_take_a_line_a_block)
{
	/* 3 lines a block: 3 >> 5 down to 3 >> 2 are 0 and 3 >> 1 is 1, so the first five blocks
	 * take one line each; then 3 a block */
	static const size_t want[] = { 1, 1, 1, 1, 1, 3, 3, 3, 1 };
	const char *path = make_input(0, 15, 2);
	struct seen s;

	run(&s, 1u << 30, 3, &path, 1);
	cr_assert_eq(s.next, 15);
	cr_assert_eq(s.n_blocks, 9);
	for (size_t i = 0; i < 9; i++)
		cr_assert_eq(s.sizes[i], want[i], "block %zu: %zu lines", i, s.sizes[i]);
}

Test(blockpipe, second_input_continues_in_order_at_full_size)
{
	/* the first input ends the ramp; the second starts at the full 64 lines */
	const char *paths[2];
	struct seen s;

	paths[0] = make_input(0, 200, 4);
	paths[1] = make_input(200, 130, 4);
	run(&s, 1u << 30, 64, paths, 2);
	cr_assert_eq(s.next, 330);
	/* 2 4 8 16 32 64 64 10 (the file's end ends the block) | 64 64 2 */
	static const size_t want[] = { 2, 4, 8, 16, 32, 64, 64, 10, 64, 64, 2 };
	cr_assert_eq(s.n_blocks, 11);
	for (size_t i = 0; i < 11; i++)
		cr_assert_eq(s.sizes[i], want[i], "block %zu: %zu lines", i, s.sizes[i]);
}
