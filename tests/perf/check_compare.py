#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_compare.py OUTDIR BINDIR — checks what `perf/compare.sh --quick` wrote:
compare.md has a table per (2 ranks, shm|tcp); compare.json parses and holds a row
for every size of the quick sweep for each library that can run here (haloccl always;
OpenMPI when mpi_allreduce_bw was built and mpirun exists, on shm and tcp; Gloo when
gloo_allreduce_bw was built, on tcp only); every absent library is listed as skipped
with a reason; no row has a wrong element; busbw = size / time x 2(n-1)/n; the ratio
is haloccl's time over the other's; the PNGs exist when gnuplot does.
Exit 0 all there and right, 1 something wrong, 77 right but a baseline or gnuplot
absent (the reasons are printed).
"""
import json
import os
import shutil
import sys

SIZES = [8 << (2 * k) for k in range(7)]  # --quick: -b 8 -e 32k -f 4
TRANSPORTS = ("shm", "tcp")


def main(outdir, bindir):
    fails, skips = [], []

    def expect(cond, what):
        if not cond:
            fails.append(what)
        return cond

    md = open(os.path.join(outdir, "compare.md")).read()
    for tp in TRANSPORTS:
        expect("## 2 ranks, %s" % tp in md, "compare.md has no table for 2 ranks, %s" % tp)
    doc = json.load(open(os.path.join(outdir, "compare.json")))
    rows = {}
    for r in doc["rows"]:
        rows.setdefault((r["lib"], r["transport"]), {})[r["size"]] = r
    skipped = {s["lib"]: s["reason"] for s in doc["skipped"]}

    have_mpi = os.access(os.path.join(bindir, "mpi_allreduce_bw"), os.X_OK) and shutil.which("mpirun")
    have_gloo = os.access(os.path.join(bindir, "gloo_allreduce_bw"), os.X_OK)
    want = {"haloccl": TRANSPORTS, "mpi": TRANSPORTS if have_mpi else (), "gloo": ("tcp",) if have_gloo else ()}
    for lib, tps in want.items():
        for tp in tps:
            got = sorted(rows.get((lib, tp), {}))
            expect(got == SIZES, "%s over %s: sizes %s, want %s" % (lib, tp, got, SIZES))
    expect(("gloo", "shm") not in rows, "Gloo has rows under shm, where it has no transport")
    if have_gloo:
        expect("gloo" in skipped and "shared-memory" in skipped["gloo"], "Gloo's shm table does not say why it is absent")
    for lib, label in (("mpi", "OpenMPI"), ("gloo", "Gloo"), ("torch", "NCCL/RCCL via PyTorch")):
        if not any(rows.get((lib, tp)) for tp in TRANSPORTS):
            if expect(skipped.get(lib), "%s has no rows and no reason" % label) and lib != "torch":
                skips.append("%s: %s" % (label, skipped[lib]))

    for (lib, tp), by_size in rows.items():
        for size, r in by_size.items():
            expect(r["nranks"] == 2, "%s %s %d: nranks %s" % (lib, tp, size, r["nranks"]))
            expect(r["wrong"] in (0, None), "%s %s %d B: %s wrong elements" % (lib, tp, size, r["wrong"]))
            want_bw = size / r["time_us"] / 1e3 * 2 * (2 - 1) / 2
            expect(abs(r["busbw"] - want_bw) <= 0.01 * want_bw + 1e-4,
                   "%s %s %d B: busbw %g, size/time x 2(n-1)/n gives %g" % (lib, tp, size, r["busbw"], want_bw))
    for q in doc["ratios"]:
        tp, other = q["transport"], q["other"]
        for size, got in q["haloccl_time_over_other"].items():
            h, o = rows[("haloccl", tp)].get(int(size)), rows[(other, tp)].get(int(size))
            if expect(h and o, "ratio for %s %s at %s B without both rows" % (other, tp, size)):
                expect(abs(got - h["time_us"] / o["time_us"]) <= 1e-9 * got,
                       "ratio haloccl/%s %s %s B: %g, rows give %g" % (other, tp, size, got,
                                                                        h["time_us"] / o["time_us"]))

    if shutil.which("gnuplot"):
        for tp in TRANSPORTS:
            png = os.path.join(outdir, "compare-2ranks-%s.png" % tp)
            ok = os.path.exists(png) and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
            expect(ok, "%s is missing or not a PNG" % png)
    else:
        skips.append("gnuplot not installed (apt install gnuplot-nox): plots not checked")

    for f in fails:
        print("check_compare: FAIL: %s" % f)
    if fails:
        return 1
    print("check_compare: %d rows checked in %s" % (len(doc["rows"]), outdir))
    if skips:
        print("SKIP: " + "; ".join(skips))
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
