#!/usr/bin/env python3
"""make-runs.py: BM25 runs (SQLite FTS5, top 100) over the shared IR datasets, for rag-eval's parity tests.

Usage: python3 tests/eval/make-runs.py [DATASETS_DIR] [OUT_DIR]
  DATASETS_DIR defaults to ../shared/datasets (beside the repository),
  OUT_DIR to tests/data/eval.  Writes OUT_DIR/<name>.bm25.run.gz (TREC run
  format) and copies each dataset's qrels to OUT_DIR/<name>.qrels.gz.

The runs stand in for rag-retrieve's BM25 output: title and text in one FTS5
column (porter unicode61), each query an OR of its quoted terms, bm25() as the
score (negated, so higher is better), printed with 4 decimals as many run
files are, which produces real score ties.  The rank column is FTS5's order,
so where ties are broken differently it disagrees with trec_eval's order.
"""
import gzip
import json
import os
import re
import shutil
import sqlite3
import sys

here = os.path.dirname(os.path.abspath(__file__))
top = os.path.dirname(os.path.dirname(here))
data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(top, "..", "shared", "datasets")
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(top, "tests", "data", "eval")
K = 100


def run(name, qrels_files):
    d = os.path.join(data, name)
    db = sqlite3.connect(":memory:")
    db.execute("create virtual table docs using fts5(id unindexed, body, tokenize='porter unicode61')")
    with open(os.path.join(d, "corpus.jsonl"), encoding="utf-8") as f:
        db.executemany("insert into docs values (?, ?)",
                       ((r["_id"], (r.get("title") or "") + " " + r["text"]) for r in map(json.loads, f)))
    judged = set()
    for q in qrels_files:
        with open(os.path.join(d, q), encoding="utf-8") as f:
            judged.update(line.split()[0] for line in f if line.strip())
    lines = []
    with open(os.path.join(d, "queries.jsonl"), encoding="utf-8") as f:
        for r in map(json.loads, f):
            if r["_id"] not in judged:
                continue
            terms = sorted(set(re.findall(r"\w+", r["text"].lower())))
            if not terms:
                continue
            match = " OR ".join('"%s"' % t for t in terms)
            rows = db.execute("select id, -bm25(docs) from docs where docs match ? order by bm25(docs) limit ?",
                              (match, K)).fetchall()
            for rank, (docid, score) in enumerate(rows, 1):
                lines.append("%s Q0 %s %d %.4f fts5-bm25\n" % (r["_id"], docid, rank, score))
    with gzip.GzipFile(os.path.join(out, name + ".bm25.run.gz"), "wb", mtime=0) as g:
        g.write("".join(lines).encode())
    for q in qrels_files:
        dst = os.path.join(out, name + "." + q.replace("qrels.", "qrels-").replace(".tsv", "") + ".gz")
        dst = dst.replace("qrels-tsv", "qrels")
        with open(os.path.join(d, q), "rb") as f, gzip.GzipFile(dst, "wb", mtime=0) as g:
            shutil.copyfileobj(f, g)
    print(name, len(lines), "lines")


os.makedirs(out, exist_ok=True)
run("scifact", ["qrels.tsv"])
run("nfcorpus", ["qrels.tsv"])
run("cranfield", ["qrels.tsv", "qrels.graded.tsv"])
