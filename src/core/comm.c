/* SPDX-License-Identifier: MIT */
/*
 * comm.c — communicator life cycle: creation (bootstrap, peer table, transports),
 * queries, errors, destruction and abort.
 *
 * Creation, on every rank:
 *   1. check arguments, load parameters, connect to the bootstrap root (proving
 *      the job secret);
 *   2. let every transport listen (comm_transport.c drives the table in
 *      src/transport/transport.h), all-gather peer info (host identity, pid,
 *      cores, agreed sizes, each transport's opaque blob);
 *   3. choose every peer's transport (self, or the first of the table by priority
 *      whose can_connect says yes; the topology may change remote ones), connect
 *      every transport, its collective steps, barrier, then the transports' ready
 *      step (shm unlinks its segment name).
 * A failure on any rank is relayed through the bootstrap so the others fail
 * promptly instead of waiting for the timeout.
 */
#include "comm.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bootstrap.h"
#include "engine.h"
#include "error.h"
#include "hash.h"
#include "gpu_mem.h"
#include "log.h"
#include "reduce.h"
#include "relay.h"
#include "wire.h"

#define COMM_SLOT_SHM (64 * 1024)
#define COMM_SLOT_TCP (512 * 1024) /* tcp and ib; ib reaches ib_write_bw only from ~512k frames */
#define COMM_NSLOTS 8
#define COMM_AUTO_CHANNELS 4          /* HALO_NCHANNELS=auto at most, across hosts */
#define COMM_AUTO_CHANNELS_ONE_HOST 8 /* ... and with every rank on one host */

/* ---- errors ---- */

enum halo_subsys comm_phase_subsys(const struct halo_comm *comm)
{
    return comm && comm->ready ? HALO_SUB_COLL : HALO_SUB_INIT;
}

int comm_remote_aborted(struct halo_comm *comm)
{
    char msg[HALO_ERRLEN];
    haloResult_t code = comm->bs ? bootstrap_poll_abort(comm->bs, msg, sizeof(msg)) : haloSuccess;
    if (code == haloSuccess)
        return 0;
    if (atomic_load(&comm->async_error) != haloSuccess)
        return 1; /* already broken (or aborted here): the first error's text stays */
    if (code != haloInvalidUsage && code != haloSystemError)
        code = haloRemoteError;
    halo_error_sub(comm_phase_subsys(comm), comm, code, "rank %d: another rank failed: %s", comm->rank, msg);
    int expected = 0;
    atomic_compare_exchange_strong(&comm->async_error, &expected, (int)code);
    atomic_store(&comm->aborted, 1);
    return 1;
}

void comm_set_async_error(struct halo_comm *comm, haloResult_t res)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&comm->async_error, &expected, (int)res))
        return; /* already broken; the first error stays */
    atomic_store(&comm->aborted, 1);
    if (comm->bs) {
        char msg[HALO_ERRLEN + 8];
        pthread_mutex_lock(&comm->err_lock);
        snprintf(msg, sizeof(msg), "%d|%s", (int)res, comm->last_error);
        pthread_mutex_unlock(&comm->err_lock);
        bootstrap_send_abort(comm->bs, msg);
    }
}

haloResult_t comm_fail(struct halo_comm *comm, haloResult_t res)
{
    if (res == haloSuccess || res == haloInvalidArgument)
        return res;
    if (res == haloRemoteError && comm->bs && atomic_load(&comm->async_error) == haloSuccess &&
        !atomic_load(&comm->timed_out)) {
        int64_t end = halo_now_us() + COMM_ABORT_GRACE_US;
        while (halo_now_us() < end && atomic_load(&comm->async_error) == haloSuccess && !comm_remote_aborted(comm))
            usleep(1000);
        if (atomic_load(&comm->async_error) != haloSuccess)
            return (haloResult_t)atomic_load(&comm->async_error);
    }
    comm_set_async_error(comm, res);
    return (haloResult_t)atomic_load(&comm->async_error);
}

int comm_conn_channels(const struct halo_comm *comm)
{
    return comm->nchannels + (comm->relay_ch >= 0);
}

size_t comm_slot_size(const struct halo_comm *comm, int peer)
{
    return comm->peers[peer].kind == HALO_TR_SHM ? comm->slot_size_shm : comm->slot_size_tcp;
}

/* ---- teardown ---- */

/* Every thread the communicator owns stops and is joined here, before anything
 * it may touch (connections, channel buffers, the bootstrap) is freed. A thread
 * added to the communicator gets its stop-and-join line here. */
