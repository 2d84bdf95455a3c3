#!/bin/sh
# recipes/eval-gate: retrieval evaluated at document level, gated by
# rag-eval --min: exit 0 when every minimum is met, 1 when one is not.
. "$top_srcdir/tests/cli/lib.sh"

command -v bash >/dev/null || skip_all 'bash not installed'
EG=$top_srcdir/recipes/eval-gate
D=$TESTDATA/recipes
M=$FIXTURES/models/tiny-embed-mean-f16.gguf
# Chunks whose doc_id is the path below docs/, as the qrels name them.
(cd "$D/docs" && rag-chunk -q --model "$M" aardvark.md bridges.txt guide/comets.html guide/deserts.md) |
	rag-embed -q --model "$M" --mode document | rag-index -q "$TRASH/i.rag" || exit 99

test_expect_success 'figures over every judged query (-c: q4 finds nothing, counts 0)' '
	"$EG" --qrels "$D/qrels.tsv" --min ndcg_cut_10=0.5 --run run i.rag "$D/queries.jsonl" >out &&
	grep_q "^ndcg_cut_10  *	all	0.7500$" out &&
	grep_q "^recall_100  *	all	0.7500$" out &&
	test $(wc -l <run) -eq 3 && grep_q "^q2 Q0 guide/comets.html 1 " run
'

test_expect_code 1 'a minimum not met is exit 1, naming the measure' '
	"$EG" --qrels "$D/qrels.tsv" --min map=0.5 --min ndcg_cut_10=0.9 i.rag "$D/queries.jsonl" >out 2>err;
	rc=$?; grep_q "ndcg_cut_10 of .bm25. is 0.7500, below 0.9" err || exit 9; exit $rc
'

test_expect_success 'dense and hybrid with --embed run and gate too' '
	"$EG" --qrels "$D/qrels.tsv" --embed "$M" --min num_q=4 i.rag "$D/queries.jsonl" >out &&
	grep_q "^runid  *	all	hybrid$" out &&
	"$EG" --qrels "$D/qrels.tsv" --embed "$M" --mode dense --min recall_100=0.99 i.rag "$D/queries.jsonl" >out &&
	grep_q "^recall_100  *	all	1.0000$" out
'

test_expect_code 66 'a missing index is the retriever'"'"'s exit 66' '
	"$EG" --qrels "$D/qrels.tsv" nosuch.rag "$D/queries.jsonl"
'

test_expect_code 64 'no --qrels is a usage error' '
	"$EG" i.rag "$D/queries.jsonl"
'

test_done
