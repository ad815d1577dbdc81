#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# compare.sh [--quick] [BINDIR] [OUTDIR] — haloccl's allreduce beside the other
# collective libraries found on this machine, in one session: the same float32 sum
# sweep, 2 and 4 local ranks, over shared memory (one host) and over tcp on loopback.
#   haloccl   BINDIR/allreduce_bw -n N (HALO_TRANSPORT=shm, or tcp with HALO_SOCKET_IFNAME=lo)
#   OpenMPI   BINDIR/mpi_allreduce_bw under mpirun, pml ob1 with btl vader,self (shm)
#             or tcp,self on lo (tcp)
#   Gloo      BINDIR/gloo_allreduce_bw -n N: tcp only (Gloo has no shared-memory path)
#   NCCL/RCCL perf/baseline/torch_allreduce_bw.py through PyTorch, one GPU per rank
# A library that is absent is skipped with the reason, in the output too.
# Writes OUTDIR/compare.md (a table per ranks x transport: time in µs and busbw per
# library, haloccl's time over each other's), OUTDIR/compare.json, and with gnuplot
# OUTDIR/compare-<N>ranks-<transport>.png (latency and busbw against size); the raw
# JSON lines of every run stay in OUTDIR/raw/.
#   BINDIR  default build/bin        OUTDIR  default perf/results
#   --quick 8 B to 32 KiB (x4), 2 ranks, one round, no raw limits: seconds, for the
#           test suite
# Beside the tcp tables the report gives loopback's raw limits, measured in the same
# session: the median round trip of a busy-polled 8-byte TCP ping-pong (tcp_pingpong)
# and iperf3 --bidir's rate for 5 s when iperf3 is installed.
# Environment: COMPARE_SIZES (allreduce_bw's -b/-e/-f; default "-b 16 -e 256m -f 4";
# "-b 8 -e 256m -f 2" for every power of two, about twice as long),
# COMPARE_RANKS (default "2 4"), COMPARE_TRANSPORTS (default "shm tcp"),
# COMPARE_WARMUP (warm-up calls per size, default 3), COMPARE_ROUNDS (default 5):
# each (ranks, transport) runs every library's sweep that many times, in turn, and
# the report keeps each size's median round (COMPARE_STAT=best: its fastest) — a
# burst of load from elsewhere then costs one round, not the comparison, and a
# library whose times scatter is not judged by its one lucky round.
# Ratios within this one run are what count: on a shared machine absolute numbers
# move from minute to minute.
set -u
here=$(cd "$(dirname "$0")" && pwd)
quick=0
args=()
for a in "$@"; do
    case "$a" in
        --quick) quick=1 ;;
        -h|--help) sed -n '3,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "compare.sh: unknown option $a (--quick, --help)" >&2; exit 2 ;;
        *) args+=("$a") ;;
    esac
done
B=${args[0]:-build/bin}
OUT=${args[1]:-perf/results}
if ((quick)); then
    sizes=${COMPARE_SIZES:--b 8 -e 32k -f 4}
    ranks=${COMPARE_RANKS:-2}
    rounds=${COMPARE_ROUNDS:-1}
    limits=0
else
    sizes=${COMPARE_SIZES:--b 16 -e 256m -f 4}
    ranks=${COMPARE_RANKS:-2 4}
    rounds=${COMPARE_ROUNDS:-5}
    limits=1
fi
transports=${COMPARE_TRANSPORTS:-shm tcp}
warmup=${COMPARE_WARMUP:-3}
stat=${COMPARE_STAT:-median}
case "$stat" in
    median|best) ;;
    *) echo "compare.sh: COMPARE_STAT is median or best, not $stat" >&2; exit 2 ;;
esac
read -r -a SIZES <<<"$sizes"

if [ ! -x "$B/allreduce_bw" ]; then
    echo "compare.sh: $B/allreduce_bw not found: build first (cmake --build build) or pass BINDIR" >&2
    exit 2
fi
if ! command -v python3 >/dev/null; then
    echo "compare.sh: python3 is needed to write the report" >&2
    exit 2
