/* SPDX-License-Identifier: MIT */
/*
 * ib_verbs.c — loads libibverbs and librdmacm at run time (dlopen, once) into the
 * table the ib transport calls through, and decides whether ib can be used here.
 *
 * Why dlopen: one libhaloccl.so must run on nodes without rdma-core; only the
 * headers are needed at build time. Only exported functions are looked up: the
 * data-path verbs are static inline in verbs.h and go through the context's ops.
 * Process-wide state here is written once under pthread_once and read-only after.
 *
 * Built without the rdma-core headers (no libibverbs-dev / librdmacm-dev), this file
 * alone provides the transport's entry points, all saying ib is unavailable.
 */
#define HALO_IB_INTERNAL
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ib.h"
#include "log.h"

#ifdef HALO_IB_HEADERS

static struct ib_api ib_table;
static int ib_loaded;      /* the table is complete */
static int ib_port_active; /* some device has an ACTIVE port */
static char ib_reason[256];
static pthread_once_t ib_once = PTHREAD_ONCE_INIT;

struct ib_sym {
    const char *name;
    size_t offset; /* of the function pointer in struct ib_api */
    int optional;  /* missing: the field stays NULL (a feature says so when asked for) */
};

#define IB_SYM(field, sym) { sym, offsetof(struct ib_api, field), 0 }
#define IB_OPT(field, sym) { sym, offsetof(struct ib_api, field), 1 }
static const struct ib_sym ib_verbs_syms[] = {
    IB_SYM(get_device_list, "ibv_get_device_list"),
    IB_SYM(free_device_list, "ibv_free_device_list"),
    IB_SYM(get_device_name, "ibv_get_device_name"),
    IB_SYM(query_device, "ibv_query_device"),
    IB_SYM(query_port, "ibv_query_port"),
    IB_SYM(query_gid, "ibv_query_gid"),
    IB_SYM(alloc_pd, "ibv_alloc_pd"),
    IB_SYM(dealloc_pd, "ibv_dealloc_pd"),
    IB_SYM(create_cq, "ibv_create_cq"),
    IB_SYM(destroy_cq, "ibv_destroy_cq"),
    IB_SYM(reg_mr, "ibv_reg_mr"),
    IB_SYM(dereg_mr, "ibv_dereg_mr"),
    IB_SYM(create_comp_channel, "ibv_create_comp_channel"),
    IB_SYM(destroy_comp_channel, "ibv_destroy_comp_channel"),
    IB_SYM(get_cq_event, "ibv_get_cq_event"),
    IB_SYM(ack_cq_events, "ibv_ack_cq_events"),
    IB_SYM(get_async_event, "ibv_get_async_event"),
    IB_SYM(ack_async_event, "ibv_ack_async_event"),
    IB_SYM(wc_status_str, "ibv_wc_status_str"),
    IB_SYM(event_type_str, "ibv_event_type_str"),
    IB_SYM(port_state_str, "ibv_port_state_str"),
    IB_SYM(modify_qp, "ibv_modify_qp"),
    IB_SYM(create_qp_verbs, "ibv_create_qp"),
    IB_SYM(destroy_qp_verbs, "ibv_destroy_qp"),
    IB_SYM(query_qp, "ibv_query_qp"),
    IB_OPT(query_gid_ex, "_ibv_query_gid_ex"), /* v32: ibv_query_gid_ex is inline around it */
};
static const struct ib_sym ib_cm_syms[] = {
    IB_SYM(create_event_channel, "rdma_create_event_channel"),
    IB_SYM(destroy_event_channel, "rdma_destroy_event_channel"),
    IB_SYM(create_id, "rdma_create_id"),
    IB_SYM(destroy_id, "rdma_destroy_id"),
    IB_SYM(bind_addr, "rdma_bind_addr"),
    IB_SYM(listen, "rdma_listen"),
    IB_SYM(resolve_addr, "rdma_resolve_addr"),
    IB_SYM(resolve_route, "rdma_resolve_route"),
    IB_SYM(connect, "rdma_connect"),
    IB_SYM(accept, "rdma_accept"),
    IB_SYM(reject, "rdma_reject"),
    IB_SYM(disconnect, "rdma_disconnect"),
    IB_SYM(get_cm_event, "rdma_get_cm_event"),
    IB_SYM(ack_cm_event, "rdma_ack_cm_event"),
    IB_SYM(create_qp, "rdma_create_qp"),
    IB_SYM(destroy_qp, "rdma_destroy_qp"),
    IB_SYM(event_str, "rdma_event_str"),
    IB_SYM(migrate_id, "rdma_migrate_id"),
    IB_SYM(get_devices, "rdma_get_devices"),
    IB_SYM(free_devices, "rdma_free_devices"),
    IB_OPT(init_qp_attr, "rdma_init_qp_attr"), /* exported since v30 */
    IB_OPT(establish, "rdma_establish"),
};
#undef IB_SYM

