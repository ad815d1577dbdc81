/* SPDX-License-Identifier: MIT */
/*
 * test_params.c — the strict parsers of param.c with good and bad inputs, loading
 * from the environment (HALO_ names, NCCL aliases, empty values, sources), error
 * sentences that name the variable, and the printed table.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "param.h"
#include "test.h"

#define SENTINEL INT64_C(0x5a5a5a5a5a5a)

static const char *const halo_names[] = {
#define HALO_PARAM(NAME, field, type, def, unit, alias, help) "HALO_" #NAME,
#include "params.def"
#undef HALO_PARAM
};

static const char *const alias_names[] = {
#define HALO_PARAM(NAME, field, type, def, unit, alias, help) alias,
#include "params.def"
#undef HALO_PARAM
};

/* ---- parser helpers: the output is written on success only ---- */

static void int_ok(const char *s, int allow_auto, int64_t want)
{
    int64_t v = SENTINEL;
    if (halo_parse_int(s, allow_auto, &v) != 0)
        TEST_FAIL("halo_parse_int(\"%s\", %d) failed", s, allow_auto);
    ASSERT_EQ(v, want);
}

static void int_bad(const char *s, int allow_auto, int want_errno)
{
    int64_t v = SENTINEL;
    errno = 0;
    if (halo_parse_int(s, allow_auto, &v) == 0)
        TEST_FAIL("halo_parse_int(\"%s\", %d) accepted: %" PRId64, s, allow_auto, v);
    ASSERT_EQ(v, SENTINEL);
    ASSERT_EQ(errno, want_errno);
}

static void size_ok(const char *s, int allow_auto, int64_t want)
{
    int64_t v = SENTINEL;
    if (halo_parse_size(s, allow_auto, &v) != 0)
        TEST_FAIL("halo_parse_size(\"%s\", %d) failed", s, allow_auto);
    ASSERT_EQ(v, want);
}

static void size_bad(const char *s, int allow_auto, int want_errno)
{
    int64_t v = SENTINEL;
    errno = 0;
    if (halo_parse_size(s, allow_auto, &v) == 0)
        TEST_FAIL("halo_parse_size(\"%s\", %d) accepted: %" PRId64, s, allow_auto, v);
    ASSERT_EQ(v, SENTINEL);
    ASSERT_EQ(errno, want_errno);
}

static void dur_ok(const char *s, const char *unit, int64_t want)
{
    int64_t v = SENTINEL;
    if (halo_parse_duration_us(s, unit, &v) != 0)
        TEST_FAIL("halo_parse_duration_us(\"%s\", %s) failed", s, unit ? unit : "NULL");
    ASSERT_EQ(v, want);
}

static void dur_bad(const char *s, const char *unit, int want_errno)
{
    int64_t v = SENTINEL;
    errno = 0;
    if (halo_parse_duration_us(s, unit, &v) == 0)
        TEST_FAIL("halo_parse_duration_us(\"%s\") accepted: %" PRId64, s, v);
    ASSERT_EQ(v, SENTINEL);
    ASSERT_EQ(errno, want_errno);
}

static void bool_ok(const char *s, int64_t want)
{
    int64_t v = SENTINEL;
    if (halo_parse_bool(s, &v) != 0)
        TEST_FAIL("halo_parse_bool(\"%s\") failed", s);
    ASSERT_EQ(v, want);
}

static void bool_bad(const char *s)
{
    int64_t v = SENTINEL;
    if (halo_parse_bool(s, &v) == 0)
        TEST_FAIL("halo_parse_bool(\"%s\") accepted", s);
    ASSERT_EQ(v, SENTINEL);
}

/* ---- parsers ---- */

