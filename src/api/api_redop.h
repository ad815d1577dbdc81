/* SPDX-License-Identifier: MIT */
/*
 * api_redop.h — pre-mul-sum ops inside the API layer (api_redop.c).
 */
#ifndef HALO_API_REDOP_H
#define HALO_API_REDOP_H

#include "engine.h"

/* op for a reduction of dt on comm: a built-in op, or a live pre-mul-sum op of
 * comm created for dt. haloInvalidArgument with a sentence otherwise. */
haloResult_t api_redop_check(struct halo_comm *comm, const char *fn, haloRedOp_t op, haloDataType_t dt);
/* After api_redop_check, on the calling thread: a pre-mul-sum op becomes haloSum
 * with what it needs to run copied into o (premul, scalar, scalar_ptr). */
void api_redop_resolve(struct halo_comm *comm, struct halo_op *o);
/* Where op runs: *scaled = a malloc'ed copy of this rank's input (count elements;
 * reduce-scatter count x nranks) multiplied by the scalar, read now when it is
 * device-resident; NULL for count 0. The caller frees it. */
haloResult_t api_premul_scale(struct halo_comm *comm, const struct halo_op *op, void **scaled);

#endif
