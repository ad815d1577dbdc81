/* SPDX-License-Identifier: MIT */
/*
 * ib_caps.c — can an RDMA device carry this job's ib connections? What the device
 * offers (ibv_query_device and a throwaway RC QP: ib_device_caps) against what
 * ib_qp.c would create on it (ib_caps_needs), judged by a pure function
 * (ib_caps_unfit) that the unit test drives without hardware.
 *
 * A device can be an RDMA device and still not be one ib can use: a USB4 or
 * embedded RDMA engine that offers unreliable-connection QPs only, or one queue
 * pair, or queues shorter than the slot ring. Without this check such a link
 * would fail at connection time with an errno; with it, auto takes tcp on that
 * link with a WARN, and HALO_TRANSPORT=ib fails init naming the device, the port
 * and the missing capability (ib_select.c, from the link's rdma_unfit).
 */
#define HALO_IB_INTERNAL
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ib.h"

void ib_caps_needs(int nslots, int nconns, int qps_per_conn, struct halo_ib_needs *out)
{
    uint64_t conns = nconns > 0 ? (uint64_t)nconns : 0;
    uint64_t qps = qps_per_conn > 0 ? (uint64_t)qps_per_conn : 1;
    uint32_t sq = IB_SQ_DEPTH(nslots), rq = IB_RQ_DEPTH(nslots);
    memset(out, 0, sizeof(*out));
    out->nconns = (int)conns;
    out->qps = (uint32_t)(conns * qps > UINT32_MAX ? UINT32_MAX : conns * qps);
    out->cqs = (uint32_t)conns;
    out->qp_wr = sq > rq ? sq : rq;
    out->cqe = IB_CQ_DEPTH(nslots);
    out->sge = 1;
    out->mrs = (uint32_t)(conns * (2 + IB_TMP_MRS) > UINT32_MAX ? UINT32_MAX : conns * (2 + IB_TMP_MRS));
}

/* One limit of the device against the job's need, and the words for it. */
struct ib_cap_row {
    uint32_t have, need;
    const char *verb;        /* "offers", "takes" */
    const char *one, *many;  /* the unit, singular and plural */
    const char *per;         /* " per queue pair", or "" */
    int per_job;             /* the need counts this job's connections (else ib's own) */
};

const char *ib_caps_unfit(const struct halo_ib_caps *have, const struct halo_ib_needs *need, int port, char *buf,
                          size_t len)
{
    const struct ib_cap_row rows[] = {
        {have->max_qp, need->qps, "offers", "queue pair", "queue pairs", "", 1},
        {have->max_cq, need->cqs, "offers", "completion queue", "completion queues", "", 1},
        {have->max_qp_wr, need->qp_wr, "takes", "work request", "work requests", " per queue pair", 0},
        {have->max_cqe, need->cqe, "takes", "entry", "entries", " per completion queue", 0},
        {have->max_sge, need->sge, "takes", "scatter/gather entry", "scatter/gather entries", " per work request", 0},
        {have->max_mr, need->mrs, "registers", "memory region", "memory regions", "", 1},
    };

    if (!have->rc_ok) {
        if (have->rc_errno)
            snprintf(buf, len, "port %d cannot create a reliable-connection (RC) queue pair (%s), which ib needs",
                     port, strerror(have->rc_errno));
        else
            snprintf(buf, len, "port %d cannot create a reliable-connection (RC) queue pair, which ib needs",
                     port);
        return buf;
    }
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        if (rows[r].have >= rows[r].need)
            continue;
        snprintf(buf, len, "port %d %s %u %s%s, %s %u%s", port, rows[r].verb, rows[r].have,
                 rows[r].have == 1 ? rows[r].one : rows[r].many, rows[r].per,
                 rows[r].per_job ? "this job needs" : "ib needs", rows[r].need, rows[r].per_job ? " there" : "");
        return buf;
    }
    return NULL;
}

#ifdef HALO_IB_HEADERS

int ib_device_caps(const char *dev, int port, struct halo_ib_caps *out, char *why, size_t len)
{
    memset(out, 0, sizeof(*out));
    snprintf(why, len, "no RDMA device %s", dev);
    if (!ib_supported())
        return snprintf(why, len, "%s", ib_unsupported_reason()), -1;
    const struct ib_api *api = ib_api();
    int n = 0, found = -1;
    struct ibv_context **ctxs = api->get_devices(&n);
    for (int i = 0; ctxs && i < n && found < 0; i++) {
        if (strcmp(api->get_device_name(ctxs[i]->device), dev) != 0)
            continue;
        struct ibv_context *ctx = ctxs[i];
        struct ibv_device_attr da;
        memset(&da, 0, sizeof(da));
        if (api->query_device(ctx, &da) != 0) {
            snprintf(why, len, "ibv_query_device(%s): %s", dev, strerror(errno));
            break;
        }
        if (port < 1 || port > da.phys_port_cnt) {
            snprintf(why, len, "%s has no port %d", dev, port);
            break;
        }
        found = 0;
        out->max_qp = da.max_qp > 0 ? (uint32_t)da.max_qp : 0;
        out->max_cq = da.max_cq > 0 ? (uint32_t)da.max_cq : 0;
        out->max_qp_wr = da.max_qp_wr > 0 ? (uint32_t)da.max_qp_wr : 0;
        out->max_cqe = da.max_cqe > 0 ? (uint32_t)da.max_cqe : 0;
        out->max_sge = da.max_sge > 0 ? (uint32_t)da.max_sge : 0;
        out->max_mr = da.max_mr > 0 ? (uint32_t)da.max_mr : 0;
        /* One RC QP of the smallest size, on its own PD and CQ: the query's numbers
         * say nothing about which QP types the device has. */
        struct ibv_pd *pd = api->alloc_pd(ctx);
        struct ibv_cq *cq = pd ? api->create_cq(ctx, 2, NULL, NULL, 0) : NULL;
        struct ibv_qp *qp = NULL;
        if (cq) {
            struct ibv_qp_init_attr a = {
                .send_cq = cq,
                .recv_cq = cq,
                .qp_type = IBV_QPT_RC,
                .cap = {.max_send_wr = 1, .max_recv_wr = 1, .max_send_sge = 1, .max_recv_sge = 1},
            };
            qp = api->create_qp_verbs(pd, &a);
        }
        out->rc_errno = qp ? 0 : errno;
        out->rc_ok = qp != NULL;
        if (qp)
            api->destroy_qp_verbs(qp);
        if (cq)
            api->destroy_cq(cq);
        if (pd)
            api->dealloc_pd(pd);
    }
    if (ctxs)
        api->free_devices(ctxs);
    return found;
}

#else /* !HALO_IB_HEADERS */

int ib_device_caps(const char *dev, int port, struct halo_ib_caps *out, char *why, size_t len)
{
    (void)dev;
    (void)port;
    memset(out, 0, sizeof(*out));
    snprintf(why, len, "%s", ib_unsupported_reason());
    return -1;
}

#endif
