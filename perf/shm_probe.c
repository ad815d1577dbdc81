/* SPDX-License-Identifier: MIT */
/*
 * shm_probe.c — what this machine gives two processes that talk through shared
 * memory, measured the way the shm transport uses it, without the library:
 *
 *   copy      one process memcpy's SIZE bytes between two private buffers (GB/s)
 *   stream    a producer copies SIZE bytes into a FIFO of SLOTS slots of SLOT bytes
 *             in a shared mapping, publishing each with a release store; a consumer
 *             in another process waits for it and copies it out (GB/s of payload):
 *             the shm transport's data path with nothing else around it
 *   pingpong  one cache line bounced between the two processes (ns per round trip)
 *   cold      (--cold WS) the floor under `allreduce_bw -n 2 --cold WS`: each
 *             process touches WS bytes of its own (a byte per 64-byte line, read
 *             and written), then the two exchange MSG bytes of float32 through
 *             shared memory (copy in, publish, wait for the peer's, sum the two)
 *             and the time runs from the later arrival to the end; median and
 *             minimum over ITERS calls, beside the same exchange without the touch.
 *             Every sum is checked.
 *
 * Used by perf/shm_states.sh: when haloccl's shm bandwidth changes between runs
 * and `stream` changes with it, the machine moved (where its vCPUs run, what
 * shares their caches); when `stream` holds still, the library did.
 *
 * usage: shm_probe [-s SIZE] [-S SLOT] [-k SLOTS] [-r ROUNDS] [--json]
 *        shm_probe --cold WS [-m MSG] [-i ITERS] [--json]
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct probe_ctl {
    _Alignas(64) _Atomic uint64_t head; /* slots published */
    _Alignas(64) _Atomic uint64_t tail; /* slots consumed */
    _Alignas(64) _Atomic uint64_t ball; /* ping-pong */
    _Alignas(64) _Atomic int ready;
};

static double probe_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static size_t probe_size(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    size_t m = *end == 'k' || *end == 'K' ? 1u << 10 : *end == 'm' || *end == 'M' ? 1u << 20
               : *end == 'g' || *end == 'G' ? 1u << 30 : 1;
    return v > 0 ? (size_t)(v * (double)m) : 0;
}

static double probe_copy(size_t size, int rounds)
{
    char *a = malloc(size), *b = malloc(size);
    if (!a || !b)
        return 0;
    memset(a, 1, size);
    memset(b, 2, size);
    double best = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = probe_now();
        memcpy(b, a, size);
        double gbps = (double)size / (probe_now() - t0) / 1e9;
        best = gbps > best ? gbps : best;
    }
    free(a), free(b);
    return best;
}

/* The consumer runs in a child; returns the producer's view of the payload rate. */
static double probe_stream(struct probe_ctl *ctl, char *slots, size_t slot, int k, size_t size, int rounds)
{
    uint64_t n = (size + slot - 1) / slot * (uint64_t)rounds;
    atomic_store(&ctl->head, 0);
    atomic_store(&ctl->tail, 0);
    atomic_store(&ctl->ready, 0);
    pid_t pid = fork();
    if (pid == 0) {
        char *dst = malloc(slot);
        memset(dst, 0, slot);
        atomic_store(&ctl->ready, 1);
        for (uint64_t i = 0; i < n; i++) {
            while (atomic_load_explicit(&ctl->head, memory_order_acquire) <= i)
                ;
            memcpy(dst, slots + (i % (uint64_t)k) * slot, slot);
            atomic_store_explicit(&ctl->tail, i + 1, memory_order_release);
        }
        _exit(0);
    }
    char *src = malloc(size + slot);
    memset(src, 3, size + slot);
    while (!atomic_load(&ctl->ready))
        ;
    uint64_t per = (size + slot - 1) / slot;
    double t0 = probe_now();
    for (uint64_t i = 0; i < n; i++) {
        while (i - atomic_load_explicit(&ctl->tail, memory_order_acquire) >= (uint64_t)k)
            ;
        memcpy(slots + (i % (uint64_t)k) * slot, src + (i % per) * slot, slot);
        atomic_store_explicit(&ctl->head, i + 1, memory_order_release);
    }
    while (atomic_load_explicit(&ctl->tail, memory_order_acquire) < n)
        ;
    double dt = probe_now() - t0;
    waitpid(pid, NULL, 0);
    free(src);
    return (double)n * (double)slot / dt / 1e9;
}

