# lib.sh: helpers for the end-to-end shell tests (sourced by tests/cli/t*.sh).
#
#   . "$top_srcdir/tests/cli/lib.sh"
#   test_expect_success 'what it checks' 'commands'
#   test_expect_code 65 'what it checks' 'commands'   # last command's exit code
#   test_done
#
# Each test body runs in a subshell inside a fresh scratch directory ($TRASH,
# also the working directory).  skip_all 'why' ends the script with 77.
set -u

: "${top_srcdir:?run the tests through make check}"
: "${top_builddir:?run the tests through make check}"
FIXTURES=${RAG_FIXTURES:-$top_srcdir/tests/data/fixtures}
TESTDATA=${RAG_TESTDATA:-$top_srcdir/tests/data}
export FIXTURES TESTDATA
unset RAG_MODEL RAG_DEVICE RAG_THREADS RAG_SHARD

test_name=$(basename "$0" .sh)
TRASH=$(mktemp -d "${TMPDIR:-/tmp}/ragkit-$test_name.XXXXXX")
trap 'rm -rf "$TRASH"' EXIT
cd "$TRASH" || exit 99

test_count=0
test_failed=0

say() { printf '%s\n' "$*"; }

test_expect_success() {
	test_count=$((test_count + 1))
	if (eval "$2") >"$TRASH/.out" 2>&1; then
		say "ok $test_count - $1"
	else
		test_failed=$((test_failed + 1))
		say "not ok $test_count - $1"
		sed 's/^/#   /' "$TRASH/.out"
		say "#   commands: $2"
	fi
}

test_expect_code() {
	test_count=$((test_count + 1))
	want=$1
	(eval "$3") >"$TRASH/.out" 2>&1
	got=$?
	if [ "$got" -eq "$want" ]; then
		say "ok $test_count - $2"
	else
		test_failed=$((test_failed + 1))
		say "not ok $test_count - $2 (exit $got, wanted $want)"
		sed 's/^/#   /' "$TRASH/.out"
		say "#   commands: $3"
	fi
}

# test_cmp expected actual: equal files, or a diff and failure.
test_cmp() {
	diff -u "$1" "$2"
}

# grep_q PATTERN FILE: like grep -q, but shows the file when it does not match.
grep_q() {
	if ! grep -q -e "$1" "$2"; then
		echo "pattern '$1' not in $2:"
		cat "$2"
		return 1
	fi
}

skip_all() {
	say "1..0 # SKIP $*"
	exit 77
}

test_done() {
	say "1..$test_count"
	if [ "$test_failed" -ne 0 ]; then
		say "# failed $test_failed of $test_count"
		exit 1
	fi
	exit 0
}
