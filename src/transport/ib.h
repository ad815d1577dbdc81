/* SPDX-License-Identifier: MIT */
/*
 * ib.h — the ib transport (verbs, RoCE v2 via rdma_cm): RC QPs, receiver slots in
 * registered pinned memory, RDMA WRITE WITH IMM into the peer's slot, credits back
 * by small RDMA writes. libibverbs and librdmacm are loaded at run time, so the
 * library runs (without ib) on machines that lack rdma-core.
 *
 * Life cycle, driven by the setup table row halo_ib_setup (ib_select.c):
 *   ib_supported()            may ib be used at all (libraries load, a port is ACTIVE)
 *   ib_listen_start()         before the peer-info all-gather: binds an rdma_cm
 *                             listener to the data interface's IP, which finds the
 *                             RDMA device and port behind it; fills struct
 *                             halo_ib_peer_info for the all-gather
 *   ib_connect_all()          after it: per channel, the higher rank connects, the
 *                             lower accepts; every connection proves the job secret
 *   conns[ch * nranks + peer] then work through halo_ib_ops like shm/tcp ones
 *   ib_destroy()              after every connection was closed
 * Blocking: ib_listen_start and ib_connect_all block (bounded by cfg->timeout_us);
 * the ops never block (transport.h).
 */
#ifndef HALO_IB_H
#define HALO_IB_H

#include <stddef.h>
#include <stdint.h>

#include "haloccl.h"
#include "socket.h"
#include "transport.h"

struct halo_ib;

extern const struct halo_transport_ops halo_ib_ops;
extern const struct halo_tp_setup halo_ib_setup;

/* What ib needs from the parameters and the bootstrap; filled from the context. */
struct halo_ib_config {
    struct halo_sockaddr addr; /* IP to listen on (port 0: any free port): the data interface's,
                                * or the wildcard (0.0.0.0 / ::) for every RDMA device, when
                                * a rank has several links (chain, ring) */
    const char *hca;           /* HALO_IB_HCA, NCCL syntax ("mlx5_0:1,mlx5_1", "^irdma", "=rxe0"); "" = any */
    int force_gid;             /* 1: every QP sends from GID gid_index of its port (HALO_IB_GID_INDEX);
                                * 0 (a zeroed config): from the GID rdma_cm binds to the IP */
    int gid_index;             /* 0..255 (a QP's sgid_index is 8 bits) */
    size_t slot_size;          /* payload bytes per slot (same on every rank) */
    int nslots;                /* slots per direction (same on every rank), 1..4096 */
    int64_t timeout_us;        /* connection setup bound (HALO_TIMEOUT_MS) */
    const uint8_t *key;        /* job secret (32 bytes), or NULL for an unauthenticated job */
    uint64_t job_id;           /* bootstrap job id (binds proofs to the job) */
};

/* This rank's part of the peer-info all-gather. Plain data, no pointers; 96 bytes. */
struct halo_ib_peer_info {
    struct halo_sockaddr addr; /* rdma_cm listener (IP of the data interface, port) */
    char dev[32];              /* RDMA device behind addr, e.g. "mlx5_0", "rxe0" */
    uint8_t port;              /* its port number */
    uint8_t active;            /* 1: this rank listens over ib; 0: ib not in use here */
    uint16_t mtu;              /* active MTU in bytes */
    uint32_t reserved;
    uint8_t nonce[16];         /* random per listener: binds connection proofs to it */
    uint8_t gid_forced;        /* 1: this rank forces its source GID (HALO_IB_GID_INDEX): a connection to it
                                * must send to the GID its REP names, which rdma_cm's route does not know */
    uint8_t gid_index;         /* ... that index (for messages) */
    uint8_t pad[14];
};
_Static_assert(sizeof(struct halo_ib_peer_info) == 96, "halo_ib_peer_info is all-gathered as 96 bytes");

/* 1 when libibverbs and librdmacm could be loaded and at least one RDMA port is
 * ACTIVE. Computed once (pthread_once), immutable afterwards; when 0,
 * ib_unsupported_reason() says why in a sentence. */
int ib_supported(void);
const char *ib_unsupported_reason(void);
/* For the process's banner, and without logging why ib is out: 0 when libibverbs
 * or librdmacm does not load, 1 when they load but no port is ACTIVE, 2 when
 * ib_supported(). Same pthread_once as ib_supported(). */
int ib_load_state(void);

