/* SPDX-License-Identifier: MIT */
/*
 * tcp_int.h — the tcp transport's connection state, shared by its data path
 * (tcp_conn.c) and its rail failover (tcp_failover.c). Private to the transport.
 */
#ifndef HALO_TCP_INT_H
#define HALO_TCP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "tcp.h"

#define TCP_FRAME_MAGIC 0x50435448u   /* "HTCP" in little-endian memory order */
#define TCP_RBUF_BYTES (64u << 10)    /* linear receive buffer */
#define TCP_DIRECT_MIN (16u << 10)    /* payload left >= this: recv straight into the slot */
#define TCP_MAX_IOV 64                /* frames per sendmsg */
#define TCP_PAGE 4096                 /* slot payloads start on a page */

/* Wire header of every frame. 64 bytes, host byte order. */
struct tcp_frame_hdr {
    uint32_t magic;      /* TCP_FRAME_MAGIC: catches a foreign peer or a stream that lost bytes */
    uint32_t kind;       /* HALO_FRAME_DATA on the data socket; TCP_CTL_* on a standby */
    uint64_t len;        /* payload bytes that follow the header, <= slot_size; a
                          * control frame's count (it has no payload) */
    struct halo_sig sig; /* signature of the operation the frame belongs to (32 bytes) */
    uint32_t crc;        /* HALO_CHECKSUM: CRC32C of this header (crc 0) and the payload */
    uint8_t pad[12];     /* zero; rounds the header up to 64 bytes */
};
_Static_assert(sizeof(struct halo_sig) == 32, "halo_sig is 32 bytes on the wire");
_Static_assert(sizeof(struct tcp_frame_hdr) == 64, "tcp frame header is 64 bytes on the wire");

/* Send FIFO: frames [head, head + nqueued) are posted and not yet all in the kernel;
 * the slot after them is the one send_slot hands out. Slot i's payload is at
 * mem + TCP_PAGE + i * stride, its header right before it. */
struct tcp_tx {
    uint8_t *mem;               /* TCP_PAGE + nslots * stride bytes, page aligned */
    size_t stride;              /* slot_size + header, rounded up to a page */
    int head;
    int nqueued;
    size_t off;                 /* bytes of the head frame (header + payload) already sent */
    uint64_t posted;            /* frames posted since the connection was made */
};

struct tcp_rx_meta {
    size_t len;
    struct halo_sig sig;
    uint32_t crc;               /* as the header carried it */
    int checked;                /* its checksum was verified (HALO_CHECKSUM) */
};

/* Receive FIFO: frames [head, head + nready) are complete; while `filling`, slot
 * head + nready is receiving the payload of the next frame. */
struct tcp_rx {
    uint8_t *slots;             /* nslots * stride, page aligned */
    size_t stride;              /* slot_size rounded up to a page */
    struct tcp_rx_meta *meta;   /* [nslots] */
    int head;
    int nready;
    int filling;
    size_t got;                 /* payload bytes of the filling frame received so far */
    int hdr_alone;              /* the last frame was large: read the next header by itself */
    uint8_t *buf;               /* linear buffer; bytes [pos, end) are received, not parsed */
    size_t pos, end;
    uint64_t frames;            /* frames received whole since the connection was made */
};

/* Rail failover (tcp_failover.c). A connection whose peer is reached over several
 * tcp rails may hold a second, standby socket on another rail. While ARMED the
 * data socket carries frames as usual and the standby carries control frames
 * only: each side acknowledges the frames it received whole (TCP_CTL_ACK, a
 * count), and a sent frame keeps its slot until acknowledged, so it can be sent
 * again. When the data socket's rail fails, the side that notices it sends
 * TCP_CTL_RESUME with its count of frames received on the standby and waits
 * (RESUMING) for the peer's; each then resends what the other lacks, and the
 * standby becomes a plain data socket (NONE). */
