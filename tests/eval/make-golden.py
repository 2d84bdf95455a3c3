#!/usr/bin/env python3
"""make-golden.py: trec_eval's figures (through pytrec_eval) for rag-eval's parity tests.

Usage: python3 tests/eval/make-golden.py [--random N] [DATA_DIR] [OUT_DIR]

DATA_DIR (default tests/data/eval) holds the inputs: the BM25 runs and qrels
made by make-runs.py (gzipped) and the constructed cases, which this script
(re)writes there deterministically.  For every case it writes
OUT_DIR/<case>.golden.json.gz (OUT_DIR defaults to DATA_DIR):

  {"case", "qrels", "run", "format", "rel_level", "complete",
   "summary": {measure: value}, "per_query": {qid: {measure: value}}}

with the values pytrec_eval (trec_eval's own C code) computes.  Summaries
follow trec_eval: scores averaged, num_* summed; with "complete" (trec_eval
-c) a query the run lacks is evaluated as trec_eval does, with its one bogus
document ("ceci_nest_pas_un_docno"), then num_ret reset to 0, and averages are
over every qrels query.

--random N also writes N random cases (random-<i>) with heavy score ties,
graded and negative judgements and missing queries, seeded by i, into OUT_DIR
(inputs included): the live test uses them to compare on fresh data.

Needs pytrec_eval: python3 -m pip install pytrec-eval-terrier
(the original pytrec_eval package builds only with network access to fetch
trec_eval's source).
"""
import gzip
import json
import os
import random
import sys

import pytrec_eval

CUTS = "1,3,5,10,15,20,30,100,200,500,1000"
PYTREC_MEASURES = {
    "map", "ndcg", "Rprec", "bpref", "recip_rank", "num_q", "num_ret", "num_rel", "num_rel_ret",
    "ndcg_cut." + CUTS, "P." + CUTS, "recall." + CUTS, "success.1,3,5,10,100",
}
# The same set in rag-eval's spelling (the test passes these to rag-eval).
RAG_EVAL_MEASURES = ["all", "P.1,3", "ndcg_cut.1,3", "recall.1,3", "success.3,100"]
BOGUS = "ceci_nest_pas_un_docno"


def read_text(path):
    if path.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return f.read()
    with open(path, encoding="utf-8") as f:
        return f.read()


def parse_qrels(text):
    q = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        qid, _, doc, rel = line.split()
        assert doc not in q.setdefault(qid, {}), (qid, doc)
        q[qid][doc] = int(rel)
    return q


def parse_run(text, fmt):
    r = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if fmt == "jsonl":
            rec = json.loads(line)
            qid, doc = str(rec["qid"]), str(rec["id"])
            score = float(rec["score"]) if "score" in rec else -float(rec["rank"])
        else:
            if line.lstrip().startswith("#"):
                continue
            f = line.split()
            qid, doc, score = f[0], f[2], float(f[4])
        assert doc not in r.setdefault(qid, {}), (qid, doc)
        r[qid][doc] = score
    return r


def evaluate(qrels, run, rel_level, complete):
    ev = pytrec_eval.RelevanceEvaluator(qrels, PYTREC_MEASURES, relevance_level=rel_level)
    run = {q: d for q, d in run.items() if q in qrels}
    missing = [q for q in qrels if q not in run]
    if complete:
        for q in missing:
            run[q] = {BOGUS: 1.0}
    per_query = ev.evaluate(run)
    if complete:
        for q in missing:
            per_query[q]["num_ret"] = 0.0
    names = sorted(next(iter(per_query.values())).keys())
    summary = {}
    for m in names:
        vals = [per_query[q][m] for q in sorted(per_query)]
        # trec_eval sums in qid order, then divides by the number of queries
        s = 0.0
        for v in vals:
            s += v
        summary[m] = s if m.startswith("num_") else s / len(vals)
    return per_query, summary