fi
mkdir -p "$OUT/raw"
rm -f "$OUT"/raw/limits.txt "$OUT"/raw/*.jsonl "$OUT"/raw/*.err "$OUT"/raw/*.dat "$OUT"/raw/*.gp "$OUT"/raw/skipped.tsv "$OUT"/compare-*.png

# skip LIB RANKS TRANSPORT REASON — records why a library has no rows there ("*": any)
skip() {
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$OUT/raw/skipped.tsv"
    echo "   skip $1 ($2 ranks, $3): $4"
}

# Which libraries can run here, and why not.
mpi_why="" gloo_why="" torch_why=""
[ -x "$B/mpi_allreduce_bw" ] || mpi_why="$B/mpi_allreduce_bw not built (no MPI compiler found by CMake; apt install libopenmpi-dev)"
[ -z "$mpi_why" ] && ! command -v mpirun >/dev/null && mpi_why="mpirun not found (apt install openmpi-bin)"
[ -x "$B/gloo_allreduce_bw" ] || gloo_why="$B/gloo_allreduce_bw not built (Gloo not found by CMake; apt install libgloo-dev)"
torch_why=$(python3 - <<'EOF' 2>&1
try:
    import torch
    import torch.distributed as dist
except ImportError:
    print("PyTorch is not installed")
else:
    if not dist.is_available() or not dist.is_nccl_available():
        print("this PyTorch has no nccl backend")
    elif not torch.cuda.is_available():
        print("no GPU visible to PyTorch")
EOF
)
for lib in mpi gloo torch; do
    why=${lib}_why
    [ -n "${!why}" ] && skip "$lib" '*' '*' "${!why}"
done

# run LIB RANKS TRANSPORT COMMAND... — one sweep (round $round); its JSON lines go to raw/.
run() {
    local lib=$1 n=$2 tp=$3 st t0
    shift 3
    local f="$OUT/raw/$lib-$n-$tp-r$round"
    t0=$(date +%s)
    "$@" >"$f.jsonl" 2>"$f.err"
    st=$?
    if [ $st -eq 77 ]; then
        skip "$lib" "$n" "$tp" "$(sed -n 's/.*SKIP: //p' "$f.err" | head -1)"
        rm -f "$f.jsonl"
    elif [ $st -ne 0 ]; then
        skip "$lib" "$n" "$tp" "failed with exit $st (raw/${f##*/}.err: $(tail -1 "$f.err"))"
    else
        echo "   $lib, round $round: $(grep -c '^{' "$f.jsonl") sizes in $(($(date +%s) - t0)) s"
    fi
    [ -s "$f.err" ] || rm -f "$f.err"
}

mpirun_cmd() {
    local n=$1 tp=$2
    local -a m=(mpirun --allow-run-as-root --oversubscribe -np "$n" --mca pml ob1)
    if [ "$tp" = shm ]; then
        m+=(--mca btl vader,self)
    else
        m+=(--mca btl tcp,self --mca btl_tcp_if_include lo)
    fi
    echo "${m[@]}"
}

t_all=$(date +%s)
for n in $ranks; do
    for tp in $transports; do
        echo "== $n ranks, $tp (sizes: $sizes; $rounds round(s))"
        halo_env=(HALO_TRANSPORT="$tp")
        [ "$tp" = tcp ] && halo_env+=(HALO_SOCKET_IFNAME=lo)
        if [ -z "$gloo_why" ] && [ "$tp" != tcp ]; then
            skip gloo "$n" "$tp" "no shared-memory transport in Gloo; its loopback numbers are in the tcp table"
        fi
        for round in $(seq 1 "$rounds"); do
            run haloccl "$n" "$tp" env "${halo_env[@]}" "$B/allreduce_bw" -n "$n" "${SIZES[@]}" -w "$warmup" --json
            if [ -z "$mpi_why" ]; then
                # shellcheck disable=SC2046 # the launcher's words
                run mpi "$n" "$tp" $(mpirun_cmd "$n" "$tp") "$B/mpi_allreduce_bw" "${SIZES[@]}" -w "$warmup" --json
            fi
            if [ -z "$gloo_why" ] && [ "$tp" = tcp ]; then
                run gloo "$n" "$tp" "$B/gloo_allreduce_bw" -n "$n" "${SIZES[@]}" -w "$warmup" --json
            fi
            if [ -z "$torch_why" ]; then
                run torch "$n" "$tp" python3 "$here/baseline/torch_allreduce_bw.py" -n "$n" "${SIZES[@]}" -w "$warmup" \
                    --transport "$tp" --json
            fi
        done
    done
done
echo "== runs took $(($(date +%s) - t_all)) s"

# Raw limits of loopback TCP, for the tcp tables.
if ((limits)) && [[ " $transports " == *" tcp "* ]]; then
    echo "== raw limits of loopback tcp"
    [ -x "$B/tcp_pingpong" ] && "$B/tcp_pingpong" -s 8 -n 100000 | tee -a "$OUT/raw/limits.txt"
    if command -v iperf3 >/dev/null; then
        iperf3 -s -1 -B 127.0.0.1 -p 5299 >/dev/null 2>&1 &
        sleep 0.5
        iperf3 -c 127.0.0.1 -p 5299 -t 5 --bidir 2>&1 | grep receiver | sed 's/^/iperf3 --bidir 5 s: /' |
            tee -a "$OUT/raw/limits.txt"
        wait
    fi
fi
python3 "$here/compare_report.py" "$OUT" --sizes "$sizes" --stat "$stat" --command "perf/compare.sh $*"
