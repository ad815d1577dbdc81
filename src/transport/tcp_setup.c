/* SPDX-License-Identifier: MIT */
/*
 * tcp_setup.c — the tcp transport's connection sequence at init: the data
 * listener and the all-to-all connect/accept (the data path is in tcp_conn.c).
 *
 * Sequence for each pair of ranks lo < hi whose peer kind is tcp, per channel ch:
 *   lo        listens (tcp_listen); the all-gather publishes lo's blob (its address)
 *   hi -> lo  TCP connect, from hi's own listen IP (so bytes use that link)
 *   hi -> lo  HELLO {magic, from = hi, to = lo, channel = ch, job id}   (struct tcp_hello)
 *   lo <-> hi halo_auth (lo serves, hi is the client), context
 *             "tcp:<lo>:<hi>:<ch>:<job id hex>", which binds the proof to the claim
 *             the hello made: a proof for one pair and channel passes for no other
 *   both      wrap the socket with tcp_conn_create into conns[ch * nranks + peer]
 * The hello comes before the proof because the server needs the claimed (rank,
 * channel) to build the context it checks; nothing is trusted until the proof passed.
 *
 * With rail failover (HALO_RAIL_FAILOVER=1) a channel to a peer that several tcp
 * rails reach gets a second, standby connection over another rail (the next tcp
 * rail after its own), made the same way; its hello's channel has
 * TCP_HELLO_STANDBY set, and so has the channel number in its proof's context.
 * tcp_conn_set_standby arms it (tcp_failover.c).
 *
 * Every rank first connects to all lower ranks, then accepts from all higher ones.
 * This cannot deadlock: a rank only ever waits on lower ranks, and rank 0 accepts
 * at once; the kernel completes connects in the backlog before accept() runs.
 * Hellos that are unknown, duplicate, out of range or from another job, and wrong
 * proofs, are logged (WARN) and dropped; accepting goes on until every expected
 * connection arrived or the deadline passed.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "param.h"
#include "tcp.h"

#define TCP_LISTEN_BACKLOG 1024
#define TCP_HELLO_MAGIC 0x4f4c4548u /* "HELO" in little-endian memory order */
/* One incoming connection may hold the accept loop this long (hello + proof): a
 * stray client must not use up the whole init timeout. */
#define TCP_HANDSHAKE_US 5000000
/* Accepted connections whose hello has not come yet, waited on together: silent or
 * slow clients at the port cannot hold the job up; past this many, the oldest is
 * dropped for a newcomer. */
#define TCP_PENDING_MAX 64
#define TCP_HELLO_STANDBY 0x10000 /* in tcp_hello.channel: the standby of that channel */

struct halo_tcp {
    int listen_fd;
    struct halo_sockaddr addr; /* where listen_fd is bound; also our source address */
    int *standby;              /* [nchannels * nranks] accepted standby sockets, -1: none yet */
};

/* Sent by the connecting (higher) rank right after connect. 24 bytes, host order. */
struct tcp_hello {
    uint32_t magic;   /* TCP_HELLO_MAGIC */
    int32_t from;     /* the connecting rank */
    int32_t to;       /* the rank it means to reach (catches a stale address) */
    int32_t channel;  /* 0 .. nchannels-1, | TCP_HELLO_STANDBY for a standby */
    uint64_t job_id;  /* bootstrap_job_id: rejects a rank of another job early */
};
_Static_assert(sizeof(struct tcp_hello) == 24, "tcp hello is 24 bytes on the wire");

static void tcp_standby_drop(struct halo_tp_ctx *ctx);

static struct halo_tcp *tcp_of(const struct halo_tp_ctx *ctx)
{
    return ctx->state[HALO_TR_TCP];
}

static uint64_t tcp_job_id(const struct halo_tp_ctx *ctx)
{
    return ctx->job_id;
}

/* NULL when the job runs without a secret (no bootstrap, as in unit tests). */
static const uint8_t *tcp_secret(const struct halo_tp_ctx *ctx)
{
    return ctx->key;
}

/* The tcp blob of peer p (zeroed when it does not listen). */
static const struct halo_tcp_peer_info *tcp_info_of(const struct halo_tp_ctx *ctx, int p)
{
    static const struct halo_tcp_peer_info none;
    const struct halo_tcp_peer_info *ti = ctx->peers[p].blob[HALO_TR_TCP];
    return ti ? ti : &none;
}

