/* SPDX-License-Identifier: MIT */
/*
 * topo.h — topology layer: what each rank finds on its host (discovery), and the host
 * graph built from every rank's findings (classification, order, neighbour links).
 *
 * Flow at communicator init (see DESIGN.md "Topology"):
 *   1. every rank fills a struct topo_rank_info (topo_discover) — plain data, no
 *      pointers, fixed size, so the bootstrap all-gathers it as bytes;
 *   2. every rank builds the same graph from the gathered array (topo_graph_create):
 *      ranks grouped into hosts, interfaces of two hosts sharing a subnet paired into
 *      candidate links, each candidate optionally confirmed by the caller's probe,
 *      the host graph classified (single, pair, chain, ring, mesh) and ordered;
 *   3. the algorithms walk g->rank_order; the transports bind to the interface named
 *      in each host's left/right neighbour entry.
 * The graph is a pure function of its inputs (and of the probe's answers), so every
 * rank computes the same order without another exchange as long as the probe answers
 * agree (the probe hook should look results up in an all-gathered table).
 *
 * Functions return haloResult_t; on failure they write one sentence (for graph errors,
 * the sentence followed by the graph) into the caller's err buffer — TOPO_ERR_LEN
 * bytes is enough — and log nothing: the caller passes it to halo_error() once.
 */
#ifndef HALO_TOPO_H
#define HALO_TOPO_H

#include <stddef.h>
#include <stdint.h>

#include "haloccl.h"

#define TOPO_INFO_MAGIC 0x48544f50u /* "HTOP" */
#define TOPO_INFO_VERSION 2
#define TOPO_MAX_IFACES 16
#define TOPO_HOSTNAME_LEN 64
#define TOPO_IFNAME_LEN 16 /* IFNAMSIZ */
#define TOPO_DRIVER_LEN 32
#define TOPO_PCI_LEN 16 /* "0000:00:03.0" */
#define TOPO_RDMA_LEN 32
#define TOPO_ADDRSTR_LEN 48 /* INET6_ADDRSTRLEN + room */
#define TOPO_ERR_LEN 4096

/* ------------------------------------------------------------------ discovery */

enum topo_family { TOPO_AF_NONE = 0, TOPO_AF_INET = 4, TOPO_AF_INET6 = 6 };

enum topo_iface_flag {
    TOPO_IF_UP = 1u << 0,            /* IFF_UP and IFF_RUNNING (carrier) */
    TOPO_IF_MGMT = 1u << 1,          /* carries the bootstrap (named by the caller) */
    TOPO_IF_DEFAULT_ROUTE = 1u << 2, /* holds the IPv4 default route */
    TOPO_IF_RDMA_ACTIVE = 1u << 3,   /* rdma_dev/rdma_port is in state ACTIVE */
    TOPO_IF_VIRTUAL = 1u << 4,       /* no backing device (veth, bridge, tun, ...) */
    TOPO_IF_RDMA_IWARP = 1u << 5,    /* rdma_dev is an iWARP RNIC (node_type 4) */
    TOPO_IF_RDMA_NOT_CA = 1u << 6    /* rdma_dev is not an InfiniBand/RoCE channel adapter
                                        (node_type other than 1: usNIC, unknown): no RC QPs */
};

/* One address with its prefix; bytes in network order, IPv4 in bytes[0..3]. */
struct topo_addr {
    uint8_t family; /* enum topo_family; TOPO_AF_NONE = no address of this family */
    uint8_t prefix_len;
    uint8_t pad[2];
    uint8_t bytes[16];
};

/* What an interface's RDMA port offers the ib transport, probed by the caller after
 * topo_discover (the core asks the ib transport: ibv_query_device and a throwaway
 * RC QP); plain numbers so they travel in the record. */
enum topo_rdma_caps_flag {
    TOPO_RDMA_CAPS_PROBED = 1u << 0, /* the numbers below are the device's */
    TOPO_RDMA_CAPS_RC = 1u << 1      /* an RC queue pair could be created */
};
struct topo_rdma_caps {
    uint32_t flags; /* enum topo_rdma_caps_flag; 0: not probed (nothing known) */
    int32_t rc_errno; /* why the RC queue pair failed, 0 if unknown */
    uint32_t max_qp, max_cq, max_qp_wr, max_cqe, max_sge, max_mr;
};

