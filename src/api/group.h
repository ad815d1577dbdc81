/* SPDX-License-Identifier: MIT */
/*
 * group.h — haloGroupStart/End: operations issued inside a group are queued per
 * calling thread and run together when the outermost group ends.
 */
#ifndef HALO_GROUP_H
#define HALO_GROUP_H

#include "engine.h"

/* 1 when the calling thread is inside a group. */
int group_active(void);
/* Queues a validated op (copied). */
haloResult_t group_enqueue(const struct halo_op *op);
/* Remembers the first error of a call made inside the group; GroupEnd returns it. */
void group_note_error(haloResult_t r);

/* Runs one collective now (outside a group, or at GroupEnd): api.c. */
haloResult_t coll_execute(struct halo_op *op);
/* Runs a group's ops now: collectives in issue order, then every send and
 * receive together. Reorders ops (p2p compacted to the front). */
haloResult_t group_run_ops(struct halo_op *ops, int n);

/* GPU streams and buffers (api_gpu.c). Nonzero when ops[0..n) of comm go through
 * the progress thread: a stream is named, a runtime is loaded (device buffers may
 * need staging), or the communicator already has a progress thread. */
int api_gpu_wanted(struct halo_comm *comm, const struct halo_op *ops, int n);
/* Classifies the ops' buffers and hands them to comm's progress thread, ordered
 * on their streams; returns at once (stream NULL ops: when they completed). */
haloResult_t api_gpu_submit(struct halo_comm *comm, const struct halo_op *ops, int n, const char *fn);
/* comm's progress thread, or NULL (tests read its counters). */
struct gpu_proxy *api_gpu_proxy(struct halo_comm *comm);

#endif
