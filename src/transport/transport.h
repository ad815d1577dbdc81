/*
 * transport.h — the one interface every transport implements (shm, tcp; ib later).
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
 *  - Errors are recorded with halo_error() (peer, channel, what happened) by the
 *    transport, once; the caller only passes the result up.
 */
#ifndef HALO_TRANSPORT_H
#define HALO_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "haloccl.h"

struct halo_comm;

/* Operation signature, carried in every frame header. 32 bytes. */
struct halo_sig {
    uint64_t count;     /* element count as the caller passed it */
    uint32_t opseq;     /* per-communicator operation sequence number */
    uint32_t comm_tag;  /* low bits of the communicator id */
    int32_t root;       /* root or peer, -1 when not applicable */
    uint8_t coll;       /* enum halo_coll */
    uint8_t dtype;      /* haloDataType_t */
    uint8_t op;         /* haloRedOp_t, 0xff when not applicable */
    uint8_t algo;       /* algorithm id: both sides must run the same schedule */
    uint32_t reserved[2];
};

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
     * nothing is pending: the peer may need those bytes to finish. */
    haloResult_t (*flush)(struct halo_conn *c, int *pending);
    /* Frees the connection. Accepts a half-built connection. */
    void (*close)(struct halo_conn *c);

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
    struct halo_comm *comm;
    int peer;     /* peer rank in the communicator */
    int channel;
    size_t slot_size; /* capacity of one slot, the same in both directions */
    uint64_t frames_sent, frames_recv; /* by the engine's primitives; tests read them */
    size_t zc_max;         /* largest zero-copy message (the same on every connection), 0: none */
    /* Zero-copy messages as the engine counts them: grants posted and receives
     * completed on this end, sends posted. */
    uint64_t zc_rx_posted, zc_rx_waited, zc_tx_posted;
};

#endif
