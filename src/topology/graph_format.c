/* SPDX-License-Identifier: MIT */
/*
 * graph_format.c — the host graph as text (for people and error messages) and as JSON
 * (for halo-topo --json and the emulated-cluster tests). Both write into a caller
 * buffer with snprintf semantics: the return value is the length the whole text
 * needs, so a caller can size a second attempt.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "graph_internal.h"

void topo_buf_init(struct topo_buf *b, char *buf, size_t len)
{
    b->buf = buf;
    b->len = buf ? len : 0;
    b->pos = 0;
    if (b->len)
        b->buf[0] = '\0';
}

void topo_buf_add(struct topo_buf *b, const char *fmt, ...)
{
    size_t room = b->pos < b->len ? b->len - b->pos : 0;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(room ? b->buf + b->pos : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->pos += (size_t)n;
}

/* --------------------------------------------------------------- shared helpers */

void topo_links_summary(const struct topo_graph *g, struct topo_buf *b)
{
    int n = 0;

    for (int i = 0; i < g->nlinks; i++) {
        const struct topo_link *l = &g->links[i];
        if (!topo_link_usable(g, l))
            continue;
        topo_buf_add(b, "%s%s-%s (%s)", n++ ? ", " : "", g->hosts[l->host[0]].name,
                     g->hosts[l->host[1]].name, g->segments[l->segment].subnet);
    }
    if (!n)
        topo_buf_add(b, "none");
}

static void topo_ranks_list(const struct topo_graph *g, int h, struct topo_buf *b, const char *sep)
{
    int n = 0;

    for (int r = 0; r < g->nranks; r++)
        if (g->rank_host[r] == h)
            topo_buf_add(b, "%s%d", n++ ? sep : "", r);
}

static void topo_iface_text(const struct topo_iface *ifc, struct topo_buf *b)
{
    char a[TOPO_ADDRSTR_LEN + 8];

    topo_buf_add(b, "%s", ifc->name);
    if (ifc->addr4.family) {
        topo_addr_str(&ifc->addr4, a, sizeof(a));
        topo_buf_add(b, " %s/%d", a, ifc->addr4.prefix_len);
    }
    if (ifc->addr6.family) {
        topo_addr_str(&ifc->addr6, a, sizeof(a));
        topo_buf_add(b, " %s/%d", a, ifc->addr6.prefix_len);
    }
    topo_buf_add(b, " %s", ifc->driver[0] ? ifc->driver : "?");
    if (ifc->speed_mbps > 0)
        topo_buf_add(b, " %d Mbit/s", ifc->speed_mbps);
    if (ifc->rdma_dev[0])
        topo_buf_add(b, " rdma %s:%d%s", ifc->rdma_dev, ifc->rdma_port,
                     ifc->flags & TOPO_IF_RDMA_ACTIVE ? "" : " (inactive)");
    if (ifc->flags & TOPO_IF_MGMT)
        topo_buf_add(b, " [management]");
    if (!(ifc->flags & TOPO_IF_UP))
        topo_buf_add(b, " [down]");
}

static void topo_link_text(const struct topo_graph *g, const struct topo_link *l, struct topo_buf *b)
{
    topo_buf_add(b, "  %s:%s %s <-> %s:%s %s  %s%s", g->hosts[l->host[0]].name, l->ifname[0], l->addr[0],
                 g->hosts[l->host[1]].name, l->ifname[1], l->addr[1], g->segments[l->segment].subnet,
                 l->switched ? " (switched)" : "");
    if (l->speed_mbps > 0)
        topo_buf_add(b, "  %d Mbit/s", l->speed_mbps);
    if (l->rtt_us >= 0)
        topo_buf_add(b, "  rtt %.1f us", l->rtt_us);
    if (l->bw_mbps >= 0)
        topo_buf_add(b, "  measured %.0f Mbit/s", l->bw_mbps);
    if (l->share >= 0)
        topo_buf_add(b, "  rail: %.0f%% of the bytes", l->share * 100);
    if (l->state != TOPO_LINK_OK)
        topo_buf_add(b, "  [%s, unused]", topo_link_state_name(l->state));
    topo_buf_add(b, "\n");
}

static int topo_link_is_idle_mgmt(const struct topo_graph *g, const struct topo_link *l)
{
    return l->mgmt && !g->mgmt_used && l->state == TOPO_LINK_OK;
}

