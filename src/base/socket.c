/* SPDX-License-Identifier: MIT */
/*
 * socket.c — socket helpers shared by the bootstrap and the tcp transport.
 *
 * Interface selection follows NCCL_SOCKET_IFNAME's syntax; connecting retries with a
 * doubling backoff until a deadline (the root may start after its ranks); whole-buffer
 * I/O polls with a deadline so no caller can hang forever on a silent peer. Every fd
 * handed out is blocking and close-on-exec; the I/O helpers use MSG_DONTWAIT so they
 * work on blocking and non-blocking sockets alike.
 */
#include "hot.h"
#include "socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

HALO_HOT int64_t halo_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- addresses ---- */

void halo_sockaddr_from(struct halo_sockaddr *out, const struct sockaddr *sa)
{
    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        out->family = AF_INET;
        out->port = in->sin_port;
        memcpy(out->addr, &in->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        out->family = AF_INET6;
        out->port = in6->sin6_port;
        out->scope_id = in6->sin6_scope_id;
        memcpy(out->addr, &in6->sin6_addr, 16);
    }
}

socklen_t halo_sockaddr_to(const struct halo_sockaddr *in, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    if (in->family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)out;
        s->sin_family = AF_INET;
        s->sin_port = in->port;
        memcpy(&s->sin_addr, in->addr, 4);
        return sizeof(*s);
    }
    if (in->family == AF_INET6) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)out;
        s->sin6_family = AF_INET6;
        s->sin6_port = in->port;
        s->sin6_scope_id = in->scope_id;
        memcpy(&s->sin6_addr, in->addr, 16);
        return sizeof(*s);
    }
    return 0;
}

const char *halo_sockaddr_str(const struct halo_sockaddr *a, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    char scope[IF_NAMESIZE + 2] = "";
    if (a->family == AF_INET) {
        inet_ntop(AF_INET, a->addr, host, sizeof(host));
        if (a->port)
            snprintf(buf, len, "%s:%u", host, ntohs(a->port));
        else
            snprintf(buf, len, "%s", host);
    } else if (a->family == AF_INET6) {
        inet_ntop(AF_INET6, a->addr, host, sizeof(host));
        char ifname[IF_NAMESIZE];
        if (a->scope_id && if_indextoname(a->scope_id, ifname))
            snprintf(scope, sizeof(scope), "%%%s", ifname);
        else if (a->scope_id)
            snprintf(scope, sizeof(scope), "%%%u", a->scope_id);
        if (a->port)
            snprintf(buf, len, "[%s%s]:%u", host, scope, ntohs(a->port));
        else
            snprintf(buf, len, "[%s%s]", host, scope);
    } else {
        snprintf(buf, len, "(no address, family %u)", a->family);
    }
    return buf;
}

/* Splits "host:port", "[v6]:port" or "host" into host and port text. */
static int sockaddr_split(const char *text, char *host, size_t hostlen, const char **port)
{
    const char *end;
    *port = NULL;
    if (text[0] == '[') {
        end = strchr(text, ']');
        if (!end || (end[1] != '\0' && end[1] != ':'))
            return -1;
        if (end[1] == ':')
            *port = end + 2;
        text++;
    } else {
        end = strrchr(text, ':');
        if (end && strchr(text, ':') != end) /* bare v6 without brackets: no port */
            end = NULL;
        if (end)
            *port = end + 1;
        else
            end = text + strlen(text);
    }
    size_t n = (size_t)(end - text);
    if (n == 0 || n >= hostlen)
        return -1;
    memcpy(host, text, n);
    host[n] = '\0';
    return 0;
}

