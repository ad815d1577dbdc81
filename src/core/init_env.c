/* SPDX-License-Identifier: MIT */
/*
 * init_env.c — haloCommInitEnv: a communicator from what launchers put in the
 * environment, so `mpirun -np 4 prog`, `srun prog` and `torchrun prog` just work.
 *
 * Rank and size, first found wins:
 *   HALO_RANK / HALO_NRANKS, OMPI_COMM_WORLD_RANK / _SIZE (OpenMPI),
 *   PMI_RANK / PMI_SIZE (MPICH, Intel MPI), SLURM_PROCID / SLURM_NTASKS,
 *   RANK / WORLD_SIZE (torchrun).
 * Root address: HALO_ROOT=host:port; else MASTER_ADDR with MASTER_PORT + 1
 * (torchrun's own store holds MASTER_PORT); else, when the launcher says all ranks
 * share this host, 127.0.0.1 with a port derived from the launcher's job id.
 * Secret: HALO_SECRET or HALO_SECRET_FILE (turned into a key with SHA-256); rank
 * 0 serves the root with it. Without one the job runs unauthenticated and says so.
 */
#define HALO_ERR_SUBSYS HALO_SUB_ENV /* errors recorded here log under this subsystem */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "bootstrap.h"
#include "comm.h"
#include "error.h"
#include "hash.h"
#include "log.h"
#include "param.h"

struct env_launch {
    int rank, nranks;
    const char *rank_var, *size_var;
};

static const char *const env_pairs[][2] = {
    {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
    {"PMI_RANK", "PMI_SIZE"},
    {"SLURM_PROCID", "SLURM_NTASKS"},
    {"RANK", "WORLD_SIZE"},
};

static haloResult_t env_int(const char *name, int64_t *out)
{
    const char *v = getenv(name);
    if (halo_parse_int(v, 0, out) != 0 || *out < 0 || *out > 1 << 20)
        return halo_error(NULL, haloInvalidArgument, "haloCommInitEnv: %s=\"%s\" is not a valid rank/size", name,
                          v ? v : "");
    return haloSuccess;
}

static haloResult_t env_find_ranks(const struct halo_params *p, struct env_launch *l)
{
    int64_t rank = HALO_P_INT(p, rank), size = HALO_P_INT(p, nranks);
    l->rank_var = "HALO_RANK";
    l->size_var = "HALO_NRANKS";
    for (size_t i = 0; (rank == HALO_AUTO || size == HALO_AUTO) && i < sizeof(env_pairs) / sizeof(env_pairs[0]); i++) {
        if (!getenv(env_pairs[i][0]) || !getenv(env_pairs[i][1]))
            continue;
        haloResult_t r = env_int(env_pairs[i][0], &rank);
        if (r == haloSuccess)
            r = env_int(env_pairs[i][1], &size);
        if (r != haloSuccess)
            return r;
        l->rank_var = env_pairs[i][0];
        l->size_var = env_pairs[i][1];
    }
    if (rank == HALO_AUTO || size == HALO_AUTO)
        return halo_error(NULL, haloInvalidArgument,
                          "haloCommInitEnv: no rank/size in the environment: set HALO_RANK and HALO_NRANKS (and "
                          "HALO_ROOT), or start the program with mpirun, srun or torchrun");
    if (size < 1 || rank >= size)
        return halo_error(NULL, haloInvalidArgument, "haloCommInitEnv: %s=%" PRId64 " is out of range for %s=%" PRId64,
                          l->rank_var, rank, l->size_var, size);
    l->rank = (int)rank;
    l->nranks = (int)size;
    return haloSuccess;
}

static int env_all_local(int nranks)
{
    const char *vars[] = {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE", "LOCAL_WORLD_SIZE"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        int64_t v;
        if (getenv(vars[i]) && halo_parse_int(getenv(vars[i]), 0, &v) == 0)
            return v == nranks;
    }
    return 0;
}

static uint64_t env_job_hash(void)
{
    const char *vars[] = {"OMPI_MCA_ess_base_jobid", "OMPI_MCA_orte_ess_jobid", "PMI_ID", "SLURM_JOB_ID",
                          "TORCHELASTIC_RUN_ID"};
    uint64_t h = HALO_FNV_INIT ^ (uint64_t)getuid();
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        h = halo_fnv_str(h, getenv(vars[i]));
    return h;
}

static haloResult_t env_root_addr(const struct halo_params *p, int nranks, struct halo_sockaddr *root)
{
    char err[256], text[300];
    const char *src = "HALO_ROOT";
    if (*HALO_P_STR(p, root)) {
        snprintf(text, sizeof(text), "%s", HALO_P_STR(p, root));
    } else if (getenv("MASTER_ADDR") && getenv("MASTER_PORT")) {
        int64_t port;
        if (halo_parse_int(getenv("MASTER_PORT"), 0, &port) != 0 || port < 1 || port > 65534)
            return halo_error(NULL, haloInvalidArgument, "haloCommInitEnv: MASTER_PORT=\"%s\" is not a port",
                              getenv("MASTER_PORT"));
        snprintf(text, sizeof(text), "%s:%" PRId64, getenv("MASTER_ADDR"), port + 1);
        src = "MASTER_ADDR/MASTER_PORT+1";
    } else if (env_all_local(nranks)) {
        snprintf(text, sizeof(text), "127.0.0.1:%u", (unsigned)(20000 + env_job_hash() % 20000));
        src = "a port derived from the launcher's job id on 127.0.0.1";
    } else {
        return halo_error(NULL, haloInvalidArgument,
                          "haloCommInitEnv: no root address: set HALO_ROOT=host:port to an address of rank 0's host "
                          "that every rank can reach (e.g. mpirun -x HALO_ROOT=node0:29500)");
    }
    if (halo_sockaddr_parse(text, root, err, sizeof(err)) != 0)
        return halo_error(NULL, haloInvalidArgument, "haloCommInitEnv: root address \"%s\" from %s: %s", text, src,
                          err);
    HLOG_INFO(HALO_SUB_BOOT, -1, "root address %s from %s", text, src);
    return haloSuccess;
}

static haloResult_t env_read_secret_file(const char *path, uint8_t key[HALO_SECRET_BYTES])
{
    FILE *f = fopen(path, "r");
    if (!f)
        return halo_error(NULL, haloInvalidArgument, "haloCommInitEnv: HALO_SECRET_FILE=%s: %s", path,
                          strerror(errno));
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n == 0)
        return halo_error(NULL, haloInvalidArgument, "haloCommInitEnv: HALO_SECRET_FILE=%s is empty", path);
    halo_secret_derive(buf, n, key);
    return haloSuccess;
}

