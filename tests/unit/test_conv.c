/* test_conv.c - y5_conv_cpu_run against a direct double-precision conv. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/threadpool.h"
#include "layers/cpu/conv_cpu.h"
#include "layers/cpu/isa.h"
#include "tests/t.h"

static unsigned long long c_rng = 0x9E3779B97F4A7C15ull;
static float crand(void) {
    c_rng ^= c_rng << 13;
    c_rng ^= c_rng >> 7;
    c_rng ^= c_rng << 17;
    return (float)((c_rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

#define POISON -7777.25f

typedef struct { int n, h, w, cin, cout, k, s, p, extra_in, extra_out, use_res, act; } conv_case;

#define LEAKY_SLOPE 0.1f

/* The activation kinds (core/base/act.h) in double. */
static double act_ref(int act, double x) {
    switch (act) {
    case Y5_ACT_SILU: return x / (1.0 + exp(-x));
    case Y5_ACT_RELU: return x > 0 ? x : 0;
    case Y5_ACT_LEAKY: return x > 0 ? x : x * (double)LEAKY_SLOPE;
    case Y5_ACT_HARDSWISH: return x * fmin(fmax(x + 3, 0), 6) / 6;
    default: return x;
    }
}

static int conv_case_run(y5_pool *pool, const conv_case *cc) {
    const int n = cc->n, h = cc->h, w = cc->w, cin = cc->cin, cout = cc->cout, k = cc->k, s = cc->s, p = cc->p;
    const int ho = y5_conv_out_dim(h, k, s, p), wo = y5_conv_out_dim(w, k, s, p);
    const int ld_in = cin + cc->extra_in, ld_out = cout + cc->extra_out, ld_res = cout + 3;
    size_t nin = (size_t)n * h * w * ld_in, nout = (size_t)n * ho * wo * ld_out, nres = (size_t)n * ho * wo * ld_res;
    float *in = malloc(sizeof(float) * nin);
    float *out = malloc(sizeof(float) * nout);
    float *res = malloc(sizeof(float) * nres);
    float *wt = malloc(sizeof(float) * (size_t)cout * cin * k * k);
    float *bias = malloc(sizeof(float) * cout);
    for (size_t i = 0; i < nin; i++) in[i] = crand();
    for (size_t i = 0; i < nres; i++) res[i] = crand();
    for (size_t i = 0; i < (size_t)cout * cin * k * k; i++) wt[i] = crand() * 0.5f;
    for (int i = 0; i < cout; i++) bias[i] = crand();
    for (size_t i = 0; i < nout; i++) out[i] = POISON;
    y5_conv_cpu cv;
    int bad = 0;
    if (y5_conv_cpu_init(&cv, wt, bias, cout, cin, k, s, p) != 0) {
        T_CHECK(0, "init failed");
        bad = 1;
        goto done;
    }
    size_t sb = y5_conv_cpu_scratch(&cv, n, h, w, y5_pool_size(pool));
    void *scratch = sb ? malloc(sb) : NULL;
    y5_conv_cpu_run(pool, &cv, in, n, h, w, ld_in, out, ld_out, cc->use_res ? res : NULL, ld_res, cc->act, LEAKY_SLOPE,
                    scratch);
    free(scratch);
    for (int b = 0; b < n && !bad; b++)
        for (int oy = 0; oy < ho && !bad; oy++)
            for (int ox = 0; ox < wo && !bad; ox++) {
                size_t m = ((size_t)b * ho + oy) * wo + ox;
                for (int co = 0; co < cout; co++) {
                    double acc = bias[co], sa = fabs(bias[co]);
                    for (int ky = 0; ky < k; ky++) {
                        int iy = oy * s - p + ky;
                        if (iy < 0 || iy >= h) continue;
                        for (int kx = 0; kx < k; kx++) {
                            int ix = ox * s - p + kx;
                            if (ix < 0 || ix >= w) continue;
                            const float *src = in + (((size_t)b * h + iy) * w + ix) * ld_in;
                            for (int ci = 0; ci < cin; ci++) {
                                double t = (double)src[ci] * wt[(((size_t)co * cin + ci) * k + ky) * k + kx];
                                acc += t;
                                sa += fabs(t);
                            }
                        }
                    }
                    double ref = acc;
                    ref = act_ref(cc->act, acc);
                    if (cc->use_res) ref += res[m * ld_res + co];
                    double got = out[m * ld_out + co];
                    double tol = 2e-6 * sa + 1e-6 * fabs(ref) + 1e-6;
                    if (!(fabs(got - ref) <= tol)) {
                        T_CHECK(0, "n%d %dx%d cin%d cout%d k%d s%d p%d ldin+%d ldout+%d res%d act %s thr%d isa %s: "
                                   "out[%d,%d,%d,%d]=%.8g ref=%.8g",
                                cc->n, h, w, cin, cout, k, s, p, cc->extra_in, cc->extra_out, cc->use_res, y5_act_name(cc->act),
                                y5_pool_size(pool), y5_gemm_isa_name(y5_gemm_isa()), b, oy, ox, co, got, ref);
                        bad = 1;
                        break;
                    }
                }
                for (int co = cout; co < ld_out; co++)
                    if (out[m * ld_out + co] != POISON) {
                        T_CHECK(0, "cin%d cout%d k%d: channel %d beyond cout written at pixel %zu", cin, cout, k, co, m);
                        bad = 1;
                        break;
                    }
            }
    y5_conv_cpu_free(&cv);
done:
    free(in);
    free(out);
    free(res);
    free(wt);
    free(bias);
    return bad;
}

