#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# netns_bench.sh [BINDIR] [RATE_MBIT] — collective speed on emulated clusters
# with every cable rate-limited to the same rate R (tc tbf), one rank per host:
#   chain4: 16 MiB allreduce with the chain algorithm, model bound busbw 1.5 R
#   ring4:  16 MiB allreduce with the bidirectional ring, model bound busbw 2 R
#   pair:   8 KiB allreduce with the one-shot direct algorithm vs one 8 KiB ping
#           round trip on the same cable (unshaped)
#   chain4 forwarded send/recv: 16 MiB both ways between the ends (through two
#           relays) vs the same between neighbours (one cable), same run; goal >= 80%
# Prints measured busbw beside the model's prediction. Needs root.
# NETNS_BENCH=forward runs only the forwarding part.
set -u
BIN=${1:-build/bin}
RATE=${2:-200}
NETNS_PREFIX=nb$$
source "$(dirname "$0")/../tests/netns/netns.sh"
trap cluster_down EXIT
NETNS_JOB_PORT=29700

job() { netns_job "$@"; }

rate_bytes=$(awk -v r="$RATE" 'BEGIN { printf "%.0f", r * 1e6 / 8 }')
measure() {   # TOPO ALGO SIZE FACTOR-NAME MODEL-BUSBW-FACTOR
    local topo=$1 algo=$2 size=$3 bound=$4
    cluster_up "$topo" >/dev/null
    rate_limit "${RATE}mbit"
    job /tmp/nb.$$ HALO_ALGO="$algo" -- "$BIN/allreduce_bw" -b "$size" -e "$size" -w 1 -i 3 -c 1
    local line; line=$(grep -v '^#' /tmp/nb.$$.0 | awk 'NF > 5' | head -1)
    local n=${#NETNS_HOSTS[@]}
    # busbw from the out-of-place time (the printed column has too few digits at these rates)
    awk -v t="$topo" -v a="$algo" -v r="$rate_bytes" -v f="$bound" -v n="$n" -v l="$line" 'BEGIN {
        split(l, c, " "); size = c[1]; us = c[6];
        b = size / (us / 1e6) * 2 * (n - 1) / n; model = f * r;
        printf "%-7s %-11s %d B: %.3f s, busbw %.2f MB/s = %.2f R; model bound %.2f MB/s (%.2f R, time %.3f s): %.0f%% of bound\n",
               t, a, size, us / 1e6, b / 1e6, b / r, model / 1e6, f, size * 2 * (n - 1) / n / model, 100 * b / model }'
    echo "   $line"
}

# sendrecv_bw -r PEER on the shaped chain4: out-of-place algbw (bytes each way / s)
sendrecv_rate() {   # PEER -> "algbw_MBps line"
    job /tmp/nb.$$ -- "$BIN/sendrecv_bw" -r "$1" -b 16m -e 16m -w 1 -i 3 -c 1
    local line; line=$(grep -v '^#' /tmp/nb.$$.0 | awk 'NF > 5' | head -1)
    awk -v l="$line" 'BEGIN { split(l, c, " "); printf "%.3f ", c[1] / (c[6] / 1e6) / 1e6 }'
    echo "$line"
}
measure_forward() {
    cluster_up chain4 >/dev/null
    rate_limit "${RATE}mbit"
    local one fwd l1 l3
    read -r one l1 <<<"$(sendrecv_rate 1)"
    read -r fwd l3 <<<"$(sendrecv_rate 3)"
    awk -v o="$one" -v f="$fwd" -v r="$rate_bytes" 'BEGIN {
        printf "chain4  send/recv 16 MiB each way: one cable (0<->1) %.2f MB/s = %.2f R; forwarded (0<->3, 2 relays) %.2f MB/s = %.2f R: %.0f%% of one cable\n",
               o, o * 1e6 / r, f, f * 1e6 / r, 100 * f / o }'
    echo "   0<->1: $l1"
    echo "   0<->3: $l3"
}

echo "# cables rate-limited to $RATE Mbit/s (R = $rate_bytes B/s)"
if [ "${NETNS_BENCH:-}" = forward ]; then
    measure_forward
    rm -f /tmp/nb.$$.*
    exit 0
fi
measure_forward
measure chain4 chain 16m 1.5
measure ring4 ring_bidir 16m 2.0
measure ring4 ring 16m 1.0

# 8 KiB one-shot allreduce on a pair vs one round trip of an 8 KiB ping on the same
# cable, shaped and unshaped. Medians: this machine's scheduler adds outliers.
pair_run() {   # LABEL
    job /tmp/nb.$$ HALO_ALGO=direct -- "$BIN/allreduce_bw" -b 8k -e 8k -w 50 -i 500 -c 1
    local t; t=$(grep -v '^#' /tmp/nb.$$.0 | awk 'NF > 5 { print $6; exit }')
    local rtt; rtt=$(run_on h0 ping -c 200 -i 0.002 -s 8192 -q "$(cable_addr h1 h0)" | awk -F/ '/rtt|round-trip/ { print $5 * 1000 }')
    awk -v l="$1" -v t="$t" -v r="$rtt" 'BEGIN {
        printf "pair    direct      8 KiB allreduce %s: %.1f us; 8 KiB ping round trip %.1f us: %.2f x\n", l, t, r, t / r }'
}
# Unshaped: with the cable shaped, 8 KiB is serialisation-bound and the token
# bucket lets a lone ping through at full speed, so the comparison means nothing.
cluster_up pair >/dev/null
pair_run "unshaped"
rm -f /tmp/nb.$$.*
