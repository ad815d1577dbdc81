/* SPDX-License-Identifier: MIT */
/*
 * error.c — recording an error where it is first known, and the public
 * haloGetErrorString / haloGetVersion.
 *
 * halo_error() keeps the sentence in the communicator (under err_lock: worker
 * threads record errors too) or, with no communicator yet, in a buffer of the
 * calling thread; haloGetLastError (comm.c) hands out a copy in the calling
 * thread, never the communicator's own buffer (an abort may free it). The sentence is logged
 * once, here, so callers only pass the result up.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "comm.h"
#include "error.h"
#include "log.h"

static _Thread_local char thread_last_error[HALO_ERRLEN];

const char *halo_thread_last_error(void)
{
    return thread_last_error;
}

void halo_thread_set_error(const char *msg)
{
    snprintf(thread_last_error, sizeof(thread_last_error), "%s", msg ? msg : "");
}

const char *comm_error_snapshot(struct halo_comm *comm)
{
    static _Thread_local char snapshot[HALO_ERRLEN];
    pthread_mutex_lock(&comm->err_lock);
    snprintf(snapshot, sizeof(snapshot), "%s", comm->last_error);
    pthread_mutex_unlock(&comm->err_lock);
    return snapshot;
}

void comm_error_to_thread(struct halo_comm *comm)
{
    pthread_mutex_lock(&comm->err_lock);
    halo_thread_set_error(comm->last_error);
    pthread_mutex_unlock(&comm->err_lock);
}

static void comm_store_error(struct halo_comm *comm, const char *msg)
{
    pthread_mutex_lock(&comm->err_lock);
    snprintf(comm->last_error, sizeof(comm->last_error), "%s", msg);
    pthread_mutex_unlock(&comm->err_lock);
}

haloResult_t halo_error_sub(enum halo_subsys sub, struct halo_comm *comm, haloResult_t res, const char *fmt, ...)
{
    char msg[HALO_ERRLEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (comm)
        comm_store_error(comm, msg);
    else
        halo_thread_set_error(msg);
    HLOG_WARN(sub, comm ? comm->rank : -1, "%s", msg);
    return res;
}

HALO_API const char *haloGetErrorString(haloResult_t result)
{
    switch (result) {
    case haloSuccess:
        return "no error";
    case haloUnhandledCudaError:
        return "GPU runtime call failed (see haloGetLastError, or run with HALO_DEBUG=INFO for details)";
    case haloSystemError:
        return "unhandled system error: an OS, network or memory call failed "
               "(see haloGetLastError, or run with HALO_DEBUG=INFO for details)";
    case haloInternalError:
        return "internal error in haloccl (please report it with the HALO_DEBUG=INFO output)";
    case haloInvalidArgument:
        return "invalid argument (haloGetLastError names it)";
    case haloInvalidUsage:
        return "invalid usage: calls do not match across ranks or come in the wrong order";
    case haloRemoteError:
        return "remote error: a peer died, timed out or reported an error";
    case haloInProgress:
        return "operation still in progress";
    case haloNumResults:
        break;
    }
    return "unknown result code";
}

HALO_API haloResult_t haloGetVersion(int *version)
{
    if (!version)
        return halo_error(NULL, haloInvalidArgument, "haloGetVersion: version is NULL");
    *version = HALO_VERSION_CODE;
    return haloSuccess;
}
