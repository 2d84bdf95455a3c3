#!/bin/sh
# rag-rerank from text: logits equal Hugging Face's (tiny-rerank goldens) in F16
# and Q8_0, every query ranked as Hugging Face ranks it; sigmoid, top-k, ties,
# --queries, windows, pass-through of other scores.
. "$top_srcdir/tests/cli/lib.sh"
# CPU tolerances (--device auto would take a GPU where there is one; t7001
# checks the GPU against its own tolerances)
RAG_DEVICE=cpu
export RAG_DEVICE

command -v python3 >/dev/null 2>&1 || skip_all 'python3 is needed to read the goldens'
golden="$FIXTURES/golden/tiny-rerank.json"
cmp="$TESTDATA/embed/compare.py"
m="$FIXTURES/models/tiny-rerank"

# the golden pairs as hits (the empty passage left out: it is a bad record)
hits() {
	python3 -c 'import json,sys
qs = {}
for i, r in enumerate(json.load(open(sys.argv[1]))["rows"]):
    if not r["passage"].strip(): continue
    q = qs.setdefault(r["query"], "q%d" % len(qs))
    print(json.dumps({"qid": q, "query": r["query"], "id": "p%d" % i, "text": r["passage"], "scores": {"bm25": 2.5}}))' "$golden"
}

test_expect_success 'F16: logits within 1e-4 of Hugging Face, rankings equal' '
	hits >in && rag-rerank --model "$m-f16.gguf" in >out && python3 "$cmp" rerank "$golden" out 1e-4 RAW
'
test_expect_success 'Q8_0: logits within 0.02, rankings equal' '
	hits >in && rag-rerank --model "$m-q8_0.gguf" in >out && python3 "$cmp" rerank "$golden" out 0.02 RAW
'
test_expect_success '--score sigmoid gives Hugging Face sigmoid' '
	hits >in && rag-rerank --model "$m-f16.gguf" --score sigmoid in >out &&
	python3 "$cmp" rerank "$golden" out 1e-4 SIGMOID
'
test_expect_success 'other stage scores are kept; score and rank are replaced' '
	hits >in && rag-rerank --model "$m-f16.gguf" in >out &&
	grep_q "\"scores\":{\"bm25\": 2.5,\"rerank\":{\"score\":[-0-9.e]*,\"rank\":[0-9]*}}" out &&
	awk -F"\"rank\":" "NF != 3 { exit 1 }" out
'
test_expect_success 'a second rerank replaces the first one'"'"'s entry, keeping the others' '
	hits >in && rag-rerank --model "$m-f16.gguf" in >once && rag-rerank --model "$m-f16.gguf" once >twice &&
	test_cmp once twice &&
	hits | sed "s/\"scores\": {\"bm25\": 2.5}/\"scores\": {}/" >bare && rag-rerank --model "$m-f16.gguf" bare >out &&
	grep_q "\"scores\":{\"rerank\":{\"score\":[-0-9.e]*,\"rank\":[0-9]*}}" out && ! grep_q bm25 out
'
test_expect_success '--top-k 1 keeps the best hit of each query' '
	hits >in && rag-rerank --model "$m-f16.gguf" in >all && rag-rerank --model "$m-f16.gguf" --top-k 1 in >out &&
	test $(wc -l <out) -eq 3 && grep "\"rank\":1}" all >best && test_cmp best out
'
test_expect_success '--queries supplies the query text by qid (numbers too)' '
	printf "%s\n" "{\"qid\":7,\"text\":\"what is the refund policy?\"}" >q &&
	printf "%s\n" "{\"qid\":7,\"id\":\"a\",\"text\":\"Returns are accepted within 30 days of purchase with a receipt.\"}" \
		"{\"qid\":7,\"id\":\"b\",\"text\":\"Our office is closed on public holidays.\"}" >h &&
	rag-rerank --model "$m-f16.gguf" --queries q h >out &&
	head -n 1 out | grep -q "\"id\":\"b\".*\"rerank\":{\"score\":-0.3140" && tail -n 1 out | grep -q "\"id\":\"a\".*\"rerank\":{\"score\":-0.5653"
'
test_expect_success 'equal scores keep input order (stable ties)' '
	printf "%s\n" "{\"qid\":1,\"query\":\"q\",\"id\":\"x\",\"text\":\"same\"}" \
		"{\"qid\":1,\"query\":\"q\",\"id\":\"y\",\"text\":\"same\"}" \
		"{\"qid\":1,\"query\":\"q\",\"id\":\"z\",\"text\":\"same\"}" >h &&
	rag-rerank --model "$m-f16.gguf" h >out &&
	test "$(sed "s/.*\"id\":\"\(.\)\".*\"rank\":\(.\)}/\1\2/" out | tr -d "\n")" = "x1y2z3"
'
test_expect_success '--window: a short passage is one window (same score); long ones get several' '
	hits >in && rag-rerank --model "$m-f16.gguf" --window 100 in >out && python3 "$cmp" rerank "$golden" out 1e-4 RAW &&
	python3 -c "import json; print(json.dumps({\"qid\":1,\"query\":\"refund policy\",\"text\":\"receipt \" * 400}))" >long &&
	rag-rerank --model "$m-f16.gguf" --window 32 --stride 16 long >w1 &&
	rag-rerank --model "$m-f16.gguf" --window 32 --stride 16 --aggregate mean long >w2 &&
	rag-rerank --model "$m-f16.gguf" long >t && grep_q "\"rank\":1}" w1 && grep_q "\"rank\":1}" w2
'
# (equal up to float rounding: BLAS may sum in another order for other batch shapes)
test_expect_success 'results do not depend on --batch-tokens' '
	hits >in && rag-rerank --model "$m-q8_0.gguf" --batch-tokens 1 in >a &&
	rag-rerank --model "$m-q8_0.gguf" --batch-tokens 5000 in >b &&
	python3 -c "import json
a=[json.loads(l) for l in open(\"a\")]; b=[json.loads(l) for l in open(\"b\")]
assert [r[\"id\"] for r in a] == [r[\"id\"] for r in b]
assert all(abs(x[\"score\"]-y[\"score\"]) < 1e-5 for x,y in zip(a,b))"
'
test_done
