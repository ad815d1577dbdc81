/* SPDX-License-Identifier: MIT */
/*
 * shim_comm.c — NCCL communicators over haloccl's: the registry of live handles,
 * blocking and non-blocking init, ncclCommInitAll, split, finalize, destroy, abort
 * and the queries.
 *
 * Non-blocking init (config.blocking = 0): the handle is returned at once with
 * ncclInProgress and a thread runs haloCommInitRankConfig; ncclCommGetAsyncError
 * reports ncclInProgress until it ends, then its result. Other calls on such a
 * handle wait for the init to end first (they would need the connections anyway).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_rt.h"
#include "log.h"
#include "shim.h"

/* Live handles. Process-wide, mutable: a handle is valid exactly while it is here. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ncclComm *registry_head;

static void registry_add(struct ncclComm *c)
{
    pthread_mutex_lock(&registry_lock);
    c->next = registry_head;
    registry_head = c;
    pthread_mutex_unlock(&registry_lock);
}

/* Removes c; 0 when it was not there (already destroyed). */
static int registry_remove(struct ncclComm *c)
{
    int found = 0;
    pthread_mutex_lock(&registry_lock);
    for (struct ncclComm **p = &registry_head; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            found = 1;
            break;
        }
    pthread_mutex_unlock(&registry_lock);
    return found;
}

/* Holds c if it is live: under the registry's lock, so a teardown that removed it
 * first is never raced. */
static int registry_hold(struct ncclComm *c)
{
    int found = 0;
    pthread_mutex_lock(&registry_lock);
    for (struct ncclComm *p = registry_head; p && !found; p = p->next)
        found = p == c;
    if (found) {
        pthread_mutex_lock(&c->lock);
        c->busy++;
        pthread_mutex_unlock(&c->lock);
    }
    pthread_mutex_unlock(&registry_lock);
    return found;
}

static struct ncclComm *comm_alloc(const struct shim_comm_config *cfg, int device)
{
    struct ncclComm *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->init_cv, NULL);
    c->state = SHIM_INIT_RUNNING;
    c->init_result = ncclInProgress;
    c->cfg = *cfg;
    c->device = device;
    c->rank = -1;
    return c;
}

