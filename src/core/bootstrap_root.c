/* SPDX-License-Identifier: MIT */
/*
 * bootstrap_root.c — the bootstrap root service: one detached thread per job that
 * admits ranks, serves all-gathers and relays aborts (message sequence: bootstrap.c;
 * frames: bootstrap_wire.h).
 *
 * The thread polls non-blocking sockets. Each connection is a small state machine
 * that only moves forward, AUTH -> JOIN -> RANK (or -> DRAIN when refused) -> DEAD,
 * with a deadline of min(timeout, 10 s) until it has joined, so a silent, garbled or
 * unauthenticated peer delays nobody; its output is a queue of shared, reference-
 * counted frames so a rank that reads slowly blocks nobody either. Frame lengths are
 * checked against the frame type and nranks before anything is allocated. The first
 * failure (abort, lost rank, mismatch) fails the job: the failure frame goes to every
 * rank and answers every later request. The listener closes as soon as every rank
 * joined (root_formed), so a rank of a later job on the same address never reaches
 * this root; one that connected just before is refused with a sentence saying it
 * belongs to another job. The thread ends when every rank has gone,
 * when the ranks do not all join within the timeout of the first JOIN, or when nobody
 * joins at all within max(10 x timeout, 1 h).
 */
#define HALO_ERR_SUBSYS HALO_SUB_BOOT /* errors recorded here log under this subsystem */
#include "bootstrap.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "bootstrap_wire.h"
#include "error.h"
#include "log.h"
#include "param.h"

#define BOOT_PENDING_MAX 256   /* connections not yet joined */
#define BOOT_PREAUTH_US 3000000LL /* to prove the secret: a real rank answers HELLO at once */
#define BOOT_PREAUTH_PER_HOST 64  /* connections of one address that have not proved it yet */
#define BOOT_OUT_MAX 64        /* frames queued to one connection */
#define BOOT_DRAIN_US 1000000LL
#define BOOT_IDLE_MIN_US (3600 * 1000000LL)
#define BOOT_POLL_MS 200

/* ======================================================================== */
/* Roots running in this process                                            */
/* ======================================================================== */

/* The roots this process serves, so that a rank of the same process can wait at
 * destroy until the ranks of other processes have left (bootstrap_root_wait): the
 * root dies with this process. `connected` is the root's count of ranks still
 * connected, `local_open` the ranks of this process that still hold a connection
 * to it (bootstrap_root_local). The pid tells a forked child, which inherits the
 * list but not the threads. */
#define ROOT_LIVE_MAX 64

static pthread_mutex_t root_live_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t root_live_cv = PTHREAD_COND_INITIALIZER;
static struct root_live {
    uint64_t job_id;
    uint64_t gen;  /* order of starting: a job run again on one HALO_ROOT has the same id */
    pid_t pid;
    int connected, local_open;
} root_live[ROOT_LIVE_MAX];
static uint64_t root_live_gen;

/* Under root_live_lock. The newest root of this job in this process: the previous
 * run's root may still be draining when the next run's starts. */
static struct root_live *root_live_find(uint64_t job_id)
{
    struct root_live *e = NULL;
    for (int i = 0; i < ROOT_LIVE_MAX; i++)
        if (root_live[i].pid == getpid() && root_live[i].job_id == job_id && (!e || root_live[i].gen > e->gen))
            e = &root_live[i];
    return e;
}

/* Returns the slot the root thread then names itself by (-1: list full). */
static int root_live_add(uint64_t job_id)
{
    int slot = -1;
    pthread_mutex_lock(&root_live_lock);
    for (int i = 0; i < ROOT_LIVE_MAX; i++)
        if (root_live[i].pid == 0 || root_live[i].pid != getpid()) { /* free, or a parent's */
            root_live[i] = (struct root_live){.job_id = job_id, .gen = ++root_live_gen, .pid = getpid()};
            slot = i;
            break;
        }
    pthread_mutex_unlock(&root_live_lock);
    return slot;
}

static void root_live_remove(int slot)
{
    pthread_mutex_lock(&root_live_lock);
    if (slot >= 0 && root_live[slot].pid == getpid())
        root_live[slot].pid = 0;
    pthread_cond_broadcast(&root_live_cv);
    pthread_mutex_unlock(&root_live_lock);
}

static void root_live_connected(int slot, int connected)
{
    pthread_mutex_lock(&root_live_lock);
    struct root_live *e = slot >= 0 && root_live[slot].pid == getpid() ? &root_live[slot] : NULL;
    if (e && e->connected != connected) {
        e->connected = connected;
        pthread_cond_broadcast(&root_live_cv);
    }
    pthread_mutex_unlock(&root_live_lock);
}

int bootstrap_root_local(uint64_t job_id, int delta)
{
    pthread_mutex_lock(&root_live_lock);
    struct root_live *e = root_live_find(job_id);
    if (e)
        e->local_open += delta;
    pthread_cond_broadcast(&root_live_cv);
    pthread_mutex_unlock(&root_live_lock);
    return e != NULL;
}

int bootstrap_root_wait(uint64_t job_id, int64_t bound_us)
{
    struct timespec until;
    struct root_live *e;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(bound_us / 1000000);
    until.tv_nsec += (long)(bound_us % 1000000) * 1000;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&root_live_lock);
    while ((e = root_live_find(job_id)) && e->connected > e->local_open && rc == 0)
        rc = pthread_cond_timedwait(&root_live_cv, &root_live_lock, &until);
    e = root_live_find(job_id);
    int others = e && e->connected > e->local_open;
    pthread_mutex_unlock(&root_live_lock);
    return others;
}

/* ======================================================================== */
/* Root service: connections and their output queues                        */
/* ======================================================================== */

