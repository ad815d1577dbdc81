/* SPDX-License-Identifier: MIT */
/*
 * bootstrap.c — job rendezvous, rank side: the unique id, starting the root service
 * (choosing its address and listening; the service thread is bootstrap_root.c),
 * connecting to the root, all-gathers, barriers and abort notices. Frame layouts are
 * in bootstrap_wire.h.
 *
 * Message sequence on a rank's one connection to the root:
 *   rank -> root  TCP connect, retried until HALO_TIMEOUT_MS (the root may start late)
 *   root <-> rank auth.c handshake, ctx "boot:<job id as 16 hex digits>"
 *   rank -> root  JOIN {rank, nranks, version, host}
 *   root -> rank  WELCOME                         or ERROR / ABORT (then the root closes)
 *   ... then, in the same order on every rank:
 *   rank -> root  ALLGATHER {seq, size, block}    (a barrier is a 0-byte allgather)
 *   root -> rank  RESULT {seq, size, all blocks}  once every rank sent seq
 *   ... at any time:
 *   rank -> root  ABORT {text}: the root sends ABORT "rank R (host) aborted: text" to all others
 *                 (ERROR {code, text} when the text starts with the rank's "code|")
 *   rank -> root  NOTE {-, state, peer, opseq}: this rank waits (or stopped waiting);
 *                 the root sends NOTE {R, state, peer, opseq} to all others, which
 *                 keep the latest per rank (read between and inside all-gathers)
 *   root -> rank  ERROR {result, text}: duplicate rank, nranks or size mismatch
 *   rank -> root  CLOSE, then half-close and wait for the root's FIN. EOF without
 *                 CLOSE makes the root send ABORT "rank R (host) closed ... unexpectedly".
 * A failure (timeout, EOF, ABORT, ERROR) is sticky: every later call returns it. The
 * read side (allgather, poll_abort) and the write side (frames, send_abort from any
 * thread) have their own locks.
 */
#define HALO_ERR_SUBSYS HALO_SUB_BOOT /* errors recorded here log under this subsystem */
#include "bootstrap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth.h"
#include "bootstrap_wire.h"
#include "error.h"
#include "log.h"
#include "param.h"

/* The address without its port, e.g. "10.0.0.7". */
static const char *boot_host_str(const struct halo_sockaddr *a, char *buf, size_t len)
{
    if (!inet_ntop(a->family, a->addr, buf, (socklen_t)len))
        snprintf(buf, len, "?");
    return buf;
}

/* ======================================================================== */
/* The unique id                                                             */
/* ======================================================================== */

static void uid_encode(const struct halo_uid *uid, haloUniqueId *id)
{
    memset(id, 0, sizeof(*id));
    memcpy(id->internal, uid, sizeof(*uid));
}

haloResult_t bootstrap_uid_from_addr(haloUniqueId *id, const struct sockaddr_storage *root,
                                     const uint8_t secret[HALO_SECRET_BYTES], int authenticated,
                                     uint64_t job_id)
{
    struct halo_uid uid = {.magic = HALO_UID_MAGIC, .version = HALO_VERSION_CODE, .job_id = job_id};
    if (root->ss_family != AF_INET && root->ss_family != AF_INET6)
        return halo_error(NULL, haloInvalidArgument, "the bootstrap root address has family %d, not IPv4 or IPv6",
                          root->ss_family);
    halo_sockaddr_from(&uid.root, (const struct sockaddr *)root);
    if (authenticated)
        memcpy(uid.secret, secret, HALO_SECRET_BYTES);
    uid.authenticated = authenticated ? 1 : 0;
    uid_encode(&uid, id);
    return haloSuccess;
}

/* Validates an id; on failure writes why into text. */
static haloResult_t uid_check(const haloUniqueId *id, struct halo_uid *out, char *text, size_t len)
{
    struct halo_uid uid;
    memcpy(&uid, id->internal, sizeof(uid));
    if (uid.magic != HALO_UID_MAGIC) {
        snprintf(text, len, "the unique id is not a haloccl id (bad magic)");
        return haloInvalidArgument;
    }
    if (uid.version / 100 != HALO_VERSION_CODE / 100) {
        char theirs[24], ours[24];
        snprintf(text, len, "the unique id was made by haloccl %s but this is haloccl %s: all ranks must run the "
                 "same major.minor version", boot_version_str(uid.version, theirs, sizeof(theirs)),
                 boot_version_str(HALO_VERSION_CODE, ours, sizeof(ours)));
        return haloInvalidUsage;
    }
    if ((uid.root.family != AF_INET && uid.root.family != AF_INET6) || uid.root.port == 0 ||
        uid.authenticated > 1) {
        snprintf(text, len, "the unique id is damaged (no valid root address)");
        return haloInvalidArgument;
    }
    *out = uid;
    return haloSuccess;
}

