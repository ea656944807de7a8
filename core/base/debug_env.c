/* debug_env.c - reads the environment switches of debug_env.h once. */
#include "core/base/debug_env.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static y5_debug_env_t g_env;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static const char *var(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int flag(const char *name) {
    const char *v = var(name);
    return v && strcmp(v, "0") != 0;
}

static void read_env(void) {
    const char *v;
    g_env.isa = -1;
    if ((v = var("Y5_ISA"))) g_env.isa = !strcmp(v, "scalar") ? 0 : !strcmp(v, "avx2") || !strcmp(v, "neon") ? 1 : 2;
    g_env.winograd = (v = var("Y5_WINOGRAD")) ? atoi(v) : -1;
    g_env.no_cuda_graph = flag("Y5_NO_CUDA_GRAPH");
    g_env.cublas_out = -1;
    if ((v = var("Y5_CUBLAS_OUT"))) g_env.cublas_out = !strcmp(v, "f32") ? 0 : !strcmp(v, "f16") ? 1 : -2;
    g_env.conv_impl = -1;
    if ((v = var("Y5_CONV_IMPL")))
        g_env.conv_impl = !strcmp(v, "cublas") ? 0 : !strcmp(v, "mma") ? 1 : !strcmp(v, "auto") ? 2
                          : !strcmp(v, "wgmma") ? 3 : !strcmp(v, "tune") ? 4 : !strcmp(v, "v4") ? 5 : -2;
    g_env.tune_skip = 0;
    if ((v = var("Y5_TUNE_SKIP"))) { /* names as the runs' (cuda_backend.h's Y5_CUDA_RUN_* order) */
        static const char *const runs[] = {"cublas", "f16", "v3", "v5", "v4"};
        char buf[128];
        snprintf(buf, sizeof buf, "%s", v);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
            for (unsigned r = 1; r < sizeof runs / sizeof runs[0]; r++)
                if (!strcmp(t, runs[r])) g_env.tune_skip |= 1u << r;
    }
    g_env.cpu_nms = flag("Y5_CPU_NMS");
    g_env.nms_batch = !((v = var("Y5_NMS_BATCH")) && !strcmp(v, "0"));
    g_env.cpu_letterbox = flag("Y5_CPU_LETTERBOX");
    g_env.pipe_letterbox_engine = (v = var("Y5_PIPE_LETTERBOX")) && !strcmp(v, "engine");
    g_env.pipe_flush_ms = (v = var("Y5_PIPE_FLUSH_MS")) && atof(v) >= 0 ? atof(v) : -1;
    g_env.pipe_open_delay_ms = (v = var("Y5_PIPE_OPEN_DELAY_MS")) && atof(v) > 0 && atof(v) <= 60000 ? atof(v) : 0;
    g_env.conv_no_pad = (v = var("Y5_CONV_PAD")) && !strcmp(v, "0");
    g_env.pipe_overlap = (v = var("Y5_PIPE_OVERLAP")) ? strcmp(v, "0") != 0 : -1;
    g_env.cuda_decode = (v = var("Y5_CUDA_DECODE")) ? atoi(v) : 0;
    g_env.fault_engine = -1;
    int fi, used = 0;
    long long fn;
    if ((v = var("Y5_FAULT_ENGINE")) && sscanf(v, "%d:%lld%n", &fi, &fn, &used) == 2 && !v[used] && fi >= 0 && fn >= 0) {
        g_env.fault_engine = fi;
        g_env.fault_after = fn;
    }
}

const y5_debug_env_t *y5_debug_env(void) {
    pthread_once(&g_once, read_env);
    return &g_env;
}
