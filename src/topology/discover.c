/* SPDX-License-Identifier: MIT */
/*
 * discover.c — what one rank finds on its host: identity (hostname, a hash that tells
 * hosts apart, network namespaces included), memory, NUMA nodes, the GPU, and the
 * network interfaces with their addresses. Per-interface sysfs facts (speed, driver,
 * PCI, NUMA, RDMA) are read by iface_sysfs.c; hwloc, when present, by hwloc.c.
 *
 * The result is plain data (struct topo_rank_info) for the bootstrap's all-gather.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "numa.h"
#include "topo.h"

/* Up to this many distinct names are considered before the best TOPO_MAX_IFACES
 * are kept. */
#define TOPO_SCAN_MAX 64

char *topo_strlcpy(char *dst, const char *src, size_t len)
{
    size_t n = src ? strnlen(src, len - 1) : 0;

    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
    return dst;
}

uint64_t topo_host_hash(const char *hostname, const char *boot_id, uint64_t netns_inode)
{
    /* FNV-1a 64 over "hostname\0boot_id\0inode": boot_id tells apart machines that
     * share a hostname, the namespace inode tells apart emulated hosts of one box. */
    char ino[32];
    const char *parts[3] = { hostname, boot_id, ino };
    uint64_t h = 1469598103934665603ull;

    snprintf(ino, sizeof(ino), "%llu", (unsigned long long)netns_inode);
    for (int p = 0; p < 3; p++) {
        for (const char *c = parts[p]; *c; c++) {
            h ^= (uint8_t)*c;
            h *= 1099511628211ull;
        }
        h *= 1099511628211ull; /* the separator: "ab"+"c" differs from "a"+"bc" */
    }
    return h;
}

static void topo_read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");

    buf[0] = '\0';
    if (!f)
        return;
    if (fgets(buf, (int)len, f))
        buf[strcspn(buf, "\r\n")] = '\0';
    fclose(f);
}

static uint64_t topo_mem_total(void)
{
    char line[256];
    unsigned long long kb = 0;
    FILE *f = fopen("/proc/meminfo", "r");

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

static haloResult_t topo_identity_read(struct topo_rank_info *out, char *err, size_t errlen)
{
    char boot_id[64];
    struct stat st;

    if (gethostname(out->hostname, sizeof(out->hostname)) != 0) {
        snprintf(err, errlen, "topology: gethostname failed: %s", strerror(errno));
        return haloSystemError;
    }
    out->hostname[sizeof(out->hostname) - 1] = '\0';
    topo_read_line("/proc/sys/kernel/random/boot_id", boot_id, sizeof(boot_id));
    if (stat("/proc/self/ns/net", &st) != 0)
        st.st_ino = 0; /* no /proc: namespaces cannot be told apart, hosts still can */
    out->host_hash = topo_host_hash(out->hostname, boot_id, (uint64_t)st.st_ino);
    out->mem_bytes = topo_mem_total();
    out->numa_nodes = halo_numa_nodes(NULL);
    return haloSuccess;
}

/* The GPU: the first PCI display-class device, AMD first. */
static void topo_gpu_find(struct topo_gpu *gpu)
{
    DIR *d = opendir("/sys/bus/pci/devices");
    struct dirent *e;
    char path[512], val[64];

    gpu->numa_node = -1;
    if (!d)
        return;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/class", e->d_name);
        topo_read_line(path, val, sizeof(val));
        if (strncmp(val, "0x03", 4) != 0)
            continue;
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", e->d_name);
        topo_read_line(path, val, sizeof(val));
        unsigned vendor = (unsigned)strtoul(val, NULL, 16);
        if (gpu->vendor == 0x1002 || (gpu->vendor != 0 && vendor != 0x1002))
            continue;
        gpu->vendor = (uint16_t)vendor;
        topo_strlcpy(gpu->pci, e->d_name, sizeof(gpu->pci));
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", e->d_name);
        topo_read_line(path, val, sizeof(val));
        gpu->device = (uint16_t)strtoul(val, NULL, 16);
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/numa_node", e->d_name);
        topo_read_line(path, val, sizeof(val));
        gpu->numa_node = val[0] ? atoi(val) : -1;
    }
    closedir(d);
    if (gpu->pci[0]) {
        int n = topo_hwloc_numa_of_pci(gpu->pci);
        if (n >= 0)
            gpu->numa_node = n;
    }
}