static void comm_threads_stop(struct halo_comm *comm)
{
    /* First the GPU progress thread: it runs collectives on this communicator.
     * A healthy communicator's queued GPU work finishes first (destroy); a broken
     * or aborted one's streams are released at once. */
    gpu_comm_destroy(comm->gpu, comm->timeout_us, atomic_load(&comm->async_error) != haloSuccess);
    comm->gpu = NULL;
    /* Then the relay thread, which forwards other ranks' messages and this rank's
     * sends and receives to ranks without a direct link: GPU work may still have
     * needed it; nothing else does. A healthy one says goodbye to its peers. */
    relay_stop(comm, atomic_load(&comm->async_error) == haloSuccess);
    engine_workers_destroy(comm);
}

void comm_free(struct halo_comm *comm)
{
    if (!comm)
        return;
    comm_threads_stop(comm);
    if (comm->conns) {
        for (int i = 0; i < comm_conn_channels(comm) * comm->nranks; i++)
            if (comm->conns[i])
                comm->conns[i]->ops->close(comm->conns[i]);
        free(comm->conns);
    }
    comm_regs_free(comm);
    comm_tp_destroy(comm); /* after their connections were closed above */
    comm_topo_destroy(comm);
    bootstrap_close(comm->bs, atomic_load(&comm->async_error) == haloSuccess);
    for (int c = 0; c < HALO_MAX_CHANNELS; c++)
        free(comm->scratch[c]);
    free(comm->peers);
    free(comm->ring);
    free(comm->p2p_send_seq);
    free(comm->p2p_recv_seq);
    free(comm->redops);
    pthread_mutex_destroy(&comm->err_lock);
    pthread_cond_destroy(&comm->calls_done);
    comm->magic = HALO_COMM_DEAD;
    free(comm);
}

/* ---- creation ---- */

static uint64_t comm_host_hash(void)
{
    char host[256] = "", boot[64] = "", ns[64] = "";
    gethostname(host, sizeof(host) - 1);
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f) {
        if (!fgets(boot, sizeof(boot), f))
            boot[0] = 0;
        fclose(f);
    }
    struct stat st;
    if (stat("/proc/self/ns/net", &st) == 0)
        snprintf(ns, sizeof(ns), "%llu", (unsigned long long)st.st_ino);
    return halo_fnv_str(halo_fnv_str(halo_fnv_str(HALO_FNV_INIT, host), boot), ns);
}

/* The CPUs this process may run on, read once: their count, their set (HALO_PIN
 * picks from it) and its hash. A launcher that binds each rank to CPUs of its own
 * (mpirun --bind-to core, srun --cpu-bind) gives the ranks of one host different
 * sets; unbound ranks share one. Without an affinity: every online CPU, hash 0. */