static void comm_free(struct ncclComm *c)
{
    if (!c)
        return;
    pthread_cond_destroy(&c->init_cv);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

ncclResult_t shim_comm_hold(ncclComm_t c, const char *fn, struct ncclComm **out)
{
    if (!c)
        return fn ? shim_error(NULL, ncclInvalidArgument, "%s: comm is NULL", fn) : ncclInvalidArgument;
    if (!registry_hold(c))
        return fn ? shim_error(NULL, ncclInvalidArgument,
                               "%s: comm %p is not a live communicator (destroyed, aborted, or never created)",
                               fn, (void *)c)
                  : ncclInvalidArgument;
    *out = c;
    return ncclSuccess;
}

void shim_comm_put(struct ncclComm *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    if (--c->busy == 0)
        pthread_cond_broadcast(&c->init_cv);
    pthread_mutex_unlock(&c->lock);
}

/* Blocks until nobody holds c (teardown, after it left the registry). */
static void comm_wait_idle(struct ncclComm *c)
{
    pthread_mutex_lock(&c->lock);
    while (c->busy > 0)
        pthread_cond_wait(&c->init_cv, &c->lock);
    pthread_mutex_unlock(&c->lock);
}

/* Blocks until c's init ended; returns its result. */
static ncclResult_t comm_wait_init(struct ncclComm *c)
{
    pthread_mutex_lock(&c->lock);
    while (c->state == SHIM_INIT_RUNNING)
        pthread_cond_wait(&c->init_cv, &c->lock);
    ncclResult_t r = c->init_result;
    pthread_mutex_unlock(&c->lock);
    return r;
}

ncclResult_t shim_comm_get(ncclComm_t handle, const char *fn, struct ncclComm **out)
{
    struct ncclComm *c;
    ncclResult_t r = shim_comm_hold(handle, fn, &c);
    if (r != ncclSuccess)
        return r;
    if (comm_wait_init(c) != ncclSuccess)
        r = shim_error(c, ncclInvalidUsage, "%s: the communicator's init failed (%s): destroy it", fn,
                       pncclGetErrorString(c->init_result));
    else if (c->finalized)
        r = shim_error(c, ncclInvalidUsage, "%s: rank %d: the communicator was finalized; only "
                       "ncclCommDestroy may follow", fn, c->rank);
    if (r != ncclSuccess) {
        shim_comm_put(c);
        return r;
    }
    *out = c;
    return ncclSuccess;
}

/* ---- init ---- */

struct init_job {
    struct ncclComm *comm;
    haloUniqueId id;
    int nranks, rank;
};

static void halo_config_from(const struct shim_comm_config *cfg, haloConfig_t *h)
{
    haloConfig_t init = HALO_CONFIG_INITIALIZER;
    *h = init;
    h->blocking = 1; /* the shim runs non-blocking inits on its own thread */
    h->splitShare = cfg->splitShare;
    h->commName = cfg->commName[0] ? cfg->commName : NULL;
}

/* Fills the handle after haloccl's init ended with r; wakes waiters. */
static void init_finish(struct ncclComm *c, haloComm_t h, haloResult_t r)
{
    pthread_mutex_lock(&c->lock);
    if (r == haloSuccess) {
        c->halo = h;
        haloCommCount(h, &c->nranks);
        haloCommUserRank(h, &c->rank);
        c->state = SHIM_INIT_DONE;
    } else {
        /* The init thread's sentence, kept with the handle for ncclGetLastError. */
        snprintf(c->err, sizeof(c->err), "%s", haloGetLastError(NULL));
        c->err_is_shim = 1;
        c->state = SHIM_INIT_FAILED;
    }
    c->init_result = (ncclResult_t)r;
    pthread_cond_broadcast(&c->init_cv);
    pthread_mutex_unlock(&c->lock);
}

static haloResult_t init_run(struct init_job *job)
{
    haloConfig_t hcfg;
    haloComm_t h = NULL;
    halo_config_from(&job->comm->cfg, &hcfg);
    haloResult_t r = haloCommInitRankConfig(&h, job->nranks, job->id, job->rank, &hcfg);
    init_finish(job->comm, h, r);
    return r;
}

static void *init_thread_main(void *arg)
{
    struct init_job *job = arg;
    init_run(job);
    free(job);
    return NULL;
}

static ncclResult_t comm_init(const char *fn, ncclComm_t *out, int nranks, const ncclUniqueId *id, int rank,
                              const void *config, int device)
{
    struct shim_comm_config cfg;
    ncclResult_t r;

    shim_env_once();
    if (!out)
        return shim_error(NULL, ncclInvalidArgument, "%s: comm (the output pointer) is NULL", fn);
    if ((r = shim_config_read(config, fn, &cfg)) != ncclSuccess)
        return r;
    struct ncclComm *c = comm_alloc(&cfg, device);
    struct init_job *job = calloc(1, sizeof(*job));
    if (!c || !job) {
        free(job);
        comm_free(c);
        return shim_error(NULL, ncclSystemError, "%s: rank %d: out of memory", fn, rank);
    }
    *job = (struct init_job){.comm = c, .nranks = nranks, .rank = rank};
    memcpy(&job->id, id, sizeof(job->id));
    if (!cfg.blocking && pthread_create(&c->init_thread, NULL, init_thread_main, job) == 0) {
        c->init_thread_live = 1;
        registry_add(c);
        *out = c;
        return ncclInProgress;
    }
    haloResult_t hr = init_run(job);
    free(job);
    if (hr != haloSuccess) {
        comm_free(c);
        return shim_pass(NULL, hr); /* haloccl's sentence is this thread's */
    }
    registry_add(c);
    *out = c;
    return ncclSuccess;
}

/* What ncclCommCuDevice reports: the device current on the calling thread at
 * init (cudaGetDevice / hipGetDevice through the GPU runtime table), as NCCL
 * records it. In host mode (no runtime loads) 0: callers use the value as a
 * device ordinal (cudaSetDevice, an index into per-device arrays), and 0 is the
 * one every machine has, where -1 would fail or index out of bounds. PyTorch
 * and vLLM do not call ncclCommCuDevice. */
static int shim_current_device(void)
{
    const struct gpu_rt *rt = NULL;
    char err[256];
    int dev = 0;
    if (gpu_rt_load(&rt, err, sizeof(err)) != 0 || !rt || rt->get_device(&dev) != 0 || dev < 0)
        return 0;
    return dev;
}

SHIM_ALIAS(ncclGetUniqueId);
SHIM_API ncclResult_t pncclGetUniqueId(ncclUniqueId *uniqueId)
{
    _Static_assert(sizeof(ncclUniqueId) == sizeof(haloUniqueId), "the ids are the same 128 bytes");
    shim_env_once();
    if (!uniqueId)
        return shim_error(NULL, ncclInvalidArgument, "ncclGetUniqueId: uniqueId is NULL");
    return shim_pass(NULL, haloGetUniqueId((haloUniqueId *)uniqueId));
}

SHIM_ALIAS(ncclCommInitRank);
SHIM_API ncclResult_t pncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank)
{
    return comm_init("ncclCommInitRank", comm, nranks, &commId, rank, NULL, shim_current_device());
}

