/* SPDX-License-Identifier: MIT */
/*
 * tcp_failover.c — rail failover for tcp connections (HALO_RAIL_FAILOVER=1).
 *
 * A connection to a peer that several tcp rails reach gets a standby socket on a
 * second rail at setup (tcp_setup.c). While ARMED:
 *   - the data socket carries frames as usual;
 *   - each side tells the other, on the standby, how many frames it has received
 *     whole (TCP_CTL_ACK, every ack_every frames): acknowledgements never queue
 *     behind data a busy receiver has not read;
 *   - a sent frame keeps its slot until acknowledged (tcp_held), so it can be sent
 *     again: a sender has at most nslots frames unacknowledged.
 * Both sockets count as failed when the peer's kernel stops answering for
 * detect_ms (TCP_USER_TIMEOUT, and keepalive for an idle socket). When the data
 * socket fails with such an error, this side closes it, drops a frame half
 * received, sends TCP_CTL_RESUME {frames received whole} on the standby and waits
 * (RESUMING). The peer, reading the standby, finds the resume, does the same and
 * answers with its own. Each then rewinds its send FIFO to the first frame the
 * other lacks, and the standby becomes a plain data socket (NONE): at most one
 * failover per connection. The engine above sees a pause, not an error.
 *
 * An end of stream or reset on the data socket means the peer died, unless the
 * peer closed it after sending a resume: the standby tells which within a short
 * grace. A failed standby (the other cable) only turns failover off, with a WARN.
 * tcp rails only: a channel on an ib rail has no standby.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "tcp_int.h"

#define TCP_FO_GRACE_US 500000 /* an end of stream waits this long for a resume */

/* Errors that say the cable, or the route over it, failed rather than the peer. */
static int tcp_fo_cable_error(int err)
{
    return err == ETIMEDOUT || err == EHOSTUNREACH || err == ENETUNREACH || err == ENETDOWN || err == EHOSTDOWN;
}

/* "rail to_h1b -> h1:to_h0b" */
static void tcp_fo_rail_name(const struct tcp_conn *c, int rail, char *buf, size_t len)
{
    const struct halo_tp_ctx *ctx = c->base.ctx;
    if (!ctx || !ctx->peers || rail < 0 || rail >= ctx->peers[c->base.peer].nrails) {
        snprintf(buf, len, "the standby");
        return;
    }
    const struct halo_tp_peer *pi = &ctx->peers[c->base.peer];
    snprintf(buf, len, "rail %s -> %.64s:%s", pi->rails[rail].data_ifname, pi->hostname[0] ? pi->hostname : "?",
             pi->rails[rail].peer_ifname);
}

/* Starts writing a control frame (the previous one is out). */
static void tcp_fo_ctl(struct tcp_conn *c, uint32_t kind, uint64_t count)
{
    c->fo.out = (struct tcp_frame_hdr){.magic = TCP_FRAME_MAGIC, .kind = kind, .len = count};
    c->fo.out_off = 0;
}

/* Writes what is left of the control frame: what the socket takes now, or all of
 * it by the deadline when deadline > 0. 0: all out, 1: some left, -1: errno. */
static int tcp_fo_out(struct tcp_conn *c, int64_t deadline)
{
    while (c->fo.out_off < sizeof(c->fo.out)) {
        ssize_t n = send(c->fo.fd, (uint8_t *)&c->fo.out + c->fo.out_off, sizeof(c->fo.out) - c->fo.out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->fo.out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int64_t left = deadline - halo_now_us();
            if (deadline <= 0)
                return 1;
            if (left <= 0) {
                errno = ETIMEDOUT;
                return -1;
            }
            struct pollfd p = {.fd = c->fo.fd, .events = POLLOUT};
            poll(&p, 1, (int)(left / 1000) + 1);
            continue;
        }
        return -1;
    }
    return 0;
}

/* The standby ended (err 0: end of stream) or failed: failover is off for this
 * connection, which goes on over its data socket. */
static haloResult_t tcp_fo_standby_gone(struct tcp_conn *c, int err, const char *op)
{
    char peer[192], rail[128];

    tcp_peer_name(c, peer, sizeof(peer));
    tcp_fo_rail_name(c, c->fo.rail, rail, sizeof(rail));
    if (c->fo.state == TCP_FO_RESUMING)
        return tcp_fail(c, haloRemoteError,
                        "%s failed on tcp channel %d (%s), and its standby on %s failed too (%s: %s): is the peer "
                        "alive, and are both cables up?",
                        peer, c->base.channel, c->fo.why, rail, op, err ? strerror(err) : "end of stream");
    if (tcp_fo_cable_error(err))
        HLOG_WARN(HALO_SUB_NET, halo_tp_rank(c->base.ctx),
                  "tcp channel %d to %s: its standby on %s failed (%s: %s): is that cable down? the channel carries "
                  "on without failover",
                  c->base.channel, peer, rail, op, strerror(err));
    else
        HLOG_INFO(HALO_SUB_NET, halo_tp_rank(c->base.ctx), "tcp channel %d to %s: its standby on %s ended (%s: %s)",
                  c->base.channel, peer, rail, op, err ? strerror(err) : "end of stream");
    close(c->fo.fd);
    c->fo.fd = -1;
    c->fo.state = TCP_FO_NONE;
    return haloSuccess;
}

