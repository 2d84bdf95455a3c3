#!/usr/bin/env python3
"""gpu-embed.py: GPU throughput of rag-embed / rag-rerank --device cuda against
sentence-transformers (fp16, the SentenceTransformer / CrossEncoder classes) on
the same random-weight model, same texts, end to end (tokenization included).

The model is a transformers BertModel (or BertForSequenceClassification with
one label for --mode rerank) of a real shape (MiniLM-L6, bge-base) with seeded
random weights, saved as a Hugging Face directory that sentence-transformers
loads, and converted to GGUF F16 by `rag-model convert` for ragkit, so both
sides run the same weights.  No network needed (the device has torch,
transformers and sentence-transformers).  ragkit is timed as a whole process,
model load and upload included (conservative for ragkit); the peer's model
load is not timed.  Best of REPS.  Prints texts/s (pairs/s) and the ratio; a
llama.cpp peer runs when LLAMA_EMBEDDING names its llama-embedding binary.
"""
import os
import sys

sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

SHAPES = {"minilm": (384, 6, 12, 1536), "bge-base": (768, 12, 12, 3072)}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def words_of(vocab_txt):
    w = [x.strip() for x in open(vocab_txt, encoding="utf-8")]
    return [x for x in w if x.isascii() and x.isalpha() and x.islower() and len(x) >= 3]