/* An outgoing frame, shared by every connection it is queued on. */
struct boot_blob {
    int refs;
    size_t len;
    uint8_t data[];
};

struct boot_out {
    struct boot_out *next;
    struct boot_blob *blob;
    size_t off;
};

/* Only moves forward; DEAD connections are swept at the end of each loop turn. */
enum boot_conn_state { CONN_AUTH, CONN_JOIN, CONN_RANK, CONN_DRAIN, CONN_DEAD };

struct boot_conn {
    int fd;
    enum boot_conn_state state;
    int rank;             /* -1 until JOIN */
    int closing;          /* sent CLOSE */
    char addr[64];
    struct halo_sockaddr peer;
    int64_t opened_us;
    int64_t deadline_us;  /* AUTH / JOIN / DRAIN must end by then; none in RANK */
    struct halo_auth_server_state auth;
    uint8_t hdr[HALO_AUTH_PROOF_BYTES]; /* proof, then frame headers */
    uint8_t *payload;
    uint8_t *rbuf;        /* where the unit being read goes */
    size_t rwant, rgot;
    uint32_t type, len;   /* header of the frame being read */
    struct boot_out *out_head, *out_tail;
    int nout;
};

struct boot_rank {
    struct boot_conn *conn; /* NULL once gone */
    int joined, closed;
    char host[BOOT_HOST_BYTES];
    char addr[64];
};

struct boot_root {
    int listen_fd;
    char addr[64];
    uint8_t key[HALO_AUTH_KEY_BYTES];
    char ctx[32];
    uint64_t job_id;
    int live_slot;             /* its entry in root_live */
    int64_t timeout_us, start_us, join_deadline_us, stop_deadline_us;
    int64_t accept_pause_until_us;
    int64_t shed_said_us;       /* last WARN about connections shed (one per second) */
    int nshed;                  /* shed since then */
    struct boot_conn **conns;
    int nconns, capconns;
    int nranks, njoined, nconnected; /* nranks 0 until the first JOIN */
    struct boot_rank *ranks;
    /* The allgather being collected. */
    uint32_t seq, size;
    int narrived, size_rank;
    uint8_t *arrived;
    struct boot_blob *result;
    /* After the first failure every request is answered with this frame. */
    struct boot_blob *fail_frame;
};

/* A message of len bytes, copied from data when not NULL; one reference. */
static struct boot_blob *blob_raw(const void *data, size_t len)
{
    struct boot_blob *b = malloc(sizeof(*b) + len);
    if (!b)
        return NULL;
    b->refs = 1;
    b->len = len;
    if (data)
        memcpy(b->data, data, len);
    return b;
}

/* A frame with room for a len-byte payload after the header. */
static struct boot_blob *blob_new(uint32_t type, size_t len)
{
    struct boot_blob *b = blob_raw(NULL, 8 + len);
    if (!b)
        return NULL;
    put_u32(b->data, type);
    put_u32(b->data + 4, (uint32_t)len);
    return b;
}

static void blob_unref(struct boot_blob *b)
{
    if (b && --b->refs == 0)
        free(b);
}

/* ABORT {text} or ERROR {result, text}. */
static struct boot_blob *blob_text(uint32_t type, haloResult_t code, const char *text)
{
    size_t tlen = strnlen(text, BOOT_TEXT_MAX);
    size_t off = type == BOOT_ERROR ? 4 : 0;
    struct boot_blob *b = blob_new(type, off + tlen);
    if (!b)
        return NULL;
    if (type == BOOT_ERROR)
        put_u32(b->data + 8, (uint32_t)code);
    memcpy(b->data + 8 + off, text, tlen);
    return b;
}

static void conn_expect(struct boot_conn *c, uint8_t *buf, size_t len)
{
    c->rbuf = buf;
    c->rwant = len;
    c->rgot = 0;
}

static int conn_alive(const struct boot_conn *c)
{
    return c && c->state != CONN_DEAD;
}

static void conn_free_queue(struct boot_conn *c)
{
    while (c->out_head) {
        struct boot_out *o = c->out_head;
        c->out_head = o->next;
        blob_unref(o->blob);
        free(o);
    }
    c->out_tail = NULL;
    c->nout = 0;
}

