#!/usr/bin/env python3
"""compare.py: run rag-eval on each golden case and compare every figure with trec_eval's.

Usage: python3 tests/eval/compare.py [--tol T] DATA_DIR GOLDEN.json[.gz]...

For each golden file (written by make-golden.py) it runs
`rag-eval --json -q --qrels QRELS RUN -m ... [-l N] [-c] [--format F]` (rag-eval
from PATH; gzipped inputs are unpacked into a scratch directory first) and
checks that the evaluated queries are the same and that every per-query and
summary value equals the golden one within T (default 1e-9, far inside the 4
decimals trec_eval prints).  Prints one line per case and the totals; exits 1
on any difference.
"""
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile

args = sys.argv[1:]
tol = 1e-9
if args[:1] == ["--tol"]:
    tol = float(args[1])
    args = args[2:]
data, goldens = args[0], args[1:]
scratch = tempfile.mkdtemp(prefix="rag-eval-compare.")
bad = 0
n_values = n_queries = n_cases = 0
max_diff = 0.0


def local(name):
    src = os.path.join(data, name)
    if not name.endswith(".gz"):
        return src
    dst = os.path.join(scratch, name[:-3])
    if not os.path.exists(dst):
        with gzip.open(src, "rb") as f, open(dst, "wb") as g:
            shutil.copyfileobj(f, g)
    return dst


try:
    for path in goldens:
        with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as f:
            g = json.load(f)
        cmd = ["rag-eval", "--json", "-q", "--qrels", local(g["qrels"]), local(g["run"]),
               "-l", str(g["rel_level"]), "--format", g["format"]]
        for m in g["measures"]:
            cmd += ["-m", m]
        if g["complete"]:
            cmd.append("-c")
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            print("FAIL %s: rag-eval exit %d: %s" % (g["case"], p.returncode, p.stderr.strip()))
            bad += 1
            continue
        lines = [json.loads(l) for l in p.stdout.splitlines()]
        summary = lines[-1]["runs"][0]["measures"]
        per_query = {l["qid"]: l for l in lines[:-1]}
        errors = []
        if set(per_query) != set(g["per_query"]):
            errors.append("queries differ: only rag-eval %s, only trec_eval %s" % (
                sorted(set(per_query) - set(g["per_query"]))[:5],
                sorted(set(g["per_query"]) - set(per_query))[:5]))
        stat = [0.0, 0]  # max |diff|, values compared

        def check(where, want, got):
            for m, v in want.items():
                if m not in got:
                    errors.append("%s: %s missing" % (where, m))
                    continue
                d = abs(got[m] - v)
                stat[0] = max(stat[0], d)
                stat[1] += 1
                if d > tol:
                    errors.append("%s: %s = %r, trec_eval %r" % (where, m, got[m], v))

        for qid, want in g["per_query"].items():
            if qid in per_query:
                check("query " + qid, want, per_query[qid])
        check("summary", g["summary"], summary)
        case_max, count = stat
        n_cases += 1
        n_values += count
        n_queries += len(g["per_query"])
        max_diff = max(max_diff, case_max)
        if errors:
            bad += 1
            print("FAIL %s (%d differences):" % (g["case"], len(errors)))
            for e in errors[:10]:
                print("   ", e)
        else:
            print("ok   %-28s %4d queries x %2d measures, max |diff| %.3g" % (
                g["case"], len(g["per_query"]), len(g["summary"]), case_max))
finally:
    shutil.rmtree(scratch, ignore_errors=True)
print("compared %d values (%d cases, %d query evaluations): max |diff| %.3g, %d case(s) failed" % (
    n_values, n_cases, n_queries, max_diff, bad))
sys.exit(1 if bad else 0)
