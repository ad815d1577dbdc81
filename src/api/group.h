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

#endif
