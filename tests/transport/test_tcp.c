/* SPDX-License-Identifier: MIT */
/*
 * test_tcp.c — the tcp transport's data path between two processes (fork) joined
 * by a loopback TCP pair, each with a transport context (tp_ctx.h) around
 * tcp_conn_create. Connection setup through tcp's table row is test_tcp_setup.c.
 *
 * With a standby (g_standby, test 6) each side also gets a second loopback pair
 * as its rail-failover standby (tcp_conn_set_standby); tcp_conn_fail_rail makes
 * one side treat its data socket as a cut cable mid-stream.
 *
 * Shutdown in every exchange: the parent sends a BYE frame after it received all
 * of the child's frames and then keeps progressing until the child exits; the
 * child exits once it got the BYE. So neither side closes with bytes unsent.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "tcp.h"
#include "tp_ctx.h"
#include "test.h"

#define BYE_COLL 0xb7
#define DEADLINE_US 20000000

static int g_standby;  /* run_pair arms a standby connection on both sides */
static int g_checksum; /* both sides run with HALO_CHECKSUM (test 7) */

struct side {
    struct tp_test comm; /* the transport context a communicator would give */
    struct halo_tp_peer peers[2];
    struct halo_tcp_peer_info info[2];
    struct halo_conn *conn;
    int fd;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A connected loopback TCP pair. */
static void tcp_pair(int fds[2])
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0);

    ASSERT_TRUE(l >= 0);
    ASSERT_OK(bind(l, (struct sockaddr *)&a, sizeof(a)));
    ASSERT_OK(listen(l, 1));
    ASSERT_OK(getsockname(l, (struct sockaddr *)&a, &len));
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_OK(connect(fds[0], (struct sockaddr *)&a, sizeof(a)));
    fds[1] = accept(l, NULL, NULL);
    ASSERT_TRUE(fds[1] >= 0);
    close(l);
}

static void addr_of(int fd, int peer_side, struct halo_sockaddr *out)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    ASSERT_OK(peer_side ? getpeername(fd, (struct sockaddr *)&ss, &len) : getsockname(fd, (struct sockaddr *)&ss, &len));
    halo_sockaddr_from(out, (struct sockaddr *)&ss);
}

static void side_init(struct side *s, int rank, int fd, int standby_fd, size_t slot, int nslots)
{
    memset(s, 0, sizeof(*s));
    s->fd = fd;
    tp_test_init(&s->comm, rank, 2);
    s->comm.ctx.checksum = g_checksum;
    s->comm.ctx.peers = s->peers;
    for (int r = 0; r < 2; r++) {
        s->peers[r].kind = HALO_TR_TCP;
        snprintf(s->peers[r].hostname, sizeof(s->peers[r].hostname), "host%c", 'A' + r);
        addr_of(fd, r != rank, &s->info[r].listen);
        s->peers[r].blob[HALO_TR_TCP] = &s->info[r];
    }
    ASSERT_EQ(tcp_conn_create(&s->comm.ctx, fd, 1 - rank, 0, slot, nslots, &s->conn), haloSuccess);
    if (standby_fd >= 0)
        ASSERT_EQ(tcp_conn_set_standby(s->conn, standby_fd, 1, 1000), haloSuccess);
}

/* ---- frame contents: differ per sender, frame index and byte ---- */

static uint8_t pat(int rank, int i, size_t j)
{
    return (uint8_t)(i * 37 + (int)j * 11 + rank * 101 + (int)(j >> 8));
}

static struct halo_sig sig_of(int rank, int i)
{
    struct halo_sig s = {.count = (uint64_t)i * 1000 + (uint64_t)rank, .opseq = (uint32_t)i,
                         .comm_tag = 0xabc0u + (uint32_t)rank, .root = i % 3 - 1, .coll = (uint8_t)i,
                         .dtype = (uint8_t)rank, .op = (uint8_t)(i * 7), .algo = 3,
                         .reserved = {(uint32_t)i, (uint32_t)rank}};
    return s;
}

static void check_sig(const struct halo_sig *got, int rank, int i)
{
    struct halo_sig want = sig_of(rank, i);
    if (memcmp(got, &want, sizeof(want)) != 0)
        TEST_FAIL("frame %d from rank %d: signature differs (count %llu opseq %u)", i, rank,
                  (unsigned long long)got->count, got->opseq);
}