haloResult_t bootstrap_uid_decode(const haloUniqueId *id, struct halo_uid *out)
{
    char text[256];
    haloResult_t res = uid_check(id, out, text, sizeof(text));
    return res == haloSuccess ? res : halo_error(NULL, res, "%s", text);
}

/* ======================================================================== */
/* Starting the root service (bootstrap_root.c)                              */
/* ======================================================================== */

static int boot_family(const struct halo_params *params, int *family)
{
    const char *s = params && params->socket_family_s ? params->socket_family_s : "";
    if (!*s || !strcasecmp(s, "auto"))
        *family = 0;
    else if (!strcasecmp(s, "AF_INET"))
        *family = AF_INET;
    else if (!strcasecmp(s, "AF_INET6"))
        *family = AF_INET6;
    else
        return -1;
    return 0;
}

/* The address to listen on: bind_addr, or the first interface HALO_SOCKET_IFNAME allows. */
static haloResult_t root_pick_addr(const struct halo_params *params, const struct sockaddr_storage *bind_addr,
                                   struct halo_sockaddr *addr, char *ifname, size_t iflen)
{
    struct halo_ifaddr ifa;
    int family;
    const char *spec = params && params->socket_ifname_s ? params->socket_ifname_s : "";
    if (boot_family(params, &family) != 0)
        return halo_error(NULL, haloInvalidArgument, "HALO_SOCKET_FAMILY=%s: expected auto, AF_INET or AF_INET6",
                          params->socket_family_s);
    if (bind_addr) {
        halo_sockaddr_from(addr, (const struct sockaddr *)bind_addr);
        if (addr->family != AF_INET && addr->family != AF_INET6)
            return halo_error(NULL, haloInvalidArgument, "bootstrap root: the bind address is not IPv4 or IPv6");
        halo_if_name_of(addr, ifname, iflen);
        return haloSuccess;
    }
    if (halo_if_list(spec, family, &ifa, 1) < 1)
        return halo_error(NULL, haloSystemError, "bootstrap root: no interface that is up matches "
                          "HALO_SOCKET_IFNAME=\"%s\"%s%s: compare it with `ip addr` (prefix list, ^ excludes, "
                          "= exact)", spec, family ? " with family " : "", family ? params->socket_family_s : "");
    *addr = ifa.addr;
    addr->port = 0;
    snprintf(ifname, iflen, "%s", ifa.name);
    return haloSuccess;
}

static haloResult_t root_listen(const struct halo_sockaddr *addr, const char *ifname, struct halo_sockaddr *bound,
                                int *fd)
{
    char a[64];
    *fd = halo_socket_listen(addr, 1024, bound);
    if (*fd < 0)
        return halo_error(NULL, haloSystemError, "bootstrap root: cannot listen on %s (%s): %s: check "
                          "HALO_SOCKET_IFNAME / HALO_ROOT", halo_sockaddr_str(addr, a, sizeof(a)), ifname,
                          strerror(errno));
    return haloSuccess;
}

haloResult_t bootstrap_root_start(haloUniqueId *id, const struct halo_params *params,
                                  const struct sockaddr_storage *bind_addr, int nranks_hint)
{
    if (halo_auth_init() != 0)
        return halo_error(NULL, haloSystemError, "libsodium could not be initialised");
    struct halo_uid uid = {.magic = HALO_UID_MAGIC, .version = HALO_VERSION_CODE, .authenticated = 1};
    struct halo_sockaddr addr;
    char ifname[32];
    int fd;
    haloResult_t res = root_pick_addr(params, bind_addr, &addr, ifname, sizeof(ifname));
    if (res != haloSuccess)
        return res;
    if (halo_random_bytes(uid.secret, sizeof(uid.secret)) != 0 ||
        halo_random_bytes(&uid.job_id, sizeof(uid.job_id)) != 0)
        return halo_error(NULL, haloSystemError, "bootstrap root: getrandom failed: %s", strerror(errno));
    res = root_listen(&addr, ifname, &uid.root, &fd);
    if (res != haloSuccess)
        return res;
    res = boot_root_launch(&uid, fd, params, ifname, nranks_hint);
    if (res == haloSuccess) {
        struct sockaddr_storage ss;
        halo_sockaddr_to(&uid.root, &ss);
        res = bootstrap_uid_from_addr(id, &ss, uid.secret, 1, uid.job_id);
    }
    explicit_bzero(&uid, sizeof(uid));
    return res;
}

