#!/bin/sh
# rag-model on missing, foreign, truncated and corrupted files: clear errors, right codes.
. "$top_srcdir/tests/cli/lib.sh"

model="$FIXTURES/models/tiny-embed-mean-q8_0.gguf"

test_expect_code 66 'a missing file is exit 66' '
	rag-model info nope.gguf 2>err
'
test_expect_success 'and the message names it' '
	rag-model info nope.gguf 2>err; grep_q "^rag-model: error: cannot open .nope.gguf.: No such file or directory$" err
'

test_expect_code 78 'a foreign file is exit 78' '
	echo "hello" >x.gguf && rag-model info x.gguf 2>err
'

test_expect_code 78 'an empty file is exit 78' '
	: >empty.gguf && rag-model info empty.gguf
'

test_expect_code 78 'a directory is exit 78' '
	mkdir d && rag-model info d
'

test_expect_success 'truncations at many offsets are exit 78, never a crash' '
	size=$(wc -c <"$model") &&
	for cut in 3 4 8 16 24 100 1000 5000 50000 200000 400000 700000 1000000 $((size - 1)); do
		head -c $cut "$model" >cut.gguf
		rag-model info cut.gguf >/dev/null 2>err
		rc=$?
		[ $rc -eq 78 ] || { echo "cut $cut: exit $rc"; cat err; exit 1; }
		grep -q "cut.gguf" err || { echo "cut $cut: message does not name the file"; cat err; exit 1; }
	done
'

test_expect_success 'flipped bytes in the header give 0, 1 or 78, never a crash' '
	i=0
	while [ $i -lt 200 ]; do
		off=$(( (i * 7919) % 4000 ))
		cp "$model" flip.gguf && chmod u+w flip.gguf
		printf "\\377" | dd of=flip.gguf bs=1 seek=$off conv=notrunc 2>/dev/null
		rag-model info flip.gguf >/dev/null 2>&1
		rc=$?
		case $rc in 0|1|78) ;; *) echo "offset $off: exit $rc"; exit 1 ;; esac
		i=$((i + 1))
	done
'

test_expect_code 64 'no command is a usage error' 'rag-model'
test_expect_code 64 'an unknown command is a usage error' 'rag-model frobnicate x'
test_expect_code 64 'a misspelled option is a usage error' 'rag-model info --jsno x 2>err'
test_expect_success 'and suggests the right one' '
	rag-model info --jsno x 2>err; grep_q "did you mean .--json." err && grep_q "Try .rag-model --help." err
'

test_done
