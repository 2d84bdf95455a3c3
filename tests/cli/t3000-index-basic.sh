#!/bin/sh
# rag-index: build, unchanged skip, update, delete, compact, stats, merge, storages.
. "$top_srcdir/tests/cli/lib.sh"

# Tests share the scratch directory: each starts from no index.
fresh() { rm -rf ./*.rag ./*.rag.* ./*.rag-* ./*.db; }

# gen N TAG: N embedded chunks, 3 per document, text tagged TAG, 4-d embeddings.
gen() {
	awk -v n="$1" -v tag="$2" 'BEGIN {
		for (i = 1; i <= n; i++)
			printf "{\"id\":\"c%d\",\"doc_id\":\"d%d\",\"text\":\"common %s word%d\",\"meta\":{\"year\":%d},\"embedding\":[%d,%d,%d,1]}\n",
				i, int((i - 1) / 3), tag, i, 2000 + i % 30, i % 7, i % 5, i % 3
	}'
}

test_expect_success 'a new index: report, files, stats' '
	fresh;
	gen 30 a >c.jsonl &&
	rag-index --json x.rag c.jsonl >rep &&
	grep_q "\"added\":30,\"updated\":0,\"unchanged\":0" rep &&
	test -f x.rag && test -f x.rag.vec.1 &&
	rag-index x.rag stats >st &&
	grep_q "^chunks: 30$" st && grep_q "^documents: 10$" st && grep_q "^vectors: 30$" st &&
	grep_q "^dim: 4$" st && grep_q "^metric: cosine$" st && grep_q "^stopwords: english$" st &&
	rag-index x.rag stats --json | jq -e ".chunks == 30 and .dim == 4 and .format == 2 and .generation == 1" >/dev/null
'

test_expect_success 'reindexing an unchanged corpus does no work' '
	fresh;
	gen 30 a >c.jsonl && rag-index x.rag <c.jsonl &&
	rag-index --json x.rag <c.jsonl >rep &&
	grep_q "\"added\":0,\"updated\":0,\"unchanged\":30" rep &&
	test -f x.rag.vec.1 && ! test -f x.rag.vec.2
'

test_expect_success 'changed chunks are updated, the vector file switches generation' '
	fresh;
	gen 30 a >c.jsonl && rag-index x.rag c.jsonl &&
	gen 5 b >c2.jsonl && rag-index --json x.rag add c2.jsonl >rep &&
	grep_q "\"updated\":5,\"unchanged\":0" rep &&
	test -f x.rag.vec.2 && ! test -f x.rag.vec.1 &&
	echo "{\"qid\":\"q\",\"text\":\"b\"}" | rag-retrieve -q -k 50 x.rag >hits &&
	test $(wc -l <hits) -eq 5
'

test_expect_success 'a supplied hash decides what is unchanged' '
	fresh;
	echo "{\"id\":\"h\",\"text\":\"one\",\"hash\":\"H1\"}" | rag-index x.rag &&
	echo "{\"id\":\"h\",\"text\":\"two\",\"hash\":\"H1\"}" | rag-index --json x.rag >rep &&
	grep_q "\"unchanged\":1" rep &&
	echo "{\"id\":\"h\",\"text\":\"two\",\"hash\":\"H2\"}" | rag-index --json x.rag >rep &&
	grep_q "\"updated\":1" rep
'

test_expect_success 'the same id twice in one run: the last one wins everywhere' '
	fresh;
	printf "%s\n" "{\"id\":\"a\",\"text\":\"first\",\"embedding\":[1,0]}" "{\"id\":\"b\",\"text\":\"other\",\"embedding\":[0,1]}" \
		"{\"id\":\"a\",\"text\":\"second\",\"embedding\":[0.6,0.8]}" | rag-index --ann x.rag &&
	rag-index x.rag stats --json | jq -e ".chunks == 2 and .vectors == 2 and .postings == 2" >/dev/null &&
	echo "{\"qid\":\"q\",\"text\":\"first\"}" | rag-retrieve -q x.rag >h && ! test -s h &&
	echo "{\"qid\":\"q\",\"embedding\":[1,0]}" | rag-retrieve -q -k 5 x.rag >h && test $(wc -l <h) -eq 2 &&
	echo "{\"qid\":\"q\",\"embedding\":[1,0]}" | rag-retrieve -q -k 5 --ann x.rag >h2 && test_cmp h h2 &&
	head -n 1 h | grep -q "\"text\":\"second\""
'

test_expect_success 'delete by id and by doc_id' '
	fresh;
	gen 30 a | rag-index x.rag &&
	rag-index --json x.rag delete --id c1 --doc-id d5 --id nope >rep &&
	grep_q "\"deleted\":4" rep &&
	rag-index x.rag stats >st && grep_q "^chunks: 26$" st && grep_q "^vectors: 26$" st &&
	echo "{\"qid\":\"q\",\"text\":\"word16\"}" | rag-retrieve -q x.rag >hits && ! test -s hits &&
	echo "{\"qid\":\"q\",\"text\":\"word19\"}" | rag-retrieve -q x.rag >hits && grep_q "\"id\":\"c19\"" hits
'

test_expect_success 'compact keeps every chunk and answer' '
	fresh;
	gen 30 a | rag-index x.rag && rag-index x.rag delete --doc-id d0 &&
	echo "{\"qid\":\"q\",\"text\":\"common\",\"embedding\":[1,2,0,1]}" >q.jsonl &&
	rag-retrieve -q -k 30 x.rag <q.jsonl >before &&
	rag-index x.rag compact && rag-index x.rag stats >st && grep_q "^chunks: 27$" st &&
	rag-retrieve -q -k 30 x.rag <q.jsonl >after && test_cmp before after
'

test_expect_success 'merge of shards equals one index' '
	fresh;
	gen 30 a >all.jsonl && head -n 12 all.jsonl >s1.jsonl && tail -n 18 all.jsonl >s2.jsonl &&
	rag-index one.rag all.jsonl && rag-index s1.rag s1.jsonl && rag-index s2.rag s2.jsonl &&
	rag-index merge m.rag s1.rag s2.rag &&
	rag-index m.rag stats --json | jq -e ".chunks == 30 and .vectors == 30" >/dev/null &&
	echo "{\"qid\":\"q\",\"text\":\"common word7\",\"embedding\":[1,2,0,1]}" >q.jsonl &&
	rag-retrieve -q -k 10 one.rag <q.jsonl | jq -c "[.id, .rank]" >a &&
	rag-retrieve -q -k 10 m.rag <q.jsonl | jq -c "[.id, .rank]" >b && test_cmp a b
'

for st in f32 f16 int8; do
	test_expect_success "storage $st: dense ranking as f32" "
		fresh;
		gen 30 a >c.jsonl && rag-index --storage $st s-$st.rag c.jsonl &&
		rag-index s-$st.rag stats | grep -q '^storage: $st\$' &&
		echo '{\"qid\":\"q\",\"embedding\":[3,1,2,1]}' | rag-retrieve -q -k 3 s-$st.rag | jq -r .id >ids &&
		test \$(head -n 1 ids) = c11 && test \$(wc -l <ids) -eq 3
	"
done

test_expect_success 'metric l2 and ip' '
	fresh;
	printf "%s\n" "{\"id\":\"a\",\"embedding\":[1,0]}" "{\"id\":\"b\",\"embedding\":[10,0]}" >v.jsonl &&
	rag-index --metric l2 l2.rag v.jsonl && rag-index --metric ip ip.rag v.jsonl &&
	echo "{\"qid\":\"q\",\"embedding\":[1,0]}" | rag-retrieve -q -k 1 l2.rag | grep -q "\"id\":\"a\"" &&
	echo "{\"qid\":\"q\",\"embedding\":[1,0]}" | rag-retrieve -q -k 1 ip.rag | grep -q "\"id\":\"b\""
'

test_expect_success 'porter stemming is fixed at creation and used for queries' '
	fresh;
	echo "{\"id\":\"a\",\"text\":\"running connections\"}" | rag-index --stem porter p.rag &&
	echo "{\"qid\":\"q\",\"text\":\"connected runs\"}" | rag-retrieve -q p.rag | grep -q "\"id\":\"a\"" &&
	rag-index p.rag stats | grep -q "^stem: porter$"
'

# ann: 600 random 16-d vectors, 20 queries
randvec() {
	awk -v n="$1" -v seed="$2" -v pre="$3" 'BEGIN { srand(seed); for (i = 0; i < n; i++) {
		printf "{\"%s\":\"%d\",\"embedding\":[", pre, i
		for (d = 0; d < 16; d++) printf "%s%.5f", (d ? "," : ""), rand() - 0.5
		print "]}" } }'
}
test_expect_success 'ann: an HNSW graph beside the vectors, recall against exact search' '
	fresh;
	randvec 600 1 id >v.jsonl && randvec 20 2 qid >q.jsonl &&
	rag-index --ann --ann-m 8 --ef-construction 100 a.rag v.jsonl && test -f a.rag.ann.1 &&
	rag-index a.rag stats --json | jq -e ".ann == \"hnsw\" and .ann_m == 8 and .ann_bytes > 0" >/dev/null &&
	rag-retrieve -q -k 10 --format trec a.rag <q.jsonl | cut -d" " -f1,3 | sort >exact &&
	rag-retrieve -q -k 10 --ann --ef-search 64 --format trec a.rag <q.jsonl | cut -d" " -f1,3 | sort >approx &&
	test $(wc -l <approx) -eq 200 &&
	common=$(comm -12 exact approx | wc -l) && echo "recall@10: $common/200" && test $common -ge 180
'
test_expect_success 'ann: deletes and updates reach the graph; compact rebuilds it' '
	fresh;
	randvec 600 1 id >v.jsonl && rag-index --ann a.rag v.jsonl &&
	head -n 1 v.jsonl | sed "s/\"id\"/\"qid\"/" >q.jsonl &&
	rag-retrieve -q -k 1 --ann --format trec a.rag <q.jsonl | grep -q " 0 1 " &&
	rag-index a.rag delete --id 0 &&
	rag-retrieve -q -k 1 --ann --format trec a.rag <q.jsonl >r && ! grep -q " 0 1 " r &&
	rag-index a.rag compact && test -f a.rag.ann.3 && ! test -f a.rag.ann.2 &&
	rag-index a.rag stats --json | jq -e ".vectors == 599" >/dev/null
'
test_expect_success 'ann: switched on for an existing index' '
	fresh;
	randvec 100 1 id | rag-index b.rag && ! ls b.rag.ann.* 2>/dev/null &&
	rag-index --ann b.rag </dev/null && test -f b.rag.ann.2 &&
	randvec 1 3 qid | rag-retrieve -q -k 3 --ann b.rag >h && test $(wc -l <h) -eq 3
'
test_expect_success 'ann: filters still apply before top-k' '
	fresh;
	randvec 300 1 id | awk "{ sub(/\\}\$/, \",\\\"meta\\\":{\\\"odd\\\":\" (NR % 2) \"}}\"); print }" >v.jsonl &&
	head -n 1 v.jsonl | jq -e ".meta.odd == 1" >/dev/null &&
	rag-index --ann f.rag v.jsonl &&
	randvec 1 5 qid | rag-retrieve -q -k 20 --ann --filter "odd = 0" f.rag >h &&
	test $(wc -l <h) -eq 20 && ! grep -q "\"odd\":1" h
'

test_done
