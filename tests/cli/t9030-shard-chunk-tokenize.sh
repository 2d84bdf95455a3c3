#!/bin/sh
# --shard I/N in rag-chunk and rag-tokenize: the shards of one input are
# disjoint, together are the unsharded output (in its order), keep a
# document's chunks together, follow the published hash (rag(7) SHARDS), and
# do not depend on input order or on which file a document is in.
. "$top_srcdir/tests/cli/lib.sh"

command -v python3 >/dev/null || skip_all 'python3 not installed'
CHECK="python3 $top_srcdir/tests/cli/shard-check.py"
M=$FIXTURES/models/tiny-embed-mean-f16.gguf

# 45 documents: string ids, numeric ids, _id and doc_id, two long enough for
# several chunks, two without any id (keyed by their line number)
awk 'BEGIN {
	for (i = 0; i < 45; i++) {
		if (i % 15 == 7) printf "{\"title\":\"no id %d\",\"text\":\"anonymous document %d\"}\n", i, i
		else if (i % 5 == 1) printf "{\"id\":%d,\"text\":\"numbered document %d about topic%d\"}\n", 1000 + i, i, i % 4
		else if (i % 5 == 2) printf "{\"_id\":\"u%d\",\"text\":\"underscore document %d\"}\n", i, i
		else if (i % 9 == 3) { printf "{\"id\":\"long%d\",\"text\":\"", i; for (w = 0; w < 60; w++) printf "word%d ", w; printf "end\"}\n" }
		else printf "{\"id\":\"d%02d\",\"text\":\"document %d about topic%d and word%d\"}\n", i, i, i % 7, i
	}
}' >docs.jsonl

test_expect_success 'rag-chunk: three shards are the whole output, disjoint, by document id' '
	rag-chunk -q --max-tokens 60 docs.jsonl >full &&
	for i in 0 1 2; do rag-chunk -q --max-tokens 60 --shard $i/3 docs.jsonl >s$i || exit 1; done &&
	$CHECK --key doc_id --hash doc_id full s0 s1 s2 &&
	test $(grep -c "\"doc_id\":\"long3\"" full) -gt 1
'

test_expect_success 'rag-chunk: shards depend neither on order nor on the file a document is in' '
	for i in 0 1 2; do rag-chunk -q --max-tokens 60 --shard $i/3 docs.jsonl >s$i || exit 1; done &&
	grep -v "\"title\":\"no id" docs.jsonl >named.jsonl &&
	awk "NR % 2" named.jsonl >odd.jsonl && awk "NR % 2 == 0" named.jsonl | tac >even.jsonl &&
	for i in 0 1 2; do
		rag-chunk -q --max-tokens 60 --shard $i/3 even.jsonl odd.jsonl | sort >r$i &&
		grep -v "docs.jsonl:" s$i | sort >want$i && test_cmp want$i r$i || exit 1
	done
'

test_expect_success 'rag-chunk: --shard 0/1 is everything; whole files shard by their path' '
	rag-chunk -q --max-tokens 60 docs.jsonl >full &&
	rag-chunk -q --max-tokens 60 --shard 0/1 docs.jsonl >one && cmp full one &&
	for f in a b c d e f g h i j k l; do echo "text of file $f" >$f.txt; done &&
	rag-chunk -q *.txt >tfull &&
	for i in 0 1 2; do rag-chunk -q --shard $i/3 *.txt >t$i || exit 1; done &&
	$CHECK --key doc_id --hash doc_id tfull t0 t1 t2
'

test_expect_success 'rag-chunk: a line that is not JSON fails exactly one shard, the one of its line number' '
	sed "12s/.*/{not json/" docs.jsonl >bad.jsonl &&
	fails=0 &&
	for i in 0 1 2; do
		rag-chunk -q --shard $i/3 bad.jsonl >/dev/null 2>err$i; rc=$?
		if [ $rc -eq 65 ]; then fails=$((fails + 1)); grep_q "bad.jsonl: line 12:" err$i || exit 1
		elif [ $rc -ne 0 ]; then exit 1; fi
	done &&
	test $fails -eq 1 &&
	for i in 0 1 2; do rag-chunk -q --skip-bad --shard $i/3 bad.jsonl >k$i 2>/dev/null || exit 1; done &&
	rag-chunk -q --skip-bad bad.jsonl >kfull 2>/dev/null &&
	$CHECK --key doc_id kfull k0 k1 k2
'

test_expect_success 'rag-chunk: another shard'"'"'s document is not checked (no text field)' '
	{ cat docs.jsonl; echo "{\"id\":\"d01\",\"title\":\"no text\"}"; } >notext.jsonl &&
	# d01 is in shard 1 of 3 (FNV-1a)
	rag-chunk -q --shard 0/3 notext.jsonl >/dev/null &&
	rag-chunk -q --shard 2/3 notext.jsonl >/dev/null &&
	{ rag-chunk -q --shard 1/3 notext.jsonl >/dev/null 2>err; test $? -eq 65; } &&
	grep_q "line 46: no string field .text." err
'

test_expect_success 'rag-tokenize: three shards keyed by doc_id, else id, else line number' '
	rag-chunk -q --max-tokens 60 docs.jsonl >chunks &&
	cat docs.jsonl >>chunks &&
	rag-tokenize --model "$M" --threads 2 chunks >full &&
	for i in 0 1 2; do rag-tokenize --model "$M" --threads 2 --shard $i/3 chunks >s$i || exit 1; done &&
	$CHECK --key doc_id --hash doc_id,id full s0 s1 s2
'

test_expect_success 'rag-tokenize --lines: by line number' '
	seq 1 50 | sed "s/^/line /" >lines &&
	rag-tokenize --model "$M" --lines lines >full &&
	for i in 0 1 2 3; do rag-tokenize --model "$M" --lines --shard $i/4 lines >s$i || exit 1; done &&
	$CHECK full s0 s1 s2 s3 &&
	python3 -c "
import json
def h(s):
    x = 0xcbf29ce484222325
    for b in s.encode(): x = ((x ^ b) * 0x100000001b3) % 2**64
    return x
for i in range(4):
    for l in open(\"s%d\" % i):
        n = int(json.loads(l)[\"text\"].split()[1])
        assert h(str(n)) % 4 == i, (i, n)
"
'

test_expect_success 'rag-tokenize: a bad record of another shard is not reported' '
	sed "12s/.*/{not json/" docs.jsonl >bad.jsonl &&
	fails=0 &&
	for i in 0 1 2; do
		rag-tokenize --model "$M" --shard $i/3 bad.jsonl >/dev/null 2>err$i; rc=$?
		if [ $rc -eq 65 ]; then fails=$((fails + 1)); grep_q "bad.jsonl: line 12:" err$i || exit 1
		elif [ $rc -ne 0 ]; then exit 1; fi
	done &&
	test $fails -eq 1
'

test_done
