/* SPDX-License-Identifier: MIT */
/*
 * ib_listen.c — the ib transport's per-communicator context: the rdma_cm listener
 * (bound to the data IP, or the wildcard for every RDMA device), the devices and
 * ports it finds, their checks against HALO_IB_HCA and HALO_IB_GID_INDEX, and the
 * device lookup for auto selection. The handshake is in ib_handshake.c, a
 * connection's resources in ib_qp.c.
 *
 * The listener is created before the peer-info all-gather (ib_listen_start); what
 * it found goes into this rank's blob (struct halo_ib_peer_info): address,
 * device, port, MTU and a fresh nonce that binds connection proofs to it.
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
#include "hash.h"
#include "ib.h"
#include "ib_setup.h"
#include "log.h"

#ifdef HALO_IB_HEADERS

/* ---- small helpers ---- */

int ib_rank(const struct halo_ib *ib)
{
    return ib->rank;
}

const char *ib_addr_str(const struct halo_sockaddr *a, char *buf, size_t len)
{
    return halo_sockaddr_str(a, buf, len);
}

int ib_addr_is_any(const struct halo_sockaddr *a)
{
    static const uint8_t zero[16];
    return memcmp(a->addr, zero, sizeof(zero)) == 0;
}

/* The address without its port, for messages about interfaces. */
const char *ib_ip_str(const struct halo_sockaddr *a, char *buf, size_t len)
{
    if (!inet_ntop(a->family, a->addr, buf, (socklen_t)len))
        snprintf(buf, len, "?");
    return buf;
}

int ib_set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---- devices ---- */

/* "rxe0 port 1", or "any RDMA device" for a wildcard listener. */
const char *ib_where(const struct halo_ib *ib, char *buf, size_t len)
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

void ib_ctx_set(struct halo_ib *ib, struct halo_tp_ctx *ctx)
{
    ib->ctx = ctx;
}

struct ib_dev *ib_devs(struct halo_ib *ib)
{
    return ib ? ib->devs : NULL;
}

struct ib_dev *ib_dev_get(struct halo_ib *ib, struct ibv_context *ctx)
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
haloResult_t ib_gid_pick(const struct halo_ib *ib, struct ibv_context *ctx, int port,
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

haloResult_t ib_fail(struct halo_ib *ib, haloResult_t res, const char *fmt, ...)
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

/* One field of a link's identity: its text, then a separator byte. */
static uint64_t ib_fnv(uint64_t h, const char *s)
{
    static const uint8_t sep = 0xff;
    return halo_fnv_bytes(halo_fnv_str(h, s), &sep, 1);
}

int ib_link_first_warning(struct halo_ib *ib, const struct halo_tp_link *l)
{
    if (!ib)
        return 1;
    uint64_t h = HALO_FNV_INIT;
    h = ib_fnv(ib_fnv(ib_fnv(ib_fnv(h, l->mine.ifname), l->mine.addr), l->peer.ifname), l->peer.addr);
    for (int i = 0; i < ib->nwarned; i++)
        if (ib->warned_links[i] == h)
            return 0;
    if (ib->nwarned < (int)(sizeof(ib->warned_links) / sizeof(ib->warned_links[0])))
        ib->warned_links[ib->nwarned++] = h;
    return 1;
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