static void tcp_auth_ctx(const struct halo_tp_ctx *ctx, int a, int b, int ch, char *buf, size_t len)
{
    snprintf(buf, len, "tcp:%d:%d:%d:%016llx", a < b ? a : b, a < b ? b : a, ch,
             (unsigned long long)tcp_job_id(ctx));
}

/* The rail of channel ch's standby connection to peer p: the next tcp rail after
 * the channel's own; -1 without failover, or when no other tcp rail reaches p. */
static int tcp_standby_rail(const struct halo_tp_ctx *ctx, int p, int ch)
{
    const struct halo_tp_peer *pe = &ctx->peers[p];

    if (!ctx->params || !HALO_P_INT(ctx->params, rail_failover) || pe->nrails < 2 || pe->rail_of[ch] >= pe->nrails)
        return -1;
    int own = pe->rail_of[ch];
    if (pe->rails[own].kind != HALO_TR_TCP)
        return -1;
    for (int i = 1; i < pe->nrails; i++) {
        int r = (own + i) % pe->nrails;
        if (pe->rails[r].kind == HALO_TR_TCP && pe->rails[r].has_link)
            return r;
    }
    return -1;
}

/* How long a rail may go unanswered before its sockets count as failed: a quarter
 * of HALO_TIMEOUT_MS, within 0.2..2 s, so a failover ends well before a stall
 * fails the call. */
static int tcp_detect_ms(const struct halo_tp_ctx *ctx)
{
    int64_t ms = ctx->timeout_us / 4000;
    return ms < 200 ? 200 : ms > 2000 ? 2000 : (int)ms;
}

static const char *tcp_peer_desc(const struct halo_tp_ctx *ctx, int peer, char *buf, size_t len)
{
    const struct halo_tp_peer *pi = &ctx->peers[peer];
    char addr[80];

    snprintf(buf, len, "peer %d (%.64s %s)", peer, pi->hostname[0] ? pi->hostname : "?",
             halo_sockaddr_str(&tcp_info_of(ctx, peer)->listen, addr, sizeof(addr)));
    return buf;
}

/* ---- listener ---- */

static haloResult_t tcp_listen(struct halo_tp_ctx *ctx, void *blob)
{
    struct halo_tcp_peer_info *me = blob;
    struct halo_sockaddr want;
    char text[80];

    if (tcp_of(ctx))
        return halo_tp_error(ctx, haloInternalError, "tcp_listen_start called twice");
    struct halo_tcp *t = calloc(1, sizeof(*t));
    if (!t)
        return halo_tp_error(ctx, haloSystemError, "out of memory for the tcp transport");
    /* Listen on every interface: peers on a direct cable connect to this host's
     * end of that cable (see comm_topo.c); others use the published address. */
    struct halo_sockaddr published, any;
    halo_tp_data_addr(ctx, &published);
    memset(&any, 0, sizeof(any));
    any.family = published.family;
    want = published;
    t->listen_fd = halo_socket_listen(&any, TCP_LISTEN_BACKLOG, &t->addr);
    if (t->listen_fd >= 0) {
        published.port = t->addr.port;
        t->addr = published;
    }
    if (t->listen_fd < 0) {
        int err = errno;
        free(t);
        return halo_tp_error(ctx, haloSystemError,
                             "cannot listen for tcp data connections on %s: %s (HALO_SOCKET_IFNAME picks the "
                             "interface)",
                             halo_sockaddr_str(&want, text, sizeof(text)), strerror(err));
    }
    ctx->state[HALO_TR_TCP] = t;
    me->listen = t->addr;
    halo_if_name_of(&t->addr, me->ifname, sizeof(me->ifname));
    HLOG_INFO(HALO_SUB_NET, ctx->rank, "tcp data listener on %s (%s)", halo_sockaddr_str(&t->addr, text, sizeof(text)),
              me->ifname);
    return haloSuccess;
}

static void tcp_destroy(struct halo_tp_ctx *ctx)
{
    if (!ctx || !tcp_of(ctx))
        return;
    if (tcp_of(ctx)->listen_fd >= 0)
        close(tcp_of(ctx)->listen_fd);
    tcp_standby_drop(ctx);
    free(tcp_of(ctx));
    ctx->state[HALO_TR_TCP] = NULL;
}

/* ---- shared by both sides ---- */

