#!/bin/sh
# rag-eval's command line: output forms, several runs with paired tests, gates,
# -c, -l, formats, standard input, write errors.
. "$top_srcdir/tests/cli/lib.sh"

EX=$TESTDATA/examples
Q=$EX/rag-eval-qrels.tsv
BM25=$EX/rag-eval-bm25.run
RR=$EX/rag-eval-rerank.jsonl

test_expect_success 'one run: trec_eval layout, default measures' '
	rag-eval --qrels "$Q" "$BM25" >out &&
	grep_q "^runid  *	all	bm25$" out &&
	grep_q "^num_q  *	all	4$" out &&
	grep_q "^num_ret  *	all	13$" out &&
	grep_q "^map  *	all	0.5347$" out &&
	grep_q "^ndcg_cut_10  *	all	0.6186$" out &&
	grep_q "^recall_100  *	all	1.0000$" out &&
	test $(wc -l <out) -eq 14
'

test_expect_success '-q adds per-query rows before the summary' '
	rag-eval --qrels "$Q" -q -m recip_rank "$BM25" >out &&
	printf "recip_rank            \tq1\t0.5000\nrecip_rank            \tq2\t0.3333\nrecip_rank            \tq3\t1.0000\nrecip_rank            \tq4\t0.5000\nrunid                 \tall\tbm25\nrecip_rank            \tall\t0.5833\n" >want &&
	test_cmp want out
'

test_expect_success 'ties are broken by docid descending, not by the rank column' '
	# q2: doc-y and doc-d both score 7.5; trec_eval puts doc-y first, so the
	# relevant doc-d is at rank 3 (the run file says 3 as well, so scramble it)
	printf "q2 Q0 doc-d 1 7.5 t\nq2 Q0 doc-y 2 7.5 t\nq2 Q0 doc-e 3 8 t\n" >run &&
	rag-eval --qrels "$Q" -m recip_rank -m P_1 run >out &&
	grep_q "^recip_rank  *	all	0.3333$" out &&
	grep_q "^P_1  *	all	0.0000$" out
'

test_expect_success '--json is one object; -q --json is JSON Lines ending with it' '
	rag-eval --qrels "$Q" --json -m map -m P.1,2 "$BM25" >out &&
	test $(wc -l <out) -eq 1 &&
	python3 -c "
