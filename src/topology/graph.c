/* SPDX-License-Identifier: MIT */
/*
 * graph.c — the host graph from every rank's discovery record.
 *
 * Steps (topo_graph_create):
 *   1. hosts: ranks grouped by host hash, hosts indexed by their lowest rank;
 *   2. segments: every up interface address reduced to its subnet; interfaces of the
 *      same subnet form a segment, one with more than two hosts is a switch;
 *   3. candidate links: each pair of interfaces of two different hosts in a segment;
 *   4. selection: per host pair and segment one link is kept — the first (by host,
 *      then interface order) that the caller's probe confirms. Two hosts that share a
 *      subnet over two cables therefore use ONE of them; the others are kept in the
 *      list as TOPO_LINK_DUPLICATE with a note that says to give each cable its own
 *      subnet (with one subnet the kernel routes both flows through one interface
 *      anyway, so two "links" there would not add bandwidth);
 *   5. management network: interfaces flagged TOPO_IF_MGMT (or, when no rank flagged
 *      one, the IPv4 default route's) carry no data, unless the job has no other
 *      network at all and no data interface is down (a switch-only cluster), which
 *      is noted;
 *   6. checks: a host with no link, or groups of hosts with no link between them,
 *      fail with the hosts named and the graph printed;
 *   7. classification and order (graph_order.c), then neighbour links per host.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

/* An interface address reduced to its subnet: one member of a segment. */
struct topo_ep {
    struct topo_addr net; /* address with host bits cleared */
    struct topo_addr addr;
    int host, iface, mgmt;
};

struct topo_build {
    const struct topo_rank_info *infos;
    int nranks;
    const int *by_rank; /* by_rank[r] = index of rank r's record */
    int mgmt_by_flag;   /* some rank flagged its bootstrap interface */
};

void topo_graph_note(struct topo_graph *g, const char *fmt, ...)
{
    size_t used = strlen(g->notes);
    va_list ap;

    if (used + 2 >= sizeof(g->notes))
        return;
    va_start(ap, fmt);
    vsnprintf(g->notes + used, sizeof(g->notes) - used - 1, fmt, ap);
    va_end(ap);
    strcat(g->notes, "\n");
}

/* ---------------------------------------------------------------- records, hosts */

static haloResult_t topo_infos_check(const struct topo_rank_info *infos, int nranks, int *by_rank,
                                     struct topo_buf *b)
{
    for (int r = 0; r < nranks; r++)
        by_rank[r] = -1;
    for (int i = 0; i < nranks; i++) {
        const struct topo_rank_info *in = &infos[i];
        if (in->magic != TOPO_INFO_MAGIC || in->version != TOPO_INFO_VERSION) {
            topo_buf_add(b, "topology: record %d is not a version %d topology record (magic 0x%x, "
                         "version %u): are all ranks running the same haloccl build?",
                         i, TOPO_INFO_VERSION, in->magic, in->version);
            return haloInvalidArgument;
        }
        if (in->rank < 0 || in->rank >= nranks || by_rank[in->rank] >= 0 ||
            in->n_ifaces > TOPO_MAX_IFACES) {
            topo_buf_add(b, "topology: record %d has rank %d (of %d) or %u interfaces: the "
                         "records must hold each rank once", i, in->rank, nranks, in->n_ifaces);
            return haloInvalidArgument;
        }
        by_rank[in->rank] = i;
    }
    return haloSuccess;
}

/* Hostnames repeat when namespaces or containers share one: later ones get "#2", "#3". */
static void topo_host_name_set(struct topo_graph *g, const struct topo_build *bd, int h)
{
    const char *name = bd->infos[bd->by_rank[g->hosts[h].first_rank]].hostname;
    int dup = 0;

    for (int k = 0; k < h; k++)
        dup += strncmp(bd->infos[bd->by_rank[g->hosts[k].first_rank]].hostname, name,
                       TOPO_HOSTNAME_LEN) == 0;
    if (dup)
        snprintf(g->hosts[h].name, sizeof(g->hosts[h].name), "%.*s#%d", TOPO_HOSTNAME_LEN - 13,
                 name, dup + 1);
    else
        snprintf(g->hosts[h].name, sizeof(g->hosts[h].name), "%.*s", TOPO_HOSTNAME_LEN - 1, name);
}

