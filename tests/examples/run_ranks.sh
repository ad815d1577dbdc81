#!/bin/sh
# SPDX-License-Identifier: MIT
# run_ranks.sh N EXPECT PROGRAM [ARGS...] — a job of N ranks started the way a
# launcher starts them (HALO_ROOT, HALO_RANK, HALO_NRANKS, HALO_SECRET), every rank a
# process of PROGRAM. Passes when every rank exits 0 and their output holds the line
# EXPECT (a fixed string; the example prints it once, from the rank that checked).
n=$1 expect=$2 prog=$3
shift 3
out=$(mktemp)
trap 'rm -f "$out" "$out".*' EXIT
port=$((20000 + $$ % 20000))
export HALO_ROOT=127.0.0.1:$port HALO_NRANKS=$n HALO_SECRET=example-test-$$
pids=""
r=1
while [ $r -lt "$n" ]; do
    HALO_RANK=$r "$prog" "$@" > "$out.$r" 2>&1 &
    pids="$pids $!"
    r=$((r + 1))
done
HALO_RANK=0 "$prog" "$@" > "$out.0" 2>&1
st=$?
for p in $pids; do
    wait "$p" || st=1
done
cat "$out".*
if [ $st -ne 0 ]; then
    echo "run_ranks: a rank of $(basename "$prog") exited non-zero"
    exit 1
fi
if ! cat "$out".* | grep -qxF "$expect"; then
    echo "run_ranks: no rank printed the line: $expect"
    exit 1
fi
echo "run_ranks: $n ranks of $(basename "$prog") passed"
