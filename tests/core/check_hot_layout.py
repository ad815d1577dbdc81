#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_hot_layout.py LIB SRC_DIR: the functions marked HALO_HOT (src/base/hot.h)
lie side by side in the linked library.

Every definition marked in SRC_DIR is looked up in LIB's symbol table (nm -n). The
marked functions the compiler kept as functions (some are inlined away) must form
one run of symbols, with no unmarked function between the first and the last, and
span no more than their own sizes. Exit 77 (skip) when nm is missing or LIB has no
symbol table."""
import os
import re
import shutil
import subprocess
import sys

lib, src = sys.argv[1], sys.argv[2]
if not shutil.which("nm"):
    print("SKIP: nm (binutils) is not installed")
    sys.exit(77)

marked = set()
definition = re.compile(r"^(?:static |HALO_API )*HALO_HOT [^;(]*?\b(\w+)\(")
for root, _, files in os.walk(src):
    for f in files:
        if f.endswith(".c"):
            for line in open(os.path.join(root, f), encoding="utf-8"):
                m = definition.match(line)
                if m:
                    marked.add(m.group(1))
if len(marked) < 20:
    print(f"FAIL: found only {len(marked)} HALO_HOT definitions under {src}")
    sys.exit(1)

out = subprocess.run(["nm", "-n", "-S", "--defined-only", lib], capture_output=True, text=True)
if out.returncode != 0 or "no symbols" in out.stderr:
    print(f"SKIP: no symbol table in {lib}: {out.stderr.strip()}")
    sys.exit(77)
text = []  # (address, size, base name) of every function, by address
for line in out.stdout.splitlines():
    f = line.split()
    if len(f) == 4 and f[2] in "tT" and not f[3].endswith(".cold"):
        text.append((int(f[0], 16), int(f[1], 16), f[3].split(".")[0]))
where = [i for i, t in enumerate(text) if t[2] in marked]
if len(where) < 20:
    print(f"FAIL: only {len(where)} of the {len(marked)} marked functions are in {lib}'s symbol table")
    sys.exit(1)
first, last = where[0], where[-1]
strangers = [t[2] for t in text[first:last + 1] if t[2] not in marked]
span = text[last][0] + text[last][1] - text[first][0]
own = sum(text[i][1] for i in where)
print(f"{len(where)} marked functions in {lib}: {span} bytes from {text[first][2]} to {text[last][2]}, "
      f"{own} of them their own code")
if strangers:
    print(f"FAIL: unmarked functions among the marked ones: {', '.join(strangers[:10])}")
    sys.exit(1)
if span > own + 16 * len(where):  # alignment padding only
    print(f"FAIL: the marked functions span {span} bytes for {own} bytes of code")
    sys.exit(1)
print("hot layout: ok")
