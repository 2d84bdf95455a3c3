#!/bin/sh
# recipes/Makefile: an index built from a document folder, updated
# incrementally: only changed documents are re-chunked and re-embedded,
# removed documents leave the index.
. "$top_srcdir/tests/cli/lib.sh"

command -v make >/dev/null || skip_all 'make not installed'
MK=$top_srcdir/recipes/Makefile
M=$FIXTURES/models/tiny-embed-mean-f16.gguf
run_make() { make -s -f "$MK" DOCS=docs INDEX=corpus.rag MODEL="$M" "$@"; }
# Make every file old, so that a later touch is unambiguously newer (no sleep).
age_all() { find docs .rag-work -exec touch -d '2020-01-01 00:00' {} +; }
bm25() { echo "{\"qid\":\"q\",\"text\":\"$1\"}" | rag-retrieve -q --mode bm25 corpus.rag; }

cp -R "$TESTDATA/recipes/docs" "$TRASH/docs"

test_expect_success 'first run embeds every document and builds the index' '
	cd "$TRASH" && run_make >out 2>&1 &&
	test $(wc -l <.rag-work/embedded.log) -eq 4 &&
	rag-index corpus.rag stats >stats && grep_q "^documents: 4$" stats &&
	grep_q "^vectors: [1-9]" stats
'

test_expect_success 'second run with nothing changed embeds nothing' '
	cd "$TRASH" && age_all && run_make >out 2>&1 &&
	test $(wc -l <.rag-work/embedded.log) -eq 4 &&
	! grep -q added out
'

test_expect_success 'touching one document re-embeds only that document' '
	cd "$TRASH" && age_all && touch docs/bridges.txt && run_make >out 2>&1 &&
	test $(wc -l <.rag-work/embedded.log) -eq 5 &&
	test "$(tail -n 1 .rag-work/embedded.log)" = bridges.txt &&
	grep_q "\"added\":1," out &&
	rag-index corpus.rag stats >stats && grep_q "^documents: 4$" stats
'

test_expect_success 'an edited document replaces its old chunks' '
	cd "$TRASH" && age_all &&
	echo "Bridges are now about zebras." >docs/bridges.txt && run_make >out 2>&1 &&
	test "$(tail -n 1 .rag-work/embedded.log)" = bridges.txt &&
	bm25 zebras >hits && grep_q "\"doc_id\":\"bridges.txt\"" hits &&
	bm25 suspension >hits && ! grep -q bridges.txt hits
'

test_expect_success 'a removed document leaves the index' '
	cd "$TRASH" && age_all && rm docs/guide/comets.html && run_make >out 2>&1 &&
	grep_q "removed guide/comets.html" out &&
	test $(wc -l <.rag-work/embedded.log) -eq 6 &&
	rag-index corpus.rag stats >stats && grep_q "^documents: 3$" stats &&
	bm25 comet >hits && ! grep -q comets hits
'

test_expect_success 'a failing embed stops make with an error and keeps the index' '
	cd "$TRASH" && age_all && echo "new text" >docs/new.md &&
	head -c 100 "$M" >broken.gguf &&
	! make -s -f "$MK" DOCS=docs INDEX=corpus.rag MODEL=broken.gguf >out 2>&1 &&
	test ! -e .rag-work/docs/new.md.jsonl &&
	rag-index corpus.rag stats >stats && grep_q "^documents: 3$" stats
'

test_done
