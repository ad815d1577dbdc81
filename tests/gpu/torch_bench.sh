#!/bin/sh
# SPDX-License-Identifier: MIT
# torch_bench.sh — torch_bench.py with haloccl's libnccl.so.2 (backend nccl) and with
# gloo on the same GPU tensors, then both side by side.
# Usage: torch_bench.sh [NPROC [LIB]]   (LIB: haloccl's libnccl.so.2, default: torch_run.sh's)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-2}
if [ $# -ge 2 ]; then set -- -l "$2"; else set --; fi # torch_run.sh's own default without LIB
tmp=$(mktemp -d)
MASTER_PORT=$((21000 + $$ % 10000)) "$here/torch_run.sh" -n "$n" "$@" "$here/torch_bench.py" nccl --out "$tmp/haloccl"
MASTER_PORT=$((31000 + $$ % 10000)) "$here/torch_run.sh" -n "$n" -l none "$here/torch_bench.py" gloo --out "$tmp/gloo"
python3 "$here/torch_bench.py" --table "$tmp/haloccl" "$tmp/gloo"
rm -rf "$tmp"
