/* SPDX-License-Identifier: MIT */
/*
 * gpu_test.h — what the GPU tests share: the runtime table they drive buffers and
 * streams through, and checks that print the runtime's or the library's sentence.
 * Each test file defines `rt` (loaded in each rank's process, after the fork).
 */
#ifndef HALO_GPU_TEST_H
#define HALO_GPU_TEST_H

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

#endif
