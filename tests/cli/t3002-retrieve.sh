#!/bin/sh
# rag-retrieve: modes, hit records, fusion, formats, shards, bad queries, write errors.
. "$top_srcdir/tests/cli/lib.sh"

cat >c.jsonl <<'J'
{"id":"a","doc_id":"A","title":"Apples","text":"red apples grow on trees","meta":{"n":1},"start":0,"end":24,"embedding":[1,0,0]}
{"id":"b","doc_id":"A","text":"green apples and pears in autumn","meta":{"n":2},"embedding":[0.9,0.1,0]}
{"id":"c","doc_id":"B","text":"the blue sky over the sea","embedding":[0,1,0]}
{"id":"d","doc_id":"B","text":"pears are sweet","embedding":[0,0.2,1]}
J
rag-index x.rag c.jsonl || exit 99

test_expect_success 'bm25: hit records carry query, chunk fields and scores' '
	echo "{\"qid\":\"q1\",\"text\":\"apples\",\"extra\":1}" | rag-retrieve -k 5 --mode bm25 x.rag >h &&
	test $(wc -l <h) -eq 2 &&
	head -n 1 h | jq -e ".qid == \"q1\" and .query == \"apples\" and .id == \"a\" and .doc_id == \"A\" and .rank == 1
		and .text == \"red apples grow on trees\" and .meta.n == 1 and .title == \"Apples\" and .start == 0
		and .scores.bm25.rank == 1 and .scores.bm25.score == .score and (.embedding | not)" >/dev/null &&
	sed -n 2p h | jq -e ".id == \"b\" and .rank == 2" >/dev/null
'
test_expect_success 'dense: nearest by cosine' '
	echo "{\"qid\":\"q\",\"embedding\":[0,1,0.1]}" | rag-retrieve -k 2 x.rag >h &&
	jq -r .id h | tr "\n" " " >ids && test "$(cat ids)" = "c d " &&
	head -n 1 h | jq -e ".scores.dense.rank == 1 and (.scores.bm25 | not)" >/dev/null
'
test_expect_success 'hybrid (auto with text and embedding): RRF over both legs' '
	echo "{\"qid\":\"q\",\"text\":\"pears\",\"embedding\":[1,0,0]}" | rag-retrieve -k 4 x.rag >h &&
	head -n 1 h | jq -e ".id == \"b\" and .scores.bm25.rank >= 1 and .scores.dense.rank >= 1 and .scores.fused.rank == 1
		and (.score - (1/(60 + .scores.bm25.rank) + 1/(60 + .scores.dense.rank)) | fabs) < 1e-6" >/dev/null
'
test_expect_success 'weights and the RRF constant change the fusion' '
	echo "{\"qid\":\"q\",\"text\":\"pears\",\"embedding\":[0,1,0]}" >q.jsonl &&
	rag-retrieve -k 1 --dense-weight 5 x.rag <q.jsonl |
		jq -e "(.score - (1/(60 + .scores.bm25.rank) + 5/(60 + .scores.dense.rank))) | fabs < 1e-6" >/dev/null &&
	rag-retrieve -k 1 --bm25-weight 0.01 --dense-weight 5 x.rag <q.jsonl | grep -q "\"id\":\"c\"" &&
	rag-retrieve -k 1 --rrf-k 1 x.rag <q.jsonl | jq -e "(.score - (1/(1 + .scores.bm25.rank) + 1/(1 + .scores.dense.rank))) | fabs < 1e-6" >/dev/null
'
test_expect_success 'normalized-score fusion' '
	echo "{\"qid\":\"q\",\"text\":\"pears\",\"embedding\":[0,0,1]}" | rag-retrieve -k 1 --fusion norm x.rag >h &&
	jq -e ".id == \"d\" and (.score - 2 | fabs) < 1e-6" h >/dev/null
'
test_expect_success 'trec and text formats' '
	printf "%s\n" "{\"qid\":\"q1\",\"text\":\"apples\"}" "{\"qid\":7,\"text\":\"sky\"}" |
		rag-retrieve -q --format trec --run-tag T x.rag >run &&
	printf "q1 Q0 a 1 \nq1 Q0 b 2 \n7 Q0 c 1 \n" >want && cut -d" " -f1-4 run | sed "s/$/ /" >got && test_cmp want got &&
	awk "\$6 != \"T\" { exit 1 }" run &&
	echo "{\"qid\":\"q1\",\"text\":\"apples\"}" | rag-retrieve -q --format text x.rag | grep -q "^q1	1	.*	a	red apples"
