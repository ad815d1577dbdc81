/* SPDX-License-Identifier: MIT */
/*
 * comm_life.c — the registry of live communicators, the calls that hold one, and
 * its end: haloCommDestroy and haloCommAbort.
 *
 * Every public call that takes a communicator runs between comm_enter and
 * comm_leave. Entering looks the handle up in the registry (so a destroyed or
 * never-created handle is rejected without being dereferenced) and counts the
 * call on the communicator; leaving uncounts it. Memory is freed only when the
 * count is zero, so a call blocked in one thread can never find its state gone
 * because another thread aborted.
 *
 * A communicator's life only moves forward:
 *   LIVE      in the registry; calls may enter.
 *   CLOSING   destroy or abort owns it; calls are refused. Destroy waits for the
 *             calls inside to end; abort wakes them first and waits at most
 *             COMM_ABORT_WAIT_US.
 *   ORPHANED  abort stopped waiting; the last call to leave frees it.
 * then it leaves the registry and is freed. The registry's lock guards the
 * registry, `life` and `calls` of every communicator.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bootstrap.h"
#include "comm.h"
#include "engine.h"
#include "error.h"
#include "hot.h"
#include "log.h"

/* How long haloCommAbort waits for the calls it woke to leave. They notice the
 * abort within one check of their wait loop (microseconds); the bound only
 * matters for a call stuck where no wait loop runs. */
#define COMM_ABORT_WAIT_US 1000000

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct halo_comm **registry;
static int registry_n, registry_cap;

int comm_registry_add(struct halo_comm *comm)
{
    pthread_mutex_lock(&registry_lock);
    if (registry_n == registry_cap) {
        int cap = registry_cap ? registry_cap * 2 : 16;
        struct halo_comm **r = realloc(registry, (size_t)cap * sizeof(*r));
        if (!r) {
            pthread_mutex_unlock(&registry_lock);
            return -1;
        }
        registry = r;
        registry_cap = cap;
    }
    comm->life = COMM_LIVE;
    comm->calls = 0;
    registry[registry_n++] = comm;
    pthread_mutex_unlock(&registry_lock);
    return 0;
}

/* Caller holds registry_lock. */
static int registry_find(const struct halo_comm *comm)
{
    for (int i = 0; i < registry_n; i++)
        if (registry[i] == comm)
            return i;
    return -1;
}

/* Caller holds registry_lock. */
static void registry_remove(struct halo_comm *comm)
{
    int i = registry_find(comm);
    if (i >= 0)
        registry[i] = registry[--registry_n];
}

/* ---- calls ---- */

static haloResult_t comm_not_live(struct halo_comm *comm, const char *fn)
{
    if (!comm)
        return halo_error(NULL, haloInvalidArgument, "%s: communicator is NULL", fn);
    return halo_error(NULL, haloInvalidArgument,
                      "%s: %p is not a live communicator (destroyed, aborted or never initialised)", fn,
                      (void *)comm);
}

HALO_HOT haloResult_t comm_enter(struct halo_comm *comm, const char *fn)
{
    pthread_mutex_lock(&registry_lock);
    if (!comm || registry_find(comm) < 0) {
        pthread_mutex_unlock(&registry_lock);
        return comm_not_live(comm, fn);
    }
    if (comm->life != COMM_LIVE) {
        pthread_mutex_unlock(&registry_lock);
        return halo_error(NULL, haloInvalidUsage,
                          "%s: communicator %p is being aborted or destroyed by another thread", fn, (void *)comm);
    }
    comm->calls++;
    pthread_mutex_unlock(&registry_lock);
    return haloSuccess;
}

int comm_hold(struct halo_comm *comm)
{
    pthread_mutex_lock(&registry_lock);
    int found = comm && registry_find(comm) >= 0;
    if (found)
        comm->calls++;
    pthread_mutex_unlock(&registry_lock);
    return found;
}

HALO_HOT void comm_drop(struct halo_comm *comm)
{
    pthread_mutex_lock(&registry_lock);
    int last = --comm->calls == 0;
    int free_it = last && comm->life == COMM_ORPHANED;
    if (last && comm->life == COMM_CLOSING)
        pthread_cond_broadcast(&comm->calls_done);
    if (free_it)
        registry_remove(comm);
    pthread_mutex_unlock(&registry_lock);
    if (free_it)
        comm_free(comm);
}

/* The calling thread's id, asked of the kernel once per thread: gettid is a system
 * call, and every call on a communicator needs the id (a small all-reduce costs about
 * a microsecond, the system call a good part of that once a model's layers have
 * evicted the caches between two calls). A forked child's thread starts with its
 * parent's copy, which the child handler clears. */
static _Thread_local int comm_tid_cached;
static pthread_once_t comm_tid_once = PTHREAD_ONCE_INIT;

static void comm_tid_forget(void)
{
    comm_tid_cached = 0;
}

static void comm_tid_hook(void)
{
    pthread_atfork(NULL, NULL, comm_tid_forget);
}

static int comm_tid(void)
{
    if (!comm_tid_cached) {
        pthread_once(&comm_tid_once, comm_tid_hook);
        comm_tid_cached = (int)syscall(SYS_gettid);
    }
    return comm_tid_cached;
}

