/* SPDX-License-Identifier: MIT */
/*
 * tune.h — measured link numbers for the cost model: the file `halo-tune` writes
 * and HALO_TUNE_FILE reads (format in tune.c and the README).
 *
 * A file names the cluster it was measured on (its hosts, and per link both ends'
 * host and addresses), so one measured elsewhere is refused, not used. Applying it
 * to a model is a pure function of the file and the graph: rank 0 does it and the
 * result reaches every rank through the bootstrap (comm_tune.c).
 */
#ifndef HALO_TOPO_TUNE_H
#define HALO_TOPO_TUNE_H

#include <stddef.h>

#include "topo.h"
#include "topo_cost.h"

#define TOPO_TUNE_MAX_HOSTS 64
#define TOPO_TUNE_MAX_LINKS 64
/* One end of a link: "host/addr" or, with rails, "host/addr+addr"; on one host
 * "host/rN" (the rank). */
#define TOPO_TUNE_MAX_RAILS 4
#define TOPO_TUNE_END_LEN (TOPO_HOSTNAME_LEN + TOPO_TUNE_MAX_RAILS * TOPO_ADDRSTR_LEN)
/* Channel counts measured: 1, 2, 4 (index 0, 1, 2). */
#define TOPO_TUNE_NCH 3
#define TOPO_TUNE_FILE_MAX (1 << 20) /* a bigger file is refused */

/* "links" between hosts; on one host the local transport. */
#define TOPO_TUNE_LINKS "links"

struct topo_tune_link {
    char end[2][TOPO_TUNE_END_LEN];
    double alpha_s;    /* one-way latency: half the round trip of a small message */
    double overhead_s; /* software cost of one more message in a stream */
    double bw_Bps[TOPO_TUNE_NCH]; /* per direction, both ways at once, with 1, 2, 4 channels */
};

struct topo_tune {
    int nhosts;
    char hosts[TOPO_TUNE_MAX_HOSTS][TOPO_HOSTNAME_LEN];
    char transport[8]; /* "links", "shm" or "tcp" */
    double reduce_Bps; /* float32 sum, one thread, bytes of one operand per second */
    int nlinks;
    struct topo_tune_link links[TOPO_TUNE_MAX_LINKS];
};

/* The channel count of measurement index k (1, 2, 4). */
int topo_tune_channels(int k);

/* Parses a file's text (strict: every line a comment, blank, or a known key with a
 * value in range; all keys present). 0, or -1 with the line and the reason in err;
 * *t is then undefined. Never reads past len, never crashes on any bytes. */
int topo_tune_parse(const char *text, size_t len, struct topo_tune *t, char *err, size_t errlen);
/* topo_tune_parse of a file (at most TOPO_TUNE_FILE_MAX bytes). */
int topo_tune_read(const char *path, struct topo_tune *t, char *err, size_t errlen);
/* The file's text (what topo_tune_parse reads back); snprintf semantics. */
size_t topo_tune_format(const struct topo_tune *t, char *buf, size_t len);

/* Host pairs (a < b) whose links the graph's model prices (topo_cost_link_used),
 * into pairs[0..max-1]; returns how many there are. */
int topo_tune_pairs(const struct topo_graph *g, int (*pairs)[2], int max);
/* The identity of the links between hosts a and b (their rails, in link order):
 * end[0] for a, end[1] for b. */
void topo_tune_pair_ends(const struct topo_graph *g, int a, int b, char end[2][TOPO_TUNE_END_LEN]);

/* Puts t's numbers into m, whose other fields (class, hosts, shared NIC) stay:
 * alpha and per-message cost the largest of the links priced, bandwidth with p
 * channels the smallest (bw_Bps = 1 channel, chan_gain[p] the ratio, no
 * separate per-channel cap), the reduction rate. g = NULL: one host named host
 * over `transport` ("shm"/"tcp"). 0, or -1 with why (m untouched) when t was
 * measured on other hosts, links or transport. */
int topo_tune_apply(const struct topo_tune *t, const struct topo_graph *g, const char *host, const char *transport,
                    struct topo_cost_model *m, char *why, size_t whylen);

#endif
