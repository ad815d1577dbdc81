#!/bin/bash
# SPDX-License-Identifier: MIT
# mkinitramfs.sh — builds the small initramfs the Soft-RoCE VMs boot with.
#
# Usage: mkinitramfs.sh BUILD_DIR
# Prints two lines on stdout: the kernel image and the initramfs to boot
#   KERNEL=/boot/vmlinuz-<kver>
#   INITRD=BUILD_DIR/initramfs-<kver>.cpio.gz
# and rebuilds the initramfs only when the kernel, the module list or this script
# changed (a stamp file holds their digest).
#
# Contents: busybox (static) as /bin/*, the kernel modules the rig needs, copied
# uncompressed into /modules and loaded by /init with insmod in dependency order
# (`modprobe --show-depends` gives it; crc32_generic first: without it rdma_rxe
# fails with "failed to init crc32 algorithm err:-2"), and /init itself, which
#   1. mounts proc, sys, devtmpfs and loads the modules;
#   2. mounts the host's root (9p tag "hostroot", read-only) on /host, with proc,
#      sys, devtmpfs and tmpfs (/tmp, /run, /dev/shm) mounted under it;
#   3. runs `sh SCRIPT` chrooted into /host, in HALO_CWD, where SCRIPT comes from the
#      kernel command line (halo_script=/abs/path, a file the host wrote);
#   4. prints `HALO-VM-EXIT vmid=<id> rc=<status>` and powers off.
# Facts behind these choices: docs/softroce-vm.md.
set -euo pipefail

die() { echo "mkinitramfs.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: mkinitramfs.sh BUILD_DIR"
build=$1
mkdir -p "$build"
build=$(cd "$build" && pwd)

# Modules wanted; their dependencies are added in load order. crc32_generic first.
WANT="crc32_generic virtio_pci virtio_net 9pnet_virtio 9p rdma_rxe rdma_ucm veth sch_netem"

# The newest installed Debian kernel that has a module tree.
kver=""
for k in $(ls -1 /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V -r); do
    if [ -d "/lib/modules/$k/kernel" ]; then kver=$k; break; fi
done
[ -n "$kver" ] || die "no kernel image with modules: need /boot/vmlinuz-<kver> and /lib/modules/<kver> (apt-get install linux-image-amd64)"
kernel=/boot/vmlinuz-$kver
[ -r "$kernel" ] || die "$kernel is not readable (run as root, or chmod a+r it)"
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || busybox=/bin/busybox
[ -x "$busybox" ] || die "busybox not found (apt-get install busybox-static)"
ldd "$busybox" >/dev/null 2>&1 && die "$busybox is dynamically linked; install busybox-static"
command -v cpio >/dev/null || die "cpio not found (apt-get install cpio)"
command -v modprobe >/dev/null || die "modprobe not found (apt-get install kmod)"

# Module paths in load order, without duplicates.
modlist=$(for m in $WANT; do
              modprobe -S "$kver" --show-depends "$m" || die "module $m missing for kernel $kver"
          done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }')
[ -n "$modlist" ] || die "modprobe printed no modules for kernel $kver"

out=$build/initramfs-$kver.cpio.gz
stamp=$build/initramfs-$kver.stamp
digest=$( { echo "$kver"; echo "$modlist"; stat -c '%s %Y' "$kernel" "$busybox"; cat "$0"; } | sha256sum | cut -d' ' -f1)
if [ -s "$out" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
    echo "KERNEL=$kernel"
    echo "INITRD=$out"
    exit 0
fi

root=$(mktemp -d "$build/initramfs-root.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,dev,proc,sys,host,modules,tmp}
cp "$busybox" "$root/bin/busybox"
for app in sh mount umount insmod mkdir cat echo sleep poweroff sync chroot grep sed tr ip ls cut; do
    ln -s busybox "$root/bin/$app"
done

: > "$root/modules/order"
for m in $modlist; do
    base=$(basename "$m")
    case "$m" in
        *.ko) cp "$m" "$root/modules/$base" ;;
        *.ko.xz) base=${base%.xz}; xz -dc "$m" > "$root/modules/$base" ;;
        *.ko.zst) base=${base%.zst}; zstd -qdc "$m" > "$root/modules/$base" ;;
        *.ko.gz) base=${base%.gz}; gzip -dc "$m" > "$root/modules/$base" ;;
        *) die "unknown module file type: $m" ;;
    esac
    echo "$base" >> "$root/modules/order"
done

cat > "$root/init" <<'INIT'
#!/bin/sh
# /init of the Soft-RoCE test VM (written by tests/rdma-vm/mkinitramfs.sh).
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

vmid=0; script=; cwd=/
for w in $(cat /proc/cmdline); do
    case "$w" in
        vmid=*) vmid=${w#vmid=} ;;
        halo_script=*) script=${w#halo_script=} ;;
        halo_cwd=*) cwd=${w#halo_cwd=} ;;
    esac
done

rc=0
for m in $(cat /modules/order); do
    insmod /modules/$m || { echo "HALO-VM: insmod $m failed"; rc=90; }
done
ip link set lo up

mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /host || rc=91
if [ $rc -eq 0 ]; then
    mount -t proc proc /host/proc
    mount -t sysfs sysfs /host/sys
    mount -t devtmpfs devtmpfs /host/dev
    mkdir -p /host/dev/shm /host/dev/pts
    mount -t tmpfs -o mode=1777 tmpfs /host/dev/shm
    mount -t tmpfs -o mode=1777 tmpfs /host/tmp
    mount -t tmpfs tmpfs /host/run
    # Registered memory is pinned: lift the memlock limit (tests lower it themselves).
    ulimit -l unlimited
    # A newline first: the firmware's last line has none (the host parses markers).
    echo
    echo "HALO-VM-BEGIN vmid=$vmid"
    HOME=/tmp TERM=dumb HALO_VMID=$vmid \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        chroot /host /bin/sh -c 'cd "$1" && exec /bin/sh "$2"' halo-vm "$cwd" "$script" \
        </dev/null 2>&1
    rc=$?
fi
sync
echo
echo "HALO-VM-EXIT vmid=$vmid rc=$rc"
poweroff -f
INIT
chmod 755 "$root/init"

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) > "$out.tmp"
mv "$out.tmp" "$out"
echo "$digest" > "$stamp"
echo "KERNEL=$kernel"
echo "INITRD=$out"
