/*
 * ib_setup.c — the ib transport's connection sequence (the data path is in
 * ib_conn.c): the rdma_cm listener, resources of a connection, and the
 * all-to-all connect/accept with proofs of the job secret.
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
#include "log.h"

#ifdef HALO_IB_HEADERS

#define IB_WIRE_MAGIC 0x42494c48u /* "HLIB" */
#define IB_WIRE_VERSION 2 /* 2: the REP carries the GID */
#define IB_MAC_BYTES 16
#define IB_RESOLVE_MS 2000
#define IB_RETRY_US 200000
#define IB_BACKLOG 1024

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
};

/* ---- small helpers ---- */

static int ib_rank(const struct halo_ib *ib)
{
    return ib->rank;
}

static const char *ib_addr_str(const struct halo_sockaddr *a, char *buf, size_t len)
{
    return halo_sockaddr_str(a, buf, len);
}

static int ib_addr_is_any(const struct halo_sockaddr *a)
{
    static const uint8_t zero[16];
    return memcmp(a->addr, zero, sizeof(zero)) == 0;
}

/* The address without its port, for messages about interfaces. */
static const char *ib_ip_str(const struct halo_sockaddr *a, char *buf, size_t len)
{
    if (!inet_ntop(a->family, a->addr, buf, (socklen_t)len))
        snprintf(buf, len, "?");
    return buf;
}

static int ib_set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

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

/* ---- devices ---- */

/* "rxe0 port 1", or "any RDMA device" for a wildcard listener. */
static const char *ib_where(const struct halo_ib *ib, char *buf, size_t len)
{
    if (!ib->me.dev[0])
        return "any RDMA device";
    snprintf(buf, len, "%s port %u", ib->me.dev, ib->me.port);
    return buf;
}

struct halo_tp_ctx *ib_ctx(struct halo_ib *ib)
{
    return ib->ctx;
}

struct ib_dev *ib_devs(struct halo_ib *ib)
{
    return ib ? ib->devs : NULL;
}

static struct ib_dev *ib_dev_get(struct halo_ib *ib, struct ibv_context *ctx)
{
    const struct ib_api *api = ib_api();
    for (struct ib_dev *d = ib->devs; d; d = d->next)
        if (d->ctx == ctx)
            return d;
    struct ib_dev *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->ctx = ctx;
    snprintf(d->name, sizeof(d->name), "%s", api->get_device_name(ctx->device));
    d->pd = api->alloc_pd(ctx);
    if (!d->pd) {
        free(d);
        return NULL;
    }
    /* Async events are read by whichever channel thread checks health; never block. */
    ib_set_nonblock(ctx->async_fd);
    d->next = ib->devs;
    ib->devs = d;
    return d;
}

/* The GID a QP on ctx's port sends from: HALO_IB_GID_INDEX's entry when it is set
 * (checked, and of the family of cm_gid, the GID rdma_cm bound: an IPv6 GID cannot
 * carry an IPv4 connection), else cm_gid. haloSuccess, or the failure with a
 * sentence in why. */
static haloResult_t ib_gid_pick(const struct halo_ib *ib, struct ibv_context *ctx, int port,
                                const union ibv_gid *cm_gid, struct ib_gid_sel *sel, char *why, size_t len)
{
    memset(sel, 0, sizeof(*sel));
    if (!ib->cfg.force_gid) {
        sel->gid = *cm_gid;
        sel->index = ib_gid_find(ctx, port, cm_gid);
        return haloSuccess;
    }
    haloResult_t r = ib_gid_forced(ctx, port, ib->cfg.gid_index, &sel->gid, &sel->ifindex, why, len);
    if (r != haloSuccess)
        return r;
    sel->forced = 1;
    sel->index = ib->cfg.gid_index;
    if (ib_gid_is_v4(&sel->gid) == ib_gid_is_v4(cm_gid))
        return haloSuccess;
    char g[64], cg[64], list[400];
    const char *dev = ib_api()->get_device_name(ctx->device);
    snprintf(why, len,
             "HALO_IB_GID_INDEX=%d is GID %s of %s port %d, an %s address, but this connection runs over %s (%s): "
             "set the index of a RoCE v2 GID of the same family (there: %s) or unset HALO_IB_GID_INDEX",
             sel->index, ib_gid_str(&sel->gid, g, sizeof(g)), dev, port, ib_gid_is_v4(&sel->gid) ? "IPv4" : "IPv6",
             ib_gid_is_v4(cm_gid) ? "IPv4" : "IPv6", ib_gid_str(cm_gid, cg, sizeof(cg)),
             ib_gid_list(ctx, port, list, sizeof(list)));
    return haloInvalidArgument;
}

