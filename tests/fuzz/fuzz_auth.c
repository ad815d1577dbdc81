/* SPDX-License-Identifier: MIT */
/*
 * fuzz_auth.c — the job-secret handshake (src/base/auth.c) on bytes from the peer.
 * The first byte picks the side, the second the context string's length (longer
 * than HALO_AUTH_CTX_MAX must be refused); the rest is what the peer sends:
 *   0  the server's check of a PROOF (halo_auth_check_proof, the root's event loop):
 *      OK exactly when magic, version and the HMAC are right (computed here with
 *      libsodium from the same inputs), REJECTED with a zero verdict otherwise;
 *   1  the client (halo_auth_client) reading HELLO and VERDICT from a socket: never
 *      OK, since a verdict cannot know this run's random client nonce;
 *   2  the server (halo_auth_server) reading a PROOF from a socket: never OK, since a
 *      proof cannot know this run's random server nonce.
 */
#include "fuzz_util.h"

#include <sodium.h>

#include "auth.h"
#include "socket.h"

static const uint8_t fuzz_key[HALO_AUTH_KEY_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                                     17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    if (halo_auth_init() != 0)
        abort();
    return 0;
}

/* The proof the server expects: magic, version, nonce_c, HMAC(key, "C" ctx 0 nonce_s nonce_c). */
static int proof_is_valid(const char *ctx, const uint8_t nonce_s[HALO_AUTH_NONCE_BYTES], const uint8_t *proof)
{
    uint8_t msg[1 + 300 + 1 + 2 * HALO_AUTH_NONCE_BYTES], mac[crypto_auth_hmacsha256_BYTES];
    size_t clen = strlen(ctx), off = 0;
    if (clen > HALO_AUTH_CTX_MAX || fuzz_u32(proof) != 0x48415554u || fuzz_u32(proof + 4) != 1)
        return 0;
    msg[off++] = 'C';
    memcpy(msg + off, ctx, clen + 1);
    off += clen + 1;
    memcpy(msg + off, nonce_s, HALO_AUTH_NONCE_BYTES);
    off += HALO_AUTH_NONCE_BYTES;
    memcpy(msg + off, proof + 8, HALO_AUTH_NONCE_BYTES);
    off += HALO_AUTH_NONCE_BYTES;
    crypto_auth_hmacsha256(mac, msg, off, fuzz_key);
    return memcmp(mac, proof + 8 + HALO_AUTH_NONCE_BYTES, sizeof(mac)) == 0;
}

static void check_proof(const char *ctx, const uint8_t *data, size_t size)
{
    struct halo_auth_server_state st;
    uint8_t proof[HALO_AUTH_PROOF_BYTES] = {0}, verdict[HALO_AUTH_VERDICT_BYTES];
    /* A fixed server nonce: the fuzzer may then find (or be seeded with) a valid proof. */
    for (size_t i = 0; i < sizeof(st.nonce_s); i++)
        st.nonce_s[i] = (uint8_t)(0x40 + i);
    memcpy(proof, data, size < sizeof(proof) ? size : sizeof(proof));
    memset(verdict, 0xee, sizeof(verdict));
    enum halo_auth_result r = halo_auth_check_proof(&st, fuzz_key, ctx, proof, verdict);
    int valid = proof_is_valid(ctx, st.nonce_s, proof);
    int framed = fuzz_u32(proof) == 0x48415554u && fuzz_u32(proof + 4) == 1 && strlen(ctx) <= HALO_AUTH_CTX_MAX;
    FUZZ_CHECK(r == HALO_AUTH_OK || r == HALO_AUTH_REJECTED || r == HALO_AUTH_PROTOCOL);
    FUZZ_CHECK((r == HALO_AUTH_OK) == valid);
    FUZZ_CHECK((r == HALO_AUTH_PROTOCOL) == !framed);
    if (r == HALO_AUTH_REJECTED) { /* a refusal carries ok=0 and no MAC */
        static const uint8_t zero[HALO_AUTH_VERDICT_BYTES - 8];
        FUZZ_CHECK(fuzz_u32(verdict) == 0x48415554u && fuzz_u32(verdict + 4) == 0);
        FUZZ_CHECK(memcmp(verdict + 8, zero, sizeof(zero)) == 0);
    }
    if (r == HALO_AUTH_OK)
        FUZZ_CHECK(fuzz_u32(verdict + 4) == 1);
}

static void over_socket(int server, const char *ctx, const uint8_t *data, size_t size)
{
    int sv[2];
    size_t off = 0;
    fuzz_socketpair(sv);
    /* Both messages fit the socket buffer; the code under test writes at most 72 bytes. */
    FUZZ_CHECK(fuzz_feed(sv[0], data, size, &off));
    int64_t deadline = halo_now_us() + 2000000;
    enum halo_auth_result r = server ? halo_auth_server(sv[1], fuzz_key, ctx, deadline)
                                     : halo_auth_client(sv[1], fuzz_key, ctx, deadline);
    FUZZ_CHECK(r == HALO_AUTH_REJECTED || r == HALO_AUTH_IO || r == HALO_AUTH_PROTOCOL);
    close(sv[0]);
    close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char ctx[300];
    if (size < 2 || size > 4096)
        return 0;
    size_t clen = data[1] % sizeof(ctx);
    memset(ctx, 'c', clen);
    ctx[clen] = '\0';
    if (clen >= 5)
        memcpy(ctx, "boot:", 5);
    switch (data[0] % 3) {
    case 0: check_proof(ctx, data + 2, size - 2); break;
    case 1: over_socket(0, ctx, data + 2, size - 2); break;
    case 2: over_socket(1, ctx, data + 2, size - 2); break;
    }
    return 0;
}
