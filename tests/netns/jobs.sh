# SPDX-License-Identifier: MIT
# jobs.sh — running one rank per emulated host and counting checks, for the netns
# tests (source it after netns.sh; bash). Exits 77 (skip) unless root with network
# namespaces; makes WORK (a scratch folder, removed with the cluster at exit
# unless KEEP_WORK is set).
# Needs BIN.
#
#   job NAME TIMEOUT ENV... -- CMD...   rank i on host hi, all at once; waits for
#                                       all. Outputs land in $WORK/NAME.<rank>;
#                                       returns the number of ranks that failed
#   fail MSG / ok MSG                   print a result line (fail counts in FAILS)
#   tool_ok NAME                        rank 0's benchmark output says its results
#                                       were checked and right
#   finish WHAT                         the summary line; exit status 0 when no
#                                       check failed
#   traffic NAME TIMEOUT ENV... -- CMD  job, with every interface's byte counters
#                                       before and after: "host if drx dtx" lines
#                                       in $WORK/diff

if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root for network namespaces"; exit 77; fi
if ! ip netns list >/dev/null 2>&1; then echo "SKIP: ip netns unavailable"; exit 77; fi
WORK=$(mktemp -d)
trap 'cluster_down; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT

FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }

: "${PORT:=29500}"
job() {
    local name=$1 tmo=$2; shift 2
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    local n=${#NETNS_HOSTS[@]} i pids=() bad=0
    PORT=$((PORT + 1))
    for ((i = 0; i < n; i++)); do
        run_on "h$i" env HALO_ROOT="$NETNS_MGMT_NET.10:$PORT" HALO_RANK=$i HALO_NRANKS=$n \
            HALO_SECRET=netns-test HALO_TIMEOUT_MS=20000 "${envs[@]}" timeout "$tmo" "$@" \
            >"$WORK/$name.$i" 2>&1 &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do wait "${pids[$i]}" || bad=$((bad + 1)); done
    return $bad
}

tool_ok() { grep -q "Out of bounds values : 0 OK" "$WORK/$1.0"; }

# The last lines of every rank's output of job NAME, for a failure message.
job_tail() {
    local f
    for f in "$WORK/$1".*; do echo "--- ${f##*/}:"; tail -6 "$f"; done
}

finish() {
    if [ "$FAILS" -eq 0 ]; then echo "$1: all checks passed"; else echo "$1: $FAILS check(s) failed"; fi
    [ "$FAILS" -eq 0 ]
}

traffic() {
    counters_snapshot "$WORK/before"
    job "$@"
    local bad=$?
    counters_snapshot "$WORK/after"
    counters_diff "$WORK/before" "$WORK/after" >"$WORK/diff"
    return $bad
}

# "mgmt_bytes cable_bytes" of a counters diff: the management network's and the rest.
mgmt_and_cable_bytes() {
    awk '{ b = $3 + $4; if ($2 == "mgmt0") m += b; else c += b } END { printf "%d %d\n", m, c }' "$1"
}
