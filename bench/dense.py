#!/usr/bin/env python3
"""dense.py: driven by bench/dense.sh.  Writes random unit vectors (seeded), runs the
C driver (ragkit kernels) and NumPy / FAISS IndexFlatIP on the same data, and prints
queries/s, GB/s of stored vectors read (10^9 B/s), wall and CPU seconds (best of
--reps), ratios, and whether the top-10 lists agree with NumPy's."""
import argparse, json, os, resource, subprocess, time

import numpy as np


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def best_of(reps, fn):
    best = None
    for _ in range(reps):
        t0, c0 = time.perf_counter(), cpu()
        out = fn()
        t, c = time.perf_counter() - t0, cpu() - c0
        if best is None or t < best[0]:
            best = (t, c, out)
    return best


def drv(a, *args):
    r = subprocess.run([a.driver] + [str(x) for x in args], check=True, capture_output=True, text=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--sizes", default="200000x384 100000x768")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--nq1", type=int, default=32)
    ap.add_argument("--nqb", type=int, default=256)
    ap.add_argument("--block", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--storages", default="0 1 2")
    a = ap.parse_args()
    k = 10
    sname = {0: "f32", 1: "f16", 2: "int8"}
    for t in (1, 2):
        print("read bandwidth, %d thread(s): %.2f GB/s" % (t, drv(a, "bw", 1024, t)["gbs"]))
    try:
        import faiss
        faiss.omp_set_num_threads(a.threads)
    except ImportError:
        faiss = None
    for size in a.sizes.split():
        n, d = (int(v) for v in size.split("x"))
        rng = np.random.default_rng(7)
        x = rng.standard_normal((n, d), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        nq = max(a.nq1, a.nqb)
        q = rng.standard_normal((nq, d), dtype=np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        xf, qf = os.path.join(a.workdir, "x.f32"), os.path.join(a.workdir, "q.f32")
        x.tofile(xf)
        q.tofile(qf)
        print("\n== %d x %d, top %d, %d threads; f32 bytes/query %d (%.1f MB) ==" % (n, d, k, a.threads, n * d * 4, n * d * 4 / 1e6))
        rows = []

        def one(B, nqq):
            def f():
                res = []
                for i in range(0, nqq, B):
                    s = q[i:i + B] @ x.T
                    idx = np.argpartition(-s, k, axis=1)[:, :k]
                    res.append(idx)
                return res
            return f
        for label, B, nqq in (("numpy 1 at a time", 1, a.nq1), ("numpy batched %d" % a.block, a.block, a.nqb)):
            t, c, _ = best_of(a.reps, one(B, nqq))
            rows.append((label, nqq / t, n * d * 4 * (nqq / B) / t / 1e9, t, c))
        ref = np.argsort(-(q[:a.nqb] @ x.T), axis=1)[:, :k]
        if faiss is not None:
            ix = faiss.IndexFlatIP(d)
            ix.add(x)
            for label, B, nqq in (("faiss IndexFlatIP 1 at a time", 1, a.nq1), ("faiss IndexFlatIP batched %d" % a.block, a.block, a.nqb)):
                t, c, _ = best_of(a.reps, lambda: [ix.search(q[i:i + B], k) for i in range(0, nqq, B)])
                rows.append((label, nqq / t, n * d * 4 * (nqq / B) / t / 1e9, t, c))
        agree = {}
        for st in (int(s) for s in a.storages.split()):
            rb = n * d * (4 if st == 0 else 2 if st == 1 else 1)
            for mode, nqq in (("scores", a.nq1), ("topk", a.nq1), ("batch", a.nqb)):
                ids = os.path.join(a.workdir, "ids")
                r = drv(a, "search", xf, qf, n, nqq, d, st, mode, a.block, k, a.threads, a.reps, ids)
                label = {"scores": "ragkit %s old path (scores+select), 1 at a time",
                         "topk": "ragkit %s fused top-k, 1 at a time",
                         "batch": "ragkit %s fused, batched %d" % ("%s", a.block)}[mode] % sname[st]
                rows.append((label, r["qps"], r["gbs"], r["wall"], r["cpu"]))
                if mode == "batch":
                    got = [list(map(int, l.split())) for l in open(ids)]
                    agree[sname[st]] = sum(len(set(g) & set(ref[i])) for i, g in enumerate(got)) / (k * len(got))
        print("%-48s %10s %8s %8s %8s %12s" % ("system", "queries/s", "GB/s", "wall s", "CPU s", "q/CPU-s"))
        for label, qps, gbs, t, c in rows:
            nqq = qps * t
            print("%-48s %10.1f %8.2f %8.3f %8.3f %12.1f" % (label, qps, gbs, t, c, nqq / c if c else 0))
        base1 = next(r for r in rows if r[0] == "numpy 1 at a time")
        baseb = next(r for r in rows if r[0].startswith("numpy batched"))
        for label, qps, gbs, t, c in rows:
            if label.startswith("ragkit"):
                peer = baseb if "batched" in label else base1
                print("ratio %-44s vs %-18s %.2fx wall, %.2fx per CPU-s" % (label, peer[0], qps / peer[1],
                      (qps * t / c) / (peer[1] * peer[3] / peer[4])))
        print("top-10 overlap with exact f32 (NumPy argsort):", ", ".join("%s %.3f" % kv for kv in agree.items()))


if __name__ == "__main__":
    main()
