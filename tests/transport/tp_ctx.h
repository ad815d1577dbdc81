/* SPDX-License-Identifier: MIT */
/*
 * tp_ctx.h — a transport context for tests that run a transport without a
 * communicator: errors land in last_error (the sink the core would give), the
 * all-gather and barrier are the test's to provide when it needs them.
 */
#ifndef HALO_TEST_TP_CTX_H
#define HALO_TEST_TP_CTX_H

#include <stdio.h>
#include <string.h>

#include "transport.h"

struct tp_test {
    struct halo_tp_ctx ctx;
    char last_error[1024];
    _Atomic int failed;
};

static inline haloResult_t tp_test_error(void *core, haloResult_t res, const char *msg)
{
    struct tp_test *t = core;
    snprintf(t->last_error, sizeof(t->last_error), "%s", msg);
    fprintf(stderr, "# recorded: %s\n", msg);
    return res;
}

static inline void tp_test_init(struct tp_test *t, int rank, int nranks)
{
    memset(t, 0, sizeof(*t));
    t->ctx.rank = rank;
    t->ctx.nranks = nranks;
    t->ctx.timeout_us = 10000000;
    t->ctx.core = t;
    t->ctx.error = tp_test_error;
    t->ctx.failed = &t->failed;
}

#endif
