/* gemm.c - B packing, the threaded blocked driver, the portable (plain C)
 * macro-kernel and y5_sgemm. See gemm.h for the layouts; the AVX2 / AVX-512
 * macro-kernels are gemm_avx2.c / gemm_avx512.c, the ISA choice isa.c. */
#include "layers/cpu/gemm.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- blocking parameters ---------------------------------------------- */
/* K blocks: K <= KC_SINGLE runs as one block, else blocks of ~KC_TARGET. */
#define KC_SINGLE 448
#define KC_TARGET 256
#define KC_MAX (KC_SINGLE > KC_TARGET + 16 ? KC_SINGLE : KC_TARGET + 16)
/* N blocks: the packed B of one K block x NC columns stays in L2. */
#define NC_BLK 384
/* Rows per task (before rounding to the thread count). */
#define MC_TARGET 96

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }
static int round16(int x) { return (x + 15) & ~15; }

int y5_gemm_kc(int K) {
    if (K <= KC_SINGLE) return K > 0 ? K : 1;
    int nb = (K + KC_TARGET - 1) / KC_TARGET;
    return round16((K + nb - 1) / nb);
}

size_t y5_gemm_packb_len(int K, int N) {
    return (size_t)(K > 0 ? K : 0) * (size_t)round16(N > 0 ? N : 0);
}

void y5_gemm_packb(float *dst, const float *B, int K, int N, long ldb) {
    int KC = y5_gemm_kc(K);
    int Npad = round16(N);
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kcb = imin(KC, K - k0);
        float *blk = dst + (size_t)k0 * Npad;
        for (int j = 0; j < N; j += Y5_NR) {
            int nc = imin(Y5_NR, N - j);
            int w = nc < Y5_NR ? round16(nc) : Y5_NR;
            float *pan = blk + (size_t)(j / Y5_NR) * Y5_NR * kcb;
            for (int k = 0; k < kcb; k++) {
                const float *src = B + (size_t)(k0 + k) * ldb + j;
                float *d = pan + (size_t)k * w;
                int c = 0;
                for (; c < nc; c++) d[c] = src[c];
                for (; c < w; c++) d[c] = 0.0f;
            }
        }
    }
}

/* ---- epilogue helpers --------------------------------------------------- */
float y5_silu_ref(float x) { return x / (1.0f + expf(-x)); }

float y5_act_ref(int kind, float slope, float x) {
    switch (kind) {
    case Y5_ACT_SILU: return y5_silu_ref(x);
    case Y5_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case Y5_ACT_LEAKY: return x > 0.0f ? x : x * slope;
    /* PyTorch's order: x * clamp(x + 3, 0, 6) / 6 */
    case Y5_ACT_HARDSWISH: return x * fminf(fmaxf(x + 3.0f, 0.0f), 6.0f) / 6.0f;
    default: return x;
    }
}

/* ---- portable macro-kernel -------------------------------------------- */
#define MRS Y5_MR_SCALAR
void y5_gemm_macro_scalar(const y5_gemm_blk *b) {
    const int kc = b->kc;
    for (int i = 0; i < b->mc; i += MRS) {
        int mr = imin(MRS, b->mc - i);
        for (int j = 0; j < b->nc; j += Y5_NR) {
            int ncols = imin(Y5_NR, b->nc - j);
            int w = ncols < Y5_NR ? round16(ncols) : Y5_NR;
            const float *bp = b->b + (size_t)(j / Y5_NR) * Y5_NR * kc;
            float acc[MRS][Y5_NR];
            memset(acc, 0, sizeof acc);
            for (int r = 0; r < mr; r++) {
                const float *ar = b->a + (size_t)(i + r) * b->lda;
                float *cr = acc[r];
                for (int k = 0; k < kc; k++) {
                    float av = ar[k];
                    const float *br = bp + (size_t)k * w;
                    for (int c = 0; c < w; c++) cr[c] += av * br[c];
                }
            }
            for (int r = 0; r < mr; r++) {
                float *crow = b->c + (size_t)(i + r) * b->ldc + j;
                const float *rrow = b->res ? b->res + (size_t)(i + r) * b->ldres + j : NULL;
                for (int c = 0; c < ncols; c++) {
                    float x = acc[r][c];
                    if (b->accumulate) x += crow[c];
                    if (b->last) {
                        if (b->bias) x += b->bias[j + c];
                        if (b->act == Y5_ACT_SILU) x = y5_silu_ref(x);
                        else if (b->act) x = y5_act_ref(b->act, b->slope, x);
                        if (rrow) x += rrow[c];
                    }
                    crow[c] = x;
                }
            }
        }
    }
}

/* ---- driver ------------------------------------------------------------- */
static long ldd_for(int kc) {
    long l = round16(kc);
    if (l % 256 == 0) l += 16; /* keep the MR rows off one cache set */
    return l;
}

size_t y5_gemm_scratch(int K, int n_threads) {
    int KC = y5_gemm_kc(K);
    if (n_threads < 1) n_threads = 1;
    size_t per = (size_t)Y5_MC_MAX * (size_t)ldd_for(KC) * sizeof(float) + 64;
    return per * (size_t)n_threads + 64;
}

typedef struct {
    const y5_gemm_args *g;
    y5_gemm_macro_fn macro;
    int mr, panels, ntasks, KC, Npad;
    size_t per_thread; /* bytes */
} drv_ctx;

