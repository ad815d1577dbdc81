/* SPDX-License-Identifier: MIT */
/*
 * gpu_rt.c — loading the GPU runtime table once per process.
 *
 * HALO_GPU_RUNTIME picks the runtime (auto: HIP, then CUDA, then host mode);
 * HALO_GPU_LIBRARY replaces the default library names. The per-runtime loaders
 * (gpu_rt_hip.c, gpu_rt_cuda.c) fill the table; this file runs them in order
 * under pthread_once, keeps the outcome (the table, or the error sentence) for
 * every later call, and logs the one INFO line.
 *
 * Libraries are never dlclosed: once a runtime has been called it has threads and
 * atexit handlers of its own.
 */
#define HALO_ERR_SUBSYS HALO_SUB_GPU
#include "gpu_rt.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "gpu_rt_int.h"
#include "hot.h"
#include "log.h"
#include "param.h"

/* HALO_GPU_RUNTIME's words, in params.def's order. */
enum { GPU_ASK_AUTO = 0, GPU_ASK_HIP, GPU_ASK_CUDA, GPU_ASK_NONE };

/* Process-wide, written once under gpu_once and read-only afterwards. */
static pthread_once_t gpu_once = PTHREAD_ONCE_INIT;
static struct gpu_rt gpu_table;
static const struct gpu_rt *gpu_loaded;
static int gpu_load_rc;
static char gpu_load_err[768];

void *gpu_dl_open_first(const char *override, const char *const *names, int count, char *path, size_t pathlen,
                        char *tried, size_t triedlen)
{
    size_t used = 0;

    tried[0] = '\0';
    if (override && override[0]) {
        names = &override;
        count = 1;
    }
    for (int i = 0; i < count; i++) {
        void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (h) {
            snprintf(path, pathlen, "%s", names[i]);
            return h;
        }
        const char *why = dlerror();
        if (used < triedlen) {
            int n = snprintf(tried + used, triedlen - used, "%s%s (%s)", used ? ", " : "", names[i],
                             why ? why : "not found");
            used += n > 0 ? (size_t)n : 0;
        }
    }
    return NULL;
}

int gpu_dl_bind(void *handle, const char *lib, const struct gpu_sym *syms, int n, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        void *f = dlsym(handle, syms[i].name);
        if (!f && syms[i].required) {
            snprintf(err, errlen, "the GPU runtime library %s lacks %s, which haloccl needs (a runtime too old? "
                     "HALO_GPU_LIBRARY names another library, HALO_GPU_RUNTIME=none runs without a GPU)",
                     lib, syms[i].name);
            return -1;
        }
        /* The slot is a function pointer; dlsym returns it as an object pointer. */
        memcpy(syms[i].slot, &f, sizeof(f));
    }
    return 0;
}

static int gpu_attr0(const struct gpu_rt *rt, enum gpu_attr attr)
{
    int v = 0;
    return rt->device_attr(&v, attr, 0) == 0 ? v : -1;
}

static void gpu_log_loaded(const struct gpu_rt *rt)
{
    char desc[384];

    if (!halo_log_enabled(HALO_LOG_INFO, HALO_SUB_GPU))
        return;
    gpu_rt_describe(rt, desc, sizeof(desc));
    HLOG_INFO(HALO_SUB_GPU, -1, "GPU runtime %s; %d device%s, device 0 %s%s%s: integrated %d, stream memory ops %d",
              desc, rt->device_count, rt->device_count == 1 ? "" : "s", rt->device0_name[0] ? "\"" : "",
              rt->device0_name[0] ? rt->device0_name : "(name unknown)", rt->device0_name[0] ? "\"" : "",
              gpu_attr0(rt, GPU_ATTR_INTEGRATED), gpu_attr0(rt, GPU_ATTR_STREAM_MEM_OPS));
}

/* auto: HIP, then CUDA; either may be absent (host mode when both are). */
static enum gpu_try gpu_try_auto(const char *lib, char *err, size_t errlen)
{
    char why_hip[384];
    enum gpu_try t = gpu_rt_try_hip(&gpu_table, lib, 0, why_hip, sizeof(why_hip));
    if (t != GPU_TRY_ABSENT)
        return t == GPU_TRY_OK ? t : (snprintf(err, errlen, "%s", why_hip), t);
    memset(&gpu_table, 0, sizeof(gpu_table));
    t = gpu_rt_try_cuda(&gpu_table, lib, 0, err, errlen);
    if (t == GPU_TRY_ABSENT)
        HLOG_INFO(HALO_SUB_GPU, -1, "no GPU runtime (HALO_GPU_RUNTIME=auto): host mode; HIP: %s; CUDA: %s",
                  why_hip, err);
    return t;
}

static void gpu_rt_load_once(void)
{
    struct halo_params p;
    char perr[256];
    enum gpu_try t;

    if (halo_params_load(&p, perr, sizeof(perr)) != 0) {
        snprintf(gpu_load_err, sizeof(gpu_load_err), "%s", perr);
        gpu_load_rc = -1;
        return;
    }
    const char *lib = HALO_P_STR(&p, gpu_library);
    switch (HALO_P_INT(&p, gpu_runtime)) {
    case GPU_ASK_NONE:
        HLOG_INFO(HALO_SUB_GPU, -1, "HALO_GPU_RUNTIME=none: host mode");
        return;
    case GPU_ASK_HIP:
        t = gpu_rt_try_hip(&gpu_table, lib, 1, gpu_load_err, sizeof(gpu_load_err));
        break;
    case GPU_ASK_CUDA:
        t = gpu_rt_try_cuda(&gpu_table, lib, 1, gpu_load_err, sizeof(gpu_load_err));
        break;
    default:
        t = gpu_try_auto(lib, gpu_load_err, sizeof(gpu_load_err));
        break;
    }
    if (t == GPU_TRY_OK) {
        __atomic_store_n(&gpu_loaded, &gpu_table, __ATOMIC_RELEASE);
        gpu_log_loaded(&gpu_table);
    } else if (t == GPU_TRY_FAIL) {
        gpu_load_rc = -1;
    } else {
        gpu_load_err[0] = '\0'; /* auto found nothing: host mode, not an error */
    }
}

int gpu_rt_load(const struct gpu_rt **rt, char *err, size_t errlen)
{
    pthread_once(&gpu_once, gpu_rt_load_once);
    if (gpu_load_rc != 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s", gpu_load_err);
        return -1;
    }
    *rt = gpu_loaded;
    return 0;
}

HALO_HOT const struct gpu_rt *gpu_rt_get(void)
{
    return __atomic_load_n(&gpu_loaded, __ATOMIC_ACQUIRE);
}

void gpu_rt_describe(const struct gpu_rt *rt, char *buf, size_t len)
{
    if (!rt) {
        snprintf(buf, len, "none (host mode)");
        return;
    }
    int v = rt->runtime_version;
    if (rt->kind == GPU_RT_HIP) /* major * 10000000 + minor * 100000 + patch */
        snprintf(buf, len, "HIP %d.%d.%d (%s), driver %d", v / 10000000, v / 100000 % 100, v % 100000,
                 rt->lib_path, rt->driver_version);
    else /* major * 1000 + minor * 10 */
        snprintf(buf, len, "CUDA %d.%d (%s), driver %d.%d", v / 1000, v % 1000 / 10, rt->lib_path,
                 rt->driver_version / 1000, rt->driver_version % 1000 / 10);
}
