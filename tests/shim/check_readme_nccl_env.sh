#!/bin/sh
# SPDX-License-Identifier: MIT
# check_readme_nccl_env.sh HALO_INFO README — the README's table of NCCL
# environment names is what `halo-info --nccl-env-markdown` generates (params.def's
# alias column plus src/base/nccl_env.c), so the two cannot drift apart.
set -eu
info=$1 readme=$2
want=$(mktemp) have=$(mktemp)
trap 'rm -f "$want" "$have"' EXIT
"$info" --nccl-env-markdown >"$want"
sed -n '/^<!-- nccl-env:begin/,/^<!-- nccl-env:end/p' "$readme" | sed '1d;$d' >"$have"
if [ ! -s "$have" ]; then
    echo "readme_nccl_env: no <!-- nccl-env:begin --> ... <!-- nccl-env:end --> block in $readme" >&2
    exit 1
fi
if ! diff -u "$have" "$want"; then
    echo "readme_nccl_env: the README's NCCL name table differs (diff above: - README, + generated);" >&2
    echo "regenerate it with: build/bin/halo-info --nccl-env-markdown" >&2
    exit 1
fi
echo "readme_nccl_env: README matches the generated NCCL name table"
