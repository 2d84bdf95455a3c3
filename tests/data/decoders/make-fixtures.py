#!/usr/bin/env python3
# make-fixtures.py [TOKENIZER_DIR]: tiny random llama and qwen3 decoders as Hugging
# Face directories, and their golden outputs from transformers (float32, CPU), the
# reference for ragkit's llama and qwen3 code paths (tests/unit/test-decoders.c,
# tests/cli/t4500-decoders-golden.sh).  See README in this folder.
#
# Made with torch 2.15.0 (CPU), transformers 5.23.0, tokenizers 0.23.3:
#   /tmp/enc-venv/bin/python tests/data/decoders/make-fixtures.py ../shared/fixtures/hf/tiny-qwen2
# (python3 -m pip install torch transformers).  Deterministic for those versions:
# weights come from a seeded torch.Generator.
#
# The tokenizer is the GPT-2 byte-level BPE of the shared fixture tiny-qwen2 cut to
# its 256 byte tokens and first 255 merges (ids 0..510, exactly GPT-2's ids) plus
# <|endoftext|> as id 511: the same tokenizer type, pre-tokenizer and merge order
# with a 512-token vocabulary, so that each directory stays a few hundred KB
# rather than 13 MB of embeddings.
#
# Models (weights drawn as the shared fixtures': norm weights 1 + N(0, 0.1),
# biases N(0, 0.1), other matrices N(0, 0.15), all rounded to fp16 and stored
# as float32):
#   tiny-llama  LlamaForCausalLM: hidden 64, 2 layers, 4 heads, 2 KV heads
#               (head_dim 16), ffn 128, untied lm_head, rope_theta 50000,
#               llama3 RoPE scaling (factor 8, low 1, high 4, original context
#               32), rms_norm_eps 1e-5.
#   tiny-qwen3  Qwen3ForCausalLM: hidden 64, 2 layers, 4 heads, 2 KV heads,
#               head_dim 32 (so q is 128 wide, not 64), ffn 128, q_norm/k_norm,
#               no q/k/v bias, tied embeddings, rope_theta 1e6, eps 1e-6.
# Golden JSON per prompt as ../fixtures/golden/tiny-qwen2.json: prompt_ids (no
# BOS), greedy_ids (16 argmax tokens, no stop at EOS), then for every position
# of prompt+continuation (teacher forcing; position i predicts token i+1)
# top5_ids, top5_logits, top5_logprobs, logsumexp, top1_margin.  Also
# golden/tiny-llama-linear.json: tiny-llama's weights with "linear" RoPE
# scaling (factor 4) in place of llama3's.
import copy, json, os, sys

import torch
import tokenizers
import transformers
from transformers import (AutoTokenizer, LlamaConfig, LlamaForCausalLM, Qwen3Config,
                          Qwen3ForCausalLM)

here = os.path.dirname(os.path.abspath(__file__))
tokdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "../../../../shared/fixtures/hf/tiny-qwen2")
N_MERGES = 255
N_GREEDY = 16
PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):",
    "Once upon a time, in a land far away,",
    "Q: What is retrieval-augmented generation?\nA:",
    "Pipes connect small programs: each does one thing well, and text flows between them.",
]
VERSIONS = "transformers %s, torch %s, tokenizers %s" % (transformers.__version__, torch.__version__,
                                                        tokenizers.__version__)


def small_tokenizer():
    """tokenizer.json cut to the byte tokens, the first N_MERGES merges and EOS."""
    t = json.load(open(os.path.join(tokdir, "tokenizer.json"), encoding="utf-8"))
    m = t["model"]
    merges = m["merges"][:N_MERGES]
    n = 256 + N_MERGES
    vocab = {s: i for s, i in m["vocab"].items() if i < n}
    assert len(vocab) == n, len(vocab)
    for i, (a, b) in enumerate(merges):  # GPT-2's merge i makes token 256 + i
        assert vocab[a + b] == 256 + i, (a, b)
    eos = t["added_tokens"][0]
    assert eos["content"] == "<|endoftext|>"
    vocab[eos["content"]] = n
    eos["id"] = n
    m["vocab"] = vocab
    m["merges"] = merges
    return t, n + 1, n


