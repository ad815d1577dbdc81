/* SPDX-License-Identifier: MIT */
/*
 * shm.c — the shm transport: ranks on one host exchange frames through shared
 * memory, with no system call on the data path.
 *
 * Layout. Every rank that has a peer on shm owns one segment
 * (/dev/shm/haloccl-<comm id>-<rank>-<token>, 0600) holding its *receive* FIFOs:
 * one per (channel, local peer). A sender maps the receiver's segment and writes
 * frames into it directly. The token is drawn at random by each rank in listen and
 * published in its blob, so two instances of one job (same root and secret, hence
 * the same comm id) never collide on a name, even when a crashed run left its
 * segment behind.
 *
 * Lifetime of a name: created in connect_all, mapped by the peers, then a barrier
 * and the owner unlinks it; from then on only the mappings keep the memory, and a
 * crash releases them. A rank killed between its shm_open and that barrier leaves
 * its segment (a unique name nobody reuses) in /dev/shm.
 *
 *   FIFO = control block + nslots slots
 *   control: tail (frames released by the receiver), alone on its cache line
 *   slot:    64-byte header { seq, len, sig } + slot_size payload bytes
 *
 * Protocol for frame number k (0, 1, ...) in slot k % nslots:
 *   sender:   waits until k - tail < nslots, writes payload, len and sig, then
 *             stores seq = k + 1 with release order (publishes the frame)
 *   receiver: waits until seq == k + 1 (acquire), reads in place, then stores
 *             tail = k + 1 with release order (returns the slot)
 * The receiver polls the slot's own header, so a small frame costs one cache line
 * moving each way. The sender caches tail and rereads it only when the FIFO looks
 * full.
 */
#include "hot.h"
#include "shm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/futex.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "numa.h"

#define SHM_CACHELINE 64

struct shm_slot_hdr {
    _Atomic uint64_t seq; /* k + 1 once frame k is in this slot */
    uint64_t len;
    struct halo_sig sig;
    uint8_t pad[SHM_CACHELINE - 16 - sizeof(struct halo_sig)];
};
_Static_assert(sizeof(struct shm_slot_hdr) == SHM_CACHELINE, "slot header is one cache line");

struct shm_fifo_ctrl {
    _Atomic uint64_t tail;
    _Atomic uint32_t closed; /* the rank at the far end closed its connection (destroy, abort) */
    uint8_t pad[SHM_CACHELINE - 12];
    /* A side that sleeps (shm_sleep) says so here, on a line of its own that the
     * other side reads after each post or release: it then wakes the futex. */
    _Atomic uint32_t rx_asleep; /* the receiver sleeps on the next slot's seq */
    _Atomic uint32_t tx_asleep; /* the sender sleeps on tail */
    uint8_t pad2[SHM_CACHELINE - 8];
};
_Static_assert(sizeof(struct shm_fifo_ctrl) == 2 * SHM_CACHELINE, "FIFO control is two cache lines");

/* The blob each rank publishes (all-gathered before connect_all). */
struct shm_blob {
    uint64_t token; /* random, names this instance's segment; never 0 once listened */
};

struct shm_seg {
    void *base;
    size_t size;
};

struct halo_shm {
    struct shm_seg own;       /* my receive FIFOs */
    struct shm_seg *peer_seg; /* [nranks] mapped segments of local peers */
    char own_name[96];
    int own_linked;
    size_t fifo_bytes;
    size_t slot_stride;
};

/* One direction of a connection: the FIFO we write (in the peer's segment) and the
 * FIFO we read (in ours). */
struct shm_conn {
    struct halo_conn base;
    int nslots;
    size_t stride;
    /* send side */
    struct shm_fifo_ctrl *tx_ctrl;
    uint8_t *tx_slots;
    uint64_t tx_head, tx_tail_cache;
    /* receive side */
    struct shm_fifo_ctrl *rx_ctrl;
    uint8_t *rx_slots;
    uint64_t rx_tail;
};

static struct halo_shm *shm_of(const struct halo_tp_ctx *ctx)
{
    return ctx->state[HALO_TR_SHM];
}

static size_t shm_fifo_bytes(size_t stride, int nslots)
{
    return sizeof(struct shm_fifo_ctrl) + stride * (size_t)nslots;
}

/* FIFO index inside a receiver's segment: one per (channel, sender's local index). */
static size_t shm_fifo_offset(const struct halo_tp_ctx *ctx, int ch, int src_local)
{
    return ((size_t)ch * (size_t)ctx->nlocal + (size_t)src_local) * shm_of(ctx)->fifo_bytes;
}

