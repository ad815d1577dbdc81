/* SPDX-License-Identifier: MIT */
/*
 * comm_rails.c — hosts joined by several links (rails): which channel runs on which
 * link, and how many of a range's bytes each channel carries.
 *
 * Two hosts joined by several cables, each its own subnet (two USB4 cables, both
 * ports of a dual-port NIC, RoCE plus USB4), get one rail per link (comm_topo.c
 * asks the transports about each link, so one rail may be ib and another tcp).
 * Connections are per channel, so the channels are spread over the rails:
 *   - channel 0, which alone carries small messages, runs on the rail with the
 *     lowest measured round trip;
 *   - the next channels take the rails not used yet, fastest first;
 *   - any further channel goes where it leaves the least load per unit of rate.
 * The spread of the first k channels is the same whatever the count, so a call on
 * fewer channels than connected still uses the best rails. Large calls take two
 * channels per rail (rail_channels; api.c), as one stream leaves a fast link idle
 * between the pipeline's round trips.
 *
 * A range cut over k channels is cut in proportion to each channel's rate: its
 * rail's rate divided by the channels of the first k on that rail, the smallest
 * over every host pair with rails. A pair joined by one link adds nothing: its
 * channels share the one cable whatever their parts. Rates are the probe's
 * measurements (comm_topo.c), else the interfaces' speeds, else equal. Every rank
 * computes the same from the same graph.
 */
#include <string.h>

#include "comm.h"
#include "log.h"
#include "topo.h"

#define RAILS_ONE 65536u /* chan_share's unit: 1/65536 of a range */

int comm_pair_links(const struct halo_comm *comm, const struct topo_graph *g, int a, int b, int *links)
{
    int n = topo_graph_rails(g, a, b, links, HALO_MAX_RAILS);
    if (n > HALO_MAX_RAILS)
        n = HALO_MAX_RAILS;
    if (n > comm->max_rails)
        n = comm->max_rails;
    if (n == 1) /* one link, or HALO_RAILS=1: the best one */
        links[0] = topo_graph_link_between(g, a, b);
    return n;
}

/* Rates of n links, comparable among themselves: all measured, else all with a
 * known speed, else equal. */
static void rails_rates(const struct topo_graph *g, const int *links, int n, double *rate)
{
    int measured = 1, speeds = 1;
    for (int i = 0; i < n; i++) {
        measured &= g->links[links[i]].bw_mbps > 0;
        speeds &= g->links[links[i]].speed_mbps > 0;
    }
    for (int i = 0; i < n; i++) {
        const struct topo_link *l = &g->links[links[i]];
        rate[i] = measured ? l->bw_mbps : speeds ? (double)l->speed_mbps : 1.0;
    }
}

/* Spreads nch channels over n rails into rail_of (positions in links). */
static void rails_spread(const struct topo_graph *g, const int *links, int n, const double *rate, int nch,
                         uint8_t *rail_of)
{
    int cnt[HALO_MAX_RAILS] = {0}, first = 0;
    for (int i = 1; i < n; i++) {
        double a = g->links[links[i]].rtt_us, b = g->links[links[first]].rtt_us;
        if ((a >= 0 && (b < 0 || a < b)) || (a < 0 && b < 0 && rate[i] > rate[first]))
            first = i;
    }
    for (int ch = 0; ch < nch; ch++) {
        int best = ch == 0 ? first : -1;
        for (int i = 0; ch > 0 && i < n; i++) /* an unused rail, the fastest */
            if (cnt[i] == 0 && (best < 0 || rate[i] > rate[best]))
                best = i;
        if (best < 0) { /* none unused: the least load per unit of rate */
            best = 0;
            for (int i = 1; i < n; i++)
                if ((cnt[i] + 1) / rate[i] < (cnt[best] + 1) / rate[best])
                    best = i;
        }
        rail_of[ch] = (uint8_t)best;
        cnt[best]++;
    }
}

