#!/usr/bin/env python3
"""ann.py: ANN benchmark, ragkit HNSW vs hnswlib vs FAISS (IndexHNSWFlat), side by side.

Same data, same M / efConstruction / efSearch, same thread counts: builds on
--threads threads, queries single-threaded (one query at a time inside each
library's batch call).  Recall@10 is measured against exact top-10 computed
with numpy.  Called by bench/ann.sh, which builds bench/ann-driver first.
"""
import argparse, json, math, os, subprocess, sys, time

import numpy as np


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def exact_topk(base, q, k, metric):
    out = np.empty((len(q), k), dtype=np.int32)
    for s in range(0, len(q), 256):
        qq = q[s:s + 256]
        if metric == "l2":
            d = (qq * qq).sum(1)[:, None] - 2 * qq @ base.T + (base * base).sum(1)[None, :]
        else:
            d = -(qq @ base.T)
        idx = np.argpartition(d, k, axis=1)[:, :k]
        dd = np.take_along_axis(d, idx, 1)
        out[s:s + 256] = np.take_along_axis(idx, np.argsort(dd, 1), 1)
    return out


def recall(got, gt, k):
    hit = 0
    for g, t in zip(got, gt):
        hit += len(set(int(x) for x in g[:k]) & set(int(x) for x in t[:k]))
    return hit / (len(gt) * k)


def best_time(fn, reps):
    """Best CPU time of reps calls (process time: the machine is shared, so wall
    time would mostly measure the other jobs; ann-driver times the same way)."""
    best, res = 1e30, None
    for _ in range(reps):
        t0 = time.process_time()
        res = fn()
        best = min(best, time.process_time() - t0)
    return best, res


def run_hnswlib(base, q, gt, a, rows):
    import hnswlib
    space = {"cosine": "cosine", "ip": "ip", "l2": "l2"}[a.metric]
    r0 = rss()
    idx = hnswlib.Index(space=space, dim=base.shape[1])
    t0, c0 = time.perf_counter(), time.process_time()
    idx.init_index(max_elements=len(base), ef_construction=a.efc, M=a.M, random_seed=100)
    idx.add_items(base, np.arange(len(base)), num_threads=a.threads)
    build, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    path = os.path.join(a.workdir, "hnswlib.bin")
    idx.save_index(path)
    rows.append({"system": "hnswlib", "build_s": build, "build_cpu_s": build_cpu, "threads": a.threads,
                 "rss_delta_bytes": rss() - r0, "file_bytes": os.path.getsize(path)})
    os.unlink(path)
    for ef in a.ef:
        idx.set_ef(ef)
        t, (lab, _) = best_time(lambda: idx.knn_query(q, k=10, num_threads=1), a.reps)
        rows.append({"system": "hnswlib", "ef": ef, "recall": recall(lab, gt, 10), "qps": len(q) / t})
    del idx


def run_faiss(base, q, gt, a, rows):
    import faiss
    d = base.shape[1]
    metric = faiss.METRIC_L2 if a.metric == "l2" else faiss.METRIC_INNER_PRODUCT
    r0 = rss()
    idx = faiss.IndexHNSWFlat(d, a.M, metric)
    idx.hnsw.efConstruction = a.efc
    faiss.omp_set_num_threads(a.threads)
    t0, c0 = time.perf_counter(), time.process_time()
    idx.add(base)  # vectors are unit length, so inner product is cosine
    build, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    path = os.path.join(a.workdir, "faiss.bin")
    faiss.write_index(idx, path)
    rows.append({"system": "faiss", "build_s": build, "build_cpu_s": build_cpu, "threads": a.threads,
                 "rss_delta_bytes": rss() - r0, "file_bytes": os.path.getsize(path)})
    os.unlink(path)
    faiss.omp_set_num_threads(1)
    for ef in a.ef:
        idx.hnsw.efSearch = ef
        t, (_, lab) = best_time(lambda: idx.search(q, 10), a.reps)
        rows.append({"system": "faiss", "ef": ef, "recall": recall(lab, gt, 10), "qps": len(q) / t})
    del idx


def run_ragkit(a, storage, files, rows):
    cmd = [a.driver, "--base", files["base"], "--n", str(a.n), "--dim", str(a.dim),
           "--queries", files["q"], "--nq", str(a.nq), "--gt", files["gt"],
           "--M", str(a.M), "--efc", str(a.efc), "--threads", str(a.threads),
           "--metric", a.metric, "--storage", storage, "--reps", str(a.reps),
           "--ef", ",".join(str(e) for e in a.ef),
           "--save", os.path.join(a.workdir, "ann-%s.hnsw" % storage)]
    p = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    for line in p.stdout.splitlines():
        rows.append(json.loads(line))
    os.unlink(os.path.join(a.workdir, "ann-%s.hnsw" % storage))


