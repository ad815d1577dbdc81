/* SPDX-License-Identifier: MIT */
/*
 * shm.h — the shm transport: ranks on one host. Each rank owns one shared segment
 * holding its receive FIFOs (one per local peer and channel); senders map the
 * segments of their local peers and write straight into them.
 *
 * Setup (its table row, halo_shm_setup): connect_all creates this rank's segment,
 * named from comm_id and rank, waits on the core's barrier, then maps the
 * segments of the peers whose kind is HALO_TR_SHM; ready (after the next barrier)
 * unlinks the name, so nothing is left in /dev/shm even if a process dies later.
 */
#ifndef HALO_SHM_H
#define HALO_SHM_H

#include "haloccl.h"
#include "transport.h"

extern const struct halo_transport_ops halo_shm_ops;
extern const struct halo_tp_setup halo_shm_setup;

/* The room shm's FIFOs have: "5.0 MiB free of 64.0 MiB" for /dev/shm, or why it
 * could not be read (strerror). Returns buf. */
const char *halo_shm_room(char *buf, size_t len);

#endif
