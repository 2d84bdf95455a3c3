#!/usr/bin/env python3
# make-golden.py [HF_DIR] [OUT.json]: the reference for decoder embedding models in
# rag-embed (tests/unit/test-embed-decoder.c): Hugging Face transformers, float32,
# CPU, on the tiny Qwen2 of ../shared/fixtures/hf/tiny-qwen2 (the source of
# tests/data/fixtures/models/tiny-qwen2-*.gguf).  Qwen3-Embedding style: the
# tokenizer's ids with EOS (<|endoftext|>) appended, the final-normed hidden state
# of the last token (last-token pooling), L2-normalized; queries carry the
# instruction prompt "Instruct: {task}\nQuery:" in front of the text.  Also the
# mean over tokens (for --pooling mean).
# Made with: python3 -m pip install torch transformers (torch 2.15, transformers 5.23).
import json, os, sys

import torch
from transformers import AutoModel, AutoTokenizer

here = os.path.dirname(os.path.abspath(__file__))
hf = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "../../../../shared/fixtures/hf/tiny-qwen2")
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "golden.json")

TASK = "Given a web search query, retrieve relevant passages that answer the query"
PROMPT = "Instruct: %s\nQuery:" % TASK
cases = [
    ("", "The capital of France is Paris."),
    ("", "Retrieval-augmented generation grounds answers in documents."),
    ("", "a"),
    ("", "Pipes connect small programs: each does one thing well, and text flows between them."),
    (PROMPT, "what is the capital of France?"),
    (PROMPT, "how do unix pipes work"),
]

tok = AutoTokenizer.from_pretrained(hf)
model = AutoModel.from_pretrained(hf, dtype=torch.float32).eval()
eos = tok.eos_token_id
rows = []
with torch.no_grad():
    for prompt, text in cases:
        ids = tok(prompt + text, add_special_tokens=False)["input_ids"] + [eos]
        h = model(input_ids=torch.tensor([ids])).last_hidden_state[0].double()
        last = h[-1]
        rows.append({
            "prompt": prompt, "text": text, "ids": ids,
            "last_hidden": [round(float(v), 7) for v in last],
            "embedding": [round(float(v), 7) for v in last / last.norm()],
            "mean_hidden": [round(float(v), 7) for v in h.mean(0)],
        })
json.dump({
    "about": "tiny-qwen2 (hf/tiny-qwen2) as a Qwen3-Embedding-style model: ids = tokenizer(prompt + text) "
             "+ [EOS]; last_hidden = final-normed hidden state of the last token (transformers %s, torch %s, "
             "float32, CPU); embedding = last_hidden / ||last_hidden||; mean_hidden = mean over tokens. "
             "Made by tests/data/embed-decoder/make-golden.py." % (__import__("transformers").__version__, torch.__version__),
    "query_prompt": PROMPT, "eos_id": eos, "rows": rows,
}, open(out, "w"), indent=1)
print("wrote", out, len(rows), "rows")
