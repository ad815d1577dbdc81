#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_compare_stat.py SRCDIR — perf/compare_report.py's choice among rounds, on
made-up runs: three rounds per library and size whose times differ per round, size
and library, so a report that kept the first, last, fastest or slowest round where it
should keep the median (or the median where --stat best asks for the fastest) fails.
Checks the kept row's time and busbw, the ratio, every round's time in the JSON, the
table's sentence, the most wrong elements any round saw, and that a bad --stat is
refused with exit 2. No timing is measured.
"""
import json
import os
import subprocess
import sys
import tempfile

SIZES = [16, 4096, 1 << 20]
# round -> library -> size -> us; per size the median round differs between libraries
TIMES = {
    1: {"haloccl": {16: 9.0, 4096: 30.0, 1 << 20: 500.0}, "mpi": {16: 12.0, 4096: 20.0, 1 << 20: 900.0}},
    2: {"haloccl": {16: 7.0, 4096: 50.0, 1 << 20: 450.0}, "mpi": {16: 30.0, 4096: 25.0, 1 << 20: 700.0}},
    3: {"haloccl": {16: 8.0, 4096: 10.0, 1 << 20: 800.0}, "mpi": {16: 11.0, 4096: 60.0, 1 << 20: 600.0}},
}


def write_raw(raw):
    os.makedirs(raw)
    for rnd, libs in TIMES.items():
        for lib, by_size in libs.items():
            with open(os.path.join(raw, "%s-2-shm-r%d.jsonl" % (lib, rnd)), "w") as f:
                f.write("# made up\n")
                for size, us in by_size.items():
                    algbw = size / us / 1e3
                    wrong = 3 if (lib, rnd, size) == ("mpi", 2, 16) else 0
                    f.write(json.dumps({"size": size, "iters": 10, "oop_time_us": us, "oop_algbw": algbw,
                                        "oop_busbw": algbw, "oop_wrong": wrong}) + "\n")


def report(src, out, stat):
    cmd = [sys.executable, os.path.join(src, "perf", "compare_report.py"), out, "--sizes", "made up"]
    if stat:
        cmd += ["--stat", stat]
    return subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PATH="/nonexistent"))


def main(src):
    fails = []

    def expect(cond, what):
        if not cond:
            fails.append(what)

    with tempfile.TemporaryDirectory() as out:
        write_raw(os.path.join(out, "raw"))
        for stat in (None, "median", "best"):
            res = report(src, out, stat)
            # exit 1: a made-up round has wrong elements, which the report must flag
            expect(res.returncode == 1 and "WRONG" in res.stderr,
                   "--stat %s: exit %d (want 1 for the wrong round): %s" % (stat, res.returncode, res.stderr))
            doc = json.load(open(os.path.join(out, "compare.json")))
            md = open(os.path.join(out, "compare.md")).read()
            pick = min if stat == "best" else (lambda xs: sorted(xs)[1])
            kept = {}
            for r in doc["rows"]:
                times = [TIMES[k][r["lib"]][r["size"]] for k in TIMES]
                want = pick(times)
                kept[(r["lib"], r["size"])] = want
                expect(r["time_us"] == want, "--stat %s: %s %d B kept %g us, want %g of %s"
                       % (stat, r["lib"], r["size"], r["time_us"], want, times))
                expect(abs(r["busbw"] - r["size"] / want / 1e3) < 1e-9,
                       "--stat %s: %s %d B busbw %g is not the kept round's" % (stat, r["lib"], r["size"], r["busbw"]))
                expect(sorted(r["time_us_rounds"]) == sorted(times) and r["rounds"] == 3,
                       "--stat %s: %s %d B rounds %s %s" % (stat, r["lib"], r["size"], r["rounds"], r["time_us_rounds"]))
                expect(r["wrong"] == (3 if (r["lib"], r["size"]) == ("mpi", 16) else 0),
                       "--stat %s: %s %d B wrong %s" % (stat, r["lib"], r["size"], r["wrong"]))
            expect(len(kept) == 2 * len(SIZES), "--stat %s: %d rows, want %d" % (stat, len(kept), 2 * len(SIZES)))
            ratios = [x for x in doc["ratios"] if x["other"] == "mpi"][0]["haloccl_time_over_other"]
            for s in SIZES:
                want = kept[("haloccl", s)] / kept[("mpi", s)]
                expect(abs(ratios[str(s)] - want) < 1e-9, "--stat %s: ratio at %d B %s, want %g"
                       % (stat, s, ratios[str(s)], want))
            word = "the fastest" if stat == "best" else "the median"
            expect("Each size: %s of 3 round(s)." % word in md, "--stat %s: compare.md does not say %s" % (stat, word))
        res = report(src, out, "mean")
        expect(res.returncode == 2 and "median or best" in res.stderr,
               "--stat mean: exit %d, %s (want 2 and the choices)" % (res.returncode, res.stderr.strip()))
    for f in fails:
        print("FAIL: " + f)
    if not fails:
        print("compare_report: median and best of three rounds kept as asked; a bad --stat refused")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
