/*
 * shim_mem.c — ncclMemAlloc/ncclMemFree and buffer registration.
 *
 * ncclMemAlloc hands out page-aligned host memory for now. TODO(GPU layer): when
 * haloMemAlloc/haloMemFree exist, point SHIM_MEM_ALLOC/SHIM_MEM_FREE at them; nothing
 * else here changes.
 */
#include <stdlib.h>

#include "shim.h"

static haloResult_t shim_host_alloc(void **ptr, size_t size)
{
    return posix_memalign(ptr, 4096, size ? size : 1) == 0 ? haloSuccess : haloSystemError;
}

static haloResult_t shim_host_free(void *ptr)
{
    free(ptr);
    return haloSuccess;
}

#define SHIM_MEM_ALLOC shim_host_alloc
#define SHIM_MEM_FREE shim_host_free

SHIM_ALIAS(ncclMemAlloc);
SHIM_API ncclResult_t pncclMemAlloc(void **ptr, size_t size)
{
    if (!ptr)
        return shim_error(NULL, ncclInvalidArgument, "ncclMemAlloc: ptr is NULL");
    void *p = NULL;
    if (SHIM_MEM_ALLOC(&p, size) != haloSuccess)
        return shim_error(NULL, ncclSystemError, "ncclMemAlloc: could not allocate %zu bytes", size);
    *ptr = p;
    return ncclSuccess;
}

SHIM_ALIAS(ncclMemFree);
SHIM_API ncclResult_t pncclMemFree(void *ptr)
{
    return shim_pass(NULL, SHIM_MEM_FREE(ptr));
}

SHIM_ALIAS(ncclCommRegister);
SHIM_API ncclResult_t pncclCommRegister(const ncclComm_t comm, void *buff, size_t size, void **handle)
{
    struct ncclComm *c;
    ncclResult_t r = shim_comm_get(comm, "ncclCommRegister", &c);
    if (r != ncclSuccess)
        return r;
    r = shim_pass(c, haloCommRegister(c->halo, buff, size, handle));
    shim_comm_put(c);
    return r;
}

SHIM_ALIAS(ncclCommDeregister);
SHIM_API ncclResult_t pncclCommDeregister(const ncclComm_t comm, void *handle)
{
    struct ncclComm *c;
    ncclResult_t r = shim_comm_get(comm, "ncclCommDeregister", &c);
    if (r != ncclSuccess)
        return r;
    r = shim_pass(c, haloCommDeregister(c->halo, handle));
    shim_comm_put(c);
    return r;
}
