#!/bin/sh
# Progress on stderr for the long-running programs: with -v a progress/summary
# line ("PROG: N UNIT, R/s"), nothing extra without -v in a pipe, and the
# in-place line on a terminal (tmux).
. "$top_srcdir/tests/cli/lib.sh"

E="$FIXTURES/models/tiny-embed-mean-f16.gguf"
R="$FIXTURES/models/tiny-rerank-f16.gguf"
awk 'BEGIN { for (i = 1; i <= 40; i++)
	printf "{\"id\":\"d%d\",\"qid\":\"q\",\"query\":\"what\",\"text\":\"text number %d about things\"}\n", i, i }' >docs.jsonl || exit 99
rag-embed --model "$E" docs.jsonl >emb.jsonl || exit 99

# check PROG UNIT N CMD...: -v gives the "PROG: N UNIT" line; no -v gives an empty stderr.
check() {
	p=$1 unit=$2 n=$3
	shift 3
	"$@" -v >out 2>err || return 1
	grep_q "^$p: $n $unit" err || return 1
	"$@" >out2 2>err2 || return 1
	test_cmp out out2 && { test ! -s err2 || { cat err2; return 1; }; }
}

test_expect_success 'rag-tokenize: records written' '
	check rag-tokenize records 40 rag-tokenize --model "$E" docs.jsonl
'
test_expect_success 'rag-chunk: documents chunked' '
	check rag-chunk documents 40 rag-chunk docs.jsonl
'
test_expect_success 'rag-embed: records written' '
	check rag-embed records 40 rag-embed --model "$E" docs.jsonl
'
test_expect_success 'rag-rerank: records written' '
	check rag-rerank records 40 rag-rerank --model "$R" docs.jsonl
'
test_expect_success 'rag-index add: records read' '
	check rag-index records 40 sh -c "rm -f x.rag*; rag-index \"\$@\" x.rag emb.jsonl" sh
'
test_expect_success 'rag-generate --mode rag: answers written (-v), quiet otherwise' '
	G="$FIXTURES/models/tiny-qwen2-f16.gguf" &&
	rag-generate --model "$G" --mode rag --max-tokens 4 -v <docs.jsonl >/dev/null 2>err &&
	grep_q "^rag-generate: 1 answers" err &&
	rag-generate --model "$G" --mode rag --max-tokens 4 <docs.jsonl >/dev/null 2>err2 &&
	test ! -s err2
'
test_expect_success '-q with -v off: still quiet' '
	rag-embed -q --model "$E" docs.jsonl >/dev/null 2>err && test ! -s err
'

if command -v tmux >/dev/null; then
	TM="tmux -L ragkit-t9020-$$ -f /dev/null"
	test_expect_success 'on a terminal: the in-place progress line, output unchanged' '
		rag-tokenize --model "$E" docs.jsonl >pipe.out 2>/dev/null &&
		$TM new-session -d -s p -x 150 -y 10 "env PATH=\"$PATH\" sh -c '\''rag-tokenize --model \"$E\" docs.jsonl >tty.out; echo \$? >rc; sleep 30'\''" &&
		n=0; while [ ! -s rc ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n + 1)); done;
		$TM capture-pane -p -t p >pane; $TM kill-server;
		test "$(cat rc)" = 0 && test_cmp pipe.out tty.out &&
		grep_q "^rag-tokenize: 40 records" pane
	'
else
	say "# tmux not installed: terminal check skipped"
fi

test_done
