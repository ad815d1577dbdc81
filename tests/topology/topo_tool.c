/* SPDX-License-Identifier: MIT */
/*
 * topo_tool.c — the topology layer driven from the shell, one step per command, for
 * the emulated-cluster tests (tests/netns) and by hand. It does by files what a job
 * does over the bootstrap: each host discovers into a record file, each host probes
 * the links it owns (side 0) into a result file, and the graph is built from all the
 * records with a probe hook that looks the results up.
 *
 *   topo_tool discover OUT [--rank R] [--mgmt IF]      write this host's record
 *   topo_tool serve SECONDS [--port P] REC             echo probes on REC's addresses
 *   topo_tool probe OUT --port P REC...                probe this host's links
 *   topo_tool graph [--json] [--results DIR] [--topo T] [--order O] REC...
 *   topo_tool plan SIZE REC...                         cost table for SIZE bytes
 *   topo_tool rtt IFNAME LOCAL REMOTE PORT             one probe, prints the RTT
 * Exit status: 0 fine, 2 the topology layer said no (message on stderr), 1 usage.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "topo.h"
#include "topo_cost.h"

#define MAX_RECS 64

static int usage(void)
{
    fprintf(stderr, "usage: topo_tool discover OUT [--rank R] [--mgmt IF]\n"
                    "       topo_tool serve SECONDS --port P REC\n"
                    "       topo_tool probe OUT --port P REC...\n"
                    "       topo_tool graph [--json] [--results DIR] [--topo T] [--order O] REC...\n"
                    "       topo_tool plan SIZE REC...\n"
                    "       topo_tool rtt IFNAME LOCAL REMOTE PORT\n");
    return 1;
}

static int recs_load(char **files, int n, struct topo_rank_info *recs)
{
    for (int i = 0; i < n; i++) {
        FILE *f = fopen(files[i], "rb");
        size_t got = f ? fread(&recs[i], sizeof(recs[i]), 1, f) : 0;
        if (f)
            fclose(f);
        if (got != 1) {
            fprintf(stderr, "topo_tool: cannot read record %s\n", files[i]);
            return -1;
        }
    }
    return 0;
}

static int cmd_discover(int argc, char **argv)
{
    struct topo_rank_info rec;
    const char *mgmt = NULL;
    char err[512];
    int rank = 0;
    FILE *f;

    if (argc < 1)
        return usage();
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--rank") == 0)
            rank = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--mgmt") == 0)
            mgmt = argv[i + 1];
        else
            return usage();
    }
    if (topo_discover(&rec, rank, mgmt, err, sizeof(err)) != haloSuccess) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    f = fopen(argv[0], "wb");
    if (!f || fwrite(&rec, sizeof(rec), 1, f) != 1) {
        fprintf(stderr, "topo_tool: cannot write %s\n", argv[0]);
        return 1;
    }
    fclose(f);
    return 0;
}

/* ---------------------------------------------------------------- serve */

/* One child per address, each echoing connection after connection until `secs`. */
static int cmd_serve(int argc, char **argv)
{
    struct topo_rank_info rec;
    int secs, port = 0, nchild = 0;
    char err[256];

    if (argc != 4 || strcmp(argv[1], "--port") != 0)
        return usage();
    secs = atoi(argv[0]);
    port = atoi(argv[2]);
    if (recs_load(&argv[3], 1, &rec) != 0)
        return 1;
    for (int i = 0; i < rec.n_ifaces; i++) {
        char addr[TOPO_ADDRSTR_LEN];
        int p = port, fd;
        if (!(rec.ifaces[i].flags & TOPO_IF_UP) || !rec.ifaces[i].addr4.family)
            continue;
        topo_addr_str(&rec.ifaces[i].addr4, addr, sizeof(addr));
        fd = topo_probe_listen(addr, &p, err, sizeof(err));
        if (fd < 0) {
            fprintf(stderr, "%s\n", err);
            continue;
        }
        if (fork() == 0) {
            time_t end = time(NULL) + secs;
            prctl(PR_SET_PDEATHSIG, SIGTERM); /* the test stops the parent only */
            while (time(NULL) < end)
                topo_probe_serve_one(fd, (int)(end - time(NULL)) * 1000 + 1, err, sizeof(err));
            _exit(0);
        }
        close(fd);
        nchild++;
    }
    while (nchild-- > 0)
        wait(NULL);
    return 0;
}

