/* SPDX-License-Identifier: MIT */
/*
 * test_shim_config.c — the config reader against structs laid out by NCCL headers
 * 2.17 to 2.31: each is read up to what it holds, fields newer than its version keep
 * their defaults, a larger struct is truncated, the caller's bytes are never
 * written, and bad magic or values are refused with a sentence.
 */
#include <stdlib.h>
#include <string.h>

#include "shim.h"
#include "test.h"

#define UNDEF NCCL_CONFIG_UNDEF_INT

/* A caller's struct of `size` bytes from header `version`: our 96-byte view
 * filled with distinct values, then bytes past `size` set to 0x5a (what a smaller
 * struct's neighbours might hold), then a tail for 2.31-sized callers. */
struct caller {
    struct shim_config c;
    unsigned char tail[32];
};

static void caller_make(struct caller *k, size_t size, unsigned version)
{
    memset(k, 0x5a, sizeof(*k));
    k->c.size = size;
    k->c.magic = NCCL_CONFIG_MAGIC;
    k->c.version = version;
    int *ints[] = {&k->c.blocking, &k->c.cgaClusterSize, &k->c.minCTAs, &k->c.maxCTAs, &k->c.splitShare,
                   &k->c.trafficClass, &k->c.collnetEnable, &k->c.CTAPolicy, &k->c.shrinkShare, &k->c.nvlsCTAs,
                   &k->c.nChannelsPerNetPeer, &k->c.nvlinkCentricSched, &k->c.graphUsageMode, &k->c.numRmaCtx,
                   &k->c.maxP2pPeers, &k->c.graphStreamOrdering};
    size_t n = sizeof(ints) / sizeof(ints[0]);
    for (size_t i = 0; i < n; i++)
        if ((size_t)((char *)ints[i] - (char *)&k->c) < size)
            *ints[i] = 100 + (int)i;
    if (offsetof(struct shim_config, netName) < size)
        k->c.netName = "net";
    if (offsetof(struct shim_config, commName) < size)
        k->c.commName = "name";
    k->c.blocking = 0; /* a valid flag value */
}

static void check_version(size_t size, unsigned version, int have_split, int have_tc, int have_27, int have_28,
                          int have_29, int have_30)
{
    struct caller k, before;
    struct shim_config out;
    char err[256];

    caller_make(&k, size, version);
    before = k;
    ASSERT_EQ(shim_config_parse(&k, &out, err, sizeof(err)), ncclSuccess);
    ASSERT_EQ(memcmp(&k, &before, sizeof(k)), 0);
    ASSERT_EQ(out.blocking, 0);
    ASSERT_EQ(out.cgaClusterSize, 101);
    ASSERT_EQ(out.maxCTAs, 103);
    ASSERT_STREQ(out.netName, "net");
    ASSERT_EQ(out.splitShare, have_split ? 104 : UNDEF);
    ASSERT_EQ(out.trafficClass, have_tc ? 105 : UNDEF);
    ASSERT_TRUE(have_27 ? out.commName && strcmp(out.commName, "name") == 0 : out.commName == NULL);
    ASSERT_EQ(out.nvlsCTAs, have_27 ? 109 : UNDEF);
    ASSERT_EQ(out.nChannelsPerNetPeer, have_28 ? 110 : UNDEF);
    ASSERT_EQ(out.nvlinkCentricSched, have_28 ? 111 : UNDEF);
    ASSERT_EQ(out.numRmaCtx, have_29 ? 113 : UNDEF);
    ASSERT_EQ(out.maxP2pPeers, have_30 ? 114 : UNDEF);
    ASSERT_EQ(out.graphStreamOrdering, have_30 ? 115 : UNDEF);
}

int main(void)
{
    struct caller k;
    struct shim_config out;
    struct shim_comm_config cc;
    char err[256];

    /* size, version: split, trafficClass, 2.27, 2.28, 2.29, 2.30 fields present */
    check_version(40, 21700, 0, 0, 0, 0, 0, 0);  /* 2.17 */
    check_version(48, 22100, 1, 0, 0, 0, 0, 0);  /* 2.21 */
    check_version(48, 22500, 1, 1, 0, 0, 0, 0);  /* 2.25 */
    check_version(72, 22700, 1, 1, 1, 0, 0, 0);  /* 2.27 */
    check_version(80, 22809, 1, 1, 1, 1, 0, 0);  /* 2.28 */
    check_version(88, 22903, 1, 1, 1, 1, 1, 0);  /* 2.29 */
    check_version(96, 23005, 1, 1, 1, 1, 1, 1);  /* 2.30 / current RCCL */
    check_version(120, 23100, 1, 1, 1, 1, 1, 1); /* 2.31-dev: truncated to what we know */
    /* A 2.28-sized struct that claims an old version: the newer fields are reset. */
    check_version(80, 21700, 0, 0, 0, 0, 0, 0);

    /* NULL: defaults */
    ASSERT_EQ(shim_config_parse(NULL, &out, err, sizeof(err)), ncclSuccess);
    ASSERT_EQ(out.blocking, UNDEF);
    ASSERT_EQ(shim_config_read(NULL, "test", &cc), ncclSuccess);
    ASSERT_EQ(cc.blocking, 1);

    /* the real initializer of our header */
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    ASSERT_EQ(cfg.size, 80);
    ASSERT_EQ(cfg.version, 22809);
    cfg.blocking = 0;
    cfg.commName = "a-name";
    ASSERT_EQ(shim_config_read(&cfg, "test", &cc), ncclSuccess);
    ASSERT_EQ(cc.blocking, 0);
    ASSERT_STREQ(cc.commName, "a-name");
    setenv("NCCL_COMM_BLOCKING", "1", 1);
    ASSERT_EQ(shim_config_read(&cfg, "test", &cc), ncclSuccess);
    ASSERT_EQ(cc.blocking, 1);
    unsetenv("NCCL_COMM_BLOCKING");

    /* refused: bad magic, tiny size, bad values */
    caller_make(&k, 80, 22800);
    k.c.magic = 0x12345678;
    ASSERT_EQ(shim_config_read(&k, "ncclCommInitRankConfig", &cc), ncclInvalidArgument);
    ASSERT_CONTAINS(shim_thread_error(), "NCCL_CONFIG_INITIALIZER");
    caller_make(&k, 8, 22800);
    ASSERT_EQ(shim_config_read(&k, "ncclCommInitRankConfig", &cc), ncclInvalidArgument);
    ASSERT_CONTAINS(shim_thread_error(), "config->size is 8");
    ncclConfig_t bad = NCCL_CONFIG_INITIALIZER;
    bad.blocking = 2;
    ASSERT_EQ(shim_config_read(&bad, "ncclCommInitRankConfig", &cc), ncclInvalidArgument);
    ASSERT_CONTAINS(shim_thread_error(), "config->blocking is 2");
    ncclConfig_t ctas = NCCL_CONFIG_INITIALIZER;
    ctas.minCTAs = 8;
    ctas.maxCTAs = 4;
    ASSERT_EQ(shim_config_read(&ctas, "ncclCommInitRankConfig", &cc), ncclInvalidArgument);
    ASSERT_CONTAINS(shim_thread_error(), "minCTAs (8) is above");
    printf("test_shim_config: ok\n");
    return 0;
}
