/* SPDX-License-Identifier: MIT */
/*
 * test_soak.c — random mixed traffic on one communicator for a while, every
 * result checked: all-reduce (in and out of place), all-gather, reduce-scatter,
 * broadcast and reduce with random roots, a ring of sends and receives, and a
 * group mixing an all-reduce with that ring; random counts from 0 to 4 MiB,
 * random datatypes and ops. All ranks draw the same pseudo-random sequence, so
 * they make the same calls; inputs depend on rank, call and index and are small
 * integers, exact in every type used, so any wrong byte shows. At the end the
 * process holds as many file descriptors as after the first calls (nothing
 * leaks per call).
 *
 * Usage: test_soak NRANKS SECONDS [SEED]   (CI: 4 ranks, 10 s; hours by argument)
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mp.h"
#include "test.h"
#include "values.h"

#define MAX_BYTES (4u << 20)

struct soak_args {
    int seconds;
    unsigned seed;
};

static const haloDataType_t types[] = {haloInt32, haloInt64, haloUint8, haloFloat16, haloBfloat16, haloFloat32,
                                       haloFloat64};
#define NTYPES (sizeof(types) / sizeof(types[0]))

static unsigned next_rand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)(*s >> 33);
}

/* Input of rank r, call k, index i: small integers, exact in every type here. */
static double input(int r, unsigned k, size_t i, haloDataType_t t)
{
    double v = (double)((i * 7 + (size_t)r * 3 + k) % 11);
    return t == haloUint8 ? v : v - 5;
}

static double reduced(int n, unsigned k, size_t i, haloDataType_t t, haloRedOp_t op)
{
    double acc = input(0, k, i, t);
    for (int r = 1; r < n; r++) {
        double v = input(r, k, i, t);
        acc = op == haloMax ? (v > acc ? v : acc) : op == haloMin ? (v < acc ? v : acc) : acc + v;
    }
    return acc;
}

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void fill(void *buf, size_t n, int r, unsigned k, haloDataType_t t)
{
    for (size_t i = 0; i < n; i++)
        set_val(buf, i, t, input(r, k, i, t));
}

static void expect(const void *buf, size_t i, haloDataType_t t, double want, int rank, unsigned k, const char *what)
{
    unsigned char tmp[8];
    set_val(tmp, 0, t, want);
    double w = get_val(tmp, 0, t), got = get_val(buf, i, t);
    if (got != w)
        TEST_FAIL("rank %d, call %u (%s, %s): index %zu is %g, expected %g", rank, k, what, halo_dtype_name(t), i, got,
                  w);
}

enum kind { K_ALLREDUCE, K_ALLGATHER, K_REDUCESCATTER, K_BROADCAST, K_REDUCE, K_RING, K_GROUP, K_NUM };
static const char *kind_name[K_NUM] = {"allreduce", "allgather", "reducescatter", "broadcast", "reduce", "ring",
                                       "group"};

