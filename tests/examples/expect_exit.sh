#!/bin/sh
# SPDX-License-Identifier: MIT
# expect_exit.sh CODE REGEX CMD [ARGS...]
# Runs CMD; passes when it exits with CODE and its output (stdout and stderr)
# matches the extended regular expression REGEX. Prints the output either way.
code=$1
regex=$2
shift 2
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne "$code" ]; then
    echo "expect_exit: exit code $rc, expected $code"
    exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq -- "$regex"; then
    echo "expect_exit: the output does not match /$regex/"
    exit 1
fi
echo "expect_exit: exit code $rc and /$regex/ as expected"
