/* SPDX-License-Identifier: MIT */
/*
 * ib_handshake.c — the ib transport's connection handshake: the all-to-all
 * rdma_cm connect/accept with proofs of the job secret (the listener is in
 * ib_listen.c, a connection's QP and regions in ib_qp.c, the data path in
 * ib_conn.c).
 *
 * Sequence for each pair of ranks lo < hi that use ib, per channel ch:
 *   lo       ib_listen_start: rdma_cm id bound to the data IP, listening; the
 *            all-gather publishes its address, device and a fresh 16-byte nonce
 *   hi       resolve_addr (from hi's own data IP) -> resolve_route -> QP, MRs, CQ,
 *            receives posted -> rdma_connect with a REQ in the private data:
 *            {from = hi, to = lo, channel, slot_size, nslots, hi's rx addr/rkey,
 *             mac_c = HMAC(key, "C" ctx 0 nonce_lo REQ-fields)[0..16)}
 *   lo       CONNECT_REQUEST: checks the REQ (job, ranks, sizes, mac_c), builds the
 *            connection and rdma_accept with a REP: {lo's rx addr/rkey, lo's source GID,
 *            mac_s = HMAC(key, "S" ctx 0 mac_c GID REP-fields)[0..16)}
 *            or rdma_reject with {kind = REJ, reason}
 *   both     ESTABLISHED; hi checks mac_s. ctx = "ib:<lo>:<hi>:<ch>:<job id hex>".
 * rdma_cm picks the RoCE v2 GID bound to the interface's IP whatever the table order.
 * The private data of a RoCE connect holds 56 bytes: struct ib_wire is exactly that;
 * a REP holds 196, room for the GID.
 *
 * HALO_IB_GID_INDEX=N (ib_gid_select) takes the QP out of rdma_cm's hands: the QP
 * is created on the id (INIT) but detached from it (id->qp = NULL) while the
 * connection is made, so librdmacm moves it through no state; ib_qp_ready moves it
 * with rdma_init_qp_attr's attributes but source GID index N, and it is attached
 * again once connected, for rdma_disconnect and rdma_destroy_qp. The GIDs stay
 * consistent on both ends this way:
 *   hi forces N  hi resolves from GID N's IP, so rdma_cm names GID N in the REQ and
 *                lo's route (so lo's QP) sends to it; hi's QP sends from N
 *   lo forces N  lo's QP sends from N and its REP names GID N; hi, told by the
 *                all-gather (gid_forced), detaches too and sends to the REP's GID
 *                rather than to the route's (the GID of the IP it dialled)
 *   hi then answers CONNECT_RESPONSE with rdma_establish (the RTU).
 * A listener bound to the wildcard serves every RDMA device (a rank with several
 * links); each connection then finds its device when its id resolves or arrives.
 *
 * Ordering as in tcp: every rank connects to all lower ranks, then accepts from all
 * higher ones; a rank only waits on lower ones and rank 0 accepts at once, so this
 * cannot deadlock. A connect that finds no listener yet (REJECTED by the CM,
 * UNREACHABLE) is retried until the deadline.
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

#define IB_WIRE_MAGIC 0x42494c48u /* "HLIB" */
#define IB_WIRE_VERSION 2 /* 2: the REP carries the GID */
#define IB_MAC_BYTES 16
#define IB_RESOLVE_MS 2000
#define IB_RETRY_US 200000

enum ib_wire_kind { IB_WIRE_REQ = 1, IB_WIRE_REP = 2, IB_WIRE_REJ = 3 };
enum ib_rej_reason {
    IB_REJ_PROOF = 1, IB_REJ_UNEXPECTED = 2, IB_REJ_CONFIG = 3, IB_REJ_RESOURCES = 4, IB_REJ_GID = 5
};

/* rdma_cm private data of REQ, REP and REJ. Host byte order (one architecture per
 * cluster); 56 bytes, the most a RoCE connect request carries. */
struct ib_wire {
    uint32_t magic;          /* IB_WIRE_MAGIC */
    uint8_t version;         /* IB_WIRE_VERSION */
    uint8_t kind;            /* enum ib_wire_kind */
    uint16_t channel;
    int32_t from, to;        /* ranks: sender of this message, intended receiver */
    uint32_t slot_size;      /* payload bytes per slot: must agree */
    uint16_t nslots;         /* must agree */
    uint16_t reason;         /* REJ: enum ib_rej_reason */
    uint64_t addr;           /* sender's receive region (slots, then credit word) */
    uint32_t rkey;           /* ... and its rkey */
    uint8_t mac[IB_MAC_BYTES];
    uint32_t pad;
};
_Static_assert(sizeof(struct ib_wire) == 56, "ib_wire must fit a RoCE connect's 56 private bytes");

