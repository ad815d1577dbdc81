/* SPDX-License-Identifier: MIT */
/*
 * error.h — recording errors where they are first known.
 *
 * The place that first sees a failure calls halo_error(): it formats one sentence
 * (what failed, rank, peer, interface, the knob to change), stores it as the last
 * error of the communicator (or of the calling thread when comm is NULL), logs it
 * once at WARN and returns the result code so callers can `return halo_error(...)`.
 * Callers pass results up without logging again.
 */
#ifndef HALO_ERROR_H
#define HALO_ERROR_H

#include "haloccl.h"
#include "log.h"

struct halo_comm;

/* The subsystem an error is logged under (HALO_DEBUG_SUBSYS): a source file sets
 * HALO_ERR_SUBSYS before its first #include; INIT otherwise. */
#ifndef HALO_ERR_SUBSYS
#define HALO_ERR_SUBSYS HALO_SUB_INIT
#endif

haloResult_t halo_error_sub(enum halo_subsys sub, struct halo_comm *comm, haloResult_t res, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define halo_error(comm, res, ...) halo_error_sub(HALO_ERR_SUBSYS, (comm), (res), __VA_ARGS__)
/* Thread-local last error (used before a communicator exists). */
const char *halo_thread_last_error(void);
void halo_thread_set_error(const char *msg);

#endif
