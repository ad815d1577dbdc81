/* SPDX-License-Identifier: MIT */
/*
 * ib_qp.c — the resources of one ib connection, in setup order: the device its
 * rdma_cm id found (PD, HALO_IB_HCA check, port logged once), the registered
 * receive and send regions, the CQ and the RC QP with receives posted; and, for
 * HALO_IB_GID_INDEX, the QP moved through INIT/RTR/RTS by haloccl rather than by
 * librdmacm (see ib_handshake.c's protocol comment).
 */
#define HALO_IB_INTERNAL
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "auth.h"
#include "ib.h"
#include "ib_setup.h"
#include "log.h"

#ifdef HALO_IB_HEADERS

/* ---- resources of one connection ---- */

static haloResult_t ib_reg_fail(struct ib_conn *c, const char *what, size_t bytes, int err)
{
    if (err == ENOMEM || err == EPERM || err == EAGAIN) {
        char lim[48];
        return ib_conn_fail(c, haloSystemError,
                            "ibv_reg_mr of %zu bytes (%s) on %s failed: %s. Registered memory is pinned and "
                            "counts against the locked-memory limit, now %s: raise it (`ulimit -l unlimited`; "
                            "memlock in /etc/security/limits.conf; LimitMEMLOCK=infinity for systemd services; "
                            "--ulimit memlock=-1 for containers)",
                            bytes, what, c->dev->name, strerror(err), ib_memlock_str(lim, sizeof(lim)));
    }
    return ib_conn_fail(c, haloSystemError, "ibv_reg_mr of %zu bytes (%s) on %s failed: %s", bytes, what,
                        c->dev->name, strerror(err));
}

static size_t ib_round(size_t v, size_t to)
{
    return (v + to - 1) / to * to;
}

