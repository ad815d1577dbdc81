/* SPDX-License-Identifier: MIT */
/*
 * graph_order.c — classify the host graph and order the hosts along it.
 *
 * Classes, tested in this order (automatic mode):
 *   single  one host;
 *   pair    two hosts;
 *   mesh    3+ hosts, every pair linked, through a switch covering all of them, or a
 *           full mesh of cables with 4+ hosts (three hosts cabled in a triangle are a
 *           ring whose g->all_direct is set: both ring and direct algorithms apply);
 *   ring    a cycle through every host (each host's degree 2), or, in an irregular
 *           graph, a Hamiltonian cycle found by backtracking (g->searched);
 *   chain   a path through every host (two ends of degree 1), or a Hamiltonian path.
 * Anything else fails with the graph printed. The search runs only when some host has
 * more than two neighbours, and only up to opt->max_search_hosts hosts (default 12);
 * with degrees <= 2 the walk never branches.
 *
 * Order is deterministic: a ring or mesh starts at the host of rank 0 and goes first
 * to its neighbour with the lowest rank; a chain starts at the end whose lowest rank
 * is smaller. HALO_TOPO forces a class, HALO_TOPO_ORDER an order; the links must carry
 * what is forced, else the error says which two hosts lack a link.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

#define TOPO_SEARCH_DEFAULT_HOSTS 12
#define TOPO_SEARCH_BUDGET 2000000L

struct topo_search {
    int n;
    const char *adj; /* n*n, 1 where a usable link joins two hosts */
    int *path;       /* n */
    char *used;      /* n */
    int cycle;       /* the last host must link back to the first */
    long budget;     /* steps left before the search gives up */
};

static int topo_search_extend(struct topo_search *s, int depth)
{
    int last = s->path[depth - 1];

    if (--s->budget < 0)
        return 0;
    if (depth == s->n)
        return !s->cycle || s->n < 3 || s->adj[last * s->n + s->path[0]];
    for (int v = 0; v < s->n; v++) {
        if (s->used[v] || !s->adj[last * s->n + v])
            continue;
        s->used[v] = 1;
        s->path[depth] = v;
        if (topo_search_extend(s, depth + 1))
            return 1;
        s->used[v] = 0;
    }
    return 0;
}

static int topo_search_from(struct topo_search *s, int start)
{
    memset(s->used, 0, (size_t)s->n);
    s->path[0] = start;
    s->used[start] = 1;
    return topo_search_extend(s, 1);
}

static int topo_degree(const struct topo_search *s, int h)
{
    int d = 0;

    for (int v = 0; v < s->n; v++)
        d += s->adj[h * s->n + v];
    return d;
}

/* Hamiltonian path: from a degree-1 host when there is one (it must be an end). */
static int topo_search_path(struct topo_search *s)
{
    int ends = 0;

    s->cycle = 0;
    for (int h = 0; h < s->n; h++)
        ends += topo_degree(s, h) == 1;
    if (ends > 2)
        return 0;
    for (int h = 0; h < s->n; h++)
        if ((!ends || topo_degree(s, h) == 1) && topo_search_from(s, h))
            return 1;
    return 0;
}

static int topo_search_cycle(struct topo_search *s)
{
    s->cycle = 1;
    for (int h = 0; h < s->n; h++)
        if (topo_degree(s, h) < (s->n > 2 ? 2 : 1)) /* two hosts: one link is the ring */
            return 0;
    return topo_search_from(s, 0);
}

/* ---------------------------------------------------------------- properties */

static int topo_pair_linked(const struct topo_search *s, int a, int b)
{
    return s->adj[a * s->n + b];
}

static int topo_all_direct(const struct topo_search *s, int *miss_a, int *miss_b)
{
    for (int a = 0; a < s->n; a++)
        for (int b = a + 1; b < s->n; b++)
            if (!topo_pair_linked(s, a, b)) {
                *miss_a = a;
                *miss_b = b;
                return 0;
            }
    return 1;
}

/* A usable switched segment that reaches every host. */
static int topo_switch_covers_all(const struct topo_graph *g)
{
    for (int s = 0; s < g->nsegments; s++) {
        const struct topo_segment *sg = &g->segments[s];
        if (sg->nhosts == g->nhosts && g->nhosts > 2 && (!sg->mgmt || g->mgmt_used))
            return 1;
    }
    return 0;
}

static int topo_max_degree(const struct topo_search *s)
{
    int m = 0;

    for (int h = 0; h < s->n; h++) {
        int d = topo_degree(s, h);
        m = d > m ? d : m;
    }
    return m;
}

/* ---------------------------------------------------------------- errors */

