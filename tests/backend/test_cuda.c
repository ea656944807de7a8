/* test_cuda.c - the CUDA backend (cuda/) against the CPU backend and the
 * golden data. Built only with Y5_HAVE_CUDA (nvcc found); every test is
 * named gpu_* (make test-gpu runs just these) and skips with one line when
 * there is no CUDA device.
 *
 * Kernel tests: the same op on both backends over fresh random inputs of odd
 * sizes, channel slices (ld > c, odd channel offsets) and both the scalar and
 * the 8-channel kernels; inputs and weights are rounded to half first so
 * both backends see the same numbers, the GPU output is poisoned (NaN in the
 * slice, a sentinel around it) so an unwritten element or a write outside
 * the slice fails. Network tests: golden inputs through the whole network
 * in FP16 against the PyTorch pred and detections, CPU vs GPU NMS on the
 * same pred (bit identical), compute()'s CUDA graph capture/replay, GPU
 * letterbox. Every op on every backend against a naive reference lives in
 * test_backend_ops.c. */
#ifdef Y5_HAVE_CUDA

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/t.h"
#include "core/base/debug_env.h"
#include "core/engine/engine.h"
#include "core/image/letterbox.h"
#include "core/post/nms.h"
#include "cuda/cuda_backend.h"
#include "cuda/nms_block.h"
#include "tests/backend/t_gpu.h"


#define SENTINEL 1234.0f

static unsigned long long g_rng = 0x2545F4914F6CDD1Dull;
static float urand(void) { /* [0, 1) */
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) * (1.0 / 16777216.0));
}
static float srand1(void) { return urand() * 2.0f - 1.0f; }
static size_t round16(size_t x) { return (x + 15) & ~(size_t)15; }

/* ------------------------------------------------------------------ two backends */

typedef struct {
    y5_backend *gpu, *cpu;
    char err[1024];
} pair;

static int pair_open(pair *p) {
    memset(p, 0, sizeof *p);
    p->gpu = y5_backend_open("cuda:0", 0, p->err, sizeof p->err);
    if (!p->gpu) return -1;
    p->cpu = y5_backend_open("cpu", 2, p->err, sizeof p->err);
    if (!p->cpu) {
        p->gpu->ops->destroy(p->gpu);
        p->gpu = NULL;
        return -1;
    }
    return 0;
}

static void pair_close(pair *p) {
    if (p->gpu) p->gpu->ops->destroy(p->gpu);
    if (p->cpu) p->cpu->ops->destroy(p->cpu);
    p->gpu = p->cpu = NULL;
}

static int pair_arena(pair *p, size_t elems, size_t gscratch, size_t cscratch, size_t pred) {
    if (p->gpu->ops->arena(p->gpu, elems, gscratch, pred, p->err, sizeof p->err)) return -1;
    return p->cpu->ops->arena(p->cpu, elems, cscratch, pred, p->err, sizeof p->err);
}

/* The CPU backend's input_host is its arena (backend.h). */
static float *cpu_at(pair *p, size_t off) {
    y5_view v = {off, 1, 1, 1, 1, 1};
    return p->cpu->ops->input_host(p->cpu, &v);
}

/* Same values into both arenas. */
static int put_both(pair *p, size_t off, const float *v, size_t n) {
    memcpy(cpu_at(p, off), v, n * sizeof(float));
    return y5_cuda_arena_write(p->gpu, off, v, n, p->err, sizeof p->err);
}

static float *rand_half(size_t n, float scale) {
    float *v = malloc((n ? n : 1) * sizeof(float));
    if (!v) return NULL;
    for (size_t i = 0; i < n; i++) v[i] = srand1() * scale;
    y5_cuda_round_half(v, n);
    return v;
}

/* Output buffer image: NaN inside the slice [c0, c0 + c) of each pixel, the
 * sentinel around it. */
static float *poisoned(size_t px, int ld, int c0, int c) {
    size_t cnt = px * (size_t)ld;
    float *v = malloc((cnt ? cnt : 1) * sizeof(float));
    if (!v) return NULL;
    for (size_t i = 0; i < px; i++)
        for (int k = 0; k < ld; k++) v[i * ld + k] = (k >= c0 && k < c0 + c) ? NAN : SENTINEL;
    return v;
}

/* Compares the GPU buffer with the CPU one inside the slice (|d| <= rel*|ref|
 * + abs; abs < 0: bit equality) and checks the sentinel outside it. Returns
 * the number of bad elements (first few reported). */
static int compare_slice(const char *what, const float *gpu, const float *cpu, size_t px, int ld, int c0, int c,
                         double rel, double abs_tol, double *max_err) {
    int bad = 0;
    double worst = 0;
    for (size_t i = 0; i < px; i++)
        for (int k = 0; k < ld; k++) {
            float g = gpu[i * ld + k];
            if (k < c0 || k >= c0 + c) {
                if (g != SENTINEL && bad++ < 3) T_CHECK(0, "%s: pixel %zu channel %d outside the slice was written (%g)", what, i, k, (double)g);
                continue;
            }
            float r = cpu[i * ld + k];
            double d = fabs((double)g - r);
            int ok = abs_tol < 0 ? (g == r) : (d <= rel * fabs(r) + abs_tol);
            if (!(g == g)) ok = 0;
            if (g == g && d > worst) worst = d;
            if (!ok && bad++ < 3)
                T_CHECK(0, "%s: pixel %zu channel %d: gpu %.8g cpu %.8g", what, i, k - c0, (double)g, (double)r);
        }
    if (max_err) *max_err = worst;
    return bad;
}

/* ------------------------------------------------------------------ conv */

typedef struct {
    int n, h, w, cin, cout, k, s, p;
    int in_c0, in_extra, out_c0, out_extra;
    int res, res_c0, res_extra, act; /* act: y5_act_kind (LeakyReLU slope 0.1) */
    size_t chunk;
} conv_case;

