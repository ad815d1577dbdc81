# SPDX-License-Identifier: MIT
# guest-one.sh — inside one VM: rxe0 on a veth pair, two or three processes on it.
# Env (set by run.sh's wrapper): RIG_DIR, PAIR_BIN, UNIT_BIN, BIN_DIR (may be empty),
# RIG_BW_SIZE, RIG_BW_ITERS, RIG_BW_ROUNDS, RIG_COLL_BIG, RIG_BW_ONLY (non-empty:
# of BIN_DIR's runs only the throughput rounds, for measuring), RIG_BW_AB (VAR=VALUE
# ...: the throughput rounds also run send/recv and all-reduce with that setting).
. "$RIG_DIR/guest-lib.sh"
suite_bin=$BIN_DIR
[ -z "${RIG_BW_ONLY:-}" ] || suite_bin=

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

# shm on a host of two NUMA nodes (this VM: run.sh boots it with --numa 2, a CPU
# and half the memory each): each rank's receive FIFOs on the node of its CPUs.
if [ -n "$suite_bin" ]; then
    check "test_shm_numa: two ranks bound to the VM's two NUMA nodes, each rank's shm receive FIFOs on its own" \
        "$BIN_DIR/test_shm_numa"
    check "halo-info --transports under taskset -c 1: FIFOs on node 1; unbound: first touch" sh -c "
        taskset -c 1 \"$BIN_DIR/halo-info\" --transports | grep -x 'shm NUMA: 2 nodes, this process.s CPUs lie in node 1: .*' &&
        \"$BIN_DIR/halo-info\" --transports | grep 'shm NUMA: 2 nodes, this process may run on CPUs of several'"
fi

# The library's own ranks over ib: HALO_TRANSPORT=ib joins ranks of one host over
# rxe0 (auto would use shm); the bootstrap, and so the published ib address, on veth0.
ib_env() {
    env HALO_TRANSPORT=ib HALO_SOCKET_IFNAME=veth0 HALO_TIMEOUT_MS=120000 "$@"
}

if [ -n "$suite_bin" ]; then
    check "test_ib_init vm: ranks joined over ib, HALO_IB_HCA naming a missing device, mismatched collectives over ib" \
        ib_env "$BIN_DIR/test_ib_init" vm
    check "test_coll 2 over ib: every collective, type and op (large count $RIG_COLL_BIG)" \
        ib_env "$BIN_DIR/test_coll" 2 "$RIG_COLL_BIG"
    check "test_coll 3 over ib (large count $RIG_COLL_BIG)" ib_env "$BIN_DIR/test_coll" 3 "$RIG_COLL_BIG"
    check "test_p2p 2 over ib" ib_env "$BIN_DIR/test_p2p" 2
    # Zero-copy for (almost) everything: every type, op and odd count of the ring
    # all-reduce, all-gather, broadcast and reduce-scatter, and the p2p suite,
    # through grants and RDMA writes between the user buffers (test_ib_init vm
    # above checks the counters, registration and mismatches).
    check "test_coll 2 over ib, zero-copy ring collectives (HALO_IB_ZCOPY_MIN=4k, HALO_ALGO=ring)" \
        ib_env HALO_IB_ZCOPY_MIN=4k HALO_ALGO=ring "$BIN_DIR/test_coll" 2 "$RIG_COLL_BIG"
    check "test_coll 3 over ib, zero-copy ring collectives" \
        ib_env HALO_IB_ZCOPY_MIN=4k HALO_ALGO=ring "$BIN_DIR/test_coll" 3 "$RIG_COLL_BIG"
    check "test_p2p 2 over ib, zero-copy from 4 KiB" ib_env HALO_IB_ZCOPY_MIN=4k "$BIN_DIR/test_p2p" 2
    # The bidirectional ring's all-reduce, zero-copy (ring_bidir_zc): channel 1 runs
    # the ring reversed. The other collectives run the one-way zero-copy ring.
    check "test_coll 3 over ib, zero-copy ring_bidir (HALO_ALGO=ring_bidir, 2 channels)" \
        ib_env HALO_IB_ZCOPY_MIN=4k HALO_ALGO=ring_bidir HALO_NCHANNELS=2 "$BIN_DIR/test_coll" 3 "$RIG_COLL_BIG"
    # The daisy chain's collectives, zero-copy (chain_zc).
    check "test_coll 3 over ib, zero-copy chain (HALO_ALGO=chain)" \
        ib_env HALO_IB_ZCOPY_MIN=4k HALO_ALGO=chain "$BIN_DIR/test_coll" 3 "$RIG_COLL_BIG"
