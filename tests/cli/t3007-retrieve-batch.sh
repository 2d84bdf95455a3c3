#!/bin/sh
# rag-retrieve --batch: queries searched together give the same hits, in input order,
# with the same per-line errors, as one at a time.
. "$top_srcdir/tests/cli/lib.sh"

# 40 chunks with 4-d vectors and words, some with an acl, split over two shards
awk 'BEGIN { srand(7); for (i = 0; i < 40; i++) {
	acl = i % 5 == 0 ? ",\"acl\":[\"g\"]" : "";
	printf "{\"id\":\"c%d\",\"text\":\"w%d w%d common\",\"meta\":{\"n\":%d}%s,\"embedding\":[%.3f,%.3f,%.3f,%.3f]}\n",
		i, i % 7, i % 3, i, acl, rand() - 0.5, rand() - 0.5, rand() - 0.5, rand() - 0.5 } }' >c.jsonl
head -n 25 c.jsonl | rag-index s1.rag || exit 99
tail -n 15 c.jsonl | rag-index s2.rag || exit 99
# 30 queries: dense, bm25, hybrid, with and without principals, a qid-less one
awk 'BEGIN { srand(11); for (i = 0; i < 30; i++) {
	v = sprintf("[%.3f,%.3f,%.3f,%.3f]", rand() - 0.5, rand() - 0.5, rand() - 0.5, rand() - 0.5);
	p = i % 4 == 0 ? ",\"principals\":[\"g\"]" : "";
	if (i % 3 == 0) printf "{\"qid\":\"q%d\",\"embedding\":%s%s}\n", i, v, p;
	else if (i % 3 == 1) printf "{\"qid\":\"q%d\",\"text\":\"w%d common\"%s}\n", i, i % 7, p;
	else if (i == 29) printf "{\"embedding\":%s}\n", v;
	else printf "{\"qid\":%d,\"text\":\"w%d\",\"embedding\":%s%s}\n", i, i % 3, v, p } }' >q.jsonl

test_expect_success 'hits are identical for --batch 1, 7 and the default (jsonl)' '
	rag-retrieve -q -k 5 --batch 1 s1.rag s2.rag <q.jsonl >one &&
	rag-retrieve -q -k 5 --batch 7 s1.rag s2.rag <q.jsonl >seven &&
	rag-retrieve -q -k 5 s1.rag s2.rag <q.jsonl >dflt &&
	test $(wc -l <one) -eq 150 && test_cmp one seven && test_cmp one dflt
'
test_expect_success 'in input order, with dense scores and ranks' '
	jq -r .qid one | uniq | tr "\n" " " >got &&
	test "$(cut -c1-12 got)" = "q0 q1 2 q3 q" && grep_q " 30 $" got &&
	head -n 1 one | jq -e ".scores.dense.rank == 1 and .score == .scores.dense.score" >/dev/null
'
test_expect_success 'dense-only queries: batched equals one at a time, across shards and ACLs' '
	grep -v "\"text\"" q.jsonl >d.jsonl &&
	rag-retrieve -q -k 4 --mode dense --filter "n >= 10" --batch 1 s1.rag s2.rag <d.jsonl >one &&
	rag-retrieve -q -k 4 --mode dense --filter "n >= 10" --batch 5 s1.rag s2.rag <d.jsonl >five &&
	test -s one && test_cmp one five &&
	jq -e "select(.meta.n < 10)" five >/dev/null; test $? -ne 0
'
test_expect_code 65 'a bad query inside a batch: earlier hits written, the error names its line' '
	head -n 4 q.jsonl >bad.jsonl && echo "{\"qid\":\"x\",\"embedding\":[1,0]}" >>bad.jsonl && tail -n 3 q.jsonl >>bad.jsonl &&
	rag-retrieve -q -k 2 s1.rag s2.rag <bad.jsonl >h 2>err; rc=$?
	grep_q "line 5: query embedding has 2 dimensions; the index has 4" err &&
	head -n 4 q.jsonl | rag-retrieve -q -k 2 --batch 1 s1.rag s2.rag >want && test_cmp want h && exit $rc
'
test_expect_code 65 'bad JSON inside a batch: earlier hits written, then the error' '
	head -n 3 q.jsonl >bad.jsonl && echo "{" >>bad.jsonl && tail -n 3 q.jsonl >>bad.jsonl &&
	rag-retrieve -q -k 2 s1.rag s2.rag <bad.jsonl >h 2>err; rc=$?
	grep_q "line 4" err && head -n 3 q.jsonl | rag-retrieve -q -k 2 s1.rag s2.rag >want && test_cmp want h && exit $rc
'
test_expect_success '--skip-bad inside a batch: the bad lines skipped, the rest in order' '
	head -n 4 q.jsonl >bad.jsonl && echo "{\"qid\":\"x\",\"embedding\":[1,0]}" >>bad.jsonl &&
	echo "{\"qid\":\"y\",\"text\":7}" >>bad.jsonl && sed -n 26,28p q.jsonl >>bad.jsonl &&
	rag-retrieve -k 2 --skip-bad s1.rag s2.rag <bad.jsonl >h 2>err &&
	grep_q "line 5" err && grep_q "line 6" err &&
	{ head -n 4 q.jsonl; sed -n 26,28p q.jsonl; } | rag-retrieve -q -k 2 --batch 1 s1.rag s2.rag >want &&
	test_cmp want h
'
test_expect_success 'trec output: the same hits, scores printed with 6 decimals' '
	rag-retrieve -q -k 5 --format trec --run-tag T s1.rag s2.rag <q.jsonl >run &&
	rag-retrieve -q -k 5 s1.rag s2.rag <q.jsonl >hits &&
	test $(wc -l <run) -eq 150 &&
	jq -r "[.qid, .id, .rank, .score] | @tsv" hits >want &&
	cut -d" " -f1,3,4 run | tr " " "\t" >got && cut -f1-3 want >want3 && test_cmp want3 got &&
	# each score: 6 decimals, and within rounding of the hit record score
	cut -f4 want | paste -d" " - run | awk "{ if (\$6 !~ /^-?[0-9]+\\.[0-9][0-9][0-9][0-9][0-9][0-9]\$/) exit 1;
		d = \$1 - \$6; if (d < 0) d = -d; if (d > 5.01e-7) exit 1 }"
'
test_expect_code 74 'a full stdout is 74' 'rag-retrieve -k 2 s1.rag s2.rag <q.jsonl >/dev/full'
test_expect_code 64 '--batch 0 is 64' 'rag-retrieve --batch 0 s1.rag <q.jsonl'
test_done