static void run_conv_case(pair *P, const conv_case *cc) {
    const int n = cc->n, h = cc->h, w = cc->w, cin = cc->cin, cout = cc->cout, k = cc->k;
    const int ho = (h + 2 * cc->p - k) / cc->s + 1, wo = (w + 2 * cc->p - k) / cc->s + 1;
    const int ld_in = cc->in_c0 + cin + cc->in_extra, ld_out = cc->out_c0 + cout + cc->out_extra;
    const int ld_res = cc->res_c0 + cout + cc->res_extra;
    const size_t pin = (size_t)n * h * w, pout = (size_t)n * ho * wo;
    const size_t nin = pin * ld_in, nout = pout * ld_out, nres = pout * ld_res;
    const size_t in_base = 0, out_base = round16(nin), res_base = round16(out_base + nout);
    const size_t elems = res_base + nres + 16;
    const int K = k * k * cin;
    char what[160];
    snprintf(what, sizeof what, "conv n%d %dx%d %d->%d k%d s%d p%d ldin %d ldout %d res %d act %d chunk %zu", n, w,
             h, cin, cout, k, cc->s, cc->p, ld_in, ld_out, cc->res, cc->act, cc->chunk);
    float *wt = rand_half((size_t)cout * K, 1.0f / sqrtf((float)K) * 1.7f);
    float *bias = rand_half((size_t)cout, 0.5f);
    float *in = rand_half(nin, 2.0f), *res = rand_half(nres, 1.0f);
    float *init = poisoned(pout, ld_out, cc->out_c0, cout);
    float *got = malloc(nout * sizeof(float));
    void *gc = NULL, *ccv = NULL;
    T_REQUIRE(wt && bias && in && res && init && got, "out of memory");
    y5_conv_shape sh = {cin, cout, k, cc->s, cc->p};
    gc = P->gpu->ops->conv_create(P->gpu, &sh, wt, bias);
    ccv = P->cpu->ops->conv_create(P->cpu, &sh, wt, bias);
    if (!gc || !ccv) {
        T_CHECK(0, "%s: conv_create failed", what);
        goto done;
    }
    y5_cuda_set_chunk_bytes(P->gpu, cc->chunk);
    size_t gs = P->gpu->ops->conv_scratch(P->gpu, gc, n, h, w), cs = P->cpu->ops->conv_scratch(P->cpu, ccv, n, h, w);
    if (pair_arena(P, elems, gs, cs, 16) || put_both(P, in_base, in, nin) || put_both(P, res_base, res, nres) ||
        y5_cuda_arena_write(P->gpu, out_base, init, nout, P->err, sizeof P->err)) {
        T_CHECK(0, "%s: %s", what, P->err);
        goto done;
    }
    y5_view vin = {in_base + cc->in_c0, n, h, w, cin, ld_in};
    y5_view vout = {out_base + cc->out_c0, n, ho, wo, cout, ld_out};
    y5_view vres = {res_base + cc->res_c0, n, ho, wo, cout, ld_res};
    P->gpu->ops->conv(P->gpu, gc, &vin, &vout, cc->res ? &vres : NULL, cc->act, 0.1f);
    P->cpu->ops->conv(P->cpu, ccv, &vin, &vout, cc->res ? &vres : NULL, cc->act, 0.1f);
    if (P->gpu->ops->sync(P->gpu, P->err, sizeof P->err) ||
        y5_cuda_arena_read(P->gpu, out_base, got, nout, P->err, sizeof P->err)) {
        T_CHECK(0, "%s: %s", what, P->err);
        goto done;
    }
    double worst;
    compare_slice(what, got, cpu_at(P, out_base), pout, ld_out, cc->out_c0, cout, 2e-3, 2e-3, &worst);
    printf("    %s: max |d| %.3g\n", what, worst);
done:
    if (gc) P->gpu->ops->conv_destroy(P->gpu, gc);
    if (ccv) P->cpu->ops->conv_destroy(P->cpu, ccv);
    y5_cuda_set_chunk_bytes(P->gpu, 0);
    free(wt);
    free(bias);
    free(in);
    free(res);
    free(init);
    free(got);
}

/* cuBLAS is loaded when a CUDA engine opens, not linked (cuda/cublas_dl.cu):
 * the binary starts without it, and the loader finds this build's cuBLAS
 * and every entry the backend calls. No GPU needed. */
T_TEST(cuda_cublas_loaded_on_demand) {
    const int linked = t_sh("ldd '%s' | grep -q libcublas", t_bin());
    T_CHECK(linked != 0, "%s is linked against libcublas (ldd): every start would map it", t_bin());
    const char *why = y5_cuda_cublas_load();
    T_CHECK(why == NULL, "cuBLAS did not load: %s", why ? why : "");
}

T_TEST(gpu_conv_vs_cpu) {
    NEED_GPU();
    pair P;
    T_REQUIRE(pair_open(&P) == 0, "%s", P.err);
    static const conv_case cases[] = {
        /* n  h   w  cin cout k s p  inc0 inx outc0 outx res rc0 rx act chunk */
        {2, 7, 9, 19, 13, 1, 1, 0, 5, 5, 3, 5, 0, 0, 0, 1, 0},      /* 1x1 direct, unaligned slices */
        {1, 10, 12, 32, 48, 1, 1, 0, 8, 8, 16, 0, 1, 8, 0, 1, 0},   /* 1x1, 8-wide epilogue + residual */
        {1, 11, 13, 24, 24, 3, 1, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0},    /* 3x3 (Bottleneck), 8-wide im2col */
        {1, 11, 13, 24, 24, 3, 1, 1, 0, 0, 0, 0, 1, 3, 2, 1, 0},    /* residual slice unaligned */
        {2, 13, 10, 17, 33, 3, 2, 1, 3, 2, 1, 2, 0, 0, 0, 1, 0},    /* 3x3 stride 2, scalar im2col */
        {1, 34, 30, 3, 16, 6, 2, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0},     /* layer 0: 6x6 s2 p2 on RGB */
        {2, 33, 31, 3, 8, 6, 2, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0},      /* odd sides */
        /* 200x200 output rows: more than the capped grid's blocks x rows per
         * block (cu_blocks: 32 blocks per SM), so the im2col's grid-stride
         * loop runs (cuda/conv_rows.h) */
        {1, 400, 400, 3, 16, 6, 2, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0},
        {2, 5, 7, 40, 255, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},     /* Detect head: no SiLU, odd cout */
        {1, 9, 9, 16, 24, 3, 1, 1, 0, 0, 8, 8, 0, 0, 0, 1, 2048},   /* chunked GEMM with im2col */
        {2, 8, 8, 32, 32, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1000},   /* chunked direct GEMM + residual */
        {1, 12, 10, 8, 16, 5, 1, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0},     /* 5x5 */
        {1, 10, 14, 16, 8, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0},     /* 1x1 stride 2 (im2col path) */
        {3, 20, 20, 64, 64, 3, 1, 1, 64, 0, 0, 64, 1, 0, 0, 1, 0},  /* slices at channel 64 */
        /* the other activations (issue 14), scalar and 8-wide epilogues */
        {1, 10, 12, 32, 48, 1, 1, 0, 8, 8, 16, 0, 1, 8, 0, 3, 0},   /* LeakyReLU(0.1), 8-wide + residual */
        {2, 7, 9, 19, 13, 1, 1, 0, 5, 5, 3, 5, 0, 0, 0, 3, 0},      /* LeakyReLU, scalar epilogue */
        {1, 11, 13, 24, 24, 3, 1, 1, 0, 0, 0, 0, 1, 0, 0, 2, 0},    /* ReLU */
        {1, 11, 13, 24, 24, 3, 1, 1, 0, 0, 0, 0, 1, 3, 2, 4, 0},    /* Hardswish, residual slice */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && !t_failed_now(); i++) run_conv_case(&P, &cases[i]);
    pair_close(&P);
}

/* ------------------------------------------------------------------ maxpool / upsample / copy */

enum { MV_POOL, MV_UP, MV_COPY };