/* A REP: the wire, then the GID the replying side's QP sends from (its
 * HALO_IB_GID_INDEX entry, or rdma_cm's), covered by mac_s. */
struct ib_wire_rep {
    struct ib_wire w;
    uint8_t gid[16];
};
_Static_assert(sizeof(struct ib_wire_rep) <= 196, "a REP carries 196 private bytes");

/* Waits for the next event on ch until deadline_us. 0, or -1 with errno
 * (ETIMEDOUT when the deadline passed). */
static int ib_cm_wait(struct rdma_event_channel *ch, int64_t deadline_us, struct rdma_cm_event **ev)
{
    const struct ib_api *api = ib_api();
    for (;;) {
        if (api->get_cm_event(ch, ev) == 0)
            return 0;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        int64_t left = deadline_us - halo_now_us();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd pfd = {.fd = ch->fd, .events = POLLIN};
        int ms = (int)(left / 1000 + 1);
        poll(&pfd, 1, ms > 100 ? 100 : ms);
    }
}

static void ib_ctx_str(const struct halo_ib *ib, int a, int b, int ch, char *buf, size_t len)
{
    snprintf(buf, len, "ib:%d:%d:%d:%016llx", a < b ? a : b, a < b ? b : a, ch,
             (unsigned long long)ib->cfg.job_id);
}

/* mac = HMAC-SHA256(key, label ctx '\0' extra wire-without-mac)[0..16), from
 * libsodium like the bootstrap's proofs. */
static void ib_mac(const struct halo_ib *ib, char label, const char *ctx, const uint8_t *extra, size_t extra_len,
                   const struct ib_wire *w, uint8_t mac[IB_MAC_BYTES])
{
    memset(mac, 0, IB_MAC_BYTES);
    if (!ib->have_key)
        return;
    uint8_t msg[512];
    size_t off = 0, clen = strlen(ctx);
    msg[off++] = (uint8_t)label;
    memcpy(msg + off, ctx, clen);
    off += clen;
    msg[off++] = 0;
    memcpy(msg + off, extra, extra_len);
    off += extra_len;
    memcpy(msg + off, w, offsetof(struct ib_wire, mac));
    off += offsetof(struct ib_wire, mac);
    uint8_t full[crypto_auth_hmacsha256_BYTES];
    if (crypto_auth_hmacsha256(full, msg, off, ib->key) == 0)
        memcpy(mac, full, IB_MAC_BYTES);
}

static int ib_mac_ok(const struct halo_ib *ib, const uint8_t a[IB_MAC_BYTES], const uint8_t b[IB_MAC_BYTES])
{
    return !ib->have_key || sodium_memcmp(a, b, IB_MAC_BYTES) == 0;
}

static void ib_wire_fill(const struct halo_ib *ib, const struct ib_conn *c, int kind, int to, struct ib_wire *w)
{
    memset(w, 0, sizeof(*w));
    w->magic = IB_WIRE_MAGIC;
    w->version = IB_WIRE_VERSION;
    w->kind = (uint8_t)kind;
    w->channel = (uint16_t)c->base.channel;
    w->from = ib->rank;
    w->to = to;
    w->slot_size = (uint32_t)ib->cfg.slot_size;
    w->nslots = (uint16_t)ib->cfg.nslots;
    w->addr = (uintptr_t)c->rx;
    w->rkey = c->rx_mr->rkey;
}

static void ib_conn_param(struct rdma_conn_param *p, const void *data, size_t len)
{
    memset(p, 0, sizeof(*p));
    p->private_data = data;
    p->private_data_len = (uint8_t)len;
    p->retry_count = 7;
    p->rnr_retry_count = 7; /* infinite: receives are reposted as soon as polled */
}

/* mac_s of a REP: over the REQ's mac_c, the REP's GID and its fields. */
static void ib_rep_mac(const struct halo_ib *ib, const char *ctx, const uint8_t req_mac[IB_MAC_BYTES],
                       const struct ib_wire_rep *rep, uint8_t mac[IB_MAC_BYTES])
{
    uint8_t extra[IB_MAC_BYTES + sizeof(rep->gid)];
    memcpy(extra, req_mac, IB_MAC_BYTES);
    memcpy(extra + IB_MAC_BYTES, rep->gid, sizeof(rep->gid));
    ib_mac(ib, 'S', ctx, extra, sizeof(extra), &rep->w, mac);
}

/* ---- active side: connect to a lower rank ---- */

