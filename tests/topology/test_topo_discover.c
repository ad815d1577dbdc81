/* SPDX-License-Identifier: MIT */
/*
 * test_topo_discover.c — discovery on this machine (structural checks only: the
 * interfaces differ from machine to machine), sysfs parsing on a fake /sys tree
 * (Thunderbolt, ConnectX with its RDMA port, Soft-RoCE on a device-less netdev, a
 * bridge), and, when root, discovery inside a fresh network namespace holding a veth
 * pair: a new host hash, the veth driver, speed and address.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "topo.h"

static void check_record(const struct topo_rank_info *in, int rank)
{
    char host[256];
    int seen_down = 0;

    ASSERT_EQ(in->magic, TOPO_INFO_MAGIC);
    ASSERT_EQ(in->version, TOPO_INFO_VERSION);
    ASSERT_EQ(in->rank, rank);
    ASSERT_TRUE(in->n_ifaces <= TOPO_MAX_IFACES);
    ASSERT_TRUE(in->numa_nodes >= 1);
    ASSERT_TRUE(in->mem_bytes > 0);
    gethostname(host, sizeof(host));
    ASSERT_TRUE(strncmp(in->hostname, host, TOPO_HOSTNAME_LEN - 1) == 0);
    for (int i = 0; i < in->n_ifaces; i++) {
        const struct topo_iface *f = &in->ifaces[i];
        ASSERT_TRUE(f->name[0] != '\0');
        ASSERT_TRUE(strcmp(f->name, "lo") != 0);
        ASSERT_TRUE(f->addr4.family == TOPO_AF_NONE || (f->addr4.family == TOPO_AF_INET && f->addr4.prefix_len <= 32));
        ASSERT_TRUE(f->addr6.family == TOPO_AF_NONE || (f->addr6.family == TOPO_AF_INET6 && f->addr6.prefix_len <= 128));
        ASSERT_TRUE(f->addr6.family == TOPO_AF_NONE || !(f->addr6.bytes[0] == 0xfe && (f->addr6.bytes[1] & 0xc0) == 0x80));
        ASSERT_TRUE(f->speed_mbps == -1 || f->speed_mbps > 0);
        ASSERT_TRUE(f->mtu >= 0);
        ASSERT_TRUE(f->ifindex > 0);
        ASSERT_TRUE((f->rdma_dev[0] != '\0') == (f->rdma_port > 0));
        /* up interfaces come first */
        if (!(f->flags & TOPO_IF_UP))
            seen_down = 1;
        else
            ASSERT_TRUE(!seen_down);
    }
}

static void test_discover_here(void)
{
    struct topo_rank_info in;
    char err[256];
    int eth0 = -1;

    ASSERT_EQ(topo_discover(&in, 3, "eth0", err, sizeof(err)), haloSuccess);
    check_record(&in, 3);
    for (int i = 0; i < in.n_ifaces; i++) {
        int mgmt = !!(in.ifaces[i].flags & TOPO_IF_MGMT);
        ASSERT_EQ(mgmt, strcmp(in.ifaces[i].name, "eth0") == 0);
        if (mgmt)
            eth0 = i;
    }
    if (eth0 >= 0)
        printf("eth0: driver %s pci %s numa %d speed %d mtu %d\n", in.ifaces[eth0].driver,
               in.ifaces[eth0].pci, in.ifaces[eth0].numa_node, in.ifaces[eth0].speed_mbps,
               in.ifaces[eth0].mtu);
    printf("hwloc %s; %d interfaces; gpu %04x:%04x\n", topo_hwloc_available() ? "loaded" : "absent",
           in.n_ifaces, in.gpu.vendor, in.gpu.device);
    /* same process, same answer: the hash is stable */
    struct topo_rank_info again;
    ASSERT_EQ(topo_discover(&again, 3, NULL, err, sizeof(err)), haloSuccess);
    ASSERT_EQ(again.host_hash, in.host_hash);
}