static int64_t root_handshake_us(const struct boot_root *root);
static void root_fail(struct boot_root *root, uint32_t type, haloResult_t code, int except_rank,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Closes a connection. A rank that goes without CLOSE fails the job for the others;
 * why (NULL: it closed unexpectedly) completes "rank R (host) ...". */
static void root_conn_drop(struct boot_root *root, struct boot_conn *c, const char *why)
{
    if (!conn_alive(c))
        return;
    close(c->fd);
    c->fd = -1;
    c->state = CONN_DEAD;
    free(c->payload);
    c->payload = NULL;
    conn_free_queue(c);
    if (c->rank < 0)
        return;
    struct boot_rank *r = &root->ranks[c->rank];
    r->conn = NULL;
    root->nconnected--;
    if (c->closing) {
        r->closed = 1;
        return;
    }
    root_fail(root, BOOT_ABORT, haloRemoteError, c->rank, "rank %d (%s) %s", c->rank, r->host,
              why ? why : "closed its bootstrap connection unexpectedly");
}

/* Queues a frame. A connection that lets BOOT_OUT_MAX frames pile up is not reading:
 * it is dropped rather than allowed to grow the root's memory. */
static void root_conn_enqueue(struct boot_root *root, struct boot_conn *c, struct boot_blob *b)
{
    struct boot_out *o;
    if (!conn_alive(c) || !b)
        return;
    if (c->nout >= BOOT_OUT_MAX || !(o = calloc(1, sizeof(*o)))) {
        root_conn_drop(root, c, "stopped reading its bootstrap connection");
        return;
    }
    o->blob = b;
    b->refs++;
    if (c->out_tail)
        c->out_tail->next = o;
    else
        c->out_head = o;
    c->out_tail = o;
    c->nout++;
}

static void root_conn_malformed(struct boot_root *root, struct boot_conn *c, const char *why)
{
    char who[32] = "";
    if (c->rank >= 0)
        snprintf(who, sizeof(who), " (rank %d)", c->rank);
    HLOG_WARN(HALO_SUB_BOOT, -1, "bootstrap root %s: malformed bootstrap frame from %s%s (type %u, length %u): %s; "
              "dropping the connection", root->addr, c->addr, who, c->type, c->len, why);
    root_conn_drop(root, c, "sent a malformed bootstrap frame");
}

/* Sends what the socket takes now. */
static void root_conn_flush(struct boot_root *root, struct boot_conn *c)
{
    while (conn_alive(c) && c->out_head) {
        struct boot_out *o = c->out_head;
        ssize_t n = send(c->fd, o->blob->data + o->off, o->blob->len - o->off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            HLOG_INFO(HALO_SUB_BOOT, -1, "bootstrap root %s: send to %s failed: %s", root->addr, c->addr,
                      strerror(errno));
            root_conn_drop(root, c, NULL);
            return;
        }
        o->off += (size_t)n;
        if (o->off < o->blob->len)
            continue;
        c->out_head = o->next;
        if (!c->out_head)
            c->out_tail = NULL;
        c->nout--;
        blob_unref(o->blob);
        free(o);
    }
}

/* Sends text (ERROR) to one connection, then closes it once flushed. */
static void root_conn_refuse(struct boot_root *root, struct boot_conn *c, haloResult_t code, const char *text)
{
    struct boot_blob *b = blob_text(BOOT_ERROR, code, text);
    root_conn_enqueue(root, c, b);
    blob_unref(b);
    if (!conn_alive(c))
        return;
    c->state = CONN_DRAIN;
    c->deadline_us = halo_now_us() + BOOT_DRAIN_US;
}

/* ======================================================================== */
/* Root service: job state                                                   */
/* ======================================================================== */

static void root_collective_reset(struct boot_root *root)
{
    blob_unref(root->result);
    root->result = NULL;
    root->narrived = 0;
    if (root->arrived)
        memset(root->arrived, 0, (size_t)root->nranks);
}

/* Fails the job once: records the frame, sends it to every connected rank but one. */
static void root_fail(struct boot_root *root, uint32_t type, haloResult_t code, int except_rank,
                      const char *fmt, ...)
{
    char text[BOOT_TEXT_MAX];
    va_list ap;
    if (root->fail_frame)
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    HLOG_WARN(HALO_SUB_BOOT, -1, "bootstrap root %s: %s", root->addr, text);
    root->fail_frame = blob_text(type, code, text);
    root_collective_reset(root);
    for (int r = 0; r < root->nranks; r++)
        if (r != except_rank && conn_alive(root->ranks[r].conn))
            root_conn_enqueue(root, root->ranks[r].conn, root->fail_frame);
}

/* First JOIN: fixes nranks and the join deadline. 0, or -1 (no memory). */
static int root_job_create(struct boot_root *root, int nranks)
{
    root->ranks = calloc((size_t)nranks, sizeof(*root->ranks));
    root->arrived = calloc((size_t)nranks, 1);
    if (!root->ranks || !root->arrived) {
        free(root->ranks);
        free(root->arrived);
        root->ranks = NULL;
        root->arrived = NULL;
        return -1;
    }
    root->nranks = nranks;
    root->join_deadline_us = halo_now_us() + root->timeout_us;
    return 0;
}

/* Checks a JOIN against the job; on refusal writes why into text. */
static int root_join_check(struct boot_root *root, int rank, int nranks, uint32_t version, char *text,
                           size_t len)
{
    if (version / 100 != HALO_VERSION_CODE / 100) {
        char theirs[24], ours[24];
        snprintf(text, len, "the bootstrap root runs haloccl %s but rank %d runs haloccl %s: all ranks must run "
                 "the same major.minor version", boot_version_str(HALO_VERSION_CODE, ours, sizeof(ours)), rank,
                 boot_version_str(version, theirs, sizeof(theirs)));
        return -1;
    }
    if (nranks < 1 || nranks > BOOT_MAX_RANKS || rank < 0 || rank >= nranks) {
        snprintf(text, len, "rank %d of nranks %d is out of range (nranks 1..%d, 0 <= rank < nranks)", rank,
                 nranks, BOOT_MAX_RANKS);
        return -1;
    }
    if (root->nranks && root->njoined == root->nranks) {
        snprintf(text, len, "this bootstrap root already serves a job whose %d ranks have all joined, so rank %d "
                 "of %d belongs to another job (or a new run of it with the same HALO_ROOT and secret); start it "
                 "once that job's ranks have destroyed their communicators, or give it another HALO_ROOT",
                 root->nranks, rank, nranks);
        return -1;
    }
    if (root->nranks && nranks != root->nranks) {
        snprintf(text, len, "rank %d says nranks=%d but the ranks that joined first said nranks=%d: all ranks "
                 "must pass the same nranks", rank, nranks, root->nranks);
        return -1;
    }
    if (root->nranks && root->ranks[rank].joined) {
        snprintf(text, len, "rank %d joined twice: first from %s (%s): every process needs its own rank", rank,
                 root->ranks[rank].addr, root->ranks[rank].host);
        return -1;
    }
    return 0;
}

/* Once every rank joined nobody else may: the listener closes, so the address is
 * free at once for the next job (SO_REUSEADDR covers the connections still in
 * TIME_WAIT), and a rank of a later job is refused by the kernel (and retries)
 * instead of being taken into this one. */
static void root_formed(struct boot_root *root)
{
    if (root->njoined < root->nranks || root->listen_fd < 0)
        return;
    close(root->listen_fd);
    root->listen_fd = -1;
    HLOG_INFO(HALO_SUB_BOOT, -1, "bootstrap root %s: all %d ranks joined; listener closed", root->addr,
              root->nranks);
}

static void root_on_join(struct boot_root *root, struct boot_conn *c)
{
    char text[BOOT_TEXT_MAX], host[BOOT_HOST_BYTES];
    int rank = (int)get_u32(c->payload), nranks = (int)get_u32(c->payload + 4);
    memcpy(host, c->payload + 12, BOOT_HOST_BYTES);
    host[BOOT_HOST_BYTES - 1] = '\0';
    if (!host[0])
        snprintf(host, sizeof(host), "unknown host");

    if (root_join_check(root, rank, nranks, get_u32(c->payload + 8), text, sizeof(text)) != 0) {
        HLOG_WARN(HALO_SUB_BOOT, -1, "bootstrap root %s: refusing %s (%s): %s", root->addr, c->addr, host, text);
        root_conn_refuse(root, c, haloInvalidUsage, text);
        /* Ranks that disagree on nranks: the job cannot complete, so the ranks that
         * joined fail now with the reason instead of waiting out the join deadline.
         * (A duplicate rank, or a stray once every rank joined, is refused alone.) */
        if (root->nranks && nranks != root->nranks && root->njoined < root->nranks)
            root_fail(root, BOOT_ERROR, haloInvalidUsage, -1, "the bootstrap root refused a rank from %s (%s): %s",
                      c->addr, host, text);
        return;
    }
    if (!root->nranks && root_job_create(root, nranks) != 0) {
        root_conn_refuse(root, c, haloSystemError, "the bootstrap root is out of memory");
        return;
    }
    struct boot_rank *r = &root->ranks[rank];
    r->conn = c;
    r->joined = 1;
    snprintf(r->host, sizeof(r->host), "%s", host);
    snprintf(r->addr, sizeof(r->addr), "%s", c->addr);
    c->rank = rank;
    c->state = CONN_RANK;
    root->njoined++;
    root->nconnected++;
    HLOG_INFO(HALO_SUB_BOOT, -1, "bootstrap root %s: rank %d joined from %s (%s), %d of %d", root->addr, rank,
              c->addr, host, root->njoined, root->nranks);
    root_formed(root);
    struct boot_blob *b = root->fail_frame ? NULL : blob_new(BOOT_WELCOME, 0);
    root_conn_enqueue(root, c, root->fail_frame ? root->fail_frame : b);
    blob_unref(b);
}

/* Is the request acceptable for the collective being collected? Fails the job if not. */
static int root_allgather_check(struct boot_root *root, int rank, uint32_t seq, uint32_t size)
{
    for (int r = 0; r < root->nranks; r++) {
        if (root->ranks[r].closed) {
            root_fail(root, BOOT_ERROR, haloInvalidUsage, -1, "rank %d (%s) started bootstrap allgather #%u after "
                      "rank %d (%s) had closed its communicator: all ranks must call the same collectives",
                      rank, root->ranks[rank].host, seq, r, root->ranks[r].host);
            return -1;
        }
    }
    if (seq != root->seq || root->arrived[rank]) {
        root_fail(root, BOOT_ERROR, haloInternalError, -1, "rank %d (%s) sent bootstrap allgather #%u while the "
                  "root collects #%u (sequence broken)", rank, root->ranks[rank].host, seq, root->seq);
        return -1;
    }
    if (root->narrived > 0 && size != root->size) {
        root_fail(root, BOOT_ERROR, haloInvalidUsage, -1, "bootstrap allgather #%u: rank %d (%s) sent %u bytes but "
                  "rank %d (%s) sent %u bytes: all ranks must pass the same size", seq, rank,
                  root->ranks[rank].host, size, root->size_rank, root->ranks[root->size_rank].host, root->size);
        return -1;
    }
    return 0;
}

static void root_allgather_finish(struct boot_root *root)
{
    struct boot_blob *result = root->result; /* dropping a rank below may fail the job */
    root->result = NULL;
    root_collective_reset(root);
    root->seq++;
    for (int r = 0; r < root->nranks; r++)
        root_conn_enqueue(root, root->ranks[r].conn, result);
    blob_unref(result);
}

static void root_on_allgather(struct boot_root *root, struct boot_conn *c)
{
    uint32_t seq = get_u32(c->payload), size = get_u32(c->payload + 4);
    if (size != c->len - 8) {
        root_conn_malformed(root, c, "the block size disagrees with the frame length");
        return;
    }
    if (root->fail_frame) {
        root_conn_enqueue(root, c, root->fail_frame);
        return;
    }
    if (root_allgather_check(root, c->rank, seq, size) != 0)
        return;
    if (root->narrived == 0) {
        size_t total = (size_t)size * (size_t)root->nranks;
        root->result = blob_new(BOOT_RESULT, 8 + total);
        if (!root->result) {
            root_fail(root, BOOT_ERROR, haloSystemError, -1, "the bootstrap root could not allocate %zu bytes",
                      total);
            return;
        }
        put_u32(root->result->data + 8, seq);
        put_u32(root->result->data + 12, size);
        root->size = size;
        root->size_rank = c->rank;
    }
    memcpy(root->result->data + 16 + (size_t)c->rank * size, c->payload + 8, size);
    root->arrived[c->rank] = 1;
    if (++root->narrived == root->nranks)
        root_allgather_finish(root);
}

/* A rank says where it waits (or that it stopped waiting): relayed to every other
 * rank with the sender's rank filled in; nothing is kept here. */
static void root_on_note(struct boot_root *root, struct boot_conn *c)
{
    if (root->fail_frame)
        return;
    struct boot_blob *b = blob_new(BOOT_NOTE, BOOT_NOTE_BYTES);
    if (!b)
        return;
    memcpy(b->data + 8, c->payload, BOOT_NOTE_BYTES);
    put_u32(b->data + 8, (uint32_t)c->rank);
    for (int r = 0; r < root->nranks; r++)
        if (r != c->rank && conn_alive(root->ranks[r].conn))
            root_conn_enqueue(root, root->ranks[r].conn, b);
    blob_unref(b);
}

static void root_on_abort(struct boot_root *root, struct boot_conn *c)
{
    char text[BOOT_TEXT_MAX];
    size_t n = c->len < sizeof(text) - 1 ? c->len : sizeof(text) - 1;
    if (n)
        memcpy(text, c->payload, n);
    text[n] = '\0';
    /* A rank's text starts with its result code and a bar ("5|rank 0 called ...",
     * comm.c): relay the code in an ERROR frame and the sentence without it. */
    char *bar = strchr(text, '|');
    int digits = bar ? (int)strspn(text, "0123456789") : 0;
    if (bar && digits > 0 && digits <= 2 && text + digits == bar) {
        int code = atoi(text);
        root_fail(root, BOOT_ERROR, code > haloSuccess && code < haloNumResults ? (haloResult_t)code : haloRemoteError,
                  c->rank, "rank %d (%s) aborted: %s", c->rank, root->ranks[c->rank].host, bar + 1);
        return;
    }
    root_fail(root, BOOT_ABORT, haloRemoteError, c->rank, "rank %d (%s) aborted: %s", c->rank,
              root->ranks[c->rank].host, text);
}

/* ======================================================================== */
/* Root service: reading                                                     */
/* ======================================================================== */

/* Largest acceptable payload for a frame type in the connection's state, or -1. */
static int64_t root_frame_limit(const struct boot_root *root, const struct boot_conn *c, uint32_t type)
{
    if (c->state == CONN_JOIN)
        return type == BOOT_JOIN ? BOOT_JOIN_BYTES : -1;
    switch (type) {
    case BOOT_ALLGATHER: return 8 + BOOT_FRAME_MAX / (uint32_t)root->nranks;
    case BOOT_ABORT: return BOOT_TEXT_MAX;
    case BOOT_NOTE: return BOOT_NOTE_BYTES;
    case BOOT_CLOSE: return 0;
    default: return -1;
    }
}

/* A frame header arrived: validate it before allocating anything. */
static void root_on_header(struct boot_root *root, struct boot_conn *c)
{
    c->type = get_u32(c->hdr);
    c->len = get_u32(c->hdr + 4);
    int64_t limit = root_frame_limit(root, c, c->type);
    if (limit < 0) {
        root_conn_malformed(root, c, "unexpected frame type");
        return;
    }
    if (c->len > limit || (c->type == BOOT_JOIN && c->len != BOOT_JOIN_BYTES) ||
        (c->type == BOOT_ALLGATHER && c->len < 8) || (c->type == BOOT_NOTE && c->len != BOOT_NOTE_BYTES)) {
        root_conn_malformed(root, c, "length out of bounds for this frame type and nranks");
        return;
    }
    if (c->len == 0)
        return;
    c->payload = malloc(c->len);
    if (!c->payload) {
        root_conn_malformed(root, c, "out of memory for the payload");
        return;
    }
    conn_expect(c, c->payload, c->len);
}

static void root_on_frame(struct boot_root *root, struct boot_conn *c)
{
    switch (c->type) {
    case BOOT_JOIN: root_on_join(root, c); break;
    case BOOT_ALLGATHER: root_on_allgather(root, c); break;
    case BOOT_ABORT: root_on_abort(root, c); break;
    case BOOT_NOTE: root_on_note(root, c); break;
    case BOOT_CLOSE:
        c->closing = 1;
        HLOG_INFO(HALO_SUB_BOOT, -1, "bootstrap root %s: rank %d closed", root->addr, c->rank);
        root_conn_drop(root, c, NULL);
        break;
    }
}

static void root_on_proof(struct boot_root *root, struct boot_conn *c)
{
    uint8_t verdict[HALO_AUTH_VERDICT_BYTES];
    enum halo_auth_result r = halo_auth_check_proof(&c->auth, root->key, root->ctx, c->hdr, verdict);
    if (r == HALO_AUTH_PROTOCOL) {
        HLOG_WARN(HALO_SUB_BOOT, -1, "bootstrap root %s: %s does not speak the haloccl handshake; dropping it",
                  root->addr, c->addr);
        root_conn_drop(root, c, NULL);
        return;
    }
    struct boot_blob *b = blob_raw(verdict, sizeof(verdict));
    root_conn_enqueue(root, c, b);
    blob_unref(b);
    if (!conn_alive(c))
        return;
    if (r == HALO_AUTH_REJECTED) {
        HLOG_WARN(HALO_SUB_BOOT, -1, "bootstrap root %s: rejected %s: its proof of the job secret is wrong (a rank "
                  "of another job, or a different HALO_SECRET)", root->addr, c->addr);
        c->state = CONN_DRAIN;
        c->deadline_us = halo_now_us() + BOOT_DRAIN_US;
        return;
    }
    c->state = CONN_JOIN;
    c->deadline_us = halo_now_us() + root_handshake_us(root); /* proved: the rest of the handshake */
}

/* The unit being read is complete: act on it and say what comes next. */
static void root_conn_unit(struct boot_root *root, struct boot_conn *c)
{
    if (c->state == CONN_AUTH) {
        root_on_proof(root, c);
    } else if (c->rbuf == c->hdr) {
        root_on_header(root, c);
        if (!conn_alive(c) || c->len > 0)
            return;
        root_on_frame(root, c);
    } else {
        root_on_frame(root, c);
        free(c->payload);
        c->payload = NULL;
    }
    if (c->state == CONN_JOIN || c->state == CONN_RANK)
        conn_expect(c, c->hdr, 8);
}

static void root_conn_read(struct boot_root *root, struct boot_conn *c)
{
    while (c->state == CONN_AUTH || c->state == CONN_JOIN || c->state == CONN_RANK) {
        ssize_t n = recv(c->fd, c->rbuf + c->rgot, c->rwant - c->rgot, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            if (c->rank < 0)
                HLOG_INFO(HALO_SUB_BOOT, -1, "bootstrap root %s: %s went away before joining (%s)", root->addr,
                          c->addr, n == 0 ? "closed" : strerror(errno));
            root_conn_drop(root, c, NULL);
            return;
        }
        c->rgot += (size_t)n;
        if (c->rgot == c->rwant)
            root_conn_unit(root, c);
    }
}

/* ======================================================================== */
/* Root service: accepting, deadlines, the loop                              */
/* ======================================================================== */

static int root_conns_append(struct boot_root *root, struct boot_conn *c)
{
    if (root->nconns == root->capconns) {
        int cap = root->capconns ? root->capconns * 2 : 16;
        struct boot_conn **n = realloc(root->conns, (size_t)cap * sizeof(*n));
        if (!n)
            return -1;
        root->conns = n;
        root->capconns = cap;
    }
    root->conns[root->nconns++] = c;
    return 0;
}

/* How long a new connection has to prove the secret and join. */
static int64_t root_handshake_us(const struct boot_root *root)
{
    return root->timeout_us < BOOT_HANDSHAKE_MAX_US ? root->timeout_us : BOOT_HANDSHAKE_MAX_US;
}

static int root_pending(const struct boot_root *root)
{
    int n = 0;
    for (int i = 0; i < root->nconns; i++)
        n += conn_alive(root->conns[i]) && root->conns[i]->rank < 0;
    return n;
}

/* Starts the handshake on an accepted socket: queue HELLO, expect PROOF. Owns fd. */
static void root_conn_open(struct boot_root *root, int fd, const struct halo_sockaddr *peer)
{
    uint8_t hello[HALO_AUTH_HELLO_BYTES];
    struct boot_blob *b = NULL;
    struct boot_conn *c = calloc(1, sizeof(*c));
    if (!c)
        goto err_close_fd;
    c->fd = fd;
    c->rank = -1;
    c->state = CONN_AUTH;
    c->peer = *peer;
    halo_sockaddr_str(peer, c->addr, sizeof(c->addr));
    c->opened_us = halo_now_us();
    c->deadline_us = c->opened_us + (root_handshake_us(root) < BOOT_PREAUTH_US ? root_handshake_us(root)
                                                                               : BOOT_PREAUTH_US);
    boot_keepalive(fd);
    if (halo_auth_hello(&c->auth, hello) != 0 || !(b = blob_raw(hello, sizeof(hello))))
        goto err_free_conn;
    if (root_conns_append(root, c) != 0)
        goto err_free_blob;
    root_conn_enqueue(root, c, b); /* on failure c is DEAD and swept */
    blob_unref(b);
    conn_expect(c, c->hdr, HALO_AUTH_PROOF_BYTES);
    return;

err_free_blob:
    blob_unref(b);
err_free_conn:
    free(c);
err_close_fd:
    close(fd);
}

static int root_same_host(const struct halo_sockaddr *a, const struct halo_sockaddr *b)
{
    return a->family == b->family && !memcmp(a->addr, b->addr, sizeof(a->addr));
}

/* Connections shed under a flood are counted and said once a second. */
static void root_shed_say(struct boot_root *root, const char *who)
{
    int64_t now = halo_now_us();
    root->nshed++;
    if (now - root->shed_said_us < 1000000)
        return;
    HLOG_WARN(HALO_SUB_BOOT, -1, "bootstrap root %s: %d connection(s) shed (the last from %s): too many have "
              "not proved the job secret (at most %d in all, %d per address, %.0f s each); ranks that prove it "
              "are always served", root->addr, root->nshed, who, BOOT_PENDING_MAX, BOOT_PREAUTH_PER_HOST,
              (double)BOOT_PREAUTH_US / 1e6);
    root->shed_said_us = now;
    root->nshed = 0;
}

/* Room for a new connection from peer: under the caps, or by shedding the oldest
 * connection that has not proved the secret yet — of the same address when that
 * address holds its share, else of any. A flood of silent connections thus never
 * keeps a real rank out (its connection is the newest), and one address cannot
 * take the whole table. 0: refuse this one (every pending connection proved the
 * secret: those are served first). */
static int root_make_room(struct boot_root *root, const struct halo_sockaddr *peer)
{
    int same = 0;
    struct boot_conn *oldest = NULL, *oldest_same = NULL;
    for (int i = 0; i < root->nconns; i++) {
        struct boot_conn *c = root->conns[i];
        if (!conn_alive(c) || c->state != CONN_AUTH)
            continue;
        if (root_same_host(&c->peer, peer)) {
            same++;
            if (!oldest_same || c->opened_us < oldest_same->opened_us)
                oldest_same = c;
        }
        if (!oldest || c->opened_us < oldest->opened_us)
            oldest = c;
    }
    struct boot_conn *shed = same >= BOOT_PREAUTH_PER_HOST         ? oldest_same
                             : root_pending(root) >= BOOT_PENDING_MAX ? oldest
                                                                      : NULL;
    if (!shed)
        return root_pending(root) < BOOT_PENDING_MAX;
    root_shed_say(root, shed->addr);
    root_conn_drop(root, shed, NULL);
    return 1;
}

static void root_accept(struct boot_root *root)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof(ss);
        struct halo_sockaddr peer;
        char a[64];
        int fd = accept4(root->listen_fd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
            continue;
        if (fd < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            /* out of fds or memory: the listener stays readable, so pause instead of spinning */
            HLOG_WARN(HALO_SUB_BOOT, -1, "bootstrap root %s: accept failed: %s; pausing 100 ms", root->addr,
                      strerror(errno));
            root->accept_pause_until_us = halo_now_us() + 100000;
        }
        if (fd < 0)
            return;
        halo_sockaddr_from(&peer, (struct sockaddr *)&ss);
        if (!root_make_room(root, &peer)) {
            root_shed_say(root, halo_sockaddr_str(&peer, a, sizeof(a)));
            close(fd);
            continue;
        }
        root_conn_open(root, fd, &peer);
    }
}