def qps_at_recall(pts, recall):
    """A system's QPS at a recall between two of its swept points (log QPS
    linear in recall), or None outside them."""
    pts = sorted(pts, key=lambda x: x["recall"])
    for lo, hi in zip(pts, pts[1:]):
        if lo["recall"] <= recall <= hi["recall"] and hi["recall"] > lo["recall"]:
            f = (recall - lo["recall"]) / (hi["recall"] - lo["recall"])
            return math.exp(math.log(lo["qps"]) + f * (math.log(hi["qps"]) - math.log(lo["qps"])))
    return None


def report(rows, a, title):
    systems = []
    for r in rows:
        if r["system"] not in systems:
            systems.append(r["system"])
    out = ["### %s" % title, "",
           "n=%d, dim=%d, %d queries, metric %s, M=%d, efConstruction=%d, build threads %d, "
           "queries single-threaded; QPS = queries / CPU seconds, best of %d passes" % (a.n, a.dim, a.nq, a.metric, a.M,
                                                                   a.efc, a.threads, a.reps), "",
           "| system | build wall s | build CPU s | index memory MB | file MB |", "|---|---|---|---|---|"]
    for s in systems:
        b = [r for r in rows if r["system"] == s and "build_s" in r][0]
        f = [r for r in rows if r["system"] == s and "file_bytes" in r]
        mem = "%.0f" % (b["index_bytes"] / 1e6) if "index_bytes" in b else "~ file size"
        out.append("| %s | %.1f | %.1f | %s | %s |" % (s, b["build_s"], b["build_cpu_s"], mem,
                                              "%.0f" % (f[0]["file_bytes"] / 1e6) if f else "-"))
    out += ["", "| ef | " + " | ".join("%s recall@10 / QPS" % s for s in systems) +
            " | ragkit-f32 / hnswlib QPS |", "|---" * (len(systems) + 2) + "|"]
    for ef in a.ef:
        cells, by = [], {}
        for s in systems:
            r = [x for x in rows if x["system"] == s and x.get("ef") == ef][0]
            by[s] = r
            cells.append("%.3f / %.0f" % (r["recall"], r["qps"]))
        ratio = (by["ragkit-f32"]["qps"] / by["hnswlib"]["qps"]) if "ragkit-f32" in by and "hnswlib" in by else float("nan")
        out.append("| %d | %s | %.2f |" % (ef, " | ".join(cells), ratio))
    # equal ef is not quite equal recall: compare each ragkit point with the
    # peers' QPS at the same recall, interpolated between their two swept
    # points around it (log QPS linear in recall)
    peers = [p for p in ("hnswlib", "faiss") if p in systems]
    mine = [x for x in systems if x.startswith("ragkit")]
    if peers and mine:
        out += ["", "QPS ratio at equal recall (the peer's QPS interpolated at ragkit's recall; "
                "- where ragkit's recall is outside the peer's swept range):", "",
                "| system | ef | recall | " + " | ".join("/ %s" % p for p in peers) + " |",
                "|---|---|---|" + "---|" * len(peers)]
        for s_ in mine:
            for r in sorted((x for x in rows if x["system"] == s_ and "ef" in x), key=lambda x: x["ef"]):
                cells = []
                for p in peers:
                    q = qps_at_recall([x for x in rows if x["system"] == p and "ef" in x], r["recall"])
                    cells.append("%.2f" % (r["qps"] / q) if q else "-")
                out.append("| %s | %d | %.3f | %s |" % (s_, r["ef"], r["recall"], " | ".join(cells)))
    # QPS at the first ef reaching recall 0.95
    out += ["", "QPS at the smallest swept ef with recall@10 >= 0.95:", ""]
    for s in systems:
        ok = [x for x in rows if x["system"] == s and "ef" in x and x["recall"] >= 0.95]
        if ok:
            x = min(ok, key=lambda r: r["ef"])
            out.append("- %s: ef=%d recall %.3f, %.0f QPS" % (s, x["ef"], x["recall"], x["qps"]))
        else:
            out.append("- %s: no swept ef reached 0.95" % s)
    return "\n".join(out) + "\n"


def report_files(a, paths):
    """The tables of rows read back from files (one JSON object a line), by dataset."""
    rows = []
    for path in paths:
        with open(path) as f:
            for line in f:
                if line.startswith("{"):
                    rows.append(json.loads(line))
    text = ""
    for title in dict.fromkeys(r["dataset"] for r in rows):
        rs = [r for r in rows if r["dataset"] == title]
        order = {"ragkit-f32": 0, "ragkit-f16": 1, "ragkit-i8": 2, "hnswlib": 3, "faiss": 4}
        rs.sort(key=lambda r: order.get(r["system"], 9))
        a.n = rs[0]["n"]
        a.dim = rs[0].get("dim", a.dim)
        a.nq = rs[0].get("nq", a.nq)
        a.ef = sorted({r["ef"] for r in rs if "ef" in r and all(
            any(x["system"] == s and x.get("ef") == r["ef"] for x in rs) for s in {y["system"] for y in rs})})
        text += report(rs, a, title) + "\n"
    return text


