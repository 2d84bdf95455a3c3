#!/bin/sh
# Hugging Face directories through every --model program: tiny-embed-mean and
# tiny-rerank reproduce their goldens as their GGUF twins do; tokenization equals
# the twin's; a rag-model converted file gives the same outputs as the directory;
# sentence-transformers prompts, max_seq_length and Normalize are honoured.
. "$top_srcdir/tests/cli/lib.sh"

command -v python3 >/dev/null 2>&1 || skip_all 'python3 is needed to read the goldens'
cmp="$TESTDATA/embed/compare.py"
hf="${RAG_HFDATA:-$top_srcdir/../shared/fixtures/hf}"
[ -f "$hf/tiny-embed-mean/config.json" ] || skip_all "no Hugging Face fixture directories at $hf"
emb="$hf/tiny-embed-mean"
rr="$hf/tiny-rerank"
qwen="$top_srcdir/../shared/fixtures/hf/tiny-qwen2"
eg="$FIXTURES/golden/tiny-embed-mean.json"
rg="$FIXTURES/golden/tiny-rerank.json"

texts() {
	python3 -c 'import json,sys
for i, r in enumerate(json.load(open(sys.argv[1]))["rows"]):
    if r["text"].strip(): print(json.dumps({"id": i, "text": r["text"]}))' "$eg"
}
hits() {
	python3 -c 'import json,sys
qs = {}
for i, r in enumerate(json.load(open(sys.argv[1]))["rows"]):
    if not r["passage"].strip(): continue
    q = qs.setdefault(r["query"], "q%d" % len(qs))
    print(json.dumps({"qid": q, "query": r["query"], "id": "p%d" % i, "text": r["passage"]}))' "$rg"
}
# every text of a golden file (tokenize-*.json rows, tiny-qwen2 prompts) as records
gtexts() {
	python3 -c 'import json,sys
for f in sys.argv[1:]:
    for r in json.load(open(f))["rows"]:
        for k in ("text", "query", "passage", "prompt"):
            if isinstance(r.get(k), str) and r[k].strip(): print(json.dumps({"text": r[k]}))' "$@"
}

test_expect_success 'tiny-embed-mean directory: embeddings within cosine 0.99999 of Hugging Face' '
	texts >in && rag-embed --model "$emb" in >out && python3 "$cmp" embed "$eg" out 0.99999
'
test_expect_success 'tiny-embed-mean directory: --no-normalize gives the pooled vector' '
	texts >in && rag-embed --model "$emb" --no-normalize in >out &&
	python3 "$cmp" embed "$eg" out 0.99999 embedding pooled
'
test_expect_success 'tiny-rerank directory: logits within 1e-4 of Hugging Face, rankings equal' '
	hits >in && rag-rerank --model "$rr" in >out && python3 "$cmp" rerank "$rg" out 1e-4 RAW
'
test_expect_success 'an embedder directory is refused by rag-rerank, a reranker by rag-embed (78)' '
	hits >in && test_expect_code 78 rag-rerank --model "$emb" in &&
	texts >in && test_expect_code 78 rag-embed --model "$rr" in
'