static const char *topo_force_text(enum topo_class c)
{
    switch (c) {
    case TOPO_CLASS_PAIR: return "HALO_TOPO=pair";
    case TOPO_CLASS_CHAIN: return "HALO_TOPO=chain";
    case TOPO_CLASS_RING: return "HALO_TOPO=ring";
    case TOPO_CLASS_MESH: return "HALO_TOPO=mesh";
    default: return "HALO_TOPO=auto";
    }
}

static haloResult_t topo_no_link_error(const struct topo_graph *g, struct topo_buf *b, const char *what,
                                       int a, int c)
{
    topo_buf_add(b, "%s but hosts %s and %s have no direct link: the links found are ", what,
                 g->hosts[a].name, g->hosts[c].name);
    topo_links_summary(g, b);
    return haloInvalidUsage;
}

static haloResult_t topo_no_shape_error(const struct topo_graph *g, struct topo_buf *b, const char *what,
                                        const char *shape)
{
    topo_buf_add(b, "%s but no %s passes through all %d hosts: the links found are ", what, shape,
                 g->nhosts);
    topo_links_summary(g, b);
    topo_buf_add(b, ". Recable, or name an order the links carry with HALO_TOPO_ORDER.");
    return haloInvalidUsage;
}

/* ---------------------------------------------------------------- order from the user */

static int topo_host_by_name(const struct topo_graph *g, const char *name, size_t len)
{
    for (int h = 0; h < g->nhosts; h++)
        if (strlen(g->hosts[h].name) == len && strncmp(g->hosts[h].name, name, len) == 0)
            return h;
    return -1;
}

static void topo_host_names(const struct topo_graph *g, struct topo_buf *b)
{
    for (int h = 0; h < g->nhosts; h++)
        topo_buf_add(b, "%s%s", h ? ", " : "", g->hosts[h].name);
}