static double probe_pingpong(struct probe_ctl *ctl, int trips)
{
    atomic_store(&ctl->ball, 0);
    pid_t pid = fork();
    if (pid == 0) {
        for (uint64_t i = 1; i < 2 * (uint64_t)trips; i += 2) {
            while (atomic_load_explicit(&ctl->ball, memory_order_acquire) != i)
                ;
            atomic_store_explicit(&ctl->ball, i + 1, memory_order_release);
        }
        _exit(0);
    }
    double t0 = probe_now();
    for (uint64_t i = 0; i < 2 * (uint64_t)trips; i += 2) {
        atomic_store_explicit(&ctl->ball, i + 1, memory_order_release);
        while (atomic_load_explicit(&ctl->ball, memory_order_acquire) != i + 2)
            ;
    }
    double dt = probe_now() - t0;
    waitpid(pid, NULL, 0);
    return dt / trips * 1e9;
}

#define PROBE_MSG_MAX (1u << 20)

/* The shared part of the cold exchange: a flag per process, each process's
 * arrival time per call, and its message, two of them (by the call's parity) so
 * that the next call's copy never overwrites one the peer is still summing. */
struct probe_cold {
    _Alignas(64) _Atomic uint64_t flag[2];
    float msg[2][2][PROBE_MSG_MAX / sizeof(float)];
};

static float probe_cold_value(int side, int it, size_t i)
{
    return (float)((i * 3 + (size_t)side * 7 + (size_t)it) % 1024);
}

static int probe_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One process's buffers, allocated before the fork so that neither side can fail
 * once the other waits for it. */
struct probe_cold_bufs {
    char *w;          /* the working set, ws bytes (NULL when 0) */
    float *in, *out;  /* msg bytes each */
    double *t;        /* iters times */
};

/* One side of the exchange; side 0 returns the median (and *min) in microseconds.
 * Returns < 0 when a sum was wrong. */
static double probe_cold_side(struct probe_cold *sh, double *arrive1, const struct probe_cold_bufs *b, int side,
                              size_t ws, size_t msg, int iters, double *min)
{
    size_t n = msg / sizeof(float);
    int wrong = 0;
    if (b->w)
        memset(b->w, 1, ws);
    for (int it = 1; it <= iters; it++) {
        for (size_t i = 0; i < ws; i += 64)
            b->w[i]++;
        for (size_t i = 0; i < n; i++)
            b->in[i] = probe_cold_value(side, it, i);
        double t0 = probe_now();
        if (side == 1)
            arrive1[it - 1] = t0;
        memcpy(sh->msg[side][it & 1], b->in, msg);
        atomic_store_explicit(&sh->flag[side], (uint64_t)it, memory_order_release);
        while (atomic_load_explicit(&sh->flag[!side], memory_order_acquire) < (uint64_t)it)
            ;
        const float *peer = sh->msg[!side][it & 1];
        for (size_t i = 0; i < n; i++)
            b->out[i] = b->in[i] + peer[i];
        double end = probe_now();
        for (size_t i = 0; i < n; i++)
            wrong += b->out[i] != probe_cold_value(0, it, i) + probe_cold_value(1, it, i);
        if (side == 0) {
            double last = arrive1[it - 1] > t0 ? arrive1[it - 1] : t0;
            b->t[it - 1] = (end - last) * 1e6;
        }
    }
    double med = 0;
    if (side == 0) {
        qsort(b->t, (size_t)iters, sizeof(double), probe_cmp);
        med = b->t[iters / 2];
        *min = b->t[0];
    }
    return wrong ? -1 : med;
}

