#!/bin/bash
# SPDX-License-Identifier: MIT
# test_netns_rig.sh — brings up every emulated topology of netns.sh and checks the rig:
# the management bridge and every host's port on it; each cable reaches its peer over
# the cable interface, and only its peer (no route across hosts); the data switch;
# byte counters move on the interface that carried the bytes; rate limits land on
# every cable end; cable_down cuts; nothing is left behind.
#
# With the path of topo_tool as $1 (ctest passes it) it also runs the topology layer
# on each emulated host — discovery in every namespace, probes of every cable, the
# graph from all records — and checks class, order and the two fault cases: a cable
# down at start, and a cable cut between discovery and the probe.
#
# Exit 0 pass, 1 fail, 77 skip (not root, no `ip netns`).
set -u

TOOL=${1:-}
HERE=$(cd "$(dirname "$0")" && pwd)
PORT=47000

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root to create network namespaces"
command -v ip >/dev/null 2>&1 || skip "iproute2 (ip) is not installed"
command -v tc >/dev/null 2>&1 || skip "iproute2 (tc) is not installed"
command -v unshare >/dev/null 2>&1 || skip "unshare (util-linux) is not installed"

NETNS_PREFIX="hrig$$"
# shellcheck source=netns.sh
. "$HERE/netns.sh"
ip netns add "$NETNS_PREFIX-try" 2>/dev/null || skip "ip netns add is not permitted here"
ip netns del "$NETNS_PREFIX-try"

if [ -n "$TOOL" ] && [ ! -x "$TOOL" ]; then
    echo "FAIL topo_tool '$TOOL' is not executable"
    exit 1
fi
if ! command -v ping >/dev/null 2>&1 && [ -z "$TOOL" ]; then
    skip "neither ping (iputils-ping) nor topo_tool to test reachability with"
fi

WORK=$(mktemp -d /tmp/netns_rig.XXXXXX)
SERVERS=()
cleanup() {
    local p
    for p in "${SERVERS[@]}"; do kill "$p" 2>/dev/null; done
    cluster_down
    rm -rf "$WORK"
}
trap cleanup EXIT

fails=0
check() {   # description command...
    local what=$1
    shift
    if "$@"; then
        echo "ok   $what"
    else
        echo "FAIL $what"
        fails=$((fails + 1))
    fi
}
not() { ! "$@"; }
quiet() { "$@" >/dev/null 2>&1; }

# ---------------------------------------------------------------- reachability

servers_start() {   # serve probes on every address of every host (needs records)
    local h
    for h in $(cluster_hosts); do
        # exec: $! is then the server itself, so servers_stop reaches it
        (exec ip netns exec "$(netns_ns "$h")" "$TOOL" serve 20 --port "$PORT" "$WORK/$h.rec" 2>/dev/null) &
        SERVERS+=("$!")
    done
    sleep 0.3
}

servers_stop() {
    local p
    for p in "${SERVERS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    SERVERS=()
}

reach() {   # HOST IFNAME ADDR: ADDR answers from HOST through IFNAME
    if command -v ping >/dev/null 2>&1; then
        ip netns exec "$(netns_ns "$1")" ping -q -c 1 -W 1 -I "$2" "$3" >/dev/null 2>&1
    else
        run_on "$1" "$TOOL" rtt "$2" "" "$3" "$PORT" >/dev/null 2>&1
    fi
}

reach_any() {   # HOST ADDR: reachable by any route
    if command -v ping >/dev/null 2>&1; then
        ip netns exec "$(netns_ns "$1")" ping -q -c 1 -W 1 "$2" >/dev/null 2>&1
    else
        run_on "$1" "$TOOL" rtt "" "" "$2" "$PORT" >/dev/null 2>&1
    fi
}

# ---------------------------------------------------------------- topology layer