fi

# Every zero-copy schedule through a perf/ tool of N ranks (every element checked,
# in and out of place, float32 and int32), and the INFO line of api.c's choice
# names the zero-copy algorithm on every rank: the zero-copy path ran. One check
# at the default threshold (HALO_IB_ZCOPY_MIN 512 KiB) from 1 to 8 MiB; the
# others at one size, 2 MiB, with a threshold of 64 KiB, so that every block
# reaches it and the emulated copies stay short. Three ranks forward what they
# received from recvbuff (all-gather, broadcast) and reduce-scatter and reduce
# forward partial sums from the landing area; two do neither.
ZC_ENV='' # more VAR=VALUE for zc_coll's runs
ZC_ALGO=ring_zc # the algorithm api.c must name
ZC_SIZES="-b 2m -e 2m"
zc_coll() { # TOOL COLLECTIVE NRANKS [TOOL OPTIONS]
    tool=$1 coll=$2 np=$3
    shift 3
    # shellcheck disable=SC2086
    ib_env HALO_IB_ZCOPY_MIN=64k $ZC_ENV HALO_DEBUG=INFO HALO_DEBUG_SUBSYS=COLL "$BIN_DIR/$tool" -n "$np" $ZC_SIZES \
        -w 1 -i 2 -c 1 "$@" > "$RIG_TMP/zc.out" 2>&1
    st=$?
    grep -v ' HALO ' "$RIG_TMP/zc.out" | tail -n 4
    grep -m 2 "$coll of [0-9]* bytes: $ZC_ALGO algorithm" "$RIG_TMP/zc.out"
    [ $st -eq 0 ] || { echo "status $st"; tail -n 15 "$RIG_TMP/zc.out"; return 1; }
    # Every rank chose it at the largest size (at 1 MiB the default may copy).
    [ "$(grep -c "$coll of [0-9]* bytes: $ZC_ALGO algorithm" "$RIG_TMP/zc.out")" -ge "$np" ] ||
        { echo "no rank chose $ZC_ALGO for $coll"; return 1; }
}
# allreduce_bw through ZC_ALGO: 3 ranks float32 sum, 4 ranks int32 avg registered.
zc_allreduce() { # NAME
    check "allreduce_bw -n 3 over ib, zero-copy $1 ($ZC_ALGO chosen, every element checked)" \
        zc_coll allreduce_bw allreduce 3
    check "allreduce_bw -n 4 over ib, zero-copy $1, int32 avg, registered (-R 1)" \
        zc_coll allreduce_bw allreduce 4 -d int32 -o avg -R 1
}
if [ -n "$suite_bin" ]; then
    ZC_ENV=HALO_IB_ZCOPY_MIN=512k ZC_SIZES="-b 1m -e 8m -f 8"
    check "allgather_bw -n 3 over ib, zero-copy ring at the default threshold (ring_zc chosen, every element checked)" \
        zc_coll allgather_bw allgather 3
    ZC_ENV='' ZC_SIZES="-b 2m -e 2m"
    for np in 2 3; do
        check "allgather_bw -n $np over ib, zero-copy ring (ring_zc chosen, every element checked)" \
            zc_coll allgather_bw allgather $np
        check "broadcast_bw -n $np -r 1 over ib, zero-copy ring, int32" \
            zc_coll broadcast_bw broadcast $np -r 1 -d int32
        check "reduce_scatter_bw -n $np over ib, zero-copy ring, float32 sum" \
            zc_coll reduce_scatter_bw reducescatter $np
        check "reduce_scatter_bw -n $np over ib, zero-copy ring, int32 avg, registered (-R 1)" \
            zc_coll reduce_scatter_bw reducescatter $np -d int32 -o avg -R 1
        check "reduce_bw -n $np -r 1 over ib, zero-copy ring, float32 sum" zc_coll reduce_bw reduce $np -r 1
    done
    # Two channels: each runs its own windows, landing area and registrations.
    ZC_ENV=HALO_NCHANNELS=2
    check "allgather_bw -n 3 over ib, zero-copy ring, 2 channels" zc_coll allgather_bw allgather 3
    check "reduce_scatter_bw -n 3 over ib, zero-copy ring, 2 channels, float64 max" \
        zc_coll reduce_scatter_bw reducescatter 3 -d float64 -o max
    # Both ways round the ring: channel 0 one way, channel 1 the other.
    ZC_ENV="HALO_ALGO=ring_bidir HALO_NCHANNELS=2" ZC_ALGO=ring_bidir_zc
    zc_allreduce ring_bidir
    # The daisy chain: the all-reduce's partial sums and results on every cable,
    # each way, the middle ranks forwarding from recvbuff (2 channels);
    # reduce-scatter's and reduce's partial sums forwarded from the landing area
    # (test_coll 3 above ran every collective, type and op).
    ZC_ENV="HALO_ALGO=chain HALO_NCHANNELS=2" ZC_ALGO=chain_zc
    zc_allreduce chain
    ZC_ENV="HALO_ALGO=chain"
    check "reduce_scatter_bw -n 4 over ib, zero-copy chain, float32 sum" \
        zc_coll reduce_scatter_bw reducescatter 4
    check "reduce_bw -n 3 -r 1 over ib, zero-copy chain, int32 avg" zc_coll reduce_bw reduce 3 -r 1 -d int32 -o avg
    # Two-shot: every rank's part to its owner, the owners' results back.
    ZC_ENV="HALO_ALGO=two_shot" ZC_ALGO=two_shot_zc
    zc_allreduce two_shot
    ZC_ENV='' ZC_ALGO=ring_zc
