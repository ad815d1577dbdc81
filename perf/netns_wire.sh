#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# netns_wire.sh [BINDIR] [RATE_MBIT] [SIZE] — what the compressed wire formats
# (HALO_WIRE) buy on slow cables: 4 emulated hosts, one rank each, every cable
# rate-limited to RATE (tc tbf, default 200 Mbit/s), a float32 all-reduce of SIZE
# (default 16m) on the chain (HALO_ALGO=chain) and on the ring (ring_bidir), once
# per format; prints each format's time and its ratio to float32 on the same
# cables. Wire bytes per value: 4 (off), 2 (bf16), 1.0625 (fp8, q8). Needs root.
set -u
BIN=${1:-build/bin}
RATE=${2:-200}
SIZE=${3:-16m}
NETNS_PREFIX=nw$$
source "$(dirname "$0")/../tests/netns/netns.sh"
trap cluster_down EXIT
NETNS_JOB_PORT=29800

job() { netns_job "$@"; }

echo "# netns_wire: 4 hosts, cables shaped to ${RATE} Mbit/s each way, float32 sum allreduce of $SIZE"
for spec in chain4:chain ring4:ring_bidir; do
    topo=${spec%%:*} algo=${spec#*:}
    cluster_up "$topo" >/dev/null
    rate_limit "${RATE}mbit"
    base=""
    for wire in off bf16 fp8 q8; do
        job /tmp/nw.$$ HALO_ALGO="$algo" HALO_WIRE="$wire" -- "$BIN/allreduce_bw" -b "$SIZE" -e "$SIZE" -w 1 -i 3 -c 1
        line=$(grep -v '^#' /tmp/nw.$$.0 | awk 'NF > 5' | head -1)
        if [ -z "$line" ]; then
            echo "$topo $algo wire $wire: no result"; cat /tmp/nw.$$.0; continue
        fi
        us=$(echo "$line" | awk '{ print $6 }') wrong=$(echo "$line" | awk '{ print $9 }')
        [ -z "$base" ] && base=$us
        awk -v t="$topo" -v a="$algo" -v w="$wire" -v us="$us" -v b="$base" -v bad="$wrong" 'BEGIN {
            printf "%-6s %-10s wire %-4s  %9.1f ms  %.3f x float32  (#wrong %s)\n", t, a, w, us / 1e3, us / b, bad }'
    done
    cluster_down
done
rm -f /tmp/nw.$$.*
