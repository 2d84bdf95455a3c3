#!/usr/bin/env python3
# generate-peer.py MODEL PREFILL DECODE REPS THREADS: llama.cpp (llama-cpp-python)
# prefill and decode speed on a GGUF, measured like bench/generate-bench.c
# (token ids in, best of REPS, wall and process-CPU rates).
import sys, time
import llama_cpp

model, n_pf, n_dec, reps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
llm = llama_cpp.Llama(model_path=model, n_ctx=n_pf + n_dec + 8, n_batch=512, n_ubatch=512,
                      n_threads=threads, n_threads_batch=threads, logits_all=False, verbose=False)
ids = [(i * 7919 + 11) % 50000 for i in range(n_pf)]
best = [1e30] * 4
for _ in range(reps):
    llm.reset()
    llm._ctx.memory_clear(True) if hasattr(llm._ctx, "memory_clear") else None
    c0, t0 = time.process_time(), time.perf_counter()
    llm.eval(ids)
    t1, c1 = time.perf_counter(), time.process_time()
    for _ in range(n_dec):
        llm.eval([42])
    t2, c2 = time.perf_counter(), time.process_time()
    best = [min(best[0], t1 - t0), min(best[1], t2 - t1), min(best[2], c1 - c0), min(best[3], c2 - c1)]
print("prefill_tps %.2f\ndecode_tps %.2f\nprefill_tps_cpu %.2f\ndecode_tps_cpu %.2f" %
      (n_pf / best[0], n_dec / best[1], n_pf / best[2], n_dec / best[3]))
