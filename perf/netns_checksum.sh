#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# netns_checksum.sh [BINDIR] [RATE_MBIT] [SIZE] [ROUNDS] — what HALO_CHECKSUM=1 (a
# CRC-32C in every frame) costs, in one run, alternating off and on each round:
#   cable     two emulated hosts (network namespaces) joined by one veth cable
#             shaped to RATE Mbit/s (default 1000): the cable is the limit
#   loopback  two local ranks over HALO_TRANSPORT=tcp on 127.0.0.1: the CPU is
# all-reduce of SIZE (default 64m), 2 ranks; prints every round and the best of
# each mode with on/off as a fraction. Needs root (for the namespaces).
set -u
BIN=${1:-build/bin}
RATE=${2:-1000}
SIZE=${3:-64m}
ROUNDS=${4:-3}
NETNS_PREFIX=nc$$
source "$(dirname "$0")/../tests/netns/netns.sh"
source "$(dirname "$0")/../tests/netns/jobs.sh"
PORT=29850

row() { awk '$1 ~ /^[0-9]+$/ && NF > 5 { print $6, $10; exit }' "$1"; } # out-of-place, in-place us

cluster_up pair >/dev/null || { echo "cluster_up pair failed"; exit 1; }
cable_rate h0 h1 "${RATE}mbit"
echo "# allreduce of $SIZE, 2 ranks; time per call in us, out of place / in place"
for ((r = 1; r <= ROUNDS; r++)); do
    for ck in 0 1; do
        job "cable$ck" 600 HALO_CHECKSUM=$ck -- "$BIN/allreduce_bw" -b "$SIZE" -e "$SIZE" -w 1 -i 3 -c 0 ||
            { echo "cable run failed:"; job_tail "cable$ck"; exit 1; }
        echo "cable $ck $(row "$WORK/cable$ck.0")" >>"$WORK/all"
        echo "cable ${RATE} Mbit/s  HALO_CHECKSUM=$ck  round $r: $(row "$WORK/cable$ck.0")"
        HALO_TRANSPORT=tcp HALO_CHECKSUM=$ck "$BIN/allreduce_bw" -n 2 -b "$SIZE" -e "$SIZE" -w 2 -i 10 -c 0 \
            >"$WORK/loop$ck" 2>&1 || { echo "loopback run failed:"; tail -5 "$WORK/loop$ck"; exit 1; }
        echo "loopback $ck $(row "$WORK/loop$ck")" >>"$WORK/all"
        echo "tcp loopback        HALO_CHECKSUM=$ck  round $r: $(row "$WORK/loop$ck")"
    done
done
# "MODE CK OUT IN" rows: the best (least) time of each mode and setting
awk '{ k = $1 " " $2; if (!(k in o) || $3 < o[k]) o[k] = $3; if (!(k in n) || $4 < n[k]) n[k] = $4 }
     END { split("cable loopback", m, " ")
           for (w = 1; w <= 2; w++)
               printf "%-8s best of rounds: off %.0f / %.0f us, on %.0f / %.0f us: on takes %.2f / %.2f x the time\n",
                      m[w], o[m[w] " 0"], n[m[w] " 0"], o[m[w] " 1"], n[m[w] " 1"],
                      o[m[w] " 1"] / o[m[w] " 0"], n[m[w] " 1"] / n[m[w] " 0"] }' "$WORK/all"