/* ---- a stream of frames both ways ---- */

struct stream {
    int nframes;
    size_t (*size_of)(int i, size_t slot);
    void (*fill)(uint8_t *buf, size_t len, int rank, int i);
    void (*check)(const uint8_t *buf, size_t len, int rank, int i);
    int use_progress; /* 0: only send_slot / recv_peek drive the socket */
    int blocked;      /* send_slot calls that gave NULL */
    int cut_rank;     /* rank + 1 of the side whose data socket "fails" (0: none) */
    int cut_at;       /* ... once it has sent this many frames */
};

static void fill_bytes(uint8_t *buf, size_t len, int rank, int i)
{
    for (size_t j = 0; j < len; j++)
        buf[j] = pat(rank, i, j);
}

static void check_bytes(const uint8_t *buf, size_t len, int rank, int i)
{
    for (size_t j = 0; j < len; j++)
        if (buf[j] != pat(rank, i, j))
            TEST_FAIL("frame %d from rank %d, byte %zu: %u != %u", i, rank, j, buf[j], pat(rank, i, j));
}

static int try_send(struct side *s, struct stream *st, int i)
{
    void *buf;
    size_t cap, len = st->size_of(i, s->conn->slot_size);
    struct halo_sig sig = sig_of(s->comm.ctx.rank, i);

    ASSERT_EQ(s->conn->ops->send_slot(s->conn, &buf, &cap), haloSuccess);
    if (!buf) {
        st->blocked++;
        return 0;
    }
    ASSERT_EQ(cap, s->conn->slot_size);
    st->fill(buf, len, s->comm.ctx.rank, i);
    ASSERT_EQ(s->conn->ops->send_post(s->conn, len, &sig), haloSuccess);
    return 1;
}

static int try_recv(struct side *s, struct stream *st, int i)
{
    const void *buf;
    size_t len;
    struct halo_sig sig;
    int peer = 1 - s->comm.ctx.rank;

    ASSERT_EQ(s->conn->ops->recv_peek(s->conn, &buf, &len, &sig), haloSuccess);
    if (!buf)
        return 0;
    ASSERT_EQ(len, st->size_of(i, s->conn->slot_size));
    check_sig(&sig, peer, i);
    st->check(buf, len, peer, i);
    ASSERT_EQ(s->conn->ops->recv_release(s->conn), haloSuccess);
    return 1;
}

static void exchange(struct side *s, struct stream *st)
{
    int64_t deadline = now_us() + DEADLINE_US;
    int sent = 0, recvd = 0;

    while (sent < st->nframes || recvd < st->nframes) {
        if (st->cut_rank == s->comm.ctx.rank + 1 && sent == st->cut_at) {
            ASSERT_EQ(tcp_conn_fail_rail(s->conn, ETIMEDOUT), haloSuccess);
            st->cut_at = -1;
        }
        if (sent < st->nframes)
            sent += try_send(s, st, sent);
        if (recvd < st->nframes)
            recvd += try_recv(s, st, recvd);
        if (st->use_progress)
            ASSERT_EQ(s->conn->ops->progress(s->conn), haloSuccess);
        if (now_us() > deadline)
            TEST_FAIL("rank %d stuck: sent %d received %d of %d frames", s->comm.ctx.rank, sent, recvd, st->nframes);
    }
}

static void send_bye(struct side *s)
{
    struct halo_sig sig = {.coll = BYE_COLL};
    void *buf = NULL;
    size_t cap;
    int64_t deadline = now_us() + DEADLINE_US;

    while (!buf) {
        ASSERT_EQ(s->conn->ops->send_slot(s->conn, &buf, &cap), haloSuccess);
        ASSERT_TRUE(now_us() < deadline);
    }
    ASSERT_EQ(s->conn->ops->send_post(s->conn, 0, &sig), haloSuccess);
}

