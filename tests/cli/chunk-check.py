#!/usr/bin/env python3
"""chunk-check.py: check rag-chunk's invariants on its output, independently of its code.

usage: chunk-check.py --unit chars|words --max N --overlap N [--field F] SOURCE CHUNKS
SOURCE is the input file (text or Markdown), or a JSON Lines file of documents.
Checks, for every chunk: its text is the source bytes [start, end) decoded (invalid
UTF-8 read as U+FFFD), it neither starts nor ends with white space, it measures at
most N units; for every document: chunks are in order, every non-blank byte is in a
chunk, consecutive chunks overlap by at least --overlap units unless the next one
starts a Markdown section.  Prints "docs N chunks M" and exits 1 on any violation.
"""
import argparse
import json
import re
import sys

WS = b" \t\n\r\f\v"
WS_RE = re.compile(r"[ \t\n\r\f\v]+")


def measure(text, unit):
    if unit == "chars":
        return len(text)
    return len([w for w in WS_RE.split(text) if w])


def heading_start(text):
    if re.match(r"#{1,6}([ \t]|$)", text):
        return True
    lines = text.split("\n", 2)
    return len(lines) > 1 and re.fullmatch(r" {0,3}(=+|-+)[ \t\r]*", lines[1]) is not None


def check_doc(name, src, chunks, a, errors):
    prev = None
    covered = bytearray(len(src))
    for c in chunks:
        s, e, text = c["start"], c["end"], c["text"]
        where = f"{name}: chunk {c['id']} [{s},{e})"
        if not (0 <= s < e <= len(src)):
            errors.append(f"{where}: offsets out of range")
            continue
        got = src[s:e].decode("utf-8", errors="replace")
        if got != text:
            errors.append(f"{where}: source bytes {got[:60]!r} != text {text[:60]!r}")
        if text[:1].encode() in [bytes([b]) for b in WS] or text[-1:].encode() in [bytes([b]) for b in WS]:
            errors.append(f"{where}: starts or ends with white space")
        m = measure(text, a.unit)
        if m > a.max:
            errors.append(f"{where}: {m} {a.unit} > {a.max}")
        if prev is not None:
            ps, pe = prev["start"], prev["end"]
            if not (s > ps and e > pe):
                errors.append(f"{where}: not after the previous chunk [{ps},{pe})")
            if a.overlap:
                if s < pe:
                    ov = measure(src[s:pe].decode("utf-8", errors="replace"), a.unit)
                    if ov < a.overlap:
                        errors.append(f"{where}: overlap {ov} < {a.overlap}")
                elif not heading_start(text):
                    errors.append(f"{where}: no overlap with the previous chunk and no heading")
        for i in range(s, e):
            covered[i] = 1
        prev = c
    for i, b in enumerate(src):
        if not covered[i] and b not in WS:
            # A byte-order mark at the start is not text.
            if i < 3 and src[:3] == b"\xef\xbb\xbf":
                continue
            errors.append(f"{name}: byte {i} ({src[i:i+8]!r}) is in no chunk")
            break


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--unit", choices=["chars", "words"], required=True)
    p.add_argument("--max", type=int, required=True)
    p.add_argument("--overlap", type=int, default=0)
    p.add_argument("--field", default="text")
    p.add_argument("--jsonl", action="store_true", help="SOURCE holds JSON Lines documents")
    p.add_argument("source")
    p.add_argument("chunks")
    a = p.parse_args()

    by_doc = {}
    order = []
    with open(a.chunks, encoding="utf-8") as f:
        for line in f:
            c = json.loads(line)
            if c["doc_id"] not in by_doc:
                by_doc[c["doc_id"]] = []
                order.append(c["doc_id"])
            by_doc[c["doc_id"]].append(c)
    docs = {}
    if a.jsonl:
        with open(a.source, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    d = json.loads(line)
                    did = d.get("id", d.get("_id"))
                    docs[str(did)] = d[a.field].encode("utf-8")
    else:
        with open(a.source, "rb") as f:
            src = f.read()
        docs = {order[0] if order else "": src}
    errors = []
    n = 0
    for did, src in docs.items():
        chunks = by_doc.get(did, [])
        n += len(chunks)
        if not chunks and src.strip(WS) and not (src[:3] == b"\xef\xbb\xbf" and not src[3:].strip(WS)):
            errors.append(f"{did}: no chunks for a non-blank document")
        check_doc(did, src, chunks, a, errors)
    ids = [c["id"] for cs in by_doc.values() for c in cs]
    if len(set(ids)) != len(ids):
        errors.append("duplicate chunk ids")
    print(f"docs {len(docs)} chunks {n}")
    for e in errors[:20]:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
