#!/usr/bin/env python3
"""make-splits.py: writes splits.jsonl, how Hugging Face `tokenizers` cuts texts with
the pre-tokenizer regexes of the llama3 (llama-bpe), qwen2 and gpt-2 tokenizers
(pre_tokenizers.Split(Regex(...), behavior="isolated"), as those models'
tokenizer.json files do before byte-level BPE).  No vocabulary of these models is
in the fixtures, so the pre-tokenizer is checked on its own.

    python3 tests/data/tokenize/make-splits.py ../shared/fixtures/vocab > tests/data/tokenize/splits.jsonl

Each line: {"pre", "hex" (UTF-8 bytes of the text), "bounds" ([start, end] byte offsets)}.
"""
import glob
import json
import sys

import tokenizers
from tokenizers import Regex
from tokenizers.pre_tokenizers import Split

REGEX = {
    "llama3": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "gpt2": r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
}

texts = []
inp = sorted(glob.glob(sys.argv[1] + "/ggml-vocab-gpt-2.gguf.inp"))[0]
texts += open(inp, encoding="utf-8").read().split("\n__ggml_vocab_test__\n")
texts += [
    "  \n  x", "a\r\n\r\n  b", "Don'T I'M we'LL 'S 'sx", "1234567 12 1", "x\u00a0\u00a0y", "\t\t\n\tz",
    "tabs\tand\nnewlines\r\nmixed", "!!!\n\n???\r\n", " ?!x", "\u3000\u3000日本", "é\u0301e\u0301 ",
    "emoji 🚀🦙 and ZWJ 😶\u200d🌫️ sequences", "1,000,000.50 and 3.14", "word   ", "   ", "a\u0085b\u2028c",
]
for name, raw in [(l["name"], bytes.fromhex(l["hex"])) for l in map(json.loads, open(sys.argv[2])) if l["name"][0] != "_"] if len(sys.argv) > 2 else []:
    texts.append(raw.decode("utf-8", errors="replace"))

for pre, rx in REGEX.items():
    sp = Split(Regex(rx), behavior="isolated")
    for t in texts:
        cum = [0]
        for ch in t:
            cum.append(cum[-1] + len(ch.encode("utf-8")))
        bounds = [[cum[a], cum[b]] for _, (a, b) in sp.pre_tokenize_str(t)]
        print(json.dumps({"pre": pre, "hex": t.encode("utf-8").hex(), "bounds": bounds}))
print(json.dumps({"pre": "_made_by", "tokenizers": tokenizers.__version__}))
