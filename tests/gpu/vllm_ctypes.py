#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vllm_ctypes.py — haloccl's libnccl.so.2 driven the way vLLM's pynccl_wrapper does:
ctypes.CDLL on a path, every function looked up with getattr (a missing one fails),
the unique id passed by value, GPU tensors' data_ptr() and
torch.cuda.current_stream().cuda_stream as arguments; every rank on cuda:0.

    tests/gpu/torch_run.sh -n 2 -l none tests/gpu/vllm_ctypes.py [LIB]
LIB defaults to $HALO_NCCL_LIB, else build/lib/haloccl/libnccl.so.2 of this checkout.
The unique id travels over a gloo group, as vLLM's CPU group sends it. Checks
all_reduce, all_gather, reduce_scatter, reduce, send/recv and broadcast (NULL
sendbuff off the root) element-wise; prints "ALL OK" or the failures.
"""
import ctypes
import os
import sys

import torch
import torch.distributed as dist

ncclResult_t = ctypes.c_int
ncclComm_t = ctypes.c_void_p
cudaStream_t = ctypes.c_void_p
buffer_type = ctypes.c_void_p
FLOAT32, FLOAT16, BF16, INT64 = 7, 6, 9, 4
SUM = 0


class ncclUniqueId(ctypes.Structure):
    _fields_ = [("internal", ctypes.c_byte * 128)]


# name, restype, argtypes: vLLM's list (pynccl_wrapper.py)
FUNCS = [
    ("ncclGetErrorString", ctypes.c_char_p, [ncclResult_t]),
    ("ncclGetVersion", ncclResult_t, [ctypes.POINTER(ctypes.c_int)]),
    ("ncclGetUniqueId", ncclResult_t, [ctypes.POINTER(ncclUniqueId)]),
    ("ncclCommInitRank", ncclResult_t, [ctypes.POINTER(ncclComm_t), ctypes.c_int, ncclUniqueId, ctypes.c_int]),
    ("ncclAllReduce", ncclResult_t, [buffer_type, buffer_type, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                                     ncclComm_t, cudaStream_t]),
    ("ncclReduce", ncclResult_t, [buffer_type, buffer_type, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                                  ctypes.c_int, ncclComm_t, cudaStream_t]),
    ("ncclAllGather", ncclResult_t, [buffer_type, buffer_type, ctypes.c_size_t, ctypes.c_int, ncclComm_t,
                                     cudaStream_t]),
    ("ncclReduceScatter", ncclResult_t, [buffer_type, buffer_type, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                                         ncclComm_t, cudaStream_t]),
    ("ncclSend", ncclResult_t, [buffer_type, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ncclComm_t,
                                cudaStream_t]),
    ("ncclRecv", ncclResult_t, [buffer_type, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ncclComm_t,
                                cudaStream_t]),
    ("ncclBroadcast", ncclResult_t, [buffer_type, buffer_type, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                                     ncclComm_t, cudaStream_t]),
    ("ncclCommDestroy", ncclResult_t, [ncclComm_t]),
    ("ncclGroupStart", ncclResult_t, []),
    ("ncclGroupEnd", ncclResult_t, []),
    ("ncclCommWindowRegister", ncclResult_t, [ncclComm_t, buffer_type, ctypes.c_size_t,
                                              ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]),
    ("ncclCommWindowDeregister", ncclResult_t, [ncclComm_t, ctypes.c_void_p]),
]

FAILS = []


class Nccl:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.f = {}
        for name, res, args in FUNCS:
            fn = getattr(self.lib, name)  # raises AttributeError when missing, as vLLM's does
            fn.restype, fn.argtypes = res, args
            self.f[name] = fn

    def __call__(self, name, *args):
        r = self.f[name](*args)
        if r != 0:
            raise RuntimeError("%s: %s" % (name, self.f["ncclGetErrorString"](r).decode()))


def inp(r, n, dtype, salt=0):
    return ((torch.arange(n, dtype=torch.float64) * 3 + r * 7 + salt) % 11 - 5).to(dtype)


def check(rank, name, got, want):
    got = got.cpu()
    ok = torch.equal(got, want.to(got.dtype))
    line = "rank %d: %s %s" % (rank, "OK  " if ok else "FAIL", name)
    if not ok:
        bad = (got.to(torch.float64) != want.to(torch.float64)).nonzero()
        line += ": %d elements differ, first %d: got %s expected %s" % (
            bad.shape[0], bad[0].item(), got[bad[0]].item(), want[bad[0]].item())
        FAILS.append(line)
    print(line, flush=True)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = (sys.argv[1] if len(sys.argv) > 1 else os.environ.get("HALO_NCCL_LIB")
            or os.path.join(here, "..", "..", "build", "lib", "haloccl", "libnccl.so.2"))
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dev = torch.device("cuda", 0)
    torch.cuda.set_device(dev)
    dist.init_process_group("gloo", rank=rank, world_size=world)  # the CPU group that carries the id
    nccl = Nccl(path)
    v = ctypes.c_int()
    nccl("ncclGetVersion", ctypes.byref(v))
    s = str(v.value)
    print("rank %d: %s: ncclGetVersion %d (vLLM reads %s.%s.%s)" % (rank, path, v.value, s[0], s[1:3].lstrip("0"),
                                                                     s[3:].lstrip("0") or "0"), flush=True)
    uid = ncclUniqueId()
    if rank == 0:
        nccl("ncclGetUniqueId", ctypes.byref(uid))
    t = torch.ByteTensor(list(bytes(uid.internal)))
    dist.broadcast(t, src=0)
    ctypes.memmove(ctypes.addressof(uid.internal), bytes(t.tolist()), 128)
    comm = ncclComm_t()
    with torch.cuda.device(dev):
        nccl("ncclCommInitRank", ctypes.byref(comm), world, uid, rank)  # the id by value
    stream = torch.cuda.current_stream()
    sp = cudaStream_t(stream.cuda_stream)
    ptr = lambda x: buffer_type(x.data_ptr())  # noqa: E731

    # warm-up, as vLLM does: a 1-element float all_reduce
    w = torch.ones(1, device=dev)
    nccl("ncclAllReduce", ptr(w), ptr(w), 1, FLOAT32, SUM, comm, sp)
    stream.synchronize()
    check(rank, "warm-up all_reduce", w, torch.tensor([float(world)]))

    for dtype, code in ((torch.float32, FLOAT32), (torch.bfloat16, BF16), (torch.float16, FLOAT16),
                        (torch.int64, INT64)):
        d = str(dtype).replace("torch.", "")
        n = 4099
        x = inp(rank, n, dtype).to(dev)
        y = torch.empty_like(x)
        nccl("ncclAllReduce", ptr(x), ptr(y), n, code, SUM, comm, sp)
        stream.synchronize()
        check(rank, "all_reduce " + d, y, sum(inp(r, n, torch.float64) for r in range(world)))

        g = torch.empty(world * n, dtype=dtype, device=dev)
        nccl("ncclAllGather", ptr(x), ptr(g), n, code, comm, sp)
        stream.synchronize()
        check(rank, "all_gather " + d, g, torch.cat([inp(r, n, torch.float64) for r in range(world)]))

        full = inp(rank, world * n, dtype).to(dev)
        rs = torch.empty(n, dtype=dtype, device=dev)
        nccl("ncclReduceScatter", ptr(full), ptr(rs), n, code, SUM, comm, sp)
        stream.synchronize()
        want = sum(inp(r, world * n, torch.float64) for r in range(world))[rank * n:(rank + 1) * n]
        check(rank, "reduce_scatter " + d, rs, want)

        root = world - 1
        rd = torch.zeros_like(x)
        nccl("ncclReduce", ptr(x), ptr(rd), n, code, SUM, root, comm, sp)
        stream.synchronize()
        if rank == root:
            check(rank, "reduce " + d, rd, sum(inp(r, n, torch.float64) for r in range(world)))

        b = inp(rank, n, dtype, salt=3).to(dev)
        send = ptr(b) if rank == 0 else buffer_type(None)  # vLLM passes NULL off the root
        nccl("ncclBroadcast", send, ptr(b), n, code, 0, comm, sp)
        stream.synchronize()
        check(rank, "broadcast " + d, b, inp(0, n, torch.float64, salt=3))

        nxt, prv = (rank + 1) % world, (rank - 1) % world
        got = torch.empty_like(x)
        nccl("ncclGroupStart")
        nccl("ncclSend", ptr(x), n, code, nxt, comm, sp)
        nccl("ncclRecv", ptr(got), n, code, prv, comm, sp)
        nccl("ncclGroupEnd")
        stream.synchronize()
        check(rank, "send/recv " + d, got, inp(prv, n, torch.float64))

    nccl("ncclCommDestroy", comm)
    dist.destroy_process_group()
    if FAILS:
        print("rank %d: FAILURES (%d):\n  %s" % (rank, len(FAILS), "\n  ".join(FAILS)), flush=True)
        return 1
    print("rank %d: ALL OK" % rank, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
