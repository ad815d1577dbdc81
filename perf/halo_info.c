/* SPDX-License-Identifier: MIT */
/*
 * halo_info.c — `halo-info`: what this build of haloccl is and how the
 * environment configures it.
 *
 *   halo-info            version, reduction kernel variant, parameter table
 *   halo-info --params   the parameter table (value and where it came from)
 *   halo-info --params-markdown   the README's parameter table, from params.def
 *   halo-info --algos    the algorithm table (HALO_ALGO words, collectives)
 *   halo-info --transports   the transport table (priority, capabilities) and
 *                        the room /dev/shm has for shm's FIFOs
 *   halo-info --nccl     which libnccl.so.2 / librccl.so.1 a process here loads,
 *                        whether it is haloccl's drop-in, the names it exports
 *   halo-info --nccl-env-markdown   the README's table of NCCL environment names
 *   halo-info --footprint [N,...] [--transport T,...]   memory, shm, threads and fds
 *                        one communicator costs each rank, measured on jobs of N ranks
 *   halo-info --version  the version line
 *
 * Exit status: 0, 2 when a parameter has a bad value (the error names it) or the
 * command line is wrong.
 */
#include <stdio.h>
#include <string.h>

#include "algos.h"
#include "halo_info_footprint.h"
#include "halo_info_nccl.h"
#include "haloccl.h"
#include "numa.h"
#include "nccl_env.h"
#include "param.h"
#include "reduce.h"
#include "wire.h"
#include "shm.h"
#include "transport.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: halo-info [--params | --params-markdown | --algos | --transports | --nccl | --nccl-env-markdown |\n"
            "                 --footprint [N,...] [--transport T,...] | --version | --help]\n"
            "  (no option)  version, reduction kernel variant, algorithms, transports and parameters\n"
            "  --params     every HALO_* parameter with its value, source, unit and help\n"
            "  --params-markdown  the README's parameter table (name, default, NCCL alias, help)\n"
            "  --algos      the algorithms: name, HALO_ALGO word or not, collectives it runs\n"
            "  --transports the transports in the order they are tried, with their capabilities\n"
            "  --nccl       which libnccl.so.2 / librccl.so.1 a process here loads, whether it is haloccl's,\n"
            "               and the NCCL names it exports\n"
            "  --nccl-env-markdown  the README's table of NCCL environment names and what they become\n"
            "  --footprint  what one communicator costs each rank (memory, shm, threads, fds), measured on\n"
            "               jobs of N local ranks (default 2,4,8) per transport (default shm,tcp)\n"
            "  --version    the library version\n"
            "  --help       this text\n");
}

static int print_version(void)
{
    int v = 0;

    if (haloGetVersion(&v) != haloSuccess) {
        fprintf(stderr, "halo-info: haloGetVersion failed\n");
        return 2;
    }
    printf("haloccl %d.%d.%d (version code %d)\n", v / 10000, v / 100 % 100, v % 100, v);
    return 0;
}

static int print_params(void)
{
    struct halo_params p;
    char err[512];

    if (halo_params_load(&p, err, sizeof(err)) != 0) {
        fprintf(stderr, "halo-info: %s\n", err);
        return 2;
    }
    halo_params_print(stdout, &p);
    return 0;
}

static int print_algos(void)
{
    int w = (int)strlen("ALGORITHM"); /* the name column fits the longest name */
    for (int i = 0; i < algo_count(); i++)
        w = (int)strlen(algo_at(i)->name) > w ? (int)strlen(algo_at(i)->name) : w;
    printf("%-*s %-9s %-50s %s\n", w, "ALGORITHM", "HALO_ALGO", "COLLECTIVES", "SUMMARY");
    for (int i = 0; i < algo_count(); i++) {
        const struct algo_row *a = algo_at(i);
        char colls[128] = "";
        size_t used = 0;
        for (int c = 0; c < HALO_COLL_NUM; c++)
            if (algo_has_schedule(a->algo, (enum halo_coll)c))
                used += (size_t)snprintf(colls + used, sizeof(colls) - used, "%s%s", used ? "," : "",
                                         halo_coll_name((enum halo_coll)c));
        printf("%-*s %-9s %-50s %s\n", w, a->name, a->word ? "yes" : "no", used ? colls : "send,recv", a->summary);
    }
    return 0;
}

static int print_transports(void)
{
    const struct halo_tp_setup *order[HALO_TP_MAX + 1];
    halo_tp_sorted(0, order);
    printf("%-9s %-8s %s\n", "TRANSPORT", "PRIORITY", "CAPABILITIES");
    for (int i = 0; order[i]; i++) {
        unsigned c = order[i]->caps;
        printf("%-9s %-8d %s%s%s%s\n", order[i]->name, order[i]->priority,
               c & HALO_TP_CAP_LOCAL ? "same-host " : "", c & HALO_TP_CAP_REMOTE ? "other-hosts " : "",
               c & HALO_TP_CAP_ZCOPY ? "zero-copy " : "", c & HALO_TP_CAP_REG ? "registration" : "");
    }
    /* shm's FIFOs live in /dev/shm: a container's is often too small for them. */
    char room[96];
    printf("shm room: /dev/shm: %s; each local rank allocates 2 x (local ranks - 1) x channels FIFOs of "
           "HALO_BUFFSIZE bytes (512 KiB by default) at init\n",
           halo_shm_room(room, sizeof(room)));
    /* and on which NUMA node a rank started like this process would get them */
    int nodes = halo_numa_nodes(NULL), node = halo_numa_self_node();
    if (nodes < 2)
        printf("shm NUMA: one node\n");
    else if (node >= 0)
        printf("shm NUMA: %d nodes, this process's CPUs lie in node %d: a rank started like it receives through "
               "FIFOs on node %d (HALO_SHM_NUMA)\n", nodes, node, node);
    else
        printf("shm NUMA: %d nodes, this process may run on CPUs of several: a rank started like it leaves its "
               "FIFOs' pages to first touch (bind it to one node: numactl --cpunodebind=N, mpirun --bind-to numa)\n",
               nodes);
    return 0;
}

static int print_all(void)
{
    int rc = print_version();

    if (rc != 0)
        return rc;
    printf("reduction kernels: %s, wire-format kernels: %s\n\n", halo_reduce_isa(), halo_wire_isa());
    print_algos();
    printf("\n");
    print_transports();
    printf("\n");
    return print_params();
}

int main(int argc, char **argv)
{
    if (argc == 1)
        return print_all();
    if (argc == 2 && strcmp(argv[1], "--params") == 0)
        return print_params();
    if (argc == 2 && strcmp(argv[1], "--params-markdown") == 0) {
        halo_params_print_markdown(stdout);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--nccl") == 0)
        return halo_info_nccl();
    if (argc == 2 && strcmp(argv[1], "--nccl-env-markdown") == 0) {
        halo_nccl_env_print_markdown(stdout);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--algos") == 0)
        return print_algos();
    if (argc == 2 && strcmp(argv[1], "--transports") == 0)
        return print_transports();
    if (argc >= 2 && strcmp(argv[1], "--footprint") == 0)
        return halo_info_footprint(argc - 2, argv + 2);
    if (argc == 2 && strcmp(argv[1], "--version") == 0)
        return print_version();
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 2;
}