/* The unused management network, one line per subnet instead of one per pair. */
static void topo_mgmt_segment_text(const struct topo_graph *g, int seg, struct topo_buf *b)
{
    int n = 0;

    topo_buf_add(b, "  %s (management, unused):", g->segments[seg].subnet);
    for (int h = 0; h < g->nhosts; h++)
        for (int i = 0; i < g->nlinks; i++) {
            const struct topo_link *l = &g->links[i];
            int side = l->host[0] == h ? 0 : l->host[1] == h ? 1 : -1;
            if (l->segment != seg || side < 0 || !topo_link_is_idle_mgmt(g, l))
                continue;
            topo_buf_add(b, "%s%s:%s", n++ ? ", " : " ", g->hosts[h].name, l->ifname[side]);
            break;
        }
    topo_buf_add(b, "\n");
}

static void topo_links_text(const struct topo_graph *g, struct topo_buf *b)
{
    topo_buf_add(b, "links:%s\n", g->nlinks ? "" : " none");
    for (int i = 0; i < g->nlinks; i++)
        if (!topo_link_is_idle_mgmt(g, &g->links[i]))
            topo_link_text(g, &g->links[i], b);
    for (int s = 0; s < g->nsegments; s++)
        for (int i = 0; i < g->nlinks; i++)
            if (g->links[i].segment == s && topo_link_is_idle_mgmt(g, &g->links[i])) {
                topo_mgmt_segment_text(g, s, b);
                break;
            }
}

static void topo_notes_text(const struct topo_graph *g, struct topo_buf *b)
{
    const char *p = g->notes;

    if (!*p)
        return;
    topo_buf_add(b, "notes:\n");
    while (*p) {
        size_t n = strcspn(p, "\n");
        topo_buf_add(b, "  %.*s\n", (int)n, p);
        p += n + (p[n] == '\n');
    }
}

static void topo_host_ifaces_text(const struct topo_host *h, struct topo_buf *b)
{
    for (int i = 0; i < h->n_ifaces; i++) {
        topo_buf_add(b, "    ");
        topo_iface_text(&h->ifaces[i], b);
        topo_buf_add(b, "\n");
    }
    if (!h->n_ifaces)
        topo_buf_add(b, "    (no network interface besides loopback)\n");
}

void topo_graph_format_inventory(const struct topo_graph *g, struct topo_buf *b)
{
    topo_buf_add(b, "hosts:\n");
    for (int h = 0; h < g->nhosts; h++) {
        topo_buf_add(b, "  %s (ranks ", g->hosts[h].name);
        topo_ranks_list(g, h, b, ",");
        topo_buf_add(b, ")\n");
        topo_host_ifaces_text(&g->hosts[h], b);
    }
    topo_links_text(g, b);
    topo_notes_text(g, b);
}

/* ---------------------------------------------------------------- text */

static void topo_nbr_text(const struct topo_graph *g, const char *side, const struct topo_nbr *nb,
                          struct topo_buf *b)
{
    if (nb->host < 0)
        topo_buf_add(b, "    %-5s -\n", side);
    else
        topo_buf_add(b, "    %-5s %s via %s %s -> %s (%s)\n", side, g->hosts[nb->host].name, nb->ifname,
                     nb->local_addr, nb->remote_addr, nb->remote_ifname);
}

static void topo_order_text(const struct topo_graph *g, struct topo_buf *b)
{
    topo_buf_add(b, "order:");
    for (int p = 0; p < g->nhosts; p++)
        topo_buf_add(b, "%s%s", p ? " - " : " ", g->hosts[g->host_order[p]].name);
    if (g->cls == TOPO_CLASS_RING && g->nhosts > 2)
        topo_buf_add(b, " - (%s)", g->hosts[g->host_order[0]].name);
    topo_buf_add(b, "\nrank order:");
    for (int p = 0; p < g->nranks; p++) {
        int boundary = p > 0 && g->rank_host[g->rank_order[p]] != g->rank_host[g->rank_order[p - 1]];
        topo_buf_add(b, "%s%d", boundary ? " | " : " ", g->rank_order[p]);
    }
    topo_buf_add(b, "\n");
}

