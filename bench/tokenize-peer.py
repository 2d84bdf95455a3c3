#!/usr/bin/env python3
"""tokenize-peer.py: the Hugging Face side of bench/tokenize.sh.

Reads the `text` field of every JSON Lines record, checks nothing, and times
Tokenizer.encode_batch (all threads) or encode one text at a time with
RAYON_NUM_THREADS=1 (single thread).  Prints: MB/s tokens texts bytes.
Usage: tokenize-peer.py tokenizer.json corpus.jsonl single|batch reps
"""
import json
import sys
import time

from tokenizers import Tokenizer

tok = Tokenizer.from_file(sys.argv[1])
texts = [json.loads(line)["text"] for line in open(sys.argv[2], encoding="utf-8") if line.strip()]
mode, reps = sys.argv[3], int(sys.argv[4])
nbytes = sum(len(t.encode("utf-8")) for t in texts)
best = None
ntok = 0
for _ in range(reps):
    t0 = time.perf_counter()
    if mode == "single":
        ntok = sum(len(tok.encode(t, add_special_tokens=False).ids) for t in texts)
    else:
        ntok = sum(len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False))
    dt = time.perf_counter() - t0
    best = dt if best is None or dt < best else best
print("%.2f %d %d %d" % (nbytes / best / 1e6, ntok, len(texts), nbytes))
