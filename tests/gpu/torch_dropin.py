#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""torch_dropin.py — PyTorch's ProcessGroupNCCL on haloccl's libnccl.so.2.

Run on a GPU machine, every rank on cuda:0 (one GPU shared), as
    tests/gpu/torch_run.sh -n 2 tests/gpu/torch_dropin.py
or  LD_PRELOAD=$PWD/build/lib/haloccl/libnccl.so.2 torchrun --nproc-per-node 2 tests/gpu/torch_dropin.py
(python3 -m torch.distributed.run where torchrun is absent).

First proves that haloccl is the NCCL torch uses (its path in /proc/self/maps, and
where torch's own libnccl is mapped too, the process's ncclAllReduce lies in
haloccl's library; torch.cuda.nccl.version() is the 2.28.9 haloccl reports),
then, with and without init_process_group's device_id, checks every result
element-wise against a CPU reference computed here: all_reduce (sum, avg, max,
min, premul_sum on float32 and float16), all_gather, all_gather_into_tensor, reduce_scatter,
reduce_scatter_tensor, broadcast, reduce, all_to_all_single (even and uneven
splits), send/recv, batch_isend_irecv, barrier, new_group, and an all_reduce
captured in a CUDA graph replayed 50 times with new inputs; float32, bfloat16,
float16, int64. One line per check; "ALL OK" or the failures; exit 1 on failure.
Inputs are small integers (times 0.5 for premul_sum), so every result is exact.

TORCH_DROPIN_ONLY=a,b runs only the checks whose names contain one of the words
(the init and the load proof always run). A check that takes longer than
TORCH_DROPIN_CHECK_S seconds (default 90) prints every thread's stack and ends
the process, so a hang names the check it is in.
"""
import faulthandler
import os
import sys
import time
import traceback
from datetime import timedelta

import torch
import torch.distributed as dist

RANK = int(os.environ["RANK"])
WORLD = int(os.environ["WORLD_SIZE"])
DEV = torch.device("cuda", 0)
DTYPES = [torch.float32, torch.bfloat16, torch.float16, torch.int64]
FAILS = []
ONLY = [w for w in os.environ.get("TORCH_DROPIN_ONLY", "").split(",") if w]
CHECK_S = int(os.environ.get("TORCH_DROPIN_CHECK_S", "90"))


def say(ok, name, detail=""):
    line = "rank %d: %s %s%s" % (RANK, "OK  " if ok else "FAIL", name, (": " + detail) if detail else "")
    print(line, flush=True)
    if not ok:
        FAILS.append(line)


def check(name, fn):
    if ONLY and not any(w in name for w in ONLY) and "NCCL" not in name:
        return
    t0 = time.monotonic()
    faulthandler.dump_traceback_later(CHECK_S, exit=True)
    try:
        res = fn()
        if res is None or res is True:
            say(True, name, "%.2f s" % (time.monotonic() - t0))
        else:
            say(False, name, str(res))
    except Exception as e:  # a check that raises is a failure, the others still run
        say(False, name, "%s: %s" % (type(e).__name__, e))
        traceback.print_exc()
    finally:
        faulthandler.cancel_dump_traceback_later()


def inp(r, n, dtype, salt=0):
    """Rank r's input: small integers that differ per rank and index."""
    v = (torch.arange(n, dtype=torch.float64) * 3 + r * 7 + salt) % 11 - 5
    return v.to(dtype)


def same(got, want, name):
    got = got.detach().to("cpu")
    want = want.to(got.dtype)
    if got.shape != want.shape:
        return "%s: shape %s, expected %s" % (name, tuple(got.shape), tuple(want.shape))
    if torch.equal(got, want):
        return None
    bad = (got.to(torch.float64) != want.to(torch.float64)).nonzero()
    i = bad[0].tolist()
    return "%s: %d elements differ, first at %s: got %s expected %s" % (
        name, bad.shape[0], i, got[tuple(i)].item(), want[tuple(i)].item())


def prove_loaded():
    maps = open("/proc/self/maps").read()
    lib = os.environ.get("HALO_NCCL_LIB") or os.environ.get("LD_PRELOAD", "").split(":")[0]
    libs = sorted({l.split()[-1] for l in maps.splitlines() if "libnccl" in l or "librccl" in l})
    print("rank %d: NCCL libraries mapped: %s" % (RANK, libs), flush=True)
    real = os.path.realpath(lib) if lib else ""
    mapped = [os.path.realpath(p) for p in libs]
    if not lib or real not in mapped:
        return "haloccl's library (%s) is not mapped: set LD_PRELOAD" % (lib or "unset")
    if len(set(mapped)) != 1:
        # torch's wheel links its own libnccl.so.2 (loaded as a dependency); the
        # preload binds first. Prove it: the global ncclAllReduce must lie in ours.
        import ctypes
        addr = ctypes.cast(ctypes.CDLL(None).ncclAllReduce, ctypes.c_void_p).value
        owner = None
        for l in maps.splitlines():
            f = l.split()
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            if lo <= addr < hi and len(f) >= 6:
                owner = os.path.realpath(f[-1])
        print("rank %d: other NCCL mapped too (%s); the process's ncclAllReduce is at %#x in %s" %
              (RANK, [m for m in mapped if m != real], addr, owner), flush=True)
        if owner != real:
            return "ncclAllReduce resolves to %s, not haloccl's %s" % (owner, real)
    ver = torch.cuda.nccl.version()  # calls ncclGetVersion of the loaded library
    print("rank %d: torch.cuda.nccl.version() = %s (ncclGetVersion of the library loaded)" % (RANK, ver),
          flush=True)
    if tuple(ver[:3]) != (2, 28, 9):
        return "torch.cuda.nccl.version() is %s, haloccl reports (2, 28, 9)" % (ver,)
    return None


def reduce_ref(op, n, dtype, factor=None):
    xs = [inp(r, n, torch.float64) for r in range(WORLD)]
    if op == "sum":
        v = sum(xs)
    elif op == "avg":
        v = sum(xs) / WORLD
    elif op == "max":
        v = torch.stack(xs).max(0).values
    elif op == "min":
        v = torch.stack(xs).min(0).values
    else:
        v = sum(xs) * factor
    return v.to(dtype)


def chk_all_reduce(op, dtype, n=1000, group=None):
    t = inp(RANK, n, dtype).to(DEV)
    factor = 0.5
    if op == "premul_sum":
        dop = dist._make_nccl_premul_sum(factor)
    else:
        dop = {"sum": dist.ReduceOp.SUM, "avg": dist.ReduceOp.AVG, "max": dist.ReduceOp.MAX,
               "min": dist.ReduceOp.MIN}[op]
    dist.all_reduce(t, op=dop, group=group)
    want = reduce_ref(op, n, torch.float64, factor)
    if op == "avg":  # exact for 2 ranks; rounded by 1/nranks otherwise
        got = t.detach().cpu().to(torch.float64)
        if not torch.allclose(got, want, rtol=1e-2, atol=1e-2):
            return "all_reduce avg: max error %g" % (got - want).abs().max().item()
        return None
    return same(t, want.to(dtype), "all_reduce " + op)


def chk_all_gather(dtype, n=777):
    t = inp(RANK, n, dtype).to(DEV)
    outs = [torch.empty_like(t) for _ in range(WORLD)]
    dist.all_gather(outs, t)
    for r in range(WORLD):
        e = same(outs[r], inp(r, n, dtype), "all_gather block %d" % r)
        if e:
            return e
    flat = torch.empty(WORLD * n, dtype=dtype, device=DEV)
    dist.all_gather_into_tensor(flat, t)
    return same(flat, torch.cat([inp(r, n, dtype) for r in range(WORLD)]), "all_gather_into_tensor")


def chk_reduce_scatter(dtype, n=333):
    full = inp(RANK, WORLD * n, dtype).to(DEV)
    want = reduce_ref("sum", WORLD * n, dtype)[RANK * n:(RANK + 1) * n]
    out = torch.empty(n, dtype=dtype, device=DEV)
    dist.reduce_scatter(out, list(full.chunk(WORLD)))
    e = same(out, want, "reduce_scatter")
    if e:
        return e
    out2 = torch.empty(n, dtype=dtype, device=DEV)
    dist.reduce_scatter_tensor(out2, full)
    return same(out2, want, "reduce_scatter_tensor")


def chk_broadcast(dtype, n=1001):
    src = WORLD - 1
    t = inp(RANK, n, dtype, salt=1).to(DEV)
    dist.broadcast(t, src=src)
    return same(t, inp(src, n, dtype, salt=1), "broadcast")


def chk_reduce(dtype, n=1001):
    t = inp(RANK, n, dtype).to(DEV)
    dist.reduce(t, dst=0)
    if RANK == 0:
        return same(t, reduce_ref("sum", n, dtype), "reduce")
    return None


def chk_all_to_all(dtype, uneven):
    if uneven:  # rank r sends r + p + 1 elements to rank p
        ins = [r_p + 1 + RANK for r_p in range(WORLD)]
        outs = [RANK + p + 1 for p in range(WORLD)]
    else:
        ins = outs = [5] * WORLD
    t = inp(RANK, sum(ins), dtype).to(DEV)
    out = torch.empty(sum(outs), dtype=dtype, device=DEV)
    if uneven:
        dist.all_to_all_single(out, t, output_split_sizes=outs, input_split_sizes=ins)
    else:
        dist.all_to_all_single(out, t)
    want = []
    for p in range(WORLD):  # p's block for this rank starts after its blocks for ranks < RANK
        p_ins = [q + 1 + p for q in range(WORLD)] if uneven else [5] * WORLD
        start = sum(p_ins[:RANK])
        want.append(inp(p, sum(p_ins), dtype)[start:start + p_ins[RANK]])
    return same(out, torch.cat(want), "all_to_all_single %s" % ("uneven" if uneven else "even"))


def chk_send_recv(dtype, n=513):
    nxt, prv = (RANK + 1) % WORLD, (RANK - 1) % WORLD
    t = inp(RANK, n, dtype).to(DEV)
    got = torch.empty_like(t)
    if RANK % 2 == 0:
        dist.send(t, nxt)
        dist.recv(got, prv)
    else:
        dist.recv(got, prv)
        dist.send(t, nxt)
    e = same(got, inp(prv, n, dtype), "send/recv")
    if e:
        return e
    got2 = torch.empty_like(t)
    reqs = dist.batch_isend_irecv([dist.P2POp(dist.isend, t, nxt), dist.P2POp(dist.irecv, got2, prv)])
    for q in reqs:
        q.wait()
    return same(got2, inp(prv, n, dtype), "batch_isend_irecv")


def chk_new_group():
    g_all = dist.new_group(list(range(WORLD)))
    g_first = dist.new_group([0])  # every rank calls new_group; only rank 0 is in it
    e = chk_all_reduce("sum", torch.float32, 99, group=g_all)
    if e:
        return e
    if RANK == 0:
        t = inp(0, 10, torch.float32).to(DEV)
        dist.all_reduce(t, group=g_first)
        e = same(t, inp(0, 10, torch.float32), "all_reduce on a 1-rank group")
    dist.destroy_process_group(g_all)
    dist.destroy_process_group(g_first)
    return e


def chk_graph(n=4096, replays=50):
    static = torch.zeros(n, dtype=torch.float32, device=DEV)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up outside capture, as torch recommends
        for _ in range(3):
            dist.all_reduce(static)
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        dist.all_reduce(static)
    for k in range(replays):
        static.copy_(inp(RANK, n, torch.float32, salt=k).to(DEV))
        g.replay()
        want = sum(inp(r, n, torch.float64, salt=k) for r in range(WORLD))
        e = same(static, want.to(torch.float32), "graph replay %d" % k)
        if e:
            return e
    torch.cuda.synchronize()
    return None


def run_checks(tag, full):
    for dt in DTYPES:
        d = str(dt).replace("torch.", "")
        ops = ["sum", "max", "min"] + (["avg"] if dt.is_floating_point else [])
        # Not bfloat16: torch hands ncclRedOpCreatePreMulSum a float scalar labelled
        # ncclBfloat16, of which NCCL (and haloccl, reading as NCCL does) takes the
        # low two bytes — 0.0 for 0.5: the result is zero with NCCL too.
        if dt in (torch.float32, torch.float16):
            ops.append("premul_sum")
        for op in ops:
            check("%s all_reduce %s %s" % (tag, op, d), lambda op=op, dt=dt: chk_all_reduce(op, dt))
        if not full and dt != torch.float32:
            continue
        check("%s all_gather %s" % (tag, d), lambda dt=dt: chk_all_gather(dt))
        check("%s reduce_scatter %s" % (tag, d), lambda dt=dt: chk_reduce_scatter(dt))
        check("%s broadcast %s" % (tag, d), lambda dt=dt: chk_broadcast(dt))
        check("%s reduce %s" % (tag, d), lambda dt=dt: chk_reduce(dt))
        check("%s all_to_all_single even %s" % (tag, d), lambda dt=dt: chk_all_to_all(dt, False))
        check("%s all_to_all_single uneven %s" % (tag, d), lambda dt=dt: chk_all_to_all(dt, True))
        check("%s send/recv %s" % (tag, d), lambda dt=dt: chk_send_recv(dt))
    check("%s barrier" % tag, lambda: dist.barrier())
    check("%s new_group" % tag, chk_new_group)
    if full:
        check("%s cuda graph all_reduce x50" % tag, chk_graph)
    torch.cuda.synchronize()


def main():
    torch.cuda.set_device(DEV)
    check("haloccl is torch's NCCL", prove_loaded)
    if FAILS:
        print("rank %d: FAILURES:\n  %s" % (RANK, "\n  ".join(FAILS)), flush=True)
        return 1
    addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    to = timedelta(seconds=120)
    # 1: device_id given (eager init: the communicator is made at init; new_group splits it)
    dist.init_process_group("nccl", init_method="tcp://%s:%d" % (addr, port), rank=RANK, world_size=WORLD,
                            timeout=to, device_id=DEV)
    run_checks("[device_id]", full=True)
    dist.destroy_process_group()
    # 2: no device_id (lazy init at the first collective), on a fresh port
    dist.init_process_group("nccl", init_method="tcp://%s:%d" % (addr, port + 1), rank=RANK, world_size=WORLD,
                            timeout=to)
    run_checks("[lazy]", full=False)
    dist.destroy_process_group()
    if FAILS:
        print("rank %d: FAILURES (%d):\n  %s" % (RANK, len(FAILS), "\n  ".join(FAILS)), flush=True)
        return 1
    print("rank %d: ALL OK" % RANK, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
