/* SPDX-License-Identifier: MIT */
/*
 * banner.c — the first INFO line of a process: which haloccl this is and what it
 * can use, so a log sent with a bug report answers "which build, on what":
 *
 *   haloccl 0.1.0 (git 1a2b3c4-dirty): transports shm, ib (verbs loaded, port active), tcp;
 *   reduce kernels avx2; GPU runtime: not loaded yet
 *
 * Printed once per process (pthread_once) when the first communicator starts (or
 * haloGetUniqueId starts the bootstrap root, whose lines come first), and
 * only when INFO is on for INIT: asking ib whether its libraries load costs a
 * dlopen. The GPU runtime is only reported, never loaded here: loading it is the
 * first GPU call's decision (api_gpu.c), and a host-only job should not pay for it.
 *
 * HALO_GIT_DESCRIBE comes from CMake (`git describe --always --dirty` at configure
 * time, "unknown" outside a git checkout), set on this file only so that a commit
 * recompiles one file.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "comm.h"
#include "gpu_rt.h"
#include "ib.h"
#include "log.h"
#include "reduce.h"
#include "transport.h"

#ifndef HALO_GIT_DESCRIBE
#define HALO_GIT_DESCRIBE "unknown"
#endif

#define BANNER_STR2(x) #x
#define BANNER_STR(x) BANNER_STR2(x)
#define BANNER_VERSION BANNER_STR(HALO_MAJOR) "." BANNER_STR(HALO_MINOR) "." BANNER_STR(HALO_PATCH)

static pthread_once_t banner_once = PTHREAD_ONCE_INIT;
static int banner_rank = -1; /* written before pthread_once, read only inside it */

/* "shm, ib (verbs loaded, no active port), tcp": every row of the transport
 * table, ib with whether rdma-core loads and whether a port could carry data. */
static void banner_transports(char *buf, size_t len)
{
    size_t pos = 0;

    buf[0] = '\0';
    for (int i = 0; halo_transports[i] && pos < len; i++) {
        const struct halo_tp_setup *t = halo_transports[i];
        const char *note = "";
        if (t->kind == HALO_TR_IB)
            note = (const char *[]){" (verbs not loaded)", " (verbs loaded, no active port)",
                                    " (verbs loaded, port active)"}[ib_load_state()];
        int n = snprintf(buf + pos, len - pos, "%s%s%s", i ? ", " : "", t->name, note);
        pos += n > 0 ? (size_t)n : 0;
    }
}

static void banner_emit(void)
{
    char tps[256], gpu[192] = "not loaded yet";
    const struct gpu_rt *rt = gpu_rt_get();

    banner_transports(tps, sizeof(tps));
    if (rt)
        gpu_rt_describe(rt, gpu, sizeof(gpu));
    halo_log_emit(HALO_LOG_INFO, HALO_SUB_INIT, __atomic_load_n(&banner_rank, __ATOMIC_RELAXED),
                  "haloccl %s (git %s): transports %s; reduce kernels %s; GPU runtime: %s", BANNER_VERSION,
                  HALO_GIT_DESCRIBE, tps, halo_reduce_isa(), gpu);
}

void comm_log_banner(int rank)
{
    if (!halo_log_enabled(HALO_LOG_INFO, HALO_SUB_INIT))
        return;
    /* Racing first inits both store their rank; either one names the line. */
    __atomic_store_n(&banner_rank, rank, __ATOMIC_RELAXED);
    pthread_once(&banner_once, banner_emit);
}
