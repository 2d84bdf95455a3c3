#!/bin/sh
# A new user's session, recorded: --help of every program, a typo in an
# option, a missing model file, an empty input, Ctrl-C during rag-index of a
# large input (in a tmux terminal), and quiet pipes.  Each response must name
# the problem with the documented exit code, and leave nothing broken.
. "$top_srcdir/tests/cli/lib.sh"

F=$FIXTURES/models
E=$F/tiny-embed-mean-f16.gguf
PROGS="rag-model rag-tokenize rag-chunk rag-embed rag-index rag-retrieve rag-rerank rag-generate rag-eval"

test_expect_success '--help of every program: exit 0, usage, options, nothing on stderr' '
	for p in $PROGS; do
		$p --help >out 2>err || { echo "$p --help failed"; exit 1; }
		head -n 1 out | grep -q "^Usage: $p" || { echo "$p: no Usage line"; cat out; exit 1; }
		grep -q "^ *-h, --help" out || { echo "$p: --help not listed"; exit 1; }
		test ! -s err || { echo "$p wrote to stderr"; cat err; exit 1; }
	done
'

# One likely typo per program and the option it must suggest.
test_expect_success 'a typo in an option: exit 64, the suggestion, the --help hint' '
	while read -r p typo want; do
		$p $typo x >out 2>err; rc=$?
		test $rc -eq 64 || { echo "$p $typo: exit $rc"; cat err; exit 1; }
		grep -q "did you mean .$want.?" err || { echo "$p $typo: no suggestion of $want"; cat err; exit 1; }
		grep -q "Try .$p --help." err || { echo "$p: no --help hint"; cat err; exit 1; }
		test ! -s out || exit 1
	done <<-EOT
	rag-model --jsno --json
	rag-tokenize --modle --model
	rag-chunk --overlpa --overlap
	rag-embed --poolng --pooling
	rag-index --jsn --json
	rag-retrieve --filtr --filter
	rag-rerank --topk --top-k
	rag-generate --temprature --temperature
	rag-eval --qerls --qrels
	EOT
'

test_expect_success 'a missing model file: exit 66, the file named' '
	for p in rag-tokenize rag-chunk rag-embed rag-rerank rag-generate; do
		echo "{\"text\":\"hello\"}" | $p --model no-such-model.gguf >out 2>err; rc=$?
		test $rc -eq 66 || { echo "$p: exit $rc"; cat err; exit 1; }
		grep -q "^$p: error: cannot open .no-such-model.gguf.: No such file" err ||
			{ echo "$p:"; cat err; exit 1; }
		test ! -s out || exit 1
	done &&
	{ rag-model info no-such-model.gguf 2>err; test $? -eq 66; } &&
	grep_q "no-such-model.gguf" err
'

test_expect_success 'a file that is not a model: exit 78, the file named' '
	echo "not a model" >notes.gguf &&
	{ echo "{\"text\":\"hi\"}" | rag-embed --model notes.gguf 2>err; test $? -eq 78; } &&
	grep_q "notes.gguf" err
'

test_expect_success 'empty input: exit 0, no output, no noise (filters and the indexer)' '
	rag-chunk </dev/null >o1 2>e1 && rag-tokenize --model "$E" </dev/null >o2 2>e2 &&
	rag-embed --model "$E" </dev/null >o3 2>e3 &&
	rag-rerank --model "$F/tiny-rerank-f16.gguf" </dev/null >o4 2>e4 &&
	rag-index empty.rag </dev/null >o5 2>e5 &&
	rag-retrieve empty.rag </dev/null >o6 2>e6 &&
	for i in 1 2 3 4 5 6; do test ! -s o$i && test ! -s e$i || exit 1; done &&
	rag-index empty.rag stats >stats && grep_q "^chunks: 0$" stats
'

test_expect_code 65 'empty input to rag-eval: exit 65, says no query is judged' '
	echo "q1 0 d1 1" >qrels && rag-eval --qrels qrels - </dev/null 2>err; rc=$?
	grep_q "no query" err || exit 9; exit $rc