SHIM_ALIAS(ncclCommInitRankConfig);
SHIM_API ncclResult_t pncclCommInitRankConfig(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank,
                                              ncclConfig_t *config)
{
    return comm_init("ncclCommInitRankConfig", comm, nranks, &commId, rank, config, shim_current_device());
}

/* NCCL spreads the bootstrap over nId roots for very large jobs; one root serves
 * every rank here, so the first id is the job's. */
SHIM_ALIAS(ncclCommInitRankScalable);
SHIM_API ncclResult_t pncclCommInitRankScalable(ncclComm_t *newcomm, int nranks, int myrank, int nId,
                                                ncclUniqueId *commIds, ncclConfig_t *config)
{
    if (nId < 1 || !commIds)
        return shim_error(NULL, ncclInvalidArgument, "ncclCommInitRankScalable: nId is %d and commIds %p: at "
                          "least one id is needed", nId, (void *)commIds);
    return comm_init("ncclCommInitRankScalable", newcomm, nranks, &commIds[0], myrank, config,
                     shim_current_device());
}

/* ---- ncclCommInitAll: ndev ranks in this process, one thread each ---- */

struct init_all_rank {
    ncclComm_t comm;
    ncclUniqueId id;
    int ndev, rank, device;
    ncclResult_t result;
};

static void *init_all_main(void *arg)
{
    struct init_all_rank *r = arg;
    r->result = comm_init("ncclCommInitAll", &r->comm, r->ndev, &r->id, r->rank, NULL, r->device);
    return NULL;
}

SHIM_ALIAS(ncclCommInitAll);
SHIM_API ncclResult_t pncclCommInitAll(ncclComm_t *comms, int ndev, const int *devlist)
{
    ncclUniqueId id;
    ncclResult_t r;

    if (!comms || ndev < 1)
        return shim_error(NULL, ncclInvalidArgument, "ncclCommInitAll: comms is %p and ndev %d: expected an "
                          "array of ndev >= 1 handles", (void *)comms, ndev);
    if ((r = pncclGetUniqueId(&id)) != ncclSuccess)
        return r;
    struct init_all_rank *ranks = calloc((size_t)ndev, sizeof(*ranks));
    pthread_t *threads = calloc((size_t)ndev, sizeof(*threads));
    if (!ranks || !threads) {
        free(ranks);
        free(threads);
        return shim_error(NULL, ncclSystemError, "ncclCommInitAll: out of memory for %d ranks", ndev);
    }
    int started = 0;
    for (int i = 0; i < ndev; i++) {
        ranks[i] = (struct init_all_rank){.id = id, .ndev = ndev, .rank = i,
                                          .device = devlist ? devlist[i] : i, .result = ncclSystemError};
        if (pthread_create(&threads[i], NULL, init_all_main, &ranks[i]) != 0)
            break;
        started++;
    }
    r = ncclSuccess;
    for (int i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
        if (ranks[i].result != ncclSuccess && r == ncclSuccess)
            r = ranks[i].result;
    }
    if (started < ndev && r == ncclSuccess)
        r = shim_error(NULL, ncclSystemError, "ncclCommInitAll: could not start a thread for rank %d", started);
    for (int i = 0; i < started; i++) {
        if (r == ncclSuccess)
            comms[i] = ranks[i].comm;
        else if (ranks[i].result == ncclSuccess)
            pncclCommDestroy(ranks[i].comm);
    }
    free(ranks);
    free(threads);
    return r;
}

