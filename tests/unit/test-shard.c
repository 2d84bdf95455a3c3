/* test-shard.c: --shard I/N parsing, the FNV-1a key hash, and which records a shard keeps. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "options.h"
#include "shard.h"

Test(shard, parse_good)
{
	static const struct { const char *s; uint64_t i, n; } cases[] = {
		{ "0/1", 0, 1 }, { "0/3", 0, 3 }, { "2/3", 2, 3 }, { "007/10", 7, 10 },
		{ "4294967295/4294967296", 4294967295u, 4294967296u },
	};
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		struct rag_shard s = { 9, 9 };
		struct rag_error err;
		cr_assert_eq(rag_shard_parse(cases[k].s, &s, "--shard", &err), RAG_OK, "%s", cases[k].s);
		cr_assert_eq(s.index, cases[k].i);
		cr_assert_eq(s.count, cases[k].n);
		cr_assert(rag_shard_active(&s));
	}
}

Test(shard, parse_bad)
{
	static const struct { const char *s, *why; } cases[] = {
		{ "3/2", "I must be less than N" },
		{ "2/2", "I must be less than N" },
		{ "x", "expected I/N" },
		{ "", "expected I/N" },
		{ "1/0", "N must be between 1 and" },
		{ "0/4294967297", "N must be between 1 and" },
		{ "-1/4", "expected I/N" },
		{ "1/+4", "expected I/N" },
		{ " 1/4", "expected I/N" },
		{ "1/4 ", "expected I/N" },
		{ "1/", "expected I/N" },
		{ "/4", "expected I/N" },
		{ "1/2/3", "expected I/N" },
		{ "1.0/2", "expected I/N" },
		{ "99999999999999999999999/2", "expected I/N" },
	};
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		struct rag_shard s = { 1, 2 };
		struct rag_error err;
		char want[128];
		cr_assert_eq(rag_shard_parse(cases[k].s, &s, "--shard", &err), RAG_EUSAGE, "'%s'", cases[k].s);
		snprintf(want, sizeof want, "invalid value '%s' for --shard: ", cases[k].s);
		cr_assert(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
		cr_assert(strstr(err.msg, cases[k].why), "%s", err.msg);
		cr_assert(s.index == 1 && s.count == 2, "left alone");
	}
}

/* The published definition (rag(7)): FNV-1a 64 test vectors, and the examples. */
Test(shard, hash_vectors)
{
	cr_assert_eq(rag_shard_hash("", 0), UINT64_C(0xcbf29ce484222325));
	cr_assert_eq(rag_shard_hash("a", 1), UINT64_C(0xaf63dc4c8601ec8c));
	cr_assert_eq(rag_shard_hash("foobar", 6), UINT64_C(0x85944171f73967e8));
	cr_assert_eq(rag_shard_hash("d01", 3), UINT64_C(0xcb337518f4e48c38));
	cr_assert_eq(rag_shard_hash("17", 2), UINT64_C(0x07f89107b4ba06f1));
}

Test(shard, keeps_exactly_one)
{
	char key[32];
	for (uint64_t n = 1; n <= 7; n++)
		for (int k = 0; k < 200; k++) {
			int len = snprintf(key, sizeof key, "doc-%d", k), hits = 0;
			for (uint64_t i = 0; i < n; i++) {
				struct rag_shard s = { i, n };
				hits += rag_shard_keeps(&s, key, (size_t)len);
			}
			cr_assert_eq(hits, 1, "%s in %d shards", key, (int)n);
		}
	cr_assert(rag_shard_keeps(NULL, "x", 1));
	{
		struct rag_shard none = { 0, 0 };
		cr_assert(rag_shard_keeps(&none, "x", 1));
		cr_assert(rag_shard_keeps_line(&none, 5));
		cr_assert(rag_shard_keeps_key(&none, NULL, 0, 5));
	}
}

/* A key when there is one, else the line number: as the two rules give it. */
Test(shard, keeps_key_or_line)
{
	char key[32];
	for (uint64_t i = 0; i < 3; i++) {
		struct rag_shard s = { i, 3 };
		for (size_t k = 1; k <= 100; k++) {
			int len = snprintf(key, sizeof key, "q%zu", k);
			cr_assert_eq(rag_shard_keeps_key(&s, key, (size_t)len, k), rag_shard_keeps(&s, key, (size_t)len));
			cr_assert_eq(rag_shard_keeps_key(&s, NULL, 0, k), rag_shard_keeps_line(&s, k));
		}
	}
}

