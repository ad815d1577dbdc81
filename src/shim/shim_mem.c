/* SPDX-License-Identifier: MIT */
/*
 * shim_mem.c — ncclMemAlloc/ncclMemFree and buffer registration.
 *
 * ncclMemAlloc is haloMemAlloc: pinned, mapped host memory when a GPU runtime
 * loads (the GPU uses it as device memory, the CPU and NIC reach it without
 * staging), page-aligned host memory otherwise. ncclMemFree is haloMemFree.
 */
#include "shim.h"

SHIM_ALIAS(ncclMemAlloc);
SHIM_API ncclResult_t pncclMemAlloc(void **ptr, size_t size)
{
    if (!ptr)
        return shim_error(NULL, ncclInvalidArgument, "ncclMemAlloc: ptr is NULL");
    void *p = NULL;
    ncclResult_t r = shim_pass(NULL, haloMemAlloc(&p, size)); /* haloccl's sentence names the cause */
    if (r == ncclSuccess)
        *ptr = p;
    return r;
}

SHIM_ALIAS(ncclMemFree);
SHIM_API ncclResult_t pncclMemFree(void *ptr)
{
    return shim_pass(NULL, haloMemFree(ptr));
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
