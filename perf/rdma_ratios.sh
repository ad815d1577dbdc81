#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# rdma_ratios.sh [BUILD_DIR] [ROUNDS] [SIZE] — haloccl over ib against perftest's
# ib_write_bw -R on Soft-RoCE (the rig's VM (a): one VM, rxe0 on a veth pair, two
# processes), ROUNDS alternating rounds (default 5) at SIZE bytes (default 4194304):
# test_ib_pair, sendrecv_bw, allreduce_bw, allgather_bw and broadcast_bw, also with
# registered buffers (-R 1) and through the slots (HALO_IB_ZCOPY_MIN=0). Prints each
# round's RESULT lines and the RATIO lines: best against best, and the median of the
# rounds' own ratios (the figure the targets are held to). The library's other checks
# are left out (RIG_BW_ONLY); the rig itself (tests/rdma-vm/run.sh) needs root, qemu
# and a kernel image: scripts/install-deps.sh --tests installs them. Takes about a
# minute per round on a quiet 2-core host, plus the boot. RATIOS_AB="VAR=VALUE ..."
# also runs send/recv and all-reduce with that setting in every round (tagged _ab)
# and prints their ratios to ib_write_bw and to the defaults: an A/B under one load.
set -u
BUILD=${1:-build}
ROUNDS=${2:-5}
SIZE=${3:-4194304}
here=$(cd "$(dirname "$0")" && pwd)
case "$ROUNDS:$SIZE" in
    *[!0-9:]*|:*|*:|0:*) echo "rdma_ratios.sh: ROUNDS and SIZE are positive whole numbers (bytes), not '$ROUNDS' and '$SIZE'" >&2
                         exit 2 ;;
esac
for f in "$BUILD/bin/test_ib_pair" "$BUILD/bin/sendrecv_bw"; do
    [ -x "$f" ] || { echo "rdma_ratios.sh: $f is missing: build with -DHALOCCL_BUILD_TESTS=ON first" >&2; exit 1; }
done
BUILD=$(cd "$BUILD" && pwd)
echo "# rdma_ratios: $ROUNDS rounds at $SIZE bytes, VM (a) of tests/rdma-vm, $(date -u +%FT%TZ)"
RIG_BW_ONLY=1 RIG_BW_AB="${RATIOS_AB:-}" RIG_BW_ROUNDS="$ROUNDS" RIG_ONE_TIMEOUT=$((300 + 150 * ROUNDS)) \
    "$here/../tests/rdma-vm/run.sh" --only one --bw "$SIZE" \
    --build "${HALO_RDMA_VM_BUILD:-/var/tmp/haloccl-rdma-vm}" \
    --pair-bin "$BUILD/bin/test_ib_pair" --bin-dir "$BUILD/bin" |
    grep -E 'RESULT|RATIO|FAIL|PASS|summary|\(a\)|rdma-vm:'
exit "${PIPESTATUS[0]}"