HALO_HOT haloResult_t comm_call_begin(struct halo_comm *comm, const char *fn)
{
    int me = comm_tid(), cur = 0;
    if (atomic_compare_exchange_strong(&comm->caller, &cur, me)) {
        comm->caller_depth = 1;
        atomic_store(&comm->caller_fn, fn);
        return haloSuccess;
    }
    if (cur == me) {
        comm->caller_depth++;
        return haloSuccess;
    }
    const char *other = atomic_load(&comm->caller_fn);
    return halo_error(comm, haloInvalidUsage,
                      "%s: rank %d: thread %d is inside %s on this communicator at the same time; a communicator "
                      "takes one operation at a time (their frames would interleave): use one communicator per "
                      "thread, or serialise the calls", fn, comm->rank, cur, other ? other : "another call");
}

HALO_HOT void comm_call_end(struct halo_comm *comm)
{
    if (--comm->caller_depth == 0)
        atomic_store(&comm->caller, 0);
}

HALO_HOT haloResult_t comm_leave(struct halo_comm *comm, haloResult_t r)
{
    if (r != haloSuccess) /* readable with haloGetLastError even once an abort freed comm */
        comm_error_to_thread(comm);
    comm_drop(comm);
    return r;
}

/* ---- the end ---- */

enum comm_close_as { CLOSE_DESTROY, CLOSE_ABORT, CLOSE_ABORT_JOIN };

/* Takes the communicator out of LIVE for destroy or abort. One exception: an
 * abort while a destroy waits for calls still inside does not take it over but
 * joins (holding it): it ends those calls, and the destroy frees. */
static haloResult_t comm_close_begin(struct halo_comm *comm, const char *fn, enum comm_close_as *as)
{
    pthread_mutex_lock(&registry_lock);
    haloResult_t r = haloSuccess;
    if (registry_find(comm) < 0) {
        r = comm_not_live(comm, fn);
    } else if (comm->life == COMM_LIVE) {
        comm->life = COMM_CLOSING;
        comm->aborting = *as == CLOSE_ABORT;
    } else if (*as == CLOSE_ABORT && comm->life == COMM_CLOSING && !comm->aborting && comm->calls > 0) {
        comm->calls++;
        *as = CLOSE_ABORT_JOIN;
    } else {
        r = halo_error(NULL, haloInvalidUsage, "%s: communicator %p is already being %s by another thread", fn,
                       (void *)comm, comm->aborting ? "aborted" : "destroyed");
    }
    pthread_mutex_unlock(&registry_lock);
    return r;
}

/* Waits up to wait_us for the calls inside to leave, then frees the
 * communicator; past the bound the last call to leave frees it instead. */
static void comm_close_finish(struct halo_comm *comm, int64_t wait_us)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(wait_us / 1000000);
    until.tv_nsec += (long)(wait_us % 1000000) * 1000;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&registry_lock);
    int e = 0;
    while (comm->calls > 0 && e != ETIMEDOUT)
        e = pthread_cond_timedwait(&comm->calls_done, &registry_lock, &until);
    int left = comm->calls, rank = comm->rank;
    if (left > 0)
        comm->life = COMM_ORPHANED;
    else
        registry_remove(comm);
    pthread_mutex_unlock(&registry_lock);
    if (left > 0) /* comm may be freed from here on */
        HLOG_WARN(HALO_SUB_INIT, rank, "%d call(s) still inside the communicator after %d ms; the last to return "
                  "frees it", left, (int)(wait_us / 1000));
    else
        comm_free(comm);
}

/* Ends every call inside: the sticky error sets `aborted`, which every wait of
 * the engine (and so every channel worker) checks within one poll round, and is
 * relayed to the other ranks through the bootstrap; a call blocked on the
 * bootstrap itself (a split's all-gather) is woken by interrupting it. A thread
 * the communicator adds that waits on something else is woken here too. */
static void comm_wake_calls(struct halo_comm *comm)
{
    comm_set_async_error(comm, haloRemoteError);
    bootstrap_interrupt(comm->bs);
}

/* Waits for calls still inside (each ends by itself, within the communicator's
 * timeout); the bound past that only guards against one that does not. */
HALO_API haloResult_t haloCommDestroy(haloComm_t comm)
{
    if (!comm)
        return haloSuccess; /* like free(NULL) */
    enum comm_close_as as = CLOSE_DESTROY;
    haloResult_t r = comm_close_begin(comm, "haloCommDestroy", &as);
    if (r == haloSuccess)
        comm_close_finish(comm, comm->timeout_us + COMM_ABORT_WAIT_US);
    return r;
}

HALO_API haloResult_t haloCommAbort(haloComm_t comm)
{
    if (!comm)
        return haloSuccess;
    enum comm_close_as as = CLOSE_ABORT;
    haloResult_t r = comm_close_begin(comm, "haloCommAbort", &as);
    if (r != haloSuccess)
        return r;
    halo_error(comm, haloRemoteError, "rank %d aborted the communicator (haloCommAbort)", comm->rank);
    comm_wake_calls(comm);
    if (as == CLOSE_ABORT_JOIN)
        comm_drop(comm); /* the waiting destroy frees it */
    else
        comm_close_finish(comm, COMM_ABORT_WAIT_US);
    return haloSuccess;
}