/* Drops the id and QP (and CQ) of a failed attempt; memory and MRs stay. */
static void ib_attempt_undo(struct ib_conn *c)
{
    const struct ib_api *api = ib_api();
    if (c->qp)
        api->destroy_qp(c->id);
    c->qp = NULL;
    if (c->id)
        api->destroy_id(c->id);
    c->id = NULL;
    if (c->cq)
        api->destroy_cq(c->cq);
    c->cq = NULL;
}

/* Waits for `want` on the connection's channel and acks it. 0, or -1 with the
 * failure named in why. */
static int ib_expect(struct ib_conn *c, enum rdma_cm_event_type want, int64_t deadline, char *why, size_t whylen)
{
    const struct ib_api *api = ib_api();
    struct rdma_cm_event *ev;
    if (ib_cm_wait(c->cm_ch, deadline, &ev) != 0) {
        snprintf(why, whylen, "no answer (%s)", strerror(errno));
        return -1;
    }
    enum rdma_cm_event_type t = ev->event;
    int status = ev->status;
    api->ack_cm_event(ev);
    if (t == want)
        return 0;
    snprintf(why, whylen, "%s (status %d)", api->event_str(t), status);
    return -1;
}

/* Checks the REP of an ESTABLISHED (or CONNECT_RESPONSE) event; *gid gets the GID
 * the peer's QP sends from. */
static haloResult_t ib_check_rep(struct halo_ib *ib, struct ib_conn *c, const struct ib_wire *req,
                                 const struct rdma_cm_event *ev, union ibv_gid *gid)
{
    struct ib_wire_rep rep;
    if (!ev->param.conn.private_data || ev->param.conn.private_data_len < sizeof(rep))
        return ib_conn_fail(c, haloRemoteError, "the listener accepted without haloccl's reply: is %s another "
                            "program's rdma_cm port?", c->desc);
    memcpy(&rep, ev->param.conn.private_data, sizeof(rep));
    char ctx[96];
    uint8_t mac[IB_MAC_BYTES];
    ib_ctx_str(ib, ib->rank, c->base.peer, c->base.channel, ctx, sizeof(ctx));
    ib_rep_mac(ib, ctx, req->mac, &rep, mac);
    if (rep.w.magic != IB_WIRE_MAGIC || rep.w.kind != IB_WIRE_REP || rep.w.from != c->base.peer ||
        rep.w.to != ib->rank || rep.w.channel != c->base.channel)
        return ib_conn_fail(c, haloRemoteError, "unexpected reply (magic 0x%08x kind %u from rank %d to %d)",
                            rep.w.magic, rep.w.kind, rep.w.from, rep.w.to);
    if (!ib_mac_ok(ib, mac, rep.w.mac))
        return ib_conn_fail(c, haloRemoteError,
                            "the listener's proof of the job secret is wrong: another job (or an impostor) owns "
                            "that address; check HALO_SECRET and the peer table");
    c->remote_addr = rep.w.addr;
    c->remote_rkey = rep.w.rkey;
    memcpy(gid->raw, rep.gid, sizeof(gid->raw));
    return haloSuccess;
}

/* A REJECTED event that carries haloccl's REJ: the listener refused us for good.
 * Returns the failure, or haloSuccess when it is the CM's own reject (no listener
 * on that port yet), which is worth a retry. */
static haloResult_t ib_check_rej(struct ib_conn *c, const struct rdma_cm_event *ev)
{
    struct ib_wire rej;
    if (!ev->param.conn.private_data || ev->param.conn.private_data_len < sizeof(rej))
        return haloSuccess;
    memcpy(&rej, ev->param.conn.private_data, sizeof(rej));
    if (rej.magic != IB_WIRE_MAGIC || rej.kind != IB_WIRE_REJ)
        return haloSuccess;
    return ib_conn_fail(c, haloRemoteError, "rank %d refused the connection: %s", c->base.peer,
                        rej.reason == IB_REJ_PROOF       ? "wrong proof of the job secret (HALO_SECRET differs?)"
                        : rej.reason == IB_REJ_CONFIG    ? "slot size or count differ between the ranks"
                        : rej.reason == IB_REJ_RESOURCES ? "it could not allocate resources (see its log)"
                        : rej.reason == IB_REJ_GID       ? "its HALO_IB_GID_INDEX does not fit this connection"
                                                         : "it did not expect this rank and channel");
}

/* The address of a RoCE v2 GID (IPv4-mapped or IPv6; a link-local one scoped to
 * the GID's netdev), port 0. */
