#!/usr/bin/env python3
"""The peer of bench/gemm.ts: torch.mm GFLOP/s, C = A·B with A m×k, B k×n (out= preallocated).

  bench_gemm.py THREADS SHAPES_JSON [MIN_SECONDS] [TRIALS] [float32|bfloat16]

With bfloat16, A, B and C are bf16 tensors (torch's bf16 matmul, oneDNN on CPU).

SHAPES_JSON is a list of [m, n, k]. Each shape: a warm-up, a loop long enough to last MIN_SECONDS, and
the best of TRIALS such loops. Prints one JSON line: {"torch", "blas" (the library file loaded), "threads", "results": [...]}.
The caller sets the environment (OpenBLAS variables) and runs this once per thread count.
"""
import json
import sys
import time

import torch


def blas_library():
    """The BLAS shared library torch loaded (Debian's torch links whatever libblas.so.3 points to)."""
    torch.mm(torch.ones(8, 8), torch.ones(8, 8))
    try:
        with open('/proc/self/maps') as maps:
            paths = {line.split()[-1] for line in maps if 'blas' in line.lower() and '/' in line}
        return ', '.join(sorted(paths)) or 'none found'
    except OSError:
        return 'unknown'


def seconds_per_call(fn, min_seconds, trials):
    fn()
    iters = 1
    while True:  # calibrate: double until one loop lasts a quarter of the budget
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_seconds / 4:
            break
        iters *= 2
    iters = max(1, int(iters * min_seconds / dt))
    best = float('inf')
    for _ in range(trials):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        best = min(best, (time.perf_counter() - t0) / iters)
    return best


def main():
    threads = int(sys.argv[1])
    shapes = json.loads(sys.argv[2])
    min_seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 0.2
    trials = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    dtype = {'float32': torch.float32, 'bfloat16': torch.bfloat16}[sys.argv[5] if len(sys.argv) > 5 else 'float32']
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    results = []
    for m, n, k in shapes:
        a = (torch.rand(m, k) * 2 - 1).to(dtype)
        b = (torch.rand(k, n) * 2 - 1).to(dtype)
        c = torch.empty(m, n, dtype=dtype)
        t = seconds_per_call(lambda: torch.mm(a, b, out=c), min_seconds, trials)
        results.append({'m': m, 'n': n, 'k': k, 'gflops': 2.0 * m * n * k / t / 1e9})
    print(json.dumps({'torch': torch.__version__, 'blas': blas_library(), 'threads': torch.get_num_threads(),
                      'results': results}))


if __name__ == '__main__':
    main()
