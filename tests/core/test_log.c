/* SPDX-License-Identifier: MIT */
/*
 * test_log.c — the logging settings and line format. The settings are read once per
 * process, so each case runs in a forked child with its own environment and its
 * stderr sent to a temporary file that the parent then reads. The parent itself
 * never logs before forking (that would fix the settings for every child).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "haloccl.h"
#include "log.h"
#include "test.h"

static const char *const log_vars[] = {"HALO_DEBUG", "HALO_DEBUG_SUBSYS", "NCCL_DEBUG", "NCCL_DEBUG_SUBSYS"};

/* One line per subsystem at INFO, plus a WARN and a TRACE. */
static void body_all(void)
{
    HLOG_INFO(HALO_SUB_NET, 3, "net line %d", 42);
    HLOG_INFO(HALO_SUB_COLL, 3, "coll line");
    HLOG_INFO(HALO_SUB_INIT, 3, "init line");
    HLOG_INFO(HALO_SUB_TOPO, 3, "topo line");
    HLOG_WARN(HALO_SUB_INIT, -1, "warn line");
    HLOG_TRACE(HALO_SUB_NET, 3, "trace line");
}

static char *read_all(FILE *f)
{
    long len;
    char *buf;

    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    buf = calloc(1, (size_t)len + 1);
    ASSERT_TRUE(buf != NULL);
    ASSERT_EQ(fread(buf, 1, (size_t)len, f), len);
    return buf;
}

/* Runs body in a child with only the given log variables set (NULL = unset);
 * returns what it wrote to stderr and its pid. */
static char *run_child(const char *const env[4], void (*body)(void), pid_t *pid_out)
{
    FILE *f = tmpfile();
    pid_t pid;
    int status;

    ASSERT_TRUE(f != NULL);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        for (int i = 0; i < 4; i++) {
            if (env[i])
                setenv(log_vars[i], env[i], 1);
            else
                unsetenv(log_vars[i]);
        }
        dup2(fileno(f), STDERR_FILENO);
        body();
        _exit(0);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (pid_out)
        *pid_out = pid;
    char *out = read_all(f);
    fclose(f);
    return out;
}

#define ASSERT_LACKS(hay, needle)                                                       \
    do {                                                                                \
        if (strstr((hay), (needle)))                                                    \
            TEST_FAIL("output has \"%s\":\n%s", (needle), (hay));                        \
    } while (0)

/* `host:pid:tid [3] HALO INFO NET net line 42` with our host and the child's pid
 * (the main thread's tid equals the pid). */
static void check_prefix(const char *out, pid_t pid)
{
    char host[64] = "", want[160];
    int lpid = 0, ltid = 0;

    gethostname(host, sizeof(host));
    host[sizeof(host) - 1] = '\0';
    snprintf(want, sizeof(want), "%s:", host);
    ASSERT_TRUE(strncmp(out, want, strlen(want)) == 0);
    ASSERT_EQ(sscanf(out + strlen(want), "%d:%d ", &lpid, &ltid), 2);
    ASSERT_EQ(lpid, pid);
    ASSERT_EQ(ltid, pid);
}

static void test_info_net(void)
{
    const char *env[4] = {"INFO", "NET", NULL, NULL};
    pid_t pid;
    char *out = run_child(env, body_all, &pid);

    ASSERT_CONTAINS(out, " [3] HALO INFO NET net line 42\n");
    check_prefix(out, pid);
    ASSERT_LACKS(out, "coll line");
    ASSERT_LACKS(out, "init line");
    ASSERT_LACKS(out, "warn line"); /* the mask applies to every level */
    ASSERT_LACKS(out, "trace line");
    free(out);
}

static void test_not_net(void)
{
    const char *env[4] = {"info", "^NET", NULL, NULL};
    char *out = run_child(env, body_all, NULL);

    ASSERT_LACKS(out, "net line");
    ASSERT_CONTAINS(out, " [3] HALO INFO COLL coll line\n");
    ASSERT_CONTAINS(out, " [3] HALO INFO INIT init line\n");
    ASSERT_CONTAINS(out, " [-] HALO WARN INIT warn line\n");
    ASSERT_LACKS(out, "trace line");
    free(out);
}

