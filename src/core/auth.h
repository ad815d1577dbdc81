/*
 * auth.h — mutual proof of the job secret on a freshly connected socket.
 *
 * Protocol (both sides know secret and a context string, e.g. "boot" or
 * "tcp:<from>:<to>:<channel>"):
 *   server -> client : HELLO  { magic, version, nonce_s[32] }
 *   client -> server : PROOF  { nonce_c[32], HMAC-SHA256(secret, "C" ctx nonce_s nonce_c) }
 *   server -> client : VERDICT{ ok, HMAC-SHA256(secret, "S" ctx nonce_c nonce_s) }  or { !ok }
 * The secret never crosses the wire; nonces make replies useless for replay. The
 * HMAC comes from OpenSSL's libcrypto; comparisons are constant time.
 */
#ifndef HALO_AUTH_H
#define HALO_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define HALO_AUTH_KEY_BYTES 32

enum halo_auth_result { HALO_AUTH_OK = 0, HALO_AUTH_REJECTED = 1, HALO_AUTH_IO = 2, HALO_AUTH_PROTOCOL = 3 };

/* Blocking with deadline (monotonic us). ctx identifies the connection's purpose so
 * a proof for one purpose cannot be replayed for another. */
enum halo_auth_result halo_auth_server(int fd, const uint8_t key[HALO_AUTH_KEY_BYTES], const char *ctx,
                                       int64_t deadline_us);
enum halo_auth_result halo_auth_client(int fd, const uint8_t key[HALO_AUTH_KEY_BYTES], const char *ctx,
                                       int64_t deadline_us);
/* Fills buf with cryptographically random bytes (getrandom). 0 or -1. */
int halo_random_bytes(void *buf, size_t len);
/* SHA-256 of a text secret, used to turn HALO_SECRET into a key. */
void halo_secret_derive(const char *text, size_t len, uint8_t key[HALO_AUTH_KEY_BYTES]);

#endif
