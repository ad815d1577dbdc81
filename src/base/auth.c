/* SPDX-License-Identifier: MIT */
/*
 * auth.c — mutual proof of the job secret (HMAC-SHA256 challenge/response).
 *
 * Message sequence on a freshly connected socket (all fields little-endian, every
 * message of fixed size):
 *   server -> client  HELLO   magic u32, version u32, nonce_s[32]                (40 B)
 *   client -> server  PROOF   magic u32, version u32, nonce_c[32], mac_c[32]     (72 B)
 *                             mac_c = HMAC(key, "C" ctx '\0' nonce_s nonce_c)
 *   server -> client  VERDICT magic u32, ok u32, mac_s[32]                       (40 B)
 *                             ok=1: mac_s = HMAC(key, "S" ctx '\0' nonce_c nonce_s)
 *                             ok=0: mac_s zero, then the server closes
 * Each side's MAC covers both nonces, so neither side can replay an old answer, and
 * the "C"/"S" labels keep a server's answer from serving as a client's proof. The
 * client checks mac_s too: a listener that does not know the secret cannot pose as
 * the root. HMAC-SHA256 and SHA-256 come from libsodium, whose primitives hold no
 * locks: a process may fork while another thread authenticates (OpenSSL's fetch
 * locks could be inherited held by the child). MACs compare in constant time.
 */
#include "auth.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <sys/random.h>

#include "socket.h"

#define AUTH_MAGIC 0x48415554u /* "HAUT" */
#define AUTH_VERSION 1u
#define AUTH_MAC_BYTES 32

