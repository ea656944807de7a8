/* conv_cpu.c - NHWC convolution as GEMM: out[m, co] = sum_k A[m, k] W[k, co],
 * m = (n, oy, ox), k = (ky, kx, ci). Weights are packed once (gemm.h layout).
 * Paths, picked per conv:
 *   - 1x1 stride-1: the input rows are A, read in place;
 *   - stride-1 3x3: Winograd F(4x4,3x3) or F(2x2,3x3), 36 (16) GEMMs over
 *     transformed tiles: AVX-512 F(4x4) for all; AVX2 GEMM / F(2x2) / F(4x4)
 *     per layer and input shape from a cost model (y5_conv_cpu_algo);
 *   - single-K-block convs on contiguous input (the 6x6 stem, small-cin 3x3
 *     s2), AVX2 and AVX-512: implicit GEMM, A rows read in place except at
 *     the padded borders;
 *   - the rest: im2col of one block of rows x one K block at a time into
 *     per-thread scratch.
 * The GEMM itself is gemm.h, the Winograd transforms winograd.h. */
#include "layers/cpu/conv_cpu.h"
#include "core/base/debug_env.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layers/cpu/gemm.h"
#include "layers/cpu/winograd.h"

static void *alloc64(size_t bytes) {
    size_t sz = (bytes + 63) & ~(size_t)63;
    return aligned_alloc(64, sz ? sz : 64);
}

/* wpack: a header of HDR floats (wpack[0] = format), then the packed data. */
#define HDR 16
enum { FMT_GEMM = 0, FMT_WINO23 = 1, FMT_WINO43 = 2 };

static int g_wino = -1;
void y5_conv_set_winograd(int mode) { __atomic_store_n(&g_wino, mode, __ATOMIC_RELAXED); }

/* Winograd at init for a conv: 0 GEMM packing, else the packed tile size (2
 * or 4). *pick: the per-layer choice at run time instead (conv_cpu.h). */
static int use_winograd(int k, int s, int *pick) {
    *pick = 0;
    if (k != 3 || s != 1) return 0;
    int mode = __atomic_load_n(&g_wino, __ATOMIC_RELAXED);
    if (mode < 0) mode = y5_debug_env()->winograd;
    if (mode == 0) return 0;
    if (mode == 2 || mode == 4) return mode;
#if Y5_ARCH_X86 /* only the target architecture's kernels exist (isa.h) */
    if (y5_gemm_isa() == Y5_ISA_AVX2) {
        /* the AVX2 winner depends on the layer's channels and size (see
         * y5_conv_cpu_algo): GEMM packing now, Winograd packs on demand */
        *pick = mode < 0 ? 1 : 2;
        return 0;
    }
    if (mode < 0) return y5_gemm_isa() == Y5_ISA_AVX512 ? 4 : 0;
#else
    if (mode < 0) return 0;
#endif
    return 4; /* 1: AVX-512, NEON, portable: F(4x4) for every layer */
}
static int conv_fmt(const y5_conv_cpu *c) { return (int)c->wpack[0]; }

/* Winograd G (F(4x4): points 0, 1, -1, 1/2, -2, inf, see layers/cpu/winograd.c;
 * F(2x2): 0, 1, -1, inf). */
static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const double G4[6][3] = {{1, 0, 0},
                                {1.0 / 3, 1.0 / 3, 1.0 / 3},
                                {-1.0 / 3, 1.0 / 3, -1.0 / 3},
                                {-16.0 / 15, -8.0 / 15, -4.0 / 15},
                                {1.0 / 15, -2.0 / 15, 4.0 / 15},
                                {0, 0, 1}};

/* U[xi][ci][co] = (G g G^T)[xi] of w_oihw (cout x cin x 3 x 3), in double,
 * packed per transform position xi after a header of HDR floats; NULL on
 * OOM. */