static void conv_matrix(int isa_all) {
    static const int ks[][3] = {{1, 1, 0}, {3, 1, 1}, {3, 2, 1}, {6, 2, 2}, {3, 1, 0}, {1, 2, 0}, {3, 2, 2}};
    static const int chans[] = {3, 5, 48, 70};
    y5_pool *p1 = y5_pool_create(1), *p2 = y5_pool_create(2);
    T_REQUIRE(p1 && p2, "pool");
    int best = y5_gemm_isa();
    int n_isa = isa_all ? best + 1 : 1;
    int fails = 0;
    for (int ii = 0; ii < n_isa && !fails; ii++) {
        y5_gemm_set_isa(best - ii);
        for (size_t kk = 0; kk < sizeof ks / sizeof ks[0] && !fails; kk++)
            for (int a = 0; a < 4 && !fails; a++)
                for (int b = 0; b < 4 && !fails; b++) {
                    int variant = (int)(kk * 16 + a * 4 + b);
                    conv_case cc;
                    cc.n = 2;
                    cc.h = 7 + variant % 5;
                    cc.w = 9 + (variant * 3) % 7;
                    cc.cin = chans[a];
                    cc.cout = chans[b];
                    cc.k = ks[kk][0];
                    cc.s = ks[kk][1];
                    cc.p = ks[kk][2];
                    cc.extra_in = variant % 3 == 0 ? 0 : 5;
                    cc.extra_out = variant % 2 == 0 ? 7 : 0;
                    if (variant % 5 == 1) cc.extra_out = 33;
                    cc.use_res = variant % 4 < 2;
                    /* SiLU (the common case) twice as often as each other kind */
                    static const int acts[] = {Y5_ACT_SILU, Y5_ACT_NONE, Y5_ACT_SILU, Y5_ACT_LEAKY, Y5_ACT_RELU,
                                               Y5_ACT_HARDSWISH};
                    cc.act = acts[variant % 6];
                    fails += conv_case_run(variant & 1 ? p2 : p1, &cc);
                }
    }
    y5_gemm_set_isa(best);
    y5_pool_destroy(p1);
    y5_pool_destroy(p2);
}

T_TEST(conv_cpu_matrix_best_isa) { conv_matrix(0); }
T_TEST(conv_cpu_matrix_all_isas) { conv_matrix(1); }

/* Stride-1 3x3 convs packed for Winograd F(2x2,3x3) and F(4x4,3x3) (forced
 * on, so they also run with the portable transforms on every ISA), the
 * per-layer choice, and forced off. */
T_TEST(conv_cpu_matrix_winograd_on) {
    static const int modes[] = {2, 4, 1};
    for (int i = 0; i < 3; i++) {
        y5_conv_set_winograd(modes[i]);
        conv_matrix(1);
    }
    y5_conv_set_winograd(-1);
}
T_TEST(conv_cpu_matrix_winograd_off) {
    y5_conv_set_winograd(0);
    conv_matrix(0);
    y5_conv_set_winograd(-1);
}

