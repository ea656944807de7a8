/* test_gemm.c - y5_sgemm and the thread pool against naive references. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/threadpool.h"
#include "layers/cpu/conv_cpu.h"
#include "layers/cpu/gemm.h"
#include "tests/t.h"

static unsigned long long g_rng = 88172645463325252ull;
static float frand(void) { /* uniform in [-1, 1) */
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

#define POISON 12345.678f

/* Runs one GEMM case; returns the number of failures (checked inside). */
static int gemm_case(y5_pool *pool, int M, int N, int K, int pad) {
    int lda = K + pad, ldb = N + pad * 2, ldc = N + pad;
    float *A = malloc(sizeof(float) * ((size_t)M * lda + 1));
    float *B = malloc(sizeof(float) * ((size_t)K * ldb + 1));
    float *C = malloc(sizeof(float) * ((size_t)M * ldc + 1));
    for (size_t i = 0; i < (size_t)M * lda; i++) A[i] = frand();
    for (size_t i = 0; i < (size_t)K * ldb; i++) B[i] = frand();
    for (size_t i = 0; i < (size_t)M * ldc; i++) C[i] = POISON;
    y5_sgemm(pool, M, N, K, A, lda, B, ldb, C, ldc);
    int bad = 0;
    for (int m = 0; m < M && bad < 5; m++) {
        for (int n = 0; n < N && bad < 5; n++) {
            double s = 0, sa = 0;
            for (int k = 0; k < K; k++) {
                double p = (double)A[(size_t)m * lda + k] * B[(size_t)k * ldb + n];
                s += p;
                sa += fabs(p);
            }
            double got = C[(size_t)m * ldc + n];
            double tol = 1.2e-7 * (K + 2) * sa + 1e-30;
            if (!(fabs(got - s) <= tol)) {
                T_CHECK(0, "M=%d N=%d K=%d pad=%d threads=%d isa=%s: C[%d,%d]=%.9g ref=%.9g", M, N, K, pad,
                        y5_pool_size(pool), y5_gemm_isa_name(y5_gemm_isa()), m, n, got, s);
                bad++;
            }
        }
        for (int n = N; n < ldc; n++)
            if (C[(size_t)m * ldc + n] != POISON) {
                T_CHECK(0, "M=%d N=%d K=%d: wrote past N at row %d col %d", M, N, K, m, n);
                bad++;
                break;
            }
    }
    free(A);
    free(B);
    free(C);
    return bad;
}

static void run_sizes(y5_pool *pool, const int *sz, int nsz, int big) {
    for (int a = 0; a < nsz; a++)
        for (int b = 0; b < nsz; b++)
            for (int c = 0; c < nsz; c++) {
                int M = sz[a], N = sz[b], K = sz[c];
                if (!big && (long)M * N * K > 3000000L) continue;
                if (gemm_case(pool, M, N, K, (a + b + c) % 3 * 5) > 0) return;
            }
}

T_TEST(gemm_odd_sizes_all_isas) {
    static const int sz[] = {1, 3, 17, 31, 64, 100, 255, 257};
    int n = (int)(sizeof sz / sizeof sz[0]);
    y5_pool *p1 = y5_pool_create(1), *p2 = y5_pool_create(2);
    T_REQUIRE(p1 && p2, "pool");
    int best = y5_gemm_isa();
    for (int isa = best; isa >= 0; isa--) {
        y5_gemm_set_isa(isa);
        run_sizes(p1, sz, n, isa == best);
        run_sizes(p2, sz, n, isa == best);
    }
    y5_gemm_set_isa(best);
    y5_pool_destroy(p1);
    y5_pool_destroy(p2);
}

T_TEST(gemm_k_blocking_and_big) {
    /* K beyond one K block, N beyond one N block, M beyond one task. */
    y5_pool *p2 = y5_pool_create(2);
    T_REQUIRE(p2, "pool");
    gemm_case(p2, 300, 800, 700, 3);
    gemm_case(p2, 1000, 48, 1100, 0);
    gemm_case(p2, 37, 255, 3456, 1);
    gemm_case(NULL, 9, 50, 600, 2);
    gemm_case(p2, 5, 7, 0, 1); /* K = 0: C = 0 */
    y5_pool_destroy(p2);
}

static atomic_int g_hits[1000];
static void count_task(void *ctx, int task, int worker) {
    (void)ctx;
    (void)worker;
    atomic_fetch_add(&g_hits[task], 1);
}

T_TEST(gemm_threadpool_runs_every_task_once) {
    y5_pool *p = y5_pool_create(0);
    T_REQUIRE(p, "pool");
    T_CHECK(y5_pool_size(p) >= 1, "size %d", y5_pool_size(p));
    y5_pool *p3 = y5_pool_create(3);
    T_REQUIRE(p3, "pool3");
    for (int rep = 0; rep < 200; rep++) {
        y5_pool *q = rep & 1 ? p : p3;
        int n = (rep * 37) % 1000;
        for (int i = 0; i < 1000; i++) atomic_store(&g_hits[i], 0);
        y5_pool_run(q, n, count_task, NULL);
        for (int i = 0; i < 1000; i++) {
            int want = i < n ? 1 : 0;
            if (atomic_load(&g_hits[i]) != want) {
                T_CHECK(0, "rep %d task %d ran %d times", rep, i, atomic_load(&g_hits[i]));
                break;
            }
        }
    }
    y5_pool_destroy(p);
    y5_pool_destroy(p3);
}

T_TEST(gemm_silu_accuracy) {
    /* A 1x1 conv with one input channel and weight 1 computes SiLU(x) itself. */
    float w = 1.0f, bias = 0.0f;
    y5_conv_cpu cv;
    T_REQUIRE(y5_conv_cpu_init(&cv, &w, &bias, 1, 1, 1, 1, 0) == 0, "init");
    int n = 4001;
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) x[i] = -100.0f + 200.0f * i / (n - 1) + 1e-3f * frand();
    x[0] = 0.0f;
    int best = y5_gemm_isa();
    for (int isa = best; isa >= 0; isa--) {
        y5_gemm_set_isa(isa);
        y5_conv_cpu_run(NULL, &cv, x, 1, 1, n, 1, y, 1, NULL, 0, Y5_ACT_SILU, 0.0f, NULL);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double ref = (double)x[i] / (1.0 + exp(-(double)x[i]));
            double err = fabs(y[i] - ref);
            double rel = err / fmax(fabs(ref), 1e-30);
            if (fabs(ref) < 1e-30) rel = err < 1e-30 ? 0 : rel;
            if (x[i] < -80.0f) rel = err < 1e-30 ? 0 : 1; /* flushed tails: absolute check only */
            if (rel > worst) worst = rel;
        }
        T_CHECK(worst < 1e-6, "isa %s: worst relative SiLU error %.3g", y5_gemm_isa_name(isa), worst);
    }
    y5_gemm_set_isa(best);
    free(x);
    free(y);
    y5_conv_cpu_free(&cv);
}
