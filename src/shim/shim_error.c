/* SPDX-License-Identifier: MIT */
/*
 * shim_error.c — NCCL's error conventions over haloccl's: result codes (equal
 * values), error strings, ncclGetLastError (per communicator, or the calling
 * thread's with NULL: PyTorch always passes NULL) and ncclGetVersion.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "shim.h"

/* The calling thread's newest sentence: a shim error, or haloccl's sentence for a
 * failed call, copied when the shim passed the result up. */
static _Thread_local char thread_err[SHIM_ERRLEN];

const char *shim_thread_error(void)
{
    return thread_err;
}

void shim_thread_note(const char *msg)
{
    snprintf(thread_err, sizeof(thread_err), "%s", msg ? msg : "");
}

ncclResult_t shim_error(struct ncclComm *comm, ncclResult_t res, const char *fmt, ...)
{
    char msg[SHIM_ERRLEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(thread_err, sizeof(thread_err), "%s", msg);
    if (comm) {
        pthread_mutex_lock(&comm->lock);
        snprintf(comm->err, sizeof(comm->err), "%s", msg);
        comm->err_is_shim = 1;
        pthread_mutex_unlock(&comm->lock);
    }
    HLOG_WARN(HALO_SUB_INIT, comm ? comm->rank : -1, "%s", msg);
    return res;
}

ncclResult_t shim_pass(struct ncclComm *comm, haloResult_t r)
{
    if (r == haloSuccess)
        return ncclSuccess;
    const char *msg = haloGetLastError(comm ? comm->halo : NULL);
    if (comm && comm->halo && (!msg || !*msg))
        msg = haloGetLastError(NULL);
    snprintf(thread_err, sizeof(thread_err), "%s", msg ? msg : "");
    if (comm) {
        pthread_mutex_lock(&comm->lock);
        comm->err_is_shim = 0;
        pthread_mutex_unlock(&comm->lock);
    }
    return (ncclResult_t)r;
}

SHIM_ALIAS(ncclGetVersion);
SHIM_API ncclResult_t pncclGetVersion(int *version)
{
    if (!version)
        return shim_error(NULL, ncclInvalidArgument, "ncclGetVersion: version is NULL");
    /* NCCL's code, not haloccl's: PyTorch and vLLM parse it as NCCL's. */
    *version = NCCL_VERSION_CODE;
    return ncclSuccess;
}

SHIM_ALIAS(ncclGetErrorString);
SHIM_API const char *pncclGetErrorString(ncclResult_t result)
{
    switch (result) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "GPU runtime call failed (ncclGetLastError has the details)";
    case ncclSystemError: return "system error: an OS, network or memory call failed (ncclGetLastError has the details)";
    case ncclInternalError: return "internal error in haloccl's NCCL layer (please report it with NCCL_DEBUG=INFO output)";
    case ncclInvalidArgument: return "invalid argument (ncclGetLastError names it)";
    case ncclInvalidUsage: return "invalid usage: unsupported call, or calls that do not match across ranks (ncclGetLastError says which)";
    case ncclRemoteError: return "remote error: a peer exited, timed out or reported an error";
    case ncclInProgress: return "operation in progress";
    case ncclNumResults: break;
    }
    return "unknown result code";
}

SHIM_ALIAS(ncclGetLastError);
SHIM_API const char *pncclGetLastError(ncclComm_t c)
{
    struct ncclComm *comm;

    if (!c || shim_comm_hold(c, NULL, &comm) != ncclSuccess)
        return thread_err[0] ? thread_err : haloGetLastError(NULL);
    /* The text stays the communicator's until it is destroyed, as in NCCL. */
    const char *text = comm->err_is_shim || !comm->halo ? comm->err : haloGetLastError(comm->halo);
    shim_comm_put(comm);
    return text;
}

SHIM_ALIAS(ncclResetDebugInit);
SHIM_API void pncclResetDebugInit(void)
{
    /* Deprecated in NCCL; the log settings here are read once and stay. */
}
