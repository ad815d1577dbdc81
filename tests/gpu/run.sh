#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/gpu/run.sh — the GPU suite on a machine with a GPU (one is enough: the
# ranks are processes sharing it). Builds the project, runs the host test suite,
# the stream/buffer tests on the real runtime, and the --gpu benchmarks beside
# host mode. Everything is logged under OUT (default ./gpu-out).
#
#   tests/gpu/run.sh [--runtime cuda|hip] [--quick] [--torch|--torch-only]
#
# --torch adds torch.distributed through the NCCL drop-in (tests/gpu/torch_*.py,
# vllm_ctypes.py, the torch benchmark beside Gloo); --torch-only runs just that.
#
# libsodium: found by pkg-config, or unpacked from .dev/*.deb when present (for
# machines without a package registry: `apt-get download libsodium23
# libsodium-dev` into .dev/ on a machine that has one).
set -u
RUNTIME=cuda
QUICK=0
TORCH=0
while [ $# -gt 0 ]; do
    case "$1" in
    --runtime) RUNTIME=$2; shift ;;
    --quick) QUICK=1 ;;
    --torch) TORCH=1 ;;
    --torch-only) TORCH=2 ;;
    *) echo "usage: $0 [--runtime cuda|hip] [--quick] [--torch|--torch-only]" >&2; exit 2 ;;
    esac
    shift
done
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$PWD/gpu-out}
B=${GPU_BUILD:-$SRC/build}
mkdir -p "$OUT"
J=$(nproc)

if ! pkg-config --exists libsodium 2>/dev/null && ls "$SRC"/.dev/*.deb >/dev/null 2>&1; then
    S=/tmp/halo-sodium
    for f in "$SRC"/.dev/*.deb; do dpkg -x "$f" $S; done
    PC=$(dirname "$(find $S -name libsodium.pc | head -1)")
    sed -i "s#^prefix=.*#prefix=$S/usr#" "$PC/libsodium.pc"
    export PKG_CONFIG_PATH=$PC LD_LIBRARY_PATH=$S/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi

{
    date -u
    uname -a
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || true
    nvcc --version 2>/dev/null | tail -2 || true
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "nccl", torch.cuda.nccl.version())' 2>/dev/null || true
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

STEP_TIMEOUT=${STEP_TIMEOUT:-300}
step() { # name command...
    name=$1; shift
    t0=$(date +%s)
    timeout -k 5 "$STEP_TIMEOUT" "$@" > "$OUT/$name.log" 2>&1
    rc=$?
    echo "$name: exit $rc in $(( $(date +%s) - t0 )) s" | tee -a "$OUT/summary.txt"
    return $rc
}

step build sh -c "cmake -S '$SRC' -B '$B' -DCMAKE_BUILD_TYPE=Release && cmake --build '$B' -j$J" || { tail -30 "$OUT/build.log"; exit 1; }
fail=0
if [ $TORCH -ge 1 ]; then
    L=$B/lib/haloccl/libnccl.so.2
    G=$SRC/tests/gpu
    step torch-dropin "$G/torch_run.sh" -n 2 -l "$L" "$G/torch_dropin.py" || fail=1
    step vllm-ctypes "$G/torch_run.sh" -n 2 -l none "$G/vllm_ctypes.py" "$L" || fail=1
    step torch-bench sh "$G/torch_bench.sh" 2 "$L" || fail=1
    if [ $TORCH = 2 ]; then
        echo "torch: $([ $fail = 0 ] && echo passed || echo FAILED)" | tee -a "$OUT/summary.txt"
        exit $fail
    fi
fi
if [ $QUICK = 0 ]; then
    step host-suite sh -c "cd '$B' && ctest -E 'rdma|netns|install|gpu_fake' -j$J --output-on-failure"
    grep -A20 "The following tests FAILED" "$OUT/host-suite.log"
fi

export HALO_GPU_RUNTIME=$RUNTIME HALO_TIMEOUT_MS=10000 GPU_TEST_DEADLINE_S=$((STEP_TIMEOUT - 10))
T=$B/bin/test_gpu_stream
step gpu-coll-np2 env HALO_POOL_SIZE=1m $T 2 coll || fail=1
step gpu-coll-np3 env HALO_POOL_SIZE=1m $T 3 coll || fail=1
step gpu-coll-np4-tcp env HALO_POOL_SIZE=1m HALO_TRANSPORT=tcp $T 4 coll || fail=1
step gpu-order-np2 $T 2 order || fail=1
step gpu-order-np3-hostfn env HALO_GPU_SYNC=hostfn $T 3 order || fail=1
step gpu-graph-memops $T 2 graph || fail=1
step gpu-graph-hostfn env HALO_GPU_SYNC=hostfn $T 2 graph || fail=1
step gpu-graph2 $T 2 graph2 || fail=1
step gpu-async $T 2 async || fail=1
step gpu-dead env HALO_TIMEOUT_MS=3000 $T 3 dead || fail=1
step gpu-abort $T 2 abort || fail=1
step gpu-p2p-np2 $T 2 p2p || fail=1
step gpu-p2psync-np2 $T 2 p2psync || fail=1
step gpu-premul-np2 env HALO_POOL_SIZE=1m $B/bin/test_gpu_premul 2 || fail=1

# All-reduce, 2 ranks on the one GPU, float32 sum, 4 B - 256 MiB: host mode and
# the three kinds of GPU buffers, alternated twice (the machine is shared: compare
# within a round); then the 8 B latency alone, host vs stream, alternated.
P="-n 2 -b 4 -e 256m -f 4"
for round in 1 2; do
    step perf-allreduce-host-$round $B/bin/allreduce_bw $P
    for m in memalloc device pinned; do
        step perf-allreduce-$m-$round $B/bin/allreduce_bw $P --gpu $m
    done
done
for round in 1 2 3; do
    step perf-lat-host-$round $B/bin/allreduce_bw -n 2 -b 8 -e 8 -i 20000 -w 1000
    step perf-lat-memalloc-$round $B/bin/allreduce_bw -n 2 -b 8 -e 8 -i 20000 -w 1000 --gpu memalloc
    step perf-lat-device-$round $B/bin/allreduce_bw -n 2 -b 8 -e 8 -i 20000 -w 1000 --gpu device
done
if [ $QUICK = 0 ]; then
    for t in allgather_bw reduce_scatter_bw broadcast_bw sendrecv_bw; do
        step perf-$t-device $B/bin/$t -n 2 -b 8 -e 64m -f 16 --gpu device
    done
fi
echo "gpu suite: $([ $fail = 0 ] && echo passed || echo FAILED)" | tee -a "$OUT/summary.txt"
exit $fail
