#!/bin/sh
# rag-tokenize: ids equal Hugging Face's (golden files), fields pass through,
# pieces/offsets/counts, pairs with type ids, truncation, decoding, thread order.
. "$top_srcdir/tests/cli/lib.sh"

bert="$FIXTURES/models/tiny-embed-mean-f16.gguf"
rerank="$FIXTURES/models/tiny-rerank-f16.gguf"
qwen="$FIXTURES/models/tiny-qwen2-f16.gguf"

test_expect_success 'BERT ids are Hugging Face ids, with [CLS]/[SEP]' '
	echo "{\"text\":\"The quick brown fox jumps over the lazy dog.\"}" |
		rag-tokenize --model "$bert" >out &&
	echo "{\"text\":\"The quick brown fox jumps over the lazy dog.\",\"ids\":[101,1996,4248,2829,4419,14523,2058,1996,13971,3899,1012,102]}" >want &&
	test_cmp want out
'

test_expect_success 'GPT-2 ids (qwen2 fixture) are Hugging Face ids, digits and contractions' '
	printf "%s\n" "{\"text\":\"numbers 3 33 333 3333 33333 3.14159 1,000,000 and 0x1F\"}" \
		"{\"text\":\"I'"'"'ve been '"'"'told he'"'"'s there, '"'"'RE you sure? We'"'"'Ve a'"'"'lL\"}" |
		rag-tokenize --model "$qwen" >out &&
	grep_q "\"ids\":\[77,17024,513,4747,23460,513,20370,23460,2091,513,13,1415,19707,352,11,830,11,830,290,657,87,16,37\]}" out &&
	grep_q "\"ids\":\[40,1053,587,705,44040,339,338,612,11,705,2200,345,1654,30,775,6,26979,257,6,75,43\]}" out
'

test_expect_success 'unknown fields pass through byte for byte; old ids are replaced' '
	echo "{\"id\":\"x\",\"meta\":{\"a\":[1, 2.50]},\"text\":\"hello\",\"ids\":[9]}" |
		rag-tokenize --model "$bert" >out &&
	echo "{\"id\":\"x\",\"meta\":{\"a\":[1, 2.50]},\"text\":\"hello\",\"ids\":[101,7592,102]}" >want &&
	test_cmp want out
'

test_expect_success '--pieces --offsets --n-tokens' '
	echo "{\"text\":\"naïve café!\"}" | rag-tokenize --model "$bert" --pieces --offsets --n-tokens >out &&
	grep_q "\"ids\":\[101,15743,7668,999,102\]" out &&
	grep_q "\"pieces\":\[\"\[CLS\]\",\"▁naive\",\"▁cafe\",\"▁!\",\"\[SEP\]\"\]" out &&
	grep_q "\"offsets\":\[\[0,0\],\[0,6\],\[7,12\],\[12,13\],\[13,13\]\]" out &&
	grep_q "\"n_tokens\":5}" out
'

test_expect_success '--count writes counts only; --no-special drops [CLS]/[SEP]' '
	echo "{\"text\":\"hello world\"}" | rag-tokenize --model "$bert" --count >out &&
	echo "{\"text\":\"hello world\",\"n_tokens\":4}" >want && test_cmp want out &&
	echo "{\"text\":\"hello world\"}" | rag-tokenize --model "$bert" --no-special >out &&
	grep_q "\"ids\":\[7592,2088\]}" out
'

test_expect_success '--pair gives the cross-encoder ids and type ids of the reference' '
	echo "{\"q\":\"what is the refund policy?\",\"p\":\"Returns are accepted within 30 days of purchase with a receipt.\"}" |
		rag-tokenize --model "$rerank" --field q --pair p >out &&
	grep_q "\"ids\":\[101,2054,2003,1996,25416,8630,3343,1029,102,5651,2024,3970,2306,2382,2420,1997,5309,2007,1037,24306,1012,102\]" out &&
	grep_q "\"type_ids\":\[0,0,0,0,0,0,0,0,0,1,1,1,1,1,1,1,1,1,1,1,1,1\]" out
'

test_expect_success '--truncate keeps [CLS] and [SEP], tail by default, head on request' '
	echo "{\"text\":\"a b c d e f\"}" | rag-tokenize --model "$bert" --truncate 4 >out &&
	grep_q "\"ids\":\[101,1037,1038,102\],\"truncated\":true}" out &&
	echo "{\"text\":\"a b c d e f\"}" | rag-tokenize --model "$bert" --truncate 4 --truncate-side head >out &&
	grep_q "\"ids\":\[101,1041,1042,102\],\"truncated\":true}" out &&
	echo "{\"text\":\"a b\"}" | rag-tokenize --model "$bert" --truncate 4 >out &&
	grep_q "\"truncated\":false}" out
'

test_expect_success '--truncate on a pair shortens the longer text first' '
	echo "{\"q\":\"a\",\"p\":\"b c d e f g\"}" | rag-tokenize --model "$rerank" --field q --pair p --truncate 6 >out &&
	grep_q "\"ids\":\[101,1037,102,1038,1039,102\]" out
'

test_expect_success '--decode turns ids back into text (round trip)' '
	echo "{\"text\":\"Hello, world! naïve café\"}" | rag-tokenize --model "$qwen" |
		sed "s/\"text\":\"[^\"]*\",//" | rag-tokenize --model "$qwen" --decode >out &&
	grep_q "\"text\":\"Hello, world! naïve café\"}" out &&
	echo "{\"ids\":[101,7592,1010,2088,999,102]}" | rag-tokenize --model "$bert" --decode --skip-special >out &&
	echo "{\"ids\":[101,7592,1010,2088,999,102],\"text\":\"hello, world!\"}" >want && test_cmp want out
'

test_expect_success '--lines reads plain text; --lines --decode reads ids' '
	printf "hello world\n\nx\n" | rag-tokenize --model "$bert" --lines >out &&
	printf "%s\n" "{\"text\":\"hello world\",\"ids\":[101,7592,2088,102]}" "{\"text\":\"\",\"ids\":[101,102]}" \
		"{\"text\":\"x\",\"ids\":[101,1060,102]}" >want && test_cmp want out &&
	printf "101 7592, 2088 102\n" | rag-tokenize --model "$bert" --lines --decode --skip-special >out &&
	grep_q "^{\"text\":\"hello world\"}$" out
'

test_expect_success '--field names the text field; --parse-special' '
	echo "{\"body\":\"a [SEP] b\"}" | rag-tokenize --model "$bert" --field body --no-special >out &&
	grep_q "\"ids\":\[1037,1031,19802,1033,1038\]" out &&
	echo "{\"body\":\"a [SEP] b\"}" | rag-tokenize --model "$bert" --field body --no-special --parse-special >out &&
	grep_q "\"ids\":\[1037,102,1038\]" out
'

test_expect_success '--threads keeps the input order and gives the same output' '
	i=0; : >in
	while [ $i -lt 3000 ]; do echo "{\"n\":$i,\"text\":\"record number $i with some words $((i * 7919))\"}"; i=$((i + 1)); done >in &&
	rag-tokenize --model "$qwen" --threads 1 in >one &&
	rag-tokenize --model "$qwen" --threads 4 <in >four &&
	test_cmp one four &&
	test $(wc -l <four) -eq 3000 &&
	sed -n 2999p four >line && grep_q "^{\"n\":2998," line
'

test_expect_success 'RAG_MODEL sets the model' '
	echo "{\"text\":\"hello\"}" | RAG_MODEL="$bert" rag-tokenize >out &&
	grep_q "\"ids\":\[101,7592,102\]" out
'

test_done
