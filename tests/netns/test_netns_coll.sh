#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_netns_coll.sh BINDIR [TOPO...] — the library on emulated clusters: for each
# topology (network namespaces as hosts, veth pairs as cables, a management bridge
# for the bootstrap) one rank per host runs
#   1. halo-topo --json: the detected class and host order are the expected ones;
#   2. every collective benchmark with result checking (-c 1) over tcp;
# and the interface byte counters show the data crossed only the direct cables:
# the management bridge carried the bootstrap only (a small fraction).
# Faults: a chain with a cable down at start fails init with an error naming the
# missing link; a cable cut in the middle of a collective fails it in bounded time.
# Exit 77 (skip) when not root or without network namespaces.
set -u
BIN=${1:?usage: test_netns_coll.sh BINDIR [TOPO...]}
shift
TOPOS=("$@")
[ ${#TOPOS[@]} -gt 0 ] || TOPOS=(pair chain3 chain4 ring4 triangle3 switch4)

NETNS_PREFIX=nc$$
source "$(dirname "$0")/netns.sh"
source "$(dirname "$0")/jobs.sh"

expect_class() {   # TOPO -> class name and host order in halo-topo's JSON
    case $1 in
    pair) echo "pair h0,h1" ;;
    chain3) echo "chain h0,h1,h2" ;;
    chain4) echo "chain h0,h1,h2,h3" ;;
    ring4) echo "ring h0,h1,h2,h3" ;;
    triangle3) echo "ring h0,h1,h2" ;;
    switch4) echo "mesh h0,h1,h2,h3" ;;
    esac
}

check_topo() {   # TOPO
    local want cls order
    read -r cls order <<<"$(expect_class "$1")"
    if ! job topo 60 -- "$BIN/halo-topo" --json; then
        fail "$1: halo-topo failed: $(cat "$WORK"/topo.* | tail -5)"
        return
    fi
    local js; js=$(cat "$WORK/topo.0")
    grep -q "\"class\": *\"$cls\"" <<<"$js" || { fail "$1: class is not $cls: $js"; return; }
    local got; got=$(grep -o '"order": *\[[^]]*\]' <<<"$js" | head -1 | tr -d ' "' | sed 's/order:\[//; s/\]//')
    [ "$got" = "$order" ] || { fail "$1: host order $got, expected $order"; return; }
    ok "$1: class $cls, order $order"
}


TOOLS=(allreduce_bw allgather_bw broadcast_bw reduce_scatter_bw reduce_bw sendrecv_bw)
check_colls() {   # TOPO
    local t tool
    counters_snapshot "$WORK/before"
    for tool in "${TOOLS[@]}"; do
        # sendrecv pairs rank r with r+1 mod n: on a chain the last rank's message to
        # rank 0 is forwarded by the ranks between (no cable joins the ends); its
        # --model prices that message as relayed (p2p_fwd), elsewhere one hop
        local model=()
        [ "$tool" != sendrecv_bw ] || model=(--model)
        if ! job "$tool" 120 -- "$BIN/$tool" -b 1k -e 4m -f 8 -w 1 -i 2 -c 1 -d float32 "${model[@]}"; then
            fail "$1: $tool failed: $(job_tail "$tool")"
            continue
        fi
        tool_ok "$tool" || { fail "$1: $tool wrong results"; continue; }
        [ "$tool" = sendrecv_bw ] || continue
        t=p2p/
        [[ $1 != chain* ]] || t=p2p_fwd/
        grep -Eq "^ *4194304 .* [0-9]+\.[0-9]  +[0-9]+\.[0-9]{2}  ${t}1ch/" "$WORK/$tool.0" ||
            fail "$1: sendrecv_bw --model has no ${t} plan with a time at 4 MiB: $(grep -v '^#  Rank' "$WORK/$tool.0" | tail -4)"
    done
    counters_snapshot "$WORK/after"
    counters_diff "$WORK/before" "$WORK/after" >"$WORK/diff"
    local m c
    read -r m c <<<"$(mgmt_and_cable_bytes "$WORK/diff")"
    # the data volume is tens of MB; the bootstrap (records, allgathers) a few hundred kB
    if [ "$c" -lt 20000000 ]; then fail "$1: only $c bytes crossed the cables"; fi
    if [ "$m" -gt $((c / 20)) ]; then fail "$1: management network carried $m bytes vs $c on cables"; fi
    ok "$1: collectives correct; cables $c B, management $m B"
}