/* Lists up to a few ranks that have not joined, e.g. "2, 5, 7 and 12 more". */
static void root_missing(const struct boot_root *root, char *buf, size_t len)
{
    size_t off = 0;
    int shown = 0, more = 0;
    buf[0] = '\0';
    for (int r = 0; r < root->nranks; r++) {
        if (root->ranks[r].joined)
            continue;
        if (shown < 16 && off < len)
            off += (size_t)snprintf(buf + off, len - off, "%s%d", shown ? ", " : "", r);
        else
            more++;
        shown++;
    }
    if (more && off < len)
        snprintf(buf + off, len - off, " and %d more", more);
}

static void root_stop(struct boot_root *root)
{
    if (root->listen_fd >= 0)
        close(root->listen_fd);
    root->listen_fd = -1;
    root->stop_deadline_us = halo_now_us() + BOOT_DRAIN_US;
}

static void root_check_job(struct boot_root *root, int64_t now)
{
    char missing[256];
    if (root->stop_deadline_us)
        return;
    if (root->nranks && root->njoined < root->nranks && now >= root->join_deadline_us) {
        root_missing(root, missing, sizeof(missing));
        root_fail(root, BOOT_ERROR, haloRemoteError, -1, "only %d of %d ranks joined the bootstrap root %s within "
                  "%.1f s of the first (missing: %s): were they all started, with the same unique id? "
                  "(HALO_TIMEOUT_MS)", root->njoined, root->nranks, root->addr, root->timeout_us / 1e6, missing);
        root_stop(root);
    } else if (!root->nranks) {
        int64_t idle = 10 * root->timeout_us > BOOT_IDLE_MIN_US ? 10 * root->timeout_us : BOOT_IDLE_MIN_US;
        if (now - root->start_us > idle) {
            HLOG_WARN(HALO_SUB_BOOT, -1, "bootstrap root %s: no rank joined within %.0f s; closing the listener",
                      root->addr, idle / 1e6);
            root_stop(root);
        }
    }
}

