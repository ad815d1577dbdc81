/* SPDX-License-Identifier: MIT */
/*
 * test_forward.c — send/receive between ranks without a direct link, forwarded
 * through the ranks between (one rank of a multi-host job; tests/netns/
 * test_netns_forward.sh starts one per emulated host of a chain or ring, with
 * HALO_ROOT, HALO_RANK and HALO_NRANKS set).
 *
 *   ends     rank 0 and rank FAR (argv[1]; the script passes the last rank of a
 *            chain, the opposite one of a ring) exchange, both ways at once, in
 *            one group and as plain calls, from 5 bytes to 16 MiB;
 *   a2a      all pairs at once: an all-to-all of haloSend/haloRecv in one group;
 *   busy     the other ranks exchange 16 MiB of their own, in pairs, while
 *            forwarding 16 MiB between the ends;
 *   idle     the relays sleep in application code while the ends exchange;
 *   mismatch (on a split communicator) rank FAR receives fewer elements than rank
 *            0 sends: its haloRecv fails with a sentence naming both ranks.
 * With "kill-relay" as argv[2] instead: rank 1, a relay idle in application code,
 * kills itself while rank 0 and rank FAR exchange 16 MiB messages through it; every
 * other rank must see its communicator fail, with a sentence, in bounded time.
 * Every element is a closed-form function of (source, destination, index, salt).
 * Prints "forward: all checks passed" on success.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "haloccl.h"
#include "mp.h"

#define BIG (16u << 20)

static int far; /* rank 0's partner, without a direct link to it */

static uint32_t val(int src, int dst, size_t i, uint32_t salt)
{
    uint32_t x = (uint32_t)src * 0x9e3779b1u ^ (uint32_t)dst * 0x85ebca6bu ^ salt;
    return x + (uint32_t)i * 2654435761u + (uint32_t)(i >> 7);
}

static void fill(uint8_t *b, size_t bytes, int src, int dst, uint32_t salt)
{
    for (size_t i = 0; i < bytes; i++)
        b[i] = (uint8_t)(val(src, dst, i, salt) >> 11);
}

static int check(const uint8_t *b, size_t bytes, int src, int dst, uint32_t salt, int me, const char *what)
{
    for (size_t i = 0; i < bytes; i++)
        if (b[i] != (uint8_t)(val(src, dst, i, salt) >> 11)) {
            fprintf(stderr, "rank %d: %s: %zu bytes from rank %d: byte %zu is %u, expected %u\n", me, what, bytes,
                    src, i, b[i], (uint8_t)(val(src, dst, i, salt) >> 11));
            return 1;
        }
    return 0;
}

/* The two ends exchange `bytes` both ways, in a group or as plain calls. */
static int ends(haloComm_t comm, int me, int n, size_t bytes, int grouped, uint32_t salt, uint8_t *s, uint8_t *r)
{
    int peer = me == 0 ? far : me == far ? 0 : -1;
    if (peer < 0)
        return 0;
    fill(s, bytes, me, peer, salt);
    memset(r, 0xee, bytes);
    if (grouped) {
        MP_CHECKC(haloGroupStart(), comm);
        MP_CHECKC(haloSend(s, bytes, haloUint8, peer, comm, NULL), comm);
        MP_CHECKC(haloRecv(r, bytes, haloUint8, peer, comm, NULL), comm);
        MP_CHECKC(haloGroupEnd(), comm);
    } else { /* both send first: a send returns once its frames are with the relay thread */
        MP_CHECKC(haloSend(s, bytes, haloUint8, peer, comm, NULL), comm);
        MP_CHECKC(haloRecv(r, bytes, haloUint8, peer, comm, NULL), comm);
    }
    return check(r, bytes, peer, me, salt, me, grouped ? "ends (group)" : "ends (plain)");
}

static int barrier(haloComm_t comm)
{
    int32_t x = 1, y = 0, n;
    MP_CHECKC(haloCommCount(comm, &n), comm);
    MP_CHECKC(haloAllReduce(&x, &y, 1, haloInt32, haloSum, comm, NULL), comm);
    if (y != n) {
        fprintf(stderr, "barrier all-reduce gave %d, expected %d\n", y, n);
        return 1;
    }
    return 0;
}

/* All pairs at once, per-pair sizes that differ (not multiples of a slot). */
static int alltoall(haloComm_t comm, int me, int n, size_t base, uint32_t salt)
{
    size_t cap = base + 4096u * (size_t)n;
    uint8_t *s = malloc(cap * (size_t)n), *r = malloc(cap * (size_t)n);
    int bad = !s || !r;
    for (int p = 0; !bad && p < n; p++) {
        fill(s + cap * (size_t)p, base + 4096u * (size_t)p + (size_t)me, me, p, salt);
        memset(r + cap * (size_t)p, 0xee, cap);
    }
    if (!bad) {
        MP_CHECKC(haloGroupStart(), comm);
        for (int p = 0; p < n; p++) {
            MP_CHECKC(haloSend(s + cap * (size_t)p, base + 4096u * (size_t)p + (size_t)me, haloUint8, p, comm, NULL),
                      comm);
            MP_CHECKC(haloRecv(r + cap * (size_t)p, base + 4096u * (size_t)me + (size_t)p, haloUint8, p, comm, NULL),
                      comm);
        }
        MP_CHECKC(haloGroupEnd(), comm);
    }
    for (int p = 0; !bad && p < n; p++)
        bad = check(r + cap * (size_t)p, base + 4096u * (size_t)me + (size_t)p, p, me, salt, me, "alltoall");
    free(s);
    free(r);
    return bad;
}

/* The other ranks, paired in rank order, exchange with each other (their own
 * calls) while the ends' messages pass through them; or sleep in application code. */
