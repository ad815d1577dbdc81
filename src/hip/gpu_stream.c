/* SPDX-License-Identifier: MIT */
/*
 * gpu_stream.c — the per-communicator progress thread (proxy) and the stream
 * handshakes that hand it work (gpu_stream.h explains the protocol).
 */
#define HALO_ERR_SUBSYS HALO_SUB_GPU
#include "gpu_stream.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "socket.h"

/* Pinned flag memory: word 0 is DONE, then the READY ring, then the words of
 * persistent (captured) works, then the FREE words (one per stream index). */
#define PROXY_RING 1024u
#define PROXY_WORDS 65536u
#define PROXY_PERSIST_FIRST (1u + PROXY_RING)
#define PROXY_FREE_FIRST (PROXY_WORDS - GPU_MAX_STREAMS)
#define PROXY_PIN (PROXY_FREE_FIRST - 2)   /* pieces: inputs staged up to (stream writes) */
#define PROXY_PDONE (PROXY_FREE_FIRST - 1) /* pieces: reduced up to (proxy writes) */
#define PROXY_PERSIST_END PROXY_PIN
#define PROXY_SPINS 4000u            /* idle polls before sleeping */
#define PROXY_NAP_NS 20000L          /* sleep between polls while work is pending */
#define PROXY_DOZE_NS 200000L        /* ... after a long idle with persistent works only */
#define PROXY_DOZE_AFTER_US 100000   /* idle time before dozing */
#define HOSTFN_WAIT_NAP_NS 10000L
#define PROXY_RELEASE_WAIT_US 2000000 /* a release waits this long for a running work to return */
#define PROXY_STALL_SAY_US 20000000  /* a head work waiting this long for its streams is reported */

struct proxy_work {
    struct proxy_work *next;
    void *payload;
    uint32_t seq;                       /* eager: its DONE value */
    int nready;
    uint32_t word[GPU_MAX_STREAMS];     /* index of each stream's READY word */
    uint32_t tag;                       /* eager: the value READY words carry */
    int persistent;
    struct hostfn_arg *hargs;           /* persistent hostfn args, freed at destroy */
    int host_wait;                      /* a thread in submit waits for the result */
    int finished;
    haloResult_t result;
    int64_t queued_us;                  /* eager: when the call queued it */
};

/* Argument of a host function: store `value` into *word, or wait until *word
 * satisfies (cond, value). Eager ones free themselves. */
struct hostfn_arg {
    struct gpu_proxy *p;
    volatile uint32_t *word;
    uint32_t value;
    enum gpu_wait_cond cond;
    int owned_by_work;
    struct hostfn_arg *next;
};

struct gpu_proxy {
    struct gpu_proxy_cfg cfg;
    volatile uint32_t *flags;          /* pinned, mapped: PROXY_WORDS words */
    int memops_ok;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;               /* work queued, stop */
    pthread_cond_t finished;           /* a host-waited work finished; ring space freed */
    struct proxy_work *head, *tail;    /* eager queue, submission order */
    uint32_t next_seq;                 /* last eager seq handed out */
    uint32_t ready_next;               /* READY words handed out (ring position) */
    uint32_t ready_retired;            /* READY words whose work ran */
    uint32_t persist_next;             /* next free persistent word */
    uint32_t piece_next;               /* pieces handed out (PIN/PDONE values) */
    uint32_t shared_seq;               /* the last eager work that staged through shared memory (0: none) */
    int shared_nstreams;               /* ... and how many streams it spanned */
    struct proxy_work *_Atomic persist; /* persistent works, newest first, never removed */
    atomic_int stop;
    atomic_int released;
    atomic_int running;                /* the thread is inside a work's run function */
    atomic_int hostfn_waiters;
    atomic_ullong n_eager, n_persist, n_memops, n_hostfn;
    /* Eager works run, and the time from the call to its streams reaching it
     * (the GPU's lag) and to its end, in µs: summed for the INFO line at destroy. */
    uint64_t t_n, t_lag_sum, t_lag_max, t_run_sum;
    uint32_t stall_seq;                /* the head work a stall was reported for */
    int64_t stall_since, stall_said;   /* when the head started waiting; last report */
};

static int proxy_word_eq(const volatile uint32_t *w, uint32_t v)
{
    return __atomic_load_n(w, __ATOMIC_ACQUIRE) == v;
}

