#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# install-deps.sh [--tests] [--list] — installs haloccl's dependencies from the
# distribution's packages on Debian 12 and Ubuntu 24.04. Idempotent: packages already
# present are skipped, so a second run does no network access.
#   (no flag)  what building the library, the tools and the examples needs
#              (scripts/quickstart.sh)
#   --tests    also what only the test suite uses: OpenMPI, network tools, the HIP
#              headers, and the Soft-RoCE VM rig (qemu, a kernel image with
#              rdma_rxe, busybox, rdma tools, perftest) (scripts/test.sh)
#   --list     print the packages for this distribution and exit
# Another distribution gets a sentence saying what to install.
set -euo pipefail
tests=0 list=0
for a in "$@"; do
    case "$a" in
        --tests) tests=1 ;;
        --list) list=1 ;;
        *) echo "install-deps: unknown argument $a (--tests, --list)" >&2; exit 2 ;;
    esac
done

# ---- one table per distribution ------------------------------------------------
# build: compiler, cmake, pkg-config, libsodium (HMAC for the job secret); the verbs,
#        rdma_cm and hwloc headers (optional at build time: without them the ib
#        transport and hwloc locality compile to stubs; the libraries are loaded with
#        dlopen at run time).
# tests: OpenMPI (mpirun tests), iproute2 (network-namespace clusters), iperf3 and
#        ping (baselines), python3, Gloo's headers and library and gnuplot
#        (perf/compare.sh: the Gloo baseline, the report and its plots; test
#        perf_compare_quick), the HIP headers test_gpu_headers_hip checks gpu_abi.h
#        against, valgrind (memcheck over a short multi-process run), clang with its
#        runtime libraries (libFuzzer, for the fuzz suite: tests/fuzz; clang only
#        recommends them).
# vm:    the Soft-RoCE rig (tests/rdma-vm): qemu (TCG), the distribution's kernel
#        (ships rdma_rxe.ko), busybox for /init, kmod, cpio + gzip for the initramfs;
#        inside the VM: rdma tooling, the rxe provider, perftest.
debian_12_build=(build-essential cmake pkg-config libsodium-dev libibverbs-dev librdmacm-dev libhwloc-dev)
debian_12_tests=(openmpi-bin libopenmpi-dev iproute2 iperf3 iputils-ping python3 libgloo-dev gnuplot-nox
                 libamdhip64-dev valgrind clang libclang-rt-14-dev)
debian_12_vm=(qemu-system-x86 linux-image-amd64 busybox-static kmod cpio gzip
              rdma-core ibverbs-providers ibverbs-utils rdmacm-utils perftest)

# Ubuntu: the same names, except the kernel: linux-image-generic (it pulls
# linux-modules-extra, where rdma_rxe.ko lives; linux-image-virtual does not), and
# clang 18's runtime (libFuzzer) for clang 14's.
# libamdhip64-dev and libgloo-dev are in universe.
ubuntu_24_04_build=("${debian_12_build[@]}")
ubuntu_24_04_tests=(openmpi-bin libopenmpi-dev iproute2 iperf3 iputils-ping python3 libgloo-dev gnuplot-nox libamdhip64-dev
                    valgrind clang libclang-rt-18-dev)
ubuntu_24_04_vm=(qemu-system-x86 linux-image-generic busybox-static kmod cpio gzip
                 rdma-core ibverbs-providers ibverbs-utils rdmacm-utils perftest)

ID="" VERSION_ID="" PRETTY_NAME="this system"
[ -r /etc/os-release ] && . /etc/os-release
case "$ID:$VERSION_ID" in
    debian:12) dist=debian_12 ;;
    ubuntu:24.04) dist=ubuntu_24_04 ;;
    *) dist="" ;;
esac

if [ -z "$dist" ]; then
    echo "install-deps: $PRETTY_NAME is not one this script knows (Debian 12, Ubuntu 24.04)." \
         "To build, install a C11 compiler, CMake >= 3.18, pkg-config and the libsodium" \
         "headers (optional: rdma-core's libibverbs/librdmacm headers, hwloc 2 headers);" \
         "the test suite also wants OpenMPI, iproute2, iperf3, and for the Soft-RoCE VMs" \
         "qemu-system-x86_64, a kernel image whose modules include rdma_rxe, busybox," \
         "kmod, cpio, rdma-core's tools and perftest." >&2
    # Go on when the build's needs are there already (installed by hand).
    if command -v cc >/dev/null && command -v cmake >/dev/null && command -v pkg-config >/dev/null &&
        pkg-config --exists libsodium; then
        echo "install-deps: a compiler, cmake, pkg-config and libsodium are present; going on" >&2
        exit 0
    fi
    exit 1
fi

declare -n build_pkgs="${dist}_build" tests_pkgs="${dist}_tests" vm_pkgs="${dist}_vm"
pkgs=("${build_pkgs[@]}")
((tests)) && pkgs+=("${tests_pkgs[@]}" "${vm_pkgs[@]}")
if ((list)); then
    printf '%s\n' "${pkgs[@]}"
    exit 0
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
what=$( ((tests)) && echo "build and tests" || echo "build")
if ((${#missing[@]} == 0)); then
    echo "install-deps: all ${#pkgs[@]} packages for the $what present ($PRETTY_NAME)"
    exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "install-deps: run as root (missing: ${missing[*]})" >&2; exit 1; }
    SUDO=sudo
fi
echo "install-deps: installing for the $what ($PRETTY_NAME): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
