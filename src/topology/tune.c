/* SPDX-License-Identifier: MIT */
/*
 * tune.c — the HALO_TUNE_FILE format: parse, write, and apply to a cost model.
 *
 * The file is text, one `key = value` per line; `#` starts a comment line.
 *
 *   format = halo-tune 1
 *   hosts = h0 h1 h2 h3              the job's host names, any order
 *   transport = links                links between hosts; shm or tcp on one host
 *   reduce_MBps = 7800.0             float32 sum, one thread (10^6 bytes/s)
 *   link = h0/10.10.0.1 h1/10.10.0.2 alpha_us=51.2 overhead_us=2.8 MBps_1ch=23.8 MBps_2ch=23.7 MBps_4ch=23.5
 *
 * One `link` line per pair of hosts the model prices (rails: "h0/a+b", the
 * addresses of every link between the two hosts); on one host one per pair of
 * ring neighbours, "host/r0 host/r1". Every key is required once (link at least
 * once), every number finite and in range, and nothing else is accepted: a
 * malformed file is refused whole, never half-used.
 */
#include "tune.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

#define TUNE_FORMAT "halo-tune 1"
#define TUNE_LINE_MAX 1024

int topo_tune_channels(int k)
{
    return 1 << k;
}

/* ---------------------------------------------------------------- parse */

struct tune_parse {
    struct topo_tune *t;
    int line;
    int seen_format, seen_hosts, seen_transport, seen_reduce;
    char *err;
    size_t errlen;
};

static int tune_fail(struct tune_parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The reason, after "line N: " (line 0: the file as a whole). Returns -1. */
static int tune_fail(struct tune_parse *p, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (p->line)
        snprintf(p->err, p->errlen, "line %d: %s", p->line, what);
    else
        snprintf(p->err, p->errlen, "%s", what);
    return -1;
}

/* A whole token as a finite number in [lo, hi]. */
static int tune_number(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static char *tune_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Next whitespace-separated token of *s (NUL-terminated in place), NULL at the end. */
static char *tune_token(char **s)
{
    char *a = *s;
    while (*a == ' ' || *a == '\t')
        a++;
    if (!*a)
        return NULL;
    char *b = a;
    while (*b && *b != ' ' && *b != '\t')
        b++;
    if (*b)
        *b++ = '\0';
    *s = b;
    return a;
}

static int tune_parse_hosts(struct tune_parse *p, char *v)
{
    char *tok;
    struct topo_tune *t = p->t;
    while ((tok = tune_token(&v))) {
        if (t->nhosts >= TOPO_TUNE_MAX_HOSTS)
            return tune_fail(p, "more than %d hosts", TOPO_TUNE_MAX_HOSTS);
        if (strlen(tok) >= TOPO_HOSTNAME_LEN)
            return tune_fail(p, "host name %.80s is too long", tok);
        for (int h = 0; h < t->nhosts; h++)
            if (strcmp(t->hosts[h], tok) == 0)
                return tune_fail(p, "host %s is listed twice", tok);
        snprintf(t->hosts[t->nhosts++], TOPO_HOSTNAME_LEN, "%s", tok);
    }
    return t->nhosts ? 0 : tune_fail(p, "hosts lists no host");
}

/* One `name=value` field of a link line. */
static int tune_link_field(struct tune_parse *p, struct topo_tune_link *l, char *tok, unsigned *seen)
{
    static const char *const names[] = {"alpha_us", "overhead_us", "MBps_1ch", "MBps_2ch", "MBps_4ch"};
    char *eq = strchr(tok, '=');
    if (!eq)
        return tune_fail(p, "link field %.80s is not name=value", tok);
    *eq = '\0';
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(tok, names[i]) != 0)
            continue;
        double v;
        int bad = i == 0   ? tune_number(eq + 1, 1e-3, 1e6, &v)   /* 1 ns .. 1 s */
                  : i == 1 ? tune_number(eq + 1, 0, 1e6, &v)
                           : tune_number(eq + 1, 1e-3, 1e7, &v); /* 1 kB/s .. 10 TB/s */
        if (bad)
            return tune_fail(p, "link field %s: not a number in range", tok);
        if (*seen & (1u << i))
            return tune_fail(p, "link field %s given twice", tok);
        *seen |= 1u << i;
        if (i == 0)
            l->alpha_s = v * 1e-6;
        else if (i == 1)
            l->overhead_s = v * 1e-6;
        else
            l->bw_Bps[i - 2] = v * 1e6;
        return 0;
    }
    return tune_fail(p, "unknown link field %.80s", tok);
}

