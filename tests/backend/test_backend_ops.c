/* test_backend_ops.c - every op kind on every backend the registry opens,
 * against a naive reference written here (plain loops, double
 * accumulation), in the spirit of ggml's test-backend-ops.
 *
 * Each op runs through the backend's compute() as a one-op plan (the path
 * the engine takes, CUDA graph capture included) on fresh random inputs of
 * odd shapes, reading channel slices (ld > c, odd offsets) and writing into
 * channel slices of wider buffers. The output buffer is poisoned first: NaN
 * inside the slice (an element the op forgot stays NaN), a sentinel around
 * it (an element written outside the slice no longer matches). Inputs are
 * read back after the write, so the reference sees exactly what the backend
 * stores (half-rounded on FP16 backends); tolerances follow elem_bytes.
 *
 * backend_ops_cpu checks the CPU backend (meaningful without a GPU);
 * gpu_backend_ops checks every other registered backend and skips with one
 * line when none opens. backend_registry_* checks the device strings. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/t.h"
#include "core/engine/backend.h"

#define SENTINEL 1234.0f /* exact in half */

static unsigned long long g_rng = 0x9E3779B97F4A7C15ull;
static float urand(void) { /* [0, 1) */
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) * (1.0 / 16777216.0));
}
static float srand1(void) { return urand() * 2.0f - 1.0f; }
static size_t round16(size_t x) { return (x + 15) & ~(size_t)15; }
static size_t view_px(const y5_view *v) { return (size_t)v->n * v->h * v->w; }
/* The whole buffer a slice view lies in (all ld channels). */
static y5_view whole(const y5_view *v, int c0) {
    y5_view w = {v->off - (size_t)c0, v->n, v->h, v->w, v->ld, v->ld};
    return w;
}

typedef struct {
    y5_backend *b;
    const char *dev;
    double rel, abs;   /* conv tolerance: |d| <= rel * sum|terms| + abs */
    char err[1024];
} tb;

/* ------------------------------------------------------------------ buffers */

/* Fills a whole buffer with random values (scale) and reads back what the
 * backend stored; returns the host copy (n*h*w*ld) or NULL. */
static float *put_random(tb *t, const y5_view *buf, float scale) {
    size_t cnt = view_px(buf) * buf->ld;
    float *v = malloc((cnt ? cnt : 1) * sizeof(float));
    if (!v) return NULL;
    for (size_t i = 0; i < cnt; i++) v[i] = srand1() * scale;
    if (t->b->ops->view_write(t->b, buf, v, t->err, sizeof t->err) ||
        t->b->ops->view_read(t->b, buf, v, t->err, sizeof t->err)) {
        free(v);
        return NULL;
    }
    return v;
}

/* NaN inside channels [c0, c0 + c) of each pixel of buf, the sentinel around. */
static int put_poison(tb *t, const y5_view *buf, int c0, int c) {
    size_t px = view_px(buf);
    size_t cnt = px * (size_t)buf->ld;
    float *v = malloc((cnt ? cnt : 1) * sizeof(float));
    if (!v) return -1;
    for (size_t i = 0; i < px; i++)
        for (int k = 0; k < buf->ld; k++) v[i * buf->ld + k] = (k >= c0 && k < c0 + c) ? NAN : SENTINEL;
    int rc = t->b->ops->view_write(t->b, buf, v, t->err, sizeof t->err);
    free(v);
    return rc;
}

/* Runs ops as one plan through compute (no network input). */
static int run_plan(tb *t, const y5_backend_op *ops, int n) {
    y5_backend_plan p;
    memset(&p, 0, sizeof p);
    p.ops = ops;
    p.n_ops = n;
    return t->b->ops->compute(t->b, &p, NULL, t->err, sizeof t->err);
}

/* got: the whole output buffer (px x ld); ref / mag: px x c. Inside the
 * slice |got - ref| <= rel * mag + abs (mag NULL: got == ref exactly);
 * outside it the sentinel must remain. Returns the bad count (first few
 * reported); worst: largest |d| / (rel * mag + abs) seen. */
