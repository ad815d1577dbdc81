#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_netns_rails.sh BINDIR — hosts joined by two cables (rails), on emulated
# clusters (network namespaces as hosts, veth pairs as cables):
#   pair2    two cables of different rates between h0 and h1: both are found and
#            measured, the faster one carries the larger share; every collective
#            is right; both cables carry data, in about the ratio of their rates;
#            a cable cut in the middle of a collective fails it with a sentence
#            naming that cable; with HALO_RAIL_FAILOVER=1 the same cut moves the
#            channels to the other cable and the job finishes, results right, with
#            a WARN naming the cut cable; both cables down for 1.5 s and up again
#            in the middle of a job: it ends right or fails naming a cable, in time;
#            HALO_RAILS=1 uses one cable only;
#   chain3d  a chain whose first hop has two cables, and
#   ring4d   a ring with one double link: the class is found, every collective is
#            right and both cables of the double hop carry data.
# Exit 77 (skip) when not root or without network namespaces.
set -u
BIN=${1:?usage: test_netns_rails.sh BINDIR}

NETNS_PREFIX=nr$$
source "$(dirname "$0")/netns.sh"
source "$(dirname "$0")/jobs.sh"
PORT=29700

SLOW=200mbit FAST=400mbit

# One field of the link whose a_ifname is IF, from rank 0's halo-topo JSON.
link_field() {   # IF FIELD
    tr '{' '\n' <"$WORK/topo.0" | grep "\"a_ifname\": *\"$1\"" | grep -o "\"$2\": *[0-9.a-z]*" | head -1 |
        sed 's/.*: *//'
}

# Bytes sent by h0 on IF in the last counters diff.
sent_on() { awk -v i="$1" '$1 == "h0" && $2 == i { print $4 }' "$WORK/diff"; }
tx_now() { ip -n "$(netns_ns "$1")" -s link show "to_$2" | awk '/TX:/ { getline; print $1; exit }'; }
# Cuts the second cable (h0 <-> h1b) once job NAME is in its timed loop (rank 0
# printed its header) and has sent MIN more bytes over that cable, however long the
# start took: a loaded CI machine can take seconds to start the ranks, and a cable
# cut before init is simply not a rail, one cut during it fails the connections
# instead of the call. The caller removes NAME's old output first.
cut_when_busy() {
    local name=$1 min=$2 base i
    for i in $(seq 600); do
        grep -qs "Using ranks" "$WORK/$name.0" && break
        sleep 0.1
    done
    base=$(tx_now h0 h1b)
    for i in $(seq 600); do
        [ $(($(tx_now h0 h1b) - base)) -ge "$min" ] && break
        sleep 0.1
    done
    cable_down h0 h1b
    cable_down h1 h0b
}

check_rails_found() {
    if ! job topo 60 -- "$BIN/halo-topo" --json; then
        fail "pair2: halo-topo failed: $(job_tail topo)"
        return
    fi
    local slow fast share_slow share_fast
    slow=$(link_field to_h1 bw_mbps) fast=$(link_field to_h1b bw_mbps)
    share_slow=$(link_field to_h1 share) share_fast=$(link_field to_h1b share)
    if [ -z "$slow" ] || [ "$slow" = null ] || [ -z "$fast" ] || [ "$fast" = null ]; then
        fail "pair2: the two rails were not measured (to_h1 '$slow', to_h1b '$fast'): $(cat "$WORK/topo.0")"
        return
    fi
    # 200 and 400 Mbit/s: the second measures faster, by well over half again
    if ! awk -v s="$slow" -v f="$fast" 'BEGIN { exit !(f > 1.4 * s) }'; then
        fail "pair2: measured rates $slow and $fast Mbit/s do not show the 1:2 cables"
        return
    fi
    if ! awk -v s="$share_slow" -v f="$share_fast" 'BEGIN { exit !(f > s && f + s > 0.99 && f + s < 1.01) }'; then
        fail "pair2: rail shares $share_slow (slow) and $share_fast (fast) are not weighted to the faster cable"
        return
    fi
    ok "pair2: rails measured $slow and $fast Mbit/s, shares $share_slow and $share_fast"
}

