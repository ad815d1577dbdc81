#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# quickstart.sh — installs what is missing, builds, and runs the main job on this
# machine: the tensor-parallel transformer example on 2 local ranks, checked
# against a single-rank run, then a short allreduce bandwidth sweep.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
echo "== tp_transformer: 2 ranks, tensor parallel, checked against 1 rank =="
build/bin/tp_transformer -n "${HALO_NRANKS:-2}" --check
echo "== allreduce_bw: 2 ranks =="
build/bin/allreduce_bw -n "${HALO_NRANKS:-2}" -b 8 -e 16m -f 8