static int check_slice(const char *what, const float *got, const double *ref, const double *mag, size_t px, int ld,
                       int c0, int c, double rel, double abs_tol, double *worst) {
    int bad = 0;
    *worst = 0;
    for (size_t i = 0; i < px; i++)
        for (int k = 0; k < ld; k++) {
            float g = got[i * ld + k];
            if (k < c0 || k >= c0 + c) {
                if (g != SENTINEL && bad++ < 3)
                    T_CHECK(0, "%s: pixel %zu channel %d outside the slice was written (%g)", what, i, k, (double)g);
                continue;
            }
            double r = ref[i * c + (k - c0)];
            double tol = mag ? rel * mag[i * c + (k - c0)] + abs_tol : 0;
            double d = fabs((double)g - r);
            int ok = g == g && (mag ? d <= tol : (double)g == r);
            if (ok && mag && d / tol > *worst) *worst = d / tol;
            if (!ok && bad++ < 3)
                T_CHECK(0, "%s: pixel %zu channel %d: got %.8g want %.8g (tol %.3g)", what, i, k - c0, (double)g, r, tol);
        }
    return bad;
}

/* ------------------------------------------------------------------ conv */

typedef struct {
    int n, h, w, cin, cout, k, s, p;
    int in_c0, in_extra, out_c0, out_extra;
    int res, res_c0, res_extra, act; /* act: y5_act_kind (LeakyReLU slope 0.1) */
} conv_case;

/* ref/mag (px_out x cout) of out = act(conv(in) + bias) (+ res). */
static void conv_ref(const conv_case *cc, const float *in, int ld_in, const float *wt, const float *bias,
                     const float *res, int ld_res, int ho, int wo, double *ref, double *mag) {
    const int k = cc->k, cin = cc->cin;
    for (int b = 0; b < cc->n; b++)
        for (int y = 0; y < ho; y++)
            for (int x = 0; x < wo; x++)
                for (int co = 0; co < cc->cout; co++) {
                    double acc = bias[co], m = fabs(bias[co]);
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int iy = y * cc->s - cc->p + ky, ix = x * cc->s - cc->p + kx;
                            if (iy < 0 || iy >= cc->h || ix < 0 || ix >= cc->w) continue;
                            const float *px = in + (((size_t)b * cc->h + iy) * cc->w + ix) * ld_in + cc->in_c0;
                            for (int ci = 0; ci < cin; ci++) {
                                double t = (double)wt[(((size_t)co * cin + ci) * k + ky) * k + kx] * px[ci];
                                acc += t;
                                m += fabs(t);
                            }
                        }
                    switch (cc->act) {
                    case Y5_ACT_SILU: acc = acc / (1.0 + exp(-acc)); break;
                    case Y5_ACT_RELU: acc = acc > 0 ? acc : 0; break;
                    case Y5_ACT_LEAKY: acc = acc > 0 ? acc : acc * (double)0.1f; break;
                    case Y5_ACT_HARDSWISH: acc = acc * fmin(fmax(acc + 3, 0), 6) / 6; break;
                    default: break;
                    }
                    size_t o = ((size_t)b * ho + y) * wo + x;
                    if (cc->res) {
                        double r = res[o * ld_res + cc->res_c0 + co];
                        acc += r;
                        m += fabs(r);
                    }
                    ref[o * cc->cout + co] = acc;
                    mag[o * cc->cout + co] = m;
                }
}

