#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test.sh — installs what is missing, builds with warnings as errors, and runs the
# whole test suite (unit, multi-process over shm and tcp, mpirun, emulated
# clusters in network namespaces, Soft-RoCE VMs); then builds again with
# AddressSanitizer + UBSan and runs the suite against that build (the VM rig and
# the emulated clusters excluded: they run the same code paths, only slower);
# last, ThreadSanitizer on the abort test alone (the library and that one test
# built, 500 iterations per transport: about a minute and a half on two cores).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh --tests
jobs=$(nproc)

cmake -S . -B build -DHALO_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs" --timeout 900)

cmake -S . -B build-asan -DHALO_WERROR=ON -DHALO_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j"$jobs" --timeout 900 -LE "rdma|netns")

cmake -S . -B build-tsan -DHALO_WERROR=ON -DHALO_TSAN=ON >/dev/null
cmake --build build-tsan -j"$jobs" --target test_abort
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure --timeout 600 -L abort)
