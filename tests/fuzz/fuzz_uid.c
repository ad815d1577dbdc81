/* SPDX-License-Identifier: MIT */
/*
 * fuzz_uid.c — the unique id as it arrives from another process (a file, an MPI
 * broadcast, the NCCL drop-in's ncclUniqueId): bootstrap_uid_decode must accept
 * only ids with a haloccl magic, a compatible version, an IPv4/IPv6 root with a
 * port and a 0/1 authenticated flag, and refuse anything else with a sentence.
 * An accepted id must survive the round trip through bootstrap_uid_from_addr.
 */
#include "fuzz_util.h"

#include <arpa/inet.h>

#include "bootstrap.h"
#include "error.h"
#include "socket.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    haloUniqueId id;
    struct halo_uid uid;
    memset(&id, 0, sizeof(id));
    memcpy(id.internal, data, size < sizeof(id.internal) ? size : sizeof(id.internal));
    memset(&uid, 0xa5, sizeof(uid));
    haloResult_t r = bootstrap_uid_decode(&id, &uid);
    if (r != haloSuccess) {
        FUZZ_CHECK(r == haloInvalidArgument || r == haloInvalidUsage);
        FUZZ_CHECK(halo_thread_last_error()[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(uid.root.family == AF_INET || uid.root.family == AF_INET6);
    FUZZ_CHECK(uid.root.port != 0);
    FUZZ_CHECK(uid.authenticated <= 1);
    char text[128];
    FUZZ_CHECK(halo_sockaddr_str(&uid.root, text, sizeof(text))[0] != '\0');
    FUZZ_CHECK(strlen(text) < sizeof(text));

    /* Round trip: what the decoder accepted encodes to an id that decodes the same. */
    struct sockaddr_storage ss;
    struct halo_sockaddr back;
    FUZZ_CHECK(halo_sockaddr_to(&uid.root, &ss) > 0);
    halo_sockaddr_from(&back, (const struct sockaddr *)&ss);
    FUZZ_CHECK(back.family == uid.root.family && back.port == uid.root.port);
    haloUniqueId again;
    struct halo_uid uid2;
    FUZZ_CHECK(bootstrap_uid_from_addr(&again, &ss, uid.secret, uid.authenticated, uid.job_id) == haloSuccess);
    FUZZ_CHECK(bootstrap_uid_decode(&again, &uid2) == haloSuccess);
    FUZZ_CHECK(uid2.job_id == uid.job_id && uid2.authenticated == uid.authenticated);
    FUZZ_CHECK(uid2.root.family == uid.root.family && uid2.root.port == uid.root.port);
    FUZZ_CHECK(memcmp(uid2.root.addr, uid.root.addr, uid.root.family == AF_INET ? 4 : 16) == 0);
    if (uid.authenticated)
        FUZZ_CHECK(memcmp(uid2.secret, uid.secret, sizeof(uid.secret)) == 0);
    return 0;
}