static void run_conv_case(tb *t, const conv_case *cc) {
    const int ho = (cc->h + 2 * cc->p - cc->k) / cc->s + 1, wo = (cc->w + 2 * cc->p - cc->k) / cc->s + 1;
    const int ld_in = cc->in_c0 + cc->cin + cc->in_extra, ld_out = cc->out_c0 + cc->cout + cc->out_extra;
    const int ld_res = cc->res_c0 + cc->cout + cc->res_extra, K = cc->k * cc->k * cc->cin;
    const size_t pin = (size_t)cc->n * cc->h * cc->w, pout = (size_t)cc->n * ho * wo;
    const size_t out_base = round16(pin * ld_in) + 16, res_base = round16(out_base + pout * ld_out) + 16;
    y5_view vin = {(size_t)cc->in_c0, cc->n, cc->h, cc->w, cc->cin, ld_in};
    y5_view vout = {out_base + cc->out_c0, cc->n, ho, wo, cc->cout, ld_out};
    y5_view vres = {res_base + cc->res_c0, cc->n, ho, wo, cc->cout, ld_res};
    y5_view bin = whole(&vin, cc->in_c0), bout = whole(&vout, cc->out_c0), bres = whole(&vres, cc->res_c0);
    char what[200];
    snprintf(what, sizeof what, "%s: conv n%d %dx%d %d->%d k%d s%d p%d ldin %d/%d ldout %d/%d res %d act %d", t->dev,
             cc->n, cc->w, cc->h, cc->cin, cc->cout, cc->k, cc->s, cc->p, cc->in_c0, ld_in, cc->out_c0, ld_out,
             cc->res, cc->act);
    float *wt = malloc((size_t)cc->cout * K * sizeof(float)), *bias = malloc((size_t)cc->cout * sizeof(float));
    float *in = NULL, *res = NULL, *got = malloc(pout * ld_out * sizeof(float));
    double *ref = malloc(pout * cc->cout * sizeof(double)), *mag = malloc(pout * cc->cout * sizeof(double));
    void *conv = NULL;
    T_REQUIRE(wt && bias && got && ref && mag, "out of memory");
    for (size_t i = 0; i < (size_t)cc->cout * K; i++) wt[i] = srand1() * 1.7f / sqrtf((float)K);
    for (int i = 0; i < cc->cout; i++) bias[i] = srand1() * 0.5f;
    y5_conv_shape sh = {cc->cin, cc->cout, cc->k, cc->s, cc->p};
    conv = t->b->ops->conv_create(t->b, &sh, wt, bias);
    if (!conv) {
        T_CHECK(0, "%s: conv_create failed", what);
        goto done;
    }
    size_t scratch = t->b->ops->conv_scratch(t->b, conv, cc->n, cc->h, cc->w);
    if (t->b->ops->arena(t->b, res_base + pout * ld_res + 16, scratch, 16, t->err, sizeof t->err) ||
        !(in = put_random(t, &bin, 2.0f)) || !(res = put_random(t, &bres, 1.0f)) ||
        put_poison(t, &bout, cc->out_c0, cc->cout)) {
        T_CHECK(0, "%s: setup: %s", what, t->err);
        goto done;
    }
    y5_backend_op op = {.kind = Y5_BE_CONV, .conv = conv, .act = cc->act, .slope = 0.1f, .has_res = cc->res, .out = vout, .res = vres};
    op.in[0] = vin;
    if (run_plan(t, &op, 1) || t->b->ops->view_read(t->b, &bout, got, t->err, sizeof t->err)) {
        T_CHECK(0, "%s: %s", what, t->err);
        goto done;
    }
    conv_ref(cc, in, ld_in, wt, bias, res, ld_res, ho, wo, ref, mag);
    double worst;
    check_slice(what, got, ref, mag, pout, ld_out, cc->out_c0, cc->cout, t->rel, t->abs, &worst);
    printf("    %s: worst |d| %.2f of the tolerance\n", what, worst);
done:
    if (conv) t->b->ops->conv_destroy(t->b, conv);
    free(wt);
    free(bias);
    free(in);
    free(res);
    free(got);
    free(ref);
    free(mag);
}