/* Channel rates of the first k channels (the smallest over every pair with rails)
 * into w; 0 when no pair has rails. */
static int rails_channel_rates(const struct halo_comm *comm, const struct topo_graph *g, int k, double *w)
{
    int any = 0;
    for (int ch = 0; ch < k; ch++)
        w[ch] = -1;
    for (int a = 0; a < g->nhosts; a++)
        for (int b = a + 1; b < g->nhosts; b++) {
            int links[HALO_MAX_RAILS], n = comm_pair_links(comm, g, a, b, links), cnt[HALO_MAX_RAILS] = {0};
            double rate[HALO_MAX_RAILS];
            uint8_t rail_of[HALO_MAX_CHANNELS];
            if (n < 2)
                continue;
            any = 1;
            rails_rates(g, links, n, rate);
            rails_spread(g, links, n, rate, k, rail_of);
            for (int ch = 0; ch < k; ch++)
                cnt[rail_of[ch]]++;
            for (int ch = 0; ch < k; ch++) {
                double cap = rate[rail_of[ch]] / cnt[rail_of[ch]];
                if (w[ch] < 0 || cap < w[ch])
                    w[ch] = cap;
            }
        }
    return any;
}

/* The cost model's chan_gain[k]: the slowest hop's rate on k channels over its best
 * link's. A hop joined by one link gains nothing, so then every gain is 1. */
static void rails_gains(struct halo_comm *comm, const struct topo_graph *g)
{
    for (int k = 1; k <= comm->nchannels && k <= TOPO_COST_MAX_CHANNELS; k++) {
        double least = -1;
        for (int a = 0; a < g->nhosts; a++)
            for (int b = a + 1; b < g->nhosts; b++) {
                int links[HALO_MAX_RAILS], n = comm_pair_links(comm, g, a, b, links), used[HALO_MAX_RAILS] = {0};
                double rate[HALO_MAX_RAILS], sum = 0, best = 0;
                uint8_t rail_of[HALO_MAX_CHANNELS];
                if (n < 1 || topo_graph_link_between(g, a, b) < 0)
                    continue;
                rails_rates(g, links, n, rate);
                rails_spread(g, links, n, rate, k, rail_of);
                for (int ch = 0; ch < k; ch++)
                    used[rail_of[ch]] = 1;
                for (int i = 0; i < n; i++) {
                    sum += used[i] ? rate[i] : 0;
                    best = rate[i] > best ? rate[i] : best;
                }
                double gain = n > 1 ? sum / best : 1;
                least = least < 0 || gain < least ? gain : least;
            }
        comm->cost.chan_gain[k] = least > 0 ? least : 1;
    }
}

/* chan_share row k-1 from the channel rates: parts of RAILS_ONE that sum to it. */
static void rails_shares(struct halo_comm *comm, int k, const double *w)
{
    uint32_t *row = comm->chan_share[k - 1];
    double sum = 0;
    uint32_t given = 0;
    comm->chan_weighted[k - 1] = 0;
    for (int ch = 0; ch < k; ch++) {
        sum += w[ch];
        comm->chan_weighted[k - 1] |= w[ch] < w[0] * 0.999 || w[ch] > w[0] * 1.001;
    }
    for (int ch = 0; ch < k; ch++) {
        row[ch] = ch + 1 < k ? (uint32_t)(RAILS_ONE * w[ch] / sum) : RAILS_ONE - given;
        given += row[ch];
    }
}