haloResult_t bootstrap_root_serve(const haloUniqueId *id, const struct halo_params *params, int nranks_hint)
{
    if (halo_auth_init() != 0)
        return halo_error(NULL, haloSystemError, "libsodium could not be initialised");
    struct halo_uid uid;
    char ifname[32];
    int fd;
    haloResult_t res = bootstrap_uid_decode(id, &uid);
    if (res != haloSuccess)
        return res;
    halo_if_name_of(&uid.root, ifname, sizeof(ifname));
    res = root_listen(&uid.root, ifname, &uid.root, &fd);
    if (res == haloSuccess)
        res = boot_root_launch(&uid, fd, params, ifname, nranks_hint);
    explicit_bzero(&uid, sizeof(uid));
    return res;
}

/* ======================================================================== */
/* Rank side                                                                 */
/* ======================================================================== */

struct halo_bootstrap {
    int fd;
    int rank, nranks;
    uint32_t seq;                 /* next allgather */
    struct halo_uid uid;
    struct sockaddr_storage local;
    char root_str[64];
    int64_t timeout_us;
    struct halo_comm *comm;       /* for error recording only */
    pthread_mutex_t read_lock;    /* the root -> rank stream: allgather, poll_abort */
    pthread_mutex_t write_lock;   /* the rank -> root stream: one frame at a time */
    _Atomic int tx_broken;        /* a frame was cut: never send CLOSE */
    _Atomic int dead;             /* sticky failure; dead_res / dead_msg set before */
    _Atomic int interrupted;      /* bootstrap_interrupt: the read side was shut down */
    int root_local;               /* this process serves the job's root (counted in its local_open) */
    haloResult_t dead_res;
    int reported;                 /* dead_msg went through halo_error (read side) */
    char dead_msg[BOOT_TEXT_MAX + 256];
    struct boot_note {            /* [nranks]: each rank's latest NOTE */
        _Atomic int state, peer;
    } *notes;
};