/* Runs the exchange once between this process and a child; < 0 on a failure. */
static double probe_cold(size_t ws, size_t msg, int iters, double *min)
{
    size_t map = sizeof(struct probe_cold) + (size_t)iters * sizeof(double);
    struct probe_cold_bufs b = {ws ? malloc(ws) : NULL, malloc(msg), malloc(msg), calloc((size_t)iters, sizeof(double))};
    void *m = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    double med = -1;
    if (m != MAP_FAILED && (b.w || !ws) && b.in && b.out && b.t) {
        struct probe_cold *sh = m;
        double *arrive1 = (double *)((char *)m + sizeof(*sh));
        pid_t pid = fork();
        if (pid == 0)
            _exit(probe_cold_side(sh, arrive1, &b, 1, ws, msg, iters, min) < 0 ? 1 : 0);
        if (pid > 0) {
            med = probe_cold_side(sh, arrive1, &b, 0, ws, msg, iters, min);
            int st = 1;
            waitpid(pid, &st, 0);
            med = st == 0 ? med : -1;
        }
    }
    if (m != MAP_FAILED)
        munmap(m, map);
    free(b.w), free(b.in), free(b.out), free(b.t);
    return med;
}

int main(int argc, char **argv)
{
    size_t size = 64u << 20, slot = 64u << 10, cold_ws = 0, msg = 4096;
    int k = 8, rounds = 5, json = 0, cold = 0, iters = 200;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "--cold")) {
            const char *v = argv[++i];
            cold = 1, cold_ws = probe_size(v);
            if (v[0] < '0' || v[0] > '9' || (!cold_ws && strspn(v, "0") != strlen(v))) {
                fprintf(stderr, "%s: --cold takes a size in bytes (0, 4096, 64m), not '%s'\n", argv[0], v);
                return 2;
            }
        }
        else if (i + 1 < argc && !strcmp(argv[i], "-m"))
            msg = probe_size(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "-i"))
            iters = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "-s"))
            size = probe_size(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "-S"))
            slot = probe_size(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "-k"))
            k = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "-r"))
            rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [-s SIZE] [-S SLOT] [-k SLOTS] [-r ROUNDS] [--json]\n"
                            "       %s --cold WS [-m MSG] [-i ITERS] [--json]\n", argv[0], argv[0]);
            return 2;
        }
    }
    if (cold) {
        if (msg < sizeof(float) || msg > PROBE_MSG_MAX || iters < 1) {
            fprintf(stderr, "%s: MSG is 4 B to 1 MiB and ITERS positive\n", argv[0]);
            return 2;
        }
        double hot_min, cold_min;
        double hot = probe_cold(0, msg, iters, &hot_min), cd = probe_cold(cold_ws, msg, iters, &cold_min);
        if (hot < 0 || cd < 0) {
            fprintf(stderr, "%s: the exchange failed (a wrong sum, or no memory)\n", argv[0]);
            return 1;
        }
        if (json)
            printf("{\"msg\":%zu,\"cold_bytes\":%zu,\"iters\":%d,\"hot_median_us\":%.3f,\"hot_min_us\":%.3f,"
                   "\"cold_median_us\":%.3f,\"cold_min_us\":%.3f}\n", msg, cold_ws, iters, hot, hot_min, cd, cold_min);
        else
            printf("exchange of %zu B, from the later arrival: no touch median %.2f us (min %.2f); after touching %zu B "
                   "median %.2f us (min %.2f)\n", msg, hot, hot_min, cold_ws, cd, cold_min);
        return 0;
    }
    if (!size || !slot || k < 1 || rounds < 1) {
        fprintf(stderr, "%s: sizes, slots and rounds must be positive\n", argv[0]);
        return 2;
    }
    size_t map = sizeof(struct probe_ctl) + slot * (size_t)k;
    void *m = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    struct probe_ctl *ctl = m;
    char *slots = (char *)m + sizeof(*ctl);
    memset(slots, 0, slot * (size_t)k);
    double copy = probe_copy(size, rounds);
    double stream = probe_stream(ctl, slots, slot, k, size, rounds);
    double pp = probe_pingpong(ctl, 200000);
    if (json)
        printf("{\"copy_GBps\":%.3f,\"stream_GBps\":%.3f,\"pingpong_ns\":%.1f,\"size\":%zu,\"slot\":%zu,\"slots\":%d}\n",
               copy, stream, pp, size, slot, k);
    else
        printf("copy %.2f GB/s  stream %.2f GB/s (%d x %zu B slots)  pingpong %.0f ns\n", copy, stream, k, slot, pp);
    munmap(m, map);
    return 0;
}