/* ---- split, shrink, grow ---- */

static ncclResult_t comm_split(struct ncclComm *parent, int color, int key, ncclComm_t *newcomm,
                               const ncclConfig_t *config)
{
    struct ncclComm *child;
    struct shim_comm_config cfg;
    haloConfig_t hcfg;
    haloComm_t h = NULL;
    ncclResult_t r;

    if (!newcomm)
        return shim_error(parent, ncclInvalidArgument, "ncclCommSplit: newcomm is NULL");
    cfg = parent->cfg; /* NULL config: inherit the parent's */
    if (config && (r = shim_config_read(config, "ncclCommSplit", &cfg)) != ncclSuccess)
        return r;
    halo_config_from(&cfg, &hcfg);
    /* A split is done when it returns: blocking or not, nothing is left to poll. */
    if ((r = shim_pass(parent, haloCommSplit(parent->halo, color, key, &h, &hcfg))) != ncclSuccess)
        return r;
    if (!h) {
        *newcomm = NULL;
        return ncclSuccess;
    }
    if (!(child = comm_alloc(&cfg, parent->device))) {
        haloCommDestroy(h);
        return shim_error(parent, ncclSystemError, "ncclCommSplit: out of memory");
    }
    init_finish(child, h, haloSuccess);
    registry_add(child);
    *newcomm = child;
    return ncclSuccess;
}

SHIM_ALIAS(ncclCommSplit);
SHIM_API ncclResult_t pncclCommSplit(ncclComm_t comm, int color, int key, ncclComm_t *newcomm, ncclConfig_t *config)
{
    struct ncclComm *parent;
    ncclResult_t r;

    if ((r = shim_comm_get(comm, "ncclCommSplit", &parent)) != ncclSuccess)
        return r;
    r = comm_split(parent, color, key, newcomm, config);
    shim_comm_put(parent);
    return r;
}

SHIM_ALIAS(ncclCommShrink);
SHIM_API ncclResult_t pncclCommShrink(ncclComm_t comm, int *excludeRanksList, int excludeRanksCount,
                                      ncclComm_t *newcomm, ncclConfig_t *config, int shrinkFlags)
{
    struct ncclComm *c = NULL;
    shim_comm_hold(comm, NULL, &c);
    ncclResult_t r = shim_error(c, ncclInvalidUsage, "ncclCommShrink is not supported by haloccl: build the "
                                "smaller communicator with ncclCommSplit on every surviving rank, or a new "
                                "ncclCommInitRank");
    shim_comm_put(c);
    return r;
}

SHIM_ALIAS(ncclCommGrow);
SHIM_API ncclResult_t pncclCommGrow(ncclComm_t comm, int nRanks, const ncclUniqueId *uniqueId, int rank,
                                    ncclComm_t *newcomm, ncclConfig_t *config)
{
    return shim_error(NULL, ncclInvalidUsage, "ncclCommGrow is not supported by haloccl: create a new "
                      "communicator with ncclCommInitRank");
}

SHIM_ALIAS(ncclCommGetUniqueId);
SHIM_API ncclResult_t pncclCommGetUniqueId(ncclComm_t comm, ncclUniqueId *uniqueId)
{
    return shim_error(NULL, ncclInvalidUsage, "ncclCommGetUniqueId (for ncclCommGrow) is not supported by "
                      "haloccl: use ncclGetUniqueId and a new communicator");
}

/* ---- teardown ---- */

SHIM_ALIAS(ncclCommFinalize);
SHIM_API ncclResult_t pncclCommFinalize(ncclComm_t comm)
{
    struct ncclComm *c;
    ncclResult_t r = shim_comm_get(comm, "ncclCommFinalize", &c);
    if (r != ncclSuccess)
        return r;
    /* Every operation has completed when its call returned (host mode), so there is
     * nothing to flush; later operations are refused until destroy. */
    c->finalized = 1;
    shim_comm_put(c);
    return ncclSuccess;
}