static haloResult_t tcp_fo_bad_ctl(struct tcp_conn *c, const char *what)
{
    char peer[192];

    tcp_peer_name(c, peer, sizeof(peer));
    return tcp_fail(c, haloSystemError, "malformed control frame from %s on the standby of tcp channel %d: %s", peer,
                    c->base.channel, what);
}

/* Sends our resume (after a control frame half written) and waits until it is out. */
static int tcp_fo_send_resume(struct tcp_conn *c)
{
    int64_t deadline = halo_now_us() + (c->base.ctx ? c->base.ctx->timeout_us : 10000000);

    if (tcp_fo_out(c, deadline) != 0)
        return -1;
    tcp_fo_ctl(c, TCP_CTL_RESUME, c->rx.frames);
    return tcp_fo_out(c, deadline);
}

/* Leaves the data socket: it is closed, a frame half received is dropped. */
static void tcp_fo_leave_data(struct tcp_conn *c, const char *why)
{
    snprintf(c->fo.why, sizeof(c->fo.why), "%s", why);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    tcp_rx_drop_partial(c);
}

static void tcp_fo_warn(struct tcp_conn *c)
{
    char peer[192], rail[128];

    tcp_peer_name(c, peer, sizeof(peer));
    tcp_fo_rail_name(c, c->fo.rail, rail, sizeof(rail));
    HLOG_WARN(HALO_SUB_NET, halo_tp_rank(c->base.ctx),
              "%s failed on tcp channel %d (%s): that channel now runs on %s (HALO_RAIL_FAILOVER=1); is that cable "
              "down?",
              peer, c->base.channel, c->fo.why, rail);
}

/* The peer's resume: it has received peer_rx of our frames whole. */
static haloResult_t tcp_fo_resume(struct tcp_conn *c, uint64_t peer_rx)
{
    uint64_t whole = c->tx.posted - (uint64_t)c->tx.nqueued;

    if (peer_rx < c->fo.acked || peer_rx > whole) {
        char what[160];
        snprintf(what, sizeof(what), "a resume at frame %llu, outside the %llu..%llu this side can send again",
                 (unsigned long long)peer_rx, (unsigned long long)c->fo.acked, (unsigned long long)whole);
        return tcp_fo_bad_ctl(c, what);
    }
    if (c->fo.state == TCP_FO_ARMED) { /* the peer noticed first */
        tcp_fo_leave_data(c, "the peer found it failed");
        if (tcp_fo_send_resume(c) != 0)
            return tcp_fo_standby_gone(c, errno, "send");
        tcp_fo_warn(c);
    }
    int again = (int)(whole - peer_rx);
    c->tx.head = tcp_idx(c, c->tx.head + c->nslots - again);
    c->tx.nqueued += again;
    c->tx.off = 0;
    c->fd = c->fo.fd;
    c->rail = c->fo.rail;
    c->fo.fd = -1;
    c->fo.state = TCP_FO_NONE;
    c->fo.resumed = 1;
    HLOG_INFO(HALO_SUB_NET, halo_tp_rank(c->base.ctx), "tcp channel %d to peer %d resumed: %d frames sent again",
              c->base.channel, c->base.peer, again);
    return haloSuccess;
}

/* Reads the standby's control frames until it has no more or a resume switched the
 * connection over. *gone_err is set (>= 0) when the standby ended or failed. */
