/* SPDX-License-Identifier: MIT */
/*
 * comm.h — the communicator and the per-rank peer table.
 *
 * Ownership: a communicator owns its bootstrap connection, its transports'
 * connections, its channel worker threads and its error text. It is used by one
 * application thread at a time (the API contract), except that haloCommAbort (and
 * the queries) may come from any thread at any moment: every public call holds it
 * between comm_enter and comm_leave, and it is freed only when none does
 * (comm_life.c). Worker threads touch only their channel's connections and the
 * fields marked (atomic).
 */
#ifndef HALO_COMM_H
#define HALO_COMM_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "haloccl.h"
#include "param.h"
#include "socket.h"
#include "topo_cost.h"
#include "transport.h"

#define HALO_COMM_MAGIC 0x484c4f43u /* "HLOC" */
#define HALO_COMM_DEAD 0xdeadc0deu
#define HALO_ERRLEN 1024

struct gpu_comm;
struct halo_bootstrap;
struct halo_conn;
struct halo_relay;
struct halo_workers;
struct topo_graph;

/* What each rank tells the others at init (all-gathered over the bootstrap). Plain
 * data, no pointers. */
struct halo_peer_info {
    int32_t rank;
    int32_t pid;
    uint64_t host_hash;        /* hostname + boot id + network namespace */
    char hostname[64];
    int32_t ncores;            /* CPUs this process may run on */
    uint64_t cpuset_hash;      /* hash of that CPU set: ranks of one host with equal hashes share
                                * their CPUs, others are taken to run on CPUs of their own */
    int32_t nchannels;         /* channels this rank connects (must agree) */
    uint64_t slot_size_tcp;    /* must agree */
    uint64_t slot_size_shm;
    int32_t nslots;            /* slots per FIFO on tcp and ib */
    int32_t nslots_shm;        /* slots per FIFO on shm */
    int32_t transport_req;     /* HALO_TRANSPORT as parsed (must agree) */
    char algo[16];             /* HALO_ALGO's word (must agree) */
    uint64_t zc_min;           /* HALO_IB_ZCOPY_MIN (must agree) */
    int32_t ib_qps;            /* HALO_IB_QPS_PER_PEER (must agree) */
    int32_t max_rails;         /* HALO_RAILS, auto = HALO_MAX_RAILS (must agree) */
    int32_t rail_failover;     /* HALO_RAIL_FAILOVER (must agree) */
    int32_t checksum;          /* HALO_CHECKSUM (must agree) */
    int32_t tune_file;         /* HALO_TUNE_FILE set (must agree; rank 0 reads it) */
    int32_t wire;              /* haloWireFormat_t (must agree) */
    uint64_t wire_min;         /* HALO_WIRE_MIN (must agree) */
    /* Each transport's blob, at its row of halo_transports[] (halo_tp_blob_slot);
     * opaque to the core, all zero when that transport does not listen. */
    _Alignas(8) uint8_t tp_blob[HALO_TP_MAX][HALO_TP_BLOB_BYTES]; /* aligned: the transports read their structs in place */
};

struct halo_peer {
    struct halo_peer_info info;
    enum halo_transport_kind kind; /* chosen by the transports' can_connect (comm_select_transport) */
    int local_index;           /* index among ranks of the same host, -1 if remote */
    /* How it is reached (comm_topo.c): rails[0] carries every channel unless the
     * topology found several links between our hosts; then channel ch runs on
     * rails[rail_of[ch]]. kind is rails[0]'s. */
    int nrails;
    struct halo_tp_rail rails[HALO_MAX_RAILS];
    uint8_t rail_of[HALO_MAX_CHANNELS];
};

/* Where a communicator is in its end (comm_life.c); only moves forward. */
enum comm_life {
    COMM_LIVE,                 /* calls may enter */
    COMM_CLOSING,              /* destroy or abort owns it; calls are refused */
    COMM_ORPHANED,             /* abort stopped waiting: the last call to leave frees it */
};

