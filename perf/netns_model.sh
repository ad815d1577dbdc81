#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# netns_model.sh [BINDIR] [RATE_MBIT] [TOPOS] — every collective's perf tool with
# --model on emulated clusters (tests/netns/netns.sh), every cable rate-limited
# to RATE (tc tbf, default 200 Mbit/s), one rank per host, sizes 64 KiB..16 MiB:
# measured out-of-place time beside the cost model's prediction for the plan the
# library ran (HALO_LINK_MBPS=RATE tells the model the shaped rate: veth reports
# 10 Gbit/s). TOPOS defaults to "chain4 ring4 switch4". Needs root; about two
# minutes per topology at 200 Mbit/s on an idle 2-core machine.
set -u
BIN=${1:-build/bin}
RATE=${2:-200}
TOPOS=${3:-chain4 ring4 switch4}
NETNS_PREFIX=nm$$
source "$(dirname "$0")/../tests/netns/netns.sh"
trap cluster_down EXIT
NETNS_JOB_PORT=29850
OUT=/tmp/nm.$$

job() { netns_job "$OUT" HALO_LINK_MBPS="$RATE" -- "$@"; cat "$OUT.0"; }   # CMD...: rank 0's output on stdout

echo "# cables rate-limited to $RATE Mbit/s"
for topo in $TOPOS; do
    cluster_up "$topo" >/dev/null || exit 1
    rate_limit "${RATE}mbit"
    for tool in allreduce_bw allgather_bw reduce_scatter_bw broadcast_bw reduce_bw; do
        echo "## $topo $tool"
        job "$BIN/$tool" -b 64k -e 16m -f 4 -w 1 -i 3 -c 1 --model | grep -v '^#  Rank\|^# minBytes\|^#$\|^# Using'
    done
    # send/recv: every rank to the next (on a chain the last rank's message is
    # relayed across every cable), then ranks 0 and 3 both ways (3 hops on a chain)
    for r in 0 3; do
        echo "## $topo sendrecv_bw -r $r"
        job "$BIN/sendrecv_bw" -r $r -b 64k -e 16m -f 4 -w 1 -i 3 -c 1 --model |
            grep -v '^#  Rank\|^# minBytes\|^#$\|^# Using'
    done
done
rm -f "$OUT".*
