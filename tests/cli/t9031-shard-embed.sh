#!/bin/sh
# rag-embed --shard I/N: the pipeline's worker threads drop other shards'
# records; the shards are disjoint, together the unsharded output in its order
# (vectors equal to the last bits: a batch's make-up changes rounding), keyed
# by doc_id, else id, else the line number; RAG_SHARD; chunk | embed sharded
# twice keeps what chunk kept.
. "$top_srcdir/tests/cli/lib.sh"

command -v python3 >/dev/null || skip_all 'python3 not installed'
CHECK="python3 $top_srcdir/tests/cli/shard-check.py --tol 1e-5"
M=$FIXTURES/models/tiny-embed-mean-f16.gguf

# 80 records: chunks of 13 documents (doc_id), records with only an id, and
# records with neither
awk 'BEGIN {
	for (i = 0; i < 80; i++) {
		if (i % 9 == 4) printf "{\"text\":\"plain record %d\"}\n", i
		else if (i % 6 == 1) printf "{\"id\":\"r%d\",\"text\":\"record %d with only an id\"}\n", i, i
		else printf "{\"id\":\"c%d\",\"doc_id\":\"doc%d\",\"text\":\"chunk %d of document %d about word%d\"}\n", i, i % 13, i, i % 13, i % 7
	}
}' >in.jsonl

test_expect_success 'three shards over many small blocks: whole, disjoint, in order, documents together' '
	rag-embed -q --model "$M" --threads 2 --batch-tokens 16 in.jsonl >full &&
	for i in 0 1 2; do
		rag-embed -q --model "$M" --threads 2 --batch-tokens 16 --shard $i/3 in.jsonl >s$i || exit 1
	done &&
	$CHECK --key doc_id --hash doc_id,id full s0 s1 s2 &&
	test $(wc -l <full) -eq 80
'

test_expect_success 'one thread and the default blocks give the same split' '
	for i in 0 1 2; do rag-embed -q --model "$M" --threads 1 --shard $i/3 in.jsonl >t$i || exit 1; done &&
	rag-embed -q --model "$M" --threads 1 in.jsonl >full1 &&
	$CHECK --key doc_id full1 t0 t1 t2
'

test_expect_success 'RAG_SHARD is the default, --shard wins' '
	rag-embed -q --model "$M" --shard 1/3 in.jsonl >flag &&
	RAG_SHARD=1/3 rag-embed -q --model "$M" in.jsonl >env && cmp flag env &&
	RAG_SHARD=2/3 rag-embed -q --model "$M" --shard 1/3 in.jsonl >both && cmp flag both
'

test_expect_success '-o FILE.npy: a shard'"'"'s vectors file holds its records'"'"' rows' '
	rag-embed -q --model "$M" --shard 2/3 -o v.npy in.jsonl &&
	rag-embed -q --model "$M" --shard 2/3 in.jsonl >s2 &&
	test $(wc -l <v.ids.jsonl) -eq $(wc -l <s2) &&
	python3 -c "
import json, struct
h = open(\"v.npy\", \"rb\").read(); n = struct.unpack(\"<H\", h[8:10])[0]
shape = eval(h[10:10 + n].decode().split(\"shape\")[1].split(\"(\")[1].split(\")\")[0] + \",\")
rows = [json.loads(l)[\"row\"] for l in open(\"v.ids.jsonl\")]
assert shape[0] == len(rows) and rows == list(range(len(rows))), (shape, rows)
"
'

test_expect_success 'a line that is not JSON: only the shard of its line number reports it' '
	sed "30s/.*/[1, 2]/" in.jsonl >bad.jsonl &&
	fails=0 &&
	for i in 0 1 2; do
		rag-embed -q --model "$M" --shard $i/3 bad.jsonl >o$i 2>err$i; rc=$?
		if [ $rc -eq 65 ]; then fails=$((fails + 1)); grep_q "bad.jsonl: line 30: not a JSON object" err$i || exit 1
		elif [ $rc -ne 0 ]; then exit 1; fi
	done &&
	test $fails -eq 1 &&
	for i in 0 1 2; do rag-embed -q --model "$M" --skip-bad --shard $i/3 bad.jsonl >k$i 2>/dev/null || exit 1; done &&
	rag-embed -q --model "$M" --skip-bad bad.jsonl >kfull 2>/dev/null &&
	$CHECK kfull k0 k1 k2
'

test_expect_success 'another shard'"'"'s record is not checked: no text field is fine there' '
	{ cat in.jsonl; echo "{\"doc_id\":\"d01\",\"title\":\"no text\"}"; } >notext.jsonl &&
	# d01 is in shard 1 of 3 (FNV-1a)
	rag-embed -q --model "$M" --shard 0/3 notext.jsonl >/dev/null &&
	{ rag-embed -q --model "$M" --shard 1/3 notext.jsonl >/dev/null 2>err; test $? -eq 65; } &&
	grep_q "line 81: no field .text." err
'

test_expect_success 'rag-chunk | rag-embed, both under RAG_SHARD: the same as chunk --shard alone' '
	awk "{ print }" in.jsonl | grep -v "plain record" | sed "s/\"doc_id\":\"doc[0-9]*\",//" >docs.jsonl &&
	RAG_SHARD=1/3 sh -c "rag-chunk -q docs.jsonl | rag-embed -q --model \"$M\"" >twice &&
	rag-chunk -q --shard 1/3 docs.jsonl | rag-embed -q --model "$M" >once &&
	test -s once && cmp once twice
'

test_done