static int proxy_cond_met(const volatile uint32_t *w, uint32_t v, enum gpu_wait_cond cond)
{
    uint32_t cur = __atomic_load_n(w, __ATOMIC_ACQUIRE);
    return cond == GPU_WAIT_EQ ? cur == v : (int32_t)(cur - v) >= 0;
}

static void proxy_store(volatile uint32_t *w, uint32_t v)
{
    __atomic_store_n(w, v, __ATOMIC_RELEASE);
}

/* DONE only moves forward (release may have moved it past queued works). */
static void proxy_advance_done(volatile uint32_t *w, uint32_t v)
{
    uint32_t cur = __atomic_load_n(w, __ATOMIC_ACQUIRE);
    while ((int32_t)(v - cur) > 0 &&
           !__atomic_compare_exchange_n(w, &cur, v, 0, __ATOMIC_RELEASE, __ATOMIC_ACQUIRE))
        ;
}

static void proxy_nap(long ns)
{
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

/* ---- host-function mechanism ---- */

static void proxy_hostfn_store(void *a)
{
    struct hostfn_arg *h = a;
    proxy_store(h->word, h->value);
    if (!h->owned_by_work)
        free(h);
}

static void proxy_hostfn_wait(void *a)
{
    struct hostfn_arg *h = a;
    struct gpu_proxy *p = h->p;
    atomic_fetch_add(&p->hostfn_waiters, 1);
    unsigned spins = 0;
    while (!proxy_cond_met(h->word, h->value, h->cond) && !atomic_load(&p->released)) {
        if (++spins > PROXY_SPINS)
            proxy_nap(HOSTFN_WAIT_NAP_NS);
        else
            sched_yield();
    }
    if (!h->owned_by_work)
        free(h);
    atomic_fetch_sub(&p->hostfn_waiters, 1);
}

/* ---- the thread ---- */

static int proxy_ready(const struct gpu_proxy *p, const struct proxy_work *w, uint32_t value)
{
    for (int i = 0; i < w->nready; i++)
        if (!proxy_word_eq(&p->flags[w->word[i]], value))
            return 0;
    return 1;
}

static haloResult_t proxy_run(struct gpu_proxy *p, struct proxy_work *w)
{
    return p->cfg.run(p->cfg.ctx, w->payload);
}

/* The head work waits for its streams to reach it: normal while the application's
 * earlier GPU work runs, a hang when that never ends. Said every
 * PROXY_STALL_SAY_US, with each stream's READY word, so that a stuck job shows
 * which call its stream never reached. Called with the lock held. */
static void proxy_stall_check(struct gpu_proxy *p, const struct proxy_work *w)
{
    int64_t now = halo_now_us();
    if (p->stall_seq != w->seq || !p->stall_since) {
        p->stall_seq = w->seq;
        p->stall_since = p->stall_said = now;
        return;
    }
    if (now - p->stall_said < PROXY_STALL_SAY_US)
        return;
    p->stall_said = now;
    char words[160];
    size_t at = 0;
    words[0] = 0;
    for (int i = 0; i < w->nready && at < sizeof(words) - 24; i++)
        at += (size_t)snprintf(words + at, sizeof(words) - at, "%s%u", i ? ", " : "",
                               __atomic_load_n(&p->flags[w->word[i]], __ATOMIC_ACQUIRE));
    HLOG_WARN(HALO_SUB_GPU, p->cfg.rank, "GPU work %u has waited %.0f s for its %d stream(s) to reach it (READY "
              "word(s) hold %s, it needs %u; DONE is %u): the stream is blocked before this call, by earlier "
              "work or an event that never completes", w->seq, (double)(now - p->stall_since) / 1e6, w->nready,
              words, w->tag, __atomic_load_n(&p->flags[0], __ATOMIC_ACQUIRE));
}

/* Runs the eager head when its streams reached READY. Returns 1 when it ran. */
static int proxy_step_eager(struct gpu_proxy *p)
{
    /* The idle spin polls without the lock: a head set by a submitter is seen on a
     * later round, and the decision below is taken under the lock. */
    if (!__atomic_load_n(&p->head, __ATOMIC_ACQUIRE))
        return 0;
    pthread_mutex_lock(&p->lock);
    struct proxy_work *w = p->head;
    /* Draining: queued works run (and fail fast) without waiting for their streams. */
    if (!w || (!atomic_load(&p->released) && !proxy_ready(p, w, w->tag))) {
        if (w)
            proxy_stall_check(p, w);
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    HLOG_TRACE(HALO_SUB_GPU, p->cfg.rank, "work %u: its streams reached it, running", w->seq);
    int64_t t_ready = halo_now_us();
    __atomic_store_n(&p->head, w->next, __ATOMIC_RELEASE);
    if (!p->head)
        p->tail = NULL;
    atomic_store(&p->running, 1); /* under the lock: a release sees it */
    pthread_mutex_unlock(&p->lock);

    haloResult_t r = w->payload ? proxy_run(p, w) : haloSuccess;
    proxy_advance_done(&p->flags[0], w->seq);
    atomic_store(&p->running, 0);
    int64_t t_end = halo_now_us();
    uint64_t lag = (uint64_t)(t_ready - w->queued_us);
    p->t_n++;
    p->t_lag_sum += lag;
    p->t_lag_max = lag > p->t_lag_max ? lag : p->t_lag_max;
    p->t_run_sum += (uint64_t)(t_end - t_ready);
    HLOG_TRACE(HALO_SUB_GPU, p->cfg.rank, "work %u: done (result %d), DONE = %u", w->seq, (int)r,
               __atomic_load_n(&p->flags[0], __ATOMIC_ACQUIRE));
    atomic_fetch_add(&p->n_eager, 1);

    if (w->payload)
        p->cfg.free_payload(p->cfg.ctx, w->payload);
    pthread_mutex_lock(&p->lock);
    p->ready_retired += (uint32_t)w->nready;
    if (w->host_wait) {
        w->result = r;
        w->finished = 1; /* the submitter frees w */
    } else {
        free(w);
    }
    pthread_cond_broadcast(&p->finished);
    pthread_mutex_unlock(&p->lock);
    return 1;
}

/* Runs every persistent work whose streams wrote 1 (a graph replay reached it). */
static int proxy_step_persistent(struct gpu_proxy *p)
{
    int ran = 0;
    for (struct proxy_work *w = atomic_load(&p->persist); w; w = w->next) {
        if (!proxy_ready(p, w, 1))
            continue;
        atomic_store(&p->running, 1);
        if (!atomic_load(&p->released))
            (void)proxy_run(p, w); /* errors reach the communicator's async error */
        atomic_store(&p->running, 0);
        for (int i = 0; i < w->nready; i++)
            proxy_store(&p->flags[w->word[i]], 0);
        atomic_fetch_add(&p->n_persist, 1);
        ran = 1;
    }
    return ran;
}

static void *proxy_main(void *arg)
{
    struct gpu_proxy *p = arg;
    const struct gpu_rt *rt = p->cfg.rt;
    int old_mode;
    rt->set_device(p->cfg.device);
    if (rt->capture_mode_relaxed)
        rt->capture_mode_relaxed(&old_mode); /* never invalidate an application's capture */
    unsigned spins = 0;
    int64_t idle_since = halo_now_us();
    while (!atomic_load(&p->stop)) {
        int ran = proxy_step_eager(p);
        ran |= proxy_step_persistent(p);
        if (ran) {
            spins = 0;
            idle_since = halo_now_us();
            continue;
        }
        if (++spins < PROXY_SPINS) {
            sched_yield();
            continue;
        }
        pthread_mutex_lock(&p->lock);
        int nothing = !p->head && !atomic_load(&p->persist);
        if (nothing && !atomic_load(&p->stop))
            pthread_cond_wait(&p->wake, &p->lock);
        pthread_mutex_unlock(&p->lock);
        if (!nothing)
            proxy_nap(halo_now_us() - idle_since > PROXY_DOZE_AFTER_US && !p->head ? PROXY_DOZE_NS : PROXY_NAP_NS);
        else
            spins = 0;
    }
    return NULL;
}

/* ---- create / submit ---- */

int gpu_proxy_create(const struct gpu_proxy_cfg *cfg, struct gpu_proxy **out, char *err, size_t errlen)
{
    const struct gpu_rt *rt = cfg->rt;
    struct gpu_proxy *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "out of memory creating the GPU progress thread");
        return -1;
    }
    p->cfg = *cfg;
    void *flags = NULL;
    int e = rt->host_alloc(&flags, PROXY_WORDS * sizeof(uint32_t));
    if (e) {
        snprintf(err, errlen, "%s could not allocate %zu bytes of pinned memory for stream flags (%s)", rt->name,
                 (size_t)PROXY_WORDS * sizeof(uint32_t), rt->error_string(e));
        free(p);
        return -1;
    }
    memset(flags, 0, PROXY_WORDS * sizeof(uint32_t));
    p->flags = flags;
    p->persist_next = PROXY_PERSIST_FIRST;
    int v = 0;
    p->memops_ok = rt->device_attr(&v, GPU_ATTR_STREAM_MEM_OPS, cfg->device) == 0 && v;
    if (cfg->sync == GPU_SYNC_MEMOPS && !p->memops_ok) {
        snprintf(err, errlen, "HALO_GPU_SYNC=memops, but %s device %d does not support stream memory operations; "
                 "unset HALO_GPU_SYNC (host functions are used then)", rt->name, cfg->device);
        rt->host_free(flags);
        free(p);
        return -1;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->finished, NULL);
    if (pthread_create(&p->thread, NULL, proxy_main, p) != 0) {
        snprintf(err, errlen, "could not start the GPU progress thread");
        rt->host_free(flags);
        free(p);
        return -1;
    }
    p->thread_started = 1;
    HLOG_INFO(HALO_SUB_GPU, cfg->rank, "GPU progress thread started on device %d: streams hand work over by %s",
              cfg->device,
              cfg->sync == GPU_SYNC_HOSTFN || !p->memops_ok ? "host functions (no stream memory operations)"
                                                             : "stream memory operations");
    *out = p;
    return 0;
}

