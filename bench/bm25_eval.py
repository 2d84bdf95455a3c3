#!/usr/bin/env python3
"""bm25_eval.py: BM25 quality of rag-index/rag-retrieve on BEIR-style datasets (nDCG@10).

Usage: bench/bm25_eval.py [--bin BUILD/cmd] [--datasets DIR] [--k1 X --b Y]
                          [--title-weight W --text-weight W] [--stem porter|none]
                          [NAME...]
Indexes title + text of corpus.jsonl, runs queries.jsonl (top 100, the query's own id
excluded for ArguAna), and scores nDCG@10 like trec_eval's ndcg_cut_10 (gains = qrels
values; Cranfield uses qrels.graded.tsv) over the queries that have judgements.
"""
import argparse, json, math, os, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
top = os.path.dirname(here)


def load_qrels(path):
    q = {}
    for line in open(path):
        p = line.split()
        if len(p) < 4:
            continue
        q.setdefault(p[0], {})[p[2]] = int(p[3])
    return q


def ndcg10(run, qrels):
    tot, n = 0.0, 0
    for qid, rels in qrels.items():
        if not any(g > 0 for g in rels.values()):
            continue
        hits = run.get(qid, [])
        # trec_eval order: score descending, then docno descending
        hits = sorted(hits, key=lambda h: (-h[1], tuple(-ord(c) for c in h[0])))[:10]
        dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, (d, s) in enumerate(hits) if rels.get(d, 0) > 0)
        ideal = sorted((g for g in rels.values() if g > 0), reverse=True)[:10]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        tot += dcg / idcg if idcg > 0 else 0
        n += 1
    return tot / n if n else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(top, "build", "cmd"))
    ap.add_argument("--datasets", default=os.path.join(top, "..", "shared", "datasets"))
    ap.add_argument("--k1", type=float, default=None)
    ap.add_argument("--b", type=float, default=None)
    ap.add_argument("--title-weight", type=float, default=None)
    ap.add_argument("--text-weight", type=float, default=None)
    ap.add_argument("--stem", default="porter")
    ap.add_argument("--stopwords", default="english")
    ap.add_argument("--keep", default=None, help="directory to keep indexes in (reused when present)")
    ap.add_argument("names", nargs="*", default=["scifact", "nfcorpus", "arguana", "cranfield"])
    a = ap.parse_args()
    work = a.keep or tempfile.mkdtemp(prefix="bm25eval.")
    os.makedirs(work, exist_ok=True)
    for name in a.names:
        d = os.path.join(a.datasets, name)
        idx = os.path.join(work, f"{name}-{a.stem}-{a.stopwords}.rag")
        t0 = time.time()
        if not os.path.exists(idx):
            chunks = os.path.join(work, f"{name}.chunks.jsonl")
            with open(chunks, "w") as f:
                for line in open(os.path.join(d, "corpus.jsonl")):
                    r = json.loads(line)
                    f.write(json.dumps({"id": r["_id"], "title": r.get("title", ""), "text": r.get("text", "")}) + "\n")
            subprocess.run([os.path.join(a.bin, "rag-index"), "--stem", a.stem, "--stopwords", a.stopwords,
                            idx, chunks], check=True)
        t_index = time.time() - t0
        qrels = load_qrels(os.path.join(d, "qrels.graded.tsv" if name == "cranfield" else "qrels.tsv"))
        queries = os.path.join(work, f"{name}.queries.jsonl")
        with open(queries, "w") as f:
            for line in open(os.path.join(d, "queries.jsonl")):
                r = json.loads(line)
                if r["_id"] in qrels:
                    f.write(json.dumps({"qid": r["_id"], "text": r["text"]}) + "\n")
        cmd = [os.path.join(a.bin, "rag-retrieve"), "-q", "-k", "100", "--mode", "bm25", "--format", "trec", idx]
        if a.k1 is not None:
            cmd += ["--k1", str(a.k1)]
        if a.b is not None:
            cmd += ["--b", str(a.b)]
        if a.title_weight is not None:
            cmd += ["--title-weight", str(a.title_weight)]
        if a.text_weight is not None:
            cmd += ["--text-weight", str(a.text_weight)]
        if name == "arguana":
            cmd.append("--exclude-self")
        t0 = time.time()
        out = subprocess.run(cmd, stdin=open(queries), capture_output=True, text=True, check=True).stdout
        t_query = time.time() - t0
        run = {}
        for line in out.splitlines():
            qid, _, doc, rank, score, _ = line.split()
            run.setdefault(qid, []).append((doc, float(score)))
        nq = sum(1 for _ in open(queries))
        print(f"{name}\tstem={a.stem}\tk1={a.k1}\tb={a.b}\twt={a.title_weight}\twx={a.text_weight}\tnDCG@10={ndcg10(run, qrels):.4f}\t"
              f"queries={nq}\tquery_s={t_query:.2f}\tqps={nq / t_query:.1f}\tindex_s={t_index:.1f}", flush=True)


if __name__ == "__main__":
    main()
