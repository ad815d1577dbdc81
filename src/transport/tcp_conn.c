/* SPDX-License-Identifier: MIT */
/*
 * tcp_conn.c — the tcp transport's data path: one connected, non-blocking socket
 * per peer and channel carries frames both ways (tcp_setup.c makes the sockets).
 *
 * Frame on the wire: a 64-byte header (struct tcp_frame_hdr) followed by `len`
 * payload bytes, len <= slot_size. The header is in host byte order: all ranks of
 * a job run the same build (a byte-swapped peer fails the magic check).
 *
 * Send: nslots staging slots in one allocation, used as a FIFO. Each slot's
 * payload starts on a page and its header sits in the 64 bytes before it, so a
 * frame is one contiguous buffer: send_post writes it at once with one send()
 * (measured here: sendmsg costs ~0.5 us more CPU than send for a small frame), or
 * with one sendmsg when earlier frames are still queued. What the kernel does not
 * take now is written by later calls. A slot is free again when all its bytes
 * are in the kernel.
 *
 * Receive: nslots receive slots, each holding one complete frame until
 * recv_release. Small frames arrive with one recv() into a 64 KiB linear buffer
 * and are copied out into slots (one syscall for one or many small frames); the
 * rest of a large payload is read straight into its slot, and after a large frame
 * the next header is read alone, so large payloads are not copied in user space.
 * The socket is read only as far as there is room: a receiver that holds its
 * slots stops the sender through TCP flow control.
 *
 * Errors are recorded once with halo_error and leave the connection failed: every
 * later call returns the same result without recording again.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "crc32c.h"
#include "hot.h"
#include "log.h"
#include "tcp_int.h"

/* ---- errors ---- */

/* "peer 2 (hostB 10.0.0.2:4711)" */
void tcp_peer_name(const struct tcp_conn *c, char *buf, size_t len)
{
    const struct halo_tp_ctx *ctx = c->base.ctx;
    char addr[80];

    if (!ctx || !ctx->peers || !ctx->peers[c->base.peer].blob[HALO_TR_TCP]) {
        snprintf(buf, len, "peer %d", c->base.peer);
        return;
    }
    const struct halo_tp_peer *pi = &ctx->peers[c->base.peer];
    const struct halo_tcp_peer_info *ti = pi->blob[HALO_TR_TCP];
    const struct halo_tp_rail *rail =
        c->rail >= 0 && c->rail < pi->nrails ? &pi->rails[c->rail] : halo_tp_route(ctx, c->base.peer, c->base.channel);
    if (rail->has_link) { /* name the cable: with rails, which one failed matters */
        char src[80];
        snprintf(buf, len, "peer %d (%.64s) on %s%s %s -> %s %s", c->base.peer, pi->hostname[0] ? pi->hostname : "?",
                 pi->nrails > 1 ? "rail " : "link ", rail->data_ifname, halo_sockaddr_str(&rail->data_src, src, sizeof(src)),
                 rail->peer_ifname, halo_sockaddr_str(&rail->data_addr, addr, sizeof(addr)));
        return;
    }
    snprintf(buf, len, "peer %d (%.64s %s)", c->base.peer, pi->hostname[0] ? pi->hostname : "?",
             halo_sockaddr_str(&ti->listen, addr, sizeof(addr)));
}

/* Records the first failure of the connection; later failures return it unrecorded. */
haloResult_t tcp_fail(struct tcp_conn *c, haloResult_t res, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (c->failed)
        return c->failed;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->failed = res;
    return halo_tp_error(c->base.ctx, res, "%s", msg);
}

/* err 0 means end of stream. */
haloResult_t tcp_fail_io(struct tcp_conn *c, int err, const char *op)
{
    char peer[192];

    tcp_peer_name(c, peer, sizeof(peer));
    if (err == 0)
        return tcp_fail(c, haloRemoteError,
                        "%s closed its tcp connection on channel %d: did it crash or abort? see its log", peer,
                        c->base.channel);
    if (err == ECONNRESET || err == EPIPE)
        return tcp_fail(c, haloRemoteError,
                        "%s reset its tcp connection on channel %d (%s: %s): did it crash or abort? see its log",
                        peer, c->base.channel, op, strerror(err));
    return tcp_fail(c, haloSystemError, "tcp %s on channel %d with %s failed: %s", op, c->base.channel, peer,
                    strerror(err));
}