static int proxy_rt_fail(struct gpu_proxy *p, int e, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s %s failed: %s", p->cfg.rt->name, what, p->cfg.rt->error_string(e));
    return -1;
}

/* One handshake step on stream s: store `value` into the word (wait 0), or wait
 * until the word satisfies (cond, value) (wait 1), by a stream memory operation
 * or a host function. w is the persistent work that owns the host-function
 * arguments, or NULL for eager work (the proxy may already have run and freed an
 * eager work while its later steps are still being enqueued). */
static int proxy_enqueue(struct gpu_proxy *p, void *s, int memops, struct proxy_work *w, uint32_t word,
                         uint32_t value, int wait, enum gpu_wait_cond cond, char *err, size_t errlen)
{
    const struct gpu_rt *rt = p->cfg.rt;
    int e;
    if (memops) {
        e = wait ? rt->stream_wait32(s, &p->flags[word], value, cond) : rt->stream_write32(s, &p->flags[word], value);
        atomic_fetch_add(&p->n_memops, 1);
        return e ? proxy_rt_fail(p, e, wait ? "stream wait value" : "stream write value", err, errlen) : 0;
    }
    struct hostfn_arg *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *h = (struct hostfn_arg){.p = p, .word = &p->flags[word], .value = value, .cond = cond,
                             .owned_by_work = w != NULL};
    if (w) { /* replayed by every graph launch: freed with the work */
        h->next = w->hargs;
        w->hargs = h;
    }
    e = rt->launch_host_fn(s, wait ? proxy_hostfn_wait : proxy_hostfn_store, h);
    atomic_fetch_add(&p->n_hostfn, 1);
    if (e && !w)
        free(h);
    return e ? proxy_rt_fail(p, e, "host function launch", err, errlen) : 0;
}