static void comm_read_cpus(struct halo_comm *comm)
{
    if (sched_getaffinity(0, sizeof(comm->cpus), &comm->cpus) == 0) {
        comm->ncores = CPU_COUNT(&comm->cpus);
        comm->cpuset_hash = halo_fnv_bytes(HALO_FNV_INIT, &comm->cpus, sizeof(comm->cpus));
        return;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    CPU_ZERO(&comm->cpus);
    comm->ncores = n > 0 ? (int)n : 1;
    comm->cpuset_hash = 0;
}

/* HALO_BUFFSIZE is the bytes of each FIFO, on every transport: shm's 64 KiB slots
 * and tcp/ib's 512 KiB ones get as many slots as fit (2..COMM_MAX_SLOTS). With
 * HALO_CHUNK_SIZE auto, a FIFO smaller than two slots gets two smaller slots
 * instead (never below 4 KiB); a size set by the user is kept and named. */
#define COMM_MAX_SLOTS 1024
#define COMM_MIN_SLOT 4096

static int comm_slots_for(int64_t buf, size_t slot)
{
    int64_t n = buf / (int64_t)slot;
    return n > COMM_MAX_SLOTS ? COMM_MAX_SLOTS : (int)n;
}

static haloResult_t comm_apply_buffsize(struct halo_comm *comm, int64_t buf, int64_t chunk)
{
    if (buf == HALO_AUTO) {
        comm->nslots = comm->nslots_shm = COMM_NSLOTS;
        return haloSuccess;
    }
    if (buf < 2 * COMM_MIN_SLOT)
        return halo_error(comm, haloInvalidArgument, "HALO_BUFFSIZE=%" PRId64 ": must be at least 8k (two 4 KiB "
                          "slots), or auto", buf);
    if (chunk != HALO_AUTO && buf < 2 * chunk)
        return halo_error(comm, haloInvalidArgument, "HALO_BUFFSIZE=%" PRId64 " holds fewer than two slots of "
                          "HALO_CHUNK_SIZE=%" PRId64 ": raise HALO_BUFFSIZE to at least %" PRId64 " or lower "
                          "HALO_CHUNK_SIZE", buf, chunk, 2 * chunk);
    size_t half = (size_t)(buf / 2) & ~(size_t)63;
    if (comm->slot_size_tcp > half)
        comm->slot_size_tcp = half;
    if (comm->slot_size_shm > half)
        comm->slot_size_shm = half;
    comm->nslots = comm_slots_for(buf, comm->slot_size_tcp);
    comm->nslots_shm = comm_slots_for(buf, comm->slot_size_shm);
    return haloSuccess;
}

/* HALO_WIRE / HALO_WIRE_MIN, or the config's fields where set. */
static haloResult_t comm_apply_wire(struct halo_comm *comm, const haloConfig_t *cfg)
{
    comm->wire = (int)HALO_P_INT(&comm->params, wire);
    comm->wire_min = (size_t)HALO_P_INT(&comm->params, wire_min);
    if (cfg && cfg->wireFormat != HALO_CONFIG_UNDEF_INT) {
        if (cfg->wireFormat < haloWireOff || cfg->wireFormat > haloWireQ8)
            return halo_error(comm, haloInvalidArgument,
                              "config.wireFormat=%d: expected haloWireOff, haloWireBf16, haloWireFp8 or haloWireQ8 "
                              "(0..3)", cfg->wireFormat);
        comm->wire = cfg->wireFormat;
    }
    if (cfg && cfg->wireMinBytes != HALO_CONFIG_UNDEF_INT) {
        if (cfg->wireMinBytes < 0)
            return halo_error(comm, haloInvalidArgument, "config.wireMinBytes=%d: must be >= 0", cfg->wireMinBytes);
        comm->wire_min = (size_t)cfg->wireMinBytes;
    }
    return haloSuccess;
}

static haloResult_t comm_apply_params(struct halo_comm *comm, const haloConfig_t *cfg)
{
    char err[512];
    if (halo_params_load(&comm->params, err, sizeof(err)) != 0)
        return halo_error(comm, haloInvalidArgument, "rank %d: %s", comm->rank, err);
    const struct halo_params *p = &comm->params;
    int64_t nch = HALO_P_INT(p, nchannels);
    if (cfg && cfg->nChannels != HALO_CONFIG_UNDEF_INT)
        nch = cfg->nChannels;
    if (nch != HALO_AUTO && (nch < 1 || nch > HALO_MAX_CHANNELS))
        return halo_error(comm, haloInvalidArgument, "HALO_NCHANNELS=%" PRId64 ": expected 1..%d or auto", nch,
                          HALO_MAX_CHANNELS);
    int64_t chunk = HALO_P_INT(p, chunk_size);
    if (chunk != HALO_AUTO && (chunk < 4096 || chunk > (64 << 20) || chunk % 64))
        return halo_error(comm, haloInvalidArgument,
                          "HALO_CHUNK_SIZE=%" PRId64 ": expected a multiple of 64 between 4k and 64m, or auto", chunk);
    comm->slot_size_shm = chunk == HALO_AUTO ? COMM_SLOT_SHM : (size_t)chunk;
    comm->slot_size_tcp = chunk == HALO_AUTO ? COMM_SLOT_TCP : (size_t)chunk;
    haloResult_t r = comm_apply_buffsize(comm, HALO_P_INT(p, buffsize), chunk);
    if (r != haloSuccess)
        return r;
    /* fits every transport; the topology raises it where shm carries nothing */
    comm->slice_slot = comm->slot_size_tcp < comm->slot_size_shm ? comm->slot_size_tcp : comm->slot_size_shm;
    comm->slice_min = HALO_SLICE_MIN_BYTES;
    comm->slice_max = comm->slice_slot;
    comm->zc_min = HALO_P_INT(p, checksum) ? 0 : (size_t)HALO_P_INT(p, ib_zcopy_min); /* zero-copy bypasses frames */
    comm->ib_qps = (int)HALO_P_INT(p, ib_qps_per_peer);
    if (comm->ib_qps < 1 || comm->ib_qps > 8)
        return halo_error(comm, haloInvalidArgument, "HALO_IB_QPS_PER_PEER=%d: expected 1..8", comm->ib_qps);
    int64_t rails = HALO_P_INT(p, rails);
    if (rails != HALO_AUTO && (rails < 1 || rails > HALO_MAX_RAILS))
        return halo_error(comm, haloInvalidArgument, "HALO_RAILS=%" PRId64 ": expected 1..%d or auto", rails,
                          HALO_MAX_RAILS);
    comm->max_rails = rails == HALO_AUTO ? HALO_MAX_RAILS : (int)rails;
    comm_read_cpus(comm);
    comm->nchannels = nch == HALO_AUTO ? 0 : (int)nch; /* 0: decided after the all-gather */
    comm->nchannels_auto = nch == HALO_AUTO;
    comm->timeout_us = HALO_P_INT(p, timeout);
    if (cfg && cfg->timeoutMs != HALO_CONFIG_UNDEF_INT) {
        if (cfg->timeoutMs <= 0)
            return halo_error(comm, haloInvalidArgument, "config.timeoutMs=%d: must be > 0", cfg->timeoutMs);
        comm->timeout_us = (int64_t)cfg->timeoutMs * 1000;
    }
    if (comm->timeout_us <= 0)
        return halo_error(comm, haloInvalidArgument, "HALO_TIMEOUT_MS must be > 0");
    return comm_apply_wire(comm, cfg);
}

static void comm_fill_info(struct halo_comm *comm, struct halo_peer_info *me)
{
    memset(me, 0, sizeof(*me));
    me->rank = comm->rank;
    me->pid = getpid();
    me->host_hash = comm_host_hash();
    gethostname(me->hostname, sizeof(me->hostname) - 1);
    me->ncores = comm->ncores;
    me->cpuset_hash = comm->cpuset_hash;
    me->nchannels = comm->nchannels;
    me->slot_size_tcp = comm->slot_size_tcp;
    me->slot_size_shm = comm->slot_size_shm;
    me->nslots = comm->nslots;
    me->nslots_shm = comm->nslots_shm;
    me->transport_req = (int32_t)HALO_P_INT(&comm->params, transport); /* index of the HALO_TRANSPORT word */
    me->zc_min = comm->zc_min;
    me->ib_qps = comm->ib_qps;
    me->max_rails = comm->max_rails;
    me->rail_failover = (int32_t)HALO_P_INT(&comm->params, rail_failover);
    me->checksum = (int32_t)HALO_P_INT(&comm->params, checksum);
    me->tune_file = HALO_P_STR(&comm->params, tune_file)[0] != '\0';
    me->wire = comm->wire;
    me->wire_min = comm->wire_min;
    snprintf(me->algo, sizeof(me->algo), "%s", HALO_P_STR(&comm->params, algo));
}

/* Word number idx of HALO_TRANSPORT's list ("auto|shm|tcp|ib"). */
static void comm_transport_word(int idx, char *buf, size_t len)
{
    const char *name, *def, *unit, *alias;
    enum halo_param_type type;
    halo_param_row(HALO_PI_transport, &name, &type, &def, &unit, &alias);
    for (int i = 0; i < idx && unit; i++) {
        unit = strchr(unit, '|');
        unit = unit ? unit + 1 : NULL;
    }
    snprintf(buf, len, "%.*s", unit ? (int)strcspn(unit, "|") : 1, unit ? unit : "?");
}

/* One value that must be equal on every rank, as each rank's info shows it. */
static void comm_agree_value(const struct halo_peer_info *i, const char *what, char *buf, size_t len)
{
    if (strcmp(what, "HALO_CHUNK_SIZE") == 0)
        snprintf(buf, len, "%" PRIu64 "-byte tcp slots, %" PRIu64 "-byte shm slots", i->slot_size_tcp,
                 i->slot_size_shm);
    else if (strcmp(what, "HALO_BUFFSIZE") == 0)
        snprintf(buf, len, "%d tcp/ib slots, %d shm slots", (int)i->nslots, (int)i->nslots_shm);
    else if (strcmp(what, "HALO_TRANSPORT") == 0)
        comm_transport_word((int)i->transport_req, buf, len);
    else if (strcmp(what, "HALO_IB_ZCOPY_MIN") == 0)
        snprintf(buf, len, "%" PRIu64, i->zc_min);
    else if (strcmp(what, "HALO_IB_QPS_PER_PEER") == 0)
        snprintf(buf, len, "%d", (int)i->ib_qps);
    else if (strcmp(what, "HALO_ALGO") == 0)
        snprintf(buf, len, "%s", i->algo);
    else if (strcmp(what, "HALO_RAILS") == 0)
        snprintf(buf, len, "%d", (int)i->max_rails);
    else if (strcmp(what, "HALO_RAIL_FAILOVER") == 0)
        snprintf(buf, len, "%d", (int)i->rail_failover);
    else if (strcmp(what, "HALO_CHECKSUM") == 0)
        snprintf(buf, len, "%d", (int)i->checksum);
    else if (strcmp(what, "HALO_WIRE") == 0)
        snprintf(buf, len, "%s", halo_wire_name((enum halo_wire)i->wire));
    else if (strcmp(what, "HALO_WIRE_MIN") == 0)
        snprintf(buf, len, "%" PRIu64, i->wire_min);
    else if (strcmp(what, "HALO_TUNE_FILE") == 0)
        snprintf(buf, len, "%s", i->tune_file ? "set" : "unset");
    else if (i->nchannels)
        snprintf(buf, len, "%d", (int)i->nchannels);
    else
        snprintf(buf, len, "auto");
}

static const char *comm_agree_diff(const struct halo_peer_info *a, const struct halo_peer_info *b)
{
    if (b->slot_size_tcp != a->slot_size_tcp || b->slot_size_shm != a->slot_size_shm)
        return "HALO_CHUNK_SIZE";
    if (b->nslots != a->nslots || b->nslots_shm != a->nslots_shm)
        return "HALO_BUFFSIZE";
    if (b->transport_req != a->transport_req)
        return "HALO_TRANSPORT";
    if (b->checksum != a->checksum) /* before HALO_IB_ZCOPY_MIN, which it turns off */
        return "HALO_CHECKSUM";
    if (b->zc_min != a->zc_min)
        return "HALO_IB_ZCOPY_MIN";
    if (b->ib_qps != a->ib_qps)
        return "HALO_IB_QPS_PER_PEER";
    if (strcmp(a->algo, b->algo) != 0)
        return "HALO_ALGO";
    if (b->max_rails != a->max_rails)
        return "HALO_RAILS";
    if (b->rail_failover != a->rail_failover)
        return "HALO_RAIL_FAILOVER";
    if (b->tune_file != a->tune_file)
        return "HALO_TUNE_FILE";
    if (b->wire != a->wire)
        return "HALO_WIRE";
    if (b->wire_min != a->wire_min)
        return "HALO_WIRE_MIN";
    if ((b->nchannels == 0) != (a->nchannels == 0) || (a->nchannels && b->nchannels != a->nchannels))
        return "HALO_NCHANNELS";
    return NULL;
}

/* Every rank checks the same all-gathered table, so all fail with the same text. */
static haloResult_t comm_check_agreement(struct halo_comm *comm)
{
    const struct halo_peer_info *a = &comm->peers[0].info;
    for (int p = 1; p < comm->nranks; p++) {
        const struct halo_peer_info *b = &comm->peers[p].info;
        const char *what = comm_agree_diff(a, b);
        char va[80], vb[80];
        if (!what)
            continue;
        comm_agree_value(a, what, va, sizeof(va));
        comm_agree_value(b, what, vb, sizeof(vb));
        return halo_error(comm, haloInvalidUsage,
                          "rank %d: %s differs between ranks: rank 0 (%s) has %s, rank %d (%s) has %s: set it to "
                          "the same value on every rank",
                          comm->rank, what, a->hostname, va, p, b->hostname, vb);
    }
    return haloSuccess;
}

/* The last-level cache of this CPU (glibc reads it from cpuid); 32 MiB when it
 * does not say. */
static int64_t comm_llc_bytes(void)
{
    long b = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (b <= 0)
        b = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return b > 0 ? (int64_t)b : (int64_t)32 << 20;
}

void comm_stream_thresholds(struct halo_comm *comm, int64_t param, int64_t llc, int min_cores_per_rank)
{
    comm->stream_min = comm->stream_min_reduce = param;
    if (param != HALO_AUTO)
        return;
    comm->stream_min = llc;
    comm->stream_min_reduce = min_cores_per_rank >= 2 ? llc / 4 : 0;
}

/* Peer kinds, local indexes, channel count, ring order. */
static haloResult_t comm_classify_peers(struct halo_comm *comm)
{
    uint64_t my_host = comm->peers[comm->rank].info.host_hash;
    int min_cores_per_rank = 1 << 30;
    comm->nlocal = 0;
    for (int p = 0; p < comm->nranks; p++) {
        struct halo_peer *peer = &comm->peers[p];
        int local = peer->info.host_hash == my_host;
        peer->local_index = local ? comm->nlocal++ : -1;
        if (p == comm->rank)
            comm->local_rank = peer->local_index;
    }
    for (int p = 0; p < comm->nranks; p++) {
        haloResult_t r = haloSuccess;
        if (p == comm->rank)
            comm->peers[p].kind = HALO_TR_SELF;
        else
            r = comm_select_transport(comm, p, NULL);
        if (r != haloSuccess)
            return r;
    }
    /* Cores per rank: a CPU set's cores over the ranks of its host that share it. */
    for (int p = 0; p < comm->nranks; p++) {
        const struct halo_peer_info *pi = &comm->peers[p].info;
        int nl = 0;
        for (int q = 0; q < comm->nranks; q++) {
            const struct halo_peer_info *qi = &comm->peers[q].info;
            if (qi->host_hash == pi->host_hash && qi->cpuset_hash == pi->cpuset_hash) {
                if (p == comm->rank && q == comm->rank)
                    comm->share_index = nl;
                nl++;
            }
        }
        if (p == comm->rank)
            comm->nshare = nl;
        int cpr = pi->ncores / nl;
        if (cpr < min_cores_per_rank)
            min_cores_per_rank = cpr;
    }
    /* auto: one channel per spare core, same on every rank; more on one host, where
     * a large call's speed is memory bandwidth, which grows with the threads that
     * copy (a 16-core host, 2 ranks, 128 MiB: 8 channels 25.8 GB/s busbw, 2: 7.6) */
    comm->crowded = min_cores_per_rank < 1;
    int cap = comm->nlocal == comm->nranks ? COMM_AUTO_CHANNELS_ONE_HOST : COMM_AUTO_CHANNELS;
    if (comm->nchannels == 0)
        comm->nchannels = min_cores_per_rank < 1 ? 1 : min_cores_per_rank > cap ? cap : min_cores_per_rank;
    comm_stream_thresholds(comm, HALO_P_INT(&comm->params, stream_min), comm_llc_bytes(), min_cores_per_rank);
    comm_pick_yield(comm);
    for (int p = 0; p < comm->nranks; p++)
        comm->ring[p] = p;
    comm->ring_pos = comm->rank;
    return haloSuccess;
}

/* HALO_PIN=crowded: this host's ranks outnumber the CPUs this process may use and
 * each rank runs one thread: local rank i gets the i-th of those CPUs (modulo
 * their number). Unbound, the scheduler moves ranks between the CPUs and pairs
 * them differently from run to run (4 ranks on 2 cores, 16 B allreduce: 8-22 us
 * per call from one run to the next, 10-13 bound). */
static int comm_pick_pin(const struct halo_comm *comm)
{
    int ncpu = CPU_COUNT(&comm->cpus); /* 0 where the affinity could not be read */
    if (strcmp(HALO_P_STR(&comm->params, pin), "crowded") != 0 || comm->nchannels != 1 || ncpu < 2 ||
        comm->nshare <= ncpu)
        return -1;
    int k = comm->share_index % ncpu;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &comm->cpus) && k-- == 0)
            return c;
    return -1;
}

