/* SPDX-License-Identifier: MIT */
/*
 * test_gpu_rt.c — the GPU runtime loader (src/hip) against the fake HIP runtime
 * (tests/hip/fakehip.c): the choice of runtime, the error sentences, pointer
 * classes for ROCm 6 and 5 layouts, stream ordering, and capture into a graph.
 *
 * The table is loaded once per process, so every case runs in its own child
 * with its own environment.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gpu_rt.h"
#include "test.h"

static char log_path[256];

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static const struct gpu_rt *load_fake(const char *lib)
{
    const struct gpu_rt *rt = NULL;
    char err[512] = "";
    setenv("HALO_GPU_RUNTIME", "hip", 1);
    setenv("HALO_GPU_LIBRARY", lib, 1);
    if (gpu_rt_load(&rt, err, sizeof(err)) != 0)
        TEST_FAIL("loading the fake: %s", err);
    ASSERT_TRUE(rt != NULL);
    ASSERT_EQ(rt->kind, GPU_RT_HIP);
    ASSERT_TRUE(gpu_rt_get() == rt);
    return rt;
}

/* ------------------------------------------------------ runtime choice ---- */

static void case_none(void)
{
    const struct gpu_rt *rt = (const struct gpu_rt *)1;
    setenv("HALO_GPU_RUNTIME", "none", 1);
    setenv("HALO_GPU_LIBRARY", FAKEHIP_LIB, 1); /* ignored */
    ASSERT_OK(gpu_rt_load(&rt, NULL, 0));
    ASSERT_TRUE(rt == NULL);
    ASSERT_TRUE(gpu_rt_get() == NULL);
}

static void case_auto_host_mode(void)
{
    const struct gpu_rt *rt = (const struct gpu_rt *)1;
    char err[512] = "";
    setenv("HALO_GPU_RUNTIME", "auto", 1);
    setenv("HALO_GPU_LIBRARY", "/nonexistent/libnothing.so", 1);
    ASSERT_OK(gpu_rt_load(&rt, err, sizeof(err)));
    ASSERT_TRUE(rt == NULL);
    ASSERT_STREQ(err, "");
}

static void case_hip_missing(void)
{
    const struct gpu_rt *rt = NULL;
    char err[512] = "", again[512] = "";
    setenv("HALO_GPU_RUNTIME", "hip", 1);
    setenv("HALO_GPU_LIBRARY", "/nonexistent/libamdhip64.so.6", 1);
    ASSERT_EQ(gpu_rt_load(&rt, err, sizeof(err)), -1);
    ASSERT_CONTAINS(err, "/nonexistent/libamdhip64.so.6");
    ASSERT_CONTAINS(err, "HALO_GPU_LIBRARY");
    /* the outcome is cached: the same sentence, even with another environment */
    setenv("HALO_GPU_LIBRARY", FAKEHIP_LIB, 1);
    ASSERT_EQ(gpu_rt_load(&rt, again, sizeof(again)), -1);
    ASSERT_STREQ(again, err);
}

static void case_missing_symbol(void)
{
    const struct gpu_rt *rt = NULL;
    char err[512] = "";
    setenv("HALO_GPU_RUNTIME", "hip", 1);
    setenv("HALO_GPU_LIBRARY", FAKEHIP_NOWAIT_LIB, 1);
    ASSERT_EQ(gpu_rt_load(&rt, err, sizeof(err)), -1);
    ASSERT_CONTAINS(err, "hipStreamWaitValue32");
    ASSERT_CONTAINS(err, FAKEHIP_NOWAIT_LIB);
    /* auto refuses it too: the library is HIP, only broken */
}

static void case_auto_finds_fake(void)
{
    const struct gpu_rt *rt = NULL;
    char err[512] = "";
    setenv("HALO_GPU_RUNTIME", "auto", 1);
    setenv("HALO_GPU_LIBRARY", FAKEHIP_LIB, 1);
    ASSERT_OK(gpu_rt_load(&rt, err, sizeof(err)));
    ASSERT_TRUE(rt != NULL);
    ASSERT_EQ(rt->kind, GPU_RT_HIP);
    ASSERT_STREQ(rt->lib_path, FAKEHIP_LIB);
    ASSERT_EQ(rt->device_count, 1);
    char desc[256];
    gpu_rt_describe(rt, desc, sizeof(desc));
    ASSERT_CONTAINS(desc, "HIP 6.4.43483");
}

