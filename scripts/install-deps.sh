#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# install-deps.sh — installs what haloccl needs to build and to run its whole test
# suite on Debian 12 / Ubuntu 24.04, from the distribution's packages. Idempotent:
# packages already present are skipped, so a second run does no network access.
# --tests adds what only the test suite uses (scripts/test.sh passes it).
set -euo pipefail
cd "$(dirname "$0")/.."

# build + core tests: compiler, cmake, libsodium (HMAC for the job secret),
# OpenMPI (mpirun test), iproute2 (network-namespace clusters), hwloc (NIC/GPU
# locality, optional at run time).
pkgs=(build-essential cmake pkg-config libsodium-dev openmpi-bin libopenmpi-dev iproute2 libhwloc-dev iperf3 iputils-ping)
# the Soft-RoCE VM rig and the ib transport's headers
while read -r p; do
    [[ -z "$p" || "$p" == \#* ]] && continue
    pkgs+=("$p")
done < tests/rdma-vm/packages.txt
# tests only: the HIP headers (ROCm 5.2 on Debian 12; Ubuntu's universe has the same
# package name, 5.7 and later) that test_gpu_headers_hip checks src/hip/gpu_abi.h against
if [[ "${1:-}" == "--tests" ]]; then
    pkgs+=(libamdhip64-dev)
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
    echo "install-deps: all ${#pkgs[@]} packages present"
    exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "install-deps: run as root (missing: ${missing[*]})" >&2; exit 1; }
    SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