/* Interfaces holding the IPv4 default route (/proc/net/route: destination and mask 0). */
static int topo_is_default_route(const char *ifname)
{
    char line[256], name[64];
    unsigned dst, gw, flags, mask;
    int found = 0;
    FILE *f = fopen("/proc/net/route", "r");

    if (!f)
        return 0;
    while (!found && fgets(line, sizeof(line), f))
        if (sscanf(line, "%63s %x %x %x %*d %*d %*d %x", name, &dst, &gw, &flags, &mask) == 5)
            found = dst == 0 && mask == 0 && strcmp(name, ifname) == 0;
    fclose(f);
    return found;
}

static int topo_prefix_len(const struct sockaddr *mask)
{
    const uint8_t *b;
    int n, bits = 0;

    if (!mask)
        return 0;
    if (mask->sa_family == AF_INET) {
        b = (const uint8_t *)&((const struct sockaddr_in *)mask)->sin_addr;
        n = 4;
    } else {
        b = (const uint8_t *)&((const struct sockaddr_in6 *)mask)->sin6_addr;
        n = 16;
    }
    for (int i = 0; i < n; i++)
        bits += __builtin_popcount(b[i]);
    return bits;
}

static int topo_name_skipped(const char *name, unsigned flags)
{
    /* Loopback never links hosts; docker0/virbr0 hold the same private subnet on
     * every host and would pair up as bogus links (NCCL excludes them too). */
    return (flags & IFF_LOOPBACK) || strncmp(name, "docker", 6) == 0 ||
           strncmp(name, "virbr", 5) == 0;
}

static struct topo_iface *topo_scan_slot(struct topo_iface *scan, int *n, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(scan[i].name, name) == 0)
            return &scan[i];
    if (*n == TOPO_SCAN_MAX)
        return NULL;
    struct topo_iface *s = &scan[(*n)++];
    memset(s, 0, sizeof(*s));
    topo_strlcpy(s->name, name, sizeof(s->name));
    s->speed_mbps = -1;
    s->numa_node = -1;
    return s;
}

static void topo_scan_addr(struct topo_iface *s, const struct ifaddrs *ifa)
{
    const struct sockaddr *sa = ifa->ifa_addr;

    if ((ifa->ifa_flags & IFF_UP) && (ifa->ifa_flags & IFF_RUNNING))
        s->flags |= TOPO_IF_UP;
    if (!sa)
        return;
    if (sa->sa_family == AF_INET && s->addr4.family == TOPO_AF_NONE) {
        s->addr4.family = TOPO_AF_INET;
        s->addr4.prefix_len = (uint8_t)topo_prefix_len(ifa->ifa_netmask);
        memcpy(s->addr4.bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6 && s->addr6.family == TOPO_AF_NONE) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        /* fe80::/64 is on every interface: it cannot tell which hosts share a cable. */
        if (IN6_IS_ADDR_LINKLOCAL(a6) || IN6_IS_ADDR_LOOPBACK(a6))
            return;
        s->addr6.family = TOPO_AF_INET6;
        s->addr6.prefix_len = (uint8_t)topo_prefix_len(ifa->ifa_netmask);
        memcpy(s->addr6.bytes, a6, 16);
    }
}

/* Rank for keeping: up with an address, up without, down. */
static int topo_iface_rank(const struct topo_iface *s)
{
    int has_addr = s->addr4.family || s->addr6.family;

    if (s->flags & TOPO_IF_UP)
        return has_addr ? 0 : 1;
    return 2;
}

