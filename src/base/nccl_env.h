/* SPDX-License-Identifier: MIT */
/*
 * nccl_env.h — NCCL's environment names as haloccl reads them.
 *
 * Three kinds: names that are the NCCL alias of a HALO_* parameter (the alias
 * column of params.def, some with NCCL's words translated: NCCL_NET=Socket is
 * HALO_NET=tcp); names the NCCL drop-in reads itself (NCCL_COMM_BLOCKING); and
 * names that mean nothing here (GPU kernels, NVLink, CollNet...), accepted and
 * listed once at INFO. halo-info --nccl-env-markdown prints the README's table.
 */
#ifndef HALO_NCCL_ENV_H
#define HALO_NCCL_ENV_H

#include <stdio.h>

/* The value a HALO_* row should parse for the NCCL alias `alias` set to `value`:
 * `value` itself, a translation (NCCL_NET "Socket" -> "tcp"), or NULL when the NCCL
 * value has no counterpart (the row keeps its default; the caller logs it). */
const char *halo_nccl_env_translate(const char *alias, const char *value);
/* 1 when `name` is an NCCL variable haloccl accepts and ignores. */
int halo_nccl_env_ignored(const char *name);
/* 1 when the drop-in itself reads `name` (not a parameter). */
int halo_nccl_env_shim(const char *name);
/* The README's table of NCCL names: what each becomes here. */
void halo_nccl_env_print_markdown(FILE *out);

#endif
