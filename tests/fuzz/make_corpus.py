#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make_corpus.py — writes the seed inputs of tests/fuzz/corpus/<target>/ (valid
messages of each parser, and edge cases). Deterministic: run it again after a wire
format changes and commit the result. Regression inputs (crash-*, regress-*) found
by fuzzing are kept beside the seeds and never rewritten here."""
import hashlib
import hmac
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = 100  # HALO_VERSION_CODE of 0.1.x
written = 0


def seed(target, name, data):
    global written
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(bytes(data))
    written += 1


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def u64(v):
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


# ---- unique id: struct halo_uid (src/core/bootstrap.h) ----
def uid(magic=0x48414C4F, version=VERSION, job=0x1122334455667788, secret=bytes(range(32)), auth=1,
        family=2, port=29500, addr=bytes([10, 0, 0, 1]) + bytes(12), scope=0):
    return (u32(magic) + u32(version) + u64(job) + secret + bytes([auth]) + bytes(7) +
            struct.pack("<HH", family, ((port & 0xFF) << 8) | (port >> 8)) + u32(scope) + addr).ljust(128, b"\0")


seed("uid", "v4", uid())
seed("uid", "v6", uid(family=10, addr=bytes([0xfd] + [0] * 14 + [2])))
seed("uid", "v6-scoped", uid(family=10, addr=bytes([0xfe, 0x80] + [0] * 13 + [7]), scope=3))
seed("uid", "unauthenticated", uid(auth=0, secret=bytes(32)))
seed("uid", "bad-magic", uid(magic=0x4F4C4148))
seed("uid", "other-version", uid(version=20000))
seed("uid", "port-zero", uid(port=0))
seed("uid", "auth-flag-2", uid(auth=2))
seed("uid", "family-unix", uid(family=1))
seed("uid", "short", uid()[:20])
seed("uid", "zeros", bytes(128))

# ---- auth (src/base/auth.c); the target's key, server nonce and context ----
KEY = bytes(range(1, 33))
NONCE_S = bytes(0x40 + i for i in range(32))


def ctx_of(clen):
    c = b"c" * clen
    return b"boot:" + c[5:] if clen >= 5 else c


def proof(clen, nonce_c=bytes(range(100, 132)), good=True):
    mac = hmac.new(KEY, b"C" + ctx_of(clen) + b"\0" + NONCE_S + nonce_c, hashlib.sha256).digest()
    if not good:
        mac = bytes([mac[0] ^ 1]) + mac[1:]
    return u32(0x48415554) + u32(1) + nonce_c + mac


seed("auth", "proof-valid", bytes([0, 21]) + proof(21))
seed("auth", "proof-valid-empty-ctx", bytes([0, 0]) + proof(0))
seed("auth", "proof-valid-ctx-200", bytes([0, 200]) + proof(200))
seed("auth", "proof-ctx-too-long", bytes([0, 201]) + proof(201))
seed("auth", "proof-wrong-mac", bytes([0, 21]) + proof(21, good=False))
seed("auth", "proof-bad-version", bytes([0, 21]) + u32(0x48415554) + u32(2) + bytes(64))
seed("auth", "proof-short", bytes([0, 21]) + u32(0x48415554))
hello = u32(0x48415554) + u32(1) + bytes(range(32))
seed("auth", "client-verdict-ok", bytes([1, 21]) + hello + u32(0x48415554) + u32(1) + bytes(32))
seed("auth", "client-verdict-no", bytes([1, 21]) + hello + u32(0x48415554) + u32(0) + bytes(32))
seed("auth", "client-verdict-2", bytes([1, 21]) + hello + u32(0x48415554) + u32(2) + bytes(32))
seed("auth", "client-bad-hello", bytes([1, 21]) + u32(0) + u32(1) + bytes(32))
seed("auth", "client-hello-only", bytes([1, 21]) + hello)
seed("auth", "server-proof", bytes([2, 21]) + proof(21))
seed("auth", "server-garbage", bytes([2, 21]) + bytes([0xA5]) * 72)

# ---- bootstrap frames (src/core/bootstrap_wire.h) ----
JOIN, WELCOME, ALLGATHER, RESULT, ABORT, ERROR, CLOSE, NOTE = 1, 2, 3, 4, 5, 6, 7, 8


def frame(t, payload=b"", length=None):
    return u32(t) + u32(len(payload) if length is None else length) + payload


def note(rank, state, peer, opseq=0):
    return frame(NOTE, u32(rank) + u32(state) + u32(peer) + u32(opseq))


def result(seq, nranks, block):
    data = bytes((r * 16 + i) & 0xFF for r in range(nranks) for i in range(block))
    return frame(RESULT, u32(seq) + u32(block) + data)


# rank side: byte 0 = nranks-1 | rank << 3, byte 1 = block size; then the root's stream.
def rank_hdr(rank, nranks, block):
    return bytes([(nranks - 1) | (rank << 3), block])


seed("boot_rank", "welcome", rank_hdr(0, 2, 4) + frame(WELCOME))
seed("boot_rank", "three-allgathers", rank_hdr(1, 3, 5) + frame(WELCOME) +
     b"".join(result(k, 3, 5) for k in range(3)))
seed("boot_rank", "notes-between", rank_hdr(0, 4, 8) + note(1, 1, 2) + frame(WELCOME) + note(3, 2, 0) +
     result(0, 4, 8) + note(2, 0, -1) + result(1, 4, 8) + result(2, 4, 8) + note(1, 1, 3))
seed("boot_rank", "barrier", rank_hdr(0, 2, 0) + frame(WELCOME) + result(0, 2, 0) + result(1, 2, 0) +
     result(2, 2, 0))
seed("boot_rank", "error-on-join", rank_hdr(0, 2, 4) + frame(ERROR, u32(5) + b"rank 0 of nranks 2: refused"))
seed("boot_rank", "abort-with-code", rank_hdr(1, 2, 4) + frame(WELCOME) +
     frame(ABORT, b"rank 0 (nodeA) aborted: 4|the user called haloCommAbort"))
seed("boot_rank", "abort-bar-only", rank_hdr(1, 2, 4) + frame(WELCOME) + frame(ABORT, b"|"))
seed("boot_rank", "abort-digits-bar", rank_hdr(1, 2, 4) + frame(WELCOME) + frame(ABORT, b"123|x 7|y"))
seed("boot_rank", "error-after-result", rank_hdr(0, 2, 2) + frame(WELCOME) + result(0, 2, 2) +
     frame(ERROR, u32(99) + b"bad code"))
seed("boot_rank", "wrong-seq", rank_hdr(0, 2, 2) + frame(WELCOME) + result(5, 2, 2))
seed("boot_rank", "huge-length", rank_hdr(0, 2, 2) + frame(WELCOME) + frame(RESULT, b"", 0xFFFFFFFF))
seed("boot_rank", "long-abort", rank_hdr(0, 2, 2) + frame(WELCOME) + frame(ABORT, b"x" * 1100))
seed("boot_rank", "welcome-with-payload", rank_hdr(0, 2, 2) + frame(WELCOME, b"hi"))
seed("boot_rank", "note-bad-rank", rank_hdr(0, 2, 2) + note(0xFFFFFFFF, 1, 1) + frame(WELCOME))


# root side: byte 0 = connections-1; then chunks {connection, n, bytes}, split at 255.
def chunks(conn, data):
    out = b""
    for i in range(0, len(data), 255):
        part = data[i:i + 255]
        out += bytes([conn, len(part)]) + part
    return out or bytes([conn, 0])


def join(rank, nranks, version=VERSION, host=b"node"):
    return frame(JOIN, u32(rank) + u32(nranks) + u32(version) + host.ljust(64, b"\0")[:64])


def allgather(seq, block):
    return frame(ALLGATHER, u32(seq) + u32(len(block)) + block)


seed("boot_root", "join-two", bytes([1]) + chunks(0, join(0, 2)) + chunks(1, join(1, 2)))
seed("boot_root", "allgather-two", bytes([1]) + chunks(0, join(0, 2, host=b"a")) + chunks(1, join(1, 2, host=b"b")) +
     chunks(0, allgather(0, b"AAAA")) + chunks(1, allgather(0, b"BBBB")) +
     chunks(1, allgather(1, b"")) + chunks(0, allgather(1, b"")) +
     chunks(0, frame(CLOSE)) + chunks(1, frame(CLOSE)))
seed("boot_root", "three-notes-abort", bytes([2]) + chunks(0, join(0, 3)) + chunks(1, join(1, 3)) +
     chunks(2, join(2, 3)) + chunks(1, frame(NOTE, u32(0) + u32(1) + u32(2) + u32(7))) +
     chunks(2, frame(ABORT, b"5|rank 2 gave up")))
seed("boot_root", "abort-no-code", bytes([1]) + chunks(0, join(0, 2)) + chunks(1, join(1, 2)) +
     chunks(0, frame(ABORT, b"plain text")))
seed("boot_root", "duplicate-rank", bytes([1]) + chunks(0, join(0, 2)) + chunks(1, join(0, 2)))
seed("boot_root", "nranks-differ", bytes([2]) + chunks(0, join(0, 3)) + chunks(1, join(1, 2)))
seed("boot_root", "old-version", bytes([0]) + chunks(0, join(0, 1, version=10000)))
seed("boot_root", "rank-out-of-range", bytes([0]) + chunks(0, join(5, 2)))
seed("boot_root", "size-mismatch", bytes([1]) + chunks(0, join(0, 2)) + chunks(1, join(1, 2)) +
     chunks(0, allgather(0, b"12")) + chunks(1, allgather(0, b"123")))
seed("boot_root", "seq-broken", bytes([0]) + chunks(0, join(0, 1)) + chunks(0, allgather(3, b"x")))
seed("boot_root", "after-close", bytes([1]) + chunks(0, join(0, 2)) + chunks(1, join(1, 2)) +
     chunks(0, frame(CLOSE)) + chunks(1, allgather(0, b"z")))
seed("boot_root", "huge-allgather", bytes([0]) + chunks(0, join(0, 1)) + chunks(0, frame(ALLGATHER, b"", 0xFFFFFFF0)))
seed("boot_root", "block-len-disagrees", bytes([0]) + chunks(0, join(0, 1)) +
     chunks(0, u32(ALLGATHER) + u32(12) + u32(0) + u32(9) + b"abcd"))
seed("boot_root", "frame-before-join", bytes([0]) + chunks(0, frame(ALLGATHER, u32(0) + u32(0))))
seed("boot_root", "one-byte-at-a-time", bytes([0]) + b"".join(bytes([0, 1, b]) for b in join(0, 1) + allgather(0, b"q")))

# ---- tcp frames (src/transport/tcp_conn.c): byte 0 = slot size index, byte 1 = slots ----
def tcp_frame(payload, kind=1, magic=0x50435448, length=None, opseq=1):
    sig = u64(len(payload)) + u32(opseq) + u32(0xC0FFEE) + struct.pack("<i", -1) + bytes([1, 7, 0, 2]) + bytes(8)
    return u32(magic) + u32(kind) + u64(len(payload) if length is None else length) + sig + bytes(16) + payload


seed("tcp_frame", "three-small", bytes([1, 3]) + tcp_frame(b"a" * 10) + tcp_frame(b"") + tcp_frame(b"b" * 64))
seed("tcp_frame", "more-than-slots", bytes([1, 0]) + b"".join(tcp_frame(bytes([i]) * 20, opseq=i) for i in range(6)))
seed("tcp_frame", "slot-1", bytes([0, 1]) + tcp_frame(b"x") + tcp_frame(b""))
seed("tcp_frame", "large-slot", bytes([3, 1]) + tcp_frame(b"L" * 2000) + tcp_frame(b"", length=20000))
seed("tcp_frame", "too-long", bytes([1, 1]) + tcp_frame(b"a" * 65))
seed("tcp_frame", "bad-magic", bytes([2, 1]) + tcp_frame(b"ok") + tcp_frame(b"x", magic=0x48544350))
seed("tcp_frame", "abort-kind", bytes([2, 1]) + tcp_frame(b"bye", kind=2))
seed("tcp_frame", "truncated", bytes([2, 2]) + tcp_frame(b"z" * 100)[:120])
seed("tcp_frame", "length-2-63", bytes([2, 2]) + tcp_frame(b"", length=1 << 63))
seed("tcp_frame", "empty", bytes([1, 1]))

# ---- ib (src/transport/ib_handshake.c, ib_conn.c, ib_zc.c) ----
# mode byte: bit 7 = data path; else bit 0 = a job secret, (byte >> 1) % 3 = REQ, REP, REJ.
def ib_wire(kind, frm, to, channel=0, slot=4096, nslots=8, reason=0, addr=0x7F0000001000, rkey=0x1234,
            magic=0x42494C48, version=2):
    return (u32(magic) + bytes([version, kind]) + struct.pack("<H", channel) + struct.pack("<ii", frm, to) +
            u32(slot) + struct.pack("<HH", nslots, reason) + u64(addr) + u32(rkey) + bytes([0x77]) * 16 + u32(0))


seed("ib", "req-valid", bytes([0]) + ib_wire(1, 2, 1))
seed("ib", "req-valid-channel-1", bytes([0]) + ib_wire(1, 2, 1, channel=1))
seed("ib", "req-with-secret", bytes([1]) + ib_wire(1, 3, 1))
seed("ib", "req-not-expected", bytes([0]) + ib_wire(1, 3, 1, channel=1))
seed("ib", "req-from-lower", bytes([0]) + ib_wire(1, 0, 1))
seed("ib", "req-other-config", bytes([0]) + ib_wire(1, 2, 1, slot=8192))
seed("ib", "req-channel-65535", bytes([0]) + ib_wire(1, 2, 1, channel=65535))
seed("ib", "req-short", bytes([0]) + ib_wire(1, 2, 1)[:30])
seed("ib", "rep-valid", bytes([2]) + ib_wire(2, 0, 1, channel=1) + bytes(range(16)))
seed("ib", "rep-wrong-channel", bytes([2]) + ib_wire(2, 0, 1, channel=0) + bytes(16))
seed("ib", "rep-with-secret", bytes([3]) + ib_wire(2, 0, 1, channel=1) + bytes(16))
seed("ib", "rep-short", bytes([2]) + ib_wire(2, 0, 1, channel=1))
for r in range(0, 7):
    seed("ib", "rej-reason-%d" % r, bytes([4]) + ib_wire(3, 0, 1, reason=r))
seed("ib", "rej-cm-own", bytes([4]) + b"\0" * 10)


def ib_hdr(seq, length, kind=1):
    return u32(0x46424C48) + u32(kind) + u32(seq) + u32(length) + bytes(32) + bytes(16)


def ib_imm(kind, v):
    return u32((kind << 29) | (v & 0x1FFFFFFF))


# data path, slot 64 bytes (byte 1 = 12), 4 slots (byte 0 = 0x86): stride 128, grants at 576.
DP = bytes([0x86, 12])
seed("ib", "dp-frames", DP + bytes([4, 10, 2, 4, 0, 4, 64, 2, 2, 4, 5, 4, 6, 2, 2, 2]))
seed("ib", "dp-frames-wrap", DP + bytes([4, 1, 2] * 9))
seed("ib", "dp-written-frame", DP + bytes([0, 0, 0, 64]) + ib_hdr(0, 8) + bytes(48) + bytes([1]) + u32(0) + bytes([2]))
seed("ib", "dp-abort-frame", DP + bytes([0, 0, 0, 64 + 20]) + ib_hdr(0, 20, kind=2) + b"the peer gave up...." +
     bytes([1]) + u32(0) + bytes([2]))
seed("ib", "dp-grant", DP + bytes([0, 576 & 0xFF, 576 >> 8, 64]) + u64(0x1000) + u64(4096) + u32(7) + u32(0) +
     bytes(32) + u64(0) + bytes([1]) + u32(2 << 29) + bytes([3, 3]))
seed("ib", "dp-bad-imm", DP + bytes([1, 0xFF, 0xFF, 0xFF, 0xFF, 2]))
seed("ib", "dp-recv-opcode", DP + bytes([0x81, 0, 0, 0, 0, 2]))
seed("ib", "dp-corrupt-header", DP + bytes([4, 3, 0, 0, 0, 4, 0xFF, 0xFF, 0xFF, 0xFF, 2]))

# ---- parameters (src/base/params.def): records {row byte, value} joined by newlines ----
def param_rows():
    rows = []
    with open(os.path.join(HERE, "..", "..", "src", "base", "params.def")) as f:
        for line in f:
            if line.startswith("HALO_PARAM("):
                parts = [x.strip().strip('"') for x in line[len("HALO_PARAM("):].split(",")]
                rows.append((parts[0], parts[5]))
    return rows


ROWS = param_rows()
NROWS = len(ROWS)


def row_byte(name, nccl=False):
    """The record byte the target maps to row `name` (HALO_TOPO / HALO_TOPO_ORDER: the two after the table)."""
    idx = NROWS if name == "TOPO" else NROWS + 1 if name == "TOPO_ORDER" else [r[0] for r in ROWS].index(name)
    for b in range(1, 256):
        if b % (NROWS + 2) == idx and b != 10 and bool(b & 0x80) == nccl:
            return b
    raise ValueError(name)


def params(*recs):
    return b"\n".join(bytes([row_byte(n, nccl)]) + v for n, v, nccl in recs)


seed("param", "transport-ib", params(("TRANSPORT", b"ib", False)))
seed("param", "nccl-net-socket", params(("NET", b"Socket", True), ("IB_DISABLE", b"1", True)))
seed("param", "sizes", params(("BUFFSIZE", b"4m", False), ("CHUNK_SIZE", b"512k", False)))
seed("param", "size-overflow", params(("BUFFSIZE", b"9999999999999999g", False)))
seed("param", "timeout", params(("TIMEOUT_MS", b"30s", False)))
seed("param", "timeout-units", params(("TIMEOUT_MS", b"1500us", False)))
seed("param", "bad-enum", params(("TRANSPORT", b"infiniband", False)))
seed("param", "auto-everywhere", params(("NCHANNELS", b"auto", False), ("RAILS", b"AUTO", False)))
seed("param", "negative", params(("NCHANNELS", b"-3", False)))
seed("param", "hca-list", params(("IB_HCA", b"^=mlx5_0:1,rxe0:2,irdma", False)))
seed("param", "ifname-list", params(("SOCKET_IFNAME", b"^=eth0,enp", False)))
seed("param", "root-v4", params(("ROOT", b"10.0.0.1:29500", False)))
seed("param", "root-v6", params(("ROOT", b"[fd00::1]:29500", False)))
seed("param", "root-port-too-big", params(("ROOT", b"127.0.0.1:65536", False)))
seed("param", "topo", params(("TOPO", b"ring", False), ("TOPO_ORDER", b"nodeB,nodeA,nodeC", False)))
seed("param", "topo-bad", params(("TOPO", b"torus", False)))
seed("param", "bools", params(("IB_DISABLE", b"yes", False), ("SPIN", b"off", False)))
seed("param", "many", params(*[(r[0], b"1", False) for r in ROWS[2:10]]))

# ---- tune: HALO_TUNE_FILE text (src/topology/tune.c)
TUNE_HEAD = b"format = halo-tune 1\n"
TUNE_LINK = b"alpha_us=51.2 overhead_us=2.8 MBps_1ch=23.8 MBps_2ch=23.7 MBps_4ch=23.5"
seed("tune", "one-host", TUNE_HEAD + b"hosts = vm\ntransport = shm\nreduce_MBps = 7800\n"
     b"link = vm/r0 vm/r1 " + TUNE_LINK + b"\nlink = vm/r1 vm/r2 " + TUNE_LINK + b"\n")
seed("tune", "ring4", b"# comment\n" + TUNE_HEAD + b"hosts = h0 h1 h2 h3\ntransport = links\nreduce_MBps = 1e4\n" +
     b"".join(b"link = h%d/10.10.%d.1 h%d/10.10.%d.2 " % (i, i + 1, (i + 1) % 4, i + 1) + TUNE_LINK + b"\n"
              for i in range(4)))
seed("tune", "rails-crlf", TUNE_HEAD.replace(b"\n", b"\r\n") + b"hosts = a b\r\ntransport = links\r\n"
     b"reduce_MBps = 0.001\r\nlink = a/10.0.1.1+10.0.2.1 b/10.0.1.2+10.0.2.2 " + TUNE_LINK + b"\r\n")
seed("tune", "edges", TUNE_HEAD + b"hosts = x\ntransport = tcp\nreduce_MBps = 10000000\n"
     b"link = x/r0 x/r1 alpha_us=0.001 overhead_us=0 MBps_1ch=0.001 MBps_2ch=1e7 MBps_4ch=0x10\n")
seed("tune", "bad-number", TUNE_HEAD + b"hosts = x\ntransport = tcp\nreduce_MBps = 1e400\n")
seed("tune", "truncated", (TUNE_HEAD + b"hosts = vm\ntransport = shm\nreduce_MBps = 7800\nlink = vm/r0 vm/r1 " +
                           TUNE_LINK)[:-7])

if __name__ == "__main__":
    print(f"make_corpus: {written} seed files under {os.path.join(HERE, 'corpus')}", file=sys.stderr)
