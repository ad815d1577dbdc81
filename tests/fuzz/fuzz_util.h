/* SPDX-License-Identifier: MIT */
/*
 * fuzz_util.h — shared by the libFuzzer targets in tests/fuzz/: a quiet log, an
 * invariant check that aborts (libFuzzer saves the input), and byte streams fed
 * into the real code through a socket, as the network would feed them.
 */
#ifndef HALO_FUZZ_UTIL_H
#define HALO_FUZZ_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant of the code under test broke: print it and abort, so libFuzzer
 * keeps the input as a crash. */
#define FUZZ_CHECK(cond)                                                                                   \
    do {                                                                                                   \
        if (!(cond)) {                                                                                     \
            fprintf(stderr, "fuzz invariant failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                                       \
        }                                                                                                  \
    } while (0)

/* Malformed input is the point: keep WARN lines (one per input) off stderr. Set
 * FUZZ_LOG=1 to see them. */
static inline void fuzz_quiet(void)
{
    if (!getenv("FUZZ_LOG"))
        setenv("HALO_DEBUG", "NONE", 1);
}

/* A connected AF_UNIX stream pair; [0] is fed, [1] read by the code under test. */
static inline void fuzz_socketpair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        perror("socketpair");
        abort();
    }
}

/* Writes as much of [*off, len) as the socket takes now (non-blocking); at the end
 * shuts the write side so the reader sees end of stream. 1 once all is written. */
static inline int fuzz_feed(int fd, const uint8_t *data, size_t len, size_t *off)
{
    while (*off < len) {
        ssize_t n = send(fd, data + *off, len - *off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        *off += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    return 1;
}

/* Little-endian u32, as the bootstrap writes them. */
static inline uint32_t fuzz_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