static int relay_busy(haloComm_t comm, int me, int n, int sleep_instead, uint8_t *s, uint8_t *r)
{
    if (me == 0 || me == far)
        return ends(comm, me, n, BIG, 1, sleep_instead ? 77 : 55, s, r);
    if (sleep_instead) {
        usleep(300000);
        return 0;
    }
    int others[64], k = 0, at = -1;
    for (int p = 1; p < n && k < 64; p++)
        if (p != far) {
            if (p == me)
                at = k;
            others[k++] = p;
        }
    int peer = at < 0 || (at ^ 1) >= k ? -1 : others[at ^ 1];
    if (peer < 0)
        return 0;
    fill(s, BIG, me, peer, 66);
    MP_CHECKC(haloGroupStart(), comm);
    MP_CHECKC(haloSend(s, BIG, haloUint8, peer, comm, NULL), comm);
    MP_CHECKC(haloRecv(r, BIG, haloUint8, peer, comm, NULL), comm);
    MP_CHECKC(haloGroupEnd(), comm);
    return check(r, BIG, peer, me, 66, me, "relay's own exchange");
}

static int broken(haloComm_t comm)
{
    haloResult_t e = haloSuccess;
    return haloCommGetAsyncError(comm, &e) != haloSuccess || e != haloSuccess;
}

/* The last rank receives fewer elements than the first sends. */
static int mismatch(haloComm_t comm, int me, int n)
{
    haloComm_t sub;
    int32_t buf[100] = {0};
    MP_CHECKC(haloCommSplit(comm, 0, me, &sub, NULL), comm);
    if (me == 0)
        MP_CHECKC(haloSend(buf, 100, haloInt32, far, sub, NULL), sub);
    int bad = 0;
    if (me == far) {
        haloResult_t res = haloRecv(buf, 50, haloInt32, 0, sub, NULL);
        const char *msg = haloGetLastError(sub);
        if (res == haloSuccess || !strstr(msg, "forwarded") || !strstr(msg, "rank 0 called send(count=100") ||
            !strstr(msg, "recv(count=50")) {
            fprintf(stderr, "rank %d: mismatched forwarded receive: %s: %s\n", me, haloGetErrorString(res), msg);
            bad = 1;
        } else {
            printf("mismatch reported: %s\n", msg);
        }
    }
    if (barrier(comm)) /* on the parent: every rank is past its part before the split one ends */
        return 1;
    if (me == far || broken(sub))
        haloCommAbort(sub);
    else
        haloCommDestroy(sub);
    return bad;
}

/* Rank 1 dies (SIGKILL) in application code while forwarding. Returns 0 when
 * this rank saw the communicator fail with a sentence. */
static int kill_relay(haloComm_t comm, int me, int n, uint8_t *s, uint8_t *r)
{
    if (me == 1) {
        usleep(1000000);
        raise(SIGKILL);
    }
    int failed = 0;
    for (int round = 0; round < 600 && !failed; round++) {
        if (me == 0 || me == far)
            failed = ends(comm, me, n, BIG, 1, (uint32_t)round, s, r) != 0;
        else {
            usleep(50000);
            failed = broken(comm);
        }
    }
    const char *msg = haloGetLastError(comm);
    printf("fault reported: %s\n", failed ? msg : "(none)");
    haloCommAbort(comm);
    /* The sentence names a rank: the dead one, or (when a neighbour's abort closed
     * its connection before the bootstrap's notice arrived) that neighbour, "peer N" */
    return failed && (strstr(msg, "rank") || strstr(msg, "peer")) ? 0 : 1;
}

int main(int argc, char **argv)
{
    haloComm_t comm;
    int me, n, bad = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    MP_CHECK(haloCommInitEnv(&comm));
    MP_CHECKC(haloCommUserRank(comm, &me), comm);
    MP_CHECKC(haloCommCount(comm, &n), comm);
    uint8_t *s = malloc(BIG), *r = malloc(BIG);
    far = argc > 1 ? atoi(argv[1]) : n - 1;
    if (!s || !r || n < 3 || far <= 0 || far >= n) {
        fprintf(stderr, "needs 3+ ranks, 0 < FAR < ranks, and %u bytes\n", BIG * 2);
        return 1;
    }
    if (argc > 2 && strcmp(argv[2], "kill-relay") == 0) {
        bad = kill_relay(comm, me, n, s, r);
        free(s);
        free(r);
        return bad;
    }
    static const size_t sizes[] = {5, 4096, 1000003, BIG};
    for (size_t k = 0; !bad && k < sizeof(sizes) / sizeof(sizes[0]); k++)
        for (int grouped = 1; !bad && grouped >= 0; grouped--)
            bad = ends(comm, me, n, sizes[k], grouped, (uint32_t)(k * 2 + (size_t)grouped), s, r);
    if (!bad)
        printf("ends: both ways at once, 5 B .. 16 MiB, grouped and plain: ok\n");
    bad = bad || barrier(comm);
    bad = bad || alltoall(comm, me, n, 7, 11) || alltoall(comm, me, n, 3u << 20, 12);
    if (!bad)
        printf("alltoall of send/recv in one group: ok\n");
    bad = bad || barrier(comm) || relay_busy(comm, me, n, 0, s, r) || barrier(comm);
    if (!bad)
        printf("relays busy in their own send/recv while forwarding: ok\n");
    bad = bad || relay_busy(comm, me, n, 1, s, r) || barrier(comm);
    if (!bad)
        printf("relays idle in application code while forwarding: ok\n");
    bad = bad || mismatch(comm, me, n);
    bad = bad || barrier(comm);
    MP_CHECKC(haloCommDestroy(comm), comm);
    free(s);
    free(r);
    if (!bad)
        printf("forward: all checks passed\n");
    return bad;
}
