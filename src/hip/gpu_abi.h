/* SPDX-License-Identifier: MIT */
/*
 * gpu_abi.h — the HIP and CUDA facts the loaders depend on: enum values, flag
 * bits and struct layouts, written down here because we never include a vendor
 * header. Each constant names the header it was read from.
 *
 * Sources read:
 *   ROCm 5.2  Debian libamdhip64-dev 5.2.3, /usr/include/hip/hip_runtime_api.h
 *   ROCm 5.7  ROCm/HIP branch rocm-5.7.x, include/hip/hip_runtime_api.h
 *   ROCm 6.x  ROCm/HIP tags rocm-6.0.0, rocm-6.2.2 and develop (late 2024)
 *   ROCm 7.x  ROCm/rocm-systems, projects/hip/include/hip/hip_runtime_api.h (2025)
 *   CUDA 13.0 /usr/local/cuda/include: driver_types.h, cuda_runtime_api.h, cuda.h
 *
 * tests/hip/test_gpu_headers.c checks the ROCm 5 and CUDA values against the real
 * headers when they are installed.
 */
#ifndef HALO_GPU_ABI_H
#define HALO_GPU_ABI_H

#include <stdint.h>

/* ------------------------------------------------------------------ HIP ---- */

/* hipRuntimeGetVersion: major * 10000000 + minor * 100000 + patch (hip_version.h,
 * all versions). ROCm 6 is the first with the CUDA-like hipMemoryType values. */
#define HIPABI_VERSION_6 60000000

/* hipSuccess 0, hipErrorInvalidValue 1, hipErrorNoDevice 100, hipErrorNotReady 600,
 * hipErrorNotSupported 801 (equal in 5.2, 6.x, 7.x). */
#define HIPABI_SUCCESS 0
#define HIPABI_ERR_INVALID_VALUE 1
#define HIPABI_ERR_NO_DEVICE 100
#define HIPABI_ERR_NOT_READY 600
#define HIPABI_ERR_NOT_SUPPORTED 801

/* hipMemoryType, ROCm 6.0 and later (6.0.0, 6.2.2, 7.x): CUDA's values plus
 * AMD's Array and Unified far away. */
#define HIPABI6_MEM_UNREGISTERED 0
#define HIPABI6_MEM_HOST 1
#define HIPABI6_MEM_DEVICE 2
#define HIPABI6_MEM_MANAGED 3
#define HIPABI6_MEM_ARRAY 10
#define HIPABI6_MEM_UNIFIED 11

/* hipMemoryType, ROCm 5: Host 0, Device 1, Array 2, Unified 3 (5.2); 5.7 adds
 * Managed 4. No Unregistered value: 5.x returns hipErrorInvalidValue for memory it
 * does not know, and 5.2 marks managed memory only with isManaged. */
#define HIPABI5_MEM_HOST 0
#define HIPABI5_MEM_DEVICE 1
#define HIPABI5_MEM_ARRAY 2
#define HIPABI5_MEM_UNIFIED 3
#define HIPABI5_MEM_MANAGED 4

/* hipPointerAttribute_t: the same layout in 5.2, 5.7 (the first member is a union
 * of memoryType and type there), 6.x and 7.x; 32 bytes on LP64. */
struct hipabi_ptr_attr {
    int type;               /* hipMemoryType (5.2 calls the member memoryType) */
    int device;
    void *device_pointer;
    void *host_pointer;
    int is_managed;
    unsigned allocation_flags;
};

/* hipDeviceAttribute_t: equal in 5.2, 5.7, 6.0.0, 6.2.2 and 7.x (counted in the
 * enum; 7.x keeps the removed entries as hipDeviceAttributeUnused1..5). */
#define HIPABI_ATTR_CAN_MAP_HOST_MEMORY 3
#define HIPABI_ATTR_INTEGRATED 16
#define HIPABI_ATTR_PAGEABLE_MEMORY_ACCESS 65
#define HIPABI_ATTR_CAN_USE_STREAM_WAIT_VALUE 10013 /* AMD-specific range from 10000 */

/* Flags (hip_runtime_api.h #defines, equal in 5.2, 6.x, 7.x). */
#define HIPABI_HOST_MALLOC_PORTABLE 0x1   /* hipHostMallocPortable (= hipHostAllocPortable) */
#define HIPABI_HOST_MALLOC_MAPPED 0x2     /* hipHostMallocMapped (= hipHostAllocMapped) */
#define HIPABI_HOST_REGISTER_PORTABLE 0x1 /* hipHostRegisterPortable */
#define HIPABI_HOST_REGISTER_MAPPED 0x2   /* hipHostRegisterMapped */
#define HIPABI_EVENT_DISABLE_TIMING 0x2   /* hipEventDisableTiming */
#define HIPABI_STREAM_NON_BLOCKING 0x1    /* hipStreamNonBlocking */
#define HIPABI_MEM_ATTACH_GLOBAL 0x1      /* hipMemAttachGlobal */
#define HIPABI_MEMCPY_DEFAULT 4           /* hipMemcpyDefault */
/* hipStreamWaitValueGte 0, hipStreamWaitValueEq 1. The header documents Gte as
 * "(*ptr & mask) >= value", a plain compare, where CUDA's GEQ is cyclic. */