TOOLS=(allreduce_bw allgather_bw broadcast_bw reduce_scatter_bw reduce_bw sendrecv_bw)
check_colls() {   # TOPO IF-A IF-B: the double hop's interfaces on h0
    local tool
    counters_snapshot "$WORK/before"
    for tool in "${TOOLS[@]}"; do
        if [ "$tool" = sendrecv_bw ] && [[ $1 == chain* ]]; then continue; fi
        if ! job "$tool" 120 -- "$BIN/$tool" -b 1k -e 8m -f 8 -w 1 -i 2 -c 1 -d float32; then
            fail "$1: $tool failed: $(job_tail "$tool")"
            continue
        fi
        tool_ok "$tool" || fail "$1: $tool wrong results"
    done
    counters_snapshot "$WORK/after"
    counters_diff "$WORK/before" "$WORK/after" >"$WORK/diff"
    local a b
    a=$(sent_on "$2") b=$(sent_on "$3")
    if [ "${a:-0}" -lt 2000000 ] || [ "${b:-0}" -lt 2000000 ]; then
        fail "$1: both cables of the double hop should carry data: h0:$2 sent ${a:-0} B, h0:$3 ${b:-0} B"
        return
    fi
    ok "$1: collectives correct; h0:$2 sent $a B, h0:$3 $b B"
}

# With rates of 1:2 the faster cable carries about twice the bytes of a large
# all-reduce (every channel; small messages and send/recv run on channel 0 alone).
check_split() {
    if ! traffic split 120 -- "$BIN/allreduce_bw" -b 8m -e 8m -w 1 -i 4 -c 1; then
        fail "pair2: allreduce failed: $(job_tail split)"
        return
    fi
    local a b
    a=$(sent_on to_h1) b=$(sent_on to_h1b)
    if awk -v a="$a" -v b="$b" 'BEGIN { r = b / a; exit !(r > 1.4 && r < 2.8) }'; then
        ok "pair2: 8 MiB all-reduces split $a : $b bytes over the $SLOW and $FAST cables"
    else
        fail "pair2: 8 MiB all-reduces split $a : $b bytes over the $SLOW and $FAST cables, expected about 1:2"
    fi
}

check_one_rail() {
    if ! traffic one 120 HALO_RAILS=1 -- "$BIN/allreduce_bw" -b 4m -e 4m -w 1 -i 4 -c 1; then
        fail "pair2, HALO_RAILS=1: allreduce failed: $(job_tail one)"
        return
    fi
    local a b
    a=$(sent_on to_h1) b=$(sent_on to_h1b)
    if [ "$((a < b ? a : b))" -gt 200000 ]; then
        fail "pair2, HALO_RAILS=1: both cables carried data ($a and $b B)"
        return
    fi
    ok "pair2, HALO_RAILS=1: one cable only ($a and $b B)"
}

check_rail_cut() {
    local start; start=$(date +%s)
    rm -f "$WORK"/cut.*
    cut_when_busy cut 8000000 &
    job cut 60 HALO_TIMEOUT_MS=5000 -- "$BIN/allreduce_bw" -b 32m -e 32m -w 1 -i 200 -c 0
    local rc=$? el=$(($(date +%s) - start))
    wait
    cable_up h0 h1b
    if [ $rc -eq 0 ]; then fail "rail cut: the job succeeded"; return; fi
    if [ $el -ge 59 ]; then fail "rail cut: hung until killed"; return; fi
    if ! grep -q "to_h1b\|to_h0b" "$WORK"/cut.*; then
        fail "rail cut: the error does not name the cut cable: $(grep -h -m2 'HALO WARN' "$WORK"/cut.* | cut -c1-300)"
        return
    fi
    ok "rail cut mid-collective: failed after ${el}s: $(grep -h -m1 'to_h[01]b' "$WORK"/cut.* | cut -c1-200)"
}

