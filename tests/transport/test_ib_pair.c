/* SPDX-License-Identifier: MIT */
/*
 * test_ib_pair.c — the ib transport between two processes, without the rest of
 * the communicator: each process builds a transport context (tp_ctx.h), the two
 * exchange their struct halo_ib_peer_info over a plain TCP side channel (the
 * bootstrap's all-gather in the real library), and connect one channel over
 * rdma_cm. Needs an ACTIVE RDMA port: run it inside the Soft-RoCE VMs
 * (tests/rdma-vm/run.sh); without one it skips (77) saying why.
 *
 *   test_ib_pair --rank 0 --addr IP                    listener (lower rank)
 *   test_ib_pair --rank 1 --addr IP --peer IP0         connector (higher rank)
 * Options: --wildcard (listen on 0.0.0.0, every RDMA device; the connector then
 * aims at --peer, as the library aims at the topology's link address),
 * --channels N (connections between the ranks, default 1; the frame sizes go over
 * each, the big transfer over channel 0), --port P (side channel, default 47311),
 * --slot-size B, --nslots N,
 * --big MIB (each way, default 64), --bw BYTES --iters N (throughput of rank 1 ->
 * rank 0 in BYTES messages, copied in and out like a send/recv), --timeout S.
 * Fault mode: --die-after N makes this rank _exit() in the middle of the big
 * transfer, after N frames; a rank given --expect-death must then fail with
 * haloRemoteError or haloSystemError and a sentence within its timeout (never
 * hang). The rig also takes the link down under two such ranks.
 *
 * Checks, both directions at once:
 *  1. a connector with the wrong job secret is refused, with a sentence saying so;
 *  2. frames of 0, 1, 8, 4095 and slot_size bytes, each with its own signature and
 *     a pattern that depends on direction, frame and byte index;
 *  3. --big MiB in slot-sized frames, every byte checked;
 *  4. (with --bw) the throughput line "RESULT ib_pair_bw ...";
 *  5. the peer closes first: rank 0 posts a few frames and closes at once, rank 1
 *     releases them a second later and its flush must finish (rank 0's close
 *     waits for those credits; a credit write to a QP already gone is never
 *     acknowledged, and the flush of a collective's last step hung that way).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tp_ctx.h"
#include "ib.h"
#include "socket.h"
#include "test.h"

struct opts {
    int rank;
    const char *addr, *peer;
    int port;
    size_t slot_size;
    int nslots;
    size_t big_mib;
    size_t bw_bytes;
    int bw_iters;
    int timeout_s;
    long die_after;   /* -1: never */
    int expect_death;
    int wildcard;
    int channels;     /* connections (channels) between the two ranks */
};

static struct tp_test comm; /* a transport context: rank, nranks, timeout and the error text */
static int64_t big_start_us;

/* Every transport call goes through here: a failure ends the test, as a pass when
 * the peer was meant to die (--expect-death). */
static void step(const struct opts *o, haloResult_t r, const char *what)
{
    if (r == haloSuccess)
        return;
    if (o->expect_death && (r == haloRemoteError || r == haloSystemError)) {
        printf("PASS failure detected after %.2f s (%s): %s\n", (double)(halo_now_us() - big_start_us) / 1e6,
               r == haloRemoteError ? "haloRemoteError" : "haloSystemError", comm.last_error);
        exit(0);
    }
    TEST_FAIL("%s returned %d: %s", what, (int)r, comm.last_error);
}

static const uint8_t good_key[32] = "haloccl test_ib_pair secret 0001";
static const uint8_t bad_key[32] = "not the secret of this job 00000";

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Byte j of frame idx in direction dir (0: rank 0 -> 1, 1: rank 1 -> 0). */
static uint64_t pattern_word(int dir, uint64_t idx, uint64_t w)
{
    return mix(((uint64_t)dir << 62) ^ (idx << 36) ^ w);
}

static void pattern_fill(uint8_t *buf, size_t len, int dir, uint64_t idx)
{
    size_t w = 0;
    for (; (w + 1) * 8 <= len; w++) {
        uint64_t v = pattern_word(dir, idx, w);
        memcpy(buf + w * 8, &v, 8);
    }
    if (w * 8 < len) {
        uint64_t v = pattern_word(dir, idx, w);
        memcpy(buf + w * 8, &v, len - w * 8);
    }
}

