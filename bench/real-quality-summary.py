#!/usr/bin/env python3
# real-quality-summary.py: the table and checks of bench/real-quality.sh from the
# figures.txt of each dataset directory it made.
# Usage: bench/real-quality-summary.py DIR... ; exits 1 when a limit is missed:
#   |ragkit nDCG@10 - sentence-transformers nDCG@10| <= 0.002 on every leg,
#   minimum per-document embedding cosine >= 0.9999.
import json, sys

NDCG_TOL, COS_MIN = 0.002, 0.9999
ok = True
rows = []
print("| dataset | docs | queries | leg | ragkit nDCG@10 | ST nDCG@10 | diff | ragkit R@100 | ST R@100 |")
print("|---|---|---|---|---|---|---|---|---|")
for d in sys.argv[1:]:
    f = json.loads(open(d + "/figures.txt").read())
    for i, mode in enumerate(("dense", "bm25", "hybrid")):
        rk, st = f["rk." + mode], f["st." + mode]
        diff = rk["ndcg_cut_10"] - st["ndcg_cut_10"]
        ok &= abs(diff) <= NDCG_TOL
        print("| %s | %s | %s | %s | %.4f | %.4f | %+.4f | %.4f | %.4f |" % (
            f["dataset"] if i == 0 else "", f["docs"] if i == 0 else "", f["queries"] if i == 0 else "",
            {"dense": "dense", "bm25": "BM25", "hybrid": "hybrid (RRF)"}[mode],
            rk["ndcg_cut_10"], st["ndcg_cut_10"], diff, rk["recall_100"], st["recall_100"]))
    rows.append(f)
print()
for f in rows:
    rk = {m: f["rk." + m] for m in ("dense", "bm25", "hybrid")}
    cos_ok = f["cos_min"] >= COS_MIN
    ok &= cos_ok
    nd = {m: rk[m]["ndcg_cut_10"] for m in rk}
    rc = {m: rk[m]["recall_100"] for m in rk}
    beats_n = nd["hybrid"] > nd["dense"] and nd["hybrid"] > nd["bm25"]
    beats_r = rc["hybrid"] > rc["dense"] and rc["hybrid"] > rc["bm25"]
    print("- %s: min cosine %.8f, mean %.8f (limit %.4f: %s); max |nDCG@10 diff| %.5f (limit %.3f); "
          "hybrid beats both legs on nDCG@10: %s (%+.4f over dense, %+.4f over BM25); on recall@100: %s "
          "(%+.4f, %+.4f)" % (
              f["dataset"], f["cos_min"], f["cos_mean"], COS_MIN, "met" if cos_ok else "MISSED",
              max(abs(f["rk." + m]["ndcg_cut_10"] - f["st." + m]["ndcg_cut_10"]) for m in rk), NDCG_TOL,
              "yes" if beats_n else "no", nd["hybrid"] - nd["dense"], nd["hybrid"] - nd["bm25"],
              "yes" if beats_r else "no", rc["hybrid"] - rc["dense"], rc["hybrid"] - rc["bm25"]))
print("\nall limits met" if ok else "\nA LIMIT IS MISSED")
sys.exit(0 if ok else 1)
