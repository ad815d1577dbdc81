// SPDX-License-Identifier: MIT
/*
 * gloo_allreduce_bw.cc — the allreduce_bw sweep around Gloo's allreduce (float32 sum,
 * out of place, gloo::allreduce with its default algorithm, the ring) over Gloo's tcp
 * transport on loopback, measured as allreduce_bw and mpi_allreduce_bw measure:
 * warm-up calls, a barrier, back-to-back timed calls; time = the mean of one call on
 * each rank, then the maximum over ranks; busbw = algbw x 2(n-1)/n. After each size one
 * more call on a poisoned output is checked element by element (inputs differ per rank
 * and per element); #wrong is summed over ranks and makes the exit status 1.
 *
 *   gloo_allreduce_bw -n 2 [-b 8] [-e 64m] [-f 2] [-w 5] [--json]
 *
 * The parent forks the N ranks before any Gloo object exists; they meet through a
 * gloo::rendezvous::FileStore in a fresh temporary directory (removed at the end).
 * Gloo has no shared-memory transport: ranks on one host talk over loopback TCP.
 * --json prints per size the object allreduce_bw --json prints, out-of-place keys only.
 */
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/transport/tcp/device.h>

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "size_arg.h"

namespace {

struct Opts {
    size_t minbytes = 8, maxbytes = 64u << 20, factor = 2;
    int warmup = 5, nranks = 0, json = 0;
};

using ReduceFn = void (*)(void *, const void *, const void *, size_t);

bool parse_opts(int argc, char **argv, Opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : nullptr;
        size_t n;

        if (!strcmp(a, "--json")) {
            o->json = 1;
            continue;
        }
        if (!v || baseline_parse_size(v, &n) != 0) {
            fprintf(stderr, "gloo_allreduce_bw: %s needs a number; usage: -n NRANKS [-b MIN] [-e MAX] [-f FACTOR] "
                            "[-w WARMUP] [--json]\n", a);
            return false;
        }
        if (!strcmp(a, "-n"))
            o->nranks = (int)n;
        else if (!strcmp(a, "-b"))
            o->minbytes = n;
        else if (!strcmp(a, "-e"))
            o->maxbytes = n;
        else if (!strcmp(a, "-f"))
            o->factor = n;
        else if (!strcmp(a, "-w"))
            o->warmup = (int)n;
        else {
            fprintf(stderr, "gloo_allreduce_bw: unknown option %s\n", a);
            return false;
        }
        i++;
    }
    if (o->nranks < 1 || o->nranks > 64 || o->factor < 2 || o->minbytes < 4 || o->maxbytes < o->minbytes) {
        fprintf(stderr, "gloo_allreduce_bw: want -n 1..64, 4 <= -b <= -e and -f >= 2\n");
        return false;
    }
    return true;
}

// Input of rank r at element i: an integer in [-8, 8], different per rank and per
// element (the same function as mpi_allreduce_bw's), so every partial sum is exact.
float input_value(int rank, size_t i)
{
    uint32_t h = (uint32_t)i * 2654435761u ^ (uint32_t)(rank + 1) * 40503u;
    h ^= h >> 13;
    return (float)((int)(h % 17) - 8);
}

// One value reduced over every rank with fn (a small helper allreduce).
template <typename T>
T reduce_one(const std::shared_ptr<gloo::Context> &ctx, T v, ReduceFn fn)
{
    gloo::AllreduceOptions opts(ctx);
    opts.setOutput(&v, 1);
    opts.setReduceFunction(fn);
    gloo::allreduce(opts);
    return v;
}

// One more call on a poisoned output; returns the number of wrong elements here.
long check_size(gloo::AllreduceOptions &opts, float *out, size_t count, int rank, int n)
{
    long wrong = 0;

    for (size_t i = 0; i < count; i++)
        out[i] = 3.0e38f;
    gloo::allreduce(opts);
    for (size_t i = 0; i < count; i++) {
        float want = 0;
        for (int r = 0; r < n; r++)
            want += input_value(r, i);
        if (out[i] != want && wrong++ < 3)
            fprintf(stderr, "gloo_allreduce_bw: rank %d: element %zu of %zu is %g, want %g\n", rank, i, count,
                    (double)out[i], (double)want);
    }
    return wrong;
}

void print_row(const Opts &o, size_t size, size_t count, size_t iters, double tmax, long wrong)
{
    int n = o.nranks;
    double algbw = (double)size / tmax / 1e9, busbw = algbw * 2.0 * (n - 1) / n;

    if (o.json)
        printf("{\"tool\":\"gloo_allreduce_bw\",\"nranks\":%d,\"size\":%zu,\"count\":%zu,\"iters\":%zu,"
               "\"warmup\":%d,\"oop_time_us\":%.3f,\"oop_algbw\":%.4f,\"oop_busbw\":%.4f,\"oop_wrong\":%ld}\n",
               n, size, count, iters, o.warmup, tmax * 1e6, algbw, busbw, wrong);
    else
        printf(" %12zu %13zu %10.2f %8.3f %8.3f %8ld\n", size, count, tmax * 1e6, algbw, busbw, wrong);
    fflush(stdout);
}

