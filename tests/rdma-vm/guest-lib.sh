# SPDX-License-Identifier: MIT
# guest-lib.sh — helpers for scripts that run inside a Soft-RoCE test VM (sourced,
# /bin/sh). The VM is a chroot into the host's read-only root: /tmp is writable,
# nothing else is. HALO_VMID comes from the kernel command line.
#
#   rig_rxe_veth ADDR        veth0/veth1 pair, ADDR on veth0, rxe0 on veth0 (one VM,
#                            several processes on one RDMA device)
#   rig_rxe_eth ADDR [DEV [RXE]]  ADDR on eth0 (or DEV), rxe0 (or RXE) on it (one VM =
#                            one host; one rxe per cable end when the VM has several)
#   check NAME CMD...        runs CMD, prints "PASS: NAME" or "FAIL: NAME (status N)"
#                            with the tail of its output; counts failures
#   retry SECONDS CMD...     reruns CMD every 0.5 s until it succeeds or time is up
#   perf_server / perf_client  ib_write_bw with the rig's common flags
#   perf_gbits FILE          Gbit/s average from an ib_write_bw client's output
#   halo_gbits FILE          out-of-place busbw of the last size of a perf/ tool's
#                            --json output, in Gbit/s (the tools print GB/s)
#   result NAME              the best gbits= value of the "RESULT NAME ..." lines
#   ratio OURS THEIRS TARGET prints "RATIO OURS / THEIRS ..." from their results:
#                            best against best, and the median of the rounds' own
#                            ratios (round i's OURS over round i's THEIRS: runs of
#                            one round are close in time, under the same load), with
#                            the target (a fraction) met or not by the median;
#                            TARGET -: none
#   topo_graph FILE          the graph line of halo-topo --json's output in FILE
#   topo_class GRAPH / topo_order GRAPH  its class; its host order, comma-separated
#   topo_links GRAPH         one line per link: "link A:IF - B:IF mgmt=.. state=..
#                            usable=.. bw_mbps=.. share=.."
#   rig_finish               prints the tally; exits 1 if a check failed
#   RIG_CABLES               addresses of this VM's neighbours (set by a rig with
#                            qemu socket cables): after a failed check, each is
#                            pinged; one that does not answer prints "CABLE STALL:"
#                            (the emulator's cable stopped moving frames, not a
#                            fault of the code under test; run.sh stops the rig
#                            and runs it again)

rig_failures=0
rig_passes=0
RIG_TMP=${RIG_TMP:-/tmp/rig}
mkdir -p "$RIG_TMP"

rig_log() { echo "rig: $*"; }

rig_rxe_on() { # NETDEV [RXE]
    # rdma_rxe sends from the initial network namespace: one rxe per host, not per netns.
    rxe=${2:-rxe0}
    rdma link add "$rxe" type rxe netdev "$1" || return 1
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        rdma link show "$rxe/1" 2>/dev/null | grep -q "state ACTIVE" && return 0
        sleep 0.2
    done
    echo "$rxe on $1 did not become ACTIVE:"; rdma link show
    return 1
}

rig_rxe_veth() {
    ip link add veth0 type veth peer name veth1 &&
        ip addr add "$1" dev veth0 &&
        ip link set veth0 up && ip link set veth1 up &&
        rig_rxe_on veth0
}

rig_rxe_eth() {
    dev=${2:-eth0}
    ip addr add "$1" dev "$dev" && ip link set "$dev" up && rig_rxe_on "$dev" "${3:-rxe0}"
}

check() {
    name=$1; shift
    out=$RIG_TMP/check.$$.out
    t0=$(date +%s)
    "$@" > "$out" 2>&1
    st=$?
    t1=$(date +%s)
    if [ $st -eq 0 ]; then
        rig_passes=$((rig_passes + 1))
        echo "PASS: $name ($((t1 - t0)) s)"
        grep '^RESULT' "$out" | tee -a "$RIG_TMP/results" | sed 's/^/      /'
    else
        rig_failures=$((rig_failures + 1))
        echo "FAIL: $name (status $st after $((t1 - t0)) s); its last output:"
        tail -n "${RIG_TAIL:-25}" "$out" | sed 's/^/      | /'
        rig_cables_alive
    fi
    rm -f "$out"
    return $st
}

# After a failure: is every cable still moving frames? qemu's socket netdev can
# stop under load (the guest kernel may log NETDEV WATCHDOG, below the console's
# level), and then every later check fails for a reason outside the code.
rig_cables_alive() {
    for a in ${RIG_CABLES:-}; do
        busybox ping -c 3 -W 1 "$a" >/dev/null 2>&1 && continue
        echo "CABLE STALL: $a does not answer ping after this failure (qemu's socket cable stopped moving" \
             "frames$(dmesg 2>/dev/null | grep -q 'NETDEV WATCHDOG' && echo '; the kernel logged NETDEV WATCHDOG'))"
    done
}