/* How a waiting rank treats its CPU: yield, sleep after a while, bind (HALO_SPIN,
 * HALO_WAIT_SPIN_US, HALO_PIN); again when rails change the channel count. */
void comm_pick_yield(struct halo_comm *comm)
{
    const char *spin = HALO_P_STR(&comm->params, spin);
    comm->yield = strcmp(spin, "yield") == 0 ||
                  (strcmp(spin, "auto") == 0 && comm->nshare * comm->nchannels > comm->ncores);
    int64_t after = HALO_P_INT(&comm->params, wait_spin_us);
    int roomy = comm->ncores >= ENGINE_WAIT_SPIN_LONG_MIN_CORES && 2 * comm->nshare * comm->nchannels <= comm->ncores;
    int64_t auto_us = roomy ? ENGINE_WAIT_SPIN_LONG_US : ENGINE_WAIT_SPIN_US;
    comm->sleep_after_us = strcmp(spin, "spin") == 0 ? 0 : after == HALO_AUTO ? auto_us : after;
    comm->pin_cpu = comm_pick_pin(comm);
    /* A tcp poll is a recv() that costs a system call: yielding after each one gives
     * the core to a rank with work sooner (2 cores, 3 to 8 ranks over loopback tcp,
     * 16 B-16 MiB: 0.75-0.95x the time of every 8th; over shm mixed, 0.7-1.24x). */
    comm->yield_each = comm->yield && comm_local_tcp(comm);
}