def golden(data, out, name, qrels_file, run_file, fmt="trec", rel_level=1, complete=False):
    qrels = parse_qrels(read_text(os.path.join(data, qrels_file)))
    run = parse_run(read_text(os.path.join(data, run_file)), fmt)
    per_query, summary = evaluate(qrels, run, rel_level, complete)
    doc = {"case": name, "qrels": qrels_file, "run": run_file, "format": fmt,
           "rel_level": rel_level, "complete": complete,
           "measures": RAG_EVAL_MEASURES, "summary": summary, "per_query": per_query}
    with gzip.GzipFile(os.path.join(out, name + ".golden.json.gz"), "wb", mtime=0) as f:
        f.write((json.dumps(doc, sort_keys=True) + "\n").encode())
    print("%-28s %4d queries, %3d measures" % (name, len(per_query), len(summary)))


# ---- constructed cases ----------------------------------------------------
CONSTRUCTED_QRELS = """\
# constructed qrels: graded grades with gaps, negative (in pool, unjudged) grades,
# a query without relevant documents, a query the run lacks
q1 0 d1 1
q1 0 d2 0
q1 0 d3 2
q1 0 d10 1
q1 0 d9 0
q1 0 d5 -1
q2 0 a 3
q2 0 b 2
q2 0 c 1
q2 0 e 0
q2 0 f 3
q3 0 x 0
q3 0 y 0
q4 0 m 1
q4 0 n 2
q5 0 z 1
q5 0 k2 0
q6 0 only 5
q6 0 other 1
"""

# Ties (d9/d10/d1 all 1.0: trec_eval orders them d9, d1, d10 by docid
# descending), a rank column that disagrees with the scores, unjudged and
# negative-judged documents, exponent and negative scores, fewer documents
# than the cutoffs, and a query (q7) the qrels lack.
CONSTRUCTED_RUN = """\
q1 Q0 d10 1 1.0 tie
q1 Q0 d9 2 1.0 tie
q1 Q0 d1 3 1 tie
q1 Q0 u1 4 0.5 tie
q1 Q0 d5 5 0.50 tie
q1 Q0 d3 6 0.25 tie
q1 Q0 d2 7 2.5e-1 tie
q2 Q0 e 5 -1 tie
q2 Q0 c 4 -2 tie
q2 Q0 b 3 -3 tie
q2 Q0 a 2 -4 tie
q2 Q0 unj 1 -1 tie
q3 Q0 x 1 3 tie
q3 Q0 w 2 2 tie
q5 Q0 k1 1 2 tie
q5 Q0 k2 2 1 tie
q6 Q0 other 1 7 tie
q6 Q0 only 2 7 tie
q7 Q0 zz 1 1 tie
"""


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def constructed(data):
    write(os.path.join(data, "constructed.qrels"), CONSTRUCTED_QRELS)
    write(os.path.join(data, "constructed.run"), CONSTRUCTED_RUN)
    # The same run as ragkit hit records: one with scores (ranks scrambled),
    # one with ranks only (rag-eval then orders by rank).
    with_scores, ranks_only = [], []
    run = [l.split() for l in CONSTRUCTED_RUN.splitlines()]
    for qid, _, doc, rank, score, _ in run:
        with_scores.append(json.dumps({"qid": qid, "query": "text of " + qid, "id": doc,
                                       "rank": int(rank), "score": float(score), "text": "..."}))
    by_q = {}
    for qid, _, doc, rank, score, _ in run:
        by_q.setdefault(qid, []).append((doc, int(rank)))
    for qid, docs in by_q.items():
        for doc, rank in sorted(docs, key=lambda x: x[1]):
            ranks_only.append(json.dumps({"qid": qid, "id": doc, "rank": rank}))
    write(os.path.join(data, "constructed.hits.jsonl"), "\n".join(with_scores) + "\n")
    write(os.path.join(data, "constructed.ranks.jsonl"), "\n".join(ranks_only) + "\n")