def init_weights(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if "norm" in name:
                v = 1.0 + 0.1 * torch.randn(p.shape, generator=g)
            elif name.endswith(".bias"):
                v = 0.1 * torch.randn(p.shape, generator=g)
            else:
                v = 0.15 * torch.randn(p.shape, generator=g)
            p.copy_(v.to(torch.float16).to(torch.float32))


def golden(model, tok, name, arch, extra=None):
    rows = []
    with torch.no_grad():
        for prompt in PROMPTS:
            pids = tok(prompt, add_special_tokens=False)["input_ids"]
            ids = list(pids)
            for _ in range(N_GREEDY):
                ids.append(int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax()))
            lg = model(input_ids=torch.tensor([ids])).logits[0].double()
            lse = torch.logsumexp(lg, -1)
            top = lg.topk(5, -1)
            rows.append({
                "prompt": prompt,
                "prompt_ids": pids,
                "greedy_ids": ids[len(pids):],
                "greedy_text": tok.decode(ids[len(pids):]),
                "top5_ids": top.indices.tolist(),
                "top5_logits": [[round(float(x), 7) for x in r] for r in top.values],
                "top5_logprobs": [[round(float(x - s), 7) for x in r] for r, s in zip(top.values, lse)],
                "top1_margin": [round(float(r[0] - r[1]), 7) for r in top.values],
                "logsumexp": [round(float(s), 7) for s in lse],
            })
    out = {"model": name, "arch": arch, "reference": VERSIONS + ", float32, cpu",
           "note": "top5_* are per position of prompt+greedy continuation (teacher forcing); "
                   "position i predicts token i+1. Made by tests/data/decoders/make-fixtures.py.",
           "rows": rows}
    if extra:
        out.update(extra)
    os.makedirs(os.path.join(here, "golden"), exist_ok=True)
    with open(os.path.join(here, "golden", name + ".json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


def save(model, tokjson, name):
    d = os.path.join(here, name)
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d, safe_serialization=True)
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokjson, f, ensure_ascii=False, separators=(",", ":"))
    cfg = json.load(open(os.path.join(tokdir, "tokenizer_config.json")))
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    return d


def main():
    torch.manual_seed(0)
    tokjson, n_vocab, eos = small_tokenizer()
    common = dict(vocab_size=n_vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, bos_token_id=eos, eos_token_id=eos,
                  hidden_act="silu")

    llama3 = {"rope_type": "llama3", "rope_theta": 50000.0, "factor": 8.0, "low_freq_factor": 1.0,
              "high_freq_factor": 4.0, "original_max_position_embeddings": 32}
    cfg = LlamaConfig(**common, max_position_embeddings=256, rms_norm_eps=1e-5, tie_word_embeddings=False,
                      attention_bias=False, mlp_bias=False, rope_parameters=llama3)
    llama = LlamaForCausalLM(cfg).eval()
    init_weights(llama, 1)
    d = save(llama, tokjson, "tiny-llama")
    tok = AutoTokenizer.from_pretrained(d)
    llama = LlamaForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    assert llama.config.rope_parameters["rope_type"] == "llama3"
    golden(llama, tok, "tiny-llama", "llama")

    # the same weights with linear scaling
    lcfg = copy.deepcopy(llama.config)
    lcfg.rope_parameters = {"rope_type": "linear", "rope_theta": 50000.0, "factor": 4.0}
    lin = LlamaForCausalLM(lcfg).eval()
    lin.load_state_dict(llama.state_dict())
    golden(lin, tok, "tiny-llama-linear", "llama",
           {"rope_parameters": lcfg.rope_parameters,
            "about": "tiny-llama's weights with config.json rope_parameters replaced by rope_parameters here"})

    cfg = Qwen3Config(**common, head_dim=32, max_position_embeddings=512, rms_norm_eps=1e-6,
                      tie_word_embeddings=True, attention_bias=False, use_sliding_window=False,
                      rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})
    qwen3 = Qwen3ForCausalLM(cfg).eval()
    init_weights(qwen3, 2)
    d = save(qwen3, tokjson, "tiny-qwen3")
    tok = AutoTokenizer.from_pretrained(d)
    qwen3 = Qwen3ForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    golden(qwen3, tok, "tiny-qwen3", "qwen3")
    print("wrote tiny-llama, tiny-qwen3 and golden/ under", here, "with", VERSIONS)


main()