/* A pre-mul-sum op of a communicator (src/api/api_redop.c). */
struct halo_redop {
    int used;
    haloDataType_t dtype;
    haloScalarResidence_t residence;
    unsigned char scalar[8];   /* host immediate: the value */
    const void *scalar_ptr;    /* device: where the value is read at each run */
};

/* What api_choose chose for a collective's last size, before the zero-copy step: a
 * call of the same size reuses it rather than pricing every algorithm, channel
 * count and slice again. The choice depends on nothing else that changes after
 * init; bytes 0 means none yet. Read and written only by the thread running the
 * communicator's call, like opseq. */
struct comm_choice {
    size_t bytes, wire_bytes, slice;
    int nchannels;
    uint8_t algo;
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
    int ncores;                /* CPUs this process may run on (cpus; comm_read_cpus) */
    cpu_set_t cpus;
    uint64_t cpuset_hash;      /* of cpus, all-gathered in halo_peer_info */
    int nshare, share_index;   /* ranks on this host that may run on my CPUs (my CPU set), my index among them */
    int yield;                 /* sched_yield while waiting (ranks outnumber cores) */
    int yield_each;            /* yield after every idle poll: yielding, and some peer is over tcp */
    int crowded;               /* some host runs more ranks than it has cores, as its ranks
                                * report them (all-gathered: the same on every rank) */
    int64_t sleep_after_us;    /* a wait on one peer sleeps (transport sleep op) after polling this long; 0 = never */
    int pin_cpu;               /* HALO_PIN: the CPU a thread running this rank's calls is bound to, or -1 */

    int nchannels;             /* channels the collectives use */
    int64_t stream_min;        /* host bytes from which results are written with streaming stores; 0 = never */
    int64_t stream_min_reduce; /* the same for out-of-place reductions (engine_streams_out) */
    int relay_ch;              /* the relay channel, connected after them (== nchannels), or -1
                                * when every pair of hosts is linked (relay.h) */
    int nchannels_auto;        /* HALO_NCHANNELS was auto (rails may raise it) */
    int rail_channels;         /* channels a large call takes where rails join hosts (two per
                                * rail of the pair with the most), 0 without rails */
    /* Channel weights (comm_rails.c): chan_share[k-1][ch] is channel ch's part, in
     * 1/65536ths, of a range cut over k channels, used where chan_weighted[k-1]
     * (rails of different rates join some hosts; else equal parts). Same on every
     * rank. */
    uint32_t chan_share[HALO_MAX_CHANNELS][HALO_MAX_CHANNELS];
    uint8_t chan_weighted[HALO_MAX_CHANNELS];
    int flush_needed;          /* some connection's transport has a flush (engine_flush_channel) */
    size_t slot_size_shm, slot_size_tcp;
    size_t slice_slot;         /* the largest slice a schedule sends: the smallest slot of the
                                * transports the job's connections use, the same on every rank
                                * (comm_topo_setup); slices must agree across ranks */
    size_t slice_min, slice_max; /* without a plan's slice, blocks are cut into slices of this many
                                  * bytes at least and at most (slice_max <= slice_slot) */
    size_t zc_min;             /* HALO_IB_ZCOPY_MIN; 0 = no zero-copy */
    int wire;                  /* haloWireFormat_t: HALO_WIRE or config.wireFormat */
    size_t wire_min;           /* calls below this many bytes are sent exact */
    int wire_told;             /* an INFO said once that a call was sent exact despite wire */
    int ib_qps;                /* HALO_IB_QPS_PER_PEER */
    int max_rails;             /* HALO_RAILS: links used between two hosts at most */
    int zc_ring;               /* every rank's ring neighbours take zero-copy messages */
    int zc_chain;              /* every rank's chain neighbours (ring order, no closing link) do */
    int zc_all;                /* every rank's every peer does */
    struct halo_reg *regs;     /* haloCommRegister'ed buffers */
    void *zc_scratch[HALO_MAX_CHANNELS]; /* registered landing area of zero-copy rings, per channel */
    size_t zc_scratch_bytes[HALO_MAX_CHANNELS];
    int ready;                 /* init finished: errors now belong to calls, not INIT */
    int nslots;                /* slots per FIFO on tcp and ib (HALO_BUFFSIZE / slot) */
    int nslots_shm;            /* slots per FIFO on shm */
    /* conns[ch * nranks + peer] for ch < comm_conn_channels(); NULL for self */
    struct halo_conn **conns;

