/* SPDX-License-Identifier: MIT */
/*
 * nccl_audit.c — an rtld-audit module (LD_AUDIT=.../lib/haloccl/libhalo_nccl_audit.so)
 * that sends every search for libnccl.so* or librccl.so* to haloccl's drop-in in
 * the module's own folder.
 *
 * It acts in la_objsearch, before the loader looks anywhere, so it wins where
 * LD_LIBRARY_PATH cannot: libraries with DT_RPATH (PyTorch's libtorch_cuda.so),
 * absolute paths given to dlopen, and a VLLM_NCCL_SO_PATH pointing at NVIDIA's copy.
 * HALO_NCCL_AUDIT_DIR names another folder to take the libraries from.
 */
#include <dlfcn.h>
#include <link.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char nccl_path[PATH_MAX];
static char rccl_path[PATH_MAX];

/* The folder this module was loaded from (or HALO_NCCL_AUDIT_DIR). */
static int audit_dir(char *dir, size_t len)
{
    const char *env = getenv("HALO_NCCL_AUDIT_DIR");
    Dl_info info;

    if (env && *env) {
        snprintf(dir, len, "%s", env);
        return 0;
    }
    if (!dladdr((void *)audit_dir, &info) || !info.dli_fname)
        return -1;
    snprintf(dir, len, "%s", info.dli_fname);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return 0;
}

unsigned int la_version(unsigned int version);
unsigned int la_version(unsigned int version)
{
    char dir[PATH_MAX - 32];
    if (audit_dir(dir, sizeof(dir)) == 0) {
        snprintf(nccl_path, sizeof(nccl_path), "%s/libnccl.so.2", dir);
        snprintf(rccl_path, sizeof(rccl_path), "%s/librccl.so.1", dir);
    }
    return version < LAV_CURRENT ? version : LAV_CURRENT;
}

static const char *base_name(const char *name)
{
    const char *slash = strrchr(name, '/');
    return slash ? slash + 1 : name;
}

char *la_objsearch(const char *name, uintptr_t *cookie, unsigned int flag);
char *la_objsearch(const char *name, uintptr_t *cookie, unsigned int flag)
{
    const char *base = base_name(name);
    (void)cookie;

    if (flag != LA_SER_ORIG || !nccl_path[0])
        return (char *)name;
    if (strncmp(base, "libnccl.so", 10) == 0 && strcmp(name, nccl_path) != 0)
        return nccl_path;
    if (strncmp(base, "librccl.so", 10) == 0 && strcmp(name, rccl_path) != 0)
        return rccl_path;
    return (char *)name;
}
