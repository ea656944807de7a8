/* conv_cpu.c - NHWC convolution as GEMM: out[m, co] = sum_k A[m, k] W[k, co],
 * m = (n, oy, ox), k = (ky, kx, ci). Weights are packed once (gemm.h layout);
 * 1x1 stride-1 convs read the input rows in place, the others im2col one
 * block of rows x one K block at a time into per-thread scratch. */
#include "conv_cpu.h"

#include <stdlib.h>
#include <string.h>

#include "gemm.h"

static void *alloc64(size_t bytes) {
    size_t sz = (bytes + 63) & ~(size_t)63;
    return aligned_alloc(64, sz ? sz : 64);
}

int y5_conv_cpu_init(y5_conv_cpu *c, const float *w_oihw, const float *bias,
                     int cout, int cin, int k, int s, int p) {
    memset(c, 0, sizeof *c);
    c->cin = cin;
    c->cout = cout;
    c->k = k;
    c->s = s;
    c->p = p;
    int K = cin * k * k;
    float *wt = malloc((size_t)K * (size_t)cout * sizeof(float) + 1);
    c->wpack_len = y5_gemm_packb_len(K, cout);
    c->wpack = alloc64(c->wpack_len * sizeof(float));
    c->bias = alloc64((size_t)cout * sizeof(float));
    if (!wt || !c->wpack || !c->bias) {
        free(wt);
        y5_conv_cpu_free(c);
        return -1;
    }
    /* W[k][co] with k = (ky * k + kx) * cin + ci */
    for (int co = 0; co < cout; co++)
        for (int ci = 0; ci < cin; ci++)
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++)
                    wt[(size_t)((ky * k + kx) * cin + ci) * cout + co] =
                        w_oihw[(((size_t)co * cin + ci) * k + ky) * k + kx];
    y5_gemm_packb(c->wpack, wt, K, cout, cout);
    free(wt);
    for (int co = 0; co < cout; co++) c->bias[co] = bias ? bias[co] : 0.0f;
    return 0;
}

void y5_conv_cpu_free(y5_conv_cpu *c) {
    free(c->wpack);
    free(c->bias);
    c->wpack = NULL;
    c->bias = NULL;
    c->wpack_len = 0;
}

static int is_direct(const y5_conv_cpu *c) { return c->k == 1 && c->s == 1 && c->p == 0; }

size_t y5_conv_cpu_scratch(const y5_conv_cpu *c, int n, int h, int w, int n_threads) {
    (void)n; (void)h; (void)w;
    if (is_direct(c)) return 0;
    return y5_gemm_scratch(c->cin * c->k * c->k, n_threads);
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

void y5_conv_cpu_run(y5_pool *pool, const y5_conv_cpu *c,
                     const float *in, int n, int h, int w, int ld_in,
                     float *out, int ld_out, const float *res, int ld_res,
                     int silu, void *scratch) {
    int ho = y5_conv_out_dim(h, c->k, c->s, c->p);
    int wo = y5_conv_out_dim(w, c->k, c->s, c->p);
    if (n <= 0 || ho <= 0 || wo <= 0) return;
    y5_gemm_args g;
    memset(&g, 0, sizeof g);
    g.M = n * ho * wo;
    g.N = c->cout;
    g.K = c->cin * c->k * c->k;
    g.bpack = c->wpack;
    g.c = out;
    g.ldc = ld_out;
    g.bias = c->bias;
    g.res = res;
    g.ldres = ld_res;
    g.silu = silu;
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
        g.packa = im2col_block;
        g.packa_ctx = &ic;
        g.scratch = scratch;
    }
    y5_gemm(pool, &g);
}

void y5_sgemm(y5_pool *pool, int M, int N, int K, const float *A, int lda,
              const float *B, int ldb, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    float *bp = alloc64(y5_gemm_packb_len(K, N) * sizeof(float));
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
