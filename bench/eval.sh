#!/bin/sh
# bench/eval.sh: rag-eval against pytrec_eval (trec_eval's C code behind a
# Python API) on the same qrels and run: wall time to read both files and
# compute every measure (-m all), best of REPS, and the ratio.
#
# Usage: bench/eval.sh [RAG_EVAL] [DATA_DIR] [REPS]
#   RAG_EVAL  the rag-eval binary (default build/cmd/rag-eval)
#   DATA_DIR  holds nfcorpus.qrels.gz and nfcorpus.bm25.run.gz (default tests/data/eval)
# The run is the nfcorpus BM25 run repeated with renamed queries (x20: about
# 450,000 lines, 6,460 queries) so that start-up costs do not dominate.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
RAG_EVAL=${1:-$top/build/cmd/rag-eval}
DATA=${2:-$top/tests/data/eval}
REPS=${3:-5}
python3 -m pip install --quiet pytrec-eval-terrier 2>/dev/null || true
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
gzip -dc "$DATA/nfcorpus.qrels.gz" >"$tmp/q1"; gzip -dc "$DATA/nfcorpus.bm25.run.gz" >"$tmp/r1"
: >"$tmp/qrels"; : >"$tmp/run"
i=0
while [ $i -lt 20 ]; do
	sed "s/^/c$i-/" "$tmp/q1" >>"$tmp/qrels"; sed "s/^/c$i-/" "$tmp/r1" >>"$tmp/run"; i=$((i + 1))
done
echo "input: $(wc -l <"$tmp/qrels") judgements, $(wc -l <"$tmp/run") run lines"
python3 - "$RAG_EVAL" "$tmp/qrels" "$tmp/run" "$REPS" <<'PY'
import resource, subprocess, sys, time
import pytrec_eval
rag, qrels, run, reps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
def t_rag():
    t, c = time.perf_counter(), children_cpu()
    subprocess.run([rag, "--qrels", qrels, "-m", "all", run], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t, children_cpu() - c
def t_py():
    t, c = time.perf_counter(), time.process_time()
    q = pytrec_eval.parse_qrel(open(qrels)); r = pytrec_eval.parse_run(open(run))
    res = pytrec_eval.RelevanceEvaluator(q, pytrec_eval.supported_nicknames["all_trec"] if False else {
        "map", "ndcg", "Rprec", "bpref", "recip_rank", "num_q", "num_ret", "num_rel", "num_rel_ret",
        "ndcg_cut", "P", "recall", "success"}).evaluate(r)
    for m in next(iter(res.values())):
        pytrec_eval.compute_aggregated_measure(m, [v[m] for v in res.values()])
    return time.perf_counter() - t, time.process_time() - c
ra = [t_rag() for _ in range(reps)]; pa = [t_py() for _ in range(reps)]
a, ac = min(x[0] for x in ra), min(x[1] for x in ra)
b, bc = min(x[0] for x in pa), min(x[1] for x in pa)
print("rag-eval -m all      wall %.3f s  cpu %.3f s" % (a, ac))
print("pytrec_eval (same)   wall %.3f s  cpu %.3f s" % (b, bc))
print("ratio pytrec/rag-eval  wall %.1fx  cpu %.1fx" % (b / a, bc / ac))
PY
