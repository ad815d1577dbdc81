/* SPDX-License-Identifier: MIT */
/*
 * test_gpu_headers_cuda.c — compiles only if gpu_abi.h's CUDA facts equal the
 * installed CUDA headers' (/usr/local/cuda/include). Registered only where they
 * exist; elsewhere the test skips.
 */
#include <stddef.h>
#include <stdio.h>

#include <cuda.h>
#include <cuda_runtime_api.h>

#include "gpu_abi.h"

#define SAME(ours, theirs) _Static_assert((ours) == (theirs), #ours " != " #theirs)

SAME(CUDAABI_MEM_UNREGISTERED, cudaMemoryTypeUnregistered);
SAME(CUDAABI_MEM_HOST, cudaMemoryTypeHost);
SAME(CUDAABI_MEM_DEVICE, cudaMemoryTypeDevice);
SAME(CUDAABI_MEM_MANAGED, cudaMemoryTypeManaged);

/* our prefix of struct cudaPointerAttributes, and room for all of it */
SAME(offsetof(struct cudaabi_ptr_attr, type), offsetof(struct cudaPointerAttributes, type));
SAME(offsetof(struct cudaabi_ptr_attr, device), offsetof(struct cudaPointerAttributes, device));
SAME(offsetof(struct cudaabi_ptr_attr, device_pointer), offsetof(struct cudaPointerAttributes, devicePointer));
SAME(offsetof(struct cudaabi_ptr_attr, host_pointer), offsetof(struct cudaPointerAttributes, hostPointer));
_Static_assert(sizeof(struct cudaPointerAttributes) <= CUDAABI_PTR_ATTR_ROOM, "CUDAABI_PTR_ATTR_ROOM too small");

SAME(CUDAABI_SUCCESS, cudaSuccess);
SAME(CUDAABI_ERR_NOT_READY, cudaErrorNotReady);
SAME(100, cudaErrorNoDevice); /* gpu_rt_cuda.c */

SAME(CUDAABI_ATTR_INTEGRATED, cudaDevAttrIntegrated);
SAME(CUDAABI_ATTR_UNIFIED_ADDRESSING, cudaDevAttrUnifiedAddressing);
SAME(CUDAABI_ATTR_CAN_MAP_HOST_MEMORY, cudaDevAttrCanMapHostMemory);
SAME(CUDAABI_ATTR_PAGEABLE_MEMORY_ACCESS, cudaDevAttrPageableMemoryAccess);
SAME(CUABI_ATTR_CAN_USE_STREAM_MEM_OPS_V1, CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_MEM_OPS_V1);

SAME(CUDAABI_HOST_ALLOC_PORTABLE, cudaHostAllocPortable);
SAME(CUDAABI_HOST_ALLOC_MAPPED, cudaHostAllocMapped);
SAME(CUDAABI_HOST_REGISTER_PORTABLE, cudaHostRegisterPortable);
SAME(CUDAABI_HOST_REGISTER_MAPPED, cudaHostRegisterMapped);
SAME(CUDAABI_EVENT_DISABLE_TIMING, cudaEventDisableTiming);
SAME(CUDAABI_STREAM_NON_BLOCKING, cudaStreamNonBlocking);
SAME(CUDAABI_MEM_ATTACH_GLOBAL, cudaMemAttachGlobal);
SAME(CUDAABI_MEMCPY_DEFAULT, cudaMemcpyDefault);
SAME(CUDAABI_CAPTURE_MODE_RELAXED, cudaStreamCaptureModeRelaxed);
SAME(0, cudaStreamCaptureStatusNone);
SAME(1, cudaStreamCaptureStatusActive);
SAME(2, cudaStreamCaptureStatusInvalidated);

SAME(CUABI_WAIT_GEQ, CU_STREAM_WAIT_VALUE_GEQ);
SAME(CUABI_WAIT_EQ, CU_STREAM_WAIT_VALUE_EQ);
SAME(CUABI_WRITE_DEFAULT, CU_STREAM_WRITE_VALUE_DEFAULT);
/* the loader binds the _v2 names: they must be what cuda.h declares */
_Static_assert(sizeof(&cuStreamWaitValue32_v2) && sizeof(&cuStreamWriteValue32_v2), "v2 memops declared");
/* CUdeviceptr is what gpu_rt_cuda.c passes (unsigned long long on LP64) */
SAME(sizeof(CUdeviceptr), sizeof(unsigned long long));

int main(void)
{
    printf("gpu_abi.h agrees with CUDA %d's headers\n", CUDA_VERSION);
    return 0;
}
