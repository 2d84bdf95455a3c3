#!/bin/sh
# rag-index/rag-retrieve on bad records, mismatches, foreign and corrupted files.
. "$top_srcdir/tests/cli/lib.sh"

# Tests share the scratch directory: each starts from no index.
fresh() { rm -rf ./*.rag ./*.rag.* ./*.rag-* ./*.db; }

rec() { printf '{"id":"%s","text":"t %s","embedding":[%s]}\n' "$1" "$1" "$2"; }

test_expect_code 65 'a dimension mismatch is exit 65 naming the line' '
	fresh;
	{ rec a 1,0,0; rec b 1,0; } >c.jsonl &&
	rag-index x.rag c.jsonl 2>err; rc=$?; cat err; grep_q "c.jsonl: line 2: embedding has 2 dimensions; the index has 3" err; exit $rc
'
test_expect_success 'and nothing of that run is committed; a good run then works' '
	fresh;
	{ rec a 1,0,0; rec b 1,0; } >c.jsonl && rag-index x.rag c.jsonl 2>/dev/null;
	! test -f x.rag.vec.1 &&
	{ echo "{\"qid\":\"q\",\"text\":\"t\"}" | rag-retrieve -q x.rag >hits 2>/dev/null; test ! -s hits; } &&
	rec a 1,0,0 | rag-index x.rag && rag-index x.rag stats | grep -q "^chunks: 1$"
'
test_expect_code 65 'a dimension differing from an existing index is 65' '
	fresh;
	rec a 1,0,0 | rag-index x.rag && rec b 1,0 | rag-index x.rag
'
test_expect_success '--skip-bad skips and counts bad records' '
	fresh;
	{ rec a 1,0,0; echo "{oops"; echo "{\"text\":\"no id\"}"; rec b 1,0; rec c 0,1,0; } >c.jsonl &&
	rag-index --json --skip-bad -q x.rag c.jsonl >rep && grep_q "\"added\":2" rep && grep_q "\"skipped_bad\":3" rep
'
test_expect_code 65 'a model mismatch is exit 65' '
	fresh;
	rec a 1,0 | rag-index --model e5 x.rag && rec b 0,1 | rag-index --model bge x.rag 2>err; rc=$?;
	grep_q "model .e5." err; exit $rc
'
test_expect_code 65 'a record naming another model is exit 65' '
	fresh;
	rec a 1,0 | rag-index --model e5 x.rag &&
	echo "{\"id\":\"b\",\"model\":\"bge\",\"embedding\":[1,0]}" | rag-index x.rag
'
test_expect_code 65 'changing the analyzer of an index is refused' '
	fresh;
	rec a 1,0 | rag-index x.rag && rec b 1,0 | rag-index --stem porter x.rag
'
test_expect_code 65 'bad JSON is exit 65' 'fresh; echo "{nope" | rag-index x.rag'
test_expect_code 65 'acl must be an array of strings' 'fresh; echo "{\"id\":\"a\",\"acl\":\"x\"}" | rag-index x.rag'
test_expect_code 66 'a missing input file is 66' 'fresh; rag-index x.rag nope.jsonl'
test_expect_code 66 'retrieve from a missing index is 66' 'fresh; echo "{}" | rag-retrieve nope.rag'
test_expect_code 66 'stats of a missing index is 66' 'fresh; rag-index nope.rag stats'
test_expect_code 66 'delete from a missing index is 66' 'fresh; rag-index nope.rag delete --id a'
test_expect_code 64 'delete without ids is a usage error' 'fresh; rec a 1 | rag-index x.rag && rag-index x.rag delete'
test_expect_code 64 '--id without delete is a usage error' 'fresh; rag-index x.rag --id a </dev/null'
test_expect_code 64 'a bad --storage is a usage error' 'fresh; rag-index --storage f8 x.rag </dev/null'
test_expect_code 64 'merge without inputs is a usage error' 'fresh; rag-index merge out.rag'

test_expect_code 78 'a foreign file is 78 for rag-index' 'fresh; echo hello >f.rag && rec a 1 | rag-index f.rag'
test_expect_code 78 'a foreign file is 78 for rag-retrieve' 'fresh; echo hello >f.rag && echo "{}" | rag-retrieve f.rag'
test_expect_code 78 'another SQLite database is 78' '
	fresh;
	python3 -c "import sqlite3; c=sqlite3.connect(\"o.db\"); c.execute(\"create table t(x)\"); c.commit()" &&
	echo "{}" | rag-retrieve o.db
'
test_expect_code 78 'a directory is 78' 'fresh; mkdir d.rag && echo "{}" | rag-retrieve d.rag'
test_expect_code 78 'a corrupted vector file is 78' '
	fresh;
	{ rec a 1,0,0; rec b 0,1,0; } | rag-index x.rag &&
	printf "\377\377\377\377" | dd of=x.rag.vec.1 bs=1 seek=200 conv=notrunc 2>/dev/null &&
	echo "{\"qid\":\"q\",\"text\":\"t\"}" | rag-retrieve x.rag 2>err; rc=$?; grep_q checksum err; exit $rc
'
test_expect_code 78 'a truncated vector file is 78' '
	fresh;
	{ rec a 1,0,0; rec b 0,1,0; } | rag-index x.rag && truncate -s 150 x.rag.vec.1 &&
	echo "{\"qid\":\"q\",\"text\":\"t\"}" | rag-retrieve x.rag
'
test_expect_code 78 'a missing vector file is 78' '
	fresh;
	{ rec a 1,0,0; } | rag-index x.rag && rm x.rag.vec.1 &&
	echo "{\"qid\":\"q\",\"text\":\"t\"}" | rag-retrieve x.rag
'
test_expect_success 'a truncated database is 78 or 74 (or unnoticed), never a crash' '
	fresh;
	awk "BEGIN { for (i = 0; i < 300; i++) printf \"{\\\"id\\\":\\\"%d\\\",\\\"text\\\":\\\"w%d common\\\"}\\n\", i, i }" | rag-index x.rag &&
	rag-index x.rag compact &&
	size=$(wc -c <x.rag) &&
	for cut in 10 100 1000 4096 5000 $((size / 2)) $((size - 100)); do
		rm -f y.rag*; head -c $cut x.rag >y.rag
		echo "{\"qid\":\"q\",\"text\":\"common\"}" | rag-retrieve -q y.rag >/dev/null 2>err; rc=$?
		case $rc in 78|74|0) ;; *) echo "cut $cut: exit $rc"; cat err; exit 1;; esac
	done
'
test_done
