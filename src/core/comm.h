/*
 * comm.h — the communicator and the per-rank peer table.
 *
 * Ownership: a communicator owns its bootstrap connection, its transports'
 * connections, its channel worker threads and its error text. It is used by one
 * application thread at a time (the API contract); worker threads touch only their
 * channel's connections and the fields marked (atomic).
 */
#ifndef HALO_COMM_H
#define HALO_COMM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "haloccl.h"
#include "ib.h"
#include "param.h"
#include "socket.h"
#include "topo_cost.h"

#define HALO_COMM_MAGIC 0x484c4f43u /* "HLOC" */
#define HALO_COMM_DEAD 0xdeadc0deu
#define HALO_MAX_CHANNELS 16
#define HALO_ERRLEN 1024

struct halo_bootstrap;
struct halo_conn;
struct halo_ib;
struct halo_shm;
struct halo_tcp;
struct halo_workers;
struct topo_graph;

/* NONE: another host with no direct data link (not a neighbour on a chain or
 * ring); the schedules chosen for such topologies never address it. IB: RDMA
 * (verbs over rdma_cm), see src/transport/ib.h. */
enum halo_transport_kind {
    HALO_TR_SELF = 0,
    HALO_TR_SHM = 1,
    HALO_TR_TCP = 2,
    HALO_TR_NONE = 3,
    HALO_TR_IB = 4
};

/* What each rank tells the others at init (all-gathered over the bootstrap). Plain
 * data, no pointers. */
struct halo_peer_info {
    int32_t rank;
    int32_t pid;
    uint64_t host_hash;        /* hostname + boot id + network namespace */
    char hostname[64];
    int32_t ncores;            /* CPUs this process may run on */
    int32_t nchannels;         /* channels this rank connects (must agree) */
    uint64_t slot_size_tcp;    /* must agree */
    uint64_t slot_size_shm;
    int32_t nslots;
    int32_t transport_req;     /* HALO_TRANSPORT as parsed (must agree) */
    uint64_t zc_min;           /* HALO_IB_ZCOPY_MIN (must agree) */
    int32_t ib_qps;            /* HALO_IB_QPS_PER_PEER (must agree) */
    int32_t reserved0;
    struct halo_sockaddr tcp_listen; /* data listener */
    char tcp_ifname[32];
    struct halo_ib_peer_info ib; /* rdma_cm listener; ib.active = 0 when ib is not used */
};

struct halo_peer {
    struct halo_peer_info info;
    enum halo_transport_kind kind;
    int local_index;           /* index among ranks of the same host, -1 if remote */
    int has_link;              /* the topology chose the addresses below */
    struct halo_sockaddr data_addr; /* tcp, ib: where to connect (the peer's end of our link,
                                     * with its tcp or ib listener's port) */
    struct halo_sockaddr data_src;  /* tcp: our end of the link, bound before connect */
    char data_ifname[32];           /* our interface on that link */
};

struct halo_comm {
    uint32_t magic;            /* HALO_COMM_MAGIC while alive */
    int rank, nranks;
    uint64_t comm_id;          /* job id mixed with the split history */
    char name[64];
    struct halo_params params;
    int64_t timeout_us;

    struct halo_peer *peers;   /* [nranks] */
    int nlocal, local_rank;    /* ranks on this host, my index among them */
    int ncores;
    int yield;                 /* sched_yield while waiting (ranks outnumber cores) */

    int nchannels;             /* connected channels */
    int has_tcp;               /* some peer is reached over tcp */
    int has_ib;                /* some peer is reached over ib */
    size_t slot_size_shm, slot_size_tcp;
    size_t zc_min;             /* HALO_IB_ZCOPY_MIN; 0 = no zero-copy */
    int ib_qps;                /* HALO_IB_QPS_PER_PEER */
    int zc_ring;               /* every rank's ring neighbours take zero-copy messages */
    struct halo_reg *regs;     /* haloCommRegister'ed buffers */
    void *zc_scratch[HALO_MAX_CHANNELS]; /* registered landing area of zero-copy rings, per channel */
    size_t zc_scratch_bytes[HALO_MAX_CHANNELS];
    int nslots;
    /* conns[ch * nranks + peer]; NULL for self */
    struct halo_conn **conns;

