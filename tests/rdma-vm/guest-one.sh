# guest-one.sh — inside one VM: rxe0 on a veth pair, two processes on it.
# Env (set by run.sh's wrapper): RIG_DIR, PAIR_BIN, UNIT_BIN (may be empty),
# RIG_BW_SIZE, RIG_BW_ITERS.
. "$RIG_DIR/guest-lib.sh"

A=10.55.0.1
check "rxe0 on veth0 ($A), ACTIVE" rig_rxe_veth $A/24 || rig_finish

# ib_write_bw between two processes on rxe0: server in the background, client retried
# until the server listens. Prints a RESULT line with the client's Gbit/s.
perf_pair() {
    tag=$1; shift
    perf_server "$@" > "$RIG_TMP/srv.out" 2>&1 &
    spid=$!
    retry 30 perf_client "$@" $A > "$RIG_TMP/cli.out" 2>&1
    cst=$?
    wait $spid
    sst=$?
    if [ $cst -ne 0 ] || [ $sst -ne 0 ]; then
        echo "client status $cst, server status $sst"; echo "--- client:"; tail -n 15 "$RIG_TMP/cli.out"
        echo "--- server:"; tail -n 15 "$RIG_TMP/srv.out"; return 1
    fi
    echo "RESULT $tag gbits=$(perf_gbits "$RIG_TMP/cli.out")"
}

check "ib_write_bw -R (rdma_cm), 64 KiB x 200" perf_pair ib_write_bw_R_64k -R -s 65536 -n 200
check "ib_write_bw (socket exchange), 64 KiB x 200" perf_pair ib_write_bw_64k -s 65536 -n 200

if [ -n "$UNIT_BIN" ]; then
    check "test_ib_unit: listen on rxe0, no device behind lo, HALO_IB_HCA exclusion" "$UNIT_BIN" $A
    # Registered memory is pinned: with a 64 KiB limit and without CAP_IPC_LOCK
    # (root's exemption), registering the slots must fail with the ulimit advice.
    check "test_ib_unit: memlock too low (ulimit -l 64, no CAP_IPC_LOCK)" \
        sh -c "ulimit -l 64 && exec setpriv --bounding-set=-ipc_lock \"$UNIT_BIN\" $A memlock"
fi

if [ -n "$PAIR_BIN" ]; then
    pair() {
        "$PAIR_BIN" --rank 0 --addr $A "$@" > "$RIG_TMP/p0.out" 2>&1 &
        p0=$!
        "$PAIR_BIN" --rank 1 --addr $A --peer $A "$@" > "$RIG_TMP/p1.out" 2>&1
        s1=$?
        wait $p0
        s0=$?
        echo "--- rank 0 (status $s0):"; cat "$RIG_TMP/p0.out"
        echo "--- rank 1 (status $s1):"; cat "$RIG_TMP/p1.out"
        grep -h '^RESULT' "$RIG_TMP/p0.out" "$RIG_TMP/p1.out" | sed -n 's/^RESULT ib_pair_bw rank=1 \(.*\)/RESULT test_ib_pair \1/p'
        [ $s0 -eq 0 ] && [ $s1 -eq 0 ]
    }
    check "test_ib_pair: two processes on rxe0, 3 channels (sizes 0..slot, ${RIG_PAIR_BIG:-64} MiB each way, wrong secret refused)" \
        pair --big "${RIG_PAIR_BIG:-64}" --channels 3
    # A peer that dies mid-transfer: the survivor fails with a sentence, no hang.
    death() {
        "$PAIR_BIN" --rank 0 --addr $A --big 16 --port 47312 --expect-death --timeout 60 > "$RIG_TMP/d0.out" 2>&1 &
        p0=$!
        "$PAIR_BIN" --rank 1 --addr $A --peer $A --big 16 --port 47312 --die-after 8 > "$RIG_TMP/d1.out" 2>&1
        s1=$?
        wait $p0
        s0=$?
        echo "--- rank 0 (status $s0):"; cat "$RIG_TMP/d0.out"
        echo "--- rank 1 (status $s1, 3 = died on purpose):"; cat "$RIG_TMP/d1.out"
        grep -h '^PASS failure detected' "$RIG_TMP/d0.out" | sed 's/^PASS /RESULT /'
        [ $s0 -eq 0 ] && [ $s1 -eq 3 ] && grep -q '^PASS failure detected.*disconnected' "$RIG_TMP/d0.out"
    }
    check "test_ib_pair: peer process dies mid-transfer, survivor errors out" death
    if [ -n "$RIG_BW_SIZE" ]; then
        # Same VM, same size, alternating, best of RIG_BW_ROUNDS each: the host's
        # load moves TCG's speed a lot between runs.
        iters=${RIG_BW_ITERS:-10}
        for r in $(seq "${RIG_BW_ROUNDS:-2}"); do
            check "ib_write_bw -R at $RIG_BW_SIZE bytes x $iters, round $r" \
                perf_pair ib_write_bw_R_bw -R -s "$RIG_BW_SIZE" -n "$iters"
            check "test_ib_pair at $RIG_BW_SIZE bytes x $iters, round $r" \
                pair --big 0 --bw "$RIG_BW_SIZE" --iters "$iters"
        done
        ours=$(result test_ib_pair) theirs=$(result ib_write_bw_R_bw)
        if [ -n "$ours" ] && [ -n "$theirs" ]; then
            echo "RATIO test_ib_pair / ib_write_bw -R at $RIG_BW_SIZE bytes (best of ${RIG_BW_ROUNDS:-2}):" \
                "$ours / $theirs Gbit/s = $(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
        fi
    fi
    # Last, as rxe0 may not carry traffic again after its netdev went down and up:
    # the link goes down under a transfer, both ranks fail naming port and device.
    linkdown() {
        "$PAIR_BIN" --rank 0 --addr $A --big 256 --port 47313 --expect-death --timeout 60 > "$RIG_TMP/l0.out" 2>&1 &
        p0=$!
        "$PAIR_BIN" --rank 1 --addr $A --peer $A --big 256 --port 47313 --expect-death --timeout 60 \
            > "$RIG_TMP/l1.out" 2>&1 &
        p1=$!
        for _ in $(seq 120); do grep -q '^PASS frames' "$RIG_TMP/l1.out" && break; sleep 0.5; done
        sleep 2
        ip link set veth0 down
        wait $p0; s0=$?
        wait $p1; s1=$?
        ip link set veth0 up
        for _ in $(seq 20); do rdma link show rxe0/1 | grep -q "state ACTIVE" && break; sleep 0.5; done
        echo "--- rank 0 (status $s0):"; cat "$RIG_TMP/l0.out"
        echo "--- rank 1 (status $s1):"; cat "$RIG_TMP/l1.out"
        grep -h '^PASS failure detected' "$RIG_TMP/l0.out" | sed 's/^PASS /RESULT /'
        [ $s0 -eq 0 ] && [ $s1 -eq 0 ] && grep -q "port 1 of rxe0 is " "$RIG_TMP/l0.out" &&
            grep -q "port 1 of rxe0 is " "$RIG_TMP/l1.out"
    }
    check "test_ib_pair: link (veth0) goes down mid-transfer, both ranks error out naming the port" linkdown
fi
rig_finish
