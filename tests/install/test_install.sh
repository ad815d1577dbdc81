#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_install.sh SRCDIR BUILDDIR — haloccl as a dependency, the three ways a project
# takes it, each building tests/install/example.c (a 2-rank allreduce whose sum
# rank 0 checks) and running it as a 2-rank job from the environment:
#   1. add_subdirectory of SRCDIR inside a consumer project (tests/install/subdir),
#      compiled as on a machine without the rdma-core headers (-DHALO_IB_DISABLE: the
#      GPU machines we test on have none), which the drop-in's --no-undefined link
#      checks for missing stubs;
#   2. find_package(haloccl) after `cmake --install BUILDDIR` to a scratch prefix
#      (tests/install/findpkg);
#   3. cc with `pkg-config --cflags --libs haloccl` against that prefix.
# Then the installed tools: halo-info and a perf tool run from the prefix with
# LD_LIBRARY_PATH unset (their run path is $ORIGIN/../lib), and the NCCL drop-in's
# files under lib/haloccl/.
set -eu
SRC=$(cd "$1" && pwd) BUILD=$(cd "$2" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
step() { echo "== install: $*"; }
run2() {   # BINARY — a 2-rank job on loopback; both ranks must exit 0
    local port=$((20000 + RANDOM % 20000))
    HALO_ROOT=127.0.0.1:$port HALO_RANK=1 HALO_NRANKS=2 HALO_SECRET=t "$1" &
    local p1=$! st=0
    HALO_ROOT=127.0.0.1:$port HALO_RANK=0 HALO_NRANKS=2 HALO_SECRET=t "$1" >"$T/out" || st=$?
    wait $p1 || st=$?
    cat "$T/out"
    [ $st -eq 0 ] || { echo "install: $1 failed (status $st)" >&2; exit 1; }
    grep -qx "sum over 2 ranks = 1" "$T/out" || { echo "install: $1 printed no checked sum" >&2; exit 1; }
}

step "add_subdirectory: a consumer project that builds haloccl from $SRC"
cmake -S "$SRC/tests/install/subdir" -B "$T/sub" -DHALOCCL_SOURCE="$SRC" -DCMAKE_C_FLAGS=-DHALO_IB_DISABLE \
    >"$T/sub.log" 2>&1 ||
    { cat "$T/sub.log"; exit 1; }
cmake --build "$T/sub" -j2 >>"$T/sub.log" 2>&1 || { tail -n 40 "$T/sub.log"; exit 1; }
[ -x "$T/sub/app/consumer" ] || { echo "install: the consumer is not in its own output dir" >&2; exit 1; }
if ls "$T/sub/app" | grep -v '^consumer$' | grep -q .; then
    echo "install: haloccl put files into the parent's output dir: $(ls "$T/sub/app")" >&2; exit 1
fi
run2 "$T/sub/app/consumer"

step "cmake --install $BUILD --prefix (scratch)"
P=$T/prefix
cmake --install "$BUILD" --prefix "$P" >/dev/null
LIBDIR=$(dirname "$(find "$P" -name 'libhaloccl.so' | head -1)")

step "find_package(haloccl) with CMAKE_PREFIX_PATH=prefix"
cmake -S "$SRC/tests/install/findpkg" -B "$T/fp" -DCMAKE_PREFIX_PATH="$P" >"$T/fp.log" 2>&1 ||
    { cat "$T/fp.log"; exit 1; }
cmake --build "$T/fp" >>"$T/fp.log" 2>&1 || { cat "$T/fp.log"; exit 1; }
run2 "$T/fp/consumer"

step "pkg-config --cflags --libs haloccl"
export PKG_CONFIG_PATH="$LIBDIR/pkgconfig:${PKG_CONFIG_PATH:-}"
cc "$SRC/tests/install/example.c" -o "$T/ex_pc" $(pkg-config --cflags --libs haloccl) -Wl,-rpath,"$LIBDIR"
run2 "$T/ex_pc"

step "installed tools run with LD_LIBRARY_PATH unset"
for tool in halo-info halo-topo allreduce_bw allgather_bw broadcast_bw reduce_scatter_bw reduce_bw sendrecv_bw; do
    [ -x "$P/bin/$tool" ] || { echo "install: bin/$tool is not installed" >&2; exit 1; }
done
readelf -d "$P/bin/halo-info" | grep -q 'R.*PATH.*\$ORIGIN/\.\./lib' ||
    { echo "install: bin/halo-info has no run path \$ORIGIN/../lib" >&2; readelf -d "$P/bin/halo-info" | grep PATH >&2; exit 1; }
env -u LD_LIBRARY_PATH "$P/bin/halo-info" --params >/dev/null
env -u LD_LIBRARY_PATH "$P/bin/allreduce_bw" -n 2 -b 1k -e 1k -w 1 -i 2 -c 1 >"$T/bw.out"
grep -q '^ *1024 ' "$T/bw.out" || { cat "$T/bw.out"; exit 1; }

step "the NCCL drop-in under lib/haloccl/"
shim=$(dirname "$(find "$P" -path '*/haloccl/libnccl.so.2' | head -1)")
for f in libnccl.so.2 librccl.so.1 libhalo_nccl_audit.so; do
    [ -f "$shim/$f" ] || { echo "install: $f is not installed under lib/haloccl/" >&2; exit 1; }
done
HALO_SHIM_EXPECT_LIB="$shim/libnccl.so.2" LD_AUDIT="$shim/libhalo_nccl_audit.so" \
    "$BUILD/bin/shim_nccl_dlopen" libnccl.so.2
echo "install: add_subdirectory, find_package(haloccl) and pkg-config consumers built and ran;" \
     "installed tools run without LD_LIBRARY_PATH; the NCCL drop-in is in $shim"