/* The segment name of `rank`, from its token (its blob; ours when rank is me). */
static void shm_seg_name(const struct halo_tp_ctx *ctx, int rank, uint64_t token, char *buf, size_t len)
{
    snprintf(buf, len, "/haloccl-%016" PRIx64 "-%d-%016" PRIx64, ctx->comm_id, rank, token);
}

static uint64_t shm_token_of(const struct halo_tp_ctx *ctx, int rank)
{
    const void *b = ctx->peers[rank].blob[HALO_TR_SHM];
    struct shm_blob blob = {0};
    if (b)
        memcpy(&blob, b, sizeof(blob));
    return blob.token;
}

/* Draws this rank's token; no segment exists yet (which peers shm carries is
 * decided later). */
static haloResult_t shm_listen(struct halo_tp_ctx *ctx, void *my_blob)
{
    struct shm_blob b = {0};
    if (halo_random_bytes(&b.token, sizeof(b.token)) != 0)
        return halo_tp_error(ctx, haloSystemError, "rank %d: no random bytes for the shm segment name: %s",
                             ctx->rank, strerror(errno));
    b.token |= 1; /* 0 means "no blob" */
    memcpy(my_blob, &b, sizeof(b));
    return haloSuccess;
}

static struct shm_slot_hdr *shm_slot(uint8_t *slots, size_t stride, uint64_t k, int nslots)
{
    return (struct shm_slot_hdr *)(slots + (k % (uint64_t)nslots) * stride);
}

/* The peer closed its end (destroyed or aborted its communicator) while this rank
 * still waits on it: no frame or slot will come. */
static haloResult_t shm_peer_left(struct halo_conn *c, const char *what)
{
    const struct halo_tp_ctx *ctx = c->ctx;
    return halo_tp_error(ctx, haloRemoteError,
                         "rank %d: peer %d (pid %d on this host) closed its shm connection on channel %d (it destroyed "
                         "or aborted its communicator) while this rank waited to %s: did it leave a call the others "
                         "were still in? see its log",
                         halo_tp_rank(ctx), c->peer, ctx && ctx->peers ? (int)ctx->peers[c->peer].pid : 0, c->channel,
                         what);
}

/* Futexes on the low half of a 64-bit counter (little-endian: its first word),
 * shared between processes (no FUTEX_PRIVATE_FLAG). */
static uint32_t *shm_low_word(_Atomic uint64_t *w)
{
    return (uint32_t *)(void *)w;
}

static void shm_futex_wake(_Atomic uint64_t *w)
{
    syscall(SYS_futex, shm_low_word(w), FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

static void shm_futex_wait(_Atomic uint64_t *w, uint64_t seen, int timeout_us)
{
    struct timespec ts = {timeout_us / 1000000, (long)(timeout_us % 1000000) * 1000};
    syscall(SYS_futex, shm_low_word(w), FUTEX_WAIT, (uint32_t)seen, &ts, NULL, 0);
}

static HALO_HOT haloResult_t shm_send_slot(struct halo_conn *c, void **buf, size_t *cap)
{
    struct shm_conn *s = (struct shm_conn *)c;
    if (s->tx_head - s->tx_tail_cache >= (uint64_t)s->nslots) {
        s->tx_tail_cache = atomic_load_explicit(&s->tx_ctrl->tail, memory_order_acquire);
        if (s->tx_head - s->tx_tail_cache >= (uint64_t)s->nslots) {
            *buf = NULL;
            if (atomic_load_explicit(&s->tx_ctrl->closed, memory_order_acquire))
                return shm_peer_left(c, "send");
            return haloSuccess;
        }
    }
    *buf = shm_slot(s->tx_slots, s->stride, s->tx_head, s->nslots) + 1;
    *cap = c->slot_size;
    return haloSuccess;
}

static HALO_HOT haloResult_t shm_send_post(struct halo_conn *c, size_t len, const struct halo_sig *sig)
{
    struct shm_conn *s = (struct shm_conn *)c;
    struct shm_slot_hdr *h = shm_slot(s->tx_slots, s->stride, s->tx_head, s->nslots);
    h->len = len;
    h->sig = *sig;
    s->tx_head++;
    atomic_store_explicit(&h->seq, s->tx_head, memory_order_release);
    /* Ordered before reading the flag: a receiver that set it and then saw the old
     * seq is woken here (the two fences pair, see shm_sleep). */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&s->tx_ctrl->rx_asleep, memory_order_relaxed))
        shm_futex_wake(&h->seq);
    return haloSuccess;
}

