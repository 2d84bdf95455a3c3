#!/bin/sh
# scripts/demo, model-free part, on the Cranfield collection in data/cranfield:
# chunk, BM25 index, retrieve, rag-eval; the figures printed and sensible
# (BM25 on Cranfield: nDCG@10 about 0.36, recall@100 about 0.73), and the
# advice on where to get models.
. "$top_srcdir/tests/cli/lib.sh"

command -v jq >/dev/null || skip_all 'jq not installed'
test -r "$top_srcdir/data/cranfield/corpus.jsonl" || skip_all 'data/cranfield not in this tree'

test_expect_success 'the demo runs without models and prints the figures' '
	"$top_srcdir/scripts/demo" --no-build --dir demo >out 2>err &&
	grep_q "^ndcg_cut_10  *	all	0\.[0-9]*$" out &&
	awk "/^ndcg_cut_10 / { exit !(\$3 > 0.33) }" out &&
	awk "/^map / { exit !(\$3 > 0.25) }" out &&
	awk "/^recall_100 / { exit !(\$3 > 0.70) }" out &&
	grep_q "bge-small-en-v1.5" out && grep_q "rag-model convert" out &&
	grep_q "Qwen2.5-0.5B-Instruct" out &&
	test $(wc -l <demo/run.bm25) -gt 20000 &&
	test ! -s err
'

test_expect_code 66 'a model file that does not exist: exit 66, named' '
	"$top_srcdir/scripts/demo" --no-build --dir demo --embed no-such.gguf >out 2>err; rc=$?
	grep_q "no-such.gguf" err || exit 9; exit $rc
'

test_expect_code 64 'an unknown argument: exit 64 with the usage' '
	"$top_srcdir/scripts/demo" --bogus 2>err; rc=$?
	grep_q "Usage: scripts/demo" err || exit 9; exit $rc
'

test_done
