#!/bin/sh
# rag-eval --answers on bad input: usage errors (64), bad records named by
# line (65, or skipped with --skip-bad), missing files (66), bad models and
# caches (78), write errors (74).
. "$top_srcdir/tests/cli/lib.sh"

M="$RAG_FIXTURES/models"
J="$M/tiny-qwen2-f16.gguf"
E="$M/tiny-embed-mean-f16.gguf"
printf '%s\n' '{"qid":"g1","question":"Who?","answer":"Me.","contexts":["I did it."],"reference":"Me."}' >good.jsonl
ev() { f=$1; shift; rag-eval --answers "$f" --judge "$J" --max-tokens 4 -m faithfulness --cache c.db "$@"; }

test_expect_code 0 'the good record evaluates' 'ev good.jsonl >out'

test_expect_code 64 'no --judge' 'rag-eval --answers good.jsonl -m faithfulness'
test_expect_code 64 'an answer metric without --answers' 'rag-eval -m faithfulness --judge "$J"'
test_expect_code 64 '--answers with --qrels' 'ev good.jsonl --qrels q'
test_expect_code 64 '--answers with a retrieval measure' 'ev good.jsonl -m map'
test_expect_code 64 '--answers with a RUN file' 'ev good.jsonl run.txt'
test_expect_code 64 'a gate on a retrieval measure' 'ev good.jsonl --min map=0.5'
test_expect_code 64 '--max-tokens 0' 'ev good.jsonl --max-tokens 0'

test_expect_success 'answer_relevancy asked for without --embed: 64, named' '
	rag-eval --answers good.jsonl --judge "$J" -m answer_relevancy 2>err; test $? -eq 64 &&
	grep_q "answer_relevancy needs an embedding model (--embed MODEL)" err
'

test_expect_success 'contexts that are not an array: 65, line named; --skip-bad skips it' '
	cat good.jsonl "$RAG_TESTDATA/ragas/answers-bad.jsonl" >bad.jsonl &&
	ev bad.jsonl >/dev/null 2>err; test $? -eq 65 &&
	grep_q "bad.jsonl: line 2: field .contexts. is not an array" err &&
	ev bad.jsonl --skip-bad >out 2>/dev/null &&
	grep_q "^num_records  *	all	1$" out
'

test_expect_success 'a context that is neither a string nor {text}: 65' '
	printf "%s\n" "{\"question\":\"q\",\"answer\":\"a\",\"contexts\":[\"x\",{\"id\":\"c2\"}]}" >bad2.jsonl &&
	ev bad2.jsonl >/dev/null 2>err; test $? -eq 65 &&
	grep_q "line 1: contexts\[1\] is neither a string nor an object with a .text. string" err
'

test_expect_success 'an answer that is not a string: 65' '
	printf "%s\n" "{\"question\":\"q\",\"answer\":42,\"contexts\":[]}" >bad3.jsonl &&
	ev bad3.jsonl >/dev/null 2>err; test $? -eq 65 &&
	grep_q "line 1: field .answer. is not a string" err
'

test_expect_code 65 'invalid JSON' 'printf "{\"question\":\n" >bad4.jsonl && ev bad4.jsonl'
test_expect_code 66 'a missing answers file' 'ev no-such-file.jsonl'
test_expect_code 66 'a missing judge' 'rag-eval --answers good.jsonl --judge nope.gguf -m faithfulness'

test_expect_success 'a judge that is not a decoder: 78' '
	rag-eval --answers good.jsonl --judge "$E" -m faithfulness 2>err; test $? -eq 78
'

test_expect_success 'a judge that is not a GGUF: 78' '
	printf "not a model" >bad.gguf &&
	rag-eval --answers good.jsonl --judge bad.gguf -m faithfulness 2>err; test $? -eq 78
'

test_expect_success 'a cache that is not an SQLite file: 78, named' '
	printf "plain text, not a database; long enough to fill a header page of sqlite\n" >notdb &&
	rag-eval --answers good.jsonl --judge "$J" -m faithfulness --cache notdb 2>err; test $? -eq 78 &&
	grep_q "notdb. is not a usable verdict cache" err
'

test_expect_code 74 'a write error' 'ev good.jsonl >/dev/full'

test_expect_success 'a missing record field makes the metric unscored, not 0' '
	printf "%s\n" "{\"qid\":\"n1\",\"question\":\"q\",\"answer\":\"a\"}" >nofield.jsonl &&
	ev nofield.jsonl --json -m context_recall >out 2>err &&
	grep_q "\"faithfulness\":null" out &&
	grep_q "\"scored\":{\"faithfulness\":0,\"context_recall\":0}" out &&
	grep_q "line 1 (n1): context_recall not computable: no reference" err
'

test_done