static int topo_iface_cmp(const void *a, const void *b)
{
    const struct topo_iface *x = a, *y = b;
    int rx = topo_iface_rank(x), ry = topo_iface_rank(y);

    if (rx != ry)
        return rx - ry;
    return strcmp(x->name, y->name);
}

static haloResult_t topo_ifaces_scan(struct topo_iface *scan, int *n, char *err, size_t errlen)
{
    struct ifaddrs *list, *ifa;

    if (getifaddrs(&list) != 0) {
        snprintf(err, errlen, "topology: getifaddrs failed: %s", strerror(errno));
        return haloSystemError;
    }
    *n = 0;
    for (ifa = list; ifa; ifa = ifa->ifa_next) {
        if (!ifa->ifa_name || topo_name_skipped(ifa->ifa_name, ifa->ifa_flags))
            continue;
        struct topo_iface *s = topo_scan_slot(scan, n, ifa->ifa_name);
        if (s)
            topo_scan_addr(s, ifa);
    }
    freeifaddrs(list);
    qsort(scan, (size_t)*n, sizeof(*scan), topo_iface_cmp);
    return haloSuccess;
}

static void topo_iface_complete(struct topo_iface *ifc, const char *mgmt_ifname)
{
    topo_iface_read_sysfs("/sys", ifc);
    ifc->ifindex = if_nametoindex(ifc->name);
    if (mgmt_ifname && strcmp(mgmt_ifname, ifc->name) == 0)
        ifc->flags |= TOPO_IF_MGMT;
    if (topo_is_default_route(ifc->name))
        ifc->flags |= TOPO_IF_DEFAULT_ROUTE;
    if (ifc->pci[0]) {
        int n = topo_hwloc_numa_of_pci(ifc->pci);
        if (n >= 0)
            ifc->numa_node = n;
    }
}

haloResult_t topo_discover(struct topo_rank_info *out, int rank, const char *mgmt_ifname,
                           char *err, size_t errlen)
{
    struct topo_rank_info info;
    struct topo_iface *scan;
    int n = 0;
    haloResult_t res;

    memset(&info, 0, sizeof(info));
    info.magic = TOPO_INFO_MAGIC;
    info.version = TOPO_INFO_VERSION;
    info.rank = rank;
    res = topo_identity_read(&info, err, errlen);
    if (res != haloSuccess)
        return res;
    topo_gpu_find(&info.gpu);
    scan = calloc(TOPO_SCAN_MAX, sizeof(*scan));
    if (!scan) {
        snprintf(err, errlen, "topology: out of memory scanning interfaces");
        return haloSystemError;
    }
    res = topo_ifaces_scan(scan, &n, err, errlen);
    if (res == haloSuccess) {
        info.n_ifaces = (uint16_t)(n < TOPO_MAX_IFACES ? n : TOPO_MAX_IFACES);
        for (int i = 0; i < info.n_ifaces; i++) {
            info.ifaces[i] = scan[i];
            topo_iface_complete(&info.ifaces[i], mgmt_ifname);
        }
        *out = info;
    }
    free(scan);
    return res;
}

const char *topo_addr_str(const struct topo_addr *a, char *buf, size_t len)
{
    int af = a->family == TOPO_AF_INET ? AF_INET : AF_INET6;

    buf[0] = '\0';
    if (a->family != TOPO_AF_NONE && !inet_ntop(af, a->bytes, buf, (socklen_t)len))
        buf[0] = '\0';
    return buf;
}

const char *topo_subnet_str(const struct topo_addr *a, char *buf, size_t len)
{
    struct topo_addr net = *a;
    int nbytes = a->family == TOPO_AF_INET ? 4 : 16;
    char tmp[TOPO_ADDRSTR_LEN];

    for (int i = 0; i < nbytes; i++) {
        int bits = a->prefix_len - 8 * i;
        uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
        net.bytes[i] &= mask;
    }
    snprintf(buf, len, "%s/%d", topo_addr_str(&net, tmp, sizeof(tmp)), a->prefix_len);
    return buf;
}