static int tune_parse_link(struct tune_parse *p, char *v)
{
    struct topo_tune *t = p->t;
    if (t->nlinks >= TOPO_TUNE_MAX_LINKS)
        return tune_fail(p, "more than %d links", TOPO_TUNE_MAX_LINKS);
    struct topo_tune_link *l = &t->links[t->nlinks];
    memset(l, 0, sizeof(*l));
    for (int e = 0; e < 2; e++) {
        char *tok = tune_token(&v);
        if (!tok || strchr(tok, '=') || !strchr(tok, '/'))
            return tune_fail(p, "link needs two ends host/address before its fields");
        if (strlen(tok) >= TOPO_TUNE_END_LEN)
            return tune_fail(p, "link end %.80s is too long", tok);
        snprintf(l->end[e], TOPO_TUNE_END_LEN, "%s", tok);
    }
    unsigned seen = 0;
    char *tok;
    while ((tok = tune_token(&v)))
        if (tune_link_field(p, l, tok, &seen) != 0)
            return -1;
    if (seen != 0x1f)
        return tune_fail(p, "link lacks a field (alpha_us, overhead_us, MBps_1ch, MBps_2ch, MBps_4ch)");
    t->nlinks++;
    return 0;
}

static int tune_once(struct tune_parse *p, int *seen, const char *key)
{
    if (*seen)
        return tune_fail(p, "%s given twice", key);
    *seen = 1;
    return 0;
}

static int tune_parse_line(struct tune_parse *p, char *line)
{
    char *s = tune_trim(line);
    if (!*s || *s == '#')
        return 0;
    char *eq = strchr(s, '=');
    if (!eq)
        return tune_fail(p, "expected key = value, got %.80s", s);
    *eq = '\0';
    char *key = tune_trim(s), *v = tune_trim(eq + 1);
    struct topo_tune *t = p->t;
    if (strcmp(key, "format") == 0) {
        if (tune_once(p, &p->seen_format, key))
            return -1;
        return strcmp(v, TUNE_FORMAT) == 0 ? 0 : tune_fail(p, "format %.80s: expected " TUNE_FORMAT, v);
    }
    if (strcmp(key, "hosts") == 0)
        return tune_once(p, &p->seen_hosts, key) ? -1 : tune_parse_hosts(p, v);
    if (strcmp(key, "transport") == 0) {
        if (tune_once(p, &p->seen_transport, key))
            return -1;
        if (strcmp(v, TOPO_TUNE_LINKS) != 0 && strcmp(v, "shm") != 0 && strcmp(v, "tcp") != 0)
            return tune_fail(p, "transport %.80s: expected links, shm or tcp", v);
        snprintf(t->transport, sizeof(t->transport), "%s", v);
        return 0;
    }
    if (strcmp(key, "reduce_MBps") == 0) {
        if (tune_once(p, &p->seen_reduce, key))
            return -1;
        double r;
        if (tune_number(v, 1e-3, 1e7, &r) != 0)
            return tune_fail(p, "reduce_MBps %.80s: not a number in range", v);
        t->reduce_Bps = r * 1e6;
        return 0;
    }
    if (strcmp(key, "link") == 0)
        return tune_parse_link(p, v);
    return tune_fail(p, "unknown key %.80s", key);
}

int topo_tune_parse(const char *text, size_t len, struct topo_tune *t, char *err, size_t errlen)
{
    struct tune_parse p = {.t = t, .err = err, .errlen = errlen};
    char line[TUNE_LINE_MAX];
    size_t i = 0;

    memset(t, 0, sizeof(*t));
    while (i < len) {
        size_t n = 0;
        p.line++;
        while (i < len && text[i] != '\n') {
            if (text[i] == '\0')
                return tune_fail(&p, "a NUL byte");
            if (n + 1 >= sizeof(line))
                return tune_fail(&p, "longer than %d bytes", TUNE_LINE_MAX - 1);
            line[n++] = text[i++];
        }
        line[n] = '\0';
        i++; /* the newline */
        if (tune_parse_line(&p, line) != 0)
            return -1;
    }
    p.line = 0;
    if (!p.seen_format)
        return tune_fail(&p, "no format line: not a halo-tune file");
    if (!p.seen_hosts || !p.seen_transport || !p.seen_reduce || !t->nlinks)
        return tune_fail(&p, "incomplete: format, hosts, transport, reduce_MBps and a link are required");
    return 0;
}