static void pattern_check(const uint8_t *buf, size_t len, int dir, uint64_t idx)
{
    for (size_t off = 0; off < len; off += 8) {
        uint64_t v = pattern_word(dir, idx, off / 8);
        size_t n = len - off < 8 ? len - off : 8;
        if (memcmp(buf + off, &v, n) != 0) {
            for (size_t b = 0; b < n; b++)
                if (buf[off + b] != ((uint8_t *)&v)[b])
                    TEST_FAIL("frame %llu (direction %d): byte %zu of %zu is 0x%02x, expected 0x%02x",
                              (unsigned long long)idx, dir, off + b, len, buf[off + b], ((uint8_t *)&v)[b]);
        }
    }
}

static struct halo_sig make_sig(int dir, uint64_t idx, size_t len)
{
    struct halo_sig s;
    memset(&s, 0, sizeof(s));
    s.count = len;
    s.opseq = (uint32_t)idx;
    s.comm_tag = 0xc0ffee00u | (uint32_t)dir;
    s.root = dir;
    s.coll = 3;
    s.dtype = 7;
    s.op = 0xff;
    s.algo = 1;
    return s;
}

static int64_t deadline_of(const struct opts *o)
{
    return halo_now_us() + (int64_t)o->timeout_s * 1000000;
}

/* 5. Rank 0 posts nf frames on c and closes every connection; rank 1 takes them
 * only after rank 0's close would have returned had it not waited for the
 * credits, then flushes: pending must clear, as at the end of an operation. */
static void close_first(const struct opts *o, struct halo_conn **conns, struct halo_ib *ib)
{
    struct halo_conn *c = conns[1 - o->rank];
    uint64_t nf = o->nslots < 4 ? (uint64_t)o->nslots : 4; /* no credit needed to post them */
    int64_t deadline = deadline_of(o);
    for (uint64_t i = 0; i < nf; i++) {
        if (o->rank == 0) {
            void *buf;
            size_t cap;
            for (;;) {
                step(o, c->ops->send_slot(c, &buf, &cap), "send_slot");
                if (buf)
                    break;
                step(o, c->ops->progress(c), "progress");
                ASSERT_TRUE(halo_now_us() < deadline);
            }
            pattern_fill(buf, 8, 3, i);
            struct halo_sig sig = make_sig(3, i, 8);
            step(o, c->ops->send_post(c, 8, &sig), "send_post");
            continue;
        }
        const void *buf;
        size_t len;
        struct halo_sig sig, want = make_sig(3, i, 8);
        for (;;) {
            step(o, c->ops->recv_peek(c, &buf, &len, &sig), "recv_peek");
            if (buf)
                break;
            step(o, c->ops->progress(c), "progress");
            ASSERT_TRUE(halo_now_us() < deadline);
        }
        if (i == 0)
            sleep(1); /* rank 0 posted them all long ago and is in its close */
        ASSERT_EQ(len, (size_t)8);
        ASSERT_TRUE(memcmp(&sig, &want, sizeof(sig)) == 0);
        pattern_check(buf, len, 3, i);
        step(o, c->ops->recv_release(c), "recv_release");
    }
    int64_t start = halo_now_us();
    for (int pending = o->rank == 1; pending;) {
        step(o, c->ops->flush(c, &pending), "flush");
        if (pending && halo_now_us() - start > 5000000)
            TEST_FAIL("flush still pending 5 s after releasing %llu frames of a peer that closed: its QP went "
                      "away before our credit writes landed", (unsigned long long)nf);
    }
    for (int ch = 0; ch < o->channels; ch++)
        conns[ch * 2 + 1 - o->rank]->ops->close(conns[ch * 2 + 1 - o->rank]);
    ib_destroy(ib);
    printf("PASS %s\n", o->rank == 0 ? "closed first with frames posted to the peer"
                                      : "the peer closed first: its frames released a second later, flush done");
}

/* Sends nframes and receives nframes at once; frame i has length lens(i). */
typedef size_t (*len_fn)(const struct opts *o, uint64_t i);
static size_t big_len(const struct opts *o, uint64_t i);