// One rank's whole sweep; returns the exit status.
int run_rank(const Opts &o, int rank, const std::string &store_dir)
{
    const ReduceFn sum_f = &gloo::sum<float>, sum_l = &gloo::sum<int64_t>, max_d = &gloo::max<double>;
    gloo::transport::tcp::attr attr("127.0.0.1");
    auto dev = gloo::transport::tcp::CreateDevice(attr);
    gloo::rendezvous::FileStore store(store_dir);
    auto ctx = std::make_shared<gloo::rendezvous::Context>(rank, o.nranks);
    ctx->setTimeout(std::chrono::seconds(300)); // 256 MiB on 4 ranks sharing 2 cores is slow
    ctx->connectFullMesh(store, dev);

    std::vector<float> in(o.maxbytes / 4), out(o.maxbytes / 4);
    for (size_t i = 0; i < in.size(); i++)
        in[i] = input_value(rank, i);
    if (rank == 0 && !o.json)
        printf("# gloo_allreduce_bw: %d ranks, float32 sum, tcp over loopback\n#%12s %13s %10s %8s %8s %8s\n",
               o.nranks, "size(B)", "count", "time(us)", "algbw", "busbw", "#wrong");
    int status = 0;
    for (size_t size = o.minbytes; size <= o.maxbytes; size *= o.factor) {
        size_t count = size / 4;
        // As allreduce_bw's "-i auto": 256 MiB / size calls, clamped to 3..200.
        size_t iters = (256u << 20) / size;
        iters = iters < 3 ? 3 : iters > 200 ? 200 : iters;
        gloo::AllreduceOptions opts(ctx);
        opts.setInput(in.data(), count);
        opts.setOutput(out.data(), count);
        opts.setReduceFunction(sum_f);
        for (int w = 0; w < o.warmup; w++)
            gloo::allreduce(opts);
        gloo::BarrierOptions bar(ctx);
        gloo::barrier(bar);
        auto t0 = std::chrono::steady_clock::now();
        for (size_t it = 0; it < iters; it++)
            gloo::allreduce(opts);
        double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / (double)iters;
        double tmax = reduce_one(ctx, t, max_d);
        long wrong = (long)reduce_one<int64_t>(ctx, check_size(opts, out.data(), count, rank, o.nranks), sum_l);
        if (wrong)
            status = 1;
        if (rank == 0)
            print_row(o, size, count, iters, tmax, wrong);
    }
    return status;
}

// Removes the FileStore's files and its directory.
void remove_store(const std::string &dir)
{
    DIR *d = opendir(dir.c_str());
    if (d) {
        while (struct dirent *e = readdir(d))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                unlink((dir + "/" + e->d_name).c_str());
        closedir(d);
    }
    rmdir(dir.c_str());
}

} // namespace

int main(int argc, char **argv)
{
    Opts o;
    if (!parse_opts(argc, argv, &o))
        return 2;
    const char *tmp = getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/gloo_allreduce_bw.XXXXXX";
    std::vector<char> path(templ.begin(), templ.end());
    path.push_back('\0');
    if (!mkdtemp(path.data())) {
        perror("gloo_allreduce_bw: mkdtemp");
        return 1;
    }
    std::string store_dir(path.data());

    std::vector<pid_t> pids;
    for (int r = 0; r < o.nranks; r++) {
        pid_t pid = fork();
        if (pid == 0) {
            int st;
            try {
                st = run_rank(o, r, store_dir);
            } catch (const std::exception &e) {
                fprintf(stderr, "gloo_allreduce_bw: rank %d: %s\n", r, e.what());
                st = 1;
            }
            fflush(stdout);
            _exit(st);
        }
        if (pid < 0) {
            perror("gloo_allreduce_bw: fork");
            break;
        }
        pids.push_back(pid);
    }
    // A rank that fails leaves the others waiting on it until Gloo's timeout:
    // end them at the first failure.
    int status = (int)pids.size() == o.nranks ? 0 : 1;
    for (size_t left = pids.size(); left > 0; left--) {
        int ws;
        pid_t pid = wait(&ws);
        if (pid < 0)
            break;
        if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
            if (!status)
                fprintf(stderr, "gloo_allreduce_bw: a rank (pid %d) failed; ending the others\n", (int)pid);
            status = 1;
        }
        for (pid_t &p : pids) {
            if (p == pid)
                p = 0; // reaped: its pid may be reused
            else if (p > 0 && status)
                kill(p, SIGKILL);
        }
    }
    remove_store(store_dir);
    return status;
}