static struct sockaddr *ib_gid_addr(const struct ib_gid_sel *sel, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (ib_gid_is_v4(&sel->gid)) {
        struct sockaddr_in *s = (struct sockaddr_in *)ss;
        s->sin_family = AF_INET;
        memcpy(&s->sin_addr, sel->gid.raw + 12, 4);
    } else {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
        s->sin6_family = AF_INET6;
        memcpy(&s->sin6_addr, sel->gid.raw, 16);
        if (IN6_IS_ADDR_LINKLOCAL(&s->sin6_addr))
            s->sin6_scope_id = sel->ifindex;
    }
    return (struct sockaddr *)ss;
}

/* New id on the connection's channel, address and route resolved from our data IP
 * (or, from != NULL, from that GID's address) to the peer's. 0, or -1 with why
 * (worth a retry: ARP may not have answered yet). */
static int ib_resolve(struct halo_ib *ib, struct ib_conn *c, const struct halo_ib_peer_info *pi,
                      const struct ib_gid_sel *from, int64_t deadline, char *why, size_t whylen)
{
    const struct ib_api *api = ib_api();
    if (api->create_id(c->cm_ch, &c->id, c, RDMA_PS_TCP) != 0) {
        snprintf(why, whylen, "rdma_create_id: %s", strerror(errno));
        return -1;
    }
    /* From our listener's IP, so the bytes take that interface; from wherever the
     * routing says when we listen on every device. */
    struct halo_sockaddr src = ib->me.addr;
    src.port = 0;
    struct sockaddr_storage s, d;
    halo_sockaddr_to(&src, &s);
    halo_sockaddr_to(&pi->addr, &d);
    struct sockaddr *sp = ib_addr_is_any(&src) ? NULL : (struct sockaddr *)&s;
    if (from)
        sp = ib_gid_addr(from, &s);
    if (api->resolve_addr(c->id, sp, (struct sockaddr *)&d, IB_RESOLVE_MS) != 0) {
        snprintf(why, whylen, "rdma_resolve_addr: %s", strerror(errno));
        return -1;
    }
    if (ib_expect(c, RDMA_CM_EVENT_ADDR_RESOLVED, deadline, why, whylen) != 0)
        return -1;
    if (api->resolve_route(c->id, IB_RESOLVE_MS) != 0) {
        snprintf(why, whylen, "rdma_resolve_route: %s", strerror(errno));
        return -1;
    }
    return ib_expect(c, RDMA_CM_EVENT_ROUTE_RESOLVED, deadline, why, whylen);
}

/* The source GID of a connection being made (ib_gid_select). When HALO_IB_GID_INDEX
 * names another GID than the one rdma_cm bound, the id is resolved again from that
 * GID's address: the REQ then names it, so the peer's route, and QP, send to it. */
static haloResult_t ib_connect_gid(struct halo_ib *ib, struct ib_conn *c, const struct halo_ib_peer_info *pi,
                                   int64_t deadline, struct ib_gid_sel *sel, int *retry, char *why, size_t whylen)
{
    haloResult_t r = ib_gid_select(ib, c, c->id, sel);
    const union ibv_gid *bound = &c->id->route.addr.addr.ibaddr.sgid;
    if (r != haloSuccess || !sel->forced || !memcmp(&sel->gid, bound, sizeof(sel->gid)))
        return r;
    struct ibv_context *ctx = c->id->verbs;
    uint8_t port = c->id->port_num;
    ib_attempt_undo(c); /* only the id exists yet */
    *retry = 1;
    if (ib_resolve(ib, c, pi, sel, deadline, why, whylen) != 0)
        return haloRemoteError;
    *retry = 0;
    bound = &c->id->route.addr.addr.ibaddr.sgid;
    if (c->id->verbs == ctx && c->id->port_num == port && !memcmp(&sel->gid, bound, sizeof(sel->gid)))
        return haloSuccess;
    char g[64], b[64];
    return ib_conn_fail(c, haloSystemError,
                        "resolved from the address of HALO_IB_GID_INDEX=%d (GID %s), rdma_cm bound GID %s on %s "
                        "port %u instead; unset HALO_IB_GID_INDEX or pick another index",
                        sel->index, ib_gid_str(&sel->gid, g, sizeof(g)), ib_gid_str(bound, b, sizeof(b)),
                        ib_api()->get_device_name(c->id->verbs->device), c->id->port_num);
}

/* Memory (first attempt only) and a QP on the resolved id. */
static haloResult_t ib_connect_prepare(struct halo_ib *ib, struct ib_conn *c, const struct ib_gid_sel *sel)
{
    haloResult_t r = ib_conn_bind_dev(ib, c, c->id, sel);
    return r != haloSuccess ? r : ib_conn_qp(c, c->id);
}