    struct halo_bootstrap *bs;
    struct halo_shm *shm;
    struct halo_tcp *tcp;
    struct halo_ib *ib;        /* NULL when this rank does not listen over ib */
    struct halo_workers *workers;

    struct topo_graph *topo;   /* NULL when every rank is on this host */
    struct topo_cost_model cost; /* alpha-beta model of the links (multi-host jobs) */
    uint8_t last_algo[8];      /* per collective: last algorithm logged at INFO */
    int topo_class;            /* enum topo_class */
    int topo_all_direct;       /* every pair of hosts has a direct link */
    int *ring;                 /* [nranks] ranks in ring order (topology order) */
    int ring_pos;              /* my index in ring */
    void *scratch[HALO_MAX_CHANNELS]; /* slot-sized private buffers, one per channel */
    uint32_t *p2p_send_seq, *p2p_recv_seq; /* [nranks] per-peer message counters */
    int64_t last_abort_poll_us;

    uint32_t opseq;            /* next collective sequence number */
    _Atomic int aborted;       /* a channel or a remote rank gave up (atomic) */
    _Atomic int async_error;   /* haloResult_t; set once, sticky (atomic) */
    char last_error[HALO_ERRLEN];
    pthread_mutex_t err_lock;  /* guards last_error against worker threads */
};

/* Registry of live communicators: lets every entry point reject a destroyed or
 * never-initialised handle without dereferencing it. */
int comm_registry_contains(const struct halo_comm *comm);

/* Validates a handle coming from the user: NULL, destroyed or never initialised
 * communicators give haloInvalidArgument with a sentence. */
haloResult_t comm_check(struct halo_comm *comm, const char *fn);
/* Marks the communicator broken (sticky async error) and tells the other ranks. */
void comm_set_async_error(struct halo_comm *comm, haloResult_t res);
/* Nonzero when another rank reported an abort (polls the bootstrap, rate limited). */
int comm_remote_aborted(struct halo_comm *comm);
/* Records err on the communicator, marks it broken and relays an abort to all ranks. */
haloResult_t comm_fail(struct halo_comm *comm, haloResult_t res);
size_t comm_slot_size(const struct halo_comm *comm, int peer);
/* Discovery, link probing and classification (comm_topo.c): sets ring order,
 * topology class and each remote peer's data addresses or HALO_TR_NONE. */
haloResult_t comm_topo_setup(struct halo_comm *comm);
void comm_topo_destroy(struct halo_comm *comm);

/* HALO_IB_QPS_PER_PEER > 1: every rank creates its extra QPs, all-gathers their
 * numbers and connects them (comm_ib.c). Collective: all ranks call it. */
haloResult_t comm_ib_extra_qps(struct halo_comm *comm);

/* Registrations and zero-copy support (comm_reg.c). */
void comm_regs_free(struct halo_comm *comm);
/* Channel ch's registered landing area of at least bytes, grown on demand. */
void *comm_zc_scratch(struct halo_comm *comm, int ch, size_t bytes, haloResult_t *r);
/* Sets zc_ring: all-gathers whether each rank's ring neighbours take zero-copy. */
haloResult_t comm_zc_agree(struct halo_comm *comm);

/* The ib transport in creation (comm_ib.c; order and rules there). */
/* Before the all-gather, after tcp_listen_start: fills me->ib (ib.active = 0 when
 * this rank does not listen over ib). Fails only when HALO_TRANSPORT=ib. */
haloResult_t comm_ib_listen(struct halo_comm *comm, struct halo_peer_info *me);
/* *use = 1 when peer p is reached over ib (before the topology); fails when ib was
 * asked for and p does not listen over ib. */
haloResult_t comm_ib_classify(struct halo_comm *comm, int p, int local, int *use);
/* auto, remote peer p (HALO_TR_IB or HALO_TR_TCP) on link li of g: ib only where both
 * ends of the link have an ACTIVE RDMA port; a fallback to tcp on a link with an
 * RDMA device is logged at WARN with the reason. */
void comm_ib_link(struct halo_comm *comm, const struct topo_graph *g, int li, int p);
/* After tcp_connect_all: connects every HALO_TR_IB peer on every channel. */
haloResult_t comm_ib_connect(struct halo_comm *comm);

#endif
