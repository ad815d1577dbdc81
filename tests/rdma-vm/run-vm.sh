#!/bin/bash
# SPDX-License-Identifier: MIT
# run-vm.sh — boots one Soft-RoCE test VM, runs a script in it, powers it off.
#
# Usage: run-vm.sh [options] SCRIPT
#   --build DIR        where the initramfs and per-run files go (default
#                      $HALO_RDMA_VM_BUILD or /var/tmp/haloccl-rdma-vm); must be
#                      visible in the guest, so not under /tmp, /run or /dev
#   --vmid N           identity of the VM (kernel command line vmid=N, $HALO_VMID in
#                      the script, MAC addresses); default 1
#   --nic listen:PORT  add a virtio NIC joined to a qemu socket netdev listening on
#   --nic connect:PORT 127.0.0.1:PORT, or connecting to one (waits up to 60 s for the
#                      listener); repeat for more NICs (eth0, eth1, ... in order)
#   --nic mcast:PORT   add a virtio NIC on a shared segment: a qemu socket netdev on
#                      the multicast group 230.0.0.1:PORT over loopback; every VM
#                      given the same PORT sees the others' frames (a switch, for a
#                      management network; qemu's own hubport joins only the NICs
#                      of one qemu)
#   --smp N --mem MB   VM size (default 1 CPU, 1024 MB)
#   --numa N           N NUMA nodes (N divides --smp and --mem): node i gets the
#                      i-th share of the CPUs and of the memory; default one node
#   --timeout S        hard limit for the whole VM run (default 300)
#   --cwd DIR          directory the script starts in (default: the current one)
#   --log FILE         full console log (default BUILD/vm<N>.log)
#
# The VM runs Debian's kernel under TCG (a nested KVM guest hangs on these
# machines) with the host's root shared read-only over 9p and chrooted into, so the
# script runs the host's binaries, this project's build tree included. SCRIPT runs
# with /bin/sh as root; its output is printed here with a "[vmN] " prefix. /tmp in
# the guest is the guest's own tmpfs.
#
# Exit status: the script's own exit status; 124 when the VM ran past --timeout;
# 2 when the VM could not be started or did not report (the reason is printed).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${HALO_RDMA_VM_BUILD:-/var/tmp/haloccl-rdma-vm}
vmid=1 smp=1 mem=1024 numa=1 limit=300 cwd=$(pwd) log="" script=""
nics=()

die() { echo "run-vm.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --build) build=$2; shift 2 ;;
        --vmid) vmid=$2; shift 2 ;;
        --nic) nics+=("$2"); shift 2 ;;
        --smp) smp=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        --numa) numa=$2; shift 2 ;;
        --timeout) limit=$2; shift 2 ;;
        --cwd) cwd=$2; shift 2 ;;
        --log) log=$2; shift 2 ;;
        -h|--help) sed -n '3,33p' "$0"; exit 0 ;;
        -*) die "unknown option $1" ;;
        *) [ -z "$script" ] || die "one SCRIPT only"; script=$1; shift ;;
    esac
done
[ -n "$script" ] || die "usage: run-vm.sh [options] SCRIPT (see --help)"
[ -r "$script" ] || die "cannot read script $script"
case "$vmid" in ''|*[!0-9]*) die "--vmid must be a number 0..255" ;; esac
[ "$vmid" -le 255 ] || die "--vmid must be a number 0..255"
case "$numa" in ''|*[!0-9]*|0) die "--numa must be a number of nodes, 1 or more" ;; esac
[ $((smp % numa)) -eq 0 ] && [ $((mem % numa)) -eq 0 ] || die "--numa $numa must divide --smp $smp and --mem $mem"
# NUMA nodes: node i gets CPUs [i*smp/numa, (i+1)*smp/numa) and mem/numa MB.
numaargs=()
if [ "$numa" -gt 1 ]; then
    for ((n = 0; n < numa; n++)); do
        lo=$((n * smp / numa)) hi=$(((n + 1) * smp / numa - 1))
        numaargs+=(-object "memory-backend-ram,id=m$n,size=$((mem / numa))M"
                   -numa "node,nodeid=$n,cpus=$lo-$hi,memdev=m$n")
    done
fi

qemu=$(command -v qemu-system-x86_64) ||
    die "qemu-system-x86_64 not found: install the rig's packages with scripts/install-deps.sh --tests"
