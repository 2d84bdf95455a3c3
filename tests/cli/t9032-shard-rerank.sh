#!/bin/sh
# rag-rerank --shard I/N: a qid's hits stay in one shard; the shards' groups
# are the unsharded ones (sorted, ranked, cut the same), also when a qid's hits
# come in two runs; other shards' hits are not checked or reported.
. "$top_srcdir/tests/cli/lib.sh"

command -v python3 >/dev/null || skip_all 'python3 not installed'
CHECK="python3 $top_srcdir/tests/cli/shard-check.py --tol 1e-5"
M=$FIXTURES/models/tiny-rerank-f16.gguf

# 30 questions of 1 to 6 hits, a numeric qid, and q1 again after the others
# (its second run is a group of its own)
awk 'BEGIN {
	for (q = 0; q < 30; q++) for (h = 0; h <= q % 6; h++)
		printf "{\"qid\":\"q%d\",\"query\":\"query %d word%d\",\"docid\":\"d%d-%d\",\"text\":\"passage %d about word%d and word%d\"}\n", q, q, q % 7, q, h, h, (q * h) % 13, h % 5
	printf "{\"qid\":7,\"query\":\"numeric\",\"docid\":\"n1\",\"text\":\"passage word1\"}\n"
	printf "{\"qid\":7,\"query\":\"numeric\",\"docid\":\"n2\",\"text\":\"passage two word3\"}\n"
	printf "{\"qid\":\"q1\",\"query\":\"query 1 again\",\"docid\":\"x1\",\"text\":\"late passage word1\"}\n"
	printf "{\"qid\":\"q1\",\"query\":\"query 1 again\",\"docid\":\"x2\",\"text\":\"late passage word2\"}\n"
}' >hits.jsonl

test_expect_success 'three shards over many small blocks: whole, disjoint, in order, a qid in one shard' '
	rag-rerank -q --model "$M" --threads 2 --batch-tokens 16 hits.jsonl >full &&
	for i in 0 1 2; do
		rag-rerank -q --model "$M" --threads 2 --batch-tokens 16 --shard $i/3 hits.jsonl >s$i || exit 1
	done &&
	$CHECK --key qid --hash qid full s0 s1 s2 &&
	test $(grep -c "\"rank\":1}$" full) -eq 32
'

test_expect_success '--top-k cuts each shard'"'"'s groups as it cuts them unsharded' '
	rag-rerank -q --model "$M" --top-k 2 hits.jsonl >full &&
	for i in 0 1 2; do rag-rerank -q --model "$M" --top-k 2 --shard $i/3 hits.jsonl >s$i || exit 1; done &&
	$CHECK --key qid full s0 s1 s2
'

test_expect_success 'a qid in two runs: two groups in its shard, as unsharded' '
	# q1 is in shard 2 of 3, q2 and q3 (between its runs) elsewhere
	grep -E "\"qid\":\"q(1|2|3)\"" hits.jsonl >runs.jsonl &&
	rag-rerank -q --model "$M" runs.jsonl >full &&
	rag-rerank -q --model "$M" --shard 2/3 runs.jsonl >s2 &&
	grep -E "\"qid\":\"q1\"" full >want && $CHECK want s2 &&
	test $(grep -c "\"qid\":\"q1\".*\"rank\":1}$" s2) -eq 2
'

test_expect_success 'bad hits: another shard'"'"'s are not reported; one without a qid by its line number' '
	# line 5 (q2, shard 0 of 3) loses its text; line 8 (q3, shard 1) its qid,
	# so it is the bad hit of the shard of "8": 1
	sed -e "5s/\"text\":\"[^\"]*\"/\"title\":\"x\"/" -e "8s/\"qid\":\"[^\"]*\",//" hits.jsonl >bad.jsonl &&
	{ rag-rerank -q --model "$M" --shard 0/3 bad.jsonl >o0 2>err0; test $? -eq 65; } &&
	grep_q "bad.jsonl: line 5: no field .text.$" err0 &&
	{ rag-rerank -q --model "$M" --shard 1/3 bad.jsonl >o1 2>err1; test $? -eq 65; } &&
	grep_q "bad.jsonl: line 8: a hit needs a qid" err1 &&
	rag-rerank -q --model "$M" --shard 2/3 bad.jsonl >o2 &&
	for i in 0 1 2; do rag-rerank -q --model "$M" --skip-bad --shard $i/3 bad.jsonl >k$i 2>/dev/null || exit 1; done &&
	rag-rerank -q --model "$M" --skip-bad bad.jsonl >kfull 2>/dev/null &&
	$CHECK --key qid kfull k0 k1 k2
'

test_expect_success '--skip-bad: another shard'"'"'s bad hit inside a group does not split it' '
	# q7 is in shard 0 of 3, q0 in shard 1: a bad q0 hit between two q7 hits
	grep "\"qid\":\"q7\"" hits.jsonl >g.jsonl &&
	{ head -n 1 g.jsonl; echo "{\"qid\":\"q0\",\"query\":\"x\"}"; tail -n +2 g.jsonl; } >split.jsonl &&
	rag-rerank -q --model "$M" --skip-bad split.jsonl >full 2>/dev/null &&
	rag-rerank -q --model "$M" --skip-bad --shard 0/3 split.jsonl >s0 2>err &&
	$CHECK full s0 && test ! -s err && test $(grep -c "\"rank\":1}$" s0) -eq 1
'

test_done
