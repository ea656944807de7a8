/* bench_gemm.c - standalone micro-benchmark of the CPU conv/GEMM kernels on
 * the yolov5m conv shapes at 640x640 (not part of the library). Build and run:
 *
 *   make bench-gemm            (builds build/bench_gemm against libyolov5c.a)
 *   build/bench_gemm [threads] [filter] [passes]
 *
 * Prints GFLOP/s per shape (min time of several runs), the weighted total
 * over the network's conv list (ms and GFLOP/s) and the measured FMA peak
 * of the ISA in use (Y5_ISA caps it) on the same threads. BENCH_NET=n: the
 * yolov5n shapes instead of yolov5m's. Winograd layers are counted at the
 * direct convolution's FLOPs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/threadpool.h"
#include "layers/cpu/conv_cpu.h"
#include "layers/cpu/isa.h"

/* BENCH_CPUTIME=1 (with 1 thread): the calling thread's CPU time, which a
 * busy machine's preemptions do not inflate. */
static double now(void) {
    static int cpu = -1;
    if (cpu < 0) cpu = getenv("BENCH_CPUTIME") && *getenv("BENCH_CPUTIME") == '1';
    struct timespec t;
    clock_gettime(cpu ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct { const char *name; int cin, cout, k, s, p, h, count, res; } shape;

/* yolov5m (depth 0.67, width 0.75) at 640x640, C3 entry convs fused. */
static const shape net[] = {
    {"L0 stem 6x6s2", 3, 48, 6, 2, 2, 640, 1, 0},
    {"L1 3x3s2 48-96", 48, 96, 3, 2, 1, 320, 1, 0},
    {"C3@160 cv12 96-96", 96, 96, 1, 1, 0, 160, 1, 0},
    {"C3@160 b.cv1 48", 48, 48, 1, 1, 0, 160, 2, 0},
    {"C3@160 b.cv2 3x3 48", 48, 48, 3, 1, 1, 160, 2, 1},
    {"C3@160 cv3 96-96", 96, 96, 1, 1, 0, 160, 1, 0},
    {"L3 3x3s2 96-192", 96, 192, 3, 2, 1, 160, 1, 0},
    {"C3@80 cv12 192-192", 192, 192, 1, 1, 0, 80, 1, 0},
    {"C3@80 b.cv1 96", 96, 96, 1, 1, 0, 80, 4, 0},
    {"C3@80 b.cv2 3x3 96", 96, 96, 3, 1, 1, 80, 4, 1},
    {"C3@80 cv3 192-192", 192, 192, 1, 1, 0, 80, 1, 0},
    {"L5 3x3s2 192-384", 192, 384, 3, 2, 1, 80, 1, 0},
    {"C3@40 cv12 384-384", 384, 384, 1, 1, 0, 40, 1, 0},
    {"C3@40 b.cv1 192", 192, 192, 1, 1, 0, 40, 6, 0},
    {"C3@40 b.cv2 3x3 192", 192, 192, 3, 1, 1, 40, 6, 1},
    {"C3@40 cv3 384-384", 384, 384, 1, 1, 0, 40, 1, 0},
    {"L7 3x3s2 384-768", 384, 768, 3, 2, 1, 40, 1, 0},
    {"C3@20 cv12 768-768", 768, 768, 1, 1, 0, 20, 1, 0},
    {"C3@20 b.cv1 384", 384, 384, 1, 1, 0, 20, 2, 0},
    {"C3@20 b.cv2 3x3 384", 384, 384, 3, 1, 1, 20, 2, 1},
    {"C3@20 cv3 768-768", 768, 768, 1, 1, 0, 20, 1, 0},
    {"SPPF cv1 768-384", 768, 384, 1, 1, 0, 20, 1, 0},
    {"SPPF cv2 1536-768", 1536, 768, 1, 1, 0, 20, 1, 0},
    {"H10 1x1 768-384", 768, 384, 1, 1, 0, 20, 1, 0},
    {"H13 C3@40 cv12 768-384", 768, 384, 1, 1, 0, 40, 1, 0},
    {"H13 b.cv1 192", 192, 192, 1, 1, 0, 40, 2, 0},
    {"H13 b.cv2 3x3 192", 192, 192, 3, 1, 1, 40, 2, 0},
    {"H13 cv3 384-384", 384, 384, 1, 1, 0, 40, 1, 0},
    {"H14 1x1 384-192", 384, 192, 1, 1, 0, 40, 1, 0},
    {"H17 C3@80 cv12 384-192", 384, 192, 1, 1, 0, 80, 1, 0},
    {"H17 b.cv1 96", 96, 96, 1, 1, 0, 80, 2, 0},
    {"H17 b.cv2 3x3 96", 96, 96, 3, 1, 1, 80, 2, 0},
    {"H17 cv3 192-192", 192, 192, 1, 1, 0, 80, 1, 0},
    {"H18 3x3s2 192-192", 192, 192, 3, 2, 1, 80, 1, 0},
    {"H20 C3@40 cv12 384-384", 384, 384, 1, 1, 0, 40, 1, 0},
    {"H20 b.cv1 192", 192, 192, 1, 1, 0, 40, 2, 0},
    {"H20 b.cv2 3x3 192", 192, 192, 3, 1, 1, 40, 2, 0},
    {"H20 cv3 384-384", 384, 384, 1, 1, 0, 40, 1, 0},
    {"H21 3x3s2 384-384", 384, 384, 3, 2, 1, 40, 1, 0},
    {"H23 C3@20 cv12 768-768", 768, 768, 1, 1, 0, 20, 1, 0},
    {"H23 b.cv1 384", 384, 384, 1, 1, 0, 20, 2, 0},
    {"H23 b.cv2 3x3 384", 384, 384, 3, 1, 1, 20, 2, 0},
    {"H23 cv3 768-768", 768, 768, 1, 1, 0, 20, 1, 0},
    {"Det P3 192-255", 192, 255, 1, 1, 0, 80, 1, 0},
    {"Det P4 384-255", 384, 255, 1, 1, 0, 40, 1, 0},
    {"Det P5 768-255", 768, 255, 1, 1, 0, 20, 1, 0},
};

/* yolov5n (depth 0.33, width 0.25) at 640x640, C3 entry convs fused. */
static const shape net_n[] = {
    {"L0 stem 6x6s2", 3, 16, 6, 2, 2, 640, 1, 0},
    {"L1 3x3s2 16-32", 16, 32, 3, 2, 1, 320, 1, 0},
    {"C3@160 cv12 32-32", 32, 32, 1, 1, 0, 160, 1, 0},
    {"C3@160 b.cv1 16", 16, 16, 1, 1, 0, 160, 1, 0},
    {"C3@160 b.cv2 3x3 16", 16, 16, 3, 1, 1, 160, 1, 1},
    {"C3@160 cv3 32-32", 32, 32, 1, 1, 0, 160, 1, 0},
    {"L3 3x3s2 32-64", 32, 64, 3, 2, 1, 160, 1, 0},
    {"C3@80 cv12 64-64", 64, 64, 1, 1, 0, 80, 1, 0},
    {"C3@80 b.cv1 32", 32, 32, 1, 1, 0, 80, 2, 0},
    {"C3@80 b.cv2 3x3 32", 32, 32, 3, 1, 1, 80, 2, 1},
    {"C3@80 cv3 64-64", 64, 64, 1, 1, 0, 80, 1, 0},
    {"L5 3x3s2 64-128", 64, 128, 3, 2, 1, 80, 1, 0},
    {"C3@40 cv12 128-128", 128, 128, 1, 1, 0, 40, 1, 0},
    {"C3@40 b.cv1 64", 64, 64, 1, 1, 0, 40, 3, 0},
    {"C3@40 b.cv2 3x3 64", 64, 64, 3, 1, 1, 40, 3, 1},
    {"C3@40 cv3 128-128", 128, 128, 1, 1, 0, 40, 1, 0},
    {"L7 3x3s2 128-256", 128, 256, 3, 2, 1, 40, 1, 0},
    {"C3@20 cv12 256-256", 256, 256, 1, 1, 0, 20, 1, 0},
    {"C3@20 b.cv1 128", 128, 128, 1, 1, 0, 20, 1, 0},
    {"C3@20 b.cv2 3x3 128", 128, 128, 3, 1, 1, 20, 1, 1},
    {"C3@20 cv3 256-256", 256, 256, 1, 1, 0, 20, 1, 0},
    {"SPPF cv1 256-128", 256, 128, 1, 1, 0, 20, 1, 0},
    {"SPPF cv2 512-256", 512, 256, 1, 1, 0, 20, 1, 0},
    {"H10 1x1 256-128", 256, 128, 1, 1, 0, 20, 1, 0},
    {"H13 C3@40 cv12 256-128", 256, 128, 1, 1, 0, 40, 1, 0},
    {"H13 b.cv1 64", 64, 64, 1, 1, 0, 40, 1, 0},
    {"H13 b.cv2 3x3 64", 64, 64, 3, 1, 1, 40, 1, 0},
    {"H13 cv3 128-128", 128, 128, 1, 1, 0, 40, 1, 0},
    {"H14 1x1 128-64", 128, 64, 1, 1, 0, 40, 1, 0},
    {"H17 C3@80 cv12 128-64", 128, 64, 1, 1, 0, 80, 1, 0},
    {"H17 b.cv1 32", 32, 32, 1, 1, 0, 80, 1, 0},
    {"H17 b.cv2 3x3 32", 32, 32, 3, 1, 1, 80, 1, 0},
    {"H17 cv3 64-64", 64, 64, 1, 1, 0, 80, 1, 0},
    {"H18 3x3s2 64-64", 64, 64, 3, 2, 1, 80, 1, 0},
    {"H20 C3@40 cv12 128-128", 128, 128, 1, 1, 0, 40, 1, 0},
    {"H20 b.cv1 64", 64, 64, 1, 1, 0, 40, 1, 0},
    {"H20 b.cv2 3x3 64", 64, 64, 3, 1, 1, 40, 1, 0},
    {"H20 cv3 128-128", 128, 128, 1, 1, 0, 40, 1, 0},
    {"H21 3x3s2 128-128", 128, 128, 3, 2, 1, 40, 1, 0},
    {"H23 C3@20 cv12 256-256", 256, 256, 1, 1, 0, 20, 1, 0},
    {"H23 b.cv1 128", 128, 128, 1, 1, 0, 20, 1, 0},
    {"H23 b.cv2 3x3 128", 128, 128, 3, 1, 1, 20, 1, 0},
    {"H23 cv3 256-256", 256, 256, 1, 1, 0, 20, 1, 0},
    {"Det P3 64-255", 64, 255, 1, 1, 0, 80, 1, 0},
    {"Det P4 128-255", 128, 255, 1, 1, 0, 40, 1, 0},
    {"Det P5 256-255", 256, 255, 1, 1, 0, 20, 1, 0},
};

/* ---- FMA peak: independent FMA chains in registers, one per thread ------
 * 12 accumulators hide the FMA latency (4 cycles x 2 pipes on Zen 3/4 and
 * Intel cores since Skylake need >= 8). */
#define PEAK_ITERS 20000000L
#if defined(__x86_64__)
#include <immintrin.h>
/* named variables, not an array: the chains must stay in registers */
#define PEAK_BODY(V, FMA, SET1, ADD)                                                        \
    V a0 = SET1(0.f), a1 = SET1(1.f), a2 = SET1(2.f), a3 = SET1(3.f), a4 = SET1(4.f);        \
    V a5 = SET1(5.f), a6 = SET1(6.f), a7 = SET1(7.f), a8 = SET1(8.f), a9 = SET1(9.f);        \
    V a10 = SET1(10.f), a11 = SET1(11.f), m = SET1(0.999999f), c = SET1(1e-7f);            \
    for (long it = 0; it < iters; it++) {                                                    \
        a0 = FMA(a0, m, c); a1 = FMA(a1, m, c); a2 = FMA(a2, m, c); a3 = FMA(a3, m, c);      \
        a4 = FMA(a4, m, c); a5 = FMA(a5, m, c); a6 = FMA(a6, m, c); a7 = FMA(a7, m, c);      \
        a8 = FMA(a8, m, c); a9 = FMA(a9, m, c); a10 = FMA(a10, m, c); a11 = FMA(a11, m, c);  \
        __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5));   \
    }                                                                                        \
    V s_ = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));                \
    s_ = ADD(s_, ADD(ADD(a8, a9), ADD(a10, a11)));
