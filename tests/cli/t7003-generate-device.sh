#!/bin/sh
# rag-generate and rag-eval's judge --device: without a GPU, cuda is exit 69
# with a reason and auto runs on the CPU (-v says so); with a GPU, auto picks
# it, greedy text equals the CPU's over the tokens where the reference margin
# is wide (the first 17 of the golden prompt: all above 0.09), every fixture
# type runs, and the judge answers there.
. "$top_srcdir/tests/cli/lib.sh"

M=$FIXTURES/models/tiny-qwen2
A=$TESTDATA/examples/rag-eval-answers.jsonl
P="The capital of France is"
export M A P

rag-generate --model "$M-f16.gguf" --device cuda -p x --max-tokens 1 >/dev/null 2>probe.err
gpu=$?

if [ $gpu -ne 0 ]; then
	test_expect_code 69 'no GPU: --device cuda is exit 69' '
		rag-generate --model "$M-f16.gguf" --device cuda -p x
	'
	test_expect_success 'no GPU: the message says why' '
		grep -q -e CUDA -e GPU probe.err
	'
	test_expect_code 69 'no GPU: RAG_DEVICE=cuda is exit 69 too' '
		RAG_DEVICE=cuda rag-generate --model "$M-f16.gguf" -p x
	'
	test_expect_success 'no GPU: --device auto runs on the CPU and -v says so' '
		rag-generate --model "$M-f16.gguf" --device auto -v -p "$P" --max-tokens 17 >out 2>err &&
		grep_q "on cpu" err &&
		rag-generate --model "$M-f16.gguf" --device cpu -p "$P" --max-tokens 17 >want && cmp out want
	'
	test_expect_code 69 'no GPU: rag-eval --device cuda is exit 69' '
		rag-eval --answers "$A" --judge "$M-f16.gguf" --max-tokens 4 -m faithfulness --device cuda >out
	'
	test_expect_success 'no GPU: rag-eval -v says the judge runs on the CPU' '
		rag-eval --answers "$A" --judge "$M-f16.gguf" --max-tokens 4 -m faithfulness -v >out 2>err &&
		grep_q "judge on cpu" err
	'
else
	test_expect_success 'GPU: -v names the device; auto picks the GPU' '
		rag-generate --model "$M-f16.gguf" --device auto -v -p "$P" --max-tokens 2 >out 2>err &&
		grep_q "on cuda" err
	'
	test_expect_success 'GPU F16: greedy text equals the CPU'"'"'s over the wide-margin tokens' '
		rag-generate --model "$M-f16.gguf" --device cuda -p "$P" --max-tokens 17 >out &&
		rag-generate --model "$M-f16.gguf" --device cpu -p "$P" --max-tokens 17 >want && cmp out want
	'
	for t in bf16 q8_0; do
		test_expect_success "GPU $t: generates, the same text twice" '
			rag-generate --model "$M-'$t'.gguf" --device cuda -p "$P" --max-tokens 12 >a &&
			rag-generate --model "$M-'$t'.gguf" --device cuda -p "$P" --max-tokens 12 >b &&
			test -s a && cmp a b
		'
	done
	test_expect_success 'GPU: a prompt longer than one prefill batch, then decode' '
		python3 -c "print(\" and\".join([\"x\"] * 600))" >long &&
		rag-generate --model "$M-q8_0.gguf" --device cuda --ctx-size 2048 --max-tokens 4 <long >out
	'
	test_expect_success 'GPU: rag-eval judges there (-v says so)' '
		rag-eval --answers "$A" --judge "$M-f16.gguf" --max-tokens 4 -m faithfulness --device cuda -v >out 2>err &&
		grep_q "judge on cuda" err && test -s out
	'
fi
test_done