int topo_tune_read(const char *path, struct topo_tune *t, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open it: %s", strerror(errno));
        return -1;
    }
    char *text = malloc(TOPO_TUNE_FILE_MAX + 1);
    size_t n = text ? fread(text, 1, TOPO_TUNE_FILE_MAX + 1, f) : 0;
    int bad = !text || ferror(f);
    fclose(f);
    int rc = -1;
    if (bad)
        snprintf(err, errlen, "cannot read it");
    else if (n > TOPO_TUNE_FILE_MAX)
        snprintf(err, errlen, "larger than %d bytes: not a halo-tune file", TOPO_TUNE_FILE_MAX);
    else
        rc = topo_tune_parse(text, n, t, err, errlen);
    free(text);
    return rc;
}

/* ---------------------------------------------------------------- write */

size_t topo_tune_format(const struct topo_tune *t, char *buf, size_t len)
{
    struct topo_buf b;

    topo_buf_init(&b, buf, len);
    topo_buf_add(&b, "# halo-tune: measured links of one cluster; HALO_TUNE_FILE=<this file> makes the cost model\n"
                     "# use them. alpha: half the round trip of a small message; overhead: cost of one more\n"
                     "# message in a stream; MBps_Nch: 10^6 bytes/s per direction, both ways at once, N channels.\n");
    topo_buf_add(&b, "format = " TUNE_FORMAT "\nhosts =");
    for (int h = 0; h < t->nhosts; h++)
        topo_buf_add(&b, " %s", t->hosts[h]);
    /* six significant digits: a value in range prints in range, and reads back */
    topo_buf_add(&b, "\ntransport = %s\nreduce_MBps = %.6g\n", t->transport, t->reduce_Bps / 1e6);
    for (int i = 0; i < t->nlinks; i++) {
        const struct topo_tune_link *l = &t->links[i];
        topo_buf_add(&b, "link = %s %s alpha_us=%.6g overhead_us=%.6g", l->end[0], l->end[1], l->alpha_s * 1e6,
                     l->overhead_s * 1e6);
        for (int k = 0; k < TOPO_TUNE_NCH; k++)
            topo_buf_add(&b, " MBps_%dch=%.6g", topo_tune_channels(k), l->bw_Bps[k] / 1e6);
        topo_buf_add(&b, "\n");
    }
    return b.pos;
}

/* ---------------------------------------------------------------- links of a graph */

int topo_tune_pairs(const struct topo_graph *g, int (*pairs)[2], int max)
{
    int n = 0;
    for (int i = 0; i < g->nlinks; i++) {
        if (!topo_cost_link_used(g, i))
            continue;
        int a = g->links[i].host[0], b = g->links[i].host[1], dup = 0;
        if (a > b) {
            int s = a;
            a = b;
            b = s;
        }
        for (int k = 0; k < n && k < max && !dup; k++)
            dup = pairs[k][0] == a && pairs[k][1] == b;
        if (dup)
            continue;
        if (n < max) {
            pairs[n][0] = a;
            pairs[n][1] = b;
        }
        n++;
    }
    return n;
}

void topo_tune_pair_ends(const struct topo_graph *g, int a, int b, char end[2][TOPO_TUNE_END_LEN])
{
    int rails[TOPO_TUNE_MAX_RAILS], n = topo_graph_rails(g, a, b, rails, TOPO_TUNE_MAX_RAILS);
    int host[2] = {a, b};

    if (n > TOPO_TUNE_MAX_RAILS)
        n = TOPO_TUNE_MAX_RAILS;
    for (int e = 0; e < 2; e++) {
        struct topo_buf buf;
        topo_buf_init(&buf, end[e], TOPO_TUNE_END_LEN);
        topo_buf_add(&buf, "%s/", g->hosts[host[e]].name);
        for (int k = 0; k < n; k++) {
            const struct topo_link *l = &g->links[rails[k]];
            topo_buf_add(&buf, "%s%s", k ? "+" : "", l->addr[l->host[0] == host[e] ? 0 : 1]);
        }
        if (!n)
            topo_buf_add(&buf, "none");
    }
}

/* ---------------------------------------------------------------- apply */

static int tune_has_host(const struct topo_tune *t, const char *name)
{
    for (int h = 0; h < t->nhosts; h++)
        if (strcmp(t->hosts[h], name) == 0)
            return 1;
    return 0;
}

static const struct topo_tune_link *tune_find_link(const struct topo_tune *t, char end[2][TOPO_TUNE_END_LEN])
{
    for (int i = 0; i < t->nlinks; i++) {
        const struct topo_tune_link *l = &t->links[i];
        if ((strcmp(l->end[0], end[0]) == 0 && strcmp(l->end[1], end[1]) == 0) ||
            (strcmp(l->end[0], end[1]) == 0 && strcmp(l->end[1], end[0]) == 0))
            return l;
    }
    return NULL;
}

