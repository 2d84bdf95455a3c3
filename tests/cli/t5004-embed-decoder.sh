#!/bin/sh
# rag-embed with a decoder model: last-token pooling on request, the refusals
# (no pooling type, per-token vectors) and their exit codes, the GPU.  The
# values themselves are checked against Hugging Face in tests/unit/test-embed-decoder.c.
. "$top_srcdir/tests/cli/lib.sh"

q="$FIXTURES/models/tiny-qwen2-f16.gguf"

test_expect_success '--pooling last embeds with a decoder: 64 floats of unit length' '
	echo "{\"id\":7,\"text\":\"The capital of France is Paris.\"}" |
		rag-embed --model "$q" --pooling last >out &&
	python3 -c "
import json, math, sys
r = json.loads(open(\"out\").read())
v = r[\"embedding\"]
assert r[\"id\"] == 7 and len(v) == 64 and r[\"n_tokens\"] == 7 and r[\"truncated\"] is False, r
assert abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-5
"
'
test_expect_success 'a vector does not depend on the other texts, and mean differs from last' '
	printf "%s\n" "{\"text\":\"Paris\"}" "{\"text\":\"The capital of France is Paris.\"}" |
		rag-embed --model "$q" --pooling last >two &&
	echo "{\"text\":\"The capital of France is Paris.\"}" | rag-embed --model "$q" --pooling last >one &&
	tail -n 1 two | cmp - one &&
	echo "{\"id\":7,\"text\":\"The capital of France is Paris.\"}" |
		rag-embed --model "$q" --pooling mean >mean &&
	! cmp -s mean out
'
test_expect_success '--prefix puts an instruction in front (more tokens, another vector)' '
	echo "{\"text\":\"capital of France\"}" |
		rag-embed --model "$q" --pooling last --prefix "Instruct: find it
Query:" >p &&
	grep_q "\"n_tokens\":10," p
'
test_expect_code 78 'without a pooling type in the file or on the command line: exit 78' '
	echo "{\"text\":\"a\"}" | rag-embed --model "$q" 2>err; rc=$?
	grep_q "not an embedding model" err && exit $rc
'
test_expect_code 64 'per-token vectors are not available for decoders: exit 64' '
	echo "{\"text\":\"a\"}" | rag-embed --model "$q" --pooling none 2>err; rc=$?
	grep_q "pooling .none. is not available for decoder models" err && exit $rc
'
# --device cuda: the GPU decoder where there is one (its values are checked in
# test-embed-decoder's golden_gpu), exit 69 where there is none
if echo '{"text":"a"}' | rag-embed --model "$FIXTURES/models/tiny-embed-mean-f16.gguf" --device cuda >/dev/null 2>&1; then
	test_expect_success '--device cuda embeds with the GPU decoder, as the CPU does' '
		echo "{\"text\":\"The capital of France is Paris.\"}" >in &&
		rag-embed --model "$q" --pooling last --device cuda in >gpu &&
		rag-embed --model "$q" --pooling last --device cpu in >cpu &&
		python3 -c "
import json
a = json.loads(open(\"gpu\").read())[\"embedding\"]; b = json.loads(open(\"cpu\").read())[\"embedding\"]
assert sum(x * y for x, y in zip(a, b)) >= 0.999
"
	'
else
	test_expect_code 69 '--device cuda without a GPU: exit 69' '
		echo "{\"text\":\"a\"}" | rag-embed --model "$q" --pooling last --device cuda 2>err; rc=$?
		grep_q "CUDA\|GPU" err && exit $rc
	'
fi
test_expect_code 65 'a text longer than --max-tokens with --no-truncate is a bad record' '
	echo "{\"text\":\"one two three four five\"}" |
		rag-embed --model "$q" --pooling last --max-tokens 3 --no-truncate 2>err; rc=$?
	grep_q "line 1: text has 5 tokens, more than the limit of 3" err && exit $rc
'
test_done