static void run_move_case(pair *P, int kind, int n, int h, int w, int c, int in_c0, int in_extra, int out_c0,
                          int out_extra, int param) {
    const int ho = kind == MV_UP ? h * param : h, wo = kind == MV_UP ? w * param : w;
    const int ld_in = in_c0 + c + in_extra, ld_out = out_c0 + c + out_extra;
    const size_t pin = (size_t)n * h * w, pout = (size_t)n * ho * wo;
    const size_t nin = pin * ld_in, nout = pout * ld_out, out_base = round16(nin) + 16 * 3;
    static const char *names[] = {"maxpool", "upsample", "copy"};
    char what[160];
    snprintf(what, sizeof what, "%s n%d %dx%d c%d ldin %d (c0 %d) ldout %d (c0 %d) k/scale %d", names[kind], n, w,
             h, c, ld_in, in_c0, ld_out, out_c0, param);
    float *in = rand_half(nin, 3.0f), *init = poisoned(pout, ld_out, out_c0, c), *got = malloc(nout * sizeof(float));
    T_REQUIRE(in && init && got, "out of memory");
    if (pair_arena(P, out_base + nout + 16, 256, 256, 16) || put_both(P, 0, in, nin) ||
        y5_cuda_arena_write(P->gpu, out_base, init, nout, P->err, sizeof P->err)) {
        T_CHECK(0, "%s: %s", what, P->err);
    } else {
        y5_view vin = {(size_t)in_c0, n, h, w, c, ld_in}, vout = {out_base + out_c0, n, ho, wo, c, ld_out};
        for (int side = 0; side < 2; side++) {
            y5_backend *b = side ? P->cpu : P->gpu;
            if (kind == MV_POOL) b->ops->maxpool(b, &vin, &vout, param);
            else if (kind == MV_UP) b->ops->upsample(b, &vin, &vout, param);
            else b->ops->copy(b, &vin, &vout);
        }
        if (P->gpu->ops->sync(P->gpu, P->err, sizeof P->err) ||
            y5_cuda_arena_read(P->gpu, out_base, got, nout, P->err, sizeof P->err))
            T_CHECK(0, "%s: %s", what, P->err);
        else
            compare_slice(what, got, cpu_at(P, out_base), pout, ld_out, out_c0, c, 0, -1, NULL);
    }
    free(in);
    free(init);
    free(got);
}

T_TEST(gpu_maxpool_upsample_copy_vs_cpu) {
    NEED_GPU();
    pair P;
    T_REQUIRE(pair_open(&P) == 0, "%s", P.err);
    for (int kind = MV_POOL; kind <= MV_COPY && !t_failed_now(); kind++) {
        int param = kind == MV_POOL ? 5 : 2;
        run_move_case(&P, kind, 2, 9, 11, 19, 0, 0, 0, 0, param);    /* scalar */
        run_move_case(&P, kind, 2, 9, 11, 19, 3, 2, 19, 5, param);   /* slices */
        run_move_case(&P, kind, 1, 7, 5, 32, 0, 0, 32, 32, param);   /* 8 wide, SPPF-like slot */
        run_move_case(&P, kind, 3, 4, 6, 24, 8, 8, 0, 16, param);    /* 8 wide with offsets */
        run_move_case(&P, kind, 1, 1, 1, 5, 0, 0, 0, 0, param);      /* one pixel */
    }
    run_move_case(&P, MV_POOL, 1, 6, 3, 16, 0, 0, 16, 0, 3);
    run_move_case(&P, MV_POOL, 1, 13, 13, 8, 0, 0, 0, 0, 9);
    run_move_case(&P, MV_UP, 2, 3, 5, 9, 0, 0, 0, 0, 3);
    pair_close(&P);
}

/* ------------------------------------------------------------------ decode */

static void run_decode_case(pair *P, int n, float lazy) {
    enum { NL = 3, NA = 3, NC = 2, NO = 5 + NC };
    const int hs[NL] = {8, 4, 2}, ws[NL] = {10, 5, 3}, extra[NL] = {3, 0, 8};
    y5_detect_shape d;
    memset(&d, 0, sizeof d);
    d.nl = NL;
    d.na = NA;
    d.no = NO;
    d.lazy_obj_min = lazy;
    static const float anchors[NL][6] = {{10, 13, 16, 30, 33, 23}, {30, 61, 62, 45, 59, 119}, {116, 90, 156, 198, 373, 326}};
    y5_view heads[NL];
    size_t off = 0;
    float *vals[NL] = {0};
    for (int l = 0; l < NL; l++) {
        d.strides[l] = (float)(8 << l);
        for (int j = 0; j < 6; j++) d.anchors[l][j] = anchors[l][j];
        d.rows += NA * hs[l] * ws[l];
        int ld = NA * NO + extra[l];
        heads[l] = (y5_view){off, n, hs[l], ws[l], NA * NO, ld};
        off = round16(off + (size_t)n * hs[l] * ws[l] * ld) + 16;
    }
    const size_t pf = (size_t)n * d.rows * NO;
    float *got = malloc(pf * sizeof(float));
    T_REQUIRE(got, "out of memory");
    if (pair_arena(P, off, 256, 256, pf)) {
        T_CHECK(0, "decode: %s", P->err);
        free(got);
        return;
    }
    int ok = 1;
    for (int l = 0; l < NL && ok; l++) {
        size_t cnt = (size_t)n * hs[l] * ws[l] * heads[l].ld;
        vals[l] = rand_half(cnt, 5.0f);
        ok = vals[l] && put_both(P, heads[l].off, vals[l], cnt) == 0;
    }
    if (ok) ok = y5_cuda_pred_fill(P->gpu, NAN, P->err, sizeof P->err) == 0;
    if (!ok) {
        T_CHECK(0, "decode: %s", P->err);
    } else {
        P->gpu->ops->decode(P->gpu, heads, &d);
        P->cpu->ops->decode(P->cpu, heads, &d);
        const float *gp = P->gpu->ops->pred_host(P->gpu, pf);
        if (P->gpu->ops->sync(P->gpu, P->err, sizeof P->err) || !gp) {
            T_CHECK(0, "decode: %s", P->err[0] ? P->err : "pred_host failed");
        } else {
            memcpy(got, gp, pf * sizeof(float));
            const float *cp = P->cpu->ops->pred_host(P->cpu, pf);
            int bad = 0;
            double wbox = 0, wcls = 0;
            for (size_t i = 0; i < pf; i++) {
                int k = (int)(i % NO);
                double dd = fabs((double)got[i] - cp[i]);
                double tol = k < 4 ? 1e-5 * fabs(cp[i]) + 1e-4 : 2e-6;
                if (!(dd <= tol)) {
                    if (bad++ < 3)
                        T_CHECK(0, "decode n%d lazy %g: row %zu col %d gpu %.8g cpu %.8g", n, (double)lazy, i / NO, k,
                                (double)got[i], (double)cp[i]);
                } else if (k < 4) {
                    wbox = dd > wbox ? dd : wbox;
                } else {
                    wcls = dd > wcls ? dd : wcls;
                }
            }
            printf("    decode n%d lazy %g: %d rows, max |d| boxes %.3g px, obj/cls %.3g\n", n, (double)lazy, d.rows,
                   wbox, wcls);
        }
    }
    for (int l = 0; l < NL; l++) free(vals[l]);
    free(got);
}

T_TEST(gpu_decode_vs_cpu) {
    NEED_GPU();
    pair P;
    T_REQUIRE(pair_open(&P) == 0, "%s", P.err);
    run_decode_case(&P, 1, 0.0f);
    run_decode_case(&P, 3, 0.0f);
    run_decode_case(&P, 2, 0.5f);
    pair_close(&P);
}

/* ------------------------------------------------------------------ letterbox */

/* GPU letterbox of img into slot 1 of a 2-image input at an odd arena offset
 * against the CPU letterbox + u8/255 + half rounding; slot 0 must stay. */