static void wait_bye(struct side *s)
{
    const void *buf = NULL;
    size_t len;
    struct halo_sig sig;
    int64_t deadline = now_us() + DEADLINE_US;

    while (!buf) {
        ASSERT_EQ(s->conn->ops->recv_peek(s->conn, &buf, &len, &sig), haloSuccess);
        ASSERT_TRUE(now_us() < deadline);
    }
    ASSERT_EQ(sig.coll, BYE_COLL);
    ASSERT_EQ(len, 0);
}

/* ---- two processes ---- */

typedef void (*role_fn)(struct side *s, void *arg);

/* Runs child_fn as rank 1 in a child process and parent_fn as rank 0 here, then
 * keeps the parent's connection progressing until the child has exited. */
static void run_pair(size_t slot, int nslots, role_fn parent_fn, role_fn child_fn, void *arg)
{
    int fds[2], sfds[2] = {-1, -1}, status;
    struct side s;

    tcp_pair(fds);
    if (g_standby)
        tcp_pair(sfds);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        if (g_standby)
            close(sfds[0]);
        side_init(&s, 1, fds[1], sfds[1], slot, nslots);
        child_fn(&s, arg);
        s.conn->ops->close(s.conn);
        _exit(0);
    }
    close(fds[1]);
    if (g_standby)
        close(sfds[1]);
    side_init(&s, 0, fds[0], sfds[0], slot, nslots);
    parent_fn(&s, arg);
    while (waitpid(pid, &status, WNOHANG) == 0) {
        s.conn->ops->progress(s.conn); /* flushes our last frames; fails once the child is gone */
        sched_yield();
    }
    s.conn->ops->close(s.conn);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
}

static void stream_parent(struct side *s, void *arg)
{
    exchange(s, arg);
    send_bye(s);
}

static void stream_child(struct side *s, void *arg)
{
    exchange(s, arg);
    wait_bye(s);
}

/* ---- (1) sizes, orders and signatures ---- */

static size_t size_mixed(int i, size_t slot)
{
    const size_t sizes[] = {0, 1, 8, 4095, 20000, 0, slot, 70001};
    size_t n = sizes[i % 8];
    return n > slot ? slot - 1 : n;
}

static void test_sizes(void)
{
    struct stream st = {.nframes = 200, .size_of = size_mixed, .fill = fill_bytes, .check = check_bytes,
                        .use_progress = 1};
    run_pair(100000, 4, stream_parent, stream_child, &st);
    printf("ok 1 - frames of 0..slot_size bytes both ways, in order, signatures intact\n");
}

/* ---- (2) more frames than slots: the sender waits for the receiver ---- */

static size_t size_full(int i, size_t slot)
{
    return i % 5 == 4 ? slot / 3 : slot;
}

static void backpressure_child(struct side *s, void *arg)
{
    usleep(300000); /* let the parent run out of slots and kernel buffer */
    stream_child(s, arg);
}

static void backpressure_parent(struct side *s, void *arg)
{
    struct stream *st = arg;
    stream_parent(s, st);
    if (st->blocked == 0)
        TEST_FAIL("the sender never ran out of slots; the test did not test back-pressure");
}

static void test_backpressure(void)
{
    struct stream st = {.nframes = 60, .size_of = size_full, .fill = fill_bytes, .check = check_bytes};
    run_pair(256 << 10, 2, backpressure_parent, backpressure_child, &st);
    printf("ok 2 - %d frames through 2 slots, sender blocked %d times, no deadlock\n", st.nframes, st.blocked);
}

/* ---- (3) 64 MiB each way at once ---- */

#define BULK_SLOT (512u << 10)
#define BULK_BYTES (64u << 20)

static uint64_t bulk_word(int rank, uint64_t k)
{
    return k * 0x9e3779b97f4a7c15ull + (uint64_t)rank * 0x5851f42d4c957f2dull;
}

static void fill_bulk(uint8_t *buf, size_t len, int rank, int i)
{
    uint64_t *w = (uint64_t *)buf, k0 = (uint64_t)i * (BULK_SLOT / 8);
    for (size_t j = 0; j < len / 8; j++)
        w[j] = bulk_word(rank, k0 + j);
}

