#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vllm_style.py LIB NRANKS — drives the drop-in the way vLLM's pynccl wrapper does:
ctypes.CDLL on a path (VLLM_NCCL_SO_PATH), every function looked up by name with
getattr, the unique id a 128-byte ctypes structure passed by value, datatypes and
ops as c_int, the stream a c_void_p (NULL here). Each rank runs the init warm-up
(1-element float all-reduce), an all-reduce, a broadcast with a NULL send buffer
off the root, an all-gather and a send/recv pair in a group, checking every element.
"""
import ctypes
import os
import sys

NCCL_FUNCS = {  # name: (restype, argtypes), as vLLM binds them
    "ncclGetErrorString": (ctypes.c_char_p, [ctypes.c_int]),
    "ncclGetVersion": (ctypes.c_int, [ctypes.POINTER(ctypes.c_int)]),
    "ncclGetUniqueId": (ctypes.c_int, [ctypes.c_void_p]),
    "ncclCommInitRank": (ctypes.c_int, [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, None, ctypes.c_int]),
    "ncclAllReduce": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                                     ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]),
    "ncclAllGather": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                                     ctypes.c_void_p, ctypes.c_void_p]),
    "ncclBroadcast": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                                     ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]),
    "ncclSend": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                                ctypes.c_void_p, ctypes.c_void_p]),
    "ncclRecv": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                                ctypes.c_void_p, ctypes.c_void_p]),
    "ncclGroupStart": (ctypes.c_int, []),
    "ncclGroupEnd": (ctypes.c_int, []),
    "ncclCommDestroy": (ctypes.c_int, [ctypes.c_void_p]),
    "ncclCommAbort": (ctypes.c_int, [ctypes.c_void_p]),
    "ncclCommWindowRegister": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                              ctypes.c_void_p, ctypes.c_int]),
    "ncclCommWindowDeregister": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p]),
}
FLOAT32, FLOAT64, SUM = 7, 8, 0


class UniqueId(ctypes.Structure):
    _fields_ = [("internal", ctypes.c_byte * 128)]


def bind(path):
    lib = ctypes.CDLL(path)
    fns = {}
    for name, (res, args) in NCCL_FUNCS.items():
        fn = getattr(lib, name)  # a missing name raises, as in vLLM
        fn.restype = res
        fn.argtypes = [UniqueId if a is None else a for a in args]
        fns[name] = fn
    return fns


def check(fns, what, r):
    if r != 0:
        raise SystemExit("%s -> %d (%s)" % (what, r, fns["ncclGetErrorString"](r).decode()))


def rank_main(fns, uid, rank, n):
    comm = ctypes.c_void_p()
    check(fns, "ncclCommInitRank", fns["ncclCommInitRank"](ctypes.byref(comm), n, uid, rank))
    one = (ctypes.c_float * 1)(1.0)
    check(fns, "warm-up", fns["ncclAllReduce"](one, one, 1, FLOAT32, SUM, comm, None))
    assert one[0] == n, one[0]
    count = 1001
    send = (ctypes.c_double * count)(*[rank * 1000.0 + i for i in range(count)])
    recv = (ctypes.c_double * count)()
    check(fns, "ncclAllReduce", fns["ncclAllReduce"](send, recv, count, FLOAT64, SUM, comm, None))
    for i in range(count):
        want = sum(q * 1000.0 + i for q in range(n))
        assert recv[i] == want, ("allreduce", i, recv[i], want)
    root = n - 1
    bc = (ctypes.c_double * count)()
    check(fns, "ncclBroadcast", fns["ncclBroadcast"](send if rank == root else None, bc, count, FLOAT64, root,
                                                     comm, None))
    for i in range(count):
        assert bc[i] == root * 1000.0 + i, ("broadcast", i, bc[i])
    gathered = (ctypes.c_double * (count * n))()
    check(fns, "ncclAllGather", fns["ncclAllGather"](send, gathered, count, FLOAT64, comm, None))
    for i in range(count * n):
        assert gathered[i] == (i // count) * 1000.0 + i % count, ("allgather", i, gathered[i])
    got = (ctypes.c_double * count)()
    check(fns, "ncclGroupStart", fns["ncclGroupStart"]())
    check(fns, "ncclSend", fns["ncclSend"](send, count, FLOAT64, (rank + 1) % n, comm, None))
    check(fns, "ncclRecv", fns["ncclRecv"](got, count, FLOAT64, (rank + n - 1) % n, comm, None))
    check(fns, "ncclGroupEnd", fns["ncclGroupEnd"]())
    prev = (rank + n - 1) % n
    for i in range(count):
        assert got[i] == prev * 1000.0 + i, ("recv", i, got[i])
    win = ctypes.c_void_p()
    r = fns["ncclCommWindowRegister"](comm, send, 8 * count, ctypes.byref(win), 1)
    assert r == 5, ("window register should be ncclInvalidUsage", r)
    check(fns, "ncclCommDestroy", fns["ncclCommDestroy"](comm))


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    fns = bind(path)
    v = ctypes.c_int()
    check(fns, "ncclGetVersion", fns["ncclGetVersion"](ctypes.byref(v)))
    s = str(v.value)  # vLLM: major s[0], minor s[1:3], patch s[3:]
    assert (s[0], s[1:3], int(s[3:])) == ("2", "28", 9), s
    pipes, pids = [], []
    for rank in range(n):  # fork first, then make the id (its listener thread stays here)
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(wfd)
            raw = os.read(rfd, 128)
            uid = UniqueId()
            ctypes.memmove(ctypes.byref(uid), raw, 128)
            try:
                rank_main(fns, uid, rank, n)
            except BaseException as e:  # noqa: BLE001 - report and fail this rank
                print("rank %d: %r" % (rank, e), file=sys.stderr)
                os._exit(1)
            os._exit(0)
        os.close(rfd)
        pipes.append(wfd)
        pids.append(pid)
    uid = UniqueId()
    check(fns, "ncclGetUniqueId", fns["ncclGetUniqueId"](ctypes.byref(uid)))
    for wfd in pipes:
        os.write(wfd, bytes(uid.internal))
        os.close(wfd)
    bad = [pid for pid in pids if os.waitpid(pid, 0)[1] != 0]
    print("vllm_style: %d ranks %s" % (n, "FAILED" if bad else "ok"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