static void root_check_deadlines(struct boot_root *root, int64_t now)
{
    for (int i = 0; i < root->nconns; i++) {
        struct boot_conn *c = root->conns[i];
        if (c->state == CONN_DRAIN && (!c->out_head || now >= c->deadline_us)) {
            root_conn_drop(root, c, NULL);
        } else if ((c->state == CONN_AUTH || c->state == CONN_JOIN) && now >= c->deadline_us) {
            HLOG_WARN(HALO_SUB_BOOT, -1, "bootstrap root %s: %s did not %s within %.1f s; dropping it",
                      root->addr, c->addr, c->state == CONN_AUTH ? "prove the job secret" : "send JOIN",
                      root_handshake_us(root) / 1e6);
            root_conn_drop(root, c, NULL);
        }
    }
    root_check_job(root, now);
}

/* Frees the connections that are gone, keeping the order of the others. */
static void root_sweep(struct boot_root *root)
{
    int k = 0;
    for (int i = 0; i < root->nconns; i++) {
        if (conn_alive(root->conns[i]))
            root->conns[k++] = root->conns[i];
        else
            free(root->conns[i]);
    }
    root->nconns = k;
}

static int root_done(const struct boot_root *root, int64_t now)
{
    if (root->stop_deadline_us) {
        if (now > root->stop_deadline_us)
            return 1;
        for (int i = 0; i < root->nconns; i++)
            if (root->conns[i]->out_head)
                return 0;
        return 1;
    }
    /* A failed job keeps serving until every rank has joined or the join deadline
     * passed (root_check_job stops it then): a rank that joins after the others
     * failed and left still gets the failure frame with the reason, instead of
     * timing out against a root that went away. */
    return root->nranks && root->nconnected == 0 && root->njoined == root->nranks;
}

