#!/bin/sh
# rag-eval equals trec_eval: every per-query and summary figure of the recorded
# pytrec_eval goldens (BM25 runs over scifact, nfcorpus and cranfield, and
# constructed runs with ties, missing queries, unjudged documents, graded and
# negative judgements, hit records) is reproduced within 1e-9.
. "$top_srcdir/tests/cli/lib.sh"

command -v python3 >/dev/null 2>&1 || skip_all 'python3 not installed'

test_expect_success 'every golden figure matches (tolerance 1e-9)' '
	python3 "$top_srcdir/tests/eval/compare.py" "$TESTDATA/eval" "$TESTDATA"/eval/*.golden.json.gz >out &&
	cat out &&
	grep_q "max |diff| .*, 0 case(s) failed" out &&
	test $(grep -c "^ok " out) -eq $(ls "$TESTDATA"/eval/*.golden.json.gz | wc -l)
'

test_expect_success 'the comparison fails on a wrong figure' '
	gzip -dc "$TESTDATA/eval/scifact-bm25.golden.json.gz" |
		sed "s/\"map\": 0\.6441691275602/\"map\": 0.6451691275602/" >bad.golden.json &&
	! grep -q "0.6441691275602" bad.golden.json &&
	! python3 "$top_srcdir/tests/eval/compare.py" "$TESTDATA/eval" bad.golden.json >out &&
	grep_q "FAIL scifact-bm25" out
'

test_expect_success 'the summary table has trec_eval figures to 4 decimals' '
	gzip -dc "$TESTDATA/eval/scifact.qrels.gz" >q && gzip -dc "$TESTDATA/eval/scifact.bm25.run.gz" >r &&
	rag-eval --qrels q r -m num_q -m map -m ndcg_cut_10 -m P_10 >out &&
	printf "runid                 \tall\tfts5-bm25\nnum_q                 \tall\t300\nmap                   \tall\t0.6442\nndcg_cut_10           \tall\t0.6874\nP_10                  \tall\t0.0907\n" >want &&
	test_cmp want out
'

test_done