static void conv_cases(tb *t) {
    static const conv_case cases[] = {
        /* n  h   w  cin cout k s p  inc0 inx outc0 outx res rc0 rx act */
        {2, 7, 9, 19, 13, 1, 1, 0, 5, 3, 3, 5, 0, 0, 0, 1},     /* 1x1, unaligned slices */
        {1, 10, 12, 32, 48, 1, 1, 0, 8, 8, 16, 0, 1, 8, 0, 1},  /* 1x1 + residual (C3 bottleneck add) */
        {2, 9, 11, 21, 23, 1, 1, 0, 0, 0, 2, 3, 1, 3, 2, 0},    /* 1x1, no SiLU, residual slice */
        {2, 5, 7, 40, 255, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0},    /* Detect head: no SiLU, odd cout */
        {1, 11, 13, 24, 24, 3, 1, 1, 0, 0, 0, 0, 1, 0, 0, 1},   /* 3x3 s1 + residual */
        {1, 11, 13, 24, 24, 3, 1, 1, 0, 0, 5, 7, 1, 3, 2, 1},   /* 3x3 s1, slices everywhere */
        {2, 13, 10, 17, 33, 3, 1, 1, 3, 2, 1, 2, 0, 0, 0, 0},   /* 3x3 s1, no SiLU, odd sizes */
        {1, 21, 19, 40, 36, 3, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1},   /* 3x3 s1, several Winograd tiles */
        {2, 13, 10, 17, 33, 3, 2, 1, 3, 2, 1, 2, 0, 0, 0, 1},   /* 3x3 s2 */
        {1, 15, 17, 16, 20, 3, 2, 1, 0, 0, 4, 4, 1, 0, 0, 0},   /* 3x3 s2, residual, no SiLU */
        {1, 34, 30, 3, 16, 6, 2, 2, 0, 0, 0, 0, 0, 0, 0, 1},    /* layer 0: 6x6 s2 p2 on RGB */
        {2, 33, 31, 3, 8, 6, 2, 2, 0, 0, 8, 8, 0, 0, 0, 0},     /* 6x6 odd sides, no SiLU, slice */
        {1, 18, 14, 3, 12, 6, 2, 2, 0, 0, 0, 4, 1, 2, 1, 1},    /* 6x6 + residual */
        /* the other activations (issue 14): GEMM, Winograd and implicit-GEMM epilogues */
        {2, 7, 9, 19, 13, 1, 1, 0, 5, 3, 3, 5, 0, 0, 0, 3},     /* 1x1, LeakyReLU(0.1) */
        {1, 10, 12, 32, 48, 1, 1, 0, 8, 8, 16, 0, 1, 8, 0, 3},  /* 1x1 + residual, LeakyReLU */
        {1, 11, 13, 24, 24, 3, 1, 1, 0, 0, 5, 7, 1, 3, 2, 3},   /* 3x3 s1, LeakyReLU */
        {1, 21, 19, 40, 36, 3, 1, 1, 0, 0, 0, 0, 0, 0, 0, 2},   /* 3x3 s1, ReLU */
        {2, 13, 10, 17, 33, 3, 2, 1, 3, 2, 1, 2, 0, 0, 0, 4},   /* 3x3 s2, Hardswish */
        {1, 34, 30, 3, 16, 6, 2, 2, 0, 0, 0, 0, 0, 0, 0, 3},    /* 6x6 s2 p2 (a Focus stem), LeakyReLU */
        {1, 18, 14, 3, 12, 6, 2, 2, 0, 0, 0, 4, 1, 2, 1, 4},    /* 6x6 + residual, Hardswish */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && !t_failed_now(); i++) run_conv_case(t, &cases[i]);
}

/* ------------------------------------------------------------------ maxpool / upsample / copy */

static void move_ref(y5_backend_op_kind kind, const float *in, const y5_view *vin, int c0_in, int param, int ho,
                     int wo, double *ref) {
    const int c = vin->c, r = param / 2;
    for (int b = 0; b < vin->n; b++)
        for (int y = 0; y < ho; y++)
            for (int x = 0; x < wo; x++)
                for (int k = 0; k < c; k++) {
                    double v = -INFINITY;
                    if (kind == Y5_BE_MAXPOOL) {
                        for (int yy = y - r; yy <= y + r; yy++)
                            for (int xx = x - r; xx <= x + r; xx++)
                                if (yy >= 0 && yy < vin->h && xx >= 0 && xx < vin->w) {
                                    double s = in[(((size_t)b * vin->h + yy) * vin->w + xx) * vin->ld + c0_in + k];
                                    v = s > v ? s : v;
                                }
                    } else {
                        int sy = kind == Y5_BE_UPSAMPLE ? y / param : y, sx = kind == Y5_BE_UPSAMPLE ? x / param : x;
                        v = in[(((size_t)b * vin->h + sy) * vin->w + sx) * vin->ld + c0_in + k];
                    }
                    ref[(((size_t)b * ho + y) * wo + x) * c + k] = v;
                }
}

