# SPDX-License-Identifier: MIT
# guest-two.sh — inside each of two VMs joined by a qemu socket netdev (one cable):
# vm1 = 10.56.0.1 (server, rank 0), vm2 = 10.56.0.2 (client, rank 1), rxe0 on eth0.
# Env (set by run.sh's wrapper): RIG_DIR, PAIR_BIN, BIN_DIR (may be empty), RIG_SECRET.
. "$RIG_DIR/guest-lib.sh"

me=10.56.0.$HALO_VMID
A=10.56.0.1
check "rxe0 on eth0 ($me), ACTIVE" rig_rxe_eth $me/24 || rig_finish
# The cable is up once the peer answers (its VM may still be booting).
check "ping the other VM over the cable" retry 90 busybox ping -c 1 -W 1 10.56.0.$((3 - HALO_VMID))
RIG_CABLES=10.56.0.$((3 - HALO_VMID)) # a failed check pings it (a stalled emulator cable)

perf_two() {
    if [ "$HALO_VMID" = 1 ]; then
        perf_server -R -s 65536 -n 50
    else
        retry 60 perf_client -R -s 65536 -n 50 $A > "$RIG_TMP/cli.out" 2>&1 || { cat "$RIG_TMP/cli.out"; return 1; }
        cat "$RIG_TMP/cli.out"
        echo "RESULT ib_write_bw_R_two_vm gbits=$(perf_gbits "$RIG_TMP/cli.out")"
    fi
}
check "ib_write_bw -R between the two VMs, 64 KiB x 50" perf_two

if [ -n "$PAIR_BIN" ]; then
    rank=$((HALO_VMID - 1))
    # Listening on the wildcard (every RDMA device), as a rank with several links does.
    check "test_ib_pair across the VMs, rank $rank, wildcard listener (sizes 0..slot, ${RIG_PAIR_BIG:-64} MiB each way, wrong secret refused)" \
        "$PAIR_BIN" --rank $rank --addr $me --peer $A --big "${RIG_PAIR_BIG:-64}" --timeout 240 --wildcard
fi

if [ -n "$BIN_DIR" ]; then
    rank=$((HALO_VMID - 1))
    # One rank per VM through haloCommInitEnv; rank 0 (vm1) serves the root. Each
    # run has its own root port, so the VMs pair up run by run.
    job() { # PORT TRANSPORT CMD...
        port=$1 tr=$2; shift 2
        env HALO_TRANSPORT="$tr" HALO_ROOT=$A:$port HALO_RANK=$rank HALO_NRANKS=2 HALO_SOCKET_IFNAME=eth0 \
            HALO_SECRET="$RIG_SECRET" HALO_TIMEOUT_MS=${TIMEOUT_MS:-120000} "$@"
    }
    check "allreduce_bw across the VMs over ib, rank $rank, 64 B..4 MiB, every element checked" \
        job 47401 ib "$BIN_DIR/allreduce_bw" -b 64 -e 4m -f 4 -w 1 -i 3 -c 1
    check "sendrecv_bw across the VMs over ib, rank $rank, 64 B..4 MiB, every element checked" \
        job 47402 ib "$BIN_DIR/sendrecv_bw" -b 64 -e 4m -f 4 -w 1 -i 3 -c 1
    check "allreduce_bw over ib with HALO_CHECKSUM=1 (a CRC-32C in every frame), rank $rank, 64 B..4 MiB, checked" \
        job 47406 ib env HALO_CHECKSUM=1 "$BIN_DIR/allreduce_bw" -b 64 -e 4m -f 4 -w 1 -i 3 -c 1
    # Four QPs per connection: zero-copy pieces (1 MiB) spread over all of them.
    qps4() {
        job 47405 ib env HALO_IB_QPS_PER_PEER=4 HALO_DEBUG=INFO HALO_DEBUG_SUBSYS=NET \
            "$BIN_DIR/sendrecv_bw" -b 1m -e 16m -f 4 -w 1 -i 2 -c 1 > "$RIG_TMP/qps.out" 2>&1
        st=$?
        grep -v '^#' "$RIG_TMP/qps.out" | grep -vE 'HALO INFO' | tail -n 4
        [ $st -eq 0 ] && grep -q "4 QPs per connection" "$RIG_TMP/qps.out"
    }
    check "sendrecv_bw across the VMs, HALO_IB_QPS_PER_PEER=4, 1..16 MiB, every element checked (rank $rank)" qps4
    # auto picks ib for a peer on another host when both ends of the link have an
    # ACTIVE RDMA port (each rank logs its peer's transport at INFO).
    auto_ib() {
        job 47403 auto env HALO_DEBUG=INFO HALO_DEBUG_SUBSYS=INIT "$BIN_DIR/allreduce_bw" -b 64 -e 64k -f 32 -w 1 -i 3 -c 1 \
            > "$RIG_TMP/auto.out" 2>&1
        st=$?
        grep -v '^#' "$RIG_TMP/auto.out" | tail -n 20
        [ $st -eq 0 ] && grep -q "peer $((1 - rank)) (.*) via ib " "$RIG_TMP/auto.out"
    }
    check "HALO_TRANSPORT=auto across the VMs chooses ib (rank $rank)" auto_ib

    RIG_CABLES="" # the cable goes quiet on purpose now
    # Last: vm2 powers off while both ranks are in an allreduce (its script ends, the
    # VM's init powers off at once: no process exit, no disconnect). Rank 0 must fail
    # with a sentence within HALO_TIMEOUT_MS (30 s here), not hang.
    if [ "$HALO_VMID" = 1 ]; then
        survivor() {
            t0=$(date +%s)
            TIMEOUT_MS=30000 job 47404 ib "$BIN_DIR/allreduce_bw" -b 4m -e 4m -w 0 -i 100000 -c 0 \
                > "$RIG_TMP/off.out" 2>&1
            st=$?
            t=$(( $(date +%s) - t0 ))
            tail -n 6 "$RIG_TMP/off.out"
            echo "rank 0: status $st after $t s"
            [ $st -ne 0 ] && [ $t -lt 150 ] &&
                grep -Eq "ib connection to peer 1|made no progress|did not take" "$RIG_TMP/off.out" &&
                echo "RESULT peer_vm_off_detected seconds=$t (from the start of init): $(grep -m1 -Eo \
                    "(ib connection to peer 1|peer 1 .* made no progress|peers did not take).*" "$RIG_TMP/off.out")"
        }
        check "vm2 powered off mid-allreduce: rank 0 errors out with a sentence" survivor
    else
        TIMEOUT_MS=30000 job 47404 ib env HALO_DEBUG=INFO HALO_DEBUG_SUBSYS=INIT \
            "$BIN_DIR/allreduce_bw" -b 4m -e 4m -w 0 -i 100000 -c 0 > "$RIG_TMP/off.out" 2>&1 &
        for _ in $(seq 240); do grep -q "ready: rank 1 of 2" "$RIG_TMP/off.out" && break; sleep 0.5; done
        grep -q "ready: rank 1 of 2" "$RIG_TMP/off.out" || { echo "rank 1 never got ready:"; tail "$RIG_TMP/off.out"; }
        sleep 5
        echo "rig: vm2 powers off now, in the middle of rank 1's allreduce"
    fi
fi
rig_finish
