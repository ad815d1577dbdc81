# SPDX-License-Identifier: MIT
# netns.sh — emulated clusters from network namespaces and veth pairs (source it; bash).
#
# A cluster is a set of hosts h0..hN-1, each a network namespace with:
#   mgmt0   a management veth on a shared bridge (192.168.200.0/24, host i = .10+i),
#           for the bootstrap — the only network every host shares;
#   to_hJ   one veth per cable to host hJ; cable k is its own subnet 10.10.k.0/24
#           (the lower-numbered host holds .1, the other .2);
#   to_hJb  a second cable to hJ (topologies ending in "d": the first pair of hosts
#           is joined twice, each cable its own subnet, as two USB4 cables are);
#   data0   (switch topologies) a veth on a second bridge, the data switch,
#           10.20.0.0/24, host i = .10+i.
# The bridges live in namespaces of their own (PREFIX-mgmt, PREFIX-dsw), so nothing
# is added to the machine's root namespace. Every name starts with NETNS_PREFIX
# (default "hn<pid>"), so parallel runs do not collide; cluster_down removes
# everything with that prefix, and cluster_up installs it as the EXIT trap when the
# script has none (NETNS_KEEP=1 keeps the cluster after the script ends).
#
# Topologies: pair, chain3, chain4, ring4, triangle3, switch4 — and chainN, ringN,
# switchN for N up to 16 (triangle3 is ring3); pair2, chainNd and ringNd: the same
# with a second cable between h0 and h1 (pair2 = chain2d).
#
# Functions:
#   cluster_up TOPO            build it (tears down an earlier one of this prefix)
#   cluster_down               remove every namespace of this prefix
#   cluster_hosts              h0 h1 ...
#   cluster_cables             one line per cable: "hA hB IFA IFB ADDR_A ADDR_B SUBNET"
#   run_on HOST CMD...         run CMD in HOST's namespace with hostname HOST
#   host_addr HOST [mgmt|data] the host's management (default) or switch address
#   cable_addr HOST PEER       HOST's address on its cable to PEER
#   cable_down A B / cable_up A B    cut / restore the cable (both ends' carrier);
#                              B = h1b names the second cable to h1
#   rate_limit RATE            tbf at RATE (e.g. 500mbit) on every cable end and
#                              switch port; rate_limit off removes it
#   cable_rate A B RATE        tbf at RATE on both ends of one cable (B = h1b: the
#                              second one)
#   iface_bytes HOST IF        "rx_bytes tx_bytes" of one interface
#   counters_snapshot FILE     "host if rx tx" for every interface of every host
#   counters_diff OLD NEW      "host if drx dtx" per interface
#   cluster_ping A B           ping B's cable address from A over the cable (0 = ok)
#
# Needs root and iproute2 (ip, tc); ping (iputils) only for cluster_ping.

: "${NETNS_PREFIX:=hn$$}"
NETNS_MGMT_NET=192.168.200
NETNS_SWITCH_NET=10.20.0
NETNS_HOSTS=()
NETNS_CABLES=()   # "a b k" with host numbers a < b... as given, and cable number k
NETNS_TOPO=
NETNS_SWITCHED=0

netns_ns() { echo "${NETNS_PREFIX}-$1"; }
netns_die() { echo "netns.sh: $*" >&2; return 1; }

# ---------------------------------------------------------------- building blocks

netns_host_add() {   # h
    local ns; ns=$(netns_ns "$1")
    ip netns add "$ns" || return 1
    ip -n "$ns" link set lo up
    # no IPv6 on the emulated links: DAD would delay them, and the layer ignores link-local
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}

netns_bridge_add() {   # namespace-suffix
    local ns; ns=$(netns_ns "$1")
    ip netns add "$ns" || return 1
    ip -n "$ns" link set lo up
    # no IPv6 on the switch either: its router/MLD chatter would show in the counters
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link add br0 type bridge stp_state 0 forward_delay 0 || return 1
    ip -n "$ns" link set br0 up
}

netns_port_add() {   # i bridge-suffix ifname addr/prefix
    local i=$1 br=$2 ifn=$3 addr=$4
    local ns; ns=$(netns_ns "h$i")
    local bns; bns=$(netns_ns "$br")
    ip link add "$ifn" netns "$ns" type veth peer name "p_h$i" netns "$bns" || return 1
    ip -n "$bns" link set "p_h$i" master br0 up
    ip -n "$ns" addr add "$addr" dev "$ifn"
    ip -n "$ns" link set "$ifn" up
}

netns_cable_add() {   # a b k [suffix: "b" for a second cable between a and b]
    local a=$1 b=$2 k=$3 x=${4:-}
    ip link add "to_h$b$x" netns "$(netns_ns "h$a")" type veth peer name "to_h$a$x" netns "$(netns_ns "h$b")" || return 1
    ip -n "$(netns_ns "h$a")" addr add "10.10.$k.1/24" dev "to_h$b$x"
    ip -n "$(netns_ns "h$b")" addr add "10.10.$k.2/24" dev "to_h$a$x"
    ip -n "$(netns_ns "h$a")" link set "to_h$b$x" up
    ip -n "$(netns_ns "h$b")" link set "to_h$a$x" up
    NETNS_CABLES+=("$a $b $k $x")
}