static haloResult_t tcp_fail_frame(struct tcp_conn *c, const char *what)
{
    char peer[192];

    tcp_peer_name(c, peer, sizeof(peer));
    return tcp_fail(c, haloSystemError, "malformed frame from %s on tcp channel %d: %s", peer, c->base.channel,
                    what);
}

/* ---- checksums (HALO_CHECKSUM) ---- */

/* CRC32C of the header as sent (its crc field zero) and the payload after it. */
static uint32_t tcp_frame_crc(const struct tcp_frame_hdr *h, const uint8_t *payload)
{
    struct tcp_frame_hdr z = *h;
    z.crc = 0;
    return halo_crc32c(halo_crc32c(0, &z, sizeof(z)), payload, h->len);
}

/* Verifies the head frame once: a mismatch means the bytes changed on the way. */
static haloResult_t tcp_rx_verify(struct tcp_conn *c)
{
    struct tcp_rx_meta *m = &c->rx.meta[c->rx.head];
    if (!c->checksum || m->checked)
        return haloSuccess;
    struct tcp_frame_hdr h = {.magic = TCP_FRAME_MAGIC, .kind = HALO_FRAME_DATA, .len = m->len, .sig = m->sig};
    uint32_t got = tcp_frame_crc(&h, tcp_rx_slot(c, c->rx.head));
    if (got != m->crc) {
        char peer[192];
        tcp_peer_name(c, peer, sizeof(peer));
        return tcp_fail(c, haloSystemError,
                        "a %zu-byte frame from %s on tcp channel %d failed its checksum (CRC32C 0x%08x, computed "
                        "0x%08x): the bytes changed on the way; check or replace that cable or NIC (HALO_CHECKSUM=1)",
                        m->len, peer, c->base.channel, m->crc, got);
    }
    m->checked = 1;
    return haloSuccess;
}

/* ---- send ---- */

/* One iovec per queued frame (header and payload are contiguous), the first
 * starting `off` bytes into the head frame. */
static int tcp_tx_gather(const struct tcp_conn *c, struct iovec *iov, size_t *total)
{
    const struct tcp_tx *tx = &c->tx;
    int n = 0;

    *total = 0;
    for (; n < tx->nqueued && n < TCP_MAX_IOV; n++) {
        struct tcp_frame_hdr *h = tcp_tx_hdr(c, tcp_idx(c, tx->head + n));
        size_t skip = n == 0 ? tx->off : 0;
        iov[n].iov_base = (uint8_t *)h + skip;
        iov[n].iov_len = sizeof(*h) + h->len - skip;
        *total += iov[n].iov_len;
    }
    return n;
}

/* Retires frames the kernel took completely, freeing their slots. */
static void tcp_tx_advance(struct tcp_conn *c, size_t sent)
{
    struct tcp_tx *tx = &c->tx;

    while (sent > 0) {
        size_t left = sizeof(struct tcp_frame_hdr) + tcp_tx_hdr(c, tx->head)->len - tx->off;
        if (sent < left) {
            tx->off += sent;
            return;
        }
        sent -= left;
        tx->off = 0;
        tx->head = tcp_idx(c, tx->head + 1);
        tx->nqueued--;
    }
}

/* Writes queued frames until the kernel's buffer is full or nothing is left. */
static HALO_HOT haloResult_t tcp_tx_flush(struct tcp_conn *c)
{
    if (c->fo.state == TCP_FO_RESUMING)
        return haloSuccess; /* nothing goes out until the peer says where to resume */
    while (c->tx.nqueued > 0) {
        struct iovec iov[TCP_MAX_IOV];
        struct msghdr msg = {.msg_iov = iov};
        size_t total;
        ssize_t n;

        msg.msg_iovlen = (size_t)tcp_tx_gather(c, iov, &total);
        if (msg.msg_iovlen == 1)
            n = send(c->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        else
            n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return haloSuccess;
            return tcp_fo_io_failed(c, errno, "send");
        }
        tcp_tx_advance(c, (size_t)n);
        if ((size_t)n < total) /* the kernel took what fits; the next try would be EAGAIN */
            return haloSuccess;
    }
    return haloSuccess;
}