static void tcp_log_conn(struct halo_tp_ctx *ctx, int fd, int peer, int ch, const char *what)
{
    struct sockaddr_storage ss;
    struct halo_sockaddr a;
    socklen_t len = sizeof(ss);
    char local[80] = "?", remote[80] = "?";

    if (!halo_log_enabled(HALO_LOG_INFO, HALO_SUB_NET))
        return;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        halo_sockaddr_from(&a, (struct sockaddr *)&ss);
        halo_sockaddr_str(&a, local, sizeof(local));
    }
    len = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        halo_sockaddr_from(&a, (struct sockaddr *)&ss);
        halo_sockaddr_str(&a, remote, sizeof(remote));
    }
    halo_log_emit(HALO_LOG_INFO, HALO_SUB_NET, ctx->rank, "channel %d peer %d %s tcp %s -> %s", ch, peer, what, local,
                  remote);
}

/* Wraps the authenticated socket and stores it; closes fd on failure. */
static haloResult_t tcp_conn_store(struct halo_tp_ctx *ctx, int fd, int peer, int ch)
{
    struct halo_conn *conn;
    haloResult_t res = tcp_conn_create(ctx, fd, peer, ch, ctx->slot_size_net, ctx->nslots, &conn);

    if (res != haloSuccess) {
        close(fd);
        return res;
    }
    ctx->conns[ch * ctx->nranks + peer] = conn;
    tcp_log_conn(ctx, fd, peer, ch, "via");
    return haloSuccess;
}

/* ---- connecting side (to lower ranks) ---- */

static haloResult_t tcp_connect_fail(struct halo_tp_ctx *ctx, int peer, int ch, const struct halo_sockaddr *src,
                                     int err)
{
    char who[192], from[80];
    int remote = err == ECONNREFUSED || err == ETIMEDOUT || err == EHOSTUNREACH || err == ENETUNREACH ||
                 err == ECONNRESET;

    return halo_tp_error(ctx, remote ? haloRemoteError : haloSystemError,
                         "cannot connect to %s for tcp channel %d from %s: %s; is that rank alive and reachable "
                         "from this interface (HALO_SOCKET_IFNAME, firewall, HALO_TIMEOUT_MS)?",
                         tcp_peer_desc(ctx, peer, who, sizeof(who)), ch, halo_sockaddr_str(src, from, sizeof(from)),
                         strerror(err));
}

static haloResult_t tcp_auth_fail(struct halo_tp_ctx *ctx, int peer, int ch, enum halo_auth_result r)
{
    char who[192];

    tcp_peer_desc(ctx, peer, who, sizeof(who));
    if (r == HALO_AUTH_REJECTED)
        return halo_tp_error(ctx, haloInvalidUsage,
                             "%s rejected our proof of the job secret on tcp channel %d: do both ranks use the same "
                             "unique id (or HALO_SECRET)?",
                             who, ch);
    if (r == HALO_AUTH_IO)
        return halo_tp_error(ctx, haloRemoteError,
                             "lost the tcp connection to %s on channel %d while proving the job secret: did that "
                             "rank fail? see its log",
                             who, ch);
    return halo_tp_error(ctx, haloSystemError,
                         "authenticating the tcp connection to %s on channel %d failed (%s): is a haloccl rank of "
                         "this job listening there?",
                         who, ch, halo_auth_result_str(r));
}

/* Connects to peer for channel ch, over the channel's route, or over the peer's
 * rails[standby] for a standby connection (standby >= 0); says hello and proves
 * the secret. *out: the authenticated socket. */
