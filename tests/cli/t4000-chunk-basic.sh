#!/bin/sh
# rag-chunk on each format: fields, heading paths, HTML extraction and offsets,
# JSON Lines passthrough, defaults from --meta/--acl, ids, -o.
. "$top_srcdir/tests/cli/lib.sh"
EX="$TESTDATA/examples"
EMBED="$FIXTURES/models/tiny-embed-mean-f16.gguf"

test_expect_success 'markdown: heading paths, code block and table rows kept whole' '
	rag-chunk --unit words --max-tokens 30 --overlap 3 "$EX/rag-chunk-guide.md" >out &&
	python3 - "$EX/rag-chunk-guide.md" <<-\PY
	import json, sys
	src = open(sys.argv[1], "rb").read()
	cs = [json.loads(l) for l in open("out")]
	heads = [c.get("meta", {}).get("heading") for c in cs]
	assert heads[0] == "Install", heads
	assert "Install > Debian" in heads and "Install > Fedora" in heads, heads
	code = [c for c in cs if "```sh" in c["text"]]
	assert code and all(c["text"].count("```") == 2 for c in code), [c["text"] for c in code]
	for c in cs:
	    assert src[c["start"]:c["end"]].decode() == c["text"]
	    for line in c["text"].split("\n"):
	        if line.startswith("| gcc") or line.startswith("| sqlite"):
	            assert line.endswith("|"), line
	PY
'

test_expect_success 'html: scripts and styles dropped, entities decoded, title, offsets into the HTML' '
	rag-chunk --unit words --max-tokens 12 --overlap 2 "$EX/rag-chunk-page.html" >out &&
	python3 - "$EX/rag-chunk-page.html" <<-\PY
	import json, sys, re
	src = open(sys.argv[1], "rb").read()
	cs = [json.loads(l) for l in open("out")]
	text = " ".join(c["text"] for c in cs)
	assert "not text" not in text and "color" not in text, text
	assert "8\u00a0am & close" in text, text
	assert "9\u20135" in text, text
	assert all(c["title"] == "Caf\u00e9 notes" for c in cs)
	assert cs[0]["meta"]["heading"] == "Opening hours", cs[0]
	assert any(c["meta"]["heading"] == "Opening hours > Weekends" for c in cs)
	for c in cs:
	    raw = src[c["start"]:c["end"]].decode()
	    # The first and last characters are where the offsets say.
	    assert raw[0] in (c["text"][0], "&"), (raw, c["text"])
	    assert raw[-1] in (c["text"][-1], ";"), (raw, c["text"])
	    words = re.sub(r"<[^>]*>", " ", raw)
	    for w in c["text"].split():
	        if "&" not in w and "\u00a0" not in w and "\u2013" not in w:
	            assert w in words, (w, raw)
	PY
'

test_expect_success 'jsonl: id, title, meta, acl and other fields pass through' '
	rag-chunk --unit words --max-tokens 8 --overlap 2 --meta "{\"site\":\"x\",\"lang\":\"fr\"}" --acl "public, web" \
		"$EX/rag-chunk-docs.jsonl" >out &&
	python3 - <<-\PY
	import json
	cs = [json.loads(l) for l in open("out")]
	d1 = [c for c in cs if c["doc_id"] == "d1"]
	d2 = [c for c in cs if c["doc_id"] == "d2"]
	assert len(d1) > 1 and len(d2) > 1
	for c in d1:
	    assert c["title"] == "Tea" and c["acl"] == ["staff"], c
	    assert c["meta"] == {"lang": "en", "site": "x"}, c["meta"]
	    assert c["id"].startswith("d1#") and len(c["id"]) == 19
	for c in d2:
	    assert c["source"] == "wiki" and c["acl"] == ["public", "web"], c
	    assert c["meta"] == {"site": "x", "lang": "fr"}, c["meta"]
	    assert "title" not in c
	keys = list(d1[0].keys())
	assert keys[:7] == ["id", "doc_id", "text", "title", "start", "end", "hash"], keys
	PY
'

test_expect_success 'jsonl: _id, --field, and the text field is not copied' '
	printf "%s\n" "{\"_id\":7,\"body\":\"one two three four five six\",\"text\":\"ignored\"}" >d.jsonl &&
	rag-chunk --format jsonl --field body --unit words --max-tokens 4 --overlap 1 d.jsonl >out &&
	python3 -c "
import json
cs = [json.loads(l) for l in open(\"out\")]
assert [c[\"text\"] for c in cs] == [\"one two three four\", \"four five six\"], cs
assert all(c[\"doc_id\"] == \"7\" and \"body\" not in c and \"_id\" not in c for c in cs), cs
"
'

test_expect_success 'stdin, --doc-id, and the same input gives the same chunks' '
	rag-chunk --unit chars --max-tokens 200 --overlap 20 --doc-id guide <"$EX/rag-chunk-guide.md" >a &&
	rag-chunk --unit chars --max-tokens 200 --overlap 20 --doc-id guide - <"$EX/rag-chunk-guide.md" >b &&
	test_cmp a b && grep_q "\"doc_id\":\"guide\"" a && grep_q "\"heading\":\"Install > Debian\"" a
'

test_expect_success '--ids offsets gives other ids; --ids content ids survive a shift' '
	printf "Alpha beta gamma.\n\nDelta epsilon zeta.\n" >a.txt &&
	printf "New first paragraph here.\n\nAlpha beta gamma.\n\nDelta epsilon zeta.\n" >b.txt &&
	rag-chunk --unit words --max-tokens 3 --overlap 0 --doc-id d a.txt >a &&
	rag-chunk --unit words --max-tokens 3 --overlap 0 --doc-id d b.txt >b &&
	rag-chunk --unit words --max-tokens 3 --overlap 0 --doc-id d --ids offsets a.txt >ao &&
	rag-chunk --unit words --max-tokens 3 --overlap 0 --doc-id d --ids offsets b.txt >bo &&
	python3 -c "
import json
ids = lambda f: [json.loads(l)[\"id\"] for l in open(f)]
a, b, ao, bo = ids(\"a\"), ids(\"b\"), ids(\"ao\"), ids(\"bo\")
assert set(a) <= set(b), (a, b)
assert not set(ao) & set(bo), (ao, bo)
assert not set(a) & set(ao)
"
'

test_expect_success 'tokens: the model window is the default cap' '
	rag-chunk --model "$EMBED" "$EX/rag-chunk-guide.md" >out &&
	test -s out && grep_q "\"heading\":\"Install > Fedora\"" out
'

test_expect_success '-o writes the file and leaves no temporary behind' '
	rag-chunk --unit words -o chunks.jsonl "$EX/rag-chunk-guide.md" &&
	test -s chunks.jsonl && test "$(ls | grep -c tmp)" -eq 0
'

test_expect_success 'empty and blank inputs give no chunks' '
	: >empty.txt && printf " \n\t\r\n" >blank.txt &&
	rag-chunk --unit chars empty.txt blank.txt >out && test ! -s out
'

test_expect_success 'invalid UTF-8 becomes U+FFFD while offsets point into the original bytes' '
	printf "good \377\376 text \303( more\n" >bad.txt &&
	rag-chunk --unit chars --max-tokens 100 -v bad.txt >out 2>err &&
	grep_q "3 invalid UTF-8 sequences replaced" err &&
	python3 -c "
import json
c = json.loads(open(\"out\").read())
assert c[\"text\"] == \"good \ufffd\ufffd text \ufffd( more\", c
assert (c[\"start\"], c[\"end\"]) == (0, 20), c
"
'

test_done
