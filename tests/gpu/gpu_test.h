/* SPDX-License-Identifier: MIT */
/*
 * gpu_test.h — what the GPU tests share: the runtime table they drive buffers and
 * streams through, and checks that print the runtime's or the library's sentence.
 * Each test file defines `rt` (loaded in each rank's process, after the fork).
 */
#ifndef HALO_GPU_TEST_H
#define HALO_GPU_TEST_H

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gpu_rt.h"
#include "haloccl.h"
#include "test.h"

static const struct gpu_rt *rt;

#define CHECK_RT(call)                                                                   \
    do {                                                                                 \
        int _e = (call);                                                                 \
        if (_e)                                                                          \
            TEST_FAIL("%s: %s", #call, rt->error_string(_e));                            \
    } while (0)

#define CHECK_HALO(call, comm)                                                           \
    do {                                                                                 \
        haloResult_t _r = (call);                                                        \
        if (_r != haloSuccess)                                                           \
            TEST_FAIL("%s: %s (%s)", #call, haloGetErrorString(_r), haloGetLastError(comm)); \
    } while (0)

/* Probes the runtime in a child process (the parent must not initialise it before
 * mp_run forks the ranks): skips (77) without a runtime, or without a device or the
 * functions the tests allocate and stream with; fails when loading fails. */
static inline void gpu_test_require_runtime(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        char err[512];
        const struct gpu_rt *r = NULL;
        int cnt = 0;
        if (gpu_rt_load(&r, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            _exit(1);
        }
        _exit(!r ? 77 : r->get_device_count(&cnt) != 0 || cnt < 1 || !r->dev_alloc || !r->stream_create ? 78 : 0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
    if (code == 77)
        SKIP("no GPU runtime (HALO_GPU_RUNTIME / HALO_GPU_LIBRARY name none that loads)");
    if (code == 78)
        SKIP("the GPU runtime loaded but reports no device or lacks the test functions");
    if (code != 0)
        TEST_FAIL("the GPU runtime failed to load (see above)");
}

#endif
