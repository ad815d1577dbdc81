#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_netns_forward.sh BINDIR [TOPO...] — send/receive between ranks without a
# direct link, forwarded through the ranks between: one rank per emulated host
# (network namespaces, veth cables) runs test_forward (tests/coll): the ends of a
# chain (opposite hosts of a ring) both ways at once from 5 bytes to 16 MiB, an
# all-to-all of send/recv in one group, relays busy in their own exchange or idle
# in application code, and a mismatch reported with both ranks named. The
# interface counters then show the data crossed only the cables. Fault: on chain4
# a relay killed in application code while forwarding fails the other ranks, each
# with a sentence, in bounded time. KEEP_WORK=1 keeps the ranks' output. Exit 77
# (skip) when not root or without netns.
set -u
BIN=${1:?usage: test_netns_forward.sh BINDIR [TOPO...]}
shift
TOPOS=("$@")
[ ${#TOPOS[@]} -gt 0 ] || TOPOS=(chain4 ring4)

NETNS_PREFIX=nf$$
source "$(dirname "$0")/netns.sh"
source "$(dirname "$0")/jobs.sh"
PORT=$((29600 + $$ % 200))

for topo in "${TOPOS[@]}"; do
    cluster_up "$topo" >/dev/null || { fail "cluster_up $topo"; continue; }
    start=$(date +%s)
    n=${#NETNS_HOSTS[@]}
    far=$((n - 1))
    [[ $topo == ring* || $topo == triangle* ]] && far=$((n / 2))
    if ! traffic fwd 90 -- "$BIN/test_forward" $far; then
        fail "$topo: test_forward failed: $(job_tail fwd)"
        continue
    fi
    el=$(($(date +%s) - start))
    for f in "$WORK"/fwd.*; do
        grep -q "forward: all checks passed" "$f" || fail "$topo: ${f##*/} did not pass: $(tail -3 "$f")"
    done
    read -r m c <<<"$(mgmt_and_cable_bytes "$WORK/diff")"
    # 16 MiB messages cross three cables several times: hundreds of MB on the cables
    if [ "$c" -lt 200000000 ]; then fail "$topo: only $c bytes crossed the cables"; fi
    if [ "$m" -gt $((c / 50)) ]; then fail "$topo: management network carried $m bytes vs $c on cables"; fi
    ok "$topo: forwarded send/recv correct in ${el}s ($(grep -h "mismatch reported" "$WORK"/fwd.* | cut -c1-140)); cables $c B, management $m B"
done
check_relay_killed() {
    cluster_up chain4 >/dev/null || { fail "cluster_up chain4"; return; }
    local start; start=$(date +%s)
    job kill 60 HALO_TIMEOUT_MS=5000 -- "$BIN/test_forward" 3 kill-relay
    local bad=$? el=$(($(date +%s) - start)) i
    if [ $bad -ne 1 ]; then
        fail "relay killed: $bad rank(s) failed, expected only the killed one: $(tail -n 3 "$WORK"/kill.*)"
        return
    fi
    for i in 0 2 3; do
        grep -q "^fault reported: .*rank" "$WORK/kill.$i" || { fail "relay killed: rank $i: $(tail -n 3 "$WORK/kill.$i")"; return; }
    done
    [ $el -lt 30 ] || { fail "relay killed: the others took ${el}s to fail"; return; }
    ok "relay killed while forwarding: the others failed in ${el}s: $(grep -h '^fault reported' "$WORK/kill.0" | cut -c1-180)"
}
if [ "${NETNS_FAULTS:-1}" = 1 ]; then
    check_relay_killed
fi
finish "netns forwarding"
