/* SPDX-License-Identifier: MIT */
/*
 * graph_internal.h — what graph.c (building), graph_order.c (classification and
 * order) and graph_format.c (text/JSON) share. Not for use outside src/topology.
 */
#ifndef HALO_TOPO_GRAPH_INTERNAL_H
#define HALO_TOPO_GRAPH_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "topo.h"

/* Appending writer with snprintf semantics: pos counts what the whole text needs. */
struct topo_buf {
    char *buf;
    size_t len;
    size_t pos;
};

void topo_buf_init(struct topo_buf *b, char *buf, size_t len);
void topo_buf_add(struct topo_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Link usable for data: confirmed, and off the management network unless the graph
 * fell back to it. */
int topo_link_usable(const struct topo_graph *g, const struct topo_link *l);
/* "a-b (10.0.1.0/24), b-c (10.0.2.0/24)" for every usable link, "none" if none. */
void topo_links_summary(const struct topo_graph *g, struct topo_buf *b);
/* Hosts with their interfaces, links and notes: the graph as printed in errors. */
void topo_graph_format_inventory(const struct topo_graph *g, struct topo_buf *b);
/* Appends a line to g->notes. */
void topo_graph_note(struct topo_graph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Classifies g and fills g->cls, host_order, flags (graph_order.c). On failure
 * writes the first sentence of the error into b. */
haloResult_t topo_graph_order(struct topo_graph *g, const struct topo_options *opt,
                              struct topo_buf *b);

#endif
