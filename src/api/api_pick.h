/* SPDX-License-Identifier: MIT */
/*
 * api_pick.h — the algorithm choice of api.c, for tools that say what a live
 * communicator would run (halo-topo --plan) without running it.
 */
#ifndef HALO_API_PICK_H
#define HALO_API_PICK_H

#include <stddef.h>
#include <stdint.h>

#include "algos.h"
#include "comm.h"

/* The row an allreduce of `bytes` runs under on comm: HALO_ALGO's when forced,
 * else the auto choice (one host: direct up to api_direct_max, ring above;
 * several hosts: the cost model's pick). Pure: no I/O, no state change. */
enum halo_algo api_allreduce_algo(struct halo_comm *comm, size_t bytes);
/* HALO_DIRECT_MAX as the auto choice applies it (auto resolved by rank count). */
int64_t api_direct_max(const struct halo_comm *comm);

#endif
