/* SPDX-License-Identifier: MIT */
/*
 * transport.h — the one interface every transport implements (shm, ib, tcp): the
 * data ops on a connection (struct halo_transport_ops) and the setup table that
 * creates connections (struct halo_tp_setup, at the end), both run over a narrow
 * context (struct halo_tp_ctx) that the core fills; no transport sees the
 * communicator.
 *
 * A connection joins this rank to one peer on one channel and carries frames both
 * ways. Each direction is a FIFO of fixed-size slots, so algorithms can reduce
 * straight out of a received slot into a slot being sent, without intermediate
 * copies (on shm the slots are the shared memory itself; on tcp they are staging
 * buffers the transport fills from / drains to the socket).
 *
 * Every frame carries the signature of the operation it belongs to; the receiver
 * compares it with its own and fails on a mismatch instead of reducing the wrong
 * bytes.
 *
 * Contracts, for every function below:
 *  - None blocks. "Not ready" is a success with a NULL pointer; the caller spins,
 *    calling progress(), and owns timeouts.
 *  - A connection is used by one thread at a time (the thread running its channel).
 *  - Frames on a connection are received in the order they were posted.
 *  - Errors are recorded with halo_tp_error() (peer, channel, what happened) by the
 *    transport, once; the caller only passes the result up.
 */
#ifndef HALO_TRANSPORT_H
#define HALO_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "haloccl.h"
#include "param.h"
#include "socket.h"

struct halo_tp_ctx;

/* Operation signature, carried in every frame header. 32 bytes. */
struct halo_sig {
    uint64_t count;     /* element count as the caller passed it */
    uint32_t opseq;     /* per-communicator operation sequence number */
    uint32_t comm_tag;  /* low bits of the communicator id */
    int32_t root;       /* root or peer, -1 when not applicable */
    uint8_t coll;       /* enum halo_coll */
    uint8_t dtype;      /* haloDataType_t */
    uint8_t op;         /* haloRedOp_t in the low 5 bits and the wire format the values
                         * travel in (haloWireFormat_t) above them; 0xff when not applicable */
    uint8_t algo;       /* algorithm id: both sides must run the same schedule */
    uint32_t reserved[2];
};

#define HALO_SIG_OP_BITS 5 /* sig.op = op | wire << HALO_SIG_OP_BITS */

/* Frame kinds. DATA frames carry payload; ABORT frames carry a message text. */
enum halo_frame_kind { HALO_FRAME_DATA = 1, HALO_FRAME_ABORT = 2 };

struct halo_conn;

struct halo_transport_ops {
    const char *name;
    /* Send side. send_slot gives a writable slot of *cap bytes, or *buf = NULL when
     * all slots are in flight. send_post queues the slot just obtained with len
     * bytes (len <= cap) and the signature. */
    haloResult_t (*send_slot)(struct halo_conn *c, void **buf, size_t *cap);
    haloResult_t (*send_post)(struct halo_conn *c, size_t len, const struct halo_sig *sig);
    /* Receive side. recv_peek gives the oldest received frame in place (*buf = NULL
     * when none has fully arrived); recv_release returns its slot to the sender. */
    haloResult_t (*recv_peek)(struct halo_conn *c, const void **buf, size_t *len, struct halo_sig *sig);
    haloResult_t (*recv_release)(struct halo_conn *c);
    /* Moves bytes (tcp), checks the peer is alive. Cheap when nothing is pending. */
    haloResult_t (*progress)(struct halo_conn *c);
    /* Pushes posted frames towards the peer without reading; *pending = 1 while some
     * posted bytes are still held locally. An operation is complete only once
     * nothing is pending: the peer may need those bytes to finish. NULL for a
     * transport that never holds posted bytes (shm: a posted frame is already in
     * the peer's memory); the engine then skips the connection. */
    haloResult_t (*flush)(struct halo_conn *c, int *pending);
    /* Frees the connection. Accepts a half-built connection. */
    void (*close)(struct halo_conn *c);
    /* Blocks the calling thread until the connection may have moved in one
     * direction (sending: a slot came free; else: a frame arrived), at most
     * timeout_us; may return early. For a wait that has polled long: the peer may
     * need this core (more threads than cores, a busy host). Optional. */
    void (*sleep)(struct halo_conn *c, int sending, int timeout_us);
    /* One line on where the connection stands (frames posted, released, awaited),
     * for stall reports. Optional. */
    void (*describe)(struct halo_conn *c, char *buf, size_t len);