static float *pack_wino(const float *w_oihw, int cin, int cout, int wm) {
    const int nt = wm + 2, nmat = nt * nt;
    size_t one = y5_gemm_packb_len(cin, cout);
    float *wt = malloc((size_t)cin * (size_t)cout * sizeof(float) * nmat + 1);
    float *pk = alloc64((HDR + one * nmat) * sizeof(float));
    if (!wt || !pk) {
        free(wt);
        free(pk);
        return NULL;
    }
    memset(pk, 0, HDR * sizeof(float));
    pk[0] = wm == 4 ? FMT_WINO43 : FMT_WINO23;
    const double(*G)[3] = wm == 4 ? G4 : G2;
    for (int co = 0; co < cout; co++)
        for (int ci = 0; ci < cin; ci++) {
            const float *g = w_oihw + ((size_t)co * cin + ci) * 9;
            double gg[6][3];
            for (int i = 0; i < nt; i++)
                for (int j = 0; j < 3; j++)
                    gg[i][j] = G[i][0] * g[0 * 3 + j] + G[i][1] * g[1 * 3 + j] + G[i][2] * g[2 * 3 + j];
            for (int i = 0; i < nt; i++)
                for (int j = 0; j < nt; j++) {
                    double u = gg[i][0] * G[j][0] + gg[i][1] * G[j][1] + gg[i][2] * G[j][2];
                    wt[((size_t)(i * nt + j) * cin + ci) * cout + co] = (float)u;
                }
        }
    for (int xi = 0; xi < nmat; xi++)
        y5_gemm_packb(pk + HDR + xi * one, wt + (size_t)xi * cin * cout, cin, cout, cout);
    free(wt);
    return pk;
}

int y5_conv_cpu_init(y5_conv_cpu *c, const float *w_oihw, const float *bias,
                     int cout, int cin, int k, int s, int p) {
    memset(c, 0, sizeof *c);
    c->cin = cin;
    c->cout = cout;
    c->k = k;
    c->s = s;
    c->p = p;
    int wm = use_winograd(k, s, &c->pick);
    c->bias = alloc64((size_t)cout * sizeof(float));
    if (!c->bias) goto oom;
    if (wm) {
        c->wpack = pack_wino(w_oihw, cin, cout, wm);
        if (!c->wpack) goto oom;
        c->wpack_len = HDR + y5_gemm_packb_len(cin, cout) * (size_t)((wm + 2) * (wm + 2));
    } else {
        int K = cin * k * k;
        float *wt = malloc((size_t)K * (size_t)cout * sizeof(float) + 1);
        c->wpack_len = HDR + y5_gemm_packb_len(K, cout);
        c->wpack = alloc64(c->wpack_len * sizeof(float));
        if (!wt || !c->wpack) {
            free(wt);
            goto oom;
        }
        memset(c->wpack, 0, HDR * sizeof(float));
        c->wpack[0] = FMT_GEMM;
        /* W[k][co] with k = (ky * k + kx) * cin + ci */
        for (int co = 0; co < cout; co++)
            for (int ci = 0; ci < cin; ci++)
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++)
                        wt[(size_t)((ky * k + kx) * cin + ci) * cout + co] =
                            w_oihw[(((size_t)co * cin + ci) * k + ky) * k + kx];
        y5_gemm_packb(c->wpack + HDR, wt, K, cout, cout);
        free(wt);
    }
    if (c->pick) {
        size_t nw = (size_t)cout * cin * 9;
        c->wraw = malloc(nw * sizeof(float));
        if (!c->wraw) goto oom;
        memcpy(c->wraw, w_oihw, nw * sizeof(float));
    }
    for (int co = 0; co < cout; co++) c->bias[co] = bias ? bias[co] : 0.0f;
    return 0;
oom:
    y5_conv_cpu_free(c);
    return -1;
}

