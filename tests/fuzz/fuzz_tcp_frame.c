/* SPDX-License-Identifier: MIT */
/*
 * fuzz_tcp_frame.c — the tcp transport's receive side (src/transport/tcp_conn.c):
 * frame headers and payloads as a peer sends them, through a real loopback TCP
 * connection wrapped by tcp_conn_create, read with the transport's own recv_peek /
 * recv_release / progress.
 *
 * Input: byte 0 = slot size (1, 64, 1000 or 20000 bytes: the last takes the
 * large-payload path that reads straight into the slot), byte 1 = slots (1..4),
 * then the peer's bytes.
 * Invariant, against a reference reading of the same bytes: the frames delivered
 * are exactly the well-formed frames at the head of the stream (magic, kind DATA,
 * len <= slot size), in order, with their payload and signature; a stream of only
 * well-formed, complete frames delivers every one of them before the end-of-stream
 * error; the connection always ends failed (the peer went away) with a sentence.
 */
#include "fuzz_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>

#include "error.h"
#include "tcp.h"

#define MAGIC 0x50435448u

static int listen_fd = -1;
static struct sockaddr_in listen_addr;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    socklen_t len = sizeof(listen_addr);
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&listen_addr, 0, sizeof(listen_addr));
    listen_addr.sin_family = AF_INET;
    listen_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&listen_addr, sizeof(listen_addr)) != 0 ||
        listen(listen_fd, 16) != 0 || getsockname(listen_fd, (struct sockaddr *)&listen_addr, &len) != 0) {
        perror("fuzz_tcp_frame: loopback listener");
        abort();
    }
    return 0;
}

/* A fresh loopback connection: cl the peer's end, sv ours. libFuzzer's timeout
 * alarm (SIGALRM) interrupts a blocking connect, which then completes in the
 * background and leaves a stray connection in the accept queue: the next input
 * would read this one's bytes. Signals are held off for the handshake, and an
 * accepted socket whose peer is not cl is closed. A connect can also fail for a
 * moment after hundreds of thousands of runs (an ephemeral port still held by an
 * earlier connection): try again, briefly. */
static void fuzz_loopback_pair(int *cl_out, int *sv_out)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int cl = -1;
    for (int tries = 0; tries < 200 && cl < 0; tries++) {
        cl = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (cl >= 0 && connect(cl, (struct sockaddr *)&listen_addr, sizeof(listen_addr)) != 0) {
            close(cl);
            cl = -1;
            usleep(1000);
        }
    }
    FUZZ_CHECK(cl >= 0);
    struct sockaddr_in mine, peer;
    socklen_t len = sizeof(mine);
    FUZZ_CHECK(getsockname(cl, (struct sockaddr *)&mine, &len) == 0);
    int sv;
    for (;;) {
        sv = accept4(listen_fd, (struct sockaddr *)&peer, &(socklen_t){sizeof(peer)}, SOCK_CLOEXEC);
        FUZZ_CHECK(sv >= 0);
        if (peer.sin_port == mine.sin_port)
            break;
        close(sv); /* a stray from an interrupted connect */
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    *cl_out = cl;
    *sv_out = sv;
}

struct ref_frame {
    size_t off, len; /* payload within the stream */
};

/* The reference reading: complete well-formed frames at the head of the stream.
 * *clean = 1 when the stream holds nothing else but possibly an unfinished frame
 * at its end (a partial header, or a good header with part of its payload): then
 * nothing is malformed and every complete frame must be delivered. */
static size_t ref_parse(const uint8_t *s, size_t n, size_t slot, struct ref_frame *out, size_t max, int *clean)
{
    size_t pos = 0, k = 0;
    *clean = 0;
    while (k < max) {
        if (pos == n) {
            *clean = 1;
            break;
        }
        if (n - pos < 64) {
            *clean = 1;
            break;
        }
        uint32_t magic, kind;
        uint64_t len;
        memcpy(&magic, s + pos, 4);
        memcpy(&kind, s + pos + 4, 4);
        memcpy(&len, s + pos + 8, 8);
        if (magic != MAGIC || kind != 1 || len > slot)
            break;
        if (len > n - pos - 64) {
            *clean = 1;
            break;
        }
        out[k].off = pos + 64;
        out[k].len = (size_t)len;
        k++;
        pos += 64 + (size_t)len;
    }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t slots[] = {1, 64, 1000, 20000};
    static struct ref_frame ref[4096];
    if (size < 2 || size > (1u << 20))
        return 0;
    size_t slot = slots[data[0] & 3];
    int nslots = 1 + data[1] % 4;
    const uint8_t *s = data + 2;
    size_t n = size - 2;
    int clean;
    size_t nref = ref_parse(s, n, slot, ref, sizeof(ref) / sizeof(ref[0]), &clean);

    int cl, sv;
    fuzz_loopback_pair(&cl, &sv);
    struct halo_conn *c = NULL;
    FUZZ_CHECK(tcp_conn_create(NULL, sv, 1, 0, slot, nslots, &c) == haloSuccess);

    size_t off = 0, got = 0;
    int fed = 0, idle = 0;
    haloResult_t r = haloSuccess;
    while (idle < 200) {
        if (!fed)
            fed = fuzz_feed(cl, s, n, &off);
        const void *buf = NULL;
        size_t len = 0;
        struct halo_sig sig;
        r = c->ops->recv_peek(c, &buf, &len, &sig);
        if (r != haloSuccess)
            break;
        if (buf) {
            idle = 0;
            FUZZ_CHECK(got < nref);
            FUZZ_CHECK(len == ref[got].len && len <= slot);
            FUZZ_CHECK(memcmp(buf, s + ref[got].off, len) == 0);
            FUZZ_CHECK(memcmp(&sig, s + ref[got].off - 48, sizeof(sig)) == 0);
            FUZZ_CHECK(c->ops->recv_release(c) == haloSuccess);
            got++;
            continue;
        }
        r = c->ops->progress(c);
        if (r != haloSuccess)
            break;
        struct pollfd p = {.fd = sv, .events = POLLIN};
        if (poll(&p, 1, 10) == 0)
            idle++;
    }
    FUZZ_CHECK(idle < 200);          /* the stream always ends in a failure */
    FUZZ_CHECK(r != haloSuccess);
    FUZZ_CHECK(halo_thread_last_error()[0] != '\0');
    FUZZ_CHECK(got <= nref);
    if (clean)
        FUZZ_CHECK(got == nref);
    /* A failed connection is closed without lingering. The client resets its end
     * first: a closed one would sit in TIME_WAIT, and tens of thousands of inputs
     * would use up the loopback's ephemeral ports. */
    struct linger reset = {.l_onoff = 1, .l_linger = 0};
    setsockopt(cl, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    close(cl);
    c->ops->close(c);
    return 0;
}
