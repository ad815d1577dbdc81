/* SPDX-License-Identifier: MIT */
/*
 * iface_sysfs.c — per-interface facts from sysfs (and the ethtool ioctl for virtual
 * devices): link speed, MTU, driver, PCI address, NUMA node, the RDMA device and port.
 *
 * Platform facts used here:
 *  - /sys/class/net/IF/speed fails with EINVAL while the link is down and reads -1 for
 *    drivers that do not know; veth reports 10000 when up.
 *  - /sys/class/net/IF/device exists only for interfaces backed by a device; its
 *    `driver` link names the driver (thunderbolt-net, ice, mlx5_core, virtio_net). The
 *    device path runs through the PCI function (0000:c3:00.0), which holds numa_node.
 *  - Virtual interfaces (veth, bridge, tun) have no device: ETHTOOL_GDRVINFO gives the
 *    driver ("veth", "bridge"); uevent's DEVTYPE names bridges, vlans, wireguard.
 *  - An RDMA device sits on a netdev through its GID table:
 *    /sys/class/infiniband/DEV/ports/P/gid_attrs/ndevs/N holds the netdev name (this
 *    also finds Soft-RoCE rxe devices, which have no PCI device); for mlx5 and irdma
 *    /sys/class/net/IF/device/infiniband/DEV is a shortcut.
 */
#include <dirent.h>
#include <limits.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "topo.h"

static int topo_sys_read(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    int ok = 0;

    buf[0] = '\0';
    if (!f)
        return -1;
    if (fgets(buf, (int)len, f)) {
        buf[strcspn(buf, "\r\n")] = '\0';
        ok = 1;
    }
    fclose(f);
    return ok ? 0 : -1;
}

static int topo_sys_read_int(const char *path, int fallback)
{
    char buf[64], *end;
    long v;

    if (topo_sys_read(path, buf, sizeof(buf)) != 0 || !buf[0])
        return fallback;
    v = strtol(buf, &end, 10);
    return *end == '\0' ? (int)v : fallback;
}

/* dir + "/" + leaf into out (PATH_MAX); "" when it does not fit. */
static const char *topo_join(char *out, const char *dir, const char *leaf)
{
    if (snprintf(out, PATH_MAX, "%s/%s", dir, leaf) >= PATH_MAX)
        out[0] = '\0';
    return out;
}

static void topo_basename_copy(char *dst, size_t len, const char *path)
{
    const char *slash = strrchr(path, '/');

    topo_strlcpy(dst, slash ? slash + 1 : path, len);
}

/* "0000:c3:00.0" */
static int topo_is_pci_bdf(const char *s, size_t n)
{
    static const char pat[] = "hhhh:hh:hh.h";

    if (n != sizeof(pat) - 1)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
        if (pat[i] == 'h' ? !hex : s[i] != pat[i])
            return 0;
    }
    return 1;
}

/* The last PCI function on the device's resolved path: the NIC itself, or for
 * virtio/thunderbolt the PCI function that hosts it. Cuts `real` after it. */
static int topo_pci_from_path(char *real, char *pci, size_t len)
{
    char *end = real + strlen(real);

    while (end > real) {
        char *start = end;
        while (start > real && start[-1] != '/')
            start--;
        if (topo_is_pci_bdf(start, (size_t)(end - start))) {
            *end = '\0';
            snprintf(pci, len, "%.*s", (int)(end - start), start);
            return 0;
        }
        end = start > real ? start - 1 : real;
    }
    return -1;
}

static void topo_device_read(const char *base, struct topo_iface *ifc)
{
    char path[PATH_MAX], link[PATH_MAX], real[PATH_MAX];
    ssize_t n;

    topo_join(path, base, "device/driver");
    n = readlink(path, link, sizeof(link) - 1);
    if (n > 0) {
        link[n] = '\0';
        topo_basename_copy(ifc->driver, sizeof(ifc->driver), link);
    }
    topo_join(path, base, "device");
    if (!realpath(path, real) || topo_pci_from_path(real, ifc->pci, sizeof(ifc->pci)) != 0)
        return;
    topo_join(path, real, "numa_node");
    ifc->numa_node = topo_sys_read_int(path, -1);
}

/* Driver name of a device-less interface through ETHTOOL_GDRVINFO. */
static void topo_ethtool_driver(const char *name, char *driver, size_t len)
{
    struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
    struct ifreq ifr;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return;
    memset(&ifr, 0, sizeof(ifr));
    topo_strlcpy(ifr.ifr_name, name, sizeof(ifr.ifr_name));
    ifr.ifr_data = (void *)&info;
    if (ioctl(fd, SIOCETHTOOL, &ifr) == 0 && info.driver[0])
        topo_strlcpy(driver, info.driver, len < sizeof(info.driver) ? len : sizeof(info.driver));
    close(fd);
}

