#!/bin/sh
# SPDX-License-Identifier: MIT
# check_readme_params.sh HALO_INFO README — the README's parameter table must be
# exactly what `halo-info --params-markdown` generates from src/core/params.def, so
# a parameter added, removed or changed there cannot leave the README behind.
set -eu
info=$1 readme=$2
want=$(mktemp) have=$(mktemp)
trap 'rm -f "$want" "$have"' EXIT
"$info" --params-markdown >"$want"
sed -n '/^<!-- params:begin/,/^<!-- params:end/p' "$readme" | sed '1d;$d' >"$have"
if [ ! -s "$have" ]; then
    echo "readme_params: no <!-- params:begin --> ... <!-- params:end --> block in $readme" >&2
    exit 1
fi
if ! diff -u "$have" "$want"; then
    echo "readme_params: the README's parameter table differs from params.def (diff above: - README, + params.def);" >&2
    echo "regenerate it with: build/bin/halo-info --params-markdown" >&2
    exit 1
fi
echo "readme_params: $(grep -c '^| `HALO_' "$want") parameters, README matches params.def"