static int proxy_enqueue_store(struct gpu_proxy *p, void *s, int memops, struct proxy_work *w, uint32_t word,
                               uint32_t value, char *err, size_t errlen)
{
    return proxy_enqueue(p, s, memops, w, word, value, 0, GPU_WAIT_EQ, err, errlen);
}

static int proxy_enqueue_wait(struct gpu_proxy *p, void *s, int memops, struct proxy_work *w, uint32_t word,
                              uint32_t value, enum gpu_wait_cond cond, char *err, size_t errlen)
{
    return proxy_enqueue(p, s, memops, w, word, value, 1, cond, err, errlen);
}

/* The streams' capture state: 1 when all are capturing, 0 when none; mixed or
 * invalidated captures are errors. */
static int proxy_capture_state(struct gpu_proxy *p, void *const *streams, int n, int *capturing, char *err,
                               size_t errlen)
{
    int ncap = 0;
    for (int i = 0; i < n; i++) {
        enum gpu_capture st = GPU_CAPTURE_NONE;
        int e = p->cfg.rt->stream_capturing(streams[i], &st);
        if (e)
            return proxy_rt_fail(p, e, "stream capture query", err, errlen);
        if (st == GPU_CAPTURE_INVALIDATED) {
            snprintf(err, errlen, "stream %p is in an invalidated capture; end the capture and begin a new one",
                     streams[i]);
            return -1;
        }
        ncap += st == GPU_CAPTURE_ACTIVE;
    }
    if (ncap && ncap != n) {
        snprintf(err, errlen, "a group spans %d captured and %d uncaptured streams; capture them together or not "
                 "at all", ncap, n - ncap);
        return -1;
    }
    *capturing = ncap > 0;
    return 0;
}