static void run_letterbox_case(const y5_image *img, int th, int tw, int rect, const char *name) {
    char err[1024];
    y5_letterbox_geom g;
    y5_letterbox_plan(img->w, img->h, th, tw, rect, 32, &g);
    const size_t px = (size_t)g.out_w * g.out_h * 3, off = 5;
    uint8_t *u8 = malloc(px);
    float *want = malloc(px * sizeof(float)), *got = malloc(2 * px * sizeof(float));
    T_REQUIRE(u8 && want && got, "out of memory");
    y5_letterbox_u8(img, &g, u8, NULL);
    y5_u8_to_unit_f32(u8, px, want);
    y5_cuda_round_half(want, px);
    y5_backend *b = y5_backend_cuda_create(0, err, sizeof err);
    T_CHECK(b, "%s", err);
    if (b) {
        y5_view in = {off, 2, g.out_h, g.out_w, 3, 3};
        int rc = b->ops->arena(b, off + 2 * px + 7, 256, 16, err, sizeof err);
        if (!rc) rc = y5_cuda_arena_fill(b, 0, off + 2 * px + 7, SENTINEL, err, sizeof err);
        if (!rc) rc = y5_cuda_letterbox(b, &in, 1, img->px, img->w, img->h, g.new_w, g.new_h, g.top, g.left, err, sizeof err);
        if (!rc) rc = b->ops->sync(b, err, sizeof err);
        if (!rc) rc = y5_cuda_arena_read(b, off, got, 2 * px, err, sizeof err);
        T_CHECK(rc == 0, "%s: %s", name, err);
        if (rc == 0) {
            int bad = 0;
            for (size_t i = 0; i < px; i++)
                if (got[i] != SENTINEL && bad++ < 3) T_CHECK(0, "%s: slot 0 element %zu was written", name, i);
            for (size_t i = 0; i < px; i++)
                if (got[px + i] != want[i] && bad++ < 3)
                    T_CHECK(0, "%s: pixel (%zu, %zu) channel %zu: gpu %.8g cpu %.8g", name, (i / 3) % g.out_w,
                            i / 3 / g.out_w, i % 3, (double)got[px + i], (double)want[i]);
            printf("    %s: %dx%d -> %dx%d in %dx%d (top %d left %d): %s\n", name, img->w, img->h, g.new_w, g.new_h,
                   g.out_w, g.out_h, g.top, g.left, bad ? "DIFFERS" : "bit exact");
        }
        b->ops->destroy(b);
    }
    free(u8);
    free(want);
    free(got);
}

T_TEST(gpu_letterbox_random) {
    NEED_GPU();
    static const int sizes[][5] = {
        /* w, h, target h, target w, rect */
        {37, 23, 64, 64, 0},   /* upscale into a square */
        {300, 7, 64, 64, 1},   /* extreme aspect, rect */
        {1, 1, 32, 32, 0},     /* one pixel */
        {64, 40, 64, 64, 0},   /* no resize, padding only */
        {129, 95, 96, 128, 1}, /* mild downscale */
        {640, 360, 320, 320, 1}, /* exact 2x reduction */
        {97, 211, 160, 160, 0},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0] && !t_failed_now(); i++) {
        y5_image img = {sizes[i][0], sizes[i][1], NULL};
        img.px = malloc((size_t)img.w * img.h * 3);
        T_REQUIRE(img.px, "out of memory");
        for (size_t k = 0; k < (size_t)img.w * img.h * 3; k++) img.px[k] = (uint8_t)(urand() * 256.0f);
        char name[64];
        snprintf(name, sizeof name, "random %dx%d", img.w, img.h);
        run_letterbox_case(&img, sizes[i][2], sizes[i][3], sizes[i][4], name);
        free(img.px);
    }
}

T_TEST(gpu_letterbox_golden_images) {
    NEED_GPU();
    T_NEED_SHARED();
    static const struct { const char *file; int w, h, size; } cases[] = {
        {"golden/bus_decoded.u8", 810, 1080, 640},
        {"golden/zidane_decoded.u8", 1280, 720, 640},
        {"golden/zidane_decoded.u8", 1280, 720, 1280},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        uint8_t *px = t_read_file(t_shared_path(cases[i].file), &len);
        T_REQUIRE(px && len == (size_t)cases[i].w * cases[i].h * 3, "%s", cases[i].file);
        y5_image img = {cases[i].w, cases[i].h, px};
        run_letterbox_case(&img, cases[i].size, cases[i].size, 1, cases[i].file);
        free(px);
    }
}


/* NMS option set v (0-9) of the GPU-against-CPU NMS tests, on defaults
 * already in *o: detect.py's and val.py's, multi-label, agnostic, a class
 * filter (classes: 2 entries), small max_det / max_nms / max_out, and one
 * with more than 32768 candidates. */
static void nms_variant(int v, y5_nms_opts *o, int *max_out, const int *classes) {
    switch (v) {
    case 0: break;                                                /* detect.py defaults */
    case 1: o->conf_thres = 0.001f; o->iou_thres = 0.6f; break;  /* val.py */
    case 2: o->multi_label = 1; o->conf_thres = 0.1f; break;
    case 3: o->multi_label = 1; o->conf_thres = 0.001f; o->iou_thres = 0.6f; o->max_det = 300; break;
    case 4: o->agnostic = 1; break;
    case 5: o->classes = classes; o->n_classes = 2; o->conf_thres = 0.05f; break;
    case 6: o->max_det = 7; break;
    case 7: o->max_nms = 50; o->conf_thres = 0.01f; break;
    case 8: *max_out = 13; o->conf_thres = 0.05f; o->iou_thres = 0.3f; break;
    case 9: o->multi_label = 1; o->conf_thres = 0.0005f; o->max_nms = 0; o->iou_thres = 0.7f; break; /* > 32768 candidates */
    }
}
/* ------------------------------------------------------------------ NMS */

static int same_dets(const char *what, const y5_det *a, int na, const y5_det *b, int nb) {
    if (na != nb) {
        T_CHECK(0, "%s: gpu %d boxes, cpu %d", what, na, nb);
        return 0;
    }
    for (int i = 0; i < na; i++)
        if (a[i].cls != b[i].cls || a[i].conf != b[i].conf || a[i].x1 != b[i].x1 || a[i].y1 != b[i].y1 ||
            a[i].x2 != b[i].x2 || a[i].y2 != b[i].y2) {
            T_CHECK(0, "%s: box %d: gpu cls %d conf %.9g (%.9g %.9g %.9g %.9g), cpu cls %d conf %.9g (%.9g %.9g %.9g %.9g)",
                    what, i, a[i].cls, (double)a[i].conf, (double)a[i].x1, (double)a[i].y1, (double)a[i].x2,
                    (double)a[i].y2, b[i].cls, (double)b[i].conf, (double)b[i].x1, (double)b[i].y1, (double)b[i].x2,
                    (double)b[i].y2);
            return 0;
        }
    return 1;
}

