#!/bin/sh
# rag-eval --answers end to end with the tiny fixture models (random weights:
# arbitrary verdicts that must be deterministic and well-formed): every
# output form, the cache (a rerun is served from it and identical; a changed
# answer recomputes only its own verdicts), unscored metrics named, gates.
. "$top_srcdir/tests/cli/lib.sh"

M="$RAG_FIXTURES/models"
J="$M/tiny-qwen2-f16.gguf"
E="$M/tiny-embed-mean-f16.gguf"
A="$RAG_TESTDATA/ragas/answers.jsonl"
# run's first argument is the answers file; the rest are passed on
run() { f=$1; shift; rag-eval --answers "$f" --judge "$J" --embed "$E" --max-tokens 8 "$@"; }

test_expect_success 'first run: JSON per record and summary, all from the judge' '
	run "$A" --cache c.db --json -q >out1 2>err1 &&
	test $(grep -c "^{\"qid\"" out1) -eq 3 &&
	tail -n 1 out1 >sum1 &&
	grep_q "\"records\":3" sum1 &&
	grep_q "\"hits\":0," sum1 &&
	! grep_q "\"judge_calls\":0[,}]" sum1 &&
	grep_q "\"judge_hash\":\"fnv1a64:[0-9a-f]\{16\}:[0-9]*\"" sum1
'

test_expect_success 'every figure is a number in [0, 1] or null with a named reason' '
	grep "^{\"qid\"" out1 | sed "s/,\"unscored\".*//" | grep -o "\"\(faithfulness\|answer_relevancy\|context_precision\|context_recall\|factual_correctness\)\":[^,}]*" >vals &&
	test $(wc -l <vals) -eq 15 &&
	! grep -v ":\(null\|0\|1\|0\.[0-9]*\|-0\.[0-9]*\)$" vals
'

test_expect_success 'a record without contexts or reference: unscored, named by metric and record' '
	grep "^{\"qid\":\"q3\"" out1 >q3 &&
	grep_q "\"faithfulness\":null" q3 &&
	grep_q "\"unscored\":{\"faithfulness\":{\"kind\":\"not_computable\",\"why\":\"no contexts\"}" q3 &&
	grep_q "\"context_recall\":{\"kind\":\"not_computable\",\"why\":\"no reference\"}" q3 &&
	grep_q "{\"metric\":\"factual_correctness\",\"qid\":\"q3\",\"line\":3,\"kind\":\"not_computable\",\"why\":\"no reference\"}" sum1 &&
	grep_q "line 3 (q3): faithfulness not computable: no contexts" err1
'

test_expect_success 'rerun: identical figures, served entirely from the cache' '
	run "$A" --cache c.db --json -q >out2 2>/dev/null &&
	head -n 3 out1 >r1 && head -n 3 out2 >r2 && test_cmp r1 r2 &&
	tail -n 1 out2 >sum2 &&
	grep_q "\"misses\":0," sum2 &&
	grep_q "\"judge_calls\":0}" sum2 &&
	! grep_q "\"hits\":0," sum2 &&
	sed "s/\"cache\":.*//" sum1 >s1 && sed "s/\"cache\":.*//" sum2 >s2 && test_cmp s1 s2
'

test_expect_success 'without a cache the figures are the same (deterministic)' '
	run "$A" --json -q >out3 2>/dev/null &&
	head -n 3 out3 >r3 && test_cmp r1 r3
'

test_expect_success 'a changed answer recomputes only its own verdicts' '
	sed "s/I don.t know\./Shakespeare wrote it./" "$A" >changed.jsonl &&
	! cmp -s "$A" changed.jsonl &&
	run changed.jsonl --cache c.db --json -q >out4 2>/dev/null &&
	tail -n 1 out4 >sum4 &&
	! grep_q "\"misses\":0," sum4 &&
	! grep_q "\"hits\":0," sum4 &&
	grep "^{\"qid\":\"q1\"" out1 >a1 && grep "^{\"qid\":\"q1\"" out4 >b1 && test_cmp a1 b1 &&
	grep "^{\"qid\":\"q3\"" out1 >a3 && grep "^{\"qid\":\"q3\"" out4 >b3 && test_cmp a3 b3 &&
	run changed.jsonl --cache c.db --json >out5 2>/dev/null &&
	grep_q "\"misses\":0," out5
'

test_expect_success 'another --max-tokens is another judge answer (not a cache hit)' '
	run "$A" --cache c.db -m faithfulness --max-tokens 9 --json >mt 2>/dev/null &&
	! grep_q "\"misses\":0," mt
'

test_expect_success 'table form, -m selects metrics' '
	run "$A" --cache c.db -m faithfulness -m context_recall >tab 2>/dev/null &&
	grep_q "^faithfulness  *	all	[01]\.[0-9]\{4\}$" tab &&
	grep_q "^context_recall  *	all	" tab &&
	grep_q "^num_records  *	all	3$" tab &&
	grep_q "^unscored_context_recall	all	1$" tab &&
	! grep_q "answer_relevancy" tab &&
	run "$A" --cache c.db -m faithfulness -q >tabq 2>/dev/null &&
	grep_q "^faithfulness  *	q3	-$" tabq
'

test_expect_success 'gates: a failing minimum exits 1 and names the metric' '
	run "$A" --cache c.db -m faithfulness --min faithfulness=1.5 >/dev/null 2>err; test $? -eq 1 &&
	grep_q "gate failed: faithfulness of .*answers.jsonl. is [01]\.[0-9]*, below 1.5" err &&
	run "$A" --cache c.db -m faithfulness --min faithfulness=0 >/dev/null 2>&1 &&
	run "$A" --cache c.db -m faithfulness --json --min faithfulness=1.5 >g 2>/dev/null; test $? -eq 1 &&
	grep_q "\"gates\":\[{\"measure\":\"faithfulness\",\"min\":1.5,.*\"pass\":false}\]" g
'

test_expect_success 'a replaced prompt (--prompts) is asked again, the others come from the cache' '
	mkdir -p prompts &&
	printf "Is the statement supported by the context? Answer 1 or 0.\n\n{contexts}\n\n{statement}\n" >prompts/faithfulness.txt &&
	run "$A" --cache c.db -m faithfulness --prompts prompts --json >p 2>/dev/null &&
	! grep_q "\"misses\":0," p &&
	! grep_q "\"hits\":0," p
'

test_expect_success 'without --embed, answer_relevancy is left out with a warning' '
	rag-eval --answers "$A" --judge "$J" --max-tokens 8 --cache c.db >t 2>err &&
	! grep_q answer_relevancy t &&
	grep_q "answer_relevancy left out: no --embed MODEL" err
'

test_expect_success 'a run killed mid-way leaves a usable cache' '
	rag-eval --answers "$A" --judge "$J" --embed "$E" --max-tokens 8 --cache k.db >/dev/null 2>&1 &
	pid=$! && sleep 1 && kill -9 $pid; wait $pid;
	run "$A" --cache k.db --json -q >outk 2>/dev/null &&
	head -n 3 outk >rk && test_cmp r1 rk
'

test_done