static void test_parse_int(void)
{
    int_ok("0", 0, 0);
    int_ok("42", 0, 42);
    int_ok("007", 0, 7);
    int_ok("-7", 0, -7);
    int_ok("+7", 0, 7);
    int_ok("9223372036854775807", 0, INT64_MAX);
    int_ok("-9223372036854775807", 0, -INT64_MAX);
    int_ok("auto", 1, HALO_AUTO);
    int_ok("AUTO", 1, HALO_AUTO);
    int_bad("auto", 0, EINVAL);
    int_bad("9223372036854775808", 0, ERANGE);
    int_bad("-9223372036854775808", 0, ERANGE); /* INT64_MIN is HALO_AUTO */
    int_bad("99999999999999999999", 1, ERANGE);
    const char *bad[] = {"", " 4", "4 ", "4x", "0x10", "-", "+", "+-1", "1e3", "4k", "1.5", "autox"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        int_bad(bad[i], 1, EINVAL);
}

static void test_parse_size(void)
{
    size_ok("0", 0, 0);
    size_ok("4096", 0, 4096);
    size_ok("4k", 0, 4096);
    size_ok("4K", 0, 4096);
    size_ok("4m", 0, 4 << 20);
    size_ok("4M", 0, 4 << 20);
    size_ok("2g", 0, INT64_C(2) << 30);
    size_ok("3G", 0, INT64_C(3) << 30);
    size_ok("8589934591g", 0, INT64_C(8589934591) << 30); /* 2^63 - 2^30 */
    size_ok("auto", 1, HALO_AUTO);
    size_bad("auto", 0, EINVAL);
    size_bad("8589934592g", 0, ERANGE); /* 2^63 */
    size_bad("99999999999999999999g", 1, ERANGE);
    size_bad("99999999999999999999", 1, ERANGE);
    const char *bad[] = {"", "4Q", "4x", "4kb", "4kk", "4 k", "k", "-2", "+2", " 4", "4 ", "4t", "1.5M", "0x10"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        size_bad(bad[i], 1, EINVAL);
}

static void test_parse_duration(void)
{
    dur_ok("5us", "ms", 5);
    dur_ok("5ms", "us", 5000);
    dur_ok("5s", "ms", 5000000);
    dur_ok("0s", "ms", 0);
    dur_ok("250", "ms", 250000); /* bare: the unit column */
    dur_ok("2", "s", 2000000);
    dur_ok("7", "us", 7);
    dur_ok("7", NULL, 7);
    dur_ok("7", "", 7);
    dur_bad("10000000000000s", "ms", ERANGE);
    dur_bad("99999999999999999999", "us", ERANGE);
    const char *bad[] = {"", "ms", "5m", "5 ms", " 5", "5ms ", "-5ms", "+5", "5min", "5S", "1.5s", "auto", "5sec"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        dur_bad(bad[i], "ms", EINVAL);
    dur_bad("5", "minutes", EINVAL); /* a bad unit column is caught, not guessed */
}

static void test_parse_bool(void)
{
    const char *yes[] = {"1", "yes", "YES", "true", "True", "on", "ON"};
    const char *no[] = {"0", "no", "No", "false", "FALSE", "off", "Off"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        bool_ok(yes[i], 1);
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        bool_ok(no[i], 0);
    const char *bad[] = {"", "2", "y", "n", " 1", "1 ", "yes!", "-1", "onn"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        bool_bad(bad[i]);
}

/* ---- loading ---- */

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof(halo_names) / sizeof(halo_names[0]); i++) {
        unsetenv(halo_names[i]);
        if (alias_names[i])
            unsetenv(alias_names[i]);
    }
}

static void test_load_defaults(void)
{
    struct halo_params p;
    char err[256] = "";

    clear_env();
    ASSERT_OK(halo_params_load(&p, err, sizeof(err)));
    for (int i = 0; i < HALO_PI_COUNT; i++)
        ASSERT_EQ(p.source[i], HALO_SRC_DEFAULT);
    ASSERT_EQ(HALO_P_INT(&p, timeout), INT64_C(60000000));
    ASSERT_EQ(HALO_P_INT(&p, nchannels), HALO_AUTO);
    ASSERT_EQ(HALO_P_INT(&p, chunk_size), HALO_AUTO);
    ASSERT_EQ(HALO_P_INT(&p, rank), HALO_AUTO);
    ASSERT_STREQ(HALO_P_STR(&p, debug), "WARN");
    ASSERT_STREQ(HALO_P_STR(&p, transport), "auto");
    ASSERT_TRUE(HALO_P_STR(&p, socket_ifname) != NULL);
    ASSERT_STREQ(HALO_P_STR(&p, socket_ifname), "");
    ASSERT_STREQ(HALO_P_STR(&p, secret), "");
}

static void test_load_env(void)
{
    struct halo_params p;
    char err[256] = "";

    clear_env();
    setenv("HALO_CHUNK_SIZE", "4M", 1);
    setenv("NCCL_BUFFSIZE", "1048576", 1);
    setenv("HALO_TIMEOUT_MS", "250", 1);
    setenv("HALO_SOCKET_IFNAME", "ib0", 1);
    setenv("NCCL_SOCKET_IFNAME", "eth0", 1); /* HALO_ wins over the alias */
    setenv("HALO_NCHANNELS", "", 1);         /* empty = unset: the alias is used */
    setenv("NCCL_NCHANNELS", "4", 1);
    setenv("HALO_RANK", "3", 1);
    setenv("NCCL_ALGO", "ring", 1);
    setenv("HALO_DIRECT_MAX", "auto", 1);
    ASSERT_OK(halo_params_load(&p, err, sizeof(err)));

    ASSERT_EQ(HALO_P_INT(&p, chunk_size), 4 << 20);
    ASSERT_EQ(p.source[HALO_PI_chunk_size], HALO_SRC_ENV);
    ASSERT_EQ(HALO_P_INT(&p, buffsize), 1 << 20);
    ASSERT_EQ(p.source[HALO_PI_buffsize], HALO_SRC_NCCL_ENV);
    ASSERT_EQ(HALO_P_INT(&p, timeout), 250000);
    ASSERT_EQ(p.source[HALO_PI_timeout], HALO_SRC_ENV);
    ASSERT_STREQ(HALO_P_STR(&p, socket_ifname), "ib0");
    ASSERT_EQ(p.source[HALO_PI_socket_ifname], HALO_SRC_ENV);
    ASSERT_EQ(HALO_P_INT(&p, nchannels), 4);
    ASSERT_EQ(p.source[HALO_PI_nchannels], HALO_SRC_NCCL_ENV);
    ASSERT_EQ(HALO_P_INT(&p, rank), 3);
    /* NCCL_ALGO takes NCCL's names: Ring (any case) is our ring ... */
    ASSERT_STREQ(HALO_P_STR(&p, algo), "ring");
    ASSERT_EQ(p.source[HALO_PI_algo], HALO_SRC_NCCL_ENV);
    ASSERT_EQ(HALO_P_INT(&p, direct_max), HALO_AUTO);
    ASSERT_EQ(p.source[HALO_PI_direct_max], HALO_SRC_ENV);
    ASSERT_EQ(p.source[HALO_PI_transport], HALO_SRC_DEFAULT);
    /* ... the others (Tree, lists like "Ring,Tree") have no counterpart: default */
    setenv("NCCL_ALGO", "Tree", 1);
    ASSERT_OK(halo_params_load(&p, err, sizeof(err)));
    ASSERT_STREQ(HALO_P_STR(&p, algo), "auto");
    ASSERT_EQ(p.source[HALO_PI_algo], HALO_SRC_DEFAULT);
    setenv("NCCL_ALGO", "Ring,Tree", 1);
    ASSERT_OK(halo_params_load(&p, err, sizeof(err)));
    ASSERT_EQ(p.source[HALO_PI_algo], HALO_SRC_DEFAULT);
    unsetenv("NCCL_ALGO");
    /* NCCL_NET's words, NCCL_IB_DISABLE and NCCL_SHM_DISABLE */
    setenv("NCCL_NET", "Socket", 1);
    setenv("NCCL_IB_DISABLE", "1", 1);
    setenv("NCCL_SHM_DISABLE", "1", 1);
    ASSERT_OK(halo_params_load(&p, err, sizeof(err)));
    ASSERT_STREQ(HALO_P_STR(&p, net), "tcp");
    ASSERT_EQ(p.source[HALO_PI_net], HALO_SRC_NCCL_ENV);
    ASSERT_EQ(HALO_P_INT(&p, ib_disable), 1);
    ASSERT_EQ(HALO_P_INT(&p, shm_disable), 1);
    setenv("NCCL_NET", "ib", 1);
    ASSERT_OK(halo_params_load(&p, err, sizeof(err)));
    ASSERT_STREQ(HALO_P_STR(&p, net), "ib");
    setenv("NCCL_NET", "AWS Libfabric", 1); /* a plugin's name: no counterpart */
    ASSERT_OK(halo_params_load(&p, err, sizeof(err)));
    ASSERT_STREQ(HALO_P_STR(&p, net), "auto");
    unsetenv("NCCL_NET");
    unsetenv("NCCL_IB_DISABLE");
    unsetenv("NCCL_SHM_DISABLE");
    /* rows without an alias ignore NCCL_* of the same name */
    setenv("NCCL_CHUNK_SIZE", "1k", 1);
    unsetenv("HALO_CHUNK_SIZE");
    ASSERT_OK(halo_params_load(&p, err, sizeof(err)));
    ASSERT_EQ(HALO_P_INT(&p, chunk_size), HALO_AUTO);
    unsetenv("NCCL_CHUNK_SIZE");
}

/* A bad value fails the load, names the variable, and leaves *p as it was. */
static void load_bad(const char *var, const char *val, const char *want1, const char *want2)
{
    struct halo_params p, before;
    char err[256] = "";

    clear_env();
    memset(&p, 0x5a, sizeof(p));
    memcpy(&before, &p, sizeof(p));
    setenv(var, val, 1);
    if (halo_params_load(&p, err, sizeof(err)) == 0)
        TEST_FAIL("%s=\"%s\" accepted", var, val);
    ASSERT_CONTAINS(err, want1);
    ASSERT_CONTAINS(err, want2);
    ASSERT_TRUE(memcmp(&p, &before, sizeof(p)) == 0);
    unsetenv(var);
}

static void test_load_bad(void)
{
    load_bad("HALO_CHUNK_SIZE", "4Q",
             "HALO_CHUNK_SIZE=\"4Q\": expected a size in bytes with optional k/m/g suffix, or auto", "");
    load_bad("HALO_CHUNK_SIZE", "-2", "HALO_CHUNK_SIZE=\"-2\"", "expected a size");
    load_bad("HALO_CHUNK_SIZE", " 4", "HALO_CHUNK_SIZE=\" 4\"", "expected a size");
    load_bad("HALO_BUFFSIZE", "99999999999999999999g", "HALO_BUFFSIZE=\"99999999999999999999g\"",
             "out of range");
    load_bad("NCCL_BUFFSIZE", "lots", "NCCL_BUFFSIZE=\"lots\"", "expected a size");
    load_bad("HALO_TIMEOUT_MS", "5m", "HALO_TIMEOUT_MS=\"5m\"", "a bare number is in ms");
    load_bad("HALO_TIMEOUT_MS", "auto", "HALO_TIMEOUT_MS", "duration");
    load_bad("HALO_RANK", "3x", "HALO_RANK=\"3x\"", "expected a decimal integer, or auto");
    load_bad("NCCL_NCHANNELS", "four", "NCCL_NCHANNELS=\"four\"", "integer");
}

/* ---- printing ---- */

/* Prints into *buf (malloc'd by open_memstream, the caller frees). */
static void print_table(const struct halo_params *p, char **buf, size_t *len)
{
    FILE *f = open_memstream(buf, len);

    ASSERT_TRUE(f != NULL);
    halo_params_print(f, p);
    ASSERT_EQ(fclose(f), 0);
}

/* Every value starts in the column under VALUE (values here are short). */
static void check_aligned(const char *table)
{
    const char *col = strstr(table, "VALUE");
    size_t off;

    ASSERT_TRUE(col != NULL);
    off = (size_t)(col - table);
    for (const char *line = strchr(table, '\n') + 1; *line; line = strchr(line, '\n') + 1) {
        ASSERT_TRUE(line[off - 1] == ' ');
        ASSERT_TRUE(line[off] != ' ');
    }
}

static void test_print(void)
{
    struct halo_params p;
    char err[256] = "";
    char *out = NULL;
    size_t len = 0;

    clear_env();
    setenv("HALO_CHUNK_SIZE", "4M", 1);
    setenv("HALO_DIRECT_MAX", "1000", 1);
    setenv("NCCL_BUFFSIZE", "2097152", 1);
    setenv("HALO_TIMEOUT_MS", "1500", 1);
    setenv("HALO_SECRET", "hunter2-job-secret", 1);
    ASSERT_OK(halo_params_load(&p, err, sizeof(err)));
    ASSERT_STREQ(HALO_P_STR(&p, secret), "hunter2-job-secret");
    print_table(&p, &out, &len);
    ASSERT_CONTAINS(out, "NAME");
    ASSERT_CONTAINS(out, "SOURCE");
    for (size_t i = 0; i < sizeof(halo_names) / sizeof(halo_names[0]); i++)
        ASSERT_CONTAINS(out, halo_names[i]);
    ASSERT_CONTAINS(out, "4M (4194304 bytes)");
    ASSERT_CONTAINS(out, "1000 bytes");
    ASSERT_CONTAINS(out, "2M (2097152 bytes)");
    ASSERT_CONTAINS(out, "NCCL_BUFFSIZE env");
    ASSERT_CONTAINS(out, "1500ms");
    ASSERT_CONTAINS(out, "default");
    ASSERT_CONTAINS(out, "auto");
    ASSERT_CONTAINS(out, "(set, hidden)");
    if (strstr(out, "hunter2"))
        TEST_FAIL("the table shows HALO_SECRET:\n%s", out);
    check_aligned(out);
    free(out);
    clear_env();
}

int main(void)
{
    test_parse_int();
    test_parse_size();
    test_parse_duration();
    test_parse_bool();
    test_load_defaults();
    test_load_env();
    test_load_bad();
    test_print();
    printf("test_params: ok\n");
    return 0;
}