/* The answer to the connect. Attached QP: ESTABLISHED, librdmacm moved the QP.
 * Detached (manual): CONNECT_RESPONSE; ib_qp_ready sends to the GID of the REP, and
 * rdma_establish sends the RTU. */
static haloResult_t ib_connect_answer(struct halo_ib *ib, struct ib_conn *c, const struct ib_wire *req,
                                      const struct ib_gid_sel *sel, int manual, int64_t deadline, int *retry,
                                      char *why, size_t whylen)
{
    const struct ib_api *api = ib_api();
    struct rdma_cm_event *ev;
    if (ib_cm_wait(c->cm_ch, deadline, &ev) != 0) {
        snprintf(why, whylen, "no answer to the connect (%s)", strerror(errno));
        *retry = 1;
        return haloRemoteError;
    }
    haloResult_t r;
    union ibv_gid gid;
    if (ev->event == (manual ? RDMA_CM_EVENT_CONNECT_RESPONSE : RDMA_CM_EVENT_ESTABLISHED)) {
        r = ib_check_rep(ib, c, req, ev, &gid);
    } else {
        r = ev->event == RDMA_CM_EVENT_REJECTED ? ib_check_rej(c, ev) : haloSuccess;
        if (r == haloSuccess) { /* the CM's reject (no listener yet), unreachable, ... */
            snprintf(why, whylen, "%s (status %d)", api->event_str(ev->event), ev->status);
            *retry = 1;
            r = haloRemoteError;
        }
    }
    api->ack_cm_event(ev);
    if (r == haloSuccess && manual) {
        r = ib_qp_ready(c, c->id, sel, &gid, NULL);
        if (r == haloSuccess && api->establish(c->id) != 0)
            r = ib_conn_fail(c, haloSystemError, "rdma_establish: %s", strerror(errno));
    }
    return r;
}

/* One attempt: resolve, QP, connect with the REQ, check the REP. *retry is set
 * when a later attempt may succeed (no listener yet, no route yet); why says what
 * happened then. The QP is detached (ib_qp_detach) when either end forces its GID. */
static haloResult_t ib_connect_attempt(struct halo_ib *ib, struct ib_conn *c, const struct halo_ib_peer_info *pi,
                                       int64_t deadline, int *retry, char *why, size_t whylen)
{
    const struct ib_api *api = ib_api();
    *retry = 1;
    if (ib_resolve(ib, c, pi, NULL, deadline, why, whylen) != 0)
        return haloRemoteError;
    *retry = 0;
    struct ib_gid_sel sel;
    haloResult_t r = ib_connect_gid(ib, c, pi, deadline, &sel, retry, why, whylen);
    if (r == haloSuccess)
        r = ib_connect_prepare(ib, c, &sel);
    if (r != haloSuccess)
        return r;
    struct ib_wire req;
    char ctx[96];
    ib_wire_fill(ib, c, IB_WIRE_REQ, c->base.peer, &req);
    ib_ctx_str(ib, ib->rank, c->base.peer, c->base.channel, ctx, sizeof(ctx));
    ib_mac(ib, 'C', ctx, pi->nonce, sizeof(pi->nonce), &req, req.mac);
    struct rdma_conn_param param;
    ib_conn_param(&param, &req, sizeof(req));
    int manual = sel.forced || pi->gid_forced;
    if (manual && ib_gid_api_missing())
        return ib_conn_fail(c, haloSystemError,
                            "rank %d sets HALO_IB_GID_INDEX=%u, which this host cannot follow: %s", c->base.peer,
                            pi->gid_index, ib_gid_api_missing());
    if (manual)
        ib_qp_detach(c, c->id, &param);
    if (api->connect(c->id, &param) != 0)
        r = ib_conn_fail(c, haloSystemError, "rdma_connect: %s", strerror(errno));
    else
        r = ib_connect_answer(ib, c, &req, &sel, manual, deadline, retry, why, whylen);
    if (manual)
        ib_qp_attach(c, c->id);
    return r;
}

