/* SPDX-License-Identifier: MIT */
/*
 * workers.c — channel threads. Channel 0 of every operation runs on the calling
 * thread; channels 1..n-1 run on worker threads the communicator starts on first
 * use and keeps until it is destroyed.
 *
 * Hand-off: the caller publishes (op, fn) and bumps `gen`; workers spin briefly on
 * `gen` (an operation usually follows another closely), then sleep on the
 * condition variable. Each worker decrements `pending` when its channel is done;
 * the caller waits for zero. Lock contract: `mu` guards `stop` and the sleep;
 * `gen`, `pending` and `err` are atomics; op/fn are written before `gen` is
 * released and read after it is acquired.
 */
#define HALO_ERR_SUBSYS HALO_SUB_COLL /* errors recorded here log under this subsystem */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "engine.h"
#include "error.h"
#include "hot.h"
#include "log.h"

#define WORKER_SPIN 20000

struct halo_worker {
    struct halo_workers *pool;
    int ch;
    pthread_t thread;
    int started;
};

struct halo_workers {
    struct halo_comm *comm;
    int n; /* worker threads = channels - 1 */
    struct halo_worker *w;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic uint64_t gen;
    _Atomic int pending;
    _Atomic int err;
    int stop;
    const struct halo_op *op;
    halo_channel_fn fn;
};

static haloResult_t worker_run_channel(struct halo_workers *pool, int ch)
{
    struct halo_exec ex = {
        .comm = pool->comm, .op = pool->op, .ch = ch, .scratch = pool->comm->scratch[ch]};
    engine_exec_init(&ex);
    return engine_run_channel(&ex, pool->fn);
}

static void *worker_main(void *arg)
{
    struct halo_worker *me = arg;
    struct halo_workers *pool = me->pool;
    uint64_t seen = 0;
    for (;;) {
        uint64_t g;
        int spins = 0;
        while ((g = atomic_load_explicit(&pool->gen, memory_order_acquire)) == seen && spins++ < WORKER_SPIN)
            __builtin_ia32_pause();
        if (g == seen) {
            pthread_mutex_lock(&pool->mu);
            while ((g = atomic_load(&pool->gen)) == seen && !pool->stop)
                pthread_cond_wait(&pool->cv, &pool->mu);
            int stop = pool->stop;
            pthread_mutex_unlock(&pool->mu);
            if (stop)
                return NULL;
        }
        seen = g;
        if (me->ch < pool->op->nchannels) {
            haloResult_t r = worker_run_channel(pool, me->ch);
            if (r != haloSuccess) {
                int expected = 0;
                atomic_compare_exchange_strong(&pool->err, &expected, (int)r);
                atomic_store(&pool->comm->aborted, 1);
            }
        }
        atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_release);
    }
}

static haloResult_t workers_start(struct halo_comm *comm)
{
    struct halo_workers *pool = calloc(1, sizeof(*pool));
    if (!pool)
        return halo_error(comm, haloSystemError, "rank %d: out of memory", comm->rank);
    pool->comm = comm;
    pool->n = comm->nchannels - 1;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv, NULL);
    comm->workers = pool;
    pool->w = calloc((size_t)pool->n, sizeof(*pool->w));
    if (!pool->w)
        return halo_error(comm, haloSystemError, "rank %d: out of memory", comm->rank);
    for (int i = 0; i < pool->n; i++) {
        pool->w[i].pool = pool;
        pool->w[i].ch = i + 1;
        int e = pthread_create(&pool->w[i].thread, NULL, worker_main, &pool->w[i]);
        if (e != 0)
            return halo_error(comm, haloSystemError, "rank %d: cannot start channel thread %d: error %d", comm->rank,
                              i + 1, e);
        pool->w[i].started = 1;
    }
    HLOG_INFO(HALO_SUB_INIT, comm->rank, "started %d channel thread(s)", pool->n);
    return haloSuccess;
}

void engine_workers_destroy(struct halo_comm *comm)
{
    struct halo_workers *pool = comm->workers;
    if (!pool)
        return;
    pthread_mutex_lock(&pool->mu);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 0; pool->w && i < pool->n; i++)
        if (pool->w[i].started)
            pthread_join(pool->w[i].thread, NULL);
    free(pool->w);
    pthread_cond_destroy(&pool->cv);
    pthread_mutex_destroy(&pool->mu);
    free(pool);
    comm->workers = NULL;
}

HALO_HOT haloResult_t engine_run(struct halo_comm *comm, const struct halo_op *op, halo_channel_fn fn)
{
    struct halo_exec ex = {.comm = comm, .op = op, .ch = 0, .scratch = comm->scratch[0]};
    if (comm->pin_cpu >= 0)
        engine_bind_thread(comm);
    engine_exec_init(&ex);
    if (op->nchannels <= 1)
        return engine_run_channel(&ex, fn);
    if (!comm->workers) {
        haloResult_t r = workers_start(comm);
        if (r != haloSuccess)
            return r;
    }
    struct halo_workers *pool = comm->workers;
    pool->op = op;
    pool->fn = fn;
    atomic_store(&pool->err, 0);
    atomic_store(&pool->pending, pool->n);
    pthread_mutex_lock(&pool->mu);
    atomic_fetch_add_explicit(&pool->gen, 1, memory_order_release);
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);

    haloResult_t r = engine_run_channel(&ex, fn);
    if (r != haloSuccess)
        atomic_store(&comm->aborted, 1);
    unsigned spins = 0;
    while (atomic_load_explicit(&pool->pending, memory_order_acquire) > 0)
        engine_relax(comm, &spins);
    int werr = atomic_load(&pool->err);
    return r != haloSuccess ? r : (haloResult_t)werr;
}