static void pump(const struct opts *o, struct halo_conn *c, uint64_t nframes, len_fn lens, const char *what)
{
    int dir_out = o->rank, dir_in = 1 - o->rank;
    uint64_t sent = 0, got = 0;
    int64_t deadline = deadline_of(o);
    unsigned spins = 0;
    while (sent < nframes || got < nframes) {
        int moved = 0;
        if (sent < nframes) {
            void *buf;
            size_t cap;
            step(o, c->ops->send_slot(c, &buf, &cap), "send_slot");
            if (buf) {
                size_t len = lens(o, sent);
                ASSERT_EQ(cap, o->slot_size);
                pattern_fill(buf, len, dir_out, sent);
                struct halo_sig sig = make_sig(dir_out, sent, len);
                step(o, c->ops->send_post(c, len, &sig), "send_post");
                sent++;
                moved = 1;
                if (o->die_after >= 0 && lens == big_len && (long)sent == o->die_after) {
                    printf("rank %d: dying on purpose after %llu frames\n", o->rank, (unsigned long long)sent);
                    _exit(3);
                }
            }
        }
        if (got < nframes) {
            const void *buf;
            size_t len;
            struct halo_sig sig;
            step(o, c->ops->recv_peek(c, &buf, &len, &sig), "recv_peek");
            if (buf) {
                struct halo_sig want = make_sig(dir_in, got, lens(o, got));
                ASSERT_EQ(len, lens(o, got));
                ASSERT_TRUE(memcmp(&sig, &want, sizeof(sig)) == 0);
                pattern_check(buf, len, dir_in, got);
                step(o, c->ops->recv_release(c), "recv_release");
                got++;
                moved = 1;
            }
        }
        if (!moved) {
            step(o, c->ops->progress(c), "progress");
            if ((++spins & 1023) == 0 && halo_now_us() > deadline)
                TEST_FAIL("%s: stuck after %llu frames sent and %llu received of %llu", what,
                          (unsigned long long)sent, (unsigned long long)got, (unsigned long long)nframes);
        }
    }
}

static size_t small_len(const struct opts *o, uint64_t i)
{
    const size_t lens[] = {0, 1, 8, 4095, o->slot_size};
    return lens[i];
}

static size_t big_len(const struct opts *o, uint64_t i)
{
    return o->slot_size;
}

/* One-way throughput, rank 1 -> rank 0, messages copied in and out as a send/recv
 * would; rank 0 answers with one empty frame once everything arrived. */
static void bandwidth(const struct opts *o, struct halo_conn *c)
{
    uint8_t *user = malloc(o->bw_bytes);
    ASSERT_TRUE(user != NULL);
    pattern_fill(user, o->bw_bytes, 2, 0);
    size_t frames_per_msg = (o->bw_bytes + o->slot_size - 1) / o->slot_size;
    uint64_t total = frames_per_msg * (uint64_t)(o->bw_iters + 1); /* +1: warm-up message */
    struct halo_sig sig = make_sig(2, 0, o->bw_bytes);
    int64_t t0 = 0, deadline = deadline_of(o);
    uint64_t n = 0;
    while (n < total) {
        if (n == frames_per_msg)
            t0 = halo_now_us(); /* after the warm-up message */
        size_t off = (size_t)(n % frames_per_msg) * o->slot_size;
        size_t len = o->bw_bytes - off < o->slot_size ? o->bw_bytes - off : o->slot_size;
        if (o->rank == 1) {
            void *buf;
            size_t cap;
            step(o, c->ops->send_slot(c, &buf, &cap), "send_slot");
            if (buf) {
                memcpy(buf, user + off, len);
                step(o, c->ops->send_post(c, len, &sig), "send_post");
                n++;
                continue;
            }
        } else {
            const void *buf;
            size_t got;
            struct halo_sig s;
            step(o, c->ops->recv_peek(c, &buf, &got, &s), "recv_peek");
            if (buf) {
                ASSERT_EQ(got, len);
                memcpy(user + off, buf, len);
                step(o, c->ops->recv_release(c), "recv_release");
                n++;
                continue;
            }
        }
        step(o, c->ops->progress(c), "progress");
        if (halo_now_us() > deadline)
            TEST_FAIL("bandwidth run stuck at frame %llu of %llu", (unsigned long long)n, (unsigned long long)total);
    }
    /* Completion: the receiver's empty frame says everything arrived. */
    if (o->rank == 0) {
        void *buf = NULL;
        size_t cap;
        while (!buf) {
            step(o, c->ops->send_slot(c, &buf, &cap), "send_slot");
            if (!buf)
                step(o, c->ops->progress(c), "progress");
        }
        step(o, c->ops->send_post(c, 0, &sig), "send_post");
        pattern_check(user, o->bw_bytes, 2, 0);
    } else {
        const void *buf = NULL;
        size_t got;
        struct halo_sig s;
        while (!buf) {
            step(o, c->ops->recv_peek(c, &buf, &got, &s), "recv_peek");
            if (!buf)
                step(o, c->ops->progress(c), "progress");
        }
        step(o, c->ops->recv_release(c), "recv_release");
    }
    double secs = (double)(halo_now_us() - t0) / 1e6;
    double gbits = (double)o->bw_bytes * o->bw_iters * 8 / secs / 1e9;
    printf("RESULT ib_pair_bw rank=%d bytes=%zu iters=%d slot=%zu nslots=%d seconds=%.3f gbits=%.4f\n", o->rank,
           o->bw_bytes, o->bw_iters, o->slot_size, o->nslots, secs, gbits);
    free(user);
}

