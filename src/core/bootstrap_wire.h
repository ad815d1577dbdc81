/* SPDX-License-Identifier: MIT */
/*
 * bootstrap_wire.h — the frame format shared by the bootstrap root (bootstrap_root.c)
 * and the rank side (bootstrap.c). The message sequence is described at the top of
 * bootstrap.c. Private to those two files.
 *
 * After the auth.c handshake every message is a frame {type u32, len u32, payload[len]},
 * integers little-endian. Payloads:
 *   JOIN      {rank u32, nranks u32, version u32, host[64]}     rank -> root
 *   WELCOME   {}                                                root -> rank
 *   ALLGATHER {seq u32, size u32, block[size]}                  rank -> root
 *   RESULT    {seq u32, size u32, all[nranks * size]}           root -> rank
 *   ABORT     {text, no NUL}                                    both ways
 *   ERROR     {haloResult_t u32, text, no NUL}                  root -> rank
 *   CLOSE     {}                                                rank -> root
 */
#ifndef HALO_BOOTSTRAP_WIRE_H
#define HALO_BOOTSTRAP_WIRE_H

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "haloccl.h"
#include "param.h"

#define BOOT_FRAME_MAX (64u << 20) /* largest payload, bytes: bounds nranks * size */
#define BOOT_TEXT_MAX 1024         /* abort / error text, bytes */
#define BOOT_HOST_BYTES 64
#define BOOT_JOIN_BYTES (12 + BOOT_HOST_BYTES)
#define BOOT_MAX_RANKS 65536
#define BOOT_HANDSHAKE_MAX_US (10 * 1000000LL) /* auth + JOIN, per connection */
#define BOOT_DEFAULT_TIMEOUT_US (60 * 1000000LL)

enum boot_type {
    BOOT_JOIN = 1,
    BOOT_WELCOME = 2,
    BOOT_ALLGATHER = 3,
    BOOT_RESULT = 4,
    BOOT_ABORT = 5,
    BOOT_ERROR = 6,
    BOOT_CLOSE = 7,
    BOOT_NOTE = 8, /* {rank, state, peer, opseq}: a rank's wait, relayed to the others */
};
#define BOOT_NOTE_BYTES 16

static inline void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* HALO_TIMEOUT_MS in microseconds (60 s when unset or not positive). */
static inline int64_t boot_timeout_us(const struct halo_params *params)
{
    int64_t t = params ? params->timeout_i : 0;
    return t > 0 ? t : BOOT_DEFAULT_TIMEOUT_US;
}

/* "0.1.0" from a HALO_VERSION_CODE. */
static inline const char *boot_version_str(uint32_t code, char *buf, size_t len)
{
    snprintf(buf, len, "%u.%u.%u", code / 10000, code / 100 % 100, code % 100);
    return buf;
}

/* The auth context: a proof made for one job cannot join another. */
static inline void boot_ctx(uint64_t job_id, char *ctx, size_t len)
{
    snprintf(ctx, len, "boot:%016llx", (unsigned long long)job_id);
}

/* No Nagle delay; dead peers without a FIN (a host that lost power) are found by
 * keepalive after about 90 s of silence. */
static inline void boot_keepalive(int fd)
{
    int one = 1, idle = 30, intvl = 10, cnt = 6;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

struct halo_uid;
/* Starts the root service thread for uid on a listening socket (bootstrap_root.c).
 * Takes ownership of listen_fd: the thread closes it, or this does on failure. */
haloResult_t boot_root_launch(const struct halo_uid *uid, int listen_fd, const struct halo_params *params,
                              const char *ifname, int nranks_hint);

#endif
