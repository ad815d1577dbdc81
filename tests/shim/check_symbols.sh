#!/bin/sh
# SPDX-License-Identifier: MIT
# check_symbols.sh LIB SONAME NAMES — the drop-in LIB has SONAME, exports every
# name in NAMES as a function with its p-prefixed twin at the same address (the
# twin strong, the name weak, as NCCL does), exports RCCL's C++ ncclCommDump, has no
# symbol versions of its own, and exports nothing else (no halo* symbol leaks).
set -eu
lib=$1 soname=$2 names=$3
fail=0
syms=$(mktemp)
trap 'rm -f "$syms"' EXIT
nm -D --defined-only "$lib" >"$syms"

have=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ "$have" != "$soname" ]; then
    echo "check_symbols: $lib: SONAME is '$have', expected '$soname'" >&2
    fail=1
fi
total=0
for name in $(grep -v '^#' "$names"); do
    total=$((total + 1))
    line=$(awk -v n="$name" '$3 == n' "$syms")
    pline=$(awk -v n="p$name" '$3 == n' "$syms")
    if [ -z "$line" ] || [ -z "$pline" ]; then
        echo "check_symbols: $lib: $name or p$name is not exported" >&2
        fail=1
        continue
    fi
    set -- $line
    addr=$1 kind=$2
    set -- $pline
    if [ "$addr" != "$1" ] || [ "$kind" != W ] || [ "$2" != T ]; then
        echo "check_symbols: $lib: $name ($addr $kind) and p$name ($1 $2): expected one address, W and T" >&2
        fail=1
    fi
done
if ! grep -q ' T _Z12ncclCommDumpP8ncclCommRSt13unordered_map' "$syms"; then
    echo "check_symbols: $lib: the C++ ncclCommDump is not exported" >&2
    fail=1
fi
extra=$(awk '{print $3}' "$syms" | grep -Ev '^p?(nccl|msccl)[A-Za-z0-9]+$|^_Z12ncclCommDump' || true)
if [ -n "$extra" ]; then
    echo "check_symbols: $lib: exports names that are not NCCL's: $(echo $extra | head -c 300)" >&2
    fail=1
fi
if readelf -S "$lib" | grep -q 'gnu.version_d'; then
    echo "check_symbols: $lib: has symbol versions (NCCL's library has none)" >&2
    fail=1
fi
[ $fail -eq 0 ] && echo "check_symbols: $lib ($soname): $total names and their p twins, ncclCommDump, nothing else"
exit $fail
