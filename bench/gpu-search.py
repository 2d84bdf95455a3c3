#!/usr/bin/env python3
"""gpu-search.py: GPU exact search, ragkit (rag_gpu_dense_search, what
rag-retrieve's dense leg runs when a GPU is present) vs PyTorch matmul + topk,
on the same sizes of random unit vectors (1M x 384 by default), batch 1 and
1000, f16 and f32 storage.  Prints query time, queries/s, the ratio, and the
achieved read bandwidth (stored vectors bytes / time) against the GPU's peak
(PEAK_GBPS, default 3350 for an H100 SXM).  The ragkit time includes the
query upload, the per-chunk top-k download and the host merge; torch's
includes nothing but the GPU work (conservative for ragkit).  Last, for
scale, the time of a kernel that only reads as many bytes as the f16 rows
(CuPy; skipped without it)."""
import os
import subprocess
import sys
import time

import torch


def torch_search(n, dim, f16, m, k, reps):
    dt = torch.float16 if f16 else torch.float32
    g = torch.Generator(device="cuda").manual_seed(1)
    x = torch.nn.functional.normalize(torch.rand(n, dim, device="cuda", generator=g) * 2 - 1, dim=1).to(dt)
    q = torch.nn.functional.normalize(torch.rand(m, dim, device="cuda", generator=g) * 2 - 1, dim=1).to(dt)
    best = None
    for r in range(reps + 1):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        s = q @ x.T
        v, i = torch.topk(s.float(), k, dim=1)
        i.cpu()
        torch.cuda.synchronize()
        d = time.perf_counter() - t0
        if r and (best is None or d < best):
            best = d
    del x, q
    torch.cuda.empty_cache()
    return best


# A kernel that only reads: each thread streams 16-byte loads, four in
# flight, and folds them into one word so that the loads are kept.
READ_SRC = r"""
extern "C" __global__ void stream_read(const uint4 *p, unsigned long long n, unsigned *out)
{
    unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    unsigned acc = 0;
    for (; i + 3 * stride < n; i += 4 * stride) {
        uint4 a = __ldg(p + i), b = __ldg(p + i + stride), c = __ldg(p + i + 2 * stride), d = __ldg(p + i + 3 * stride);
        acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w ^ c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^ d.z ^ d.w;
    }
    for (; i < n; i += stride) {
        uint4 a = __ldg(p + i);
        acc ^= a.x ^ a.y ^ a.z ^ a.w;
    }
    if (acc == 0x9e3779b9u)
        out[0] = acc;
}
"""


def read_ceiling(nbytes, reps):
    """Best time of a plain read of nbytes on the GPU (CuPy), or None without CuPy."""
    try:
        import cupy
    except ImportError:
        return None
    kern = cupy.RawKernel(READ_SRC, "stream_read")
    n16 = nbytes // 16
    buf = cupy.ones(n16 * 4, dtype=cupy.uint32)
    out = cupy.zeros(1, dtype=cupy.uint32)
    sms = cupy.cuda.Device().attributes["MultiProcessorCount"]
    best = None
    for blocks, threads in ((sms * 4, 256), (sms * 2, 512), (sms * 2, 1024), (sms * 8, 256)):
        for r in range(reps + 1):
            a, b = cupy.cuda.Event(), cupy.cuda.Event()
            a.record()
            kern((blocks,), (threads,), (buf, cupy.uint64(n16), out))
            b.record()
            b.synchronize()
            d = cupy.cuda.get_elapsed_time(a, b) / 1e3
            if r and (best is None or d < best):
                best = d
    del buf
    return best


def main():
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(top, "build")
    n = int(os.environ.get("N", "1000000"))
    dim = int(os.environ.get("DIM", "384"))
    k = int(os.environ.get("K", "10"))
    reps = int(os.environ.get("REPS", "5"))
    peak = float(os.environ.get("PEAK_GBPS", "3350"))
    # DRIVER: a driver built elsewhere (for a GPU machine without a C compiler)
    drv = os.environ.get("DRIVER")
    if not drv:
        drv = os.path.join(build, "bench-gpu-search-driver")
        subprocess.run(["cc", "-O2", "-std=gnu11", "-I" + os.path.join(top, "lib"), "-I" + os.path.join(top, "kernels"),
                        "-I" + build, os.path.join(top, "bench", "gpu-search-driver.c"), "-o", drv,
                        "-L" + os.path.join(build, "lib", ".libs"), "-lrag",
                        "-Wl,-rpath," + os.path.join(build, "lib", ".libs")], check=True)
    print("device:", torch.cuda.get_device_name(0))
    print("storage | batch | k | ragkit ms | torch ms | ratio (torch/ragkit time) | ragkit GB/s | % of peak")
    for storage in ("f16", "f32"):
        for m in (1, 1000):
            out = subprocess.run([drv, str(n), str(dim), storage, str(m), str(k), str(reps), "ip"], check=True,
                                 capture_output=True, text=True).stdout
            f = dict(kv.split("=") for kv in out.split()[1:])
            rk = float(f["best_ms"]) / 1e3
            tt = torch_search(n, dim, storage == "f16", m, k, reps)
            gbps = float(f["gbps"])
            print("%s | %d | %d | %.3f | %.3f | %.2f | %.0f | %.0f%%" % (storage, m, k, rk * 1e3, tt * 1e3, tt / rk, gbps,
                                                                        100 * gbps / peak), flush=True)
    # what a kernel that does nothing but read can do on this GPU, for scale
    nbytes = n * dim * 2
    rd = read_ceiling(nbytes, reps)
    if rd:
        print("plain read of the f16 rows (%d bytes): %.3f ms, %.0f GB/s, %.0f%% of peak" %
              (nbytes, rd * 1e3, nbytes / rd / 1e9, 100 * nbytes / rd / 1e9 / peak))
    else:
        print("plain read: not measured (no CuPy)")


if __name__ == "__main__":
    main()