static HALO_HOT haloResult_t shm_recv_peek(struct halo_conn *c, const void **buf, size_t *len, struct halo_sig *sig)
{
    struct shm_conn *s = (struct shm_conn *)c;
    struct shm_slot_hdr *h = shm_slot(s->rx_slots, s->stride, s->rx_tail, s->nslots);
    if (atomic_load_explicit(&h->seq, memory_order_acquire) != s->rx_tail + 1) {
        *buf = NULL;
        /* closed is set after the peer's last frame: look at the slot once more */
        if (atomic_load_explicit(&s->rx_ctrl->closed, memory_order_acquire) &&
            atomic_load_explicit(&h->seq, memory_order_acquire) != s->rx_tail + 1)
            return shm_peer_left(c, "receive");
        return haloSuccess;
    }
    if (h->len > c->slot_size)
        return halo_tp_error(c->ctx, haloSystemError,
                             "rank %d: corrupt shm frame from peer %d on channel %d (length %" PRIu64
                             " > slot %zu): shared memory was overwritten",
                             halo_tp_rank(c->ctx), c->peer, c->channel, h->len, c->slot_size);
    *buf = h + 1;
    *len = h->len;
    if (sig)
        *sig = h->sig;
    return haloSuccess;
}

static HALO_HOT haloResult_t shm_recv_release(struct halo_conn *c)
{
    struct shm_conn *s = (struct shm_conn *)c;
    s->rx_tail++;
    atomic_store_explicit(&s->rx_ctrl->tail, s->rx_tail, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&s->rx_ctrl->tx_asleep, memory_order_relaxed))
        shm_futex_wake(&s->rx_ctrl->tail);
    return haloSuccess;
}

/* Says it sleeps, looks once more, then sleeps on the word the other side will
 * change; a post or release that came in between is seen by the second look or
 * wakes the futex (the word changed, so FUTEX_WAIT returns at once). */