static void check_bulk(const uint8_t *buf, size_t len, int rank, int i)
{
    const uint64_t *w = (const uint64_t *)buf;
    uint64_t k0 = (uint64_t)i * (BULK_SLOT / 8);
    for (size_t j = 0; j < len / 8; j++)
        if (w[j] != bulk_word(rank, k0 + j))
            TEST_FAIL("bulk frame %d from rank %d, byte %zu: 0x%016llx != 0x%016llx", i, rank, j * 8,
                      (unsigned long long)w[j], (unsigned long long)bulk_word(rank, k0 + j));
}

static size_t size_bulk(int i, size_t slot)
{
    return slot;
}

static void test_bulk(void)
{
    struct stream st = {.nframes = BULK_BYTES / BULK_SLOT, .size_of = size_bulk, .fill = fill_bulk,
                        .check = check_bulk};
    int64_t t0 = now_us();
    run_pair(BULK_SLOT, 8, stream_parent, stream_child, &st);
    double s = (double)(now_us() - t0) / 1e6;
    printf("ok 3 - 64 MiB each way at once, checked (%.2f s, %.2f GB/s per direction incl. fill/check)\n", s,
           BULK_BYTES / s / 1e9);
}

/* ---- (4) the peer dies ---- */

/* Exactly one recorded error; later calls return the same code and record nothing. */
static void check_sticky(struct side *s, haloResult_t res)
{
    const void *rb;
    void *sb;
    size_t len;

    s->comm.last_error[0] = '\0';
    ASSERT_EQ(s->conn->ops->recv_peek(s->conn, &rb, &len, NULL), res);
    ASSERT_EQ(s->conn->ops->send_slot(s->conn, &sb, &len), res);
    ASSERT_EQ(s->conn->ops->progress(s->conn), res);
    ASSERT_STREQ(s->comm.last_error, "");
}

static size_t size_64k(int i, size_t slot)
{
    return 64 << 10;
}

static void exit_child(struct side *s, void *arg)
{
    struct stream *st = arg;
    int sent = 0, recvd = 0;
    while (recvd < 20) { /* mid-stream: frames are still flowing both ways */
        sent += try_send(s, st, sent);
        recvd += try_recv(s, st, recvd);
    }
    _exit(0);
}

static void exit_parent(struct side *s, void *arg)
{
    int64_t deadline = now_us() + DEADLINE_US, t_dead = 0;
    int sent = 0, recvd = 0;
    haloResult_t res = haloSuccess;
    const void *rb;
    void *sb;
    size_t len, cap;

    while (res == haloSuccess) {
        if ((res = s->conn->ops->send_slot(s->conn, &sb, &cap)) == haloSuccess && sb) {
            fill_bytes(sb, size_64k(sent, cap), 0, sent);
            struct halo_sig sig = sig_of(0, sent++);
            res = s->conn->ops->send_post(s->conn, size_64k(0, cap), &sig);
        }
        if (res == haloSuccess && (res = s->conn->ops->recv_peek(s->conn, &rb, &len, NULL)) == haloSuccess && rb) {
            check_bytes(rb, len, 1, recvd++);
            res = s->conn->ops->recv_release(s->conn);
        }
        siginfo_t info = {0};
        if (!t_dead && waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid)
            t_dead = now_us(); /* WNOWAIT: run_pair still reaps it */
        ASSERT_TRUE(now_us() < deadline);
    }
    if (!t_dead)
        t_dead = now_us();
    ASSERT_EQ(res, haloRemoteError);
    if (now_us() - t_dead > 1000000)
        TEST_FAIL("the error came %lld ms after the peer exited", (long long)(now_us() - t_dead) / 1000);
    ASSERT_CONTAINS(s->comm.last_error, "peer 1 (hostB 127.0.0.1:");
    ASSERT_CONTAINS(s->comm.last_error, "channel 0");
    printf("#   %s\n", s->comm.last_error);
    check_sticky(s, res);
}

/* Raw header of the wire format, for writing broken frames. */
struct raw_hdr {
    uint32_t magic, kind;
    uint64_t len;
    uint8_t sig_and_pad[48];
};
#define RAW_MAGIC 0x50435448u

static void wait_for_close(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char c;
    while (poll(&p, 1, 5000) == 1 && recv(fd, &c, 1, 0) > 0)
        ;
}