# Cuts the faster cable about a tenth into a job of about 8 s at the shaped rates.
check_rail_failover() {
    local start; start=$(date +%s)
    rm -f "$WORK"/failover.*
    cut_when_busy failover 4000000 &
    traffic failover 90 HALO_TIMEOUT_MS=5000 HALO_RAIL_FAILOVER=1 -- "$BIN/allreduce_bw" -b 8m -e 8m -w 1 -i 16 -c 1
    local rc=$? el=$(($(date +%s) - start))
    wait
    cable_up h0 h1b
    if [ $rc -ne 0 ]; then fail "rail failover: the job failed: $(job_tail failover)"; return; fi
    tool_ok failover || { fail "rail failover: wrong results: $(job_tail failover)"; return; }
    local r warn
    for r in 0 1; do
        warn=$(grep -h -m1 'now runs on rail' "$WORK/failover.$r")
        if [ -z "$warn" ] || ! grep -q "to_h[01]b.*HALO_RAIL_FAILOVER=1" <<<"$warn"; then
            fail "rail failover: rank $r did not WARN naming the cut cable: $(grep -h -m2 'HALO WARN' "$WORK/failover.$r" | cut -c1-300)"
            return
        fi
    done
    local a; a=$(sent_on to_h1)
    ok "rail failover: the cut job finished in ${el}s, results right, h0:to_h1 sent $a B; $(cut -c1-260 <<<"$warn")"
}

# Both cables down for 1.5 s, well inside HALO_TIMEOUT_MS, then up. TCP resends, but
# Linux's backoff can keep a connection quiet long after the cable is back (15 to 30
# s measured here for a job of 5): the job must end right, or fail with a sentence
# naming a cable -- never hang, never deliver a wrong result.
check_cable_flap() {
    local start; start=$(date +%s)
    ( sleep 2; cable_down h0 h1; cable_down h0 h1b; sleep 1.5; cable_up h0 h1; cable_up h0 h1b ) &
    job flap 90 HALO_TIMEOUT_MS=20000 -- "$BIN/allreduce_bw" -b 4m -e 4m -w 1 -i 40 -c 1
    local rc=$? el=$(($(date +%s) - start))
    wait
    if [ $el -lt 4 ]; then fail "cable flap: the job ended in ${el}s, before the cables came back: nothing was tested"; return; fi
    if [ $rc -eq 0 ]; then
        tool_ok flap || { fail "cable flap: wrong results: $(job_tail flap)"; return; }
        ok "cable flap: both cables down for 1.5 s and up again mid-job: it finished in ${el}s, results right"
    elif [ $el -ge 85 ]; then
        fail "cable flap: hung until killed: $(job_tail flap)"
    elif grep -q 'HALO WARN.*to_h[01]' "$WORK"/flap.*; then
        ok "cable flap: the job failed after ${el}s naming the cable: $(grep -h -m1 'HALO WARN.*to_h[01]' "$WORK"/flap.* | cut -c1-200)"
    else
        fail "cable flap: failed without naming a cable: $(job_tail flap)"
    fi
}

check_class() {   # TOPO CLASS
    if ! job topo 60 -- "$BIN/halo-topo" --json; then
        fail "$1: halo-topo failed: $(job_tail topo)"
        return
    fi
    grep -q "\"class\": *\"$2\"" "$WORK/topo.0" || { fail "$1: class is not $2: $(head -c 400 "$WORK/topo.0")"; return; }
    ok "$1: class $2"
}

if cluster_up pair2 >/dev/null; then
    cable_rate h0 h1 "$SLOW" && cable_rate h0 h1b "$FAST" || fail "cable_rate"
    check_rails_found
    check_colls pair2 to_h1 to_h1b
    check_split
    check_one_rail
    check_rail_failover
    check_cable_flap
    rate_limit off
    check_rail_cut
else
    fail "cluster_up pair2"
fi
for topo in chain3d ring4d; do
    cluster_up "$topo" >/dev/null || { fail "cluster_up $topo"; continue; }
    check_class "$topo" "$([[ $topo == chain* ]] && echo chain || echo ring)"
    check_colls "$topo" to_h1 to_h1b
done
finish "netns rails"