static void topo_hosts_group(struct topo_graph *g, const struct topo_build *bd)
{
    for (int r = 0; r < bd->nranks; r++) {
        const struct topo_rank_info *in = &bd->infos[bd->by_rank[r]];
        int h = 0;
        while (h < g->nhosts && g->hosts[h].hash != in->host_hash)
            h++;
        if (h == g->nhosts) {
            struct topo_host *nh = &g->hosts[g->nhosts++];
            nh->hash = in->host_hash;
            nh->first_rank = r;
            nh->n_ifaces = in->n_ifaces;
            memcpy(nh->ifaces, in->ifaces, sizeof(nh->ifaces));
            nh->left.host = nh->right.host = -1;
            nh->left.link = nh->right.link = -1;
            topo_host_name_set(g, bd, h);
        }
        g->hosts[h].nranks++;
        g->rank_host[r] = h;
    }
}

/* ---------------------------------------------------------------- segments, links */

static int topo_iface_is_mgmt(const struct topo_build *bd, const struct topo_iface *ifc)
{
    return bd->mgmt_by_flag ? !!(ifc->flags & TOPO_IF_MGMT) : !!(ifc->flags & TOPO_IF_DEFAULT_ROUTE);
}

static struct topo_addr topo_net_of(const struct topo_addr *a)
{
    struct topo_addr net = *a;
    int nbytes = a->family == TOPO_AF_INET ? 4 : 16;

    for (int i = 0; i < 16; i++) {
        int bits = a->prefix_len - 8 * i;
        uint8_t mask = i >= nbytes || bits <= 0 ? 0 : bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
        net.bytes[i] &= mask;
    }
    memset(net.pad, 0, sizeof(net.pad));
    return net;
}

static int topo_ep_cmp(const void *pa, const void *pb)
{
    const struct topo_ep *a = pa, *b = pb;
    int c = memcmp(&a->net, &b->net, sizeof(a->net));

    if (c)
        return c;
    return a->host != b->host ? a->host - b->host : a->iface - b->iface;
}

static int topo_eps_collect(const struct topo_graph *g, const struct topo_build *bd,
                            struct topo_ep *eps)
{
    int n = 0;

    for (int h = 0; h < g->nhosts; h++)
        for (int i = 0; i < g->hosts[h].n_ifaces; i++) {
            const struct topo_iface *ifc = &g->hosts[h].ifaces[i];
            const struct topo_addr *as[2] = { &ifc->addr4, &ifc->addr6 };
            if (!(ifc->flags & TOPO_IF_UP))
                continue;
            for (int k = 0; k < 2; k++) {
                if (as[k]->family == TOPO_AF_NONE)
                    continue;
                eps[n] = (struct topo_ep){ .net = topo_net_of(as[k]), .addr = *as[k], .host = h,
                                           .iface = i, .mgmt = topo_iface_is_mgmt(bd, ifc) };
                n++;
            }
        }
    qsort(eps, (size_t)n, sizeof(*eps), topo_ep_cmp);
    return n;
}

static int topo_link_exists(const struct topo_graph *g, const struct topo_ep *a, const struct topo_ep *b)
{
    for (int i = 0; i < g->nlinks; i++) {
        const struct topo_link *l = &g->links[i];
        if (l->host[0] == a->host && l->iface[0] == a->iface && l->host[1] == b->host &&
            l->iface[1] == b->iface)
            return 1;
    }
    return 0;
}