fi

# HALO_IB_GID_INDEX. rxe0's GID table (sysfs, 1024 entries, most empty): index of the
# RoCE v2 GID whose address matches the pattern (grep -E on the sysfs text).
gid_index_of() {
    for f in $(grep -lsE "$1" /sys/class/infiniband/rxe0/ports/1/gids/*); do
        i=${f##*/}
        [ "$(cat "/sys/class/infiniband/rxe0/ports/1/gid_attrs/types/$i" 2>/dev/null)" = "RoCE v2" ] &&
            { echo "$i"; return 0; }
    done
    return 1
}
A_GID=$(printf '0000:0000:0000:0000:0000:ffff:%02x%02x:%02x%02x' $(echo $A | tr . ' '))

if [ -n "$suite_bin" ]; then
    # Both ranks force the index of $A's RoCE v2 GID: each moves its QP itself
    # (rdma_init_qp_attr, that sgid_index) and the REP names the GID to send to.
    gid_forced() {
        idx=$(gid_index_of "$A_GID") || { echo "no RoCE v2 GID of $A on rxe0"; return 1; }
        ib_env HALO_IB_GID_INDEX=$idx HALO_DEBUG=INFO HALO_DEBUG_SUBSYS=NET "$BIN_DIR/test_p2p" 2 \
            > "$RIG_TMP/gid.out" 2>&1
        st=$?
        grep -E "ib: (using|connected)" "$RIG_TMP/gid.out" | head -n 4
        [ $st -eq 0 ] || { echo "status $st"; tail -n 15 "$RIG_TMP/gid.out"; return 1; }
        grep -q "GID ::ffff:$A (index $idx, HALO_IB_GID_INDEX)" "$RIG_TMP/gid.out" &&
            grep -q "local rxe0 port 1 GID index $idx, qp 0x" "$RIG_TMP/gid.out" &&
            echo "RESULT gid_index_forced index=$idx"
    }
    check "HALO_IB_GID_INDEX = index of $A's RoCE v2 GID on both ranks: test_p2p 2 over ib, the INFO log names it" \
        gid_forced
    # One end forcing it, the other leaving it to rdma_cm, both ways round: the
    # accepting rank 0 (its REP names the GID; rank 1 detaches its QP to send to it)
    # and the connecting rank 1 (moves its own QP after CONNECT_RESPONSE).
    gid_one_end() { # FORCING-RANK PORT
        idx=$(gid_index_of "$A_GID") || { echo "no RoCE v2 GID of $A on rxe0"; return 1; }
        for r in 0 1; do
            g=""
            [ $r -eq "$1" ] && g=HALO_IB_GID_INDEX=$idx
            ib_env $g HALO_ROOT=$A:$2 HALO_RANK=$r HALO_NRANKS=2 HALO_SECRET=gid-rig-$$ HALO_DEBUG=INFO \
                HALO_DEBUG_SUBSYS=NET "$BIN_DIR/allreduce_bw" -b 64 -e 1m -f 128 -w 1 -i 2 -c 1 \
                > "$RIG_TMP/gid1.$r.out" 2>&1 &
            eval "p$r=\$!"
        done
        wait $p0; s0=$?
        wait $p1; s1=$?
        for r in 0 1; do echo "--- rank $r:"; grep -E "ib: (using|connected)|wrong|failed" "$RIG_TMP/gid1.$r.out"; done
        echo "status $s0 $s1"
        [ $s0 -eq 0 ] && [ $s1 -eq 0 ] && grep -q "GID index $idx, qp 0x" "$RIG_TMP/gid1.$1.out"
    }
    check "HALO_IB_GID_INDEX on the accepting rank only: allreduce_bw over ib, every element checked" \
        gid_one_end 0 47321
    check "HALO_IB_GID_INDEX on the connecting rank only: allreduce_bw over ib, every element checked" \
        gid_one_end 1 47322
    # A bad index fails init at once on every rank, with a sentence naming device,
    # port and index and listing the RoCE v2 GIDs (like show_gids).
    gid_bad() { # INDEX PATTERN
        t0=$(date +%s)
        ib_env HALO_IB_GID_INDEX=$1 HALO_TIMEOUT_MS=5000 timeout 90 "$BIN_DIR/test_p2p" 2 > "$RIG_TMP/gidbad.out" 2>&1
        st=$?
        t=$(( $(date +%s) - t0 ))
        grep -m 2 "HALO_IB_GID_INDEX=$1" "$RIG_TMP/gidbad.out"
        echo "status $st after $t s"
        [ $st -ne 0 ] && [ $st -ne 124 ] && [ $t -lt 60 ] && grep -Eq "$2" "$RIG_TMP/gidbad.out"
    }
    check "HALO_IB_GID_INDEX=999 (beyond 255): init fails naming rxe0 port 1 and the RoCE v2 GIDs" \
        gid_bad 999 "HALO_IB_GID_INDEX=999: GID index 999 of rxe0 port 1 is out of range.*RoCE v2 GIDs there: .*::ffff:$A \(veth0\)"
    check "HALO_IB_GID_INDEX=200 (an empty entry): init fails naming it" \
        gid_bad 200 "HALO_IB_GID_INDEX=200: GID index 200 of rxe0 port 1 is empty"
    # veth0's link-local RoCE v2 GID: an IPv6 source cannot carry the IPv4 connection.
    v6=$(gid_index_of '^fe80:') &&
        check "HALO_IB_GID_INDEX=$v6 (veth0's fe80:: GID) on an IPv4 link: init fails naming the family" \
            gid_bad "$v6" "HALO_IB_GID_INDEX=$v6 is GID fe80:.* an IPv6 address, but this connection runs over IPv4"