static int conn_reading(const struct boot_conn *c)
{
    return c->state == CONN_AUTH || c->state == CONN_JOIN || c->state == CONN_RANK;
}

/* Builds the poll set: the listener (if any) last. Returns the count. */
static int root_poll_set(struct boot_root *root, struct pollfd *p)
{
    int n = 0;
    for (int i = 0; i < root->nconns; i++) {
        struct boot_conn *c = root->conns[i];
        p[n].fd = c->fd;
        p[n].events = (short)((conn_reading(c) ? POLLIN : 0) | (c->out_head ? POLLOUT : 0));
        p[n++].revents = 0;
    }
    if (root->listen_fd >= 0 && halo_now_us() >= root->accept_pause_until_us) {
        p[n].fd = root->listen_fd;
        p[n].events = POLLIN;
        p[n++].revents = 0;
    }
    return n;
}

/* Poll timeout: wake for the nearest deadline so verdicts (a join timeout naming the
 * missing ranks) reach the ranks before their own, coarser timers fire. */
static int root_poll_ms(const struct boot_root *root)
{
    int64_t next = halo_now_us() + BOOT_POLL_MS * 1000LL;
    if (root->nranks && root->njoined < root->nranks && !root->fail_frame && root->join_deadline_us < next)
        next = root->join_deadline_us;
    for (int i = 0; i < root->nconns; i++)
        if (root->conns[i]->state != CONN_RANK && root->conns[i]->deadline_us < next)
            next = root->conns[i]->deadline_us;
    int64_t left = next - halo_now_us();
    return left <= 0 ? 0 : (int)((left + 999) / 1000);
}