static haloResult_t comm_alloc_tables(struct halo_comm *comm)
{
    comm->peers = calloc((size_t)comm->nranks, sizeof(*comm->peers));
    comm->ring = calloc((size_t)comm->nranks, sizeof(int));
    comm->p2p_send_seq = calloc((size_t)comm->nranks, sizeof(uint32_t));
    comm->p2p_recv_seq = calloc((size_t)comm->nranks, sizeof(uint32_t));
    if (!comm->peers || !comm->ring || !comm->p2p_send_seq || !comm->p2p_recv_seq)
        return halo_error(comm, haloSystemError, "rank %d: out of memory for %d peers", comm->rank, comm->nranks);
    return haloSuccess;
}

static haloResult_t comm_alloc_conns(struct halo_comm *comm)
{
    size_t slot = comm->slot_size_tcp > comm->slot_size_shm ? comm->slot_size_tcp : comm->slot_size_shm;
    comm->conns = calloc((size_t)comm_conn_channels(comm) * (size_t)comm->nranks, sizeof(*comm->conns));
    if (!comm->conns)
        return halo_error(comm, haloSystemError, "rank %d: out of memory", comm->rank);
    for (int c = 0; c < comm->nchannels; c++)
        if (posix_memalign(&comm->scratch[c], 4096, slot) != 0)
            return halo_error(comm, haloSystemError, "rank %d: out of memory for channel buffers", comm->rank);
    return haloSuccess;
}

