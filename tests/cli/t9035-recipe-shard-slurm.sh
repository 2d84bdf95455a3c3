#!/bin/sh
# recipes/shard.slurm, its array tasks run here one after another with the
# variables Slurm would set: every task reads the whole chunk file with
# --shard I/N; the merge holds every chunk once.
. "$top_srcdir/tests/cli/lib.sh"

command -v bash >/dev/null || skip_all 'bash not installed'
SL=$top_srcdir/recipes/shard.slurm
M=$FIXTURES/models/tiny-embed-mean-f16.gguf
i=0; while [ $i -lt 30 ]; do
	printf '{"_id":"d%02d","text":"document %d about topic%d"}\n' $i $i $((i % 5))
	i=$((i + 1))
done | rag-chunk -q >"$TRASH/chunks.jsonl" || exit 99

test_expect_success 'three array tasks over the shared chunk file, then the merge' '
	mkdir sh &&
	for t in 0 1 2; do
		SLURM_ARRAY_TASK_ID=$t SLURM_ARRAY_TASK_COUNT=3 bash "$SL" embed sh "$M" chunks.jsonl || exit 1
		test -e sh/shard-000$t.done && rag-index sh/shard-000$t.rag stats >st$t &&
		c=$(sed -n "s/^chunks: //p" st$t) && test $c -gt 0 || exit 1
	done &&
	bash "$SL" merge sh all.rag &&
	rag-index all.rag stats >stats && grep_q "^chunks: 30$" stats && grep_q "^vectors: 30$" stats
'

test_expect_success 'a task whose shard is done does nothing' '
	mkdir d && touch d/shard-0001.done &&
	SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=3 bash "$SL" embed d "$M" chunks.jsonl &&
	test ! -e d/shard-0001.rag
'

test_expect_code 64 'array indexes beyond the count are refused' '
	mkdir e && SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_COUNT=3 bash "$SL" embed e "$M" chunks.jsonl
'

test_expect_code 64 'a bad command is a usage error' '
	bash "$SL" frobnicate
'

test_done
