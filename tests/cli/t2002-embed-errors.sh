#!/bin/sh
# rag-embed on bad input and bad models: clear messages, documented exit codes.
. "$top_srcdir/tests/cli/lib.sh"

m="$FIXTURES/models/tiny-embed-mean-q8_0.gguf"

test_expect_code 65 'an empty text is exit 65' '
	printf "{\"text\":\"ok\"}\n{\"text\":\"\"}\n" | rag-embed --model "$m" >out 2>err
'
test_expect_success 'and the message names the input, line and reason' '
	printf "{\"text\":\"ok\"}\n{\"text\":\"\"}\n" | rag-embed --model "$m" >out 2>err
	grep_q "^rag-embed: error: <stdin>: line 2: empty text$" err
'
test_expect_code 65 'whitespace-only text is exit 65' '
	printf "{\"text\":\" \\\\t\\\\n \"}\n" | rag-embed --model "$m" 2>err && false ||
	{ rc=$?; grep -q "line 1: text is only whitespace" err || { cat err; exit 1; }; exit $rc; }
'
test_expect_code 65 'a record without the field is exit 65' '
	echo "{\"body\":\"x\"}" | rag-embed --model "$m" 2>err; rc=$?
	grep_q "line 1: no field .text." err && exit $rc
'
test_expect_code 65 'a non-string field is exit 65' '
	echo "{\"text\":42}" | rag-embed --model "$m" 2>err; rc=$?
	grep_q "line 1: field .text. is not a string" err && exit $rc
'
test_expect_code 65 'invalid JSON is exit 65' 'echo "{nope" | rag-embed --model "$m"'
test_expect_success '--skip-bad skips them all, counts them and keeps the good ones in order' '
	printf "%s\n" "{\"text\":\"a\"}" "{\"text\":\"\"}" "{\"text\":\"  \"}" "{\"x\":1}" "{bad" "{\"text\":\"b\"}" |
		rag-embed --model "$m" --skip-bad >out 2>err &&
	test $(wc -l <out) -eq 2 && grep_q "^{\"text\":\"a\"" out && tail -n 1 out | grep -q "^{\"text\":\"b\"" &&
	grep_q "skipped 4 bad records" err
'
test_expect_code 65 '--no-truncate makes a long text exit 65, naming the line' '
	printf "{\"text\":\"a\"}\n{\"text\":\"one two three four five\"}\n" |
		rag-embed --model "$m" --max-tokens 4 --no-truncate >out 2>err; rc=$?
	grep_q "line 2: text has 7 tokens, more than the limit of 4" err && exit $rc
'
test_expect_code 78 'a reranker is refused with exit 78' '
	echo "{\"text\":\"a\"}" | rag-embed --model "$FIXTURES/models/tiny-rerank-f16.gguf" 2>err; rc=$?
	grep_q "is a cross-encoder (reranker), not an embedding model" err && exit $rc
'
test_expect_code 78 'a decoder without a pooling type is refused with exit 78, naming its architecture' '
	echo "{\"text\":\"a\"}" | rag-embed --model "$FIXTURES/models/tiny-qwen2-f16.gguf" 2>err; rc=$?
	grep_q "is a decoder without qwen2.pooling_type" err && exit $rc
'
test_expect_code 78 'a vocabulary-only file is refused with exit 78' '
	echo "{\"text\":\"a\"}" | rag-embed --model "$FIXTURES/vocab/ggml-vocab-bert-bge.gguf"
'
test_expect_code 78 'a file that is not GGUF is exit 78' 'echo x >x.gguf && echo "{\"text\":\"a\"}" | rag-embed --model x.gguf'
test_expect_code 66 'a missing model is exit 66' 'echo "{\"text\":\"a\"}" | rag-embed --model nope.gguf'
test_expect_code 66 'a missing input file is exit 66' 'rag-embed --model "$m" nope.jsonl'
# (on a machine with a GPU, t7001 checks --device cuda instead)
if ! echo '{"text":"a"}' | rag-embed --model "$m" --device cuda >/dev/null 2>&1; then
	test_expect_code 69 '--device cuda is exit 69 without GPU encoders' '
		echo "{\"text\":\"a\"}" | rag-embed --model "$m" --device cuda 2>err; rc=$?
		grep_q "CUDA\|GPU" err && exit $rc
	'
fi
test_expect_code 74 'a full disk on standard output is exit 74' '
	echo "{\"text\":\"a\"}" | rag-embed --model "$m" >/dev/full
'
test_expect_code 64 'no model is a usage error' 'echo "{\"text\":\"a\"}" | rag-embed'
test_expect_code 64 'a bad pooling is a usage error' 'rag-embed --model "$m" --pooling rank </dev/null'
test_expect_code 64 'a bad mode is a usage error' 'rag-embed --model "$m" --mode passage </dev/null'
test_expect_code 64 'a bad --max-tokens is a usage error' 'rag-embed --model "$m" --max-tokens 0 </dev/null'
test_expect_success 'a failed run leaves no -o files behind' '
	mkdir o && cd o && { echo "{\"text\":\"\"}" | rag-embed --model "$m" -o v.npy 2>../err; test $? -eq 65; } &&
	test -z "$(ls -A)"
'
test_expect_success 'empty input gives empty output' '
	rag-embed --model "$m" </dev/null >out && test ! -s out
'
test_done
