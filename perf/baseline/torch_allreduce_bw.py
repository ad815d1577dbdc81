#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""torch_allreduce_bw.py — torch.distributed all_reduce (float32 sum) with backend nccl
(NCCL, or RCCL on a ROCm build of PyTorch) on GPU tensors, one GPU per rank, the
allreduce_bw sweep and columns, so perf/compare.sh can put it beside haloccl:

    torch_allreduce_bw.py -n 2 [-b 8] [-e 64m] [-f 2] [-w 5] [--transport shm|tcp] [--json]

Ranks are processes started here (multiprocessing, spawn), meeting through
init_method file:// in a temporary directory; no torchrun. --transport tcp keeps NCCL
off its peer-to-peer and shared-memory paths and on sockets over loopback
(NCCL_P2P_DISABLE=1 NCCL_SHM_DISABLE=1 NCCL_IB_DISABLE=1 NCCL_SOCKET_IFNAME=lo);
shm leaves NCCL to choose its intra-node path. Exit 77 with a sentence on stderr when
torch, its nccl backend or N GPUs are missing.

Measured as the others: warm-up calls, a barrier, back-to-back timed calls ended by a
synchronize; time = the mean of one call on each rank, then the maximum over ranks;
busbw = algbw x 2(n-1)/n. torch's all_reduce works in place, so the timed calls reduce
a zero-filled tensor in place (the "oop_" keys of the JSON keep allreduce_bw's names);
after each size one call on the per-rank, per-element inputs is checked.
"""
import os
import sys
import tempfile
import time


def parse_size(s):
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(s[-1:].lower(), 1)
    digits = s[:-1] if mult != 1 else s
    if not digits.isdigit():
        raise ValueError("%r is not a size (8, 4k, 64m)" % s)
    return int(digits) * mult


def parse_args(argv):
    o = {"n": 0, "b": 8, "e": 64 << 20, "f": 2, "w": 5, "transport": "shm", "json": False}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--json":
            o["json"] = True
        elif a in ("-n", "-b", "-e", "-f", "-w") and i + 1 < len(argv):
            o[a[1]] = parse_size(argv[i + 1])
            i += 1
        elif a == "--transport" and i + 1 < len(argv) and argv[i + 1] in ("shm", "tcp"):
            o["transport"] = argv[i + 1]
            i += 1
        else:
            raise ValueError("bad argument %r; usage: -n N [-b MIN] [-e MAX] [-f F] [-w W] "
                             "[--transport shm|tcp] [--json]" % a)
        i += 1
    if o["n"] < 1 or o["f"] < 2 or o["b"] < 4 or o["e"] < o["b"]:
        raise ValueError("want -n >= 1, 4 <= -b <= -e, -f >= 2")
    return o


def why_not(n):
    """None when n ranks can run here, else the reason."""
    try:
        import torch
        import torch.distributed as dist
    except ImportError as e:
        return "PyTorch is not installed (%s)" % e
    if not dist.is_available() or not dist.is_nccl_available():
        return "this PyTorch has no nccl backend"
    if not torch.cuda.is_available():
        return "no GPU visible to PyTorch"
    if torch.cuda.device_count() < n:
        return "%d ranks need %d GPUs (NCCL takes one per rank), %d visible" % (n, n, torch.cuda.device_count())
    return None


def inputs(torch, rank, count, dev):
    """Rank's input: integers in [-8, 8], different per rank and per element (the
    function of mpi_allreduce_bw and gloo_allreduce_bw), so sums are exact."""
    i = torch.arange(count, dtype=torch.int64, device=dev)
    h = ((i * 2654435761) & 0xFFFFFFFF) ^ ((rank + 1) * 40503)
    h = h ^ (h >> 13)
    return ((h % 17) - 8).to(torch.float32)


def run_rank(rank, o, init_file, status):
    import torch
    import torch.distributed as dist
    n = o["n"]
    torch.cuda.set_device(rank)
    dev = torch.device("cuda", rank)
    dist.init_process_group("nccl", init_method="file://" + init_file, rank=rank, world_size=n)
    if rank == 0 and not o["json"]:
        v = torch.cuda.nccl.version()  # a tuple in recent PyTorch, an int in older ones
        print("# torch_allreduce_bw: %d ranks, nccl %s, float32 sum, %s" %
              (n, ".".join(map(str, v)) if isinstance(v, tuple) else v, torch.cuda.get_device_name(dev)))
        print("#%12s %13s %10s %8s %8s %8s" % ("size(B)", "count", "time(us)", "algbw", "busbw", "#wrong"))
    bad = 0
    size = o["b"]
    while size <= o["e"]:
        count = size // 4
        iters = min(200, max(3, (256 << 20) // size))
        buf = torch.zeros(count, dtype=torch.float32, device=dev)
        for _ in range(o["w"]):
            dist.all_reduce(buf)
        torch.cuda.synchronize()
        dist.barrier()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(iters):
            dist.all_reduce(buf)
        torch.cuda.synchronize()
        t = torch.tensor([(time.perf_counter() - t0) / iters], dtype=torch.float64, device=dev)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        tmax = t.item()
        out = inputs(torch, rank, count, dev)
        dist.all_reduce(out)
        want = sum(inputs(torch, r, count, dev) for r in range(n))
        wrong = torch.tensor([int((out != want).sum().item())], dtype=torch.int64, device=dev)
        dist.all_reduce(wrong)
        bad += wrong.item()
        if rank == 0:
            algbw = size / tmax / 1e9
            busbw = algbw * 2 * (n - 1) / n
            if o["json"]:
                print('{"tool":"torch_allreduce_bw","nranks":%d,"size":%d,"count":%d,"iters":%d,"warmup":%d,'
                      '"oop_time_us":%.3f,"oop_algbw":%.4f,"oop_busbw":%.4f,"oop_wrong":%d}'
                      % (n, size, count, iters, o["w"], tmax * 1e6, algbw, busbw, wrong.item()), flush=True)
            else:
                print(" %12d %13d %10.2f %8.3f %8.3f %8d" % (size, count, tmax * 1e6, algbw, busbw, wrong.item()),
                      flush=True)
        size *= o["f"]
    dist.destroy_process_group()
    status[rank] = 1 if bad else 0


def main(argv):
    try:
        o = parse_args(argv)
    except ValueError as e:
        print("torch_allreduce_bw: %s" % e, file=sys.stderr)
        return 2
    reason = why_not(o["n"])
    if reason:
        print("torch_allreduce_bw: SKIP: %s" % reason, file=sys.stderr)
        return 77
    if o["transport"] == "tcp":
        os.environ.update(NCCL_P2P_DISABLE="1", NCCL_SHM_DISABLE="1", NCCL_IB_DISABLE="1", NCCL_SOCKET_IFNAME="lo")
    import torch.multiprocessing as mp
    with tempfile.TemporaryDirectory(prefix="torch_allreduce_bw.") as d:
        status = mp.get_context("spawn").Array("i", [1] * o["n"])
        mp.spawn(run_rank, args=(o, os.path.join(d, "init"), status), nprocs=o["n"], join=True)
        return 1 if any(status) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
