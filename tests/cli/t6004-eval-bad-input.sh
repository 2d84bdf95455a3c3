#!/bin/sh
# rag-eval on bad input: malformed lines named with their line number (65),
# duplicate documents (65, as trec_eval refuses them), missing files (66),
# usage errors (64), --skip-bad.
. "$top_srcdir/tests/cli/lib.sh"

printf 'q1 0 a 1\nq1 0 b 0\nq2 0 c 1\n' >qrels
printf 'q1 Q0 a 1 2 t\nq1 Q0 b 2 1 t\nq2 Q0 c 1 1 t\n' >run

test_expect_code 0 'the good files evaluate' 'rag-eval --qrels qrels run >out'

test_expect_success 'a malformed run line: exit 65, file and line named' '
	printf "q1 Q0 a 1 2 t\n\nq1 Q0 b 2\n" >bad &&
	rag-eval --qrels qrels bad 2>err; test $? -eq 65 &&
	grep_q "^rag-eval: error: bad: line 3: expected 6 fields (qid Q0 docid rank score tag), found 4$" err
'

test_expect_success 'a score that is not a number: exit 65' '
	printf "q1 Q0 a 1 high t\n" >bad &&
	rag-eval --qrels qrels bad 2>err; test $? -eq 65 &&
	grep_q "bad: line 1: score .high. is not a finite number" err
'

test_expect_success 'a malformed qrels line: exit 65, line named' '
	printf "q1 0 a 1\nq1 0 b\n" >badq &&
	rag-eval --qrels badq run 2>err; test $? -eq 65 &&
	grep_q "badq: line 2: expected 4 fields (qid iter docid rel), found 3" err &&
	printf "q1 0 a yes\n" >badq &&
	rag-eval --qrels badq run 2>err; test $? -eq 65 &&
	grep_q "badq: line 1: relevance .yes. is not an integer" err
'

test_expect_success 'a document twice in one query of a run: exit 65 (trec_eval refuses too)' '
	printf "q1 Q0 a 1 2 t\nq1 Q0 b 2 1 t\nq1 Q0 a 3 0.5 t\n" >dup &&
	rag-eval --qrels qrels dup 2>err; test $? -eq 65 &&
	grep_q "dup: line 3: document .a. listed twice for query .q1. (first on line 1)" err
'

test_expect_success 'the same document in two queries is fine' '
	printf "q1 Q0 a 1 2 t\nq2 Q0 a 1 2 t\n" >two &&
	rag-eval --qrels qrels two >out
'

test_expect_success 'a document judged twice for one query: exit 65' '
	printf "q1 0 a 1\nq1 0 a 0\n" >dupq &&
	rag-eval --qrels dupq run 2>err; test $? -eq 65 &&
	grep_q "dupq: line 2: document .a. judged twice for query .q1." err
'

test_expect_success 'a bad hit record: exit 65 with its line' '
	printf "{\"qid\":\"q1\",\"id\":\"a\",\"score\":1}\n{\"qid\":\"q1\",\"id\":\"b\",\"score\":\n" >bad.jsonl &&
	rag-eval --qrels qrels bad.jsonl 2>err; test $? -eq 65 &&
	grep_q "bad.jsonl: line 2: invalid JSON" err &&
	printf "{\"qid\":\"q1\",\"id\":\"a\"}\n" >bad.jsonl &&
	rag-eval --qrels qrels bad.jsonl 2>err; test $? -eq 65 &&
	grep_q "bad.jsonl: line 1: no .score. (or .rank.) field" err
'

test_expect_success 'a run with no query in the qrels: exit 65' '
	printf "q7 Q0 a 1 2 t\n" >other &&
	rag-eval --qrels qrels other 2>err; test $? -eq 65 &&
	grep_q "no query of .other. is in the qrels" err
'

test_expect_success 'a run query the qrels lack is ignored (trec_eval does the same)' '
	printf "q7 Q0 a 1 2 t\n" >>run &&
	rag-eval --qrels qrels -m num_q -m num_ret run >out &&
	grep_q "^num_q  *	all	2$" out && grep_q "^num_ret  *	all	3$" out
'

test_expect_success '--skip-bad skips and counts malformed lines' '
	printf "q1 Q0 a 1 2 t\nbroken line\nq1 Q0 b 2 x t\nq2 Q0 c 1 1 t\n" >bad &&
	rag-eval --qrels qrels --skip-bad -v -m num_ret bad >out 2>err &&
	grep_q "^num_ret  *	all	2$" out &&
	grep_q "skipped: bad: line 2" err && grep_q "skipped: bad: line 3" err
'

test_expect_code 66 'a missing run file: exit 66' 'rag-eval --qrels qrels nosuch'
test_expect_code 66 'a missing qrels file: exit 66' 'rag-eval --qrels nosuch run'

test_expect_success 'usage errors: exit 64 with a hint' '
	for args in "run" "--qrels qrels" "--qrels qrels -m nosuch run" "--qrels qrels -m P_0 run" \
		"--qrels qrels --min map run" "--qrels qrels --min map=x run" \
		"--qrels qrels --min P=0.5 run" "--qrels qrels --min nosuch=0.5 run" \
		"--qrels qrels --format xml run" "--qrels qrels -l -1 run" \
		"--qrels qrels --permutations x run"; do
		rag-eval $args 2>err; rc=$?
		test $rc -eq 64 || { echo "rag-eval $args: exit $rc"; exit 1; }
		grep_q "Try .rag-eval --help." err || exit 1
	done
'

test_expect_success 'unknown measure and bad gate are named' '
	rag-eval --qrels qrels -m nosuch run 2>err; grep_q "unknown measure .nosuch." err &&
	rag-eval --qrels qrels --min map run 2>err; grep_q "bad gate .map." err
'

test_done
