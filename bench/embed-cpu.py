#!/usr/bin/env python3
"""embed-cpu.py: CPU embedding throughput, ragkit's rag-embed vs llama.cpp
(llama-cpp-python) vs sentence-transformers, same model shapes, same texts.

Driven by bench/embed-cpu.sh.  Each system embeds the same N texts of exactly
L tokens ([CLS] + L-2 whole-word tokens + [SEP]) from the same random-weight
model (GGUF F16 for ragkit and llama.cpp; a random-init transformers BertModel
of the same shape for sentence-transformers, fp32).  End to end: tokenization
included, model loading excluded where the peer allows (ragkit is timed as a
whole process, load included, so the figure is conservative for ragkit).
Best of REPS runs; prints texts/s and ratios, appends a markdown table.
"""
import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def make_texts(vocab_txt, n, length, seed):
    words = [w.strip() for w in open(vocab_txt, encoding="utf-8")]
    words = [w for w in words if w.isascii() and w.isalpha() and w.islower() and len(w) >= 3]
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(length - 2)) for _ in range(n)]


def bench_ragkit(rag_embed, model, texts, reps, threads, workdir):
    path = os.path.join(workdir, "texts-%d.jsonl" % len(texts[0]))
    with open(path, "w") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": i, "text": t}) + "\n")
    best, best_cpu = None, None
    for _ in range(reps):
        out = os.path.join(workdir, "v.npy")
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([rag_embed, "--model", model, "--threads", str(threads), "-o", out, path], check=True)
        dt = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        best = dt if best is None else min(best, dt)
        best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
    ids = [json.loads(l) for l in open(os.path.join(workdir, "v.ids.jsonl"))]
    return len(texts) / best, len(texts) / best_cpu, ids[0]["n_tokens"]


def bench_llama(model, texts, reps, threads, n_ctx):
    try:
        from llama_cpp import Llama, LLAMA_POOLING_TYPE_MEAN
    except Exception as e:  # noqa: BLE001
        return (None, None), "llama-cpp-python not importable: %s" % e
    llm = Llama(model_path=model, embedding=True, n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx,
                n_threads=threads, n_threads_batch=threads, pooling_type=LLAMA_POOLING_TYPE_MEAN, verbose=False)
    ntok = len(llm.tokenize(texts[0].encode()))
    llm.embed(texts[0])
    best, best_cpu = None, None
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        for t in texts:   # one sequence per call: llama.cpp's batch path needs n_seq_max > 1
            llm.embed(t)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        best = dt if best is None else min(best, dt)
        best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
    return (len(texts) / best, len(texts) / best_cpu), "llama.cpp: %d tokens, one text per call (model load not timed)" % ntok


