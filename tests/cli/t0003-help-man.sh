#!/bin/sh
# Every program: --help and --version on stdout with exit 0, its options and its
# man page's OPTIONS agree, and every EXAMPLES command in the man pages runs.
. "$top_srcdir/tests/cli/lib.sh"

progs=$(cd "$top_builddir/cmd" && ls rag-* 2>/dev/null | grep -v '\.[a-z]*$')
[ -n "$progs" ] || skip_all 'no programs built'

for p in $progs; do
	test_expect_success "$p --help prints usage to stdout and exits 0" "
		$p --help >out 2>err && grep_q '^Usage: $p' out && test ! -s err
	"
	test_expect_success "$p --version" "
		$p --version >out && grep_q '^$p (ragkit) ' out
	"
	test_expect_success "$p: --help and man page $p.1 list the same options" "
		sh '$top_srcdir/tests/cli/check-man.sh' '$top_builddir/cmd/$p' '$top_srcdir/man/$p.1'
	"
	test_expect_success "$p: a transposed option name gets the right suggestion" "
		$p --hlep 2>err; grep_q \"did you mean '--help'?\" err
	"
	test_expect_code 64 "$p: an unknown option is exit 64 with a hint" "
		$p --no-such-option 2>err; rc=\$?; grep_q \"Try '$p --help'\" err; exit \$rc
	"
	# getopt's three failures, each told apart (-j is no program's option)
	test_expect_code 64 "$p: an unknown short option is named as such" "
		$p -j x 2>err; rc=\$?; grep_q \"invalid option -- 'j'\" err; exit \$rc
	"
	# the first option --help shows with an argument (e.g. "--model FILE")
	opt=$($p --help | sed -n 's/^ *\(-[a-z], \)\{0,1\}\(--[a-z-]*\)[ =][A-Z].*/\2/p' | head -n 1)
	test_expect_code 64 "$p: a long option without its argument ($opt)" "
		test -n '$opt' && $p $opt 2>err; rc=\$?; grep_q \"option '$opt' requires an argument\" err; exit \$rc
	"
	test_expect_code 64 "$p: an argument to an option that takes none" "
		$p --help=yes 2>err; rc=\$?; grep_q \"option '--help' doesn't allow an argument\" err; exit \$rc
	"
done

test_expect_code 64 'a short option without its argument' "
	rag-retrieve x -k 2>err; rc=\$?; grep_q \"option requires an argument -- 'k'\" err; exit \$rc
"

# EXAMPLES: lines starting with '$ ' between .EX and .EE are run in a scratch
# directory that holds the fixture models under the names the pages use.
setup_examples() {
	rm -rf ex && mkdir ex && cd ex || return 1
	ln -s "$FIXTURES/models/tiny-embed-mean-f16.gguf" model.gguf
	ln -s "$FIXTURES/models/tiny-embed-mean-f16.gguf" embed.gguf
	ln -s "$FIXTURES/models/tiny-rerank-f16.gguf" rerank.gguf
	ln -s "$FIXTURES/models/tiny-qwen2-f16.gguf" qwen.gguf
	[ -d "$TESTDATA/examples" ] && cp -r "$TESTDATA/examples/." .
	return 0
}

for page in "$top_srcdir"/man/*.[17]; do
	name=$(basename "$page")
	sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$page" | sed -n '/^\.EX/,/^\.EE/p' |
		grep '^\$ ' | sed 's/^\$ //; s/\\-/-/g; s/\\e/\\/g; s/\\(aq/'"'"'/g' >"$TRASH/$name.examples"
	[ -s "$TRASH/$name.examples" ] || continue
	test_expect_success "$name: every EXAMPLES command runs" "
		setup_examples &&
		while IFS= read -r cmd; do
			sh -c \"\$cmd\" >/dev/null 2>ex.err || { echo \"failed: \$cmd\"; cat ex.err; exit 1; }
		done <'$TRASH/$name.examples'
	"
done

test_done
