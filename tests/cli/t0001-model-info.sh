#!/bin/sh
# rag-model info on the fixture models: text and JSON reports.
. "$top_srcdir/tests/cli/lib.sh"

test_expect_success 'info describes an embedding model' '
	rag-model info "$FIXTURES/models/tiny-embed-mean-f16.gguf" >out &&
	grep_q "^architecture: *bert" out &&
	grep_q "^kind: *embedding encoder" out &&
	grep_q "^embedding_length *32" out &&
	grep_q "^pooling: *mean" out &&
	grep_q "^tokenizer: *bert, pre-tokenizer jina-v2-en, 30522 tokens" out &&
	grep_q "F16 *13 tensors" out &&
	grep_q "^runnable: *yes" out
'

test_expect_success 'info --json is one valid object per file' '
	rag-model info --json "$FIXTURES/models/tiny-qwen2-q8_0.gguf" "$FIXTURES/models/tiny-rerank-f16.gguf" >out &&
	test $(wc -l <out) -eq 2 &&
	python3 -c "
import json, sys
a, b = [json.loads(l) for l in open(\"out\")]
assert a[\"architecture\"] == \"qwen2\" and a[\"kind\"] == \"decoder\", a
assert a[\"dimensions\"][\"attention.head_count_kv\"] == 2
assert \"Q8_0\" in a[\"tensor_types\"] and a[\"supported\"] is True
assert b[\"kind\"] == \"cross-encoder (reranker)\", b
assert b[\"vocab_size\"] == 30522
"
'

test_expect_success 'info --metadata lists every key' '
	rag-model info --metadata "$FIXTURES/models/tiny-qwen2-f16.gguf" >out &&
	grep_q "qwen2.rope.freq_base *f32 *10000" out &&
	grep_q "tokenizer.ggml.merges *arr *\[str x 50000\]" out
'

test_expect_success 'info --json --metadata stays valid JSON' '
	rag-model info --json --metadata "$FIXTURES/vocab/ggml-vocab-llama-spm.gguf" >out &&
	python3 -c "import json; d = json.load(open(\"out\")); assert d[\"metadata\"][\"tokenizer.ggml.model\"] == \"\\\"llama\\\"\", d[\"metadata\"]"
'

test_expect_code 0 'a vocabulary-only file is read (exit 0)' '
	rag-model info "$FIXTURES/vocab/ggml-vocab-phi-3.gguf" >out
'

test_expect_success 'every fixture file opens' '
	for f in "$FIXTURES"/models/*.gguf "$FIXTURES"/vocab/*.gguf; do
		rag-model info "$f" >/dev/null || exit 1
	done
'

test_expect_code 74 'a write error on stdout is exit 74' '
	rag-model info "$FIXTURES/models/tiny-embed-mean-f32.gguf" >/dev/full
'

test_done