size_t topo_graph_format_text(const struct topo_graph *g, char *buf, size_t len)
{
    struct topo_buf b;

    topo_buf_init(&b, buf, len);
    topo_buf_add(&b, "topology: %s, %d host%s, %d rank%s%s%s%s%s%s\n", topo_class_name(g->cls), g->nhosts,
                 g->nhosts == 1 ? "" : "s", g->nranks, g->nranks == 1 ? "" : "s",
                 g->switched ? ", switched" : "", g->all_direct && g->nhosts > 1 ? ", all hosts direct" : "",
                 g->searched ? ", order found by search" : "", g->forced ? ", forced" : "",
                 g->mgmt_used ? ", over the management network" : "");
    topo_order_text(g, &b);
    topo_buf_add(&b, "hosts:\n");
    for (int p = 0; p < g->nhosts; p++) {
        const struct topo_host *h = &g->hosts[g->host_order[p]];
        topo_buf_add(&b, "  %s (ranks ", h->name);
        topo_ranks_list(g, g->host_order[p], &b, ",");
        topo_buf_add(&b, ")\n");
        if (g->nhosts > 1) {
            topo_nbr_text(g, "left", &h->left, &b);
            topo_nbr_text(g, "right", &h->right, &b);
        }
        topo_host_ifaces_text(h, &b);
    }
    topo_links_text(g, &b);
    topo_notes_text(g, &b);
    return b.pos;
}

/* ---------------------------------------------------------------- JSON */

static void topo_json_str(struct topo_buf *b, const char *s)
{
    topo_buf_add(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            topo_buf_add(b, "\\%c", c);
        else if (c < 0x20)
            topo_buf_add(b, "\\u%04x", c);
        else
            topo_buf_add(b, "%c", c);
    }
    topo_buf_add(b, "\"");
}

static void topo_json_key_str(struct topo_buf *b, const char *key, const char *s, int comma)
{
    topo_buf_add(b, "%s\"%s\":", comma ? "," : "", key);
    if (s && *s)
        topo_json_str(b, s);
    else
        topo_buf_add(b, "null");
}

static void topo_json_nbr(const struct topo_graph *g, const char *key, const struct topo_nbr *nb,
                          struct topo_buf *b)
{
    topo_buf_add(b, ",\"%s\":", key);
    if (nb->host < 0) {
        topo_buf_add(b, "null");
        return;
    }
    topo_buf_add(b, "{");
    topo_json_key_str(b, "host", g->hosts[nb->host].name, 0);
    topo_json_key_str(b, "ifname", nb->ifname, 1);
    topo_json_key_str(b, "local_addr", nb->local_addr, 1);
    topo_json_key_str(b, "remote_addr", nb->remote_addr, 1);
    topo_json_key_str(b, "remote_ifname", nb->remote_ifname, 1);
    topo_buf_add(b, ",\"link\":%d}", nb->link);
}

static void topo_json_addr(struct topo_buf *b, const char *key, const struct topo_addr *a)
{
    char s[TOPO_ADDRSTR_LEN], full[TOPO_ADDRSTR_LEN + 8] = "";

    if (a->family)
        snprintf(full, sizeof(full), "%s/%d", topo_addr_str(a, s, sizeof(s)), a->prefix_len);
    topo_json_key_str(b, key, full, 1);
}

static void topo_json_iface(const struct topo_iface *ifc, struct topo_buf *b, int comma)
{
    char rdma[TOPO_RDMA_LEN + 16] = "";

    if (ifc->rdma_dev[0])
        snprintf(rdma, sizeof(rdma), "%s:%d", ifc->rdma_dev, ifc->rdma_port);
    topo_buf_add(b, "%s", comma ? "," : "");
    topo_buf_add(b, "{");
    topo_json_key_str(b, "name", ifc->name, 0);
    topo_json_key_str(b, "driver", ifc->driver, 1);
    topo_json_addr(b, "addr4", &ifc->addr4);
    topo_json_addr(b, "addr6", &ifc->addr6);
    topo_json_key_str(b, "pci", ifc->pci, 1);
    topo_json_key_str(b, "rdma", rdma, 1);
    topo_buf_add(b, ",\"speed_mbps\":%d,\"mtu\":%d,\"numa_node\":%d,\"up\":%s,\"mgmt\":%s}",
                 ifc->speed_mbps, ifc->mtu, ifc->numa_node, ifc->flags & TOPO_IF_UP ? "true" : "false",
                 ifc->flags & TOPO_IF_MGMT ? "true" : "false");
}

static void topo_json_host(const struct topo_graph *g, int h, struct topo_buf *b)
{
    const struct topo_host *ho = &g->hosts[h];

    topo_buf_add(b, "{");
    topo_json_key_str(b, "name", ho->name, 0);
    topo_buf_add(b, ",\"hash\":\"0x%016llx\",\"pos\":%d,\"degree\":%d,\"ranks\":[",
                 (unsigned long long)ho->hash, ho->pos, ho->degree);
    topo_ranks_list(g, h, b, ",");
    topo_buf_add(b, "]");
    topo_json_nbr(g, "left", &ho->left, b);
    topo_json_nbr(g, "right", &ho->right, b);
    topo_buf_add(b, ",\"interfaces\":[");
    for (int i = 0; i < ho->n_ifaces; i++)
        topo_json_iface(&ho->ifaces[i], b, i > 0);
    topo_buf_add(b, "]}");
}