    struct halo_bootstrap *bs;
    struct halo_tp_ctx tp;     /* what the transports see (comm.c fills it); their state */
    struct halo_tp_peer *tp_peers; /* [nranks]: tp.peers */
    struct halo_workers *workers;
    struct halo_relay *relay;  /* the relay thread (relay.c); NULL when relay_ch < 0 */
    struct gpu_comm *gpu;      /* GPU progress thread and staging (src/hip/gpu_mem.h); NULL until a
                                * call names a stream or passes a device buffer */

    struct topo_graph *topo;   /* NULL when every rank is on this host */
    struct topo_cost_model cost; /* alpha-beta model of the links; on one host the local
                                  * shm/tcp model (predicts only: one host does not plan by it) */
    char cost_note[192];       /* "tuned from FILE" when HALO_TUNE_FILE loaded (comm_tune.c), else "" */
    uint8_t last_algo[8];      /* per collective: last algorithm logged at INFO */
    struct comm_choice choice[8]; /* per collective: the last size api_choose planned */
    int topo_class;            /* enum topo_class */
    int topo_all_direct;       /* every pair of hosts has a direct link */
    int *ring;                 /* [nranks] ranks in ring order (topology order) */
    int ring_pos;              /* my index in ring */
    void *scratch[HALO_MAX_CHANNELS]; /* slot-sized private buffers, one per channel */
    uint32_t *p2p_send_seq, *p2p_recv_seq; /* [nranks] per-peer message counters */
    _Atomic int64_t last_abort_poll_us; /* channel 0 writes, every channel reads (atomic, relaxed) */

    struct halo_redop *redops; /* [nredops] pre-mul-sum ops; the calling thread's, as the handle */
    int nredops;

    uint32_t opseq;            /* next collective sequence number */
    _Atomic int aborted;       /* a channel or a remote rank gave up (atomic) */
    _Atomic int async_error;   /* haloResult_t; set once, sticky (atomic) */
    _Atomic int timed_out;     /* this rank's own wait ran past HALO_TIMEOUT_MS: its error
                                * is the diagnosis, comm_fail relays it without waiting */
    char last_error[HALO_ERRLEN];
    pthread_mutex_t err_lock;  /* guards last_error against worker threads */

    /* Guarded by the registry's lock (comm_life.c). */
    enum comm_life life;
    int aborting;              /* CLOSING or ORPHANED by haloCommAbort, not destroy */
    int calls;                 /* public calls inside (comm_enter .. comm_leave) */
    pthread_cond_t calls_done; /* calls reached 0 while CLOSING; monotonic clock */

    /* The thread inside a collective, send/receive or group end (comm_call_begin):
     * one at a time. caller_depth and caller_fn belong to that thread. */
    _Atomic int caller;
    int caller_depth;
    const char *_Atomic caller_fn;
};

/* Life cycle (comm_life.c). comm_registry_add makes a created communicator live
 * (-1: out of memory). Every public call that takes a communicator runs between
 * comm_enter and comm_leave: enter rejects NULL, destroyed and never-created
 * handles (haloInvalidArgument) and ones being aborted or destroyed
 * (haloInvalidUsage) with a sentence, without dereferencing a dead handle, and
 * holds the communicator; comm_leave copies a failure's sentence to the calling
 * thread's last error, drops the hold and returns r. comm_hold/comm_drop hold
 * whatever the state and record nothing (hold returns 0 for a dead handle).
 * Nested holds are fine; memory is freed only once no call holds it. */