/* Takes c out of the registry (no new call can hold it), waits for a running init,
 * then frees it. Destroy waits for the calls holding it first; abort first stops
 * haloccl's work (which ends calls blocked in it), then waits for them. */
static ncclResult_t comm_teardown(ncclComm_t comm, const char *fn, int abort)
{
    struct ncclComm *c = comm;
    if (!c)
        return shim_error(NULL, ncclInvalidArgument, "%s: comm is NULL", fn);
    if (!registry_remove(c))
        return shim_error(NULL, ncclInvalidArgument,
                          "%s: comm %p is not a live communicator (destroyed, aborted, or never created)", fn,
                          (void *)c);
    /* A running init cannot be interrupted: it ends within HALO_TIMEOUT_MS. */
    comm_wait_init(c);
    if (c->init_thread_live)
        pthread_join(c->init_thread, NULL);
    haloResult_t hr = haloSuccess;
    if (!abort)
        comm_wait_idle(c);
    if (c->halo)
        hr = abort ? haloCommAbort(c->halo) : haloCommDestroy(c->halo);
    if (abort)
        comm_wait_idle(c);
    c->halo = NULL;
    comm_free(c);
    return shim_pass(NULL, hr);
}

SHIM_ALIAS(ncclCommDestroy);
SHIM_API ncclResult_t pncclCommDestroy(ncclComm_t comm)
{
    return comm_teardown(comm, "ncclCommDestroy", 0);
}

SHIM_ALIAS(ncclCommAbort);
SHIM_API ncclResult_t pncclCommAbort(ncclComm_t comm)
{
    return comm_teardown(comm, "ncclCommAbort", 1);
}

SHIM_ALIAS(ncclCommRevoke);
SHIM_API ncclResult_t pncclCommRevoke(ncclComm_t comm, int revokeFlags)
{
    struct ncclComm *c;
    ncclResult_t r = shim_comm_hold(comm, "ncclCommRevoke", &c);
    if (r != ncclSuccess)
        return r;
    if (revokeFlags != NCCL_REVOKE_DEFAULT)
        r = shim_error(c, ncclInvalidArgument, "ncclCommRevoke: revokeFlags is %d: only 0 is defined", revokeFlags);
    else
        r = shim_error(c, ncclInvalidUsage, "ncclCommRevoke is not supported by haloccl: use ncclCommAbort");
    shim_comm_put(c);
    return r;
}

/* ---- queries ---- */

static ncclResult_t comm_async_error(struct ncclComm *c, ncclResult_t *asyncError)
{
    if (!asyncError)
        return shim_error(c, ncclInvalidArgument, "ncclCommGetAsyncError: asyncError is NULL");
    pthread_mutex_lock(&c->lock);
    enum shim_init_state st = c->state;
    ncclResult_t init = c->init_result;
    pthread_mutex_unlock(&c->lock);
    if (st != SHIM_INIT_DONE) {
        *asyncError = init; /* ncclInProgress while the init thread runs */
        if (st == SHIM_INIT_FAILED)
            shim_thread_note(c->err); /* for ncclGetLastError(NULL) on the polling thread */
        return ncclSuccess;
    }
    haloResult_t e = haloSuccess;
    ncclResult_t r = shim_pass(c, haloCommGetAsyncError(c->halo, &e));
    if (r == ncclSuccess)
        *asyncError = (ncclResult_t)e;
    return r;
}

SHIM_ALIAS(ncclCommGetAsyncError);
SHIM_API ncclResult_t pncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *asyncError)
{
    struct ncclComm *c;
    ncclResult_t r = shim_comm_hold(comm, "ncclCommGetAsyncError", &c);
    if (r != ncclSuccess)
        return r;
    r = comm_async_error(c, asyncError);
    shim_comm_put(c);
    return r;
}

