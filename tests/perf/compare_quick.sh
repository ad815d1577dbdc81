#!/bin/sh
# SPDX-License-Identifier: MIT
# compare_quick.sh SRCDIR BINDIR OUTDIR — runs perf/compare.sh --quick into OUTDIR and
# checks what it wrote (check_compare.py). Exit 77 (skip) when a baseline or gnuplot
# is absent and everything present passed.
set -u
src=$1 bin=$2 out=$3
unset COMPARE_SIZES COMPARE_RANKS COMPARE_TRANSPORTS COMPARE_ROUNDS COMPARE_WARMUP
rm -rf "$out"
"$src/perf/compare.sh" --quick "$bin" "$out" || { echo "compare_quick: compare.sh failed (exit $?)"; exit 1; }
exec python3 "$(dirname "$0")/check_compare.py" "$out" "$bin"