static HALO_HOT haloResult_t tcp_send_slot(struct halo_conn *hc, void **buf, size_t *cap)
{
    struct tcp_conn *c = (struct tcp_conn *)hc;

    if (c->failed)
        return c->failed;
    if (c->tx.nqueued + tcp_held(c) == c->nslots) {
        /* All slots queued or kept for a resend: one write attempt (and a look for
         * acknowledgements), so a caller spinning here frees some. */
        haloResult_t res = tcp_tx_flush(c);
        if (res == haloSuccess && c->fo.state != TCP_FO_NONE)
            res = tcp_fo_poll(c, 1);
        if (res != haloSuccess)
            return res;
        if (c->tx.nqueued + tcp_held(c) == c->nslots) {
            *buf = NULL;
            *cap = 0;
            return haloSuccess;
        }
    }
    *buf = tcp_tx_payload(c, tcp_idx(c, c->tx.head + c->tx.nqueued));
    *cap = c->base.slot_size;
    return haloSuccess;
}

static HALO_HOT haloResult_t tcp_send_post(struct halo_conn *hc, size_t len, const struct halo_sig *sig)
{
    struct tcp_conn *c = (struct tcp_conn *)hc;

    if (c->failed)
        return c->failed;
    if (c->tx.nqueued + tcp_held(c) == c->nslots)
        return halo_tp_error(hc->ctx, haloInternalError,
                             "tcp send_post to peer %d on channel %d without a free slot (send_slot gave NULL)",
                             hc->peer, hc->channel);
    if (len > hc->slot_size)
        return halo_tp_error(hc->ctx, haloInternalError,
                             "tcp send_post of %zu bytes to peer %d on channel %d exceeds the slot size %zu", len,
                             hc->peer, hc->channel, hc->slot_size);
    struct tcp_frame_hdr *h = tcp_tx_hdr(c, tcp_idx(c, c->tx.head + c->tx.nqueued));
    *h = (struct tcp_frame_hdr){.magic = TCP_FRAME_MAGIC, .kind = HALO_FRAME_DATA, .len = len};
    if (sig)
        h->sig = *sig;
    if (c->checksum)
        h->crc = tcp_frame_crc(h, (const uint8_t *)(h + 1));
    c->tx.nqueued++;
    c->tx.posted++;
    return tcp_tx_flush(c);
}

/* ---- receive ---- */

static void tcp_rx_finish(struct tcp_conn *c)
{
    c->rx.filling = 0;
    c->rx.nready++;
    c->rx.frames++;
}

void tcp_rx_drop_partial(struct tcp_conn *c)
{
    c->rx.filling = 0;
    c->rx.got = 0;
    c->rx.hdr_alone = 0;
    c->rx.pos = c->rx.end = 0;
    c->eof = 0;
}

/* Validates the header of the next frame and claims the next free slot for it. */
static haloResult_t tcp_rx_begin(struct tcp_conn *c, const struct tcp_frame_hdr *h)
{
    struct tcp_rx *rx = &c->rx;
    char what[256];

    if (h->magic != TCP_FRAME_MAGIC) {
        snprintf(what, sizeof(what), "bad magic 0x%08x (expected 0x%08x): not a haloccl peer, or bytes were lost",
                 h->magic, TCP_FRAME_MAGIC);
        return tcp_fail_frame(c, what);
    }
    if (h->kind != HALO_FRAME_DATA) {
        snprintf(what, sizeof(what), "unknown frame kind %u", h->kind);
        return tcp_fail_frame(c, what);
    }
    if (h->len > c->base.slot_size) {
        snprintf(what, sizeof(what),
                 "payload of %llu bytes exceeds the slot size %zu (do all ranks use the same HALO_CHUNK_SIZE?)",
                 (unsigned long long)h->len, c->base.slot_size);
        return tcp_fail_frame(c, what);
    }
    struct tcp_rx_meta *m = &rx->meta[tcp_idx(c, rx->head + rx->nready)];
    m->len = h->len;
    m->sig = h->sig;
    m->crc = h->crc;
    m->checked = 0;
    rx->filling = 1;
    rx->got = 0;
    rx->hdr_alone = h->len >= TCP_DIRECT_MIN;
    if (h->len == 0)
        tcp_rx_finish(c);
    return haloSuccess;
}

