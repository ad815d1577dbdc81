/* SPDX-License-Identifier: MIT */
/*
 * tcp_pingpong.c — the raw reference for small-message latency over TCP: two
 * processes bounce an N-byte message over a loopback socket with TCP_NODELAY,
 * busy polling (non-blocking recv in a loop), and print the median round trip.
 *
 *   build/bin/tcp_pingpong [-s 8] [-n 100000]
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void xfer(int fd, char *buf, size_t len, int sending)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = sending ? send(fd, buf + done, len - done, MSG_DONTWAIT | MSG_NOSIGNAL)
                            : recv(fd, buf + done, len - done, MSG_DONTWAIT);
        if (r > 0)
            done += (size_t)r;
        else if (r == 0 || (errno != EAGAIN && errno != EINTR))
            exit(1);
    }
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    size_t size = 8;
    int iters = 100000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-s"))
            size = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "-n"))
            iters = atoi(argv[i + 1]);
    }
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 1) || getsockname(ls, (struct sockaddr *)&a, &al))
        return 1;
    char *buf = calloc(1, size);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = accept(ls, NULL, NULL);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        for (int i = 0; i < iters + 1000; i++) {
            xfer(fd, buf, size, 0);
            xfer(fd, buf, size, 1);
        }
        _exit(0);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
        return 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    double *rtt = malloc(sizeof(double) * (size_t)iters);
    for (int i = 0; i < iters + 1000; i++) {
        double t0 = now_us();
        xfer(fd, buf, size, 1);
        xfer(fd, buf, size, 0);
        if (i >= 1000)
            rtt[i - 1000] = now_us() - t0;
    }
    waitpid(pid, NULL, 0);
    qsort(rtt, (size_t)iters, sizeof(double), cmp);
    printf("tcp_pingpong: %zu B, busy-polled, median round trip %.2f us (min %.2f)\n", size, rtt[iters / 2], rtt[0]);
    return 0;
}
