#!/usr/bin/env python3
# generate-make-gguf.py OUT.gguf TYPE: a random-weight qwen2 GGUF of the
# Qwen2.5-0.5B shape (896 hidden, 24 layers, 14 heads, 2 KV heads, head 64,
# ffn 4864, vocab 151936, tied embeddings, q/k/v biases) for bench/generate.sh.
# TYPE: F16 or Q8_0 (written here with gguf-py); other types come from
# llama.cpp's quantizer run on the F16 file.  The tokenizer is GPT-2's from the
# tiny fixture, padded to the vocabulary size with unused control tokens (the
# benchmark feeds token ids, so the text side does not matter).
import sys
import numpy as np
import gguf

out, wtype = sys.argv[1], sys.argv[2].upper()
tiny = sys.argv[3] if len(sys.argv) > 3 else "tests/data/fixtures/models/tiny-qwen2-f16.gguf"
E, L, H, KV, HD, FF, V, CTX = 896, 24, 14, 2, 64, 4864, 151936, 32768
rng = np.random.default_rng(1234)
qt = {"F16": gguf.GGMLQuantizationType.F16, "Q8_0": gguf.GGMLQuantizationType.Q8_0}[wtype]

w = gguf.GGUFWriter(out, "qwen2")
w.add_name("bench-qwen2.5-0.5b-shape-random")
w.add_context_length(CTX)
w.add_embedding_length(E)
w.add_block_count(L)
w.add_feed_forward_length(FF)
w.add_head_count(H)
w.add_head_count_kv(KV)
w.add_rope_freq_base(1000000.0)
w.add_layer_norm_rms_eps(1e-6)
w.add_file_type(1 if wtype == "F16" else 7)

r = gguf.GGUFReader(tiny)
def field(k):
    f = r.fields[k]
    return f
toks = [bytes(field("tokenizer.ggml.tokens").parts[i]).decode("utf-8", "replace")
        for i in field("tokenizer.ggml.tokens").data]
types = [int(field("tokenizer.ggml.token_type").parts[i][0]) for i in field("tokenizer.ggml.token_type").data]
merges = [bytes(field("tokenizer.ggml.merges").parts[i]).decode("utf-8", "replace")
          for i in field("tokenizer.ggml.merges").data]
for i in range(len(toks), V):
    toks.append("<|pad_%d|>" % i)
    types.append(3)
w.add_tokenizer_model("gpt2")
w.add_tokenizer_pre("qwen2")
w.add_token_list(toks)
w.add_token_types(types)
w.add_token_merges(merges)
w.add_bos_token_id(50256)
w.add_eos_token_id(50256)

def mat(n, k, scale=0.02):
    a = (rng.standard_normal((n, k), dtype=np.float32) * scale)
    if qt == gguf.GGMLQuantizationType.F16:
        return a.astype(np.float16), None
    return gguf.quants.quantize(a, qt), qt

def add(name, arr):
    data, raw = arr
    if raw is None:
        w.add_tensor(name, data)
    else:
        w.add_tensor(name, data, raw_dtype=raw)

def vec(n, base=0.0, scale=0.02):
    return (base + rng.standard_normal(n, dtype=np.float32) * scale).astype(np.float32), None

add("token_embd.weight", mat(V, E))
add("output_norm.weight", vec(E, 1.0))
for l in range(L):
    p = "blk.%d." % l
    add(p + "attn_norm.weight", vec(E, 1.0))
    add(p + "attn_q.weight", mat(H * HD, E))
    add(p + "attn_q.bias", vec(H * HD))
    add(p + "attn_k.weight", mat(KV * HD, E))
    add(p + "attn_k.bias", vec(KV * HD))
    add(p + "attn_v.weight", mat(KV * HD, E))
    add(p + "attn_v.bias", vec(KV * HD))
    add(p + "attn_output.weight", mat(E, H * HD))
    add(p + "ffn_norm.weight", vec(E, 1.0))
    add(p + "ffn_gate.weight", mat(FF, E))
    add(p + "ffn_up.weight", mat(FF, E))
    add(p + "ffn_down.weight", mat(E, FF))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print("wrote", out)