static void shm_sleep(struct halo_conn *c, int sending, int timeout_us)
{
    struct shm_conn *s = (struct shm_conn *)c;
    if (sending) {
        atomic_store_explicit(&s->tx_ctrl->tx_asleep, 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_seq_cst);
        uint64_t tail = atomic_load_explicit(&s->tx_ctrl->tail, memory_order_relaxed);
        if (s->tx_head - tail >= (uint64_t)s->nslots && !atomic_load(&s->tx_ctrl->closed))
            shm_futex_wait(&s->tx_ctrl->tail, tail, timeout_us);
        atomic_store_explicit(&s->tx_ctrl->tx_asleep, 0, memory_order_relaxed);
        return;
    }
    struct shm_slot_hdr *h = shm_slot(s->rx_slots, s->stride, s->rx_tail, s->nslots);
    atomic_store_explicit(&s->rx_ctrl->rx_asleep, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    uint64_t seq = atomic_load_explicit(&h->seq, memory_order_relaxed);
    if (seq != s->rx_tail + 1 && !atomic_load(&s->rx_ctrl->closed))
        shm_futex_wait(&h->seq, seq, timeout_us);
    atomic_store_explicit(&s->rx_ctrl->rx_asleep, 0, memory_order_relaxed);
}

static HALO_HOT haloResult_t shm_progress(struct halo_conn *c)
{
    return haloSuccess; /* nothing to move; liveness is checked by the engine */
}

/* Tells the peer, in both FIFOs, that nothing more will come from this end. */
static void shm_close(struct halo_conn *c)
{
    struct shm_conn *s = (struct shm_conn *)c;
    if (s && s->tx_ctrl)
        atomic_store_explicit(&s->tx_ctrl->closed, 1, memory_order_release);
    if (s && s->rx_ctrl)
        atomic_store_explicit(&s->rx_ctrl->closed, 1, memory_order_release);
    free(c);
}

static void shm_describe(struct halo_conn *c, char *buf, size_t len)
{
    struct shm_conn *s = (struct shm_conn *)c;
    struct shm_slot_hdr *h = shm_slot(s->rx_slots, s->stride, s->rx_tail, s->nslots);
    snprintf(buf, len,
             "shm: %" PRIu64 " frames posted to the peer, %" PRIu64 " of them released by it; waiting for frame %" PRIu64
             " from it, its slot holds frame %" PRIu64,
             s->tx_head, (uint64_t)atomic_load_explicit(&s->tx_ctrl->tail, memory_order_acquire), s->rx_tail + 1,
             (uint64_t)atomic_load_explicit(&h->seq, memory_order_acquire));
}

const struct halo_transport_ops halo_shm_ops = {
    .name = "shm",
    .send_slot = shm_send_slot,
    .send_post = shm_send_post,
    .recv_peek = shm_recv_peek,
    .recv_release = shm_recv_release,
    .progress = shm_progress,
    .flush = NULL, /* a posted frame is already in the peer's memory */
    .close = shm_close,
    .sleep = shm_sleep,
    .describe = shm_describe,
};

static haloResult_t shm_map(struct halo_tp_ctx *ctx, const char *name, int create, size_t size,
                            struct shm_seg *seg)
{
    int fd = shm_open(name, create ? (O_CREAT | O_EXCL | O_RDWR) : O_RDWR, 0600);
    if (fd < 0)
        return halo_tp_error(ctx, haloSystemError,
                             "rank %d: shm_open(%s) failed: %s (is /dev/shm mounted and writable?)", ctx->rank, name,
                             strerror(errno));
    if (create && ftruncate(fd, (off_t)size) != 0) {
        int e = errno;
        close(fd);
        shm_unlink(name);
        return halo_tp_error(ctx, haloSystemError, "rank %d: sizing shm segment %s to %zu bytes failed: %s",
                             ctx->rank, name, size, strerror(e));
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) {
        if (create)
            shm_unlink(name);
        return halo_tp_error(ctx, haloSystemError, "rank %d: mmap of shm segment %s (%zu bytes) failed: %s",
                             ctx->rank, name, size, strerror(e));
    }
    seg->base = p;
    seg->size = size;
    return haloSuccess;
}

/* On a host of several NUMA nodes, this rank's segment (the FIFOs it receives
 * through) takes its pages from the node holding every CPU the rank may run on:
 * the receiver polls the slot headers and reads every frame, and a read that
 * misses to a remote node stalls it, where the sender's writes there are only
 * posted. The policy is the segment's own (a tmpfs file), set before any peer
 * maps it (the barrier after this), so whichever process touches a page first,
 * it comes from that node. A rank free to run on several nodes leaves pages to
 * their first touch, and says so. HALO_SHM_NUMA=0 leaves them always. */
static void shm_place_numa(struct halo_tp_ctx *ctx, struct shm_seg *seg)
{
    int nodes = halo_numa_nodes(NULL);
    if (nodes < 2 || !HALO_P_INT(ctx->params, shm_numa))
        return;
    int node = halo_numa_self_node();
    if (node < 0) {
        HLOG_INFO(HALO_SUB_SHM, ctx->rank,
                  "shm: this rank may run on CPUs of several of this host's %d NUMA nodes (or of one without memory): "
                  "its receive FIFOs' pages come from the node that first touches them (bind each rank to one node "
                  "to place them there: numactl --cpunodebind=N, mpirun --bind-to numa)", nodes);
        return;
    }
    int e = halo_numa_prefer(seg->base, seg->size, node);
    if (e != 0)
        HLOG_WARN(HALO_SUB_SHM, ctx->rank, "shm: could not place the receive FIFOs on NUMA node %d (mbind: %s); their "
                  "pages come from the node that first touches them", node, strerror(e));
    else
        HLOG_INFO(HALO_SUB_SHM, ctx->rank, "shm: receive FIFOs on NUMA node %d of %d, the node of this rank's CPUs",
                  node, nodes);
}

static haloResult_t shm_setup_local(struct halo_tp_ctx *ctx)
{
    struct halo_shm *shm = calloc(1, sizeof(*shm));
    if (!shm)
        return halo_tp_error(ctx, haloSystemError, "rank %d: out of memory", ctx->rank);
    ctx->state[HALO_TR_SHM] = shm;
    shm->peer_seg = calloc((size_t)ctx->nranks, sizeof(*shm->peer_seg));
    if (!shm->peer_seg)
        return halo_tp_error(ctx, haloSystemError, "rank %d: out of memory", ctx->rank);
    shm->slot_stride = sizeof(struct shm_slot_hdr) + ctx->slot_size_shm;
    shm->fifo_bytes = shm_fifo_bytes(shm->slot_stride, ctx->nslots_shm);
    int npeers = 0;
    for (int p = 0; p < ctx->nranks; p++)
        npeers += ctx->peers[p].kind == HALO_TR_SHM;
    if (npeers == 0) /* e.g. HALO_TRANSPORT=tcp: no segment at all */
        return haloSuccess;
    size_t size = shm->fifo_bytes * (size_t)ctx->nlocal * (size_t)ctx->nchannels;
    shm_seg_name(ctx, ctx->rank, shm_token_of(ctx, ctx->rank), shm->own_name, sizeof(shm->own_name));
    haloResult_t r = shm_map(ctx, shm->own_name, 1, size, &shm->own);
    if (r != haloSuccess)
        return r;
    shm->own_linked = 1;
    HLOG_INFO(HALO_SUB_SHM, ctx->rank, "shm segment %s: %zu bytes (%d local ranks, %d channels, %d x %zu B slots)",
              shm->own_name, size, ctx->nlocal, ctx->nchannels, ctx->nslots_shm, ctx->slot_size_shm);
    shm_place_numa(ctx, &shm->own);
    return haloSuccess;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* Maps every page of [p, p + len) into this process now, so that the first frames
 * through a FIFO do not take a page fault per page: on a VM each fault costs
 * microseconds, and the first pass of every larger frame size over the slots'
 * pages paid them in the middle of a call (16-64 KiB sends took 80-220 us instead
 * of 2-5 for the first calls of each size, 5-14 faults each). It also allocates
 * them: where /dev/shm has no room, this fails (EFAULT: a touch would raise
 * SIGBUS) instead of a later frame killing the process. Returns 0 or errno;
 * kernels before 5.14 lack the call (EINVAL) and keep faulting pages in lazily. */
static int shm_prefault(void *p, size_t len)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)p & ~(page - 1), hi = ((uintptr_t)p + len + page - 1) & ~(page - 1);
    return madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) == 0 || errno == EINVAL ? 0 : errno;
}