enum tcp_fo_state { TCP_FO_NONE = 0, TCP_FO_ARMED, TCP_FO_RESUMING };
#define TCP_CTL_ACK 0x10u
#define TCP_CTL_RESUME 0x11u

struct tcp_fo {
    enum tcp_fo_state state;
    int fd;                     /* the standby socket; -1 when NONE */
    int rail;                   /* its rail among the peer's rails */
    int ack_every;              /* acknowledge after this many frames */
    unsigned idle;              /* idle polls since the standby was last read */
    uint64_t acked;             /* frames the peer acknowledged */
    uint64_t ack_sent;          /* rx.frames in our last acknowledgement */
    struct tcp_frame_hdr in;    /* control frame being read, in_got bytes so far */
    size_t in_got;
    struct tcp_frame_hdr out;   /* control frame being written, out_off bytes out */
    size_t out_off;             /* sizeof(out): nothing to write */
    int resumed;                /* the standby carries the data now */
    char why[96];               /* how the data socket failed */
};

struct tcp_conn {
    struct halo_conn base;      /* first: the transport-independent head */
    int fd;                     /* owned; -1 in a half-built connection */
    int nslots;
    int checksum;               /* HALO_CHECKSUM: every data frame carries a CRC32C */
    haloResult_t failed;        /* sticky result once the connection failed */
    int eof;                    /* the peer ended its stream (FIN): frames read before it
                                 * are still delivered; waiting for another one fails */
    int rail;                   /* the peer's rail the data socket runs on, -1: its route */
    struct tcp_tx tx;
    struct tcp_rx rx;
    struct tcp_fo fo;
};

static inline int tcp_idx(const struct tcp_conn *c, int i)
{
    return i >= c->nslots ? i - c->nslots : i; /* i < 2 * nslots always */
}

static inline uint8_t *tcp_tx_payload(const struct tcp_conn *c, int i)
{
    return c->tx.mem + TCP_PAGE + (size_t)i * c->tx.stride;
}

static inline struct tcp_frame_hdr *tcp_tx_hdr(const struct tcp_conn *c, int i)
{
    return (struct tcp_frame_hdr *)(tcp_tx_payload(c, i) - sizeof(struct tcp_frame_hdr));
}

static inline uint8_t *tcp_rx_slot(const struct tcp_conn *c, int i)
{
    return c->rx.slots + (size_t)i * c->rx.stride;
}

/* Frames sent whole whose slots are kept for a resend (none without a standby). */
static inline int tcp_held(const struct tcp_conn *c)
{
    return c->fo.state == TCP_FO_NONE ? 0 : (int)(c->tx.posted - (uint64_t)c->tx.nqueued - c->fo.acked);
}

/* tcp_conn.c */
void tcp_peer_name(const struct tcp_conn *c, char *buf, size_t len);
haloResult_t tcp_fail(struct tcp_conn *c, haloResult_t res, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
haloResult_t tcp_fail_io(struct tcp_conn *c, int err, const char *op);
/* Drops a frame half received and bytes not yet parsed: the sender sends them again. */
void tcp_rx_drop_partial(struct tcp_conn *c);
/* Non-blocking, no Nagle; -1 with errno on failure. */
int tcp_socket_prepare(int fd);

/* tcp_failover.c */
/* The data socket failed with err (0: end of stream) in op: fails over to the
 * standby where there is one and the error may be the cable's, else fails the
 * connection as tcp_fail_io does. */
haloResult_t tcp_fo_io_failed(struct tcp_conn *c, int err, const char *op);
/* Reads the standby's control frames and writes a due acknowledgement. Cheap when
 * nothing is due; every call when RESUMING, every few when ARMED unless urgent. */
haloResult_t tcp_fo_poll(struct tcp_conn *c, int urgent);
/* Writes an acknowledgement when enough frames arrived since the last. */
haloResult_t tcp_fo_ack(struct tcp_conn *c);
void tcp_fo_close(struct tcp_conn *c);

#endif