expect_pick() {   # TOPO -> algorithm the cost model must pick at 8 KiB and at 16 MiB
    case $1 in
    pair) echo "direct direct" ;;
    chain*) echo "chain chain" ;;
    ring4) echo "ring ring_bidir" ;;
    triangle3) echo "direct ring_bidir" ;;
    switch4) echo "direct ring" ;;
    esac
}

# The algorithm picked under HALO_ALGO=auto (logged at INFO, subsystem COLL) is the
# one the alpha-beta model predicts fastest for this topology and size.
check_pick() {   # TOPO
    local want small large size algo got
    read -r small large <<<"$(expect_pick "$1")"
    for size in 8k 16m; do
        algo=$small
        [ "$size" = 16m ] && algo=$large
        if ! job pick 120 HALO_DEBUG=INFO HALO_DEBUG_SUBSYS=COLL -- "$BIN/allreduce_bw" -b $size -e $size -w 1 -i 1 -c 1; then
            fail "$1: allreduce $size failed: $(tail -2 "$WORK/pick.0")"
            continue
        fi
        got=$(grep -o "allreduce of [0-9]* bytes: [a-z_]* algorithm" "$WORK/pick.0" | awk -v b=$(numfmt --from=iec "${size^^}") '$3 == b { print $5 }' | head -1)
        [ "$got" = "$algo" ] || { fail "$1: allreduce of $size used '$got', the model says $algo"; continue; }
    done
    ok "$1: auto picks $small at 8 KiB and $large at 16 MiB"
}

check_cable_down_at_start() {
    cluster_up chain4 >/dev/null || { fail "cluster_up chain4"; return; }
    cable_down h1 h2
    cable_down h2 h1
    if job down 60 -- "$BIN/halo-topo"; then fail "init succeeded with a cable down"; return; fi
    if grep -qE "h1|h2" "$WORK"/down.* && grep -qiE "link|cable|reach" "$WORK"/down.*; then
        ok "cable down at start: $(grep -h -m1 -iE 'link|reach' "$WORK"/down.0 | cut -c1-160)"
    else
        fail "cable down at start: unclear error: $(head -3 "$WORK/down.0")"
    fi
}

check_cable_cut_midway() {
    cluster_up chain3 >/dev/null || { fail "cluster_up chain3"; return; }
    local start; start=$(date +%s)
    ( sleep 3; cable_down h1 h2; cable_down h2 h1 ) &
    job cut 60 HALO_TIMEOUT_MS=5000 -- "$BIN/allreduce_bw" -b 64m -e 64m -w 2 -i 200 -c 0
    local rc=$? el=$(($(date +%s) - start))
    wait
    if [ $rc -eq 0 ]; then fail "cable cut: the job succeeded"; return; fi
    if grep -q "Terminated\|timeout" "$WORK"/cut.* && [ $el -ge 59 ]; then fail "cable cut: hung until killed"; return; fi
    ok "cable cut mid-collective: failed after ${el}s: $(grep -h -m1 'HALO WARN' "$WORK"/cut.* | cut -c1-160)"
}

for topo in "${TOPOS[@]}"; do
    cluster_up "$topo" >/dev/null || { fail "cluster_up $topo"; continue; }
    check_topo "$topo"
    check_colls "$topo"
    check_pick "$topo"
done
if [ "${NETNS_FAULTS:-1}" = 1 ]; then
    check_cable_down_at_start
    check_cable_cut_midway
fi
finish "netns collectives"