def random_case(out, i):
    rng = random.Random(i)
    qrels, run = [], []
    nq = rng.randint(5, 40)
    for q in range(nq):
        qid = "r%d" % q
        docs = ["doc%d" % rng.randint(0, 60) for _ in range(rng.randint(1, 50))]
        judged = sorted(set(docs[: rng.randint(1, len(docs))]))
        grades = [rng.choice([-1, 0, 0, 0, 1, 1, 2, 3, 4]) for _ in judged]
        if max(grades) < 0:
            # only negative grades: trec_eval reads outside its arrays then
            # (pytrec_eval crashes or hangs); rag-eval scores such a query 0
            grades[0] = 0
        for d, g in zip(judged, grades):
            qrels.append("%s 0 %s %d" % (qid, d, g))
        if rng.random() < 0.15:
            continue  # a qrels query without results
        pool = sorted(set(docs + ["doc%d" % rng.randint(0, 80) for _ in range(30)]))
        rng.shuffle(pool)
        for rank, d in enumerate(pool[: rng.randint(1, len(pool))], 1):
            score = rng.choice([rng.randint(0, 5), round(rng.uniform(-3, 3), 2)])
            run.append("%s Q0 %s %d %s rnd" % (qid, d, rank, score))
    for q in range(rng.randint(0, 3)):
        run.append("extra%d Q0 doc1 1 1 rnd" % q)  # queries the qrels lack
    write(os.path.join(out, "random-%d.qrels" % i), "\n".join(qrels) + "\n")
    write(os.path.join(out, "random-%d.run" % i), "\n".join(run) + "\n")
    level = 1 + i % 2
    golden(out, out, "random-%d" % i, "random-%d.qrels" % i, "random-%d.run" % i,
           rel_level=level, complete=bool(i % 3 == 0))


def main():
    args = sys.argv[1:]
    n_random = 0
    if args[:1] == ["--random"]:
        n_random = int(args[1])
        args = args[2:]
    here = os.path.dirname(os.path.abspath(__file__))
    data = args[0] if args else os.path.join(here, "..", "data", "eval")
    out = args[1] if len(args) > 1 else data
    os.makedirs(out, exist_ok=True)
    if n_random:
        for i in range(n_random):
            random_case(out, i)
        return
    constructed(data)
    golden(data, out, "scifact-bm25", "scifact.qrels.gz", "scifact.bm25.run.gz")
    golden(data, out, "nfcorpus-bm25", "nfcorpus.qrels.gz", "nfcorpus.bm25.run.gz")
    golden(data, out, "nfcorpus-bm25-c", "nfcorpus.qrels.gz", "nfcorpus.bm25.run.gz", complete=True)
    golden(data, out, "nfcorpus-bm25-l2", "nfcorpus.qrels.gz", "nfcorpus.bm25.run.gz", rel_level=2)
    # a BM25 run made by rag-retrieve itself (SciFact, title + text, -k 100; see README)
    golden(data, out, "scifact-ragkit-bm25", "scifact.qrels.gz", "scifact.ragkit-bm25.run.gz")
    golden(data, out, "cranfield-bm25", "cranfield.qrels.gz", "cranfield.bm25.run.gz")
    golden(data, out, "cranfield-bm25-graded", "cranfield.qrels-graded.gz", "cranfield.bm25.run.gz")
    golden(data, out, "cranfield-bm25-graded-c", "cranfield.qrels-graded.gz", "cranfield.bm25.run.gz",
           complete=True)
    golden(data, out, "constructed", "constructed.qrels", "constructed.run")
    golden(data, out, "constructed-c", "constructed.qrels", "constructed.run", complete=True)
    golden(data, out, "constructed-l2", "constructed.qrels", "constructed.run", rel_level=2)
    golden(data, out, "constructed-hits", "constructed.qrels", "constructed.hits.jsonl", fmt="jsonl")
    golden(data, out, "constructed-ranks", "constructed.qrels", "constructed.ranks.jsonl", fmt="jsonl",
           complete=True)


if __name__ == "__main__":
    main()
