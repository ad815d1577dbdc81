#!/bin/sh
# SPDX-License-Identifier: MIT
# torch_run.sh — starts NPROC python processes of one torch.distributed job on this
# host (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT set as torchrun
# does) with haloccl's libnccl.so.2 preloaded, for the GPU scripts in this folder.
#
# Usage: tests/gpu/torch_run.sh [-n NPROC] [-l LIB|-l none] SCRIPT [ARGS...]
#   LIB defaults to build/lib/haloccl/libnccl.so.2 beside this checkout;
#   "-l none" preloads nothing (gloo runs, or a script that loads the library
#   itself). Exit status: the first nonzero status of the ranks, else 0.
set -u
here=$(cd "$(dirname "$0")" && pwd)
nproc=2
lib="$here/../../build/lib/haloccl/libnccl.so.2"
while [ $# -gt 0 ]; do
  case "$1" in
    -n) nproc=$2; shift 2 ;;
    -l) lib=$2; shift 2 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "usage: $0 [-n NPROC] [-l LIB|none] SCRIPT [ARGS...]" >&2; exit 2; }
if [ "$lib" != none ]; then
  [ -f "$lib" ] || { echo "torch_run.sh: $lib not found (build first, or pass -l)" >&2; exit 2; }
  lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
fi
port=${MASTER_PORT:-$((20000 + $$ % 20000))}
pids=""
r=0
while [ $r -lt "$nproc" ]; do
  if [ "$lib" = none ]; then
    RANK=$r LOCAL_RANK=$r WORLD_SIZE=$nproc LOCAL_WORLD_SIZE=$nproc MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
      python3 "$@" &
  else
    LD_PRELOAD=$lib HALO_NCCL_LIB=$lib RANK=$r LOCAL_RANK=$r WORLD_SIZE=$nproc LOCAL_WORLD_SIZE=$nproc \
      MASTER_ADDR=127.0.0.1 MASTER_PORT=$port python3 "$@" &
  fi
  pids="$pids $!"
  r=$((r + 1))
done
rc=0
for p in $pids; do
  wait "$p"
  s=$?
  [ $rc -eq 0 ] && [ $s -ne 0 ] && rc=$s
done
exit $rc
