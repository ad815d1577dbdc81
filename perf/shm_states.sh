#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shm_states.sh [BINDIR] [ROUNDS] — haloccl's shm all-reduce beside the machine's own
# shared-memory data path (shm_probe), ROUNDS times back to back (default 20), then
# min / median / max of each. On a VM whose vCPUs the host moves, both change
# together; a library-side slow state shows as haloccl moving while the probe holds.
# Extra options for allreduce_bw come from ARGS (default: 2 ranks, 1m..64m).
set -u
B=${1:-build/bin}
N=${2:-20}
ARGS=${ARGS:--n 2 -b 1m -e 64m -f 8 -w 2 -i 10 -c 0}
for t in shm_probe allreduce_bw; do
    [ -x "$B/$t" ] || { echo "shm_states.sh: $B/$t not found (build first, or pass BINDIR)" >&2; exit 2; }
done
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
printf "%6s  %8s  %9s  %9s" round copy stream pingpong
first=1
for r in $(seq "$N"); do
    probe=$("$B/shm_probe" -s 64m -r 3 --json) || exit 1
    # shellcheck disable=SC2086
    bw=$(HALO_TRANSPORT=shm "$B/allreduce_bw" $ARGS --json) || { echo "allreduce_bw failed" >&2; exit 1; }
    if [ $first = 1 ]; then
        for s in $(awk -F'"size":' '{ split($2, a, ","); print a[1] }' <<<"$bw"); do
            printf "  %10s %10s" "oop@$s" "ip@$s"
        done
        printf "\n%6s  %8s  %9s  %9s" "" GB/s GB/s ns
        for s in $(awk -F'"size":' '{ split($2, a, ","); print a[1] }' <<<"$bw"); do printf "  %10s %10s" busbw busbw; done
        printf "\n"
        first=0
    fi
    line=$(awk -v p="$probe" 'function f(s, k,  a) { split(s, a, "\"" k "\":"); split(a[2], a, /[,}]/); return a[1] }
        BEGIN { printf "%s %s %s", f(p, "copy_GBps"), f(p, "stream_GBps"), f(p, "pingpong_ns") }
        { printf " %s %s", f($0, "oop_busbw"), f($0, "ip_busbw") }' <<<"$bw")
    echo "$line" >>"$rows"
    awk -v r="$r" '{ printf "%6d  %8.2f  %9.2f  %9.0f", r, $1, $2, $3; for (i = 4; i <= NF; i++) printf "  %10.2f", $i; printf "\n" }' <<<"$line"
done
# min / median / max per column
awk '{ for (i = 1; i <= NF; i++) v[i, NR] = $i; nf = NF } END {
    split("min median max", name, " ")
    for (k = 1; k <= 3; k++) {
        printf "%6s", name[k]
        for (i = 1; i <= nf; i++) {
            n = 0; for (j = 1; j <= NR; j++) c[++n] = v[i, j]
            for (a = 1; a <= n; a++) for (b = a + 1; b <= n; b++) if (c[b] < c[a]) { t = c[a]; c[a] = c[b]; c[b] = t }
            x = k == 1 ? c[1] : k == 3 ? c[n] : (n % 2 ? c[(n + 1) / 2] : (c[n / 2] + c[n / 2 + 1]) / 2)
            printf i == 1 ? "  %8.2f" : i == 2 ? "  %9.2f" : i == 3 ? "  %9.0f" : "  %10.2f", x
        }
        printf "\n"
    } }' "$rows"