mkdir -p "$build" || die "cannot create build dir $build"
build=$(cd "$build" && pwd)
case "$build/" in
    /tmp/*|/run/*|/dev/*|/proc/*|/sys/*)
        die "build dir $build is hidden in the guest (its /tmp, /run, /dev are its own); use --build elsewhere" ;;
esac
case "$cwd/" in
    /tmp/*|/run/*|/dev/*|/proc/*|/sys/*) cwd=/ ;;
esac

boot=$("$here/mkinitramfs.sh" "$build") || die "could not build the initramfs (see above)"
kernel=$(echo "$boot" | sed -n 's/^KERNEL=//p')
initrd=$(echo "$boot" | sed -n 's/^INITRD=//p')

# The guest reads the script from the shared root: copy it where the guest sees it.
rundir=$(mktemp -d "$build/run-vm$vmid.XXXXXX") || die "cannot create a run dir in $build"
trap 'rm -rf "$rundir"' EXIT
cp "$script" "$rundir/script.sh"
[ -n "$log" ] || log=$build/vm$vmid.log

netargs=(-nic none)  # no default NIC: only the cables asked for
i=0
for nic in "${nics[@]}"; do
    mode=${nic%%:*} port=${nic#*:}
    case "$mode" in listen|connect|mcast) ;; *) die "--nic takes listen:PORT, connect:PORT or mcast:PORT, not $nic" ;; esac
    case "$port" in ''|*[!0-9]*) die "--nic $nic: bad port" ;; esac
    if [ "$mode" = connect ]; then
        # qemu gives up at once if nobody listens yet: wait for the peer VM's qemu.
        for _ in $(seq 600); do
            ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && break
            sleep 0.1
        done
        ss -Hltn "sport = :$port" 2>/dev/null | grep -q . ||
            die "nothing listens on 127.0.0.1:$port after 60 s (is the peer VM running?)"
    fi
    mac=$(printf '52:54:00:4c:%02x:%02x' "$vmid" "$i")
    if [ "$mode" = mcast ]; then
        # Every qemu on the group gets every frame (its own too: harmless to a NIC).
        netargs+=(-netdev "socket,id=n$i,mcast=230.0.0.1:$port,localaddr=127.0.0.1")
    else
        netargs+=(-netdev "socket,id=n$i,$mode=127.0.0.1:$port")
    fi
    netargs+=(-device "virtio-net-pci,netdev=n$i,mac=$mac,romfile=")
    i=$((i + 1))
done

cmdline="console=ttyS0 panic=-1 quiet loglevel=3 mitigations=off vmid=$vmid"
cmdline+=" halo_script=$rundir/script.sh halo_cwd=$cwd"

# Line by line, so the prefixed lines (and the boot time) come as they happen: tr
# and mawk buffer their input or output in a pipe unless told not to.
awk_opts=()
case "$(awk -W version 2>&1 </dev/null)" in *mawk*) awk_opts=(-W interactive) ;; esac

SECONDS=0
t_start=$(date +%s)
echo "[vm$vmid] booting $(basename "$kernel") under qemu (TCG, $smp CPU, $mem MB$([ "$numa" -gt 1 ] && echo ", $numa NUMA nodes"); limit ${limit}s)"
timeout --kill-after=10 "$limit" "$qemu" \
    -accel tcg -cpu max -smp "$smp" -m "$mem" "${numaargs[@]}" \
    -nographic -no-reboot \
    -kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
    "${netargs[@]}" </dev/null 2>&1 |
    stdbuf -oL tr -d '\r' | sed -u 's/\x1bc//g; s/\x1b\[[0-9;?]*[A-Za-z]//g' | tee "$log" |
    awk "${awk_opts[@]}" -v p="[vm$vmid] " -v t0="$t_start" -v me="halo_script=$rundir/script.sh" '
        # The script is done: a guest kernel that then hangs instead of powering
        # off (a soft lockup seen under TCG) must not hold the rig until its limit.
        /HALO-VM-EXIT vmid=/ { on = 0
                               system("(sleep 30; pkill -TERM -f \"" me "\") >/dev/null 2>&1 &") }
        on && $0 != "" { print p $0; fflush() }
        /HALO-VM-BEGIN vmid=/ { on = 1; "date +%s" | getline t; close("date +%s")
                                print p "booted in " (t - t0) " s; running the script"; fflush() }
        /HALO-VM: / { print p $0; fflush() }'
qrc=${PIPESTATUS[0]}
secs=$SECONDS

exitline=$(grep -ao "HALO-VM-EXIT vmid=$vmid rc=[0-9]*" "$log" | tail -1)
if [ -n "$exitline" ]; then
    rc=${exitline##*rc=}
    echo "[vm$vmid] exit status $rc after ${secs}s (console log: $log)"
    exit "$rc"
fi
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
    echo "[vm$vmid] TIMEOUT: the VM ran past ${limit}s; last console lines ($log):" >&2
    tail -n 15 "$log" | sed "s/^/[vm$vmid]   /" >&2
    exit 124
fi
echo "[vm$vmid] the VM ended (qemu status $qrc) without reporting the script's status; last console lines ($log):" >&2
tail -n 25 "$log" | sed "s/^/[vm$vmid]   /" >&2
exit 2