/* One network interface. Strings are NUL-terminated, "" when unknown or absent. */
struct topo_iface {
    char name[TOPO_IFNAME_LEN];
    char driver[TOPO_DRIVER_LEN];  /* device/driver link ("thunderbolt-net", "ice",
                                      "mlx5_core"), else the ethtool driver ("veth"),
                                      else uevent DEVTYPE ("bridge") */
    char pci[TOPO_PCI_LEN];        /* PCI address of the device, "" if not on PCI */
    char rdma_dev[TOPO_RDMA_LEN];  /* RDMA device bound to this netdev, "" if none */
    struct topo_addr addr4;        /* first IPv4 address */
    struct topo_addr addr6;        /* first global (non link-local) IPv6 address */
    int32_t speed_mbps;            /* /sys/class/net/IF/speed; -1 unknown */
    int32_t mtu;
    int32_t numa_node;             /* -1 unknown or not on a device */
    int32_t rdma_port;             /* 0 when rdma_dev is "" */
    uint32_t flags;                /* enum topo_iface_flag */
    uint32_t ifindex;
    struct topo_rdma_caps rdma_caps; /* filled by the caller, zero from topo_discover */
};

/* The GPU of the host, if one is on PCI (display class). */
struct topo_gpu {
    char pci[TOPO_PCI_LEN];
    uint16_t vendor, device; /* 0 when none was found */
    int32_t numa_node;
};

/* Everything one rank found. Plain data: all-gather it as sizeof(struct topo_rank_info)
 * bytes (host byte order; magic/version reject a mismatched build). */
struct topo_rank_info {
    uint32_t magic;   /* TOPO_INFO_MAGIC */
    uint16_t version; /* TOPO_INFO_VERSION */
    uint16_t n_ifaces;
    int32_t rank;
    int32_t numa_nodes;  /* NUMA nodes of the host, 1 when unknown */
    uint16_t probe_port; /* where this host answers link probes (set by the caller
                            after topo_discover; 0 = none) */
    uint16_t reserved;
    uint64_t host_hash;  /* FNV-1a of hostname, boot_id and net namespace inode */
    uint64_t mem_bytes;  /* MemTotal (unified memory on an APU) */
    char hostname[TOPO_HOSTNAME_LEN];
    struct topo_gpu gpu;
    struct topo_iface ifaces[TOPO_MAX_IFACES]; /* up interfaces first, then down ones */
};

/* Fills *out for this process. mgmt_ifname (may be NULL) is the interface the bootstrap
 * uses: it is flagged TOPO_IF_MGMT so the graph keeps data off it. Skips loopback and
 * docker / virbr bridges; records down interfaces (without TOPO_IF_UP) after the up
 * ones, only to name them in error messages. NUMA locality comes from hwloc when
 * libhwloc can be loaded, else from sysfs. Returns haloSuccess or haloSystemError. */
haloResult_t topo_discover(struct topo_rank_info *out, int rank, const char *mgmt_ifname,
                           char *err, size_t errlen);

/* Reads sysfs facts of ifc->name under sysroot ("/sys" normally; tests pass a fake
 * tree): speed, mtu, driver, PCI address, NUMA node, RDMA device and port. */
void topo_iface_read_sysfs(const char *sysroot, struct topo_iface *ifc);

/* Host identity hash (exposed for tests). */
uint64_t topo_host_hash(const char *hostname, const char *boot_id, uint64_t netns_inode);

/* NUMA node of a PCI device through hwloc loaded at run time; -1 when libhwloc is
 * absent or does not know the device. Thread-safe (pthread_once). */
int topo_hwloc_numa_of_pci(const char *pci_busid);
/* 1 when libhwloc was loaded (for logs and tests). */
int topo_hwloc_available(void);

/* Copies at most len-1 bytes of src and terminates; src NULL copies "". Returns dst. */
char *topo_strlcpy(char *dst, const char *src, size_t len);

/* "10.0.1.2" / "fd00::2"; "" for TOPO_AF_NONE. Returns buf. */
const char *topo_addr_str(const struct topo_addr *a, char *buf, size_t len);
/* "10.0.1.0/24". Returns buf. */
const char *topo_subnet_str(const struct topo_addr *a, char *buf, size_t len);

/* ------------------------------------------------------------------ link probe */

/* Socket primitives for a topo_probe_fn (probe.c): the far end of a link listens on
 * its link address, the near end connects bound to its link interface and times
 * `count` 8-byte echoes. All calls are bounded by their timeout. Return -1 with a
 * sentence in err on failure. */

/* Listening socket on addr, port *port (0 = any; set to the bound port); returns the fd. */
int topo_probe_listen(const char *addr, int *port, char *err, size_t errlen);
/* Accepts one connection within timeout_ms and echoes until the peer closes; 0 on a
 * clean close. Does not close listen_fd. */