static void test_trace_list(void)
{
    const char *env[4] = {"TRACE", "net,Coll", NULL, NULL};
    char *out = run_child(env, body_all, NULL);

    ASSERT_CONTAINS(out, "HALO TRACE NET trace line\n");
    ASSERT_CONTAINS(out, "HALO INFO NET net line 42\n");
    ASSERT_CONTAINS(out, "HALO INFO COLL coll line\n");
    ASSERT_LACKS(out, "init line");
    free(out);
}

static void test_defaults(void)
{
    const char *env[4] = {NULL, NULL, NULL, NULL};
    char *out = run_child(env, body_all, NULL);

    ASSERT_STREQ(strstr(out, "HALO"), "HALO WARN INIT warn line\n"); /* WARN, ALL: one line */
    free(out);
}

static void test_none(void)
{
    const char *env[4] = {"NONE", "bogus", NULL, NULL};
    char *out = run_child(env, body_all, NULL);

    ASSERT_STREQ(out, ""); /* NONE silences even the complaint about the mask */
    free(out);
}

static void test_bogus_level(void)
{
    const char *env[4] = {"bogus", NULL, "INFO", NULL};
    char *out = run_child(env, body_all, NULL);

    ASSERT_CONTAINS(out, "HALO WARN ENV HALO_DEBUG=\"bogus\": expected NONE, WARN, INFO or TRACE; using WARN\n");
    ASSERT_CONTAINS(out, "HALO WARN INIT warn line\n");
    ASSERT_LACKS(out, "net line");
    free(out);
}

static void test_bogus_subsys(void)
{
    const char *bad[] = {"NET,BOGUS", "NET,,COLL", "NET,", "^", ",NET", " NET"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *env[4] = {"INFO", bad[i], NULL, NULL};
        char *out = run_child(env, body_all, NULL);
        char want[64];
        snprintf(want, sizeof(want), "HALO WARN ENV HALO_DEBUG_SUBSYS=\"%s\"", bad[i]);
        ASSERT_CONTAINS(out, want);
        ASSERT_CONTAINS(out, "using ALL\n");
        ASSERT_CONTAINS(out, "coll line"); /* fell back to ALL */
        ASSERT_CONTAINS(out, "net line");
        free(out);
    }
}

/* NCCL_DEBUG / NCCL_DEBUG_SUBSYS apply when the HALO_ ones are unset or empty;
 * NCCL-only names in the subsystem list are skipped, GRAPH means TOPO. */
static void test_nccl_fallback(void)
{
    const char *env[4] = {"", NULL, "INFO", "INIT,GRAPH,PROXY"};
    char *out = run_child(env, body_all, NULL);

    ASSERT_CONTAINS(out, "HALO INFO INIT init line\n");
    ASSERT_CONTAINS(out, "HALO INFO TOPO topo line\n");
    ASSERT_LACKS(out, "net line");
    ASSERT_LACKS(out, "HALO WARN ENV");
    free(out);

    const char *env2[4] = {NULL, NULL, "VERSION", NULL}; /* NCCL's level below WARN */
    out = run_child(env2, body_all, NULL);
    ASSERT_CONTAINS(out, "warn line");
    ASSERT_LACKS(out, "net line");
    free(out);
}

/* Long messages are cut to one line ending in "...". */
static void body_long(void)
{
    static char big[10000];
    memset(big, 'x', sizeof(big) - 1);
    HLOG_INFO(HALO_SUB_NET, 0, "%s", big);
    HLOG_INFO(HALO_SUB_NET, 0, "with newline\n");
    HLOG_INFO(HALO_SUB_NET, 0, "after");
}

static void test_long(void)
{
    const char *env[4] = {"INFO", NULL, NULL, NULL};
    char *out = run_child(env, body_long, NULL);
    char *nl = strchr(out, '\n');

    ASSERT_TRUE(nl != NULL);
    ASSERT_TRUE(nl - out < 4096);
    ASSERT_TRUE(strncmp(nl - 3, "...", 3) == 0);
    ASSERT_CONTAINS(nl + 1, "HALO INFO NET with newline\n");
    nl = strstr(nl + 1, "with newline\n");
    ASSERT_TRUE(nl != NULL);
    ASSERT_TRUE(nl[strlen("with newline\n")] != '\n'); /* no blank line after it */
    ASSERT_CONTAINS(nl, "HALO INFO NET after\n");
    free(out);
}

