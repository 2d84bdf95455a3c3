#!/bin/sh
# rag-generate --shard I/N: --cite keeps a question's hits together (by qid),
# record mode keys by qid, else id, else the line number; plain mode has no
# records to shard.
. "$top_srcdir/tests/cli/lib.sh"

command -v python3 >/dev/null || skip_all 'python3 not installed'
CHECK="python3 $top_srcdir/tests/cli/shard-check.py --ignore usage.seconds"
RAG_DEVICE=cpu
export RAG_DEVICE
M=$FIXTURES/models/tiny-qwen2-f16.gguf
G="rag-generate --model $M --max-tokens 3 --threads 1"

# 12 questions of 1 to 3 hits; q1 (shard 2 of 3) comes back right after q2
# and q3 (shards 0 and 1): a question of its own in shard 2 too
awk 'BEGIN {
	for (q = 0; q < 12; q++) {
		for (h = 0; h <= q % 3; h++)
			printf "{\"qid\":\"q%d\",\"query\":\"What is thing %d?\",\"id\":\"c%d-%d\",\"text\":\"Thing %d is item %d.\"}\n", q, q, q, h, q, h
		if (q == 3)
			printf "{\"qid\":\"q1\",\"query\":\"What is thing 1 again?\",\"id\":\"x1\",\"text\":\"Thing 1 is late.\"}\n"
	}
}' >hits.jsonl
# 15 prompts: with a qid, with only an id, with neither
awk 'BEGIN {
	for (i = 0; i < 15; i++) {
		if (i % 5 == 0) printf "{\"prompt\":\"Say %d\"}\n", i
		else if (i % 3 == 0) printf "{\"id\":%d,\"prompt\":\"Count to %d\"}\n", i, i
		else printf "{\"qid\":\"p%d\",\"prompt\":\"Name %d\"}\n", i, i
	}
}' >prompts.jsonl

test_expect_success '--cite: three shards, whole and disjoint, a question in one shard' '
	$G --cite <hits.jsonl >full &&
	for i in 0 1 2; do $G --cite --shard $i/3 <hits.jsonl >s$i || exit 1; done &&
	$CHECK --key qid --hash qid full s0 s1 s2 &&
	test $(wc -l <full) -eq 13 && test $(grep -c "\"qid\":\"q1\"" s2) -eq 2
'

test_expect_success '--cite: a bad hit of another shard is not reported' '
	# q4 is in shard 0 of 3 (FNV-1a): drop the text of its first hit (line 9)
	sed "9s/,\"text\":\"[^\"]*\"//" hits.jsonl >bad.jsonl &&
	grep_q "\"qid\":\"q4\",.*\"id\":\"c4-0\"}$" bad.jsonl &&
	$G --cite --shard 1/3 <bad.jsonl >/dev/null &&
	$G --cite --shard 2/3 <bad.jsonl >/dev/null &&
	{ $G --cite --shard 0/3 <bad.jsonl >/dev/null 2>err; test $? -eq 65; } &&
	grep_q "line 9: a hit needs" err
'

test_expect_success '--mode record: keyed by qid, else id, else line number' '
	$G --mode record <prompts.jsonl >full &&
	for i in 0 1 2; do $G --mode record --shard $i/3 <prompts.jsonl >s$i || exit 1; done &&
	$CHECK --key qid,id --hash qid,id full s0 s1 s2
'

test_expect_code 64 'plain mode: --shard is a usage error' '
	$G --shard 0/2 -p "Hello" 2>err; rc=$?
	grep_q "rag-generate: --shard is for record and rag modes" err && exit $rc
'

test_expect_success 'plain mode: RAG_SHARD is not for it and does not get in the way' '
	RAG_SHARD=1/2 $G -p "Hello" >out && test -s out
'

test_done