int topo_probe_serve_one(int listen_fd, int timeout_ms, char *err, size_t errlen);
/* Connects from ifname / local_addr (SO_BINDTODEVICE when permitted, the source
 * address always) to remote_addr:port and sets *rtt_us to the lowest echo time. */
int topo_probe_rtt(const char *ifname, const char *local_addr, const char *remote_addr, int port,
                   int count, int timeout_ms, double *rtt_us, char *err, size_t errlen);
/* Connects like topo_probe_rtt and measures the link's rate into *mbps (Mbit/s):
 * a 256 KiB burst, then two sized to take about budget_ms each at the first one's
 * rate (at most 256 MiB), each timed to the server's answer less the round trip;
 * the better of those two counts. */
int topo_probe_bw(const char *ifname, const char *local_addr, const char *remote_addr, int port, int budget_ms,
                  int timeout_ms, double *mbps, char *err, size_t errlen);

/* ------------------------------------------------------------------ graph */

enum topo_class {
    TOPO_CLASS_AUTO = -1, /* only in topo_options.force */
    TOPO_CLASS_SINGLE = 0,
    TOPO_CLASS_PAIR,
    TOPO_CLASS_CHAIN,
    TOPO_CLASS_RING,
    TOPO_CLASS_MESH,
    TOPO_CLASS_OTHER /* never the result today: graphs that are neither ring, chain nor
                        mesh are searched for a Hamiltonian cycle (-> RING) or path
                        (-> CHAIN) and g->searched is set; else creation fails */
};
const char *topo_class_name(enum topo_class c);

enum topo_link_state {
    TOPO_LINK_OK = 0,
    TOPO_LINK_DUPLICATE,    /* another interface pair of the same two hosts on the same
                               subnet was kept (see topo_graph_create) */
    TOPO_LINK_PROBE_FAILED, /* the caller's probe did not confirm it */
    TOPO_LINK_SAME_ADDR     /* both ends hold the same address (docker-style clone) */
};
const char *topo_link_state_name(enum topo_link_state s);

/* A candidate link: two interfaces of two hosts in one subnet. host[0] < host[1]. */
struct topo_link {
    int index;    /* in g->links; the same on every rank for the same records */
    int host[2];  /* host indices */
    int iface[2]; /* index into g->hosts[host[i]].ifaces */
    int segment;  /* index into g->segments */
    int rank[2];  /* representative (lowest) rank of each host: who probes */
    char ifname[2][TOPO_IFNAME_LEN];
    char addr[2][TOPO_ADDRSTR_LEN];
    char driver[2][TOPO_DRIVER_LEN];
    int family;          /* TOPO_AF_INET or TOPO_AF_INET6: the addresses above */
    int32_t speed_mbps;  /* the slower end; -1 unknown */
    int32_t mtu;         /* the smaller end */
    double rtt_us;       /* from the probe; -1 when not measured */
    double bw_mbps;      /* measured rate (caller, for rails: several links between
                            the same hosts); -1 when not measured */
    double share;        /* of the bytes striped between its hosts (caller, rails);
                            -1 when it is its hosts' only link */
    int switched;        /* the subnet holds more than two hosts */
    int mgmt;            /* over the management network */
    enum topo_link_state state;
};

/* A subnet seen on interfaces of the job. */
struct topo_segment {
    char subnet[TOPO_ADDRSTR_LEN + 4]; /* "10.0.1.0/24" */
    int nhosts;                        /* distinct hosts with an interface in it */
    int mgmt;                          /* some member interface is a management one */
};

/* How a host reaches one neighbour along the order. host = -1: no neighbour. */
struct topo_nbr {
    int host;
    int link; /* index into g->links */
    char ifname[TOPO_IFNAME_LEN]; /* local interface: bind here */
    char local_addr[TOPO_ADDRSTR_LEN];
    char remote_addr[TOPO_ADDRSTR_LEN]; /* connect here */
    char remote_ifname[TOPO_IFNAME_LEN];
};

struct topo_host {
    char name[TOPO_HOSTNAME_LEN]; /* hostname; "name#2".. when two hosts share one */
    uint64_t hash;
    int first_rank; /* its lowest rank; hosts are indexed by it, ascending */
    int nranks;
    int degree;     /* neighbour hosts over usable links */
    int pos;        /* position in g->host_order */
    struct topo_nbr left, right;
    int n_ifaces; /* copied from its lowest rank's record */
    struct topo_iface ifaces[TOPO_MAX_IFACES];
};

/* Caller-supplied link check: confirm that `link` works (connect bound to
 * link->ifname[side] ...) and measure its round trip. Return 0 and set *rtt_us
 * (or -1 if not measured) when the link works, non-zero when it does not. */