static haloResult_t tcp_dial(struct halo_tp_ctx *ctx, int peer, int ch, int standby, int64_t deadline, int *out)
{
    int hch = ch | (standby >= 0 ? TCP_HELLO_STANDBY : 0);
    struct tcp_hello hello = {
        .magic = TCP_HELLO_MAGIC, .from = ctx->rank, .to = peer, .channel = hch, .job_id = tcp_job_id(ctx)};
    const uint8_t *key = tcp_secret(ctx);
    char actx[HALO_AUTH_CTX_MAX];
    int err;

    const struct halo_tp_rail *rail = standby >= 0 ? &ctx->peers[peer].rails[standby] : halo_tp_route(ctx, peer, ch);
    struct halo_sockaddr src = rail->has_link ? rail->data_src : tcp_of(ctx)->addr;
    struct halo_sockaddr dst = tcp_info_of(ctx, peer)->listen;
    src.port = 0;
    if (rail->has_link) { /* the peer's end of this channel's link, its listener's port */
        uint16_t port = dst.port;
        dst = rail->data_addr;
        dst.port = port;
    }
    int fd = halo_socket_connect(&dst, &src, deadline, &err);
    if (fd < 0)
        return tcp_connect_fail(ctx, peer, ch, &src, err);
    if (halo_io_write_full(fd, &hello, sizeof(hello), deadline) != 0) {
        err = errno;
        close(fd);
        return tcp_connect_fail(ctx, peer, ch, &src, err);
    }
    if (key) {
        tcp_auth_ctx(ctx, ctx->rank, peer, hch, actx, sizeof(actx));
        enum halo_auth_result r = halo_auth_client(fd, key, actx, deadline);
        if (r != HALO_AUTH_OK) {
            close(fd);
            return tcp_auth_fail(ctx, peer, ch, r);
        }
    }
    *out = fd;
    return haloSuccess;
}

/* Hands fd to channel ch's connection to peer as its standby on rails[rail];
 * closes fd on failure. */
static haloResult_t tcp_standby_arm(struct halo_tp_ctx *ctx, int fd, int peer, int ch, int rail)
{
    haloResult_t res = tcp_conn_set_standby(ctx->conns[ch * ctx->nranks + peer], fd, rail, tcp_detect_ms(ctx));

    if (res != haloSuccess) {
        close(fd);
        return res;
    }
    tcp_log_conn(ctx, fd, peer, ch, "standby");
    return haloSuccess;
}

static haloResult_t tcp_connect_one(struct halo_tp_ctx *ctx, int peer, int ch, int64_t deadline)
{
    int fd, rail = tcp_standby_rail(ctx, peer, ch);
    haloResult_t res = tcp_dial(ctx, peer, ch, -1, deadline, &fd);

    if (res == haloSuccess)
        res = tcp_conn_store(ctx, fd, peer, ch);
    if (res != haloSuccess || rail < 0)
        return res;
    res = tcp_dial(ctx, peer, ch, rail, deadline, &fd);
    return res == haloSuccess ? tcp_standby_arm(ctx, fd, peer, ch, rail) : res;
}

/* ---- accepting side (from higher ranks) ---- */

/* NULL when the hello names an expected connection, else why not. */
static const char *tcp_hello_check(const struct halo_tp_ctx *ctx, const struct tcp_hello *h)
{
    if (h->magic != TCP_HELLO_MAGIC)
        return "not a haloccl tcp hello";
    if (h->job_id != tcp_job_id(ctx))
        return "hello from another job";
    if (h->to != ctx->rank)
        return "hello meant for another rank";
    if (h->from <= ctx->rank || h->from >= ctx->nranks)
        return "hello from a rank that should not connect to us";
    int ch = h->channel & ~TCP_HELLO_STANDBY;
    if (ch < 0 || ch >= ctx->nchannels)
        return "hello for a channel out of range";
    if (!halo_tp_carries(ctx, h->from, ch, HALO_TR_TCP))
        return "hello from a rank that does not use tcp with us on that channel";
    if (!(h->channel & TCP_HELLO_STANDBY))
        return ctx->conns[ch * ctx->nranks + h->from] ? "duplicate hello for a connection already made" : NULL;
    if (tcp_standby_rail(ctx, h->from, ch) < 0)
        return "standby hello for a channel without one here (is HALO_RAIL_FAILOVER the same on every rank?)";
    return tcp_of(ctx)->standby[ch * ctx->nranks + h->from] >= 0 ? "duplicate standby hello" : NULL;
}

static void tcp_reject(const struct halo_tp_ctx *ctx, int fd, const struct tcp_hello *h, const char *why)
{
    struct sockaddr_storage ss;
    struct halo_sockaddr a = {0};
    socklen_t len = sizeof(ss);
    char from[80] = "?";

    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        halo_sockaddr_from(&a, (struct sockaddr *)&ss);
        halo_sockaddr_str(&a, from, sizeof(from));
    }
    if (h)
        HLOG_WARN(HALO_SUB_NET, ctx->rank,
                  "dropped a tcp data connection from %s claiming rank %d channel %d: %s", from, h->from,
                  h->channel, why);
    else
        HLOG_WARN(HALO_SUB_NET, ctx->rank, "dropped a tcp data connection from %s: %s", from, why);
    close(fd);
}