static int sockaddr_port_parse(const char *text, uint16_t *port)
{
    char *end;
    if (!text) {
        *port = 0;
        return 0;
    }
    if (text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || *end != '\0' || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

/* Resolves host, preferring an IPv4 result. */
static int sockaddr_resolve(const char *host, struct halo_sockaddr *out, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai, *pick = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve host '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET && (!pick || pick->ai_family != AF_INET))
            pick = ai;
        else if (ai->ai_family == AF_INET6 && !pick)
            pick = ai;
    }
    if (pick)
        halo_sockaddr_from(out, pick->ai_addr);
    freeaddrinfo(res);
    if (!pick) {
        snprintf(err, errlen, "host '%s' has no IPv4 or IPv6 address", host);
        return -1;
    }
    return 0;
}

int halo_sockaddr_parse(const char *text, struct halo_sockaddr *out, char *err, size_t errlen)
{
    char host[256];
    const char *port_text;
    uint16_t port;
    struct halo_sockaddr a;

    if (!text || !*text || sockaddr_split(text, host, sizeof(host), &port_text) != 0) {
        snprintf(err, errlen, "'%s' is not an address: expected host:port, [ipv6]:port or host",
                 text ? text : "(null)");
        return -1;
    }
    if (sockaddr_port_parse(port_text, &port) != 0) {
        snprintf(err, errlen, "'%s': the port must be a number from 0 to 65535", text);
        return -1;
    }
    if (sockaddr_resolve(host, &a, err, errlen) != 0)
        return -1;
    a.port = htons(port);
    *out = a;
    return 0;
}

/* ---- interfaces ---- */

int halo_spec_match(const char *spec, halo_spec_item_fn item, const void *arg)
{
    int exclude = 0, exact = 0, hit = 0;
    if (!spec || !*spec)
        return 1;
    if (*spec == '^') {
        exclude = 1;
        spec++;
    }
    if (*spec == '=') {
        exact = 1;
        spec++;
    }
    while (*spec && !hit) {
        const char *comma = strchr(spec, ',');
        size_t len = comma ? (size_t)(comma - spec) : strlen(spec);
        if (len > 0)
            hit = item(spec, len, exact, arg);
        spec += len + (comma ? 1 : 0);
    }
    return exclude ? !hit : hit;
}

/* One item of an interface list: a prefix of the name, or the whole name if exact. */
static int ifname_item(const char *entry, size_t len, int exact, const void *arg)
{
    const char *name = arg;
    return exact ? strlen(name) == len && strncmp(entry, name, len) == 0 : strncmp(entry, name, len) == 0;
}

int halo_ifname_match(const char *spec, const char *name)
{
    return halo_spec_match(spec, ifname_item, name);
}

/* Preference class without a spec: lower comes first; -1 = leave out. */
enum { IF_CLASS_NORMAL, IF_CLASS_LINKLOCAL, IF_CLASS_VIRTUAL, IF_CLASS_LOOPBACK, IF_CLASS_COUNT };

static int if_is_link_local(const struct halo_sockaddr *a)
{
    if (a->family == AF_INET)
        return a->addr[0] == 169 && a->addr[1] == 254;
    return a->addr[0] == 0xfe && (a->addr[1] & 0xc0) == 0x80;
}

static int if_class(const struct ifaddrs *ifa, const struct halo_sockaddr *a)
{
    if (ifa->ifa_flags & IFF_LOOPBACK)
        return IF_CLASS_LOOPBACK;
    if (!strncmp(ifa->ifa_name, "docker", 6) || !strncmp(ifa->ifa_name, "virbr", 5) ||
        !strncmp(ifa->ifa_name, "veth", 4))
        return IF_CLASS_VIRTUAL;
    if (if_is_link_local(a))
        return IF_CLASS_LINKLOCAL;
    return IF_CLASS_NORMAL;
}

static int if_usable(const struct ifaddrs *ifa, const char *spec, int family)
{
    if (!ifa->ifa_addr || !(ifa->ifa_flags & IFF_UP))
        return 0;
    int f = ifa->ifa_addr->sa_family;
    if (f != AF_INET && f != AF_INET6)
        return 0;
    if (family && f != family)
        return 0;
    return halo_ifname_match(spec, ifa->ifa_name);
}

/* Appends the usable addresses of one class (IPv4 before IPv6) to out. */
static int if_collect_class(struct ifaddrs *all, const char *spec, int family, int cls,
                            struct halo_ifaddr *out, int n, int max)
{
    static const int fams[2] = {AF_INET, AF_INET6};
    for (int fi = 0; fi < 2; fi++) {
        for (struct ifaddrs *ifa = all; ifa && n < max; ifa = ifa->ifa_next) {
            struct halo_sockaddr a;
            if (!if_usable(ifa, spec, family) || ifa->ifa_addr->sa_family != fams[fi])
                continue;
            halo_sockaddr_from(&a, ifa->ifa_addr);
            if (if_class(ifa, &a) != cls)
                continue;
            snprintf(out[n].name, sizeof(out[n].name), "%s", ifa->ifa_name);
            out[n].addr = a;
            n++;
        }
    }
    return n;
}

int halo_if_list(const char *spec, int family, struct halo_ifaddr *out, int max)
{
    struct ifaddrs *all;
    int n = 0;
    if (max <= 0 || getifaddrs(&all) != 0)
        return 0;
    /* With a spec the user's list decides which interfaces take part (loopback
     * included when it matches), still ordered by class; without one, loopback is
     * the last resort. */
    int have_spec = spec && *spec;
    for (int cls = 0; cls < IF_CLASS_COUNT && n < max; cls++) {
        if (cls == IF_CLASS_LOOPBACK && !have_spec && n > 0)
            break;
        n = if_collect_class(all, spec, family, cls, out, n, max);
    }
    freeifaddrs(all);
    return n;
}

static int sockaddr_same_host(const struct halo_sockaddr *a, const struct halo_sockaddr *b)
{
    size_t len = a->family == AF_INET ? 4 : 16;
    return a->family == b->family && memcmp(a->addr, b->addr, len) == 0;
}

void halo_if_name_of(const struct halo_sockaddr *addr, char *name, size_t len)
{
    struct ifaddrs *all;
    snprintf(name, len, "?");
    if (getifaddrs(&all) != 0)
        return;
    for (struct ifaddrs *ifa = all; ifa; ifa = ifa->ifa_next) {
        struct halo_sockaddr a;
        if (!ifa->ifa_addr || (ifa->ifa_addr->sa_family != AF_INET && ifa->ifa_addr->sa_family != AF_INET6))
            continue;
        halo_sockaddr_from(&a, ifa->ifa_addr);
        if (sockaddr_same_host(&a, addr)) {
            snprintf(name, len, "%s", ifa->ifa_name);
            break;
        }
    }
    freeifaddrs(all);
}

/* ---- listen / connect ---- */

static int socket_set_nonblocking(int fd, int on)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, flags);
}

