#!/usr/bin/env python3
"""shard-check.py: check that --shard outputs split an unsharded output, independently of ragkit's code.

usage: shard-check.py [--tol T] [--ignore P[,P...]] [--key F[,F...]] [--hash F[,F...]] FULL SHARD0 SHARD1 ...

FULL is the output of a run without --shard; SHARDi the output of the same run
with --shard i/N (N = the number of SHARD files).  Checks:
  * every record of FULL is in exactly one shard and every shard record is in
    FULL: the shards are disjoint and together are FULL;
  * each shard keeps FULL's order (it is a subsequence of FULL);
  * no output is empty (a check of nothing proves nothing);
  * with --key: the values of the first of these fields present in a record
    (e.g. qid) never occur in two shards (records that belong together stay
    together);
  * with --hash: a record whose first present field of these is a string or a
    number is in shard FNV-1a-64(its bytes; a number's JSON text) mod N, the
    definition in rag(7).
Records are compared as parsed JSON; with --tol, numbers that are not integers
may differ by T (embeddings and scores depend on batch composition in the last
bits); --ignore drops fields (dotted paths, e.g. usage.seconds) that
differ between runs anyway.  Prints "records R in N shards" and exits 1 on any violation.
"""
import argparse
import json
import sys


class Num(str):
    """A JSON number kept as its text (for the shard hash)."""


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def close(a, b, tol):
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) \
                and not isinstance(a, bool) and not isinstance(b, bool):
            return abs(a - b) <= tol
        return False
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(close(a[k], b[k], tol) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(close(x, y, tol) for x, y in zip(a, b))
    return a == b


def drop(rec, paths):
    for p in paths:
        *up, last = p.split(".")
        d = rec
        for k in up:
            d = d.get(k) if isinstance(d, dict) else None
        if isinstance(d, dict):
            d.pop(last, None)
    return rec


def load(path, ignore):
    recs = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                recs.append((drop(json.loads(line), ignore), json.loads(line, parse_int=Num, parse_float=Num), path, n))
    return recs


def first(rec, fields):
    for f in fields:
        v = rec.get(f) if isinstance(rec, dict) else None
        if isinstance(v, (str, Num)):
            return v
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tol", type=float, default=0.0)
    ap.add_argument("--ignore", default="")
    ap.add_argument("--key", default="")
    ap.add_argument("--hash", default="")
    ap.add_argument("full")
    ap.add_argument("shards", nargs="+")
    a = ap.parse_args()
    ignore = [p for p in a.ignore.split(",") if p]
    full = load(a.full, ignore)
    shards = [load(p, ignore) for p in a.shards]
    n = len(shards)
    pos = [0] * n
    bad = 0

    def fail(msg):
        nonlocal bad
        bad += 1
        if bad <= 10:
            print("shard-check: " + msg, file=sys.stderr)

    for rec, _, _, line in full:
        hit = [i for i in range(n) if pos[i] < len(shards[i]) and close(rec, shards[i][pos[i]][0], a.tol)]
        if len(hit) != 1:
            fail("%s line %d: the next record of %d shards, not of one" % (a.full, line, len(hit)))
            if not hit:
                continue
        pos[hit[0]] += 1
    if not full or not all(shards):
        fail("an empty output: give each shard some records")
    for i in range(n):
        if pos[i] != len(shards[i]):
            fail("%s: record %d and on are not in %s (or out of order)" % (a.shards[i], pos[i] + 1, a.full))
    if a.key:
        owner = {}
        for i in range(n):
            for _, raw, path, line in shards[i]:
                k = first(raw, a.key.split(","))
                if k is not None and owner.setdefault(k, i) != i:
                    fail("%s line %d: key %r is in shards %d and %d" % (path, line, k, owner[k], i))
    if a.hash:
        for i in range(n):
            for _, raw, path, line in shards[i]:
                k = first(raw, a.hash.split(","))
                if k is not None and fnv1a64(k.encode("utf-8")) % n != i:
                    fail("%s line %d: key %r hashes to shard %d, not %d" % (path, line, k, fnv1a64(k.encode()) % n, i))
    print("records %d in %d shards" % (len(full), n))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