static void topo_link_add(struct topo_graph *g, const struct topo_ep *a, const struct topo_ep *b,
                          int seg)
{
    struct topo_link *l = &g->links[g->nlinks++];
    const struct topo_ep *e[2] = { a, b };

    memset(l, 0, sizeof(*l));
    l->index = g->nlinks - 1;
    l->segment = seg;
    l->family = a->addr.family;
    l->rtt_us = -1;
    l->bw_mbps = -1;
    l->share = -1;
    l->speed_mbps = -1;
    l->switched = g->segments[seg].nhosts > 2;
    l->mgmt = a->mgmt || b->mgmt;
    for (int s = 0; s < 2; s++) {
        const struct topo_iface *ifc = &g->hosts[e[s]->host].ifaces[e[s]->iface];
        l->host[s] = e[s]->host;
        l->iface[s] = e[s]->iface;
        l->rank[s] = g->hosts[e[s]->host].first_rank;
        topo_strlcpy(l->ifname[s], ifc->name, sizeof(l->ifname[s]));
        topo_strlcpy(l->driver[s], ifc->driver, sizeof(l->driver[s]));
        topo_addr_str(&e[s]->addr, l->addr[s], sizeof(l->addr[s]));
        if (ifc->speed_mbps > 0 && (l->speed_mbps < 0 || ifc->speed_mbps < l->speed_mbps))
            l->speed_mbps = ifc->speed_mbps;
        if (ifc->mtu > 0 && (l->mtu == 0 || ifc->mtu < l->mtu))
            l->mtu = ifc->mtu;
    }
    if (memcmp(a->addr.bytes, b->addr.bytes, sizeof(a->addr.bytes)) == 0)
        l->state = TOPO_LINK_SAME_ADDR;
}

/* One run of equal subnets [lo, hi): a segment, and its candidate links. */
static void topo_segment_add(struct topo_graph *g, const struct topo_ep *eps, int lo, int hi)
{
    struct topo_segment *sg = &g->segments[g->nsegments];
    int seg = g->nsegments++;

    topo_subnet_str(&eps[lo].net, sg->subnet, sizeof(sg->subnet));
    for (int i = lo; i < hi; i++) {
        sg->nhosts += i == lo || eps[i].host != eps[i - 1].host;
        sg->mgmt |= eps[i].mgmt;
    }
    for (int i = lo; i < hi; i++)
        for (int j = i + 1; j < hi; j++)
            if (eps[i].host != eps[j].host && !topo_link_exists(g, &eps[i], &eps[j]))
                topo_link_add(g, &eps[i], &eps[j], seg);
}

static haloResult_t topo_links_find(struct topo_graph *g, const struct topo_build *bd)
{
    size_t neps_max = (size_t)g->nhosts * TOPO_MAX_IFACES * 2;
    struct topo_ep *eps = calloc(neps_max, sizeof(*eps));
    int n, lo, pairs = 0;

    if (!eps)
        return haloSystemError;
    n = topo_eps_collect(g, bd, eps);
    for (lo = 0; lo < n;) {
        int hi = lo + 1;
        while (hi < n && memcmp(&eps[hi].net, &eps[lo].net, sizeof(eps[lo].net)) == 0)
            hi++;
        pairs += (hi - lo) * (hi - lo - 1) / 2;
        lo = hi;
    }
    g->segments = calloc((size_t)(n > 0 ? n : 1), sizeof(*g->segments));
    g->links = calloc((size_t)(pairs > 0 ? pairs : 1), sizeof(*g->links));
    if (!g->segments || !g->links) {
        free(eps);
        return haloSystemError;
    }
    for (lo = 0; lo < n;) {
        int hi = lo + 1;
        while (hi < n && memcmp(&eps[hi].net, &eps[lo].net, sizeof(eps[lo].net)) == 0)
            hi++;
        topo_segment_add(g, eps, lo, hi);
        lo = hi;
    }
    free(eps);
    return haloSuccess;
}

/* ---------------------------------------------------------------- selection, probe */

int topo_link_usable(const struct topo_graph *g, const struct topo_link *l)
{
    return l->state == TOPO_LINK_OK && (!l->mgmt || g->mgmt_used);
}

