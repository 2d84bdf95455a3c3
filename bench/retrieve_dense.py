#!/usr/bin/env python3
"""retrieve_dense.py: exact dense search throughput of rag-retrieve vs NumPy brute force.

Usage: bench/retrieve_dense.py [--bin BUILD/cmd] [--n 50000] [--dim 384] [--queries 200] [--reps 3]
                               [--batch 1,64]
Random normalized vectors (seeded), cosine, top 10.  ragkit: rag-retrieve --mode dense,
with each --batch value (1 = one query at a time; 64 = rag-retrieve's default: exact dense
queries read in blocks and scored in one pass), timed end to end (process start and index open
included, measured separately and subtracted in the "search only" column).  Peer: NumPy
(OpenBLAS) matmul + argpartition, per query (batch 1) and in one batch.  Also checks that
ragkit's top 10 equals NumPy's.  1M vectors do not fit this 2-core box's time budget with
JSON input, so the default is 50k (scaled down; say so when quoting).
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
top = os.path.dirname(here)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(top, "build", "cmd"))
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--storage", default="f32")
    ap.add_argument("--batch", default="1,64", help="rag-retrieve --batch values to compare")
    a = ap.parse_args()
    try:
        import numpy as np
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "numpy"], check=True)
        import numpy as np
    rng = np.random.default_rng(42)
    x = rng.standard_normal((a.n, a.dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = rng.standard_normal((a.queries, a.dim), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    work = tempfile.mkdtemp(prefix="densebench.")
    chunks = os.path.join(work, "c.jsonl")
    with open(chunks, "w") as f:
        for i in range(a.n):
            f.write('{"id":"%d","embedding":[%s]}\n' % (i, ",".join("%.6g" % v for v in x[i])))
    idx = os.path.join(work, "x.rag")
    t0 = time.perf_counter()
    subprocess.run([os.path.join(a.bin, "rag-index"), "--storage", a.storage, idx, chunks], check=True)
    t_build = time.perf_counter() - t0
    qf = os.path.join(work, "q.jsonl")
    with open(qf, "w") as f:
        for i in range(a.queries):
            f.write('{"qid":"%d","embedding":[%s]}\n' % (i, ",".join("%.9g" % v for v in q[i])))
    q1 = os.path.join(work, "q1.jsonl")
    with open(q1, "w") as f:
        f.write(open(qf).readline())

    def cpu():
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    def run(path, batch):
        best, bcpu, out = 1e9, 1e9, None
        for _ in range(a.reps):
            t0, c0 = time.perf_counter(), cpu()
            out = subprocess.run([os.path.join(a.bin, "rag-retrieve"), "-q", "-k", "10", "--mode", "dense",
                                  "--batch", str(batch), "--format", "trec", idx], stdin=open(path),
                                 capture_output=True, text=True, check=True).stdout
            best = min(best, time.perf_counter() - t0)
            bcpu = min(bcpu, cpu() - c0)
        return best, bcpu, out
    results = []
    outs = set()
    for b in [int(v) for v in a.batch.split(",")]:
        t_all, c_all, out = run(qf, b)
        t_one, c_one, _ = run(q1, b)
        search = max(t_all - t_one, 1e-9) * a.queries / (a.queries - 1)
        csearch = max(c_all - c_one, 1e-9) * a.queries / (a.queries - 1)
        results.append((b, t_all, search, csearch))
        outs.add(out)
    got = {}
    for line in out.splitlines():
        p = line.split()
        got.setdefault(int(p[0]), []).append(int(p[2]))
    # NumPy peer
    best1 = 1e9
    for _ in range(a.reps):
        t0 = time.perf_counter()
        for i in range(a.queries):
            s = x @ q[i]
            best10 = np.argpartition(-s, 10)[:10]
            best10[np.argsort(-s[best10])]
        best1 = min(best1, time.perf_counter() - t0)
    bestb = 1e9
    for _ in range(a.reps):
        t0 = time.perf_counter()
        s = q @ x.T
        np.argpartition(-s, 10, axis=1)[:, :10]
        bestb = min(bestb, time.perf_counter() - t0)
    s = q @ x.T
    agree = 0
    for i in range(a.queries):
        ref = list(np.argsort(-s[i])[:10])
        agree += sum(1 for d in got.get(i, []) if d in ref)
    gb = a.n * a.dim * (4 if a.storage == "f32" else 2 if a.storage == "f16" else 1) / 1e9
    print(f"n={a.n} dim={a.dim} storage={a.storage} queries={a.queries} build_s={t_build:.1f}")
    for b, t_all, search, csearch in results:
        print(f"ragkit --batch {b}: end to end {a.queries / t_all:.1f} q/s; search only {a.queries / search:.1f} q/s "
              f"({a.queries / csearch:.1f} q per CPU-s; {gb * a.queries / search:.2f} GB/s of vectors read); "
              f"/ numpy batch 1: {(a.queries / search) / (a.queries / best1):.2f}")
    print(f"numpy batch 1: {a.queries / best1:.1f} q/s; numpy one batch: {a.queries / bestb:.1f} q/s")
    print(f"identical output for every --batch: {len(outs) == 1}")
    print(f"top-10 agreement with numpy: {agree / (10 * a.queries):.4f}")


if __name__ == "__main__":
    main()
