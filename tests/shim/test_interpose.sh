#!/bin/sh
# SPDX-License-Identifier: MIT
# test_interpose.sh CLIENT_ON_FAKE DLOPEN NCCL RCCL AUDIT FAKE_DIR
# Proves both ways of swapping NCCL for haloccl:
#  - LD_PRELOAD: a client linked against a fake libnccl.so.2 runs entirely on ours
#    (its /proc/self/maps holds only our library; every element checks out);
#  - LD_AUDIT: dlopen of "libnccl.so.2", of the fake's absolute path and of
#    "librccl.so.1" all land on ours, even with the fake first on LD_LIBRARY_PATH.
# Each positive case has a negative control that shows the fake is what the
# process would get otherwise.
set -u
client=$1 dl=$2 nccl=$3 rccl=$4 audit=$5 fakedir=$6
fail=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

expect() { # expect 0|1 DESCRIPTION CMD...
    want=$1 what=$2
    shift 2
    if "$@" >"$log" 2>&1; then rc=0; else rc=1; fi
    if [ "$rc" != "$want" ]; then
        echo "test_interpose: FAIL: $what (exit $rc, expected $want):" >&2
        tail -5 "$log" >&2
        fail=1
    else
        echo "test_interpose: ok: $what"
    fi
}

expect 1 "control: the client runs on the fake without LD_PRELOAD" env -u LD_PRELOAD "$client" coll 2
grep -q "FAKE libnccl" "$log" || { echo "test_interpose: FAIL: the control did not reach the fake" >&2; fail=1; }
expect 0 "LD_PRELOAD: the client linked against the fake runs on ours (2 ranks)" \
    env LD_PRELOAD="$nccl" HALO_SHIM_EXPECT_LIB="$nccl" "$client" coll 2
expect 0 "LD_PRELOAD: 3 ranks" env LD_PRELOAD="$nccl" HALO_SHIM_EXPECT_LIB="$nccl" "$client" coll 3
if grep -q "FAKE libnccl" "$log"; then echo "test_interpose: FAIL: the fake was called under LD_PRELOAD" >&2; fail=1; fi

expect 1 "control: dlopen(libnccl.so.2) finds the fake on LD_LIBRARY_PATH" \
    env LD_LIBRARY_PATH="$fakedir" HALO_SHIM_EXPECT_LIB="$nccl" "$dl" libnccl.so.2
expect 0 "LD_AUDIT: dlopen(libnccl.so.2) lands on ours" \
    env LD_AUDIT="$audit" LD_LIBRARY_PATH="$fakedir" HALO_SHIM_EXPECT_LIB="$nccl" "$dl" libnccl.so.2
expect 0 "LD_AUDIT: dlopen of the fake's absolute path lands on ours" \
    env LD_AUDIT="$audit" HALO_SHIM_EXPECT_LIB="$nccl" "$dl" "$fakedir/libnccl.so.2"
expect 0 "LD_AUDIT: dlopen(librccl.so.1) lands on our librccl" \
    env LD_AUDIT="$audit" HALO_SHIM_EXPECT_LIB="$rccl" "$dl" librccl.so.1
expect 0 "LD_AUDIT: the client linked against the fake runs on ours (DT_NEEDED redirected)" \
    env LD_AUDIT="$audit" HALO_SHIM_EXPECT_LIB="$nccl" "$client" coll 2
# vLLM's VLLM_NCCL_SO_PATH case: another libnccl.so.2 is already global (here the
# fake, preloaded); ours, loaded by path, must keep its inner calls to itself.
expect 0 "by path next to a global libnccl: inner calls bind inside ours (-Bsymbolic)" \
    env LD_PRELOAD="$fakedir/libnccl.so.2" HALO_SHIM_DEEP=1 HALO_SHIM_EXPECT_LIB="$nccl" "$dl" "$nccl"
if grep -q "FAKE libnccl" "$log"; then echo "test_interpose: FAIL: an inner call reached the fake" >&2; fail=1; fi
exit $fail