static haloResult_t ib_connect_one(struct halo_ib *ib, const struct halo_ib_peer_info *pi, int peer, int ch,
                                   int64_t deadline, struct halo_conn **out)
{
    const struct ib_api *api = ib_api();
    struct ib_conn *c = ib_conn_new(ib, peer, ch, pi);
    if (!c)
        return ib_fail(ib, haloSystemError, "out of memory");
    c->cm_ch = api->create_event_channel();
    if (!c->cm_ch || ib_set_nonblock(c->cm_ch->fd) != 0) {
        ib_conn_destroy(c);
        return ib_fail(ib, haloSystemError, "rdma_create_event_channel: %s", strerror(errno));
    }
    char why[200] = "";
    int64_t start = halo_now_us();
    for (int attempt = 1;; attempt++) {
        int retry = 0;
        haloResult_t r = ib_connect_attempt(ib, c, pi, deadline, &retry, why, sizeof(why));
        if (r == haloSuccess)
            break;
        if (!retry || c->failed != haloSuccess || halo_now_us() + IB_RETRY_US >= deadline) {
            if (c->failed == haloSuccess)
                ib_conn_fail(c, haloRemoteError,
                             "no connection after %.1f s and %d attempts, last: %s. Is rank %d running and "
                             "listening, and does RDMA work between the two addresses (`ib_write_bw -R`, "
                             "`rping`)? Raise HALO_TIMEOUT_MS if it is only slow",
                             (double)(halo_now_us() - start) / 1e6, attempt, why, peer);
            r = c->failed;
            ib_conn_destroy(c);
            return r;
        }
        HLOG_TRACE(HALO_SUB_NET, ib->rank, "ib: connect to %s: %s; retrying", c->desc, why);
        ib_attempt_undo(c);
        usleep(IB_RETRY_US);
    }
    ib_conn_established(c);
    *out = &c->base;
    return haloSuccess;
}

/* ---- passive side: accept from higher ranks ---- */

static void ib_reject(struct halo_ib *ib, struct rdma_cm_id *id, const struct ib_wire *req, int reason)
{
    struct ib_wire rej;
    memset(&rej, 0, sizeof(rej));
    rej.magic = IB_WIRE_MAGIC;
    rej.version = IB_WIRE_VERSION;
    rej.kind = IB_WIRE_REJ;
    rej.from = ib->rank;
    rej.to = req ? req->from : -1;
    rej.reason = (uint16_t)reason;
    ib_api()->reject(id, &rej, sizeof(rej));
}

/* Checks a REQ. 0 or an enum ib_rej_reason; *slot gets its conns index. */
static int ib_req_check(struct halo_ib *ib, const struct halo_ib_peer_info *const *peers, const struct ib_wire *w,
                        int *slot, char *why, size_t whylen)
{
    if (w->magic != IB_WIRE_MAGIC || w->version != IB_WIRE_VERSION || w->kind != IB_WIRE_REQ) {
        snprintf(why, whylen, "not a haloccl request (magic 0x%08x, version %u)", w->magic, w->version);
        return IB_REJ_UNEXPECTED;
    }
    if (w->to != ib->rank || w->from <= ib->rank || w->from >= ib->nranks || w->channel >= ib->nchannels ||
        !peers[w->channel * ib->nranks + w->from]) {
        snprintf(why, whylen, "unexpected request from rank %d to rank %d, channel %u", w->from, w->to, w->channel);
        return IB_REJ_UNEXPECTED;
    }
    char ctx[96];
    uint8_t mac[IB_MAC_BYTES];
    ib_ctx_str(ib, ib->rank, w->from, w->channel, ctx, sizeof(ctx));
    ib_mac(ib, 'C', ctx, ib->me.nonce, sizeof(ib->me.nonce), w, mac);
    if (!ib_mac_ok(ib, mac, w->mac)) {
        snprintf(why, whylen, "wrong proof of the job secret from a client claiming rank %d", w->from);
        return IB_REJ_PROOF;
    }
    if (w->slot_size != ib->cfg.slot_size || w->nslots != ib->cfg.nslots) {
        snprintf(why, whylen, "rank %d uses %u slots of %u bytes, this rank %d of %zu", w->from, w->nslots,
                 w->slot_size, ib->cfg.nslots, ib->cfg.slot_size);
        return IB_REJ_CONFIG;
    }
    *slot = w->channel * ib->nranks + w->from;
    return 0;
}

/* Builds the connection on the passive id: GID, device, QP. NULL when refused (a
 * GID that does not fit: *fatal gets the failure, which init reports). */
static struct ib_conn *ib_accept_conn(struct halo_ib *ib, struct rdma_cm_id *id, const struct ib_wire *req,
                                      const struct halo_ib_peer_info *pi, struct ib_gid_sel *sel,
                                      haloResult_t *fatal)
{
    const struct ib_api *api = ib_api();
    struct ib_conn *c = ib_conn_new(ib, req->from, req->channel, pi);
    haloResult_t r = c ? ib_gid_select(ib, c, id, sel) : haloSystemError;
    if (r != haloSuccess) {
        ib_reject(ib, id, req, c ? IB_REJ_GID : IB_REJ_RESOURCES);
        *fatal = c ? r : haloSuccess;
        ib_conn_destroy(c);
        return NULL;
    }
    if (ib_conn_bind_dev(ib, c, id, sel) == haloSuccess && ib_conn_qp(c, id) == haloSuccess)
        return c;
    ib_reject(ib, id, req, IB_REJ_RESOURCES);
    if (c->qp)
        api->destroy_qp(id);
    c->qp = NULL;
    ib_conn_destroy(c);
    return NULL;
}