static void run_move_case(tb *t, y5_backend_op_kind kind, int n, int h, int w, int c, int in_c0, int in_extra,
                          int out_c0, int out_extra, int param) {
    const int ho = kind == Y5_BE_UPSAMPLE ? h * param : h, wo = kind == Y5_BE_UPSAMPLE ? w * param : w;
    const int ld_in = in_c0 + c + in_extra, ld_out = out_c0 + c + out_extra;
    const size_t pin = (size_t)n * h * w, pout = (size_t)n * ho * wo, out_base = round16(pin * ld_in) + 48;
    y5_view vin = {(size_t)in_c0, n, h, w, c, ld_in}, vout = {out_base + out_c0, n, ho, wo, c, ld_out};
    y5_view bin = whole(&vin, in_c0), bout = whole(&vout, out_c0);
    static const char *names[] = {"conv", "maxpool", "upsample", "copy", "decode"};
    char what[200];
    snprintf(what, sizeof what, "%s: %s n%d %dx%d c%d ldin %d/%d ldout %d/%d k/scale %d", t->dev, names[kind], n, w, h,
             c, in_c0, ld_in, out_c0, ld_out, param);
    float *in = NULL, *got = malloc(pout * ld_out * sizeof(float));
    double *ref = malloc(pout * c * sizeof(double));
    T_REQUIRE(got && ref, "out of memory");
    y5_backend_op op = {.kind = kind, .k = param, .scale = param, .out = vout};
    op.in[0] = vin;
    double worst;
    if (t->b->ops->arena(t->b, out_base + pout * ld_out + 16, 0, 16, t->err, sizeof t->err) ||
        !(in = put_random(t, &bin, 3.0f)) || put_poison(t, &bout, out_c0, c) || run_plan(t, &op, 1) ||
        t->b->ops->view_read(t->b, &bout, got, t->err, sizeof t->err)) {
        T_CHECK(0, "%s: %s", what, t->err);
    } else {
        move_ref(kind, in, &vin, in_c0, param, ho, wo, ref);
        if (!check_slice(what, got, ref, NULL, pout, ld_out, out_c0, c, 0, 0, &worst)) printf("    %s: exact\n", what);
    }
    free(in);
    free(got);
    free(ref);
}

static void move_cases(tb *t) {
    static const y5_backend_op_kind kinds[] = {Y5_BE_MAXPOOL, Y5_BE_UPSAMPLE, Y5_BE_COPY};
    for (int i = 0; i < 3 && !t_failed_now(); i++) {
        y5_backend_op_kind kind = kinds[i];
        int param = kind == Y5_BE_MAXPOOL ? 5 : 2;
        run_move_case(t, kind, 2, 9, 11, 19, 0, 0, 0, 0, param);   /* dense, odd channels */
        run_move_case(t, kind, 2, 9, 11, 19, 3, 2, 19, 5, param);  /* slices */
        run_move_case(t, kind, 1, 7, 5, 32, 0, 0, 32, 32, param);  /* SPPF-like slot of a concat */
        run_move_case(t, kind, 3, 4, 6, 24, 8, 8, 0, 16, param);   /* aligned offsets */
        run_move_case(t, kind, 1, 1, 1, 5, 0, 0, 0, 0, param);     /* one pixel */
    }
    run_move_case(t, Y5_BE_MAXPOOL, 1, 6, 3, 16, 0, 0, 16, 0, 3);
    run_move_case(t, Y5_BE_MAXPOOL, 1, 13, 13, 8, 0, 0, 0, 0, 9);
    run_move_case(t, Y5_BE_UPSAMPLE, 2, 3, 5, 9, 1, 0, 0, 2, 3);
}

/* ------------------------------------------------------------------ decode */

static double sigmoid(double v) { return 1.0 / (1.0 + exp(-v)); }

/* One pred value of the reference; *near_lazy: obj within 1e-5 of the lazy
 * threshold (float and double may then disagree on the class columns). */
static double decode_ref(const y5_detect_shape *d, const float *head, int ld, int l, int a, int y, int x, int k,
                         int *near_lazy) {
    const float *s = head + a * d->no;
    double obj = sigmoid(s[4]);
    *near_lazy = d->lazy_obj_min > 0 && fabs(obj - d->lazy_obj_min) < 1e-5;
    (void)ld;
    switch (k) {
    case 0: return (sigmoid(s[0]) * 2.0 + (x - 0.5)) * d->strides[l];
    case 1: return (sigmoid(s[1]) * 2.0 + (y - 0.5)) * d->strides[l];
    case 2: return pow(sigmoid(s[2]) * 2.0, 2) * d->anchors[l][2 * a];
    case 3: return pow(sigmoid(s[3]) * 2.0, 2) * d->anchors[l][2 * a + 1];
    case 4: return obj;
    default: return d->lazy_obj_min > 0 && !(obj > d->lazy_obj_min) ? 0.0 : sigmoid(s[k]);
    }
}