static haloResult_t comm_connect(struct halo_comm *comm)
{
    haloResult_t r = comm_alloc_conns(comm);
    if (r == haloSuccess)
        r = comm_tp_connect(comm);
    if (r == haloSuccess) /* all-gathers, so also the barrier after connecting */
        r = comm_zc_agree(comm);
    if (r == haloSuccess)
        comm_tp_ready(comm);
    if (r == haloSuccess && comm->relay_ch >= 0)
        r = relay_start(comm);
    return r;
}

/* Forwarding between ranks without a direct link needs one channel more than the
 * collectives (relay.h); every rank decides it from the same topology. */
static void comm_plan_relay(struct halo_comm *comm)
{
    if (!relay_needed(comm))
        return;
    if (comm->nchannels >= HALO_MAX_CHANNELS) {
        comm->nchannels = HALO_MAX_CHANNELS - 1; /* the same on every rank: nchannels agreed */
        comm->cost.max_channels = comm->nchannels;
        HLOG_INFO(HALO_SUB_INIT, comm->rank, "%d channels for collectives: the last one relays send/receive",
                  comm->nchannels);
    }
    comm->relay_ch = comm->nchannels;
}

static haloResult_t comm_setup(struct halo_comm *comm, const haloUniqueId *id)
{
    haloResult_t r = bootstrap_connect(&comm->bs, id, comm->rank, comm->nranks, &comm->params, comm);
    if (r != haloSuccess)
        return r;
    comm->comm_id = bootstrap_job_id(comm->bs);
    comm_tp_init(comm);
    if ((r = comm_alloc_tables(comm)) != haloSuccess)
        return r;
    struct halo_peer_info *infos = calloc((size_t)comm->nranks, sizeof(*infos));
    if (!infos)
        return halo_error(comm, haloSystemError, "rank %d: out of memory", comm->rank);
    comm_fill_info(comm, &infos[comm->rank]);
    if (comm->nranks > 1)
        r = comm_tp_listen(comm, &infos[comm->rank]);
    if (r == haloSuccess)
        r = bootstrap_allgather(comm->bs, infos, sizeof(*infos));
    for (int p = 0; r == haloSuccess && p < comm->nranks; p++)
        comm->peers[p].info = infos[p];
    free(infos);
    if (r == haloSuccess)
        r = comm_check_agreement(comm);
    if (r == haloSuccess)
        r = comm_tp_peers_sync(comm);
    if (r == haloSuccess)
        r = comm_classify_peers(comm);
    if (r == haloSuccess)
        r = comm_topo_setup(comm);
    if (r == haloSuccess)
        comm_plan_relay(comm);
    if (r == haloSuccess)
        r = comm_tune_setup(comm);
    if (r == haloSuccess) {
        comm_log_peers(comm);
        comm_warn_failover(comm);
    }
    if (r == haloSuccess)
        r = comm_connect(comm);
    return r;
}

