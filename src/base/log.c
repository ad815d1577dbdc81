/* SPDX-License-Identifier: MIT */
/*
 * log.c — leveled, subsystem-masked logging to stderr.
 *
 * The level, the mask and the host name are process-wide, set once under
 * pthread_once from HALO_DEBUG / HALO_DEBUG_SUBSYS (NCCL_DEBUG / NCCL_DEBUG_SUBSYS
 * when the HALO_ ones are unset or empty) and never change afterwards. Logging never
 * fails the program: a bad value prints one warning and the default is used.
 *
 * HALO_DEBUG_FILE=path.%h.%p sends the lines to a file of this process instead.
 *
 * Each line is built in one buffer and written with a single write(2), so lines
 * from different threads (and processes sharing the terminal) do not interleave:
 * writes up to PIPE_BUF bytes to a pipe are atomic, and LOG_LINE_MAX is PIPE_BUF.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "hot.h"
#include "log.h"

#define LOG_LINE_MAX PIPE_BUF
#define LOG_SUBSYS_MAX 256 /* longest HALO_DEBUG_SUBSYS value we parse */

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static atomic_int log_ready;
static enum halo_log_level log_level = HALO_LOG_WARN;
static unsigned log_mask = HALO_SUB_ALL;
static char log_host[64] = "?";
static int log_fd = STDERR_FILENO; /* HALO_DEBUG_FILE's file, or stderr */

struct subsys_name {
    const char *name;
    unsigned bit;
};

/* The first entry for a bit is its printed name; later ones are NCCL spellings. */
static const struct subsys_name subsys_names[] = {
    {"INIT", HALO_SUB_INIT}, {"BOOT", HALO_SUB_BOOT}, {"NET", HALO_SUB_NET},
    {"SHM", HALO_SUB_SHM},   {"COLL", HALO_SUB_COLL}, {"P2P", HALO_SUB_P2P},
    {"TOPO", HALO_SUB_TOPO}, {"GPU", HALO_SUB_GPU},   {"ENV", HALO_SUB_ENV},
    {"ALL", HALO_SUB_ALL},   {"BOOTSTRAP", HALO_SUB_BOOT}, {"GRAPH", HALO_SUB_TOPO},
};
#define NSUBSYS (sizeof(subsys_names) / sizeof(subsys_names[0]))

static const char *level_name(enum halo_log_level level)
{
    switch (level) {
    case HALO_LOG_NONE: return "NONE";
    case HALO_LOG_WARN: return "WARN";
    case HALO_LOG_INFO: return "INFO";
    case HALO_LOG_TRACE: return "TRACE";
    }
    return "?";
}

const char *halo_subsys_name(unsigned subsys)
{
    for (size_t i = 0; i < NSUBSYS; i++) {
        if (subsys_names[i].bit == subsys)
            return subsys_names[i].name;
    }
    return "?";
}

/* ---- line output ---- */

static void log_write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(log_fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* stderr closed or full: drop the line, never fail */
        buf += n;
        len -= (size_t)n;
    }
}

/* `host:pid:tid [rank] HALO LEVEL SUBSYS message\n`; a message that does not fit
 * ends in "..."; a trailing newline in the message is dropped. */
static size_t log_format(char *buf, size_t cap, enum halo_log_level level, unsigned subsys, int rank,
                         const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));
static size_t log_format(char *buf, size_t cap, enum halo_log_level level, unsigned subsys, int rank,
                         const char *fmt, va_list ap)
{
    char rankstr[16] = "-";
    int n, m;

    if (rank >= 0)
        snprintf(rankstr, sizeof(rankstr), "%d", rank);
    n = snprintf(buf, cap, "%s:%d:%d [%s] HALO %s %s ", log_host, (int)getpid(), (int)gettid(), rankstr,
                 level_name(level), halo_subsys_name(subsys));
    if (n < 0 || (size_t)n >= cap - 1)
        n = 0;
    m = vsnprintf(buf + n, cap - 1 - (size_t)n, fmt, ap);
    if (m < 0)
        m = 0;
    if ((size_t)m >= cap - 1 - (size_t)n) {
        m = (int)(cap - 2 - (size_t)n);
        memcpy(buf + n + m - 3, "...", 3);
    }
    n += m;
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    buf[n++] = '\n';
    return (size_t)n;
}

static void log_line(enum halo_log_level level, unsigned subsys, int rank, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static void log_line(enum halo_log_level level, unsigned subsys, int rank, const char *fmt, va_list ap)
{
    char buf[LOG_LINE_MAX];
    size_t len = log_format(buf, sizeof(buf), level, subsys, rank, fmt, ap);

    log_write_all(buf, len);
}

/* For warnings about the log settings themselves, printed from inside the once. */
static void log_setup_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_setup_warn(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_line(HALO_LOG_WARN, HALO_SUB_ENV, -1, fmt, ap);
    va_end(ap);
}

/* ---- settings ---- */

static const char *env_pick(const char *halo_var, const char *nccl_var, const char **used)
{
    const char *v = getenv(halo_var);

    *used = halo_var;
    if (v && *v)
        return v;
    v = getenv(nccl_var);
    *used = nccl_var;
    return v && *v ? v : NULL;
}

/* NCCL's VERSION level sits below WARN and prints only the version banner; WARN is
 * the closest of ours (INFO would print every subsystem's progress). */
static int parse_level(const char *s, enum halo_log_level *out)
{
    static const struct { const char *name; enum halo_log_level level; } levels[] = {
        {"NONE", HALO_LOG_NONE}, {"VERSION", HALO_LOG_WARN}, {"WARN", HALO_LOG_WARN},
        {"INFO", HALO_LOG_INFO}, {"TRACE", HALO_LOG_TRACE},
    };

    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if (strcasecmp(s, levels[i].name) == 0) {
            *out = levels[i].level;
            return 0;
        }
    }
    return -1;
}

