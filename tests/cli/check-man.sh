#!/bin/sh
# check-man.sh PROGRAM MANPAGE: every option in PROGRAM --help appears in the man
# page's OPTIONS section and every option there appears in --help.  Prints the
# differences and exits 1 when the two disagree.
prog=$1
page=$2
tmp=${TMPDIR:-/tmp}/check-man.$$
trap 'rm -f "$tmp".*' EXIT

"$prog" --help >"$tmp.help" || { echo "$prog --help failed"; exit 1; }

# Options in --help: option lines start with blanks and a dash.
grep -E '^[[:space:]]+-' "$tmp.help" |
	grep -oE '(^|[[:space:],])--?[A-Za-z0-9][A-Za-z0-9-]*' |
	sed 's/^[[:space:],]*//' | sort -u >"$tmp.h"

# Options in the man page's OPTIONS section (roff: \- for each dash), on the
# lines that introduce an option (the line after .TP).
sed -n '/^\.SH OPTIONS/,/^\.SH /p' "$page" |
	awk '/^\.TP/ { getline; print }' |
	sed 's/\\-/-/g; s/\\f[BIRP]//g' |
	grep -oE '(^|[[:space:],])--?[A-Za-z0-9][A-Za-z0-9-]*' |
	sed 's/^[[:space:],]*//' | sort -u >"$tmp.m"

if ! cmp -s "$tmp.h" "$tmp.m"; then
	echo "options of $(basename "$prog") --help (<) and $(basename "$page") (>) differ:"
	diff "$tmp.h" "$tmp.m" | grep '^[<>]'
	exit 1
fi
exit 0