'

test_expect_success 'an unknown index is exit 66 or 78, named' '
	{ echo "{\"text\":\"x\"}" | rag-retrieve no-such.rag 2>err; test $? -eq 66; } && grep_q no-such.rag err &&
	echo junk >junk.rag &&
	{ echo "{\"text\":\"x\"}" | rag-retrieve junk.rag 2>err; test $? -eq 78; } && grep_q junk.rag err
'

test_expect_success 'pipes stay quiet: no progress or notes on stderr without -v' '
	printf "{\"_id\":\"d%d\",\"text\":\"text number %d about things\"}\n" 1 1 2 2 3 3 >docs.jsonl &&
	rag-chunk docs.jsonl 2>e1 | rag-embed --model "$E" 2>e2 | rag-index quiet.rag 2>e3 &&
	echo "{\"qid\":\"q\",\"text\":\"things\"}" | rag-retrieve -k 3 quiet.rag 2>e4 |
		rag-rerank --model "$F/tiny-rerank-f16.gguf" 2>e5 >hits &&
	for i in 1 2 3 4 5; do test ! -s e$i || { cat e$i; exit 1; }; done &&
	test $(wc -l <hits) -eq 3
'

# Ctrl-C in a real terminal (tmux): the previous index stays intact and usable.
if command -v tmux >/dev/null; then
	TM="tmux -L ragkit-t9010-$$ -f /dev/null"
	awk "BEGIN { for (i = 0; i < 200000; i++)
		printf \"{\\\"id\\\":\\\"c%d\\\",\\\"doc_id\\\":\\\"d%d\\\",\\\"text\\\":\\\"word%d alpha beta gamma %d\\\"}\\n\", i, i / 4, i % 977, i }" >big.jsonl
	head -n 50 big.jsonl | rag-index idx.rag
	rag-index idx.rag stats >stats.before
	test_expect_success 'Ctrl-C during rag-index: exit 130, previous index intact, no temp files' '
		$TM new-session -d -s s -x 100 -y 20 "env PATH=\"$PATH\" sh -c '\''trap : INT; rag-index idx.rag big.jsonl; echo \$? >rc'\''" &&
		n=0; while [ ! -s idx.rag-wal ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n + 1)); done &&
		test -s idx.rag-wal && $TM send-keys -t s C-c &&
		n=0; while [ ! -s rc ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n + 1)); done;
		$TM kill-server; test "$(cat rc)" = 130 &&
		rag-index idx.rag stats >stats.after && test_cmp stats.before stats.after &&
		echo "{\"qid\":\"q\",\"text\":\"alpha\"}" | rag-retrieve -q -k 3 idx.rag >hits && test $(wc -l <hits) -eq 3 &&
		! ls | grep -q "tmp" &&
		tail -n 10 big.jsonl | rag-index idx.rag && rag-index idx.rag stats >stats && grep_q "^chunks: 60$" stats
	'
	# Progress on a terminal: shown on stderr (the count; total unknown on
	# stdin, so no ETA), never in the output itself.
	test_expect_success 'on a terminal, progress is shown and output files are the same as in a pipe' '
		head -n 400 big.jsonl >mid.jsonl &&
		rag-embed --model "$E" <mid.jsonl >pipe.out 2>/dev/null &&
		$TM new-session -d -s p -x 150 -y 10 "env PATH=\"$PATH\" sh -c '\''rag-embed --model \"$E\" <mid.jsonl >tty.out; echo \$? >rc2; sleep 30'\''" &&
		n=0; while [ ! -s rc2 ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n + 1)); done;
		$TM capture-pane -p -t s >pane 2>/dev/null; $TM capture-pane -p -t p >pane; $TM kill-server;
		test "$(cat rc2)" = 0 && test_cmp pipe.out tty.out &&
		grep_q "rag-embed: 400 records" pane
	'
else
	say "# tmux not installed: Ctrl-C and terminal checks skipped"
fi

test_done
