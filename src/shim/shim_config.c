/* SPDX-License-Identifier: MIT */
/*
 * shim_config.c — reading a caller's ncclConfig_t, whatever NCCL version its header
 * was.
 *
 * Fields are only ever appended to ncclConfig_t, and the caller's struct carries
 * its own size and version (NCCL_CONFIG_INITIALIZER writes them). So: start from our
 * defaults, copy min(caller's size, ours) bytes, check the magic, and put back the
 * default of every field newer than the caller's version (a stale value there
 * cannot be trusted). Larger structs from newer headers are read up to what we know;
 * the rest is ignored. The caller's struct is never written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "shim.h"

/* The 2.28 prefix of our view is the ABI's ncclConfig_t. */
_Static_assert(offsetof(struct shim_config, nvlinkCentricSched) == offsetof(ncclConfig_t, nvlinkCentricSched),
               "shim_config's prefix is ncclConfig_t");
_Static_assert(sizeof(struct shim_config) == 96, "NCCL 2.30's config is 96 bytes");

/* Version that added each group of fields (NCCL_VERSION(2,x,0)). */
#define CFG_V2_18 21800 /* splitShare */
#define CFG_V2_25 22500 /* trafficClass */
#define CFG_V2_27 22700 /* commName .. nvlsCTAs */
#define CFG_V2_28 22800 /* nChannelsPerNetPeer, nvlinkCentricSched */
#define CFG_V2_29 22900 /* graphUsageMode, numRmaCtx */
#define CFG_V2_30 23000 /* maxP2pPeers, graphStreamOrdering */

static void cfg_defaults(struct shim_config *c)
{
    int *ints[] = {&c->blocking, &c->cgaClusterSize, &c->minCTAs, &c->maxCTAs, &c->splitShare,
                   &c->trafficClass, &c->collnetEnable, &c->CTAPolicy, &c->shrinkShare, &c->nvlsCTAs,
                   &c->nChannelsPerNetPeer, &c->nvlinkCentricSched, &c->graphUsageMode, &c->numRmaCtx,
                   &c->maxP2pPeers, &c->graphStreamOrdering};
    memset(c, 0, sizeof(*c));
    c->size = sizeof(*c);
    c->magic = NCCL_CONFIG_MAGIC;
    c->version = 23000;
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        *ints[i] = NCCL_CONFIG_UNDEF_INT;
}

/* Step 5 of the rule: fields the caller's header did not have keep their defaults. */
static void cfg_reset_newer(struct shim_config *c, unsigned int version)
{
    struct shim_config d;
    cfg_defaults(&d);
    if (version < CFG_V2_18)
        c->splitShare = d.splitShare;
    if (version < CFG_V2_25)
        c->trafficClass = d.trafficClass;
    if (version < CFG_V2_27) {
        c->commName = NULL;
        c->collnetEnable = d.collnetEnable;
        c->CTAPolicy = d.CTAPolicy;
        c->shrinkShare = d.shrinkShare;
        c->nvlsCTAs = d.nvlsCTAs;
    }
    if (version < CFG_V2_28) {
        c->nChannelsPerNetPeer = d.nChannelsPerNetPeer;
        c->nvlinkCentricSched = d.nvlinkCentricSched;
    }
    if (version < CFG_V2_29) {
        c->graphUsageMode = d.graphUsageMode;
        c->numRmaCtx = d.numRmaCtx;
    }
    if (version < CFG_V2_30) {
        c->maxP2pPeers = d.maxP2pPeers;
        c->graphStreamOrdering = d.graphStreamOrdering;
    }
}

ncclResult_t shim_config_parse(const void *config, struct shim_config *out, char *err, size_t errlen)
{
    struct shim_config c;
    size_t size;

    cfg_defaults(&c);
    if (config) {
        memcpy(&size, config, sizeof(size));
        if (size < offsetof(struct shim_config, blocking)) {
            snprintf(err, errlen, "config->size is %zu: not initialised with NCCL_CONFIG_INITIALIZER", size);
            return ncclInvalidArgument;
        }
        memcpy(&c, config, size < sizeof(c) ? size : sizeof(c));
        if (c.magic != NCCL_CONFIG_MAGIC) {
            snprintf(err, errlen, "config->magic is 0x%x, not 0x%x: not initialised with NCCL_CONFIG_INITIALIZER",
                     c.magic, NCCL_CONFIG_MAGIC);
            return ncclInvalidArgument;
        }
        cfg_reset_newer(&c, c.version);
    }
    *out = c;
    return ncclSuccess;
}

