/*
 * gpu_rt.c — loading the GPU runtime table (placeholder until the loaders land:
 * no runtime, host mode).
 */
#include "gpu_rt.h"

#include <stdio.h>

int gpu_rt_load(const struct gpu_rt **rt, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    *rt = NULL;
    return 0;
}

const struct gpu_rt *gpu_rt_get(void)
{
    return NULL;
}

void gpu_rt_describe(const struct gpu_rt *rt, char *buf, size_t len)
{
    snprintf(buf, len, "%s", rt ? rt->name : "none");
}