/* ---- listener ---- */

static haloResult_t ib_fail(struct halo_ib *ib, haloResult_t res, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static haloResult_t ib_fail(struct halo_ib *ib, haloResult_t res, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return halo_tp_error(ib->ctx, res, "rank %d: ib: %s", ib_rank(ib), msg);
}

/* The bound id found a device and port: check them against HALO_IB_HCA and state,
 * log what will be used, fill me. */
static haloResult_t ib_listen_describe(struct halo_ib *ib)
{
    const struct ib_api *api = ib_api();
    struct rdma_cm_id *id = ib->listen_id;
    char addr[80], ip[64];
    ib_addr_str(&ib->me.addr, addr, sizeof(addr));
    ib_ip_str(&ib->cfg.addr, ip, sizeof(ip));
    const char *dev = api->get_device_name(id->verbs->device);
    int port = id->port_num;
    if (!ib_hca_match(ib->cfg.hca, dev, port))
        return ib_fail(ib, haloInvalidArgument,
                       "HALO_IB_HCA=%s excludes %s port %d, the RDMA device behind interface %s (%s): change "
                       "HALO_IB_HCA (NCCL syntax, e.g. =%s) or the data interface",
                       ib->cfg.hca, dev, port, ib->ifname, ip, dev);
    struct ibv_port_attr pa;
    memset(&pa, 0, sizeof(pa));
    if (api->query_port(id->verbs, (uint8_t)port, &pa) != 0)
        return ib_fail(ib, haloSystemError, "ibv_query_port(%s, %d) failed: %s", dev, port, strerror(errno));
    if (pa.state != IBV_PORT_ACTIVE)
        return ib_fail(ib, haloSystemError,
                       "port %d of %s (interface %s, %s) is %s, not ACTIVE: check the link (`rdma link`, "
                       "`ip link show %s`)",
                       port, dev, ib->ifname, ip, api->port_state_str(pa.state), ib->ifname);
    char gid[64], speed[64], why[700];
    struct ib_gid_sel sel;
    haloResult_t r = ib_gid_pick(ib, id->verbs, port, &id->route.addr.addr.ibaddr.sgid, &sel, why, sizeof(why));
    if (r != haloSuccess)
        return ib_fail(ib, r, "%s", why);
    HLOG_INFO(HALO_SUB_NET, ib_rank(ib),
              "ib: listening on %s (%s): device %s port %d, GID %s (index %d%s), MTU %d (max %d), %s", addr,
              ib->ifname, dev, port, ib_gid_str(&sel.gid, gid, sizeof(gid)), sel.index,
              sel.forced ? ", HALO_IB_GID_INDEX" : "", ib_mtu_bytes(pa.active_mtu), ib_mtu_bytes(pa.max_mtu),
              ib_port_speed_str(&pa, speed, sizeof(speed)));
    snprintf(ib->me.dev, sizeof(ib->me.dev), "%s", dev);
    ib->me.port = (uint8_t)port;
    ib->me.mtu = (uint16_t)ib_mtu_bytes(pa.active_mtu);
    return haloSuccess;
}

/* A wildcard listener serves every device: HALO_IB_HCA must leave at least one
 * ACTIVE port, or no connection could ever be made. Says which ports exist. */
static haloResult_t ib_listen_check_hca(struct halo_ib *ib)
{
    const struct ib_api *api = ib_api();
    if (!ib->cfg.hca[0])
        return haloSuccess;
    int n = 0, ok = 0;
    char seen[200] = "";
    struct ibv_context **ctxs = api->get_devices(&n);
    for (int i = 0; ctxs && i < n && !ok; i++) {
        struct ibv_device_attr da;
        if (api->query_device(ctxs[i], &da) != 0)
            continue;
        const char *dev = api->get_device_name(ctxs[i]->device);
        for (int p = 1; p <= da.phys_port_cnt && !ok; p++) {
            struct ibv_port_attr pa;
            memset(&pa, 0, sizeof(pa));
            if (api->query_port(ctxs[i], (uint8_t)p, &pa) != 0)
                continue;
            ok = pa.state == IBV_PORT_ACTIVE && ib_hca_match(ib->cfg.hca, dev, p);
            size_t used = strlen(seen);
            snprintf(seen + used, sizeof(seen) - used, "%s%s:%d %s", used ? ", " : "", dev, p,
                     api->port_state_str(pa.state));
        }
    }
    if (ctxs)
        api->free_devices(ctxs);
    if (ok)
        return haloSuccess;
    return ib_fail(ib, haloInvalidArgument,
                   "HALO_IB_HCA=%s matches no ACTIVE RDMA port on this host (ports here: %s): fix HALO_IB_HCA "
                   "(NCCL syntax: mlx5_0:1,irdma; ^ excludes; = exact) or unset it",
                   ib->cfg.hca, seen[0] ? seen : "none");
}

/* A wildcard listener with HALO_IB_GID_INDEX: the index must be a RoCE v2 GID on every
 * port a connection may take (ACTIVE, admitted by HALO_IB_HCA), or init would fail
 * later on one connection only. */
static haloResult_t ib_listen_check_gid(struct halo_ib *ib)
{
    const struct ib_api *api = ib_api();
    int n = 0;
    haloResult_t r = haloSuccess;
    char why[700];
    struct ibv_context **ctxs = api->get_devices(&n);
    for (int i = 0; ctxs && i < n && r == haloSuccess; i++) {
        struct ibv_device_attr da;
        if (api->query_device(ctxs[i], &da) != 0)
            continue;
        const char *dev = api->get_device_name(ctxs[i]->device);
        for (int p = 1; p <= da.phys_port_cnt && r == haloSuccess; p++) {
            struct ibv_port_attr pa;
            union ibv_gid gid;
            uint32_t ifindex;
            memset(&pa, 0, sizeof(pa));
            if (api->query_port(ctxs[i], (uint8_t)p, &pa) != 0 || pa.state != IBV_PORT_ACTIVE ||
                !ib_hca_match(ib->cfg.hca, dev, p))
                continue;
            r = ib_gid_forced(ctxs[i], p, ib->cfg.gid_index, &gid, &ifindex, why, sizeof(why));
            if (r != haloSuccess)
                ib_fail(ib, r, "%s (this rank listens on every RDMA port; HALO_IB_HCA can leave %s:%d out)", why,
                        dev, p);
        }
    }
    if (ctxs)
        api->free_devices(ctxs);
    return r;
}

static haloResult_t ib_listen_bind(struct halo_ib *ib)
{
    const struct ib_api *api = ib_api();
    char addr[80];
    ib_ip_str(&ib->cfg.addr, addr, sizeof(addr));
    halo_if_name_of(&ib->cfg.addr, ib->ifname, sizeof(ib->ifname));
    ib->listen_ch = api->create_event_channel();
    if (!ib->listen_ch)
        return ib_fail(ib, haloSystemError, "rdma_create_event_channel: %s (is /dev/infiniband/rdma_cm there?)",
                       strerror(errno));
    if (ib_set_nonblock(ib->listen_ch->fd) != 0 ||
        api->create_id(ib->listen_ch, &ib->listen_id, ib, RDMA_PS_TCP) != 0)
        return ib_fail(ib, haloSystemError, "rdma_create_id: %s", strerror(errno));
    struct sockaddr_storage ss;
    halo_sockaddr_to(&ib->cfg.addr, &ss);
    if (api->bind_addr(ib->listen_id, (struct sockaddr *)&ss) != 0)
        return ib_fail(ib, haloSystemError, "rdma_bind_addr(%s): %s: is the address on a local interface?", addr,
                       strerror(errno));
    /* rdma_get_local_addr is inline: the bound address, with the port chosen. */
    halo_sockaddr_from(&ib->me.addr, rdma_get_local_addr(ib->listen_id));
    if (ib_addr_is_any(&ib->cfg.addr)) { /* every device; each connection finds its own */
        haloResult_t r = ib_listen_check_hca(ib);
        if (r == haloSuccess && ib->cfg.force_gid)
            r = ib_listen_check_gid(ib);
        if (r != haloSuccess)
            return r;
        if (api->listen(ib->listen_id, IB_BACKLOG) != 0)
            return ib_fail(ib, haloSystemError, "rdma_listen on %s: %s", addr, strerror(errno));
        char where[80];
        HLOG_INFO(HALO_SUB_NET, ib_rank(ib), "ib: listening on %s (any RDMA device)",
                  ib_addr_str(&ib->me.addr, where, sizeof(where)));
        return haloSuccess;
    }
    if (!ib->listen_id->verbs)
        return ib_fail(ib, haloSystemError,
                       "no RDMA device is bound to interface %s (%s): `rdma link` shows which netdevs have one "
                       "(Soft-RoCE: rdma link add rxe0 type rxe netdev %s); or set HALO_TRANSPORT=tcp",
                       ib->ifname, addr, ib->ifname);
    haloResult_t r = ib_listen_describe(ib);
    if (r != haloSuccess)
        return r;
    if (!ib_dev_get(ib, ib->listen_id->verbs))
        return ib_fail(ib, haloSystemError, "ibv_alloc_pd on %s failed: %s", ib->me.dev, strerror(errno));
    if (api->listen(ib->listen_id, IB_BACKLOG) != 0)
        return ib_fail(ib, haloSystemError, "rdma_listen on %s: %s", addr, strerror(errno));
    return haloSuccess;
}

haloResult_t ib_listen_start(struct halo_tp_ctx *ctx, const struct halo_ib_config *cfg, struct halo_ib **out,
                             struct halo_ib_peer_info *me)
{
    if (!ib_supported())
        return halo_tp_error(ctx, haloSystemError, "rank %d: the ib transport cannot be used: %s", ctx->rank,
                          ib_unsupported_reason());
    if (cfg->nslots < 1 || cfg->nslots > 4096 || cfg->slot_size == 0 || cfg->slot_size > (1u << 30))
        return halo_tp_error(ctx, haloInvalidArgument, "rank %d: ib: bad slot configuration (%d slots of %zu bytes)",
                          ctx->rank, cfg->nslots, cfg->slot_size);
    struct halo_ib *ib = calloc(1, sizeof(*ib));
    if (!ib)
        return halo_tp_error(ctx, haloSystemError, "rank %d: ib: out of memory", ctx->rank);
    ib->ctx = ctx;
    ib->rank = ctx->rank;
    ib->nranks = ctx->nranks;
    ib->cfg = *cfg;
    ib->cfg.hca = cfg->hca ? cfg->hca : "";
    if (cfg->key) {
        if (sodium_init() < 0) {
            free(ib);
            return halo_tp_error(ctx, haloSystemError, "rank %d: ib: libsodium failed to initialise", ctx->rank);
        }
        memcpy(ib->key, cfg->key, HALO_AUTH_KEY_BYTES);
        ib->have_key = 1;
    }
    ib->cfg.key = NULL;
    ib->me.gid_forced = (uint8_t)(cfg->force_gid != 0);
    ib->me.gid_index = (uint8_t)cfg->gid_index;
    haloResult_t r = halo_random_bytes(ib->me.nonce, sizeof(ib->me.nonce)) == 0
                         ? ib_listen_bind(ib)
                         : ib_fail(ib, haloSystemError, "no randomness for the connection nonce");
    if (r != haloSuccess) {
        ib_destroy(ib);
        return r;
    }
    ib->me.active = 1;
    *me = ib->me;
    *out = ib;
    return haloSuccess;
}

void ib_destroy(struct halo_ib *ib)
{
    if (!ib)
        return;
    const struct ib_api *api = ib_api();
    if (ib->listen_id)
        api->destroy_id(ib->listen_id);
    if (ib->listen_ch)
        api->destroy_event_channel(ib->listen_ch);
    while (ib->devs) {
        struct ib_dev *d = ib->devs;
        ib->devs = d->next;
        ib_dev_regs_free(d);
        api->dealloc_pd(d->pd);
        free(d);
    }
    sodium_memzero(ib->key, sizeof(ib->key));
    free(ib);
}

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
static haloResult_t ib_conn_qp(struct ib_conn *c, struct rdma_cm_id *id)
{
    const struct ib_api *api = ib_api();
    static const uint32_t inl[] = {256, 128, 64, 0};
    /* Also the extra QPs' signalled zero-copy pieces (HALO_IB_QPS_PER_PEER). */
    int cqe = (int)(IB_SQ_DEPTH(c->nslots) + IB_RQ_DEPTH(c->nslots) + IB_ZC_RING * IB_ZC_PIECES) + 8;
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
            /* Frames, credit writes, grants and zero-copy messages each consume a
             * receive; while this rank does not poll, up to nslots of the first
             * two and IB_ZC_RING of the others can arrive (more only RNR-wait). */
            return ib_conn_post_recvs(c, (int)IB_RQ_DEPTH(c->nslots));
        }
        err = errno;
    }
    return ib_conn_fail(c, haloSystemError, "rdma_create_qp (RC, %u send / %u receive WRs) on %s: %s",
                        IB_SQ_DEPTH(c->nslots), IB_RQ_DEPTH(c->nslots), c->dev->name, strerror(err));
}