int comm_registry_add(struct halo_comm *comm);
haloResult_t comm_enter(struct halo_comm *comm, const char *fn);
haloResult_t comm_leave(struct halo_comm *comm, haloResult_t r);
int comm_hold(struct halo_comm *comm);
void comm_drop(struct halo_comm *comm);
/* Operations (collectives, send/receive, group end) take the communicator for
 * their thread, nested calls of that thread included; another thread at the same
 * time gets haloInvalidUsage with a sentence, instead of interleaving its frames
 * with the first one's (silently wrong results). Read-only queries, the
 * asynchronous error, abort and destroy are not operations. */
haloResult_t comm_call_begin(struct halo_comm *comm, const char *fn);
void comm_call_end(struct halo_comm *comm);
/* Stops the communicator's threads, closes its connections and frees it. Only
 * once nothing holds it (comm_life.c), or on a half-built one at init. */
void comm_free(struct halo_comm *comm);
/* The last error's text: copied to a buffer of the calling thread (valid until
 * its next call of this), or made the calling thread's own last error. */
const char *comm_error_snapshot(struct halo_comm *comm);
void comm_error_to_thread(struct halo_comm *comm);
/* Marks the communicator broken (sticky async error) and tells the other ranks. */
void comm_set_async_error(struct halo_comm *comm, haloResult_t res);
/* haloCommInitRankConfig for callers inside the library (split, haloCommInitEnv):
 * the unique id by pointer, cfg already read (may be NULL). */
haloResult_t comm_init_internal(haloComm_t *out, int nranks, const haloUniqueId *id, int rank,
                                const haloConfig_t *cfg);
/* The process's first INFO line (version, git hash, transports, kernels, GPU
 * runtime), once per process; nothing unless INFO is on for INIT (banner.c). */
void comm_log_banner(int rank);
/* Nonzero when another rank reported an abort (polls the bootstrap, rate limited). */
int comm_remote_aborted(struct halo_comm *comm);
/* The subsystem an error found by code shared between init and calls logs under:
 * INIT until the communicator is ready, COLL afterwards. */
enum halo_subsys comm_phase_subsys(const struct halo_comm *comm);
/* A peer that hit an error closes its connections right after relaying the
 * reason through the bootstrap; the closed connection is often seen first. Give
 * the relayed reason a moment to arrive: it names the root cause. The relay is
 * one hop through the root's thread, which a loaded host (two cores, sanitizers,
 * several jobs) may not schedule for hundreds of milliseconds; the wait ends as
 * soon as a reason arrives, and a peer that died unannounced is reported by the
 * root as soon as its bootstrap connection ends, so only a clean destroy with
 * no reason waits it out. A rank's own timeout does not wait: the stalled peer
 * sends nothing, and the other waiters are waiting too. */
#define COMM_ABORT_GRACE_US 1000000
/* Records err on the communicator, marks it broken and relays an abort to all ranks;
 * a haloRemoteError first waits up to COMM_ABORT_GRACE_US for a peer's reason. */
haloResult_t comm_fail(struct halo_comm *comm, haloResult_t res);
size_t comm_slot_size(const struct halo_comm *comm, int peer);
/* Channels with connections: the collectives' plus the relay channel. */
int comm_conn_channels(const struct halo_comm *comm);
/* Discovery, link probing and classification (comm_topo.c): sets ring order,
 * topology class and each remote peer's data addresses or HALO_TR_NONE. */
haloResult_t comm_topo_setup(struct halo_comm *comm);
/* One host: whether its ranks reach each other over loopback tcp (else shm). */
int comm_local_tcp(const struct halo_comm *comm);
/* HALO_TUNE_FILE (comm_tune.c): after the topology, rank 0 reads the file and
 * every rank's cost model takes the numbers rank 0 derived (bootstrap all-gather),
 * so all plan alike. A file that cannot be used is a WARN on rank 0 and the model
 * keeps its defaults; only a failed all-gather fails. Every rank calls it. */
