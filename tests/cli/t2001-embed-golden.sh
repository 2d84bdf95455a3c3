#!/bin/sh
# rag-embed from text: embeddings equal Hugging Face's (tiny-embed-mean goldens)
# in F32/F16/BF16/Q8_0 within the fixture tolerances; pooling none and
# --no-normalize; .npy output; order, truncation, pass-through.
. "$top_srcdir/tests/cli/lib.sh"
# CPU tolerances (--device auto would take a GPU where there is one; t7001
# checks the GPU against its own tolerances)
RAG_DEVICE=cpu
export RAG_DEVICE

command -v python3 >/dev/null 2>&1 || skip_all 'python3 is needed to read the goldens'
golden="$FIXTURES/golden/tiny-embed-mean.json"
cmp="$TESTDATA/embed/compare.py"
m="$FIXTURES/models/tiny-embed-mean"

# the golden texts as records, the empty one left out (it is a bad record)
texts() {
	python3 -c 'import json,sys
for i, r in enumerate(json.load(open(sys.argv[1]))["rows"]):
    if r["text"].strip(): print(json.dumps({"id": i, "text": r["text"]}))' "$golden"
}

for t in f32:0.99999 f16:0.99999 bf16:0.9999 q8_0:0.999; do
	type=${t%%:*} lim=${t#*:}
	test_expect_success "$type: embeddings within cosine $lim of Hugging Face" '
		texts >in && rag-embed --model "$m-'$type'.gguf" in >out && python3 "$cmp" embed "$golden" out '$lim'
	'
done

test_expect_success '--no-normalize gives the pooled vector' '
	texts >in && rag-embed --model "$m-f16.gguf" --no-normalize in >out &&
	python3 "$cmp" embed "$golden" out 0.99999 embedding pooled
'

test_expect_success '--pooling none: the first token is the last hidden state of [CLS]' '
	texts >in && rag-embed --model "$m-f16.gguf" --pooling none --no-normalize in >out &&
	python3 "$cmp" embed "$golden" out 0.99999 token0 token0_hidden
'

test_expect_success 'order is kept and vectors do not depend on the batch' '
	texts >in && rag-embed --model "$m-q8_0.gguf" --batch-tokens 1 in >a &&
	rag-embed --model "$m-q8_0.gguf" --batch-tokens 100000 in >b &&
	python3 -c "import json,sys
a=[json.loads(l) for l in open(\"a\")]; b=[json.loads(l) for l in open(\"b\")]
assert [r[\"id\"] for r in a] == list(range(len(a))) or [r[\"id\"] for r in a] == [r[\"id\"] for r in b]
assert all(max(abs(x-y) for x,y in zip(p[\"embedding\"],q[\"embedding\"])) < 1e-6 for p,q in zip(a,b))"
'

test_expect_success 'other fields pass through byte for byte; old embeddings are replaced' '
	echo "{\"id\":\"x\", \"meta\":{\"a\":[1, 2.50]},\"embedding\":[9],\"text\":\"hello world\"}" |
		rag-embed --model "$m-f16.gguf" >out &&
	grep_q "^{\"id\":\"x\",\"meta\":{\"a\":\[1, 2.50\]},\"text\":\"hello world\",\"embedding\":\[" out &&
	grep_q ",\"n_tokens\":4,\"truncated\":false}$" out
'

test_expect_success '--max-tokens truncates and says so; --field' '
	echo "{\"body\":\"one two three four five six seven\"}" |
		rag-embed --model "$m-f16.gguf" --field body --max-tokens 5 >out &&
	grep_q "\"n_tokens\":5,\"truncated\":true}$" out
'

test_expect_success 'texts over the context length are truncated at 128 tokens' '
	python3 -c "print(\"{\\\"text\\\":\\\"\" + \"word \" * 300 + \"\\\"}\")" >long &&
	rag-embed --model "$m-f16.gguf" long >out && grep_q "\"n_tokens\":128,\"truncated\":true}$" out
'

test_expect_success '-o FILE.npy writes the vectors and FILE.ids.jsonl the records' '
	texts >in && rag-embed --model "$m-f16.gguf" in >want &&
	rag-embed --model "$m-f16.gguf" -o v.npy in >stdout && test ! -s stdout &&
	test -f v.npy && test -f v.ids.jsonl && ! ls *.tmp.* 2>/dev/null &&
	python3 -c "import json,struct
raw=open(\"v.npy\",\"rb\").read(); assert raw[:6]==b\"\\x93NUMPY\"
hl=struct.unpack(\"<H\",raw[8:10])[0]; hdr=raw[10:10+hl].decode(); assert \"(16, 32)\" in hdr, hdr
data=struct.unpack(\"<%df\" % (16*32), raw[10+hl:])
want=[json.loads(l)[\"embedding\"] for l in open(\"want\")]
ids=[json.loads(l) for l in open(\"v.ids.jsonl\")]
assert [r[\"row\"] for r in ids]==list(range(16)) and \"embedding\" not in ids[0]
assert all(abs(data[i*32+j]-want[i][j])<1e-6 for i in range(16) for j in range(32))"
'

test_expect_success '--mode query on a model without a known prefix adds nothing; --prefix adds' '
	echo "{\"text\":\"hello\"}" | rag-embed --model "$m-f16.gguf" --mode query >a &&
	echo "{\"text\":\"hello\"}" | rag-embed --model "$m-f16.gguf" >b && test_cmp a b &&
	echo "{\"text\":\"hello\"}" | rag-embed --model "$m-f16.gguf" --prefix "query: " -v >c 2>err &&
	grep_q "\"n_tokens\":5," c && grep_q "prefix \"query: \"" err
'

test_done