/* Earlier kept link of the same host pair in the same segment, or -1. */
static int topo_link_sibling(const struct topo_graph *g, int idx)
{
    const struct topo_link *l = &g->links[idx];

    for (int k = 0; k < idx; k++) {
        const struct topo_link *o = &g->links[k];
        if (o->state == TOPO_LINK_OK && o->segment == l->segment && o->host[0] == l->host[0] &&
            o->host[1] == l->host[1])
            return k;
    }
    return -1;
}

static void topo_link_select(struct topo_graph *g, int idx, const struct topo_options *opt)
{
    struct topo_link *l = &g->links[idx];
    int sib = topo_link_sibling(g, idx);
    double rtt = -1;

    if (sib >= 0) {
        const struct topo_link *k = &g->links[sib];
        l->state = TOPO_LINK_DUPLICATE;
        topo_graph_note(g, "hosts %s and %s share subnet %s on more than one interface pair: using "
                        "%s:%s <-> %s:%s, ignoring %s:%s <-> %s:%s; give each cable its own subnet to "
                        "use both", g->hosts[l->host[0]].name, g->hosts[l->host[1]].name,
                        g->segments[l->segment].subnet, g->hosts[k->host[0]].name, k->ifname[0],
                        g->hosts[k->host[1]].name, k->ifname[1], g->hosts[l->host[0]].name,
                        l->ifname[0], g->hosts[l->host[1]].name, l->ifname[1]);
        return;
    }
    if (!opt || !opt->probe)
        return;
    if (opt->probe(opt->probe_arg, l, &rtt) != 0) {
        l->state = TOPO_LINK_PROBE_FAILED;
        topo_graph_note(g, "link %s:%s %s <-> %s:%s %s did not answer the probe: not used",
                        g->hosts[l->host[0]].name, l->ifname[0], l->addr[0],
                        g->hosts[l->host[1]].name, l->ifname[1], l->addr[1]);
        return;
    }
    l->rtt_us = rtt;
}

static int topo_data_iface_down(const struct topo_graph *g, const struct topo_build *bd)
{
    for (int h = 0; h < g->nhosts; h++)
        for (int i = 0; i < g->hosts[h].n_ifaces; i++) {
            const struct topo_iface *ifc = &g->hosts[h].ifaces[i];
            if (!(ifc->flags & TOPO_IF_UP) && !topo_iface_is_mgmt(bd, ifc))
                return 1;
        }
    return 0;
}

static void topo_links_select(struct topo_graph *g, const struct topo_build *bd,
                              const struct topo_options *opt)
{
    int data_links = 0;

    for (int i = 0; i < g->nlinks; i++) {
        struct topo_link *l = &g->links[i];
        if (l->state == TOPO_LINK_SAME_ADDR)
            topo_graph_note(g, "%s:%s and %s:%s both hold %s: not a link (cloned address?)",
                            g->hosts[l->host[0]].name, l->ifname[0], g->hosts[l->host[1]].name,
                            l->ifname[1], l->addr[0]);
        else if (!l->mgmt)
            topo_link_select(g, i, opt);
        data_links += !l->mgmt && l->state == TOPO_LINK_OK;
    }
    if (data_links > 0 || g->nhosts < 2 || topo_data_iface_down(g, bd))
        return;
    g->mgmt_used = 1;
    for (int i = 0; i < g->nlinks; i++)
        if (g->links[i].mgmt && g->links[i].state == TOPO_LINK_OK)
            topo_link_select(g, i, opt);
    topo_graph_note(g, "no network besides the management one: data runs over it");
}

/* ---------------------------------------------------------------- checks */

static void topo_degrees_count(struct topo_graph *g)
{
    for (int a = 0; a < g->nhosts; a++) {
        g->hosts[a].degree = 0;
        for (int b = 0; b < g->nhosts; b++)
            g->hosts[a].degree += a != b && topo_graph_link_between(g, a, b) >= 0;
    }
}