static void test_hash_and_addr(void)
{
    struct topo_addr a = { .family = TOPO_AF_INET, .prefix_len = 30, .bytes = { 10, 10, 3, 6 } };
    char buf[64];

    ASSERT_NE(topo_host_hash("h", "b", 1), topo_host_hash("h", "b", 2));
    ASSERT_NE(topo_host_hash("h", "b", 1), topo_host_hash("h", "c", 1));
    ASSERT_NE(topo_host_hash("hb", "", 1), topo_host_hash("h", "b", 1));
    ASSERT_STREQ(topo_addr_str(&a, buf, sizeof(buf)), "10.10.3.6");
    ASSERT_STREQ(topo_subnet_str(&a, buf, sizeof(buf)), "10.10.3.4/30");
    struct topo_addr b = { .family = TOPO_AF_INET6, .prefix_len = 56, .bytes = { 0xfd, 0, 0, 1, 0, 2, 0x33 } };
    b.bytes[15] = 9;
    ASSERT_STREQ(topo_subnet_str(&b, buf, sizeof(buf)), "fd00:1:2:3300::/56");
    ASSERT_STREQ(topo_strlcpy(buf, "abcdef", 4), "abc");
    ASSERT_STREQ(topo_strlcpy(buf, NULL, 4), "");
}

/* ---------------------------------------------------------------- fake /sys */

static void put(const char *root, const char *rel, const char *text)
{
    char path[PATH_MAX], cmd[PATH_MAX + 64];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
    ASSERT_EQ(system(cmd), 0);
    f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    fprintf(f, "%s\n", text);
    fclose(f);
}

static void link_to(const char *root, const char *rel, const char *target)
{
    char path[PATH_MAX], cmd[PATH_MAX + 64];

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
    ASSERT_EQ(system(cmd), 0);
    ASSERT_EQ(symlink(target, path), 0);
}

static void fake_sys_make(const char *root)
{
    /* Thunderbolt networking: the netdev hangs off a service below the USB4 host */
    put(root, "devices/pci0000:00/0000:00:0d.2/numa_node", "0");
    put(root, "devices/pci0000:00/0000:00:0d.2/domain0/0-0/0-1/0-1.0/uevent", "");
    put(root, "bus/thunderbolt/drivers/thunderbolt-net/uevent", "");
    link_to(root, "devices/pci0000:00/0000:00:0d.2/domain0/0-0/0-1/0-1.0/driver",
            "../../../../../../../bus/thunderbolt/drivers/thunderbolt-net");
    link_to(root, "class/net/thunderbolt0/device", "../../../devices/pci0000:00/0000:00:0d.2/domain0/0-0/0-1/0-1.0");
    put(root, "class/net/thunderbolt0/speed", "-1");
    put(root, "class/net/thunderbolt0/mtu", "65520");
    /* ConnectX-6 port with its RDMA device on the same PCI function */
    put(root, "devices/pci0000:00/0000:00:01.1/0000:c3:00.0/numa_node", "1");
    put(root, "bus/pci/drivers/mlx5_core/uevent", "");
    link_to(root, "devices/pci0000:00/0000:00:01.1/0000:c3:00.0/driver", "../../../../bus/pci/drivers/mlx5_core");
    put(root, "devices/pci0000:00/0000:00:01.1/0000:c3:00.0/infiniband/mlx5_0/uevent", "");
    link_to(root, "class/net/enp195s0f0np0/device", "../../../devices/pci0000:00/0000:00:01.1/0000:c3:00.0");
    put(root, "class/net/enp195s0f0np0/speed", "100000");
    put(root, "class/net/enp195s0f0np0/mtu", "9000");
    put(root, "class/infiniband/mlx5_0/ports/1/gid_attrs/ndevs/0", "enp195s0f0np0");
    put(root, "class/infiniband/mlx5_0/ports/1/gid_attrs/ndevs/3", "enp195s0f0np0");
    put(root, "class/infiniband/mlx5_0/ports/1/state", "4: ACTIVE");
    put(root, "class/infiniband/mlx5_0/node_type", "1: CA");
    /* an iWARP port (irdma in iWARP mode): an RNIC, no RoCE RC over it */
    put(root, "class/net/ens2f1/mtu", "1500");
    put(root, "class/infiniband/irdma1/ports/1/gid_attrs/ndevs/0", "ens2f1");
    put(root, "class/infiniband/irdma1/ports/1/state", "4: ACTIVE");
    put(root, "class/infiniband/irdma1/node_type", "4: RNIC");
    /* a usNIC-like device: neither CA nor RNIC */
    put(root, "class/net/enic0/mtu", "1500");
    put(root, "class/infiniband/usnic_0/ports/1/gid_attrs/ndevs/0", "enic0");
    put(root, "class/infiniband/usnic_0/ports/1/state", "4: ACTIVE");
    put(root, "class/infiniband/usnic_0/node_type", "6: usNIC UDP");
    /* Soft-RoCE on a virtio NIC seen as device-less here, port down */
    put(root, "class/net/eth1/uevent", "INTERFACE=eth1\nIFINDEX=3");
    put(root, "class/net/eth1/mtu", "1500");
    put(root, "class/infiniband/rxe0/ports/1/gid_attrs/ndevs/0", "eth1");
    put(root, "class/infiniband/rxe0/ports/1/state", "1: DOWN");
    /* a bridge */
    put(root, "class/net/br0/uevent", "DEVTYPE=bridge\nINTERFACE=br0");
    put(root, "class/net/br0/mtu", "1500");
}