void y5_conv_cpu_free(y5_conv_cpu *c) {
    free(c->wpack);
    free(c->bias);
    free(c->wraw);
    free(c->wino[0]);
    free(c->wino[1]);
    c->wpack = NULL;
    c->bias = NULL;
    c->wraw = NULL;
    c->wino[0] = c->wino[1] = NULL;
    c->wpack_len = 0;
}

static int is_direct(const y5_conv_cpu *c) { return c->k == 1 && c->s == 1 && c->p == 0; }

/* ---- Winograd blocking ----------------------------------------------------
 * A task takes a range of tiles and a range of output channels (a multiple
 * of Y5_NR wide): it transforms its tiles' input (all of cin) into V, runs
 * the P = (m+2)^2 GEMMs M[xi] = V[xi] U[xi] for its channels and transforms
 * M back into the output. Splitting the channels instead of the tiles when
 * there are few tiles keeps each task's share of U (the largest array for
 * the deep layers) read once per forward. */
static long pad_ld(int x) {
    long l = (x + 15) & ~15;
    if (l % 256 == 0) l += 16;
    return l;
}

/* Most tiles per task: V and M of one task stay around WINO_BUDGET bytes,
 * well inside the L2 (U[xi] streams through beside them). */
#define WINO_BUDGET (640 * 1024)
/* below this many tiles per thread, split the output channels */
#define WINO_SPLIT_TILES 48
static int wino_tmax(int cin, int cout, int P) {
    int t = WINO_BUDGET / (P * 4 * (cin + cout));
    t = t / 8 * 8;
    /* deep layers: V and M spill to L3 rather than re-reading the large U
     * for every few tiles */
    if (t < 32) t = 32;
    if (t > 256) t = 256;
    return t;
}

static size_t wino_per_thread(const y5_conv_cpu *c, int m) {
    int P = (m + 2) * (m + 2);
    int tm = wino_tmax(c->cin, c->cout, P);
    return (size_t)P * ((size_t)tm * (size_t)(pad_ld(c->cin) + pad_ld(c->cout)) + 32) * sizeof(float) + 128;
}

/* ---- per-layer algorithm choice (AVX2) -------------------------------------
 * A cost model in core cycles per thread, fitted to bench_gemm's yolov5n
 * and yolov5m 3x3 layers with the AVX2 kernels (Zen 4, 2 threads: it picks
 * the measured winner on all 8 of them):
 *   GEMM of M x N x K: ceil(M/6) ceil(N/16) (6K + 40) (6 x 16 register
 *     tiles, 12 FMAs per k at 2 per cycle, ~40 cycles of tile epilogue);
 *   Winograd F(m): (m+2)^2 such GEMMs of tiles x cout x cin, plus the
 *     transforms: per tile F + a (m+2)^2 (vectors of 8 channels), F(2x2)
 *     F = 150, a = 5.4; F(4x4) F = 1600, a = 16.7 (its 36-point
 *     transform spills the 16 ymm registers), and a penalty of
 *     (1 + 32 / tiles per task) for the fixed costs of few tiles;
 *   the task split of wino_run (channels split when there are few tiles:
 *     every task then transforms all the tiles' input).
 * Deterministic: the same shape and thread count always pick the same
 * algorithm, so a given run's outputs do not depend on timing. */
static double gemm_cyc(double M, double N, double K) {
    return ceil(M / 6) * ceil(N / 16) * (6 * K + 40);
}

static double wino_cyc(int cin, int cout, int ho, int wo, int n, int T, int m) {
    const double P = (m + 2) * (m + 2);
    const double a = m == 2 ? 5.4 : 16.7, F = m == 2 ? 150 : 1600;
    const double tiles = (double)n * ceil((double)ho / m) * ceil((double)wo / m);
    const int panels = (cout + Y5_NR - 1) / Y5_NR;
    double pin, pout, nsh = cout;
    if (T > 1 && tiles < T * WINO_SPLIT_TILES && panels >= T) {
        pin = pout = tiles;
        nsh = ceil((double)panels / T) * Y5_NR;
        if (nsh > cout) nsh = cout;
    } else {
        pin = pout = ceil(tiles / T);
    }
    double tr = pin * (F / 2 + a * P * ceil(cin / 8.0)) + pout * (F / 2 + a * P * ceil(nsh / 8.0));
    return P * gemm_cyc(pout, nsh, cin) + tr * (1 + 32 / pout);
}