T_TEST(gpu_nms_vs_cpu_random) {
    NEED_GPU();
    enum { ROWS = 6000, NC = 6, NO = 5 + NC, IMGS = 2 };
    char err[1024];
    float *pred = malloc(sizeof(float) * ROWS * NO * IMGS);
    y5_det *a = malloc(sizeof(y5_det) * 2000), *bb = malloc(sizeof(y5_det) * 2000);
    T_REQUIRE(pred && a && bb, "out of memory");
    /* clusters of overlapping boxes, so that NMS suppresses */
    float cx[64], cy[64];
    for (int c = 0; c < 64; c++) { cx[c] = urand() * 640; cy[c] = urand() * 480; }
    for (int r = 0; r < ROWS * IMGS; r++) {
        float *p = pred + (size_t)r * NO;
        int c = (int)(urand() * 64) & 63;
        p[0] = cx[c] + srand1() * 12;
        p[1] = cy[c] + srand1() * 12;
        p[2] = 30 + urand() * 60;
        p[3] = 30 + urand() * 60;
        p[4] = urand();
        for (int k = 0; k < NC; k++) p[5 + k] = urand();
    }
    y5_backend *b = y5_backend_cuda_create(0, err, sizeof err);
    T_REQUIRE(b, "%s", err);
    int rc = b->ops->arena(b, 16, 256, (size_t)ROWS * NO * IMGS, err, sizeof err);
    if (!rc) rc = y5_cuda_pred_write(b, 0, pred, (size_t)ROWS * NO * IMGS, err, sizeof err);
    T_REQUIRE(rc == 0, "%s", err);
    static const int classes[] = {1, 4};
    for (int v = 0; v < 20 && !t_failed_now(); v++) {
        y5_nms_opts o;
        y5_nms_defaults(&o);
        int img = v % IMGS, max_out = 2000, greedy = v >= 10;
        char what[160];
        nms_variant(v % 10, &o, &max_out, classes);
        snprintf(what, sizeof what, "nms variant %d (image %d, %s)", v % 10, img, greedy ? "greedy" : "bitmask");
        y5_cuda_nms_force_greedy(b, greedy);
        int ng = y5_cuda_nms(b, img, ROWS, NO, &o, a, max_out, err, sizeof err);
        T_CHECK(ng >= 0, "%s: %s", what, err);
        int nc = y5_nms(NULL, pred + (size_t)img * ROWS * NO, ROWS, NC, &o, bb, max_out);
        if (ng >= 0 && same_dets(what, a, ng, bb, nc)) printf("    %s: %d boxes, identical\n", what, ng);
    }
    b->ops->destroy(b);
    free(pred);
    free(a);
    free(bb);
}

/* The batch NMS (y5_cuda_nms_submit, one stream sync, y5_cuda_nms_take)
 * against the per-image GPU NMS and core/post/nms.c on the same pred, for
 * batches of 1, 3 and 8 images of 6000 rows: clustered boxes (image 2 with no
 * candidate at all, image 3 with confidences on a grid of eighths: ties,
 * image 5 thousands of small scattered confident boxes: more kept than
 * max_det), every option of gpu_nms_vs_cpu_random, a limit above what shared
 * memory holds (kept boxes in global memory), the per-image redo of images
 * whose multi-label keys overflow a small batch bound, and a bound too small
 * for one slot (nothing queued). Odd variants take after an explicit sync,
 * even ones let take wait for the copy. Every box bit-identical. */
T_TEST(gpu_nms_batch_vs_image_vs_cpu) {
    NEED_GPU();
    enum { ROWS = 6000, NC = 6, NO = 5 + NC, IMGS = 8, MAXO = 4000, VARIANTS = 13 };
    char err[1024];
    float *pred = malloc(sizeof(float) * ROWS * NO * IMGS);
    y5_det *a = malloc(sizeof(y5_det) * MAXO * IMGS), *g = malloc(sizeof(y5_det) * MAXO),
           *c = malloc(sizeof(y5_det) * MAXO);
    T_REQUIRE(pred && a && g && c, "out of memory");
    float cx[64], cy[64];
    for (int k = 0; k < 64; k++) { cx[k] = urand() * 640; cy[k] = urand() * 480; }
    for (int img = 0; img < IMGS; img++)
        for (int r = 0; r < ROWS; r++) {
            float *p = pred + ((size_t)img * ROWS + r) * NO;
            if (img == 5) { /* scattered, small, confident: thousands survive NMS */
                p[0] = urand() * 640;
                p[1] = urand() * 640;
                p[2] = 2 + urand() * 6;
                p[3] = 2 + urand() * 6;
                p[4] = 0.5f + 0.5f * urand();
            } else {
                int k = (int)(urand() * 64) & 63;
                p[0] = cx[k] + srand1() * 12;
                p[1] = cy[k] + srand1() * 12;
                p[2] = 30 + urand() * 60;
                p[3] = 30 + urand() * 60;
                p[4] = img == 2 ? 0.0f : img == 3 ? (float)(int)(urand() * 9) / 8.0f : urand();
            }
            for (int k = 0; k < NC; k++) p[5 + k] = img == 3 ? (float)(int)(urand() * 9) / 8.0f : urand();
        }
    y5_backend *b = y5_backend_cuda_create(0, err, sizeof err);
    T_REQUIRE(b, "%s", err);
    int rc = b->ops->arena(b, 16, 256, (size_t)ROWS * NO * IMGS, err, sizeof err);
    if (!rc) rc = y5_cuda_pred_write(b, 0, pred, (size_t)ROWS * NO * IMGS, err, sizeof err);
    T_REQUIRE(rc == 0, "%s", err);
    static const int classes[] = {1, 4};
    static const int batches[] = {1, 3, 8};
    int redone = 0, batched = 0;
    for (int bi = 0; bi < 3 && !t_failed_now(); bi++)
        for (int v = 0; v < VARIANTS && !t_failed_now(); v++) {
            const int B = batches[bi];
            y5_nms_opts o;
            y5_nms_defaults(&o);
            int max_out = 2000;
            size_t bound = 0;
            switch (v) {
            default: nms_variant(v, &o, &max_out, classes); break; /* 0-9: the per-image test's */
            case 10: o.max_det = 3000; max_out = 3000; o.conf_thres = 0.01f; break; /* kept boxes in global memory */
            case 11: o.multi_label = 1; o.conf_thres = 0.3f; bound = 2u << 20; break; /* some images redone */
            case 12: bound = 1; break; /* no room: nothing queued */
            }
            char what[200];
            snprintf(what, sizeof what, "batch %d, variant %d", B, v);
            y5_cuda_nms_set_batch_bound(b, bound);
            int q = y5_cuda_nms_submit(b, B, ROWS, NO, &o, max_out, err, sizeof err);
            T_CHECK(q == (v == 12 ? 0 : 1), "%s: submit returned %d: %s", what, q, q < 0 ? err : "");
            if (q != 1) continue;
            /* which images the batch had no key slots for (the per-image redo), as submit sizes them */
            const unsigned long long full = o.multi_label ? (unsigned long long)ROWS * NC : ROWS;
            const unsigned long long cap = y5n_batch_cap(B, full, o.max_nms, bound ? bound : 256ull << 20);
            if (v % 2 && b->ops->sync(b, err, sizeof err)) { T_CHECK(0, "%s: sync: %s", what, err); continue; }
            int na[IMGS], took_redo[IMGS];
            for (int img = 0; img < B; img++) {
                long long r0, r1;
                y5_cuda_nms_take_counts(b, NULL, &r0);
                na[img] = y5_cuda_nms_take(b, img, a + (size_t)img * MAXO, max_out, err, sizeof err);
                y5_cuda_nms_take_counts(b, NULL, &r1);
                took_redo[img] = r1 > r0; /* the path the backend took, counted by it */
                T_CHECK(na[img] >= 0, "%s: take %d: %s", what, img, err);
            }
            for (int img = 0; img < B && !t_failed_now(); img++) {
                char w2[240];
                int ng = y5_cuda_nms(b, img, ROWS, NO, &o, g, max_out, err, sizeof err);
                T_CHECK(ng >= 0, "%s: per-image nms: %s", what, err);
                int ncpu = y5_nms(NULL, pred + (size_t)img * ROWS * NO, ROWS, NC, &o, c, max_out);
                /* candidates as nms.c counts them, against the batch's slots */
                unsigned long long cand = 0;
                for (int r = 0; r < ROWS; r++) {
                    const float *p = pred + ((size_t)img * ROWS + r) * NO;
                    if (!(p[4] > o.conf_thres)) continue;
                    if (o.multi_label) {
                        for (int k = 0; k < NC; k++) cand += p[5 + k] * p[4] > o.conf_thres;
                    } else {
                        cand++; /* at most one; exactness does not matter below the cap */
                    }
                }
                const int redo = o.multi_label && cand > cap;
                /* keys beyond the image's slots must be redone (take may also redo for other reasons) */
                T_CHECK(!redo || took_redo[img], "%s, image %d: %llu keys over the cap %llu, but take read the batch",
                        what, img, cand, cap);
                redone += took_redo[img];
                batched += !took_redo[img];
                snprintf(w2, sizeof w2, "%s, image %d (%s)", what, img, redo ? "redone per image" : "batched");
                if (ng >= 0 && same_dets(w2, a + (size_t)img * MAXO, na[img], g, ng) &&
                    same_dets(w2, a + (size_t)img * MAXO, na[img], c, ncpu) && B == 8 &&
                    (v == 0 || v == 10 || v == 11))
                    printf("    %s: %d boxes, batch = per image = cpu\n", w2, na[img]);
            }
            T_CHECK(y5_cuda_nms_take(b, B, a, max_out, err, sizeof err) < 0, "%s: take of image %d of %d", what, B, B);
        }
    long long served = 0, redone_all = 0;
    y5_cuda_nms_take_counts(b, &served, &redone_all);
    printf("    %d image results from the batch, %d redone per image (backend: %lld served, %lld redone)\n", batched,
           redone, served, redone_all);
    T_CHECK(redone > 0 && batched > 0 && served >= batched && redone_all >= redone,
            "the redo path and the batch path both ran (as the backend counts them)");
    /* a new pred drops the queued results (take would redo images on it) */
    y5_cuda_nms_set_batch_bound(b, 0);
    y5_nms_opts o;
    y5_nms_defaults(&o);
    T_CHECK(y5_cuda_nms_submit(b, 2, ROWS, NO, &o, 100, err, sizeof err) == 1, "submit: %s", err);
    T_CHECK(y5_cuda_pred_write(b, 0, pred, NO, err, sizeof err) == 0, "%s", err);
    T_CHECK(y5_cuda_nms_take(b, 0, a, 100, err, sizeof err) < 0, "take after a pred write");
    b->ops->destroy(b);
    free(pred);
    free(a);
    free(g);
    free(c);
}