static int check_decode(tb *t, const char *what, const y5_detect_shape *d, const y5_view *heads, float *const *vals,
                        const float *pred) {
    int bad = 0, n = heads[0].n;
    for (int b = 0; b < n; b++) {
        int row = 0;
        for (int l = 0; l < d->nl; l++) {
            const y5_view *v = &heads[l];
            for (int a = 0; a < d->na; a++)
                for (int y = 0; y < v->h; y++)
                    for (int x = 0; x < v->w; x++, row++)
                        for (int k = 0; k < d->no; k++) {
                            const float *hp = vals[l] + (((size_t)b * v->h + y) * v->w + x) * v->ld;
                            int near;
                            double r = decode_ref(d, hp, v->ld, l, a, y, x, k, &near);
                            float g = pred[((size_t)b * d->rows + row) * d->no + k];
                            double tol = k < 4 ? 1e-5 * fabs(r) + 1e-4 : 2e-6;
                            if (k >= 5 && near) continue;
                            if (!(fabs(g - r) <= tol) && bad++ < 3)
                                T_CHECK(0, "%s: image %d row %d col %d: got %.8g want %.8g", what, b, row, k,
                                        (double)g, r);
                        }
        }
    }
    (void)t;
    return bad;
}

static void run_decode_case(tb *t, int n, int nc, float lazy) {
    enum { NL = 3, NA = 3 };
    const int no = 5 + nc, hs[NL] = {8, 4, 2}, ws[NL] = {10, 5, 3}, extra[NL] = {3, 0, 8};
    static const float anchors[NL][6] = {{10, 13, 16, 30, 33, 23}, {30, 61, 62, 45, 59, 119}, {116, 90, 156, 198, 373, 326}};
    y5_detect_shape d;
    memset(&d, 0, sizeof d);
    d.nl = NL;
    d.na = NA;
    d.no = no;
    d.lazy_obj_min = lazy;
    y5_view heads[NL];
    float *vals[NL] = {0};
    size_t off = 0;
    for (int l = 0; l < NL; l++) {
        d.strides[l] = (float)(8 << l);
        memcpy(d.anchors[l], anchors[l], sizeof anchors[l]);
        d.rows += NA * hs[l] * ws[l];
        heads[l] = (y5_view){off, n, hs[l], ws[l], NA * no, NA * no + extra[l]};
        off = round16(off + (size_t)n * hs[l] * ws[l] * heads[l].ld) + 16;
    }
    const size_t pf = (size_t)n * d.rows * no;
    char what[160];
    snprintf(what, sizeof what, "%s: decode n%d nc %d lazy %g", t->dev, n, nc, (double)lazy);
    float *nan = malloc(pf * sizeof(float));
    T_REQUIRE(nan, "out of memory");
    for (size_t i = 0; i < pf; i++) nan[i] = NAN;
    int ok = t->b->ops->arena(t->b, off, 0, pf, t->err, sizeof t->err) == 0;
    for (int l = 0; l < NL && ok; l++) {
        y5_view buf = heads[l]; /* all ld channels: vals[l] is indexed by ld */
        buf.c = buf.ld;
        ok = (vals[l] = put_random(t, &buf, 5.0f)) != NULL;
    }
    if (ok) ok = t->b->ops->pred_write(t->b, 0, nan, pf, t->err, sizeof t->err) == 0;
    y5_backend_op op = {.kind = Y5_BE_DECODE, .det = &d};
    memcpy(op.in, heads, sizeof heads);
    const float *pred = NULL;
    if (ok && run_plan(t, &op, 1) == 0) pred = t->b->ops->pred_host(t->b, pf);
    if (!pred) T_CHECK(0, "%s: %s", what, t->err[0] ? t->err : "pred_host failed");
    else if (!check_decode(t, what, &d, heads, vals, pred)) printf("    %s: %d rows ok\n", what, d.rows);
    for (int l = 0; l < NL; l++) free(vals[l]);
    free(nan);
}