/* Checks, proof, store, for a connection whose hello came. Problems with this one
 * connection are only warned about (result haloSuccess, nothing stored); failures
 * of ours are returned. */
static haloResult_t tcp_accept_one(struct halo_tp_ctx *ctx, int fd, const struct tcp_hello *hello, int64_t deadline)
{
    int64_t limit = halo_now_us() + TCP_HANDSHAKE_US;
    const uint8_t *key = tcp_secret(ctx);
    struct tcp_hello h = *hello;
    char actx[HALO_AUTH_CTX_MAX];
    const char *why;

    if (limit > deadline)
        limit = deadline;
    why = tcp_hello_check(ctx, &h);
    if (why) {
        tcp_reject(ctx, fd, &h, why);
        return haloSuccess;
    }
    if (key) {
        tcp_auth_ctx(ctx, h.from, ctx->rank, h.channel, actx, sizeof(actx)); /* the standby bit included */
        enum halo_auth_result r = halo_auth_server(fd, key, actx, limit);
        if (r != HALO_AUTH_OK) {
            tcp_reject(ctx, fd, &h, r == HALO_AUTH_REJECTED ? "wrong proof of the job secret"
                                                             : halo_auth_result_str(r));
            return haloSuccess;
        }
    }
    int ch = h.channel & ~TCP_HELLO_STANDBY;
    if (h.channel & TCP_HELLO_STANDBY) { /* armed once every connection is in (tcp_standby_attach) */
        tcp_of(ctx)->standby[ch * ctx->nranks + h.from] = fd;
        return haloSuccess;
    }
    return tcp_conn_store(ctx, fd, h.from, ch);
}

/* Channels of peer p that should connect to us and have not yet. */
static int tcp_standby_missing(const struct halo_tp_ctx *ctx, int p, int ch)
{
    return tcp_standby_rail(ctx, p, ch) >= 0 && tcp_of(ctx)->standby[ch * ctx->nranks + p] < 0;
}

static int tcp_peer_missing(const struct halo_tp_ctx *ctx, int p)
{
    int missing = 0;

    for (int ch = 0; ch < ctx->nchannels; ch++) {
        if (!halo_tp_carries(ctx, p, ch, HALO_TR_TCP))
            continue;
        missing += ctx->conns[ch * ctx->nranks + p] == NULL;
        missing += tcp_standby_missing(ctx, p, ch);
    }
    return missing;
}

static int tcp_accept_missing(const struct halo_tp_ctx *ctx)
{
    int missing = 0;

    for (int p = ctx->rank + 1; p < ctx->nranks; p++)
        missing += tcp_peer_missing(ctx, p);
    return missing;
}

/* "peer 3 (hostC 10.0.0.3:4711) channels 0 1, peer 5 (...) channels 0" into buf. */
static void tcp_missing_list(const struct halo_tp_ctx *ctx, char *buf, size_t len)
{
    size_t used = 0;
    char who[192];

    buf[0] = '\0';
    for (int p = ctx->rank + 1; p < ctx->nranks && used < len; p++) {
        if (!tcp_peer_missing(ctx, p))
            continue;
        used += (size_t)snprintf(buf + used, len - used, "%s%s channels", used ? ", " : "",
                                 tcp_peer_desc(ctx, p, who, sizeof(who)));
        for (int ch = 0; ch < ctx->nchannels && used < len; ch++) {
            if (!halo_tp_carries(ctx, p, ch, HALO_TR_TCP))
                continue;
            if (!ctx->conns[ch * ctx->nranks + p])
                used += (size_t)snprintf(buf + used, len - used, " %d", ch);
            if (used < len && tcp_standby_missing(ctx, p, ch))
                used += (size_t)snprintf(buf + used, len - used, " %d (standby)", ch);
        }
    }
}

static haloResult_t tcp_accept_timeout(struct halo_tp_ctx *ctx)
{
    char list[640], addr[80];

    tcp_missing_list(ctx, list, sizeof(list));
    return halo_tp_error(ctx, haloRemoteError,
                         "timed out after %lld ms waiting for tcp data connections on %s from %s; are those ranks "
                         "alive, and can they reach this address (HALO_SOCKET_IFNAME, firewall, HALO_TIMEOUT_MS)?",
                         (long long)(ctx->timeout_us / 1000), halo_sockaddr_str(&tcp_of(ctx)->addr, addr, sizeof(addr)),
                         list);
}