static haloResult_t tcp_fo_read(struct tcp_conn *c, int *gone_err)
{
    *gone_err = -1;
    while (c->fo.state != TCP_FO_NONE) {
        ssize_t n = recv(c->fo.fd, (uint8_t *)&c->fo.in + c->fo.in_got, sizeof(c->fo.in) - c->fo.in_got, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return haloSuccess;
        if (n <= 0) {
            *gone_err = n == 0 ? 0 : errno;
            return haloSuccess;
        }
        c->fo.in_got += (size_t)n;
        if (c->fo.in_got < sizeof(c->fo.in))
            continue;
        c->fo.in_got = 0;
        const struct tcp_frame_hdr *h = &c->fo.in;
        if (h->magic != TCP_FRAME_MAGIC)
            return tcp_fo_bad_ctl(c, "bad magic");
        if (h->kind == TCP_CTL_RESUME)
            return tcp_fo_resume(c, h->len);
        if (h->kind != TCP_CTL_ACK)
            return tcp_fo_bad_ctl(c, "unknown kind");
        if (h->len < c->fo.acked || h->len > c->tx.posted - (uint64_t)c->tx.nqueued)
            return tcp_fo_bad_ctl(c, "an acknowledgement of frames never sent, or going backwards");
        c->fo.acked = h->len;
    }
    return haloSuccess;
}

haloResult_t tcp_fo_ack(struct tcp_conn *c)
{
    if (c->fo.state != TCP_FO_ARMED)
        return haloSuccess;
    if (c->fo.out_off == sizeof(c->fo.out)) {
        if (c->rx.frames - c->fo.ack_sent < (uint64_t)c->fo.ack_every)
            return haloSuccess;
        c->fo.ack_sent = c->rx.frames;
        tcp_fo_ctl(c, TCP_CTL_ACK, c->rx.frames);
    }
    return tcp_fo_out(c, 0) < 0 ? tcp_fo_standby_gone(c, errno, "send") : haloSuccess;
}

haloResult_t tcp_fo_poll(struct tcp_conn *c, int urgent)
{
    int gone;

    if (c->fo.state == TCP_FO_NONE)
        return haloSuccess;
    if (c->fo.state == TCP_FO_ARMED && !urgent && (++c->fo.idle & 7u) != 0)
        return haloSuccess;
    haloResult_t res = tcp_fo_read(c, &gone);
    if (res == haloSuccess && gone >= 0)
        return tcp_fo_standby_gone(c, gone, "recv");
    return res == haloSuccess ? tcp_fo_ack(c) : res;
}

haloResult_t tcp_fo_io_failed(struct tcp_conn *c, int err, const char *op)
{
    char why[96];

    if (c->fo.state != TCP_FO_ARMED)
        return tcp_fail_io(c, err, op);
    if (tcp_fo_cable_error(err)) {
        snprintf(why, sizeof(why), "%s: %s", op, strerror(err));
        tcp_fo_leave_data(c, why);
        c->fo.state = TCP_FO_RESUMING;
        if (tcp_fo_send_resume(c) != 0)
            return tcp_fo_standby_gone(c, errno, "send");
        tcp_fo_warn(c);
        return haloSuccess;
    }
    /* End of stream or reset: the peer died, or it closed this socket after its
     * resume went out on the standby. */
    int64_t until = halo_now_us() + TCP_FO_GRACE_US;
    while (c->fo.state == TCP_FO_ARMED && halo_now_us() < until) {
        int gone;
        haloResult_t res = tcp_fo_read(c, &gone);
        if (res != haloSuccess)
            return res;
        if (gone >= 0)
            break;
        struct pollfd p = {.fd = c->fo.fd, .events = POLLIN};
        poll(&p, 1, 10);
    }
    if (c->fo.resumed)
        return haloSuccess;
    return tcp_fail_io(c, err, op);
}

/* detect_ms without an answer from the peer's kernel fails the socket: data not
 * acknowledged that long (TCP_USER_TIMEOUT, which also ends keepalive probing),
 * and keepalive probes from the first idle second so an idle socket notices. */
static int tcp_fo_timeouts(int fd, int detect_ms)
{
    int one = 1, ms = detect_ms, idle = 1, cnt = 3;
    unsigned user = (unsigned)ms;

    if (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user, sizeof(user)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof(idle)) != 0)
        return -1;
    return setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

haloResult_t tcp_conn_set_standby(struct halo_conn *conn, int fd, int rail, int detect_ms)
{
    struct tcp_conn *c = (struct tcp_conn *)conn;

    if (!c || fd < 0 || c->fo.state != TCP_FO_NONE || c->fd < 0 || detect_ms < 1)
        return halo_tp_error(conn ? conn->ctx : NULL, haloInternalError,
                             "tcp_conn_set_standby: bad arguments (fd %d, detect %d ms) or a standby already set", fd,
                             detect_ms);
    if (tcp_socket_prepare(fd) != 0 || tcp_fo_timeouts(fd, detect_ms) != 0 || tcp_fo_timeouts(c->fd, detect_ms) != 0)
        return halo_tp_error(conn->ctx, haloSystemError,
                             "cannot set up the standby tcp socket of channel %d to peer %d: %s", conn->channel,
                             conn->peer, strerror(errno));
    c->fo = (struct tcp_fo){.state = TCP_FO_ARMED,
                            .fd = fd,
                            .rail = rail,
                            .ack_every = c->nslots > 1 ? c->nslots / 2 : 1,
                            .acked = c->tx.posted - (uint64_t)c->tx.nqueued,
                            .ack_sent = c->rx.frames,
                            .out_off = sizeof(c->fo.out)};
    return haloSuccess;
}

haloResult_t tcp_conn_fail_rail(struct halo_conn *conn, int err)
{
    return tcp_fo_io_failed((struct tcp_conn *)conn, err, "test");
}

void tcp_fo_close(struct tcp_conn *c)
{
    if (c->fo.fd < 0)
        return;
    char sink[256];
    while (recv(c->fo.fd, sink, sizeof(sink), MSG_DONTWAIT) > 0) /* no reset for unread acks */
        ;
    close(c->fo.fd);
    c->fo.fd = -1;
}
