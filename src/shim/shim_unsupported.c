/* SPDX-License-Identifier: MIT */
/*
 * shim_unsupported.c — the NCCL/RCCL names haloccl cannot honour: symmetric-memory
 * windows, the one-sided API, the device API, MSCCL and RCCL's ncclCommDump. They
 * exist so that programs built against NCCL load (PyTorch resolves every import at
 * load time), and each returns ncclInvalidUsage with a sentence for
 * ncclGetLastError: never a crash, never a silent success.
 */
#include "shim.h"

/* The comm, when the handle is live, so the sentence also lands on it. */
static ncclResult_t unsupported(ncclComm_t comm, const char *what)
{
    struct ncclComm *c = NULL;
    if (comm)
        shim_comm_hold(comm, NULL, &c);
    ncclResult_t r = shim_error(c, ncclInvalidUsage, "%s is not supported by haloccl", what);
    shim_comm_put(c);
    return r;
}

SHIM_ALIAS(ncclCommWindowRegister);
SHIM_API ncclResult_t pncclCommWindowRegister(ncclComm_t comm, void *buff, size_t size, ncclWindow_t *win,
                                              int winFlags)
{
    return unsupported(comm, "ncclCommWindowRegister (symmetric-memory windows)");
}

SHIM_ALIAS(ncclCommWindowDeregister);
SHIM_API ncclResult_t pncclCommWindowDeregister(ncclComm_t comm, ncclWindow_t win)
{
    return unsupported(comm, "ncclCommWindowDeregister (symmetric-memory windows)");
}

SHIM_ALIAS(ncclWinGetUserPtr);
SHIM_API ncclResult_t pncclWinGetUserPtr(ncclComm_t comm, ncclWindow_t win, void **outUserPtr)
{
    return unsupported(comm, "ncclWinGetUserPtr (symmetric-memory windows)");
}

SHIM_ALIAS(ncclPutSignal);
SHIM_API ncclResult_t pncclPutSignal(const void *localbuff, size_t count, ncclDataType_t datatype, int peer,
                                     ncclWindow_t peerWin, size_t peerWinOffset, int sigIdx, int ctx,
                                     unsigned int flags, ncclComm_t comm, ncclAbiStream_t stream)
{
    return unsupported(comm, "ncclPutSignal (one-sided API)");
}

SHIM_ALIAS(ncclSignal);
SHIM_API ncclResult_t pncclSignal(int peer, int sigIdx, int ctx, unsigned int flags, ncclComm_t comm,
                                  ncclAbiStream_t stream)
{
    return unsupported(comm, "ncclSignal (one-sided API)");
}

SHIM_ALIAS(ncclWaitSignal);
SHIM_API ncclResult_t pncclWaitSignal(int nDesc, ncclWaitSignalDesc_t *signalDescs, ncclComm_t comm,
                                      ncclAbiStream_t stream)
{
    return unsupported(comm, "ncclWaitSignal (one-sided API)");
}

SHIM_ALIAS(ncclDevCommCreate);
SHIM_API ncclResult_t pncclDevCommCreate(ncclComm_t comm, const ncclDevCommRequirements_t *reqs,
                                         ncclDevComm_t *outDevComm)
{
    return unsupported(comm, "ncclDevCommCreate (the device API)");
}

SHIM_ALIAS(ncclDevCommDestroy);
SHIM_API ncclResult_t pncclDevCommDestroy(ncclComm_t comm, const ncclDevComm_t *devComm)
{
    return unsupported(comm, "ncclDevCommDestroy (the device API)");
}

/* Teams have an answer without device support: the world is every rank with
 * stride 1; no peer is reachable by load/store, so the LSA team is this rank alone;
 * one rank per host is not known here, so the rail team is the world. An invalid
 * handle gives the empty team. */
static ncclTeam_t team_of(ncclComm_t comm, int lsa)
{
    struct ncclComm *c;
    ncclTeam_t t = {0, 0, 0};
    if (shim_comm_get(comm, lsa ? "ncclTeamLsa" : "ncclTeamWorld", &c) != ncclSuccess)
        return t;
    t.nRanks = lsa ? 1 : c->nranks;
    t.rank = lsa ? 0 : c->rank;
    t.stride = 1;
    shim_comm_put(c);
    return t;
}

SHIM_ALIAS(ncclTeamWorld);
SHIM_API ncclTeam_t pncclTeamWorld(ncclComm_t comm)
{
    return team_of(comm, 0);
}

SHIM_ALIAS(ncclTeamLsa);
SHIM_API ncclTeam_t pncclTeamLsa(ncclComm_t comm)
{
    return team_of(comm, 1);
}