int y5_conv_cpu_algo(const y5_conv_cpu *c, int n, int h, int w, int n_threads) {
    const int f = conv_fmt(c);
    if (!c->pick) return f == FMT_WINO43 ? 4 : f == FMT_WINO23 ? 2 : 0;
    const int ho = y5_conv_out_dim(h, 3, 1, c->p), wo = y5_conv_out_dim(w, 3, 1, c->p);
    const int T = n_threads < 1 ? 1 : n_threads;
    if (n <= 0 || ho <= 0 || wo <= 0) return 0;
    double t2 = wino_cyc(c->cin, c->cout, ho, wo, n, T, 2);
    double t4 = wino_cyc(c->cin, c->cout, ho, wo, n, T, 4);
    int best = t4 < t2 ? 4 : 2;
    if (c->pick == 1) {
        double tg = gemm_cyc(ceil((double)n * ho * wo / T), c->cout, 9.0 * c->cin);
        if (tg <= (best == 4 ? t4 : t2)) best = 0;
    }
    return best;
}

/* The packed weights (header + data) of algorithm wm (0, 2, 4), packing the
 * Winograd ones on first use (plan time: one thread); NULL on OOM. */
static const float *conv_pack(const y5_conv_cpu *c, int wm) {
    const int f = conv_fmt(c);
    if (wm == 0 ? f == FMT_GEMM : wm == 4 ? f == FMT_WINO43 : f == FMT_WINO23) return c->wpack;
    if (!c->wraw) return NULL;
    y5_conv_cpu *mc = (y5_conv_cpu *)c; /* the lazily filled cache of packs */
    float **slot = &mc->wino[wm == 4];
    if (!*slot) *slot = pack_wino(c->wraw, c->cin, c->cout, wm);
    return *slot;
}

size_t y5_conv_cpu_scratch(const y5_conv_cpu *c, int n, int h, int w, int n_threads) {
    if (n_threads < 1) n_threads = 1;
    int wm = y5_conv_cpu_algo(c, n, h, w, n_threads);
    if (wm) {
        (void)conv_pack(c, wm);
        return wino_per_thread(c, wm) * (size_t)n_threads + 64;
    }
    if (is_direct(c)) return 0;
    return y5_gemm_scratch(c->cin * c->k * c->k, n_threads);
}

typedef struct {
    const y5_conv_cpu *c;
    y5_wino_geom g;
    int m, P, tiles, ntc, nck, cochunk, isa, mr;
    y5_gemm_macro_fn macro;
    const float *pack; /* the Winograd weights (header + data) */
    void (*in_fn)(const y5_wino_geom *, int, int, float *, long, size_t);
    void (*out_fn)(const y5_wino_geom *, int, int, const float *, long, size_t);
    void *scratch;
    size_t per_thread;
} wino_ctx;

