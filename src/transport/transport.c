/* SPDX-License-Identifier: MIT */
/*
 * transport.c — the table of transports (the one list: name, kind, priority,
 * capabilities come from each row) and the error helper transports record with.
 *
 * Adding a transport: its files in this folder, a kind in transport.h, a row
 * below. The core loops over this table; nothing else names a transport.
 */
#define HALO_ERR_SUBSYS HALO_SUB_NET /* errors recorded here log under this subsystem */
#include <stdarg.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "transport.h"

extern const struct halo_tp_setup halo_shm_setup, halo_ib_setup, halo_tcp_setup;

const struct halo_tp_setup *const halo_transports[] = {&halo_shm_setup, &halo_ib_setup, &halo_tcp_setup, NULL};
_Static_assert(sizeof(halo_transports) / sizeof(halo_transports[0]) <= HALO_TP_MAX + 1,
               "more transports than blob slots in struct halo_peer_info (HALO_TP_MAX)");

const struct halo_tp_setup *halo_tp_by_kind(int kind)
{
    for (int i = 0; halo_transports[i]; i++)
        if ((int)halo_transports[i]->kind == kind)
            return halo_transports[i];
    return NULL;
}

const struct halo_tp_setup *halo_tp_by_name(const char *name)
{
    for (int i = 0; name && halo_transports[i]; i++)
        if (strcmp(halo_transports[i]->name, name) == 0)
            return halo_transports[i];
    return NULL;
}

const struct halo_tp_setup *halo_tp_forced(const struct halo_tp_ctx *ctx)
{
    return halo_tp_by_name(HALO_P_STR(ctx->params, transport));
}

int halo_tp_may_carry(const struct halo_tp_ctx *ctx, enum halo_transport_kind kind)
{
    const struct halo_tp_setup *forced = halo_tp_forced(ctx);
    return !forced || forced->kind == kind;
}

int halo_tp_blob_slot(int kind)
{
    for (int i = 0; halo_transports[i]; i++)
        if ((int)halo_transports[i]->kind == kind)
            return i;
    return -1;
}

void halo_tp_sorted(int by_connect, const struct halo_tp_setup *order[])
{
    int n = 0;
    for (; halo_transports[n]; n++)
        order[n] = halo_transports[n];
    order[n] = NULL;
    for (int i = 1; i < n; i++) /* insertion sort: a handful of rows */
        for (int j = i; j > 0; j--) {
            int a = by_connect ? order[j - 1]->connect_order : order[j - 1]->priority;
            int b = by_connect ? order[j]->connect_order : order[j]->priority;
            if (a <= b)
                break;
            const struct halo_tp_setup *t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
}

haloResult_t halo_tp_error(const struct halo_tp_ctx *ctx, haloResult_t res, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (ctx && ctx->error)
        return ctx->error(ctx->core, res, msg);
    return halo_error(NULL, res, "%s", msg);
}

static int tp_family_param(const struct halo_tp_ctx *ctx)
{
    const char *f = HALO_P_STR(ctx->params, socket_family);

    if (f && strcmp(f, "AF_INET") == 0)
        return AF_INET;
    if (f && strcmp(f, "AF_INET6") == 0)
        return AF_INET6;
    return 0;
}

/* The IP the bootstrap used, else HALO_SOCKET_IFNAME's first interface, else loopback. */
void halo_tp_data_addr(const struct halo_tp_ctx *ctx, struct halo_sockaddr *addr)
{
    const char *spec = HALO_P_STR(ctx->params, socket_ifname);
    struct halo_ifaddr ifa;

    memset(addr, 0, sizeof(*addr));
    if (ctx->local_addr.family != AF_UNSPEC)
        *addr = ctx->local_addr;
    else if (halo_if_list(spec ? spec : "", tp_family_param(ctx), &ifa, 1) > 0)
        *addr = ifa.addr;
    else {
        addr->family = AF_INET;
        addr->addr[0] = 127;
        addr->addr[3] = 1;
    }
    addr->port = 0;
}

int halo_tp_rank(const struct halo_tp_ctx *ctx)
{
    return ctx ? ctx->rank : -1;
}