#define HIPABI_WAIT_GTE 0
#define HIPABI_WAIT_EQ 1
#define HIPABI_WAIT_MASK_ALL 0xffffffffu

/* hipStreamCaptureMode: Global 0, ThreadLocal 1, Relaxed 2; hipStreamCaptureStatus:
 * None 0, Active 1, Invalidated 2 (5.2, 6.x, 7.x). */
#define HIPABI_CAPTURE_MODE_RELAXED 2

/* ----------------------------------------------------------------- CUDA ---- */

/* cudaSuccess 0, cudaErrorInvalidValue 1, cudaErrorNotReady 600,
 * cudaErrorNotSupported 801 (driver_types.h, 13.0). */
#define CUDAABI_SUCCESS 0
#define CUDAABI_ERR_NOT_READY 600

/* cudaMemoryType (driver_types.h, 13.0; the same since CUDA 10). */
#define CUDAABI_MEM_UNREGISTERED 0
#define CUDAABI_MEM_HOST 1
#define CUDAABI_MEM_DEVICE 2
#define CUDAABI_MEM_MANAGED 3

/* struct cudaPointerAttributes: type, device, devicePointer, hostPointer (CUDA 11
 * and 12: 24 bytes); 13.0 appends long reserved[8] (88 bytes). The loader passes
 * a zeroed buffer of CUDAABI_PTR_ATTR_ROOM bytes and reads the common prefix. */
struct cudaabi_ptr_attr {
    int type;
    int device;
    void *device_pointer;
    void *host_pointer;
};
#define CUDAABI_PTR_ATTR_ROOM 256

/* cudaDeviceAttr (driver_types.h, 13.0) and CUdevice_attribute (cuda.h, 13.0). */
#define CUDAABI_ATTR_INTEGRATED 18           /* cudaDevAttrIntegrated */
#define CUDAABI_ATTR_UNIFIED_ADDRESSING 41   /* cudaDevAttrUnifiedAddressing */
#define CUDAABI_ATTR_CAN_MAP_HOST_MEMORY 19  /* cudaDevAttrCanMapHostMemory */
#define CUDAABI_ATTR_PAGEABLE_MEMORY_ACCESS 88 /* cudaDevAttrPageableMemoryAccess */
/* CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_MEM_OPS_V1 = 92: the v1 memop API's attribute,
 * deprecated in 12 and 13. The v2 32-bit operations (cuStreamWaitValue32_v2,
 * cuStreamWriteValue32_v2) have no attribute of their own in 13.0's cuda.h: they are
 * supported wherever the driver exports them (only 64-bit ops and the NOR flag
 * have attributes, 122 and 123). */
#define CUABI_ATTR_CAN_USE_STREAM_MEM_OPS_V1 92

/* Flags (driver_types.h, 13.0). */
#define CUDAABI_HOST_ALLOC_PORTABLE 0x1    /* cudaHostAllocPortable */
#define CUDAABI_HOST_ALLOC_MAPPED 0x2      /* cudaHostAllocMapped */
#define CUDAABI_HOST_REGISTER_PORTABLE 0x1 /* cudaHostRegisterPortable */
#define CUDAABI_HOST_REGISTER_MAPPED 0x2   /* cudaHostRegisterMapped */
#define CUDAABI_EVENT_DISABLE_TIMING 0x2   /* cudaEventDisableTiming */
#define CUDAABI_STREAM_NON_BLOCKING 0x1    /* cudaStreamNonBlocking */
#define CUDAABI_MEM_ATTACH_GLOBAL 0x1      /* cudaMemAttachGlobal */
#define CUDAABI_MEMCPY_DEFAULT 4           /* cudaMemcpyDefault */
#define CUDAABI_CAPTURE_MODE_RELAXED 2     /* cudaStreamCaptureModeRelaxed */

/* cuda.h 13.0: CU_STREAM_WAIT_VALUE_GEQ 0 ((int32_t)(*addr - value) >= 0),
 * CU_STREAM_WAIT_VALUE_EQ 1, CU_STREAM_WRITE_VALUE_DEFAULT 0. The _v2 entry
 * points are what cuda.h's cuStreamWaitValue32 / cuStreamWriteValue32 macros name. */
#define CUABI_WAIT_GEQ 0
#define CUABI_WAIT_EQ 1
#define CUABI_WRITE_DEFAULT 0

#endif
