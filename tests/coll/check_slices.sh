#!/bin/sh
# SPDX-License-Identifier: MIT
# How schedules cut blocks into slices, as the running library reports it
# (allreduce_bw --model --json, the plan "as run") on 3 local ranks, every result
# checked by the tool (#wrong 0):
#  - over loopback tcp (no plan: one host) slices are at most 256 KiB, and a block
#    of at least 256 KiB is cut into slices of at least 128 KiB (no frame of the
#    shm slot's size on a job that has no shm);
#  - over shm no slice exceeds the shm slot (64 KiB);
#  - HALO_CHUNK_SIZE=64k over tcp: the smaller slot bounds the slices again.
# usage: check_slices.sh ALLREDUCE_BW
set -u
bw=$1 fail=0
no() { echo "FAIL: $*"; fail=1; }

# check TRANSPORT MAX_SLICE MIN_SLICE_WHEN_BLOCK_256K [ENV...]
check() {
    tp=$1 max=$2 min=$3
    shift 3
    out=$(env HALO_TRANSPORT="$tp" HALO_SOCKET_IFNAME=lo "$@" "$bw" -n 3 -b 64k -e 16m -f 4 -w 1 -i 2 --model --json 2>&1)
    rc=$?
    if [ $rc != 0 ]; then
        echo "$out"
        no "allreduce_bw over $tp ($*) exited $rc"
        return
    fi
    n=0
    for line in $(echo "$out" | grep '^{"tool"' | sed 's/.*"size":\([0-9]*\).*"oop_wrong":\([0-9]*\).*"ip_wrong":\([0-9]*\).*"algorithm":"\([a-z_]*\)".*"slice":\([0-9]*\).*/\1:\2:\3:\4:\5/'); do
        IFS=: read -r size ow iw algo slice <<END
$line
END
        n=$((n + 1))
        echo "$tp $* size $size: $algo, slice $slice"
        if [ "$ow" != 0 ] || [ "$iw" != 0 ]; then
            no "$tp size $size: wrong results ($ow out of place, $iw in place)"
        fi
        [ "$slice" -le "$max" ] || no "$tp $* size $size: slice $slice exceeds the slot ($max)"
        blocks=3; [ "$algo" = ring_bidir ] && blocks=6
        if [ "$min" -gt 0 ] && [ $((size / blocks)) -ge 262144 ] && [ "$slice" -lt "$min" ]; then
            no "$tp size $size: slice $slice under $min on a block of $((size / blocks)) bytes"
        fi
    done
    [ $n = 5 ] || { echo "$out"; no "$tp $*: expected 5 sizes, got $n"; }
}

check tcp 262144 131072
check shm 65536 0
check tcp 65536 0 HALO_CHUNK_SIZE=64k
[ $fail = 0 ] && echo "ok: slices within the slot of the job's transports"
exit $fail