fi

# A perf/ tool over ib, two ranks, one size: prints a RESULT line with its busbw.
halo_bw() { # TAG TOOL [VAR=VALUE ...] [-- TOOL OPTIONS]
    tag=$1 tool=$2
    shift 2
    vars="" opts=""
    while [ $# -gt 0 ]; do
        [ "$1" = -- ] && { shift; opts="$*"; break; }
        vars="$vars $1"; shift
    done
    # shellcheck disable=SC2086
    ib_env $vars "$BIN_DIR/$tool" -n 2 -b "$RIG_BW_SIZE" -e "$RIG_BW_SIZE" -w 1 -i "$iters" -c 1 $opts --json \
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
    # Same VM, same size, alternating, RIG_BW_ROUNDS rounds: the host's load moves
    # TCG's speed a lot between runs (ratio prints best against best and the
    # median of the rounds' ratios). busbw of sendrecv_bw is its algbw (each
    # rank sends and receives the size); of a 2-rank allreduce_bw, also the size.
    # Both move data both ways at once, so one direction of ib_write_bw -b (both
    # ways at once too) is printed as a second baseline: under TCG, rxe may or may
    # not carry the two directions in parallel, depending on the host's load.
    # One round inside the suite (RIG_BW_ROUNDS=1, RIG_BW_ONLY empty) only checks the
    # library's large-message paths (zero-copy, registered, slots) at that size: a
    # single round on a loaded host measures nothing, so the baselines, the
    # duplicates and the ratios are left to perf/rdma_ratios.sh.
    iters=${RIG_BW_ITERS:-10}
    measure=1
    [ -n "${RIG_BW_ONLY:-}" ] || [ "${RIG_BW_ROUNDS:-2}" -gt 1 ] || measure=
    for r in $(seq "${RIG_BW_ROUNDS:-2}"); do
        [ -z "$measure" ] || check "ib_write_bw -R at $RIG_BW_SIZE bytes x $iters, round $r" \
            perf_pair ib_write_bw_R_bw -R -s "$RIG_BW_SIZE" -n "$iters"
        [ -z "$measure" ] || [ -z "$BIN_DIR" ] ||
            check "ib_write_bw -R -b (both ways) at $RIG_BW_SIZE bytes x $iters, round $r" \
                perf_pair_bidir ib_write_bw_R_bidir_dir -R -s "$RIG_BW_SIZE" -n "$iters"
        [ -z "$measure" ] || [ -z "$PAIR_BIN" ] || check "test_ib_pair at $RIG_BW_SIZE bytes x $iters, round $r" \
            pair --big 0 --bw "$RIG_BW_SIZE" --iters "$iters"
        [ -z "$BIN_DIR" ] || check "sendrecv_bw -n 2 over ib at $RIG_BW_SIZE bytes x $iters, round $r" \
            halo_bw sendrecv_bw_ib sendrecv_bw
        [ -z "$BIN_DIR" ] || check "allreduce_bw -n 2 over ib at $RIG_BW_SIZE bytes x $iters, round $r" \
            halo_bw allreduce_bw_ib allreduce_bw
        # busbw of a 2-rank all-gather: the half each rank receives; of a
        # broadcast: the size; both one way over the link, as ib_write_bw.
        [ -z "$measure" ] || [ -z "$BIN_DIR" ] ||
            check "allgather_bw -n 2 over ib at $RIG_BW_SIZE bytes x $iters, round $r" \
                halo_bw allgather_bw_ib allgather_bw
        [ -z "$measure" ] || [ -z "$BIN_DIR" ] ||
            check "broadcast_bw -n 2 over ib at $RIG_BW_SIZE bytes x $iters, round $r" \
                halo_bw broadcast_bw_ib broadcast_bw
        # An A/B of one setting against the defaults, in the same rounds.
        for ab in sendrecv allreduce; do
            # shellcheck disable=SC2086
            [ -z "$measure" ] || [ -z "$BIN_DIR" ] || [ -z "${RIG_BW_AB:-}" ] ||
                check "${ab}_bw with $RIG_BW_AB at $RIG_BW_SIZE bytes, round $r" \
                    halo_bw "${ab}_bw_ib_ab" "${ab}_bw" $RIG_BW_AB
        done
        # The same with the buffers registered once (-R 1), and copying through
        # the slots (HALO_IB_ZCOPY_MIN=0), for comparison.
        [ -z "$BIN_DIR" ] || check "sendrecv_bw -R 1 at $RIG_BW_SIZE bytes, round $r" \
            halo_bw sendrecv_bw_ib_reg sendrecv_bw -- -R 1
        [ -z "$BIN_DIR" ] || check "allreduce_bw -R 1 at $RIG_BW_SIZE bytes, round $r" \
            halo_bw allreduce_bw_ib_reg allreduce_bw -- -R 1
        [ -z "$BIN_DIR" ] || check "allgather_bw -R 1 at $RIG_BW_SIZE bytes, round $r" \
            halo_bw allgather_bw_ib_reg allgather_bw -- -R 1
        [ -z "$measure" ] || [ -z "$BIN_DIR" ] || check "broadcast_bw -R 1 at $RIG_BW_SIZE bytes, round $r" \
            halo_bw broadcast_bw_ib_reg broadcast_bw -- -R 1
        [ -z "$BIN_DIR" ] || check "sendrecv_bw through the slots at $RIG_BW_SIZE bytes, round $r" \
            halo_bw sendrecv_bw_ib_slots sendrecv_bw HALO_IB_ZCOPY_MIN=0
        [ -z "$measure" ] || [ -z "$BIN_DIR" ] ||
            check "allreduce_bw through the slots at $RIG_BW_SIZE bytes, round $r" \
                halo_bw allreduce_bw_ib_slots allreduce_bw HALO_IB_ZCOPY_MIN=0
        # Three ranks round the bidirectional ring on 2 channels, zero-copy
        # (ring_bidir_zc) and through the slots: one device carries both
        # directions here, so this compares the copies, not the cables.
        [ -z "$measure" ] || [ -z "$BIN_DIR" ] ||
            check "allreduce_bw -n 3 ring_bidir, zero-copy, at $RIG_BW_SIZE bytes, round $r" \
                halo_bw allreduce3_bidir_zc allreduce_bw HALO_ALGO=ring_bidir HALO_NCHANNELS=2 -- -n 3
        [ -z "$measure" ] || [ -z "$BIN_DIR" ] ||
            check "allreduce_bw -n 3 ring_bidir through the slots at $RIG_BW_SIZE bytes, round $r" \
                halo_bw allreduce3_bidir_slots allreduce_bw HALO_ALGO=ring_bidir HALO_NCHANNELS=2 \
                HALO_IB_ZCOPY_MIN=0 -- -n 3
        # Three ranks on the daisy chain, zero-copy (chain_zc) and through the slots.
        [ -z "$measure" ] || [ -z "$BIN_DIR" ] ||
            check "allreduce_bw -n 3 chain, zero-copy, at $RIG_BW_SIZE bytes, round $r" \
                halo_bw allreduce3_chain_zc allreduce_bw HALO_ALGO=chain -- -n 3
        [ -z "$measure" ] || [ -z "$BIN_DIR" ] ||
            check "allreduce_bw -n 3 chain through the slots at $RIG_BW_SIZE bytes, round $r" \
                halo_bw allreduce3_chain_slots allreduce_bw HALO_ALGO=chain HALO_IB_ZCOPY_MIN=0 -- -n 3
    done
    if [ -z "$measure" ]; then
        echo "RATIO: not measured in one round inside the suite (perf/rdma_ratios.sh measures them)"
    else
        [ -z "$PAIR_BIN" ] || ratio test_ib_pair ib_write_bw_R_bw 0.80
        # ours, baseline, target ("-": none)
        [ -z "$BIN_DIR" ] || while read -r ours base target; do ratio "$ours" "$base" "$target"; done <<'RATIOS'
sendrecv_bw_ib ib_write_bw_R_bw 0.85
allreduce_bw_ib ib_write_bw_R_bw 0.75
allgather_bw_ib ib_write_bw_R_bw -
broadcast_bw_ib ib_write_bw_R_bw -
sendrecv_bw_ib ib_write_bw_R_bidir_dir 0.85
allreduce_bw_ib ib_write_bw_R_bidir_dir 0.75
sendrecv_bw_ib_reg ib_write_bw_R_bw 0.85
allreduce_bw_ib_reg ib_write_bw_R_bw 0.75
allgather_bw_ib_reg ib_write_bw_R_bw -
broadcast_bw_ib_reg ib_write_bw_R_bw -
sendrecv_bw_ib_slots ib_write_bw_R_bw 0.80
allreduce_bw_ib_slots ib_write_bw_R_bw 0.70
allreduce3_bidir_zc allreduce3_bidir_slots -
allreduce3_chain_zc allreduce3_chain_slots -
RATIOS
        [ -z "$BIN_DIR" ] || [ -z "${RIG_BW_AB:-}" ] || while read -r ours base; do ratio "$ours" "$base" -; done <<'RATIOS'
sendrecv_bw_ib_ab ib_write_bw_R_bw
allreduce_bw_ib_ab ib_write_bw_R_bw
sendrecv_bw_ib_ab sendrecv_bw_ib
allreduce_bw_ib_ab allreduce_bw_ib
RATIOS
    fi
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

if [ -n "$suite_bin" ]; then
    # Last, as rxe0 is gone afterwards: the RDMA device removed (`rdma link delete`)
    # under a 2-rank allreduce. rdma_cm tells every id (DEVICE_REMOVAL), the ranks fail
    # with a sentence saying so, and the delete, which waits for the processes that
    # hold the device's verbs context, completes once they have exited.
    devremove() {
        # A fresh rxe0: the link test above took veth0 down and up under this one.
        timeout 30 rdma link delete rxe0 && rig_rxe_on veth0 || { echo "could not re-create rxe0"; return 1; }
        ib_env "$BIN_DIR/allreduce_bw" -n 2 -b 4m -e 4m -w 0 -i 100000 -c 0 > "$RIG_TMP/rm.out" 2>&1 &
        p=$!
        # Running once the table header is out (init done; rows come after the iterations).
        for _ in $(seq 240); do grep -q '(B)' "$RIG_TMP/rm.out" && break; sleep 0.5; done
        grep -q '(B)' "$RIG_TMP/rm.out" || { echo "allreduce_bw did not start:"; tail "$RIG_TMP/rm.out"; kill -9 $p; return 1; }
        sleep 2
        t0=$(date +%s)
        (timeout 90 rdma link delete rxe0; echo "$? $(date +%s)" > "$RIG_TMP/rm.del") &
        d=$!
        for _ in $(seq 60); do kill -0 $p 2>/dev/null || break; sleep 0.5; done
        if kill -0 $p 2>/dev/null; then
            echo "the ranks still run 30 s after rdma link delete:"; tail -n 5 "$RIG_TMP/rm.out"
            kill -9 $p; wait $d; return 1
        fi
        wait $p; st=$?
        t1=$(date +%s)
        wait $d
        read -r dst dt < "$RIG_TMP/rm.del"
        grep -v '^#' "$RIG_TMP/rm.out" | tail -n 4
        echo "ranks: status $st, $((t1 - t0)) s after the delete began; rdma link delete: status $dst at +$((dt - t0)) s"
        [ "$st" -ne 0 ] && [ "$dst" -eq 0 ] && [ "$dt" -le $((t1 + 30)) ] &&
            grep -q "the RDMA device was removed (rdma_cm DEVICE_REMOVAL)" "$RIG_TMP/rm.out" &&
            echo "RESULT device_removal_detected seconds=$((t1 - t0))"
    }
    check "rdma link delete rxe0 under allreduce_bw -n 2 over ib: the ranks fail naming the removal, the delete completes" \
        devremove
fi
rig_finish