static haloResult_t topo_order_parse(struct topo_graph *g, const char *text, struct topo_buf *b)
{
    const char *p = text;
    int k = 0;
    char *seen = calloc((size_t)g->nhosts, 1);

    if (!seen)
        return haloSystemError;
    while (*p) {
        const char *end = p + strcspn(p, ",");
        const char *s = p, *e = end;
        while (s < e && isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        int h = topo_host_by_name(g, s, (size_t)(e - s));
        if (h < 0 || seen[h] || k == g->nhosts) {
            topo_buf_add(b, "HALO_TOPO_ORDER=%s names host '%.*s'%s (hosts: ", text, (int)(e - s), s,
                         h < 0 ? ", which is not in the job" : " twice");
            topo_host_names(g, b);
            topo_buf_add(b, ")");
            free(seen);
            return haloInvalidArgument;
        }
        seen[h] = 1;
        g->host_order[k++] = h;
        p = *end ? end + 1 : end;
    }
    if (k < g->nhosts) {
        topo_buf_add(b, "HALO_TOPO_ORDER=%s lists %d of the %d hosts; it leaves out", text, k, g->nhosts);
        for (int h = 0; h < g->nhosts; h++)
            if (!seen[h])
                topo_buf_add(b, " %s", g->hosts[h].name);
    }
    free(seen);
    return k < g->nhosts ? haloInvalidArgument : haloSuccess;
}

/* First consecutive pair of the order with no link (closing pair too when `closed`). */
static int topo_order_gap(const struct topo_graph *g, const struct topo_search *s, int closed)
{
    int n = g->nhosts;

    for (int p = 0; p + 1 < n; p++)
        if (!topo_pair_linked(s, g->host_order[p], g->host_order[p + 1]))
            return p;
    if (closed && n > 2 && !topo_pair_linked(s, g->host_order[n - 1], g->host_order[0]))
        return n - 1;
    return -1;
}

static haloResult_t topo_order_user(struct topo_graph *g, const struct topo_options *opt,
                                    const struct topo_search *s, int mesh_auto, struct topo_buf *b)
{
    enum topo_class cls = opt->force;
    int n = g->nhosts, ma, mb, gap;
    char what[256];
    haloResult_t res = topo_order_parse(g, opt->order, b);

    if (res != haloSuccess)
        return res;
    if (cls == TOPO_CLASS_AUTO)
        cls = n == 2 ? TOPO_CLASS_PAIR : mesh_auto ? TOPO_CLASS_MESH
            : topo_order_gap(g, s, 1) < 0 ? TOPO_CLASS_RING : TOPO_CLASS_CHAIN;
    snprintf(what, sizeof(what), "%s%sHALO_TOPO_ORDER=%s", opt->force == TOPO_CLASS_AUTO ? "" :
             topo_force_text(opt->force), opt->force == TOPO_CLASS_AUTO ? "" : " with ", opt->order);
    if (cls == TOPO_CLASS_PAIR && n != 2) {
        topo_buf_add(b, "%s but the job has %d hosts, not 2", what, n);
        return haloInvalidUsage;
    }
    if (cls == TOPO_CLASS_MESH && !topo_all_direct(s, &ma, &mb))
        return topo_no_link_error(g, b, what, ma, mb);
    gap = cls == TOPO_CLASS_MESH ? -1 : topo_order_gap(g, s, cls == TOPO_CLASS_RING);
    if (gap >= 0)
        return topo_no_link_error(g, b, what, g->host_order[gap], g->host_order[(gap + 1) % n]);
    g->cls = cls;
    return haloSuccess;
}

/* ---------------------------------------------------------------- forced / automatic */

static void topo_order_identity(struct topo_graph *g)
{
    for (int h = 0; h < g->nhosts; h++)
        g->host_order[h] = h;
}

static haloResult_t topo_order_ring(struct topo_graph *g, struct topo_search *s, const char *what,
                                    struct topo_buf *b)
{
    if (topo_search_cycle(s)) {
        memcpy(g->host_order, s->path, (size_t)s->n * sizeof(int));
        g->cls = TOPO_CLASS_RING;
        return haloSuccess;
    }
    if (!what)
        return haloInvalidUsage;
    s->budget = TOPO_SEARCH_BUDGET;
    if (topo_search_path(s))
        return topo_no_link_error(g, b, what, s->path[s->n - 1], s->path[0]);
    return topo_no_shape_error(g, b, what, "ring");
}

static haloResult_t topo_order_chain(struct topo_graph *g, struct topo_search *s, const char *what,
                                     struct topo_buf *b)
{
    if (!topo_search_path(s))
        return what ? topo_no_shape_error(g, b, what, "chain") : haloInvalidUsage;
    /* Start at the end with the lower rank (host indices follow ranks). */
    if (s->path[s->n - 1] < s->path[0])
        for (int i = 0, j = s->n - 1; i < j; i++, j--) {
            int t = s->path[i];
            s->path[i] = s->path[j];
            s->path[j] = t;
        }
    memcpy(g->host_order, s->path, (size_t)s->n * sizeof(int));
    g->cls = TOPO_CLASS_CHAIN;
    return haloSuccess;
}

static haloResult_t topo_order_forced(struct topo_graph *g, enum topo_class force,
                                      struct topo_search *s, struct topo_buf *b)
{
    const char *what = topo_force_text(force);
    int ma, mb;

    switch (force) {
    case TOPO_CLASS_PAIR:
        if (g->nhosts != 2) {
            topo_buf_add(b, "%s but the job has %d hosts (", what, g->nhosts);
            topo_host_names(g, b);
            topo_buf_add(b, "), not 2");
            return haloInvalidUsage;
        }
        topo_order_identity(g);
        g->cls = TOPO_CLASS_PAIR;
        return haloSuccess;
    case TOPO_CLASS_MESH:
        if (!topo_all_direct(s, &ma, &mb))
            return topo_no_link_error(g, b, what, ma, mb);
        topo_order_identity(g);
        g->cls = TOPO_CLASS_MESH;
        return haloSuccess;
    case TOPO_CLASS_RING:
        return topo_order_ring(g, s, what, b);
    case TOPO_CLASS_CHAIN:
        /* A ring holds a chain: open it at the closing link (keeps rank 0 first). */
        if (topo_search_cycle(s)) {
            memcpy(g->host_order, s->path, (size_t)s->n * sizeof(int));
            g->cls = TOPO_CLASS_CHAIN;
            return haloSuccess;
        }
        s->budget = TOPO_SEARCH_BUDGET;
        return topo_order_chain(g, s, what, b);
    default:
        topo_buf_add(b, "topology: invalid forced class %d", (int)force);
        return haloInvalidArgument;
    }
}

static haloResult_t topo_order_auto(struct topo_graph *g, struct topo_search *s, int mesh_auto,
                                    int limit, struct topo_buf *b)
{
    int regular = topo_max_degree(s) <= 2;

    if (g->nhosts == 2) {
        topo_order_identity(g);
        g->cls = TOPO_CLASS_PAIR;
        return haloSuccess;
    }
    if (mesh_auto) {
        topo_order_identity(g);
        g->cls = TOPO_CLASS_MESH;
        return haloSuccess;
    }
    if (!regular && g->nhosts > limit) {
        topo_buf_add(b, "topology: the links of these %d hosts form neither a ring, a chain nor a "
                     "mesh, and searching for a ring or chain stops at %d hosts: the links found are ",
                     g->nhosts, limit);
        topo_links_summary(g, b);
        topo_buf_add(b, ". Set HALO_TOPO_ORDER to an order the links carry.");
        return haloInvalidUsage;
    }
    g->searched = !regular;
    if (topo_order_ring(g, s, NULL, b) == haloSuccess)
        return haloSuccess;
    s->budget = TOPO_SEARCH_BUDGET;
    if (topo_order_chain(g, s, NULL, b) == haloSuccess)
        return haloSuccess;
    return topo_no_shape_error(g, b, "topology: the links form another shape", "ring or chain");
}

static char *topo_adj_build(const struct topo_graph *g)
{
    int n = g->nhosts;
    char *adj = calloc((size_t)n * (size_t)n, 1);

    if (!adj)
        return NULL;
    for (int a = 0; a < n; a++)
        for (int c = 0; c < n; c++)
            adj[a * n + c] = a != c && topo_graph_link_between(g, a, c) >= 0;
    return adj;
}

haloResult_t topo_graph_order(struct topo_graph *g, const struct topo_options *opt,
                              struct topo_buf *b)
{
    struct topo_options def;
    struct topo_search s = { .n = g->nhosts, .budget = TOPO_SEARCH_BUDGET };
    int ma, mb, mesh_auto, limit;
    haloResult_t res;
    char *adj;

    if (!opt) {
        topo_options_init(&def);
        opt = &def;
    }
    limit = opt->max_search_hosts > 0 ? opt->max_search_hosts : TOPO_SEARCH_DEFAULT_HOSTS;
    g->forced = opt->force != TOPO_CLASS_AUTO || (opt->order && *opt->order);
    adj = topo_adj_build(g);
    s.path = calloc((size_t)g->nhosts, sizeof(int));
    s.used = calloc((size_t)g->nhosts, 1);
    if (!adj || !s.path || !s.used) {
        topo_buf_add(b, "topology: out of memory ordering %d hosts", g->nhosts);
        res = haloSystemError;
        goto out_free;
    }
    s.adj = adj;
    g->all_direct = topo_all_direct(&s, &ma, &mb);
    g->switched = g->all_direct && topo_switch_covers_all(g);
    mesh_auto = g->nhosts >= 3 && g->all_direct && (g->switched || g->nhosts >= 4);
    if (g->nhosts == 1) {
        g->cls = TOPO_CLASS_SINGLE;
        g->host_order[0] = 0;
        if (g->forced)
            topo_graph_note(g, "HALO_TOPO / HALO_TOPO_ORDER ignored: the job runs on one host");
        res = haloSuccess;
    } else if (opt->order && *opt->order) {
        res = topo_order_user(g, opt, &s, mesh_auto, b);
    } else if (opt->force != TOPO_CLASS_AUTO) {
        res = topo_order_forced(g, opt->force, &s, b);
    } else {
        res = topo_order_auto(g, &s, mesh_auto, limit, b);
    }
    if (g->cls != TOPO_CLASS_MESH)
        g->switched = 0;
out_free:
    free(adj);
    free(s.path);
    free(s.used);
    return res;
}

/* ---------------------------------------------------------------- names, options */

const char *topo_class_name(enum topo_class c)
{
    switch (c) {
    case TOPO_CLASS_AUTO: return "auto";
    case TOPO_CLASS_SINGLE: return "single";
    case TOPO_CLASS_PAIR: return "pair";
    case TOPO_CLASS_CHAIN: return "chain";
    case TOPO_CLASS_RING: return "ring";
    case TOPO_CLASS_MESH: return "mesh";
    case TOPO_CLASS_OTHER: return "other";
    }
    return "?";
}

const char *topo_link_state_name(enum topo_link_state s)
{
    switch (s) {
    case TOPO_LINK_OK: return "ok";
    case TOPO_LINK_DUPLICATE: return "duplicate";
    case TOPO_LINK_PROBE_FAILED: return "probe-failed";
    case TOPO_LINK_SAME_ADDR: return "same-address";
    }
    return "?";
}

haloResult_t topo_options_from_env(struct topo_options *o, char *err, size_t errlen)
{
    static const enum topo_class allowed[] = { TOPO_CLASS_AUTO, TOPO_CLASS_PAIR, TOPO_CLASS_CHAIN,
                                               TOPO_CLASS_RING, TOPO_CLASS_MESH };
    const char *topo = getenv("HALO_TOPO"), *order = getenv("HALO_TOPO_ORDER");

    topo_options_init(o);
    o->order = order && *order ? order : NULL;
    if (!topo || !*topo)
        return haloSuccess;
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        if (strcmp(topo, topo_class_name(allowed[i])) == 0) {
            o->force = allowed[i];
            return haloSuccess;
        }
    snprintf(err, errlen, "HALO_TOPO=%s is not a topology: use auto, pair, chain, ring or mesh", topo);
    return haloInvalidArgument;
}