static void root_poll_once(struct boot_root *root, struct pollfd **pfds, int *cap)
{
    if (*cap < root->nconns + 1) {
        struct pollfd *np = realloc(*pfds, (size_t)(root->nconns + 16) * sizeof(*np));
        if (!np) {
            poll(NULL, 0, BOOT_POLL_MS); /* try again later */
            return;
        }
        *pfds = np;
        *cap = root->nconns + 16;
    }
    int nconns = root->nconns, n = root_poll_set(root, *pfds);
    if (poll(*pfds, (nfds_t)n, root_poll_ms(root)) <= 0)
        return;
    for (int i = 0; i < nconns; i++) {
        struct boot_conn *c = root->conns[i];
        short ev = (*pfds)[i].revents;
        if (ev & (POLLOUT | POLLERR | POLLHUP))
            root_conn_flush(root, c);
        if (conn_alive(c) && conn_reading(c) && (ev & (POLLIN | POLLERR | POLLHUP)))
            root_conn_read(root, c);
    }
    if (n > nconns && ((*pfds)[nconns].revents & POLLIN))
        root_accept(root);
}

static void root_destroy(struct boot_root *root)
{
    for (int i = 0; i < root->nconns; i++) {
        struct boot_conn *c = root->conns[i];
        if (conn_alive(c)) {
            close(c->fd);
            free(c->payload);
            conn_free_queue(c);
        }
        free(c);
    }
    if (root->listen_fd >= 0)
        close(root->listen_fd);
    blob_unref(root->result);
    blob_unref(root->fail_frame);
    free(root->conns);
    free(root->ranks);
    free(root->arrived);
    explicit_bzero(root->key, sizeof(root->key));
    free(root);
}