static int topo_link_in_order(const struct topo_graph *g, int li)
{
    for (int h = 0; h < g->nhosts; h++)
        if (g->hosts[h].left.link == li || g->hosts[h].right.link == li)
            return 1;
    return 0;
}

/* A measured value, or null when negative (not measured). */
static void topo_json_num(struct topo_buf *b, double v, int decimals)
{
    if (v >= 0)
        topo_buf_add(b, "%.*f", decimals, v);
    else
        topo_buf_add(b, "null");
}

static void topo_json_link(const struct topo_graph *g, int li, struct topo_buf *b)
{
    const struct topo_link *l = &g->links[li];

    topo_buf_add(b, "{");
    topo_json_key_str(b, "a", g->hosts[l->host[0]].name, 0);
    topo_json_key_str(b, "a_ifname", l->ifname[0], 1);
    topo_json_key_str(b, "a_addr", l->addr[0], 1);
    topo_json_key_str(b, "b", g->hosts[l->host[1]].name, 1);
    topo_json_key_str(b, "b_ifname", l->ifname[1], 1);
    topo_json_key_str(b, "b_addr", l->addr[1], 1);
    topo_json_key_str(b, "subnet", g->segments[l->segment].subnet, 1);
    topo_buf_add(b, ",\"speed_mbps\":%d,\"mtu\":%d,\"rtt_us\":", l->speed_mbps, l->mtu);
    topo_json_num(b, l->rtt_us, 1);
    topo_buf_add(b, ",\"bw_mbps\":");
    topo_json_num(b, l->bw_mbps, 1);
    topo_buf_add(b, ",\"share\":");
    topo_json_num(b, l->share, 4);
    topo_buf_add(b, ",\"switched\":%s,\"mgmt\":%s,\"state\":\"%s\",\"usable\":%s,\"in_order\":%s}",
                 l->switched ? "true" : "false", l->mgmt ? "true" : "false", topo_link_state_name(l->state),
                 topo_link_usable(g, l) ? "true" : "false", topo_link_in_order(g, li) ? "true" : "false");
}

static void topo_json_notes(const struct topo_graph *g, struct topo_buf *b)
{
    const char *p = g->notes;
    char line[sizeof(g->notes)];
    int n = 0;

    topo_buf_add(b, ",\"notes\":[");
    while (*p) {
        size_t k = strcspn(p, "\n");
        snprintf(line, sizeof(line), "%.*s", (int)k, p);
        topo_buf_add(b, "%s", n++ ? "," : "");
        topo_json_str(b, line);
        p += k + (p[k] == '\n');
    }
    topo_buf_add(b, "]");
}

size_t topo_graph_format_json(const struct topo_graph *g, char *buf, size_t len)
{
    struct topo_buf b;

    topo_buf_init(&b, buf, len);
    topo_buf_add(&b, "{\"class\":\"%s\",\"nhosts\":%d,\"nranks\":%d,\"all_direct\":%s,\"switched\":%s,"
                 "\"searched\":%s,\"forced\":%s,\"mgmt_used\":%s,\"order\":[", topo_class_name(g->cls),
                 g->nhosts, g->nranks, g->all_direct ? "true" : "false", g->switched ? "true" : "false",
                 g->searched ? "true" : "false", g->forced ? "true" : "false", g->mgmt_used ? "true" : "false");
    for (int p = 0; p < g->nhosts; p++) {
        topo_buf_add(&b, "%s", p ? "," : "");
        topo_json_str(&b, g->hosts[g->host_order[p]].name);
    }
    topo_buf_add(&b, "],\"rank_order\":[");
    for (int p = 0; p < g->nranks; p++)
        topo_buf_add(&b, "%s%d", p ? "," : "", g->rank_order[p]);
    topo_buf_add(&b, "],\"hosts\":[");
    for (int h = 0; h < g->nhosts; h++) {
        topo_buf_add(&b, "%s", h ? "," : "");
        topo_json_host(g, h, &b);
    }
    topo_buf_add(&b, "],\"links\":[");
    for (int i = 0; i < g->nlinks; i++) {
        topo_buf_add(&b, "%s", i ? "," : "");
        topo_json_link(g, i, &b);
    }
    topo_buf_add(&b, "]");
    topo_json_notes(g, &b);
    topo_buf_add(&b, "}\n");
    return b.pos;
}