/* The side channel: rank 0 listens on addr:port, rank 1 connects; each sends its
 * peer info and receives the other's. */
static void exchange(const struct opts *o, const struct halo_ib_peer_info *mine, struct halo_ib_peer_info *theirs)
{
    struct halo_sockaddr sa;
    char err[160];
    ASSERT_OK(halo_sockaddr_parse(o->rank == 0 ? o->addr : o->peer, &sa, err, sizeof(err)));
    sa.port = htons((uint16_t)o->port);
    int64_t deadline = deadline_of(o);
    int fd;
    if (o->rank == 0) {
        int lfd = halo_socket_listen(&sa, 4, NULL);
        ASSERT_TRUE(lfd >= 0);
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        ASSERT_EQ(poll(&p, 1, o->timeout_s * 1000), 1);
        fd = accept(lfd, NULL, NULL);
        close(lfd);
    } else {
        int e = 0;
        fd = halo_socket_connect(&sa, NULL, deadline, &e);
        if (fd < 0)
            TEST_FAIL("side channel to %s:%d: %s", o->peer, o->port, strerror(e));
    }
    ASSERT_TRUE(fd >= 0);
    ASSERT_OK(halo_io_write_full(fd, mine, sizeof(*mine), deadline));
    ASSERT_OK(halo_io_read_full(fd, theirs, sizeof(*theirs), deadline));
    close(fd);
}

static struct halo_ib_config config_of(const struct opts *o, const uint8_t *key)
{
    struct halo_ib_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    char err[160];
    ASSERT_OK(halo_sockaddr_parse(o->wildcard ? "0.0.0.0" : o->addr, &cfg.addr, err, sizeof(err)));
    cfg.addr.port = 0;
    cfg.hca = getenv("HALO_IB_HCA") ? getenv("HALO_IB_HCA") : "";
    cfg.slot_size = o->slot_size;
    cfg.nslots = o->nslots;
    cfg.timeout_us = (int64_t)o->timeout_s * 1000000;
    cfg.key = key;
    cfg.job_id = 0x1234abcd5678ef00ull;
    return cfg;
}

static void parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.rank = -1, .port = 47311, .slot_size = 512 * 1024, .nslots = 8, .big_mib = 64,
                       .timeout_s = 120, .die_after = -1, .channels = 1};
    for (int i = 1; i < argc; i += 2) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(k, "--expect-death") || !strcmp(k, "--wildcard")) {
            *(k[2] == 'e' ? &o->expect_death : &o->wildcard) = 1;
            i--;
            continue;
        }
        if (!strcmp(k, "--die-after"))
            o->die_after = atol(v);
        else if (!strcmp(k, "--rank"))
            o->rank = atoi(v);
        else if (!strcmp(k, "--addr"))
            o->addr = v;
        else if (!strcmp(k, "--peer"))
            o->peer = v;
        else if (!strcmp(k, "--port"))
            o->port = atoi(v);
        else if (!strcmp(k, "--slot-size"))
            o->slot_size = strtoull(v, NULL, 0);
        else if (!strcmp(k, "--nslots"))
            o->nslots = atoi(v);
        else if (!strcmp(k, "--big"))
            o->big_mib = strtoull(v, NULL, 0);
        else if (!strcmp(k, "--bw"))
            o->bw_bytes = strtoull(v, NULL, 0);
        else if (!strcmp(k, "--iters"))
            o->bw_iters = atoi(v);
        else if (!strcmp(k, "--channels"))
            o->channels = atoi(v);
        else if (!strcmp(k, "--timeout"))
            o->timeout_s = atoi(v);
        else
            TEST_FAIL("unknown option %s", k);
    }
    if (!o->peer)
        o->peer = o->addr;
    if ((o->rank != 0 && o->rank != 1) || !o->addr)
        TEST_FAIL("usage: test_ib_pair --rank 0|1 --addr IP [--peer IP_OF_RANK_0] [--port P] [--slot-size B] "
                  "[--nslots N] [--big MIB] [--bw BYTES --iters N] [--timeout S]");
    if (o->bw_bytes && o->bw_iters <= 0)
        o->bw_iters = 10;
}