/* An accepted connection waiting for its hello: got bytes of it so far. */
struct tcp_pending {
    int fd;
    int64_t since;
    size_t got;
    struct tcp_hello hello;
};

/* Reads what has come of pending connection p's hello. 1: it is whole; 0: not yet;
 * -1: the connection closed or failed first. */
static int tcp_pending_read(struct tcp_pending *p)
{
    ssize_t n = recv(p->fd, (uint8_t *)&p->hello + p->got, sizeof(p->hello) - p->got, MSG_DONTWAIT);
    if (n > 0)
        p->got += (size_t)n;
    else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        return -1;
    return p->got == sizeof(p->hello);
}

static haloResult_t tcp_accept_all(struct halo_tp_ctx *ctx, int64_t deadline)
{
    struct tcp_pending pend[TCP_PENDING_MAX];
    struct pollfd pfd[1 + TCP_PENDING_MAX];
    haloResult_t res = haloSuccess;
    int np = 0;

    while (res == haloSuccess && tcp_accept_missing(ctx) > 0) {
        int64_t now = halo_now_us(), left = deadline - now;
        if (left <= 0) {
            res = tcp_accept_timeout(ctx);
            break;
        }
        for (int i = 0; i < np;) { /* past the handshake deadline */
            if (now - pend[i].since > TCP_HANDSHAKE_US) {
                tcp_reject(ctx, pend[i].fd, NULL, pend[i].got ? "no whole hello in time" : "no hello in time");
                pend[i] = pend[--np];
            } else {
                i++;
            }
        }
        pfd[0] = (struct pollfd){.fd = tcp_of(ctx)->listen_fd, .events = POLLIN};
        for (int i = 0; i < np; i++)
            pfd[1 + i] = (struct pollfd){.fd = pend[i].fd, .events = POLLIN};
        int rc = poll(pfd, (nfds_t)(1 + np), (int)(left / 1000 > 200 ? 200 : left / 1000 + 1));
        if (rc < 0 && errno != EINTR) {
            res = halo_tp_error(ctx, haloSystemError, "poll on the tcp data listener failed: %s", strerror(errno));
            break;
        }
        if (rc <= 0)
            continue;
        for (int i = np - 1; i >= 0 && res == haloSuccess; i--) {
            if (!pfd[1 + i].revents)
                continue;
            int got = tcp_pending_read(&pend[i]);
            if (got == 0)
                continue;
            struct tcp_pending p = pend[i];
            pend[i] = pend[--np];
            if (got < 0)
                tcp_reject(ctx, p.fd, NULL, "closed before its hello");
            else
                res = tcp_accept_one(ctx, p.fd, &p.hello, deadline);
        }
        if (res != haloSuccess || !(pfd[0].revents & POLLIN))
            continue;
        int fd = accept4(tcp_of(ctx)->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
                continue;
            res = halo_tp_error(ctx, haloSystemError, "accept on the tcp data listener failed: %s", strerror(errno));
            break;
        }
        if (np == TCP_PENDING_MAX) { /* the oldest gives way */
            int oldest = 0;
            for (int i = 1; i < np; i++)
                if (pend[i].since < pend[oldest].since)
                    oldest = i;
            tcp_reject(ctx, pend[oldest].fd, NULL, "too many connections waiting for their hello");
            pend[oldest] = pend[--np];
        }
        pend[np++] = (struct tcp_pending){.fd = fd, .since = halo_now_us()};
    }
    for (int i = 0; i < np; i++)
        close(pend[i].fd);
    return res;
}

/* The peer's rail whose end on this host is fd's local address, else fallback. */
static int tcp_rail_of_fd(const struct halo_tp_ctx *ctx, int p, int fd, int fallback)
{
    struct sockaddr_storage ss;
    struct halo_sockaddr a;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return fallback;
    halo_sockaddr_from(&a, (struct sockaddr *)&ss);
    for (int r = 0; r < ctx->peers[p].nrails; r++) {
        const struct halo_sockaddr *s = &ctx->peers[p].rails[r].data_src;
        if (s->family == a.family && memcmp(s->addr, a.addr, sizeof(a.addr)) == 0)
            return r;
    }
    return fallback;
}

