#!/bin/sh
# rag-embed/rag-rerank --device: cuda without a GPU is exit 69 with a reason,
# auto falls back to the CPU and says so with -v; with a GPU, --device cuda
# meets the GPU tolerances of the fixtures (embedding cosine >= 0.999, rerank
# logits within 0.02 with Hugging Face's ranking) and keeps input order.
. "$top_srcdir/tests/cli/lib.sh"

command -v python3 >/dev/null 2>&1 || skip_all 'python3 is needed to read the goldens'
golden="$FIXTURES/golden/tiny-embed-mean.json"
rgolden="$FIXTURES/golden/tiny-rerank.json"
cmp="$TESTDATA/embed/compare.py"
m="$FIXTURES/models/tiny-embed-mean"
r="$FIXTURES/models/tiny-rerank"

texts() {
	python3 -c 'import json,sys
for i, r in enumerate(json.load(open(sys.argv[1]))["rows"]):
    if r["text"].strip(): print(json.dumps({"id": i, "text": r["text"]}))' "$golden"
}
hits() {
	python3 -c 'import json,sys
qs = {}
for i, r in enumerate(json.load(open(sys.argv[1]))["rows"]):
    if not r["passage"].strip(): continue
    q = qs.setdefault(r["query"], "q%d" % len(qs))
    print(json.dumps({"qid": q, "query": r["query"], "id": "p%d" % i, "text": r["passage"], "scores": {"bm25": 2.5}}))' "$rgolden"
}

texts >in
echo '{"id":1,"text":"probe"}' >probe
rag-embed --model "$m-f16.gguf" --device cuda probe >/dev/null 2>probe.err
gpu=$?

if [ $gpu -ne 0 ]; then
	test_expect_code 69 'no GPU: --device cuda is exit 69' '
		rag-embed --model "$m-f16.gguf" --device cuda in >out
	'
	test_expect_success 'no GPU: the message says why' '
		grep -q -e CUDA -e GPU probe.err
	'
	test_expect_code 69 'no GPU: RAG_DEVICE=cuda is exit 69 too' '
		RAG_DEVICE=cuda rag-embed --model "$m-f16.gguf" in >out
	'
	test_expect_code 69 'no GPU: rag-rerank --device cuda is exit 69' '
		hits >rin && rag-rerank --model "$r-f16.gguf" --device cuda rin >out
	'
	test_expect_success 'no GPU: --device auto runs on the CPU and -v says so' '
		rag-embed --model "$m-f16.gguf" --device auto -v in >out 2>err &&
		grep_q "on cpu" err && python3 "$cmp" embed "$golden" out 0.99999
	'
else
	for t in f32 f16 bf16 q8_0; do
		test_expect_success "GPU $t: embeddings within cosine 0.999 of Hugging Face" '
			rag-embed --model "$m-'$t'.gguf" --device cuda in >out && python3 "$cmp" embed "$golden" out 0.999
		'
	done
	test_expect_success 'GPU: -v names the device; auto picks the GPU' '
		rag-embed --model "$m-f16.gguf" --device auto -v in >out 2>err && grep_q "on cuda" err
	'
	test_expect_success 'GPU: tiny batches (many double-buffered batches) give the same vectors, in order' '
		rag-embed --model "$m-f16.gguf" --device cuda --batch-tokens 8 in >out &&
		python3 "$cmp" embed "$golden" out 0.999
	'
	test_expect_success 'GPU: rag-rerank logits within 0.02 of Hugging Face, rankings equal' '
		hits >rin && rag-rerank --model "$r-f16.gguf" --device cuda rin >out &&
		python3 "$cmp" rerank "$rgolden" out 0.02 RAW
	'
fi
test_done