static haloResult_t comm_read_config(struct halo_comm *comm, const haloConfig_t *user, haloConfig_t *out)
{
    haloConfig_t def = HALO_CONFIG_INITIALIZER;
    *out = def;
    if (!user)
        return haloSuccess;
    size_t n = user->size < sizeof(*out) ? user->size : sizeof(*out);
    if (n < offsetof(haloConfig_t, version) + sizeof(unsigned))
        return halo_error(comm, haloInvalidArgument, "config.size %zu is too small: initialise the config with "
                          "HALO_CONFIG_INITIALIZER", user->size);
    memcpy(out, user, n);
    if (out->magic != HALO_CONFIG_MAGIC)
        return halo_error(comm, haloInvalidArgument,
                          "config was not initialised with HALO_CONFIG_INITIALIZER (magic 0x%x)", out->magic);
    if (out->blocking != HALO_CONFIG_UNDEF_INT && out->blocking != 1)
        return halo_error(comm, haloInvalidArgument,
                          "config.blocking=%d: only blocking communicators (1) are supported in host mode",
                          out->blocking);
    if (out->commName)
        snprintf(comm->name, sizeof(comm->name), "%s", out->commName);
    out->commName = NULL; /* copied; never keep the caller's pointer */
    return haloSuccess;
}

