#!/bin/sh
# SPDX-License-Identifier: MIT
# halo-topo --json prints one JSON value in every mode (-n local ranks, with and
# without --plan, one and several ranks); json_check (no python needed) parses each.
# The several-host modes run in the emulated cluster (tests/netns), not here. Then
# the one-host plan's "runs": the algorithm the auto choice gives per transport.
# usage: check_topo_json.sh HALO_TOPO JSON_CHECK
set -u
topo=$1 check=$2 fail=0
for args in "-n 1 --json" "-n 2 --json" "-n 3 --json --plan 8k" "-n 2 --json --plan 16m" "-n 1 --plan 1m --json"; do
    # shellcheck disable=SC2086 # the modes are word lists
    out=$("$topo" $args) || { echo "FAIL: halo-topo $args exited $?"; fail=1; continue; }
    if printf '%s\n' "$out" | "$check"; then
        echo "ok: halo-topo $args: $out"
    else
        echo "FAIL: halo-topo $args is not JSON: $out"
        fail=1
    fi
done
# One host, the auto all-reduce: the ring above HALO_DIRECT_MAX (two-shot up to
# 1 MiB from 3 ranks when they outnumber the cores, as on a 2-core machine), and
# over loopback tcp from 3 ranks both ways round (ring_bidir) above 1 MiB.
runs() { # WANT ENV... -- HALO_TOPO_ARGS...
    want=$1; shift
    envs=""
    while [ "$1" != -- ]; do envs="$envs $1"; shift; done
    shift
    # shellcheck disable=SC2086 # word lists
    got=$(env $envs "$topo" "$@" | sed -n 's/.*"runs":"\([a-z_]*\)".*/\1/p')
    if [ "$got" = "$want" ]; then
        echo "ok: $envs halo-topo $*: runs $got"
    else
        echo "FAIL: $envs halo-topo $*: runs '$got', not $want"
        fail=1
    fi
}
tcp="HALO_TRANSPORT=tcp HALO_SOCKET_IFNAME=lo"
mid3=ring # 3 ranks above the one-shot's sizes, up to 1 MiB
[ "$(nproc)" -lt 3 ] && mid3=two_shot
runs ring_bidir $tcp -- -n 3 --json --plan 4m
runs $mid3 $tcp -- -n 3 --json --plan 1m
runs $mid3 $tcp -- -n 3 --json --plan 64k
runs ring $tcp -- -n 2 --json --plan 4m
runs ring HALO_TRANSPORT=shm -- -n 3 --json --plan 4m
runs $mid3 HALO_TRANSPORT=shm -- -n 3 --json --plan 256k
runs direct $tcp -- -n 3 --json --plan 8k
# 4 ranks over shm: two-shot up to 256 KiB whether or not they outnumber the cores;
# above only where they do, there at every size (over loopback tcp: ring_bidir)
mid4=ring
[ "$(nproc)" -lt 4 ] && mid4=two_shot
runs two_shot HALO_TRANSPORT=shm -- -n 4 --json --plan 128k
runs $mid4 HALO_TRANSPORT=shm -- -n 4 --json --plan 1m
runs $mid4 HALO_TRANSPORT=shm -- -n 4 --json --plan 64m
[ "$(nproc)" -lt 4 ] && runs ring_bidir $tcp -- -n 4 --json --plan 64m
# the checker itself refuses what --plan used to print: text after the object
if printf '{"a":1}\nallreduce 1 MiB\n' | "$check" 2>/dev/null; then
    echo "FAIL: json_check accepted text after the object"
    fail=1
fi
exit $fail