/* Name of the RDMA device bound to the interface holding addr (via rdma_cm), with
 * its port and state, or 0 when there is none. For auto selection. Blocking, short. */
int ib_device_of_addr(const struct halo_sockaddr *addr, char *dev, size_t devlen, int *port, int *active);

/* Creates the per-communicator ib context, binds the listener to cfg->addr and
 * fills me. ctx gives rank, nranks and the error sink; it must outlive the ib
 * context (its connections record errors through it). */
haloResult_t ib_listen_start(struct halo_tp_ctx *ctx, const struct halo_ib_config *cfg, struct halo_ib **ib,
                             struct halo_ib_peer_info *me);
/* peers[ch * nranks + r]: rank r's all-gathered info when channel ch to rank r runs
 * over ib, else NULL (self included; a rank joined by several links may use ib on
 * some channels' links only). For every such pair connects (to lower ranks) or
 * accepts (from higher ones) and stores the connection in conns[ch * nranks + r].
 * Its addr is where this rank connects: when rank r listens on the wildcard, the
 * caller passes a copy whose addr holds r's IP on that channel's link to r (the
 * topology's choice) with r's listener port. Connections leave from
 * this rank's listen IP, or by routing when that is the wildcard. On failure the
 * connections made so far stay in conns for the caller to close. */
haloResult_t ib_connect_all(struct halo_ib *ib, int nchannels, const struct halo_ib_peer_info *const *peers,
                            struct halo_conn **conns);
/* The context ib and its connections record errors with from now on (after a
 * listen_start run with a copy whose sink only logs). */
void ib_ctx_set(struct halo_ib *ib, struct halo_tp_ctx *ctx);
/* 1 the first time link l is named for this communicator's ib context (NULL: always
 * 1), 0 after: a link that falls back to tcp is said once, not once per peer. */
int ib_link_first_warning(struct halo_ib *ib, const struct halo_tp_link *l);
/* Closes the listener and releases devices. NULL-safe; call after closing conns. */
void ib_destroy(struct halo_ib *ib);
/* Registers [buf, buf+len) on every RDMA device the communicator uses, for local
 * and remote access, until ib_mem_deregister(owner) (owner != 0, unique): zero-
 * copy transfers of memory inside it skip registering for each operation
 * (haloCommRegister). Registered memory is pinned. */
haloResult_t ib_mem_register(struct halo_ib *ib, void *buf, size_t len, uint64_t owner);
void ib_mem_deregister(struct halo_ib *ib, uint64_t owner);
/* HALO_IB_QPS_PER_PEER: n more QPs on an established ib connection, on the same
 * port and path, made without rdma_cm; their numbers go to the peer (the caller
 * all-gathers them) and ib_xqp_connect joins each to the peer's of the same index.
 * Zero-copy pieces are spread over all of the connection's QPs. */
haloResult_t ib_xqp_create(struct halo_conn *c, int n, uint32_t *qpns);
haloResult_t ib_xqp_connect(struct halo_conn *c, const uint32_t *peer_qpns);


/* ---- Whether an RDMA device can carry this job's ib connections ----
 *
 * What the device offers (ibv_query_device, and a throwaway RC QP created on it:
 * ib_device_caps) against what the job's ib connections would create on it
 * (ib_caps_needs). ib_caps_unfit compares the numbers and is pure: the core probes
 * each host's RDMA ports during topology discovery (the host's lowest rank), the
 * numbers travel in the all-gathered records, and every rank judges both ends of a
 * link with the same numbers, so both ends pick the same transport. */
struct halo_ib_caps {
    uint32_t max_qp, max_cq, max_qp_wr, max_cqe, max_sge, max_mr;
    uint8_t rc_ok;      /* an RC QP could be created (ibv_create_qp) */
    uint8_t pad[3];
    int32_t rc_errno;   /* ... else its errno (0: unknown) */
};
struct halo_ib_needs {
    uint32_t qps, cqs, qp_wr, cqe, sge, mrs;
    int nconns;         /* connections on the device (for the sentence) */
};
/* Needs of nconns connections (HALO_IB_QPS_PER_PEER QPs each, qps_per_conn) with
 * nslots slots per direction, as ib_qp.c creates them: per connection one CQ of
 * IB_CQ_DEPTH entries, QPs of IB_SQ_DEPTH / IB_RQ_DEPTH work requests with one
 * scatter/gather entry, and two registered regions plus IB_TMP_MRS registrations
 * of one operation. */