static struct ib_conn *ib_conn_new(struct halo_ib *ib, int peer, int ch, const struct halo_ib_peer_info *pi)
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
static haloResult_t ib_gid_select(struct halo_ib *ib, struct ib_conn *c, struct rdma_cm_id *id,
                                  struct ib_gid_sel *sel)
{
    char why[700];
    haloResult_t r = ib_gid_pick(ib, id->verbs, id->port_num, &id->route.addr.addr.ibaddr.sgid, sel, why,
                                 sizeof(why));
    return r == haloSuccess ? r : ib_conn_fail(c, r, "%s", why);
}

/* The id found its device: check HALO_IB_HCA, take the device's PD, name it (and a
 * forced GID index) in the connection's description. */
static haloResult_t ib_conn_bind_dev(struct halo_ib *ib, struct ib_conn *c, struct rdma_cm_id *id,
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

static void ib_conn_established(struct ib_conn *c)
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
static void ib_qp_detach(struct ib_conn *c, struct rdma_cm_id *id, struct rdma_conn_param *p)
{
    p->qp_num = c->qp->qp_num;
    id->qp = NULL;
}

static void ib_qp_attach(struct ib_conn *c, struct rdma_cm_id *id)
{
    id->qp = c->qp;
}

/* INIT (again, as librdmacm does), RTR, RTS with the attributes rdma_cm gives, but
 * source GID index sel->index when forced and, when dgid is given, that destination
 * GID (the one the peer's QP sends from). p: the passive side's conn_param, whose
 * rd_atomic depths rdma_accept would apply; NULL on the active side (the REP's). */
static haloResult_t ib_qp_ready(struct ib_conn *c, struct rdma_cm_id *id, const struct ib_gid_sel *sel,
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
    if (w->to != ib->rank || w->from <= ib->rank || w->from >= ib->nranks || !peers[w->from] ||
        w->channel >= ib->nchannels) {
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
    struct ib_conn *c = ib_accept_conn(ib, ev->id, &req, peers[req.from], &sel, fatal);
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
        for (int ch = 0; peers[p] && ch < ib->nchannels; ch++) {
            struct ib_conn *c = (struct ib_conn *)conns[ch * ib->nranks + p];
            if (!c || !c->established) {
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
        expected += peers[p] ? ib->nchannels : 0;
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
        for (int ch = 0; peers[p] && ch < ib->nchannels; ch++) {
            haloResult_t r = ib_connect_one(ib, peers[p], p, ch, deadline, &conns[ch * ib->nranks + p]);
            if (r != haloSuccess)
                return r;
        }
    }
    return ib_accept_all(ib, peers, conns, deadline);
}

/* ---- device lookup for auto selection ---- */

int ib_device_of_addr(const struct halo_sockaddr *addr, char *dev, size_t devlen, int *port, int *active)
{
    if (!ib_supported())
        return 0;
    const struct ib_api *api = ib_api();
    struct rdma_event_channel *ch = api->create_event_channel();
    struct rdma_cm_id *id = NULL;
    int found = 0;
    if (!ch)
        return 0;
    if (api->create_id(ch, &id, NULL, RDMA_PS_TCP) == 0) {
        struct halo_sockaddr a = *addr;
        struct sockaddr_storage ss;
        a.port = 0;
        halo_sockaddr_to(&a, &ss);
        if (api->bind_addr(id, (struct sockaddr *)&ss) == 0 && id->verbs) {
            struct ibv_port_attr pa;
            memset(&pa, 0, sizeof(pa));
            found = 1;
            snprintf(dev, devlen, "%s", api->get_device_name(id->verbs->device));
            *port = id->port_num;
            *active = api->query_port(id->verbs, id->port_num, &pa) == 0 && pa.state == IBV_PORT_ACTIVE;
        }
        api->destroy_id(id);
    }
    api->destroy_event_channel(ch);
    return found;
}

#endif