static void drv_task(void *vctx, int t, int worker) {
    const drv_ctx *d = vctx;
    const y5_gemm_args *g = d->g;
    int p0 = (int)((long)t * d->panels / d->ntasks);
    int p1 = (int)((long)(t + 1) * d->panels / d->ntasks);
    int m0 = p0 * d->mr;
    int m1 = imin(g->M, p1 * d->mr);
    if (m1 <= m0) return;
    int mc = m1 - m0;
    float *buf = NULL;
    if (g->packa) {
        uintptr_t base = (uintptr_t)g->scratch + (size_t)worker * d->per_thread;
        base = (base + 63) & ~(uintptr_t)63;
        buf = (float *)base;
    }
    for (int k0 = 0; k0 < g->K; k0 += d->KC) {
        int kcb = imin(d->KC, g->K - k0);
        y5_gemm_blk blk;
        if (g->packa) {
            long ldd = ldd_for(kcb);
            g->packa(g->packa_ctx, buf, ldd, m0, mc, k0, kcb);
            blk.a = buf;
            blk.lda = ldd;
        } else {
            blk.a = g->a + (size_t)m0 * g->lda + k0;
            blk.lda = g->lda;
        }
        blk.mc = mc;
        blk.kc = kcb;
        blk.accumulate = k0 > 0;
        blk.last = k0 + kcb >= g->K;
        blk.act = g->act;
        blk.slope = g->slope;
        blk.seg_len = 0;
        blk.seg_stride = 0;
        blk.ldc = g->ldc;
        blk.ldres = g->ldres;
        const float *bblk = g->bpack + (size_t)k0 * d->Npad;
        for (int n0 = 0; n0 < g->N; n0 += NC_BLK) {
            blk.nc = imin(NC_BLK, g->N - n0);
            blk.b = bblk + (size_t)(n0 / Y5_NR) * Y5_NR * kcb;
            blk.c = g->c + (size_t)m0 * g->ldc + n0;
            blk.bias = g->bias ? g->bias + n0 : NULL;
            blk.res = g->res ? g->res + (size_t)m0 * g->ldres + n0 : NULL;
            d->macro(&blk);
        }
    }
}

static void gemm_k0(const y5_gemm_args *g) {
    for (int m = 0; m < g->M; m++)
        for (int n = 0; n < g->N; n++) {
            float x = g->bias ? g->bias[n] : 0.0f;
            if (g->act) x = y5_act_ref(g->act, g->slope, x);
            if (g->res) x += g->res[(size_t)m * g->ldres + n];
            g->c[(size_t)m * g->ldc + n] = x;
        }
}

y5_gemm_macro_fn y5_gemm_macro_for(int isa, int *mr) {
    switch (isa) { /* only the target architecture's kernels exist (isa.h) */
#if Y5_ARCH_X86
    case Y5_ISA_AVX512: *mr = Y5_MR_AVX512; return y5_gemm_macro_avx512;
    case Y5_ISA_AVX2: *mr = Y5_MR_AVX2; return y5_gemm_macro_avx2;
#elif Y5_ARCH_ARM64
    case Y5_ISA_NEON: *mr = Y5_MR_NEON; return y5_gemm_macro_neon;
#endif
    default: *mr = Y5_MR_SCALAR; return y5_gemm_macro_scalar;
    }
}

void y5_gemm(y5_pool *pool, const y5_gemm_args *g) {
    if (g->M <= 0 || g->N <= 0) return;
    if (g->K <= 0) { gemm_k0(g); return; }
    drv_ctx d;
    d.g = g;
    d.macro = y5_gemm_macro_for(y5_gemm_isa(), &d.mr);
    d.KC = y5_gemm_kc(g->K);
    d.Npad = round16(g->N);
    d.per_thread = (size_t)Y5_MC_MAX * (size_t)ldd_for(d.KC) * sizeof(float) + 64;
    int T = y5_pool_size(pool);
    d.panels = (g->M + d.mr - 1) / d.mr;
    int mc_target = imax(d.mr, (MC_TARGET / d.mr) * d.mr);
    int nt = (g->M + mc_target - 1) / mc_target;
    if (T > 1) nt = (nt + T - 1) / T * T;
    /* small layers: at least ~4 tasks per thread (of 2+ row panels each), so
     * the tasks handed out last leave little imbalance */
    if (T > 1) {
        int want = imin(4 * T, d.panels / 2);
        if (nt < want) nt = (want + T - 1) / T * T;
    }
    int ppt = Y5_MC_MAX / d.mr; /* panels per task at most: rows per task <= MC_MAX */
    int min_tasks = (d.panels + ppt - 1) / ppt;
    nt = imax(nt, min_tasks);
    nt = imin(nt, d.panels);
    d.ntasks = nt;
    y5_pool_run(pool, nt, drv_task, &d);
}

/* ---- plain GEMM (tests, benchmarks) -------------------------------------- */
/* Packs B on every call: for callers that multiply a matrix once. */
void y5_sgemm(y5_pool *pool, int M, int N, int K, const float *A, int lda,
              const float *B, int ldb, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    size_t bytes = (y5_gemm_packb_len(K, N) * sizeof(float) + 63) & ~(size_t)63;
    float *bp = aligned_alloc(64, bytes ? bytes : 64);
    if (!bp) abort();
    y5_gemm_packb(bp, B, K, N, ldb);
    y5_gemm_args g;
    memset(&g, 0, sizeof g);
    g.M = M;
    g.N = N;
    g.K = K;
    g.bpack = bp;
    g.a = A;
    g.lda = lda;
    g.c = C;
    g.ldc = ldc;
    y5_gemm(pool, &g);
    free(bp);
}
