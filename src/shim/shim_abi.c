/* SPDX-License-Identifier: MIT */
/*
 * shim_abi.c — our nccl_abi.h against nccl_abi_facts.h, at compile time: the enum
 * values, the layouts of ncclConfig_t / ncclUniqueId / ncclSimInfo_t and the type
 * sizes NCCL 2.28's binaries assume. (nccl_abi_check.c holds NVIDIA's nccl.h to the
 * same facts where it is installed.) The object holds nothing.
 */
#include <limits.h>
#include <stddef.h>

#include "nccl_abi.h"
#include "nccl_abi_facts.h"

NCCL_ABI_ASSERT_ALL

/* The library's handle is the ABI's opaque struct; its stream is one pointer. */
_Static_assert(sizeof(ncclAbiStream_t) == sizeof(void *), "a stream is one pointer");
_Static_assert(sizeof(ncclTeam_t) == 12, "ncclTeam_t is returned by value in rax:rdx (12 bytes)");
