/* SPDX-License-Identifier: MIT */
/*
 * socket.h — small socket helpers shared by the bootstrap and the tcp transport:
 * interface selection (NCCL's HALO_SOCKET_IFNAME syntax), address text, listening,
 * connecting with a deadline, and whole-buffer I/O with a deadline.
 */
#ifndef HALO_SOCKET_H
#define HALO_SOCKET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "haloccl.h"

/* Compact address stored in ids and peer tables (no pointers, host independent). */
struct halo_sockaddr {
    uint16_t family; /* AF_INET or AF_INET6 */
    uint16_t port;   /* network byte order */
    uint32_t scope_id;
    uint8_t addr[16];
};

void halo_sockaddr_from(struct halo_sockaddr *out, const struct sockaddr *sa);
/* Returns the socklen. */
socklen_t halo_sockaddr_to(const struct halo_sockaddr *in, struct sockaddr_storage *out);
/* "10.0.0.1:4000" / "[fe80::1%eth0]:4000", without ":port" when the port is 0 (an
 * interface address); buf of at least 64 bytes. */
const char *halo_sockaddr_str(const struct halo_sockaddr *a, char *buf, size_t len);
/* Parses "host:port", "[v6]:port" or a host name (resolved, IPv4 first). 0 or -1. */
int halo_sockaddr_parse(const char *text, struct halo_sockaddr *out, char *err, size_t errlen);

/* Does interface `name` match spec? NCCL syntax: "eth,ib" prefixes; "^eth" excludes;
 * "=eth0" exact; "^=eth0" exact exclude. Empty spec matches everything. */
int halo_ifname_match(const char *spec, const char *name);
/* NCCL's list syntax, shared by interface and RDMA device lists: comma-separated
 * items, a leading ^ excludes them, a leading = (after ^) makes them exact. An empty
 * spec matches everything. item(entry, len, exact, arg) tests one item. */
typedef int (*halo_spec_item_fn)(const char *entry, size_t len, int exact, const void *arg);
int halo_spec_match(const char *spec, halo_spec_item_fn item, const void *arg);

struct halo_ifaddr {
    char name[32];
    struct halo_sockaddr addr;
};
/* Lists up interfaces matching spec (family 0 = any). Without a spec: non-loopback,
 * non-link-local addresses first, docker* and virbr* last, loopback only if nothing else.
 * Returns the count (<= max), 0 if none. */
int halo_if_list(const char *spec, int family, struct halo_ifaddr *out, int max);
/* Name of the local interface holding `addr`, or "?" */
void halo_if_name_of(const struct halo_sockaddr *addr, char *name, size_t len);

/* Non-blocking-safe helpers; fd is left blocking with CLOEXEC. */
int halo_socket_listen(const struct halo_sockaddr *bind_addr, int backlog, struct halo_sockaddr *bound);
/* Connects with retries on ECONNREFUSED/ETIMEDOUT until deadline_us (monotonic). */
int halo_socket_connect(const struct halo_sockaddr *to, const struct halo_sockaddr *from_or_null,
                        int64_t deadline_us, int *err_out);
/* Reads/writes exactly len bytes unless the deadline passes or the peer closes.
 * Returns 0, or -1 with errno (ETIMEDOUT, ECONNRESET for EOF). */
int halo_io_read_full(int fd, void *buf, size_t len, int64_t deadline_us);
int halo_io_write_full(int fd, const void *buf, size_t len, int64_t deadline_us);
/* Monotonic clock in microseconds. */
int64_t halo_now_us(void);

#endif
