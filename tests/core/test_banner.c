/* SPDX-License-Identifier: MIT */
/*
 * test_banner.c — the first INFO line of a process (src/core/banner.c): a child
 * with HALO_DEBUG=INFO starts two 1-rank communicators with its stderr in a
 * temporary file; the parent checks that the first INFO line is the banner, that
 * it names the version, the git hash, every transport (ib with whether its verbs
 * load), the reduction kernels that run and the GPU runtime's state, and that a
 * second communicator does not print it again.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "haloccl.h"
#include "reduce.h"
#include "test.h"

static void child_two_comms(void)
{
    for (int i = 0; i < 2; i++) {
        haloUniqueId id;
        haloComm_t comm;
        if (haloGetUniqueId(&id) != haloSuccess || haloCommInitRank(&comm, 1, id, 0) != haloSuccess)
            _exit(3);
        haloCommDestroy(comm);
    }
}

static char *run_child(void)
{
    FILE *f = tmpfile();
    int status;
    long len;

    ASSERT_TRUE(f != NULL);
    fflush(NULL);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        setenv("HALO_DEBUG", "INFO", 1);
        unsetenv("HALO_DEBUG_SUBSYS");
        unsetenv("HALO_DEBUG_FILE");
        unsetenv("NCCL_DEBUG");
        unsetenv("NCCL_DEBUG_SUBSYS");
        dup2(fileno(f), STDERR_FILENO);
        child_two_comms();
        _exit(0);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    char *buf = calloc(1, (size_t)len + 1);
    ASSERT_TRUE(buf != NULL);
    ASSERT_EQ(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    return buf;
}

int main(void)
{
    char *out = run_child(), want[128];
    char *first = strstr(out, " HALO INFO ");

    ASSERT_TRUE(first != NULL);
    char *eol = strchr(first, '\n');
    ASSERT_TRUE(eol != NULL);
    *eol = '\0';
    printf("banner:%s\n", first);
    ASSERT_CONTAINS(first, " HALO INFO INIT haloccl ");
    snprintf(want, sizeof(want), "haloccl %d.%d.%d (git ", HALO_MAJOR, HALO_MINOR, HALO_PATCH);
    ASSERT_CONTAINS(first, want);
    ASSERT_TRUE(strstr(first, "(git ):") == NULL); /* a hash or "unknown", never empty */
    ASSERT_CONTAINS(first, "): transports shm, ib (verbs ");
    ASSERT_CONTAINS(first, "), tcp; ");
    snprintf(want, sizeof(want), "; reduce kernels %s; ", halo_reduce_isa());
    ASSERT_CONTAINS(first, want);
    /* a host-only job never loads the GPU runtime, and the banner does not either */
    ASSERT_CONTAINS(first, "; GPU runtime: not loaded yet");
    /* once per process: the second communicator's INFO lines do not repeat it */
    ASSERT_TRUE(strstr(eol + 1, "haloccl ") == NULL);
    free(out);
    printf("PASS test_banner\n");
    return 0;
}
