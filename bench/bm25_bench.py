#!/usr/bin/env python3
"""bm25_bench.py: BM25 queries/s of rag-retrieve vs SQLite FTS5 bm25() and bm25s, side by side.

Usage: bench/bm25_bench.py [--bin BUILD/cmd] [--datasets DIR] [--reps 3] [--max-queries N] [NAME...]
Same corpus (title + text), same queries, top 100 per query, single process.  ragkit is
timed end to end (process start, index open, queries, TREC output), and again with a
run without queries subtracted (process start and index open: search + output only);
FTS5 and bm25s only for their query loop (their index build is not counted).  Each figure is the best of --reps.
ArguAna's FTS5 run takes ~16 min for all 1,406 queries, so --max-queries limits the
query set (the same subset for all three systems).
"""
import argparse, json, os, re, resource, sqlite3, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
top = os.path.dirname(here)


def pip(name):
    try:
        __import__(name)
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", name], check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(top, "build", "cmd"))
    ap.add_argument("--datasets", default=os.path.join(top, "..", "shared", "datasets"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--max-queries", type=int, default=0)
    ap.add_argument("--fts5-max-queries", type=int, default=200)
    ap.add_argument("--fts5-reps", type=int, default=1, help="FTS5 is slow on long queries: fewer repetitions")
    ap.add_argument("names", nargs="*", default=["scifact", "nfcorpus", "arguana", "cranfield"])
    a = ap.parse_args()
    pip("bm25s")
    import bm25s
    work = tempfile.mkdtemp(prefix="bm25bench.")
    print("dataset\tqueries\tragkit_qps\tfts5_qps\tbm25s_qps\tragkit/fts5\tragkit/bm25s")
    for name in a.names:
        d = os.path.join(a.datasets, name)
        docs = [json.loads(l) for l in open(os.path.join(d, "corpus.jsonl"))]
        queries = [json.loads(l) for l in open(os.path.join(d, "queries.jsonl"))]
        if a.max_queries:
            queries = queries[:a.max_queries]
        nq_fts = min(len(queries), a.fts5_max_queries) if a.fts5_max_queries else len(queries)
        # ragkit
        chunks = os.path.join(work, name + ".jsonl")
        with open(chunks, "w") as f:
            for r in docs:
                f.write(json.dumps({"id": r["_id"], "title": r.get("title", ""), "text": r.get("text", "")}) + "\n")
        idx = os.path.join(work, name + ".rag")
        subprocess.run([os.path.join(a.bin, "rag-index"), idx, chunks], check=True)

        def rk(qs, startup=None):
            """(q/s wall, q/s CPU) end to end; with startup = (wall, cpu) of a run without
            queries, the process start and index open are subtracted (search + output only)."""
            qf = os.path.join(work, name + ".q.jsonl")
            with open(qf, "w") as f:
                for q in qs:
                    f.write(json.dumps({"qid": q["_id"], "text": q["text"]}) + "\n")
            best, bcpu = 1e9, 1e9
            for _ in range(a.reps if qs else 2 * a.reps):
                r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                subprocess.run([os.path.join(a.bin, "rag-retrieve"), "-q", "-k", "100", "--mode", "bm25",
                                "--format", "trec", idx], stdin=open(qf), stdout=subprocess.DEVNULL, check=True)
                best = min(best, time.perf_counter() - t0)
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                bcpu = min(bcpu, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
            if not qs:
                return best, bcpu
            if startup:
                best, bcpu = max(best - startup[0], 1e-6), max(bcpu - startup[1], 1e-6)
            return len(qs) / best, len(qs) / bcpu
        # FTS5: one column with title and text, OR of quoted terms (as the reference runs)
        db = sqlite3.connect(":memory:")
        db.execute("CREATE VIRTUAL TABLE t USING fts5(id UNINDEXED, body, tokenize='unicode61')")
        db.executemany("INSERT INTO t VALUES (?, ?)", ((r["_id"], (r.get("title", "") + " " + r.get("text", ""))) for r in docs))
        db.commit()

        def fts(qs):
            best, bcpu = 1e9, 1e9
            for _ in range(a.fts5_reps):
                t0 = time.perf_counter()
                c0 = time.process_time()
                for q in qs:
                    terms = re.findall(r"\w+", q["text"].lower())
                    if not terms:
                        continue
                    m = " OR ".join('"%s"' % t for t in terms)
                    db.execute("SELECT id FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT 100", (m,)).fetchall()
                best = min(best, time.perf_counter() - t0)
                bcpu = min(bcpu, time.process_time() - c0)
            return len(qs) / best, len(qs) / bcpu
        # bm25s (its default: Lucene BM25, k1=1.5 b=0.75, English stop words)
        corpus = [(r.get("title", "") + " " + r.get("text", "")) for r in docs]
        retr = bm25s.BM25()
        retr.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False)

        def b25(qs):
            best, bcpu = 1e9, 1e9
            for _ in range(a.reps):
                t0 = time.perf_counter()
                c0 = time.process_time()
                qt = bm25s.tokenize([q["text"] for q in qs], stopwords="en", show_progress=False)
                retr.retrieve(qt, k=100, show_progress=False, n_threads=1)
                best = min(best, time.perf_counter() - t0)
                bcpu = min(bcpu, time.process_time() - c0)
            return len(qs) / best, len(qs) / bcpu
        st = rk([])
        r_all, b_all = rk(queries), b25(queries)
        r_srch = rk(queries, st)
        sub = queries[:nq_fts]
        r_sub, f_sub = rk(sub), fts(sub)
        # wall-clock q/s, then q/s of CPU time (the fairer figure on a loaded machine)
        print(f"{name}\t{len(queries)}\t{r_all[0]:.0f} ({r_all[1]:.0f} cpu)\t-\t{b_all[0]:.0f} ({b_all[1]:.0f} cpu)\t-\t"
              f"{r_all[0] / b_all[0]:.2f} ({r_all[1] / b_all[1]:.2f} cpu)", flush=True)
        print(f"{name} (ragkit without start-up: {st[0]:.2f} s wall, {st[1]:.3f} s cpu)\t{len(queries)}\t"
              f"{r_srch[0]:.0f} ({r_srch[1]:.0f} cpu)\t-\t{b_all[0]:.0f} ({b_all[1]:.0f} cpu)\t-\t"
              f"{r_srch[0] / b_all[0]:.2f} ({r_srch[1] / b_all[1]:.2f} cpu)", flush=True)
        print(f"{name} (first {nq_fts})\t{nq_fts}\t{r_sub[0]:.0f} ({r_sub[1]:.0f} cpu)\t{f_sub[0]:.1f} ({f_sub[1]:.1f} cpu)\t-\t"
              f"{r_sub[0] / f_sub[0]:.1f} ({r_sub[1] / f_sub[1]:.1f} cpu)\t-", flush=True)


if __name__ == "__main__":
    main()