int main(int argc, char **argv)
{
    struct opts o;
    parse(argc, argv, &o);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!ib_supported())
        SKIP("%s", ib_unsupported_reason());

    tp_test_init(&comm, o.rank, 2);
    comm.ctx.timeout_us = (int64_t)o.timeout_s * 1000000;

    struct halo_ib_config cfg = config_of(&o, good_key);
    struct halo_ib *ib = NULL;
    struct halo_ib_peer_info me, other;
    ASSERT_EQ(ib_listen_start(&comm.ctx, &cfg, &ib, &me), haloSuccess);
    ASSERT_EQ(me.active, 1);
    exchange(&o, &me, &other);
    if (o.wildcard) { /* the peer listens everywhere: aim at its address on our link */
        struct halo_sockaddr at;
        char err[160];
        ASSERT_TRUE(other.dev[0] == '\0');
        ASSERT_OK(halo_sockaddr_parse(o.rank == 1 ? o.peer : o.addr, &at, err, sizeof(err)));
        memcpy(other.addr.addr, at.addr, sizeof(at.addr));
    }
    printf("rank %d: listening on %s port %u (%s), peer on %s port %u\n", o.rank, me.dev, me.port,
           o.addr, other.dev, other.port);

    ASSERT_TRUE(o.channels >= 1 && o.channels <= 16);
    /* ib_connect_all reads peers[ch * nranks + peer] (a rail per channel): every
     * channel's entry for the other rank is its one address. */
    const struct halo_ib_peer_info *peers[2 * 16] = {NULL};
    for (int ch = 0; ch < o.channels; ch++)
        peers[ch * 2 + 1 - o.rank] = &other;
    struct halo_conn *conns[2 * 16] = {NULL}; /* conns[ch * nranks + peer] */

    if (o.rank == 1) { /* 1. a connector without the secret is refused */
        struct halo_ib_config bad = config_of(&o, bad_key);
        struct halo_ib *ibx = NULL;
        struct halo_ib_peer_info mex;
        ASSERT_EQ(ib_listen_start(&comm.ctx, &bad, &ibx, &mex), haloSuccess);
        ASSERT_EQ(ib_connect_all(ibx, 1, peers, conns), haloRemoteError);
        ASSERT_CONTAINS(comm.last_error, "wrong proof of the job secret");
        ASSERT_TRUE(conns[0] == NULL);
        printf("PASS wrong secret refused: %s\n", comm.last_error);
        ib_destroy(ibx);
    }
    ASSERT_EQ(ib_connect_all(ib, o.channels, peers, conns), haloSuccess);
    for (int ch = 0; ch < o.channels; ch++) {
        struct halo_conn *cc = conns[ch * 2 + 1 - o.rank];
        ASSERT_TRUE(cc != NULL);
        ASSERT_TRUE(conns[ch * 2 + o.rank] == NULL);
        ASSERT_EQ(cc->peer, 1 - o.rank);
        ASSERT_EQ(cc->channel, ch);
        ASSERT_EQ(cc->slot_size, o.slot_size);
    }
    printf("rank %d: connected, %d channel(s)\n", o.rank, o.channels);
    struct halo_conn *c = conns[1 - o.rank];

    for (int ch = 0; ch < o.channels; ch++) /* 2 */
        pump(&o, conns[ch * 2 + 1 - o.rank], 5, small_len, "sizes 0,1,8,4095,slot");
    printf("PASS frames of 0, 1, 8, 4095 and %zu bytes both ways, on %d channel(s)\n", o.slot_size, o.channels);
    uint64_t nbig = (uint64_t)o.big_mib * 1024 * 1024 / o.slot_size; /* 3 */
    big_start_us = halo_now_us();
    pump(&o, c, nbig, big_len, "big transfer");
    if (o.expect_death)
        TEST_FAIL("the peer was to die during the transfer, but all %llu frames went through",
                  (unsigned long long)nbig);
    printf("PASS %zu MiB each way, checked (%.2f s)\n", o.big_mib, (double)(halo_now_us() - big_start_us) / 1e6);
    if (o.bw_bytes) /* 4 */
        bandwidth(&o, c);

    /* Nothing may be left over on either side: rank 1 may only see step 5's first
     * frame, which rank 0 posts as soon as it is done here. */
    const void *buf;
    size_t len;
    struct halo_sig sig, next = make_sig(3, 0, 8);
    step(&o, c->ops->recv_peek(c, &buf, &len, &sig), "recv_peek");
    ASSERT_TRUE(buf == NULL || (o.rank == 1 && memcmp(&sig, &next, sizeof(sig)) == 0));
    close_first(&o, conns, ib); /* 5: closes every connection */
    printf("rank %d: all passed\n", o.rank);
    return 0;
}