static haloResult_t comm_init(haloComm_t *out, int nranks, const haloUniqueId *id, int rank,
                              const haloConfig_t *user_cfg)
{
    comm_log_banner(rank);
    if (!out)
        return halo_error(NULL, haloInvalidArgument, "haloCommInitRank: comm pointer is NULL");
    if (nranks < 1)
        return halo_error(NULL, haloInvalidArgument, "haloCommInitRank: nranks %d must be >= 1", nranks);
    if (rank < 0 || rank >= nranks)
        return halo_error(NULL, haloInvalidArgument, "haloCommInitRank: rank %d is out of range for %d ranks", rank,
                          nranks);
    struct halo_uid uid;
    haloResult_t r = bootstrap_uid_decode(id, &uid);
    if (r != haloSuccess)
        return r;
    struct halo_comm *comm = calloc(1, sizeof(*comm));
    if (!comm)
        return halo_error(NULL, haloSystemError, "haloCommInitRank: out of memory");
    comm->relay_ch = -1;
    pthread_mutex_init(&comm->err_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* comm_life.c waits with a monotonic deadline */
    pthread_cond_init(&comm->calls_done, &ca);
    pthread_condattr_destroy(&ca);
    comm->magic = HALO_COMM_MAGIC;
    comm->rank = rank;
    comm->nranks = nranks;
    haloConfig_t cfg;
    r = comm_read_config(comm, user_cfg, &cfg);
    if (r == haloSuccess)
        r = comm_apply_params(comm, &cfg);
    if (r == haloSuccess)
        r = comm_setup(comm, id);
    if (r == haloSuccess && comm_registry_add(comm) != 0)
        r = halo_error(comm, haloSystemError, "rank %d: out of memory", rank);
    if (r != haloSuccess) {
        halo_thread_set_error(comm->last_error);
        if (comm->bs) {
            char msg[HALO_ERRLEN + 8];
            snprintf(msg, sizeof(msg), "%d|%s", (int)r, comm->last_error);
            bootstrap_send_abort(comm->bs, msg);
        }
        comm_free(comm);
        return r;
    }
    comm->ready = 1;
    HLOG_INFO(HALO_SUB_INIT, rank,
              "communicator %016" PRIx64 " ready: rank %d of %d, %d local, %d channel(s), %d CPU(s) shared by %d "
              "rank(s)%s%s",
              comm->comm_id, rank, nranks, comm->nlocal, comm->nchannels, comm->ncores, comm->nshare,
              comm->crowded ? ", crowded" : "", comm->yield ? ", yielding" : "");
    *out = comm;
    return haloSuccess;
}

/* ---- public API ---- */

HALO_API haloResult_t haloGetUniqueId(haloUniqueId *uniqueId)
{
    if (!uniqueId)
        return halo_error(NULL, haloInvalidArgument, "haloGetUniqueId: uniqueId is NULL");
    struct halo_params params;
    char err[512];
    if (halo_params_load(&params, err, sizeof(err)) != 0)
        return halo_error(NULL, haloInvalidArgument, "%s", err);
    comm_log_banner(-1); /* the root's BOOT lines come before any communicator */
    return bootstrap_root_start(uniqueId, &params, NULL, 0);
}

HALO_API haloResult_t haloCommInitRank(haloComm_t *comm, int nranks, haloUniqueId commId, int rank)
{
    return comm_init(comm, nranks, &commId, rank, NULL);
}

HALO_API haloResult_t haloCommInitRankConfig(haloComm_t *comm, int nranks, haloUniqueId commId, int rank,
                                             haloConfig_t *config)
{
    return comm_init(comm, nranks, &commId, rank, config);
}

haloResult_t comm_init_internal(haloComm_t *out, int nranks, const haloUniqueId *id, int rank,
                                const haloConfig_t *cfg)
{
    return comm_init(out, nranks, id, rank, cfg);
}

HALO_API haloResult_t haloCommCount(const haloComm_t comm, int *count)
{
    haloResult_t r = comm_enter(comm, "haloCommCount");
    if (r != haloSuccess)
        return r;
    if (!count)
        r = halo_error(comm, haloInvalidArgument, "haloCommCount: count is NULL");
    else
        *count = comm->nranks;
    return comm_leave(comm, r);
}

HALO_API haloResult_t haloCommUserRank(const haloComm_t comm, int *rank)
{
    haloResult_t r = comm_enter(comm, "haloCommUserRank");
    if (r != haloSuccess)
        return r;
    if (!rank)
        r = halo_error(comm, haloInvalidArgument, "haloCommUserRank: rank is NULL");
    else
        *rank = comm->rank;
    return comm_leave(comm, r);
}

HALO_API haloResult_t haloCommGetAsyncError(haloComm_t comm, haloResult_t *asyncError)
{
    haloResult_t r = comm_enter(comm, "haloCommGetAsyncError");
    if (r != haloSuccess)
        return r;
    if (!asyncError) {
        r = halo_error(comm, haloInvalidArgument, "haloCommGetAsyncError: asyncError is NULL");
    } else {
        if (atomic_load(&comm->async_error) == haloSuccess)
            comm_remote_aborted(comm);
        *asyncError = (haloResult_t)atomic_load(&comm->async_error);
    }
    return comm_leave(comm, r);
}

/* A copy in the calling thread: the communicator's own text may change under a
 * worker thread, and an abort in another thread may free it. */
HALO_API const char *haloGetLastError(haloComm_t comm)
{
    if (!comm_hold(comm))
        return halo_thread_last_error();
    const char *s = comm_error_snapshot(comm);
    comm_drop(comm);
    return s;
}