    /* Zero-copy messages (optional: NULL, and zc_max 0, where the transport has
     * none). The receiver grants a destination (zc_recv_post); the sender takes the
     * oldest grant (zc_send_grant), checks it and writes straight from its buffer
     * into the receiver's (zc_send_post). Grants and messages of one direction
     * match in order. zc_done gives how many messages this end has sent (its
     * source no longer needed) and received (fully placed) since the connection
     * was made. Buffers used since the last zc_end may be registered for the
     * operation only: zc_end drops those registrations once nothing is in flight. */
    haloResult_t (*zc_register)(struct halo_conn *c, const void *buf, size_t len, int writable);
    haloResult_t (*zc_recv_post)(struct halo_conn *c, void *dst, size_t len, const struct halo_sig *sig,
                                 int *posted);
    haloResult_t (*zc_send_grant)(struct halo_conn *c, struct halo_sig *sig, size_t *len, int *ready);
    haloResult_t (*zc_send_post)(struct halo_conn *c, const void *src, size_t len);
    haloResult_t (*zc_done)(struct halo_conn *c, uint64_t *sent, uint64_t *received);
    void (*zc_end)(struct halo_conn *c);
};

/* Common head of every transport's connection object. */
struct halo_conn {
    const struct halo_transport_ops *ops;
    struct halo_tp_ctx *ctx;  /* rank, timeout, error sink, peers; NULL-safe in tests */
    int peer;     /* peer rank in the communicator */
    int channel;
    size_t slot_size; /* capacity of one slot, the same in both directions */
    uint64_t frames_sent, frames_recv; /* by the engine's primitives; tests read them */
    size_t zc_max;         /* largest zero-copy message (the same on every connection), 0: none */
    /* Zero-copy messages as the engine counts them: grants posted and receives
     * completed on this end, sends posted. */
    uint64_t zc_rx_posted, zc_rx_waited, zc_tx_posted;
};

/* ---- Setup: the table every transport fills, and the context it runs over ----
 *
 * The core (src/core/comm.c) drives every transport through one table, in this
 * order, on every rank:
 *   listen       before the peer-info all-gather: opens what peers connect to and
 *                fills this rank's blob (a zeroed blob means "not listening").
 *   (all-gather of struct halo_peer_info, which carries every transport's blob)
 *   can_connect  per peer, transports tried by ascending priority: the first that
 *                says yes carries the peer. Run once before the topology (link
 *                NULL) and again for remote peers once the topology chose the
 *                link between the two hosts (link set).
 *   connect_all  in ascending connect_order, every transport on every rank (even
 *                without a peer of its kind: some run collective steps).
 *   connected    optional, collective: after every transport connected.
 *   ready        optional: after the barrier that follows connected.
 *   destroy      at communicator destruction, after every connection was closed.
 * Adding a transport = its files under src/transport/, a kind below, a row in
 * halo_transports[] (transport.c); the CMake glob picks up the files.
 */

/* What carries a peer. The transports' kinds are their table rows'; SELF and NONE
 * belong to the core (NONE: another host with no direct data link). */
enum halo_transport_kind {
    HALO_TR_SELF = 0,
    HALO_TR_SHM = 1,
    HALO_TR_TCP = 2,
    HALO_TR_NONE = 3,
    HALO_TR_IB = 4,
    HALO_TR_NKINDS = 5
};

/* Channels a communicator connects at most (HALO_NCHANNELS). */
#define HALO_MAX_CHANNELS 16

/* Bytes of each transport's blob in struct halo_peer_info, and how many blobs. */
#define HALO_TP_BLOB_BYTES 128
#define HALO_TP_MAX 4

/* Capabilities (struct halo_tp_setup.caps). */
#define HALO_TP_CAP_LOCAL 0x1u  /* can join ranks of one host */
#define HALO_TP_CAP_REMOTE 0x2u /* can join ranks of different hosts (the topology assigns links) */
#define HALO_TP_CAP_ZCOPY 0x4u  /* connections may offer the zc_* ops */
#define HALO_TP_CAP_REG 0x8u    /* mem_register: haloCommRegister reaches it */

/* One end of the topology's link between two hosts, as discovery saw it. */
struct halo_tp_link_end {
    char ifname[32];
    char addr[64];     /* IP as text */
    char rdma_dev[32]; /* RDMA device behind the interface, "" if none */
    int rdma_port;
    int rdma_active;   /* that port is ACTIVE */
    char rdma_unfit[192]; /* why the device cannot carry ib's RC queue pairs, "" if it can */
};
struct halo_tp_link {
    struct halo_tp_link_end mine, peer;
};

