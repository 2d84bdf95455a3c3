#!/bin/sh
# rag-generate --mode record: fields pass through, answers added; bad records.
. "$top_srcdir/tests/cli/lib.sh"

# the CPU engine: its greedy text is compared with transformers' token for
# token (the GPU's half precision may differ at near-ties: t7003 tests it)
RAG_DEVICE=cpu
export RAG_DEVICE

M=$FIXTURES/models/tiny-qwen2-f16.gguf
GREEDY=$(python3 -c "import json;print(json.load(open('$FIXTURES/golden/tiny-qwen2.json'))['rows'][0]['greedy_text'])")
export M GREEDY

test_expect_success 'one output record per input, unknown fields kept, greedy answer' '
	printf "%s\n" "{\"id\":\"a\",\"prompt\":\"The capital of France is\",\"meta\":{\"x\":[1,2]}}" \
		"{\"id\":\"b\",\"prompt\":\"Hello\"}" >in &&
	rag-generate --model "$M" --mode record --max-tokens 24 <in >out &&
	python3 -c "
import json, os
recs = [json.loads(l) for l in open(\"out\")]
assert len(recs) == 2, recs
a = recs[0]
assert a[\"id\"] == \"a\" and a[\"meta\"] == {\"x\": [1, 2]}
assert a[\"answer\"] == os.environ[\"GREEDY\"], a[\"answer\"]
assert a[\"finish\"] == \"length\" and a[\"usage\"][\"prompt_tokens\"] == 5
assert a[\"usage\"][\"completion_tokens\"] == 24 and a[\"usage\"][\"seconds\"] >= 0
"
'

test_expect_success 'messages go through the chat template' '
	printf "%s\n" "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"}]}" >in &&
	rag-generate --model "$M" --mode record --template "$TESTDATA/generate/templates/chatml.jinja" --max-tokens 3 <in >out &&
	python3 -c "
import json
r = json.loads(open(\"out\").read())
assert r[\"usage\"][\"prompt_tokens\"] > 10, r
"
'

test_expect_code 65 'a record without prompt or messages is exit 65 naming the line' '
	printf "%s\n" "{\"prompt\":\"a\"}" "{\"text\":\"b\"}" >in &&
	rag-generate --model "$M" --mode record --max-tokens 1 <in >out 2>err;
	rc=$?; grep_q "line 2" err && test $(wc -l <out) -eq 1 && exit $rc
'

test_expect_success '--skip-bad goes on past bad records and long prompts' '
	printf "%s\n" "{\"prompt\":\"a\"}" "not json" "{\"prompt\":\"a b c d e f g h i j k l m n o p q r s t u v w\"}" "{\"prompt\":\"c\"}" >in &&
	rag-generate --model "$M" --mode record --ctx-size 16 --max-tokens 1 --skip-bad <in >out &&
	test $(wc -l <out) -eq 2
'

test_expect_code 65 'a prompt that does not fit names the record' '
	printf "%s\n" "{\"prompt\":\"a b c d e f g h i j k l m n o p q r s t u v w\"}" >in &&
	rag-generate --model "$M" --mode record --ctx-size 16 --max-tokens 1 <in 2>err;
	rc=$?; grep_q "line 1: prompt of" err && exit $rc
'

test_done
