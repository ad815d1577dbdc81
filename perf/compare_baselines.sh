#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# compare_baselines.sh [BINDIR] — haloccl beside the baselines in one session: 2 local
# ranks, float32 sum allreduce, haloccl over shm and over tcp (loopback) beside
# OpenMPI's shared-memory and tcp BTLs, plus the raw limits (busy-polled TCP
# ping-pong, iperf3 --bidir). Ratios within this one run are what count: the
# machine is shared and absolute numbers move from minute to minute.
set -u
B=${1:-build/bin}
SIZES=(-b 8 -e 8)
SWEEP=(-b 64 -e 64m -f 4)
MPI="mpirun --allow-run-as-root --oversubscribe -np 2 --mca pml ob1"

echo "== raw: busy-polled TCP ping-pong, 8 B"
"$B/tcp_pingpong" -s 8 -n 100000
if command -v iperf3 >/dev/null; then
    echo "== raw: iperf3 --bidir over loopback, 5 s"
    iperf3 -s -1 -B 127.0.0.1 -p 5299 >/dev/null 2>&1 &
    sleep 0.5
    iperf3 -c 127.0.0.1 -p 5299 -t 5 --bidir 2>&1 | grep -E "receiver" | sed 's/^/   /'
    wait
fi
echo "== OpenMPI shared memory (vader)"
$MPI --mca btl vader,self "$B/mpi_allreduce_bw" "${SIZES[@]}"
$MPI --mca btl vader,self "$B/mpi_allreduce_bw" "${SWEEP[@]}" | grep -v '^#' 
echo "== haloccl shm"
HALO_TRANSPORT=shm "$B/allreduce_bw" -n 2 "${SIZES[@]}" -c 0 -w 3
HALO_TRANSPORT=shm "$B/allreduce_bw" -n 2 "${SWEEP[@]}" -c 0 -w 3 | grep -v '^#' 
echo "== OpenMPI tcp (loopback)"
$MPI --mca btl tcp,self --mca btl_tcp_if_include lo "$B/mpi_allreduce_bw" "${SIZES[@]}"
$MPI --mca btl tcp,self --mca btl_tcp_if_include lo "$B/mpi_allreduce_bw" "${SWEEP[@]}" | grep -v '^#' 
echo "== haloccl tcp (loopback)"
HALO_TRANSPORT=tcp HALO_SOCKET_IFNAME=lo "$B/allreduce_bw" -n 2 "${SIZES[@]}" -c 0 -w 3
HALO_TRANSPORT=tcp HALO_SOCKET_IFNAME=lo "$B/allreduce_bw" -n 2 "${SWEEP[@]}" -c 0 -w 3 | grep -v '^#' 
