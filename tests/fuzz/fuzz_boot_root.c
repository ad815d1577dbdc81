/* SPDX-License-Identifier: MIT */
/*
 * fuzz_boot_root.c — the bootstrap root (src/core/bootstrap_root.c) reading frames
 * from ranks that passed the handshake: JOIN, ALLGATHER, NOTE, ABORT, CLOSE, in
 * any order, split anywhere, on up to three connections. The root's event-loop
 * reader (root_conn_read) runs on sockets fed from the input; the file is compiled
 * into this target so that its static state machine runs as it is (the rest of the
 * library comes from the static library).
 *
 * Input: byte 0 = connections (1..3), then chunks {byte: connection, byte: n, n
 * bytes} written to that connection, each followed by a read pass of the root and
 * a flush of what it answers. At the end every connection's stream ends (EOF).
 * Invariants: every frame the root sends is well formed (a type it may send, a
 * length within its bounds, an ERROR's code valid); counters stay within nranks;
 * nothing leaks, nothing reads past its buffers (ASan).
 */
#include "fuzz_util.h"

#include "bootstrap_root.c"

#define FUZZ_CONNS 3

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    return 0;
}

/* What the root wrote to one connection, parsed frame by frame. */
struct out_check {
    uint8_t hdr[8];
    size_t hgot;
    uint64_t left; /* payload bytes of the current frame still to come */
    uint32_t type;
    uint8_t code[4]; /* an ERROR's result code */
    size_t cgot;
};

static void out_check_bytes(struct out_check *o, const uint8_t *p, size_t n)
{
    while (n > 0) {
        if (o->left > 0) {
            size_t k = n < o->left ? n : (size_t)o->left;
            for (size_t j = 0; j < k && o->type == BOOT_ERROR && o->cgot < 4; j++)
                o->code[o->cgot++] = p[j];
            if (o->type == BOOT_ERROR && o->cgot == 4) {
                uint32_t code = fuzz_u32(o->code);
                FUZZ_CHECK(code > haloSuccess && code < haloNumResults);
                o->cgot = 5;
            }
            p += k;
            n -= k;
            o->left -= k;
            continue;
        }
        size_t k = 8 - o->hgot < n ? 8 - o->hgot : n;
        memcpy(o->hdr + o->hgot, p, k);
        o->hgot += k;
        p += k;
        n -= k;
        if (o->hgot < 8)
            continue;
        o->hgot = 0;
        o->cgot = 0;
        o->type = fuzz_u32(o->hdr);
        uint32_t len = fuzz_u32(o->hdr + 4);
        switch (o->type) {
        case BOOT_WELCOME: FUZZ_CHECK(len == 0); break;
        case BOOT_RESULT: FUZZ_CHECK(len >= 8 && len <= 8 + BOOT_FRAME_MAX); break;
        case BOOT_ABORT: FUZZ_CHECK(len <= BOOT_TEXT_MAX); break;
        case BOOT_ERROR: FUZZ_CHECK(len >= 4 && len <= 4 + BOOT_TEXT_MAX); break;
        case BOOT_NOTE: FUZZ_CHECK(len == BOOT_NOTE_BYTES); break;
        default: FUZZ_CHECK(!"the root sent a frame of a type it never sends");
        }
        o->left = len;
    }
}

static void drain(int fd, struct out_check *o)
{
    uint8_t buf[4096];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0)
            return;
        out_check_bytes(o, buf, (size_t)n);
    }
}

static void root_invariants(const struct boot_root *root)
{
    FUZZ_CHECK(root->nranks >= 0 && root->nranks <= BOOT_MAX_RANKS);
    FUZZ_CHECK(root->njoined >= 0 && root->njoined <= root->nranks);
    FUZZ_CHECK(root->nconnected >= 0 && root->nconnected <= root->njoined);
    FUZZ_CHECK(root->narrived >= 0 && root->narrived <= root->nranks);
    for (int i = 0; i < root->nconns; i++) {
        const struct boot_conn *c = root->conns[i];
        FUZZ_CHECK(c->rank >= -1 && c->rank < (root->nranks ? root->nranks : 1));
        if (c->state == CONN_JOIN || c->state == CONN_RANK)
            FUZZ_CHECK(c->rgot <= c->rwant);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    struct boot_root *root = calloc(1, sizeof(*root));
    FUZZ_CHECK(root != NULL);
    root->listen_fd = -1;
    root->job_id = 0x1234;
    boot_ctx(root->job_id, root->ctx, sizeof(root->ctx));
    root->timeout_us = 2000000;
    root->start_us = halo_now_us();
    snprintf(root->addr, sizeof(root->addr), "fuzz-root");

    int nconns = 1 + data[0] % FUZZ_CONNS, feed[FUZZ_CONNS];
    struct out_check out[FUZZ_CONNS];
    struct boot_conn *conns[FUZZ_CONNS];
    memset(out, 0, sizeof(out));
    for (int i = 0; i < nconns; i++) {
        int sv[2];
        fuzz_socketpair(sv);
        feed[i] = sv[0];
        struct boot_conn *c = calloc(1, sizeof(*c));
        FUZZ_CHECK(c != NULL);
        c->fd = sv[1];
        c->rank = -1;
        c->state = CONN_JOIN; /* proved the secret (fuzz_auth covers the proof) */
        c->opened_us = halo_now_us();
        c->deadline_us = c->opened_us + root->timeout_us;
        snprintf(c->addr, sizeof(c->addr), "10.0.0.%d:4000", i + 1);
        FUZZ_CHECK(root_conns_append(root, c) == 0);
        conn_expect(c, c->hdr, 8);
        conns[i] = c;
    }
    size_t pos = 1;
    while (pos + 2 <= size) {
        int i = data[pos] % nconns;
        size_t n = data[pos + 1];
        pos += 2;
        if (n > size - pos)
            n = size - pos;
        ssize_t w = n ? send(feed[i], data + pos, n, MSG_DONTWAIT | MSG_NOSIGNAL) : 0;
        pos += n;
        (void)w;
        for (int k = 0; k < nconns; k++) {
            if (conn_alive(conns[k]) && conns[k]->state != CONN_DRAIN)
                root_conn_read(root, conns[k]);
            root_conn_flush(root, conns[k]);
            drain(feed[k], &out[k]);
            root_invariants(root);
        }
    }
    for (int k = 0; k < nconns; k++) { /* every rank's stream ends */
        shutdown(feed[k], SHUT_WR);
        if (conn_alive(conns[k]) && conns[k]->state != CONN_DRAIN)
            root_conn_read(root, conns[k]);
        for (int j = 0; j < nconns; j++) {
            root_conn_flush(root, conns[j]);
            drain(feed[j], &out[j]);
        }
        root_invariants(root);
    }
    root_destroy(root); /* closes the root's ends */
    for (int k = 0; k < nconns; k++)
        close(feed[k]);
    return 0;
}
