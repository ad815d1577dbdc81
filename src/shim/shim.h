/* SPDX-License-Identifier: MIT */
/*
 * shim.h — internals of the NCCL/RCCL drop-in (libnccl.so.2, librccl.so.1).
 *
 * The shim is a layer above src/api: every ncclX turns its arguments into the
 * matching halo* call (streams passed through unchanged) and adds what NCCL has and
 * haloccl does not: non-blocking init, ncclCommInitAll, all-to-all,
 * gather and scatter built from grouped send/recv, and the NCCL error conventions.
 *
 * An ncclComm_t is a `struct ncclComm` owned by the shim around a haloComm_t. Live
 * handles are kept in a registry, so a NULL, foreign or destroyed handle is an
 * error with a sentence, not a crash.
 */
#ifndef HALO_SHIM_H
#define HALO_SHIM_H

#include <pthread.h>

#include "haloccl.h"
#include "nccl_abi.h"

/* Exported with NCCL's profiling pattern: pncclX is the definition, ncclX a weak
 * alias at the same address (a profiler may define ncclX and call pncclX). */
#define SHIM_API __attribute__((visibility("default")))
#define SHIM_ALIAS(name) \
    extern __typeof__(p##name) name __attribute__((weak, alias("p" #name), visibility("default")))

#define SHIM_ERRLEN 512

/* The config fields the shim knows (NCCL 2.30's 96-byte layout; 2.28's ncclConfig_t
 * is its first 80 bytes). shim_config.c reads any caller's version into it. */
struct shim_config {
    size_t size;
    unsigned int magic;
    unsigned int version;
    int blocking;
    int cgaClusterSize;
    int minCTAs;
    int maxCTAs;
    const char *netName;
    int splitShare;
    int trafficClass;
    const char *commName;
    int collnetEnable;
    int CTAPolicy;
    int shrinkShare;
    int nvlsCTAs;
    int nChannelsPerNetPeer;
    int nvlinkCentricSched;
    int graphUsageMode;      /* 2.29 */
    int numRmaCtx;           /* 2.29 */
    int maxP2pPeers;         /* 2.30.0 */
    int graphStreamOrdering; /* 2.30.5 */
};

/* What a communicator keeps of its config: effective values, strings copied. */
struct shim_comm_config {
    int blocking;    /* 1 unless the caller asked for 0 (or NCCL_COMM_BLOCKING=0) */
    int splitShare;
    char commName[64];
};

/* Reads a caller's ncclConfig_t of any NCCL version (NULL = defaults) into `out`;
 * never writes the caller's struct. A bad magic or field value gives
 * ncclInvalidArgument and a sentence naming the field. */
ncclResult_t shim_config_read(const void *config, const char *fn, struct shim_comm_config *out);
/* The raw view, for tests: the known fields after the size/version rules. */
ncclResult_t shim_config_parse(const void *config, struct shim_config *out, char *err, size_t errlen);

enum shim_init_state { SHIM_INIT_RUNNING, SHIM_INIT_DONE, SHIM_INIT_FAILED };

struct ncclComm {
    struct ncclComm *next; /* registry (shim_comm.c), under its lock */
    pthread_mutex_t lock;  /* init state, ops table, error text */
    pthread_cond_t init_cv;
    enum shim_init_state state;
    ncclResult_t init_result;
    pthread_t init_thread;
    int init_thread_live; /* joinable until destroy/abort */
    haloComm_t halo;      /* set once init succeeded */
    int nranks, rank;
    int device; /* ncclCommCuDevice */
    int finalized;
    struct shim_comm_config cfg;
    int busy;              /* calls holding the handle (shim_comm_hold); teardown waits for 0 */
    int err_is_shim;       /* the newest error on this comm was the shim's, in err */
    char err[SHIM_ERRLEN];
};

/* ---- errors (shim_error.c) ---- */
/* Records a sentence for ncclGetLastError (on comm, or the calling thread when
 * comm is NULL), logs it once at WARN and returns res. */
ncclResult_t shim_error(struct ncclComm *comm, ncclResult_t res, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Passes a halo* result up; on failure copies haloccl's sentence to the thread's
 * last error, so ncclGetLastError(NULL) (PyTorch's call) finds it. */
ncclResult_t shim_pass(struct ncclComm *comm, haloResult_t r);
/* The thread's last sentence ("" when none). */
const char *shim_thread_error(void);
/* Makes msg the thread's last sentence (an error found on another thread, such as
 * a non-blocking init's, reported where it is polled). */
void shim_thread_note(const char *msg);
/* Lists the process's ignored and unknown NCCL_* variables at INFO, once per
 * process (called by the entry points that start a job). */
void shim_env_once(void);

/* ---- communicators (shim_comm.c) ---- */
/* Validates `c` (live in the registry) and holds it: destroy and abort wait until
 * every holder called shim_comm_put, so a watchdog thread polling the async error
 * or a collective blocked on another thread never sees the memory go. fn NULL:
 * no error is recorded. */
ncclResult_t shim_comm_hold(ncclComm_t c, const char *fn, struct ncclComm **out);
/* shim_comm_hold, then waits until its init finished and checks it succeeded and
 * was not finalized. On success *out is held. */
ncclResult_t shim_comm_get(ncclComm_t c, const char *fn, struct ncclComm **out);
/* Releases a hold; NULL is ignored. */
void shim_comm_put(struct ncclComm *c);

/* ---- groups and temporaries (shim_coll.c) ---- */
/* A buffer that must live until the calling thread's outermost group ends (or the
 * call returns, outside a group): freed by shim_temp_release. */
void *shim_temp_alloc(size_t bytes);
void shim_temp_release(void);
int shim_group_depth(void);
void shim_group_note_op(void);

#endif
