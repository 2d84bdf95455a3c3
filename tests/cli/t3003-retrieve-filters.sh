#!/bin/sh
# rag-retrieve --filter and ACL: applied before top-k on every leg.
. "$top_srcdir/tests/cli/lib.sh"

# 40 chunks: even ones lang en, odd ones fr; year 2000+i; every 4th has acl [team]; all mention "common".
awk 'BEGIN {
	for (i = 0; i < 40; i++) {
		acl = (i % 4 == 0) ? ",\"acl\":[\"team\",\"boss\"]" : ""
		tag = (i % 5 == 0) ? "[\"a\",\"b\"]" : "\"c\""
		printf "{\"id\":\"c%d\",\"text\":\"common word%d\",\"meta\":{\"lang\":\"%s\",\"year\":%d,\"tag\":%s%s}%s,\"embedding\":[%d,1]}\n",
			i, i, (i % 2 ? "fr" : "en"), 2000 + i, tag, (i % 3 == 0 ? ",\"author\":\"x\"" : ""), acl, i
	}
}' >c.jsonl
rag-index x.rag c.jsonl || exit 99

for mode in bm25 dense hybrid; do
	test_expect_success "$mode: a filter applies before top-k (k hits when k match)" "
		echo '{\"qid\":\"q\",\"text\":\"common\",\"embedding\":[1,0]}' |
			rag-retrieve -q -k 5 --mode $mode --filter 'lang = \"fr\" AND year >= 2030' x.rag >h &&
		test \$(wc -l <h) -eq 5 &&
		jq -e 'select(.meta.lang != \"fr\" or .meta.year < 2030)' h >bad; test ! -s bad
	"
	test_expect_success "$mode: chunks with an acl are never returned to others" "
		echo '{\"qid\":\"q\",\"text\":\"common\",\"embedding\":[1,0]}' | rag-retrieve -q -k 40 --mode $mode x.rag >h &&
		test \$(wc -l <h) -eq 30 && ! grep -q '\"acl\"' h
	"
	test_expect_success "$mode: a principal in the acl sees them" "
		echo '{\"qid\":\"q\",\"text\":\"common\",\"embedding\":[1,0],\"principals\":[\"x\",\"boss\"]}' |
			rag-retrieve -q -k 40 --mode $mode x.rag >h && test \$(wc -l <h) -eq 40
	"
done

test_expect_success 'IN, EXISTS, NOT and arrays' '
	echo "{\"qid\":\"q\",\"text\":\"common\"}" >q.jsonl &&
	rag-retrieve -q -k 40 --filter "tag IN (\"a\", \"z\")" x.rag <q.jsonl | jq -r .id | sort >got &&
	printf "c10\nc15\nc25\nc30\nc35\nc5\n" | sort >want && test_cmp want got &&
	rag-retrieve -q -k 40 --filter "EXISTS author AND NOT lang = \"en\"" x.rag <q.jsonl | jq -r .id | sort >got &&
	printf "c15\nc21\nc27\nc3\nc33\nc39\nc9\n" | sort >want && test_cmp want got
'
test_expect_success '--acl-from names the principals field' '
	echo "{\"qid\":\"q\",\"text\":\"common\",\"who\":[\"team\"]}" | rag-retrieve -q -k 40 --acl-from who x.rag >h &&
	test $(wc -l <h) -eq 40
'
test_expect_success 'fewer matches than k: all of them and a note' '
	echo "{\"qid\":\"q\",\"text\":\"common\"}" | rag-retrieve -k 10 --filter "year > 2037" x.rag >h 2>err &&
	test $(wc -l <h) -eq 2 && grep_q "only 2 of 10 hits" err
'
test_expect_code 64 'a bad filter is a usage error naming the offset' '
	rag-retrieve --filter "lang = " x.rag </dev/null 2>err; rc=$?; grep_q "filter: .* at offset" err; exit $rc
'
test_expect_code 65 'principals must be an array of strings' '
	echo "{\"qid\":\"q\",\"text\":\"common\",\"principals\":\"team\"}" | rag-retrieve x.rag
'
test_done