const char *halo_shm_room(char *buf, size_t len)
{
    struct statvfs v;
    if (statvfs("/dev/shm", &v) != 0)
        snprintf(buf, len, "%s", strerror(errno));
    else
        snprintf(buf, len, "%.1f MiB free of %.1f MiB", (double)v.f_bavail * (double)v.f_frsize / 1048576.0,
                 (double)v.f_blocks * (double)v.f_frsize / 1048576.0);
    return buf;
}

static haloResult_t shm_conn_create(struct halo_tp_ctx *ctx, int peer, int ch, struct halo_conn **out)
{
    struct halo_shm *shm = shm_of(ctx);
    struct shm_conn *s = calloc(1, sizeof(*s));
    if (!s)
        return halo_tp_error(ctx, haloSystemError, "rank %d: out of memory", ctx->rank);
    s->base.ops = &halo_shm_ops;
    s->base.ctx = ctx;
    s->base.peer = peer;
    s->base.channel = ch;
    s->base.slot_size = ctx->slot_size_shm;
    s->nslots = ctx->nslots_shm;
    s->stride = shm->slot_stride;
    uint8_t *tx = (uint8_t *)shm->peer_seg[peer].base + shm_fifo_offset(ctx, ch, ctx->local_rank);
    uint8_t *rx = (uint8_t *)shm->own.base + shm_fifo_offset(ctx, ch, ctx->peers[peer].local_index);
    s->tx_ctrl = (struct shm_fifo_ctrl *)tx;
    s->tx_slots = tx + sizeof(struct shm_fifo_ctrl);
    s->rx_ctrl = (struct shm_fifo_ctrl *)rx;
    s->rx_slots = rx + sizeof(struct shm_fifo_ctrl);
    int e = shm_prefault(tx, shm->fifo_bytes);
    if (e == 0)
        e = shm_prefault(rx, shm->fifo_bytes);
    if (e != 0) {
        char room[64];
        free(s);
        return halo_tp_error(ctx, haloSystemError,
                             "rank %d: /dev/shm has no room for the shm FIFOs to and from rank %d (%zu bytes each; "
                             "/dev/shm now: %s): %s. Each of this host's %d ranks has a FIFO from every local rank "
                             "on each of %d channel(s), HALO_BUFFSIZE bytes each: give /dev/shm more room (docker run "
                             "--shm-size=1g; mount -o remount,size=2g /dev/shm), or ask for less: a smaller "
                             "HALO_BUFFSIZE or HALO_NCHANNELS, or HALO_TRANSPORT=tcp",
                             ctx->rank, peer, shm->fifo_bytes, halo_shm_room(room, sizeof(room)),
                             e == EFAULT ? "its pages could not be allocated" : strerror(e), ctx->nlocal,
                             ctx->nchannels);
    }
    *out = &s->base;
    return haloSuccess;
}