SHIM_ALIAS(ncclTeamRail);
SHIM_API ncclTeam_t pncclTeamRail(ncclComm_t comm)
{
    return team_of(comm, 0);
}

/* A team member's world rank: this rank's, moved by the stride. */
SHIM_ALIAS(ncclTeamRankToWorld);
SHIM_API int pncclTeamRankToWorld(ncclComm_t comm, ncclTeam_t team, int rank)
{
    struct ncclComm *c;
    if (shim_comm_get(comm, "ncclTeamRankToWorld", &c) != ncclSuccess)
        return -1;
    int world = c->rank + (rank - team.rank) * team.stride;
    shim_comm_put(c);
    return world;
}

/* Only this rank is in its LSA team. */
SHIM_ALIAS(ncclTeamRankToLsa);
SHIM_API int pncclTeamRankToLsa(ncclComm_t comm, ncclTeam_t team, int rank)
{
    struct ncclComm *c;
    if (shim_comm_get(comm, "ncclTeamRankToLsa", &c) != ncclSuccess)
        return -1;
    int lsa = pncclTeamRankToWorld(comm, team, rank) == c->rank ? 0 : -1;
    shim_comm_put(c);
    return lsa;
}

SHIM_ALIAS(ncclLsaBarrierCreateRequirement);
SHIM_API ncclResult_t pncclLsaBarrierCreateRequirement(ncclTeam_t team, int nBarriers,
                                                       ncclLsaBarrierHandle_t *outHandle,
                                                       ncclDevResourceRequirements_t *outReq)
{
    return unsupported(NULL, "ncclLsaBarrierCreateRequirement (the device API)");
}

SHIM_ALIAS(ncclGinBarrierCreateRequirement);
SHIM_API ncclResult_t pncclGinBarrierCreateRequirement(ncclComm_t comm, ncclTeam_t team, int nBarriers,
                                                       ncclGinBarrierHandle_t *outHandle,
                                                       ncclDevResourceRequirements_t *outReq)
{
    return unsupported(comm, "ncclGinBarrierCreateRequirement (the device API)");
}

/* No slots: the LL all-to-all is a device-API kernel. */
SHIM_ALIAS(ncclLLA2ACalcSlots);
SHIM_API int pncclLLA2ACalcSlots(int maxElts, int maxEltSize)
{
    unsupported(NULL, "ncclLLA2ACalcSlots (the device API)");
    return 0;
}

SHIM_ALIAS(ncclLLA2ACreateRequirement);
SHIM_API ncclResult_t pncclLLA2ACreateRequirement(int nBlocks, int nSlots, ncclLLA2AHandle_t *outHandle,
                                                  ncclDevResourceRequirements_t *outReq)
{
    return unsupported(NULL, "ncclLLA2ACreateRequirement (the device API)");
}

SHIM_ALIAS(mscclLoadAlgo);
SHIM_API ncclResult_t pmscclLoadAlgo(const char *mscclAlgoFilePath, mscclAlgoHandle_t *mscclAlgoHandle, int rank)
{
    return unsupported(NULL, "mscclLoadAlgo (RCCL's MSCCL)");
}

SHIM_ALIAS(mscclRunAlgo);
SHIM_API ncclResult_t pmscclRunAlgo(const void *sendBuff, const size_t sendCounts[], const size_t sDisPls[],
                                    void *recvBuff, const size_t recvCounts[], const size_t rDisPls[], size_t count,
                                    ncclDataType_t dataType, int root, int peer, ncclRedOp_t op,
                                    mscclAlgoHandle_t mscclAlgoHandle, ncclComm_t comm, ncclAbiStream_t stream)
{
    return unsupported(comm, "mscclRunAlgo (RCCL's MSCCL)");
}

SHIM_ALIAS(mscclUnloadAlgo);
SHIM_API ncclResult_t pmscclUnloadAlgo(mscclAlgoHandle_t mscclAlgoHandle)
{
    return unsupported(NULL, "mscclUnloadAlgo (RCCL's MSCCL)");
}

/* RCCL's C++ ncclCommDump(ncclComm_t, std::unordered_map<std::string, std::string>&),
 * which ROCm PyTorch imports: defined here under its mangled name (libstdc++'s
 * cxx11 ABI). The map is left untouched. */
SHIM_API ncclResult_t shim_comm_dump(ncclComm_t comm, void *map) __asm__(
    "_Z12ncclCommDumpP8ncclCommRSt13unordered_mapINSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEES7_St4hash"
    "IS7_ESt8equal_toIS7_ESaISt4pairIKS7_S7_EEE");
ncclResult_t shim_comm_dump(ncclComm_t comm, void *map)
{
    return unsupported(comm, "ncclCommDump (RCCL's C++ state dump)");
}
