#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# netns_tune.sh [BINDIR] [RATE_MBIT] [TOPOS] [TOOLS] — the cost model before and
# after halo-tune on emulated clusters (tests/netns/netns.sh), every cable
# rate-limited to RATE (tc tbf, default 200 Mbit/s), one rank per host. For each
# topology (default "ring4 chain4") and tool (default allreduce_bw) with --model,
# sizes 64 KiB..16 MiB, three runs: the model from link speeds (veth says
# 10 Gbit/s), with HALO_LINK_MBPS=RATE (the rate told by hand), and with
# HALO_TUNE_FILE after halo-tune measured the cluster; then the ratio columns
# (measured / predicted) side by side. Needs root.
set -u
BIN=${1:-build/bin}
RATE=${2:-200}
TOPOS=${3:-ring4 chain4}
TOOLS=${4:-allreduce_bw}
NETNS_PREFIX=nt$$
source "$(dirname "$0")/../tests/netns/netns.sh"
OUT=/tmp/nt.$$
trap 'cluster_down; rm -f "$OUT".*' EXIT
NETNS_JOB_PORT=29900

job() { netns_job "$OUT" "$@"; cat "$OUT.0"; }   # ENV... -- CMD...: rank 0's output on stdout

# "size ratio" per row of a --model table
ratios() { awk '/^ +[0-9]+ +[0-9]+ /{ print $1, $(NF-1) }' "$1"; }

echo "# cables rate-limited to $RATE Mbit/s"
for topo in $TOPOS; do
    cluster_up "$topo" >/dev/null || exit 1
    rate_limit "${RATE}mbit"
    echo "## $topo: halo-tune"
    job HALO_DEBUG=WARN -- "$BIN/halo-tune" -o "$OUT.conf" | grep -v '^#'
    for tool in $TOOLS; do
        args=(-b 64k -e 16m -f 4 -w 1 -i 3 -c 1 --model)
        echo "## $topo $tool: model from link speeds"
        job HALO_DEBUG=WARN -- "$BIN/$tool" "${args[@]}" | tee "$OUT.speed" | grep '^# model:\|^ *[0-9]'
        echo "## $topo $tool: HALO_LINK_MBPS=$RATE"
        job HALO_LINK_MBPS="$RATE" -- "$BIN/$tool" "${args[@]}" | tee "$OUT.mbps" | grep '^# model:\|^ *[0-9]'
        echo "## $topo $tool: HALO_TUNE_FILE"
        job HALO_TUNE_FILE="$OUT.conf" -- "$BIN/$tool" "${args[@]}" | tee "$OUT.tuned" |
            grep '^# model:\|^ *[0-9]\|WARN'
        echo "## $topo $tool: measured / predicted (out-of-place)"
        printf "%12s %8s %8s %8s\n" size speeds mbps tuned
        join <(ratios "$OUT.speed") <(ratios "$OUT.mbps") | join - <(ratios "$OUT.tuned") |
            awk '{ printf "%12s %8s %8s %8s\n", $1, $2, $3, $4 }'
    done
done