/* Registered memory; CQ and QP come later, on the id that will carry them. */
static haloResult_t ib_conn_alloc(struct ib_conn *c, struct ib_dev *dev)
{
    const struct ib_api *api = ib_api();
    c->dev = dev;
    c->stride = ib_round(IB_HDR_BYTES + c->base.slot_size, 64);
    c->rx_bytes = ib_round(IB_REGION_BYTES(c->nslots, c->stride), 4096);
    c->tx_bytes = c->rx_bytes;
    if (posix_memalign((void **)&c->rx, 4096, c->rx_bytes) != 0 ||
        posix_memalign((void **)&c->tx, 4096, c->tx_bytes) != 0)
        return ib_conn_fail(c, haloSystemError, "out of memory for %zu-byte slot rings", c->rx_bytes);
    memset(c->rx, 0, c->rx_bytes);
    memset(c->tx, 0, c->tx_bytes);
    c->rx_mr = api->reg_mr(dev->pd, c->rx, c->rx_bytes, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
    if (!c->rx_mr)
        return ib_reg_fail(c, "receive slots", c->rx_bytes, errno);
    c->tx_mr = api->reg_mr(dev->pd, c->tx, c->tx_bytes, IBV_ACCESS_LOCAL_WRITE);
    if (!c->tx_mr)
        return ib_reg_fail(c, "send staging", c->tx_bytes, errno);
    return haloSuccess;
}

/* CQ and RC QP on id, receives posted. Asks for inline data, less if the device
 * refuses. A fresh CQ per attempt: a rejected attempt leaves flushed completions. */
haloResult_t ib_conn_qp(struct ib_conn *c, struct rdma_cm_id *id)
{
    const struct ib_api *api = ib_api();
    static const uint32_t inl[] = {256, 128, 64, 0};
    /* Also the extra QPs' signalled zero-copy pieces (HALO_IB_QPS_PER_PEER). */
    int cqe = (int)IB_CQ_DEPTH(c->nslots);
    if (!c->cq_ch) {
        c->cq_ch = api->create_comp_channel(c->dev->ctx);
        if (!c->cq_ch || ib_set_nonblock(c->cq_ch->fd) != 0)
            return ib_conn_fail(c, haloSystemError, "ibv_create_comp_channel on %s: %s", c->dev->name,
                                strerror(errno));
    }
    c->cq_armed = 0;
    c->cq = api->create_cq(c->dev->ctx, cqe, c, c->cq_ch, 0);
    if (!c->cq)
        return ib_conn_fail(c, haloSystemError, "ibv_create_cq(%d entries) on %s: %s", cqe, c->dev->name,
                            strerror(errno));
    int err = 0;
    for (size_t i = 0; i < sizeof(inl) / sizeof(inl[0]); i++) {
        struct ibv_qp_init_attr a = {
            .qp_context = c,
            .send_cq = c->cq,
            .recv_cq = c->cq,
            .qp_type = IBV_QPT_RC,
            .cap = {.max_send_wr = IB_SQ_DEPTH(c->nslots), .max_recv_wr = IB_RQ_DEPTH(c->nslots),
                    .max_send_sge = 1, .max_recv_sge = 1, .max_inline_data = inl[i]},
        };
        if (api->create_qp(id, c->dev->pd, &a) == 0) {
            c->qp = id->qp;
            c->max_inline = a.cap.max_inline_data;
            /* Frames, grants and zero-copy messages each consume a receive (credit
             * writes carry no immediate and consume none); while this rank does
             * not poll, up to nslots frames and IB_ZC_RING of the others can
             * arrive (more only RNR-wait). */
            return ib_conn_post_recvs(c, (int)IB_RQ_DEPTH(c->nslots));
        }
        err = errno;
    }
    return ib_conn_fail(c, haloSystemError, "rdma_create_qp (RC, %u send / %u receive WRs) on %s: %s",
                        IB_SQ_DEPTH(c->nslots), IB_RQ_DEPTH(c->nslots), c->dev->name, strerror(err));
}

struct ib_conn *ib_conn_new(struct halo_ib *ib, int peer, int ch, const struct halo_ib_peer_info *pi)
{
    struct ib_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->base.ops = &halo_ib_ops;
    c->base.ctx = ib->ctx;
    c->base.peer = peer;
    c->base.channel = ch;
    c->base.slot_size = ib->cfg.slot_size;
    c->nslots = ib->cfg.nslots;
    c->base.zc_max = IB_ZC_MAX;
    char addr[80];
    int n = snprintf(c->desc, sizeof(c->desc), "peer %d (%s", peer, ib_addr_str(&pi->addr, addr, sizeof(addr)));
    if (pi->dev[0])
        n += snprintf(c->desc + n, sizeof(c->desc) - (size_t)n, " on %s port %u", pi->dev, pi->port);
    snprintf(c->desc + n, sizeof(c->desc) - (size_t)n, "), channel %d", ch);
    return c;
}

/* Device, port, GID, MTU and speed at INFO, once per port: with a wildcard
 * listener they are only known when the first connection's id finds its device. */
static void ib_port_log(struct halo_ib *ib, struct ib_dev *dev, struct rdma_cm_id *id,
                        const struct ib_gid_sel *sel)
{
    const struct ib_api *api = ib_api();
    unsigned bit = 1u << (id->port_num & 31);
    if ((dev->ports_logged & bit) || !halo_log_enabled(HALO_LOG_INFO, HALO_SUB_NET))
        return;
    dev->ports_logged |= bit;
    struct ibv_port_attr pa;
    memset(&pa, 0, sizeof(pa));
    if (api->query_port(id->verbs, id->port_num, &pa) != 0)
        return;
    char gid[64], speed[64], src[80];
    struct halo_sockaddr a;
    halo_sockaddr_from(&a, rdma_get_local_addr(id));
    HLOG_INFO(HALO_SUB_NET, ib_rank(ib), "ib: using %s port %u for %s: GID %s (index %d%s), MTU %d (max %d), %s",
              dev->name, id->port_num, ib_ip_str(&a, src, sizeof(src)), ib_gid_str(&sel->gid, gid, sizeof(gid)),
              sel->index, sel->forced ? ", HALO_IB_GID_INDEX" : "", ib_mtu_bytes(pa.active_mtu),
              ib_mtu_bytes(pa.max_mtu), ib_port_speed_str(&pa, speed, sizeof(speed)));
}

/* The source GID of a connection on id (ib_gid_pick); the failure is the connection's. */
haloResult_t ib_gid_select(struct halo_ib *ib, struct ib_conn *c, struct rdma_cm_id *id,
                           struct ib_gid_sel *sel)
{
    char why[700];
    haloResult_t r = ib_gid_pick(ib, id->verbs, id->port_num, &id->route.addr.addr.ibaddr.sgid, sel, why,
                                 sizeof(why));
    return r == haloSuccess ? r : ib_conn_fail(c, r, "%s", why);
}

/* The id found its device: check HALO_IB_HCA, take the device's PD, name it (and a
 * forced GID index) in the connection's description. */
haloResult_t ib_conn_bind_dev(struct halo_ib *ib, struct ib_conn *c, struct rdma_cm_id *id,
                              const struct ib_gid_sel *sel)
{
    const struct ib_api *api = ib_api();
    const char *name = api->get_device_name(id->verbs->device);
    if (!ib_hca_match(ib->cfg.hca, name, id->port_num))
        return ib_conn_fail(c, haloInvalidArgument,
                            "the route to it uses %s port %u, which HALO_IB_HCA=%s excludes: change HALO_IB_HCA or "
                            "the addresses", name, id->port_num, ib->cfg.hca);
    if (c->dev)
        return c->dev->ctx == id->verbs
                   ? haloSuccess
                   : ib_conn_fail(c, haloSystemError, "the route to the peer moved to another RDMA device");
    struct ib_dev *dev = ib_dev_get(ib, id->verbs);
    if (!dev)
        return ib_conn_fail(c, haloSystemError, "ibv_alloc_pd on %s: %s", name, strerror(errno));
    ib_port_log(ib, dev, id, sel);
    size_t used = strlen(c->desc);
    snprintf(c->desc + used, sizeof(c->desc) - used, ", local %s port %u", name, id->port_num);
    if (sel->forced) {
        used = strlen(c->desc);
        snprintf(c->desc + used, sizeof(c->desc) - used, " GID index %d", sel->index);
    }
    return ib_conn_alloc(c, dev);
}

void ib_conn_established(struct ib_conn *c)
{
    c->established = 1;
    char qp[32];
    snprintf(qp, sizeof(qp), ", qp 0x%x", c->qp->qp_num);
    size_t used = strlen(c->desc);
    snprintf(c->desc + used, sizeof(c->desc) - used, "%s", qp);
    HLOG_INFO(HALO_SUB_NET, halo_tp_rank(c->base.ctx),
              "ib: connected to %s, %d slots of %zu bytes, inline up to %u bytes", c->desc, c->nslots,
              c->base.slot_size, c->max_inline);
}

/* ---- HALO_IB_GID_INDEX: the QP moved by haloccl, not by librdmacm ---- */

/* librdmacm moves an id's QP to RTR and RTS itself (rdma_accept, the connect's
 * answer) when id->qp is set; with it NULL it leaves the QP alone and sends
 * conn_param's qp_num (rdma_establish(3): "if a QP has not been created on the
 * rdma_cm_id"). Attached again once connected or failed: rdma_disconnect moves an
 * attached QP to ERR and rdma_destroy_qp destroys it (ib_conn_destroy). */
void ib_qp_detach(struct ib_conn *c, struct rdma_cm_id *id, struct rdma_conn_param *p)
{
    p->qp_num = c->qp->qp_num;
    id->qp = NULL;
}

void ib_qp_attach(struct ib_conn *c, struct rdma_cm_id *id)
{
    id->qp = c->qp;
}

/* INIT (again, as librdmacm does), RTR, RTS with the attributes rdma_cm gives, but
 * source GID index sel->index when forced and, when dgid is given, that destination
 * GID (the one the peer's QP sends from). p: the passive side's conn_param, whose
 * rd_atomic depths rdma_accept would apply; NULL on the active side (the REP's). */
haloResult_t ib_qp_ready(struct ib_conn *c, struct rdma_cm_id *id, const struct ib_gid_sel *sel,
                         const union ibv_gid *dgid, const struct rdma_conn_param *p)
{
    const struct ib_api *api = ib_api();
    static const enum ibv_qp_state steps[] = {IBV_QPS_INIT, IBV_QPS_RTR, IBV_QPS_RTS};
    static const char *const names[] = {"INIT", "RTR", "RTS"};
    for (int i = 0; i < 3; i++) {
        struct ibv_qp_attr a;
        int mask = 0;
        memset(&a, 0, sizeof(a));
        a.qp_state = steps[i];
        if (api->init_qp_attr(id, &a, &mask) != 0)
            return ib_conn_fail(c, haloSystemError, "rdma_init_qp_attr(%s): %s", names[i], strerror(errno));
        if (steps[i] == IBV_QPS_RTR) {
            if (sel->forced)
                a.ah_attr.grh.sgid_index = (uint8_t)sel->index;
            if (dgid)
                a.ah_attr.grh.dgid = *dgid;
            if (p)
                a.max_dest_rd_atomic = p->responder_resources;
        }
        if (steps[i] == IBV_QPS_RTS && p)
            a.max_rd_atomic = p->initiator_depth;
        int rc = api->modify_qp(c->qp, &a, mask);
        if (rc != 0) {
            char g[64];
            return ib_conn_fail(c, haloSystemError,
                                "ibv_modify_qp to %s (source GID index %u, destination GID %s): %s", names[i],
                                a.ah_attr.grh.sgid_index, ib_gid_str(&a.ah_attr.grh.dgid, g, sizeof(g)),
                                strerror(rc));
        }
    }
    return haloSuccess;
}

#endif
