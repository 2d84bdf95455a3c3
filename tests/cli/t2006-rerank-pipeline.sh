#!/bin/sh
# rag-rerank's pipeline (lib/rerank_pipe): groups that span blocks and inputs,
# bad hits in later blocks, the same bytes for any --threads.
. "$top_srcdir/tests/cli/lib.sh"

m="$FIXTURES/models/tiny-rerank-f16.gguf"

# 60 queries of 1 to 12 hits; --batch-tokens 16 makes blocks of 1 KiB of input,
# so groups straddle many blocks
awk 'BEGIN { for (q = 0; q < 60; q++) for (h = 0; h <= q % 12; h++)
	printf "{\"qid\":\"q%d\",\"query\":\"query %d word%d\",\"docid\":\"d%d-%d\",\"text\":\"passage %d about word%d and word%d\"}\n", q, q, q % 7, q, h, h, (q * h) % 13, h % 5 }' >in
n=$(wc -l <in)

test_expect_success 'groups keep input order, each sorted and ranked, across block boundaries' '
	rag-rerank --model "$m" --batch-tokens 16 --threads 2 in >out &&
	test $(wc -l <out) -eq $n &&
	sed "s/^{\"qid\":\"\(q[0-9]*\)\".*/\1/" out | uniq >qids &&
	sed "s/^{\"qid\":\"\(q[0-9]*\)\".*/\1/" in | uniq >want && test_cmp want qids &&
	grep -c "\"rank\":1}" out >ones && test $(cat ones) -eq 60
'
test_expect_success '--threads 1 and 4 and the default --batch-tokens give the same bytes' '
	rag-rerank --model "$m" --batch-tokens 16 --threads 1 in >out1 &&
	rag-rerank --model "$m" --batch-tokens 16 --threads 4 in >out4 &&
	cmp out1 out4 && cmp out out1
'
test_expect_success 'a group split over two inputs is one group' '
	head -n 5 in >a && tail -n +6 in >b &&
	rag-rerank --model "$m" --batch-tokens 16 a b >out2 && cmp out out2
'
test_expect_code 65 'a bad hit in a later block: exit 65 naming its line; groups before its group written' '
	awk "NR == 200 { print \"{\\\"qid\\\":\\\"x\\\"}\"; next } { print }" in >bad &&
	rag-rerank --model "$m" --batch-tokens 16 --threads 2 bad >outb 2>err; rc=$?
	grep_q "^rag-rerank: error: bad: line 200: no field .text.$" err &&
	g=$(sed -n 200p in | sed "s/^{\"qid\":\"\(q[0-9]*\)\".*/\1/") &&
	before=$(awk -v g="\"qid\":\"$g\"" "index(\$0, g) { print NR - 1; exit }" in) &&
	test $(wc -l <outb) -eq $before && exit $rc
'
test_expect_success '--skip-bad: that hit skipped and counted, everything else as without it' '
	rag-rerank --model "$m" --batch-tokens 16 --skip-bad bad >outs 2>err &&
	grep_q "skipped 1 bad record$" err && test $(wc -l <outs) -eq $((n - 1))
'
test_done