static void wino_task(void *vctx, int task, int worker) {
    const wino_ctx *x = vctx;
    const y5_conv_cpu *c = x->c;
    const int tc = task / x->nck, ck = task % x->nck;
    const int t0 = (int)((long)tc * x->tiles / x->ntc);
    const int t1 = (int)((long)(tc + 1) * x->tiles / x->ntc);
    const int T = t1 - t0;
    const int co0 = ck * x->cochunk;
    const int nco = c->cout - co0 < x->cochunk ? c->cout - co0 : x->cochunk;
    if (T <= 0 || nco <= 0) return;
    const int P = x->P;
    uintptr_t base = (uintptr_t)x->scratch + (size_t)worker * x->per_thread;
    base = (base + 63) & ~(uintptr_t)63;
    long ldv = pad_ld(c->cin), ldm = pad_ld(nco);
    /* planes 64 bytes past a multiple of their size: the P streams of a
     * transform do not all land in the same L1 sets */
    size_t xsv = (size_t)T * ldv + 16, xsm = (size_t)T * ldm + 16;
    float *V = (float *)base;
    float *M = V + P * xsv;
    x->in_fn(&x->g, t0, T, V, ldv, xsv);
    const int KC = y5_gemm_kc(c->cin);
    const size_t one = y5_gemm_packb_len(c->cin, c->cout);
    const int Npad = (c->cout + 15) & ~15;
    for (int xi = 0; xi < P; xi++) {
        const float *U = x->pack + HDR + xi * one;
        for (int k0 = 0; k0 < c->cin; k0 += KC) {
            int kcb = c->cin - k0 < KC ? c->cin - k0 : KC;
            y5_gemm_blk b;
            memset(&b, 0, sizeof b);
            b.mc = T;
            b.nc = nco;
            b.kc = kcb;
            b.a = V + (size_t)xi * xsv + k0;
            b.lda = ldv;
            b.b = U + (size_t)k0 * Npad + (size_t)(co0 / Y5_NR) * Y5_NR * kcb;
            b.c = M + (size_t)xi * xsm;
            b.ldc = ldm;
            b.accumulate = k0 > 0;
            b.last = 1;
            x->macro(&b);
        }
    }
    y5_wino_geom g = x->g;
    g.out += co0;
    if (g.bias) g.bias += co0;
    if (g.res) g.res += co0;
    g.cout = nco;
    x->out_fn(&g, t0, T, M, ldm, xsm);
}

static void wino_run(y5_pool *pool, const y5_conv_cpu *c, const float *pack, int wm, const float *in, int n, int h,
                     int w, int ld_in, float *out, int ld_out, const float *res, int ld_res, int act, float slope,
                     void *scratch) {
    wino_ctx x;
    memset(&x, 0, sizeof x);
    x.c = c;
    x.pack = pack;
    x.m = wm;
    x.P = (x.m + 2) * (x.m + 2);
    x.g.in = in;
    x.g.h = h;
    x.g.w = w;
    x.g.ld_in = ld_in;
    x.g.cin = c->cin;
    x.g.p = c->p;
    x.g.ho = y5_conv_out_dim(h, 3, 1, c->p);
    x.g.wo = y5_conv_out_dim(w, 3, 1, c->p);
    x.g.tiles_w = (x.g.wo + x.m - 1) / x.m;
    x.g.tiles_hw = x.g.tiles_w * ((x.g.ho + x.m - 1) / x.m);
    x.g.out = out;
    x.g.ld_out = ld_out;
    x.g.cout = c->cout;
    x.g.bias = c->bias;
    x.g.res = res;
    x.g.ld_res = ld_res;
    x.g.act = act;
    x.g.slope = slope;
    x.tiles = n * x.g.tiles_hw;
    x.isa = y5_gemm_isa();
    x.macro = y5_gemm_macro_for(x.isa, &x.mr);
    if (x.m == 4) {
        x.in_fn = y5_wino4_in_scalar;
        x.out_fn = y5_wino4_out_scalar;
    } else {
        x.in_fn = y5_wino_in_scalar;
        x.out_fn = y5_wino_out_scalar;
    }
#if Y5_ARCH_X86 /* only the target architecture's kernels exist (isa.h) */
    if (x.isa == Y5_ISA_AVX512) {
        x.in_fn = x.m == 4 ? y5_wino4_in_avx512 : y5_wino_in_avx512;
        x.out_fn = x.m == 4 ? y5_wino4_out_avx512 : y5_wino_out_avx512;
    } else if (x.isa == Y5_ISA_AVX2) {
        x.in_fn = x.m == 4 ? y5_wino4_in_avx2 : y5_wino_in_avx2;
        x.out_fn = x.m == 4 ? y5_wino4_out_avx2 : y5_wino_out_avx2;
    }
#elif Y5_ARCH_ARM64
    if (x.isa == Y5_ISA_NEON) {
        x.in_fn = x.m == 4 ? y5_wino4_in_neon : y5_wino_in_neon;
        x.out_fn = x.m == 4 ? y5_wino4_out_neon : y5_wino_out_neon;
    }
#endif
    x.scratch = scratch;
    x.per_thread = wino_per_thread(c, wm);
    int T = y5_pool_size(pool);
    int tm = wino_tmax(c->cin, c->cout, x.P);
    /* channel chunks: with few tiles per thread, split the channels instead */
    int nck = 1;
    int panels = (c->cout + Y5_NR - 1) / Y5_NR;
    if (T > 1 && x.tiles < T * WINO_SPLIT_TILES && panels >= T) nck = T;
    x.cochunk = (panels + nck - 1) / nck * Y5_NR;
    nck = (c->cout + x.cochunk - 1) / x.cochunk;
    x.nck = nck;
    int ntc = (x.tiles + tm - 1) / tm;
    if (T > 1) {
        int per = (T + nck - 1) / nck; /* tile chunks per round of T tasks */
        ntc = (ntc + per - 1) / per * per;
    }
    if (ntc > x.tiles) ntc = x.tiles;
    x.ntc = ntc;
    y5_pool_run(pool, ntc * nck, wino_task, &x);
}

