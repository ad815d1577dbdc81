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
 *
 * Used by perf/shm_states.sh: when haloccl's shm bandwidth changes between runs
 * and `stream` changes with it, the machine moved (where its vCPUs run, what
 * shares their caches); when `stream` holds still, the library did.
 *
 * usage: shm_probe [-s SIZE] [-S SLOT] [-k SLOTS] [-r ROUNDS] [--json]
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

int main(int argc, char **argv)
{
    size_t size = 64u << 20, slot = 64u << 10;
    int k = 8, rounds = 5, json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "-s"))
            size = probe_size(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "-S"))
            slot = probe_size(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "-k"))
            k = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "-r"))
            rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [-s SIZE] [-S SLOT] [-k SLOTS] [-r ROUNDS] [--json]\n", argv[0]);
            return 2;
        }
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