static void shm_unlink_own(struct halo_tp_ctx *ctx);

/* Creates this rank's segment, waits until every rank did (barrier), maps the
 * segments of the peers shm carries and builds their connections, waits until
 * every rank mapped its peers' (barrier) and unlinks its own name: from here a
 * crash leaves nothing in /dev/shm. */
static haloResult_t shm_connect_all(struct halo_tp_ctx *ctx)
{
    haloResult_t r = shm_setup_local(ctx);
    if (r == haloSuccess)
        r = ctx->barrier(ctx->core);
    if (r != haloSuccess)
        return r;
    struct halo_shm *shm = shm_of(ctx);
    size_t size = shm->fifo_bytes * (size_t)ctx->nlocal * (size_t)ctx->nchannels;
    for (int p = 0; p < ctx->nranks; p++) {
        if (ctx->peers[p].kind != HALO_TR_SHM)
            continue;
        char name[96];
        shm_seg_name(ctx, p, shm_token_of(ctx, p), name, sizeof(name));
        r = shm_map(ctx, name, 0, size, &shm->peer_seg[p]);
        if (r != haloSuccess)
            return r;
        for (int ch = 0; ch < ctx->nchannels; ch++) {
            r = shm_conn_create(ctx, p, ch, &ctx->conns[ch * ctx->nranks + p]);
            if (r != haloSuccess)
                return r;
        }
        HLOG_INFO(HALO_SUB_SHM, ctx->rank, "peer %d (pid %d) via shm, %d channel(s)", p,
                  ctx->peers[p].pid, ctx->nchannels);
    }
    r = ctx->barrier(ctx->core); /* every peer mapped my segment */
    if (r == haloSuccess)
        shm_unlink_own(ctx);
    return r;
}

static void shm_unlink_own(struct halo_tp_ctx *ctx)
{
    if (shm_of(ctx) && shm_of(ctx)->own_linked) {
        shm_unlink(shm_of(ctx)->own_name);
        shm_of(ctx)->own_linked = 0;
    }
}

static void shm_destroy(struct halo_tp_ctx *ctx)
{
    struct halo_shm *shm = shm_of(ctx);
    if (!shm)
        return;
    shm_unlink_own(ctx);
    if (shm->peer_seg) {
        for (int p = 0; p < ctx->nranks; p++)
            if (shm->peer_seg[p].base)
                munmap(shm->peer_seg[p].base, shm->peer_seg[p].size);
        free(shm->peer_seg);
    }
    if (shm->own.base)
        munmap(shm->own.base, shm->own.size);
    free(shm);
    ctx->state[HALO_TR_SHM] = NULL;
}

/* ---- setup table row ---- */

/* shm carries the peers of this host, unless HALO_TRANSPORT names another
 * transport or HALO_SHM_DISABLE=1 (NCCL_SHM_DISABLE) turns it off under auto;
 * HALO_TRANSPORT=shm with a peer on another host is an error. */
static haloResult_t shm_can_connect(struct halo_tp_ctx *ctx, int peer, int local, const void *my_blob,
                                    const void *peer_blob, const struct halo_tp_link *link, int *yes)
{
    const struct halo_tp_setup *forced = halo_tp_forced(ctx);
    int asked = forced && forced->kind == HALO_TR_SHM;

    (void)my_blob, (void)peer_blob, (void)link;
    *yes = local && (asked || (!forced && !HALO_P_INT(ctx->params, shm_disable)));
    if (!local && asked)
        return halo_tp_error(ctx, haloInvalidUsage,
                             "rank %d: HALO_TRANSPORT=shm but rank %d runs on another host (%s): shm only joins "
                             "ranks of one host; use auto, tcp or ib",
                             ctx->rank, peer, ctx->peers[peer].hostname);
    return haloSuccess;
}

const struct halo_tp_setup halo_shm_setup = {
    .name = "shm",
    .kind = HALO_TR_SHM,
    .priority = 10,
    .connect_order = 0,
    .caps = HALO_TP_CAP_LOCAL,
    .info_size = sizeof(struct shm_blob),
    .listen = shm_listen,
    .can_connect = shm_can_connect,
    .connect_all = shm_connect_all,
    .destroy = shm_destroy,
};
