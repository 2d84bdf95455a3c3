#!/bin/sh
# rag-rerank on bad hits and bad models: clear messages, documented exit codes.
. "$top_srcdir/tests/cli/lib.sh"

m="$FIXTURES/models/tiny-rerank-q8_0.gguf"
hit() { printf '{"qid":"1","query":"%s","text":"%s"}\n' "$1" "$2"; }

test_expect_code 65 'an empty passage is exit 65, naming the line' '
	{ hit q a; hit q ""; } | rag-rerank --model "$m" >out 2>err; rc=$?
	grep_q "^rag-rerank: error: <stdin>: line 2: passage: empty text$" err && exit $rc
'
test_expect_code 65 'a whitespace-only passage is exit 65' '
	hit q "   " | rag-rerank --model "$m" 2>err; rc=$?; grep_q "only whitespace" err && exit $rc
'
test_expect_code 65 'an empty query is exit 65' '
	hit "" a | rag-rerank --model "$m" 2>err; rc=$?; grep_q "query: empty text" err && exit $rc
'
test_expect_code 65 'a hit without a passage is exit 65' '
	echo "{\"qid\":1,\"query\":\"q\"}" | rag-rerank --model "$m" 2>err; rc=$?; grep_q "no field .text." err && exit $rc
'
test_expect_code 65 'a hit without a qid is exit 65' '
	echo "{\"query\":\"q\",\"text\":\"a\"}" | rag-rerank --model "$m" 2>err; rc=$?; grep_q "needs a qid" err && exit $rc
'
test_expect_code 65 'a hit without a query text is exit 65' '
	echo "{\"qid\":1,\"text\":\"a\"}" | rag-rerank --model "$m" 2>err; rc=$?; grep_q "no query text" err && exit $rc
'
test_expect_code 65 'a qid missing from --queries is exit 65' '
	echo "{\"qid\":2,\"text\":\"q\"}" >q && echo "{\"qid\":1,\"text\":\"a\"}" | rag-rerank --model "$m" --queries q 2>err; rc=$?
	grep_q "qid .1. is not in the queries file" err && exit $rc
'
test_expect_success '--skip-bad skips and counts them' '
	{ hit q a; hit q ""; echo "{bad"; hit q b; } | rag-rerank --model "$m" --skip-bad >out 2>err &&
	test $(wc -l <out) -eq 2 && grep_q "skipped 2 bad records" err
'
test_expect_code 78 'an embedding model is refused with exit 78' '
	hit q a | rag-rerank --model "$FIXTURES/models/tiny-embed-mean-f16.gguf" 2>err; rc=$?
	grep_q "is an embedding model, not a cross-encoder (reranker)" err && exit $rc
'
test_expect_code 78 'a decoder is refused with exit 78' '
	hit q a | rag-rerank --model "$FIXTURES/models/tiny-qwen2-f16.gguf" 2>err; rc=$?
	grep_q "qwen2" err && exit $rc
'
test_expect_code 66 'a missing model is exit 66' 'hit q a | rag-rerank --model nope.gguf'
test_expect_code 66 'a missing queries file is exit 66' 'hit q a | rag-rerank --model "$m" --queries nope.jsonl'
# (on a machine with a GPU, t7001 checks --device cuda instead)
if ! hit q a | rag-rerank --model "$m" --device cuda >/dev/null 2>&1; then
	test_expect_code 69 '--device cuda is exit 69' 'hit q a | rag-rerank --model "$m" --device cuda'
fi
test_expect_code 74 'a full disk is exit 74' 'hit q a | rag-rerank --model "$m" >/dev/full'
test_expect_code 64 'a bad --score is a usage error' 'rag-rerank --model "$m" --score prob </dev/null'
test_expect_code 64 '--stride without --window is a usage error' 'rag-rerank --model "$m" --stride 4 </dev/null'
test_expect_code 64 '--top-k 0 is a usage error' 'rag-rerank --model "$m" --top-k 0 </dev/null'
test_expect_code 64 'no model is a usage error' 'rag-rerank </dev/null'
test_done
