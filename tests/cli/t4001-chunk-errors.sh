#!/bin/sh
# rag-chunk's failures: exit codes and messages that name the culprit.
. "$top_srcdir/tests/cli/lib.sh"
EX="$TESTDATA/examples"

test_expect_code 66 'a missing file is 66 and named' '
	rag-chunk --unit words no-such.txt 2>err; rc=$?; grep_q "no-such.txt" err; exit $rc
'
test_expect_code 66 'a directory is 66 and named' '
	mkdir d && rag-chunk --unit words d 2>err; rc=$?; grep_q "cannot open .d.: Is a directory" err; exit $rc
'
test_expect_code 66 'a missing JSON Lines file is 66' '
	rag-chunk --unit words no-such.jsonl 2>err; rc=$?; grep_q "no-such.jsonl" err; exit $rc
'
test_expect_code 65 'bad JSON on line 2 is 65 and names the line' '
	printf "{\"id\":\"a\",\"text\":\"x\"}\n{\"id\":\n" >bad.jsonl &&
	rag-chunk --unit words bad.jsonl >out 2>err; rc=$?; grep_q "bad.jsonl: line 2" err; exit $rc
'
test_expect_code 65 'a record without a text string is 65' '
	printf "{\"id\":\"a\",\"text\":3}\n" >bad.jsonl &&
	rag-chunk --unit words bad.jsonl 2>err; rc=$?; grep_q "line 1: no string field .text." err; exit $rc
'
test_expect_code 65 'meta that is not an object is 65' '
	printf "{\"id\":\"a\",\"text\":\"x\",\"meta\":[1]}\n" >bad.jsonl &&
	rag-chunk --unit words bad.jsonl 2>err; rc=$?; grep_q "line 1: .meta. is not an object" err; exit $rc
'
test_expect_code 65 'invalid UTF-8 in a JSON Lines record is 65' '
	printf "{\"id\":\"a\",\"text\":\"\377\"}\n" >bad.jsonl &&
	rag-chunk --unit words bad.jsonl 2>err; rc=$?; grep_q "line 1" err; exit $rc
'
test_expect_success '--skip-bad skips bad records and keeps the good ones' '
	printf "{\"id\":\"a\",\"text\":\"one\"}\nnot json\n{\"id\":\"b\",\"text\":5}\n{\"id\":\"c\",\"text\":\"two\"}\n" >mixed.jsonl &&
	rag-chunk --unit words --skip-bad mixed.jsonl >out 2>err &&
	test $(wc -l <out) -eq 2 && grep_q "skipped 2 bad records" err
'
test_expect_code 64 'overlap not smaller than the cap is a usage error' '
	rag-chunk --unit words --max-tokens 10 --overlap 10 "$EX/rag-chunk-guide.md"
'
test_expect_code 64 'tokens without a model is a usage error' '
	rag-chunk --unit tokens "$EX/rag-chunk-guide.md"
'
test_expect_code 64 'an unknown unit is a usage error' '
	rag-chunk --unit pages "$EX/rag-chunk-guide.md"
'
test_expect_code 64 'an unknown format is a usage error' '
	rag-chunk --format pdf "$EX/rag-chunk-guide.md"
'
test_expect_code 64 '--meta must be an object' '
	rag-chunk --unit words --meta "[1]" "$EX/rag-chunk-guide.md"
'
test_expect_code 64 '--doc-id with two inputs is a usage error' '
	rag-chunk --unit words --doc-id x "$EX/rag-chunk-guide.md" "$EX/rag-chunk-page.html"
'
test_expect_code 64 'a cap that leaves no room after the special tokens is a usage error' '
	rag-chunk --model "$FIXTURES/models/tiny-embed-mean-f16.gguf" --max-tokens 5 --overlap 0 "$EX/rag-chunk-guide.md" 2>err;
	rc=$?; grep_q "special tokens" err; exit $rc
'
test_expect_code 78 'a file that is not a model is 78' '
	printf "not a gguf" >bad.gguf && rag-chunk --model bad.gguf "$EX/rag-chunk-guide.md"
'
test_expect_code 74 'a full disk is 74' '
	rag-chunk --unit words "$EX/rag-chunk-guide.md" >/dev/full
'
test_expect_success 'a failed run leaves no output file' '
	rag-chunk --unit words -o out.jsonl "$EX/rag-chunk-guide.md" no-such.txt 2>err;
	test $? -eq 66 && test ! -e out.jsonl && test "$(ls | grep -c out.jsonl)" -eq 0
'
test_done
