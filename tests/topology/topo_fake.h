/* SPDX-License-Identifier: MIT */
/*
 * topo_fake.h — hand-made discovery records for the graph and cost-model tests.
 *
 * fake_rank() starts a rank's record on a named host (hash from the name, so ranks of
 * one name land on one host); fake_if() adds an interface from "10.0.1.1/24" or
 * "fd00::1/64" text. fake_cable() gives two hosts' records one cable each.
 */
#ifndef HALO_TOPO_FAKE_H
#define HALO_TOPO_FAKE_H

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topo.h"

static inline void fake_rank(struct topo_rank_info *r, int rank, const char *host)
{
    memset(r, 0, sizeof(*r));
    r->magic = TOPO_INFO_MAGIC;
    r->version = TOPO_INFO_VERSION;
    r->rank = rank;
    r->numa_nodes = 1;
    topo_strlcpy(r->hostname, host, sizeof(r->hostname));
    r->host_hash = topo_host_hash(host, "boot-id", 4026531833ull);
}

static inline void fake_addr_parse(struct topo_addr *a, const char *cidr)
{
    char text[64];
    char *slash;

    snprintf(text, sizeof(text), "%s", cidr);
    slash = strchr(text, '/');
    *slash = '\0';
    if (strchr(text, ':')) {
        a->family = TOPO_AF_INET6;
        inet_pton(AF_INET6, text, a->bytes);
    } else {
        a->family = TOPO_AF_INET;
        inet_pton(AF_INET, text, a->bytes);
    }
    a->prefix_len = (uint8_t)atoi(slash + 1);
}

/* Adds an interface; cidr may be NULL (no address). flags: TOPO_IF_UP etc. */
static inline struct topo_iface *fake_if(struct topo_rank_info *r, const char *name, const char *cidr,
                                         int speed, unsigned flags)
{
    struct topo_iface *f = &r->ifaces[r->n_ifaces++];

    memset(f, 0, sizeof(*f));
    topo_strlcpy(f->name, name, sizeof(f->name));
    topo_strlcpy(f->driver, "thunderbolt-net", sizeof(f->driver));
    f->speed_mbps = speed;
    f->mtu = 1500;
    f->numa_node = -1;
    f->flags = flags;
    if (cidr) {
        struct topo_addr a;
        memset(&a, 0, sizeof(a));
        fake_addr_parse(&a, cidr);
        if (a.family == TOPO_AF_INET)
            f->addr4 = a;
        else
            f->addr6 = a;
    }
    return f;
}

#endif
