#!/bin/sh
# rag-model convert: Hugging Face directories to GGUF, checked against the
# fixture GGUFs llama.cpp's converter made from the same directories.
. "$top_srcdir/tests/cli/lib.sh"

HF="${RAG_HFDATA:-$top_srcdir/../shared/fixtures/hf}"
[ -f "$HF/tiny-embed-mean/config.json" ] || skip_all "no Hugging Face fixture directories at $HF"
M="$FIXTURES/models"
QWEN="$top_srcdir/../shared/fixtures/hf/tiny-qwen2"

# info --metadata without the lines naming the file or ragkit's own keys, sorted
# (llama-quantize, which made the F32/BF16 fixtures, orders keys its own way).
meta() {
	rag-model info --metadata "$1" | grep -v -e "^file:" -e "ragkit\." -e "metadata entries" | sort
}

for t in f16 q8_0; do
	test_expect_success "the reranker directory converts to the very bytes of tiny-rerank-$t.gguf" "
		rag-model convert --type $t '$HF/tiny-rerank' out.gguf &&
		cmp out.gguf '$M/tiny-rerank-$t.gguf'
	"
done

test_expect_success 'f16 is the default type' '
	rag-model convert "$HF/tiny-rerank" out.gguf &&
	cmp out.gguf "$M/tiny-rerank-f16.gguf"
'

if [ -d "$QWEN" ]; then
	for t in f16 q8_0; do
		test_expect_success "the qwen2 directory converts to the very bytes of tiny-qwen2-$t.gguf" "
			rag-model convert --type $t '$QWEN' out.gguf &&
			cmp out.gguf '$M/tiny-qwen2-$t.gguf'
		"
	done
fi

for t in f32 f16 bf16 q8_0; do
	test_expect_success "the embedder directory converts to tiny-embed-mean-$t.gguf plus ragkit keys" "
		rag-model convert --type $t '$HF/tiny-embed-mean' out.gguf &&
		meta out.gguf >got && meta '$M/tiny-embed-mean-$t.gguf' >want &&
		test_cmp want got &&
		rag-model info --metadata out.gguf >all &&
		grep_q '^  ragkit.max_length  *u32  128' all &&
		grep_q '^  ragkit.normalize  *bool true' all
	"
done

test_expect_success 'info reads a directory as its GGUF twin' '
	rag-model info "$HF/tiny-embed-mean" | grep -v -e "^file:" >got &&
	rag-model info "$M/tiny-embed-mean-f32.gguf" | grep -v -e "^file:" -e "^format:" >want &&
	grep -v "^format:" got >got2 &&
	test_cmp want got2 &&
	grep_q "^format: *GGUF v3, 31 metadata entries, 37 tensors" got
'

test_expect_success 'a GGUF file re-types too (f16 -> f32 gives the f32 fixture tensors)' '
	rag-model convert --type f32 "$M/tiny-embed-mean-f16.gguf" out.gguf &&
	meta out.gguf >got && meta "$M/tiny-embed-mean-f32.gguf" >want &&
	test_cmp want got
'

test_expect_success 'the converted file is replaced atomically and leaves no temporary' '
	echo old >out.gguf &&
	rag-model convert "$HF/tiny-rerank" out.gguf &&
	cmp out.gguf "$M/tiny-rerank-f16.gguf" &&
	test "$(ls | grep -c tmp)" -eq 0
'

test_expect_success 'info warns about a cross-encoder without its pooler' '
	cp -r "$HF/tiny-rerank" lossy &&
	printf "{\"architectures\": [\"BertModel\"], \"hidden_size\": 32, \"num_hidden_layers\": 2}" >lossy/config.json &&
	rag-model convert lossy lossy.gguf &&
	{ rag-model info lossy.gguf >out 2>err; test $? -eq 1; } &&
	grep_q "^warning: *lossy conversion" out &&
	grep_q "^rag-model: warning: .lossy.gguf.: cross-encoder with .cls.output. but no pooler" err &&
	{ rag-model -q info lossy.gguf >out 2>err; test $? -eq 1; } &&
	test ! -s err &&
	rag-model info "$M/tiny-rerank-f16.gguf" >out &&
	! grep -q warning out
'

test_expect_code 64 'an unknown --type is a usage error' '
	rag-model convert --type q4_0 "$HF/tiny-rerank" out.gguf
'
test_expect_code 64 'convert needs exactly a model and an output' '
	rag-model convert "$HF/tiny-rerank"
'
test_expect_code 64 '--type belongs to convert' '
	rag-model info --type f16 "$HF/tiny-rerank"
'
test_expect_code 66 'a missing model is exit 66' '
	rag-model convert nope out.gguf
'
test_expect_code 78 'a directory that is no model is exit 78' '
	mkdir empty && rag-model convert empty out.gguf 2>err && false ||
	{ rc=$?; grep_q "no config.json" err; exit $rc; }
'
test_expect_code 78 'a truncated safetensors file is exit 78' '
	cp -r "$HF/tiny-rerank" cut &&
	head -c 100000 "$HF/tiny-rerank/model.safetensors" >cut/model.safetensors &&
	rag-model convert cut out.gguf 2>err
'
test_expect_success 'and nothing is written' '
	cp -r "$HF/tiny-rerank" cut2 &&
	head -c 100000 "$HF/tiny-rerank/model.safetensors" >cut2/model.safetensors &&
	! rag-model convert cut2 out2.gguf 2>err &&
	grep_q "model.safetensors.*truncated" err &&
	test ! -e out2.gguf
'
test_expect_code 78 'a quantized GGUF cannot be re-typed' '
	rag-model convert "$M/tiny-rerank-q8_0.gguf" out.gguf
'
test_expect_code 74 'an unwritable output is exit 74' '
	rag-model convert "$HF/tiny-rerank" /nonexistent/out.gguf
'

test_done
