#!/bin/sh
# SPDX-License-Identifier: MIT
# checkpoint.sh TOOL DIR CASE — tp_transformer with llama2.c checkpoints it wrote.
#   roundtrip     the checkpoint of the generated model gives bit-identical tokens and
#                 logits (same fingerprint) at TP=2, and passes --check when loaded
#   truncated     100 bytes cut off the end: exit 2 naming expected and actual size
#   wrong-format  a text file: exit 2, "not a llama2.c checkpoint"
#   version       a llama2.c version-1 export (magic "ak42"): exit 2 naming the format
tool=$1
dir=$2
case_=$3
here=$(dirname "$0")
file="$dir/tpt_$case_.bin"
shape="--dim 128 --layers 2 --heads 4 --kv-heads 2 --ffn 256 --vocab 256 --seq-len 64"
set -e
case "$case_" in
roundtrip)
    "$tool" --write-checkpoint "$file" $shape
    gen=$("$tool" -n 2 --quiet $shape | grep fingerprint)
    loaded=$("$tool" -n 2 --quiet --check --model "$file")
    printf '%s\n%s\n' "$gen" "$loaded"
    [ "$(printf '%s\n' "$loaded" | grep fingerprint)" = "$gen" ] || { echo "checkpoint.sh: fingerprints differ"; exit 1; }
    ;;
truncated)
    "$tool" --write-checkpoint "$file" $shape
    truncate -s -100 "$file"
    sh "$here/expect_exit.sh" 2 "but the file has [0-9]+ \(missing 100 bytes\): truncated" "$tool" -n 2 --model "$file"
    ;;
wrong-format)
    echo "this is a text file, not a model checkpoint" > "$file"
    sh "$here/expect_exit.sh" 2 "is not a llama2.c checkpoint: header field dim" "$tool" -n 2 --model "$file"
    ;;
version)
    printf '24ka\001\000\000\000' > "$file"
    head -c 256 /dev/zero >> "$file"
    sh "$here/expect_exit.sh" 2 "version-1 export \(magic \"ak42\"\)" "$tool" -n 2 --model "$file"
    ;;
*)
    echo "checkpoint.sh: unknown case $case_"
    exit 1
    ;;
esac
rm -f "$file"