typedef struct {
    const float *in;
    int h, w, ld_in, cin, k, s, p, ho, wo;
} im2col_ctx;

/* Rows [m0, m0+mc) x columns [k0, k0+kc) of the im2col matrix into dst. */
static void im2col_block(void *vctx, float *dst, long ldd, int m0, int mc, int k0, int kc) {
    const im2col_ctx *x = vctx;
    const int cin = x->cin, kw = x->k, hw = x->ho * x->wo;
    const int contig = x->ld_in == cin; /* kx neighbours are adjacent in memory */
    int nimg = m0 / hw, rem = m0 % hw;
    int oy = rem / x->wo, ox = rem % x->wo;
    for (int r = 0; r < mc; r++) {
        float *d = dst + (size_t)r * ldd;
        const int iy0 = oy * x->s - x->p, ix0 = ox * x->s - x->p;
        const float *img = x->in + (size_t)nimg * x->h * x->w * x->ld_in;
        int k = k0, kend = k0 + kc;
        int seg = k / cin, ci = k % cin;
        while (k < kend) {
            int ky = seg / kw, kx = seg % kw;
            int iy = iy0 + ky, ix = ix0 + kx;
            int len;
            if (iy < 0 || iy >= x->h || ix < 0 || ix >= x->w) {
                len = cin - ci;
                if (len > kend - k) len = kend - k;
                memset(d, 0, (size_t)len * sizeof(float));
                seg++;
            } else {
                int nseg = 1;
                if (contig) {
                    /* extend over the following kx taps that are in bounds */
                    int kx_end = kw;
                    if (x->w - ix0 < kx_end) kx_end = x->w - ix0;
                    nseg = kx_end - kx;
                }
                len = nseg * cin - ci;
                if (len > kend - k) len = kend - k;
                const float *src = img + ((size_t)iy * x->w + ix) * x->ld_in + ci;
                memcpy(d, src, (size_t)len * sizeof(float));
                seg += nseg;
            }
            d += len;
            k += len;
            ci = 0;
        }
        if (++ox == x->wo) {
            ox = 0;
            if (++oy == x->ho) { oy = 0; nimg++; }
        }
    }
}

/* ---- implicit GEMM for single-K-block convs on contiguous input ----------
 * When a pixel's kernel-row taps (k x cin floats) are adjacent in memory
 * (ld_in == cin) and K fits one K block, the A rows of the interior output
 * pixels of an output row are read in place by the AVX2 / AVX-512 macro-kernel
 * (segmented A: k segments of k*cin floats, w*cin apart; consecutive pixels
 * s*cin apart). Only the padded border pixels go through im2col. */