# "pair" -> kind=chain n=2 etc.
netns_topo_parse() {   # topo -> echo "kind n"
    case "$1" in
    pair) echo "chain 2" ;;
    pair2) echo "chain 2 d" ;;
    chain[0-9]d|chain1[0-6]d) local t=${1%d}; echo "chain ${t#chain} d" ;;
    ring[0-9]d|ring1[0-6]d) local t=${1%d}; echo "ring ${t#ring} d" ;;
    triangle3) echo "ring 3" ;;
    chain[0-9]|chain1[0-6]) echo "chain ${1#chain}" ;;
    ring[0-9]|ring1[0-6]) echo "ring ${1#ring}" ;;
    switch[0-9]|switch1[0-6]) echo "switch ${1#switch}" ;;
    *) return 1 ;;
    esac
}

# ---------------------------------------------------------------- cluster

cluster_up() {   # TOPO
    local topo=$1 kind n i double
    read -r kind n double <<<"$(netns_topo_parse "$topo")" || true
    [ -n "$kind" ] && [ "$n" -ge 2 ] || { netns_die "unknown topology '$topo'"; return 1; }
    [ "$kind" != ring ] || [ "$n" -ge 3 ] || { netns_die "a ring needs 3+ hosts"; return 1; }
    cluster_down
    # clean up on exit, unless the caller keeps the cluster or has an EXIT trap of its
    # own (which must then call cluster_down)
    [ "${NETNS_KEEP:-0}" = 1 ] || [ -n "$(trap -p EXIT)" ] || trap cluster_down EXIT
    NETNS_TOPO=$topo
    NETNS_HOSTS=()
    NETNS_CABLES=()
    NETNS_SWITCHED=0
    netns_bridge_add mgmt || { cluster_down; return 1; }
    for ((i = 0; i < n; i++)); do
        NETNS_HOSTS+=("h$i")
        netns_host_add "h$i" &&
            netns_port_add "$i" mgmt mgmt0 "$NETNS_MGMT_NET.$((10 + i))/24" || { cluster_down; return 1; }
    done
    case $kind in
    chain | ring)
        for ((i = 0; i + 1 < n; i++)); do
            netns_cable_add "$i" $((i + 1)) $((i + 1)) || { cluster_down; return 1; }
        done
        if [ "$kind" = ring ]; then
            netns_cable_add 0 $((n - 1)) "$n" || { cluster_down; return 1; }
        fi
        if [ "$double" = d ]; then   # the second cable h0-h1, subnet after the others
            netns_cable_add 0 1 $((n + 1)) b || { cluster_down; return 1; }
        fi
        ;;
    switch)
        NETNS_SWITCHED=1
        netns_bridge_add dsw || { cluster_down; return 1; }
        for ((i = 0; i < n; i++)); do
            netns_port_add "$i" dsw data0 "$NETNS_SWITCH_NET.$((10 + i))/24" || { cluster_down; return 1; }
        done
        ;;
    esac
    netns_wait_up
}

# Waits (up to 5 s) until every interface of every host has carrier: discovery right
# after `ip link set up` would otherwise see some veth ends still down.
netns_wait_up() {
    local h tries
    for h in "${NETNS_HOSTS[@]}"; do
        for ((tries = 0; tries < 100; tries++)); do
            ip -n "$(netns_ns "$h")" -o link show up | grep -v ' lo:' | grep -q 'NO-CARRIER\|state DOWN\|state LOWERLAYERDOWN' || break
            sleep 0.05
        done
    done
}

cluster_down() {
    local ns
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${NETNS_PREFIX}-(h[0-9]+|mgmt|dsw)\$"); do
        ip netns del "$ns" 2>/dev/null
    done
    return 0
}

cluster_hosts() { echo "${NETNS_HOSTS[@]}"; }

cluster_cables() {
    local c a b k x
    for c in "${NETNS_CABLES[@]}"; do
        read -r a b k x <<<"$c"
        echo "h$a h$b to_h$b$x to_h$a$x 10.10.$k.1 10.10.$k.2 10.10.$k.0/24"
    done
}

run_on() {   # HOST CMD...
    local host=$1; shift
    # own UTS namespace: the host is named like the emulated host, as on a real cluster
    ip netns exec "$(netns_ns "$host")" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$host" "$@"
}