/* CONNECT_REQUEST: check, build the connection on the new id, accept. The event is
 * acked by the caller. Returns 1 when a connection is now pending, -1 when refused
 * (*fatal set when this rank's configuration cannot serve it). */
static int ib_on_request(struct halo_ib *ib, struct rdma_cm_event *ev, const struct halo_ib_peer_info *const *peers,
                         struct halo_conn **conns, haloResult_t *fatal)
{
    const struct ib_api *api = ib_api();
    struct ib_wire req;
    char why[200];
    int slot = -1;
    int reason = IB_REJ_UNEXPECTED;
    memset(&req, 0, sizeof(req));
    if (ev->param.conn.private_data && ev->param.conn.private_data_len >= sizeof(req)) {
        memcpy(&req, ev->param.conn.private_data, sizeof(req));
        reason = ib_req_check(ib, peers, &req, &slot, why, sizeof(why));
    } else {
        snprintf(why, sizeof(why), "a connect request without haloccl's private data");
    }
    struct ib_conn *old = slot >= 0 ? (struct ib_conn *)conns[slot] : NULL;
    if (reason == 0 && old && old->established) {
        snprintf(why, sizeof(why), "duplicate request from rank %d, channel %u", req.from, req.channel);
        reason = IB_REJ_UNEXPECTED;
    }
    if (reason != 0) {
        char where[48];
        HLOG_WARN(HALO_SUB_NET, ib->rank, "ib: refused a connection on %s: %s", ib_where(ib, where, sizeof(where)),
                  why);
        ib_reject(ib, ev->id, &req, reason);
        return -1; /* the caller destroys the id after the ack */
    }
    if (old) { /* the peer gave up on an earlier attempt and retried */
        ib_conn_destroy(old);
        conns[slot] = NULL;
    }
    struct ib_gid_sel sel;
    struct ib_conn *c = ib_accept_conn(ib, ev->id, &req, peers[req.channel * ib->nranks + req.from], &sel, fatal);
    if (!c)
        return -1;
    c->id = ev->id;
    c->id->context = c;
    c->remote_addr = req.addr;
    c->remote_rkey = req.rkey;
    struct ib_wire_rep rep;
    char ctx[96];
    ib_wire_fill(ib, c, IB_WIRE_REP, req.from, &rep.w);
    memcpy(rep.gid, sel.gid.raw, sizeof(rep.gid));
    ib_ctx_str(ib, ib->rank, req.from, req.channel, ctx, sizeof(ctx));
    ib_rep_mac(ib, ctx, req.mac, &rep, rep.w.mac);
    struct rdma_conn_param param;
    ib_conn_param(&param, &rep, sizeof(rep));
    conns[slot] = &c->base;
    /* Forced GID: the QP goes to RTS here, before the REP, as rdma_accept would move it. */
    int ok = 1;
    if (sel.forced) {
        ib_qp_detach(c, c->id, &param);
        ok = ib_qp_ready(c, c->id, &sel, NULL, &param) == haloSuccess;
        if (!ok)
            ib_reject(ib, c->id, &req, IB_REJ_RESOURCES);
    }
    ok = ok && api->accept(c->id, &param) == 0;
    if (sel.forced)
        ib_qp_attach(c, c->id);
    if (!ok) {
        HLOG_WARN(HALO_SUB_NET, ib->rank, "ib: accepting rank %d failed: %s", req.from,
                  c->failed != haloSuccess ? "see above" : strerror(errno));
        conns[slot] = NULL;
        c->id = NULL; /* destroyed by the caller with the event */
        api->destroy_qp(ev->id);
        c->qp = NULL;
        ib_conn_destroy(c);
        return -1;
    }
    return 1;
}

/* ESTABLISHED / failure events of pending connections. Returns 1 when one became
 * established. The event is already acked. */