void ib_caps_needs(int nslots, int nconns, int qps_per_conn, struct halo_ib_needs *out);
/* NULL when `have` covers `need`; else one sentence ("port 1 offers 1 queue pair,
 * this job needs 6 there") in buf, naming the first missing capability with both
 * numbers. port: the device's port, for the sentence. */
const char *ib_caps_unfit(const struct halo_ib_caps *have, const struct halo_ib_needs *need, int port, char *buf,
                          size_t len);
/* Queries RDMA device `dev` (its port `port`) and tries one RC QP on a throwaway PD
 * and CQ. 0 when the device was found and queried (rc_ok says whether the QP could
 * be made); -1 when ib is not supported here or the device cannot be opened or
 * queried (why says which: then nothing is known, and nothing is judged). */
int ib_device_caps(const char *dev, int port, struct halo_ib_caps *out, char *why, size_t len);

/* ---- Internal to src/transport/ib*.c (define HALO_IB_INTERNAL before including) ---- */
#ifdef HALO_IB_INTERNAL
/* Zero-copy messages (ib_zc.c): grants in flight per direction, the largest
 * message (zc_max of every ib connection) and the largest single RDMA write of
 * one (every device takes 1 MiB; rxe's limit is 8 MiB). */
#define IB_ZC_RING 64
#define IB_ZC_MAX (8u << 20)
#define IB_ZC_PIECE (1u << 20)
#define IB_ZC_PIECES (IB_ZC_MAX / IB_ZC_PIECE)
/* QPs per connection at most (HALO_IB_QPS_PER_PEER). */
#define IB_MAX_QPS 8
/* Registrations made for one operation, per connection. */
#define IB_TMP_MRS 8

/* Sizes of a connection's queues and registered regions (ib_qp.c creates them). */
#define IB_SQ_DEPTH(nslots) ((uint32_t)(nslots) + 4 + IB_ZC_RING * (1 + IB_ZC_PIECES))
#define IB_RQ_DEPTH(nslots) (2 * (uint32_t)(nslots) + 4 + 2 * IB_ZC_RING)
/* A connection's CQ: both queues, plus the extra QPs' signalled zero-copy pieces. */
#define IB_CQ_DEPTH(nslots) (IB_SQ_DEPTH(nslots) + IB_RQ_DEPTH(nslots) + IB_ZC_RING * IB_ZC_PIECES + 8)

/* -DHALO_IB_DISABLE builds the stubs, as if the headers were missing. */
#if defined(__has_include) && !defined(HALO_IB_DISABLE)
#if __has_include(<infiniband/verbs.h>) && __has_include(<rdma/rdma_cma.h>)
#define HALO_IB_HEADERS 1
#endif
#endif

#ifdef HALO_IB_HEADERS
#include <stdatomic.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

/* The verbs and rdma_cm functions used, loaded with dlopen/dlsym (ib_verbs.c). The
 * data-path verbs (ibv_post_send, ibv_post_recv, ibv_poll_cq) are static inline in
 * verbs.h and call through the context's ops: they need no symbol. Fields have no
 * ibv_ prefix: verbs.h defines ibv_reg_mr and ibv_query_port as macros. */
struct ib_api {
    struct ibv_device **(*get_device_list)(int *n);
    void (*free_device_list)(struct ibv_device **list);
    const char *(*get_device_name)(struct ibv_device *dev);
    int (*query_device)(struct ibv_context *ctx, struct ibv_device_attr *attr);
    int (*query_port)(struct ibv_context *ctx, uint8_t port, struct ibv_port_attr *attr);
    int (*query_gid)(struct ibv_context *ctx, uint8_t port, int index, union ibv_gid *gid);
    struct ibv_pd *(*alloc_pd)(struct ibv_context *ctx);
    int (*dealloc_pd)(struct ibv_pd *pd);
    struct ibv_cq *(*create_cq)(struct ibv_context *ctx, int cqe, void *cq_context,
                                struct ibv_comp_channel *channel, int comp_vector);
    int (*destroy_cq)(struct ibv_cq *cq);
    struct ibv_mr *(*reg_mr)(struct ibv_pd *pd, void *addr, size_t length, int access);
    int (*dereg_mr)(struct ibv_mr *mr);
    struct ibv_comp_channel *(*create_comp_channel)(struct ibv_context *ctx);
    int (*destroy_comp_channel)(struct ibv_comp_channel *channel);
    int (*get_cq_event)(struct ibv_comp_channel *channel, struct ibv_cq **cq, void **cq_context);
    void (*ack_cq_events)(struct ibv_cq *cq, unsigned int nevents);
    int (*get_async_event)(struct ibv_context *ctx, struct ibv_async_event *event);
    void (*ack_async_event)(struct ibv_async_event *event);
    const char *(*wc_status_str)(enum ibv_wc_status status);
    const char *(*event_type_str)(enum ibv_event_type event);
    const char *(*port_state_str)(enum ibv_port_state state);

