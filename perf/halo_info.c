/*
 * halo_info.c — `halo-info`: what this build of haloccl is and how the
 * environment configures it.
 *
 *   halo-info            version, reduction kernel variant, parameter table
 *   halo-info --params   the parameter table (value and where it came from)
 *   halo-info --version  the version line
 *
 * Exit status: 0, 2 when a parameter has a bad value (the error names it) or the
 * command line is wrong.
 */
#include <stdio.h>
#include <string.h>

#include "haloccl.h"
#include "param.h"
#include "reduce.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: halo-info [--params | --version | --help]\n"
            "  (no option)  version, reduction kernel variant and parameters\n"
            "  --params     every HALO_* parameter with its value, source, unit and help\n"
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

static int print_all(void)
{
    int rc = print_version();

    if (rc != 0)
        return rc;
    printf("reduction kernels: %s\n\n", halo_reduce_isa());
    return print_params();
}

int main(int argc, char **argv)
{
    if (argc == 1)
        return print_all();
    if (argc == 2 && strcmp(argv[1], "--params") == 0)
        return print_params();
    if (argc == 2 && strcmp(argv[1], "--version") == 0)
        return print_version();
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 2;
}
