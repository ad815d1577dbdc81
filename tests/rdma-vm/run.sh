#!/bin/bash
# SPDX-License-Identifier: MIT
# run.sh — the Soft-RoCE rig's entry point (ctest rdma_vm_smoke, .ci/run).
#
# Usage: run.sh [--build DIR] [--pair-bin PATH] [--unit-bin PATH] [--bin-dir DIR]
#               [--only one|two|three] [--bw BYTES]
#   --build DIR      initramfs cache, logs and per-run files (default
#                    $HALO_RDMA_VM_BUILD or /var/tmp/haloccl-rdma-vm); must not be
#                    under /tmp, /run or /dev (the guests mount their own there)
#   --pair-bin PATH  tests/transport/test_ib_pair, run in both rigs when given
#   --unit-bin PATH  tests/transport/test_ib_unit, run in rig (a) when given (device
#                    checks, and the memlock message under `ulimit -l 64`)
#   --bin-dir DIR    a build directory's bin/ (test_coll, test_p2p, test_ib_init,
#                    halo-topo and the *_bw tools): when given, the rigs run the
#                    collective suite and the perf tools over ib
#   --only one|two|three  run only rig (a), (b) or (c)
#   --bw BYTES       message size of the throughput comparisons in rigs (a) and (c)
#                    (default 4194304; 0 = skip them)
#
# (a) One VM (-smp 2, two NUMA nodes of one CPU each): rxe0 on a veth pair;
#     ib_write_bw with -R (rdma_cm) and without between two processes; test_ib_pair
#     between two processes; shm's FIFOs placed by NUMA node (test_shm_numa); the
#     collective suite over ib (test_ib_init vm, test_coll 2 and 3, test_p2p 2);
#     then test_ib_pair, sendrecv_bw and allreduce_bw vs ib_write_bw -R at --bw
#     bytes, printing the ratios.
# (b) Two VMs (-smp 1 each) joined by a qemu socket netdev (one cable): rxe0 on eth0
#     in each, ib_write_bw -R between them, test_ib_pair across them, one rank per
#     VM of allreduce_bw and sendrecv_bw over ib (checked), and a VM powered off in
#     the middle of an allreduce (the other rank errors out).
# (c) Three VMs (-smp 1 each), vm1 == vm2 — vm3 — vm1: two cables (rails) between
#     vm1 and vm2, one between vm2 and vm3, one (C) between vm3 and vm1, each its own
#     subnet, plus a management NIC per VM on a shared qemu multicast segment for
#     the bootstrap. With --bin-dir: first a chain (C down): halo-topo finds a chain
#     vm1,vm2,vm3; every *_bw tool (3 ranks, HALO_NET=ib) checks its results with
#     the cable peers via ib; sendrecv_bw -r 2 between the ends is forwarded by vm2;
#     with RIG_THREE_ROUNDS >= 1, allreduce_bw at --bw bytes over ib and over tcp
#     (ratio printed). Then C up
#     without rxe (mixed): every *_bw tool checked with C via tcp (a WARN names it)
#     and the rest via ib, and HALO_TRANSPORT=ib failing init naming C. Then rxe on
#     C: halo-topo finds a ring; every *_bw tool with HALO_ALGO=ring (and allreduce
#     with ring_bidir, also zero-copy at 8 MiB) checked, every cable via ib; then C
#     cut under an allreduce
#     over ib: every rank fails within bounds, with a sentence naming the peer or
#     cable. Then vm1 + vm2: ib_write_bw -R on one cable (ratio printed), and the
#     pair: two rails over ib, measured and both carrying data.
#
# Exit status: 0 all passed; 1 something failed, or the VMs cannot start here (no
# qemu, no kernel image: CI must fail rather than skip silently); 77 only when
# HALO_RDMA_VM=skip asks to skip explicitly.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${HALO_RDMA_VM_BUILD:-/var/tmp/haloccl-rdma-vm}
pair_bin="" unit_bin="" bin_dir="" only="" bw=4194304

while [ $# -gt 0 ]; do
    case "$1" in
        --build) build=$2; shift 2 ;;
        --pair-bin) pair_bin=$2; shift 2 ;;
        --unit-bin) unit_bin=$2; shift 2 ;;
        --bin-dir) bin_dir=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --bw) bw=$2; shift 2 ;;
        -h|--help) sed -n '3,46p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 1 ;;
    esac
done

if [ "${HALO_RDMA_VM:-}" = skip ]; then
    echo "SKIP: rdma-vm rig skipped because HALO_RDMA_VM=skip"
    exit 77
fi

