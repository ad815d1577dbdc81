/* SPDX-License-Identifier: MIT */
/*
 * auth.h — mutual proof of the job secret on a freshly connected socket.
 *
 * Protocol (both sides know secret and a context string, e.g. "boot" or
 * "tcp:<from>:<to>:<channel>"):
 *   server -> client : HELLO  { magic, version, nonce_s[32] }
 *   client -> server : PROOF  { magic, version, nonce_c[32], HMAC-SHA256(secret, "C" ctx nonce_s nonce_c) }
 *   server -> client : VERDICT{ magic, ok=1, HMAC-SHA256(secret, "S" ctx nonce_c nonce_s) }
 *                   or VERDICT{ magic, ok=0, zeros } before the server closes
 * Every message has a fixed size; a wrong magic or version is HALO_AUTH_PROTOCOL.
 * The secret never crosses the wire; nonces make replies useless for replay. The
 * HMAC-SHA256 comes from libsodium (crypto_auth_hmacsha256); comparisons are constant time.
 */
#ifndef HALO_AUTH_H
#define HALO_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define HALO_AUTH_KEY_BYTES 32
#define HALO_AUTH_NONCE_BYTES 32
#define HALO_AUTH_CTX_MAX 200 /* longest context string, bytes */
#define HALO_AUTH_HELLO_BYTES 40
#define HALO_AUTH_PROOF_BYTES 72
#define HALO_AUTH_VERDICT_BYTES 40

enum halo_auth_result { HALO_AUTH_OK = 0, HALO_AUTH_REJECTED = 1, HALO_AUTH_IO = 2, HALO_AUTH_PROTOCOL = 3 };

/* Blocking with deadline (monotonic us). ctx (at most HALO_AUTH_CTX_MAX bytes)
 * identifies the connection's purpose so a proof for one purpose cannot be replayed
 * for another. The server sends a VERDICT with ok=0 before returning REJECTED, so the
 * client learns that its proof (not the network) failed. */
enum halo_auth_result halo_auth_server(int fd, const uint8_t key[HALO_AUTH_KEY_BYTES], const char *ctx,
                                       int64_t deadline_us);
enum halo_auth_result halo_auth_client(int fd, const uint8_t key[HALO_AUTH_KEY_BYTES], const char *ctx,
                                       int64_t deadline_us);

/* The server's two steps, for event loops that cannot block on one connection (the
 * bootstrap root). halo_auth_server is these two plus blocking I/O. */
struct halo_auth_server_state {
    uint8_t nonce_s[HALO_AUTH_NONCE_BYTES];
};
/* Draws the server nonce and writes the HELLO message. 0, or -1 if no randomness. */
int halo_auth_hello(struct halo_auth_server_state *st, uint8_t hello[HALO_AUTH_HELLO_BYTES]);
/* Checks a PROOF message. OK or REJECTED: verdict holds the message to send (ok=1 or
 * ok=0). PROTOCOL: not a proof at all; send nothing. */
enum halo_auth_result halo_auth_check_proof(const struct halo_auth_server_state *st,
                                            const uint8_t key[HALO_AUTH_KEY_BYTES], const char *ctx,
                                            const uint8_t proof[HALO_AUTH_PROOF_BYTES],
                                            uint8_t verdict[HALO_AUTH_VERDICT_BYTES]);
/* Name of a result for messages ("rejected", ...). */
const char *halo_auth_result_str(enum halo_auth_result r);

/* Initialises libsodium once (0, or -1 if it cannot). Call it on the calling thread
 * before starting a thread that authenticates: a process forked while another
 * thread is inside sodium_init would inherit its lock held. */
int halo_auth_init(void);
/* Fills buf with cryptographically random bytes (getrandom). 0 or -1. */
int halo_random_bytes(void *buf, size_t len);
/* SHA-256 of a text secret, used to turn HALO_SECRET into a key. */
void halo_secret_derive(const char *text, size_t len, uint8_t key[HALO_AUTH_KEY_BYTES]);

#endif
