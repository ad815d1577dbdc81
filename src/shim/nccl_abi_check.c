/* SPDX-License-Identifier: MIT */
/*
 * nccl_abi_check.c — built only where NCCL's own nccl.h is installed (CMake option
 * HALO_NCCL_HEADER_DIR): the real header must agree with nccl_abi_facts.h, as our
 * nccl_abi.h does (shim_abi.c), so the two headers agree. Compiling is the check;
 * the object holds nothing.
 */
#include <limits.h>
#include <stddef.h>

#include <nccl.h>

#include "nccl_abi_facts.h"

NCCL_ABI_ASSERT_ALL

/* The prototypes too: each NCCL_FN row of nccl_api.def (the functions nccl.h 2.28
 * declares) must have the real function's type. Our stream parameter is a void
 * pointer; here it is given cudaStream_t's type so the two compare equal. */
typedef cudaStream_t ncclAbiStream_t;
typedef int ncclCommMemStat_t;
typedef int mscclAlgoHandle_t;
typedef struct ncclWaitSignalDesc ncclWaitSignalDesc_t;
typedef struct ncclDevComm ncclDevComm_t;
typedef struct ncclDevCommRequirements ncclDevCommRequirements_t;
typedef struct ncclDevResourceRequirements ncclDevResourceRequirements_t;
typedef struct ncclLsaBarrierHandle ncclLsaBarrierHandle_t;
typedef struct ncclGinBarrierHandle ncclGinBarrierHandle_t;
typedef struct ncclLLA2AHandle ncclLLA2AHandle_t;
typedef struct ncclTeamChk ncclTeam_t;

#define NCCL_FN(ret, name, params)                                                               \
    ret abi_check_##name params;                                                                 \
    _Static_assert(__builtin_types_compatible_p(__typeof__(name), __typeof__(abi_check_##name)),  \
                   #name "'s prototype differs from nccl.h's");                                  \
    _Static_assert(__builtin_types_compatible_p(__typeof__(p##name), __typeof__(abi_check_##name)), \
                   "p" #name "'s prototype differs from nccl.h's");
#define NCCL_FN_DEV(ret, name, params)
#define NCCL_FN_EXT(ret, name, params)
#include "nccl_api.def"