/* Records the sticky failure (the first one wins) and returns its result. */
static haloResult_t boot_die(struct halo_bootstrap *bs, haloResult_t res, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static haloResult_t boot_die(struct halo_bootstrap *bs, haloResult_t res, const char *fmt, ...)
{
    va_list ap;
    if (atomic_load(&bs->dead))
        return bs->dead_res;
    va_start(ap, fmt);
    vsnprintf(bs->dead_msg, sizeof(bs->dead_msg), fmt, ap);
    va_end(ap);
    bs->dead_res = res;
    atomic_store(&bs->dead, 1);
    return res;
}

/* Records the sticky failure as the caller's error; logs it the first time only. */
static haloResult_t boot_report(struct halo_bootstrap *bs)
{
    if (!bs->reported) {
        bs->reported = 1;
        return halo_error(bs->comm, bs->dead_res, "%s", bs->dead_msg);
    }
    if (!bs->comm)
        halo_thread_set_error(bs->dead_msg);
    return bs->dead_res;
}

static haloResult_t boot_fail_io(struct halo_bootstrap *bs, const char *what, int err)
{
    if (atomic_load(&bs->interrupted))
        return boot_die(bs, haloRemoteError, "rank %d: haloCommAbort on this rank interrupted the bootstrap while %s",
                        bs->rank, what);
    if (err == ETIMEDOUT)
        return boot_die(bs, haloRemoteError, "rank %d: no answer from the bootstrap root %s within %.1f s while %s: "
                        "another rank may be stuck, dead or not started (HALO_TIMEOUT_MS)", bs->rank, bs->root_str,
                        bs->timeout_us / 1e6, what);
    if (err == ECONNRESET || err == EPIPE)
        return boot_die(bs, haloRemoteError, "rank %d: the bootstrap root %s closed the connection while %s: did "
                        "the process that created the unique id (usually rank 0) exit?", bs->rank, bs->root_str, what);
    return boot_die(bs, haloSystemError, "rank %d: the bootstrap connection to %s failed while %s: %s", bs->rank,
                    bs->root_str, what, strerror(err));
}

static haloResult_t boot_malformed(struct halo_bootstrap *bs, uint32_t type, uint32_t len, const char *what)
{
    return boot_die(bs, haloInternalError, "rank %d: malformed bootstrap frame from the root %s (type %u, length "
                    "%u) while %s", bs->rank, bs->root_str, type, len, what);
}

/* Sends one frame: header, then up to two payload parts. 0, or an errno. Does not
 * touch the sticky failure: send_abort may call it from any thread. */
static int boot_send(struct halo_bootstrap *bs, uint32_t type, const void *a, size_t alen, const void *b,
                     size_t blen, int64_t deadline)
{
    uint8_t hdr[8];
    int rc = -1, err = EPIPE;
    put_u32(hdr, type);
    put_u32(hdr + 4, (uint32_t)(alen + blen));
    pthread_mutex_lock(&bs->write_lock);
    if (!atomic_load(&bs->tx_broken)) {
        rc = halo_io_write_full(bs->fd, hdr, sizeof(hdr), deadline);
        if (rc == 0 && alen)
            rc = halo_io_write_full(bs->fd, a, alen, deadline);
        if (rc == 0 && blen)
            rc = halo_io_write_full(bs->fd, b, blen, deadline);
        err = rc ? errno : 0;
        if (rc)
            atomic_store(&bs->tx_broken, 1);
    }
    pthread_mutex_unlock(&bs->write_lock);
    return rc == 0 ? 0 : err;
}

/* A rank's ABORT text starts with "<result code>|" (comm.c), and the root relays it
 * behind "rank R (host) aborted: ". The code becomes the failure's result; the
 * digits and the bar are cut out so that no message shows them. */
static void boot_cut_code(char *text, haloResult_t *code)
{
    char *bar = strchr(text, '|'), *digits = bar;
    while (digits && digits > text && digits[-1] >= '0' && digits[-1] <= '9')
        digits--;
    if (!bar || digits == bar || bar - digits > 2 || (digits > text && digits[-1] != ' '))
        return;
    int c = atoi(digits);
    if (c == haloInvalidUsage || c == haloRemoteError || c == haloSystemError || c == haloInvalidArgument)
        *code = (haloResult_t)c;
    memmove(digits, bar + 1, strlen(bar + 1) + 1);
}

/* ABORT or ERROR from the root: the job failed; keep its text as the sticky failure. */
static haloResult_t boot_recv_notice(struct halo_bootstrap *bs, uint32_t type, uint32_t len, int64_t deadline,
                                     const char *what)
{
    uint8_t buf[4 + BOOT_TEXT_MAX + 1];
    size_t off = type == BOOT_ERROR ? 4 : 0;
    if (len > 4 + BOOT_TEXT_MAX || len < off)
        return boot_malformed(bs, type, len, what);
    if (halo_io_read_full(bs->fd, buf, len, deadline) != 0)
        return boot_fail_io(bs, what, errno);
    buf[len] = '\0';
    haloResult_t code = haloRemoteError;
    if (type == BOOT_ERROR) {
        uint32_t c = get_u32(buf);
        code = c > haloSuccess && c < haloNumResults ? (haloResult_t)c : haloRemoteError;
    } else {
        boot_cut_code((char *)buf, &code);
    }
    /* The root always gives a reason; an empty one (a frame of a root that is not
     * haloccl's, or a code without text) must still leave a sentence. */
    if (!buf[off])
        return boot_die(bs, code, "rank %d: the bootstrap root %s failed the job but sent no reason (an empty %s "
                        "frame) while %s", bs->rank, bs->root_str, type == BOOT_ERROR ? "ERROR" : "ABORT", what);
    return boot_die(bs, code, "%s", (char *)buf + off);
}

/* NOTE from the root: another rank's wait, kept as that rank's latest. */
static haloResult_t boot_recv_note(struct halo_bootstrap *bs, uint32_t len, int64_t deadline, const char *what)
{
    uint8_t buf[BOOT_NOTE_BYTES];
    if (len != BOOT_NOTE_BYTES)
        return boot_malformed(bs, BOOT_NOTE, len, what);
    if (halo_io_read_full(bs->fd, buf, len, deadline) != 0)
        return boot_fail_io(bs, what, errno);
    uint32_t rank = get_u32(buf);
    HLOG_TRACE(HALO_SUB_BOOT, bs->rank, "note from rank %u: state %u peer %d", rank, get_u32(buf + 4), (int)get_u32(buf + 8));
    if (rank < (uint32_t)bs->nranks && bs->notes) {
        atomic_store(&bs->notes[rank].peer, (int)get_u32(buf + 8));
        atomic_store(&bs->notes[rank].state, (int)get_u32(buf + 4));
    }
    return haloSuccess;
}

/* Reads the next frame header; ABORT and ERROR become the sticky failure, NOTEs
 * are taken in passing. */
static haloResult_t boot_recv(struct halo_bootstrap *bs, int64_t deadline, const char *what, uint32_t *type,
                              uint32_t *len)
{
    uint8_t hdr[8];
    for (;;) {
        if (halo_io_read_full(bs->fd, hdr, sizeof(hdr), deadline) != 0)
            return boot_fail_io(bs, what, errno);
        *type = get_u32(hdr);
        *len = get_u32(hdr + 4);
        if (*type == BOOT_ABORT || *type == BOOT_ERROR)
            return boot_recv_notice(bs, *type, *len, deadline, what);
        if (*type != BOOT_NOTE)
            return haloSuccess;
        haloResult_t r = boot_recv_note(bs, *len, deadline, what);
        if (r != haloSuccess)
            return r;
    }
}

/* Where this rank connects from: the first HALO_SOCKET_IFNAME match, or the kernel's choice. */
static haloResult_t boot_client_source(struct halo_bootstrap *bs, const struct halo_params *params,
                                       struct halo_sockaddr *from, int *has_from)
{
    struct halo_ifaddr ifa;
    const char *spec = params && params->socket_ifname_s ? params->socket_ifname_s : "";
    *has_from = 0;
    if (!*spec)
        return haloSuccess;
    if (halo_if_list(spec, bs->uid.root.family, &ifa, 1) < 1)
        return halo_error(bs->comm, haloSystemError, "rank %d: no interface that is up matches "
                          "HALO_SOCKET_IFNAME=\"%s\" with an %s address to reach the bootstrap root %s: compare it "
                          "with `ip addr` (prefix list, ^ excludes, = exact)", bs->rank, spec,
                          bs->uid.root.family == AF_INET ? "IPv4" : "IPv6", bs->root_str);
    *from = ifa.addr;
    *has_from = 1;
    return haloSuccess;
}

/* "eth0 (10.0.0.7)": the interface a connection to the root leaves from. */
static void boot_source_desc(const struct halo_bootstrap *bs, const struct halo_sockaddr *from, char *buf,
                             size_t len)
{
    struct halo_sockaddr src;
    struct sockaddr_storage ss;
    char ifname[32], host[INET6_ADDRSTRLEN];
    socklen_t sslen = halo_sockaddr_to(&bs->uid.root, &ss);
    if (from) {
        src = *from;
    } else {
        /* A UDP connect sends nothing; it makes the kernel choose the route. */
        int fd = socket(bs->uid.root.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int ok = fd >= 0 && connect(fd, (struct sockaddr *)&ss, sslen) == 0;
        int err = errno;
        sslen = sizeof(ss);
        ok = ok && getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0;
        if (fd >= 0)
            close(fd);
        if (!ok) {
            snprintf(buf, len, "this host (no route: %s)", strerror(err));
            return;
        }
        halo_sockaddr_from(&src, (struct sockaddr *)&ss);
    }
    halo_if_name_of(&src, ifname, sizeof(ifname));
    snprintf(buf, len, "%s (%s)", ifname, boot_host_str(&src, host, sizeof(host)));
}

static haloResult_t boot_unreachable(struct halo_bootstrap *bs, const struct halo_sockaddr *from, int64_t start,
                                     int err, const char *note)
{
    char src[128], why[128];
    boot_source_desc(bs, from, src, sizeof(src));
    snprintf(why, sizeof(why), "%s", strerror(err));
    if (why[0] >= 'A' && why[0] <= 'Z')
        why[0] = (char)(why[0] - 'A' + 'a');
    return halo_error(bs->comm, haloRemoteError, "rank %d: could not reach the bootstrap root %s from %s for %.1f s "
                      "(%s%s): is rank 0 (the process that created the unique id) running, and is this rank part of "
                      "its job (the root stops listening once all its ranks joined)? check HALO_ROOT, "
                      "HALO_SOCKET_IFNAME and firewalls", bs->rank, bs->root_str, src,
                      (halo_now_us() - start) / 1e6, note, why);
}

/* Connects and proves the secret, retrying until the deadline. */
static haloResult_t boot_client_dial(struct halo_bootstrap *bs, const struct halo_sockaddr *from, int64_t start,
                                     int64_t deadline)
{
    char ctx[32];
    boot_ctx(bs->uid.job_id, ctx, sizeof(ctx));
    for (;;) {
        int err;
        int fd = halo_socket_connect(&bs->uid.root, from, deadline, &err);
        if (fd < 0)
            return boot_unreachable(bs, from, start, err, "");
        int64_t hs = halo_now_us() + BOOT_HANDSHAKE_MAX_US;
        enum halo_auth_result r = halo_auth_client(fd, bs->uid.secret, ctx, hs < deadline ? hs : deadline);
        err = errno;
        if (r == HALO_AUTH_OK) {
            bs->fd = fd;
            return haloSuccess;
        }
        close(fd);
        if (r == HALO_AUTH_REJECTED)
            return halo_error(bs->comm, haloInvalidUsage, "rank %d: the bootstrap root at %s rejected this rank's "
                              "proof of the job secret: all ranks must use the same unique id / HALO_SECRET",
                              bs->rank, bs->root_str);
        if (r == HALO_AUTH_PROTOCOL)
            return halo_error(bs->comm, haloInvalidUsage, "rank %d: the service at %s is not a haloccl bootstrap "
                              "root of this version (another program on that port? check HALO_ROOT)", bs->rank,
                              bs->root_str);
        if (halo_now_us() >= deadline)
            return boot_unreachable(bs, from, start, err, "the root accepted but did not finish the handshake: ");
        poll(NULL, 0, 10);
    }
}

static haloResult_t boot_client_join(struct halo_bootstrap *bs, int64_t deadline)
{
    uint8_t join[BOOT_JOIN_BYTES] = {0};
    uint32_t type, len;
    put_u32(join, (uint32_t)bs->rank);
    put_u32(join + 4, (uint32_t)bs->nranks);
    put_u32(join + 8, HALO_VERSION_CODE);
    gethostname((char *)join + 12, BOOT_HOST_BYTES - 1);
    int err = boot_send(bs, BOOT_JOIN, join, sizeof(join), NULL, 0, deadline);
    if (err)
        boot_fail_io(bs, "joining", err);
    if (err || boot_recv(bs, deadline, "joining", &type, &len) != haloSuccess)
        return boot_report(bs);
    if (type != BOOT_WELCOME || len != 0) {
        boot_malformed(bs, type, len, "joining");
        return boot_report(bs);
    }
    return haloSuccess;
}

static haloResult_t boot_client_new(struct halo_bootstrap **out, const struct halo_uid *uid, int rank, int nranks,
                                    const struct halo_params *params, struct halo_comm *comm)
{
    struct halo_bootstrap *bs = calloc(1, sizeof(*bs));
    if (!bs)
        return halo_error(comm, haloSystemError, "rank %d: out of memory for the bootstrap", rank);
    bs->fd = -1;
    bs->rank = rank;
    bs->nranks = nranks;
    bs->notes = calloc((size_t)nranks, sizeof(*bs->notes));
    if (!bs->notes) {
        free(bs);
        return halo_error(comm, haloSystemError, "rank %d: out of memory for the bootstrap", rank);
    }
    bs->uid = *uid;
    bs->timeout_us = boot_timeout_us(params);
    bs->comm = comm;
    halo_sockaddr_str(&uid->root, bs->root_str, sizeof(bs->root_str));
    pthread_mutex_init(&bs->read_lock, NULL);
    pthread_mutex_init(&bs->write_lock, NULL);
    *out = bs;
    return haloSuccess;
}

haloResult_t bootstrap_connect(struct halo_bootstrap **bsp, const haloUniqueId *id, int rank, int nranks,
                               const struct halo_params *params, struct halo_comm *comm)
{
    struct halo_bootstrap *bs = NULL;
    struct halo_uid uid;
    struct halo_sockaddr from;
    int has_from;
    char text[256];
    int64_t start = halo_now_us();

    haloResult_t res = uid_check(id, &uid, text, sizeof(text));
    if (res != haloSuccess)
        return halo_error(comm, res, "rank %d: %s", rank, text);
    if (nranks < 1 || nranks > BOOT_MAX_RANKS || rank < 0 || rank >= nranks)
        return halo_error(comm, haloInvalidArgument, "rank %d is out of range for nranks %d (nranks 1..%d)", rank,
                          nranks, BOOT_MAX_RANKS);
    res = boot_client_new(&bs, &uid, rank, nranks, params, comm);
    if (res != haloSuccess)
        return res;
    int64_t deadline = start + bs->timeout_us;
    res = boot_client_source(bs, params, &from, &has_from);
    if (res == haloSuccess)
        res = boot_client_dial(bs, has_from ? &from : NULL, start, deadline);
    if (res == haloSuccess)
        res = boot_client_join(bs, deadline);
    if (res != haloSuccess)
        goto err_close;
    socklen_t sslen = sizeof(bs->local);
    getsockname(bs->fd, (struct sockaddr *)&bs->local, &sslen);
    boot_keepalive(bs->fd);
    bs->root_local = bootstrap_root_local(bs->uid.job_id, 1);
    HLOG_INFO(HALO_SUB_BOOT, rank, "joined the bootstrap root %s as rank %d of %d in %.1f ms", bs->root_str, rank,
              nranks, (halo_now_us() - start) / 1e3);
    *bsp = bs;
    return haloSuccess;

err_close:
    atomic_store(&bs->tx_broken, 1); /* never joined: no CLOSE */
    bootstrap_close(bs, 0);
    return res;
}

static haloResult_t boot_allgather_locked(struct halo_bootstrap *bs, void *data, size_t size)
{
    char what[64];
    uint8_t sub[8];
    uint32_t type, len;
    size_t total = size * (size_t)bs->nranks;
    /* The root judges the other ranks by the same timeout; waiting a little longer
     * lets its verdict (which names the missing ranks) arrive before ours. */
    int64_t slack = bs->timeout_us / 4 < 2000000 ? bs->timeout_us / 4 : 2000000;
    int64_t deadline = halo_now_us() + bs->timeout_us + slack;

    if (atomic_load(&bs->dead))
        return boot_report(bs);
    snprintf(what, sizeof(what), "waiting for bootstrap allgather #%u", bs->seq);
    put_u32(sub, bs->seq);
    put_u32(sub + 4, (uint32_t)size);
    const char *block = size ? (const char *)data + (size_t)bs->rank * size : NULL;
    int err = boot_send(bs, BOOT_ALLGATHER, sub, sizeof(sub), block, size, deadline);
    if (err)
        boot_fail_io(bs, what, err);
    if (err || boot_recv(bs, deadline, what, &type, &len) != haloSuccess)
        return boot_report(bs);
    if (type != BOOT_RESULT || len != 8 + total) {
        boot_malformed(bs, type, len, what);
        return boot_report(bs);
    }
    if (halo_io_read_full(bs->fd, sub, sizeof(sub), deadline) != 0) {
        boot_fail_io(bs, what, errno);
        return boot_report(bs);
    }
    if (get_u32(sub) != bs->seq || get_u32(sub + 4) != size) {
        boot_malformed(bs, type, len, what);
        return boot_report(bs);
    }
    if (halo_io_read_full(bs->fd, data, total, deadline) != 0) {
        boot_fail_io(bs, what, errno);
        return boot_report(bs);
    }
    bs->seq++;
    return haloSuccess;
}

haloResult_t bootstrap_allgather(struct halo_bootstrap *bs, void *data, size_t size)
{
    if (size > BOOT_FRAME_MAX / (size_t)bs->nranks)
        return halo_error(bs->comm, haloInvalidArgument, "rank %d: bootstrap allgather of %zu bytes from each of %d "
                          "ranks exceeds the bootstrap's %u-byte limit", bs->rank, size, bs->nranks, BOOT_FRAME_MAX);
    pthread_mutex_lock(&bs->read_lock);
    haloResult_t res = boot_allgather_locked(bs, data, size);
    pthread_mutex_unlock(&bs->read_lock);
    return res;
}

haloResult_t bootstrap_barrier(struct halo_bootstrap *bs)
{
    return bootstrap_allgather(bs, NULL, 0);
}

void bootstrap_send_abort(struct halo_bootstrap *bs, const char *msg)
{
    if (!bs || bs->fd < 0)
        return;
    int64_t t = bs->timeout_us < 1000000 ? bs->timeout_us : 1000000;
    boot_send(bs, BOOT_ABORT, msg, strnlen(msg, BOOT_TEXT_MAX), NULL, 0, halo_now_us() + t);
}

/* shutdown(SHUT_RD) wakes every thread in poll() or recv() on the socket (they see
 * end of stream) and leaves the write side alone. */
void bootstrap_interrupt(struct halo_bootstrap *bs)
{
    if (!bs || bs->fd < 0)
        return;
    atomic_store(&bs->interrupted, 1);
    shutdown(bs->fd, SHUT_RD);
}

/* Anything the root sends between collectives is a NOTE, an ABORT or ERROR (or EOF). */
static void boot_poll_locked(struct halo_bootstrap *bs)
{
    struct pollfd p = {.fd = bs->fd, .events = POLLIN};
    uint8_t hdr[8];
    int64_t t = bs->timeout_us < 1000000 ? bs->timeout_us : 1000000;
    while (!atomic_load(&bs->dead) && poll(&p, 1, 0) > 0) {
        if (halo_io_read_full(bs->fd, hdr, sizeof(hdr), halo_now_us() + t) != 0) {
            boot_fail_io(bs, "between collectives", errno);
            return;
        }
        uint32_t type = get_u32(hdr), len = get_u32(hdr + 4);
        if (type == BOOT_ABORT || type == BOOT_ERROR)
            boot_recv_notice(bs, type, len, halo_now_us() + t, "between collectives");
        else if (type == BOOT_NOTE)
            boot_recv_note(bs, len, halo_now_us() + t, "between collectives");
        else
            boot_malformed(bs, type, len, "between collectives");
    }
}

void bootstrap_send_note(struct halo_bootstrap *bs, enum boot_note_state state, int peer, uint32_t opseq)
{
    uint8_t buf[BOOT_NOTE_BYTES] = {0};
    if (!bs || bs->fd < 0 || atomic_load(&bs->dead))
        return;
    put_u32(buf + 4, (uint32_t)state);
    put_u32(buf + 8, (uint32_t)peer);
    put_u32(buf + 12, opseq);
    HLOG_TRACE(HALO_SUB_BOOT, bs->rank, "note: state %d peer %d", (int)state, peer);
    boot_send(bs, BOOT_NOTE, buf, sizeof(buf), NULL, 0, halo_now_us() + 100000);
}

enum boot_note_state bootstrap_peer_note(struct halo_bootstrap *bs, int rank, int *peer)
{
    if (!bs || !bs->notes || rank < 0 || rank >= bs->nranks)
        return BOOT_NOTE_NONE;
    *peer = atomic_load(&bs->notes[rank].peer);
    return (enum boot_note_state)atomic_load(&bs->notes[rank].state);
}

haloResult_t bootstrap_poll_abort(struct halo_bootstrap *bs, char *msg, size_t msglen)
{
    if (!bs)
        return haloSuccess;
    if (!atomic_load(&bs->dead) && pthread_mutex_trylock(&bs->read_lock) == 0) {
        if (!atomic_load(&bs->dead))
            boot_poll_locked(bs);
        pthread_mutex_unlock(&bs->read_lock);
    }
    if (!atomic_load(&bs->dead))
        return haloSuccess;
    if (msg && msglen)
        snprintf(msg, msglen, "%s", bs->dead_msg);
    return bs->dead_res != haloSuccess ? bs->dead_res : haloRemoteError;
}

const struct sockaddr_storage *bootstrap_local_addr(const struct halo_bootstrap *bs)
{
    return &bs->local;
}

const uint8_t *bootstrap_secret(const struct halo_bootstrap *bs)
{
    return bs->uid.secret;
}

uint64_t bootstrap_job_id(const struct halo_bootstrap *bs)
{
    return bs->uid.job_id;
}

/* Tells the root this rank leaves on purpose, then waits (briefly) for the root to
 * close its side: closing with unread data would send a RST that can overtake CLOSE. */
static void boot_say_goodbye(struct halo_bootstrap *bs)
{
    char sink[256];
    int64_t t = bs->timeout_us < 1000000 ? bs->timeout_us : 1000000;
    int64_t deadline = halo_now_us() + t;
    if (boot_send(bs, BOOT_CLOSE, NULL, 0, NULL, 0, deadline) != 0)
        return;
    shutdown(bs->fd, SHUT_WR);
    struct pollfd p = {.fd = bs->fd, .events = POLLIN};
    for (;;) {
        int ms = (int)((deadline - halo_now_us()) / 1000);
        if (ms <= 0 || poll(&p, 1, ms) <= 0)
            return;
        ssize_t n = recv(bs->fd, sink, sizeof(sink), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            return;
    }
}

/* How long a rank whose process serves the root waits for the others to leave. */
#define BOOT_ROOT_LINGER_MAX_US 10000000LL /* 10 s */

void bootstrap_close(struct halo_bootstrap *bs, int wait_root)
{
    if (!bs)
        return;
    int healthy = bs->fd >= 0 && !atomic_load(&bs->tx_broken) && !atomic_load(&bs->dead);
    if (bs->fd >= 0) {
        if (!atomic_load(&bs->tx_broken))
            boot_say_goodbye(bs);
        close(bs->fd);
    }
    if (bs->root_local)
        bootstrap_root_local(bs->uid.job_id, -1);
    if (bs->root_local && wait_root && healthy) {
        int64_t bound = bs->timeout_us < BOOT_ROOT_LINGER_MAX_US ? bs->timeout_us : BOOT_ROOT_LINGER_MAX_US;
        if (bootstrap_root_wait(bs->uid.job_id, bound))
            HLOG_INFO(HALO_SUB_BOOT, bs->rank, "rank %d: the bootstrap root this process serves still has ranks "
                      "after %.1f s; it ends with the process", bs->rank, bound / 1e6);
    }
    pthread_mutex_destroy(&bs->read_lock);
    pthread_mutex_destroy(&bs->write_lock);
    explicit_bzero(&bs->uid, sizeof(bs->uid));
    free(bs->notes);
    free(bs);
}
