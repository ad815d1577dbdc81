#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# netns_rails.sh [BINDIR] [RATE_MBIT] [SIZE] — what a second cable buys, on emulated
# hosts (network namespaces, veth cables shaped with tc tbf), one rank per host, in
# one run:
#   pair   one cable of R
#   pair2  two cables between the same hosts, of R and 2R (rails), and again with
#          HALO_RAIL_FAILOVER=1 (standby connections, frames kept until acknowledged)
# and the all-reduce busbw of each (SIZE, default 64m), with pair2's against the sum
# of its cables (3R) and against the single cable, and failover's cost. Needs root.
set -u
BIN=${1:-build/bin}
RATE=${2:-200}
SIZE=${3:-64m}
NETNS_PREFIX=nr$$
source "$(dirname "$0")/../tests/netns/netns.sh"
source "$(dirname "$0")/../tests/netns/jobs.sh"
PORT=29800

R=$(awk -v r="$RATE" 'BEGIN { printf "%.0f", r * 1e6 / 8 }') # bytes/s

busbw() {   # NAME -> busbw in bytes/s from rank 0's out-of-place time (2 ranks: = algbw)
    awk '$1 ~ /^[0-9]+$/ && NF > 5 { printf "%.0f", $1 / ($6 / 1e6); exit }' "$WORK/$1.0"
}

run() {   # TOPO NAME ENV...
    local topo=$1 name=$2; shift 2
    cluster_up "$topo" >/dev/null || { echo "cluster_up $topo failed"; exit 1; }
    cable_rate h0 h1 "${RATE}mbit"
    [ "$topo" = pair2 ] && cable_rate h0 h1b "$((2 * RATE))mbit"
    job "$name" 600 "$@" -- "$BIN/allreduce_bw" -b "$SIZE" -e "$SIZE" -w 1 -i 3 -c 1 ||
        { echo "$name failed:"; job_tail "$name"; exit 1; }
    awk '$1 ~ /^[0-9]+$/ && NF > 5' "$WORK/$name.0" | head -1 | sed "s/^/   $name: /"
}

echo "# R = $RATE Mbit/s ($R B/s); allreduce of $SIZE, 2 ranks (busbw = algbw)"
run pair single HALO_ALGO=ring
run pair2 rails HALO_ALGO=ring HALO_DEBUG=INFO HALO_DEBUG_SUBSYS=TOPO,INIT
grep -h "measured\|channels" "$WORK/rails.0" | sed 's/^.*HALO INFO [A-Z]* /   /; s/^  *h0:/   h0:/' | head -6
run pair2 failover HALO_ALGO=ring HALO_RAIL_FAILOVER=1
one=$(busbw single) two=$(busbw rails) fo=$(busbw failover)
awk -v a="$one" -v b="$two" -v f="$fo" -v r="$R" 'BEGIN {
    printf "one cable of R:       busbw %.2f MB/s = %.2f R\n", a / 1e6, a / r
    printf "rails of R and 2R:    busbw %.2f MB/s = %.2f R: %.0f%% of the sum (3R), %.2f x the single cable\n",
           b / 1e6, b / r, 100 * b / (3 * r), b / a
    printf "same, with failover:  busbw %.2f MB/s = %.2f R: %.0f%% of the rails without it\n", f / 1e6, f / r,
           100 * f / b }'