static haloResult_t env_secret(const struct halo_params *p, uint8_t key[HALO_SECRET_BYTES], int *authenticated)
{
    const char *s = HALO_P_STR(p, secret), *file = HALO_P_STR(p, secret_file);
    memset(key, 0, HALO_SECRET_BYTES);
    *authenticated = 1;
    if (*s) {
        halo_secret_derive(s, strlen(s), key);
        return haloSuccess;
    }
    if (*file)
        return env_read_secret_file(file, key);
    *authenticated = 0;
    HLOG_WARN(HALO_SUB_BOOT, -1,
              "no HALO_SECRET or HALO_SECRET_FILE: the bootstrap is unauthenticated, any process that reaches the "
              "root address can join; set a shared secret on every rank");
    return haloSuccess;
}

static uint64_t env_job_id(const struct halo_sockaddr *root, const uint8_t key[HALO_SECRET_BYTES])
{
    uint64_t h = halo_fnv_bytes(halo_fnv_bytes(HALO_FNV_INIT, root, sizeof(*root)), key, HALO_SECRET_BYTES);
    return h ^ env_job_hash();
}

HALO_API haloResult_t haloCommInitEnv(haloComm_t *comm)
{
    if (!comm)
        return halo_error(NULL, haloInvalidArgument, "haloCommInitEnv: comm pointer is NULL");
    struct halo_params p;
    char err[512];
    if (halo_params_load(&p, err, sizeof(err)) != 0)
        return halo_error(NULL, haloInvalidArgument, "%s", err);
    struct env_launch l = {0};
    struct halo_sockaddr root;
    uint8_t key[HALO_SECRET_BYTES];
    int authenticated;
    haloResult_t r = env_find_ranks(&p, &l);
    if (r == haloSuccess)
        comm_log_banner(l.rank); /* before the root's first BOOT line */
    if (r == haloSuccess)
        r = env_root_addr(&p, l.nranks, &root);
    if (r == haloSuccess)
        r = env_secret(&p, key, &authenticated);
    if (r != haloSuccess)
        return r;
    haloUniqueId id;
    struct sockaddr_storage ss;
    halo_sockaddr_to(&root, &ss);
    r = bootstrap_uid_from_addr(&id, &ss, key, authenticated, env_job_id(&root, key));
    if (r == haloSuccess && l.rank == 0)
        r = bootstrap_root_serve(&id, &p, l.nranks);
    if (r != haloSuccess)
        return r;
    HLOG_INFO(HALO_SUB_INIT, l.rank, "init from environment: rank %d of %d (%s/%s)", l.rank, l.nranks, l.rank_var,
              l.size_var);
    return comm_init_internal(comm, l.nranks, &id, l.rank, NULL);
}