/* Arms the standby connections higher ranks made to us. */
static haloResult_t tcp_standby_attach(struct halo_tp_ctx *ctx)
{
    for (int p = ctx->rank + 1; p < ctx->nranks; p++) {
        for (int ch = 0; ch < ctx->nchannels; ch++) {
            int *fd = &tcp_of(ctx)->standby[ch * ctx->nranks + p];
            if (*fd < 0)
                continue;
            int rail = tcp_rail_of_fd(ctx, p, *fd, tcp_standby_rail(ctx, p, ch));
            haloResult_t res = tcp_standby_arm(ctx, *fd, p, ch, rail);
            *fd = -1; /* the connection's now, or closed */
            if (res != haloSuccess)
                return res;
        }
    }
    return haloSuccess;
}

/* Closes standby sockets never armed and frees the table. */
static void tcp_standby_drop(struct halo_tp_ctx *ctx)
{
    struct halo_tcp *t = tcp_of(ctx);

    if (!t->standby)
        return;
    for (int i = 0; i < ctx->nchannels * ctx->nranks; i++)
        if (t->standby[i] >= 0)
            close(t->standby[i]);
    free(t->standby);
    t->standby = NULL;
}

static haloResult_t tcp_connect_all(struct halo_tp_ctx *ctx)
{
    int64_t deadline = halo_now_us() + ctx->timeout_us;

    if (ctx->nranks < 2)
        return haloSuccess;
    if (!tcp_of(ctx) || !ctx->conns || ctx->nchannels < 1 || ctx->nchannels > HALO_MAX_CHANNELS)
        return halo_tp_error(ctx, haloInternalError,
                             "tcp_connect_all before tcp_listen or without conns (%d channels)",
                             ctx->nchannels);
    size_t n = (size_t)ctx->nchannels * (size_t)ctx->nranks;
    tcp_of(ctx)->standby = malloc(n * sizeof(int));
    if (!tcp_of(ctx)->standby)
        return halo_tp_error(ctx, haloSystemError, "out of memory for the tcp standby table");
    for (size_t i = 0; i < n; i++)
        tcp_of(ctx)->standby[i] = -1;
    for (int p = 0; p < ctx->rank; p++) {
        for (int ch = 0; ch < ctx->nchannels; ch++) {
            if (!halo_tp_carries(ctx, p, ch, HALO_TR_TCP))
                continue;
            haloResult_t res = tcp_connect_one(ctx, p, ch, deadline);
            if (res != haloSuccess)
                return res;
        }
    }
    haloResult_t res = tcp_accept_all(ctx, deadline);
    /* Every connection is made: the port is free again and listens to nobody. */
    close(tcp_of(ctx)->listen_fd);
    tcp_of(ctx)->listen_fd = -1;
    if (res == haloSuccess)
        res = tcp_standby_attach(ctx);
    tcp_standby_drop(ctx);
    return res;
}

/* ---- setup table row ---- */

/* tcp carries whatever the transports before it did not: any peer, unless
 * HALO_TRANSPORT names another transport. */
static haloResult_t tcp_can_connect(struct halo_tp_ctx *ctx, int peer, int local, const void *my_blob,
                                    const void *peer_blob, const struct halo_tp_link *link, int *yes)
{
    (void)peer, (void)local, (void)my_blob, (void)peer_blob, (void)link;
    *yes = halo_tp_may_carry(ctx, HALO_TR_TCP);
    return haloSuccess;
}

static int tcp_peer_addr(const void *peer_blob, struct halo_sockaddr *out)
{
    *out = ((const struct halo_tcp_peer_info *)peer_blob)->listen;
    return 0;
}

_Static_assert(sizeof(struct halo_tcp_peer_info) <= HALO_TP_BLOB_BYTES, "tcp blob fits its slot");

const struct halo_tp_setup halo_tcp_setup = {
    .name = "tcp",
    .kind = HALO_TR_TCP,
    .priority = 30,
    .connect_order = 10,
    .caps = HALO_TP_CAP_LOCAL | HALO_TP_CAP_REMOTE,
    .info_size = sizeof(struct halo_tcp_peer_info),
    .listen = tcp_listen,
    .can_connect = tcp_can_connect,
    .connect_all = tcp_connect_all,
    .destroy = tcp_destroy,
    .peer_addr = tcp_peer_addr,
};