/* -------------------------------------------------------- pointer classes ---- */

static void check_classes(const struct gpu_rt *rt)
{
    struct gpu_ptr_attr a;
    void *dev = NULL, *host = NULL, *managed = NULL;
    char *plain = malloc(8192);

    ASSERT_OK(rt->dev_alloc(&dev, 4096));
    ASSERT_OK(rt->host_alloc(&host, 4096));
    ASSERT_OK(rt->managed_alloc(&managed, 4096));

    ASSERT_OK(rt->ptr_attr(&a, (char *)dev + 100));
    ASSERT_EQ(a.type, GPU_MEM_DEVICE);
    ASSERT_EQ(a.device, 0);
    ASSERT_OK(rt->ptr_attr(&a, host));
    ASSERT_EQ(a.type, GPU_MEM_HOST);
    ASSERT_TRUE(a.host_ptr == host);
    ASSERT_OK(rt->ptr_attr(&a, managed));
    ASSERT_EQ(a.type, GPU_MEM_MANAGED);
    ASSERT_OK(rt->ptr_attr(&a, plain));
    ASSERT_EQ(a.type, GPU_MEM_UNREGISTERED);
    ASSERT_EQ(a.device, -1);

    ASSERT_OK(rt->host_register(plain, 8192));
    ASSERT_OK(rt->ptr_attr(&a, plain + 4000));
    ASSERT_EQ(a.type, GPU_MEM_HOST);
    ASSERT_OK(rt->host_unregister(plain));
    ASSERT_OK(rt->ptr_attr(&a, plain));
    ASSERT_EQ(a.type, GPU_MEM_UNREGISTERED);

    ASSERT_OK(rt->dev_free(dev));
    ASSERT_OK(rt->host_free(host));
    ASSERT_OK(rt->host_free(managed));
    free(plain);
}

static void case_classes_rocm6(void)
{
    const struct gpu_rt *rt = load_fake(FAKEHIP_LIB);
    ASSERT_TRUE(rt->runtime_version >= 60000000);
    check_classes(rt);
}

static void case_classes_rocm5(void)
{
    setenv("FAKEHIP_ROCM", "5", 1);
    const struct gpu_rt *rt = load_fake(FAKEHIP_LIB);
    ASSERT_TRUE(rt->runtime_version < 60000000);
    check_classes(rt);
}

static void case_attributes(void)
{
    int v = -1;
    setenv("FAKEHIP_NO_MEMOPS", "1", 1);
    setenv("FAKEHIP_INTEGRATED", "1", 1);
    const struct gpu_rt *rt = load_fake(FAKEHIP_LIB);
    ASSERT_OK(rt->device_attr(&v, GPU_ATTR_STREAM_MEM_OPS, 0));
    ASSERT_EQ(v, 0);
    ASSERT_OK(rt->device_attr(&v, GPU_ATTR_INTEGRATED, 0));
    ASSERT_EQ(v, 1);
    ASSERT_OK(rt->device_attr(&v, GPU_ATTR_CAN_MAP_HOST, 0));
    ASSERT_EQ(v, 1);
    ASSERT_CONTAINS(rt->device0_name, "integrated");
    uint32_t *flag = NULL;
    ASSERT_OK(rt->host_alloc((void **)&flag, 64));
    ASSERT_NE(rt->stream_write32(NULL, flag, 1), 0);
}

static void case_attributes_default(void)
{
    int v = -1;
    const struct gpu_rt *rt = load_fake(FAKEHIP_LIB);
    ASSERT_OK(rt->device_attr(&v, GPU_ATTR_STREAM_MEM_OPS, 0));
    ASSERT_EQ(v, 1);
    ASSERT_OK(rt->device_attr(&v, GPU_ATTR_INTEGRATED, 0));
    ASSERT_EQ(v, 0);
}

/* ----------------------------------------------------------- stream order ---- */

struct probe {
    const volatile uint8_t *dst; /* must already hold the copy when the host fn runs */
    int calls;
    int saw_copy;
};

