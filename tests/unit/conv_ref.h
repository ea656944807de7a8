/* conv_ref.h - the direct convolution the lab kernels' CPU emulations
 * compare with (test_conv_tile.c, test_wgmma_tile.c): one output element
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

#endif