static void half_frame_child(struct side *s, void *arg)
{
    struct raw_hdr h = {.magic = RAW_MAGIC, .kind = 1, .len = 1000};
    char part[10] = {0};
    ASSERT_EQ(write(s->fd, &h, sizeof(h)), sizeof(h));
    ASSERT_EQ(write(s->fd, part, sizeof(part)), sizeof(part));
    _exit(0);
}

static void half_frame_parent(struct side *s, void *arg)
{
    int64_t deadline = now_us() + DEADLINE_US;
    const void *rb = NULL;
    size_t len;
    haloResult_t res;

    while ((res = s->conn->ops->recv_peek(s->conn, &rb, &len, NULL)) == haloSuccess) {
        ASSERT_TRUE(rb == NULL);
        ASSERT_TRUE(now_us() < deadline);
    }
    ASSERT_EQ(res, haloRemoteError);
    ASSERT_CONTAINS(s->comm.last_error, "peer 1 (hostB 127.0.0.1:");
    ASSERT_CONTAINS(s->comm.last_error, "closed its tcp connection on channel 0");
    printf("#   %s\n", s->comm.last_error);
    check_sticky(s, res);
}

static void test_peer_exit(void)
{
    struct stream st = {.size_of = size_64k, .fill = fill_bytes, .check = check_bytes};
    run_pair(64 << 10, 4, exit_parent, exit_child, &st);
    run_pair(64 << 10, 4, half_frame_parent, half_frame_child, NULL);
    printf("ok 4 - a peer that exits mid-stream or mid-frame gives haloRemoteError naming it\n");
}

/* ---- (5) malformed headers ---- */

struct garbage {
    struct raw_hdr h;
    const char *expect;
};

static void garbage_child(struct side *s, void *arg)
{
    struct garbage *g = arg;
    ASSERT_EQ(write(s->fd, &g->h, sizeof(g->h)), sizeof(g->h));
    wait_for_close(s->fd);
}

static void garbage_parent(struct side *s, void *arg)
{
    struct garbage *g = arg;
    int64_t deadline = now_us() + DEADLINE_US;
    const void *rb = NULL;
    size_t len;
    haloResult_t res;

    while ((res = s->conn->ops->recv_peek(s->conn, &rb, &len, NULL)) == haloSuccess) {
        ASSERT_TRUE(rb == NULL);
        ASSERT_TRUE(now_us() < deadline);
    }
    ASSERT_EQ(res, haloSystemError);
    ASSERT_CONTAINS(s->comm.last_error, "malformed frame from peer 1 (hostB");
    ASSERT_CONTAINS(s->comm.last_error, g->expect);
    printf("#   %s\n", s->comm.last_error);
    check_sticky(s, res);
    shutdown(s->fd, SHUT_RDWR); /* lets the child's wait_for_close end */
}

static void test_malformed(void)
{
    struct garbage g[3];
    memset(g, 0, sizeof(g));
    memset(&g[0].h, 0x5a, sizeof(g[0].h));
    g[0].expect = "bad magic 0x5a5a5a5a";
    g[1].h = (struct raw_hdr){.magic = RAW_MAGIC, .kind = 1, .len = (64 << 10) + 1};
    g[1].expect = "payload of 65537 bytes exceeds the slot size 65536";
    g[2].h = (struct raw_hdr){.magic = RAW_MAGIC, .kind = 77, .len = 8};
    g[2].expect = "unknown frame kind 77";
    for (int i = 0; i < 3; i++)
        run_pair(64 << 10, 4, garbage_parent, garbage_child, &g[i]);
    printf("ok 5 - malformed headers give haloSystemError\n");
}

/* ---- (6) rail failover: a standby on a second pair ---- */