for pair in "tiny-embed-mean:$emb:tiny-embed-mean-f32" "tiny-rerank:$rr:tiny-rerank-f16"; do
	name=${pair%%:*} rest=${pair#*:} dir=${rest%%:*} twin=${rest#*:}
	test_expect_success "$name: rag-tokenize of the directory equals its GGUF twin" '
		gtexts "$FIXTURES/golden/tokenize-bert.json" "$eg" "$rg" >in &&
		rag-tokenize --model "'"$dir"'" in >a && rag-tokenize --model "$FIXTURES/models/'"$twin"'.gguf" in >b &&
		test -s a && test_cmp a b &&
		rag-tokenize --model "'"$dir"'" --pieces --offsets in >a && rag-tokenize --model "$FIXTURES/models/'"$twin"'.gguf" --pieces --offsets in >b &&
		test_cmp a b
	'
done

test_expect_success 'tokenize-bert golden ids from the directory' '
	python3 -c "import json,sys
for r in json.load(open(sys.argv[1]))[\"rows\"]: print(json.dumps({\"text\": r[\"text\"], \"want\": r[\"ids\"]}))" \
		"$FIXTURES/golden/tokenize-bert.json" >in &&
	rag-tokenize --model "$emb" in >out &&
	python3 -c "import json
for l in open(\"out\"):
    r = json.loads(l); assert r[\"ids\"] == r[\"want\"], r"
'

if test -d "$qwen"; then
	test_expect_success 'tiny-qwen2 directory: rag-tokenize equals its GGUF twin' '
		gtexts "$FIXTURES/golden/tokenize-gpt2.json" "$FIXTURES/golden/tiny-qwen2.json" >in &&
		rag-tokenize --model "$qwen" in >a && rag-tokenize --model "$FIXTURES/models/tiny-qwen2-f16.gguf" in >b &&
		test -s a && test_cmp a b
	'
else
	say "# skipping tiny-qwen2: $qwen not present"
fi

test_expect_success 'rag-chunk measures in the directory tokenizer as in the GGUF twin' '
	gtexts "$FIXTURES/golden/tokenize-bert.json" | python3 -c "import json,sys
t=\" \".join(json.loads(l)[\"text\"] for l in sys.stdin); print(json.dumps({\"id\":\"d\",\"text\":(t+\" \")*4}))" >doc &&
	rag-chunk --model "$emb" --max-tokens 32 doc >a && rag-chunk --model "$FIXTURES/models/tiny-embed-mean-f32.gguf" --max-tokens 32 doc >b &&
	test $(wc -l <a) -gt 2 && test_cmp a b
'

test_expect_success 'rag-model convert: the converted embedder gives the directory outputs' '
	rag-model convert --type f32 "$emb" e.gguf && texts >in &&
	rag-embed --model "$emb" in >a && rag-embed --model e.gguf in >b && test_cmp a b &&
	rag-tokenize --model e.gguf in >ta && rag-tokenize --model "$emb" in >tb && test_cmp ta tb
'
test_expect_success 'rag-model convert: the converted reranker gives the directory outputs' '
	rag-model convert --type f32 "$rr" r.gguf && hits >in &&
	rag-rerank --model "$rr" in >a && rag-rerank --model r.gguf in >b && test_cmp a b &&
	python3 "$cmp" rerank "$rg" b 1e-4 RAW
'

# a directory with sentence-transformers settings: the weights linked, the JSON changed
mkdir st && for f in "$emb"/*; do ln -s "$f" st/; done && rm st/sentence_bert_config.json st/modules.json &&
	echo '{"max_seq_length": 6, "do_lower_case": false}' >st/sentence_bert_config.json &&
	echo '{"prompts": {"query": "query: ", "document": "passage: "}, "default_prompt_name": null}' >st/config_sentence_transformers.json &&
	echo '[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]' >st/modules.json

test_expect_success 'max_seq_length is the default truncation length; --max-tokens wins' '
	echo "{\"text\":\"one two three four five six seven\"}" >in &&
	rag-embed --model st in >out && grep_q "\"n_tokens\":6,\"truncated\":true}$" out &&
	rag-embed --model st --max-tokens 100 in >out && grep_q "\"n_tokens\":9,\"truncated\":false}$" out
'
test_expect_success 'prompts from config_sentence_transformers.json drive --mode' '
	echo "{\"text\":\"hello\"}" >in &&
	rag-embed --model st --mode query --max-tokens 100 in >a &&
	rag-embed --model st --prefix "query: " --max-tokens 100 in >b && test_cmp a b &&
	rag-embed --model st --mode document --max-tokens 100 -v in >c 2>err &&
	rag-embed --model st --prefix "passage: " --max-tokens 100 in >d && test_cmp c d &&
	grep_q "passage: " err && ! test_cmp a c >/dev/null
'
test_expect_success 'without a Normalize module the vectors are not normalized, as in sentence-transformers' '
	texts >in && rag-embed --model st --max-tokens 128 in >out &&
	python3 "$cmp" embed "$eg" out 0.99999 &&
	python3 -c "import json,math
n=[math.sqrt(sum(x*x for x in json.loads(l)[\"embedding\"])) for l in open(\"out\")]
assert min(abs(v-1) for v in n) > 1e-3, n" &&
	rag-model info --metadata st | grep_q "ragkit.normalize *bool *false" - &&
	rag-model info --metadata "$emb" | grep_q "ragkit.normalize *bool *true" -
'
test_expect_success 'the settings survive rag-model convert' '
	rag-model convert --type f32 st st.gguf && echo "{\"text\":\"one two three four five six seven\"}" >in &&
	rag-embed --model st --mode query in >a && rag-embed --model st.gguf --mode query in >b && test_cmp a b &&
	grep_q "\"n_tokens\":6,\"truncated\":true}$" b
'

test_done