    struct rdma_event_channel *(*create_event_channel)(void);
    void (*destroy_event_channel)(struct rdma_event_channel *channel);
    int (*create_id)(struct rdma_event_channel *channel, struct rdma_cm_id **id, void *context,
                     enum rdma_port_space ps);
    int (*destroy_id)(struct rdma_cm_id *id);
    int (*bind_addr)(struct rdma_cm_id *id, struct sockaddr *addr);
    int (*listen)(struct rdma_cm_id *id, int backlog);
    int (*resolve_addr)(struct rdma_cm_id *id, struct sockaddr *src, struct sockaddr *dst, int timeout_ms);
    int (*resolve_route)(struct rdma_cm_id *id, int timeout_ms);
    int (*connect)(struct rdma_cm_id *id, struct rdma_conn_param *param);
    int (*accept)(struct rdma_cm_id *id, struct rdma_conn_param *param);
    int (*reject)(struct rdma_cm_id *id, const void *private_data, uint8_t private_data_len);
    int (*disconnect)(struct rdma_cm_id *id);
    int (*get_cm_event)(struct rdma_event_channel *channel, struct rdma_cm_event **event);
    int (*ack_cm_event)(struct rdma_cm_event *event);
    int (*create_qp)(struct rdma_cm_id *id, struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
    void (*destroy_qp)(struct rdma_cm_id *id);
    const char *(*event_str)(enum rdma_cm_event_type event);
    int (*migrate_id)(struct rdma_cm_id *id, struct rdma_event_channel *channel);
    struct ibv_context **(*get_devices)(int *n);
    void (*free_devices)(struct ibv_context **list);
    int (*modify_qp)(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask);
    /* Extra QPs of a connection (HALO_IB_QPS_PER_PEER), made without rdma_cm. */
    struct ibv_qp *(*create_qp_verbs)(struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
    int (*destroy_qp_verbs)(struct ibv_qp *qp);
    int (*query_qp)(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask, struct ibv_qp_init_attr *init);

    /* Optional: NULL where rdma-core is older than v32. Only HALO_IB_GID_INDEX needs
     * them (ib_gid_api_missing() says which is missing). */
    int (*query_gid_ex)(struct ibv_context *ctx, uint32_t port, uint32_t index, struct ibv_gid_entry *entry,
                        uint32_t flags, size_t entry_size); /* _ibv_query_gid_ex */
    int (*init_qp_attr)(struct rdma_cm_id *id, struct ibv_qp_attr *attr, int *mask);
    int (*establish)(struct rdma_cm_id *id);
};

/* The loaded table, or NULL when rdma-core is missing (ib_supported() says why). */
const struct ib_api *ib_api(void);

/* Does device `dev`, port `port` pass the HALO_IB_HCA spec? NCCL syntax: comma list
 * of name[:port] prefixes; leading ^ excludes; leading = makes names exact. */
int ib_hca_match(const char *spec, const char *dev, int port);
/* "4096", "1024", ... for an ibv_mtu. */
int ib_mtu_bytes(enum ibv_mtu mtu);
/* "25 Gbit/s (4X EDR)"-style text from active_speed/active_width. */
const char *ib_port_speed_str(const struct ibv_port_attr *pa, char *buf, size_t len);

/* HALO_IB_GID_INDEX. ib_gid_api_missing: NULL, or a sentence naming the rdma-core
 * function this host lacks for it. ib_gid_forced: GID `index` of ctx's port, when it
 * is a RoCE v2 GID: copies it and its netdev's ifindex and returns haloSuccess;
 * otherwise haloInvalidArgument (beyond the table or 255, empty, not RoCE v2) or
 * haloSystemError (the query failed), with a sentence in why that names device,
 * port and index and lists the port's RoCE v2 GIDs (ib_gid_list, like show_gids:
 * "0 fe80::1 (eth1), 1 ::ffff:10.0.0.1 (eth1)"). */
const char *ib_gid_api_missing(void);
haloResult_t ib_gid_forced(struct ibv_context *ctx, int port, int index, union ibv_gid *gid, uint32_t *ifindex,
                           char *why, size_t len);
const char *ib_gid_list(struct ibv_context *ctx, int port, char *buf, size_t len);
/* Index of the entry holding gid, the RoCE v2 one where a RoCE v1 entry holds the same
 * value (rdma_cm's default type); -1 if none. For the log. */
int ib_gid_find(struct ibv_context *ctx, int port, const union ibv_gid *gid);
const char *ib_gid_str(const union ibv_gid *g, char *buf, size_t len);
/* An IPv4 address in a GID (::ffff:a.b.c.d), as RoCE v2 writes one. */
int ib_gid_is_v4(const union ibv_gid *g);

/* A registered range of user memory. */
struct ib_reg {
    uintptr_t lo, hi;
    int writable;           /* registered for remote writes (a destination) */
    struct ibv_mr *mr;
    uint64_t owner;         /* haloCommRegister handle it belongs to (0: temporary) */
    struct ib_reg *next;
};

/* A grant: where the receiver wants zero-copy message `seq`. 64 bytes. */
struct ib_grant {
    uint64_t addr;
    uint64_t len;
    uint32_t rkey;
    uint32_t seq;
    struct halo_sig sig;
    uint64_t reserved;
};

/* One RDMA device used by a communicator: its protection domain and what the
 * async events said. The ibv_context belongs to librdmacm (shared by the process). */
struct ib_dev {
    struct ibv_context *ctx;
    struct ibv_pd *pd;
    _Atomic int reg_lock;         /* guards regs (channel threads look up, the user registers) */
    struct ib_reg *regs;          /* registrations kept across operations (haloCommRegister) */
    char name[32];
    _Atomic int fatal;            /* IBV_EVENT_DEVICE_FATAL seen (atomic: channel threads) */
    _Atomic unsigned port_down;   /* bit p: IBV_EVENT_PORT_ERR on port p (atomic) */
    unsigned ports_logged;        /* bit p: port p described at INFO (setup thread only) */
    struct ib_dev *next;
};

/* Wire header at the start of every slot; the payload follows it. 64 bytes. */
struct ib_frame_hdr {
    uint32_t magic;          /* IB_FRAME_MAGIC */
    uint32_t kind;           /* enum halo_frame_kind */
    uint32_t seq;            /* frame number in this direction (low 32 bits) */
    uint32_t len;            /* payload bytes */
    struct halo_sig sig;     /* the operation it belongs to */
    uint64_t reserved[2];    /* [0]: HALO_CHECKSUM's CRC32C of header and payload, else 0 */
};
#define IB_FRAME_MAGIC 0x46424c48u /* "HLBF" */
#define IB_HDR_BYTES 64u

/* One connection: a QP to one peer on one channel, both directions. */
struct ib_conn {
    struct halo_conn base;
    struct ib_dev *dev;
    struct rdma_event_channel *cm_ch; /* this connection's own cm events (disconnect) */
    struct rdma_cm_id *id;
    struct ibv_qp *qp;
    struct ibv_cq *cq;
    struct ibv_comp_channel *cq_ch; /* completion events, for waiting when idle */
    int cq_armed;                  /* ibv_req_notify_cq is pending */
    int nslots;
    size_t stride;                 /* header + slot_size, rounded to 64 */
    uint32_t max_inline;
    /* Receive region: nslots slots the peer writes, then the credit word the peer
     * writes (how many of our frames it released). Remote-writable. */
    uint8_t *rx;
    size_t rx_bytes;
    struct ibv_mr *rx_mr;
    /* Send staging: nslots slots, then the credit source word. */
    uint8_t *tx;
    size_t tx_bytes;
    struct ibv_mr *tx_mr;
    uint64_t remote_addr;          /* peer's receive region */
    uint32_t remote_rkey;
    /* Send state. */
    uint64_t tx_head;              /* frames posted */
    uint64_t tx_done;              /* data writes completed locally */
    int tx_slot_out;               /* send_slot handed out tx_head's slot */
    uint64_t rx_checked;           /* frames before this one passed their checksum (HALO_CHECKSUM) */
    /* Receive state. */
    uint64_t rx_tail;              /* frames released */
    uint64_t rx_arrived;           /* frames whose completion was polled */
    uint64_t credit_sent;          /* rx_tail value last written to the peer */
    int credit_inflight;
    /* Zero-copy: grants this end posted / the peer's grants that arrived; messages
     * sent (posted, completed) and received; registrations for this operation. */
    uint64_t zc_grants_posted, zc_grants_in;
    uint64_t zc_tx_head, zc_tx_done, zc_rx_done;
    struct ib_reg tmp[IB_TMP_MRS];
    int ntmp;
    /* Extra QPs (HALO_IB_QPS_PER_PEER - 1), same CQ: zero-copy pieces go round
     * all of them; a message's immediate follows on the first QP once its pieces
     * on the others completed (zcx_left per message, zcx_imm_next the oldest
     * message still waiting for it). */
    struct ibv_qp *xqp[IB_MAX_QPS - 1];
    int nxqp;
    uint16_t zcx_left[IB_ZC_RING];
    uint64_t zcx_imm_next;
    /* Idle handling and health. */
    unsigned idle_polls;           /* consecutive polls that found nothing */
    int64_t idle_since_us;         /* when they started (0: not measured yet) */
    int64_t next_check_us;
    unsigned flush_polls;          /* flushes since flush last looked at the port */
    haloResult_t failed;           /* sticky once an error was recorded */
    int established;
    char desc[192];                /* "peer 1 (10.0.0.2:4791) via rxe0 port 1, channel 0, qp 0x11" */
};

/* Data path (ib_conn.c). */
haloResult_t ib_conn_fail(struct ib_conn *c, haloResult_t res, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Immediates: kind in the top 3 bits. DATA carries frame bits 16..28 and the slot;
 * GRANT and ZC the low bits of their counters. Credits are plain writes (no
 * immediate, no receive consumed). */
#define IB_IMM_KIND(imm) ((imm) >> 29)
enum { IB_IMM_DATA = 0, IB_IMM_ZC = 1, IB_IMM_GRANT = 2 };
#define IB_IMM(kind, v) (((uint32_t)(kind) << 29) | ((uint32_t)(v) & 0x1fffffffu))
enum { IB_WR_DATA = 1, IB_WR_CREDIT = 2, IB_WR_RECV = 3, IB_WR_GRANT = 4, IB_WR_ZC = 5, IB_WR_ZCX = 6 };
#define IB_WR_ID(kind, n) (((uint64_t)(kind) << 56) | ((n) & 0x00ffffffffffffffull))
#define IB_WR_KIND(id) ((int)((id) >> 56))
/* Region layout, rx and tx alike: slots, a 64-byte credit word, the grant ring. */
#define IB_GRANTS_OFF(c) ((size_t)(c)->nslots * (c)->stride + 64)
#define IB_REGION_BYTES(nslots, stride) ((size_t)(nslots) * (stride) + 64 + IB_ZC_RING * sizeof(struct ib_grant))
haloResult_t ib_poll(struct ib_conn *c, int *n);
struct ib_dev *ib_devs(struct halo_ib *ib);  /* the communicator's devices (ib_listen.c) */
struct halo_tp_ctx *ib_ctx(struct halo_ib *ib); /* the context it records errors with */
/* "unlimited", "64 KiB", "unknown": the locked-memory limit registrations count against (ib_zc.c). */
const char *ib_memlock_str(char *buf, size_t len);
void ib_dev_regs_free(struct ib_dev *d);
/* Zero-copy (ib_zc.c): completions, the ops, registrations. */
haloResult_t ib_zc_on_recv(struct ib_conn *c, uint32_t imm);
haloResult_t ib_zc_on_send(struct ib_conn *c, int kind, uint64_t wr_id);
haloResult_t ib_zc_register(struct halo_conn *hc, const void *buf, size_t len, int writable);
haloResult_t ib_zc_recv_post(struct halo_conn *hc, void *dst, size_t len, const struct halo_sig *sig, int *posted);
haloResult_t ib_zc_send_grant(struct halo_conn *hc, struct halo_sig *sig, size_t *len, int *ready);
haloResult_t ib_zc_send_post(struct halo_conn *hc, const void *src, size_t len);
haloResult_t ib_zc_done(struct halo_conn *hc, uint64_t *sent, uint64_t *received);
void ib_zc_end(struct halo_conn *hc);
void ib_xqp_destroy(struct ib_conn *c);
haloResult_t ib_conn_post_recvs(struct ib_conn *c, int n);
void ib_conn_destroy(struct ib_conn *c);
#endif /* HALO_IB_HEADERS */
#endif /* HALO_IB_INTERNAL */

#endif