static void test_failover(void)
{
    g_standby = 1;
    /* Armed, nothing fails: sent frames wait for acknowledgements, 2 slots. */
    struct stream st = {.nframes = 300, .size_of = size_mixed, .fill = fill_bytes, .check = check_bytes};
    run_pair(100000, 2, stream_parent, stream_child, &st);
    /* Either side notices the cut first, mid-stream with frames in flight both
     * ways (some whole and unacknowledged, some half sent): every frame arrives
     * once, in order, intact. */
    for (int rank = 0; rank < 2; rank++) {
        for (int nslots = 2; nslots <= 8; nslots += 6) {
            struct stream cut = {.nframes = 400, .size_of = size_mixed, .fill = fill_bytes, .check = check_bytes,
                                 .use_progress = nslots == 8, .cut_rank = rank + 1, .cut_at = 150};
            run_pair(100000, nslots, stream_parent, stream_child, &cut);
        }
    }
    struct stream bulk = {.nframes = 32, .size_of = size_bulk, .fill = fill_bulk, .check = check_bulk,
                          .cut_rank = 1, .cut_at = 11};
    run_pair(BULK_SLOT, 8, stream_parent, stream_child, &bulk);
    /* A peer that dies still fails the call at once: both sockets end. */
    struct stream ex = {.size_of = size_64k, .fill = fill_bytes, .check = check_bytes};
    run_pair(64 << 10, 4, exit_parent, exit_child, &ex);
    g_standby = 0;
    printf("ok 6 - rail failover: acknowledged frames; a cut noticed by either side resumes on the standby with "
           "every frame once and intact; a peer that dies still fails fast\n");
}

/* ---- (7) HALO_CHECKSUM: CRC32C of header and payload ---- */

#define CRC_LEN 1000

/* One raw frame of CRC_LEN bytes whose CRC is right (arg NULL) or off by one bit. */
static void crc_child(struct side *s, void *arg)
{
    struct {
        struct raw_hdr h;
        uint8_t payload[CRC_LEN];
    } f;
    memset(&f, 0, sizeof(f));
    f.h = (struct raw_hdr){.magic = RAW_MAGIC, .kind = 1, .len = CRC_LEN};
    fill_bytes(f.payload, CRC_LEN, 1, 0);
    uint32_t crc = halo_crc32c(halo_crc32c(0, &f.h, sizeof(f.h)), f.payload, CRC_LEN) ^ (arg ? 1u : 0u);
    memcpy(f.h.sig_and_pad + 32, &crc, sizeof(crc)); /* after the 32-byte signature */
    ASSERT_EQ(write(s->fd, &f, sizeof(f)), sizeof(f));
    wait_for_close(s->fd);
}

static void crc_parent(struct side *s, void *arg)
{
    int64_t deadline = now_us() + DEADLINE_US;
    const void *rb = NULL;
    size_t len;
    haloResult_t res;

    while ((res = s->conn->ops->recv_peek(s->conn, &rb, &len, NULL)) == haloSuccess && !rb)
        ASSERT_TRUE(now_us() < deadline);
    if (!arg) {
        ASSERT_EQ(res, haloSuccess);
        ASSERT_EQ(len, CRC_LEN);
        check_bytes(rb, len, 1, 0);
    } else {
        ASSERT_EQ(res, haloSystemError);
        ASSERT_CONTAINS(s->comm.last_error, "frame from peer 1 (hostB");
        ASSERT_CONTAINS(s->comm.last_error, "failed its checksum");
        printf("#   %s\n", s->comm.last_error);
        check_sticky(s, res);
    }
    shutdown(s->fd, SHUT_RDWR); /* lets the child's wait_for_close end */
}

static void test_checksum(void)
{
    static int flip = 1;
    g_checksum = 1;
    struct stream st = {.nframes = 200, .size_of = size_mixed, .fill = fill_bytes, .check = check_bytes,
                        .use_progress = 1};
    run_pair(100000, 4, stream_parent, stream_child, &st);
    run_pair(64 << 10, 4, crc_parent, crc_child, NULL);
    run_pair(64 << 10, 4, crc_parent, crc_child, &flip);
    g_checksum = 0;
    printf("ok 7 - HALO_CHECKSUM: frames carry a CRC32C of header and payload; one flipped bit fails the frame "
           "naming the peer\n");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* the transport uses MSG_NOSIGNAL; the raw writes here do not */
    /* Every failure here is expected and printed above as a "#" line; the library's
     * own WARN lines (including the parent's at each child's exit) would only be
     * noise. HALO_DEBUG=WARN in the environment shows them. */
    setenv("HALO_DEBUG", "NONE", 0);
    setvbuf(stdout, NULL, _IONBF, 0);
    test_sizes();
    test_backpressure();
    test_bulk();
    test_peer_exit();
    test_malformed();
    test_failover();
    test_checksum();
    return 0;
}