/* 0, or -1 with ib_reason set. The handles stay open for the life of the process. */
static int ib_load_lib(const char *soname, const char *pkg, const struct ib_sym *syms, size_t n)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        snprintf(ib_reason, sizeof(ib_reason), "%s could not be loaded (%s): install %s", soname, dlerror(),
                 pkg);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        void *f = dlsym(h, syms[i].name);
        if (!f && syms[i].optional)
            continue;
        if (!f) {
            snprintf(ib_reason, sizeof(ib_reason), "%s lacks %s: rdma-core too old? (need v28 or later)", soname,
                     syms[i].name);
            return -1;
        }
        memcpy((char *)&ib_table + syms[i].offset, &f, sizeof(f));
    }
    return 0;
}

/* Is any port of any device ACTIVE? Uses librdmacm's device contexts, the ones
 * rdma_cm ids will use. */
static void ib_probe_ports(void)
{
    int n = 0;
    struct ibv_context **ctxs = ib_table.get_devices(&n);
    if (!ctxs || n == 0) {
        snprintf(ib_reason, sizeof(ib_reason),
                 "no RDMA device found (ibv_devices lists none; for Soft-RoCE: rdma link add rxe0 type rxe "
                 "netdev <if>)");
        if (ctxs)
            ib_table.free_devices(ctxs);
        return;
    }
    char seen[160] = "";
    for (int i = 0; i < n && !ib_port_active; i++) {
        struct ibv_device_attr da;
        if (ib_table.query_device(ctxs[i], &da) != 0)
            continue;
        for (int p = 1; p <= da.phys_port_cnt; p++) {
            struct ibv_port_attr pa;
            memset(&pa, 0, sizeof(pa));
            if (ib_table.query_port(ctxs[i], (uint8_t)p, &pa) != 0)
                continue;
            if (pa.state == IBV_PORT_ACTIVE) {
                ib_port_active = 1;
                break;
            }
            size_t used = strlen(seen);
            snprintf(seen + used, sizeof(seen) - used, "%s%s:%d %s", used ? ", " : "",
                     ib_table.get_device_name(ctxs[i]->device), p, ib_table.port_state_str(pa.state));
        }
    }
    ib_table.free_devices(ctxs);
    if (!ib_port_active)
        snprintf(ib_reason, sizeof(ib_reason), "no RDMA port is ACTIVE (%s): check the cable and `rdma link`",
                 seen);
}

static void ib_load_once(void)
{
    if (ib_load_lib("libibverbs.so.1", "libibverbs1 and a provider (ibverbs-providers / rdma-core)",
                    ib_verbs_syms, sizeof(ib_verbs_syms) / sizeof(ib_verbs_syms[0])) != 0 ||
        ib_load_lib("librdmacm.so.1", "librdmacm1 (rdma-core)", ib_cm_syms,
                    sizeof(ib_cm_syms) / sizeof(ib_cm_syms[0])) != 0)
        return;
    ib_loaded = 1;
    ib_probe_ports();
}

/* The reason ib is out, logged once by its first user: not by the load itself, so
 * that the process's banner (src/core/banner.c), which asks ib_load_state(), comes first. */
