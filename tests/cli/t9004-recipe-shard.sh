#!/bin/sh
# recipes/shard: N GNU parallel jobs, each embedding and indexing its
# --shard I/N of the whole chunk file (here on this machine, also through --sshlogin :), the
# shards merged with rag-index merge, and queries over the merged index and
# over the shards given together to rag-retrieve.
. "$top_srcdir/tests/cli/lib.sh"

command -v parallel >/dev/null || skip_all 'GNU parallel not installed (Debian package parallel)'
parallel --version 2>/dev/null | grep -q 'GNU parallel' || skip_all 'parallel is not GNU parallel'
command -v bash >/dev/null || skip_all 'bash not installed'
SH=$top_srcdir/recipes/shard
M=$FIXTURES/models/tiny-embed-mean-f16.gguf
# Forty small documents, one chunk each.
i=0; while [ $i -lt 40 ]; do
	printf '{"_id":"d%02d","text":"document %d about topic%d and word%d"}\n' $i $i $((i % 7)) $i
	i=$((i + 1))
done | rag-chunk -q >"$TRASH/chunks.jsonl" || exit 99
printf '{"qid":"a","text":"topic3 word10"}\n{"qid":"b","text":"document 17"}\n' |
	rag-embed -q --model "$M" --mode query >"$TRASH/q.jsonl" || exit 99
top_ids() { sed 's/.*"id":"\([^"]*\)".*/\1/' "$1"; }

test_expect_success 'four shards on two local job slots, merged' '
	"$SH" --shards 4 --jobs 2 --model "$M" chunks.jsonl all.rag 2>err &&
	grep_q "4 shards merged into all.rag" err &&
	test $(ls all.rag.shards/shard-*.rag | wc -l) -eq 4 &&
	! ls all.rag.shards/*.jsonl 2>/dev/null &&
	for i in 0 1 2 3; do
		rag-index all.rag.shards/shard-000$i.rag stats >st$i &&
		c=$(sed -n "s/^chunks: //p" st$i) && test $c -gt 0 || exit 1
	done &&
	rag-index all.rag stats >stats && grep_q "^chunks: 40$" stats && grep_q "^vectors: 40$" stats
'

test_expect_success 'dense search: the merged index and the shards together agree' '
	rag-retrieve -q --mode dense -k 5 all.rag <q.jsonl >merged &&
	rag-retrieve -q --mode dense -k 5 all.rag.shards/shard-*.rag <q.jsonl >shards &&
	test $(wc -l <merged) -eq 10 &&
	top_ids merged >m.ids && top_ids shards >s.ids && test_cmp m.ids s.ids
'

test_expect_success 'BM25 over the shards finds what the merged index finds first' '
	rag-retrieve -q --mode bm25 -k 1 all.rag <q.jsonl >merged &&
	rag-retrieve -q --mode bm25 -k 1 all.rag.shards/shard-*.rag <q.jsonl >shards &&
	top_ids merged >m.ids && top_ids shards >s.ids && test_cmp m.ids s.ids &&
	grep_q "d17#" m.ids
'

test_expect_success 'through --sshlogin (":" is this machine), BM25 only' '
	"$SH" --shards 3 --sshlogin 2/: --dir ssh.shards chunks.jsonl ssh.rag 2>err &&
	rag-index ssh.rag stats >stats && grep_q "^chunks: 40$" stats && grep_q "^vectors: 0$" stats
'

test_expect_success 'a failing shard job fails the run; a rerun redoes only what is missing' '
	head -c 200 "$M" >broken.gguf &&
	{ "$SH" --shards 2 --model broken.gguf --dir f.shards chunks.jsonl f.rag 2>err; rc=$?; } ;
	test $rc -eq 1 && grep_q "a shard job failed" err && test ! -e f.rag &&
	test ! -e f.shards/shard-0000.done &&
	cp "$M" broken.gguf &&
	"$SH" --shards 2 --model broken.gguf --dir f.shards chunks.jsonl f.rag 2>err &&
	rag-index f.rag stats >stats && grep_q "^chunks: 40$" stats
'

test_expect_code 64 'a bad --shards is a usage error' '
	"$SH" --shards 0 chunks.jsonl x.rag
'

test_expect_code 64 'a shard folder made with another --shards is refused' '
	"$SH" --shards 3 --dir all.rag.shards chunks.jsonl y.rag 2>err; rc=$?
	grep_q "holds 4 shards, not 3" err && exit $rc
'

test_expect_success 'more shards than documents: the empty shards merge too' '
	head -n 3 chunks.jsonl >few.jsonl &&
	"$SH" --shards 6 --jobs 2 --model "$M" few.jsonl few.rag 2>err &&
	rag-index few.rag stats >stats && grep_q "^chunks: 3$" stats && grep_q "^vectors: 3$" stats
'

test_done