typedef int (*topo_probe_fn)(void *arg, const struct topo_link *link, double *rtt_us);

struct topo_options {
    enum topo_class force; /* HALO_TOPO: TOPO_CLASS_AUTO or PAIR/CHAIN/RING/MESH */
    const char *order;     /* HALO_TOPO_ORDER: "host,host,..." or NULL/"" */
    topo_probe_fn probe;   /* NULL: every candidate counts as confirmed */
    void *probe_arg;
    int max_search_hosts;  /* Hamiltonian search limit for "other" graphs; 0 = 12 */
};

struct topo_graph {
    int nranks, nhosts, nlinks, nsegments;
    enum topo_class cls;
    int all_direct; /* every pair of hosts has a usable link (direct algorithms) */
    int switched;   /* mesh through a switched segment: a host's peers share its NIC */
    int searched;   /* order found by Hamiltonian search in an irregular graph */
    int forced;     /* class or order came from HALO_TOPO / HALO_TOPO_ORDER */
    int mgmt_used;  /* no other network: data links run over the management one */
    struct topo_host *hosts;       /* nhosts, indexed by ascending first rank */
    struct topo_link *links;       /* nlinks, every candidate with its state */
    struct topo_segment *segments; /* nsegments */
    int *host_order;               /* nhosts: host indices along the topology */
    int *rank_order;               /* nranks: ranks along it, one host's adjacent */
    int *rank_host;                /* nranks: host index of each rank */
    char notes[2048];              /* warnings for the log, one per line */
};

/* Defaults: auto, no order, no probe. */
void topo_options_init(struct topo_options *o);
/* Reads HALO_TOPO (auto|pair|chain|ring|mesh, strict) and HALO_TOPO_ORDER into o
 * (o->order points into the environment). haloInvalidArgument names a bad value. */
haloResult_t topo_options_from_env(struct topo_options *o, char *err, size_t errlen);

/* Builds the graph from infos[0..nranks-1] (any order; infos[i].rank must be a
 * permutation of 0..nranks-1). Two hosts that share one subnet over several
 * interface pairs (two cables, one subnet) get ONE link: the first pair, in host
 * and interface order, that the probe confirms; the others are kept as
 * TOPO_LINK_DUPLICATE and a note says to give each cable its own subnet.
 * The management network (interfaces flagged TOPO_IF_MGMT, or when no record flags
 * one, those holding the default route) carries no data unless the job has no other
 * network and no data interface is down. The probe, if any, runs once per kept
 * candidate, in link order. Errors (haloInvalidUsage for a graph the links cannot
 * carry or a forced topology they cannot carry, haloInvalidArgument for bad records
 * or a bad HALO_TOPO_ORDER, haloSystemError for memory) write the reason and the
 * printed graph into err. *out is set only on success. */
haloResult_t topo_graph_create(const struct topo_rank_info *infos, int nranks,
                               const struct topo_options *opt, struct topo_graph **out,
                               char *err, size_t errlen);
/* Accepts NULL. */
void topo_graph_destroy(struct topo_graph *g);

/* Best usable link between hosts a and b (fastest, then lowest rtt, then direct
 * cable before switch), or -1. */
int topo_graph_link_between(const struct topo_graph *g, int a, int b);
/* Every usable link between hosts a and b (its rails), in link order (the same on
 * every rank), into out[0..max-1]; returns how many there are (may exceed max). */
int topo_graph_rails(const struct topo_graph *g, int a, int b, int *out, int max);
/* Position of rank in g->rank_order, -1 if out of range. For a ring, rank_order is
 * the ring: rank_order[p] sends right to rank_order[(p + 1) % nranks]; for a chain
 * the ends do not wrap. */
int topo_graph_rank_pos(const struct topo_graph *g, int rank);
/* Neighbour ranks of `rank` along rank_order: left and right are -1 at a chain's ends;
 * wrap around for ring/mesh/pair. The returned topo_nbr pointers are the host-level
 * link to use when the neighbour rank is on another host, NULL when it is on the same
 * host (shm) or absent. Any output pointer may be NULL. */
void topo_graph_rank_neighbors(const struct topo_graph *g, int rank, int *left, int *right,
                               const struct topo_nbr **left_nbr,
                               const struct topo_nbr **right_nbr);

/* Render into buf (snprintf semantics: returns the length the whole text needs;
 * buf may be NULL when len is 0). */
size_t topo_graph_format_text(const struct topo_graph *g, char *buf, size_t len);
size_t topo_graph_format_json(const struct topo_graph *g, char *buf, size_t len);

#endif