/* Labels each host with its component (BFS over usable links); returns the count. */
static int topo_components(const struct topo_graph *g, int *comp, int *queue)
{
    int ncomp = 0;

    for (int h = 0; h < g->nhosts; h++)
        comp[h] = -1;
    for (int s = 0; s < g->nhosts; s++) {
        int head = 0, tail = 0;
        if (comp[s] >= 0)
            continue;
        comp[s] = ncomp;
        queue[tail++] = s;
        while (head < tail) {
            int a = queue[head++];
            for (int b = 0; b < g->nhosts; b++)
                if (comp[b] < 0 && topo_graph_link_between(g, a, b) >= 0) {
                    comp[b] = ncomp;
                    queue[tail++] = b;
                }
        }
        ncomp++;
    }
    return ncomp;
}

static void topo_down_ifaces_list(const struct topo_graph *g, struct topo_buf *b)
{
    int n = 0;
    char addr[TOPO_ADDRSTR_LEN + 4];

    for (int h = 0; h < g->nhosts; h++)
        for (int i = 0; i < g->hosts[h].n_ifaces; i++) {
            const struct topo_iface *ifc = &g->hosts[h].ifaces[i];
            if (ifc->flags & TOPO_IF_UP)
                continue;
            topo_buf_add(b, "%s%s:%s", n++ ? ", " : "; interfaces down: ", g->hosts[h].name, ifc->name);
            if (ifc->addr4.family)
                topo_buf_add(b, " (%s)", topo_subnet_str(&ifc->addr4, addr, sizeof(addr)));
        }
}

static haloResult_t topo_isolated_check(const struct topo_graph *g, struct topo_buf *b)
{
    int n = 0;

    for (int h = 0; h < g->nhosts; h++)
        if (g->hosts[h].degree == 0)
            topo_buf_add(b, "%s%s", n++ ? ", " : "topology: no data link reaches host ", g->hosts[h].name);
    if (!n)
        return haloSuccess;
    topo_buf_add(b, " (no interface of it shares a subnet with another host's%s); links found: ",
                 g->mgmt_used ? "" : ", management network excluded");
    topo_links_summary(g, b);
    topo_down_ifaces_list(g, b);
    topo_buf_add(b, ". Cable it to a neighbour with both ends in one subnet, or leave it out of the job.");
    return haloInvalidUsage;
}

static haloResult_t topo_connected_check(const struct topo_graph *g, struct topo_buf *b)
{
    int *comp = calloc((size_t)g->nhosts * 2, sizeof(int));
    int ncomp;

    if (!comp)
        return haloSystemError;
    ncomp = topo_components(g, comp, comp + g->nhosts);
    if (ncomp > 1) {
        topo_buf_add(b, "topology: the data links split the hosts into %d groups with no link "
                     "between them:", ncomp);
        for (int c = 0; c < ncomp; c++) {
            int k = 0;
            topo_buf_add(b, " {");
            for (int h = 0; h < g->nhosts; h++)
                if (comp[h] == c)
                    topo_buf_add(b, "%s%s", k++ ? ", " : "", g->hosts[h].name);
            topo_buf_add(b, "}");
        }
        topo_buf_add(b, "; links found: ");
        topo_links_summary(g, b);
        topo_down_ifaces_list(g, b);
        topo_buf_add(b, ". Check the cable between the groups.");
    }
    free(comp);
    return ncomp > 1 ? haloInvalidUsage : haloSuccess;
}

/* ---------------------------------------------------------------- neighbours */

static void topo_nbr_fill(const struct topo_graph *g, int h, int nb, struct topo_nbr *out)
{
    int li = nb >= 0 ? topo_graph_link_between(g, h, nb) : -1;
    const struct topo_link *l;
    int me;

    memset(out, 0, sizeof(*out));
    out->host = -1;
    out->link = -1;
    if (li < 0)
        return;
    l = &g->links[li];
    me = l->host[0] == h ? 0 : 1;
    out->host = nb;
    out->link = li;
    topo_strlcpy(out->ifname, l->ifname[me], sizeof(out->ifname));
    topo_strlcpy(out->local_addr, l->addr[me], sizeof(out->local_addr));
    topo_strlcpy(out->remote_addr, l->addr[1 - me], sizeof(out->remote_addr));
    topo_strlcpy(out->remote_ifname, l->ifname[1 - me], sizeof(out->remote_ifname));
}

