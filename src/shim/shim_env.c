/* SPDX-License-Identifier: MIT */
/*
 * shim_env.c — the NCCL_* variables a program runs with, sorted once per process
 * (at the first init or unique id) into what haloccl honours and what it ignores.
 * The honoured ones are read by the parameter table like any HALO_* name; this only
 * makes the ignored and unknown ones visible, at INFO, once.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "nccl_env.h"
#include "param.h"
#include "shim.h"

extern char **environ;

static pthread_once_t env_once = PTHREAD_ONCE_INIT;

/* 1 when `name` is a parameter's NCCL alias; a value with no counterpart here
 * (NCCL_ALGO=Tree) is logged, since the parameter then keeps its default. */
static int env_is_alias(const char *name, const char *value)
{
    for (int i = 0; i < halo_param_count(); i++) {
        const char *pname, *def, *unit, *alias;
        enum halo_param_type type;
        halo_param_row(i, &pname, &type, &def, &unit, &alias);
        if (!alias || strcmp(alias, name) != 0)
            continue;
        if (*value && !halo_nccl_env_translate(alias, value))
            HLOG_INFO(HALO_SUB_ENV, -1, "%s=%s has no counterpart in haloccl: HALO_%s keeps its default (%s)", name,
                      value, pname, def);
        return 1;
    }
    return 0;
}

/* Appends "NAME" to list (comma separated) while it fits. */
static void env_list_add(char *list, size_t len, const char *name)
{
    size_t used = strlen(list);
    if (used + strlen(name) + 3 < len)
        snprintf(list + used, len - used, "%s%s", used ? ", " : "", name);
}

static void env_scan(void)
{
    char ignored[1024] = "", unknown[1024] = "";

    for (char **e = environ; e && *e; e++) {
        char name[128];
        size_t n = strcspn(*e, "=");
        if (strncmp(*e, "NCCL_", 5) != 0 || n >= sizeof(name))
            continue;
        memcpy(name, *e, n);
        name[n] = '\0';
        if (env_is_alias(name, *e + n + 1) || halo_nccl_env_shim(name))
            continue;
        env_list_add(halo_nccl_env_ignored(name) ? ignored : unknown,
                     halo_nccl_env_ignored(name) ? sizeof(ignored) : sizeof(unknown), name);
    }
    if (ignored[0])
        HLOG_INFO(HALO_SUB_ENV, -1, "NCCL variables with no meaning in haloccl, ignored: %s", ignored);
    if (unknown[0])
        HLOG_INFO(HALO_SUB_ENV, -1, "NCCL variables haloccl does not know, ignored: %s", unknown);
}

void shim_env_once(void)
{
    pthread_once(&env_once, env_scan);
}