def scifact_lsa(d, dim):
    """SciFact corpus and queries as 384-d LSA vectors (TF-IDF + truncated SVD).

    A stand-in for neural embeddings when no embedding model can be run here:
    real text, so the vectors have the low intrinsic dimension and clustering of
    real embeddings, unlike uniform random vectors."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    docs, qs = [], []
    with open(os.path.join(d, "corpus.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            docs.append((r.get("title") or "") + " " + (r.get("text") or ""))
    with open(os.path.join(d, "queries.jsonl")) as f:
        for line in f:
            qs.append(json.loads(line)["text"])
    tf = TfidfVectorizer(sublinear_tf=True, min_df=2, stop_words="english")
    x = tf.fit_transform(docs)
    svd = TruncatedSVD(n_components=dim, random_state=0)
    b = svd.fit_transform(x).astype(np.float32)
    q = svd.transform(tf.transform(qs)).astype(np.float32)
    b /= np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    return b, q


def load_vectors(path):
    """Rows from a .npy file, or from JSON Lines records' `embedding` fields
    (rag-embed's output)."""
    if path.endswith(".npy"):
        return np.load(path).astype(np.float32)
    rows = []
    with open(path) as f:
        for line in f:
            rows.append(json.loads(line)["embedding"])
    return np.asarray(rows, dtype=np.float32)


def unit_rows(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--workdir", default="/tmp")
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--metric", default="cosine")
    ap.add_argument("--ef", default="10,20,40,80,160,320")
    ap.add_argument("--storages", default="f32,f16,i8")
    ap.add_argument("--peers", default="hnswlib,faiss")
    ap.add_argument("--embeddings", default="", help="real embeddings (.npy rows, or JSON Lines records with an "
                    "`embedding`); skipped when absent")
    ap.add_argument("--queries", default="", help="the queries for --embeddings (same formats); without it, "
                    "queries are held out of --embeddings")
    ap.add_argument("--scifact", default="", help="SciFact folder: also run on its LSA vectors")
    ap.add_argument("--out", default="")
    ap.add_argument("--report", nargs="+", default=None, metavar="ROWS",
                    help="only print the tables of rows written earlier (this script's stderr), "
                         "e.g. of ragkit and the peers run as two processes")
    a = ap.parse_args()
    a.ef = [int(x) for x in a.ef.split(",")]
    if a.report:
        print(report_files(a, a.report))
        return
    a.storages = [s for s in a.storages.split(",") if s]
    peers = [p for p in a.peers.split(",") if p]

    datasets = []
    # the small real-data sets first: a long random run that is cut off keeps them
    if a.embeddings and os.path.exists(a.embeddings):
        e = unit_rows(load_vectors(a.embeddings))
        if a.queries:
            datasets.append(("embeddings from %s, queries from %s" % (os.path.basename(a.embeddings),
                             os.path.basename(a.queries)), e, unit_rows(load_vectors(a.queries))))
        else:
            np.random.default_rng(1234).shuffle(e)
            nq = min(a.nq, len(e) // 10)
            datasets.append(("embeddings from %s" % os.path.basename(a.embeddings), e[nq:], e[:nq]))
    elif a.embeddings:
        print("ann.py: %s not found: real-embedding run skipped" % a.embeddings, file=sys.stderr)
    if a.scifact and os.path.exists(os.path.join(a.scifact, "corpus.jsonl")):
        b, qq = scifact_lsa(a.scifact, a.dim)
        datasets.append(("SciFact, 384-d LSA vectors (TF-IDF + SVD) of title+text; its 300 queries", b, qq))
    rng = np.random.default_rng(1234)
    base = rng.standard_normal((a.n, a.dim), dtype=np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    q = rng.standard_normal((a.nq, a.dim), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    datasets.append(("random unit vectors", base, q))

    text = ""
    nsweep = a.ef
    for title, base, q in datasets:
        a.ef = nsweep if title.startswith("random") else [e for e in nsweep if e <= 320]
        a.n, a.dim, a.nq = base.shape[0], base.shape[1], q.shape[0]
        base = np.ascontiguousarray(base)
        q = np.ascontiguousarray(q)
        gt = exact_topk(base, q, 10, a.metric)
        files = {"base": os.path.join(a.workdir, "ann-base.f32"), "q": os.path.join(a.workdir, "ann-q.f32"),
                 "gt": os.path.join(a.workdir, "ann-gt.i32")}
        base.tofile(files["base"])
        q.tofile(files["q"])
        gt.astype(np.int32).tofile(files["gt"])
        rows = []

        def progress(start):
            # each system's rows as soon as it finishes (a long run that is cut off keeps them)
            for r in rows[start:]:
                print(json.dumps(dict(r, dataset=title, n=a.n, dim=a.dim, nq=a.nq)), file=sys.stderr, flush=True)
            return len(rows)
        done = 0
        for storage in a.storages:
            run_ragkit(a, storage, files, rows)
            done = progress(done)
        if "hnswlib" in peers:
            run_hnswlib(base, q, gt, a, rows)
            done = progress(done)
        if "faiss" in peers:
            run_faiss(base, q, gt, a, rows)
            done = progress(done)
        for f in files.values():
            os.unlink(f)
        text += report(rows, a, title) + "\n"
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
