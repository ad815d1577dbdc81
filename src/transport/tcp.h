/* SPDX-License-Identifier: MIT */
/*
 * tcp.h — the tcp transport: any IP link. One socket per peer per channel, both
 * directions; frames = 64-byte header (kind, length, signature) + payload.
 * Set up through its table row, halo_tcp_setup (tcp_setup.c, transport.h).
 */
#ifndef HALO_TCP_H
#define HALO_TCP_H

#include "haloccl.h"
#include "socket.h"
#include "transport.h"

extern const struct halo_transport_ops halo_tcp_ops;
extern const struct halo_tp_setup halo_tcp_setup;

/* tcp's blob in the peer-info all-gather. Plain data; 56 bytes. */
struct halo_tcp_peer_info {
    struct halo_sockaddr listen; /* data listener: the bootstrap interface's IP, its port */
    char ifname[32];             /* that interface */
};

/* The setup sequence (tcp_setup.c):
 *   listen       opens this rank's data listener on every interface and publishes
 *                the bootstrap interface's IP (or HALO_SOCKET_IFNAME's) with its port.
 *   connect_all  for every peer whose kind is HALO_TR_TCP and every channel, the
 *                higher rank connects and the lower accepts; each connection proves
 *                the job secret (halo_auth_*, context "tcp:<lo>:<hi>:<ch>:<jobid>")
 *                and is stored in ctx->conns[ch * nranks + peer]. Blocking, bounded
 *                by the timeout. */

/* Wraps an already connected, authenticated socket (tests, and connect_all). */
haloResult_t tcp_conn_create(struct halo_tp_ctx *ctx, int fd, int peer, int channel, size_t slot_size, int nslots,
                             struct halo_conn **out);

/* Arms rail failover on a connection (tcp_failover.c): fd, connected and
 * authenticated over another rail (the peer's rails[rail]), becomes its standby.
 * detect_ms bounds how long either socket may go without an answer from the
 * peer's kernel before it counts as failed (TCP_USER_TIMEOUT, keepalive). On
 * success the connection owns fd; on failure fd stays the caller's. */
haloResult_t tcp_conn_set_standby(struct halo_conn *conn, int fd, int rail, int detect_ms);
/* Tests: handles the data socket as if its cable failed with err. */
haloResult_t tcp_conn_fail_rail(struct halo_conn *conn, int err);

#endif
