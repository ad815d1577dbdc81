/* SPDX-License-Identifier: MIT */
/*
 * test_gpu_headers_hip.c — compiles only if gpu_abi.h's HIP facts equal the
 * installed HIP headers' (Debian/Ubuntu libamdhip64-dev: ROCm 5.2). Registered
 * only where /usr/include/hip/hip_runtime_api.h exists; elsewhere the test skips.
 */
#include <stddef.h>
#include <stdio.h>

#include <hip/hip_runtime_api.h>

#include "gpu_abi.h"

#define SAME(ours, theirs) _Static_assert((ours) == (theirs), #ours " != " #theirs)

#if HIP_VERSION_MAJOR < 6
SAME(HIPABI5_MEM_HOST, hipMemoryTypeHost);
SAME(HIPABI5_MEM_DEVICE, hipMemoryTypeDevice);
SAME(HIPABI5_MEM_ARRAY, hipMemoryTypeArray);
SAME(HIPABI5_MEM_UNIFIED, hipMemoryTypeUnified);
SAME(offsetof(struct hipabi_ptr_attr, type), offsetof(hipPointerAttribute_t, memoryType));
#else
SAME(HIPABI6_MEM_UNREGISTERED, hipMemoryTypeUnregistered);
SAME(HIPABI6_MEM_HOST, hipMemoryTypeHost);
SAME(HIPABI6_MEM_DEVICE, hipMemoryTypeDevice);
SAME(HIPABI6_MEM_MANAGED, hipMemoryTypeManaged);
SAME(HIPABI6_MEM_ARRAY, hipMemoryTypeArray);
SAME(HIPABI6_MEM_UNIFIED, hipMemoryTypeUnified);
SAME(offsetof(struct hipabi_ptr_attr, type), offsetof(hipPointerAttribute_t, type));
#endif
SAME(HIP_VERSION >= HIPABI_VERSION_6, HIP_VERSION_MAJOR >= 6);

SAME(sizeof(struct hipabi_ptr_attr), sizeof(hipPointerAttribute_t));
SAME(offsetof(struct hipabi_ptr_attr, device), offsetof(hipPointerAttribute_t, device));
SAME(offsetof(struct hipabi_ptr_attr, device_pointer), offsetof(hipPointerAttribute_t, devicePointer));
SAME(offsetof(struct hipabi_ptr_attr, host_pointer), offsetof(hipPointerAttribute_t, hostPointer));
SAME(offsetof(struct hipabi_ptr_attr, is_managed), offsetof(hipPointerAttribute_t, isManaged));
SAME(offsetof(struct hipabi_ptr_attr, allocation_flags), offsetof(hipPointerAttribute_t, allocationFlags));

SAME(HIPABI_SUCCESS, hipSuccess);
SAME(HIPABI_ERR_INVALID_VALUE, hipErrorInvalidValue);
SAME(HIPABI_ERR_NO_DEVICE, hipErrorNoDevice);
SAME(HIPABI_ERR_NOT_READY, hipErrorNotReady);
SAME(HIPABI_ERR_NOT_SUPPORTED, hipErrorNotSupported);

SAME(HIPABI_ATTR_CAN_MAP_HOST_MEMORY, hipDeviceAttributeCanMapHostMemory);
SAME(HIPABI_ATTR_INTEGRATED, hipDeviceAttributeIntegrated);
SAME(HIPABI_ATTR_PAGEABLE_MEMORY_ACCESS, hipDeviceAttributePageableMemoryAccess);
SAME(HIPABI_ATTR_CAN_USE_STREAM_WAIT_VALUE, hipDeviceAttributeCanUseStreamWaitValue);

SAME(HIPABI_HOST_MALLOC_PORTABLE, hipHostMallocPortable);
SAME(HIPABI_HOST_MALLOC_MAPPED, hipHostMallocMapped);
SAME(HIPABI_HOST_REGISTER_PORTABLE, hipHostRegisterPortable);
SAME(HIPABI_HOST_REGISTER_MAPPED, hipHostRegisterMapped);
SAME(HIPABI_EVENT_DISABLE_TIMING, hipEventDisableTiming);
SAME(HIPABI_STREAM_NON_BLOCKING, hipStreamNonBlocking);
SAME(HIPABI_MEM_ATTACH_GLOBAL, hipMemAttachGlobal);
SAME(HIPABI_MEMCPY_DEFAULT, hipMemcpyDefault);
SAME(HIPABI_WAIT_GTE, hipStreamWaitValueGte);
SAME(HIPABI_WAIT_EQ, hipStreamWaitValueEq);
SAME(HIPABI_CAPTURE_MODE_RELAXED, hipStreamCaptureModeRelaxed);
/* gpu_rt.h's capture states are passed through unchanged */
SAME(0, hipStreamCaptureStatusNone);
SAME(1, hipStreamCaptureStatusActive);
SAME(2, hipStreamCaptureStatusInvalidated);

int main(void)
{
    printf("gpu_abi.h agrees with HIP %d.%d's headers\n", HIP_VERSION_MAJOR, HIP_VERSION_MINOR);
    return 0;
}