/* ---------------------------------------------------------------- probe */

struct probe_ctx {
    uint64_t self;   /* host hash of this host */
    const struct topo_rank_info *recs;
    int nrecs;
    int port;
    FILE *out;
};

static const char *host_of_rank(const struct probe_ctx *c, int rank)
{
    for (int i = 0; i < c->nrecs; i++)
        if (c->recs[i].rank == rank)
            return c->recs[i].hostname;
    return "?";
}

static uint64_t hash_of_rank(const struct probe_ctx *c, int rank)
{
    for (int i = 0; i < c->nrecs; i++)
        if (c->recs[i].rank == rank)
            return c->recs[i].host_hash;
    return 0;
}

/* Probes the links this host is side 0 of; reports the others as fine (their owner
 * probes them). */
static int probe_own(void *arg, const struct topo_link *l, double *rtt_us)
{
    struct probe_ctx *c = arg;
    char err[512];
    int r;

    *rtt_us = -1;
    if (hash_of_rank(c, l->rank[0]) != c->self)
        return 0;
    r = topo_probe_rtt(l->ifname[0], l->addr[0], l->addr[1], c->port, 5, 1000, rtt_us, err, sizeof(err));
    fprintf(c->out, "%s:%s-%s:%s ", host_of_rank(c, l->rank[0]), l->ifname[0], host_of_rank(c, l->rank[1]),
            l->ifname[1]);
    if (r == 0)
        fprintf(c->out, "%.1f\n", *rtt_us);
    else
        fprintf(c->out, "fail\n");
    if (r != 0)
        fprintf(stderr, "%s\n", err);
    return r;
}

static int cmd_probe(int argc, char **argv)
{
    static struct topo_rank_info recs[MAX_RECS];
    struct topo_rank_info self;
    struct topo_options opt;
    struct probe_ctx c = { 0 };
    struct topo_graph *g = NULL;
    char err[TOPO_ERR_LEN];
    int n = argc - 3;

    if (argc < 4 || strcmp(argv[1], "--port") != 0 || n > MAX_RECS)
        return usage();
    if (recs_load(&argv[3], n, recs) != 0 || topo_discover(&self, 0, NULL, err, sizeof(err)) != haloSuccess)
        return 1;
    c = (struct probe_ctx){ .self = self.host_hash, .recs = recs, .nrecs = n, .port = atoi(argv[2]) };
    c.out = fopen(argv[0], "w");
    if (!c.out)
        return 1;
    topo_options_init(&opt);
    opt.probe = probe_own;
    opt.probe_arg = &c;
    topo_graph_create(recs, n, &opt, &g, err, sizeof(err)); /* for its probe calls only */
    topo_graph_destroy(g);
    fclose(c.out);
    return 0;
}

/* ---------------------------------------------------------------- graph */

struct results_ctx {
    const char *dir;
    const struct topo_rank_info *recs;
    int nrecs;
};