/* Each rail's share of its pair's bytes at the full channel count, for halo-topo. */
static void rails_note_shares(struct halo_comm *comm, struct topo_graph *g)
{
    int nch = comm->nchannels;
    for (int a = 0; a < g->nhosts; a++)
        for (int b = a + 1; b < g->nhosts; b++) {
            int links[HALO_MAX_RAILS], n = comm_pair_links(comm, g, a, b, links);
            double rate[HALO_MAX_RAILS];
            uint8_t rail_of[HALO_MAX_CHANNELS];
            if (n < 2)
                continue;
            rails_rates(g, links, n, rate);
            rails_spread(g, links, n, rate, nch, rail_of);
            for (int i = 0; i < n; i++)
                g->links[links[i]].share = 0;
            for (int ch = 0; ch < nch; ch++)
                g->links[links[rail_of[ch]]].share +=
                    (double)comm->chan_share[nch - 1][ch] / RAILS_ONE;
        }
}

/* The peer's channel map: the pair's spread, as positions in peer->rails (a link
 * the transports could not carry falls back to rail 0). */
static void rails_peer_map(struct halo_comm *comm, const struct topo_graph *g, struct halo_peer *peer, int p)
{
    int links[HALO_MAX_RAILS], n = comm_pair_links(comm, g, g->rank_host[comm->rank], g->rank_host[p], links);
    double rate[HALO_MAX_RAILS];
    uint8_t spread[HALO_MAX_CHANNELS];
    memset(peer->rail_of, 0, sizeof(peer->rail_of));
    if (n < 2 || peer->nrails < 2)
        return;
    rails_rates(g, links, n, rate);
    rails_spread(g, links, n, rate, comm->nchannels, spread);
    for (int ch = 0; ch < comm->nchannels; ch++)
        for (int k = 0; k < peer->nrails; k++)
            if (peer->rails[k].link == links[spread[ch]])
                peer->rail_of[ch] = (uint8_t)k;
}

/* Channels for large calls where rails join some hosts: two per rail of the pair
 * with the most; 0 without rails. One stream per rail leaves a fast link partly
 * idle between the pipeline's round trips (measured on shaped veth: 2.0 R of 3 R
 * with one channel per rail, 2.9 R with two). */
static int rails_channels(const struct halo_comm *comm, const struct topo_graph *g)
{
    int most = 1;
    for (int a = 0; a < g->nhosts; a++)
        for (int b = a + 1; b < g->nhosts; b++) {
            int links[HALO_MAX_RAILS], n = comm_pair_links(comm, g, a, b, links);
            most = n > most ? n : most;
        }
    int k = most > 1 ? 2 * most : 0;
    return k > HALO_MAX_CHANNELS ? HALO_MAX_CHANNELS : k;
}

int comm_rails_conn_channels(const struct halo_comm *comm, const struct topo_graph *g)
{
    int k = rails_channels(comm, g), nch = comm->nchannels;
    if (comm->nchannels_auto && k > nch)
        nch = k;
    if (!g->all_direct) /* the relay channel (relay_needed, comm_plan_relay) */
        nch = nch >= HALO_MAX_CHANNELS ? HALO_MAX_CHANNELS : nch + 1;
    return nch;
}

void comm_rails_plan(struct halo_comm *comm)
{
    struct topo_graph *g = comm->topo;
    comm->rail_channels = rails_channels(comm, g);
    if (comm->nchannels_auto && comm->rail_channels > comm->nchannels) {
        HLOG_INFO(HALO_SUB_INIT, comm->rank, "%d channels (HALO_NCHANNELS auto): two per rail", comm->rail_channels);
        comm->nchannels = comm->rail_channels;
        comm->cost.max_channels = comm->rail_channels;
        comm_pick_yield(comm);
    }
    for (int k = 1; k <= comm->nchannels; k++) {
        double w[HALO_MAX_CHANNELS];
        if (!rails_channel_rates(comm, g, k, w))
            for (int ch = 0; ch < k; ch++)
                w[ch] = 1;
        rails_shares(comm, k, w);
    }
    for (int p = 0; p < comm->nranks; p++)
        if (comm->peers[p].local_index < 0 && p != comm->rank)
            rails_peer_map(comm, g, &comm->peers[p], p);
    rails_note_shares(comm, g);
    rails_gains(comm, g);
}