/* Winograd on every ISA the CPU has (the transforms are per ISA: AVX-512,
 * AVX2, NEON, portable): odd/even output sizes, p = 0/1/2, channel slices
 * and channel tails of every vector width, residual, many tiles. */
T_TEST(conv_cpu_winograd_shapes) {
    y5_pool *p2 = y5_pool_create(2);
    T_REQUIRE(p2, "pool");
    conv_case cs[] = {
        {2, 13, 11, 70, 100, 3, 1, 1, 6, 9, 1, 1},
        {1, 40, 38, 48, 48, 3, 1, 1, 0, 0, 1, 1},
        {1, 20, 21, 200, 130, 3, 1, 1, 0, 5, 0, 1},
        {3, 5, 4, 17, 33, 3, 1, 0, 2, 1, 1, 0},
        {1, 6, 7, 5, 3, 3, 1, 2, 0, 0, 1, 1},
        {1, 2, 2, 4, 4, 3, 1, 1, 0, 0, 0, 1},
        {1, 9, 10, 384, 400, 3, 1, 1, 0, 0, 1, 1}, /* few tiles: channel split */
        {2, 23, 17, 40, 150, 3, 1, 1, 0, 0, 1, 1},
        {1, 11, 13, 12, 20, 3, 1, 1, 3, 2, 1, Y5_ACT_LEAKY}, /* tails of 4 (AVX2, NEON) */
        {1, 10, 9, 23, 9, 3, 1, 1, 0, 0, 1, Y5_ACT_HARDSWISH},
        {1, 8, 12, 16, 16, 3, 1, 1, 0, 0, 0, Y5_ACT_RELU},
    };
    int best = y5_gemm_isa();
    for (int isa = best; isa >= 0; isa--) {
        y5_gemm_set_isa(isa);
        for (int mode = 2; mode <= 4; mode += 2) {
            y5_conv_set_winograd(mode);
            for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
                conv_case_run(p2, &cs[i]);
                conv_case_run(NULL, &cs[i]);
            }
        }
    }
    y5_gemm_set_isa(best);
    y5_pool_destroy(p2);
    y5_conv_set_winograd(-1);
}

T_TEST(conv_cpu_large_k_blocks) {
    /* K = 9 * 70 = 630 (> one K block) with residual, slices and 2 threads,
     * and a yolov5-like 6x6 stem. */
    y5_pool *p2 = y5_pool_create(2);
    T_REQUIRE(p2, "pool");
    conv_case a = {2, 13, 11, 70, 100, 3, 1, 1, 6, 9, 1, 1};
    conv_case b = {1, 20, 24, 3, 48, 6, 2, 2, 0, 0, 0, 1};
    conv_case c = {1, 9, 10, 200, 60, 3, 2, 1, 0, 4, 0, 1};
    conv_case d = {2, 6, 5, 400, 97, 1, 1, 0, 11, 3, 1, 1};
    conv_case_run(p2, &a);
    conv_case_run(p2, &b);
    conv_case_run(p2, &c);
    conv_case_run(p2, &d);
    conv_case_run(NULL, &a);
    y5_pool_destroy(p2);
}

T_TEST(conv_cpu_implicit_gemm) {
    /* single-K-block convs on contiguous input, wide enough (wo >= 16) for
     * the in-place A rows of the AVX2 and AVX-512 paths (and im2col on the
     * others): stems, 3x3 s2, 1x1 s2, odd widths, padded borders on every
     * side, batches, residual, N > 384, N not a multiple of 16; every ISA */
    y5_conv_set_winograd(0);
    y5_pool *p2 = y5_pool_create(2);
    T_REQUIRE(p2, "pool");
    conv_case cs[] = {
        {1, 40, 44, 3, 48, 6, 2, 2, 0, 0, 0, 1},
        {2, 21, 37, 3, 16, 6, 2, 2, 0, 5, 1, 1},
        {1, 9, 37, 16, 32, 3, 2, 1, 0, 0, 1, 1},
        {1, 12, 40, 48, 96, 3, 2, 1, 0, 0, 1, 1}, /* K = 432, yolov5m's first 3x3 s2 */
        {2, 12, 33, 8, 20, 3, 1, 1, 0, 3, 1, 0},
        {1, 10, 35, 30, 70, 3, 1, 0, 0, 0, 0, 1},
        {1, 6, 40, 64, 400, 1, 2, 0, 0, 0, 1, 1},
        {1, 17, 36, 5, 7, 3, 2, 2, 0, 0, 1, 1},
        {1, 8, 34, 3, 16, 6, 2, 2, 4, 0, 0, 1}, /* ld_in > cin: the im2col path */
        {1, 13, 38, 3, 36, 6, 2, 2, 0, 2, 1, Y5_ACT_HARDSWISH},
        {1, 11, 35, 3, 16, 3, 1, 1, 0, 0, 0, Y5_ACT_LEAKY}, /* stride 1, cin 3 */
    };
    int best = y5_gemm_isa();
    for (int isa = best; isa >= 0; isa--) {
        y5_gemm_set_isa(isa);
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
            conv_case_run(p2, &cs[i]);
            conv_case_run(NULL, &cs[i]);
        }
    }
    y5_gemm_set_isa(best);
    y5_pool_destroy(p2);
    y5_conv_set_winograd(-1);
}

