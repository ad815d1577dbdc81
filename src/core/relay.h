/* SPDX-License-Identifier: MIT */
/*
 * relay.h — forwarding of send/receive between ranks without a direct link
 * (daisy chains, rings of 4+ hosts), through the ranks between them.
 *
 * A communicator whose topology leaves some pair of hosts unlinked connects one
 * channel more than its collectives use, the relay channel (comm->relay_ch), and
 * runs a relay thread that alone uses that channel's connections. Every
 * forwarded message travels on it from the sender's relay thread, hop by hop, to
 * the receiver's, in slot-sized frames whose signature carries the origin (root),
 * the final destination (reserved[0]) and the per-(origin, destination) message
 * number; relays in between need not be inside any call.
 *
 * The calling thread hands a send or receive to the relay thread as a struct
 * relay_req (relay_submit) and polls its `done` and `state` with the usual
 * pacing, timeouts and abort checks (p2p.c). The request belongs to the caller:
 * it stays valid until it completed or failed, or until relay_cancel returned.
 */
#ifndef HALO_RELAY_H
#define HALO_RELAY_H

#include <stdatomic.h>
#include <stddef.h>

#include "comm.h"
#include "transport.h"

enum relay_req_state { RELAY_REQ_QUEUED = 0, RELAY_REQ_DONE = 1, RELAY_REQ_FAILED = -1 };

struct relay_req {
    int send;              /* 1: send to `peer`; 0: receive from `peer` */
    int peer;              /* final destination (send) or origin (receive) */
    struct halo_sig sig;   /* the frames' signature (send) or the expected one (receive) */
    const void *src;       /* send: the user's buffer, read by the relay thread */
    void *dst;             /* receive: the user's buffer, written by the relay thread */
    size_t total;          /* bytes of the message, > 0 */
    _Atomic size_t done;   /* bytes posted (send) or placed (receive) so far */
    _Atomic int state;     /* enum relay_req_state; set by the relay thread */
    struct relay_req *next; /* the relay's list (under its lock) */
};

/* Nonzero when some pair of hosts has no direct link: every rank computes the
 * same from the topology, so all agree on the relay channel. */
int relay_needed(const struct halo_comm *comm);
/* Starts the relay thread once the relay channel is connected. */
haloResult_t relay_start(struct halo_comm *comm);
/* Stops and joins the relay thread and frees its state; accepts none started.
 * healthy: first tell each connected peer goodbye (so its relay takes the
 * connection's end as expected), bounded by min(HALO_TIMEOUT_MS, 1 s). */
void relay_stop(struct halo_comm *comm, int healthy);
/* The neighbour a message to dst leaves through, -1 when there is none. */
int relay_next_hop(const struct halo_comm *comm, int dst);
/* The way from position `from` to position `to` of the rank order (comm->ring)
 * that forwarded messages take: on a chain the only one; on a ring the shorter,
 * forward on a tie, so every hop keeps the same direction. Returns the positions
 * crossed; *dir (may be NULL) = 1 forward, -1 back. */
int relay_route(const struct halo_comm *comm, int from, int to, int *dir);
/* Hands req to the relay thread (the caller filled everything above `done`).
 * Requests of one (peer, direction) complete in the order they were submitted.
 * Fails at once when the relay already failed or has no route to the peer. */
haloResult_t relay_submit(struct halo_comm *comm, struct relay_req *req);
/* Takes req back if the relay still holds it (after a failed or aborted call):
 * when this returns, the relay thread no longer touches req or its buffers. */
void relay_cancel(struct halo_comm *comm, struct relay_req *req);

#endif
