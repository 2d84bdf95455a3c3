#!/bin/sh
# rag-generate plain mode on tiny-qwen2: greedy text equals Hugging Face's,
# stop strings (also across tokens), seeded sampling, and the error exits.
. "$top_srcdir/tests/cli/lib.sh"

# the CPU engine: its greedy text is compared with transformers' token for
# token (the GPU's half precision may differ at near-ties: t7003 tests it)
RAG_DEVICE=cpu
export RAG_DEVICE

M=$FIXTURES/models/tiny-qwen2-f16.gguf
# greedy_text of the first golden prompt ("The capital of France is")
GREEDY=$(python3 -c "import json;print(json.load(open('$FIXTURES/golden/tiny-qwen2.json'))['rows'][0]['greedy_text'])")
export M GREEDY

test_expect_success 'greedy text from -p equals transformers greedy_text' '
	rag-generate --model "$M" --threads 1 -p "The capital of France is" --max-tokens 24 >out &&
	printf "%s\n" "$GREEDY" >want && cmp out want
'

test_expect_success 'the prompt can come from stdin; Q8_0 runs too' '
	printf "The capital of France is" | rag-generate --model "$M" --max-tokens 24 >out &&
	printf "%s\n" "$GREEDY" >want && cmp out want &&
	rag-generate --model "$FIXTURES/models/tiny-qwen2-q8_0.gguf" -p "Hello" --max-tokens 4 >q8 &&
	test -s q8
'

test_expect_success 'stop strings cut the text, also across a token boundary' '
	rag-generate --model "$M" -p "The capital of France is" --max-tokens 24 --stop ucker >out &&
	printf " limit limit limit limit limit limit\n" >want && cmp out want &&
	rag-generate --model "$M" -p "The capital of France is" --max-tokens 24 --stop "t li" --stop zzz >out &&
	printf " limi\n" >want && cmp out want
'

test_expect_success 'same seed, same text; temperature sampling differs from greedy' '
	rag-generate --model "$M" -p "Once" --temperature 1.5 --top-k 50 --seed 3 --max-tokens 12 >a &&
	rag-generate --model "$M" -p "Once" --temperature 1.5 --top-k 50 --seed 3 --max-tokens 12 >b &&
	rag-generate --model "$M" -p "Once" --temperature 1.5 --top-k 50 --seed 4 --max-tokens 12 >c &&
	rag-generate --model "$M" -p "Once" --max-tokens 12 >g &&
	cmp a b && ! cmp -s a c && ! cmp -s a g
'

test_expect_success '-v reports the speed on stderr' '
	rag-generate --model "$M" -p "Hi" --max-tokens 2 -v >out 2>err &&
	grep_q "prompt tokens in" err
'

test_expect_code 65 'a prompt longer than the context is exit 65' '
	rag-generate --model "$M" --ctx-size 16 -p "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen" 2>err;
	rc=$?; grep_q "does not fit the 16-token context" err && exit $rc
'

test_expect_code 78 'a non-decoder model is exit 78' '
	rag-generate --model "$FIXTURES/models/tiny-embed-mean-f16.gguf" -p x 2>err;
	rc=$?; grep_q "architecture .bert. is not a decoder" err && exit $rc
'

test_expect_code 74 'a write error is exit 74' '
	rag-generate --model "$M" -p x --max-tokens 3 >/dev/full
'

test_expect_code 64 'no model is a usage error' '
	rag-generate -p x
'

test_expect_code 64 'a bad sampling value is a usage error' '
	rag-generate --model "$M" -p x --top-p 0
'

test_expect_code 65 'a template using an unsupported feature is exit 65 naming it' '
	printf "{%% macro m() %%}{%% endmacro %%}" >t.jinja &&
	rag-generate --model "$M" --template t.jinja -p x 2>err;
	rc=$?; grep_q "unsupported template feature .{% macro %}." err && exit $rc
'

test_expect_code 66 'a missing template file is exit 66' '
	rag-generate --model "$M" --template nope.jinja -p x
'

test_expect_success '--template wraps the prompt (ChatML), --no-chat does not' '
	rag-generate --model "$M" --template "$TESTDATA/generate/templates/chatml.jinja" -p "Hi" --max-tokens 6 >chat &&
	rag-generate --model "$M" --template "$TESTDATA/generate/templates/chatml.jinja" --no-chat -p "Hi" --max-tokens 6 >raw &&
	rag-generate --model "$M" -p "Hi" --max-tokens 6 >plain &&
	cmp raw plain && ! cmp -s chat plain
'

test_done