import json
d = json.load(open(\"out\"))
r = d[\"runs\"][0]
assert r[\"format\"] == \"trec\" and r[\"tag\"] == \"bm25\", r
assert list(r[\"measures\"]) == [\"map\", \"P_1\", \"P_2\"], r
assert abs(r[\"measures\"][\"map\"] - 0.53472222222222221) < 1e-15
assert d[\"rel_level\"] == 1 and d[\"complete\"] is False
assert \"tests\" not in d and \"gates\" not in d
" &&
	rag-eval --qrels "$Q" --json -q -m map "$BM25" "$RR" >out &&
	test $(wc -l <out) -eq 9 &&
	python3 -c "
import json
lines = [json.loads(l) for l in open(\"out\")]
assert [l[\"qid\"] for l in lines[:4]] == [\"q1\", \"q2\", \"q3\", \"q4\"]
assert lines[4][\"run\"].endswith(\"rag-eval-rerank.jsonl\") and lines[4][\"map\"] == 1
assert len(lines[-1][\"runs\"]) == 2 and len(lines[-1][\"tests\"]) == 1
"
'

test_expect_success 'several runs: side by side, paired tests, reproducible with --seed' '
	rag-eval --qrels "$Q" -m map -m ndcg_cut_10 -m num_rel "$BM25" "$RR" >out &&
	grep_q "^map  *all  *0.5347  *0.8750$" out &&
	grep_q "^num_rel  *all  *7  *7$" out &&
	grep_q "paired tests against .*rag-eval-bm25.run" out &&
	grep_q "rag-eval-rerank.jsonl  *map  *4  *+0.3403  *2.272  *0.1077  *0.2471$" out &&
	! grep -q "rag-eval-rerank.jsonl  *num_rel" out &&
	rag-eval --qrels "$Q" --json --seed 5 --permutations 500 -m map "$BM25" "$RR" >a &&
	rag-eval --qrels "$Q" --json --seed 5 --permutations 500 -m map "$BM25" "$RR" >b &&
	test_cmp a b &&
	python3 -c "
import json
t = json.load(open(\"a\"))[\"tests\"][0]
assert t[\"measure\"] == \"map\" and t[\"n\"] == 4, t
assert abs(t[\"diff\"] - 0.34027777777777779) < 1e-12, t
assert abs(t[\"p_t\"] - 0.10765) < 1e-4, t
# 4 queries: 16 sign patterns, 4 of which reach the observed sum
assert 0.15 < t[\"p_randomization\"] < 0.35, t
"
'

test_expect_success 'several runs with -q: a row per measure and query, - where a run lacks it' '
	grep -v "^q4 " "$BM25" >run &&
	rag-eval --qrels "$Q" -q -m map --permutations 0 run "$RR" >out &&
	grep_q "^measure  *qid  *run  *.*rag-eval-rerank.jsonl$" out &&
	grep_q "^map  *q3  *0.8056  *1.0000$" out &&
	grep_q "^map  *q4  *-  *0.5000$" out &&
	grep_q "^map  *all  *0.5463  *0.8750$" out &&
	grep_q "rag-eval-rerank.jsonl  *map  *3 .* -$" out
'

test_expect_success 'the t-test p-value equals scipy when scipy is installed' '
	python3 -c "import scipy" 2>/dev/null || exit 0
	rag-eval --qrels "$Q" --json -m ndcg_cut_10 "$BM25" "$RR" >a &&
	rag-eval --qrels "$Q" --json -q -m ndcg_cut_10 "$BM25" "$RR" >q &&
	python3 -c "
import json
from scipy import stats
lines = [json.loads(l) for l in open(\"q\")][:-1]
a = [l[\"ndcg_cut_10\"] for l in lines if l[\"run\"].endswith(\".run\")]
b = [l[\"ndcg_cut_10\"] for l in lines if l[\"run\"].endswith(\".jsonl\")]
t = json.load(open(\"a\"))[\"tests\"][0]
r = stats.ttest_rel(b, a)
assert abs(t[\"t\"] - r.statistic) < 1e-12 and abs(t[\"p_t\"] - r.pvalue) < 1e-12, (t, r)
"
'

test_expect_code 0 '--min gates that pass exit 0' '
	rag-eval --qrels "$Q" --min ndcg_cut_10=0.5 --min recall_100=0.8 "$RR" >out
'

test_expect_success '--min below: exit 1, the failure named, the report still printed' '
	rag-eval --qrels "$Q" -m map --min ndcg_cut_10=0.7 --json "$BM25" "$RR" >out 2>err
	test $? -eq 1 &&
	grep_q "gate failed: ndcg_cut_10 of .*rag-eval-bm25.run.* is 0.6186, below 0.7" err &&
	! grep -q "rerank.jsonl" err &&
	python3 -c "
import json
d = json.load(open(\"out\"))
g = {x[\"run\"].rsplit(\"/\", 1)[-1]: x[\"pass\"] for x in d[\"gates\"]}
assert g == {\"rag-eval-bm25.run\": False, \"rag-eval-rerank.jsonl\": True}, g
assert \"ndcg_cut_10\" in d[\"runs\"][0][\"measures\"]
"
'

test_expect_success '-c averages over every qrels query; -v says what was left out' '
	grep -v "^q4 " "$BM25" >run &&
	echo "q9 Q0 doc-a 1 1 bm25" >>run &&
	rag-eval --qrels "$Q" -m num_q -m recall_100 run >out &&
	grep_q "^num_q  *	all	3$" out && grep_q "^recall_100  *	all	1.0000$" out &&
	rag-eval --qrels "$Q" -c -v -m num_q -m recall_100 -m num_ret run >out 2>err &&
	grep_q "^num_q  *	all	4$" out && grep_q "^recall_100  *	all	0.7500$" out &&
	grep_q "^num_ret  *	all	11$" out &&
	grep_q "1 query not in the qrels ignored (first: .q9.)" err &&
	grep_q "1 qrels query without results scored 0" err
'

test_expect_success '-l 2: only grade 2 is relevant for binary measures' '
	rag-eval --qrels "$Q" -l 2 -m num_rel -m map -m ndcg "$BM25" >a &&
	rag-eval --qrels "$Q" -m ndcg "$BM25" >b &&
	grep_q "^num_rel  *	all	2$" a &&
	grep "^ndcg " a >a.ndcg && grep "^ndcg " b >b.ndcg && test_cmp a.ndcg b.ndcg
'

test_expect_success 'hit records by --format and --id-field; a run on standard input' '
	sed "s/\"id\"/\"doc_id\"/" "$RR" >hits &&
	rag-eval --qrels "$Q" -m map --format jsonl --id-field doc_id hits >a &&
	rag-eval --qrels "$Q" -m map "$RR" >b && test_cmp a b &&
	rag-eval --qrels "$Q" -m map - <"$BM25" >c &&
	grep_q "^map  *	all	0.5347$" c &&
	rag-eval --qrels - -m map "$BM25" <"$Q" >d && test_cmp c d
'

test_expect_success '--format trec refuses hit records (a line number named)' '
	rag-eval --qrels "$Q" --format trec "$RR" 2>err; test $? -eq 65 &&
	grep_q "rag-eval-rerank.jsonl: line 1: expected 6 fields" err
'

test_expect_code 74 'a full standard output is exit 74' '
	rag-eval --qrels "$Q" "$BM25" >/dev/full
'

test_done
