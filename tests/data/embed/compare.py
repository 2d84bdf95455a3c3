#!/usr/bin/env python3
"""compare.py: check rag-embed / rag-rerank output against the fixture goldens.

    compare.py embed GOLDEN OUT MIN_COS [FIELD] [GOLDEN_FIELD]
        OUT: rag-embed records in golden order (the empty-text row left out);
        FIELD (default embedding) vs GOLDEN_FIELD (default embedding): cosine
        >= MIN_COS for every row, and n_tokens == len(ids).  With FIELD
        "token0" the first per-token vector (--pooling none) is used.
    compare.py rerank GOLDEN OUT MAX_ERR RAW|SIGMOID
        OUT: rag-rerank records; scores.rerank vs the golden logit (or
        sigmoid), abs error <= MAX_ERR, and within each qid the order of the
        records is the golden order by score.
Prints the worst figure; exits 1 on failure.
"""
import json
import math
import sys


def cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def main():
    mode, golden, out = sys.argv[1], json.load(open(sys.argv[2])), [json.loads(l) for l in open(sys.argv[3])]
    rows = golden["rows"]
    if mode == "embed":
        lim = float(sys.argv[4])
        field = sys.argv[5] if len(sys.argv) > 5 else "embedding"
        gfield = sys.argv[6] if len(sys.argv) > 6 else "embedding"
        rows = [r for r in rows if r["text"].strip()]
        assert len(rows) == len(out), "%d records, golden has %d" % (len(out), len(rows))
        worst = 1.0
        for r, o in zip(rows, out):
            v = o["embedding"][0] if field == "token0" else o[field]
            c = cos(v, r[gfield])
            worst = min(worst, c)
            assert o["n_tokens"] == len(r["ids"]), "n_tokens %d, golden %d: %r" % (o["n_tokens"], len(r["ids"]), r["text"][:40])
            if len(r["ids"]) < golden["max_length"]:
                assert o["truncated"] is False, r["text"][:40]
        print("worst cosine %.7f" % worst)
        sys.exit(0 if worst >= lim else 1)
    lim, which = float(sys.argv[4]), sys.argv[5]
    key = {(r["query"], r["passage"]): r for r in rows}
    worst = 0.0
    by_q = {}
    for o in out:
        r = key[(o["query"], o["text"])]
        ref = r["logit"] if which == "RAW" else r["sigmoid"]
        worst = max(worst, abs(o["scores"]["rerank"]["score"] - ref))
        assert o["score"] == o["scores"]["rerank"]["score"]
        assert o["rank"] == o["scores"]["rerank"]["rank"]
        by_q.setdefault(o["qid"], []).append((o["rank"], r["logit"]))
    for q, lst in by_q.items():
        ranks = [x[0] for x in lst]
        assert ranks == list(range(1, len(lst) + 1)), "qid %s: ranks %r" % (q, ranks)
        logits = [x[1] for x in lst]
        assert logits == sorted(logits, reverse=True), "qid %s: order differs from the golden" % q
    print("worst abs error %.3g" % worst)
    sys.exit(0 if worst <= lim else 1)


main()