static void probe_fn(void *arg)
{
    struct probe *p = arg;
    p->calls++;
    p->saw_copy = p->dst[0] == 0xa5 && p->dst[4095] == (uint8_t)(0xa5 ^ 4095);
}

/* The op names of the log's lines, in order, as one string. */
static void read_ops(char *out, size_t len)
{
    char line[256], op[32];
    FILE *f = fopen(log_path, "r");
    out[0] = '\0';
    ASSERT_TRUE(f != NULL);
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "stream %*d %31s", op) == 1) {
            strncat(out, op, len - strlen(out) - 1);
            strncat(out, " ", len - strlen(out) - 1);
        }
    }
    fclose(f);
}

static void case_stream_order(void)
{
    setenv("FAKEHIP_LOG", log_path, 1);
    const struct gpu_rt *rt = load_fake(FAKEHIP_LIB);
    void *stream = NULL, *ev = NULL, *dev = NULL;
    uint32_t *flags = NULL;
    uint8_t *src = NULL, *dst = NULL;
    struct probe pr = { 0 };

    ASSERT_OK(rt->stream_create(&stream));
    ASSERT_OK(rt->event_create(&ev));
    ASSERT_OK(rt->dev_alloc(&dev, 4096));
    ASSERT_OK(rt->host_alloc((void **)&flags, 64));
    ASSERT_OK(rt->host_alloc((void **)&src, 4096));
    ASSERT_OK(rt->host_alloc((void **)&dst, 4096));
    for (int i = 0; i < 4096; i++)
        src[i] = (uint8_t)(0xa5 ^ i);
    memset(dst, 0, 4096);
    flags[0] = flags[1] = 0;
    pr.dst = dst;

    ASSERT_OK(rt->stream_wait32(stream, &flags[0], 3, GPU_WAIT_GEQ));
    ASSERT_OK(rt->memcpy_async(dev, src, 4096, stream));
    ASSERT_OK(rt->memcpy_async(dst, dev, 4096, stream));
    ASSERT_OK(rt->launch_host_fn(stream, probe_fn, &pr));
    ASSERT_OK(rt->stream_write32(stream, &flags[1], 7));
    ASSERT_OK(rt->event_record(ev, stream));

    sleep_ms(50); /* nothing may pass the wait */
    ASSERT_EQ(rt->event_query(ev), rt->not_ready);
    ASSERT_EQ(__atomic_load_n(&flags[1], __ATOMIC_SEQ_CST), 0);
    ASSERT_EQ(dst[0], 0);
    ASSERT_EQ(pr.calls, 0);

    __atomic_store_n(&flags[0], 2, __ATOMIC_SEQ_CST); /* still below 3 */
    sleep_ms(30);
    ASSERT_EQ(rt->event_query(ev), rt->not_ready);
    __atomic_store_n(&flags[0], 3, __ATOMIC_SEQ_CST);
    ASSERT_OK(rt->event_sync(ev));
    ASSERT_OK(rt->event_query(ev));
    ASSERT_EQ(pr.calls, 1);
    ASSERT_EQ(pr.saw_copy, 1);
    ASSERT_EQ(__atomic_load_n(&flags[1], __ATOMIC_SEQ_CST), 7);
    ASSERT_EQ(dst[1234], (uint8_t)(0xa5 ^ 1234));

    /* EQ waits for exactly the value */
    ASSERT_OK(rt->stream_wait32(stream, &flags[0], 9, GPU_WAIT_EQ));
    ASSERT_OK(rt->stream_write32(stream, &flags[1], 8));
    __atomic_store_n(&flags[0], 10, __ATOMIC_SEQ_CST);
    sleep_ms(30);
    ASSERT_EQ(__atomic_load_n(&flags[1], __ATOMIC_SEQ_CST), 7);
    __atomic_store_n(&flags[0], 9, __ATOMIC_SEQ_CST);
    ASSERT_OK(rt->stream_sync(stream));
    ASSERT_EQ(__atomic_load_n(&flags[1], __ATOMIC_SEQ_CST), 8);

    char ops[512];
    read_ops(ops, sizeof(ops));
    ASSERT_STREQ(ops, "wait32 memcpy memcpy hostfn write32 event wait32 write32 ");
    ASSERT_OK(rt->stream_destroy(stream));
    ASSERT_OK(rt->event_destroy(ev));
}