/* Moves headers and payload bytes out of the linear buffer into free slots. */
static HALO_HOT haloResult_t tcp_rx_parse(struct tcp_conn *c)
{
    struct tcp_rx *rx = &c->rx;

    for (;;) {
        if (!rx->filling) {
            struct tcp_frame_hdr h;
            if (rx->end - rx->pos < sizeof(h) || rx->nready == c->nslots)
                return haloSuccess;
            memcpy(&h, rx->buf + rx->pos, sizeof(h)); /* buf + pos may be unaligned */
            rx->pos += sizeof(h);
            haloResult_t res = tcp_rx_begin(c, &h);
            if (res != haloSuccess)
                return res;
            if (!rx->filling)
                continue; /* empty frame */
        }
        int s = tcp_idx(c, rx->head + rx->nready);
        size_t want = rx->meta[s].len - rx->got, have = rx->end - rx->pos;
        size_t n = want < have ? want : have;
        memcpy(tcp_rx_slot(c, s) + rx->got, rx->buf + rx->pos, n);
        rx->got += n;
        rx->pos += n;
        if (n < want)
            return haloSuccess; /* buffer drained mid-payload */
        tcp_rx_finish(c);
    }
}

/* Chooses where the next recv() goes: the rest of a large payload straight into its
 * slot; else the linear buffer (only a header's worth after a large frame). Returns
 * the byte count, 0 when there is no room. */
static size_t tcp_rx_target(struct tcp_conn *c, uint8_t **dst, int *direct)
{
    struct tcp_rx *rx = &c->rx;
    size_t have = rx->end - rx->pos;

    *direct = 0;
    if (rx->filling && have == 0) {
        int s = tcp_idx(c, rx->head + rx->nready);
        size_t left = rx->meta[s].len - rx->got;
        if (left >= TCP_DIRECT_MIN) {
            *direct = 1;
            *dst = tcp_rx_slot(c, s) + rx->got;
            return left;
        }
    }
    if (rx->pos > 0) { /* compact: usually a partial header, or nothing */
        memmove(rx->buf, rx->buf + rx->pos, have);
        rx->pos = 0;
        rx->end = have;
    }
    *dst = rx->buf + rx->end;
    if (rx->hdr_alone && !rx->filling)
        return have < sizeof(struct tcp_frame_hdr) ? sizeof(struct tcp_frame_hdr) - have : 0;
    return TCP_RBUF_BYTES - rx->end;
}

/* One recv(). *more is set when it filled all it asked for, so more may be waiting;
 * a short read means the socket is drained and saves the EAGAIN syscall. */
