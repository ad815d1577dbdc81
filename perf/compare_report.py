#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""compare_report.py OUTDIR [--sizes S] [--command C] [--stat median|best] — turns the
runs perf/compare.sh left in OUTDIR/raw/ into OUTDIR/compare.json, OUTDIR/compare.md
and, when gnuplot is installed, OUTDIR/compare-<N>ranks-<transport>.png.

raw/<lib>-<nranks>-<transport>-r<round>.jsonl: one allreduce_bw --json object per size
(the baselines print the same keys; only the out-of-place ones are read). Of several
rounds, each size keeps one row: with --stat median (the default) the round of the
median time (the lower of the two middle ones for an even count), with --stat best
the fastest; #wrong is the most any round saw, and the JSON keeps every round's time.
raw/skipped.tsv: lib, nranks, transport ("*" for all), reason — one line per skip.
Standard library only.
"""
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys

# Display order and names; the plot colours are fixed per library.
LIBS = [("haloccl", "haloccl", "#b2182b"), ("mpi", "OpenMPI", "#2166ac"), ("gloo", "Gloo", "#1b7837"),
        ("torch", "NCCL/RCCL (torch)", "#762a83")]
NAME = {k: name for k, name, _ in LIBS}
ORDER = [k for k, _, _ in LIBS]
TRANSPORT_ORDER = {"shm": 0, "tcp": 1}


def fmt_size(b):
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if b >= 1 << shift and b % (1 << shift) == 0:
            return "%d %s" % (b >> shift, unit)
    return "%d B" % b


def fmt_time(us):
    return "%.1f" % us if us < 1000 else "%.0f" % us


def load(outdir, stat):
    rounds, skipped = {}, []
    raw = os.path.join(outdir, "raw")
    for f in sorted(os.listdir(raw)):
        m = re.fullmatch(r"([a-z]+)-(\d+)-([a-z]+)-r(\d+)\.jsonl", f)
        if not m:
            continue
        lib, n, tp = m.group(1), int(m.group(2)), m.group(3)
        for line in open(os.path.join(raw, f)):
            if not line.startswith("{"):
                continue
            o = json.loads(line)
            row = {"lib": lib, "nranks": n, "transport": tp, "size": o["size"], "iters": o["iters"],
                   "time_us": o["oop_time_us"], "algbw": o["oop_algbw"], "busbw": o["oop_busbw"],
                   "wrong": o["oop_wrong"]}
            rounds.setdefault((lib, n, tp, o["size"]), []).append(row)
    rows = []
    for seen in rounds.values():
        seen.sort(key=lambda r: r["time_us"])
        row = dict(seen[0] if stat == "best" else seen[(len(seen) - 1) // 2])
        wrongs = [r["wrong"] for r in seen if r["wrong"] is not None]  # None: not checked
        row.update(rounds=len(seen), stat=stat, wrong=max(wrongs) if wrongs else None,
                   time_us_rounds=[r["time_us"] for r in seen])
        rows.append(row)
    sk = os.path.join(raw, "skipped.tsv")
    if os.path.exists(sk):
        for line in open(sk):
            lib, n, tp, reason = line.rstrip("\n").split("\t", 3)
            skipped.append({"lib": lib, "nranks": n, "transport": tp, "reason": reason})
    return rows, skipped


def tables(rows):
    """[(nranks, transport, sizes, {lib: {size: row}})] in display order."""
    by = {}
    for r in rows:
        by.setdefault((r["nranks"], r["transport"]), {}).setdefault(r["lib"], {})[r["size"]] = r
    out = []
    for (n, tp) in sorted(by, key=lambda k: (k[0], TRANSPORT_ORDER.get(k[1], 9), k[1])):
        libs = by[(n, tp)]
        sizes = sorted({s for lib in libs.values() for s in lib})
        out.append((n, tp, sizes, {k: libs[k] for k in ORDER if k in libs}))
    return out


def ratio(libs, other, size):
    h, o = libs.get("haloccl", {}).get(size), libs[other].get(size)
    return h["time_us"] / o["time_us"] if h and o and o["time_us"] > 0 else None


def write_json(path, meta, rows, skipped, tabs):
    doc = dict(meta)
    doc["libraries"] = sorted({r["lib"] for r in rows}, key=ORDER.index)
    doc["skipped"] = skipped
    doc["rows"] = rows
    doc["ratios"] = [{"nranks": n, "transport": tp, "other": other,
                      "haloccl_time_over_other": {str(s): ratio(libs, other, s) for s in sizes}}
                     for n, tp, sizes, libs in tabs for other in libs if other != "haloccl"]
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def md_table(n, tp, sizes, libs, skipped):
    others = [k for k in libs if k != "haloccl"]
    head = ["size"]
    for k in libs:
        head += ["%s µs" % NAME[k], "%s GB/s" % NAME[k]]
    head += ["haloccl / %s" % NAME[k] for k in others if "haloccl" in libs]
    rounds = max(r["rounds"] for lib in libs.values() for r in lib.values())
    how = "the fastest" if any(r["stat"] == "best" for lib in libs.values() for r in lib.values()) else "the median"
    lines = ["## %d ranks, %s" % (n, tp), "", "Each size: %s of %d round(s)." % (how, rounds), "",
             "| " + " | ".join(head) + " |",
             "|" + "|".join("---:" for _ in head) + "|"]
    slower = {k: [] for k in others}
    for s in sizes:
        cells = [fmt_size(s)]
        for k in libs:
            r = libs[k].get(s)
            flag = " (%s wrong)" % r["wrong"] if r and r["wrong"] else ""
            cells += [fmt_time(r["time_us"]) + flag, "%.3f" % r["busbw"]] if r else ["–", "–"]
        if "haloccl" in libs:
            for k in others:
                q = ratio(libs, k, s)
                if q is None:
                    cells.append("–")
                elif q > 1:
                    slower[k].append(fmt_size(s))
                    cells.append("**%.2f**" % q)
                else:
                    cells.append("%.2f" % q)
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for k in others:
        if "haloccl" not in libs:
            break
        if slower[k]:
            lines.append("- haloccl slower than %s at %d of %d sizes: %s." % (NAME[k], len(slower[k]), len(sizes),
                                                                            ", ".join(slower[k])))
        else:
            lines.append("- haloccl at least as fast as %s at every size." % NAME[k])
    for s in skipped:
        if s["lib"] not in libs and s["nranks"] == str(n) and s["transport"] == tp:
            lines.append("- %s: not run (%s)." % (NAME.get(s["lib"], s["lib"]), s["reason"]))
    lines.append("")
    return lines


def write_md(path, meta, tabs, skipped):
    lines = ["# haloccl beside other collective libraries", "",
             "Allreduce, float32 sum, out of place (torch: in place); every library measured the same way:",
             "warm-up calls, a barrier, back-to-back timed calls; **time** = the mean of one call on each rank,",
             "then the maximum over ranks (µs); **GB/s** = busbw = size / time × 2(n−1)/n (nccl-tests'",
             "definition); **haloccl / X** = haloccl's time over X's at the same size: below 1 haloccl is",
             "faster, **bold** where it is slower. Ratios within this one run are what count; absolute",
             "numbers move with the machine's load.", "",
             "Host `%s`, %d CPUs, Linux %s, %s. Command: `%s` (sizes: `%s`). Load average when the report "
             "was written (1, 5, 15 min): %s — other work on the machine shares its CPUs with the ranks." %
             (meta["host"], meta["cpus"], meta["kernel"], meta["generated"], meta["command"], meta["sizes"],
              meta["loadavg"]), ""]
    for n, tp, sizes, libs in tabs:
        lines += md_table(n, tp, sizes, libs, skipped)
    limits = os.path.join(os.path.dirname(path), "raw", "limits.txt")
    if os.path.exists(limits):
        lines += ["## Raw limits of loopback tcp, same session", "", "```"] + open(limits).read().splitlines() + \
                 ["```", ""]
    everywhere = [s for s in skipped if s["nranks"] == "*"]
    if everywhere:
        lines += ["## Not run", ""] + ["- %s: %s." % (NAME.get(s["lib"], s["lib"]), s["reason"]) for s in everywhere]
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def size_tics(sizes):
    """gnuplot xtics at powers of two, at most ~10 labels."""
    lo, hi = min(sizes).bit_length() - 1, max(sizes).bit_length() - 1
    step = max(1, (hi - lo + 9) // 10)
    tics = []
    for k in range(lo, hi + 1, step):
        label = fmt_size(1 << k).replace(" ", "").replace("iB", "").replace("B", "")
        tics.append('"%s" %d' % (label, 1 << k))
    return ", ".join(tics)


def plot(outdir, tabs):
    """One PNG per (ranks, transport): latency and busbw against size. Returns the
    PNG paths, or None when gnuplot is missing."""
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        return None
    color = {k: c for k, _, c in LIBS}
    pngs = []
    for n, tp, sizes, libs in tabs:
        stem = "compare-%dranks-%s" % (n, tp)
        for k, rows in libs.items():
            with open(os.path.join(outdir, "raw", "%s-%d-%s.dat" % (k, n, tp)), "w") as f:
                for s in sorted(rows):
                    f.write("%d %.3f %.4f\n" % (s, rows[s]["time_us"], rows[s]["busbw"]))

        def series(col):
            return ", ".join("'raw/%s-%d-%s.dat' using 1:%d with linespoints lw 2 pt 7 ps 0.6 lc rgb '%s' title '%s'"
                             % (k, n, tp, col, color[k], NAME[k]) for k in libs)
        gp = ['if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) { set terminal pngcairo size 1000,400 font ",9" } '
              'else { set terminal png size 1000,400 }',
              "set output '%s.png'" % stem,
              "set multiplot layout 1,2 title 'allreduce float32, %d ranks, %s (one host)'" % (n, tp),
              "set logscale x 2", "set xrange [%g:%g]" % (min(sizes) / 1.4, max(sizes) * 1.4),
              "set xtics (%s)" % size_tics(sizes), "set grid", "set key below horizontal",
              "set xlabel 'message size (bytes)' offset 0,0.5", "set bmargin 5",
              "set logscale y 10", "set ylabel 'time per call (µs)'", "set title 'latency (lower is better)'",
              "plot " + series(2),
              "unset logscale y", "set yrange [0:*]", "set ylabel 'busbw (GB/s)'",
              "set title 'bus bandwidth (higher is better)'", "plot " + series(3),
              "unset multiplot"]
        script = os.path.join(outdir, "raw", stem + ".gp")
        with open(script, "w") as f:
            f.write("\n".join(gp) + "\n")
        r = subprocess.run([gnuplot, os.path.abspath(script)], cwd=outdir, capture_output=True, text=True)
        if r.returncode != 0:
            print("compare_report: gnuplot failed on %s: %s" % (script, r.stderr.strip()), file=sys.stderr)
            continue
        pngs.append(os.path.join(outdir, stem + ".png"))
    return pngs


def loadavg():
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "unknown"


def main(argv):
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    outdir = argv[0]
    opt = dict(zip(argv[1::2], argv[2::2]))
    stat = opt.get("--stat", "median")
    if stat not in ("median", "best"):
        print("compare_report: --stat takes median or best, not %s" % stat, file=sys.stderr)
        return 2
    rows, skipped = load(outdir, stat)
    if not rows:
        print("compare_report: no results in %s/raw" % outdir, file=sys.stderr)
        return 1
    meta = {"generated": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "host": platform.node(), "cpus": os.cpu_count(), "kernel": platform.release(),
            "command": opt.get("--command", "perf/compare.sh"), "sizes": opt.get("--sizes", ""),
            "loadavg": loadavg(), "stat": stat,
            "time": "mean time of one call on each rank, maximum over ranks, microseconds",
            "busbw": "size / time x 2(n-1)/n, GB/s (nccl-tests' allreduce bus bandwidth)"}
    tabs = tables(rows)
    write_json(os.path.join(outdir, "compare.json"), meta, rows, skipped, tabs)
    write_md(os.path.join(outdir, "compare.md"), meta, tabs, skipped)
    pngs = plot(outdir, tabs)
    print("compare: wrote %s/compare.md, %s/compare.json" % (outdir, outdir))
    if pngs is None:
        print("compare: gnuplot not found (apt install gnuplot-nox): no plots")
    else:
        for p in pngs:
            print("compare: wrote %s" % p)
    bad = [r for r in rows if r["wrong"]]
    if bad:
        print("compare: WRONG results in %d rows (see compare.md)" % len(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