static pthread_once_t ib_said_once = PTHREAD_ONCE_INIT;

static void ib_say_why(void)
{
    if (!ib_loaded || !ib_port_active)
        HLOG_INFO(HALO_SUB_NET, -1, "ib: unavailable: %s", ib_reason);
}

static void ib_load(void)
{
    pthread_once(&ib_once, ib_load_once);
    pthread_once(&ib_said_once, ib_say_why);
}

const struct ib_api *ib_api(void)
{
    ib_load();
    return ib_loaded ? &ib_table : NULL;
}

int ib_supported(void)
{
    ib_load();
    return ib_loaded && ib_port_active;
}

int ib_load_state(void)
{
    pthread_once(&ib_once, ib_load_once);
    return !ib_loaded ? 0 : ib_port_active ? 2 : 1;
}

const char *ib_unsupported_reason(void)
{
    ib_load();
    return ib_reason;
}

/* One entry of a HALO_IB_HCA list: "name" or "name:port". */
struct ib_hca_want {
    const char *dev;
    int port;
};

static int ib_hca_entry_match(const char *entry, size_t len, int exact, const void *arg)
{
    const struct ib_hca_want *w = arg;
    const char *dev = w->dev;
    int port = w->port;
    const char *colon = memchr(entry, ':', len);
    size_t nlen = colon ? (size_t)(colon - entry) : len;
    if (colon) {
        int want = 0;
        for (const char *p = colon + 1; p < entry + len; p++) {
            if (*p < '0' || *p > '9')
                return 0;
            want = want * 10 + (*p - '0');
            if (want > 255) /* port numbers are 8 bits: more digits cannot match (nor overflow) */
                return 0;
        }
        if (want != port)
            return 0;
    }
    if (exact)
        return strlen(dev) == nlen && strncmp(dev, entry, nlen) == 0;
    return strncmp(dev, entry, nlen) == 0;
}

int ib_hca_match(const char *spec, const char *dev, int port)
{
    struct ib_hca_want w = {dev, port};
    return halo_spec_match(spec, ib_hca_entry_match, &w);
}

int ib_mtu_bytes(enum ibv_mtu mtu)
{
    return (mtu >= IBV_MTU_256 && mtu <= IBV_MTU_4096) ? 128 << (int)mtu : 0;
}

const char *ib_port_speed_str(const struct ibv_port_attr *pa, char *buf, size_t len)
{
    /* Per-lane data rate in Mbit/s by active_speed code (IBTA encoding). */
    double lane;
    switch (pa->active_speed) {
    case 1: lane = 2500; break;    /* SDR */
    case 2: lane = 5000; break;    /* DDR */
    case 4: lane = 10000; break;   /* QDR; also 10GbE-class Ethernet */
    case 8: lane = 10312.5; break; /* FDR10 */
    case 16: lane = 14062.5; break; /* FDR */
    case 32: lane = 25781.25; break; /* EDR */
    case 64: lane = 53125; break;  /* HDR */
    case 128: lane = 106250; break; /* NDR */
    default: lane = 0; break;
    }
    int width;
    switch (pa->active_width) {
    case 1: width = 1; break;
    case 2: width = 4; break;
    case 4: width = 8; break;
    case 8: width = 12; break;
    case 16: width = 2; break;
    default: width = 0; break;
    }
    if (lane == 0 || width == 0)
        snprintf(buf, len, "unknown speed (code %u, width %u)", pa->active_speed, pa->active_width);
    else
        snprintf(buf, len, "%.0f Gbit/s (%dx, speed code %u)", lane * width / 1000.0, width, pa->active_speed);
    return buf;
}

/* ---- HALO_IB_GID_INDEX: the port's GID table ---- */

const char *ib_gid_api_missing(void)
{
    const struct ib_api *api = ib_api();
    if (!api)
        return "rdma-core is not loaded";
    if (!api->query_gid_ex)
        return "libibverbs lacks _ibv_query_gid_ex (rdma-core v32 or later needed)";
    if (!api->init_qp_attr || !api->establish)
        return "librdmacm lacks rdma_init_qp_attr or rdma_establish (rdma-core v30 or later needed)";
    return NULL;
}

