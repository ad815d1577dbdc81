/* SPDX-License-Identifier: MIT */
/*
 * model.h — the perf tools' --model: beside each measured row, the cost model's
 * time for the call as the library would run it (algorithm, channels, slice),
 * and measured / predicted. Reads the communicator's internals (api_plan_query),
 * as halo-topo does; the tools proper stay on the public API.
 */
#ifndef HALO_PERF_MODEL_H
#define HALO_PERF_MODEL_H

#include <stddef.h>

#include "haloccl.h"

/* One "# model: ..." line: which model prices the calls and its parameters. */
void perf_model_header(haloComm_t comm, const char *call);
/* Appends to the row being printed (no newline): the prediction for `count`
 * elements of dt (the API's count) of `call` ("haloAllReduce", ..., or
 * "haloSend/haloRecv": sendrecv_bw's pattern, with its root), measured_us over it,
 * and the plan; as JSON fields (",\"model_time_us\":...") when json. */
void perf_model_row(haloComm_t comm, const char *call, size_t count, haloDataType_t dt, int root,
                    double measured_us, int json);

#endif