haloResult_t comm_tune_setup(struct halo_comm *comm);
void comm_topo_destroy(struct halo_comm *comm);
/* stream_min and stream_min_reduce from HALO_STREAM_STORE_MIN (HALO_AUTO: copies from
 * the last-level cache's llc bytes, out-of-place reductions from llc / 4 where the
 * host's ranks have two cores each or more, never with fewer; engine_streams_out). */
void comm_stream_thresholds(struct halo_comm *comm, int64_t param, int64_t llc, int min_cores_per_rank);
/* HALO_SPIN: whether waits yield (auto: when this host's ranks run more channels
 * than it has cores). Again whenever the channel count changes. */
void comm_pick_yield(struct halo_comm *comm);
/* Rails (comm_rails.c), once the topology gave each remote peer its links: spreads
 * the channels over them (raising an automatic channel count to the most rails of
 * a host pair), sets the channel weights and each rail's share in the graph. */
void comm_rails_plan(struct halo_comm *comm);
/* The connection channels (comm_conn_channels) the plan of graph g will give,
 * before it is made: what each transport may connect per peer. */
int comm_rails_conn_channels(const struct halo_comm *comm, const struct topo_graph *g);
/* The links hosts a and b use as rails, in link order, into
 * links[HALO_MAX_RAILS]: every usable one up to HALO_RAILS (1: the best one). The
 * same on every rank. Returns how many. */
int comm_pair_links(const struct halo_comm *comm, const struct topo_graph *g, int a, int b, int *links);

/* The priority loop: the first transport whose can_connect says yes carries peer
 * p (sets comm->peers[p].kind). link: the topology's link to remote peer p, or
 * NULL before the topology. Fails when a forced transport cannot carry p. */
haloResult_t comm_select_transport(struct halo_comm *comm, int p, const struct halo_tp_link *link);
/* The same loop's answer for one link (a rail), into *kind, without setting it. */
haloResult_t comm_pick_transport(struct halo_comm *comm, int p, const struct halo_tp_link *link, int *kind);
/* Nonzero for a transport kind that joins hosts (the topology assigns it a link). */
int comm_kind_remote(enum halo_transport_kind k);
/* The rest of the transport boundary (comm_transport.c), in the order init calls it:
 * comm_tp_init fills comm->tp once the parameters and bootstrap are known;
 * comm_tp_listen fills this rank's blobs before the all-gather; comm_tp_peers_sync
 * builds the transports' view of the peers (after the all-gather, and again before
 * connecting); comm_tp_connect runs every transport's connect_all then connected;
 * comm_tp_ready their ready step after the next barrier; comm_tp_destroy frees
 * their state after every connection was closed. */
void comm_tp_init(struct halo_comm *comm);
haloResult_t comm_tp_listen(struct halo_comm *comm, struct halo_peer_info *me);
haloResult_t comm_tp_peers_sync(struct halo_comm *comm);
haloResult_t comm_tp_connect(struct halo_comm *comm);
void comm_tp_ready(struct halo_comm *comm);
void comm_tp_destroy(struct halo_comm *comm);
/* "shm", "tcp", "ib" from the table; "self", "none (no direct link)". */
const char *comm_kind_name(enum halo_transport_kind k);
/* One INFO line per peer: the transport chosen and where it connects. */
void comm_log_peers(struct halo_comm *comm);
/* With HALO_RAIL_FAILOVER=1, one WARN when a rail to some peer is not tcp (no standby there). */
void comm_warn_failover(struct halo_comm *comm);

/* Registrations and zero-copy support (comm_reg.c). */
void comm_regs_free(struct halo_comm *comm);
/* Channel ch's registered landing area of at least bytes, grown on demand. */
void *comm_zc_scratch(struct halo_comm *comm, int ch, size_t bytes, haloResult_t *r);
/* Sets zc_ring, zc_chain and zc_all: all-gathers whether each rank's ring
 * neighbours, its chain neighbours (the ring without the closing link) and all
 * its peers take zero-copy. */
haloResult_t comm_zc_agree(struct halo_comm *comm);

#endif