const char *ib_gid_str(const union ibv_gid *g, char *buf, size_t len)
{
    if (!inet_ntop(AF_INET6, g->raw, buf, (socklen_t)len)) /* ::ffff:10.0.0.1 for an IPv4 one */
        snprintf(buf, len, "?");
    return buf;
}

int ib_gid_is_v4(const union ibv_gid *g)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(g->raw, prefix, sizeof(prefix)) == 0;
}

static int ib_gid_is_zero(const union ibv_gid *g)
{
    static const uint8_t zero[16];
    return memcmp(g->raw, zero, sizeof(zero)) == 0;
}

static const char *ib_gid_type_str(uint32_t type)
{
    switch (type) {
    case IBV_GID_TYPE_IB: return "an InfiniBand GID";
    case IBV_GID_TYPE_ROCE_V1: return "RoCE v1";
    case IBV_GID_TYPE_ROCE_V2: return "RoCE v2";
    default: return "of an unknown type";
    }
}

/* Entry `index`, or -1 with errno (ENODATA: empty). */
static int ib_gid_entry(struct ibv_context *ctx, int port, int index, struct ibv_gid_entry *e)
{
    memset(e, 0, sizeof(*e));
    int rc = ib_table.query_gid_ex(ctx, (uint32_t)port, (uint32_t)index, e, 0, sizeof(*e));
    if (rc != 0) {
        errno = rc > 0 ? rc : errno;
        return -1;
    }
    if (ib_gid_is_zero(&e->gid)) {
        errno = ENODATA;
        return -1;
    }
    return 0;
}

int ib_gid_find(struct ibv_context *ctx, int port, const union ibv_gid *gid)
{
    int first = -1;
    for (int i = 0; ib_api() && i < 256; i++) {
        union ibv_gid g;
        struct ibv_gid_entry e;
        if (ib_table.query_gid(ctx, (uint8_t)port, i, &g) != 0)
            break;
        if (memcmp(&g, gid, sizeof(g)) != 0)
            continue;
        if (!ib_table.query_gid_ex || (ib_gid_entry(ctx, port, i, &e) == 0 && e.gid_type == IBV_GID_TYPE_ROCE_V2))
            return i;
        if (first < 0)
            first = i;
    }
    return first;
}

const char *ib_gid_list(struct ibv_context *ctx, int port, char *buf, size_t len)
{
    struct ibv_port_attr pa;
    size_t used = 0;
    buf[0] = 0;
    memset(&pa, 0, sizeof(pa));
    if (!ib_api() || !ib_table.query_gid_ex || ib_table.query_port(ctx, (uint8_t)port, &pa) != 0)
        return buf;
    for (int i = 0; i < pa.gid_tbl_len && i < 256 && used + 1 < len; i++) {
        struct ibv_gid_entry e;
        char gid[64], ifname[IF_NAMESIZE] = "?";
        if (ib_gid_entry(ctx, port, i, &e) != 0 || e.gid_type != IBV_GID_TYPE_ROCE_V2)
            continue;
        if (e.ndev_ifindex)
            if_indextoname(e.ndev_ifindex, ifname);
        int n = snprintf(buf + used, len - used, "%s%d %s (%s)", used ? ", " : "", i,
                         ib_gid_str(&e.gid, gid, sizeof(gid)), ifname);
        used = n < 0 ? len : used + (size_t)n;
    }
    if (used >= len && len > 4)
        snprintf(buf + len - 4, 4, "...");
    return buf;
}