#define IMPL_NC 384 /* N block (multiple of Y5_NR): B of K x 384 stays in L2 */

typedef struct {
    const y5_conv_cpu *c;
    const im2col_ctx *ic;
    const float *in;
    float *out;
    const float *res;
    int ld_out, ld_res, act, n, rows, ntasks, K, oxa, oxb;
    float slope;
    y5_gemm_macro_fn macro; /* AVX2 or AVX-512: the ones that take a segmented A */
    void *scratch;
    size_t per_thread;
    long ldd;
} impl_ctx;

static void impl_gemm(const impl_ctx *x, const float *a, long lda, int sl, long ss, size_t pix, int mc) {
    const y5_conv_cpu *c = x->c;
    for (int n0 = 0; n0 < c->cout; n0 += IMPL_NC) {
        y5_gemm_blk b;
        memset(&b, 0, sizeof b);
        b.mc = mc;
        b.nc = c->cout - n0 < IMPL_NC ? c->cout - n0 : IMPL_NC;
        b.kc = x->K;
        b.a = a;
        b.lda = lda;
        b.seg_len = sl;
        b.seg_stride = ss;
        b.b = c->wpack + HDR + (size_t)(n0 / Y5_NR) * Y5_NR * x->K;
        b.c = x->out + pix * x->ld_out + n0;
        b.ldc = x->ld_out;
        b.last = 1;
        b.bias = c->bias + n0;
        b.res = x->res ? x->res + pix * x->ld_res + n0 : NULL;
        b.ldres = x->ld_res;
        b.act = x->act;
        b.slope = x->slope;
        x->macro(&b);
    }
}

/* pixels [pix, pix + cnt) through im2col, Y5_MC_MAX at a time */
static void impl_border(const impl_ctx *x, float *buf, size_t pix, int cnt) {
    for (int i = 0; i < cnt; i += Y5_MC_MAX) {
        int mc = cnt - i < Y5_MC_MAX ? cnt - i : Y5_MC_MAX;
        im2col_block((void *)x->ic, buf, x->ldd, (int)(pix + i), mc, 0, x->K);
        impl_gemm(x, buf, x->ldd, 0, 0, pix + i, mc);
    }
}

static void impl_task(void *vctx, int t, int worker) {
    const impl_ctx *x = vctx;
    const im2col_ctx *ic = x->ic;
    const int r0 = (int)((long)t * x->rows / x->ntasks), r1 = (int)((long)(t + 1) * x->rows / x->ntasks);
    uintptr_t base = (uintptr_t)x->scratch + (size_t)worker * x->per_thread;
    float *buf = (float *)((base + 63) & ~(uintptr_t)63);
    const int k = ic->k, s = ic->s, p = ic->p, cin = ic->cin;
    for (int r = r0; r < r1; r++) {
        int img = r / ic->ho, oy = r % ic->ho;
        size_t pix = (size_t)r * ic->wo;
        int iy0 = oy * s - p;
        if (iy0 < 0 || iy0 + k > ic->h || x->oxb <= x->oxa) {
            impl_border(x, buf, pix, ic->wo);
            continue;
        }
        if (x->oxa > 0) impl_border(x, buf, pix, x->oxa);
        const float *a = x->in + (((size_t)img * ic->h + iy0) * ic->w + (size_t)(x->oxa * s - p)) * cin;
        impl_gemm(x, a, (long)s * cin, k * cin, (long)ic->w * cin, pix + x->oxa, x->oxb - x->oxa);
        if (x->oxb < ic->wo) impl_border(x, buf, pix + x->oxb, ic->wo - x->oxb);
    }
}