/* The worst of the links priced: largest alpha and overhead, smallest rates. */
struct tune_worst {
    int n;
    double alpha_s, overhead_s, bw_Bps[TOPO_TUNE_NCH];
};

static void tune_take(struct tune_worst *w, const struct topo_tune_link *l)
{
    if (!w->n || l->alpha_s > w->alpha_s)
        w->alpha_s = l->alpha_s;
    if (!w->n || l->overhead_s > w->overhead_s)
        w->overhead_s = l->overhead_s;
    for (int k = 0; k < TOPO_TUNE_NCH; k++)
        if (!w->n || l->bw_Bps[k] < w->bw_Bps[k])
            w->bw_Bps[k] = l->bw_Bps[k];
    w->n++;
}

static int tune_collect_graph(const struct topo_tune *t, const struct topo_graph *g, struct tune_worst *w, char *why,
                              size_t whylen)
{
    int pairs[TOPO_TUNE_MAX_LINKS][2], n = topo_tune_pairs(g, pairs, TOPO_TUNE_MAX_LINKS);

    if (strcmp(t->transport, TOPO_TUNE_LINKS) != 0) {
        snprintf(why, whylen, "it was measured on one host (%s), this job runs on %d hosts", t->transport, g->nhosts);
        return -1;
    }
    if (t->nhosts != g->nhosts) {
        snprintf(why, whylen, "it was measured on %d hosts, this job runs on %d", t->nhosts, g->nhosts);
        return -1;
    }
    for (int h = 0; h < g->nhosts; h++) {
        if (!tune_has_host(t, g->hosts[h].name)) {
            snprintf(why, whylen, "it was measured on other hosts: %s is not among them", g->hosts[h].name);
            return -1;
        }
    }
    if (n > TOPO_TUNE_MAX_LINKS) {
        snprintf(why, whylen, "the job prices %d host pairs, more than a file holds (%d)", n, TOPO_TUNE_MAX_LINKS);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char end[2][TOPO_TUNE_END_LEN];
        topo_tune_pair_ends(g, pairs[i][0], pairs[i][1], end);
        const struct topo_tune_link *l = tune_find_link(t, end);
        if (!l) {
            snprintf(why, whylen, "it has no measurement of the link %s - %s (measured on other links)", end[0],
                     end[1]);
            return -1;
        }
        tune_take(w, l);
    }
    return 0;
}

static int tune_collect_local(const struct topo_tune *t, const char *host, const char *transport,
                              struct tune_worst *w, char *why, size_t whylen)
{
    if (t->nhosts != 1 || strcmp(t->hosts[0], host) != 0) {
        snprintf(why, whylen, "it was measured on %s%s, this job runs on one host, %s", t->hosts[0],
                 t->nhosts > 1 ? " and other hosts" : "", host);
        return -1;
    }
    if (strcmp(t->transport, transport) != 0) {
        snprintf(why, whylen, "it was measured over %s, this job's ranks use %s", t->transport, transport);
        return -1;
    }
    for (int i = 0; i < t->nlinks; i++)
        tune_take(w, &t->links[i]);
    return 0;
}

int topo_tune_apply(const struct topo_tune *t, const struct topo_graph *g, const char *host, const char *transport,
                    struct topo_cost_model *m, char *why, size_t whylen)
{
    struct tune_worst w = {0};
    int rc = g ? tune_collect_graph(t, g, &w, why, whylen) : tune_collect_local(t, host, transport, &w, why, whylen);

    if (rc != 0)
        return -1;
    if (!w.n) {
        snprintf(why, whylen, "no link of this job is in it");
        return -1;
    }
    m->alpha_s = w.alpha_s;
    m->msg_overhead_s = w.overhead_s;
    m->bw_Bps = w.bw_Bps[0];
    m->chan_bw_Bps = 0; /* the measured rates per channel count hold the per-channel limit */
    m->reduce_Bps = t->reduce_Bps;
    /* measured at 1, 2, 4 channels; 3 between 2 and 4, beyond 4 as 4 */
    double gain2 = w.bw_Bps[1] / w.bw_Bps[0], gain4 = w.bw_Bps[2] / w.bw_Bps[0];
    for (int p = 0; p <= TOPO_COST_MAX_CHANNELS; p++)
        m->chan_gain[p] = p <= 1 ? 1 : p == 2 ? gain2 : p == 3 ? (gain2 + gain4) / 2 : gain4;
    return 0;
}