static int topo_order_wraps(const struct topo_graph *g)
{
    return g->cls != TOPO_CLASS_CHAIN;
}

static void topo_neighbors_fill(struct topo_graph *g)
{
    int n = g->nhosts, wrap = topo_order_wraps(g) && n > 1;

    for (int p = 0; p < n; p++) {
        int h = g->host_order[p];
        int left = p > 0 ? g->host_order[p - 1] : wrap ? g->host_order[n - 1] : -1;
        int right = p < n - 1 ? g->host_order[p + 1] : wrap ? g->host_order[0] : -1;
        g->hosts[h].pos = p;
        topo_nbr_fill(g, h, left, &g->hosts[h].left);
        topo_nbr_fill(g, h, right, &g->hosts[h].right);
    }
}

static void topo_rank_order_fill(struct topo_graph *g)
{
    int k = 0;

    for (int p = 0; p < g->nhosts; p++)
        for (int r = 0; r < g->nranks; r++)
            if (g->rank_host[r] == g->host_order[p])
                g->rank_order[k++] = r;
}

/* ---------------------------------------------------------------- public */

void topo_options_init(struct topo_options *o)
{
    memset(o, 0, sizeof(*o));
    o->force = TOPO_CLASS_AUTO;
}

static struct topo_graph *topo_graph_alloc(int nranks)
{
    struct topo_graph *g = calloc(1, sizeof(*g));

    if (!g)
        return NULL;
    g->nranks = nranks;
    g->cls = TOPO_CLASS_OTHER;
    g->hosts = calloc((size_t)nranks, sizeof(*g->hosts));
    g->host_order = calloc((size_t)nranks, sizeof(int));
    g->rank_order = calloc((size_t)nranks, sizeof(int));
    g->rank_host = calloc((size_t)nranks, sizeof(int));
    if (!g->hosts || !g->host_order || !g->rank_order || !g->rank_host) {
        topo_graph_destroy(g);
        return NULL;
    }
    return g;
}

static haloResult_t topo_graph_build(struct topo_graph *g, struct topo_build *bd,
                                     const struct topo_options *opt, struct topo_buf *b)
{
    haloResult_t res;

    topo_hosts_group(g, bd);
    for (int h = 0; h < g->nhosts && !bd->mgmt_by_flag; h++)
        for (int i = 0; i < g->hosts[h].n_ifaces; i++)
            bd->mgmt_by_flag |= !!(g->hosts[h].ifaces[i].flags & TOPO_IF_MGMT);
    if (topo_links_find(g, bd) != haloSuccess) {
        topo_buf_add(b, "topology: out of memory building the graph of %d ranks", g->nranks);
        return haloSystemError;
    }
    topo_links_select(g, bd, opt);
    topo_degrees_count(g);
    if (g->nhosts > 1) {
        res = topo_isolated_check(g, b);
        if (res == haloSuccess)
            res = topo_connected_check(g, b);
        if (res != haloSuccess)
            return res;
    }
    res = topo_graph_order(g, opt, b);
    if (res != haloSuccess)
        return res;
    topo_neighbors_fill(g);
    topo_rank_order_fill(g);
    return haloSuccess;
}

