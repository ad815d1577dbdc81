/* SPDX-License-Identifier: MIT */
/* halo_info_nccl.h — `halo-info --nccl` and `--nccl-env-markdown`. */
#ifndef HALO_INFO_NCCL_H
#define HALO_INFO_NCCL_H

/* Prints which libnccl.so.2 / librccl.so.1 this environment loads, whether it is
 * haloccl's drop-in, and which NCCL names it exports. Returns 0, or 1 when no
 * library loads. */
int halo_info_nccl(void);

#endif
