#!/bin/sh
# SPDX-License-Identifier: MIT
# check_halo_info_nccl.sh HALO_INFO NCCL FAKE_DIR — `halo-info --nccl` names the
# library the loader picks and tells ours from another: ours under LD_PRELOAD (all
# names exported), "NOT haloccl" for the fake found on LD_LIBRARY_PATH.
set -eu
info=$1 nccl=$2 fakedir=$3
out=$(LD_PRELOAD="$nccl" "$info" --nccl)
echo "$out" | grep -q "$nccl" || { echo "halo-info --nccl does not name $nccl:"; echo "$out"; exit 1; } >&2
echo "$out" | grep -q "haloccl's NCCL drop-in" || { echo "ours not recognised:"; echo "$out"; exit 1; } >&2
echo "$out" | grep -Eq "exports ([0-9]+) of the \1 " || { echo "ours misses names:"; echo "$out"; exit 1; } >&2
out=$(env -u LD_PRELOAD LD_LIBRARY_PATH="$fakedir" "$info" --nccl)
echo "$out" | grep -q "$fakedir/libnccl.so.2" || { echo "the fake is not named:"; echo "$out"; exit 1; } >&2
echo "$out" | grep -q "NOT haloccl" || { echo "the fake passed for ours:"; echo "$out"; exit 1; } >&2
echo "check_halo_info_nccl: ours and a foreign libnccl told apart"