haloResult_t topo_graph_create(const struct topo_rank_info *infos, int nranks,
                               const struct topo_options *opt, struct topo_graph **out,
                               char *err, size_t errlen)
{
    struct topo_build bd = { .infos = infos, .nranks = nranks };
    struct topo_buf b;
    struct topo_graph *g = NULL;
    int *by_rank = NULL;
    haloResult_t res;

    topo_buf_init(&b, err, errlen);
    if (!infos || nranks < 1 || !out) {
        topo_buf_add(&b, "topology: no records to build a graph from (nranks %d)", nranks);
        return haloInvalidArgument;
    }
    by_rank = calloc((size_t)nranks, sizeof(int));
    g = by_rank ? topo_graph_alloc(nranks) : NULL;
    if (!g) {
        topo_buf_add(&b, "topology: out of memory for a graph of %d ranks", nranks);
        res = haloSystemError;
        goto err_destroy;
    }
    bd.by_rank = by_rank;
    res = topo_infos_check(infos, nranks, by_rank, &b);
    if (res == haloSuccess)
        res = topo_graph_build(g, &bd, opt, &b);
    if (res != haloSuccess)
        goto err_print_graph;
    free(by_rank);
    *out = g;
    return haloSuccess;
err_print_graph:
    if (g->nhosts > 0) {
        topo_buf_add(&b, "\n");
        topo_graph_format_inventory(g, &b);
    }
err_destroy:
    topo_graph_destroy(g);
    free(by_rank);
    return res;
}

void topo_graph_destroy(struct topo_graph *g)
{
    if (!g)
        return;
    free(g->hosts);
    free(g->links);
    free(g->segments);
    free(g->host_order);
    free(g->rank_order);
    free(g->rank_host);
    free(g);
}

static int topo_link_better(const struct topo_link *a, const struct topo_link *b)
{
    if (a->speed_mbps != b->speed_mbps)
        return a->speed_mbps > b->speed_mbps;
    if (a->rtt_us >= 0 && b->rtt_us >= 0 && a->rtt_us != b->rtt_us)
        return a->rtt_us < b->rtt_us;
    return !a->switched && b->switched;
}

/* The first usable link between hosts a and b at index from or later, or -1. */
static int topo_pair_next(const struct topo_graph *g, int a, int b, int from)
{
    if (a > b) {
        int t = a;
        a = b;
        b = t;
    }
    for (int i = from; i < g->nlinks; i++) {
        const struct topo_link *l = &g->links[i];
        if (l->host[0] == a && l->host[1] == b && topo_link_usable(g, l))
            return i;
    }
    return -1;
}

int topo_graph_link_between(const struct topo_graph *g, int a, int b)
{
    int best = -1;

    for (int i = topo_pair_next(g, a, b, 0); i >= 0; i = topo_pair_next(g, a, b, i + 1))
        if (best < 0 || topo_link_better(&g->links[i], &g->links[best]))
            best = i;
    return best;
}

int topo_graph_rails(const struct topo_graph *g, int a, int b, int *out, int max)
{
    int n = 0;

    for (int i = topo_pair_next(g, a, b, 0); i >= 0; i = topo_pair_next(g, a, b, i + 1)) {
        if (n < max)
            out[n] = i;
        n++;
    }
    return n;
}

int topo_graph_rank_pos(const struct topo_graph *g, int rank)
{
    for (int p = 0; p < g->nranks; p++)
        if (g->rank_order[p] == rank)
            return p;
    return -1;
}

void topo_graph_rank_neighbors(const struct topo_graph *g, int rank, int *left, int *right,
                               const struct topo_nbr **left_nbr, const struct topo_nbr **right_nbr)
{
    int n = g->nranks, p = topo_graph_rank_pos(g, rank), wrap = topo_order_wraps(g);
    int l = -1, r = -1, h = p >= 0 ? g->rank_host[rank] : -1;

    if (p >= 0 && n > 1) {
        l = p > 0 ? g->rank_order[p - 1] : wrap ? g->rank_order[n - 1] : -1;
        r = p < n - 1 ? g->rank_order[p + 1] : wrap ? g->rank_order[0] : -1;
    }
    if (left)
        *left = l;
    if (right)
        *right = r;
    if (left_nbr)
        *left_nbr = l >= 0 && g->rank_host[l] != h ? &g->hosts[h].left : NULL;
    if (right_nbr)
        *right_nbr = r >= 0 && g->rank_host[r] != h ? &g->hosts[h].right : NULL;
}