static int use_implicit(const y5_conv_cpu *c, int ld_in, int wo) {
    int K = c->cin * c->k * c->k;
    int isa = y5_gemm_isa();
    return Y5_ARCH_X86 && (isa == Y5_ISA_AVX512 || isa == Y5_ISA_AVX2) && ld_in == c->cin && y5_gemm_kc(K) == K &&
           wo >= 16;
}

static void impl_run(y5_pool *pool, const y5_conv_cpu *c, const im2col_ctx *ic, int n, float *out, int ld_out,
                     const float *res, int ld_res, int act, float slope, void *scratch) {
    impl_ctx x;
    memset(&x, 0, sizeof x);
    x.c = c;
    x.ic = ic;
    x.in = ic->in;
    x.out = out;
    x.res = res;
    x.ld_out = ld_out;
    x.ld_res = ld_res;
    x.act = act;
    x.slope = slope;
    x.n = n;
    int mr;
    x.macro = y5_gemm_macro_for(y5_gemm_isa(), &mr);
    x.rows = n * ic->ho;
    x.K = c->cin * c->k * c->k;
    x.oxa = (c->p + c->s - 1) / c->s;
    x.oxb = (ic->w - c->k + c->p) / c->s + 1;
    if (x.oxb > ic->wo) x.oxb = ic->wo;
    if (x.oxb < x.oxa) x.oxb = x.oxa;
    x.scratch = scratch;
    x.per_thread = y5_gemm_scratch(x.K, 1) - 64;
    x.ldd = pad_ld(x.K);
    int T = y5_pool_size(pool);
    /* about 64 output pixels x 48 channels or more per task, a multiple of T tasks */
    long work = (long)x.rows * ic->wo * ((c->cout + 47) / 48);
    int nt = (int)(work / 4096);
    if (nt > 8 * T) nt = 8 * T;
    if (nt < 1) nt = 1;
    if (T > 1) nt = (nt + T - 1) / T * T;
    if (nt > x.rows) nt = x.rows;
    x.ntasks = nt;
    y5_pool_run(pool, nt, impl_task, &x);
}

void y5_conv_cpu_run(y5_pool *pool, const y5_conv_cpu *c,
                     const float *in, int n, int h, int w, int ld_in,
                     float *out, int ld_out, const float *res, int ld_res,
                     int act, float slope, void *scratch) {
    int ho = y5_conv_out_dim(h, c->k, c->s, c->p);
    int wo = y5_conv_out_dim(w, c->k, c->s, c->p);
    if (n <= 0 || ho <= 0 || wo <= 0) return;
    const int wm = y5_conv_cpu_algo(c, n, h, w, y5_pool_size(pool));
    const float *pack = conv_pack(c, wm);
    if (!pack) abort(); /* out of memory packing on demand (normally done at plan time) */
    if (wm) {
        wino_run(pool, c, pack, wm, in, n, h, w, ld_in, out, ld_out, res, ld_res, act, slope, scratch);
        return;
    }
    y5_gemm_args g;
    memset(&g, 0, sizeof g);
    g.M = n * ho * wo;
    g.N = c->cout;
    g.K = c->cin * c->k * c->k;
    g.bpack = c->wpack + HDR;
    g.c = out;
    g.ldc = ld_out;
    g.bias = c->bias;
    g.res = res;
    g.ldres = ld_res;
    g.act = act;
    g.slope = slope;
    im2col_ctx ic;
    if (is_direct(c)) {
        g.a = in;
        g.lda = ld_in;
    } else {
        ic.in = in;
        ic.h = h;
        ic.w = w;
        ic.ld_in = ld_in;
        ic.cin = c->cin;
        ic.k = c->k;
        ic.s = c->s;
        ic.p = c->p;
        ic.ho = ho;
        ic.wo = wo;
        if (use_implicit(c, ld_in, wo)) {
            impl_run(pool, c, &ic, n, out, ld_out, res, ld_res, act, slope, scratch);
            return;
        }
        g.packa = im2col_block;
        g.packa_ctx = &ic;
        g.scratch = scratch;
    }
    y5_gemm(pool, &g);
}
