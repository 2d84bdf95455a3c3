#!/bin/sh
# rag-tokenize on bad input, bad models and bad options: the right exit codes and messages.
. "$top_srcdir/tests/cli/lib.sh"

bert="$FIXTURES/models/tiny-embed-mean-f16.gguf"

test_expect_code 64 'no model is a usage error' '
	echo "{}" | rag-tokenize
'
test_expect_code 64 'a bad --truncate is a usage error' '
	echo "{}" | rag-tokenize --model "$bert" --truncate 0
'
test_expect_code 64 'a bad --truncate-side is a usage error' '
	echo "{}" | rag-tokenize --model "$bert" --truncate-side middle
'
test_expect_code 64 '--decode with --pair is a usage error' '
	echo "{}" | rag-tokenize --model "$bert" --decode --pair p
'
test_expect_code 66 'a missing model is exit 66' '
	echo "{}" | rag-tokenize --model nope.gguf
'
test_expect_code 78 'a file that is not GGUF is exit 78' '
	echo hello >bad.gguf && echo "{}" | rag-tokenize --model bad.gguf
'
test_expect_code 66 'a missing input file is exit 66' '
	rag-tokenize --model "$bert" nope.jsonl
'
test_expect_code 65 'a record without the text field is exit 65' '
	printf "{\"text\":\"ok\"}\n{\"body\":\"x\"}\n" | rag-tokenize --model "$bert" >out 2>err
'
test_expect_success 'and the message names the line' '
	printf "{\"text\":\"ok\"}\n{\"body\":\"x\"}\n" | rag-tokenize --model "$bert" >out 2>err;
	grep_q "^rag-tokenize: error: <stdin>: line 2: field .text. is missing or not a string$" err &&
	test $(wc -l <out) -eq 1
'
test_expect_code 65 'invalid JSON is exit 65' '
	printf "{\"text\":\"ok\"\n" | rag-tokenize --model "$bert"
'
test_expect_code 65 'invalid UTF-8 in a JSON record is exit 65' '
	printf "{\"text\":\"a\377b\"}\n" | rag-tokenize --model "$bert" 2>err
'
test_expect_success 'invalid UTF-8 in plain lines becomes U+FFFD, as in Hugging Face' '
	printf "caf\303 ok\n" | rag-tokenize --model "$bert" --lines --no-special --offsets >out &&
	printf "{\"text\":\"caf\357\277\275 ok\",\"ids\":[24689,7929],\"offsets\":[[0,3],[5,7]]}\n" >want &&
	test_cmp want out &&
	printf "caf\303 ok\n" | rag-tokenize --model "$FIXTURES/models/tiny-qwen2-f16.gguf" --lines --offsets >out &&
	grep_q "\"ids\":\[66,1878,4210,12876\],\"offsets\":\[\[0,1\],\[1,3\],\[3,4\],\[4,7\]\]}" out
'
test_expect_code 65 'ids outside the vocabulary are exit 65 with --decode' '
	echo "{\"ids\":[1,99999999]}" | rag-tokenize --model "$bert" --decode
'
test_expect_success '--skip-bad skips and counts bad records' '
	printf "{\"text\":\"a\"}\n{\"x\":1}\nnot json\n{\"text\":\"b\"}\n" |
		rag-tokenize --model "$bert" --skip-bad >out 2>err &&
	test $(wc -l <out) -eq 2 &&
	grep_q "skipped 2 bad records" err
'
test_expect_code 74 'a failed write is exit 74' '
	echo "{\"text\":\"hello\"}" | rag-tokenize --model "$bert" >/dev/full
'
test_done
