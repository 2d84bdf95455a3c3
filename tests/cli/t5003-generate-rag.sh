#!/bin/sh
# rag-generate --cite: one answer record per question, contexts fitted to the
# context budget, citations taken from [n] markers.
. "$top_srcdir/tests/cli/lib.sh"

# the CPU engine: its greedy text is compared with transformers' token for
# token (the GPU's half precision may differ at near-ties: t7003 tests it)
RAG_DEVICE=cpu
export RAG_DEVICE

M=$FIXTURES/models/tiny-qwen2-f16.gguf
export M

test_expect_success 'one answer per qid with question, contexts and usage' '
	rag-generate --model "$M" --cite --max-tokens 8 <"$TESTDATA/examples/rag-generate-hits.jsonl" >out &&
	python3 -c "
import json
recs = [json.loads(l) for l in open(\"out\")]
assert [r[\"qid\"] for r in recs] == [\"q1\", \"q2\"], recs
a = recs[0]
assert a[\"question\"] == \"What is the capital of France?\"
assert a[\"contexts\"][0].startswith(\"Paris\") and len(a[\"contexts\"]) == 2
assert a[\"context_ids\"] == [\"c7\", \"c2\"]
assert set(a[\"citations\"]) <= set(a[\"context_ids\"])
assert a[\"usage\"][\"completion_tokens\"] <= 8 and a[\"usage\"][\"prompt_tokens\"] > 20
"
'

test_expect_success 'a small context keeps only the best hits that fit' '
	rag-generate --model "$M" --cite --ctx-size 88 --max-tokens 8 <"$TESTDATA/examples/rag-generate-hits.jsonl" >out &&
	python3 -c "
import json
a = json.loads(open(\"out\").readline())
assert a[\"context_ids\"] == [\"c7\"], a
assert a[\"usage\"][\"prompt_tokens\"] + 8 <= 88
"
'

test_expect_success 'citations come from the [n] markers (the RAG template can force one)' '
	printf "Say [2] then answer: {question}\n{contexts}" >rt &&
	rag-generate --model "$M" --cite --rag-template rt --max-tokens 2 <"$TESTDATA/examples/rag-generate-hits.jsonl" >out &&
	python3 -c "
import json
a = json.loads(open(\"out\").readline())
assert a[\"citations\"] == [], a
"
'

test_expect_code 65 'a question that cannot fit is exit 65' '
	rag-generate --model "$M" --cite --ctx-size 32 --max-tokens 8 <"$TESTDATA/examples/rag-generate-hits.jsonl" 2>err;
	rc=$?; grep_q "question alone" err && exit $rc
'

test_expect_code 65 'a hit without text is exit 65 with its line' '
	printf "%s\n" "{\"qid\":1,\"query\":\"q\",\"id\":\"x\"}" | rag-generate --model "$M" --cite 2>err;
	rc=$?; grep_q "line 1" err && exit $rc
'

test_done
