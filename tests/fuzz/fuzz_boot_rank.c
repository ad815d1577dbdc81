/* SPDX-License-Identifier: MIT */
/*
 * fuzz_boot_rank.c — the rank side of the bootstrap (src/core/bootstrap.c) reading
 * what the root sends after the handshake: the answer to JOIN (WELCOME, or ERROR /
 * ABORT with a sentence, NOTEs in passing), then up to three all-gathers (RESULT)
 * and the frames between collectives (bootstrap_poll_abort). The stream comes from
 * the input through a socket, as from the root; the file is compiled into this
 * target so that its static readers run as they are (the rest of the library is
 * linked from the static library).
 *
 * Input: byte 0 = rank and nranks (nranks 1..8), byte 1 = all-gather block size
 * (0..63), then the root's bytes.
 * Invariants: a join succeeds only on a WELCOME of length 0; a failure is sticky
 * and carries a valid result code and a sentence; notes never name a rank out of
 * range; nothing leaks, nothing reads past its buffers (ASan).
 */
#include "fuzz_util.h"

#include "bootstrap.c"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 65536)
        return 0;
    int nranks = 1 + (data[0] & 7), rank = (data[0] >> 3) % nranks;
    size_t block = data[1] & 63;
    struct halo_uid uid = {.magic = HALO_UID_MAGIC, .version = HALO_VERSION_CODE, .job_id = 0x1234};
    uid.root.family = AF_INET;
    uid.root.port = htons(29500);
    struct halo_bootstrap *bs = NULL;
    FUZZ_CHECK(boot_client_new(&bs, &uid, rank, nranks, NULL, NULL) == haloSuccess);
    int sv[2];
    size_t off = 0;
    fuzz_socketpair(sv);
    bs->fd = sv[1];
    bs->timeout_us = 2000000; /* the stream ends with the input: no read waits for long */
    FUZZ_CHECK(fuzz_feed(sv[0], data + 2, size - 2, &off));

    int64_t deadline = halo_now_us() + bs->timeout_us;
    haloResult_t r = boot_client_join(bs, deadline);
    if (r == haloSuccess) {
        FUZZ_CHECK(size - 2 >= 8); /* at least the WELCOME header */
        for (int k = 0; k < 3 && r == haloSuccess; k++) {
            uint8_t *buf = calloc((size_t)nranks, block ? block : 1);
            FUZZ_CHECK(buf != NULL);
            memset(buf + (size_t)rank * block, 0x5a, block);
            r = bootstrap_allgather(bs, buf, block);
            free(buf);
            if (r == haloSuccess)
                FUZZ_CHECK(bs->seq == (uint32_t)k + 1);
        }
        char msg[BOOT_TEXT_MAX + 300];
        haloResult_t a = bootstrap_poll_abort(bs, msg, sizeof(msg));
        FUZZ_CHECK(a == haloSuccess || (a > haloSuccess && a < haloNumResults));
        for (int p = 0; p < nranks; p++) {
            int peer = 0;
            enum boot_note_state st = bootstrap_peer_note(bs, p, &peer);
            (void)st;
        }
    }
    if (r != haloSuccess) {
        FUZZ_CHECK(r > haloSuccess && r < haloNumResults);
        FUZZ_CHECK(atomic_load(&bs->dead));
        FUZZ_CHECK(halo_thread_last_error()[0] != '\0');
        FUZZ_CHECK(strlen(bs->dead_msg) < sizeof(bs->dead_msg));
    }
    atomic_store(&bs->tx_broken, 1); /* no goodbye: the "root" is this process */
    bootstrap_close(bs, 0);
    close(sv[0]);
    return 0;
}
