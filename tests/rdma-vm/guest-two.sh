# guest-two.sh — inside each of two VMs joined by a qemu socket netdev (one cable):
# vm1 = 10.56.0.1 (server, rank 0), vm2 = 10.56.0.2 (client, rank 1), rxe0 on eth0.
# Env (set by run.sh's wrapper): RIG_DIR, PAIR_BIN (may be empty).
. "$RIG_DIR/guest-lib.sh"

me=10.56.0.$HALO_VMID
A=10.56.0.1
check "rxe0 on eth0 ($me), ACTIVE" rig_rxe_eth $me/24 || rig_finish
# The cable is up once the peer answers (its VM may still be booting).
check "ping the other VM over the cable" retry 90 busybox ping -c 1 -W 1 10.56.0.$((3 - HALO_VMID))

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
rig_finish
