#!/bin/sh
# rag-chunk's invariants, checked by an independent script (chunk-check.py) on real
# documents (50 SciFact abstracts, the project's man pages) and generated
# adversarial inputs: every chunk's text is its source bytes, no chunk exceeds the
# cap, every non-blank byte is covered, consecutive chunks overlap as asked; and
# the same input gives the same chunks, an edit changes only nearby chunk ids.
. "$top_srcdir/tests/cli/lib.sh"
CHECK="$top_srcdir/tests/cli/chunk-check.py"
SCIFACT="$TESTDATA/chunk/scifact-50.jsonl"

# check UNIT MAX OVERLAP FORMAT FILE [checker overlap]
check() {
	rag-chunk --unit "$1" --max-tokens "$2" --overlap "$3" --format "$4" "$5" >chunks.jsonl || return 1
	j=; [ "$4" = jsonl ] && j=--jsonl
	python3 "$CHECK" $j --unit "$1" --max "$2" --overlap "${6:-$3}" "$5" chunks.jsonl
}

for cfg in "chars 200 40" "chars 1000 100" "chars 60 0" "words 40 8" "words 120 30" "words 7 3"; do
	set -- $cfg
	test_expect_success "SciFact sample, $1 max $2 overlap $3" "check $1 $2 $3 jsonl '$SCIFACT'"
done

for page in "$top_srcdir"/man/*.1 "$top_srcdir"/man/*.7; do
	test_expect_success "man page $(basename "$page"), chars 400 overlap 80 and words 50 overlap 10" "
		check chars 400 80 text '$page' && check words 50 10 text '$page'
	"
done

python3 - <<'PY'
import random
random.seed(7)
w = lambda f, b: open(f, "wb").write(b)
w("giant.txt", b"x" * 3000)
w("giantword.txt", b"Some words before. " + "\u00e9".encode() * 1500 + b" and after it.\n")
w("nows.txt", "".join(random.choice("abcdefghij.,;\u00e9") for _ in range(4000)).encode())
w("headings.md", "".join(f"{'#' * (i % 6 + 1)} Heading {i}\n" for i in range(100)).encode())
w("crlf.txt", b"First line here.\r\nSecond line, longer than the first.\r\n\r\nNew paragraph with several words in it.\r\n" * 20)
w("invalid.txt", b"Valid text \xff\xfe then \xc3\x28 bad \xe2\x82 seq\xf0\x9f\x98\x80 emoji \xed\xa0\x80 surrogate. " * 30)
w("hugeline.txt", " ".join(f"word{i}" for i in range(4000)).encode())
w("cjk.txt", ("\u8fd9\u662f\u4e00\u4e2a\u53e5\u5b50\u3002" * 200).encode())
w("bom.txt", b"\xef\xbb\xbfText after a byte-order mark. " * 20)
w("mixed.md", ("# Title\n\nIntro paragraph.\n\n```python\n" + "\n".join(f"print({i})" for i in range(30)) +
   "\n```\n\n| a | b |\n|---|---|\n" + "\n".join(f"| row {i} | value {i} with words |" for i in range(40)) +
   "\n\n- item one\n- item two\n\nSetext heading\n==============\n\nText.\n").encode())
PY

for f in giant.txt giantword.txt nows.txt crlf.txt invalid.txt hugeline.txt cjk.txt bom.txt headings.md mixed.md; do
	fmt=text; case $f in *.md) fmt=markdown;; esac
	test_expect_success "adversarial $f: chars 50/10, chars 300/60, words 10/3" "
		check chars 50 10 $fmt $f && check chars 300 60 $fmt $f && check words 10 3 $fmt $f
	"
	test_expect_success "adversarial $f: extreme caps never exceeded (chars 20/19, words 5/4, chars 1/0)" "
		check chars 20 19 $fmt $f 0 && check words 5 4 $fmt $f 0 && check chars 1 0 $fmt $f
	"
done

test_expect_success 'only headings: one chunk per heading, each with its path' '
	rag-chunk --unit words --max-tokens 50 --overlap 5 headings.md >out &&
	test $(wc -l <out) -eq 100 && grep_q "\"heading\":\"Heading 0 > Heading 1 > Heading 2\"" out
'

test_expect_success 'markdown: the code block and every table row stay whole' '
	rag-chunk --unit words --max-tokens 80 --overlap 8 mixed.md >out &&
	python3 -c "
import json
cs = [json.loads(l)[\"text\"] for l in open(\"out\")]
assert any(\"\`\`\`python\" in t and t.count(\"\`\`\`\") == 2 for t in cs), cs
for t in cs:
    for line in t.split(\"\n\"):
        if line.startswith(\"| row\"):
            assert line.endswith(\"words |\"), line
        assert not line.startswith(\"row \"), line
"
'

test_expect_success 'same input, same chunks (and ids) every time' '
	rag-chunk --unit words --max-tokens 40 --overlap 8 "$SCIFACT" >a &&
	rag-chunk --unit words --max-tokens 40 --overlap 8 --threads 1 "$SCIFACT" >b &&
	rag-chunk --unit words --max-tokens 40 --overlap 8 --threads 4 "$SCIFACT" >c &&
	test_cmp a b && test_cmp a c
'

test_expect_success 'a changed paragraph changes only nearby chunk ids' '
	python3 - "$SCIFACT" <<-\PY &&
	import json, sys
	docs = [json.loads(l)["text"] for l in open(sys.argv[1])][:30]
	open("a.txt", "w").write("\n\n".join(docs) + "\n")
	docs[15] = docs[15].replace(". ", ". An inserted sentence changes this paragraph. ", 1)
	open("b.txt", "w").write("\n\n".join(docs) + "\n")
	PY
	for u in "--unit words --max-tokens 60 --overlap 10" "--unit chars --max-tokens 400 --overlap 50" \
		"--model $FIXTURES/models/tiny-embed-mean-f16.gguf --max-tokens 128 --overlap 16" \
		"--model $FIXTURES/models/tiny-qwen2-f16.gguf --max-tokens 128 --overlap 16"; do
		rag-chunk $u --doc-id d a.txt >a &&
		rag-chunk $u --doc-id d b.txt >b &&
		python3 -c "
import json
a = [json.loads(l)[\"id\"] for l in open(\"a\")]
b = [json.loads(l)[\"id\"] for l in open(\"b\")]
gone, new = set(a) - set(b), set(b) - set(a)
print(len(a), \"chunks;\", len(gone), \"gone,\", len(new), \"new\")
assert len(a) >= 40, len(a)
assert 1 <= len(gone) <= 4 and 1 <= len(new) <= 4, (gone, new)
" || exit 1
	done
'

test_done
