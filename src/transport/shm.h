/*
 * shm.h — the shm transport: ranks on one host. Each rank owns one shared segment
 * holding its receive FIFOs (one per local peer and channel); senders map the
 * segments of their local peers and write straight into them.
 */
#ifndef HALO_SHM_H
#define HALO_SHM_H

#include "haloccl.h"
#include "transport.h"

struct halo_comm;
struct halo_peer_info;

extern const struct halo_transport_ops halo_shm_ops;

/* After the all-gather (peer kinds known): creates this rank's segment, named from
 * comm_id and rank, holding one receive FIFO per local peer and channel. Creates
 * comm->shm. */
haloResult_t shm_setup_local(struct halo_comm *comm);
/* After a barrier: maps the segments of peers whose kind is HALO_TR_SHM and builds
 * comm->conns for them. After the next barrier shm_unlink_own removes the name, so
 * nothing is left in /dev/shm even if a process dies later. */
haloResult_t shm_connect_all(struct halo_comm *comm);
void shm_unlink_own(struct halo_comm *comm);
void shm_destroy(struct halo_comm *comm);

#endif