/* ------------------------------------------------------------------ whole network */

static y5_engine *gpu_engine(const char *weights, char *err, size_t errlen) {
    y5_engine_opts eo = {"cuda:0", 0};
    return y5_engine_open(weights, &eo, err, errlen);
}

/* A forward with the ops run eagerly (the profiler's path: no CUDA graph). */
static int eager_forward(y5_engine *e, char *err, size_t errlen) {
    double *ms = malloc((size_t)(e->g.n_ops > 0 ? e->g.n_ops : 1) * sizeof(double));
    if (!ms) { snprintf(err, errlen, "out of memory"); return -1; }
    int rc = y5_engine_forward_timed(e, ms, err, errlen);
    free(ms);
    return rc;
}

typedef struct {
    const char *model, *image;
    int size, in_h, in_w, w0, h0;
    float tol_cls, tol_xy, tol_wh, tol_wh_rel; /* pred */
    float det_min_conf, det_conf_tol;          /* detections */
    int det_max_miss;
} gpu_case;

/* Tolerances (FP16 GPU against the FP32 PyTorch golden), calibrated on an
 * NVIDIA H200 on 2026-11-27 by bench/gpu_check.sh: its "PyTorch FP16 vs FP32
 * golden" rows ran PyTorch's own FP16 forward on the same golden input and
 * measured the worst |d| over all rows (xywh in px / obj+cls):
 *     yolov5n bus 640      3.80 / 0.0097    (ours that run: wh 1.71, obj/cls 0.0076)
 *     yolov5n zidane 640   2.62 / 0.0196    (ours: wh 3.52, obj/cls 0.0117)
 *     yolov5n zidane 1280  5.55 / 0.0092    (ours: wh 4.16, obj/cls 0.0070)
 *     yolov5m-synth bus    61.7 / 0.098     (random weights amplify rounding)
 * FP16 rounding error is a draw, not a bound: we allow 1.5x what PyTorch's
 * FP16 lost on the same case. The yolov5m-synth case failed the earlier
 * guess (8 px + 5%: h 218.5 against 242.2) where PyTorch FP16 itself is 62
 * px off; it has not yet been rerun at these values. The kernel tests above
 * compare against the CPU on half-rounded inputs with 2e-3: the worst seen
 * on that H200 was 0.16 of the tolerance (gpu_backend_ops) and |d| 0.0019
 * (gpu_conv_vs_cpu). */
#define TORCH_FP16(xywh, cls) (float)(1.5 * (cls)), (float)(1.5 * (xywh)), (float)(1.5 * (xywh)), 0.0f
static const gpu_case gcases[] = {
    {"yolov5n", "bus", 640, 640, 480, 810, 1080, TORCH_FP16(3.80, 0.0097), 0.3f, 2e-2f, 0},
    {"yolov5n", "zidane", 640, 384, 640, 1280, 720, TORCH_FP16(2.62, 0.0196), 0.3f, 2e-2f, 0},
    {"yolov5n", "zidane", 1280, 736, 1280, 1280, 720, TORCH_FP16(5.55, 0.0092), 0.3f, 2e-2f, 0},
    /* a few detections of its dense near-tie clusters may move */
    {"yolov5m-synth", "bus", 640, 640, 480, 810, 1080, TORCH_FP16(61.7, 0.098), 0.5f, 5e-2f, 2},
};

