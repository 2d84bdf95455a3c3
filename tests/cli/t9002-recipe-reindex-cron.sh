#!/bin/sh
# recipes/reindex-cron: a full rebuild switched in atomically, one run at a
# time (a second run exits 75, or waits with --wait), one log line, nonzero
# exit on failure with the previous index left live and usable.
. "$top_srcdir/tests/cli/lib.sh"

command -v flock >/dev/null || skip_all 'flock (util-linux) not installed'
command -v bash >/dev/null || skip_all 'bash not installed'
RC=$top_srcdir/recipes/reindex-cron
M=$FIXTURES/models/tiny-embed-mean-f16.gguf
cp -R "$TESTDATA/recipes/docs" "$TRASH/docs"
bm25() { echo "{\"qid\":\"q\",\"text\":\"$1\"}" | rag-retrieve -q --mode bm25 root/current/index.rag; }

test_expect_success 'a first run builds, links root/current and logs one line' '
	"$RC" --model "$M" --log cron.log docs root 2>err &&
	test -L root/current &&
	rag-index root/current/index.rag stats >stats && grep_q "^documents: 4$" stats &&
	grep_q "^vectors: 4$" stats &&
	test $(wc -l <cron.log) -eq 1 &&
	grep_q "reindex-cron: ok docs=4 chunks=4 .*elapsed=[0-9]*s" cron.log &&
	test "$(cat err)" = "$(cat cron.log)" &&
	echo "{\"qid\":\"q\",\"text\":\"comet\"}" | rag-retrieve -q -k 1 root/current/index.rag >hits &&
	grep_q "\"doc_id\":\"guide/comets.html\"" hits
'

test_expect_success 'a second run switches to a new build and keeps one old one' '
	old=$(readlink root/current) &&
	echo "Zebras graze." >docs/zebra.md &&
	"$RC" --model "$M" --log cron.log docs root 2>err &&
	test "$(readlink root/current)" != "$old" &&
	test -d "root/$old" &&
	grep_q "ok docs=5 chunks=5" err && bm25 zebras >hits && grep_q zebra.md hits &&
	"$RC" --model "$M" docs root 2>err && test $(ls root/builds | wc -l) -eq 2 &&
	test ! -d "root/$old"
'

test_expect_code 75 'a run while another holds the lock exits 75 and says why' '
	flock root/lock -c "\"$RC\" --model \"$M\" docs root" 2>err; rc=$?
	cat err; grep_q "another reindex is running" err || exit 1; exit $rc
'

test_expect_success 'with --wait a run waits for the lock holder, then runs' '
	before=$(readlink root/current) &&
	( flock root/lock -c "touch held; sleep 2" & ) &&
	while [ ! -e held ]; do sleep 0.1; done &&
	"$RC" --wait --model "$M" docs root 2>err &&
	grep_q "waiting for it" err && grep_q "reindex-cron: ok" err &&
	test "$(readlink root/current)" != "$before"
'

test_expect_success 'a failing stage exits nonzero, logs FAILED, leaves current usable' '
	before=$(readlink root/current) &&
	head -c 200 "$M" >broken.gguf && n=$(ls root/builds | wc -l) &&
	{ "$RC" --model broken.gguf --log cron.log docs root 2>err; rc=$?; } ;
	test $rc -eq 78 &&
	grep_q "FAILED (rag-chunk exit 78)" err && tail -n 1 cron.log | grep -q FAILED &&
	test "$(readlink root/current)" = "$before" &&
	test $(ls root/builds | wc -l) -eq $n &&
	bm25 zebras >hits && grep_q zebra.md hits
'

test_expect_code 66 'a missing document folder is exit 66' '
	"$RC" no-such-dir root
'

test_expect_code 64 'a usage error is exit 64' '
	"$RC" --bogus docs root
'

test_done