static void topo_virtual_driver(const char *sysroot, const char *base, struct topo_iface *ifc)
{
    char path[PATH_MAX], line[128];
    FILE *f;

    ifc->flags |= TOPO_IF_VIRTUAL;
    if (strcmp(sysroot, "/sys") == 0)
        topo_ethtool_driver(ifc->name, ifc->driver, sizeof(ifc->driver));
    if (ifc->driver[0])
        return;
    topo_join(path, base, "uevent");
    f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "DEVTYPE=", 8) == 0)
            topo_strlcpy(ifc->driver, line + 8, sizeof(ifc->driver));
    }
    if (f)
        fclose(f);
    topo_join(path, base, "bridge");
    if (!ifc->driver[0] && access(path, F_OK) == 0)
        snprintf(ifc->driver, sizeof(ifc->driver), "bridge");
}

/* Does a GID of DEV's port dir `port` belong to netdev `name`? */
static int topo_port_has_ndev(const char *portdir, const char *name)
{
    char path[PATH_MAX], val[64];
    struct dirent *e;
    int found = 0;
    DIR *d;

    topo_join(path, portdir, "gid_attrs/ndevs");
    d = opendir(path);
    while (d && !found && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof(path), "%s/gid_attrs/ndevs/%s", portdir, e->d_name) >= PATH_MAX)
            continue;
        found = topo_sys_read(path, val, sizeof(val)) == 0 && strcmp(val, name) == 0;
    }
    if (d)
        closedir(d);
    return found;
}

/* Finds the port of RDMA device `dev` whose GIDs sit on ifc->name. */
static int topo_rdma_port_find(const char *sysroot, const char *dev, struct topo_iface *ifc)
{
    char path[PATH_MAX], state[64];
    struct dirent *e;
    DIR *d;
    int port = 0;

    snprintf(path, sizeof(path), "%s/class/infiniband/%s/ports", sysroot, dev);
    d = opendir(path);
    while (d && !port && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/class/infiniband/%s/ports/%s", sysroot, dev, e->d_name);
        if (topo_port_has_ndev(path, ifc->name))
            port = atoi(e->d_name);
    }
    if (d)
        closedir(d);
    if (!port)
        return 0;
    topo_strlcpy(ifc->rdma_dev, dev, sizeof(ifc->rdma_dev));
    ifc->rdma_port = port;
    snprintf(path, sizeof(path), "%s/class/infiniband/%s/ports/%d/state", sysroot, dev, port);
    if (topo_sys_read(path, state, sizeof(state)) == 0 && strstr(state, "ACTIVE"))
        ifc->flags |= TOPO_IF_RDMA_ACTIVE;
    /* "1: CA" (InfiniBand, RoCE, Soft-RoCE), "4: RNIC" (iWARP), others (usNIC ...) */
    snprintf(path, sizeof(path), "%s/class/infiniband/%s/node_type", sysroot, dev);
    int type = topo_sys_read(path, state, sizeof(state)) == 0 ? atoi(state) : 1;
    if (type == 4)
        ifc->flags |= TOPO_IF_RDMA_IWARP;
    else if (type != 1)
        ifc->flags |= TOPO_IF_RDMA_NOT_CA;
    return port;
}

/* The first RDMA device listed in directory `dir` with a port on this netdev. */
static void topo_rdma_scan(const char *sysroot, const char *dir, struct topo_iface *ifc)
{
    struct dirent *e;
    DIR *d = opendir(dir);

    while (d && !ifc->rdma_port && (e = readdir(d)))
        if (e->d_name[0] != '.')
            topo_rdma_port_find(sysroot, e->d_name, ifc);
    if (d)
        closedir(d);
}

static void topo_rdma_read(const char *sysroot, const char *base, struct topo_iface *ifc)
{
    char path[PATH_MAX];

    /* Devices on the netdev's own PCI function first, then every RDMA device. */
    topo_join(path, base, "device/infiniband");
    topo_rdma_scan(sysroot, path, ifc);
    snprintf(path, sizeof(path), "%s/class/infiniband", sysroot);
    topo_rdma_scan(sysroot, path, ifc);
}

void topo_iface_read_sysfs(const char *sysroot, struct topo_iface *ifc)
{
    char base[PATH_MAX], path[PATH_MAX];
    int speed;

    snprintf(base, sizeof(base), "%s/class/net/%s", sysroot, ifc->name);
    topo_join(path, base, "speed");
    speed = topo_sys_read_int(path, -1);
    ifc->speed_mbps = speed > 0 ? speed : -1;
    topo_join(path, base, "mtu");
    ifc->mtu = topo_sys_read_int(path, 0);
    ifc->numa_node = -1;
    topo_join(path, base, "device");
    if (access(path, F_OK) == 0)
        topo_device_read(base, ifc);
    else
        topo_virtual_driver(sysroot, base, ifc);
    topo_rdma_read(sysroot, base, ifc);
}
