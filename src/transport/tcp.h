/*
 * tcp.h — the tcp transport: any IP link. One socket per peer per channel, both
 * directions; frames = 64-byte header (kind, length, signature) + payload.
 */
#ifndef HALO_TCP_H
#define HALO_TCP_H

#include "haloccl.h"
#include "transport.h"

struct halo_comm;
struct halo_peer_info;

extern const struct halo_transport_ops halo_tcp_ops;

/* Before the peer-info all-gather: opens this rank's data listener on the interface
 * the bootstrap used (or HALO_SOCKET_IFNAME) and records it in me->tcp_listen /
 * me->tcp_ifname. Creates comm->tcp. */
haloResult_t tcp_listen_start(struct halo_comm *comm, struct halo_peer_info *me);
/* After the all-gather: for every peer whose kind is HALO_TR_TCP and every channel
 * 0..comm->nchannels-1, the higher rank connects and the lower accepts; each
 * connection proves the job secret (halo_auth_*, context "tcp:<lo>:<hi>:<ch>:<jobid>")
 * and is stored in comm->conns[ch * nranks + peer]. Blocking, bounded by the timeout. */
haloResult_t tcp_connect_all(struct halo_comm *comm);
/* Closes the listener (connections are closed through their ops->close). NULL-safe. */
void tcp_destroy(struct halo_comm *comm);

/* Wraps an already connected, authenticated socket (tests, and tcp_connect_all). */
haloResult_t tcp_conn_create(struct halo_comm *comm, int fd, int peer, int channel, size_t slot_size,
                             int nslots, struct halo_conn **out);

#endif
