#!/bin/sh
# rag-embed's pipeline (lib/embed_pipe): many blocks in flight keep input order,
# a bad record in a later block is reported or skipped as before, and the
# output is the same bytes for any --threads.
. "$top_srcdir/tests/cli/lib.sh"

m="$FIXTURES/models/tiny-embed-mean-f16.gguf"

# 2000 records of varied lengths, a blank line after every 100th;
# --batch-tokens 16 makes blocks of 1 KiB of input, so hundreds of them
awk 'BEGIN { for (i = 0; i < 2000; i++) { printf "{\"id\":%d,\"text\":\"record %d", i, i;
	for (w = 0; w < i % 17; w++) printf " word%d", (i * w) % 89; printf "\"}\n"; if (i % 100 == 99) print "" } }' >in
# the same with line 1500 (record 1485) broken
awk 'NR == 1500 { print "{\"id\":1485,\"text\":\"\"}"; next } { print }' in >bad

test_expect_success 'records come out in input order across block boundaries' '
	rag-embed --model "$m" --batch-tokens 16 --threads 2 in >out &&
	test $(wc -l <out) -eq 2000 &&
	sed "s/^{\"id\":\([0-9]*\),.*/\1/" out >ids && seq 0 1999 >want && test_cmp want ids
'
test_expect_success '--threads 1 and --threads 4 give the same bytes' '
	rag-embed --model "$m" --batch-tokens 16 --threads 1 in >out1 &&
	rag-embed --model "$m" --batch-tokens 16 --threads 4 in >out4 &&
	cmp out1 out4 && cmp out out1
'
test_expect_success '-o: the same .npy and ids for any --threads' '
	rag-embed --model "$m" --batch-tokens 16 --threads 1 -o v1.npy in &&
	rag-embed --model "$m" --batch-tokens 16 --threads 3 -o v3.npy in &&
	cmp v1.npy v3.npy && cmp v1.ids.jsonl v3.ids.jsonl &&
	test $(wc -l <v3.ids.jsonl) -eq 2000 && tail -n 1 v3.ids.jsonl | grep -q "\"id\":1999,.*\"row\":1999,"
'
test_expect_code 65 'a bad record in a later block: exit 65 naming its line, the records before it written' '
	rag-embed --model "$m" --batch-tokens 16 --threads 2 bad >out 2>err; rc=$?
	grep_q "^rag-embed: error: bad: line 1500: empty text$" err &&
	test $(wc -l <out) -eq 1485 && tail -n 1 out | grep -q "^{\"id\":1484," && exit $rc
'
test_expect_success '--skip-bad: the bad record in a later block skipped and counted, the rest in order' '
	rag-embed --model "$m" --batch-tokens 16 --threads 2 --skip-bad bad >out 2>err &&
	grep_q "bad: line 1500: empty text" err && grep_q "skipped 1 bad record$" err &&
	test $(wc -l <out) -eq 1999 && sed "s/^{\"id\":\([0-9]*\),.*/\1/" out >ids &&
	seq 0 1999 | grep -v "^1485\$" >want && test_cmp want ids
'
test_expect_success 'files in sequence keep their order; the second file numbers its own lines' '
	head -n 30 in >a && head -n 3 bad >b && echo "{\"id\":7}" >>b &&
	rag-embed --model "$m" --batch-tokens 16 --skip-bad a b >out 2>err &&
	grep_q "^rag-embed: warning: skipped: b: line 4: no field .text.$" err &&
	test $(wc -l <out) -eq 33
'
test_expect_code 74 'a write error is exit 74' '
	rag-embed --model "$m" --batch-tokens 16 in >/dev/full
'
test_done
