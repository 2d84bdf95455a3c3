#!/usr/bin/env python3
"""make-hard-cases.py: writes hard-cases.jsonl, the expected ids of hard inputs
according to Hugging Face `tokenizers` (the reference; ragkit's output is never
used here).

Run from the repository root with the shared fixtures beside it:
    python3 -m pip install tokenizers
    python3 tests/data/tokenize/make-hard-cases.py ../shared/fixtures/tokenizers > tests/data/tokenize/hard-cases.jsonl

Each line: {"name", "hex" (the input bytes, hex), "bert" (ids with [CLS]/[SEP]),
"gpt2" (ids, no special tokens)} and, for valid UTF-8 inputs, "bert_offsets"
(of the tokens between [CLS] and [SEP]) and "gpt2_offsets": Hugging Face's
character offsets turned into byte offsets.  Inputs holding invalid UTF-8 are given to
Hugging Face as Python decodes them with errors="replace" (one U+FFFD per
maximal invalid subsequence), which is the behaviour ragkit documents.
"""
import json
import sys

import tokenizers
from tokenizers import Tokenizer

d = sys.argv[1]
bert = Tokenizer.from_file(d + "/bert/tokenizer.json")
gpt2 = Tokenizer.from_file(d + "/gpt2/tokenizer.json")

cases = [
    ("spaces-1000", b" " * 1000),
    ("spaces-then-word", b" " * 300 + b"word"),
    ("mixed-whitespace-run", b"a \t\n \r\n\x0b\x0c  \t\t b" * 3),
    ("nbsp-ideographic-space", "a\u00a0b\u3000c\u2028d\u0085e\u200bf".encode()),
    ("newlines-200", b"\n" * 200 + b"x"),
    ("digits-long", b"1234567890" * 12),
    ("digits-groups", b"3.14159265358979 1,234,567.89 0xDEADBEEF 1e-10 \xd9\xa3\xd9\xa4 \xe2\x85\xa7"),
    ("emoji-zwj-family", "family \U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466 ok".encode()),
    ("emoji-flags-skin", "\U0001F1E9\U0001F1EA \U0001F44D\U0001F3FD \u2764\ufe0f \U0001F3F3\ufe0f\u200d\U0001F308".encode()),
    ("mixed-scripts", "English Ελληνικά Русский עברית العربية हिन्दी ไทย 한국어 日本語のテキスト 中文".encode()),
    ("combining-marks", "e\u0301 a\u0308 n\u0303 \u1e9b\u0323 Z\u0351\u0352\u0353a\u0354\u0355l\u0356g\u0357o".encode()),
    ("hangul-jamo", "\ud55c\uad6d\uc5b4 \u1100\u1161\u11a8".encode()),
    ("control-chars", b"a\x00b\x01c\x7fd\x1be"),
    ("zero-width", "zero\u200bwidth\u200cjoin\u200dner\ufeffbom".encode()),
    ("fullwidth", "\uff21\uff22\uff23\uff11\uff12\uff13\uff01".encode()),
    ("word-100", b"a" * 100),
    ("word-101", b"a" * 101),
    ("word-300-bpe", b"abcdefghij" * 30),
    ("punct-run", b"!!!???...,,,;;;:::---___***" * 4),
    ("contractions-upper", b"DON'T won't I'M she'd we'll they've you're 'S 'T"),
    ("code", b"for (int i = 0; i < n; ++i) {\n\tx[i] += y[i] * 2;\n}\n"),
    ("url-email", b"https://example.com/a/b?c=d&e=f#g user@example.org"),
    ("invalid-lone-continuation", b"ab\x80cd"),
    ("invalid-truncated-3byte", b"caf\xe2\x82 ok"),
    ("invalid-overlong", b"x\xc0\xafy"),
    ("invalid-surrogate", b"s\xed\xa0\x80t"),
    ("invalid-f5-ff", b"\xf5\xff\xfe end"),
    ("invalid-4byte-cut", b"emoji \xf0\x9f\x98 cut"),
]

def byte_offsets(text, offsets):
    cum = [0]
    for ch in text:
        cum.append(cum[-1] + len(ch.encode("utf-8")))
    return [[cum[a], cum[b]] for a, b in offsets]


for name, raw in cases:
    text = raw.decode("utf-8", errors="replace")
    eb = bert.encode(text)
    eg = gpt2.encode(text, add_special_tokens=False)
    rec = {"name": name, "hex": raw.hex(), "bert": eb.ids, "gpt2": eg.ids}
    if text.encode("utf-8") == raw:
        rec["bert_offsets"] = byte_offsets(text, eb.offsets[1:-1])
        rec["gpt2_offsets"] = byte_offsets(text, eg.offsets)
    print(json.dumps(rec))
print(json.dumps({"name": "_made_by", "hex": "", "bert": [], "gpt2": [],
                  "tokenizers": tokenizers.__version__}))
