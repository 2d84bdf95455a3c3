#!/bin/sh
# --shard I/N: bad values are usage errors (64) naming the option, in every
# program that takes it, and so is a bad RAG_SHARD; rag-index add shards too.
. "$top_srcdir/tests/cli/lib.sh"

PROGS="rag-chunk rag-tokenize rag-embed rag-rerank rag-generate rag-index"

for v in 3/2 x 1/0 -1/4 2/2 1/ /3 " 1/3" 1.5/3; do
	test_expect_success "'--shard $v' is a usage error in every program" '
		for p in $PROGS; do
			{ $p --shard "$v" --model none.gguf x.rag </dev/null >out 2>err; rc=$?; } &&
			test $rc -eq 64 || { echo "$p: exit $rc"; cat err; exit 1; }
			grep_q "^$p: invalid value .$v. for --shard: " err &&
			grep_q "^Try .$p --help. for more information\.$" err || exit 1
			test ! -s out || exit 1
		done
	'
done

test_expect_success 'a bad RAG_SHARD is a usage error naming it' '
	for p in $PROGS; do
		{ RAG_SHARD=4/4 $p --model none.gguf x.rag </dev/null >out 2>err; rc=$?; } &&
		test $rc -eq 64 || { echo "$p: exit $rc"; exit 1; }
		grep_q "invalid value .4/4. for RAG_SHARD: I must be less than N" err || exit 1
	done
'

test_expect_success '--help lists --shard in every program' '
	for p in $PROGS; do $p --help | grep_q "^ *--shard I/N " - || exit 1; done
'

# rag-index add --shard: chunk records keyed by doc_id, else id
awk 'BEGIN { for (i = 0; i < 30; i++)
	printf "{\"id\":\"d%d#%d\",\"doc_id\":\"d%d\",\"text\":\"chunk %d of document %d\"}\n", i % 9, i, i % 9, i, i % 9 }' >chunks.jsonl

test_expect_success 'rag-index add --shard: the shard indexes hold the records once, a document in one' '
	n=0 &&
	for i in 0 1 2; do
		rag-index -q --shard $i/3 s$i.rag <chunks.jsonl &&
		rag-index s$i.rag stats >st$i &&
		c=$(sed -n "s/^chunks: //p" st$i) && test $c -gt 0 && n=$((n + c)) || exit 1
	done &&
	test $n -eq 30 &&
	rag-index -q merge all.rag s0.rag s1.rag s2.rag &&
	rag-index all.rag stats | grep_q "^chunks: 30$" - &&
	for i in 0 1 2; do printf "{\"qid\":\"a\",\"text\":\"document\"}\n" | rag-retrieve -q --mode bm25 -k 30 s$i.rag |
		sed "s/.*\"doc_id\":\"\([^\"]*\)\".*/\1/" | sort -u >docs$i || exit 1; done &&
	cat docs0 docs1 docs2 | sort | uniq -d >dup && test ! -s dup &&
	test $(cat docs0 docs1 docs2 | wc -l) -eq 9
'

test_expect_code 64 'rag-index: --shard goes with add only' '
	rag-index --shard 0/2 all.rag stats
'

test_done