/* Looks "a:ifa-b:ifb RTT|fail" up in every file of the results directory. */
static int probe_lookup(void *arg, const struct topo_link *l, double *rtt_us)
{
    struct results_ctx *rc = arg;
    struct probe_ctx c = { .recs = rc->recs, .nrecs = rc->nrecs };
    char key[256], cmd[1024], line[512];
    FILE *p;
    int found = 0, ok = 0;

    snprintf(key, sizeof(key), "%s:%s-%s:%s", host_of_rank(&c, l->rank[0]), l->ifname[0],
             host_of_rank(&c, l->rank[1]), l->ifname[1]);
    snprintf(cmd, sizeof(cmd), "cat '%s'/* 2>/dev/null", rc->dir);
    p = popen(cmd, "r");
    while (p && fgets(line, sizeof(line), p)) {
        char k[256], v[64];
        if (sscanf(line, "%255s %63s", k, v) == 2 && strcmp(k, key) == 0) {
            found = 1;
            ok = strcmp(v, "fail") != 0;
            *rtt_us = ok ? atof(v) : -1;
        }
    }
    if (p)
        pclose(p);
    return found && ok ? 0 : -1;
}

static int cmd_graph(int argc, char **argv)
{
    static struct topo_rank_info recs[MAX_RECS];
    struct topo_options opt;
    struct results_ctx rc = { 0 };
    struct topo_graph *g;
    static char err[TOPO_ERR_LEN], out[1 << 18];
    int json = 0, i = 0;

    topo_options_init(&opt);
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--results") == 0 && i + 1 < argc)
            rc.dir = argv[++i];
        else if (strcmp(argv[i], "--topo") == 0 && i + 1 < argc) {
            setenv("HALO_TOPO", argv[++i], 1);
        } else if (strcmp(argv[i], "--order") == 0 && i + 1 < argc) {
            setenv("HALO_TOPO_ORDER", argv[++i], 1);
        } else
            return usage();
    }
    if (argc - i < 1 || argc - i > MAX_RECS || recs_load(&argv[i], argc - i, recs) != 0)
        return usage();
    if (topo_options_from_env(&opt, err, sizeof(err)) != haloSuccess) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    rc.recs = recs;
    rc.nrecs = argc - i;
    if (rc.dir) {
        opt.probe = probe_lookup;
        opt.probe_arg = &rc;
    }
    if (topo_graph_create(recs, argc - i, &opt, &g, err, sizeof(err)) != haloSuccess) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (json)
        topo_graph_format_json(g, out, sizeof(out));
    else
        topo_graph_format_text(g, out, sizeof(out));
    fputs(out, stdout);
    topo_graph_destroy(g);
    return 0;
}

static int cmd_plan(int argc, char **argv)
{
    static struct topo_rank_info recs[MAX_RECS];
    struct topo_cost_model m;
    struct topo_graph *g;
    static char err[TOPO_ERR_LEN], out[8192];

    if (argc < 2 || argc - 1 > MAX_RECS || recs_load(&argv[1], argc - 1, recs) != 0)
        return usage();
    if (topo_graph_create(recs, argc - 1, NULL, &g, err, sizeof(err)) != haloSuccess) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    topo_cost_model_from_graph(g, &m);
    topo_cost_format_table(&m, (size_t)strtoull(argv[0], NULL, 0), out, sizeof(out));
    fputs(out, stdout);
    topo_graph_destroy(g);
    return 0;
}

static int cmd_rtt(int argc, char **argv)
{
    char err[512];
    double rtt;

    if (argc != 4)
        return usage();
    if (topo_probe_rtt(argv[0], argv[1], argv[2], atoi(argv[3]), 5, 2000, &rtt, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    printf("%.1f\n", rtt);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "discover") == 0)
        return cmd_discover(argc - 2, argv + 2);
    if (strcmp(argv[1], "serve") == 0)
        return cmd_serve(argc - 2, argv + 2);
    if (strcmp(argv[1], "probe") == 0)
        return cmd_probe(argc - 2, argv + 2);
    if (strcmp(argv[1], "graph") == 0)
        return cmd_graph(argc - 2, argv + 2);
    if (strcmp(argv[1], "plan") == 0)
        return cmd_plan(argc - 2, argv + 2);
    if (strcmp(argv[1], "rtt") == 0)
        return cmd_rtt(argc - 2, argv + 2);
    return usage();
}