static haloResult_t tcp_rx_read(struct tcp_conn *c, int *more)
{
    uint8_t *dst;
    int direct;
    size_t want = tcp_rx_target(c, &dst, &direct);

    *more = 0;
    if (want == 0 || c->eof || c->fo.state == TCP_FO_RESUMING)
        return haloSuccess;
    ssize_t n = recv(c->fd, dst, want, MSG_DONTWAIT);
    if (n == 0) { /* a failure only for a caller that waits for more (tcp_recv_peek) */
        c->eof = 1;
        return haloSuccess;
    }
    if (n < 0) {
        if (errno == EINTR) {
            *more = 1;
            return haloSuccess;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return haloSuccess;
        return tcp_fo_io_failed(c, errno, "recv");
    }
    if (!direct) {
        c->rx.end += (size_t)n;
    } else {
        c->rx.got += (size_t)n;
        if ((size_t)n == want)
            tcp_rx_finish(c);
    }
    *more = (size_t)n == want;
    return haloSuccess;
}

/* Reads and parses until the socket is drained or there is no room; with
 * until_ready, stops as soon as a frame is complete. */
static HALO_HOT haloResult_t tcp_rx_pump_data(struct tcp_conn *c, int until_ready)
{
    int more = 1;

    while (more) {
        haloResult_t res = tcp_rx_parse(c);
        if (res == haloSuccess && !(until_ready && c->rx.nready))
            res = tcp_rx_read(c, &more);
        if (res != haloSuccess)
            return res;
        if (until_ready && c->rx.nready)
            return haloSuccess;
    }
    return tcp_rx_parse(c);
}

/* With a standby: its control frames first (a resume changes where data comes
 * from), the data, then an acknowledgement if one is due. */
static HALO_HOT haloResult_t tcp_rx_pump(struct tcp_conn *c, int until_ready)
{
    if (c->fo.state == TCP_FO_NONE)
        return tcp_rx_pump_data(c, until_ready);
    haloResult_t res = tcp_fo_poll(c, 0);
    if (res == haloSuccess)
        res = tcp_rx_pump_data(c, until_ready);
    if (res == haloSuccess && c->fo.state == TCP_FO_ARMED)
        res = tcp_fo_ack(c);
    return res;
}

static HALO_HOT haloResult_t tcp_recv_peek(struct halo_conn *hc, const void **buf, size_t *len, struct halo_sig *sig)
{
    struct tcp_conn *c = (struct tcp_conn *)hc;
    struct tcp_rx *rx = &c->rx;

    if (c->failed)
        return c->failed;
    if (!rx->nready) {
        /* One cheap attempt, so a caller spinning here makes progress: finish our
         * own pending sends (the peer may be waiting for them), then read. */
        haloResult_t res = c->tx.nqueued ? tcp_tx_flush(c) : haloSuccess;
        if (res == haloSuccess)
            res = tcp_rx_pump(c, 1);
        if (res != haloSuccess)
            return res;
        if (!rx->nready && c->eof) /* the peer died, or left this socket for the standby */
            res = tcp_fo_io_failed(c, 0, "recv");
        if (res != haloSuccess)
            return res;
        if (!rx->nready) {
            *buf = NULL;
            return haloSuccess;
        }
    }
    haloResult_t res = tcp_rx_verify(c);
    if (res != haloSuccess)
        return res;
    *buf = tcp_rx_slot(c, rx->head);
    *len = rx->meta[rx->head].len;
    if (sig)
        *sig = rx->meta[rx->head].sig;
    return haloSuccess;
}

static HALO_HOT haloResult_t tcp_recv_release(struct halo_conn *hc)
{
    struct tcp_conn *c = (struct tcp_conn *)hc;

    if (c->failed)
        return c->failed;
    if (!c->rx.nready)
        return halo_tp_error(hc->ctx, haloInternalError,
                             "tcp recv_release from peer %d on channel %d without a received frame", hc->peer,
                             hc->channel);
    c->rx.head = tcp_idx(c, c->rx.head + 1);
    c->rx.nready--;
    return haloSuccess;
}

static haloResult_t tcp_progress(struct halo_conn *hc)
{
    struct tcp_conn *c = (struct tcp_conn *)hc;
    haloResult_t res;

    if (c->failed)
        return c->failed;
    res = tcp_tx_flush(c);
    if (res != haloSuccess)
        return res;
    return tcp_rx_pump(c, 0);
}

/* ---- lifetime ---- */

static HALO_HOT haloResult_t tcp_flush(struct halo_conn *hc, int *pending)
{
    struct tcp_conn *c = (struct tcp_conn *)hc;
    haloResult_t res = c->failed ? c->failed : tcp_tx_flush(c);
    *pending = c->tx.nqueued > 0;
    return res;
}

/* A clean end of the stream for a peer that may still be reading: frames still
 * queued here go out (bounded), then FIN, and bytes the peer sent that nobody will
 * read are discarded. Closing with unread bytes makes the kernel send a reset,
 * which throws away what this end had queued for the peer: a rank that finished
 * first would cut off a slower one. A failed communicator (an abort among them)
 * skips it: nobody waits for these frames, and an abort must not wait on a peer. */
static void tcp_conn_linger(struct tcp_conn *c)
{
    int64_t until = halo_now_us() + 2000000;
    while (c->tx.nqueued > 0 && tcp_tx_flush(c) == haloSuccess && halo_now_us() < until)
        usleep(100);
    shutdown(c->fd, SHUT_WR);
    char sink[4096];
    while (recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
        ;
}

static void tcp_conn_close(struct halo_conn *hc)
{
    struct tcp_conn *c = (struct tcp_conn *)hc;

    if (!c)
        return;
    int job_failed = c->base.ctx && c->base.ctx->failed && atomic_load(c->base.ctx->failed);
    if (c->fd >= 0 && !c->failed && !job_failed)
        tcp_conn_linger(c);
    if (c->fd >= 0)
        close(c->fd);
    tcp_fo_close(c);
    free(c->rx.buf);
    free(c->rx.meta);
    free(c->rx.slots);
    free(c->tx.mem);
    free(c);
}

/* Until the socket (and a standby, which carries acks) has bytes for us, or room
 * for the frames queued here; the direction does not matter: a free slot comes
 * from a write or an ack, a frame from a read. */
static void tcp_sleep(struct halo_conn *hc, int sending, int timeout_us)
{
    struct tcp_conn *c = (struct tcp_conn *)hc;
    (void)sending;
    struct pollfd p[2];
    int n = 0, data = c->fo.resumed ? c->fo.fd : c->fd;
    if (c->failed || data < 0)
        return;
    p[n++] = (struct pollfd){.fd = data, .events = (short)(POLLIN | (c->tx.nqueued > 0 ? POLLOUT : 0))};
    if (!c->fo.resumed && c->fo.fd >= 0)
        p[n++] = (struct pollfd){.fd = c->fo.fd, .events = POLLIN};
    (void)poll(p, (nfds_t)n, timeout_us < 1000 ? 1 : timeout_us / 1000);
}

const struct halo_transport_ops halo_tcp_ops = {
    .name = "tcp",
    .send_slot = tcp_send_slot,
    .send_post = tcp_send_post,
    .recv_peek = tcp_recv_peek,
    .recv_release = tcp_recv_release,
    .progress = tcp_progress,
    .flush = tcp_flush,
    .close = tcp_conn_close,
    .sleep = tcp_sleep,
};

/* Non-blocking, no Nagle. Socket buffer sizes are left alone on purpose: setting
 * SO_SNDBUF/SO_RCVBUF turns off the kernel's autotuning (Gloo's 40 ms stalls). */
int tcp_socket_prepare(int fd)
{
    int one = 1, flags = fcntl(fd, F_GETFL);

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
        return -1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static size_t tcp_page_up(size_t n)
{
    return (n + TCP_PAGE - 1) / TCP_PAGE * TCP_PAGE;
}

static int tcp_conn_alloc(struct tcp_conn *c)
{
    size_t n = (size_t)c->nslots;
    void *tx = NULL, *rx = NULL;

    c->tx.stride = tcp_page_up(c->base.slot_size + sizeof(struct tcp_frame_hdr));
    c->rx.stride = tcp_page_up(c->base.slot_size);
    if (posix_memalign(&tx, TCP_PAGE, TCP_PAGE + n * c->tx.stride) != 0)
        return -1;
    c->tx.mem = tx;
    if (posix_memalign(&rx, TCP_PAGE, n * c->rx.stride) != 0)
        return -1;
    c->rx.slots = rx;
    c->rx.meta = calloc(n, sizeof(*c->rx.meta));
    c->rx.buf = malloc(TCP_RBUF_BYTES);
    return c->rx.meta && c->rx.buf ? 0 : -1;
}

/* On success the connection owns fd; on failure fd stays open and the caller's. */
haloResult_t tcp_conn_create(struct halo_tp_ctx *ctx, int fd, int peer, int channel, size_t slot_size,
                             int nslots, struct halo_conn **out)
{
    if (fd < 0 || nslots < 1 || slot_size < 1 || slot_size > SIZE_MAX / 4 / (size_t)nslots)
        return halo_tp_error(ctx, haloInternalError,
                             "tcp_conn_create: bad arguments (fd %d, %d slots of %zu bytes) for peer %d channel %d",
                             fd, nslots, slot_size, peer, channel);
    struct tcp_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return halo_tp_error(ctx, haloSystemError, "out of memory for a tcp connection to peer %d", peer);
    c->base = (struct halo_conn){
        .ops = &halo_tcp_ops, .ctx = ctx, .peer = peer, .channel = channel, .slot_size = slot_size};
    c->fd = -1;
    c->rail = -1;
    c->fo.fd = -1;
    c->nslots = nslots;
    c->checksum = ctx ? ctx->checksum : 0;
    if (tcp_socket_prepare(fd) != 0) {
        int err = errno;
        tcp_conn_close(&c->base);
        return halo_tp_error(ctx, haloSystemError, "cannot set up the tcp socket to peer %d on channel %d: %s",
                             peer, channel, strerror(err));
    }
    if (tcp_conn_alloc(c) != 0) {
        tcp_conn_close(&c->base);
        return halo_tp_error(ctx, haloSystemError,
                             "out of memory for tcp buffers to peer %d on channel %d (2 x %d slots of %zu bytes; "
                             "lower HALO_CHUNK_SIZE or HALO_BUFFSIZE)",
                             peer, channel, nslots, slot_size);
    }
    c->fd = fd;
    *out = &c->base;
    return haloSuccess;
}