#define NTHREADS 4
#define NLINES 500

static void *thread_body(void *arg)
{
    int t = (int)(long)arg;
    for (int i = 0; i < NLINES; i++)
        HLOG_INFO(HALO_SUB_COLL, t, "thread %d line %d payload %0200d end", t, i, i);
    return NULL;
}

static void body_threads(void)
{
    pthread_t th[NTHREADS];
    for (long t = 0; t < NTHREADS; t++)
        pthread_create(&th[t], NULL, thread_body, (void *)t);
    for (int t = 0; t < NTHREADS; t++)
        pthread_join(th[t], NULL);
}

/* Lines from concurrent threads arrive whole: every line is exactly one message. */
static void test_threads(void)
{
    const char *env[4] = {"INFO", "COLL", NULL, NULL};
    char *out = run_child(env, body_threads, NULL);
    int count = 0;
    char *save = NULL;

    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int rank = -1, t = -2, i = -1;
        char *msg = strstr(line, " HALO INFO COLL ");
        ASSERT_TRUE(msg != NULL);
        ASSERT_TRUE(strstr(msg + 1, " HALO ") == NULL);
        ASSERT_EQ(sscanf(strstr(line, " ["), " [%d]", &rank), 1);
        ASSERT_EQ(sscanf(msg, " HALO INFO COLL thread %d line %d", &t, &i), 2);
        ASSERT_EQ(rank, t);
        ASSERT_TRUE(strlen(line) > 200 && strcmp(line + strlen(line) - 4, " end") == 0);
        count++;
    }
    ASSERT_EQ(count, NTHREADS * NLINES);
    free(out);
}

/* Errors recorded by the collective entry points and by haloCommInitEnv: each logs
 * once at WARN under the subsystem of the file that first knew it. */
static void body_errors(void)
{
    haloUniqueId id;
    haloComm_t comm;
    float x = 1;

    unsetenv("HALO_ROOT");
    unsetenv("HALO_RANK");
    unsetenv("HALO_NRANKS");
    if (haloCommInitEnv(&comm) == haloSuccess) /* ENV: no launcher variables */
        exit(3);
    if (haloGetUniqueId(&id) != haloSuccess || haloCommInitRank(&comm, 1, id, 0) != haloSuccess)
        exit(4);
    if (haloAllReduce(&x, &x, 1, (haloDataType_t)99, haloSum, comm, NULL) != haloInvalidArgument)
        exit(5); /* COLL: the datatype check */
    haloCommDestroy(comm);
}

static void test_error_subsys(void)
{
    const char *env[4] = {"WARN", "ALL", NULL, NULL};
    char *out = run_child(env, body_errors, NULL);

    ASSERT_CONTAINS(out, " HALO WARN COLL haloAllReduce: invalid datatype 99");
    ASSERT_CONTAINS(out, " HALO WARN ENV ");
    ASSERT_LACKS(out, " HALO WARN INIT haloAllReduce");
    free(out);

    const char *env_coll[4] = {"WARN", "COLL", NULL, NULL};
    out = run_child(env_coll, body_errors, NULL);
    ASSERT_CONTAINS(out, " HALO WARN COLL haloAllReduce: invalid datatype 99");
    ASSERT_LACKS(out, " HALO WARN ENV ");
    free(out);
}

static void test_names(void)
{
    ASSERT_STREQ(halo_subsys_name(HALO_SUB_NET), "NET");
    ASSERT_STREQ(halo_subsys_name(HALO_SUB_BOOT), "BOOT");
    ASSERT_STREQ(halo_subsys_name(HALO_SUB_ENV), "ENV");
    ASSERT_STREQ(halo_subsys_name(HALO_SUB_ALL), "ALL");
    ASSERT_STREQ(halo_subsys_name(0), "?");
}

int main(void)
{
    test_names();
    test_info_net();
    test_not_net();
    test_trace_list();
    test_defaults();
    test_none();
    test_bogus_level();
    test_bogus_subsys();
    test_nccl_fallback();
    test_long();
    test_threads();
    test_error_subsys();
    printf("test_log: ok\n");
    return 0;
}