static int ib_on_conn_event(struct halo_ib *ib, struct ib_conn *c, enum rdma_cm_event_type t,
                            struct halo_conn **conns)
{
    const struct ib_api *api = ib_api();
    int slot = c->base.channel * ib->nranks + c->base.peer;
    if (t == RDMA_CM_EVENT_ESTABLISHED && !c->established) {
        c->cm_ch = api->create_event_channel();
        if (c->cm_ch && ib_set_nonblock(c->cm_ch->fd) == 0 && api->migrate_id(c->id, c->cm_ch) == 0) {
            ib_conn_established(c);
            return 1;
        }
        HLOG_WARN(HALO_SUB_NET, ib->rank, "ib: could not move %s to its own event channel: %s", c->desc,
                  strerror(errno));
    } else {
        HLOG_INFO(HALO_SUB_NET, ib->rank, "ib: pending connection %s: %s; waiting for a retry", c->desc,
                  api->event_str(t));
    }
    if (c->established)
        return 0;
    conns[slot] = NULL;
    ib_conn_destroy(c);
    return 0;
}

static haloResult_t ib_accept_timeout(struct halo_ib *ib, const struct halo_ib_peer_info *const *peers,
                                      struct halo_conn **conns, int expected, int done)
{
    char missing[256] = "", where[48];
    size_t used = 0;
    for (int p = ib->rank + 1; p < ib->nranks && used + 16 < sizeof(missing); p++)
        for (int ch = 0; ch < ib->nchannels; ch++) {
            struct ib_conn *c = (struct ib_conn *)conns[ch * ib->nranks + p];
            if (peers[ch * ib->nranks + p] && (!c || !c->established)) {
                used += (size_t)snprintf(missing + used, sizeof(missing) - used, "%s%d", used ? "," : "", p);
                break;
            }
        }
    char addr[80];
    return ib_fail(ib, haloRemoteError,
                   "timed out after %.1f s waiting for ib connections (%d of %d arrived) on %s (%s); "
                   "missing: ranks %s. Are they running, and does RDMA reach this address from their hosts "
                   "(`ib_write_bw -R`)? Raise HALO_TIMEOUT_MS if they are only slow",
                   (double)ib->cfg.timeout_us / 1e6, done, expected, ib_addr_str(&ib->me.addr, addr, sizeof(addr)),
                   ib_where(ib, where, sizeof(where)), missing);
}

static haloResult_t ib_accept_all(struct halo_ib *ib, const struct halo_ib_peer_info *const *peers,
                                  struct halo_conn **conns, int64_t deadline)
{
    const struct ib_api *api = ib_api();
    char where[48];
    int expected = 0, done = 0;
    for (int p = ib->rank + 1; p < ib->nranks; p++)
        for (int ch = 0; ch < ib->nchannels; ch++)
            expected += peers[ch * ib->nranks + p] != NULL;
    while (done < expected) {
        struct rdma_cm_event *ev;
        if (ib_cm_wait(ib->listen_ch, deadline, &ev) != 0) {
            if (errno == ETIMEDOUT)
                return ib_accept_timeout(ib, peers, conns, expected, done);
            return ib_fail(ib, haloSystemError, "rdma_get_cm_event on the listener: %s", strerror(errno));
        }
        enum rdma_cm_event_type t = ev->event;
        if (t == RDMA_CM_EVENT_CONNECT_REQUEST) {
            struct rdma_cm_id *id = ev->id;
            haloResult_t fatal = haloSuccess;
            int pending = ib_on_request(ib, ev, peers, conns, &fatal);
            api->ack_cm_event(ev);
            if (pending < 0)
                api->destroy_id(id);
            if (fatal != haloSuccess)
                return fatal;
            continue;
        }
        struct ib_conn *c = ev->id && ev->id->context != ib ? ev->id->context : NULL;
        api->ack_cm_event(ev);
        if (t == RDMA_CM_EVENT_DEVICE_REMOVAL && !c)
            return ib_fail(ib, haloSystemError, "the RDMA device (%s) was removed while connecting",
                           ib_where(ib, where, sizeof(where)));
        if (c)
            done += ib_on_conn_event(ib, c, t, conns);
    }
    return haloSuccess;
}

haloResult_t ib_connect_all(struct halo_ib *ib, int nchannels, const struct halo_ib_peer_info *const *peers,
                            struct halo_conn **conns)
{
    if (nchannels < 1 || nchannels > 0xffff)
        return ib_fail(ib, haloInternalError, "ib_connect_all: %d channels", nchannels);
    ib->nchannels = nchannels;
    int64_t deadline = halo_now_us() + ib->cfg.timeout_us;
    for (int p = 0; p < ib->rank; p++) {
        for (int ch = 0; ch < ib->nchannels; ch++) {
            const struct halo_ib_peer_info *pi = peers[ch * ib->nranks + p];
            haloResult_t r = pi ? ib_connect_one(ib, pi, p, ch, deadline, &conns[ch * ib->nranks + p]) : haloSuccess;
            if (r != haloSuccess)
                return r;
        }
    }
    return ib_accept_all(ib, peers, conns, deadline);
}

#endif