/* Links (rails) between two hosts that one peer's channels may spread over. */
#define HALO_MAX_RAILS 4

/* One way to a peer: the transport that carries it and, for a topology link, both
 * ends' addresses. A remote peer joined by several links (each its own subnet) has
 * one rail per link; its channels are spread over them (rail_of). */
struct halo_tp_rail {
    int kind;                       /* enum halo_transport_kind */
    int has_link;                   /* the topology chose the addresses below */
    int link;                       /* index of the link in the topology, -1 if none */
    struct halo_sockaddr data_addr; /* the peer's end of the link (port 0: add the listener's) */
    struct halo_sockaddr data_src;  /* our end of the link */
    char data_ifname[32];           /* our interface on that link */
    char peer_ifname[32];           /* the peer's interface on that link (for sentences) */
};

/* What a transport sees of one peer (the core fills it before connect_all). */
struct halo_tp_peer {
    int kind;                 /* enum halo_transport_kind: rail 0's (SELF, SHM, NONE: the only one) */
    int local_index;          /* index among ranks of this host, -1 if remote */
    int32_t pid;
    char hostname[64];
    const void *blob[HALO_TR_NKINDS]; /* its blob of each transport, by kind (NULL: none) */
    int nrails;                          /* 1 unless several links join our hosts */
    struct halo_tp_rail rails[HALO_MAX_RAILS];
    uint8_t rail_of[HALO_MAX_CHANNELS];  /* the rail each channel's connection runs on */
};

/* The rail of channel ch's connection to peer p. */
static inline const struct halo_tp_rail *halo_tp_route(const struct halo_tp_ctx *ctx, int p, int ch);

/* The narrow context transports run over. Filled by the core: the first block
 * before listen, peers/nchannels/conns/nlocal/local_rank before can_connect and
 * connect_all. Transports own state[their kind] (listen or connect_all creates
 * it, destroy frees it). */
struct halo_tp_ctx {
    int rank, nranks;
    size_t slot_size_shm;      /* payload bytes per slot on shm */
    size_t slot_size_net;      /* ... on tcp and ib */
    int nslots;                /* slots per direction, tcp and ib */
    int nslots_shm;            /* slots per direction, shm */
    int64_t timeout_us;        /* bound of every blocking setup step (HALO_TIMEOUT_MS) */
    int checksum;              /* HALO_CHECKSUM: tcp and ib frames carry a CRC32C */
    uint64_t comm_id;          /* job id mixed with the split history (shm names) */
    uint64_t job_id;           /* bootstrap job id (binds proofs to the job) */
    const uint8_t *key;        /* job secret (32 bytes), NULL for an unauthenticated job */
    const struct halo_params *params;
    struct halo_sockaddr local_addr; /* the IP the bootstrap used (family 0: none) */

    int nchannels;
    int nlocal, local_rank;    /* ranks on this host, my index among them */
    struct halo_tp_peer *peers;   /* [nranks] */
    struct halo_conn **conns;     /* [nchannels * nranks]: conns[ch * nranks + peer] */
    void *state[HALO_TR_NKINDS];  /* each transport's own, by kind */

    /* Services of the core. error records the sentence as the job's last error,
     * logs it once at WARN and returns res (a step whose failure the job survives
     * runs with a copy whose sink only logs). allgather: buf holds nranks blocks
     * of per_rank bytes, this rank's filled; collective, blocking. */
    void *core;
    haloResult_t (*error)(void *core, haloResult_t res, const char *msg);
    haloResult_t (*allgather)(void *core, void *buf, size_t per_rank);
    haloResult_t (*barrier)(void *core);
    _Atomic int *failed;       /* nonzero once the job failed (waits give up) */
};

static inline const struct halo_tp_rail *halo_tp_route(const struct halo_tp_ctx *ctx, int p, int ch)
{
    const struct halo_tp_peer *peer = &ctx->peers[p];
    return &peer->rails[peer->rail_of[ch] < peer->nrails ? peer->rail_of[ch] : 0];
}

/* 1 when channel ch's connection to peer p is carried by transport kind (the
 * peer's kind unless several rails join us). */
static inline int halo_tp_carries(const struct halo_tp_ctx *ctx, int p, int ch, int kind)
{
    const struct halo_tp_peer *peer = &ctx->peers[p];
    return (peer->nrails > 1 ? halo_tp_route(ctx, p, ch)->kind : peer->kind) == kind;
}

