#!/usr/bin/env python3
"""make-unigram.py: a small Unigram vocabulary and Hugging Face's tokenizations with it.

No T5/XLM-R vocabulary is among the fixtures, so this trains an 800-piece Unigram
model with Hugging Face `tokenizers` on SciFact abstracts and records how
`tokenizers` splits test texts with it (scores rounded to float32, as a GGUF
stores them).  The pipeline is SentencePiece's with remove_extra_whitespaces and
no precompiled charsmap: spaces trimmed at both ends and runs of spaces merged,
U+2581 for a space and in front of the text (Metaspace, prepend "always"), then
Viterbi with unknown characters fused into one <unk>.

    python3 tests/data/tokenize/make-unigram.py ../shared/datasets/scifact/corpus.jsonl \
        tests/data/tokenize/hard-cases.jsonl tests/data/tokenize
writes unigram-vocab.json ({"pieces": [[piece, score]...], "unk_id": 2}) and
unigram-cases.jsonl ({"hex": UTF-8 bytes of the text, "ids": [...]}).
"""
import json
import struct
import sys

import tokenizers
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

corpus, hard, outdir = sys.argv[1], sys.argv[2], sys.argv[3]
texts = [json.loads(l)["text"] for l in open(corpus, encoding="utf-8")][:1500]

tok = Tokenizer(models.Unigram())
tok.normalizer = normalizers.Sequence([normalizers.Replace(Regex(r"\A +| +\z"), ""),
                                       normalizers.Replace(Regex(" {2,}"), " ")])
tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
tok.train_from_iterator(texts, trainers.UnigramTrainer(vocab_size=800, special_tokens=["<pad>", "</s>", "<unk>"],
                                                        unk_token="<unk>", shrinking_factor=0.75))
vocab = json.loads(tok.to_str())["model"]["vocab"]
f32 = lambda x: struct.unpack("f", struct.pack("f", x))[0]
pieces = [[p, f32(s)] for p, s in vocab]
ref = Tokenizer(models.Unigram([tuple(p) for p in pieces], unk_id=2, byte_fallback=False))
ref.normalizer = tok.normalizer
ref.pre_tokenizer = tok.pre_tokenizer
json.dump({"pieces": pieces, "unk_id": 2, "tokenizers": tokenizers.__version__},
          open(outdir + "/unigram-vocab.json", "w"), ensure_ascii=False)

cases = [json.loads(l)["text"] for l in open(corpus, encoding="utf-8")][2000:2008]
cases += ["", " ", "   a   b   ", "Hello world", " leading", "trailing  ", "x\ty\nz", "ÄÖÜ äöü ß",
          "numbers 123 4567", "emoji 🚀 and 日本語", "unknownzzzqqq###", "a" * 300]
for l in open(hard):
    r = json.loads(l)
    if r["name"][0] != "_":
        cases.append(bytes.fromhex(r["hex"]).decode("utf-8", errors="replace"))
with open(outdir + "/unigram-cases.jsonl", "w") as f:
    for t in cases:
        f.write(json.dumps({"hex": t.encode("utf-8").hex(), "ids": ref.encode(t, add_special_tokens=False).ids}) + "\n")
