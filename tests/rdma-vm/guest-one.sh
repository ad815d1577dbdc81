# guest-one.sh — inside one VM: rxe0 on a veth pair, two or three processes on it.
# Env (set by run.sh's wrapper): RIG_DIR, PAIR_BIN, UNIT_BIN, BIN_DIR (may be empty),
# RIG_BW_SIZE, RIG_BW_ITERS, RIG_BW_ROUNDS, RIG_COLL_BIG.
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

# ib_write_bw -b (both directions at once, as sendrecv and allreduce move data):
# perftest reports the sum of the two directions; RESULT TAG is half of it.
perf_pair_bidir() {
    dirtag=$1; shift # not "tag": perf_pair sets that one
    perf_pair "${dirtag}_sum" -b "$@" > "$RIG_TMP/bidir.out" || { cat "$RIG_TMP/bidir.out"; return 1; }
    cat "$RIG_TMP/bidir.out"
    sum=$(sed -n "s/^RESULT ${dirtag}_sum gbits=//p" "$RIG_TMP/bidir.out")
    echo "RESULT $dirtag gbits=$(awk -v s="$sum" 'BEGIN { printf "%.4f", s / 2 }')"
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

# The library's own ranks over ib: HALO_TRANSPORT=ib joins ranks of one host over
# rxe0 (auto would use shm); the bootstrap, and so the published ib address, on veth0.
ib_env() {
    env HALO_TRANSPORT=ib HALO_SOCKET_IFNAME=veth0 HALO_TIMEOUT_MS=120000 "$@"
}

if [ -n "$BIN_DIR" ]; then
    check "test_ib_init vm: ranks joined over ib, HALO_IB_HCA naming a missing device, mismatched collectives over ib" \
        ib_env "$BIN_DIR/test_ib_init" vm
    check "test_coll 2 over ib: every collective, type and op (large count $RIG_COLL_BIG)" \
        ib_env "$BIN_DIR/test_coll" 2 "$RIG_COLL_BIG"
    check "test_coll 3 over ib (large count $RIG_COLL_BIG)" ib_env "$BIN_DIR/test_coll" 3 "$RIG_COLL_BIG"
    check "test_p2p 2 over ib" ib_env "$BIN_DIR/test_p2p" 2
fi

# A perf/ tool over ib, two ranks, one size: prints a RESULT line with its busbw.
halo_bw() {
    tag=$1 tool=$2
    ib_env "$BIN_DIR/$tool" -n 2 -b "$RIG_BW_SIZE" -e "$RIG_BW_SIZE" -w 1 -i "$iters" -c 1 --json \
        > "$RIG_TMP/$tool.out" 2>&1
    st=$?
    cat "$RIG_TMP/$tool.out"
    [ $st -eq 0 ] || return $st
    g=$(halo_gbits "$RIG_TMP/$tool.out") || { echo "no busbw in the output"; return 1; }
    echo "RESULT $tag gbits=$g"
}

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
fi

if [ -n "$RIG_BW_SIZE" ]; then
    # Same VM, same size, alternating, best of RIG_BW_ROUNDS each: the host's load
    # moves TCG's speed a lot between runs. busbw of sendrecv_bw is its algbw (each
    # rank sends and receives the size); of a 2-rank allreduce_bw, also the size.
    # Both move data both ways at once, so one direction of ib_write_bw -b (both
    # ways at once too) is printed as a second baseline: under TCG, rxe may or may
    # not carry the two directions in parallel, depending on the host's load.
    iters=${RIG_BW_ITERS:-10}
    for r in $(seq "${RIG_BW_ROUNDS:-2}"); do
        check "ib_write_bw -R at $RIG_BW_SIZE bytes x $iters, round $r" \
            perf_pair ib_write_bw_R_bw -R -s "$RIG_BW_SIZE" -n "$iters"
        [ -z "$BIN_DIR" ] || check "ib_write_bw -R -b (both ways) at $RIG_BW_SIZE bytes x $iters, round $r" \
            perf_pair_bidir ib_write_bw_R_bidir_dir -R -s "$RIG_BW_SIZE" -n "$iters"
        [ -z "$PAIR_BIN" ] || check "test_ib_pair at $RIG_BW_SIZE bytes x $iters, round $r" \
            pair --big 0 --bw "$RIG_BW_SIZE" --iters "$iters"
        [ -z "$BIN_DIR" ] || check "sendrecv_bw -n 2 over ib at $RIG_BW_SIZE bytes x $iters, round $r" \
            halo_bw sendrecv_bw_ib sendrecv_bw
        [ -z "$BIN_DIR" ] || check "allreduce_bw -n 2 over ib at $RIG_BW_SIZE bytes x $iters, round $r" \
            halo_bw allreduce_bw_ib allreduce_bw
    done
    [ -z "$PAIR_BIN" ] || ratio test_ib_pair ib_write_bw_R_bw 0.80
    [ -z "$BIN_DIR" ] || ratio sendrecv_bw_ib ib_write_bw_R_bw 0.80
    [ -z "$BIN_DIR" ] || ratio allreduce_bw_ib ib_write_bw_R_bw 0.70
    [ -z "$BIN_DIR" ] || ratio sendrecv_bw_ib ib_write_bw_R_bidir_dir 0.80
    [ -z "$BIN_DIR" ] || ratio allreduce_bw_ib ib_write_bw_R_bidir_dir 0.70
fi

if [ -n "$PAIR_BIN" ]; then
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
        # The failed completion ("port 1 of rxe0 is down") or the async event ("port 1
        # of rxe0 went down") may come first: either names device and port.
        [ $s0 -eq 0 ] && [ $s1 -eq 0 ] && grep -Eq "port 1 of rxe0 (is |went down)" "$RIG_TMP/l0.out" &&
            grep -Eq "port 1 of rxe0 (is |went down)" "$RIG_TMP/l1.out"
    }
    check "test_ib_pair: link (veth0) goes down mid-transfer, both ranks error out naming the port" linkdown
fi
rig_finish
