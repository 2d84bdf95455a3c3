#!/usr/bin/env python3
"""bench/chunk-peer.py: the measuring half of bench/chunk.sh (see there)."""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

from langchain_text_splitters import RecursiveCharacterTextSplitter
from tokenizers import Tokenizer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--corpus", required=True)
    p.add_argument("--max", type=int, default=128)
    p.add_argument("--overlap", type=int, default=16)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--model", required=True)
    p.add_argument("--hf-tokenizer", required=True)
    p.add_argument("--rag-chunk", required=True)
    a = p.parse_args()

    docs = []
    with open(a.corpus, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            docs.append(d["text"])
    mb = sum(len(t.encode("utf-8")) for t in docs) / 1e6

    tok = Tokenizer.from_file(a.hf_tokenizer)
    tok.no_truncation()
    tok.no_padding()

    def length(text):
        return len(tok.encode(text).ids)  # special tokens included, like rag-chunk's cap

    # The same documents as JSON Lines holding only id and text.
    tmp = tempfile.mkdtemp()
    src = os.path.join(tmp, "docs.jsonl")
    with open(src, "w", encoding="utf-8") as f:
        for i, t in enumerate(docs):
            f.write(json.dumps({"id": str(i), "text": t}, ensure_ascii=False) + "\n")
    out = os.path.join(tmp, "chunks.jsonl")

    cmd = [a.rag_chunk, "--model", a.model, "--max-tokens", str(a.max), "--overlap", str(a.overlap),
           "--threads", "1", "-o", out, src]
    best_rag = best_rag_cpu = None
    for _ in range(a.reps):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        dt = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        best_rag = dt if best_rag is None else min(best_rag, dt)
        best_rag_cpu = cpu if best_rag_cpu is None else min(best_rag_cpu, cpu)
    rag_chunks = [json.loads(l)["text"] for l in open(out, encoding="utf-8")]

    # LangChain sums the lengths of the pieces it merges, so its length function
    # counts text tokens only and its chunk size is the cap less the special
    # tokens the model adds (counting them in every piece would shrink chunks 3x).
    added = len(tok.encode("").ids)

    def length_text(text):
        return len(tok.encode(text, add_special_tokens=False).ids)

    splitter = RecursiveCharacterTextSplitter(chunk_size=a.max - added, chunk_overlap=a.overlap,
                                              length_function=length_text)
    best_lc = best_lc_cpu = None
    for _ in range(a.reps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        lc_chunks = []
        for t in docs:
            lc_chunks.extend(splitter.split_text(t))
        dt = time.perf_counter() - t0
        cpu = time.process_time() - c0
        best_lc = dt if best_lc is None else min(best_lc, dt)
        best_lc_cpu = cpu if best_lc_cpu is None else min(best_lc_cpu, cpu)

    rag_over = sum(1 for t in rag_chunks if length(t) > a.max)
    lc_over = sum(1 for t in lc_chunks if length(t) > a.max)
    rag_avg = sum(length(t) for t in rag_chunks) / max(1, len(rag_chunks))
    lc_avg = sum(length(t) for t in lc_chunks) / max(1, len(lc_chunks))
    r = mb / best_rag
    l = mb / best_lc
    print(f"corpus: {a.corpus} ({len(docs)} documents, {mb:.2f} MB of text)")
    print(f"cap {a.max} tokens (special tokens included), overlap {a.overlap}; best of {a.reps}; single thread")
    print(f"rag-chunk:  {r:8.2f} MB/s  {best_rag:7.2f} s  {len(rag_chunks)} chunks, mean {rag_avg:.1f} tokens, "
          f"{rag_over} over the cap (HF re-tokenization)")
    print(f"langchain:  {l:8.2f} MB/s  {best_lc:7.2f} s  {len(lc_chunks)} chunks, mean {lc_avg:.1f} tokens, "
          f"{lc_over} over the cap")
    print(f"ratio (rag-chunk / langchain), wall clock: {r / l:.1f}x")
    print(f"CPU time: rag-chunk {best_rag_cpu:.2f} s ({mb / best_rag_cpu:.2f} MB/s), "
          f"langchain {best_lc_cpu:.2f} s ({mb / best_lc_cpu:.2f} MB/s); "
          f"ratio {best_lc_cpu / best_rag_cpu:.1f}x")
    from importlib.metadata import version
    print(f"peer: langchain-text-splitters {version('langchain-text-splitters')}, "
          f"tokenizers {version('tokenizers')}, python {platform.python_version()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
