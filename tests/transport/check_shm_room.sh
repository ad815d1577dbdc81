#!/bin/sh
# SPDX-License-Identifier: MIT
# A /dev/shm too small for the shm FIFOs a job uses (as a container's 64 MiB default
# is for large FIFOs; here 700 KiB where two ranks use two FIFOs of 512 KiB): init
# fails on a rank that found no room, with the sentence naming /dev/shm and what to
# change, and the job ends with an error status, not a SIGBUS at the first touch of
# a FIFO. With 1.5 MiB the same job runs and checks its results: the segments (1 MiB
# each) hold a FIFO from each rank to itself that is never used, and never takes
# room. Runs in a private mount namespace (unshare -m): needs root; skips (77)
# without it, and on kernels before 5.14 (no MADV_POPULATE_WRITE: FIFO pages are
# still faulted in lazily there).
# usage: check_shm_room.sh ALLREDUCE_BW
set -u
bw=$1
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for a private /dev/shm mount"; exit 77; }
command -v unshare >/dev/null || { echo "SKIP: no unshare"; exit 77; }
unshare -m sh -c 'mount -t tmpfs -o size=64k tmpfs /dev/shm' 2>/dev/null ||
    { echo "SKIP: cannot mount a private /dev/shm (unshare -m; mount -t tmpfs)"; exit 77; }
fail=0
run() { # SIZE: the job's output; its exit status in $dir/st
    unshare -m sh -c "mount -t tmpfs -o size=$1 tmpfs /dev/shm && HALO_TRANSPORT=shm timeout 120 \"$bw\" -n 2 -b 4k -e 4k -w 1 -i 2; echo \$? > \"$dir/st\"" 2>&1
}
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT

case $(uname -r) in
    [1-4].*|5.[0-9].*|5.1[0-3].*) echo "SKIP: kernel $(uname -r) has no MADV_POPULATE_WRITE"; exit 77 ;;
esac
out=$(run 700k)
st=$(cat "$dir/st")
echo "$out" | grep 'haloCommInitRank failed' | head -2
[ "$st" -ne 0 ] && [ "$st" -lt 124 ] || { echo "FAIL: a 700 KiB /dev/shm: exit status $st (expected an error, not 0, a timeout or a signal)"; fail=1; }
echo "$out" | grep -q "haloCommInitRank failed: .*/dev/shm has no room for the shm FIFOs to and from rank [01] ([0-9]* bytes each; /dev/shm now: .* MiB free of 0.7 MiB): .*docker run --shm-size=.*HALO_TRANSPORT=tcp" ||
    { echo "FAIL: no sentence naming /dev/shm's room and what to change:"; echo "$out" | tail -5; fail=1; }

out=$(run 1500k)
st=$(cat "$dir/st")
[ "$st" -eq 0 ] && echo "$out" | grep -q 'Out of bounds values : 0 OK' ||
    { echo "FAIL: a 1.5 MiB /dev/shm: exit status $st"; echo "$out" | tail -5; fail=1; }
[ $fail -eq 0 ] && echo "check_shm_room: a full /dev/shm is an error with its remedy; with room the job runs"
exit $fail