retry() {
    limit=$1; shift
    end=$(( $(date +%s) + limit ))
    while :; do
        "$@" && return 0
        st=$?
        [ "$(date +%s)" -lt "$end" ] || return $st
        sleep 0.5
    done
}

# -F: do not fail on CPU frequency checks (meaningless in a VM);
# --report_gbits: Gbit/s (10^9 bit/s), the unit the ratio is printed in.
PERF_FLAGS="-d rxe0 -F --report_gbits"

perf_server() {
    # shellcheck disable=SC2086
    timeout 120 ib_write_bw $PERF_FLAGS "$@"
}

perf_client() {
    # shellcheck disable=SC2086
    timeout 60 ib_write_bw $PERF_FLAGS "$@"
}

# Average bandwidth column of the result row (first column = message size).
perf_gbits() {
    awk '$1 ~ /^[0-9]+$/ && NF >= 5 { v = $4 } END { if (v == "") exit 1; print v }' "$1"
}

halo_gbits() {
    sed -n 's/.*"oop_busbw":\([0-9.]*\).*/\1/p' "$1" | tail -n 1 |
        awk '{ printf "%.4f\n", $1 * 8 } END { if (NR == 0) exit 1 }'
}

result() {
    sed -n "s/^RESULT $1 .*gbits=\([0-9.]*\).*/\1/p" "$RIG_TMP/results" 2>/dev/null |
        awk 'NR == 1 || $1 > m { m = $1 } END { if (NR) print m }'
}

# Every gbits= value of the "RESULT NAME ..." lines, in the order they came.
results_of() {
    sed -n "s/^RESULT $1 .*gbits=\([0-9.]*\).*/\1/p" "$RIG_TMP/results" 2>/dev/null
}

# Median of the per-round ratios OURS/THEIRS; empty when the two lists differ in
# length (a run failed: the rounds no longer pair up).
ratio_median() {
    results_of "$1" > "$RIG_TMP/ratio.a"
    results_of "$2" > "$RIG_TMP/ratio.b"
    [ "$(wc -l < "$RIG_TMP/ratio.a")" -eq "$(wc -l < "$RIG_TMP/ratio.b")" ] || return 0
    paste -d ' ' "$RIG_TMP/ratio.a" "$RIG_TMP/ratio.b" | awk '$2 > 0 { print $1 / $2 }' | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) printf "%.2f %d", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, NR }'
}

ratio() {
    ours=$(result "$1") theirs=$(result "$2")
    if [ -z "$ours" ] || [ -z "$theirs" ]; then
        echo "RATIO $1 / $2: not measured (a run above failed)"
        return 0
    fi
    med=$(ratio_median "$1" "$2")
    echo "RATIO $1 / $2 at ${RIG_BW_SIZE:-?} bytes: best $ours / $theirs Gbit/s =" \
        "$(awk -v a="$ours" -v b="$theirs" -v m="${med% *}" -v k="${med#* }" -v t="$3" 'BEGIN {
            printf "%.2f", (b > 0) ? a / b : 0
            if (m == "") { printf "; rounds do not pair up (a run failed)"; exit }
            printf "; median of %d rounds %.2f", k, m
            if (t != "-") printf " (target >= %.2f: %s)", t, ((m >= t) ? "met" : "NOT met") }')"
}

topo_graph() {
    grep -m1 '"class"' "$1"
}

topo_class() {
    echo "$1" | sed -n 's/^{"class":"\([^"]*\)".*/\1/p'
}

topo_order() {
    echo "$1" | grep -o '"order":\[[^]]*\]' | tr -d '"' | sed 's/order:\[//; s/\]//'
}

topo_val() { # LINK_OBJECT KEY: a string's text or a bare value
    echo "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}

topo_links() {
    echo "$1" | sed 's/.*"links":\[//' | tr '{' '\n' | grep '"a_ifname"' | while read -r l; do
        echo "link $(topo_val "$l" a):$(topo_val "$l" a_ifname) - $(topo_val "$l" b):$(topo_val "$l" b_ifname)" \
            "mgmt=$(topo_val "$l" mgmt) state=$(topo_val "$l" state) usable=$(topo_val "$l" usable)" \
            "bw_mbps=$(topo_val "$l" bw_mbps) share=$(topo_val "$l" share)"
    done
}

rig_finish() {
    echo "rig: vm$HALO_VMID: $rig_passes passed, $rig_failures failed"
    [ "$rig_failures" -eq 0 ]
    exit $?
}