SHIM_ALIAS(ncclCommCount);
SHIM_API ncclResult_t pncclCommCount(const ncclComm_t comm, int *count)
{
    struct ncclComm *c;
    ncclResult_t r = shim_comm_get(comm, "ncclCommCount", &c);
    if (r != ncclSuccess)
        return r;
    if (!count)
        r = shim_error(c, ncclInvalidArgument, "ncclCommCount: count is NULL");
    else
        *count = c->nranks;
    shim_comm_put(c);
    return r;
}

SHIM_ALIAS(ncclCommUserRank);
SHIM_API ncclResult_t pncclCommUserRank(const ncclComm_t comm, int *rank)
{
    struct ncclComm *c;
    ncclResult_t r = shim_comm_get(comm, "ncclCommUserRank", &c);
    if (r != ncclSuccess)
        return r;
    if (!rank)
        r = shim_error(c, ncclInvalidArgument, "ncclCommUserRank: rank is NULL");
    else
        *rank = c->rank;
    shim_comm_put(c);
    return r;
}

SHIM_ALIAS(ncclCommCuDevice);
SHIM_API ncclResult_t pncclCommCuDevice(const ncclComm_t comm, int *device)
{
    struct ncclComm *c;
    ncclResult_t r = shim_comm_hold(comm, "ncclCommCuDevice", &c);
    if (r != ncclSuccess)
        return r;
    if (!device)
        r = shim_error(c, ncclInvalidArgument, "ncclCommCuDevice: device is NULL");
    else
        *device = c->device;
    shim_comm_put(c);
    return r;
}

/* ---- suspend / resume (NCCL >= 2.29.7, RCCL) ---- */

/* Suspend releases nothing, truthfully: a communicator holds no device memory.
 * What it has in GPU mode is pinned host memory (the staging pool and arenas of
 * its gpu_comm, HALO_POOL_SIZE) that the progress thread uses for every call
 * still queued on a stream, and pinned memory is allocated and freed only on the
 * caller's thread at first use and at destroy (freeing it synchronises the
 * device; see gpu_mem.h). Both calls succeed and say so at INFO; MemStats
 * reports 0 bytes of GPU memory. */
SHIM_ALIAS(ncclCommSuspend);
SHIM_API ncclResult_t pncclCommSuspend(ncclComm_t comm, int flags)
{
    struct ncclComm *c;
    ncclResult_t r = shim_comm_get(comm, "ncclCommSuspend", &c);
    if (r != ncclSuccess)
        return r;
    if (flags & ~NCCL_SUSPEND_MEM)
        r = shim_error(c, ncclInvalidArgument, "ncclCommSuspend: flags 0x%x: only NCCL_SUSPEND_MEM (0x1) is "
                       "defined", (unsigned)flags);
    else
        HLOG_INFO(HALO_SUB_INIT, c->rank, "ncclCommSuspend: haloccl holds no device memory; its pinned staging "
                  "pool (HALO_POOL_SIZE) stays until destroy: nothing released");
    shim_comm_put(c);
    return r;
}

SHIM_ALIAS(ncclCommResume);
SHIM_API ncclResult_t pncclCommResume(ncclComm_t comm)
{
    struct ncclComm *c;
    ncclResult_t r = shim_comm_get(comm, "ncclCommResume", &c);
    if (r == ncclSuccess)
        HLOG_INFO(HALO_SUB_INIT, c->rank, "ncclCommResume: nothing was released by ncclCommSuspend; nothing to do");
    shim_comm_put(r == ncclSuccess ? c : NULL);
    return r;
}

SHIM_ALIAS(ncclCommMemStats);
SHIM_API ncclResult_t pncclCommMemStats(ncclComm_t comm, ncclCommMemStat_t stat, uint64_t *value)
{
    struct ncclComm *c;
    ncclResult_t r = shim_comm_get(comm, "ncclCommMemStats", &c);
    if (r != ncclSuccess)
        return r;
    if (!value || (unsigned)stat > ncclStatGpuMemTotal)
        r = shim_error(c, ncclInvalidArgument, "ncclCommMemStats: stat %d / value %p: expected a stat 0..3 and an "
                       "output pointer", (int)stat, (void *)value);
    else
        *value = 0; /* device memory held by the communicator: none (the pool is pinned host memory) */
    shim_comm_put(c);
    return r;
}