static struct topo_iface read_fake(const char *root, const char *name)
{
    struct topo_iface f;

    memset(&f, 0, sizeof(f));
    topo_strlcpy(f.name, name, sizeof(f.name));
    topo_iface_read_sysfs(root, &f);
    return f;
}

static void test_fake_sysfs(void)
{
    char root[] = "/tmp/topo_sys_XXXXXX", cmd[128];
    struct topo_iface f;

    ASSERT_TRUE(mkdtemp(root) != NULL);
    fake_sys_make(root);

    f = read_fake(root, "thunderbolt0");
    ASSERT_STREQ(f.driver, "thunderbolt-net");
    ASSERT_STREQ(f.pci, "0000:00:0d.2");
    ASSERT_EQ(f.numa_node, 0);
    ASSERT_EQ(f.speed_mbps, -1);
    ASSERT_EQ(f.mtu, 65520);
    ASSERT_STREQ(f.rdma_dev, "");
    ASSERT_EQ(f.flags & TOPO_IF_VIRTUAL, 0);

    f = read_fake(root, "enp195s0f0np0");
    ASSERT_STREQ(f.driver, "mlx5_core");
    ASSERT_STREQ(f.pci, "0000:c3:00.0");
    ASSERT_EQ(f.numa_node, 1);
    ASSERT_EQ(f.speed_mbps, 100000);
    ASSERT_STREQ(f.rdma_dev, "mlx5_0");
    ASSERT_EQ(f.rdma_port, 1);
    ASSERT_TRUE(f.flags & TOPO_IF_RDMA_ACTIVE);
    ASSERT_EQ(f.flags & (TOPO_IF_RDMA_IWARP | TOPO_IF_RDMA_NOT_CA), 0);

    f = read_fake(root, "ens2f1");
    ASSERT_STREQ(f.rdma_dev, "irdma1");
    ASSERT_TRUE(f.flags & TOPO_IF_RDMA_IWARP);
    ASSERT_EQ(f.flags & TOPO_IF_RDMA_NOT_CA, 0);
    f = read_fake(root, "enic0");
    ASSERT_STREQ(f.rdma_dev, "usnic_0");
    ASSERT_TRUE(f.flags & TOPO_IF_RDMA_NOT_CA);
    ASSERT_EQ(f.flags & TOPO_IF_RDMA_IWARP, 0);

    f = read_fake(root, "eth1");
    ASSERT_STREQ(f.rdma_dev, "rxe0");
    ASSERT_EQ(f.rdma_port, 1);
    ASSERT_EQ(f.flags & TOPO_IF_RDMA_ACTIVE, 0);
    ASSERT_EQ(f.flags & (TOPO_IF_RDMA_IWARP | TOPO_IF_RDMA_NOT_CA), 0); /* no node_type: a CA */
    ASSERT_TRUE(f.flags & TOPO_IF_VIRTUAL);
    ASSERT_STREQ(f.pci, "");
    ASSERT_EQ(f.numa_node, -1);

    f = read_fake(root, "br0");
    ASSERT_STREQ(f.driver, "bridge");
    ASSERT_EQ(f.speed_mbps, -1);

    f = read_fake(root, "missing0");
    ASSERT_EQ(f.speed_mbps, -1);
    ASSERT_EQ(f.mtu, 0);

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    ASSERT_EQ(system(cmd), 0);
}

