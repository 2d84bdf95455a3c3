#!/bin/sh
# CONVENTIONS: strcpy, strcat, sprintf, vsprintf, strtok, atoi, gets are banned
# in the code (use memcpy/snprintf/strtol and friends).
. "$top_srcdir/tests/cli/lib.sh"

test_expect_success 'no banned functions in cmd/, lib/, kernels/, tests/, fuzz/' '
	cd "$top_srcdir" &&
	! grep -nE "(^|[^_a-zA-Z0-9])(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|gets)[[:space:]]*\(" \
		$(find cmd lib kernels tests/unit fuzz -name "*.c" -o -name "*.h" -o -name "*.cu")
'

test_expect_success 'lib/ and kernels/ never print or exit' '
	cd "$top_srcdir" &&
	! grep -nE "(^|[^_a-zA-Z0-9.])(printf|puts|exit|abort|perror)[[:space:]]*\(|\<(stdout|stderr)\>" \
		$(find lib kernels -name "*.c" -o -name "*.cu") |
		grep -vE "^[^:]+:[0-9]+:[[:space:]]*(/\*|\*)"
'

test_done