/* The sentence for a GID index that cannot be used: what is wrong, then what is there. */
static haloResult_t ib_gid_refuse(struct ibv_context *ctx, int port, int index, haloResult_t res, char *why,
                                  size_t len, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static haloResult_t ib_gid_refuse(struct ibv_context *ctx, int port, int index, haloResult_t res, char *why,
                                  size_t len, const char *fmt, ...)
{
    char what[160], list[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    const char *dev = ib_table.get_device_name(ctx->device);
    ib_gid_list(ctx, port, list, sizeof(list));
    snprintf(why, len,
             "HALO_IB_GID_INDEX=%d: GID index %d of %s port %d %s; the RoCE v2 GIDs there: %s. Set one of those "
             "indexes (`show_gids`, /sys/class/infiniband/%s/ports/%d/gids/) or unset HALO_IB_GID_INDEX for "
             "rdma_cm's choice (the GID of the interface's IP)",
             index, index, dev, port, what, list[0] ? list : "none", dev, port);
    return res;
}

haloResult_t ib_gid_forced(struct ibv_context *ctx, int port, int index, union ibv_gid *gid, uint32_t *ifindex,
                           char *why, size_t len)
{
    const char *missing = ib_gid_api_missing();
    if (missing) {
        snprintf(why, len, "HALO_IB_GID_INDEX=%d cannot be used here: %s; unset it", index, missing);
        return haloSystemError;
    }
    struct ibv_port_attr pa;
    memset(&pa, 0, sizeof(pa));
    if (ib_table.query_port(ctx, (uint8_t)port, &pa) != 0) {
        snprintf(why, len, "HALO_IB_GID_INDEX=%d: ibv_query_port(%s, %d) failed: %s", index,
                 ib_table.get_device_name(ctx->device), port, strerror(errno));
        return haloSystemError;
    }
    if (index < 0 || index >= pa.gid_tbl_len || index > 255)
        return ib_gid_refuse(ctx, port, index, haloInvalidArgument, why, len,
                             "is out of range (the table has %d entries; a QP's GID index is 0..255)",
                             pa.gid_tbl_len);
    struct ibv_gid_entry e;
    if (ib_gid_entry(ctx, port, index, &e) != 0) {
        if (errno == ENODATA || errno == ENOENT || errno == EINVAL)
            return ib_gid_refuse(ctx, port, index, haloInvalidArgument, why, len, "is empty (all zero)");
        return ib_gid_refuse(ctx, port, index, haloSystemError, why, len, "could not be read: %s",
                             strerror(errno));
    }
    char g[64];
    if (e.gid_type != IBV_GID_TYPE_ROCE_V2)
        return ib_gid_refuse(ctx, port, index, haloInvalidArgument, why, len, "is %s (%s), not RoCE v2",
                             ib_gid_type_str(e.gid_type), ib_gid_str(&e.gid, g, sizeof(g)));
    *gid = e.gid;
    *ifindex = e.ndev_ifindex;
    return haloSuccess;
}

#else /* !HALO_IB_HEADERS: built without rdma-core headers */

static const char ib_no_headers[] =
    "haloccl was built without the rdma-core headers (install libibverbs-dev and librdmacm-dev and rebuild)";

int ib_supported(void)
{
    return 0;
}

int ib_load_state(void)
{
    return 0;
}

const char *ib_unsupported_reason(void)
{
    return ib_no_headers;
}

int ib_device_of_addr(const struct halo_sockaddr *addr, char *dev, size_t devlen, int *port, int *active)
{
    return 0;
}

haloResult_t ib_listen_start(struct halo_tp_ctx *ctx, const struct halo_ib_config *cfg, struct halo_ib **ib,
                             struct halo_ib_peer_info *me)
{
    return halo_tp_error(ctx, haloSystemError, "rank %d: the ib transport cannot be used: %s", ctx->rank,
                         ib_no_headers);
}

haloResult_t ib_connect_all(struct halo_ib *ib, int nchannels, const struct halo_ib_peer_info *const *peers,
                            struct halo_conn **conns)
{
    return haloInternalError;
}

void ib_ctx_set(struct halo_ib *ib, struct halo_tp_ctx *ctx)
{
}

void ib_destroy(struct halo_ib *ib)
{
}

int ib_link_first_warning(struct halo_ib *ib, const struct halo_tp_link *l)
{
    return 1;
}

const struct halo_transport_ops halo_ib_ops = {.name = "ib"};

#endif