/* 0 or 1 (or UNDEF) for the flag fields. */
static int cfg_flag_ok(int v)
{
    return v == NCCL_CONFIG_UNDEF_INT || v == 0 || v == 1;
}

static ncclResult_t cfg_validate(const struct shim_config *c, char *err, size_t errlen)
{
    const struct {
        const char *name;
        int value;
    } flags[] = {{"blocking", c->blocking}, {"splitShare", c->splitShare}, {"shrinkShare", c->shrinkShare},
                 {"collnetEnable", c->collnetEnable}, {"nvlinkCentricSched", c->nvlinkCentricSched}};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        if (!cfg_flag_ok(flags[i].value)) {
            snprintf(err, errlen, "config->%s is %d: expected 0 or 1", flags[i].name, flags[i].value);
            return ncclInvalidArgument;
        }
    if (c->cgaClusterSize != NCCL_CONFIG_UNDEF_INT && c->cgaClusterSize < 0) {
        snprintf(err, errlen, "config->cgaClusterSize is %d: expected >= 0", c->cgaClusterSize);
        return ncclInvalidArgument;
    }
    if ((c->minCTAs != NCCL_CONFIG_UNDEF_INT && c->minCTAs <= 0) ||
        (c->maxCTAs != NCCL_CONFIG_UNDEF_INT && c->maxCTAs <= 0) ||
        (c->nvlsCTAs != NCCL_CONFIG_UNDEF_INT && c->nvlsCTAs <= 0)) {
        snprintf(err, errlen, "config: minCTAs (%d), maxCTAs (%d) and nvlsCTAs (%d) must be > 0 when set",
                 c->minCTAs, c->maxCTAs, c->nvlsCTAs);
        return ncclInvalidArgument;
    }
    if (c->minCTAs != NCCL_CONFIG_UNDEF_INT && c->maxCTAs != NCCL_CONFIG_UNDEF_INT && c->minCTAs > c->maxCTAs) {
        snprintf(err, errlen, "config->minCTAs (%d) is above config->maxCTAs (%d)", c->minCTAs, c->maxCTAs);
        return ncclInvalidArgument;
    }
    return ncclSuccess;
}

/* NCCL_COMM_BLOCKING overrides config.blocking, as in NCCL. -1 when unset. */
static int env_blocking(void)
{
    const char *v = getenv("NCCL_COMM_BLOCKING");
    if (!v || !*v)
        return -1;
    if (strcmp(v, "0") == 0 || strcmp(v, "1") == 0)
        return v[0] - '0';
    HLOG_WARN(HALO_SUB_ENV, -1, "NCCL_COMM_BLOCKING=\"%s\" ignored: expected 0 or 1", v);
    return -1;
}

ncclResult_t shim_config_read(const void *config, const char *fn, struct shim_comm_config *out)
{
    struct shim_config c;
    char err[256];
    ncclResult_t r = shim_config_parse(config, &c, err, sizeof(err));

    if (r == ncclSuccess)
        r = cfg_validate(&c, err, sizeof(err));
    if (r != ncclSuccess)
        return shim_error(NULL, r, "%s: %s", fn, err);
    memset(out, 0, sizeof(*out));
    out->blocking = c.blocking == 0 ? 0 : 1;
    int envb = env_blocking();
    if (envb >= 0)
        out->blocking = envb;
    out->splitShare = c.splitShare == 1;
    if (c.commName)
        snprintf(out->commName, sizeof(out->commName), "%s", c.commName);
    if (c.netName)
        HLOG_INFO(HALO_SUB_INIT, -1, "%s: config->netName \"%s\" ignored (HALO_TRANSPORT / NCCL_NET choose the "
                  "transport)", fn, c.netName);
    return ncclSuccess;
}