/* impl: a conv path (Y5_CUDA_CONV_*), -1 the default; half: Y5_CUBLAS_OUT=f16 */
static void run_gpu_case_on(const gpu_case *c, int impl, int half) {
    char rel[256], err[1024];
    const char *w = t_model_y5w(c->model);
    T_REQUIRE(w, "conversion of %s failed", c->model);
    y5_engine *e = gpu_engine(w, err, sizeof err);
    T_REQUIRE(e, "%s", err);
    T_REQUIRE(y5_cuda_is(e->be), "engine did not get the CUDA backend");
    if (impl >= 0) y5_cuda_set_conv_impl(e->be, impl);
    if (half) y5_cuda_set_cublas_half(e->be, 1);
    if (impl == Y5_CUDA_CONV_WGMMA && !y5_cuda_own_kernel_ready(e->be)) {
        /* not a Hopper: every conv would be cuBLAS, the cublas case's test */
        const char *dn = e->be->ops->describe ? e->be->ops->describe(e->be) : "?";
        const int hopper = strstr(dn, "(sm_90") != NULL;
        y5_engine_close(e);
        T_REQUIRE(!hopper, "the wgmma kernels are not ready on a Hopper");
        T_SKIP("this card runs no sm_90a code: the wgmma path needs a Hopper");
    }
    if (y5_engine_plan(e, 1, c->in_h, c->in_w, err, sizeof err)) {
        T_CHECK(0, "%s", err);
        y5_engine_close(e);
        return;
    }
    if (impl == Y5_CUDA_CONV_WGMMA || impl == Y5_CUDA_CONV_V4) {
        /* every conv of the plan on v5 / v4 (same preconditions as v3: all of yolov5m's) */
        const char *own = impl == Y5_CUDA_CONV_V4 ? "v4 " : "wgmma ";
        int n_conv = 0, n_own = 0;
        for (int i = 0; i < e->bplan.n_ops; i++) {
            const char *note = y5_cuda_op_note(e->be, &e->bplan.ops[i]);
            n_conv += note != NULL;
            n_own += note && !strncmp(note, own, strlen(own));
        }
        T_CHECK(n_conv > 0 && n_own == n_conv, "%s: %d of %d convs on it", own, n_own, n_conv);
    }
    snprintf(rel, sizeof rel, "golden/%s_%s_%d_input.u8", c->model, c->image, c->size);
    size_t len;
    unsigned char *u8 = t_read_file(t_shared_path(rel), &len);
    float *in = y5_engine_input(e);
    if (!u8 || len != (size_t)c->in_h * c->in_w * 3 || !in) {
        T_CHECK(0, "%s: %zu bytes (input %p)", rel, u8 ? len : 0, (void *)in);
        free(u8);
        y5_engine_close(e);
        return;
    }
    for (size_t i = 0; i < len; i++) in[i] = u8[i] / 255.0f;
    free(u8);
    int rows = 0, no = 0;
    const float *pred = NULL;
    if (y5_engine_forward(e, err, sizeof err) == 0) pred = y5_engine_pred(e, &rows, &no);
    T_CHECK(pred, "forward: %s", err);
    snprintf(rel, sizeof rel, "golden/%s_%s_%d_pred.f32", c->model, c->image, c->size);
    float *ref = t_read_file(t_shared_path(rel), &len);
    if (pred && ref && len == (size_t)rows * no * 4) {
        double mxy = 0, mwh = 0, mcls = 0;
        int bad = 0;
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < no; k++) {
                double g = pred[(size_t)r * no + k], f = ref[(size_t)r * no + k], d = fabs(g - f);
                double tol = k < 2 ? c->tol_xy : k < 4 ? c->tol_wh + c->tol_wh_rel * fabs(f) : c->tol_cls;
                if (!(d == d)) d = INFINITY;
                if (k < 2) mxy = d > mxy ? d : mxy;
                else if (k < 4) mwh = d > mwh ? d : mwh;
                else mcls = d > mcls ? d : mcls;
                if (!(d <= tol) && bad++ < 3)
                    T_CHECK(0, "row %d col %d: gpu %.6g ref %.6g (tol %.3g)", r, k, g, f, tol);
            }
        printf("    %s %s %d on %s: pred max |d| cx/cy %.3g px, w/h %.3g px, obj/cls %.3g\n", c->model, c->image,
               c->size, y5_cuda_device_name(e->be), mxy, mwh, mcls);
    } else {
        T_CHECK(0, "%s: %zu bytes for %d rows", rel, ref ? len : 0, rows);
    }
    free(ref);
    if (!pred) { y5_engine_close(e); return; }

    /* detections: CPU NMS and GPU NMS over the same GPU pred are identical,
     * and match the reference's */
    y5_nms_opts o;
    y5_nms_defaults(&o);
    static y5_det cpu_d[1000], gpu_d[1000], want[1000];
    int nc = y5_nms(NULL, pred, rows, no - 5, &o, cpu_d, 1000);
    if (nc > 0) y5_scale_boxes(cpu_d, nc, e->h, e->w, c->h0, c->w0);
    int ng = y5_cuda_nms(e->be, 0, rows, no, &o, gpu_d, 1000, err, sizeof err);
    T_CHECK(ng >= 0, "gpu nms: %s", err);
    if (ng > 0) y5_scale_boxes(gpu_d, ng, e->h, e->w, c->h0, c->w0);
    if (ng >= 0) same_dets("gpu vs cpu NMS on the GPU pred", gpu_d, ng, cpu_d, nc);
    snprintf(rel, sizeof rel, "golden/%s_%s_%d_det.txt", c->model, c->image, c->size);
    int m = t_read_dets(t_shared_path(rel), want, 1000);
    T_CHECK(m >= 0, "cannot read %s", rel);
    if (m >= 0 && nc >= 0) {
        int na, nb;
        int miss_ref = t_unmatched(want, m, cpu_d, nc, c->det_min_conf, c->det_conf_tol, &na);
        int miss_ours = t_unmatched(cpu_d, nc, want, m, c->det_min_conf, c->det_conf_tol, &nb);
        printf("    detections %d (reference %d); conf >= %.2f: %d/%d reference boxes matched, %d/%d of ours\n", nc, m,
               (double)c->det_min_conf, na - miss_ref, na, nb - miss_ours, nb);
        T_CHECK(miss_ref <= c->det_max_miss, "%d reference detections have no GPU match", miss_ref);
        T_CHECK(miss_ours <= c->det_max_miss, "%d GPU detections have no reference match", miss_ours);
    }
    y5_engine_close(e);
}

static void run_gpu_case(const gpu_case *c) { run_gpu_case_on(c, -1, 0); }

T_TEST(gpu_net_yolov5n_bus_640) { NEED_GPU(); T_NEED_SHARED(); run_gpu_case(&gcases[0]); }
T_TEST(gpu_net_yolov5n_zidane_640) { NEED_GPU(); T_NEED_SHARED(); run_gpu_case(&gcases[1]); }
T_TEST(gpu_net_yolov5n_zidane_1280) { NEED_GPU(); T_NEED_SHARED(); run_gpu_case(&gcases[2]); }
T_TEST(gpu_net_yolov5m_synth_bus_640) { NEED_GPU(); T_NEED_SHARED(); run_gpu_case(&gcases[3]); }
/* the faster paths of bench/gpu.sh on the case with the largest FP16 error,
 * within the same tolerance: what a change of the defaults needs */
T_TEST(gpu_net_yolov5m_synth_bus_640_cublas_f16) {
    NEED_GPU();
    T_NEED_SHARED();
    run_gpu_case_on(&gcases[3], Y5_CUDA_CONV_CUBLAS, 1);
}
T_TEST(gpu_net_yolov5m_synth_bus_640_auto_f16) {
    NEED_GPU();
    T_NEED_SHARED();
    run_gpu_case_on(&gcases[3], Y5_CUDA_CONV_AUTO, 1);
}
T_TEST(gpu_net_yolov5m_synth_bus_640_auto) {
    NEED_GPU();
    T_NEED_SHARED();
    run_gpu_case_on(&gcases[3], Y5_CUDA_CONV_AUTO, 0);
}
T_TEST(gpu_net_yolov5m_synth_bus_640_mma) {
    NEED_GPU();
    T_NEED_SHARED();
    run_gpu_case_on(&gcases[3], Y5_CUDA_CONV_MMA, 0);
}
/* v5 (Hopper wgmma), every conv on it; skipped on a card without sm_90a,
 * where every conv would fall back to cuBLAS (the test above) */
