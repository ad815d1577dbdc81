/* SPDX-License-Identifier: MIT */
/*
 * nccl_dlopen.c — loads an NCCL library the way vLLM does (dlopen of a name or a
 * path, then symbol lookup) and reports what it got: exit 0 when ncclGetVersion
 * says 22809 and the library that answered is HALO_SHIM_EXPECT_LIB.
 *
 * With HALO_SHIM_DEEP=1 it also runs calls whose implementation calls other NCCL
 * names inside the library (InitAll takes a unique id, Bcast is a Broadcast): with
 * another libnccl in the global scope, those inner calls must stay in ours.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    char want[PATH_MAX], got[PATH_MAX];
    const char *expect = getenv("HALO_SHIM_EXPECT_LIB");
    if (argc != 2 || !expect || !realpath(expect, want)) {
        fprintf(stderr, "usage: HALO_SHIM_EXPECT_LIB=PATH nccl_dlopen NAME-OR-PATH\n");
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen %s: %s\n", argv[1], dlerror());
        return 1;
    }
    int (*get_version)(int *) = (int (*)(int *))dlsym(h, "ncclGetVersion");
    Dl_info info;
    int v = 0;
    if (!get_version || get_version(&v) != 0 || !dladdr((void *)get_version, &info) ||
        !realpath(info.dli_fname, got)) {
        fprintf(stderr, "%s: no working ncclGetVersion\n", argv[1]);
        return 1;
    }
    printf("%s -> %s, version %d\n", argv[1], got, v);
    if (v != 22809 || strcmp(got, want) != 0)
        return 1;
    if (getenv("HALO_SHIM_DEEP")) {
        int (*init_all)(void **, int, const int *) = (int (*)(void **, int, const int *))dlsym(h, "ncclCommInitAll");
        int (*bcast)(void *, size_t, int, int, void *, void *) =
            (int (*)(void *, size_t, int, int, void *, void *))dlsym(h, "ncclBcast");
        int (*destroy)(void *) = (int (*)(void *))dlsym(h, "ncclCommDestroy");
        void *comm = NULL;
        int x = 42;
        if (!init_all || !bcast || !destroy || init_all(&comm, 1, NULL) != 0 || bcast(&x, 1, 2, 0, comm, NULL) != 0 ||
            x != 42 || destroy(comm) != 0) {
            fprintf(stderr, "InitAll/Bcast/Destroy through %s failed\n", got);
            return 1;
        }
        printf("InitAll, Bcast and Destroy ran in %s\n", got);
    }
    return 0;
}
