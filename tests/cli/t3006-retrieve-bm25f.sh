#!/bin/sh
# rag-retrieve: field-aware BM25 (title and text weighted), its options and their usage errors.
. "$top_srcdir/tests/cli/lib.sh"

cat >c.jsonl <<'J'
{"id":"t","title":"Apples","text":"pears pears"}
{"id":"x","title":"Pears","text":"apples apples apples"}
{"id":"n","text":"apples and cherries"}
J
rag-index x.rag c.jsonl || exit 99
echo '{"qid":"q","text":"apples"}' >q.jsonl

test_expect_success 'defaults: three text matches outweigh one title match' '
	rag-retrieve -q -k 3 --mode bm25 x.rag <q.jsonl | jq -r .id | tr "\n" " " >got &&
	test "$(cat got)" = "x t n "
'
test_expect_success '--title-weight raises the title match to the top' '
	rag-retrieve -q -k 3 --mode bm25 --title-weight 5 x.rag <q.jsonl | jq -r .id | tr "\n" " " >got &&
	test "$(cat got)" = "t x n "
'
test_expect_success '--title-weight 0: a title-only match is no hit' '
	rag-retrieve -q -k 3 --mode bm25 --title-weight 0 x.rag <q.jsonl | jq -r .id | tr "\n" " " >got &&
	test "$(cat got)" = "x n "
'
test_expect_success '--text-weight 0: only the title counts' '
	rag-retrieve -q -k 3 --mode bm25 --text-weight 0 x.rag <q.jsonl | jq -r .id | tr "\n" " " >got &&
	test "$(cat got)" = "t "
'
test_expect_success 'the score follows the BM25F formula (k1, b, weights)' '
	rag-retrieve -q -k 1 --mode bm25 --title-weight 5 --k1 2 --b 0.5 x.rag <q.jsonl >h &&
	# t: title tf 1, len 1, mean title len 1; idf = ln(1 + 0.5/3.5); tt = 5
	jq -e "(.score - (((1 + 0.5/3.5) | log) * 5 / (5 + 2))) | fabs < 1e-5" h >/dev/null
'
test_expect_code 64 'a negative weight is a usage error' 'rag-retrieve --title-weight -1 x.rag <q.jsonl'
test_expect_code 64 'a non-numeric weight is a usage error' 'rag-retrieve --text-weight abc x.rag <q.jsonl'
test_expect_code 64 'both weights 0 is a usage error' 'rag-retrieve --title-weight 0 --text-weight 0 x.rag <q.jsonl'
test_expect_success 'and says why' '
	! rag-retrieve --title-weight 0 --text-weight 0 x.rag <q.jsonl 2>err && grep -q "cannot both be 0" err
'
test_done
