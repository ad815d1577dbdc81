#!/usr/bin/env bash
# netns_bench.sh [BINDIR] [RATE_MBIT] — issue 4's measurement on emulated clusters
# with every cable rate-limited to the same rate R (tc tbf), one rank per host:
#   chain4: 16 MiB allreduce with the chain algorithm, model bound busbw 1.5 R
#   ring4:  16 MiB allreduce with the bidirectional ring, model bound busbw 2 R
#   pair:   8 KiB allreduce with the one-shot direct algorithm vs one round trip
# Prints measured busbw beside the model's prediction. Needs root.
set -u
BIN=${1:-build/bin}
RATE=${2:-200}
NETNS_PREFIX=nb$$
source "$(dirname "$0")/../tests/netns/netns.sh"
trap cluster_down EXIT
PORT=29700

job() {   # OUT ENV... -- CMD...
    local out=$1; shift
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    local n=${#NETNS_HOSTS[@]} i
    PORT=$((PORT + 1))
    for ((i = 0; i < n; i++)); do
        run_on "h$i" env HALO_ROOT="$NETNS_MGMT_NET.10:$PORT" HALO_RANK=$i HALO_NRANKS=$n HALO_SECRET=bench \
            "${envs[@]}" "$@" >"$out.$i" 2>&1 &
    done
    wait
}

rate_bytes=$(awk -v r="$RATE" 'BEGIN { printf "%.0f", r * 1e6 / 8 }')
measure() {   # TOPO ALGO SIZE FACTOR-NAME MODEL-BUSBW-FACTOR
    local topo=$1 algo=$2 size=$3 bound=$4
    cluster_up "$topo" >/dev/null
    rate_limit "${RATE}mbit"
    job /tmp/nb.$$ HALO_ALGO="$algo" -- "$BIN/allreduce_bw" -b "$size" -e "$size" -w 1 -i 3 -c 1
    local line; line=$(grep -v '^#' /tmp/nb.$$.0 | awk 'NF > 5' | head -1)
    local busbw; busbw=$(awk '{ print $8 }' <<<"$line")
    awk -v t="$topo" -v a="$algo" -v b="$busbw" -v r="$rate_bytes" -v f="$bound" 'BEGIN {
        model = f * r / 1e9;
        printf "%-7s %-11s 16 MiB: busbw %.4f GB/s, model bound %.4f GB/s (%.2f x R): %.0f%% of bound\n",
               t, a, b, model, f, 100 * b / model }'
    echo "   $line"
}

echo "# cables rate-limited to $RATE Mbit/s (R = $rate_bytes B/s)"
measure chain4 chain 16m 1.5
measure ring4 ring_bidir 16m 2.0
measure ring4 ring 16m 1.0

cluster_up pair >/dev/null
rate_limit "${RATE}mbit"
job /tmp/nb.$$ HALO_ALGO=direct -- "$BIN/allreduce_bw" -b 8k -e 8k -w 20 -i 200 -c 1
t=$(grep -v '^#' /tmp/nb.$$.0 | awk 'NF > 5 { print $6; exit }')
rtt=$(run_on h0 ping -c 20 -i 0.01 -q "$(cable_addr h1 h0)" | awk -F/ '/rtt|round-trip/ { print $5 }')
# one round trip carrying 8 KiB each way at rate R: the wire time is part of it
wire=$(awk -v r="$rate_bytes" 'BEGIN { printf "%.1f", 8192 / r * 1e6 }')
echo "pair    direct      8 KiB: ${t} us per allreduce; ping round trip ${rtt} ms (+ ${wire} us to serialise 8 KiB at R)"
rm -f /tmp/nb.$$.*