'
test_expect_success 'numeric qid passes through as a number; BEIR _id accepted' '
	echo "{\"qid\":7,\"text\":\"sky\"}" | rag-retrieve -q x.rag | jq -e ".qid == 7" >/dev/null &&
	echo "{\"_id\":\"z\",\"text\":\"sky\"}" | rag-retrieve -q x.rag | jq -e ".qid == \"z\"" >/dev/null
'
test_expect_success '--exclude-self drops the chunk whose id is the qid, still k hits' '
	echo "{\"qid\":\"b\",\"text\":\"apples pears\"}" | rag-retrieve -q -k 2 --exclude-self x.rag >h &&
	! grep -q "\"id\":\"b\"" h && test $(wc -l <h) -eq 2
'
test_expect_success 'shards are searched as one index' '
	head -n 2 c.jsonl | rag-index s1.rag && tail -n 2 c.jsonl | rag-index s2.rag &&
	echo "{\"qid\":\"q\",\"embedding\":[0.5,0.5,0.5]}" >q.jsonl &&
	rag-retrieve -k 4 x.rag <q.jsonl | jq -c "[.id,.rank,.score]" >one &&
	rag-retrieve -k 4 s1.rag s2.rag <q.jsonl | jq -c "[.id,.rank,.score]" >two && test_cmp one two
'
test_expect_success 'fewer than k hits: a note on stderr, silent with -q' '
	echo "{\"qid\":\"q\",\"text\":\"sky\"}" | rag-retrieve -k 3 x.rag >h 2>err &&
	test $(wc -l <h) -eq 1 && grep_q "only 1 of 3 hits" err &&
	echo "{\"qid\":\"q\",\"text\":\"sky\"}" | rag-retrieve -q -k 3 x.rag 2>err >/dev/null && ! test -s err
'
test_expect_success 'BM25 parameters are accepted and change scores' '
	echo "{\"qid\":\"q\",\"text\":\"pears\"}" >q.jsonl &&
	rag-retrieve -q --k1 0.9 --b 0.4 x.rag <q.jsonl | jq .score >s1 &&
	rag-retrieve -q x.rag <q.jsonl | jq .score >s2 && ! cmp -s s1 s2
'
test_expect_code 65 'bm25 mode without text is 65 naming the line' '
	printf "%s\n" "{\"qid\":\"q\",\"text\":\"x\"}" "{\"qid\":\"r\",\"embedding\":[1,0,0]}" |
		rag-retrieve --mode bm25 x.rag 2>err >/dev/null; rc=$?; grep_q "line 2: query has no .text." err; exit $rc
'
test_expect_code 65 'dense mode without embedding is 65' 'echo "{\"text\":\"x\"}" | rag-retrieve --mode dense x.rag'
test_expect_code 65 'a query embedding of the wrong dimension is 65' 'echo "{\"embedding\":[1,0]}" | rag-retrieve x.rag'
test_expect_code 65 'bad JSON is 65' 'echo "{" | rag-retrieve x.rag'
test_expect_success '--skip-bad goes on after a bad query' '
	printf "%s\n" "{" "{\"qid\":\"q\",\"text\":\"sky\"}" | rag-retrieve -q --skip-bad x.rag >h && test $(wc -l <h) -eq 1
'
test_expect_code 64 'a bad --mode is 64' 'rag-retrieve --mode nope x.rag </dev/null'
test_expect_code 64 'a bad --format is 64' 'rag-retrieve --format xml x.rag </dev/null'
test_expect_code 64 '-k 0 is 64' 'rag-retrieve -k 0 x.rag </dev/null'
test_expect_code 64 'no INDEX is 64' 'rag-retrieve </dev/null'
test_expect_code 74 'a full stdout is 74' 'echo "{\"qid\":\"q\",\"text\":\"apples\"}" | rag-retrieve x.rag >/dev/full'
test_expect_code 74 'rag-index stats to a full stdout is 74' 'rag-index x.rag stats >/dev/full'
test_done