/* ROCm 5.2 exports no hipLaunchHostFunc: host functions go through stream
 * callbacks, still in stream order. */
static void case_hostfn_fallback(void)
{
    setenv("FAKEHIP_ROCM", "5", 1);
    const struct gpu_rt *rt = load_fake(FAKEHIP_NOHOSTFN_LIB);
    void *stream = NULL;
    uint32_t *flags = NULL;
    struct probe pr = { 0 };
    uint8_t *src = NULL, *dst = NULL;

    ASSERT_OK(rt->stream_create(&stream));
    ASSERT_OK(rt->host_alloc((void **)&flags, 64));
    ASSERT_OK(rt->host_alloc((void **)&src, 4096));
    ASSERT_OK(rt->host_alloc((void **)&dst, 4096));
    for (int i = 0; i < 4096; i++)
        src[i] = (uint8_t)(0xa5 ^ i);
    flags[0] = 0;
    pr.dst = dst;
    ASSERT_OK(rt->stream_wait32(stream, &flags[0], 1, GPU_WAIT_GEQ));
    ASSERT_OK(rt->memcpy_async(dst, src, 4096, stream));
    ASSERT_OK(rt->launch_host_fn(stream, probe_fn, &pr));
    sleep_ms(30);
    ASSERT_EQ(pr.calls, 0);
    __atomic_store_n(&flags[0], 1, __ATOMIC_SEQ_CST);
    ASSERT_OK(rt->stream_sync(stream));
    ASSERT_EQ(pr.calls, 1);
    ASSERT_EQ(pr.saw_copy, 1);
}

/* ---------------------------------------------------------------- capture ---- */

static void count_fn(void *arg)
{
    __atomic_add_fetch((int *)arg, 1, __ATOMIC_SEQ_CST);
}

static void case_capture(void)
{
    const struct gpu_rt *rt = load_fake(FAKEHIP_LIB);
    void *stream = NULL, *graph = NULL, *exec = NULL, *dev = NULL;
    uint32_t *flags = NULL;
    uint8_t *out = NULL;
    int count = 0, old = -1, old2 = -1;
    enum gpu_capture st;

    ASSERT_OK(rt->capture_mode_relaxed(&old));
    ASSERT_EQ(old, 0); /* the thread's default: global */
    ASSERT_OK(rt->capture_mode_relaxed(&old2));
    ASSERT_EQ(old2, 2); /* relaxed, as set */
    ASSERT_OK(rt->capture_mode_restore(old));

    ASSERT_OK(rt->stream_create(&stream));
    ASSERT_OK(rt->dev_alloc(&dev, 256));
    ASSERT_OK(rt->host_alloc((void **)&flags, 64));
    ASSERT_OK(rt->host_alloc((void **)&out, 256));
    flags[0] = flags[1] = 0;

    ASSERT_OK(rt->stream_capturing(stream, &st));
    ASSERT_EQ(st, GPU_CAPTURE_NONE);
    ASSERT_OK(rt->capture_begin(stream));
    ASSERT_OK(rt->stream_capturing(stream, &st));
    ASSERT_EQ(st, GPU_CAPTURE_ACTIVE);
    ASSERT_OK(rt->stream_wait32(stream, &flags[0], 1, GPU_WAIT_GEQ));
    ASSERT_OK(rt->memset_async(dev, 0x3c, 256, stream));
    ASSERT_OK(rt->memcpy_async(out, dev, 256, stream));
    ASSERT_OK(rt->launch_host_fn(stream, count_fn, &count));
    ASSERT_OK(rt->stream_write32(stream, &flags[1], 5));
    ASSERT_OK(rt->capture_end(stream, &graph));
    ASSERT_OK(rt->stream_capturing(stream, &st));
    ASSERT_EQ(st, GPU_CAPTURE_NONE);

    ASSERT_OK(rt->stream_sync(stream)); /* recorded, not run: the wait did not block */
    ASSERT_EQ(count, 0);
    ASSERT_EQ(flags[1], 0);
    ASSERT_EQ(out[0], 0);

    ASSERT_OK(rt->graph_instantiate(&exec, graph));
    for (int launch = 1; launch <= 2; launch++) {
        __atomic_store_n(&flags[0], 0, __ATOMIC_SEQ_CST);
        __atomic_store_n(&flags[1], 0, __ATOMIC_SEQ_CST);
        ASSERT_OK(rt->graph_launch(exec, stream));
        sleep_ms(30);
        ASSERT_EQ(__atomic_load_n(&count, __ATOMIC_SEQ_CST), launch - 1); /* held by the replayed wait */
        __atomic_store_n(&flags[0], 1, __ATOMIC_SEQ_CST);
        ASSERT_OK(rt->stream_sync(stream));
        ASSERT_EQ(count, launch);
        ASSERT_EQ(flags[1], 5);
        ASSERT_EQ(out[255], 0x3c);
    }
    ASSERT_OK(rt->graph_exec_destroy(exec));
    ASSERT_OK(rt->graph_destroy(graph));
    ASSERT_OK(rt->stream_destroy(stream));
}

