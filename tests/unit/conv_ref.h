/* conv_ref.h - the direct convolution the lab kernels' CPU emulations
 * compare with (test_conv_tile.c, test_wgmma_tile.c), and their odd-shape
 * cases (conv_case: data, reference, checks): one output element
 * as the plain sum over taps and input channels, in double, with the lab's
 * conventions (conv_tile.h: NHWC input with row stride ld_in, weights
 * W[co * K + (ky * k + kx) * cin + ci], zeros outside the image). */
#ifndef Y5_TEST_CONV_REF_H
#define Y5_TEST_CONV_REF_H

#include "cuda/lab/conv_tile.h"

/* sum over (ky, kx, ci) of in[pixel under tap] * w[co, tap, ci] for output
 * pixel m; the caller adds the bias and the residual */
static inline double conv_ref_dot(const y5l_conv *c, const float *in, const float *w, long long m, int co) {
    const int K = y5l_K(c);
    const long long nb = m / ((long long)c->ho * c->wo);
    const int oy = (int)(m / c->wo % c->ho), ox = (int)(m % c->wo);
    double s = 0;
    for (int ky = 0; ky < c->k; ky++)
        for (int kx = 0; kx < c->k; kx++) {
            const int iy = oy * c->s - c->p + ky, ix = ox * c->s - c->p + kx;
            if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) continue;
            for (int ci = 0; ci < c->cin; ci++)
                s += (double)in[((nb * c->h + iy) * c->w + ix) * c->ld_in + ci] *
                     w[(long long)co * K + (ky * c->k + kx) * c->cin + ci];
        }
    return s;
}

/* ---- one odd-shape case of the emulation tests: data, reference, checks ---- */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CONV_CASE_UNTOUCHED (-12345.0f) /* what every output element holds before a run */

static unsigned conv_case_rng = 12345;
/* -3..3: every product and every K-term sum exact in float, so an emulation
 * in any summation order equals the direct conv to the bit */
static inline float conv_small_int(void) {
    conv_case_rng = conv_case_rng * 1103515245u + 12345u;
    return (float)((int)((conv_case_rng >> 16) % 7) - 3);
}

typedef struct {
    y5l_conv c;
    int out_c0, res_c0;   /* where the output and residual slices start in their rows (ld_out, ld_res) */
    float *in, *w, *bias; /* input: the slice's channels small integers, the rest NaN (a read of one shows) */
    float *res;           /* M x ld_res, the slice small integers, NaN around; NULL: no residual */
    float *ref;           /* M x ld_out: bias + direct conv (+ residual) in the slice, untouched around */
    float *out;           /* what a run writes */
    unsigned char *written; /* how often a run wrote each output element */
    size_t nout;
} conv_case;

/* 0, or -1 out of memory (everything freed). */
static inline int conv_case_init(conv_case *k, const y5l_conv *c, int out_c0, int has_res, int res_c0) {
    memset(k, 0, sizeof *k);
    k->c = *c;
    k->out_c0 = out_c0;
    k->res_c0 = res_c0;
    const long long M = y5l_M(c);
    const int K = y5l_K(c);
    const size_t nin = (size_t)c->n * c->h * c->w * c->ld_in, nres = (size_t)M * c->ld_res;
    k->nout = (size_t)M * c->ld_out;
    k->in = malloc(nin * sizeof(float));
    k->w = malloc((size_t)c->cout * K * sizeof(float));
    k->bias = malloc((size_t)c->cout * sizeof(float));
    k->res = has_res ? malloc(nres * sizeof(float)) : NULL;
    k->ref = malloc(k->nout * sizeof(float));
    k->out = malloc(k->nout * sizeof(float));
    k->written = malloc(k->nout);
    if (!k->in || !k->w || !k->bias || (has_res && !k->res) || !k->ref || !k->out || !k->written) {
        free(k->in), free(k->w), free(k->bias), free(k->res), free(k->ref), free(k->out), free(k->written);
        return -1;
    }
    for (size_t i = 0; i < nin; i++) k->in[i] = (long long)(i % c->ld_in) < c->cin ? conv_small_int() : NAN;
    for (long long i = 0; i < (long long)c->cout * K; i++) k->w[i] = conv_small_int();
    for (int i = 0; i < c->cout; i++) k->bias[i] = conv_small_int();
    if (k->res)
        for (size_t i = 0; i < nres; i++) {
            const long long ch = (long long)(i % c->ld_res) - res_c0;
            k->res[i] = ch >= 0 && ch < c->cout ? conv_small_int() : NAN;
        }
    for (size_t i = 0; i < k->nout; i++) k->ref[i] = CONV_CASE_UNTOUCHED;
    for (long long m = 0; m < M; m++)
        for (int co = 0; co < c->cout; co++) {
            double sum = k->bias[co] + conv_ref_dot(c, k->in, k->w, m, co);
            if (k->res) sum += k->res[m * c->ld_res + res_c0 + co];
            k->ref[m * c->ld_out + out_c0 + co] = (float)sum;
        }
    return 0;
}

/* Before a run: every output untouched, nothing written. */
static inline void conv_case_reset(conv_case *k) {
    for (size_t i = 0; i < k->nout; i++) k->out[i] = CONV_CASE_UNTOUCHED;
    memset(k->written, 0, k->nout);
}

/* After a run: how many output elements are wrong (inside the slice: not
 * written exactly once or not the reference; outside: written or changed);
 * *first: the first wrong one (-1: none). */
static inline long long conv_case_bad(const conv_case *k, long long *first) {
    long long bad = 0;
    *first = -1;
    for (size_t i = 0; i < k->nout; i++) {
        const long long ch = (long long)(i % k->c.ld_out) - k->out_c0;
        const int inside = ch >= 0 && ch < k->c.cout;
        const int ok = inside ? k->written[i] == 1 && k->out[i] == k->ref[i]
                              : !k->written[i] && k->out[i] == CONV_CASE_UNTOUCHED;
        if (!ok && !bad++) *first = (long long)i;
    }
    return bad;
}
/* out and ref of element i, for a failure's message (0 for i < 0) */
static inline double conv_case_got(const conv_case *k, long long i) { return i >= 0 ? k->out[i] : 0.0; }
static inline double conv_case_want(const conv_case *k, long long i) { return i >= 0 ? k->ref[i] : 0.0; }

static inline void conv_case_free(conv_case *k) {
    free(k->in), free(k->w), free(k->bias), free(k->res), free(k->ref), free(k->out), free(k->written);
    memset(k, 0, sizeof *k);
}

#endif