static void *root_thread(void *arg)
{
    struct boot_root *root = arg;
    struct pollfd *pfds = NULL;
    int cap = 0;
    pthread_setname_np(pthread_self(), "halo-boot-root");
    for (;;) {
        int64_t now = halo_now_us();
        root_check_deadlines(root, now);
        root_sweep(root);
        root_live_connected(root->live_slot, root->nconnected);
        if (root_done(root, now))
            break;
        root_poll_once(root, &pfds, &cap);
    }
    HLOG_INFO(HALO_SUB_BOOT, -1, "bootstrap root %s: done (%d of %d ranks joined)", root->addr, root->njoined,
              root->nranks);
    free(pfds);
    int slot = root->live_slot;
    root_destroy(root);
    root_live_remove(slot);
    return NULL;
}

/* ======================================================================== */
/* Root service: starting                                                    */
/* ======================================================================== */

/* Declared in bootstrap_wire.h. */
haloResult_t boot_root_launch(const struct halo_uid *uid, int listen_fd, const struct halo_params *params,
                                const char *ifname, int nranks_hint)
{
    pthread_attr_t attr;
    pthread_t tid;
    struct boot_root *root = calloc(1, sizeof(*root));
    if (!root) {
        close(listen_fd);
        return halo_error(NULL, haloSystemError, "bootstrap root: out of memory");
    }
    root->listen_fd = listen_fd;
    memcpy(root->key, uid->secret, sizeof(root->key));
    boot_ctx(uid->job_id, root->ctx, sizeof(root->ctx));
    root->job_id = uid->job_id;
    root->timeout_us = boot_timeout_us(params);
    root->start_us = halo_now_us();
    halo_sockaddr_str(&uid->root, root->addr, sizeof(root->addr));
    int flags = fcntl(listen_fd, F_GETFL);
    if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) != 0)
        goto err_free_root;
    if (pthread_attr_init(&attr) != 0)
        goto err_free_root;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (nranks_hint > 0)
        HLOG_INFO(HALO_SUB_BOOT, -1, "bootstrap root listening on %s (%s), expecting %d ranks", root->addr, ifname,
                  nranks_hint);
    else /* haloGetUniqueId: the first rank's JOIN says how many */
        HLOG_INFO(HALO_SUB_BOOT, -1, "bootstrap root listening on %s (%s); the first rank to join sets the number "
                  "of ranks", root->addr, ifname);
    root->live_slot = root_live_add(uid->job_id);
    int slot = root->live_slot;
    int rc = pthread_create(&tid, &attr, root_thread, root);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        root_live_remove(slot);
        errno = rc;
        goto err_free_root;
    }
    return haloSuccess; /* root belongs to the thread now */

err_free_root:
    rc = errno;
    root_destroy(root); /* closes listen_fd */
    return halo_error(NULL, haloSystemError, "bootstrap root: cannot start the service thread: %s", strerror(rc));
}