static int proxy_use_memops(const struct gpu_proxy *p, int capturing)
{
    if (!p->memops_ok || p->cfg.sync == GPU_SYNC_HOSTFN)
        return 0;
    if (p->cfg.sync == GPU_SYNC_MEMOPS)
        return 1;
    /* Some ROCm versions run a wait issued under capture eagerly instead of
     * recording it, and the replay deadlocks: host functions are recorded by all. */
    return !(capturing && p->cfg.rt->kind == GPU_RT_HIP);
}

/* Enqueues the copies of `cp` (in or out) that belong to stream i. */
static int proxy_enqueue_copies(struct gpu_proxy *p, void *const *streams, int i, const struct gpu_stream_copy *c,
                                int nc, char *err, size_t errlen)
{
    for (int k = 0; k < nc; k++) {
        if (c[k].stream != i || !c[k].bytes)
            continue;
        int e = p->cfg.rt->memcpy_async(c[k].dst, c[k].src, c[k].bytes, streams[i]);
        if (e)
            return proxy_rt_fail(p, e, "staging copy", err, errlen);
    }
    return 0;
}

/* Persistent work: one word per stream; write 1 now, wait for 0. */
static int proxy_submit_persistent(struct gpu_proxy *p, struct proxy_work *w, void *const *streams, int n,
                                   const struct gpu_copies *cp, char *err, size_t errlen)
{
    int memops = proxy_use_memops(p, 1);
    pthread_mutex_lock(&p->lock);
    if (p->persist_next + (uint32_t)n > PROXY_PERSIST_END) {
        pthread_mutex_unlock(&p->lock);
        snprintf(err, errlen, "more than %u captured operations on one communicator; destroy it to free them",
                 PROXY_PERSIST_END - PROXY_PERSIST_FIRST);
        return -1;
    }
    for (int i = 0; i < n; i++)
        w->word[i] = p->persist_next++;
    pthread_mutex_unlock(&p->lock);
    w->nready = n;
    for (int i = 0; i < n; i++)
        if ((cp && proxy_enqueue_copies(p, streams, i, cp->in, cp->nin, err, errlen) != 0) ||
            proxy_enqueue_store(p, streams[i], memops, w, w->word[i], 1, err, errlen) != 0)
            return -1;
    for (int i = 0; i < n; i++)
        if (proxy_enqueue_wait(p, streams[i], memops, w, w->word[i], 0, GPU_WAIT_EQ, err, errlen) != 0 ||
            (cp && proxy_enqueue_copies(p, streams, i, cp->out, cp->nout, err, errlen) != 0))
            return -1;
    /* Published last: the proxy never sees a half-made work. Then the proxy is
     * woken: asleep with nothing queued, it would never look at the new word. */
    pthread_mutex_lock(&p->lock);
    w->next = atomic_load(&p->persist);
    atomic_store(&p->persist, w);
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int gpu_proxy_piece_wait(struct gpu_proxy *p, uint32_t base, int k)
{
    uint32_t want = base + (uint32_t)k + 1;
    for (unsigned spins = 0; !proxy_cond_met(&p->flags[PROXY_PIN], want, GPU_WAIT_GEQ); spins++) {
        if (atomic_load(&p->released))
            return -1;
        if (spins < PROXY_SPINS)
            sched_yield();
        else
            proxy_nap(PROXY_NAP_NS);
    }
    return 0;
}

void gpu_proxy_piece_done(struct gpu_proxy *p, uint32_t base, int k)
{
    proxy_advance_done(&p->flags[PROXY_PDONE], base + (uint32_t)k + 1);
}

int gpu_proxy_capturing(struct gpu_proxy *p, void *const *streams, int nstreams, char *err, size_t errlen)
{
    int capturing = 0;
    return proxy_capture_state(p, streams, nstreams, &capturing, err, errlen) != 0 ? -1 : capturing;
}

int gpu_proxy_submit(struct gpu_proxy *p, void *const *streams, int nstreams, int capturing,
                     const struct gpu_copies *cp, void *payload, haloResult_t *result, char *err, size_t errlen)
{
    struct proxy_work *w = NULL;
    if (nstreams > GPU_MAX_STREAMS)
        snprintf(err, errlen, "one group spans %d streams; at most %d are supported", nstreams, GPU_MAX_STREAMS);
    else if (atomic_load(&p->released))
        snprintf(err, errlen, "the communicator's GPU progress thread was stopped (abort or destroy)");
    else if (capturing && result)
        snprintf(err, errlen, "a call that must complete before it returns cannot be captured");
    else if (!(w = calloc(1, sizeof(*w))))
        snprintf(err, errlen, "out of memory");
    if (!w) {
        p->cfg.free_payload(p->cfg.ctx, payload);
        return -1;
    }
    w->payload = payload;
    if (capturing) {
        w->persistent = 1;
        if (proxy_submit_persistent(p, w, streams, nstreams, cp, err, errlen) != 0) {
            /* Words enqueued so far stay unreachable: the capture is unusable anyway. */
            for (struct hostfn_arg *h = w->hargs, *nx; h; h = nx) {
                nx = h->next;
                free(h);
            }
            p->cfg.free_payload(p->cfg.ctx, payload);
            free(w);
            return -1;
        }
        return 0;
    }

    int memops = proxy_use_memops(p, 0);
    pthread_mutex_lock(&p->lock);
    while (p->ready_next + (uint32_t)nstreams - p->ready_retired > PROXY_RING && !atomic_load(&p->released))
        pthread_cond_wait(&p->finished, &p->lock); /* over PROXY_RING works in flight: wait for the oldest */
    w->seq = ++p->next_seq;
    w->nready = nstreams;
    w->queued_us = halo_now_us();
    for (int i = 0; i < nstreams; i++)
        w->word[i] = 1u + (p->ready_next + (uint32_t)i) % PROXY_RING;
    p->ready_next += (uint32_t)nstreams;
    w->tag = p->ready_next; /* unique among the words' recent values */
    w->host_wait = result != NULL;
    int pieces = cp && cp->npieces > 0 && nstreams == 1 ? cp->npieces : 0;
    uint32_t pbase = p->piece_next;
    if (pieces) {
        p->piece_next += (uint32_t)pieces;
        *cp->piece_base = pbase; /* in the payload before the proxy can see the work */
    }
    /* Shared staging memory: wait until the previous user of it copied out. */
    uint32_t free_seq = 0;
    int free_n = 0, shared = cp && cp->shared && nstreams > 0;
    if (shared) {
        free_seq = p->shared_seq;
        free_n = p->shared_nstreams;
        p->shared_seq = w->seq;
        p->shared_nstreams = nstreams;
    }
    /* Published first, in call order (one thread uses a communicator at a time);
     * the stream operations are enqueued after, without the lock: the runtime
     * may block in them while the stream's queue is full, until the progress
     * thread — which takes this lock — lets the stream move. */
    if (p->tail)
        p->tail->next = w;
    else
        __atomic_store_n(&p->head, w, __ATOMIC_RELEASE);
    p->tail = w;
    pthread_cond_signal(&p->wake);
    /* Once its first READY is enqueued the proxy may run and free w: what the
     * enqueues need is copied first. */
    uint32_t words[GPU_MAX_STREAMS], tag = w->tag, seq = w->seq;
    memcpy(words, w->word, sizeof(words));
    pthread_mutex_unlock(&p->lock);
    HLOG_TRACE(HALO_SUB_GPU, p->cfg.rank, "work %u: queued on %d stream(s) (first %p), READY word %u = %u%s", seq,
               nstreams, nstreams ? streams[0] : NULL, nstreams ? words[0] : 0, tag,
               result ? ", the caller waits" : "");
    int rc = 0;
    for (int i = 0; i < nstreams && rc == 0; i++) {
        for (int k = 0; k < free_n && free_seq && rc == 0; k++)
            rc = proxy_enqueue_wait(p, streams[i], memops, NULL, PROXY_FREE_FIRST + (uint32_t)k, free_seq, GPU_WAIT_GEQ,
                                    err, errlen);
        if (rc == 0 && cp && !pieces)
            rc = proxy_enqueue_copies(p, streams, i, cp->in, cp->nin, err, errlen);
        if (rc == 0)
            rc = proxy_enqueue_store(p, streams[i], memops, NULL, words[i], tag, err, errlen);
    }
    for (int k = 0; k < pieces && rc == 0; k++) { /* one stream */
        if (k < cp->nin)
            rc = proxy_enqueue_copies(p, streams, 0, &cp->in[k], 1, err, errlen);
        if (rc == 0)
            rc = proxy_enqueue_store(p, streams[0], memops, NULL, PROXY_PIN, pbase + (uint32_t)k + 1, err, errlen);
    }
    for (int k = 0; k < pieces && rc == 0 && cp->nout; k++) {
        rc = proxy_enqueue_wait(p, streams[0], memops, NULL, PROXY_PDONE, pbase + (uint32_t)k + 1, GPU_WAIT_GEQ, err,
                                errlen);
        if (rc == 0)
            rc = proxy_enqueue_copies(p, streams, 0, &cp->out[k], 1, err, errlen);
    }
    for (int i = 0; i < nstreams && rc == 0; i++) {
        rc = proxy_enqueue_wait(p, streams[i], memops, NULL, 0, seq, GPU_WAIT_GEQ, err, errlen);
        if (rc == 0 && cp && !pieces)
            rc = proxy_enqueue_copies(p, streams, i, cp->out, cp->nout, err, errlen);
        if (rc == 0 && shared)
            rc = proxy_enqueue_store(p, streams[i], memops, NULL, PROXY_FREE_FIRST + (uint32_t)i, seq, err, errlen);
    }
    pthread_mutex_lock(&p->lock);
    if (rc != 0) {
        /* The seq is spent: DONE must still pass it (streams may already wait on
         * it). Still queued: it completes at once without running. Already taken
         * (its READY came before a later enqueue failed): the proxy runs and
         * frees it as usual. Its FREE words are given now: the next staged work
         * must not wait for copies that were never enqueued. */
        for (int i = 0; shared && i < nstreams; i++)
            proxy_advance_done(&p->flags[PROXY_FREE_FIRST + (uint32_t)i], seq);
        if (pieces)
            proxy_advance_done(&p->flags[PROXY_PDONE], pbase + (uint32_t)pieces);
        for (struct proxy_work *q = p->head; q; q = q->next)
            if (q == w) {
                if (w->payload)
                    p->cfg.free_payload(p->cfg.ctx, w->payload);
                w->payload = NULL;
                w->nready = 0;
                w->host_wait = 0;
                break;
            }
        pthread_mutex_unlock(&p->lock);
        return -1;
    }
    if (result) {
        while (!w->finished)
            pthread_cond_wait(&p->finished, &p->lock);
        *result = w->result;
        free(w);
    }
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* ---- stop ---- */

int gpu_proxy_draining(const struct gpu_proxy *p)
{
    return atomic_load(&p->released);
}

static void proxy_release_words(struct gpu_proxy *p)
{
    pthread_mutex_lock(&p->lock);
    proxy_advance_done(&p->flags[0], p->next_seq);
    proxy_advance_done(&p->flags[PROXY_PDONE], p->piece_next);
    pthread_mutex_unlock(&p->lock);
    /* FREE words are left to the streams: released from DONE, each copies out and
     * writes its own (proxy_staging_idle waits for exactly that). */
    for (struct proxy_work *w = atomic_load(&p->persist); w; w = w->next)
        for (int i = 0; i < w->nready; i++)
            proxy_store(&p->flags[w->word[i]], 0);
}

/* A work the thread is running may still write the application's buffers (a
 * fold waiting on a peer): its streams must not move on, and copy out or reuse
 * them, before it returns. The caller has made the run fail (the communicator's
 * error is set), so that is one poll round; the bound guards a run stuck where
 * no poll runs. */
static void proxy_await_run(struct gpu_proxy *p)
{
    if (pthread_equal(pthread_self(), p->thread))
        return;
    int64_t end = halo_now_us() + PROXY_RELEASE_WAIT_US;
    while (atomic_load(&p->running) && halo_now_us() < end)
        proxy_nap(PROXY_NAP_NS);
    if (atomic_load(&p->running))
        HLOG_WARN(HALO_SUB_GPU, p->cfg.rank, "the GPU progress thread is still inside a call %d ms after the "
                  "release; its streams are released anyway, and their buffers may still be written",
                  PROXY_RELEASE_WAIT_US / 1000);
}

void gpu_proxy_release(struct gpu_proxy *p)
{
    if (!p)
        return;
    atomic_store(&p->released, 1);
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    if (p->thread_started)
        proxy_await_run(p);
    proxy_release_words(p);
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->wake);
    pthread_cond_broadcast(&p->finished);
    pthread_mutex_unlock(&p->lock);
}

/* Waits (at most `us`) until the streams of the last staged work copied out
 * (its FREE words): after that no stream touches staging memory or these flags.
 * 1 when they did. */
static int proxy_staging_idle(struct gpu_proxy *p, int64_t us)
{
    int64_t end = halo_now_us() + us;
    for (;;) {
        int idle = 1;
        for (int k = 0; k < p->shared_nstreams && p->shared_seq; k++)
            idle &= proxy_cond_met(&p->flags[PROXY_FREE_FIRST + (uint32_t)k], p->shared_seq, GPU_WAIT_GEQ);
        if (idle || halo_now_us() >= end)
            return idle;
        proxy_nap(PROXY_NAP_NS * 5);
    }
}

int gpu_proxy_destroy(struct gpu_proxy *p, int64_t timeout_us, int abort)
{
    if (!p)
        return 0;
    if (abort)
        gpu_proxy_release(p);
    int64_t end = halo_now_us() + timeout_us;
    pthread_mutex_lock(&p->lock);
    while (p->head && halo_now_us() < end) {
        pthread_mutex_unlock(&p->lock);
        proxy_nap(PROXY_NAP_NS * 5);
        pthread_mutex_lock(&p->lock);
    }
    int left = p->head != NULL;
    pthread_mutex_unlock(&p->lock);
    if (left)
        HLOG_WARN(HALO_SUB_GPU, p->cfg.rank, "destroy: GPU work still queued after %lld ms (its streams never "
                  "reached it); releasing the streams without running it", (long long)(timeout_us / 1000));
    gpu_proxy_release(p);
    /* Queued works run in draining mode (their payloads fail fast) until none is left. */
    end = halo_now_us() + 2000000;
    pthread_mutex_lock(&p->lock);
    while (p->head && halo_now_us() < end) {
        pthread_mutex_unlock(&p->lock);
        proxy_nap(PROXY_NAP_NS * 5);
        pthread_mutex_lock(&p->lock);
    }
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    if (p->thread_started)
        pthread_join(p->thread, NULL);
    proxy_release_words(p);
    end = halo_now_us() + 1000000;
    while (atomic_load(&p->hostfn_waiters) > 0 && halo_now_us() < end)
        proxy_nap(PROXY_NAP_NS);
    for (struct proxy_work *w = p->head, *nx; w; w = nx) {
        nx = w->next;
        if (w->payload)
            p->cfg.free_payload(p->cfg.ctx, w->payload);
        if (!w->host_wait)
            free(w);
    }
    for (struct proxy_work *w = atomic_load(&p->persist), *nx; w; w = nx) {
        nx = w->next;
        for (struct hostfn_arg *h = w->hargs, *hn; h; h = hn) {
            hn = h->next;
            free(h);
        }
        p->cfg.free_payload(p->cfg.ctx, w->payload);
        free(w);
    }
    if (p->t_n)
        HLOG_INFO(HALO_SUB_GPU, p->cfg.rank, "GPU progress: %llu calls; their streams reached them %.1f us after "
                  "the call on average (at most %.1f ms), and they ran in %.1f us on average",
                  (unsigned long long)p->t_n, (double)p->t_lag_sum / (double)p->t_n, (double)p->t_lag_max / 1e3,
                  (double)p->t_run_sum / (double)p->t_n);
    /* Released streams still copy out of staging memory and write their FREE
     * words; a stream held by other work may do so much later. Then the pinned
     * memory is left allocated rather than freed under it. */
    int busy = !proxy_staging_idle(p, 2000000);
    if (busy)
        HLOG_WARN(HALO_SUB_GPU, p->cfg.rank, "destroy: a stream has not finished copying the last staged call's "
                  "results out after 2 s; its pinned staging memory is left allocated");
    else
        p->cfg.rt->host_free((void *)p->flags);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->finished);
    pthread_mutex_destroy(&p->lock);
    free(p);
    return busy;
}

void gpu_proxy_stats(const struct gpu_proxy *p, struct gpu_proxy_stats *s)
{
    struct gpu_proxy *q = (struct gpu_proxy *)p;
    s->eager_run = atomic_load(&q->n_eager);
    s->persistent_run = atomic_load(&q->n_persist);
    s->memops = atomic_load(&q->n_memops);
    s->hostfn = atomic_load(&q->n_hostfn);
}
