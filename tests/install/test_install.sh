#!/usr/bin/env bash
# test_install.sh SRCDIR BUILDDIR — `cmake --install` into a scratch prefix, then
# build the README's example against it twice (pkg-config, and a CMake project
# using find_package(haloccl)) and run each as a 2-rank job from the environment.
set -eu
SRC=$1 BUILD=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cmake --install "$BUILD" --prefix "$T/prefix" >/dev/null
export PKG_CONFIG_PATH="$T/prefix/lib/pkgconfig:$T/prefix/lib/x86_64-linux-gnu/pkgconfig:${PKG_CONFIG_PATH:-}"
cc "$SRC/tests/install/example.c" -o "$T/ex_pc" $(pkg-config --cflags --libs haloccl) -Wl,-rpath,"$T/prefix/lib"
cmake -S "$SRC/tests/install/consumer" -B "$T/cbuild" -DCMAKE_PREFIX_PATH="$T/prefix" >/dev/null
cmake --build "$T/cbuild" >/dev/null
run2() {   # BINARY
    local port=$((20000 + RANDOM % 20000))
    HALO_ROOT=127.0.0.1:$port HALO_RANK=1 HALO_NRANKS=2 HALO_SECRET=t "$1" &
    local p1=$!
    HALO_ROOT=127.0.0.1:$port HALO_RANK=0 HALO_NRANKS=2 HALO_SECRET=t "$1"
    wait $p1
}
run2 "$T/ex_pc"
run2 "$T/cbuild/consumer"
# The NCCL drop-in: both products and the audit module under lib*/haloccl/, and the
# installed audit module sends dlopen("libnccl.so.2") to the installed library.
shim=$(dirname "$(find "$T/prefix" -path '*/haloccl/libnccl.so.2' | head -1)")
for f in libnccl.so.2 librccl.so.1 libhalo_nccl_audit.so; do
    [ -f "$shim/$f" ] || { echo "install: $f is not installed under lib/haloccl/" >&2; exit 1; }
done
HALO_SHIM_EXPECT_LIB="$shim/libnccl.so.2" LD_AUDIT="$shim/libhalo_nccl_audit.so" \
    "$BUILD/bin/shim_nccl_dlopen" libnccl.so.2
echo "install: pkg-config and find_package(haloccl) consumers built and ran; the NCCL drop-in is in $shim"