def make_model(shape, mode, tok_dir, out_dir, rag_model):
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizerFast
    hf = os.path.join(out_dir, "%s-%s.hf" % (shape, mode))
    gguf = os.path.join(out_dir, "%s-%s-f16.gguf" % (shape, mode))
    if not os.path.exists(os.path.join(hf, "config.json")):
        h, layers, heads, ff = SHAPES[shape]
        cfg = BertConfig(vocab_size=30522, hidden_size=h, num_hidden_layers=layers, num_attention_heads=heads,
                         intermediate_size=ff, max_position_embeddings=512, num_labels=1)
        torch.manual_seed(1)
        m = BertForSequenceClassification(cfg) if mode == "rerank" else BertModel(cfg)
        m.save_pretrained(hf)
        BertTokenizerFast.from_pretrained(tok_dir).save_pretrained(hf)
        if mode == "embed":
            os.makedirs(os.path.join(hf, "1_Pooling"), exist_ok=True)
            json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                       {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                       {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
                      open(os.path.join(hf, "modules.json"), "w"))
            json.dump({"word_embedding_dimension": h, "pooling_mode_mean_tokens": True},
                      open(os.path.join(hf, "1_Pooling", "config.json"), "w"))
            os.makedirs(os.path.join(hf, "2_Normalize"), exist_ok=True)
            json.dump({"max_seq_length": 512, "do_lower_case": False},
                      open(os.path.join(hf, "sentence_bert_config.json"), "w"))
    if not os.path.exists(gguf):
        subprocess.run([rag_model, "convert", "--type", "f16", hf, gguf], check=True)
    return hf, gguf


def time_proc(cmd, reps):
    best = None
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best


def bench_embed(a, shape, length, words, hf, gguf):
    rng = random.Random(42)
    n = a.texts
    texts = [" ".join(rng.choice(words) for _ in range(length - 2)) for _ in range(n)]
    path = os.path.join(a.workdir, "texts-%d.jsonl" % length)
    with open(path, "w") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": i, "text": t}) + "\n")
    with open(path.replace(".jsonl", ".txt"), "w") as f:
        f.write("\n".join(texts) + "\n")
    out = os.path.join(a.workdir, "v.npy")
    cmd = [a.rag_embed, "--model", gguf, "--device", "cuda", "--batch-tokens", str(a.batch_tokens), "-o", out, path]
    subprocess.run(cmd + ["-v"], check=True)   # warm-up (and -v names the device)
    rk = n / time_proc(cmd, a.reps)
    import torch
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(hf, device="cuda", model_kwargs={"torch_dtype": torch.float16})
    st.max_seq_length = length
    st.encode(texts[:256], batch_size=a.st_batch)
    best = None
    for _ in range(a.reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        st.encode(texts, batch_size=a.st_batch, normalize_embeddings=True)
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    peer = n / best
    row = ["embed", shape, length, n, "%.0f" % rk, "sentence-transformers fp16", "%.0f" % peer, "%.2f" % (rk / peer)]
    row += forward_only(a, st[0].auto_model, gguf, length)
    llama = os.environ.get("LLAMA_EMBEDDING")
    if llama and os.path.exists(llama):
        try:
            lt = time_proc([llama, "-m", gguf, "-f", path.replace(".jsonl", ".txt"), "-ngl", "99",
                            "--pooling", "mean", "-b", str(a.batch_tokens), "-ub", str(a.batch_tokens)], 1)
            row.append("llama.cpp %.0f/s ratio %.2f" % (n / lt, rk / (n / lt)))
        except subprocess.CalledProcessError as e:
            row.append("llama.cpp failed: exit %d" % e.returncode)
    return row


def forward_only(a, model, gguf, length):
    """The forward pass alone on both sides (random ids, batches of a.st_batch
    texts for PyTorch, a.batch_tokens tokens for ragkit): where the end-to-end
    figures lose time outside the GPU.  ragkit's needs ENCODER_DRIVER (built
    from bench/gpu-encoder-driver.c); without it only PyTorch's is measured."""
    import torch
    n = a.texts
    ids = torch.randint(1000, 21000, (a.st_batch, length), device="cuda")
    mask = torch.ones_like(ids)
    best = None
    with torch.inference_mode():
        model(input_ids=ids, attention_mask=mask)
        for _ in range(a.reps):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(n // a.st_batch):
                model(input_ids=ids, attention_mask=mask)
            torch.cuda.synchronize()
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
    tf = (n // a.st_batch) * a.st_batch / best
    out = ["forward: torch %.0f/s" % tf]
    drv = os.environ.get("ENCODER_DRIVER")
    if drv:
        r = subprocess.run([drv, gguf, "cuda", str(n), str(length), str(a.batch_tokens), str(a.reps)], check=True,
                           capture_output=True, text=True).stdout
        f = dict(kv.split("=") for kv in r.split()[1:])
        rf = float(f["texts_per_s"])
        out += ["ragkit %.0f/s" % rf, "ratio %.2f" % (rf / tf)]
    return out


def bench_rerank(a, shape, length, words, hf, gguf):
    rng = random.Random(7)
    n = a.texts
    q = " ".join(rng.choice(words) for _ in range(14))
    passages = [" ".join(rng.choice(words) for _ in range(length - 19)) for _ in range(n)]
    path = os.path.join(a.workdir, "hits-%d.jsonl" % length)
    with open(path, "w") as f:
        for i, t in enumerate(passages):
            f.write(json.dumps({"qid": "q%d" % (i // 100), "query": q, "id": "p%d" % i, "text": t}) + "\n")
    cmd = [a.rag_rerank, "--model", gguf, "--device", "cuda", "--batch-tokens", str(a.batch_tokens), path]
    subprocess.run(cmd + ["-v"], check=True, stdout=subprocess.DEVNULL)
    rk = n / time_proc(cmd, a.reps)
    import torch
    from sentence_transformers import CrossEncoder
    ce = CrossEncoder(hf, device="cuda", max_length=length, model_kwargs={"torch_dtype": torch.float16})
    pairs = [(q, p) for p in passages]
    ce.predict(pairs[:256], batch_size=a.st_batch)
    best = None
    for _ in range(a.reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        ce.predict(pairs, batch_size=a.st_batch)
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    peer = n / best
    return ["rerank", shape, length, n, "%.0f" % rk, "CrossEncoder fp16", "%.0f" % peer, "%.2f" % (rk / peer)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["embed", "rerank"], default="embed")
    ap.add_argument("--build", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--shapes", default="minilm,bge-base")
    ap.add_argument("--lengths", default="128,512")
    ap.add_argument("--texts", type=int, default=20000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch-tokens", type=int, default=65536)
    ap.add_argument("--st-batch", type=int, default=256)
    a = ap.parse_args()
    a.rag_embed = os.path.join(a.build, "cmd", "rag-embed")
    a.rag_rerank = os.path.join(a.build, "cmd", "rag-rerank")
    os.makedirs(a.workdir, exist_ok=True)
    words = words_of(os.path.join(a.tokenizer, "vocab.txt"))
    import torch
    log("device:", torch.cuda.get_device_name(0))
    rows = []
    for shape in a.shapes.split(","):
        hf, gguf = make_model(shape, a.mode, a.tokenizer, a.workdir, os.path.join(a.build, "cmd", "rag-model"))
        for length in [int(x) for x in a.lengths.split(",")]:
            fn = bench_embed if a.mode == "embed" else bench_rerank
            row = fn(a, shape, length, words, hf, gguf)
            print(" | ".join(str(x) for x in row), flush=True)
            rows.append(row)
    print("\nmode | shape | tokens | texts | ragkit/s | peer | peer/s | ratio")
    for r in rows:
        print(" | ".join(str(x) for x in r))


if __name__ == "__main__":
    main()
