/* SPDX-License-Identifier: MIT */
/*
 * ib_setup.h — shared by the three files of ib's connection setup, and private to
 * them: ib_listen.c (the per-communicator context, its listener and devices),
 * ib_qp.c (a connection's registered regions, CQ and QP) and ib_handshake.c
 * (rdma_cm connect/accept with proofs of the job secret). Include after ib.h with
 * HALO_IB_INTERNAL defined.
 */
#ifndef HALO_IB_SETUP_H
#define HALO_IB_SETUP_H

#ifdef HALO_IB_HEADERS
#include <sodium.h>

#include "auth.h"

#define IB_BACKLOG 1024

/* The source GID of one connection: HALO_IB_GID_INDEX's entry, or rdma_cm's. */
struct ib_gid_sel {
    int forced;        /* 1: HALO_IB_GID_INDEX; the QP is moved by ib_qp_ready */
    int index;         /* its index (-1 if rdma_cm's GID is not found in the table) */
    union ibv_gid gid;
    uint32_t ifindex;  /* netdev of a forced GID (scope of a link-local address) */
};
_Static_assert(crypto_auth_hmacsha256_KEYBYTES == HALO_AUTH_KEY_BYTES, "HMAC key size");

struct halo_ib {
    struct halo_tp_ctx *ctx;
    int rank, nranks;
    int nchannels;                 /* set by ib_connect_all */
    struct halo_ib_config cfg;
    uint8_t key[HALO_AUTH_KEY_BYTES];
    int have_key;
    struct rdma_event_channel *listen_ch;
    struct rdma_cm_id *listen_id;
    struct halo_ib_peer_info me;
    char ifname[32];
    struct ib_dev *devs;
    uint64_t warned_links[32];     /* links already named in a tcp-fallback WARN (hashes) */
    int nwarned;
};


/* ---- ib_listen.c ---- */
int ib_addr_is_any(const struct halo_sockaddr *a);
const char *ib_addr_str(const struct halo_sockaddr *a, char *buf, size_t len);
struct ib_dev *ib_dev_get(struct halo_ib *ib, struct ibv_context *ctx);
/* Records "rank R: ib: <sentence>" with the context's error sink; returns res. */
haloResult_t ib_fail(struct halo_ib *ib, haloResult_t res, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The GID a QP on ctx's port sends from: HALO_IB_GID_INDEX's entry when it is set
 * (checked, and of the family of cm_gid, the GID rdma_cm bound: an IPv6 GID cannot
 * carry an IPv4 connection), else cm_gid. haloSuccess, or the failure with a
 * sentence in why. */
haloResult_t ib_gid_pick(const struct halo_ib *ib, struct ibv_context *ctx, int port,
                         const union ibv_gid *cm_gid, struct ib_gid_sel *sel, char *why, size_t len);
/* The address without its port, for messages about interfaces. */
const char *ib_ip_str(const struct halo_sockaddr *a, char *buf, size_t len);
int ib_rank(const struct halo_ib *ib);
int ib_set_nonblock(int fd);
/* "rxe0 port 1", or "any RDMA device" for a wildcard listener. */
const char *ib_where(const struct halo_ib *ib, char *buf, size_t len);

/* ---- ib_qp.c ---- */
/* The id found its device: check HALO_IB_HCA, take the device's PD, name it (and a
 * forced GID index) in the connection's description. */
haloResult_t ib_conn_bind_dev(struct halo_ib *ib, struct ib_conn *c, struct rdma_cm_id *id,
                              const struct ib_gid_sel *sel);
void ib_conn_established(struct ib_conn *c);
struct ib_conn *ib_conn_new(struct halo_ib *ib, int peer, int ch, const struct halo_ib_peer_info *pi);
/* CQ and RC QP on id, receives posted. Asks for inline data, less if the device
 * refuses. A fresh CQ per attempt: a rejected attempt leaves flushed completions. */
haloResult_t ib_conn_qp(struct ib_conn *c, struct rdma_cm_id *id);
/* The source GID of a connection on id (ib_gid_pick); the failure is the connection's. */
haloResult_t ib_gid_select(struct halo_ib *ib, struct ib_conn *c, struct rdma_cm_id *id,
                           struct ib_gid_sel *sel);
void ib_qp_attach(struct ib_conn *c, struct rdma_cm_id *id);
/* librdmacm moves an id's QP to RTR and RTS itself (rdma_accept, the connect's
 * answer) when id->qp is set; with it NULL it leaves the QP alone and sends
 * conn_param's qp_num (rdma_establish(3): "if a QP has not been created on the
 * rdma_cm_id"). Attached again once connected or failed: rdma_disconnect moves an
 * attached QP to ERR and rdma_destroy_qp destroys it (ib_conn_destroy). */
void ib_qp_detach(struct ib_conn *c, struct rdma_cm_id *id, struct rdma_conn_param *p);
/* INIT (again, as librdmacm does), RTR, RTS with the attributes rdma_cm gives, but
 * source GID index sel->index when forced and, when dgid is given, that destination
 * GID (the one the peer's QP sends from). p: the passive side's conn_param, whose
 * rd_atomic depths rdma_accept would apply; NULL on the active side (the REP's). */
haloResult_t ib_qp_ready(struct ib_conn *c, struct rdma_cm_id *id, const struct ib_gid_sel *sel,
                         const union ibv_gid *dgid, const struct rdma_conn_param *p);

#endif /* HALO_IB_HEADERS */
#endif