# ---- can the VMs start here? Say exactly what is missing. ----
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=("qemu-system-x86_64 (package qemu-system-x86)")
ls /boot/vmlinuz-* >/dev/null 2>&1 || missing+=("a kernel image /boot/vmlinuz-* (Debian: linux-image-amd64, Ubuntu: linux-image-generic)")
ls -d /lib/modules/*/kernel/drivers/infiniband/sw/rxe >/dev/null 2>&1 ||
    missing+=("the rdma_rxe module under /lib/modules (Debian: linux-image-amd64, Ubuntu: linux-image-generic)")
[ -x /bin/busybox ] || command -v busybox >/dev/null || missing+=("busybox (package busybox-static)")
command -v ib_write_bw >/dev/null || missing+=("ib_write_bw (package perftest)")
command -v rdma >/dev/null || missing+=("the rdma tool (package iproute2)")
[ -e /usr/lib/x86_64-linux-gnu/libibverbs.so.1 ] || ldconfig -p 2>/dev/null | grep -q libibverbs.so.1 ||
    missing+=("libibverbs.so.1 (packages ibverbs-providers, rdma-core)")
if [ ${#missing[@]} -gt 0 ]; then
    echo "FAIL: the Soft-RoCE VMs cannot run on this machine; missing:"
    printf '  - %s\n' "${missing[@]}"
    echo "Install them with scripts/install-deps.sh --tests (as root; --list prints the packages)."
    echo "To skip this test on purpose, set HALO_RDMA_VM=skip."
    exit 1
fi
for b in "$pair_bin" "$unit_bin"; do
    if [ -n "$b" ] && [ ! -x "$b" ]; then
        echo "FAIL: $b is not an executable (build it first)"
        exit 1
    fi
done
if [ -n "$bin_dir" ]; then
    for t in test_coll test_p2p test_ib_init sendrecv_bw allreduce_bw allgather_bw broadcast_bw \
             reduce_scatter_bw reduce_bw halo-topo; do
        if [ ! -x "$bin_dir/$t" ]; then
            echo "FAIL: $bin_dir/$t is not an executable (build it first)"
            exit 1
        fi
    done
    bin_dir=$(cd "$bin_dir" && pwd)
fi
abspath() { [ -z "$1" ] || echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
pair_bin=$(abspath "$pair_bin")
unit_bin=$(abspath "$unit_bin")
mkdir -p "$build" || { echo "FAIL: cannot create $build"; exit 1; }
build=$(cd "$build" && pwd)
case "$build/" in
    /tmp/*|/run/*|/dev/*)
        # The guests mount their own /tmp, /run and /dev: files there are invisible.
        echo "note: $build is hidden inside the VMs; using /var/tmp/haloccl-rdma-vm-$(id -u) instead"
        build=/var/tmp/haloccl-rdma-vm-$(id -u)
        mkdir -p "$build" || { echo "FAIL: cannot create $build"; exit 1; } ;;
esac

# A source or build tree under /tmp (a CI clone, say) is invisible in the guests as
# well: copy the rig's scripts and the binaries next to the initramfs.
hidden() { case "$1/" in /tmp/*|/run/*|/dev/*) return 0 ;; esac; return 1; }
if hidden "$here"; then
    mkdir -p "$build/rig" && cp "$here"/*.sh "$build/rig/" && here=$build/rig
fi
stage_bin() { # PATH -> a visible copy of the file
    [ -n "$1" ] && hidden "$1" || { echo "$1"; return; }
    mkdir -p "$build/bin" && cp -f "$1" "$build/bin/" && echo "$build/bin/$(basename "$1")"
}
if [ -n "$bin_dir" ] && hidden "$bin_dir"; then
    mkdir -p "$build/bin" && cp -f "$bin_dir"/* "$build/bin/" 2>/dev/null
    bin_dir=$build/bin
fi
pair_bin=$(stage_bin "$pair_bin")
unit_bin=$(stage_bin "$unit_bin")

# The guests read these scripts from the host's root over 9p.
wrapper() { # NAME GUEST_SCRIPT
    local f=$build/$1.sh
    {
        echo "export RIG_DIR='$here' PAIR_BIN='$pair_bin' UNIT_BIN='$unit_bin' BIN_DIR='$bin_dir'"
        echo "export RIG_COLL_BIG='${RIG_COLL_BIG:-20000}' RIG_SECRET='rig-$$-$RANDOM' RIG_TAIL='${RIG_TAIL:-25}'"
        echo "export RIG_BW_SIZE='$([ "$bw" != 0 ] && echo "$bw")'"
        echo "export RIG_BW_ITERS='${RIG_BW_ITERS:-10}' RIG_BW_ROUNDS='${RIG_BW_ROUNDS:-1}' RIG_PAIR_BIG='${RIG_PAIR_BIG:-64}'"
        echo "export RIG_THREE_ITERS='${RIG_THREE_ITERS:-5}' RIG_THREE_ROUNDS='${RIG_THREE_ROUNDS:-0}'"
        echo "export RIG_BW_ONLY='${RIG_BW_ONLY:-}' RIG_BW_AB='${RIG_BW_AB:-}'"
        echo ". '$here/$2'"
    } > "$f"
    echo "$f"
}

# A free TCP port on loopback for a qemu socket netdev.
free_port() {
    local p
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 30000))
        ss -Hltn "sport = :$p" 2>/dev/null | grep -q . || { echo $p; return 0; }
    done
    return 1
}

# wait_rig PREFIX PID...: waits until the rig's VMs have ended. When one prints
# "CABLE STALL:" (guest-lib.sh: a neighbour stopped answering on a qemu socket
# cable after a failed check), or its kernel's NETDEV WATCHDOG says a transmit
# queue has been stuck for 30 s or more, it stops them all at once rather than
# letting each later check run into its timeout; run_rig then runs the rig again.
STALL_NOW='CABLE STALL:|NETDEV WATCHDOG: .*timed out ([3-9][0-9]{4}|[0-9]{6,}) ms'

wait_rig() {
    local prefix=$1 p alive
    shift
    while :; do
        alive=0
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 1 ] || return 0
        if grep -qE "$STALL_NOW" "$build/$prefix"-vm[0-9].log 2>/dev/null; then
            echo "=== a qemu cable of rig ($prefix) stalled: stopping its VMs ==="
            pkill -TERM -f "halo_script=$build/run-vm" 2>/dev/null
            return 0
        fi
        sleep 2
    done
}

vm_pids=()
cleanup() { for p in "${vm_pids[@]}"; do kill "$p" 2>/dev/null; done; }
trap cleanup EXIT INT TERM

results=()
failed=0

rig_one() {
    echo "=== (a) one VM: rxe0 on a veth pair, processes on one RDMA device ==="
    SECONDS=0
    "$here/run-vm.sh" --build "$build" --vmid 1 --smp 2 --mem 2048 --numa 2 --timeout "${RIG_ONE_TIMEOUT:-720}" --log "$build/one-vm1.log" "$(wrapper one guest-one.sh)"
    local st=$?
    local verdict=PASS
    [ $st -eq 0 ] || { verdict="FAIL (status $st)"; failed=1; }
    results+=("(a) one VM, rxe0 on veth0 ............. $verdict in ${SECONDS} s")
}

rig_two() {
    echo "=== (b) two VMs joined by a qemu socket netdev, one rxe0 each ==="
    local port
    port=$(free_port) || { results+=("(b) two VMs: FAIL (no free port)"); failed=1; return; }
    local w
    w=$(wrapper two guest-two.sh)
    SECONDS=0
    "$here/run-vm.sh" --build "$build" --vmid 1 --smp 1 --mem 1024 --timeout 420 --log "$build/two-vm1.log" --nic "listen:$port" "$w" &
    local p1=$!
    vm_pids+=($p1)
    "$here/run-vm.sh" --build "$build" --vmid 2 --smp 1 --mem 1024 --timeout 420 --log "$build/two-vm2.log" --nic "connect:$port" "$w" &
    local p2=$!
    vm_pids+=($p2)
    wait_rig two $p1 $p2
    wait $p1; local s1=$?
    wait $p2; local s2=$?
    vm_pids=()
    local verdict=PASS
    if [ $s1 -ne 0 ] || [ $s2 -ne 0 ]; then verdict="FAIL (vm1 status $s1, vm2 status $s2)"; failed=1; fi
    results+=("(b) two VMs, socket netdev cable ...... $verdict in ${SECONDS} s")
}

rig_three() {
    echo "=== (c) three VMs: a chain (vm1 == vm2 - vm3), then a ring (cable C, vm3 - vm1), an rxe per cable end, management on a multicast segment ==="
    local pa pa2 pb pc pm w
    local tries=0
    while :; do
        pa=$(free_port) && pa2=$(free_port) && pb=$(free_port) && pc=$(free_port) && pm=$(free_port) ||
            { results+=("(c) three VMs: FAIL (no free port)"); failed=1; return; }
        # five different ports (pm is the multicast segment's UDP port)
        [ "$(printf '%s\n' $pa $pa2 $pb $pc $pm | sort -u | wc -l)" = 5 ] && break
        tries=$((tries + 1))
        [ $tries -lt 10 ] || { results+=("(c) three VMs: FAIL (no free ports)"); failed=1; return; }
    done
    w=$(wrapper three guest-three.sh)
    SECONDS=0
    local pids=() sts=() i
    "$here/run-vm.sh" --build "$build" --vmid 1 --smp 1 --mem 1024 --timeout 900 --log "$build/three-vm1.log" \
        --nic "mcast:$pm" --nic "listen:$pa" --nic "listen:$pa2" --nic "listen:$pc" "$w" &
    pids+=($!)
    "$here/run-vm.sh" --build "$build" --vmid 2 --smp 1 --mem 1024 --timeout 900 --log "$build/three-vm2.log" \
        --nic "mcast:$pm" --nic "connect:$pa" --nic "connect:$pa2" --nic "listen:$pb" "$w" &
    pids+=($!)
    "$here/run-vm.sh" --build "$build" --vmid 3 --smp 1 --mem 1024 --timeout 900 --log "$build/three-vm3.log" \
        --nic "mcast:$pm" --nic "connect:$pb" --nic "connect:$pc" "$w" &
    pids+=($!)
    vm_pids=("${pids[@]}")
    wait_rig three "${pids[@]}"
    for i in 0 1 2; do wait "${pids[$i]}"; sts+=($?); done
    vm_pids=()
    local verdict=PASS
    if [ "${sts[0]}" -ne 0 ] || [ "${sts[1]}" -ne 0 ] || [ "${sts[2]}" -ne 0 ]; then
        verdict="FAIL (vm1 status ${sts[0]}, vm2 status ${sts[1]}, vm3 status ${sts[2]})"; failed=1
    fi
    results+=("(c) three VMs, chain, ring + rails ... $verdict in ${SECONDS} s")
}

# Build the initramfs once up front, so two VMs starting at once do not race on it.
"$here/mkinitramfs.sh" "$build" >/dev/null || { echo "FAIL: could not build the initramfs"; exit 1; }

case "$only" in
    ''|one|two|three) ;;
    *) echo "run.sh: --only takes one, two or three, not $only"; exit 1 ;;
esac
# run_rig FUNC LOGPREFIX: runs a rig; when it failed after qemu's socket cable
# stopped moving frames (a VM printed "CABLE STALL:" or its kernel logged "NETDEV
# WATCHDOG": a stall of the emulator under load, seen about once in five loaded
# runs, not of the code under test), runs it once more and says so in its result
# line, keeping the first run's console logs as PREFIX-vmN.first.log. Any other
# failure, or a second one, stands.
run_rig() {
    local fn=$1 prefix=$2 nres=${#results[@]} before=$failed
    rm -f "$build/$prefix"-vm*.log
    "$fn"
    case "${results[$nres]:-}" in *FAIL*) ;; *) return 0 ;; esac
    local stalled f
    stalled=$(grep -lE 'CABLE STALL:|NETDEV WATCHDOG' "$build/$prefix"-vm[0-9].log 2>/dev/null | sed 's|.*/||' |
        paste -sd, -)
    [ -n "$stalled" ] || return 0
    echo "=== the rig failed after qemu's socket cable stalled ($stalled: CABLE STALL or NETDEV WATCHDOG): running it again ==="
    for f in "$build/$prefix"-vm[0-9].log; do mv "$f" "${f%.log}.first.log"; done
    local first=${results[$nres]}
    results=("${results[@]:0:$nres}")
    failed=$before
    "$fn"
    results[$nres]="${results[$nres]} (second run; the first: ${first##*.. } with a qemu cable stall in $stalled)"
}

[ -n "$only" ] && [ "$only" != one ] || run_rig rig_one one
[ -n "$only" ] && [ "$only" != two ] || run_rig rig_two two
[ -n "$only" ] && [ "$only" != three ] || run_rig rig_three three

echo "=== rdma-vm summary ==="
printf '  %s\n' "${results[@]}"
[ -n "$pair_bin" ] || echo "  (test_ib_pair not run: no --pair-bin given)"
[ -n "$unit_bin" ] || echo "  (test_ib_unit not run: no --unit-bin given)"
[ -n "$bin_dir" ] || echo "  (collectives over ib not run: no --bin-dir given)"
if [ $failed -ne 0 ]; then
    echo "rdma-vm: FAILED (console logs: $build/*vm*.log)"
    exit 1
fi
echo "rdma-vm: all passed"
exit 0