static int soak_rank(int rank, int n, haloUniqueId id, void *argp)
{
    struct soak_args *arg = argp;
    haloComm_t comm;
    MP_CHECK(haloCommInitRank(&comm, n, id, rank));
    uint64_t rs = arg->seed;
    size_t len = MAX_BYTES * (size_t)(n > 2 ? n : 2); /* b also holds the group's send at MAX_BYTES */
    char *a = malloc(len), *b = malloc(len);
    if (!a || !b)
        TEST_FAIL("out of memory");
    time_t end = time(NULL) + arg->seconds;
    int fds_early = -1, stop = 0;
    unsigned calls = 0, by_kind[K_NUM] = {0};
    unsigned long long bytes = 0;
    for (unsigned k = 0; !stop; k++) {
        enum kind kind = (enum kind)(next_rand(&rs) % K_NUM);
        haloDataType_t t = types[next_rand(&rs) % NTYPES];
        size_t es = halo_dtype_size(t);
        unsigned size_class = next_rand(&rs) % 20;
        size_t max = size_class < 10 ? 1024 : size_class < 17 ? 65536 : MAX_BYTES / es / (size_t)n;
        size_t count = next_rand(&rs) % (max + 1);
        haloRedOp_t op = (haloRedOp_t)(next_rand(&rs) % 3 == 0 ? haloSum : next_rand(&rs) % 2 ? haloMax : haloMin);
        int root = (int)(next_rand(&rs) % (unsigned)n), inplace = next_rand(&rs) % 2;
        int nxt = (rank + 1) % n, prv = (rank + n - 1) % n;
        fill(a, count, rank, k, t);
        switch (kind) {
        case K_ALLREDUCE:
            MP_CHECKC(haloAllReduce(a, inplace ? a : b, count, t, op, comm, NULL), comm);
            for (size_t i = 0; i < count; i++)
                expect(inplace ? a : b, i, t, reduced(n, k, i, t, op), rank, k, "allreduce");
            break;
        case K_ALLGATHER:
            MP_CHECKC(haloAllGather(a, b, count, t, comm, NULL), comm);
            for (int r = 0; r < n; r++)
                for (size_t i = 0; i < count; i++)
                    expect(b + (size_t)r * count * es, i, t, input(r, k, i, t), rank, k, "allgather");
            break;
        case K_REDUCESCATTER:
            fill(a, count * (size_t)n, rank, k, t);
            MP_CHECKC(haloReduceScatter(a, b, count, t, op, comm, NULL), comm);
            for (size_t i = 0; i < count; i++)
                expect(b, i, t, reduced(n, k, (size_t)rank * count + i, t, op), rank, k, "reducescatter");
            break;
        case K_BROADCAST:
            MP_CHECKC(haloBroadcast(a, a, count, t, root, comm, NULL), comm);
            for (size_t i = 0; i < count; i++)
                expect(a, i, t, input(root, k, i, t), rank, k, "broadcast");
            break;
        case K_REDUCE:
            MP_CHECKC(haloReduce(a, b, count, t, op, root, comm, NULL), comm);
            for (size_t i = 0; rank == root && i < count; i++)
                expect(b, i, t, reduced(n, k, i, t, op), rank, k, "reduce");
            break;
        default: /* K_RING, K_GROUP: a ring of sends, alone or grouped with an all-reduce */
            if (kind == K_GROUP)
                fill(b + MAX_BYTES, count, rank, k, t); /* what is sent: not the all-reduce's in-place buffer */
            MP_CHECK(haloGroupStart());
            if (kind == K_GROUP)
                MP_CHECKC(haloAllReduce(a, a, count, t, op, comm, NULL), comm);
            MP_CHECKC(haloSend(kind == K_GROUP ? b + MAX_BYTES : a, count, t, nxt, comm, NULL), comm);
            MP_CHECKC(haloRecv(b, count, t, prv, comm, NULL), comm);
            MP_CHECKC(haloGroupEnd(), comm);
            for (size_t i = 0; i < count; i++) {
                expect(b, i, t, input(prv, k, i, t), rank, k, kind_name[kind]);
                if (kind == K_GROUP)
                    expect(a, i, t, reduced(n, k, i, t, op), rank, k, "group allreduce");
            }
            break;
        }
        calls++;
        by_kind[kind]++;
        bytes += count * es;
        if (k == 20)
            fds_early = count_fds();
        if (k % 16 == 15) { /* rank 0 decides when to stop; everyone hears it */
            int flag = rank == 0 && time(NULL) >= end;
            MP_CHECKC(haloBroadcast(&flag, &flag, 1, haloInt32, 0, comm, NULL), comm);
            stop = flag;
        }
    }
    int fds_late = count_fds();
    if (fds_early >= 0 && fds_late != fds_early)
        TEST_FAIL("rank %d: %d file descriptors after call 20, %d after %u calls", rank, fds_early, fds_late, calls);
    MP_CHECKC(haloCommDestroy(comm), NULL);
    free(a);
    free(b);
    if (rank == 0) {
        printf("soak: %u calls checked on %d ranks (%.1f MiB per rank):", calls, n, (double)bytes / (1 << 20));
        for (int i = 0; i < K_NUM; i++)
            printf(" %s %u", kind_name[i], by_kind[i]);
        printf("; file descriptors steady at %d\n", fds_late);
        fflush(stdout); /* the rank ends with _exit */
    }
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 4;
    struct soak_args arg = {argc > 2 ? atoi(argv[2]) : 30, argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 12345u};
    if (n < 1 || n > 8 || arg.seconds < 1)
        TEST_FAIL("usage: test_soak NRANKS(1-8) SECONDS [SEED]");
    ASSERT_EQ(mp_run(n, soak_rank, &arg, arg.seconds + 120), 0);
    return 0;
}