static int subsys_lookup(const char *tok, size_t len, unsigned *bit)
{
    for (size_t i = 0; i < NSUBSYS; i++) {
        if (strlen(subsys_names[i].name) == len && strncasecmp(tok, subsys_names[i].name, len) == 0) {
            *bit = subsys_names[i].bit;
            return 0;
        }
    }
    return -1;
}

/* Comma list of names, optionally led by ^ (everything except the list). Empty
 * items are errors. Names NCCL knows and we do not (PROXY, TUNING, ...) are skipped
 * when the list came from NCCL_DEBUG_SUBSYS, which is written for NCCL too. */
static int parse_subsys(const char *s, int lenient, unsigned *out)
{
    int invert = *s == '^';
    unsigned mask = 0;
    const char *tok = s + invert;

    if (strlen(s) > LOG_SUBSYS_MAX)
        return -1;
    for (;;) {
        const char *end = strchr(tok, ',');
        size_t len = end ? (size_t)(end - tok) : strlen(tok);
        unsigned bit;
        if (len == 0)
            return -1;
        if (subsys_lookup(tok, len, &bit) == 0)
            mask |= bit;
        else if (!lenient)
            return -1;
        if (!end)
            break;
        tok = end + 1;
    }
    *out = invert ? HALO_SUB_ALL & ~mask : mask;
    return 0;
}

static void log_load_level(void)
{
    const char *var, *v = env_pick("HALO_DEBUG", "NCCL_DEBUG", &var);

    if (v && parse_level(v, &log_level) != 0) {
        log_level = HALO_LOG_WARN;
        log_setup_warn("%s=\"%s\": expected NONE, WARN, INFO or TRACE; using WARN", var, v);
    }
}

static void log_load_subsys(void)
{
    const char *var, *v = env_pick("HALO_DEBUG_SUBSYS", "NCCL_DEBUG_SUBSYS", &var);
    int lenient = strcmp(var, "NCCL_DEBUG_SUBSYS") == 0;

    if (v && parse_subsys(v, lenient, &log_mask) != 0) {
        log_mask = HALO_SUB_ALL;
        if (log_level >= HALO_LOG_WARN)
            log_setup_warn("%s=\"%s\": expected a comma list of INIT,BOOT,NET,SHM,COLL,P2P,TOPO,GPU,ENV "
                           "or ALL, optionally led by ^; using ALL", var, v);
    }
}

/* HALO_DEBUG_FILE (NCCL_DEBUG_FILE): %h becomes the host name, %p the pid, so each
 * rank writes its own file. A file that cannot be opened leaves stderr. */
static void log_open_file(void)
{
    const char *var, *v = env_pick("HALO_DEBUG_FILE", "NCCL_DEBUG_FILE", &var);
    char path[4096];
    size_t n = 0;
    if (!v)
        return;
    for (const char *c = v; *c && n < sizeof(path) - 1; c++) {
        if (c[0] == '%' && (c[1] == 'h' || c[1] == 'p')) {
            int m = c[1] == 'h' ? snprintf(path + n, sizeof(path) - n, "%s", log_host)
                                : snprintf(path + n, sizeof(path) - n, "%d", (int)getpid());
            n = m > 0 && (size_t)m < sizeof(path) - n ? n + (size_t)m : sizeof(path) - 1;
            c++;
        } else {
            path[n++] = *c;
        }
    }
    path[n] = '\0';
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        log_setup_warn("%s=\"%s\": cannot open %s (%s); logging to stderr", var, v, path, strerror(errno));
    else
        log_fd = fd;
}

static void log_load(void)
{
    if (gethostname(log_host, sizeof(log_host)) != 0)
        snprintf(log_host, sizeof(log_host), "?");
    log_host[sizeof(log_host) - 1] = '\0';
    log_open_file();
    log_load_level();
    log_load_subsys();
    atomic_store_explicit(&log_ready, 1, memory_order_release);
}

void halo_log_init(void)
{
    pthread_once(&log_once, log_load);
}

HALO_HOT int halo_log_enabled(enum halo_log_level level, unsigned subsys)
{
    if (!atomic_load_explicit(&log_ready, memory_order_acquire))
        halo_log_init();
    return level != HALO_LOG_NONE && level <= log_level && (subsys & log_mask) != 0;
}

/* Redeclared with the format attribute so that clang checks the va_list path too. */
void halo_log_vemit(enum halo_log_level level, unsigned subsys, int rank, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
void halo_log_vemit(enum halo_log_level level, unsigned subsys, int rank, const char *fmt, va_list ap)
{
    halo_log_init();
    log_line(level, subsys, rank, fmt, ap);
}

void halo_log_emit(enum halo_log_level level, unsigned subsys, int rank, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    halo_log_vemit(level, subsys, rank, fmt, ap);
    va_end(ap);
}
