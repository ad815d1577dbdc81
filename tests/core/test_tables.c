/* SPDX-License-Identifier: MIT */
/*
 * test_tables.c — the tables that name one concept each agree with each other:
 * the words HALO_TRANSPORT and HALO_ALGO accept (params.def, enum rows) are exactly
 * "auto" plus the transport table's names and the selectable algorithms' names;
 * every algorithm row is found by its value and name; enum parameters parse to the
 * index of their word and reject anything else naming the choices.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdlib.h>
#include <string.h>

#include "algos.h"
#include "param.h"
#include "test.h"
#include "transport.h"

/* The unit column (word list) of parameter NAME, which must be an enum row. */
static const char *enum_words(const char *name)
{
    for (int i = 0; i < halo_param_count(); i++) {
        const char *n, *def, *unit, *alias;
        enum halo_param_type type;
        halo_param_row(i, &n, &type, &def, &unit, &alias);
        if (strcmp(n, name) == 0) {
            ASSERT_EQ(type, HALO_PT_ENUM);
            return unit;
        }
    }
    TEST_FAIL("no parameter HALO_%s", name);
    return NULL;
}

/* Words of "a|b|c" as a sorted, comma-joined string, for comparison. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sorted_join(char **v, int n, char *out, size_t len)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_str);
    out[0] = 0;
    for (int i = 0; i < n; i++)
        snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? "," : "", v[i]);
}

static void words_sorted(const char *list, char *out, size_t len)
{
    char buf[256], *v[32], *save = NULL;
    int n = 0;
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *w = strtok_r(buf, "|", &save); w && n < 32; w = strtok_r(NULL, "|", &save))
        v[n++] = w;
    sorted_join(v, n, out, len);
}

static void test_transport_words(void)
{
    char want[256], have[256], *v[16];
    int n = 0;
    v[n++] = "auto";
    for (int i = 0; halo_transports[i]; i++) {
        v[n++] = (char *)halo_transports[i]->name;
        ASSERT_TRUE(halo_tp_by_name(halo_transports[i]->name) == halo_transports[i]);
        ASSERT_TRUE(halo_tp_by_kind((int)halo_transports[i]->kind) == halo_transports[i]);
        ASSERT_TRUE(halo_transports[i]->info_size <= HALO_TP_BLOB_BYTES);
    }
    sorted_join(v, n, want, sizeof(want));
    words_sorted(enum_words("TRANSPORT"), have, sizeof(have));
    ASSERT_STREQ(have, want);
}

static void test_algo_words(void)
{
    char want[256], have[256], *v[32];
    int n = 0;
    v[n++] = "auto";
    for (int i = 0; i < algo_count(); i++) {
        const struct algo_row *a = algo_at(i);
        ASSERT_TRUE(algo_row_of(a->algo) == a);
        ASSERT_STREQ(algo_name(a->algo), a->name);
        ASSERT_STREQ(halo_algo_word(a->algo), a->name); /* the core's copy for sentences */
        for (int j = 0; j < i; j++) {
            ASSERT_NE(algo_at(j)->algo, a->algo);
            ASSERT_TRUE(strcmp(algo_at(j)->name, a->name) != 0);
        }
        if (a->word) {
            v[n++] = (char *)a->name;
            ASSERT_TRUE(algo_by_word(a->name) == a);
            ASSERT_TRUE(algo_has_schedule(a->algo, HALO_COLL_ALLREDUCE)); /* a user pick must run something */
        } else {
            ASSERT_TRUE(algo_by_word(a->name) == NULL);
        }
    }
    ASSERT_TRUE(algo_by_word("auto") == NULL);
    ASSERT_TRUE(strncmp(enum_words("ALGO"), "auto|", 5) == 0); /* api.c: index 0 means auto */
    /* The fallback of every other pick: the ring has every collective. */
    for (int c = HALO_COLL_ALLREDUCE; c <= HALO_COLL_REDUCE; c++)
        ASSERT_TRUE(algo_schedule(HALO_ALGO_RING, (enum halo_coll)c) != NULL);
    sorted_join(v, n, want, sizeof(want));
    words_sorted(enum_words("ALGO"), have, sizeof(have));
    ASSERT_STREQ(have, want);
}

static void test_enum_parse(void)
{
    struct halo_params p;
    char err[512];

    setenv("HALO_TRANSPORT", "tcp", 1);
    setenv("HALO_ALGO", "ring_bidir", 1);
    ASSERT_OK(halo_params_load(&p, err, sizeof(err)));
    ASSERT_STREQ(HALO_P_STR(&p, transport), "tcp");
    ASSERT_EQ(HALO_P_INT(&p, transport), 2); /* index in "auto|shm|tcp|ib" */
    ASSERT_STREQ(HALO_P_STR(&p, algo), "ring_bidir");
    ASSERT_TRUE(algo_by_word(HALO_P_STR(&p, algo))->algo == HALO_ALGO_RING_BIDIR);

    setenv("HALO_TRANSPORT", "tcpx", 1); /* a prefix or a longer word is not a word */
    ASSERT_EQ(halo_params_load(&p, err, sizeof(err)), -1);
    ASSERT_CONTAINS(err, "HALO_TRANSPORT=\"tcpx\": expected auto, shm, tcp or ib");
    setenv("HALO_TRANSPORT", "TCP", 1); /* exact, as before the enum type */
    ASSERT_EQ(halo_params_load(&p, err, sizeof(err)), -1);
    unsetenv("HALO_TRANSPORT");
    setenv("HALO_ALGO", "ring_zc", 1); /* in the table, but not a user's pick */
    ASSERT_EQ(halo_params_load(&p, err, sizeof(err)), -1);
    ASSERT_CONTAINS(err, "HALO_ALGO=\"ring_zc\": expected auto, ring, direct, chain, ring_bidir or two_shot");
    setenv("HALO_ALGO", "", 1); /* empty: unset, the default */
    ASSERT_OK(halo_params_load(&p, err, sizeof(err)));
    ASSERT_STREQ(HALO_P_STR(&p, algo), "auto");
    ASSERT_EQ(HALO_P_INT(&p, algo), 0);
    unsetenv("HALO_ALGO");

    int64_t v = -1;
    ASSERT_EQ(halo_parse_word("yield", "auto|spin|yield", &v), 0);
    ASSERT_EQ(v, 2);
    ASSERT_EQ(halo_parse_word("", "auto|spin|yield", &v), -1);
    ASSERT_EQ(halo_parse_word("spi", "auto|spin|yield", &v), -1);
}

int main(void)
{
    test_transport_words();
    test_algo_words();
    test_enum_parse();
    printf("test_tables: ok\n");
    return 0;
}