/* Closes fd keeping errno, returns -1. */
static int socket_fail(int fd)
{
    int saved = errno;
    if (fd >= 0)
        close(fd);
    errno = saved;
    return -1;
}

int halo_socket_listen(const struct halo_sockaddr *bind_addr, int backlog, struct halo_sockaddr *bound)
{
    struct halo_sockaddr any = {.family = AF_INET};
    struct sockaddr_storage ss;
    socklen_t sslen;
    int one = 1;

    if (!bind_addr)
        bind_addr = &any;
    sslen = halo_sockaddr_to(bind_addr, &ss);
    if (sslen == 0) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    int fd = socket(bind_addr->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&ss, sslen) != 0 || listen(fd, backlog) != 0)
        return socket_fail(fd);
    sslen = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0)
        return socket_fail(fd);
    if (bound)
        halo_sockaddr_from(bound, (struct sockaddr *)&ss);
    return fd;
}

/* Milliseconds until deadline for poll(): -1 for "no deadline" (INT64_MAX), rounded up. */
static int deadline_ms(int64_t deadline_us)
{
    if (deadline_us == INT64_MAX)
        return -1;
    int64_t left = deadline_us - halo_now_us();
    if (left <= 0)
        return 0;
    int64_t ms = (left + 999) / 1000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Waits until fd is ready for events or the deadline passes (errno ETIMEDOUT). Polls
 * once even after the deadline, so a result that is already there is not missed. */
static int io_wait(int fd, short events, int64_t deadline_us)
{
    struct pollfd p = {.fd = fd, .events = events};
    for (;;) {
        int ms = deadline_ms(deadline_us);
        int rc = poll(&p, 1, ms);
        if (rc > 0)
            return 0; /* readable, writable, or an error the next call reports */
        if (rc < 0 && errno != EINTR)
            return -1;
        if (rc == 0 && ms == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
    }
}

/* Waits for a non-blocking connect to finish. 0, or -1 with errno. */
static int connect_wait(int fd, int64_t deadline_us)
{
    if (io_wait(fd, POLLOUT, deadline_us) != 0)
        return -1;
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        return -1;
    if (soerr) {
        errno = soerr;
        return -1;
    }
    return 0;
}

/* One connection attempt: fd (blocking, TCP_NODELAY) or -1 with errno. */
static int connect_once(const struct halo_sockaddr *to, const struct halo_sockaddr *from, int64_t deadline_us)
{
    struct sockaddr_storage ss;
    socklen_t sslen = halo_sockaddr_to(to, &ss);
    int one = 1;
    if (sslen == 0) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    int fd = socket(to->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (from) {
        struct halo_sockaddr src = *from;
        struct sockaddr_storage fs;
        src.port = 0;
        socklen_t fslen = halo_sockaddr_to(&src, &fs);
        if (bind(fd, (struct sockaddr *)&fs, fslen) != 0)
            return socket_fail(fd);
    }
    if (connect(fd, (struct sockaddr *)&ss, sslen) != 0) {
        if (errno != EINPROGRESS && errno != EINTR)
            return socket_fail(fd);
        if (connect_wait(fd, deadline_us) != 0)
            return socket_fail(fd);
    }
    if (socket_set_nonblocking(fd, 0) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
        return socket_fail(fd);
    return fd;
}

static int connect_retryable(int err)
{
    return err == ECONNREFUSED || err == ETIMEDOUT || err == EHOSTUNREACH || err == ECONNRESET ||
           err == EAGAIN || err == EINTR;
}

static void sleep_us(int64_t us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int halo_socket_connect(const struct halo_sockaddr *to, const struct halo_sockaddr *from_or_null,
                        int64_t deadline_us, int *err_out)
{
    int64_t backoff_us = 1000;
    int err = 0;
    for (;;) {
        int fd = connect_once(to, from_or_null, deadline_us);
        if (fd >= 0) {
            if (err_out)
                *err_out = 0;
            return fd;
        }
        err = errno;
        int64_t left = deadline_us - halo_now_us();
        if (!connect_retryable(err) || left <= 0)
            break;
        sleep_us(backoff_us < left ? backoff_us : left);
        backoff_us = backoff_us * 2 > 100000 ? 100000 : backoff_us * 2;
    }
    if (err_out)
        *err_out = err;
    errno = err;
    return -1;
}

/* ---- whole-buffer I/O ---- */


int halo_io_read_full(int fd, void *buf, size_t len, int64_t deadline_us)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = recv(fd, p, len, MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n == 0) {
            errno = ECONNRESET;
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        if (io_wait(fd, POLLIN, deadline_us) != 0)
            return -1;
    }
    return 0;
}

int halo_io_write_full(int fd, const void *buf, size_t len, int64_t deadline_us)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        if (io_wait(fd, POLLOUT, deadline_us) != 0)
            return -1;
    }
    return 0;
}
