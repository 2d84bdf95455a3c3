#!/usr/bin/env python3
"""make-random-gguf.py: a BERT embedding GGUF of a real model's shape with random
weights, for speed benchmarks (speed does not depend on weight values).

    make-random-gguf.py --shape minilm|bge-base [--type f16|f32|q8_0] [--seed N] OUT.gguf

The tokenizer (WordPiece, 30522 tokens) is copied from llama.cpp's
ggml-vocab-bert-bge.gguf (tests/data/fixtures/vocab/).  Needs numpy and gguf
(llama.cpp's gguf-py from PyPI).  Also writes OUT.hf/config.json, the same
shape as a transformers BertConfig, so sentence-transformers can build a
random-init model of the same shape.
"""
import argparse
import json
import os
import sys

import gguf
import numpy as np

SHAPES = {
    # name: hidden, layers, heads, ffn, context
    "minilm": (384, 6, 12, 1536, 512),
    "bge-base": (768, 12, 12, 3072, 512),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", choices=sorted(SHAPES), default="minilm")
    ap.add_argument("--type", choices=["f16", "f32", "q8_0"], default="f16")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--vocab", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                   "tests", "data", "fixtures", "vocab", "ggml-vocab-bert-bge.gguf"))
    ap.add_argument("out")
    a = ap.parse_args()
    d, n_layer, n_head, n_ff, n_ctx = SHAPES[a.shape]
    rng = np.random.default_rng(a.seed)

    voc = gguf.GGUFReader(a.vocab)
    tokens = [bytes(voc.fields["tokenizer.ggml.tokens"].parts[i]) for i in voc.fields["tokenizer.ggml.tokens"].data]
    n_vocab = len(tokens)

    w = gguf.GGUFWriter(a.out, "bert")
    w.add_name("random-%s" % a.shape)
    w.add_context_length(n_ctx)
    w.add_embedding_length(d)
    w.add_feed_forward_length(n_ff)
    w.add_block_count(n_layer)
    w.add_head_count(n_head)
    w.add_layer_norm_eps(1e-12)
    w.add_causal_attention(False)
    w.add_pooling_type(gguf.PoolingType.MEAN)
    ftype = {"f32": 0, "f16": 1, "q8_0": 7}[a.type]
    w.add_file_type(ftype)
    w.add_tokenizer_model("bert")
    w.add_tokenizer_pre("jina-v2-en")
    w.add_token_list(tokens)
    w.add_token_type_count(2)
    types = voc.fields.get("tokenizer.ggml.token_type")
    if types is not None:
        w.add_token_types([int(types.parts[i][0]) for i in types.data])
    for key in ("bos_token_id", "eos_token_id", "unknown_token_id", "seperator_token_id",
                "padding_token_id", "mask_token_id", "cls_token_id"):
        f = voc.fields.get("tokenizer.ggml." + key)
        if f is not None:
            w.add_uint32("tokenizer.ggml." + key, int(f.parts[f.data[0]][0]))
    w.add_bool("tokenizer.ggml.add_bos_token", True)
    w.add_bool("tokenizer.ggml.add_eos_token", True)

    def mat(n, k, scale=0.05):
        return (rng.standard_normal((n, k), dtype=np.float32) * scale)

    def add(name, arr, quant=True):
        if arr.ndim == 1 or not quant or a.type == "f32":
            w.add_tensor(name, arr.astype(np.float32))
        elif a.type == "f16":
            w.add_tensor(name, arr.astype(np.float16))
        else:
            q = gguf.quants.quantize(arr.astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor(name, q, raw_shape=arr.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)

    add("token_embd.weight", mat(n_vocab, d))
    add("position_embd.weight", mat(n_ctx, d), quant=False)
    add("token_types.weight", mat(2, d), quant=False)
    add("token_embd_norm.weight", 1 + 0.1 * rng.standard_normal(d, dtype=np.float32))
    add("token_embd_norm.bias", 0.1 * rng.standard_normal(d, dtype=np.float32))
    for i in range(n_layer):
        p = "blk.%d." % i
        for t in ("attn_q", "attn_k", "attn_v", "attn_output"):
            add(p + t + ".weight", mat(d, d))
            add(p + t + ".bias", 0.02 * rng.standard_normal(d, dtype=np.float32))
        add(p + "attn_output_norm.weight", 1 + 0.1 * rng.standard_normal(d, dtype=np.float32))
        add(p + "attn_output_norm.bias", 0.1 * rng.standard_normal(d, dtype=np.float32))
        add(p + "ffn_up.weight", mat(n_ff, d))
        add(p + "ffn_up.bias", 0.02 * rng.standard_normal(n_ff, dtype=np.float32))
        add(p + "ffn_down.weight", mat(d, n_ff))
        add(p + "ffn_down.bias", 0.02 * rng.standard_normal(d, dtype=np.float32))
        add(p + "layer_output_norm.weight", 1 + 0.1 * rng.standard_normal(d, dtype=np.float32))
        add(p + "layer_output_norm.bias", 0.1 * rng.standard_normal(d, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    # The same shape for the Hugging Face side (random init there).
    hf = a.out + ".hf"
    os.makedirs(hf, exist_ok=True)
    with open(os.path.join(hf, "config.json"), "w") as f:
        json.dump({"architectures": ["BertModel"], "model_type": "bert", "hidden_size": d,
                   "num_hidden_layers": n_layer, "num_attention_heads": n_head, "intermediate_size": n_ff,
                   "max_position_embeddings": n_ctx, "vocab_size": n_vocab, "type_vocab_size": 2,
                   "hidden_act": "gelu", "layer_norm_eps": 1e-12}, f, indent=1)
    print("wrote %s (%s, %s) and %s/config.json" % (a.out, a.shape, a.type, hf), file=sys.stderr)


if __name__ == "__main__":
    main()