discover_all() {   # [ranks per host]
    local per=${1:-1} n i r h
    n=$(cluster_hosts | wc -w)
    rm -f "$WORK"/*.rec
    for ((i = 0; i < n; i++)); do
        for ((r = 0; r < per; r++)); do
            h=h$i
            run_on "$h" "$TOOL" discover "$WORK/r$((i + r * n)).rec" --rank $((i + r * n)) --mgmt mgmt0 || return 1
        done
        cp "$WORK/r$i.rec" "$WORK/$h.rec"
    done
}

graph_json() {   # extra args... -> JSON on stdout; status of topo_tool
    "$TOOL" graph --json "$@" "$WORK"/r*.rec
}

json_has() {   # json needle
    case "$1" in *"$2"*) return 0 ;; *) echo "     missing: $2" >&2; return 1 ;; esac
}

probe_all() {
    local h
    rm -rf "$WORK/results"
    mkdir -p "$WORK/results"
    for h in $(cluster_hosts); do
        run_on "$h" "$TOOL" probe "$WORK/results/$h" --port "$PORT" "$WORK"/r*.rec 2>/dev/null
    done
}

# ---------------------------------------------------------------- per topology

check_mgmt() {
    local h n
    n=$(cluster_hosts | wc -w)
    check "$NETNS_TOPO: management bridge exists" quiet ip -n "$(netns_ns mgmt)" -d link show br0 type bridge
    check "$NETNS_TOPO: management bridge has $n ports" \
        test "$(ip -n "$(netns_ns mgmt)" -o link show master br0 | wc -l)" -eq "$n"
    for h in $(cluster_hosts); do
        check "$NETNS_TOPO: $h has mgmt0 $(host_addr "$h")" \
            sh -c "ip -n $(netns_ns "$h") -o addr show dev mgmt0 | grep -q ' $(host_addr "$h")/24 '"
        [ "$h" = h0 ] || check "$NETNS_TOPO: h0 reaches $h over management" reach h0 mgmt0 "$(host_addr "$h")"
    done
}

check_cables() {
    local a b ifa ifb addra addrb subnet h
    while read -r a b ifa ifb addra addrb subnet; do
        check "$NETNS_TOPO: $a -> $b over $ifa ($subnet)" reach "$a" "$ifa" "$addrb"
        check "$NETNS_TOPO: $b -> $a over $ifb ($subnet)" reach "$b" "$ifb" "$addra"
        for h in $(cluster_hosts); do
            [ "$h" = "$a" ] || [ "$h" = "$b" ] && continue
            check "$NETNS_TOPO: $h cannot reach cable $a-$b ($addrb)" not reach_any "$h" "$addrb"
        done
    done < <(cluster_cables)
}

check_switch() {
    local h g
    check "$NETNS_TOPO: data switch exists" quiet ip -n "$(netns_ns dsw)" -d link show br0 type bridge
    for h in $(cluster_hosts); do
        for g in $(cluster_hosts); do
            [ "$h" = "$g" ] && continue
            check "$NETNS_TOPO: $h -> $g over data0" reach "$h" data0 "$(host_addr "$g" data)"
        done
    done
}

# About 24 KB from HOST through IFNAME to ADDR (three 8000-byte pings; the tool's
# round trip where ping is missing): enough to tell apart from the odd ARP probe
# the kernel sends on its own when a neighbour entry goes stale.
reach_bulk() {   # HOST IFNAME ADDR
    if command -v ping >/dev/null 2>&1; then
        ip netns exec "$(netns_ns "$1")" ping -q -c 3 -i 0.2 -s 8000 -W 1 -I "$2" "$3" >/dev/null 2>&1
    else
        reach "$@"
    fi
}

check_counters() {   # bytes over cable h0-h1 show on h0:to_h1, not on h0:mgmt0
    local before after
    counters_snapshot "$WORK/c0"
    reach_bulk h0 to_h1 "$(cable_addr h1 h0)"
    counters_snapshot "$WORK/c1"
    counters_diff "$WORK/c0" "$WORK/c1" >"$WORK/cd"
    check "$NETNS_TOPO: counters: h0:to_h1 sent bytes" awk '$1=="h0" && $2=="to_h1" && $4>0 {f=1} END {exit !f}' "$WORK/cd"
    # At most stray neighbour probes on the management link (a few 42-byte ARP
    # frames, seen once under load), never the pings' bytes.
    check "$NETNS_TOPO: counters: h0:mgmt0 sent none of it" awk '$1=="h0" && $2=="mgmt0" && $4<1024 {f=1} END {exit !f}' "$WORK/cd"
    before=$(iface_bytes h1 to_h0)
    reach h0 to_h1 "$(cable_addr h1 h0)"
    after=$(iface_bytes h1 to_h0)
    check "$NETNS_TOPO: iface_bytes h1 to_h0 moved" test "${before%% *}" -lt "${after%% *}"
}

check_rate_limit() {
    local ends
    ends=$(cluster_cables | wc -l)
    rate_limit 100mbit
    check "$NETNS_TOPO: rate_limit puts tbf on all $((2 * ends)) cable ends" test "$(
        for h in $(cluster_hosts); do tc -n "$(netns_ns "$h")" qdisc show; done | grep -c 'tbf.*rate 100Mbit')" -eq $((2 * ends))
    rate_limit off
    check "$NETNS_TOPO: rate_limit off removes them" test "$(
        for h in $(cluster_hosts); do tc -n "$(netns_ns "$h")" qdisc show; done | grep -c tbf)" -eq 0
}

check_layer() {   # class "order json" [extra json]
    local cls=$1 order=$2 extra=${3:-} js
    [ -n "$TOOL" ] || return 0
    check "$NETNS_TOPO: discovery on every host" discover_all
    js=$(graph_json) || { check "$NETNS_TOPO: graph builds" false; return; }
    check "$NETNS_TOPO: detected class $cls" json_has "$js" "\"class\":\"$cls\""
    check "$NETNS_TOPO: order $order" json_has "$js" "\"order\":[$order]"
    [ -z "$extra" ] || check "$NETNS_TOPO: $extra" json_has "$js" "$extra"
    check "$NETNS_TOPO: management links unused" not json_has "$js" '"mgmt":true,"state":"ok","usable":true' 2>/dev/null
    servers_start
    probe_all
    js=$(graph_json --results "$WORK/results") || { check "$NETNS_TOPO: graph with probes builds" false; servers_stop; return; }
    servers_stop
    check "$NETNS_TOPO: probed: class $cls" json_has "$js" "\"class\":\"$cls\""
    check "$NETNS_TOPO: probed: links carry an RTT" json_has "$js" '"rtt_us":'
    check "$NETNS_TOPO: probed: no probe failed" not json_has "$js" 'probe-failed' 2>/dev/null
}

run_topology() {   # topo class "order" [extra]
    local topo=$1
    check "$topo: cluster_up" cluster_up "$topo" || return
    check_mgmt
    if [ "$NETNS_SWITCHED" = 1 ]; then check_switch; else check_cables; fi
    [ -n "$TOOL" ] && { discover_all && servers_start; }
    if [ "$NETNS_SWITCHED" = 0 ]; then
        check_counters
        check_rate_limit
    fi
    servers_stop
    check_layer "$2" "$3" "${4:-}"
}

run_topology pair pair '"h0","h1"'
run_topology chain3 chain '"h0","h1","h2"'
run_topology chain4 chain '"h0","h1","h2","h3"'
run_topology ring4 ring '"h0","h1","h2","h3"'
run_topology triangle3 ring '"h0","h1","h2"' '"all_direct":true'
run_topology switch4 mesh '"h0","h1","h2","h3"' '"switched":true'

# ---------------------------------------------------------------- faults

cluster_up chain4
cable_down h1 h2
check "chain4: cable_down h1 h2 cuts the cable" not reach h1 to_h2 "$(cable_addr h2 h1)"
check "chain4: ... from both ends" not reach h2 to_h1 "$(cable_addr h1 h2)"
cable_up h1 h2
check "chain4: cable_up h1 h2 restores it" reach h1 to_h2 "$(cable_addr h2 h1)"
if [ -n "$TOOL" ]; then
    # two ranks per host: ranks of one host adjacent in the order
    cluster_up chain4
    check "chain4 x2: discovery" discover_all 2
    js=$(graph_json)
    check "chain4 x2: rank order" json_has "$js" '"rank_order":[0,4,1,5,2,6,3,7]'

    cable_down h1 h2
    discover_all 1
    err=$("$TOOL" graph "$WORK"/r*.rec 2>&1)
    check "chain4, cable down at start: graph fails" test $? -eq 2
    check "chain4, cable down at start: names the groups" json_has "$err" "{h0, h1} {h2, h3}"
    check "chain4, cable down at start: names the down interfaces" json_has "$err" "h1:to_h2 (10.10.2.0/24)"

    cable_up h1 h2
    discover_all 1
    servers_start
    cable_down h2 h3 # cut after discovery: only the probe can tell
    probe_all
    servers_stop
    err=$("$TOOL" graph --results "$WORK/results" "$WORK"/r*.rec 2>&1)
    check "chain4, cable cut before the probe: graph fails" test $? -eq 2
    check "chain4, cable cut before the probe: probe named" json_has "$err" "did not answer the probe"
    check "chain4, cable cut before the probe: h3 isolated" json_has "$err" "no data link reaches host h3"
fi
cluster_down
check "cluster_down leaves no namespace of this run" \
    test "$(ip netns list | grep -c "^$NETNS_PREFIX-")" -eq 0

if [ "$fails" -gt 0 ]; then
    echo "test_netns_rig: $fails check(s) failed"
    exit 1
fi
echo "test_netns_rig: all passed"
