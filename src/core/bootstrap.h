/* SPDX-License-Identifier: MIT */
/*
 * bootstrap.h — job rendezvous over TCP, authenticated with the job secret.
 *
 * The unique id holds the root service's address, a random job id and the
 * secret. The root service is a thread (started by haloGetUniqueId, or by rank 0
 * of haloCommInitEnv) that accepts one connection per rank, checks each rank's
 * proof of the secret (HMAC challenge/response, never the secret in clear), and
 * then serves all-gathers and barriers, and relays an ABORT from one rank to all
 * others. It ends when every rank has closed its connection.
 */
#ifndef HALO_BOOTSTRAP_H
#define HALO_BOOTSTRAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "haloccl.h"
#include "socket.h"

struct halo_comm;
struct halo_params;

#define HALO_SECRET_BYTES 32
#define HALO_UID_MAGIC 0x48414c4fu /* "HALO" */

/* Layout of haloUniqueId.internal (private to the library, little-endian host order). */
struct halo_uid {
    uint32_t magic;
    uint32_t version;              /* HALO_VERSION_CODE of the creator */
    uint64_t job_id;               /* random */
    uint8_t secret[HALO_SECRET_BYTES];
    uint8_t authenticated;         /* 0: job runs without a secret (InitEnv without HALO_SECRET) */
    uint8_t pad[7];
    struct halo_sockaddr root;
};
_Static_assert(sizeof(struct halo_uid) <= HALO_UNIQUE_ID_BYTES, "uid must fit haloUniqueId");

/* Creates the id and starts the root service listening on the interface chosen by
 * HALO_SOCKET_IFNAME (or on `bind_addr` when not NULL, for InitEnv). */
haloResult_t bootstrap_root_start(haloUniqueId *id, const struct halo_params *params,
                                  const struct sockaddr_storage *bind_addr, int nranks_hint);
/* Starts the root service for an id built with bootstrap_uid_from_addr (rank 0 of
 * InitEnv: every rank derives the same secret and job id from HALO_SECRET and
 * HALO_ROOT). Listens on the id's address and port, which must be this host's. */
haloResult_t bootstrap_root_serve(const haloUniqueId *id, const struct halo_params *params, int nranks_hint);
/* Fills id from HALO_ROOT-style parts without starting anything (non-root ranks of InitEnv). */
haloResult_t bootstrap_uid_from_addr(haloUniqueId *id, const struct sockaddr_storage *root,
                                     const uint8_t secret[HALO_SECRET_BYTES], int authenticated,
                                     uint64_t job_id);
/* Decodes and validates an id (magic, version, address family). */
haloResult_t bootstrap_uid_decode(const haloUniqueId *id, struct halo_uid *out);

struct halo_bootstrap;

/* Connects to the root and authenticates; retries until HALO_TIMEOUT_MS. On failure
 * the error names the root address, the local interface, how long it tried and
 * what to set. */
haloResult_t bootstrap_connect(struct halo_bootstrap **bs, const haloUniqueId *id, int rank, int nranks,
                               const struct halo_params *params, struct halo_comm *comm);
/* data holds nranks * size bytes; this rank's slot (rank*size) is sent, all are filled. */
haloResult_t bootstrap_allgather(struct halo_bootstrap *bs, void *data, size_t size);
haloResult_t bootstrap_barrier(struct halo_bootstrap *bs);
/* Tells the root to relay an abort message to every other rank. Best effort. */
void bootstrap_send_abort(struct halo_bootstrap *bs, const char *msg);
/* For haloCommAbort, from any thread: a thread blocked reading from the root (an
 * all-gather of haloCommSplit) wakes at once and fails with haloRemoteError
 * naming the abort; later reads fail the same way. Sending (an ABORT sent before,
 * the goodbye of bootstrap_close) still works. */
void bootstrap_interrupt(struct halo_bootstrap *bs);
/* Non-blocking: when another rank aborted or the root vanished, the failure's
 * result (the aborting rank's code where it sent one) and msg filled (without the
 * code); haloSuccess otherwise. */
haloResult_t bootstrap_poll_abort(struct halo_bootstrap *bs, char *msg, size_t msglen);
/* Where a rank waits, told to the others through the root once a wait is long
 * (engine.c): for naming the rank that stopped and for two sends that wait on
 * each other. Cheap: one small frame when a wait passes the threshold, one when
 * it ends. */
enum boot_note_state {
    BOOT_NOTE_NONE = 0,     /* not waiting (or never said) */
    BOOT_NOTE_WAIT = 1,     /* waiting for peer inside a collective */
    BOOT_NOTE_P2P_SEND = 2, /* waiting in a send to peer outside a group */
    BOOT_NOTE_P2P_RECV = 3  /* waiting in a receive from peer */
};
/* Any thread; best effort (a lost note only makes a message less precise). */
void bootstrap_send_note(struct halo_bootstrap *bs, enum boot_note_state state, int peer, uint32_t opseq);
/* The latest note of rank (read by bootstrap_poll_abort and the all-gathers). */
enum boot_note_state bootstrap_peer_note(struct halo_bootstrap *bs, int rank, int *peer);
/* The local address this rank used to reach the root (to choose data interfaces). */
const struct sockaddr_storage *bootstrap_local_addr(const struct halo_bootstrap *bs);
const uint8_t *bootstrap_secret(const struct halo_bootstrap *bs);
uint64_t bootstrap_job_id(const struct halo_bootstrap *bs);
/* Says goodbye to the root and frees bs. wait_root: when this process serves the
 * job's root, first wait (bounded) until every other rank left it: the root dies
 * with this process, and a rank still finishing its last collective would take
 * the closed bootstrap connection for an abort. Only for a healthy job. */
void bootstrap_close(struct halo_bootstrap *bs, int wait_root);
/* The root of job_id that this process serves: a rank of this process opened
 * (delta 1) or closed (-1) its connection to it; 0 when this process serves no
 * such root. bootstrap_root_wait waits, at most bound_us, until no rank of another
 * process is connected to it; 1 when some still are. */
int bootstrap_root_local(uint64_t job_id, int delta);
int bootstrap_root_wait(uint64_t job_id, int64_t bound_us);

#endif
