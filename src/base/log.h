/* SPDX-License-Identifier: MIT */
/*
 * log.h — leveled, subsystem-masked logging.
 *
 * Lines look like `host:pid:tid [rank] HALO INFO NET message`. The level and the
 * subsystem mask are read once from HALO_DEBUG / HALO_DEBUG_SUBSYS (pthread_once)
 * and are immutable afterwards; the macros test both before formatting anything.
 */
#ifndef HALO_LOG_H
#define HALO_LOG_H

#include <stdarg.h>

enum halo_log_level { HALO_LOG_NONE = 0, HALO_LOG_WARN = 1, HALO_LOG_INFO = 2, HALO_LOG_TRACE = 3 };

enum halo_subsys {
    HALO_SUB_INIT = 1u << 0,
    HALO_SUB_BOOT = 1u << 1,
    HALO_SUB_NET = 1u << 2,
    HALO_SUB_SHM = 1u << 3,
    HALO_SUB_COLL = 1u << 4,
    HALO_SUB_P2P = 1u << 5,
    HALO_SUB_TOPO = 1u << 6,
    HALO_SUB_GPU = 1u << 7,
    HALO_SUB_ENV = 1u << 8,
    HALO_SUB_ALL = 0xffffffffu
};

/* Reads HALO_DEBUG / HALO_DEBUG_SUBSYS once (NCCL_DEBUG / NCCL_DEBUG_SUBSYS as
 * fallbacks). Bad values fall back to WARN/ALL with a warning on stderr. */
void halo_log_init(void);
int halo_log_enabled(enum halo_log_level level, unsigned subsys);
/* rank < 0 prints "[-]". */
void halo_log_emit(enum halo_log_level level, unsigned subsys, int rank, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void halo_log_vemit(enum halo_log_level level, unsigned subsys, int rank, const char *fmt, va_list ap);
/* Name of a subsystem bit, e.g. "NET". */
const char *halo_subsys_name(unsigned subsys);

#define HALO_LOG(level, sub, rank, ...)                                                 \
    do {                                                                                \
        if (halo_log_enabled((level), (sub)))                                           \
            halo_log_emit((level), (sub), (rank), __VA_ARGS__);                         \
    } while (0)
#define HLOG_WARN(sub, rank, ...) HALO_LOG(HALO_LOG_WARN, sub, rank, __VA_ARGS__)
#define HLOG_INFO(sub, rank, ...) HALO_LOG(HALO_LOG_INFO, sub, rank, __VA_ARGS__)
#define HLOG_TRACE(sub, rank, ...) HALO_LOG(HALO_LOG_TRACE, sub, rank, __VA_ARGS__)

#endif