/* ---------------------------------------------------------------- fresh netns */

/* Child: own network and mount namespaces (like `ip netns exec`), sysfs remounted so
 * /sys/class/net shows this namespace, one veth pair with an address. */
static int netns_child(uint64_t parent_hash)
{
    struct topo_rank_info in;
    char err[256];
    int found = 0;

    if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0)
        return 77;
    if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 || umount2("/sys", MNT_DETACH) != 0 ||
        mount("sysfs", "/sys", "sysfs", 0, NULL) != 0)
        return 77;
    if (system("ip link add tv0 type veth peer name tv1 && ip addr add 10.77.0.1/24 dev tv0 && "
               "ip link set tv0 up && ip link set tv1 up") != 0)
        return 77;
    ASSERT_EQ(topo_discover(&in, 0, NULL, err, sizeof(err)), haloSuccess);
    check_record(&in, 0);
    ASSERT_NE(in.host_hash, parent_hash); /* a namespace is a host of its own */
    ASSERT_EQ(in.n_ifaces, 2);
    for (int i = 0; i < in.n_ifaces; i++) {
        const struct topo_iface *f = &in.ifaces[i];
        ASSERT_STREQ(f->driver, "veth");
        ASSERT_EQ(f->speed_mbps, 10000);
        ASSERT_TRUE(f->flags & TOPO_IF_UP);
        ASSERT_TRUE(f->flags & TOPO_IF_VIRTUAL);
        if (strcmp(f->name, "tv0") == 0) {
            char a[64];
            ASSERT_STREQ(topo_addr_str(&f->addr4, a, sizeof(a)), "10.77.0.1");
            ASSERT_EQ(f->addr4.prefix_len, 24);
            ASSERT_EQ(i, 0); /* with an address: first */
            found = 1;
        }
    }
    ASSERT_TRUE(found);
    return 0;
}

static void test_discover_netns(void)
{
    struct topo_rank_info here;
    char err[256];
    int status;
    pid_t pid;

    if (geteuid() != 0 || system("command -v ip >/dev/null 2>&1") != 0) {
        printf("netns part skipped: needs root and iproute2\n");
        return;
    }
    ASSERT_EQ(topo_discover(&here, 0, NULL, err, sizeof(err)), haloSuccess);
    fflush(stdout);
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0)
        _exit(netns_child(here.host_hash));
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        printf("netns part skipped: cannot create namespaces here\n");
    else
        ASSERT_EQ(WEXITSTATUS(status), 0);
}

int main(void)
{
    test_hash_and_addr();
    test_discover_here();
    test_fake_sysfs();
    test_discover_netns();
    printf("test_topo_discover: all passed\n");
    return 0;
}
