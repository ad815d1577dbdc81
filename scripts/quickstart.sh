#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# quickstart.sh — installs what building needs (nothing the test suite alone uses),
# builds the library and the two programs it runs, and runs the main job on this
# machine: the tensor-parallel transformer example on 2 local ranks, checked
# against a single-rank run, then a short allreduce bandwidth sweep.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
echo "== configure and build (build/): libhaloccl, tp_transformer, allreduce_bw =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target haloccl tp_transformer allreduce_bw
echo "== tp_transformer: 2 ranks, tensor parallel, checked against 1 rank =="
build/bin/tp_transformer -n "${HALO_NRANKS:-2}" --check
echo "== allreduce_bw: 2 ranks =="
build/bin/allreduce_bw -n "${HALO_NRANKS:-2}" -b 8 -e 16m -f 8
echo "== next: ./scripts/test.sh runs the test suite; cmake --build build builds the rest (examples, halo-info, halo-topo) =="