Test(shard, spreads_keys)
{
	size_t count[4] = { 0 };
	char key[32];
	for (int k = 0; k < 4000; k++) {
		int len = snprintf(key, sizeof key, "d%d", k);
		count[rag_shard_hash(key, (size_t)len) % 4]++;
	}
	for (int i = 0; i < 4; i++)
		cr_assert(count[i] > 800 && count[i] < 1200, "shard %d holds %zu of 4000", i, count[i]);
}

static struct rag_json *parse(struct rag_arena *a, const char *s)
{
	struct rag_json *v;
	struct rag_error err;
	cr_assert_eq(rag_json_parse(a, s, strlen(s), &v, &err), RAG_OK, "%s", s);
	return v;
}

/* Which shard of 4 keeps rec (keyed as rag-embed does). */
static int shard_of(const struct rag_json *rec, size_t lineno)
{
	static const char *const keys[] = { "doc_id", "id", NULL };
	int found = -1;
	for (uint64_t i = 0; i < 4; i++) {
		struct rag_shard s = { i, 4 };
		if (rag_shard_keeps_record(&s, rec, keys, lineno)) {
			cr_assert_eq(found, -1, "kept twice");
			found = (int)i;
		}
	}
	cr_assert_neq(found, -1, "kept nowhere");
	return found;
}

Test(shard, record_keys)
{
	struct rag_arena a;
	int d01 = (int)(rag_shard_hash("d01", 3) % 4), n17 = (int)(rag_shard_hash("17", 2) % 4);
	size_t len;

	rag_arena_init(&a);
	/* doc_id first, then id; strings by their decoded bytes */
	cr_assert_eq(shard_of(parse(&a, "{\"doc_id\":\"d01\",\"id\":\"zz\"}"), 1), d01);
	cr_assert_eq(shard_of(parse(&a, "{\"id\":\"d\\u00301\"}"), 1), d01);
	cr_assert_eq(shard_of(parse(&a, "{\"doc_id\":null,\"id\":\"d01\"}"), 1), d01);
	/* numbers by their JSON text, the same as the string of it */
	cr_assert_eq(shard_of(parse(&a, "{\"id\":17}"), 1), n17);
	cr_assert_eq(shard_of(parse(&a, "{\"id\":\"17\"}"), 1), n17);
	/* no key, a key of another type, not an object, no record: the line number */
	cr_assert_eq(shard_of(parse(&a, "{\"text\":\"x\"}"), 17), n17);
	cr_assert_eq(shard_of(parse(&a, "{\"id\":[1]}"), 17), n17);
	cr_assert_eq(shard_of(parse(&a, "[1,2]"), 17), n17);
	cr_assert_eq(shard_of(NULL, 17), n17);
	cr_assert_null(rag_shard_json_key(NULL, &len));
	cr_assert_str_eq(rag_shard_json_key(parse(&a, "1.50"), &len), "1.50");
	cr_assert_eq(len, 4);
	rag_arena_free(&a);
}

Test(shard, shared_option_and_environment)
{
	struct rag_opts o;
	struct rag_error err;

	unsetenv("RAG_SHARD");
	cr_assert_eq(rag_opts_init(&o, &err), RAG_OK);
	cr_assert(!rag_shard_active(&o.shard));
	setenv("RAG_SHARD", "1/3", 1);
	cr_assert_eq(rag_opts_init(&o, &err), RAG_OK);
	cr_assert(o.shard.index == 1 && o.shard.count == 3 && !o.shard_flag);
	cr_assert_eq(rag_opts_handle(&o, RAG_OPT_SHARD, "2/5", &err), RAG_OK);
	cr_assert(o.shard.index == 2 && o.shard.count == 5 && o.shard_flag);
	cr_assert_eq(rag_opts_handle(&o, RAG_OPT_SHARD, "5/5", &err), RAG_EUSAGE);
	cr_assert_str_eq(err.msg, "invalid value '5/5' for --shard: I must be less than N");
	setenv("RAG_SHARD", "x", 1);
	cr_assert_eq(rag_opts_init(&o, &err), RAG_EUSAGE);
	cr_assert(strstr(err.msg, "for RAG_SHARD"), "%s", err.msg);
	unsetenv("RAG_SHARD");
}
