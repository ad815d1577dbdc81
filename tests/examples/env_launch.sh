#!/bin/sh
# SPDX-License-Identifier: MIT
# env_launch.sh TOOL ARGS... — two ranks started the way a launcher starts them
# (HALO_ROOT, HALO_RANK, HALO_NRANKS, HALO_SECRET; no -n): rank 1 in the background,
# rank 0 in the foreground. Passes when both exit 0.
tool=$1
shift
port=$((20000 + $$ % 20000))
export HALO_ROOT=127.0.0.1:$port HALO_NRANKS=2 HALO_SECRET=tp-transformer-test-$$
HALO_RANK=1 "$tool" "$@" > /dev/null &
pid1=$!
HALO_RANK=0 "$tool" "$@"
rc0=$?
wait $pid1
rc1=$?
echo "env_launch: rank 0 exited $rc0, rank 1 exited $rc1"
[ "$rc0" -eq 0 ] && [ "$rc1" -eq 0 ]
