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

if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root for network namespaces"; exit 77; fi
if ! ip netns list >/dev/null 2>&1; then echo "SKIP: ip netns unavailable"; exit 77; fi
NETNS_PREFIX=nf$$
source "$(dirname "$0")/netns.sh"
WORK=$(mktemp -d)
trap 'cluster_down; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT

FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }

PORT=$((29600 + $$ % 200))
job() {   # NAME TIMEOUT ENV... -- CMD...: rank i on hi; returns the count of failed ranks
    local name=$1 tmo=$2; shift 2
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    local n=${#NETNS_HOSTS[@]} i pids=() bad=0
    PORT=$((PORT + 1))
    for ((i = 0; i < n; i++)); do
        run_on "h$i" env HALO_ROOT="$NETNS_MGMT_NET.10:$PORT" HALO_RANK=$i HALO_NRANKS=$n \
            HALO_SECRET=netns-test HALO_TIMEOUT_MS=20000 "${envs[@]}" timeout "$tmo" "$@" \
            >"$WORK/$name.$i" 2>&1 &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do wait "${pids[$i]}" || bad=$((bad + 1)); done
    return $bad
}

for topo in "${TOPOS[@]}"; do
    cluster_up "$topo" >/dev/null || { fail "cluster_up $topo"; continue; }
    counters_snapshot "$WORK/before"
    start=$(date +%s)
    n=${#NETNS_HOSTS[@]}
    far=$((n - 1))
    [[ $topo == ring* || $topo == triangle* ]] && far=$((n / 2))
    if ! job fwd 90 -- "$BIN/test_forward" $far; then
        fail "$topo: test_forward failed: $(for f in "$WORK"/fwd.*; do echo "--- ${f##*/}:"; tail -6 "$f"; done)"
        continue
    fi
    el=$(($(date +%s) - start))
    for f in "$WORK"/fwd.*; do
        grep -q "forward: all checks passed" "$f" || fail "$topo: ${f##*/} did not pass: $(tail -3 "$f")"
    done
    counters_snapshot "$WORK/after"
    counters_diff "$WORK/before" "$WORK/after" >"$WORK/diff"
    read -r m c <<<"$(awk '{ b = $3 + $4; if ($2 == "mgmt0") m += b; else c += b } END { printf "%d %d\n", m, c }' "$WORK/diff")"
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
if [ $FAILS -eq 0 ]; then echo "netns forwarding: all checks passed"; else echo "netns forwarding: $FAILS check(s) failed"; fi
[ $FAILS -eq 0 ]