/* The per-layer algorithm choice (conv_cpu.h): AVX-512 keeps F(4x4) for
 * every stride-1 3x3 conv; AVX2 picks by its cost model per layer and
 * shape (yolov5n's and yolov5m's 3x3 layers at 640, 2 threads: the
 * measured winners), Y5_WINOGRAD-style overrides win; and a conv whose
 * choice changes with the input shape gives the right output under each. */
#if defined(__x86_64__) /* the AVX2 / AVX-512 choices */
static int algo_of(int cin, int cout, int hw, int threads) {
    float *wt = calloc((size_t)cin * cout * 9, sizeof(float));
    y5_conv_cpu cv;
    int a = -1;
    if (wt && y5_conv_cpu_init(&cv, wt, NULL, cout, cin, 3, 1, 1) == 0) {
        a = y5_conv_cpu_algo(&cv, 1, hw, hw, threads);
        y5_conv_cpu_free(&cv);
    }
    free(wt);
    return a;
}
#endif

T_TEST(conv_cpu_algo_choice) {
    int best = y5_gemm_isa();
    y5_conv_set_winograd(-1);
#if defined(__x86_64__)
    if (best >= Y5_ISA_AVX512) T_CHECK(algo_of(48, 48, 160, 2) == 4 && algo_of(16, 16, 160, 2) == 4, "avx512: F(4x4)");
    if (y5_gemm_set_isa(Y5_ISA_AVX2) == Y5_ISA_AVX2) {
        static const int cs[][4] = {{16, 16, 160, 0}, {32, 32, 80, 2},  {64, 64, 40, 2},   {128, 128, 20, 2},
                                    {48, 48, 160, 4}, {96, 96, 80, 4},  {192, 192, 40, 4}, {384, 384, 20, 4}};
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
            int a = algo_of(cs[i][0], cs[i][1], cs[i][2], 2);
            T_CHECK(a == cs[i][3], "avx2 cin %d cout %d at %d: algo %d, want %d", cs[i][0], cs[i][1], cs[i][2], a,
                    cs[i][3]);
        }
        y5_conv_set_winograd(1); /* Winograd on: F(2x2) or F(4x4), never GEMM */
        T_CHECK(algo_of(16, 16, 160, 2) != 0, "avx2 Y5_WINOGRAD=1 picked GEMM");
        y5_conv_set_winograd(0);
        T_CHECK(algo_of(384, 384, 20, 2) == 0, "avx2 Y5_WINOGRAD=0");
        y5_conv_set_winograd(2);
        T_CHECK(algo_of(384, 384, 20, 2) == 2, "avx2 Y5_WINOGRAD=2");
        y5_conv_set_winograd(-1);
        /* shapes of one layer that pick different algorithms (GEMM when tiny), each checked */
        y5_pool *p2 = y5_pool_create(2);
        T_REQUIRE(p2, "pool");
        conv_case small = {1, 6, 6, 64, 64, 3, 1, 1, 0, 0, 1, 1}, big = {1, 60, 60, 64, 64, 3, 1, 1, 0, 0, 1, 1};
        conv_case_run(p2, &small);
        conv_case_run(p2, &big);
        y5_pool_destroy(p2);
    }
#endif
    y5_gemm_set_isa(best);
    y5_conv_set_winograd(-1);
}
