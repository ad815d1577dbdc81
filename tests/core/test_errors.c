/* SPDX-License-Identifier: MIT */
/*
 * test_errors.c — haloGetErrorString, haloGetVersion and halo_error: where the
 * sentence is stored (communicator or calling thread) and what is returned.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "error.h"
#include "haloccl.h"
#include "test.h"

static void test_error_strings(void)
{
    const char *s[haloNumResults];

    for (int i = 0; i < haloNumResults; i++) {
        s[i] = haloGetErrorString((haloResult_t)i);
        ASSERT_TRUE(s[i] != NULL && s[i][0] != '\0');
        ASSERT_TRUE(strcmp(s[i], "unknown result code") != 0);
        for (int j = 0; j < i; j++)
            ASSERT_TRUE(strcmp(s[i], s[j]) != 0);
    }
    ASSERT_CONTAINS(haloGetErrorString(haloSystemError), "HALO_DEBUG=INFO");
    ASSERT_STREQ(haloGetErrorString(haloNumResults), "unknown result code");
    ASSERT_STREQ(haloGetErrorString((haloResult_t)99), "unknown result code");
    ASSERT_STREQ(haloGetErrorString((haloResult_t)-1), "unknown result code");
}

static void test_version(void)
{
    int v = -1;

    ASSERT_EQ(haloGetVersion(&v), haloSuccess);
    ASSERT_EQ(v, HALO_VERSION_CODE);
    ASSERT_EQ(v, HALO_MAJOR * 10000 + HALO_MINOR * 100 + HALO_PATCH);
    halo_thread_set_error("");
    ASSERT_EQ(haloGetVersion(NULL), haloInvalidArgument);
    ASSERT_CONTAINS(halo_thread_last_error(), "haloGetVersion");
}

static void *other_thread(void *arg)
{
    (void)arg;
    ASSERT_STREQ(halo_thread_last_error(), ""); /* each thread has its own */
    ASSERT_EQ(halo_error(NULL, haloInternalError, "from the other thread"), haloInternalError);
    ASSERT_STREQ(halo_thread_last_error(), "from the other thread");
    return NULL;
}

static void test_thread_error(void)
{
    pthread_t th;

    ASSERT_EQ(halo_error(NULL, haloSystemError, "bind to %s failed: %s", "10.0.0.1:4000", "in use"),
              haloSystemError);
    ASSERT_STREQ(halo_thread_last_error(), "bind to 10.0.0.1:4000 failed: in use");
    ASSERT_EQ(pthread_create(&th, NULL, other_thread, NULL), 0);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_STREQ(halo_thread_last_error(), "bind to 10.0.0.1:4000 failed: in use");
}

static void test_comm_error(void)
{
    struct halo_comm *comm = calloc(1, sizeof(*comm));
    char big[3 * HALO_ERRLEN];

    ASSERT_TRUE(comm != NULL);
    comm->rank = 3;
    pthread_mutex_init(&comm->err_lock, NULL);
    halo_thread_set_error("untouched");
    ASSERT_EQ(halo_error(comm, haloRemoteError, "peer %d via %s stopped answering", 2, "eth0"),
              haloRemoteError);
    ASSERT_STREQ(comm->last_error, "peer 2 via eth0 stopped answering");
    ASSERT_STREQ(halo_thread_last_error(), "untouched");
    /* long sentences are cut, never overflow */
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ASSERT_EQ(halo_error(comm, haloInternalError, "%s", big), haloInternalError);
    ASSERT_EQ(strlen(comm->last_error), HALO_ERRLEN - 1);
    pthread_mutex_destroy(&comm->err_lock);
    free(comm);
}

int main(void)
{
    test_error_strings();
    test_version();
    test_thread_error();
    test_comm_error();
    printf("test_errors: ok\n");
    return 0;
}
