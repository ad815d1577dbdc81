#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""torch_bench.py — torch.distributed all_reduce (float32, 8 B to 256 MiB, x4 steps)
on GPU tensors, every rank on cuda:0; one nccl-tests-like line per size
(TORCH_BENCH_SIZES=8,2048 runs only the sizes listed).

    tests/gpu/torch_run.sh -n 2 tests/gpu/torch_bench.py nccl            # haloccl preloaded
    tests/gpu/torch_run.sh -n 2 -l none tests/gpu/torch_bench.py gloo    # gloo, same tensors
    tests/gpu/torch_bench.sh                                              # both, side by side
Options: --out FILE (rank 0 writes "bytes time_us busbw" lines), --table A B
(print two such files side by side; no torch.distributed needed).
Time per call: CUDA events around ITERS calls after warm-up; busbw = bytes/time x
2(n-1)/n (nccl-tests' all-reduce factor).
"""
import os
import sys


def table(a, b):
    def load(p):
        rows = {}
        for line in open(p):
            f = line.split()
            if len(f) == 3:
                rows[int(f[0])] = (float(f[1]), float(f[2]))
        return rows
    ra, rb = load(a), load(b)
    na, nb = os.path.basename(a), os.path.basename(b)
    print("%12s  %14s %12s  %14s %12s  %8s" % ("bytes", na + " us", "busbw GB/s", nb + " us", "busbw GB/s", "ratio"))
    for size in sorted(set(ra) | set(rb)):
        ta, ba = ra.get(size, (float("nan"),) * 2)
        tb, bb = rb.get(size, (float("nan"),) * 2)
        print("%12d  %14.1f %12.3f  %14.1f %12.3f  %8.2f" % (size, ta, ba, tb, bb, tb / ta if ta else float("nan")))
    return 0


def main(argv):
    if argv[:1] == ["--table"]:
        return table(argv[1], argv[2])
    import torch
    import torch.distributed as dist
    backend = argv[0] if argv else "nccl"
    out = argv[argv.index("--out") + 1] if "--out" in argv else None
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dev = torch.device("cuda", 0)
    torch.cuda.set_device(dev)
    dist.init_process_group(backend, rank=rank, world_size=world)
    sizes, s = [], 8
    while s <= 256 << 20:
        sizes.append(s)
        s *= 4
    sizes.append(256 << 20)  # the top of the range (8 B x 4^k stops at 128 MiB)
    if os.environ.get("TORCH_BENCH_SIZES"):  # e.g. "8,2048": only these
        sizes = [int(x) for x in os.environ["TORCH_BENCH_SIZES"].split(",")]
    lines = []
    if rank == 0:
        print("# backend %s, %d ranks on %s, float32 all_reduce sum" % (backend, world, torch.cuda.get_device_name(0)))
        print("# %12s %12s %12s %12s %12s" % ("size(B)", "count", "time(us)", "algbw(GB/s)", "busbw(GB/s)"))
    for size in sizes:
        n = max(1, size // 4)
        t = torch.ones(n, dtype=torch.float32, device=dev)
        iters = 50 if size <= (1 << 20) else 20 if size <= (16 << 20) else 5
        for _ in range(3):
            dist.all_reduce(t)
        torch.cuda.synchronize()
        dist.barrier()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            dist.all_reduce(t)
        end.record()
        torch.cuda.synchronize()  # gloo runs on the host: synchronize makes its time count too
        us = start.elapsed_time(end) * 1000.0 / iters
        algbw = n * 4 / us / 1e3
        busbw = algbw * 2 * (world - 1) / world
        if rank == 0:
            print("  %12d %12d %12.1f %12.3f %12.3f" % (n * 4, n, us, algbw, busbw), flush=True)
            lines.append("%d %.3f %.4f\n" % (n * 4, us, busbw))
    if rank == 0 and out:
        with open(out, "w") as f:
            f.writelines(lines)
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