/* The ROCm bug the fake can emulate: a wait issued during capture runs on the
 * stream at once and is missing from the graph. */
static void case_capture_eager(void)
{
    setenv("FAKEHIP_CAPTURE_EAGER", "1", 1);
    const struct gpu_rt *rt = load_fake(FAKEHIP_LIB);
    void *stream = NULL, *graph = NULL, *exec = NULL, *ev = NULL;
    uint32_t *flags = NULL;

    ASSERT_OK(rt->stream_create(&stream));
    ASSERT_OK(rt->event_create(&ev));
    ASSERT_OK(rt->host_alloc((void **)&flags, 64));
    flags[0] = flags[1] = 0;
    ASSERT_OK(rt->capture_begin(stream));
    ASSERT_OK(rt->stream_wait32(stream, &flags[0], 1, GPU_WAIT_GEQ));
    ASSERT_OK(rt->stream_write32(stream, &flags[1], 5));
    ASSERT_OK(rt->capture_end(stream, &graph));
    ASSERT_OK(rt->event_record(ev, stream));
    sleep_ms(30);
    ASSERT_EQ(rt->event_query(ev), rt->not_ready); /* the eager wait holds the stream */
    __atomic_store_n(&flags[0], 1, __ATOMIC_SEQ_CST);
    ASSERT_OK(rt->event_sync(ev));
    ASSERT_EQ(flags[1], 0);
    __atomic_store_n(&flags[0], 0, __ATOMIC_SEQ_CST);
    ASSERT_OK(rt->graph_instantiate(&exec, graph));
    ASSERT_OK(rt->graph_launch(exec, stream)); /* the replay has no wait */
    ASSERT_OK(rt->stream_sync(stream));
    ASSERT_EQ(flags[1], 5);
}

/* ------------------------------------------------------------------ runner ---- */

static const struct {
    const char *name;
    void (*fn)(void);
} cases[] = {
    { "none", case_none },
    { "auto_host_mode", case_auto_host_mode },
    { "hip_missing", case_hip_missing },
    { "missing_symbol", case_missing_symbol },
    { "auto_finds_fake", case_auto_finds_fake },
    { "classes_rocm6", case_classes_rocm6 },
    { "classes_rocm5", case_classes_rocm5 },
    { "attributes", case_attributes },
    { "attributes_default", case_attributes_default },
    { "stream_order", case_stream_order },
    { "hostfn_fallback", case_hostfn_fallback },
    { "capture", case_capture },
    { "capture_eager", case_capture_eager },
};

int main(int argc, char **argv)
{
    int failed = 0;
    snprintf(log_path, sizeof(log_path), "/tmp/test_gpu_rt.%d.log", (int)getpid());
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
            continue;
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            unsetenv("FAKEHIP_ROCM");
            cases[i].fn();
            /* _exit: the cases leave the fake's streams and graphs alive, as a
             * process would leave a real GPU's; LeakSanitizer's exit check
             * would count them. A failed assertion still exits 1. */
            fflush(NULL);
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        printf("%-20s %s", cases[i].name, ok ? "ok\n" : "FAILED");
        if (!ok)
            printf(" (%s %d)\n", WIFSIGNALED(status) ? "signal" : "exit",
                   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        failed += !ok;
    }
    unlink(log_path);
    return failed ? 1 : 0;
}