_Static_assert(HALO_AUTH_HELLO_BYTES == 8 + HALO_AUTH_NONCE_BYTES, "hello layout");
_Static_assert(HALO_AUTH_PROOF_BYTES == 8 + HALO_AUTH_NONCE_BYTES + AUTH_MAC_BYTES, "proof layout");
_Static_assert(HALO_AUTH_VERDICT_BYTES == 8 + AUTH_MAC_BYTES, "verdict layout");

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int halo_random_bytes(void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

_Static_assert(crypto_auth_hmacsha256_KEYBYTES == HALO_AUTH_KEY_BYTES, "HMAC key size");
_Static_assert(crypto_auth_hmacsha256_BYTES == AUTH_MAC_BYTES, "HMAC size");

static pthread_once_t auth_once = PTHREAD_ONCE_INIT;
static int auth_ready;

static void auth_init_once(void)
{
    auth_ready = sodium_init() >= 0;
}

int halo_auth_init(void)
{
    pthread_once(&auth_once, auth_init_once);
    return auth_ready ? 0 : -1;
}

void halo_secret_derive(const char *text, size_t len, uint8_t key[HALO_AUTH_KEY_BYTES])
{
    crypto_hash_sha256(key, (const unsigned char *)text, len);
}

const char *halo_auth_result_str(enum halo_auth_result r)
{
    switch (r) {
    case HALO_AUTH_OK: return "ok";
    case HALO_AUTH_REJECTED: return "rejected";
    case HALO_AUTH_IO: return "i/o error";
    case HALO_AUTH_PROTOCOL: return "protocol error";
    }
    return "?";
}

/* mac = HMAC-SHA256(key, label ctx '\0' n1 n2). 0, or -1 (ctx too long, libsodium failure). */
static int auth_mac(const uint8_t key[HALO_AUTH_KEY_BYTES], char label, const char *ctx, const uint8_t *n1,
                    const uint8_t *n2, uint8_t mac[AUTH_MAC_BYTES])
{
    uint8_t msg[1 + HALO_AUTH_CTX_MAX + 1 + 2 * HALO_AUTH_NONCE_BYTES];
    size_t clen = strlen(ctx), off = 0;
    if (clen > HALO_AUTH_CTX_MAX || halo_auth_init() != 0)
        return -1;
    msg[off++] = (uint8_t)label;
    memcpy(msg + off, ctx, clen + 1);
    off += clen + 1;
    memcpy(msg + off, n1, HALO_AUTH_NONCE_BYTES);
    off += HALO_AUTH_NONCE_BYTES;
    memcpy(msg + off, n2, HALO_AUTH_NONCE_BYTES);
    off += HALO_AUTH_NONCE_BYTES;
    return crypto_auth_hmacsha256(mac, msg, off, key) == 0 ? 0 : -1;
}

/* ---- server ---- */

int halo_auth_hello(struct halo_auth_server_state *st, uint8_t hello[HALO_AUTH_HELLO_BYTES])
{
    if (halo_random_bytes(st->nonce_s, sizeof(st->nonce_s)) != 0)
        return -1;
    put_u32(hello, AUTH_MAGIC);
    put_u32(hello + 4, AUTH_VERSION);
    memcpy(hello + 8, st->nonce_s, HALO_AUTH_NONCE_BYTES);
    return 0;
}

static void auth_verdict(uint8_t verdict[HALO_AUTH_VERDICT_BYTES], int ok, const uint8_t *mac)
{
    put_u32(verdict, AUTH_MAGIC);
    put_u32(verdict + 4, ok ? 1u : 0u);
    if (ok)
        memcpy(verdict + 8, mac, AUTH_MAC_BYTES);
    else
        memset(verdict + 8, 0, AUTH_MAC_BYTES);
}

enum halo_auth_result halo_auth_check_proof(const struct halo_auth_server_state *st,
                                            const uint8_t key[HALO_AUTH_KEY_BYTES], const char *ctx,
                                            const uint8_t proof[HALO_AUTH_PROOF_BYTES],
                                            uint8_t verdict[HALO_AUTH_VERDICT_BYTES])
{
    const uint8_t *nonce_c = proof + 8, *mac_c = proof + 8 + HALO_AUTH_NONCE_BYTES;
    uint8_t expect[AUTH_MAC_BYTES], mac_s[AUTH_MAC_BYTES];

    if (get_u32(proof) != AUTH_MAGIC || get_u32(proof + 4) != AUTH_VERSION)
        return HALO_AUTH_PROTOCOL;
    if (auth_mac(key, 'C', ctx, st->nonce_s, nonce_c, expect) != 0 ||
        auth_mac(key, 'S', ctx, nonce_c, st->nonce_s, mac_s) != 0)
        return HALO_AUTH_PROTOCOL;
    if (sodium_memcmp(expect, mac_c, AUTH_MAC_BYTES) != 0) {
        auth_verdict(verdict, 0, NULL);
        return HALO_AUTH_REJECTED;
    }
    auth_verdict(verdict, 1, mac_s);
    return HALO_AUTH_OK;
}

enum halo_auth_result halo_auth_server(int fd, const uint8_t key[HALO_AUTH_KEY_BYTES], const char *ctx,
                                       int64_t deadline_us)
{
    struct halo_auth_server_state st;
    uint8_t hello[HALO_AUTH_HELLO_BYTES], proof[HALO_AUTH_PROOF_BYTES], verdict[HALO_AUTH_VERDICT_BYTES];

    if (halo_auth_hello(&st, hello) != 0)
        return HALO_AUTH_IO;
    if (halo_io_write_full(fd, hello, sizeof(hello), deadline_us) != 0 ||
        halo_io_read_full(fd, proof, sizeof(proof), deadline_us) != 0)
        return HALO_AUTH_IO;
    enum halo_auth_result r = halo_auth_check_proof(&st, key, ctx, proof, verdict);
    if (r == HALO_AUTH_PROTOCOL)
        return r;
    /* A rejected client still gets its verdict; failing to deliver it changes nothing. */
    if (halo_io_write_full(fd, verdict, sizeof(verdict), deadline_us) != 0 && r == HALO_AUTH_OK)
        return HALO_AUTH_IO;
    return r;
}

/* ---- client ---- */

/* Reads HELLO and writes PROOF; keeps nonce_c for checking the verdict. */
static enum halo_auth_result auth_client_prove(int fd, const uint8_t key[HALO_AUTH_KEY_BYTES], const char *ctx,
                                               int64_t deadline_us, uint8_t nonce_s[HALO_AUTH_NONCE_BYTES],
                                               uint8_t nonce_c[HALO_AUTH_NONCE_BYTES])
{
    uint8_t hello[HALO_AUTH_HELLO_BYTES], proof[HALO_AUTH_PROOF_BYTES];

    if (halo_io_read_full(fd, hello, sizeof(hello), deadline_us) != 0)
        return HALO_AUTH_IO;
    if (get_u32(hello) != AUTH_MAGIC || get_u32(hello + 4) != AUTH_VERSION)
        return HALO_AUTH_PROTOCOL;
    memcpy(nonce_s, hello + 8, HALO_AUTH_NONCE_BYTES);
    if (halo_random_bytes(nonce_c, HALO_AUTH_NONCE_BYTES) != 0)
        return HALO_AUTH_IO;
    put_u32(proof, AUTH_MAGIC);
    put_u32(proof + 4, AUTH_VERSION);
    memcpy(proof + 8, nonce_c, HALO_AUTH_NONCE_BYTES);
    if (auth_mac(key, 'C', ctx, nonce_s, nonce_c, proof + 8 + HALO_AUTH_NONCE_BYTES) != 0)
        return HALO_AUTH_PROTOCOL;
    if (halo_io_write_full(fd, proof, sizeof(proof), deadline_us) != 0)
        return HALO_AUTH_IO;
    return HALO_AUTH_OK;
}

enum halo_auth_result halo_auth_client(int fd, const uint8_t key[HALO_AUTH_KEY_BYTES], const char *ctx,
                                       int64_t deadline_us)
{
    uint8_t nonce_s[HALO_AUTH_NONCE_BYTES], nonce_c[HALO_AUTH_NONCE_BYTES];
    uint8_t verdict[HALO_AUTH_VERDICT_BYTES], expect[AUTH_MAC_BYTES];

    enum halo_auth_result r = auth_client_prove(fd, key, ctx, deadline_us, nonce_s, nonce_c);
    if (r != HALO_AUTH_OK)
        return r;
    if (halo_io_read_full(fd, verdict, sizeof(verdict), deadline_us) != 0)
        return HALO_AUTH_IO;
    uint32_t ok = get_u32(verdict + 4);
    if (get_u32(verdict) != AUTH_MAGIC || ok > 1)
        return HALO_AUTH_PROTOCOL;
    if (!ok)
        return HALO_AUTH_REJECTED;
    if (auth_mac(key, 'S', ctx, nonce_c, nonce_s, expect) != 0)
        return HALO_AUTH_PROTOCOL;
    /* The server does not know the secret: treat it as a rejection of the pairing. */
    if (sodium_memcmp(expect, verdict + 8, AUTH_MAC_BYTES) != 0)
        return HALO_AUTH_REJECTED;
    return HALO_AUTH_OK;
}
