/* SPDX-License-Identifier: MIT */
/*
 * nccl_env.c — the NCCL environment names that are not plain aliases: value
 * translations, the names the drop-in reads, and the names accepted and ignored.
 */
#include <string.h>
#include <strings.h>

#include "nccl_env.h"
#include "param.h"

/* NCCL words -> HALO words, matched without regard to case as NCCL does. Any other
 * value of these aliases (Tree, "Ring,Tree", a plugin's name) has no counterpart:
 * the parameter keeps its default and the drop-in says so at INFO. */
static const struct {
    const char *alias, *from, *to;
} translations[] = {
    {"NCCL_NET", "Socket", "tcp"},
    {"NCCL_NET", "IB", "ib"},
    {"NCCL_ALGO", "Ring", "ring"},
};

/* Read by the drop-in (src/shim), not by the parameter table. */
static const struct {
    const char *name, *meaning;
} shim_names[] = {
    {"NCCL_COMM_BLOCKING", "overrides `config.blocking` (0: init returns `ncclInProgress` and finishes on a thread)"},
};

/* NCCL knobs with no meaning here: GPU kernels, NVLink/NVLS, CollNet, GPU Direct,
 * NCCL's own tuning and plugins. */
static const char *const ignored[] = {
    "NCCL_P2P_DISABLE", "NCCL_P2P_LEVEL", "NCCL_P2P_NET_CHUNKSIZE", "NCCL_P2P_USE_CUDA_MEMCPY", "NCCL_NVLS_ENABLE",
    "NCCL_NVLS_CHUNKSIZE", "NCCL_CUMEM_ENABLE", "NCCL_CUMEM_HOST_ENABLE", "NCCL_COLLNET_ENABLE", "NCCL_PROTO",
    "NCCL_MIN_NCHANNELS", "NCCL_MAX_NCHANNELS", "NCCL_MIN_CTAS", "NCCL_MAX_CTAS", "NCCL_LAUNCH_MODE",
    "NCCL_NET_GDR_LEVEL", "NCCL_NET_GDR_READ", "NCCL_GDRCOPY_ENABLE", "NCCL_CROSS_NIC", "NCCL_TOPO_FILE",
    "NCCL_TOPO_DUMP_FILE", "NCCL_GRAPH_FILE", "NCCL_GRAPH_DUMP_FILE", "NCCL_IB_TIMEOUT", "NCCL_IB_RETRY_CNT",
    "NCCL_IB_TC", "NCCL_IB_SL", "NCCL_IB_PCI_RELAXED_ORDERING", "NCCL_IB_ADAPTIVE_ROUTING", "NCCL_NET_PLUGIN",
    "NCCL_TUNER_PLUGIN", "NCCL_PROFILER_PLUGIN", "NCCL_CHECK_POINTERS", "NCCL_NSOCKS_PERTHREAD",
    "NCCL_SOCKET_NTHREADS", "NCCL_ASYNC_ERROR_HANDLING", "NCCL_BLOCKING_WAIT", "NCCL_SET_THREAD_NAME",
    "NCCL_GRAPH_REGISTER", "NCCL_LOCAL_REGISTER", "NCCL_NVB_DISABLE", "NCCL_PXN_DISABLE", "NCCL_RUNTIME_CONNECT",
    "NCCL_WORK_FIFO_DEPTH", "NCCL_CTA_POLICY", "NCCL_SHM_USE_CUDA_MEMCPY", "NCCL_NET_SHARED_BUFFERS",
};

const char *halo_nccl_env_translate(const char *alias, const char *value)
{
    int alias_known = 0;
    for (size_t i = 0; i < sizeof(translations) / sizeof(translations[0]); i++) {
        if (strcmp(translations[i].alias, alias) != 0)
            continue;
        alias_known = 1;
        if (strcasecmp(translations[i].from, value) == 0)
            return translations[i].to;
    }
    /* A translated alias with an unknown word: NCCL lists ("Ring,Tree", "^NVLS")
     * and future words have no exact counterpart either. */
    return alias_known ? NULL : value;
}

int halo_nccl_env_ignored(const char *name)
{
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
        if (strcmp(ignored[i], name) == 0)
            return 1;
    return 0;
}

int halo_nccl_env_shim(const char *name)
{
    for (size_t i = 0; i < sizeof(shim_names) / sizeof(shim_names[0]); i++)
        if (strcmp(shim_names[i].name, name) == 0)
            return 1;
    return 0;
}

/* "`Socket` → `tcp`, `IB` → `ib`" for an alias with translations. */
static void print_translations(FILE *out, const char *alias)
{
    const char *sep = "; values: ";
    for (size_t i = 0; i < sizeof(translations) / sizeof(translations[0]); i++) {
        if (strcmp(translations[i].alias, alias) != 0)
            continue;
        fprintf(out, "%s`%s` → `%s`", sep, translations[i].from, translations[i].to);
        sep = ", ";
    }
    if (strcmp(sep, ", ") == 0)
        fprintf(out, "; any other value keeps the default (said at INFO)");
}

void halo_nccl_env_print_markdown(FILE *out)
{
    fprintf(out, "| NCCL name | in haloccl |\n|---|---|\n");
    for (int i = 0; i < halo_param_count(); i++) {
        const char *name, *def, *unit, *alias;
        enum halo_param_type type;
        halo_param_row(i, &name, &type, &def, &unit, &alias);
        if (!alias)
            continue;
        fprintf(out, "| `%s` | `HALO_%s`", alias, name);
        print_translations(out, alias);
        fprintf(out, " |\n");
    }
    for (size_t i = 0; i < sizeof(shim_names) / sizeof(shim_names[0]); i++)
        fprintf(out, "| `%s` | NCCL drop-in: %s |\n", shim_names[i].name, shim_names[i].meaning);
    fprintf(out, "| ");
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
        fprintf(out, "%s`%s`", i ? ", " : "", ignored[i]);
    fprintf(out, " | accepted and ignored (no meaning here); listed once at INFO |\n");
}
