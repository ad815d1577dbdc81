/* SPDX-License-Identifier: MIT */
/*
 * halo_info_nccl.c — `halo-info --nccl`: which NCCL library a process started in
 * this environment would get, and whether it is haloccl's.
 *
 * It asks the loader itself (dlopen of the bare name, as a DT_NEEDED entry or vLLM
 * would), so LD_PRELOAD, LD_AUDIT, LD_LIBRARY_PATH and the ld.so cache count as they
 * would for the program. A library whose DT_RPATH lists NVIDIA's copy (PyTorch's
 * libtorch_cuda.so) searches there first: only LD_PRELOAD or LD_AUDIT win over it.
 */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halo_info_nccl.h"

static const char *const nccl_names[] = {
#define NCCL_FN(ret, name, params) #name,
#define NCCL_FN_DEV NCCL_FN
#define NCCL_FN_EXT NCCL_FN
#include "nccl_api.def"
#undef NCCL_FN
#undef NCCL_FN_DEV
#undef NCCL_FN_EXT
};
#define NNAMES (sizeof(nccl_names) / sizeof(nccl_names[0]))

/* haloccl's error strings name it; NVIDIA's and AMD's do not. */
static int lib_is_ours(void *h)
{
    const char *(*err_string)(int) = (const char *(*)(int))dlsym(h, "ncclGetErrorString");
    const char *s = err_string ? err_string(3 /* ncclInternalError */) : NULL;
    return s && strstr(s, "haloccl") != NULL;
}

static void lib_report(const char *soname)
{
    void *h = dlopen(soname, RTLD_LAZY | RTLD_LOCAL);
    struct link_map *map = NULL;
    int version = 0, missing = 0;

    if (!h) {
        printf("%-17s  not found: %s\n", soname, dlerror());
        return;
    }
    dlinfo(h, RTLD_DI_LINKMAP, &map);
    int (*get_version)(int *) = (int (*)(int *))dlsym(h, "ncclGetVersion");
    if (get_version)
        get_version(&version);
    printf("%-17s  %s\n", soname, map && map->l_name && *map->l_name ? map->l_name : "(unknown path)");
    printf("%-17s  %s, ncclGetVersion %d\n", "", lib_is_ours(h) ? "haloccl's NCCL drop-in" : "NOT haloccl", version);
    for (size_t i = 0; i < NNAMES; i++)
        if (!dlsym(h, nccl_names[i]))
            missing++;
    printf("%-17s  exports %zu of the %zu NCCL/RCCL names haloccl knows", "", NNAMES - (size_t)missing, NNAMES);
    if (missing) {
        printf("; missing:");
        for (size_t i = 0; i < NNAMES; i++)
            if (!dlsym(h, nccl_names[i]))
                printf(" %s", nccl_names[i]);
    }
    printf("\n");
    dlclose(h);
}

/* The ld.so cache's entries for NCCL and RCCL (what a bare name finds when nothing
 * on LD_LIBRARY_PATH or an RPATH matches). */
static void cache_report(void)
{
    FILE *p = popen("/sbin/ldconfig -p 2>/dev/null", "r");
    char line[1024];
    int any = 0;
    if (!p)
        return;
    while (fgets(line, sizeof(line), p))
        if (strstr(line, "libnccl.so") || strstr(line, "librccl.so")) {
            printf("ld.so cache:   %s", line + strspn(line, " \t"));
            any = 1;
        }
    pclose(p);
    if (!any)
        printf("ld.so cache:   no libnccl or librccl\n");
}

static void env_report(const char *var)
{
    const char *v = getenv(var);
    printf("%-17s  %s\n", var, v && *v ? v : "(unset)");
}

int halo_info_nccl(void)
{
    env_report("LD_PRELOAD");
    env_report("LD_AUDIT");
    env_report("LD_LIBRARY_PATH");
    env_report("VLLM_NCCL_SO_PATH");
    cache_report();
    lib_report("libnccl.so.2");
    lib_report("librccl.so.1");
    printf("(a program whose DT_RPATH names another copy, like PyTorch's libtorch_cuda.so, finds that one "
           "first unless LD_PRELOAD or LD_AUDIT point at haloccl's)\n");
    return 0;
}