def bench_st(hf_config_dir, tok_dir, texts, reps, threads, max_len):
    try:
        import torch
        from sentence_transformers import SentenceTransformer, models
        from transformers import BertConfig, BertModel, BertTokenizerFast
    except Exception as e:  # noqa: BLE001
        return (None, None), "sentence-transformers not importable: %s" % e
    torch.set_num_threads(threads)
    cfg = BertConfig.from_pretrained(hf_config_dir)
    tmp = hf_config_dir + ".st"   # one random-init model per shape
    if not os.path.exists(os.path.join(tmp, "config.json")):
        torch.manual_seed(0)
        BertModel(cfg).save_pretrained(tmp)
        BertTokenizerFast.from_pretrained(tok_dir).save_pretrained(tmp)
    word = models.Transformer(tmp, max_seq_length=max_len)
    pool = models.Pooling(word.get_word_embedding_dimension(), pooling_mode="mean")
    st = SentenceTransformer(modules=[word, pool], device="cpu")
    st.encode(texts[:4])
    best, best_cpu = None, None
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        st.encode(texts, batch_size=32, normalize_embeddings=True)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        best = dt if best is None else min(best, dt)
        best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
    return (len(texts) / best, len(texts) / best_cpu), "sentence-transformers: fp32, batch 32, torch %s (model load not timed)" % torch.__version__


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rag-embed", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--tokenizer", required=True, help="directory with vocab.txt/tokenizer.json")
    ap.add_argument("--shapes", default="minilm,bge-base")
    ap.add_argument("--lengths", default="128,512")
    ap.add_argument("--texts", type=int, default=64, help="texts per run at 128 tokens (a quarter at 512)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--peers", default="llama,st")
    ap.add_argument("--results", required=True)
    a = ap.parse_args()
    rows = []
    for shape in a.shapes.split(","):
        gguf = os.path.join(a.workdir, "%s-f16.gguf" % shape)
        for length in [int(x) for x in a.lengths.split(",")]:
            n = a.texts if length <= 128 else max(8, a.texts // 4)
            texts = make_texts(os.path.join(a.tokenizer, "vocab.txt"), n, length, 42)
            log("== %s, %d tokens, %d texts" % (shape, length, n))
            rk, rk_cpu, ntok = bench_ragkit(a.rag_embed, gguf, texts, a.reps, a.threads, a.workdir)
            log("ragkit: %.2f texts/s, %.2f texts per CPU-second (%d tokens per text)" % (rk, rk_cpu, ntok))
            row = {"shape": shape, "len": length, "n": n, "ragkit": rk, "ragkit_cpu": rk_cpu, "ntok": ntok}
            if "llama" in a.peers:
                (v, vc), note = bench_llama(gguf, texts, a.reps, a.threads, max(length, 512))
                row["llama"], row["llama_cpu"], row["llama_note"] = v, vc, note
                log("llama.cpp: %s (%s)" % ("%.2f texts/s, %.2f per CPU-s" % (v, vc) if v else "n/a", note))
            if "st" in a.peers:
                (v, vc), note = bench_st(gguf + ".hf", a.tokenizer, texts, a.reps, a.threads, 512)
                row["st"], row["st_cpu"], row["st_note"] = v, vc, note
                log("sentence-transformers: %s (%s)" % ("%.2f texts/s, %.2f per CPU-s" % (v, vc) if v else "n/a", note))
            rows.append(row)
            print(json.dumps(row), flush=True)

    def fmt(v):
        return "%.2f" % v if v else "n/a"

    def ratio(a_, b):
        return "%.2fx" % (a_ / b) if a_ and b else "n/a"
    cpu = subprocess.run("lscpu | sed -n 's/^Model name: *//p'", shell=True, capture_output=True, text=True).stdout.strip()
    load = open("/proc/loadavg").read().split()[0]
    with open(a.results, "a") as f:
        f.write("\n## %s, %s, %d threads (load average at the end: %s)\n\n" % (
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), cpu, a.threads, load))
        f.write("Wall clock, texts/s (best of %d):\n\n" % a.reps)
        f.write("| shape | tokens/text | texts | ragkit | llama.cpp | sentence-transformers | ragkit/llama.cpp | ragkit/ST |\n")
        f.write("|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write("| %s | %d | %d | %s | %s | %s | %s | %s |\n" % (
                r["shape"], r["ntok"], r["n"], fmt(r["ragkit"]), fmt(r.get("llama")), fmt(r.get("st")),
                ratio(r["ragkit"], r.get("llama")), ratio(r["ragkit"], r.get("st"))))
        f.write("\nTexts per CPU-second (user + system time of all threads; less sensitive to other load):\n\n")
        f.write("| shape | tokens/text | ragkit | llama.cpp | sentence-transformers | ragkit/llama.cpp | ragkit/ST |\n")
        f.write("|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write("| %s | %d | %s | %s | %s | %s | %s |\n" % (
                r["shape"], r["ntok"], fmt(r["ragkit_cpu"]), fmt(r.get("llama_cpu")), fmt(r.get("st_cpu")),
                ratio(r["ragkit_cpu"], r.get("llama_cpu")), ratio(r["ragkit_cpu"], r.get("st_cpu"))))
        notes = {r.get("llama_note") for r in rows if r.get("llama_note")} | {r.get("st_note") for r in rows if r.get("st_note")}
        for n_ in sorted(notes):
            f.write("\n- %s" % n_)
        f.write("\n")


if __name__ == "__main__":
    main()