static void decode_cases(tb *t) {
    run_decode_case(t, 1, 2, 0.0f);
    run_decode_case(t, 3, 2, 0.0f);
    run_decode_case(t, 2, 2, 0.5f);
    run_decode_case(t, 1, 80, 0.0f);  /* COCO width: the vector paths */
    run_decode_case(t, 2, 80, 0.25f);
}

/* ------------------------------------------------------------------ drivers */

static int tb_open(tb *t, const char *dev) {
    memset(t, 0, sizeof *t);
    t->dev = dev;
    t->b = y5_backend_open(dev, 2, t->err, sizeof t->err);
    if (!t->b) return -1;
    /* FP32: GEMM/Winograd rounding; FP16: inputs are read back, but weights
     * and the output are rounded to half (2^-11 relative each) */
    t->rel = t->b->ops->elem_bytes >= 4 ? 1e-5 : 2e-3;
    t->abs = t->b->ops->elem_bytes >= 4 ? 1e-5 : 1e-3;
    printf("    %s: %s\n", dev, t->b->ops->describe(t->b));
    return 0;
}

static void all_ops(const char *dev) {
    tb t;
    T_REQUIRE(tb_open(&t, dev) == 0, "%s", t.err);
    conv_cases(&t);
    if (!t_failed_now()) move_cases(&t);
    if (!t_failed_now()) decode_cases(&t);
    t.b->ops->destroy(t.b);
}

T_TEST(backend_ops_cpu) { all_ops("cpu"); }

/* Every other registered backend that opens here (CUDA: needs a device). */
T_TEST(gpu_backend_ops) {
    char why[1024] = "";
    int ran = 0;
    for (int i = 0; y5_backend_registered(i); i++) {
        const char *dev = y5_backend_registered(i);
        if (!strcmp(dev, "cpu")) continue;
        char err[512];
        y5_backend *b = y5_backend_open(dev, 0, err, sizeof err);
        if (!b) {
            snprintf(why + strlen(why), sizeof why - strlen(why), "%s%s", why[0] ? "; " : "", err);
            continue;
        }
        b->ops->destroy(b);
        all_ops(dev);
        ran++;
    }
    if (!ran) T_SKIP("no device backend: %s", why);
}

/* ------------------------------------------------------------------ registry */

static void expect_open_error(const char *dev, const char *want) {
    char err[512] = "";
    y5_backend *b = y5_backend_open(dev, 1, err, sizeof err);
    T_CHECK(!b && !strcmp(err, want), "--device %s: got \"%s\" (%s), want \"%s\"", dev, err, b ? "opened" : "failed",
            want);
    if (b) b->ops->destroy(b);
}

T_TEST(backend_registry_device_strings) {
    char err[512];
    static const char *const cpu[] = {NULL, "", "cpu"};
    for (int i = 0; i < 3; i++) {
        y5_backend *b = y5_backend_open(cpu[i], 1, err, sizeof err);
        T_CHECK(b && !strcmp(b->ops->name, "cpu"), "\"%s\": %s", cpu[i] ? cpu[i] : "(null)", b ? b->ops->name : err);
        if (b) b->ops->destroy(b);
    }
    T_CHECK(!strcmp(y5_backend_registered(0), "cpu"), "first registered backend: %s", y5_backend_registered(0));
    expect_open_error("gpu", "--device gpu: unknown device (use cpu, cuda or cuda:N)");
    expect_open_error("cpu:0", "--device cpu:0: unknown device (use cpu, cuda or cuda:N)");
    expect_open_error("-1", "--device -1: unknown device (use cpu, cuda or cuda:N)");
#ifdef Y5_HAVE_CUDA
    expect_open_error("cuda:x", "--device cuda:x: expected cpu, cuda, cuda:N or N");
    expect_open_error("cuda:2000", "--device cuda:2000: expected cpu, cuda, cuda:N or N");
    expect_open_error("7x", "--device 7x: expected cpu, cuda, cuda:N or N");
    expect_open_error("cudax", "--device cudax: expected cpu, cuda, cuda:N or N");
#else
    expect_open_error("cuda:x", "--device cuda:x: this build has no CUDA backend (build with nvcc present, see README)");
    expect_open_error("0", "--device 0: this build has no CUDA backend (build with nvcc present, see README)");
    expect_open_error("cuda", "--device cuda: this build has no CUDA backend (build with nvcc present, see README)");
#endif
}