__attribute__((target("avx2,fma"))) static float peak_avx2(long iters) {
    PEAK_BODY(__m256, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_add_ps)
    return _mm256_cvtss_f32(s_);
}
__attribute__((target("avx512f"))) static float peak_avx512(long iters) {
    PEAK_BODY(__m512, _mm512_fmadd_ps, _mm512_set1_ps, _mm512_add_ps)
    return _mm512_reduce_add_ps(s_);
}
#endif

/* Each task times itself in thread CPU time, so the peak is what the cores
 * can do (T x one core's rate) even when a shared machine preempts us or a
 * worker wakes late; the conv timings above are wall clock, so on a busy
 * machine their share of this peak reads low. */
typedef struct { int isa; long iters; double rate[64]; volatile float sink; } peak_ctx;
static void peak_task(void *vctx, int task, int worker) {
    (void)worker;
    peak_ctx *p = vctx;
    struct timespec t0, t1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    float r = 0.0f;
#if defined(__x86_64__)
    r = p->isa == Y5_ISA_AVX512 ? peak_avx512(p->iters) : p->isa == Y5_ISA_AVX2 ? peak_avx2(p->iters) : 0.0f;
#endif
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    p->sink = r;
    double t = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    if (task < 64) p->rate[task] = t > 0 ? (double)p->iters / t : 0;
}