netns_job() {   # OUT ENV... -- CMD...: CMD as one rank per host of the cluster
    # (haloCommInitEnv through HALO_ROOT on h0, a fresh port each job), rank r's
    # output in OUT.r; returns when every rank has exited.
    local out=$1 n=${#NETNS_HOSTS[@]} i envs=()
    shift
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    NETNS_JOB_PORT=$((${NETNS_JOB_PORT:-29700} + 1))
    for ((i = 0; i < n; i++)); do
        run_on "h$i" env HALO_ROOT="$NETNS_MGMT_NET.10:$NETNS_JOB_PORT" HALO_RANK=$i HALO_NRANKS=$n \
            HALO_SECRET=netns-job "${envs[@]}" "$@" >"$out.$i" 2>&1 &
    done
    wait
}

host_addr() {   # HOST [mgmt|data]
    local i=${1#h}
    if [ "${2:-mgmt}" = data ]; then echo "$NETNS_SWITCH_NET.$((10 + i))"; else echo "$NETNS_MGMT_NET.$((10 + i))"; fi
}

cable_addr() {   # HOST PEER
    local c a b k h=${1#h} p=${2#h}
    for c in "${NETNS_CABLES[@]}"; do
        read -r a b k <<<"$c"
        if [ "$a" = "$h" ] && [ "$b" = "$p" ]; then echo "10.10.$k.1"; return 0; fi
        if [ "$b" = "$h" ] && [ "$a" = "$p" ]; then echo "10.10.$k.2"; return 0; fi
    done
    return 1
}

cable_down() { ip -n "$(netns_ns "$1")" link set "to_$2" down; }
cable_rate() {   # A B RATE: both ends (B = hJb: the second cable to hJ)
    local x=${2#h[0-9]}
    x=${x#[0-9]}
    netns_tbf "$(netns_ns "$1")" "to_$2" "$3" && netns_tbf "$(netns_ns "${2%b}")" "to_$1$x" "$3"
}
cable_up() {   # A B (B = hJb: the second cable to hJ)
    local x=${2#h[0-9]}
    x=${x#[0-9]}
    ip -n "$(netns_ns "$1")" link set "to_$2" up &&
        ip -n "$(netns_ns "${2%b}")" link set "to_$1$x" up && netns_wait_up
}

# bits per second of "500mbit", "1gbit", "100kbit", "2000000"
netns_rate_bits() {
    local r=${1,,}
    case $r in
    *gbit) echo $((${r%gbit} * 1000000000)) ;;
    *mbit) echo $((${r%mbit} * 1000000)) ;;
    *kbit) echo $((${r%kbit} * 1000)) ;;
    *bit) echo "${r%bit}" ;;
    *) echo "$r" ;;
    esac
}

netns_data_ifaces() {   # ns -> interface names of cables and switch ports
    ip -n "$1" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^(to_h[0-9]+b?|data0|p_h[0-9]+)$'
}

# tbf at RATE on one interface: a bucket of 4 ms worth of bytes, at least 64 KiB
# (with a smaller one the shaper needs a wake-up per few packets and the CPU, not
# the rate, sets the pace)
netns_tbf() {   # NS IF RATE
    local bits burst
    bits=$(netns_rate_bits "$3")
    burst=$((bits / 8 / 250))
    [ "$burst" -ge 65536 ] || burst=65536
    tc -n "$1" qdisc replace dev "$2" root tbf rate "$bits" burst "$burst" latency 100ms
}

rate_limit() {   # RATE | off
    local rate=$1 ns ifn
    local spaces=()
    for ns in "${NETNS_HOSTS[@]}"; do spaces+=("$(netns_ns "$ns")"); done
    [ "$NETNS_SWITCHED" = 1 ] && spaces+=("$(netns_ns dsw)")
    for ns in "${spaces[@]}"; do
        for ifn in $(netns_data_ifaces "$ns"); do
            # the data switch's ports shape what the switch sends to each host
            [ "${ns##*-}" = dsw ] || [ "${ifn#p_}" = "$ifn" ] || continue
            if [ "$rate" = off ]; then
                tc -n "$ns" qdisc del dev "$ifn" root 2>/dev/null
            else
                netns_tbf "$ns" "$ifn" "$rate" || return 1
            fi
        done
    done
    return 0
}

iface_bytes() {   # HOST IF
    ip netns exec "$(netns_ns "$1")" sh -c "cat /sys/class/net/$2/statistics/rx_bytes /sys/class/net/$2/statistics/tx_bytes" |
        paste -sd' '
}

counters_snapshot() {   # FILE
    local h ifn
    : >"$1"
    for h in "${NETNS_HOSTS[@]}"; do
        for ifn in $(ip -n "$(netns_ns "$h")" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -v '^lo$'); do
            echo "$h $ifn $(iface_bytes "$h" "$ifn")" >>"$1"
        done
    done
}

counters_diff() {   # OLD NEW
    awk 'NR == FNR { rx[$1" "$2] = $3; tx[$1" "$2] = $4; next }
         { print $1, $2, $3 - rx[$1" "$2], $4 - tx[$1" "$2] }' "$1" "$2"
}

cluster_ping() {   # A B
    local addr
    addr=$(cable_addr "$2" "$1") || { netns_die "no cable between $1 and $2"; return 1; }
    ip netns exec "$(netns_ns "$1")" ping -q -c 1 -W 1 -I "to_$2" "$addr" >/dev/null 2>&1
}
