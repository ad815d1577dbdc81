# SPDX-License-Identifier: MIT
# probe-netns.sh — inside one VM: can network namespaces be separate RDMA hosts?
#
#   tests/rdma-vm/run-vm.sh --build /var/tmp/rig --smp 2 --mem 2048 tests/rdma-vm/probe-netns.sh
#
# Not part of rdma_vm_smoke: it records why rig (a) cannot emulate chains, rings and
# rails with namespaces (one rxe device per cable end, each namespace seeing only its
# own), and lets a newer kernel be checked. Two namespaces A and B joined by a veth
# pair (10.10.1.1 / 10.10.1.2):
#   1. `rdma system set netns exclusive` (before any namespace or device: the kernel
#      refuses the switch with EBUSY once another namespace exists), `rdma link add`
#      inside each namespace: where does the device land, what does each namespace see?
#   2. a device created in the initial namespace, moved with `rdma dev set D netns A`;
#   3. the data path: ib_write_bw from B to A with rdma_cm (-R) and with the socket
#      exchange, and rxe's sent/received packet counters.
# Steps 1-2 run by default; when step 1 leaves the namespaces without their devices
# the probe stops there (the mode cannot go back to shared once namespaces exist).
# PROBE_MODE=shared (a second VM run) skips them: one rxe per veth end, created inside
# its namespace in the default shared mode, then step 3. Prints "VERDICT: ..." and
# exits 0 only when the data path works (and, in exclusive mode, each namespace sees
# its own device alone).

exec 2>&1
x() { echo "+ $*"; "$@"; st=$?; echo "  -> status $st"; return $st; }
echo "kernel $(uname -r)"
if [ "${PROBE_MODE:-exclusive}" = exclusive ]; then
    # Only while no namespace but the initial one exists (EBUSY otherwise).
    x rdma system set netns exclusive
    x rdma system show
fi

{ ip netns add A && ip netns add B; } || { echo "VERDICT: cannot create namespaces"; exit 2; }
ip link add va netns A type veth peer name vb netns B
ip -n A addr add 10.10.1.1/24 dev va
ip -n B addr add 10.10.1.2/24 dev vb
for n in A B; do ip -n $n link set lo up; done
ip -n A link set va up
ip -n B link set vb up

sees() { # NS DEV: is DEV in NS's view (rdma dev and /sys/class/infiniband)?
    ip netns exec "$1" rdma dev 2>/dev/null | grep -q " $2:" &&
        ip netns exec "$1" ls /sys/class/infiniband 2>/dev/null | grep -qx "$2"
}

ok=1
if [ "${PROBE_MODE:-exclusive}" = exclusive ]; then
    echo "== 1. exclusive mode, rdma link add inside each namespace"
    x ip netns exec A rdma link add rxe_A_va type rxe netdev va
    x ip netns exec B rdma link add rxe_B_vb type rxe netdev vb
    echo "-- initial namespace:"; rdma dev; ls /sys/class/infiniband
    for n in A B; do echo "-- namespace $n (rdma dev, /sys/class/infiniband):"
        ip netns exec $n rdma dev; ip netns exec $n ls /sys/class/infiniband; done
    if sees A rxe_A_va && sees B rxe_B_vb && ! sees A rxe_B_vb; then
        echo "RESULT exclusive: each namespace sees its own device only"
    else
        echo "RESULT exclusive: the devices are not in their namespaces' view"; ok=0
    fi
    echo "== 2. a device created in the initial namespace, then moved"
    ip link add vc type veth peer name vd && ip link set vc up && ip link set vd up
    x rdma link add rxe_init_vc type rxe netdev vc
    if x rdma dev set rxe_init_vc netns A; then
        echo "RESULT move: rdma dev set netns works"
    else
        echo "RESULT move: rdma dev set netns refused (rxe cannot disassociate its user contexts)"
    fi
    if [ $ok = 0 ]; then
        echo "VERDICT: no per-namespace RDMA devices with rxe on kernel $(uname -r)" \
            "(run again with PROBE_MODE=shared for the data path)"
        exit 1
    fi
else
    echo "== 3. shared mode, rdma link add inside each namespace"
    x ip netns exec A rdma link add rxe_A_va type rxe netdev va
    x ip netns exec B rdma link add rxe_B_vb type rxe netdev vb
    echo "-- namespace A (rdma link, /sys/class/infiniband):"
    ip netns exec A rdma link; ip netns exec A ls /sys/class/infiniband
    sees A rxe_B_vb && { echo "RESULT shared: every namespace sees every device (no per-host view)"; ok=0; }
fi

cnt() { cat "/sys/class/infiniband/$1/ports/1/hw_counters/$2" 2>/dev/null || echo "?"; }
bw() { # TAG [ib_write_bw options]
    tag=$1; shift
    ip netns exec A timeout 25 ib_write_bw -d rxe_A_va -F -s 65536 -n 100 "$@" > /tmp/probe-srv.out 2>&1 &
    sleep 2
    ip netns exec B timeout 20 ib_write_bw -d rxe_B_vb -F -s 65536 -n 100 "$@" 10.10.1.1 > /tmp/probe-cli.out 2>&1
    cst=$?
    wait
    grep -E "CM event|Unable|Completion with error|Failed status|^ *65536" /tmp/probe-cli.out | sed 's/^/      | /'
    echo "RESULT $tag: client status $cst; rxe_B_vb sent_pkts $(cnt rxe_B_vb sent_pkts)," \
        "rxe_A_va rcvd_pkts $(cnt rxe_A_va rcvd_pkts)"
    return $cst
}
bw "ib_write_bw -R (rdma_cm) B->A" -R || ok=0
bw "ib_write_bw (socket exchange) B->A" || ok=0
dmesg | grep -iE "rxe|rdma" | tail -n 5
if [ $ok = 1 ]; then
    echo "VERDICT: network namespaces are separate RDMA hosts on kernel $(uname -r)"
    exit 0
fi
echo "VERDICT: network namespaces are NOT separate RDMA hosts with rxe on kernel $(uname -r)"
exit 1