/* Formats one sentence and hands it to ctx->error (or records it for the calling
 * thread when ctx or its sink is NULL, as in unit tests). Returns res. */
haloResult_t halo_tp_error(const struct halo_tp_ctx *ctx, haloResult_t res, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* ctx->rank, or -1 without a context (for log lines). */
int halo_tp_rank(const struct halo_tp_ctx *ctx);
/* The IP this rank publishes for data connections (port 0): the one the bootstrap
 * used, else HALO_SOCKET_IFNAME's first interface, else loopback. */
void halo_tp_data_addr(const struct halo_tp_ctx *ctx, struct halo_sockaddr *addr);

struct halo_tp_setup {
    const char *name;          /* "shm": logs and the HALO_TRANSPORT word */
    enum halo_transport_kind kind;
    int priority;              /* can_connect is asked in ascending order */
    int connect_order;         /* connect_all runs in ascending order */
    unsigned caps;             /* HALO_TP_CAP_* */
    size_t info_size;          /* bytes of the blob it fills (<= HALO_TP_BLOB_BYTES) */
    /* Optional. Blocking, bounded by ctx->timeout_us. Fills my_blob (zeroed on
     * entry). An error fails the job; a transport the job can do without returns
     * success and leaves the blob zeroed. Called only when nranks > 1. */
    haloResult_t (*listen)(struct halo_tp_ctx *ctx, void *my_blob);
    /* No I/O, may log. *yes = 1 when this transport carries peer `peer` (local: on
     * this host); link: the topology's link to a remote peer, or NULL (before the
     * topology, or no link). A result other than success fails the job: the user
     * forced this transport and it cannot carry that peer (the sentence names
     * the peer and the knob). */
    haloResult_t (*can_connect)(struct halo_tp_ctx *ctx, int peer, int local, const void *my_blob,
                                const void *peer_blob, const struct halo_tp_link *link, int *yes);
    /* Blocking, bounded by ctx->timeout_us; collective over the ranks (every rank
     * calls it). Connects every peer whose kind is this transport's on every
     * channel into ctx->conns. Connections made before a failure stay in conns
     * for the core to close. */
    haloResult_t (*connect_all)(struct halo_tp_ctx *ctx);
    /* Optional, collective: after every transport's connect_all (may all-gather). */
    haloResult_t (*connected)(struct halo_tp_ctx *ctx);
    /* Optional: after the barrier that follows connected (no rank still needs what
     * the transport published). */
    void (*ready)(struct halo_tp_ctx *ctx);
    /* Frees state[kind]; NULL-safe, accepts a half-built state; conns closed. */
    void (*destroy)(struct halo_tp_ctx *ctx);
    /* Optional: where the peer listens (for log lines); 0 on success. */
    int (*peer_addr)(const void *peer_blob, struct halo_sockaddr *out);
    /* Optional (HALO_TP_CAP_REG): registers [buf, buf+len) until mem_deregister(owner). */
    haloResult_t (*mem_register)(struct halo_tp_ctx *ctx, void *buf, size_t len, uint64_t owner);
    void (*mem_deregister)(struct halo_tp_ctx *ctx, uint64_t owner);
    const char *reg_desc;      /* what mem_register registers with, for the log ("the RDMA devices") */
};

/* The table: every transport once, NULL-terminated (transport.c). */
extern const struct halo_tp_setup *const halo_transports[];
/* The row of kind k, or NULL (SELF, NONE). */
const struct halo_tp_setup *halo_tp_by_kind(int kind);
/* The row named name, or NULL ("auto"). */
const struct halo_tp_setup *halo_tp_by_name(const char *name);
/* Fills order[] (HALO_TP_MAX + 1 entries, NULL-terminated) with the table sorted by
 * priority (by_connect 0) or connect_order (1). */
void halo_tp_sorted(int by_connect, const struct halo_tp_setup *order[]);
/* The row HALO_TRANSPORT names, NULL for auto (param.c accepts only the words
 * "auto" and the rows' names). */
const struct halo_tp_setup *halo_tp_forced(const struct halo_tp_ctx *ctx);
/* 1 unless HALO_TRANSPORT forces a transport other than kind. */
int halo_tp_may_carry(const struct halo_tp_ctx *ctx, enum halo_transport_kind kind);
/* Index of kind k's blob in struct halo_peer_info (its row), -1 if none. */
int halo_tp_blob_slot(int kind);

#endif
