/* SPDX-License-Identifier: MIT */
/*
 * fuzz_param.c — the parameter parser (src/base/param.c) and its NCCL names
 * (src/base/nccl_env.c) on values from the environment, which a launcher, a job
 * script or a container passes through untouched; plus the other readers of such
 * text: interface and RDMA device lists (HALO_SOCKET_IFNAME, HALO_IB_HCA), numeric
 * root addresses (HALO_ROOT) and the topology knobs (HALO_TOPO, HALO_TOPO_ORDER).
 *
 * Input: records separated by '\n', at most 8: {byte: row (and bit 7: use its NCCL
 * alias), value bytes}. Each is set in the environment, then halo_params_load reads
 * them all; the parsed table is printed (to /dev/null) and checked; then the
 * variables are removed again.
 * Invariants: a load that fails says which variable and value; a load that
 * succeeds gives each row a value of its type (a bool 0/1, an enum's index of the
 * very word given, a size or duration >= 0 or auto, the same value when the text
 * is parsed again); a numeric HALO_ROOT that parses is IPv4 or IPv6 with a port.
 */
#include "fuzz_util.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <strings.h>

#include "nccl_env.h"
#include "param.h"
#include "socket.h"
#include "topo.h"

#define HALO_IB_INTERNAL
#include "ib.h"

#define MAX_REC 8

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    devnull = fopen("/dev/null", "w");
    if (!devnull)
        abort();
    return 0;
}

/* Index of `word` in "a|b|c", -1 if absent (exact). */
static int word_index(const char *words, const char *word)
{
    int i = 0;
    for (const char *w = words;; i++) {
        size_t wl = strcspn(w, "|");
        if (strlen(word) == wl && strncmp(w, word, wl) == 0)
            return i;
        if (!w[wl])
            return -1;
        w += wl + 1;
    }
}

/* Where each row's value and text sit in struct halo_params. */
static const size_t off_i[] = {
#define HALO_PARAM(NAME, field, type, def, unit, alias, help) offsetof(struct halo_params, field##_i),
#include "params.def"
#undef HALO_PARAM
};
static const size_t off_s[] = {
#define HALO_PARAM(NAME, field, type, def, unit, alias, help) offsetof(struct halo_params, field##_s),
#include "params.def"
#undef HALO_PARAM
};

static void check_row(const struct halo_params *p, int i)
{
    const char *name, *def, *unit, *alias;
    enum halo_param_type type;
    halo_param_row(i, &name, &type, &def, &unit, &alias);
    const int64_t v = *(const int64_t *)((const char *)p + off_i[i]);
    const char *s = *(const char *const *)((const char *)p + off_s[i]);
    FUZZ_CHECK(s != NULL);
    int64_t again = 0;
    switch (type) {
    case HALO_PT_BOOL: FUZZ_CHECK(v == 0 || v == 1); break;
    case HALO_PT_ENUM: FUZZ_CHECK(v >= 0 && v == word_index(unit, s)); break;
    case HALO_PT_SIZE:
        FUZZ_CHECK(v >= 0 || v == HALO_AUTO);
        FUZZ_CHECK(halo_parse_size(s, 1, &again) == 0 && again == v);
        break;
    case HALO_PT_DURATION:
        FUZZ_CHECK(v >= 0);
        FUZZ_CHECK(halo_parse_duration_us(s, unit, &again) == 0 && again == v);
        break;
    case HALO_PT_INT: FUZZ_CHECK(halo_parse_int(s, 1, &again) == 0 && again == v); break;
    case HALO_PT_STRING: break;
    }
}

/* An address whose host part is a numeric IP ("10.0.0.1:29500", "[fd00::1]:80",
 * "::1"): the parser then never asks a name server, which would make runs slow
 * and dependent on the network. */
static int numeric_addr(const char *s)
{
    char host[128];
    uint8_t bin[16];
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof(host) || strspn(s, "0123456789abcdefABCDEF.:[]") != n)
        return 0;
    if (inet_pton(AF_INET6, s, bin) == 1)
        return 1;
    const char *close = s[0] == '[' ? strchr(s, ']') : NULL;
    if (close) {
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        return inet_pton(AF_INET6, host, bin) == 1;
    }
    const char *colon = strrchr(s, ':');
    size_t hl = colon ? (size_t)(colon - s) : n;
    memcpy(host, s, hl);
    host[hl] = '\0';
    return inet_pton(AF_INET, host, bin) == 1;
}

static void other_readers(const char *value)
{
    int64_t v;
    halo_parse_int(value, 1, &v);
    halo_parse_size(value, 1, &v);
    halo_parse_duration_us(value, "ms", &v);
    halo_parse_bool(value, &v);
    halo_parse_word(value, "auto|shm|tcp|ib", &v);
    halo_ifname_match(value, "eth0");
    halo_ifname_match(value, "enp1s0f1");
#ifdef HALO_IB_HEADERS
    ib_hca_match(value, "mlx5_0", 1);
    ib_hca_match(value, "rxe0", 2);
#endif
    halo_nccl_env_translate("NCCL_NET", value);
    halo_nccl_env_translate("NCCL_ALGO", value);
    halo_nccl_env_ignored(value);
    halo_nccl_env_shim(value);
    if (numeric_addr(value)) {
        struct halo_sockaddr a;
        char err[256], buf[128];
        if (halo_sockaddr_parse(value, &a, err, sizeof(err)) == 0) {
            FUZZ_CHECK(a.family == AF_INET || a.family == AF_INET6);
            FUZZ_CHECK(halo_sockaddr_str(&a, buf, sizeof(buf))[0]);
        } else {
            FUZZ_CHECK(err[0]);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char names[MAX_REC][64];
    int nset = 0, nrows = halo_param_count();
    if (size > 4096)
        return 0;
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    for (char *rec = text, *next; rec && nset < MAX_REC; rec = next) {
        next = strchr(rec, '\n');
        if (next)
            *next++ = '\0';
        if (!*rec)
            continue;
        const char *name, *def, *unit, *alias;
        enum halo_param_type type;
        int row = (uint8_t)rec[0] % (nrows + 2), nccl = ((uint8_t)rec[0] & 0x80) != 0;
        const char *value = rec + 1;
        if (row >= nrows) { /* the topology knobs */
            snprintf(names[nset], sizeof(names[nset]), "%s", row == nrows ? "HALO_TOPO" : "HALO_TOPO_ORDER");
        } else {
            halo_param_row(row, &name, &type, &def, &unit, &alias);
            if (strncmp(name, "DEBUG", 5) == 0) /* the log of this process: left alone */
                continue;
            if (nccl && alias)
                snprintf(names[nset], sizeof(names[nset]), "%s", alias);
            else
                snprintf(names[nset], sizeof(names[nset]), "HALO_%s", name);
        }
        setenv(names[nset++], value, 1);
        other_readers(value);
    }
    struct halo_params p;
    char err[512] = "";
    if (halo_params_load(&p, err, sizeof(err)) == 0) {
        for (int i = 0; i < nrows; i++)
            check_row(&p, i);
        halo_params_print(devnull, &p);
    } else {
        FUZZ_CHECK(err[0] && (strstr(err, "HALO_") || strstr(err, "NCCL_")));
    }
    struct topo_options o;
    char terr[TOPO_ERR_LEN];
    topo_options_init(&o);
    if (topo_options_from_env(&o, terr, sizeof(terr)) != haloSuccess)
        FUZZ_CHECK(terr[0] != '\0');
    for (int i = 0; i < nset; i++)
        unsetenv(names[i]);
    free(text);
    return 0;
}
