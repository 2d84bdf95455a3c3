#!/bin/sh
# rag-tokenize --model DIR where DIR holds a tokenizer.json alone: the description is
# run as Hugging Face tokenizers runs it (ids equal the goldens made with it), and a
# component type ragkit does not implement is refused with exit 78, named.
. "$top_srcdir/tests/cli/lib.sh"

command -v python3 >/dev/null 2>&1 || skip_all 'python3 is needed to read the goldens'
d="$TESTDATA/hf-tokenizers"

# every golden text of one tokenizer through rag-tokenize, compared with Hugging Face's ids
check() {
	python3 -c 'import json,sys
g = json.load(open(sys.argv[1]))
for t in g["texts"]: print(json.dumps({"text": t}))' "$d/golden.json" >texts.jsonl &&
	rag-tokenize --model "$d/$1" --parse-special $2 texts.jsonl >out.jsonl &&
	python3 -c 'import json,sys
g = json.load(open(sys.argv[1]))["tokenizers"][sys.argv[2]][sys.argv[3]]
got = [json.loads(l)["ids"] for l in open(sys.argv[4])]
bad = [i for i, (a, b) in enumerate(zip(g, got)) if a != b]
assert len(got) == len(g), "%d records, want %d" % (len(got), len(g))
assert not bad, "rows %s differ" % bad[:10]' "$d/golden.json" "$1" "$3" out.jsonl
}

for t in unigram-metaspace spm-t5 spm-first bpe-bytefallback bytelevel-roberta wordpiece-zoo; do
	test_expect_success "$t: ids equal Hugging Face's (special tokens added)" "check $t '' single"
done
test_expect_success 'bpe-zoo: ids equal Hugging Face (no special tokens)' 'check bpe-zoo --no-special plain'

test_expect_success 'a Unigram pair gets the template and type ids' '
	printf "{\"text\": \"what causes fever\", \"b\": \"Fever is caused by pyrogens.\"}\n" >p.jsonl &&
	rag-tokenize --model "$d/unigram-metaspace" --pair b p.jsonl >p.out &&
	python3 -c "import json,sys
g = json.load(open(sys.argv[1]))[\"tokenizers\"][\"unigram-metaspace\"][\"pairs\"][0]
r = json.loads(open(sys.argv[2]).read())
assert r[\"ids\"] == g[0] and r[\"type_ids\"] == g[1], (r, g)" "$d/golden.json" p.out
'

test_expect_success 'rag-model convert of a tokenizer directory tokenizes as the directory does' '
	for t in unigram-metaspace spm-t5 spm-first bpe-zoo wordpiece-zoo bytelevel-roberta bpe-bytefallback split-regex wordlevel-splits
	do
		rag-model convert "$d/$t" $t.gguf 2>/dev/null &&
		rag-tokenize --model "$d/$t" --parse-special texts.jsonl >dir.jsonl &&
		rag-tokenize --model $t.gguf --parse-special texts.jsonl >gguf.jsonl &&
		test_cmp dir.jsonl gguf.jsonl || return 1
	done
'

mkdir bad
printf '%s' '{"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "a": 1}}, "normalizer": {"type": "Frobnicate"}}' >bad/tokenizer.json
test_expect_code 78 'an unknown normalizer is refused (exit 78)' '
	echo "{\"text\": \"a\"}" | rag-tokenize --model bad
'
test_expect_success 'and the message names it' '
	! echo "{\"text\": \"a\"}" | rag-tokenize --model bad 2>err &&
	grep_q "normalizer .Frobnicate. is not supported" err
'
printf '%s' '{"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "a": 1}}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Whitespace"}, {"type": "UnicodeScripts"}]}}' >bad/tokenizer.json
test_expect_code 78 'an unknown pre-tokenizer inside a Sequence is refused (exit 78)' '
	echo "{\"text\": \"a\"}" | rag-tokenize --model bad 2>err
'
test_expect_success 'and the message names it' 'grep_q "pre-tokenizer .UnicodeScripts." err'
printf '%s' '{"model": {"type": "Hyper", "vocab": {"a": 0}}}' >bad/tokenizer.json
test_expect_code 78 'an unknown model type is refused (exit 78)' '
	echo "{\"text\": \"a\"}" | rag-tokenize --model bad 2>err
'
test_expect_success 'and the message names it' 'grep_q "Hyper" err'

test_done