/* GFLOP/s of the FMA peak on the pool's threads (best of 3 per thread; 0
 * when the ISA has no vector FMA kernel here) */
static double fma_peak(y5_pool *pool) {
    int isa = y5_gemm_isa();
    int T = y5_pool_size(pool);
    if (T > 64) T = 64;
    int lanes = isa == Y5_ISA_AVX512 ? 16 : isa == Y5_ISA_AVX2 ? 8 : 0;
#if !defined(__x86_64__)
    lanes = 0;
#endif
    if (!lanes) return 0;
    peak_ctx p;
    memset(&p, 0, sizeof p);
    p.isa = isa;
    p.iters = PEAK_ITERS / lanes * 8;
    double best[64] = {0};
    for (int r = 0; r < 3; r++) {
        y5_pool_run(pool, T, peak_task, &p);
        for (int i = 0; i < T; i++)
            if (p.rate[i] > best[i]) best[i] = p.rate[i];
    }
    double sum = 0;
    for (int i = 0; i < T; i++) sum += best[i];
    return sum * 12 * lanes * 2 * 1e-9;
}

static float *frand_buf(size_t n) {
    float *b = aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t)63);
    unsigned s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        b[i] = ((s >> 8) * (1.0f / 16777216.0f)) - 0.5f;
    }
    return b;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    const char *filter = argc > 2 && *argv[2] ? argv[2] : NULL;
    int passes = argc > 3 ? atoi(argv[3]) : 1; /* min over passes: robust to a busy machine */
    if (passes < 1) passes = 1;
    y5_pool *pool = y5_pool_create(threads);
    printf("isa %s, %d threads\n", y5_gemm_isa_name(y5_gemm_isa()), y5_pool_size(pool));
    const char *netname = getenv("BENCH_NET");
    const int use_n = netname && !strcmp(netname, "n");
    const shape *list = use_n ? net_n : net;
    const size_t nlist = use_n ? sizeof net_n / sizeof net_n[0] : sizeof net / sizeof net[0];
    printf("shapes: yolov5%s at 640\n", use_n ? "n" : "m");
    double tot_flop = 0, tot_t = 0;
    for (size_t i = 0; i < nlist; i++) {
        const shape *sh = &list[i];
        if (filter && !strstr(sh->name, filter)) continue;
        int ho = y5_conv_out_dim(sh->h, sh->k, sh->s, sh->p);
        size_t nin = (size_t)sh->h * sh->h * sh->cin, nout = (size_t)ho * ho * sh->cout;
        float *in = frand_buf(nin), *out = frand_buf(nout), *res = sh->res ? frand_buf(nout) : NULL;
        float *w = frand_buf((size_t)sh->cout * sh->cin * sh->k * sh->k), *bias = frand_buf(sh->cout);
        y5_conv_cpu cv;
        if (y5_conv_cpu_init(&cv, w, bias, sh->cout, sh->cin, sh->k, sh->s, sh->p)) return 1;
        size_t sb = y5_conv_cpu_scratch(&cv, 1, sh->h, sh->h, y5_pool_size(pool));
        void *scratch = sb ? aligned_alloc(64, (sb + 63) & ~(size_t)63) : NULL;
        double flop = 2.0 * ho * ho * sh->cout * (double)sh->cin * sh->k * sh->k;
        double best = 1e9;
        for (int pass = 0; pass < passes; pass++) {
            int reps = 0;
            double t_start = now();
            while (reps < 3 || (now() - t_start < 0.3 && reps < 200)) {
                double t = now();
                y5_conv_cpu_run(pool, &cv, in, 1, sh->h, sh->h, sh->cin, out, sh->cout, res, sh->cout,
                                getenv("NOSILU") ? Y5_ACT_NONE : Y5_ACT_SILU, 0.0f, scratch);
                t = now() - t;
                if (t < best) best = t;
                reps++;
            }
        }
        printf("%-24s M=%6d N=%4d K=%5d x%d  %7.3f ms  %6.1f GFLOP/s\n", sh->name, ho * ho, sh->cout,
               sh->cin * sh->k * sh->k, sh->count, best * 1e3, flop / best * 1e-9);
        tot_flop += flop * sh->count;
        tot_t += best * sh->count;
        y5_conv_cpu_free(&cv);
        free(in); free(out); free(res); free(w); free(bias); free(scratch);
    }
    printf("TOTAL %.2f GFLOP in %.1f ms = %.1f GFLOP/s\n", tot_flop * 1e-9, tot_t * 1e3, tot_flop / tot_t * 1e-9);
    double peak = fma_peak(pool);
    if (peak > 0)
        printf("FMA peak (%s, %d threads): %.1f GFLOP/s; the total is %.0f%% of it\n", y5_gemm_isa_name(y5_gemm_isa()),
               y5_pool_size(pool), peak, 100.0 * tot_flop / tot_t * 1e-9 / peak);
    y5_pool_destroy(pool);
    return 0;
}