T_TEST(gpu_net_yolov5m_synth_bus_640_wgmma) {
    NEED_GPU();
    T_NEED_SHARED();
    run_gpu_case_on(&gcases[3], Y5_CUDA_CONV_WGMMA, 0);
}
/* v4, every conv on it (sm_80 and newer) */
T_TEST(gpu_net_yolov5m_synth_bus_640_v4) {
    NEED_GPU();
    T_NEED_SHARED();
    run_gpu_case_on(&gcases[3], Y5_CUDA_CONV_V4, 0);
}
/* Y5_CONV_IMPL=tune: whatever mix the timing chose */
T_TEST(gpu_net_yolov5m_synth_bus_640_tune) {
    NEED_GPU();
    T_NEED_SHARED();
    setenv("Y5_TUNE_CACHE", "0", 1); /* tune here, not from the user's cache file */
    run_gpu_case_on(&gcases[3], Y5_CUDA_CONV_TUNE, 0);
}

/* compute(): the same forward eager (the profiler's path, then a plan's
 * first compute), captured (its second) and replayed gives the same bits; a
 * replay reads the host input anew; a lazy change is another plan, with its
 * own graph; a plan that reallocates the arena drops them all
 * (Y5_NO_CUDA_GRAPH=1: compute never keeps one). */
T_TEST(gpu_graph_capture_replay) {
    NEED_GPU();
    T_NEED_SHARED();
    char err[1024];
    const char *w = t_model_y5w("yolov5n");
    T_REQUIRE(w, "conversion failed");
    y5_engine *e = gpu_engine(w, err, sizeof err);
    T_REQUIRE(e, "%s", err);
    const int graphs = !y5_debug_env()->no_cuda_graph;
    size_t len;
    unsigned char *u8 = t_read_file(t_shared_path("golden/yolov5n_bus_640_input.u8"), &len);
    float *p0 = NULL, *p1 = NULL;
    int rows = 0, no = 0;
    if (!u8 || len != 640 * 480 * 3 || y5_engine_plan(e, 1, 640, 480, err, sizeof err)) {
        T_CHECK(0, "setup: %s", u8 ? err : "no input");
        goto done;
    }
    float *in = y5_engine_input(e);
    for (size_t i = 0; i < len; i++) in[i] = u8[i] / 255.0f;
    const float *pr;
    if (eager_forward(e, err, sizeof err) || !(pr = y5_engine_pred(e, &rows, &no))) {
        T_CHECK(0, "forward: %s", err);
        goto done;
    }
    T_CHECK(!y5_cuda_graph_ready(e->be), "an eager forward kept a graph");
    size_t nf = (size_t)rows * no;
    p0 = malloc(nf * sizeof(float));
    p1 = malloc(nf * sizeof(float));
    if (!p0 || !p1) {
        T_CHECK(0, "out of memory");
        goto done;
    }
    memcpy(p0, pr, nf * sizeof(float));

    /* the plan's first compute (eager warm-up), its capture, a replay */
    static const char *const pass_name[3] = {"first (eager)", "captured", "replayed"};
    for (int pass = 0; pass < 3; pass++) {
        int rc = y5_engine_forward(e, err, sizeof err);
        T_CHECK(rc == 0, "%s forward: %s", pass_name[pass], err);
        if (rc) goto done;
        pr = y5_engine_pred(e, NULL, NULL);
        T_CHECK(pr && !memcmp(pr, p0, nf * sizeof(float)), "%s forward differs from the eager one", pass_name[pass]);
        T_CHECK(y5_cuda_graph_ready(e->be) == (pass > 0 && graphs), "%s forward: graph ran %d", pass_name[pass],
                y5_cuda_graph_ready(e->be));
    }
    /* new input through the replay == an eager forward of it */
    in = y5_engine_input(e);
    for (int y = 0; y < 640; y++)
        for (int x = 0; x < 480; x++)
            for (int k = 0; k < 3; k++) in[((size_t)y * 480 + x) * 3 + k] = u8[((size_t)y * 480 + (479 - x)) * 3 + k] / 255.0f;
    if (y5_engine_forward(e, err, sizeof err) == 0 && (pr = y5_engine_pred(e, NULL, NULL))) {
        memcpy(p1, pr, nf * sizeof(float));
        T_CHECK(memcmp(p1, p0, nf * sizeof(float)) != 0, "the replay did not read the new input");
        if (eager_forward(e, err, sizeof err) == 0 && (pr = y5_engine_pred(e, NULL, NULL)))
            T_CHECK(!memcmp(pr, p1, nf * sizeof(float)), "replay and eager forward differ on a new input");
        else
            T_CHECK(0, "forward: %s", err);
    } else {
        T_CHECK(0, "replay after input_host: %s", err);
    }
    /* a lazy change must not replay the graph captured with lazy 0: it is
     * another plan (first compute eager, second captured) */
    y5_engine_set_lazy_cls(e, 0.25f);
    for (int pass = 0; pass < 2; pass++) {
        if (y5_engine_forward(e, err, sizeof err) || !(pr = y5_engine_pred(e, NULL, NULL))) {
            T_CHECK(0, "forward %d with lazy 0.25: %s", pass, err);
            goto done;
        }
        T_CHECK(y5_cuda_graph_ready(e->be) == (pass == 1 && graphs), "lazy 0.25 forward %d: graph ran %d", pass,
                y5_cuda_graph_ready(e->be));
        memcpy(p1, pr, nf * sizeof(float));
        T_CHECK(memcmp(p1, p0, nf * sizeof(float)) != 0, "lazy 0.25 replayed the graph captured with lazy 0");
        if (eager_forward(e, err, sizeof err) == 0 && (pr = y5_engine_pred(e, NULL, NULL)))
            T_CHECK(!memcmp(pr, p1, nf * sizeof(float)), "graph and eager forward differ with lazy 0.25 (pass %d)", pass);
        else
            T_CHECK(0, "forward: %s", err);
    }
    T_CHECK(y5_cuda_graph_count(e->be) == 2 * graphs, "%d graphs kept, expected lazy 0 and 0.25",
            y5_cuda_graph_count(e->be));
    /* a plan that needs a larger arena drops them all */
    T_CHECK(y5_engine_plan(e, 2, 640, 480, err, sizeof err) == 0, "%s", err);
    T_CHECK(!y5_cuda_graph_ready(e->be) && y5_cuda_graph_count(e->be) == 0, "graphs kept across a reallocation");
done:
    free(u8);
    free(p0);
    free(p1);
    y5_engine_close(e);
}

/* The engine's device string reaches this backend (engine.c wiring). */
T_TEST(gpu_engine_device_string) {
    NEED_GPU();
    T_NEED_SHARED();
    char err[1024];
    const char *w = t_model_y5w("yolov5n");
    T_REQUIRE(w, "conversion failed");
    static const char *const good[] = {"cuda", "cuda:0"};
    for (int i = 0; i < 2; i++) {
        y5_engine_opts eo = {good[i], 0};
        y5_engine *e = y5_engine_open(w, &eo, err, sizeof err);
        T_CHECK(e && y5_cuda_is(e->be), "--device %s: %s", good[i], e ? "not the CUDA backend" : err);
        y5_engine_close(e);
    }
    y5_engine_opts bad = {"cuda:99", 0};
    y5_engine *e = y5_engine_open(w, &bad, err, sizeof err);
    T_CHECK(!e && strstr(err, "99"), "--device cuda:99 should fail naming the device: %s", e ? "opened" : err);
    y5_engine_close(e);
}

#else
typedef int test_cuda_not_built; /* no CUDA in this build: no GPU tests */
#endif
